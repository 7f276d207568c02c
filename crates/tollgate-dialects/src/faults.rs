//! Fault rules: a test makes Tollgate answer a matching request as the product does when it
//! fails (a status in the dialect's own error shape, a forced state), slowly, or not at all
//! (a network fault), the next N times, after the first K, with a seeded probability, or until
//! the rule is removed. The envelope asks [`Faults::decide`] about every request; with no rules
//! that is one atomic load.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode};
use http_body::{Frame, SizeHint};
use serde::{Deserialize, Serialize};

use crate::{Dialect, Failure};

/// Rules held at most.
pub const MAX_RULES: usize = 256;
/// Longest latency (and jitter) a rule may add, and longest a hang lasts if the client waits.
pub const MAX_DELAY_MS: u64 = 300_000;
const MAX_PATTERN_LEN: usize = 512;
const MAX_NAME_LEN: usize = 128;
const MAX_COUNT: u64 = 1_000_000;
/// A slow drip's default pace.
const DEFAULT_DRIP_BYTES_PER_SECOND: u64 = 16;

/// A rule as a test writes it (admin API body, fixtures `[[faults]]`, `tollgate fault add`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A name for listing and removing, and for the journal; `fault-N` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only requests to this dialect (`vcd`, `vcda`, `loginsight`, `hcx`, `bluecat`, `native`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<String>,
    /// Only this HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only paths matching this glob: `*` is any run of characters but `/`, `**` any run at
    /// all, `?` one character. Every path when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only requests acting for this user's session (`name`, or `name@org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Only requests acting for a session in this org (a namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    /// Answer with this status (400-599, or Log Insight's 440) in the dialect's error shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// Wait this long before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    /// Wait up to this much longer again, at random.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<i64>,
    /// `reset`, `empty_reply`, `malformed_chunk`, `hang` or `slow_drip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// A slow drip's pace [default: 16].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drip_bytes_per_second: Option<i64>,
    /// `not_initialised`, `session_expired` (the session the request uses ends, timed out) or
    /// `account_locked` (a login is refused as locked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,

    /// Fire this many times, then let requests through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<i64>,
    /// Let the first this many matching requests through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<i64>,
    /// Fire with this probability (0 to 1) on each match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Seeds the probability's draws, so a run repeats [default: 0].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// What a rule does to the request it fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// This status, in the dialect's shape.
    Status(StatusCode),
    /// The connection is reset before a byte of the answer.
    Reset,
    /// The connection is closed before a byte of the answer.
    EmptyReply,
    /// The answer's head, part of its body, then the connection closes mid-chunk.
    MalformedChunk,
    /// No answer until the client gives up (at most [`MAX_DELAY_MS`]).
    Hang,
    /// The answer, a few bytes a second.
    SlowDrip { bytes_per_second: u64 },
    /// The dialect's "not initialised" answer.
    NotInitialised,
    /// The request's session ends as timed out, and the request is answered so.
    SessionExpired,
    /// A login is refused as if the account were locked.
    AccountLocked,
}

/// A rule's decision about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The rule's name, for the log and the journal.
    pub rule: Arc<str>,
    pub delay: Duration,
    pub action: Option<Action>,
}

/// When the envelope asks about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before it is served: the rules that need no session.
    Before,
    /// Once it was served and its session is known: the rules on a user or namespace.
    Served,
    /// Once it was served, for a request whose dialect only serving told (Log Insight's and
    /// BlueCat's shared `/api/v2`): every rule.
    Deferred,
}

/// What a rule can match on; `user` and `org` once the request's session is known.
pub struct Request<'a> {
    pub dialect: Option<Dialect>,
    pub method: &'a Method,
    pub path: &'a str,
    pub session: Option<(&'a str, &'a str)>,
}

struct Rule {
    name: Arc<str>,
    spec: RuleSpec,
    dialect: Option<Dialect>,
    method: Option<Method>,
    delay: Duration,
    jitter: Duration,
    action: Option<Action>,
    times: Option<u64>,
    skip: u64,
    probability: Option<f64>,
    draws: SplitMix64,
    matched: u64,
    fired: u64,
}

impl Rule {
    fn needs_session(&self) -> bool {
        self.spec.user.is_some() || self.spec.namespace.is_some()
    }

