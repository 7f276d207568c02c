//! Prometheus metrics. Every metric is described here, once, so that a scrape carries help
//! text for each; the handles the request path touches are registered when the server starts,
//! so recording one is an atomic add, with no label formatting or allocation.
//!
//! Built on the `metrics` facade with its Prometheus exporter, which renders the Prometheus
//! text format (what `promtool check metrics` lints) and lets us hold an explicit recorder
//! rather than a process-global one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::audit::AuditKind;

pub const HTTP_REQUESTS: &str = "tollgate_http_requests_total";
pub const HTTP_DURATION: &str = "tollgate_http_request_duration_seconds";
pub const LOGINS: &str = "tollgate_logins_total";
pub const SESSION_CACHE_LOOKUPS: &str = "tollgate_session_cache_lookups_total";
pub const SESSIONS_LIVE: &str = "tollgate_sessions_live";
pub const LOCKOUTS: &str = "tollgate_lockouts_total";
pub const THROTTLED: &str = "tollgate_throttled_total";
pub const HASH_QUEUE_DEPTH: &str = "tollgate_password_hash_queue_depth";
pub const HASH_WAIT: &str = "tollgate_password_hash_wait_seconds";
pub const STORE_DURATION: &str = "tollgate_store_operation_duration_seconds";
pub const STORE_ERRORS: &str = "tollgate_store_errors_total";
pub const SOURCE_DURATION: &str = "tollgate_identity_source_duration_seconds";
pub const SOURCE_ERRORS: &str = "tollgate_identity_source_errors_total";
pub const BUILD_INFO: &str = "tollgate_build_info";
pub const AUDIT_EVENTS: &str = "tollgate_audit_events_total";

enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric Tollgate exports: name, kind, help text.
const DESCRIPTIONS: &[(&str, Kind, &str)] = &[
    (HTTP_REQUESTS, Kind::Counter, "HTTP requests answered, by dialect, route template and status code."),
    (
        HTTP_DURATION,
        Kind::Histogram,
        "Time from a request's arrival to its answer, by dialect, route template and status class (2xx, 4xx, ...).",
    ),
    (LOGINS, Kind::Counter, "Login attempts by dialect, identity source and outcome (success or why it was refused)."),
    (SESSION_CACHE_LOOKUPS, Kind::Counter, "Token validations answered from memory (hit) or the store (miss)."),
    (SESSIONS_LIVE, Kind::Gauge, "Sessions logged in and not yet ended, by dialect, as of the last sweep."),
    (LOCKOUTS, Kind::Counter, "Accounts locked after repeated failures, by scope (address or all_addresses)."),
    (THROTTLED, Kind::Counter, "Requests refused with 429 by a throttle, by what was throttled."),
    (HASH_QUEUE_DEPTH, Kind::Gauge, "Password hashes and verifications waiting for a hashing thread."),
    (HASH_WAIT, Kind::Histogram, "Time a password hash or verification waited for a hashing thread."),
    (STORE_DURATION, Kind::Histogram, "Time the store took to answer, by operation."),
    (STORE_ERRORS, Kind::Counter, "Store operations that failed in the backend, by operation."),
    (
        SOURCE_DURATION,
        Kind::Histogram,
        "Time an identity source took to check a login's credential, by source name and kind, until its answer or the deadline.",
    ),
    (
        SOURCE_ERRORS,
        Kind::Counter,
        "Credential checks an identity source could not answer, by source name, kind and error (unavailable or timeout).",
    ),
    (BUILD_INFO, Kind::Gauge, "Always 1; the version label names the running build."),
    (
        AUDIT_EVENTS,
        Kind::Counter,
        "Audit events recorded, by kind (login, login_failed, revocation, user_created, ...).",
    ),
];

/// Histogram buckets, in seconds: from a cached store read to a queue of Argon2id runs.
const SECONDS_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// What is being throttled, as the `what` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Throttled {
    Login,
    UnknownToken,
    SessionsOfUser,
}

impl Throttled {
    pub fn as_str(self) -> &'static str {
        match self {
            Throttled::Login => "login",
            Throttled::UnknownToken => "unknown_token",
            Throttled::SessionsOfUser => "sessions_of_user",
        }
    }
}

/// The handles the core records into, and the exporter that renders them.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<dyn Recorder + Send + Sync>,
    exporter: Option<PrometheusHandle>,
    pub(crate) cache_hits: Counter,
    pub(crate) cache_misses: Counter,
    lockouts_address: Counter,
    lockouts_all_addresses: Counter,
    throttled: [Counter; 3],
    /// `tollgate_audit_events_total`, in the order of [`AuditKind::ALL`].
    audit_events: Vec<Counter>,
    pub(crate) hash_queue_depth: Gauge,
    pub(crate) hash_wait: Histogram,
    /// `tollgate_sessions_live` by dialect, each set at every sweep.
    live_sessions: Arc<Mutex<HashMap<String, Gauge>>>,
}

