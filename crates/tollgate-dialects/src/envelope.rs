//! The one path every request takes, whatever its dialect: bound the headers and the body,
//! carry the dialect's correlation id in and out, apply the request timeout, and answer every
//! failure (a handler's, an extractor's, or the framework's own 404/405/413/408) in the shape
//! of the dialect that serves the path, logged once here.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, Limited};
use tollgate_core::SessionState;

use crate::common::{self, ClientAddr, MAX_BODY_BYTES, Transport};
use crate::failure::{Failure, RequestInfo};
use crate::faults::{self, Action, Cut, Fired, Phase};
use crate::journal;
use crate::operations::{RequestCounts, Route};
use crate::{AppState, Dialect, bluecat, hcx, loginsight, native, vcd, vcda};

/// A body the client is still sending when we answer is read and thrown away, up to this much
/// and for this long, so that the client gets to read our answer (nginx's lingering close)
/// instead of a reset; beyond it the connection is closed.
const MAX_DRAIN_BYTES: u64 = 16 * 1024 * 1024;
const MAX_DRAIN_TIME: Duration = Duration::from_secs(5);

/// The correlation id of a request: the one the client sent in its dialect's header when it
/// is sane, else a fresh one. Handlers extract it; the envelope echoes it.
#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CorrelationId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CorrelationId>()
            .cloned()
            .unwrap_or_else(|| CorrelationId(common::fresh_correlation_id())))
    }
}

/// The header a dialect's clients send their correlation id in, and the one it is echoed in.
fn correlation_headers(dialect: Option<Dialect>) -> (HeaderName, HeaderName) {
    match dialect {
        Some(Dialect::Vcd) => (vcd::CLIENT_REQUEST_ID, vcd::REQUEST_ID),
        Some(Dialect::Vcda) => (vcda::OPERATION_ID, vcda::OPERATION_ID),
        _ => (common::REQUEST_ID, common::REQUEST_ID),
    }
}

/// What the envelope knows about the listener it serves.
#[derive(Clone)]
pub struct Listener {
    pub state: AppState,
    pub dialects: Vec<Dialect>,
    pub(crate) requests: Arc<RequestCounts>,
    /// Whether it serves both Log Insight and BlueCat, who share `/api/v2`.
    pub shared_v2: bool,
}

impl Listener {
    /// The dialect whose shape a request to `path` is answered in: the one that owns the path
    /// when this listener serves it, else the listener's only dialect, else none (Tollgate's
    /// own JSON).
    fn dialect_for(&self, path: &str) -> Option<Dialect> {
        match Dialect::owning(path, &self.dialects) {
            Some(dialect) if self.dialects.contains(&dialect) => Some(dialect),
            _ if self.dialects.len() == 1 => Some(self.dialects[0]),
            _ => None,
        }
    }
}