    fn matches(&self, request: &Request<'_>) -> bool {
        self.dialect.is_none_or(|d| request.dialect == Some(d))
            && self.method.as_ref().is_none_or(|m| m == request.method)
            && self.spec.path.as_deref().is_none_or(|p| glob(p.as_bytes(), request.path.as_bytes()))
            && match request.session {
                Some((user, org)) => {
                    self.spec.user.as_deref().is_none_or(|u| same_user(u, user, org))
                        && self.spec.namespace.as_deref().is_none_or(|n| n.eq_ignore_ascii_case(org))
                }
                None => !self.needs_session(),
            }
    }

    /// Counts a match and says whether the rule fires on it.
    fn fires(&mut self) -> bool {
        if self.times.is_some_and(|times| self.fired >= times) {
            return false;
        }
        self.matched += 1;
        if self.matched <= self.skip {
            return false;
        }
        if let Some(p) = self.probability
            && self.draws.unit() >= p
        {
            return false;
        }
        self.fired += 1;
        true
    }

    fn view(&self) -> RuleView {
        let remaining = self.times.map(|times| times.saturating_sub(self.fired));
        RuleView {
            name: self.name.to_string(),
            spec: self.spec.clone(),
            matched: self.matched,
            fired: self.fired,
            remaining,
        }
    }
}

/// `user` names the session's user `name` in `org`: by name, or as `name@org`.
pub(crate) fn same_user(user: &str, name: &str, org: &str) -> bool {
    match user.rsplit_once('@') {
        Some((u, o)) => u.eq_ignore_ascii_case(name) && o.eq_ignore_ascii_case(org),
        None => user.eq_ignore_ascii_case(name),
    }
}

/// A rule as listed: what was asked, and how often it matched and fired.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RuleView {
    pub name: String,
    #[serde(flatten)]
    pub spec: RuleSpec,
    /// Requests that matched (skipped ones included).
    pub matched: u64,
    /// Times it fired.
    pub fired: u64,
    /// Firings left, for a rule with `times`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
}

/// A rule refused, and why: the admin API answers it 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

/// Every rule of a server, shared by its listeners.
#[derive(Default)]
pub struct Faults {
    /// Whether any rule is held: all the request path reads when there are none.
    armed: AtomicBool,
    /// Whether a held rule matches on the session's user or org, so the envelope must learn them.
    by_session: AtomicBool,
    next: AtomicU64,
    rules: Mutex<Vec<Rule>>,
    /// The rules the server starts with (the fixtures'), which a reset brings back.
    initial: Mutex<Vec<RuleSpec>>,
}

impl Faults {
    pub fn new() -> Self {
        Faults::default()
    }

    fn rules(&self) -> MutexGuard<'_, Vec<Rule>> {
        self.rules.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn rearm(&self, rules: &[Rule]) {
        self.armed.store(!rules.is_empty(), Ordering::Release);
        self.by_session.store(rules.iter().any(Rule::needs_session), Ordering::Release);
    }

    /// Whether the envelope has anything to ask about.
    #[inline]
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// Whether a rule needs the request's session to decide.
    pub fn by_session(&self) -> bool {
        self.by_session.load(Ordering::Acquire)
    }

    /// Adds a rule; refused with the reason when it is not one.
    pub fn add(&self, spec: RuleSpec) -> Result<RuleView, Invalid> {
        let mut rules = self.rules();
        if rules.len() >= MAX_RULES {
            return Err(Invalid(format!("at most {MAX_RULES} fault rules may be held; remove some first")));
        }
        let name = match &spec.name {
            Some(name) => name.clone(),
            None => format!("fault-{}", self.next.fetch_add(1, Ordering::Relaxed) + 1),
        };
        if rules.iter().any(|r| *r.name == *name) {
            return Err(Invalid(format!("a fault rule named {name:?} exists already")));
        }
        let rule = compile(name, spec)?;
        let view = rule.view();
        rules.push(rule);
        self.rearm(&rules);
        Ok(view)
    }

    /// Every rule, in the order they were added (the first that matches a request decides).
    pub fn list(&self) -> Vec<RuleView> {
        self.rules().iter().map(Rule::view).collect()
    }

    /// Removes the rule `name`; `None` when there is none.
    pub fn remove(&self, name: &str) -> Option<RuleView> {
        let mut rules = self.rules();
        let at = rules.iter().position(|r| &*r.name == name)?;
        let removed = rules.remove(at);
        self.rearm(&rules);
        Some(removed.view())
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut rules = self.rules();
        rules.clear();
        self.rearm(&rules);
    }

