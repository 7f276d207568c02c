//! Request parsing every dialect shares: credentials, tokens, client address, correlation
//! ids, limits and absolute URLs.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, header};
use base64::Engine;
use serde_json::{Map, Value};
use tollgate_core::{FailureReason, LoginOutcome, LoginRequest};
use uuid::Uuid;

use crate::failure::Failure;
use crate::settings::Route;
use crate::{AppState, Dialect};

/// Longest token we bother to hash; longer ones cannot be ours.
pub const MAX_TOKEN_LEN: usize = 512;
/// Longest user name accepted in any credential.
pub const MAX_USERNAME_LEN: usize = 256;
/// Sum of all header names and values we accept before answering "too large".
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest request body any dialect reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest client-supplied correlation id we echo and log.
const MAX_CORRELATION_LEN: usize = 128;
/// The correlation id header of the dialects whose products name none of their own.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The client's IP address, when the listener knows it: the peer's, or, when the peer is a
/// trusted proxy ([`crate::Settings::trusted_proxies`]), the nearest address in
/// `X-Forwarded-For` that is not. The envelope works it out once per request.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub Option<String>);

impl ClientAddr {
    pub fn of(parts: &Parts, trusted_proxies: &[IpAddr]) -> ClientAddr {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return ClientAddr(None);
        };
        let peer = peer.ip().to_canonical();
        if !trusted_proxies.contains(&peer) {
            return ClientAddr(Some(address_text(peer)));
        }
        // Hops are appended: walk back from the nearest, past the proxies we trust.
        let forwarded: Vec<IpAddr> = parts
            .headers
            .get_all(FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .map(|ip| ip.to_canonical())
            .collect();
        let client = forwarded.iter().rev().find(|ip| !trusted_proxies.contains(ip)).or(forwarded.first());
        ClientAddr(Some(address_text(client.copied().unwrap_or(peer))))
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// `ip` as text. Every request needs its client's address; `Display` for an IPv4 address
/// goes through the formatting machinery and cost a tenth of a validation, so the four
/// octets are written out directly.
fn address_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else { return ip.to_string() };
    let mut text = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

/// The client's address as the envelope worked it out, for the core's per-address policies.
pub fn remote(parts: &Parts) -> Option<&str> {
    parts.extensions.get::<ClientAddr>().and_then(ClientAddr::as_deref)
}

const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<ClientAddr>().cloned().unwrap_or_else(|| ClientAddr::of(parts, &[])))
    }
}

/// True when the request's headers exceed [`MAX_HEADER_BYTES`] in total.
pub fn headers_too_large(headers: &HeaderMap) -> bool {
    headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum::<usize>() > MAX_HEADER_BYTES
}

/// The client's correlation id from `name` when it is sane, else a fresh one.
pub fn correlation_id(headers: &HeaderMap, name: &HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= MAX_CORRELATION_LEN && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(fresh_correlation_id)
}

/// A correlation id of our own: a UUID (clients of Cloud Director expect one) that only needs
/// to be unique, so it is a random base drawn once plus a counter, not a call for fresh OS
/// randomness on every request.
pub fn fresh_correlation_id() -> String {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static BASE: LazyLock<u128> = LazyLock::new(|| Uuid::new_v4().as_u128());
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    uuid::Builder::from_u128(*BASE ^ u128::from(n))
        .with_variant(uuid::Variant::RFC4122)
        .with_version(uuid::Version::Random)
        .into_uuid()
        .to_string()
}

/// Why an `Authorization` header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationProblem {
    Missing,
    /// Not UTF-8, wrong scheme, bad base64, no colon, or too long.
    Malformed,
}

/// `Authorization: Basic base64(user:password)`, decoded.
pub fn basic_credentials(headers: &HeaderMap) -> Result<(String, String), AuthorizationProblem> {
    let value = headers.get(header::AUTHORIZATION).ok_or(AuthorizationProblem::Missing)?;
    let value = value.to_str().map_err(|_| AuthorizationProblem::Malformed)?;
    let encoded = strip_scheme(value, "basic").ok_or(AuthorizationProblem::Malformed)?;
    if encoded.len() > 4 * MAX_TOKEN_LEN {
        return Err(AuthorizationProblem::Malformed);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| AuthorizationProblem::Malformed)?;
    let decoded = String::from_utf8(decoded).map_err(|_| AuthorizationProblem::Malformed)?;
    let (user, password) = decoded.split_once(':').ok_or(AuthorizationProblem::Malformed)?;
    if user.is_empty() || user.len() > MAX_USERNAME_LEN {
        return Err(AuthorizationProblem::Malformed);
    }
    Ok((user.to_owned(), password.to_owned()))
}

/// The token of `Authorization: Bearer …` (scheme case-insensitive), if that is what was sent.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    strip_scheme(value, "bearer").map(str::trim).filter(|t| usable_token(t))
}

/// The value of a header carrying a bare token.
pub fn token_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim).filter(|t| usable_token(t))
}

fn usable_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN
}

fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.trim_start().split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// How a request's connection reached us, when the listener says (the listener adds it to
/// every request; without it, the listener's configured scheme holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tls,
    /// Plain HTTP on a listener that also speaks TLS; `allowed` when the listener serves plain
    /// HTTP to this client (loopback, by default), else the request is refused.
    Plain {
        allowed: bool,
    },
}

/// The absolute URL prefix clients reach us at: the configured public URL, else the host the
/// request was sent to (`Host`, or the HTTP/2 authority) on this listener's scheme.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(url) = &state.public_url {
            return Ok(BaseUrl(url.trim_end_matches('/').to_owned()));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .filter(|h| {
                !h.is_empty() && h.len() <= 255 && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or("localhost");
        let scheme = match parts.extensions.get::<Transport>() {
            Some(Transport::Tls) => "https",
            Some(Transport::Plain { .. }) => "http",
            None => state.scheme,
        };
        Ok(BaseUrl(format!("{scheme}://{host}")))
    }
}