pub async fn envelope(State(listener): State<Listener>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (mut parts, body) = request.into_parts();
    // `//sessions` is `/sessions`, as the nginx in front of the real appliances has it (VCDA's
    // own documentation prints the double slash): such a path matched no route, and the
    // fallback routes it again merged (see [`crate::listener_router`]).
    if parts.uri.path().contains("//") {
        merge_slashes(&mut parts.uri);
    }
    let dialect = listener.dialect_for(parts.uri.path());
    let (id_in, id_out) = correlation_headers(dialect);
    let correlation_id = common::correlation_id(&parts.headers, &id_in);
    parts.extensions.insert(CorrelationId(correlation_id.clone()));
    let client = ClientAddr::of(&parts, &listener.state.settings.trusted_proxies);
    // For the request's log line (the envelope logs every failure, and successes at debug).
    let client_address = client.0.clone();
    parts.extensions.insert(client);
    let declared_length = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let vcd = (dialect == Some(Dialect::Vcd)).then(|| vcd::negotiate(&parts, &listener.state.settings.vcd_versions));
    let method = parts.method.clone();
    // A clone of the URI shares its bytes: the path for the log costs no copy.
    let uri = parts.uri.clone();
    let matched = parts.extensions.get::<MatchedPath>().cloned();
    // What the renderers and VCDA's media type negotiation read of the request.
    let accept = parts.headers.get(header::ACCEPT).cloned();
    // A test's fault rules and journal; with none held and the journal off, two atomic loads.
    // The admin API is never faulted nor journaled: a test must be able to undo a rule.
    let harness = &listener.state.harness;
    let testable = || !uri.path().starts_with(ADMIN_PREFIX);
    // On a listener serving both Log Insight and BlueCat, only serving tells whose `/api/v2`
    // request it is: rules are asked then.
    let deferred = listener.shared_v2 && (uri.path() == "/api/v2" || uri.path().starts_with("/api/v2/"));
    let mut fired = match harness.faults.armed() && testable() && !deferred {
        true => {
            let request = faults::Request { dialect, method: &method, path: uri.path(), session: None };
            harness.faults.decide(&request, Phase::Before)
        }
        false => None,
    };
    let journaled = (harness.journal.enabled() && testable()).then(|| journal::redacted(&parts.headers));
    let connection = match harness.faults.armed() {
        true => parts.extensions.get::<faults::Connection>().cloned(),
        false => None,
    };

    let mut close = false;
    let mut session_id = None;
    // An answer given before the handler runs still reads the body the client is sending.
    let refuse = |failure: Failure, body: Body| {
        drop(Lingering(Some(body)));
        failure.into_response()
    };
    let mut response = if parts.extensions.get::<Transport>() == Some(&Transport::Plain { allowed: false }) {
        // As nginx answers plain HTTP sent to its HTTPS port.
        refuse(Failure::BadRequest("The plain HTTP request was sent to an HTTPS port: use https://.".into()), body)
    } else if common::headers_too_large(&parts.headers) {
        refuse(Failure::HeadersTooLarge, body)
    } else if parts.version == Version::HTTP_11 && !parts.headers.contains_key(header::HOST) {
        // HTTP/2 names the host in :authority, and HTTP/1.0 needs none (RFC 9112, 3.2).
        refuse(Failure::BadRequest("An HTTP/1.1 request needs a Host header.".into()), body)
    } else if declared_length.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        // Refused before a byte of it is read (and before any `100 Continue`); a body too large
        // to drain is not waited for.
        close = declared_length.is_some_and(|n| n > MAX_DRAIN_BYTES);
        if !close {
            drop(Lingering(Some(body)));
        }
        Failure::BodyTooLarge.into_response()
    } else if let Some(version) = vcd.as_ref().and_then(|n| n.unsupported.clone()) {
        refuse(Failure::UnsupportedVersion(version), body)
    } else {
        // Whatever answers, a body the client is still sending is read to the end; handlers read
        // at most MAX_BODY_BYTES of it (here, not in a layer on every route: that cost each
        // request a boxed service and an extension).
        let body = match http_body::Body::is_end_stream(&body) {
            true => body,
            false => Body::new(Limited::new(Lingering(Some(body)), MAX_BODY_BYTES)),
        };
        let stand_in = match &fired {
            Some(fired) => forestall(fired, dialect, &method, &uri, connection.as_ref()).await,
            None => None,
        };
        match stand_in {
            Some(response) => {
                drop(Lingering(Some(body)));
                response
            }
            None => {
                let request = Request::from_parts(parts, body);
                let served = tollgate_core::context::scope(next.run(request));
                match tokio::time::timeout(listener.state.request_timeout, served).await {
                    Ok((response, session)) => {
                        session_id = session;
                        response
                    }
                    Err(_) => Failure::Timeout.into_response(),
                }
            }
        }
    };

    // Rules on a user or namespace decide once the request's session is known, and so do the
    // rules on a request whose dialect serving told; the journal names the session's user.
    let served_dialect = response.extensions().get::<Dialect>().copied().or(dialect);
    let ask_served =
        fired.is_none() && harness.faults.armed() && (deferred || harness.faults.by_session()) && testable();
    let session = match session_id {
        Some(id) if journaled.is_some() || ask_served => {
            listener.state.core.session_by_id(id).await.ok().flatten().map(|s| (s.user_name, s.org_name))
        }
        _ => None,
    };
    if ask_served && (deferred || session.is_some()) {
        let phase = if deferred { Phase::Deferred } else { Phase::Served };
        let session = session.as_ref().map(|(user, org)| (user.as_str(), org.as_str()));
        let request = faults::Request { dialect: served_dialect, method: &method, path: uri.path(), session };
        fired = harness.faults.decide(&request, phase);
        if let Some(fired) = &fired
            && let Some(stand_in) = forestall(fired, served_dialect, &method, &uri, connection.as_ref()).await
        {
            response = stand_in;
        }
    }
    let action = fired.as_ref().and_then(|f| f.action);
    if action == Some(Action::SessionExpired) {
        if let Some(id) = session_id
            && let Err(e) = listener.state.core.expire_session(id, &correlation_id).await
        {
            tracing::warn!(error = %e, "a fault rule could not end the session");
        }
        response = Failure::InvalidToken(Some(SessionState::TimedOut)).into_response();
    }
    // An answer that stands in for a served one speaks for the dialect that served it.
    if fired.is_some()
        && let Some(served) = served_dialect
    {
        response.extensions_mut().insert(served);
    }

    // Log Insight and BlueCat share /api/v2: the router that answered says which it was, and
    // which of its routes (as does the fallback's, for a path it routed again).
    let dialect = response.extensions().get::<Dialect>().copied().or(dialect);
    let route = response.extensions_mut().remove::<Route>().map(|Route(route)| route).or(matched);
    let failure = match response.extensions_mut().remove::<Failure>() {
        Some(failure) => Some(failure),
        None if unrendered(&response) => Some(Failure::from_status(response.status())),
        None => None,
    };
    if let Some(failure) = failure {
        let allow = response.headers().get(header::ALLOW).cloned();
        let info = RequestInfo {
            method: &method,
            path: uri.path(),
            accept: accept.as_ref(),
            correlation_id: &correlation_id,
            now_millis: listener.state.core.now().millis(),
        };
        log(dialect, &failure, &info, started, session_id, client_address.as_deref());
        response = render(dialect, &failure, &info);
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        if let Failure::Throttled { retry_after_seconds } = failure {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds));
        }
    } else {
        tracing::debug!(
            dialect = dialect.map(Dialect::name),
            method = %method,
            path = uri.path(),
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            correlation_id = %correlation_id,
            session_id = session_id.map(tracing::field::display),
            client = client_address.as_deref(),
            "request"
        );
    }

    match dialect {
        Some(Dialect::Vcd) => vcd::finish(&mut response, vcd.map(|n| n.version)),
        Some(Dialect::Vcda) => vcda::finish(&mut response, accept.as_ref()),
        _ => {}
    }
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(id_out, value);
    }
    if close {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    listener.requests.count(dialect, route.as_ref().map(MatchedPath::as_str), response.status(), started.elapsed());
    let unanswered = matches!(action, Some(Action::Reset | Action::EmptyReply | Action::Hang));
    if let Some(headers) = journaled {
        let unmatched =
            response.status() == StatusCode::NOT_FOUND && route.as_ref().is_none_or(|r| r.as_str().contains("{*"));
        harness.journal.record(journal::Record {
            at_millis: listener.state.core.now().millis(),
            dialect,
            method: &method,
            path: uri.path(),
            // No status reached the client.
            status: if unanswered { None } else { Some(response.status()) },
            session: session_id.map(|id| (id, session)),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            fault: fired.as_ref().map(|f| &*f.rule),
            correlation_id: &correlation_id,
            headers,
            unmatched,
        });
    }
    match action {
        Some(Action::Hang) => {
            // Until the client gives up (the connection is dropped, and this with it), or the bound.
            tokio::time::sleep(Duration::from_millis(faults::MAX_DELAY_MS)).await;
            response
        }
        Some(Action::MalformedChunk) => {
            let (mut parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, MAX_REWRITTEN_BYTES).await.unwrap_or_default();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, faults::malformed(body))
        }
        Some(Action::SlowDrip { bytes_per_second }) => {
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, MAX_REWRITTEN_BYTES).await.unwrap_or_default();
            Response::from_parts(parts, faults::drip(body, bytes_per_second))
        }
        _ => response,
    }
}