    /// Removes every rule and brings back the ones the server started with (a reset).
    pub fn reset(&self) {
        let initial = self.initial.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut rules = self.rules();
        rules.clear();
        for spec in initial {
            let name = spec.name.clone().unwrap_or_default();
            if let Ok(rule) = compile(name, spec) {
                rules.push(rule);
            }
        }
        self.rearm(&rules);
    }

    /// The rules a reset brings back: checked and added now.
    pub fn set_initial(&self, specs: Vec<RuleSpec>) -> Result<(), Invalid> {
        let mut named = Vec::with_capacity(specs.len());
        for (i, mut spec) in specs.into_iter().enumerate() {
            spec.name.get_or_insert_with(|| format!("fixture-{}", i + 1));
            compile(String::new(), spec.clone())?;
            named.push(spec);
        }
        *self.initial.lock().unwrap_or_else(|p| p.into_inner()) = named;
        self.reset();
        Ok(())
    }

    /// The first rule of `phase` that matches `request` and fires on it.
    pub fn decide(&self, request: &Request<'_>, phase: Phase) -> Option<Fired> {
        let mut rules = self.rules();
        let asked = |rule: &Rule| match phase {
            Phase::Before => !rule.needs_session(),
            Phase::Served => rule.needs_session(),
            Phase::Deferred => true,
        };
        for rule in rules.iter_mut() {
            if asked(rule) && rule.matches(request) && rule.fires() {
                let jitter = match rule.jitter.as_millis() as u64 {
                    0 => 0,
                    max => rule.draws.draw() % (max + 1),
                };
                let delay = rule.delay + Duration::from_millis(jitter);
                return Some(Fired { rule: rule.name.clone(), delay, action: rule.action });
            }
        }
        None
    }
}

/// Checks `spec` and makes a rule of it.
fn compile(name: String, spec: RuleSpec) -> Result<Rule, Invalid> {
    let bad = |message: String| Err(Invalid(message));
    if name.len() > MAX_NAME_LEN || name.chars().any(|c| c.is_control() || c == '/') {
        return bad(format!("name must be at most {MAX_NAME_LEN} characters, without '/' or control characters"));
    }
    let dialect = match spec.dialect.as_deref() {
        None => None,
        Some(d) => match Dialect::parse(d) {
            Some(d) => Some(d),
            None => {
                let known: Vec<_> = Dialect::ALL.iter().map(|d| d.name()).collect();
                return bad(format!("unknown dialect {d:?}: one of {}", known.join(", ")));
            }
        },
    };
    let method = match spec.method.as_deref() {
        None => None,
        Some(m) if m.len() <= 16 && !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphabetic()) => Some(
            Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| Invalid(format!("bad method {m:?}")))?,
        ),
        Some(m) => return bad(format!("method {m:?} is not an HTTP method")),
    };
    if let Some(path) = &spec.path {
        check_glob(path).map_err(Invalid)?;
    }
    for (field, value) in [("user", &spec.user), ("namespace", &spec.namespace)] {
        if value.as_ref().is_some_and(|v| v.is_empty() || v.len() > 256) {
            return bad(format!("{field} must be 1 to 256 bytes"));
        }
    }
    let millis = |field: &str, value: Option<i64>| match value {
        None => Ok(Duration::ZERO),
        Some(ms) if (0..=MAX_DELAY_MS as i64).contains(&ms) => Ok(Duration::from_millis(ms as u64)),
        Some(ms) => Err(Invalid(format!("{field} must be from 0 to {MAX_DELAY_MS} milliseconds, not {ms}"))),
    };
    let delay = millis("latency_ms", spec.latency_ms)?;
    let jitter = millis("jitter_ms", spec.jitter_ms)?;
    let status = match spec.status {
        None => None,
        Some(code) if (400..=599).contains(&code) => StatusCode::from_u16(code as u16).ok(),
        Some(code) => return bad(format!("status must be an error status from 400 to 599, not {code}")),
    };
    let pace = match spec.drip_bytes_per_second {
        None => DEFAULT_DRIP_BYTES_PER_SECOND,
        Some(n) if (1..=1_000_000).contains(&n) => n as u64,
        Some(n) => return bad(format!("drip_bytes_per_second must be from 1 to 1000000, not {n}")),
    };
    let network = match spec.network.as_deref() {
        None => None,
        Some("reset") => Some(Action::Reset),
        Some("empty_reply") => Some(Action::EmptyReply),
        Some("malformed_chunk") => Some(Action::MalformedChunk),
        Some("hang") => Some(Action::Hang),
        Some("slow_drip") => Some(Action::SlowDrip { bytes_per_second: pace }),
        Some(other) => {
            return bad(format!(
                "unknown network fault {other:?}: one of reset, empty_reply, malformed_chunk, hang, slow_drip"
            ));
        }
    };
    if spec.drip_bytes_per_second.is_some() && !matches!(network, Some(Action::SlowDrip { .. })) {
        return bad("drip_bytes_per_second goes with network = \"slow_drip\"".into());
    }
    let state = match spec.state.as_deref() {
        None => None,
        Some("not_initialised") => Some(Action::NotInitialised),
        Some("session_expired") => Some(Action::SessionExpired),
        Some("account_locked") => Some(Action::AccountLocked),
        Some(other) => {
            return bad(format!("unknown state {other:?}: one of not_initialised, session_expired, account_locked"));
        }
    };
    let actions: Vec<Action> = [status.map(Action::Status), network, state].into_iter().flatten().collect();
    if actions.len() > 1 {
        return bad("give at most one of status, network and state".into());
    }
    let action = actions.first().copied();
    if action.is_none() && delay.is_zero() && jitter.is_zero() {
        return bad("a rule needs an effect: status, latency_ms/jitter_ms, network or state".into());
    }
    let count = |field: &str, value: Option<i64>, least: i64| match value {
        None => Ok(None),
        Some(n) if (least..=MAX_COUNT as i64).contains(&n) => Ok(Some(n as u64)),
        Some(n) => Err(Invalid(format!("{field} must be from {least} to {MAX_COUNT}, not {n}"))),
    };
    let times = count("times", spec.times, 1)?;
    let skip = count("skip", spec.skip, 0)?.unwrap_or(0);
    let probability = match spec.probability {
        None => None,
        Some(p) if (0.0..=1.0).contains(&p) => Some(p),
        Some(p) => return bad(format!("probability must be from 0 to 1, not {p}")),
    };
    let draws = SplitMix64(spec.seed.unwrap_or(0));
    Ok(Rule {
        name: name.into(),
        spec,
        dialect,
        method,
        delay,
        jitter,
        action,
        times,
        skip,
        probability,
        draws,
        matched: 0,
        fired: 0,
    })
}

