//! `Authorization: Basic` and `Bearer`, the bare token headers and correlation ids
//! (tollgate_dialects::common), on any header bytes: no panic, and only sane results.

#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tollgate_dialects::common::{
    AuthorizationProblem, MAX_TOKEN_LEN, MAX_USERNAME_LEN, basic_credentials, bearer_token, correlation_id,
    token_header,
};

const TOKEN_HEADERS: &[&str] = &["x-vcloud-authorization", "x-vcav-auth", "x-hm-authorization"];

fn with(name: HeaderName, value: HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(name, value);
    headers
}

fn usable(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token == token.trim()
}

fuzz_target!(|data: &[u8]| {
    // The input as a header value.
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let headers = with(header::AUTHORIZATION, value.clone());
        match basic_credentials(&headers) {
            Ok((user, _)) => assert!(!user.is_empty() && user.len() <= MAX_USERNAME_LEN && !user.contains(':')),
            Err(problem) => assert_eq!(problem, AuthorizationProblem::Malformed),
        }
        if let Some(token) = bearer_token(&headers) {
            assert!(usable(token), "{token:?}");
        }
        for name in TOKEN_HEADERS {
            let headers = with(HeaderName::from_static(name), value.clone());
            let token = token_header(&headers, name);
            if let Some(token) = token {
                assert!(usable(token), "{token:?}");
            }
            // A value that is not visible ASCII is no token (HeaderValue::to_str).
            if let Ok(text) = value.to_str() {
                let trimmed = text.trim();
                let expected = (!trimmed.is_empty() && trimmed.len() <= MAX_TOKEN_LEN).then_some(trimmed);
                assert_eq!(token, expected);
            }
        }
        let name = HeaderName::from_static("x-request-id");
        let id = correlation_id(&with(name.clone(), value.clone()), &name);
        // As the header reads it: bytes beyond visible ASCII make it no text at all (so a
        // non-breaking space is not trimmed like a space).
        let sane = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()));
        match sane {
            Some(sent) => assert_eq!(id, sent),
            None => assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id:?}"),
        }
    }

    // The input as the `user:password` of a Basic credential, and as a Bearer token.
    if let Ok(text) = std::str::from_utf8(data) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        let value = HeaderValue::from_str(&format!("Basic {encoded}")).unwrap();
        let expected = text
            .split_once(':')
            .filter(|(user, _)| {
                encoded.len() <= 4 * MAX_TOKEN_LEN && !user.is_empty() && user.len() <= MAX_USERNAME_LEN
            })
            .map(|(user, password)| (user.to_owned(), password.to_owned()))
            .ok_or(AuthorizationProblem::Malformed);
        assert_eq!(basic_credentials(&with(header::AUTHORIZATION, value)), expected);

        let visible = text.bytes().all(|b| b == b'\t' || (b' '..0x7f).contains(&b));
        if let (true, Ok(value)) = (visible, HeaderValue::from_str(&format!("Bearer {text}"))) {
            let token = text.trim();
            let expected = (!token.is_empty() && token.len() <= MAX_TOKEN_LEN).then_some(token);
            assert_eq!(bearer_token(&with(header::AUTHORIZATION, value)), expected);
        }
    }
});