/// Why a request body is not the JSON object a login needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// Unreadable, declared as something other than JSON, not JSON, or not an object: says which.
    Invalid(String),
}

/// A request body that should be a JSON object, or why it is not. Never rejects, so that each
/// dialect answers a bad body in its own error shape (its error type implements
/// `From<BodyError>`).
pub struct JsonBody(pub Result<Map<String, Value>, BodyError>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Infallible;

    async fn from_request(request: Request, state: &S) -> Result<Self, Infallible> {
        // Several clients send no Content-Type at all; one that names another type is wrong.
        let declared_other = request
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| !v.to_str().map(|ct| ct.to_ascii_lowercase().contains("json")).unwrap_or(false));
        let bytes = Bytes::from_request(request, state).await;
        Ok(JsonBody(match bytes {
            Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(BodyError::TooLarge)
            }
            Err(_) => Err(BodyError::Invalid("the request body could not be read".into())),
            Ok(_) if declared_other => Err(BodyError::Invalid("the request body must be JSON".into())),
            Ok(bytes) => json_object(&bytes).map_err(BodyError::Invalid),
        }))
    }
}

/// A JSON object body, or a sentence saying what is wrong with it.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("the body must be a JSON object".into()),
        Err(e) => Err(format!("the body is not valid JSON: {e}")),
    }
}

/// Field `name` of a JSON object: `Ok(None)` when absent or null, `Err` when not a string or
/// longer than `max` bytes.
pub fn string_field<'a>(object: &'a Map<String, Value>, name: &str, max: usize) -> Result<Option<&'a str>, String> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= max => Ok(Some(s)),
        Some(Value::String(_)) => Err(format!("{name} is longer than {max} bytes")),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

/// Like [`string_field`], but the field must be there.
pub fn required_string<'a>(object: &'a Map<String, Value>, name: &str, max: usize) -> Result<&'a str, String> {
    string_field(object, name, max)?.ok_or_else(|| format!("{name} is required"))
}

/// A password field: present, a string, and at most 1 KiB.
pub fn password_field<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    required_string(object, name, tollgate_core::password::MAX_PASSWORD_BYTES)
}

/// Logs `request` in through `provider` of `dialect`: the dialect's settings pick the org and
/// identity source (and, for SSO domains, strip `@domain` from the user name). A provider
/// switched off is [`Failure::ProviderNotConfigured`].
pub async fn login_via_provider(
    state: &AppState,
    dialect: Dialect,
    provider: &str,
    request: LoginRequest<'_>,
) -> Result<LoginOutcome, Failure> {
    let request = LoginRequest { dialect: dialect.name(), ..request };
    match state.settings.route(dialect, provider, request.username) {
        Route::Source { org, source, username } => {
            Ok(state.core.login(LoginRequest { org: &org, source: &source, username: &username, ..request }).await?)
        }
        Route::UnknownDomain => Err(state.core.refuse_login(request, FailureReason::UnknownOrg).await.into()),
        Route::NotConfigured => Err(Failure::ProviderNotConfigured(provider.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        headers
    }

    fn basic(raw: &str) -> HeaderMap {
        with_auth(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw)).as_bytes())
    }

    #[test]
    fn basic_splits_on_the_first_colon() {
        assert_eq!(basic_credentials(&basic("a@b:p:w")), Ok(("a@b".into(), "p:w".into())));
    }

    #[test]
    fn basic_problems_are_told_apart() {
        assert_eq!(basic_credentials(&HeaderMap::new()), Err(AuthorizationProblem::Missing));
        assert_eq!(basic_credentials(&with_auth(b"Basic !!!")), Err(AuthorizationProblem::Malformed));
        assert_eq!(basic_credentials(&with_auth(b"Bearer abc")), Err(AuthorizationProblem::Malformed));
        assert_eq!(basic_credentials(&basic("no-colon")), Err(AuthorizationProblem::Malformed));
        assert_eq!(basic_credentials(&with_auth(b"Basic \xff\xfe")), Err(AuthorizationProblem::Malformed));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&with_auth(b"bearer tok")), Some("tok"));
        assert_eq!(bearer_token(&with_auth(b"BEARER tok")), Some("tok"));
        assert_eq!(bearer_token(&with_auth(b"Basic tok")), None);
        assert_eq!(bearer_token(&with_auth(format!("Bearer {}", "x".repeat(600)).as_bytes())), None);
    }

    #[test]
    fn addresses_read_as_std_writes_them() {
        for n in 0..=255u8 {
            let ip = IpAddr::from([n, 255 - n, n / 2, 7]);
            assert_eq!(address_text(ip), ip.to_string());
        }
        for ip in ["::1", "2001:db8::7"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(address_text(ip), ip.to_string());
        }
    }

    #[test]
    fn fresh_correlation_ids_are_distinct_uuids() {
        let (a, b) = (fresh_correlation_id(), fresh_correlation_id());
        assert_ne!(a, b);
        for id in [a, b] {
            let parsed = Uuid::parse_str(&id).unwrap();
            assert_eq!(parsed.get_version(), Some(uuid::Version::Random));
        }
    }

    #[test]
    fn correlation_id_is_echoed_only_when_sane() {
        let name = HeaderName::from_static("x-request-id");
        let mut headers = HeaderMap::new();
        headers.insert(&name, HeaderValue::from_static("abc-123"));
        assert_eq!(correlation_id(&headers, &name), "abc-123");
        headers.insert(&name, HeaderValue::from_static("has space"));
        assert_ne!(correlation_id(&headers, &name), "has space");
    }
}