/// Wildcards a pattern may hold: each multiplies the work of a match.
const MAX_WILDCARDS: usize = 8;

/// Why `pattern` is not a path pattern, if it is not one.
pub fn check_glob(pattern: &str) -> Result<(), String> {
    if pattern.len() > MAX_PATTERN_LEN || !pattern.starts_with('/') {
        return Err(format!("path must start with '/' and be at most {MAX_PATTERN_LEN} bytes"));
    }
    if pattern.matches('*').count() > MAX_WILDCARDS {
        return Err(format!("path may hold at most {MAX_WILDCARDS} '*'"));
    }
    Ok(())
}

/// `text` matches `pattern` (see [`RuleSpec::path`]); a pattern [`check_glob`] refuses matches nothing.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    check_glob(pattern).is_ok() && glob(pattern.as_bytes(), text.as_bytes())
}

/// `pattern` matches all of `text`: `**` any run, `*` any run without `/`, `?` one byte.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        [b'*', rest @ ..] => {
            let segment = text.iter().position(|&b| b == b'/').unwrap_or(text.len());
            (0..=segment).any(|i| glob(rest, &text[i..]))
        }
        [b'?', rest @ ..] => !text.is_empty() && glob(rest, &text[1..]),
        [c, rest @ ..] => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// Seeded draws: the same seed gives the same sequence of firings for the same requests.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn draw(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A draw in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.draw() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A connection's fate, shared between the listener that holds the connection and the
/// requests on it: a network fault cuts the connection instead of writing the answer.
#[derive(Debug, Clone, Default)]
pub struct Connection(Arc<AtomicU8>);

/// How a connection is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Closed without a byte more.
    Close,
    /// Reset (TCP RST) without a byte more.
    Reset,
}

impl Connection {
    pub fn cut(&self, how: Cut) {
        self.0.store(if how == Cut::Reset { 2 } else { 1 }, Ordering::Release);
    }

    /// Whether, and how, a request on it asked for the connection to be cut.
    #[inline]
    pub fn is_cut(&self) -> Option<Cut> {
        match self.0.load(Ordering::Acquire) {
            0 => None,
            1 => Some(Cut::Close),
            _ => Some(Cut::Reset),
        }
    }
}