/// Paths of the admin API, which faults and the journal leave alone.
const ADMIN_PREFIX: &str = "/v1/admin";
/// Longest answer a malformed-chunk or slow-drip fault rewrites (ours are a few KiB).
const MAX_REWRITTEN_BYTES: usize = 1024 * 1024;

/// Applies what of `fired` comes before the request is served: its delay, then the answer that
/// stands in for the request's own (a status, a forced state, a cut connection), if any. The
/// fault is logged here, once.
async fn forestall(
    fired: &Fired,
    dialect: Option<Dialect>,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    connection: Option<&faults::Connection>,
) -> Option<Response> {
    tracing::info!(
        rule = &*fired.rule,
        dialect = dialect.map(Dialect::name),
        method = %method,
        path = uri.path(),
        action = ?fired.action,
        delay_ms = fired.delay.as_millis() as u64,
        "fault fired"
    );
    if !fired.delay.is_zero() {
        tokio::time::sleep(fired.delay).await;
    }
    let action = fired.action?;
    if let Some(failure) = faults::failure_of(action)
        && action != Action::SessionExpired
    {
        return Some(failure.into_response());
    }
    let cut = match action {
        Action::Reset => Cut::Reset,
        Action::EmptyReply => Cut::Close,
        // Answered by the envelope after the request is served, or hung there.
        Action::Hang => return Some(StatusCode::REQUEST_TIMEOUT.into_response()),
        _ => return None,
    };
    match connection {
        Some(connection) => connection.cut(cut),
        // A server without Tollgate's listener cannot cut the connection: the answer breaks off.
        None => return Some(Response::new(faults::malformed(Bytes::new()))),
    }
    Some(StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Merges repeated slashes in the path, keeping the query.
fn merge_slashes(uri: &mut axum::http::Uri) {
    let mut merged = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && merged.ends_with('/')) {
            merged.push(c);
        }
    }
    if let Some(query) = uri.query() {
        merged.push('?');
        merged.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = merged.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(merged) = axum::http::Uri::from_parts(parts) {
            *uri = merged;
        }
    }
}

