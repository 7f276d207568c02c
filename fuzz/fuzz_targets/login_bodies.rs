//! Every dialect's login body through the whole router: the first byte picks the login URL
//! and the Content-Type, the rest is the body. No panic, no 5xx, every answer a 4xx (nobody
//! the fuzzer can name knows a password here) in the dialect's own error shape.

#![no_main]

use axum::http::Method;
use libfuzzer_sys::fuzz_target;
use tollgate_fuzz::server;

/// Each dialect's login URL(s); Cloud Director's read no body.
const LOGINS: &[&str] = &[
    "/v1/sessions",
    "/sessions",
    "/api/v1/sessions",
    "/api/v2/sessions",
    "/api/admin/v1/sessions",
    "/hybridity/api/sessions",
    "/api/sessions",
    "/cloudapi/1.0.0/sessions",
    "/cloudapi/1.0.0/sessions/provider",
];

const CONTENT_TYPES: &[Option<&str>] =
    &[Some("application/json"), None, Some("application/json; charset=utf-8"), Some("text/plain")];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let path = LOGINS[selector as usize % LOGINS.len()];
    let headers: Vec<(&str, &[u8])> = match CONTENT_TYPES[(selector as usize / LOGINS.len()) % CONTENT_TYPES.len()] {
        Some(ct) => vec![("content-type", ct.as_bytes())],
        None => vec![],
    };
    let answer = server().exchange(Method::POST, path, &headers, body).expect("a valid request");
    assert!(answer.status.is_client_error(), "{path}: {} {}", answer.status, String::from_utf8_lossy(&answer.body));
});