/// How long a broken answer's first half is left to reach the client before the break.
const BREAK_AFTER: Duration = Duration::from_millis(100);

/// `body`, half of it and then an error: the client reads a chunked answer that stops
/// mid-chunk.
pub fn malformed(body: Bytes) -> Body {
    Body::new(Broken { part: Some(body.slice(..body.len() / 2)), pause: None })
}

struct Broken {
    part: Option<Bytes>,
    /// Pending, the server writes out what it holds (the head and the first half).
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Broken {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(part) = this.part.take() {
            return Poll::Ready(Some(Ok(Frame::data(part))));
        }
        std::task::ready!(
            this.pause.get_or_insert_with(|| Box::pin(tokio::time::sleep(BREAK_AFTER))).as_mut().poll(cx)
        );
        Poll::Ready(Some(Err(std::io::Error::other("a fault rule broke the answer off"))))
    }

    fn size_hint(&self) -> SizeHint {
        // No length: the answer goes out chunked, so the break is a broken chunk.
        SizeHint::default()
    }
}

/// `body`, `bytes_per_second` bytes at a time, one second apart.
pub fn drip(body: Bytes, bytes_per_second: u64) -> Body {
    let step = usize::try_from(bytes_per_second).unwrap_or(usize::MAX).max(1);
    let length = body.len() as u64;
    Body::new(Drip { rest: body, step, length, timer: None })
}

struct Drip {
    rest: Bytes,
    step: usize,
    length: u64,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Drip {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            return Poll::Ready(None);
        }
        if let Some(timer) = this.timer.as_mut() {
            std::task::ready!(timer.as_mut().poll(cx));
        }
        this.timer = Some(Box::pin(tokio::time::sleep(Duration::from_secs(1))));
        let chunk = this.rest.split_to(this.step.min(this.rest.len()));
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        // The whole length up front: the client waits for every byte.
        SizeHint::with_exact(self.length)
    }
}