/// A client error the framework answered by itself: no body, or axum's plain text.
fn unrendered(response: &Response) -> bool {
    response.status().is_client_error()
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_none_or(|ct| ct.as_bytes().eq_ignore_ascii_case(b"text/plain; charset=utf-8"))
}

fn render(dialect: Option<Dialect>, failure: &Failure, info: &RequestInfo<'_>) -> Response {
    match dialect {
        Some(Dialect::Vcd) => vcd::render(failure, info),
        Some(Dialect::Vcda) => vcda::render(failure, info),
        Some(Dialect::LogInsight) => loginsight::render(failure, info),
        Some(Dialect::Hcx) => hcx::render(failure, info),
        Some(Dialect::BlueCat) => bluecat::render(failure, info),
        Some(Dialect::Native) | None => native::render(failure, info),
    }
}

/// The request's one log line when it failed: what failed and the request's context
/// (timestamp, level and target come from the subscriber, as JSON with `log_format = "json"`).
fn log(
    dialect: Option<Dialect>,
    failure: &Failure,
    info: &RequestInfo<'_>,
    started: Instant,
    session_id: Option<uuid::Uuid>,
    client: Option<&str>,
) {
    let dialect = dialect.map(Dialect::name);
    let code = failure.code();
    let detail = failure.detail();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (method, path, correlation_id) = (info.method.as_str(), info.path, info.correlation_id);
    let session_id = session_id.map(tracing::field::display);
    macro_rules! event {
        ($level:expr, $message:literal) => {
            tracing::event!(
                $level,
                dialect,
                method,
                path,
                code,
                detail,
                latency_ms,
                correlation_id,
                session_id,
                client,
                $message
            )
        };
    }
    match failure {
        Failure::Internal(_) => event!(tracing::Level::ERROR, "request failed"),
        Failure::Unavailable(_) | Failure::Timeout => event!(tracing::Level::WARN, "request failed"),
        // A flood answered 429 would write a line per request: the `throttled` audit event
        // says it once per burst.
        Failure::Throttled { .. } => event!(tracing::Level::DEBUG, "request refused"),
        _ => event!(tracing::Level::INFO, "request refused"),
    }
}

/// The request body, read on after the handler let go of it (see [`MAX_DRAIN_BYTES`]).
struct Lingering(Option<Body>);

impl http_body::Body for Lingering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let Some(body) = this.0.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.0 = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.0.as_ref().map(http_body::Body::size_hint).unwrap_or_else(|| SizeHint::with_exact(0))
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(mut body) = self.0.take() else { return };
        if http_body::Body::is_end_stream(&body) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            let mut read = 0u64;
            let _ = tokio::time::timeout(MAX_DRAIN_TIME, async {
                while let Some(Ok(frame)) = body.frame().await {
                    read += frame.data_ref().map_or(0, |d| d.len() as u64);
                    if read > MAX_DRAIN_BYTES {
                        break;
                    }
                }
            })
            .await;
        });
    }
}
