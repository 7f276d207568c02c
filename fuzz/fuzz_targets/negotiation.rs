//! `Accept` negotiation through the whole router: Cloud Director's API version (`version=` of
//! `Accept`, 406 for an unlisted one except at `/api/versions`) and VCDA's media type. The
//! first byte picks the path, the rest is the `Accept` value. Besides the shape checks, each
//! answer's `Content-Type` must be what the negotiation rules (restated here) say.

#![no_main]

use axum::http::{HeaderValue, Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use tollgate_dialects::Settings;
use tollgate_fuzz::server;

const VCD_PATHS: &[&str] =
    &["/api/versions", "/api/session", "/api/org", "/api/nothing", "/cloudapi/1.0.0/sessions/current", "/cloudapi/x"];
const VCDA_PATHS: &[&str] = &["/sessions", "/diagnostics/about", "/sessions/a/b"];

/// The `version=` Cloud Director's `Accept` asks for, if any (first of the media ranges that
/// has one, quotes trimmed, at most 16 characters).
fn requested_version(accept: &HeaderValue) -> Option<String> {
    let accept = accept.to_str().ok()?;
    accept
        .split([',', ';'])
        .map(str::trim)
        .find_map(|param| param.strip_prefix("version="))
        .map(|v| v.trim_matches('"').chars().take(16).collect())
}

/// VCDA's media type for `accept`.
fn vcda_type(accept: &HeaderValue) -> &'static str {
    let accept = accept.to_str().unwrap_or_default().to_ascii_lowercase();
    if accept.contains("h4-v4.5+json") {
        "application/vnd.vmware.h4-v4.5+json;charset=UTF-8"
    } else if accept.contains("h4-v3.5+json") {
        "application/vnd.vmware.h4-v3.5+json;charset=UTF-8"
    } else if accept.contains("application/json") {
        "application/json"
    } else {
        "application/vnd.vmware.h4-v3.5+json;charset=UTF-8"
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, accept)) = data.split_first() else { return };
    let Ok(value) = HeaderValue::from_bytes(accept) else { return };
    let selector = selector as usize % (VCD_PATHS.len() + VCDA_PATHS.len());
    let headers: &[(&str, &[u8])] = &[("accept", accept)];
    if let Some(path) = VCD_PATHS.get(selector) {
        let answer = server().exchange(Method::GET, path, headers, b"").expect("a valid request");
        let versions: Vec<String> = Settings::default().vcd_versions.into_iter().map(|v| v.version).collect();
        let newest = versions.last().unwrap();
        let ct = answer.content_type();
        match requested_version(&value) {
            Some(asked) if versions.contains(&asked) => {
                assert_ne!(answer.status, StatusCode::NOT_ACCEPTABLE, "{path}: {asked}");
                assert!(ct.ends_with(&format!(";version={asked}")), "{path}: asked {asked}, got {ct}");
            }
            Some(asked) if *path != "/api/versions" => {
                assert_eq!(answer.status, StatusCode::NOT_ACCEPTABLE, "{path}: {asked:?}");
                assert!(ct.ends_with(&format!(";version={newest}")), "{path}: {ct}");
            }
            _ => {
                assert_ne!(answer.status, StatusCode::NOT_ACCEPTABLE, "{path}");
                assert!(ct.ends_with(&format!(";version={newest}")), "{path}: {ct}");
            }
        }
    } else {
        let path = VCDA_PATHS[selector - VCD_PATHS.len()];
        let answer = server().exchange(Method::GET, path, headers, b"").expect("a valid request");
        assert_eq!(answer.content_type(), vcda_type(&value), "{path}: {} {:?}", answer.status, value);
    }
});