/// The failure a forced state or status answers with.
pub fn failure_of(action: Action) -> Option<Failure> {
    match action {
        Action::Status(status) => Some(Failure::Injected(status)),
        Action::NotInitialised => Some(Failure::NotInitialised),
        Action::AccountLocked => Some(Failure::LoginRefused(tollgate_core::FailureReason::Locked)),
        Action::SessionExpired => Some(Failure::InvalidToken(Some(tollgate_core::SessionState::TimedOut))),
        Action::Reset | Action::EmptyReply | Action::MalformedChunk | Action::Hang | Action::SlowDrip { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Faults {
        fn decide_before(&self, request: &Request<'_>) -> Option<Fired> {
            self.decide(request, Phase::Before)
        }
    }

    fn spec(json: serde_json::Value) -> RuleSpec {
        serde_json::from_value(json).unwrap()
    }

    fn request<'a>(dialect: Dialect, method: &'a Method, path: &'a str) -> Request<'a> {
        Request { dialect: Some(dialect), method, path, session: None }
    }

    #[test]
    fn globs_keep_single_stars_within_a_segment() {
        assert!(glob(b"/api/*", b"/api/session"));
        assert!(!glob(b"/api/*", b"/api/org/1"));
        assert!(glob(b"/api/**", b"/api/org/1"));
        assert!(!glob(b"/cloudapi/1.0.0/sessions*", b"/cloudapi/1.0.0/sessions/provider"));
        assert!(glob(b"/cloudapi/**/sessions/?rovider", b"/cloudapi/1.0.0/sessions/provider"));
        assert!(glob(b"/api/v?/sessions", b"/api/v1/sessions"));
        assert!(!glob(b"/api/v?/sessions", b"/api/v10/sessions"));
    }

    #[test]
    fn fail_twice_then_succeed() {
        let faults = Faults::new();
        faults.add(spec(serde_json::json!({"dialect": "vcd", "status": 503, "times": 2}))).unwrap();
        let get = Method::GET;
        let fired: Vec<bool> =
            (0..4).map(|_| faults.decide_before(&request(Dialect::Vcd, &get, "/api/session")).is_some()).collect();
        assert_eq!(fired, [true, true, false, false]);
        assert_eq!(faults.list()[0].fired, 2);
        assert_eq!(faults.list()[0].remaining, Some(0));
    }

    #[test]
    fn skip_lets_the_first_matches_through() {
        let faults = Faults::new();
        faults.add(spec(serde_json::json!({"status": 500, "skip": 2, "times": 1}))).unwrap();
        let get = Method::GET;
        let fired: Vec<bool> = (0..4)
            .map(|_| faults.decide_before(&request(Dialect::Hcx, &get, "/hybridity/api/sessions")).is_some())
            .collect();
        assert_eq!(fired, [false, false, true, false]);
    }

    #[test]
    fn a_seeded_probability_repeats() {
        let run = |seed: u64| {
            let faults = Faults::new();
            faults.add(spec(serde_json::json!({"status": 500, "probability": 0.5, "seed": seed}))).unwrap();
            let get = Method::GET;
            (0..64)
                .map(|_| faults.decide_before(&request(Dialect::Vcd, &get, "/api/session")).is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let fired = run(7).iter().filter(|f| **f).count();
        assert!((16..=48).contains(&fired), "{fired} of 64 fired at p = 0.5");
    }

    #[test]
    fn rules_match_their_dialect_method_and_path_only() {
        let faults = Faults::new();
        faults.add(spec(serde_json::json!({"dialect": "loginsight", "method": "post", "path": "/api/v?/sessions", "status": 440}))).unwrap();
        let (get, post) = (Method::GET, Method::POST);
        assert!(faults.decide_before(&request(Dialect::LogInsight, &post, "/api/v1/sessions")).is_some());
        assert!(faults.decide_before(&request(Dialect::LogInsight, &get, "/api/v1/sessions")).is_none());
        assert!(faults.decide_before(&request(Dialect::BlueCat, &post, "/api/v2/sessions")).is_none());
        assert!(faults.decide_before(&request(Dialect::LogInsight, &post, "/api/v1/sessions/current")).is_none());
    }

    #[test]
    fn user_rules_wait_for_the_session() {
        let faults = Faults::new();
        faults.add(spec(serde_json::json!({"user": "alice@org1", "state": "session_expired"}))).unwrap();
        assert!(faults.by_session());
        let get = Method::GET;
        let mut served = request(Dialect::Vcd, &get, "/api/session");
        assert!(faults.decide(&served, Phase::Before).is_none());
        assert!(faults.decide(&served, Phase::Served).is_none(), "no session, no user");
        served.session = Some(("bob", "org1"));
        assert!(faults.decide(&served, Phase::Served).is_none());
        served.session = Some(("Alice", "ORG1"));
        assert!(faults.decide(&served, Phase::Before).is_none());
        assert_eq!(faults.decide(&served, Phase::Served).unwrap().action, Some(Action::SessionExpired));
    }

    #[test]
    fn removing_the_last_rule_disarms() {
        let faults = Faults::new();
        assert!(!faults.armed());
        let view = faults.add(spec(serde_json::json!({"latency_ms": 5, "name": "slow"}))).unwrap();
        assert_eq!(view.name, "slow");
        assert!(faults.armed());
        assert!(faults.remove("slow").is_some());
        assert!(!faults.armed());
        assert!(faults.remove("slow").is_none());
    }

    #[test]
    fn reset_brings_back_the_initial_rules_only() {
        let faults = Faults::new();
        faults.set_initial(vec![spec(serde_json::json!({"status": 500, "times": 1}))]).unwrap();
        faults.add(spec(serde_json::json!({"status": 502}))).unwrap();
        let get = Method::GET;
        assert!(faults.decide_before(&request(Dialect::Vcd, &get, "/api/session")).is_some());
        faults.reset();
        let names: Vec<_> = faults.list().into_iter().map(|r| (r.name, r.fired)).collect();
        assert_eq!(names, [("fixture-1".to_owned(), 0)]);
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let faults = Faults::new();
        let refused = |json| faults.add(spec(json)).unwrap_err().0;
        assert!(
            refused(serde_json::json!({"dialect": "vsphere", "status": 500})).contains("unknown dialect \"vsphere\"")
        );
        assert!(refused(serde_json::json!({"status": 99})).contains("not 99"));
        assert!(refused(serde_json::json!({"latency_ms": -5})).contains("latency_ms must be from 0"));
        assert!(refused(serde_json::json!({"network": "flood"})).contains("unknown network fault"));
        assert!(refused(serde_json::json!({"status": 500, "state": "account_locked"})).contains("at most one"));
        assert!(refused(serde_json::json!({"path": "/x"})).contains("needs an effect"));
        assert!(refused(serde_json::json!({"status": 500, "probability": 1.5})).contains("probability"));
        assert!(faults.list().is_empty());
    }
}