impl Metrics {
    /// Metrics rendered by [`Metrics::render`] in the Prometheus text format.
    pub fn prometheus() -> Metrics {
        let buckets: Vec<_> = DESCRIPTIONS
            .iter()
            .filter(|(_, kind, _)| matches!(kind, Kind::Histogram))
            .map(|(name, _, _)| metrics_exporter_prometheus::Matcher::Full((*name).to_owned()))
            .collect();
        let mut builder = PrometheusBuilder::new();
        for matcher in buckets {
            builder = builder.set_buckets_for_metric(matcher, SECONDS_BUCKETS).expect("the buckets are not empty");
        }
        let recorder = builder.build_recorder();
        let exporter = recorder.handle();
        for (name, kind, help) in DESCRIPTIONS {
            let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
            match kind {
                Kind::Counter => recorder.describe_counter(name, None, help),
                Kind::Gauge => recorder.describe_gauge(name, None, help),
                Kind::Histogram => recorder.describe_histogram(name, None, help),
            }
        }
        let metrics = Metrics::with_recorder(Arc::new(recorder), Some(exporter));
        metrics.gauge(BUILD_INFO, vec![Label::new("version", env!("CARGO_PKG_VERSION"))]).set(1.0);
        metrics
    }

    /// Metrics that record nothing (tests, the CLI).
    pub fn disabled() -> Metrics {
        Metrics::with_recorder(Arc::new(metrics::NoopRecorder), None)
    }

    fn with_recorder(recorder: Arc<dyn Recorder + Send + Sync>, exporter: Option<PrometheusHandle>) -> Metrics {
        let one = |name: &'static str, label: &'static str, value: &'static str| {
            recorder.register_counter(&Key::from_parts(name, vec![Label::from_static_parts(label, value)]), &METADATA)
        };
        let throttled = [Throttled::Login, Throttled::UnknownToken, Throttled::SessionsOfUser]
            .map(|what| one(THROTTLED, "what", what.as_str()));
        let audit_events = AuditKind::ALL.iter().map(|kind| one(AUDIT_EVENTS, "kind", kind.as_str())).collect();
        Metrics {
            audit_events,
            cache_hits: one(SESSION_CACHE_LOOKUPS, "result", "hit"),
            cache_misses: one(SESSION_CACHE_LOOKUPS, "result", "miss"),
            lockouts_address: one(LOCKOUTS, "scope", "address"),
            lockouts_all_addresses: one(LOCKOUTS, "scope", "all_addresses"),
            throttled,
            hash_queue_depth: recorder.register_gauge(&Key::from_static_name(HASH_QUEUE_DEPTH), &METADATA),
            hash_wait: recorder.register_histogram(&Key::from_static_name(HASH_WAIT), &METADATA),
            live_sessions: Arc::default(),
            recorder,
            exporter,
        }
    }

    /// A counter of `name` with these labels; for the few handles a caller keeps (registering
    /// one allocates its key).
    pub fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    pub fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        self.recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
    }

    pub fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.recorder.register_histogram(&Key::from_parts(name, labels), &METADATA)
    }

    pub fn is_enabled(&self) -> bool {
        self.exporter.is_some()
    }

    /// The scrape: every metric in the Prometheus text format; `None` when disabled.
    pub fn render(&self) -> Option<String> {
        self.exporter.as_ref().map(PrometheusHandle::render)
    }

    /// Folds recorded histogram samples into their buckets, so that memory does not grow
    /// between scrapes. The sweep runs it.
    pub(crate) fn upkeep(&self) {
        if let Some(exporter) = &self.exporter {
            exporter.run_upkeep();
        }
    }

    /// A login's outcome: `success`, or why it was refused. Logins cost an Argon2id run, so
    /// the key is registered on each (it is found, not added, after the first).
    pub(crate) fn login(&self, dialect: &str, source: &str, outcome: &'static str) {
        let labels = vec![
            Label::new("dialect", dialect.to_owned()),
            Label::new("source", source.to_owned()),
            Label::from_static_parts("outcome", outcome),
        ];
        self.counter(LOGINS, labels).increment(1);
    }

    /// One credential check by the identity source `source` (its configured name) of `kind`:
    /// how long it took, and why it gave no answer when it gave none (`unavailable`, `timeout`).
    /// Like a login's, the keys are found on each call; a check costs far more.
    pub(crate) fn identity_source_check(
        &self,
        source: &str,
        kind: &'static str,
        elapsed: Duration,
        error: Option<&'static str>,
    ) {
        let labels = || vec![Label::new("source", source.to_owned()), Label::from_static_parts("kind", kind)];
        self.histogram(SOURCE_DURATION, labels()).record(elapsed);
        if let Some(error) = error {
            let mut labels = labels();
            labels.push(Label::from_static_parts("error", error));
            self.counter(SOURCE_ERRORS, labels).increment(1);
        }
    }

    /// Sets the live sessions of each dialect in `counts`, and of those it no longer names to 0.
    pub(crate) fn live_sessions(&self, counts: &[(String, u64)]) {
        let mut gauges = self.live_sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (dialect, gauge) in gauges.iter() {
            if !counts.iter().any(|(counted, _)| counted == dialect) {
                gauge.set(0.0);
            }
        }
        for (dialect, count) in counts {
            let gauge = gauges
                .entry(dialect.clone())
                .or_insert_with(|| self.gauge(SESSIONS_LIVE, vec![Label::new("dialect", dialect.clone())]));
            gauge.set(*count as f64);
        }
    }

    pub(crate) fn lockout(&self, all_addresses: bool) {
        match all_addresses {
            true => self.lockouts_all_addresses.increment(1),
            false => self.lockouts_address.increment(1),
        }
    }

    pub(crate) fn throttled(&self, what: Throttled) {
        self.throttled[what as usize].increment(1);
    }

    pub(crate) fn audit_event(&self, kind: AuditKind) {
        self.audit_events[kind as usize].increment(1);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::disabled()
    }
}

static METADATA: Metadata<'static> = Metadata::new("tollgate", metrics::Level::INFO, None);
