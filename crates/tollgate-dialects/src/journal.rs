//! The request journal: the last requests a server answered (dialect, method, path, status,
//! session, latency, the fault rule that fired, headers with every secret redacted), for tests
//! to read and to verify against. Kept only when switched on (`--ephemeral`, or
//! `testing.journal`), in a ring of bounded size; off, the request path reads one atomic.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Dialect;

/// What a redacted header value reads.
pub const REDACTED: &str = "[redacted]";
/// Headers kept of one request, and bytes of each value.
const MAX_HEADERS: usize = 32;
const MAX_VALUE_BYTES: usize = 256;
/// Entries kept at most, whatever the configuration asks.
pub const MAX_CAPACITY: usize = 100_000;

/// Header names whose values are secrets, or carry one, wherever the word appears:
/// `Authorization`, `x-vcloud-authorization`, `X-VMWARE-VCLOUD-ACCESS-TOKEN`, `x-hm-authorization`,
/// `X-VCAV-Auth`, cookies, API keys.
const SECRET_WORDS: &[&str] = &["auth", "token", "cookie", "session", "secret", "passw", "key", "credential", "sso"];

fn is_secret(name: &str) -> bool {
    SECRET_WORDS.iter().any(|word| name.contains(word))
}

/// Every route of every dialect: for a request no route took, the journal names the nearest.
const ROUTES: &[(Dialect, &str)] = &[
    (Dialect::Vcd, "/api/versions"),
    (Dialect::Vcd, "/api/sessions"),
    (Dialect::Vcd, "/api/session"),
    (Dialect::Vcd, "/api/org/"),
    (Dialect::Vcd, "/api/org/{id}"),
    (Dialect::Vcd, "/api/query"),
    (Dialect::Vcd, "/api/admin"),
    (Dialect::Vcd, "/api/admin/extension"),
    (Dialect::Vcd, "/cloudapi/1.0.0/sessions"),
    (Dialect::Vcd, "/cloudapi/1.0.0/sessions/provider"),
    (Dialect::Vcd, "/cloudapi/1.0.0/sessions/current"),
    (Dialect::Vcd, "/cloudapi/1.0.0/sessions/{id}"),
    (Dialect::Vcda, "/sessions"),
    (Dialect::Vcda, "/sessions/extend"),
    (Dialect::Vcda, "/sessions/{site}"),
    (Dialect::Vcda, "/diagnostics/about"),
    (Dialect::LogInsight, "/api/v1/sessions"),
    (Dialect::LogInsight, "/api/v1/sessions/current"),
    (Dialect::LogInsight, "/api/v1/version"),
    (Dialect::LogInsight, "/api/v1/auth-providers"),
    (Dialect::LogInsight, "/api/v2/sessions"),
    (Dialect::LogInsight, "/api/v2/sessions/current"),
    (Dialect::LogInsight, "/api/v2/version"),
    (Dialect::LogInsight, "/api/v2/auth-providers"),
    (Dialect::Hcx, "/api/admin/v1/sessions"),
    (Dialect::Hcx, "/hybridity/api/sessions"),
    (Dialect::BlueCat, "/api/v2/sessions"),
    (Dialect::BlueCat, "/api/v2/sessions/{id}"),
    (Dialect::BlueCat, "/api/v2/users"),
    (Dialect::BlueCat, "/api/v2/users/{id}"),
    (Dialect::BlueCat, "/api/v2/settings"),
    (Dialect::Native, "/v1/sessions"),
    (Dialect::Native, "/v1/sessions/current"),
    (Dialect::Native, "/v1/introspect"),
    (Dialect::Native, "/v1/auth/verify"),
];

/// The route of `dialect` (of any, when none) nearest to `path` by edit distance.
pub fn closest_route(dialect: Option<Dialect>, path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .filter(|(d, _)| dialect.is_none_or(|dialect| *d == dialect))
        .min_by_key(|(_, route)| strsim::levenshtein(route, path))
        .map(|(_, route)| *route)
}

/// One answered request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Entry {
    /// Increases by one per journaled request: `since` pages on it.
    pub sequence: u64,
    /// When the request arrived, epoch milliseconds by the server's clock.
    pub at_millis: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<String>,
    pub method: String,
    /// The path, without the query (which may carry secrets).
    pub path: String,
    /// Absent when no answer reached the client (a reset, an empty reply, a hang).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The session the request used or opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
    /// That session's user and org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    pub latency_ms: f64,
    /// The fault rule that fired on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    pub correlation_id: String,
    /// Request headers, in order, as `[name, value]`; secrets read [`REDACTED`].
    #[schema(value_type = Vec<Vec<String>>)]
    pub headers: Vec<(String, String)>,
    /// For a request no route took: the route it most likely meant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closest_route: Option<String>,
}

/// Request headers as the journal keeps them: bounded, secrets redacted.
pub fn redacted(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .take(MAX_HEADERS)
        .map(|(name, value)| {
            let name = name.as_str();
            let value = if is_secret(name) {
                REDACTED.to_owned()
            } else {
                let text = String::from_utf8_lossy(value.as_bytes());
                let mut end = text.len().min(MAX_VALUE_BYTES);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text[..end].to_owned()
            };
            (name.to_owned(), value)
        })
        .collect()
}

/// Which entries a query wants; every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub dialect: Option<String>,
    pub method: Option<String>,
    /// A glob, as fault rules take.
    pub path: Option<String>,
    pub status: Option<u16>,
    /// `name` or `name@org`.
    pub user: Option<String>,
    /// The org (namespace) of the session.
    pub namespace: Option<String>,
    /// Fired this fault rule; `*` for any.
    pub fault: Option<String>,
    /// Only entries after this sequence number.
    pub since: Option<u64>,
}

impl Filter {
    pub fn matches(&self, entry: &Entry) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|want| have.is_some_and(|have| want.eq_ignore_ascii_case(have)))
        };
        same(&self.dialect, entry.dialect.as_deref())
            && same(&self.method, Some(&entry.method))
            && self.path.as_deref().is_none_or(|glob| crate::faults::glob_matches(glob, &entry.path))
            && self.status.is_none_or(|s| Some(s) == entry.status)
            && self.user.as_deref().is_none_or(|user| match (&entry.user, &entry.org) {
                (Some(name), Some(org)) => crate::faults::same_user(user, name, org),
                _ => false,
            })
            && same(&self.namespace, entry.org.as_deref())
            && match self.fault.as_deref() {
                None => true,
                Some("*") => entry.fault.is_some(),
                Some(rule) => entry.fault.as_deref() == Some(rule),
            }
            && self.since.is_none_or(|since| entry.sequence > since)
    }

    /// The filter in words, for a verification that failed.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                parts.push(format!("{name}={value}"));
            }
        };
        add("dialect", self.dialect.clone());
        add("method", self.method.clone());
        add("path", self.path.clone());
        add("status", self.status.map(|s| s.to_string()));
        add("user", self.user.clone());
        add("namespace", self.namespace.clone());
        add("fault", self.fault.clone());
        add("since", self.since.map(|s| s.to_string()));
        if parts.is_empty() { "any request".into() } else { parts.join(", ") }
    }
}

/// What the envelope hands the journal about one request.
pub struct Record<'a> {
    pub at_millis: i64,
    pub dialect: Option<Dialect>,
    pub method: &'a Method,
    pub path: &'a str,
    pub status: Option<StatusCode>,
    pub session: Option<(Uuid, Option<(String, String)>)>,
    pub latency_ms: f64,
    pub fault: Option<&'a str>,
    pub correlation_id: &'a str,
    pub headers: Vec<(String, String)>,
    /// Whether no route took the request.
    pub unmatched: bool,
}

/// The ring of journaled requests; by default, off.
pub struct Journal {
    enabled: AtomicBool,
    capacity: usize,
    next: AtomicU64,
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for Journal {
    fn default() -> Self {
        Journal::new(false, 1)
    }
}

impl Journal {
    /// A journal keeping the last `capacity` requests (at most [`MAX_CAPACITY`]); off when
    /// `enabled` is false.
    pub fn new(enabled: bool, capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        Journal {
            enabled: AtomicBool::new(enabled),
            capacity,
            next: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn record(&self, record: Record<'_>) {
        let (session_id, user, org) = match record.session {
            Some((id, Some((user, org)))) => (Some(id), Some(user), Some(org)),
            Some((id, None)) => (Some(id), None, None),
            None => (None, None, None),
        };
        let entry = Entry {
            sequence: self.next.fetch_add(1, Ordering::Relaxed) + 1,
            at_millis: record.at_millis,
            dialect: record.dialect.map(|d| d.name().to_owned()),
            method: record.method.as_str().to_owned(),
            path: record.path.to_owned(),
            status: record.status.map(|s| s.as_u16()),
            session_id,
            user,
            org,
            latency_ms: (record.latency_ms * 1000.0).round() / 1000.0,
            fault: record.fault.map(str::to_owned),
            correlation_id: record.correlation_id.to_owned(),
            headers: record.headers,
            closest_route: record
                .unmatched
                .then(|| closest_route(record.dialect, record.path))
                .flatten()
                .map(str::to_owned),
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The entries `filter` matches, oldest first, the last `limit` of them.
    pub fn query(&self, filter: &Filter, limit: usize) -> Vec<Entry> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<Entry> = entries.iter().rev().filter(|e| filter.matches(e)).take(limit).cloned().collect();
        found.reverse();
        found
    }

    /// How many entries `filter` matches.
    pub fn count(&self, filter: &Filter) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|e| filter.matches(e)).count()
    }

    /// Forgets every entry (a reset); sequence numbers keep increasing.
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn record<'a>(path: &'a str, method: &'a Method, status: StatusCode) -> Record<'a> {
        Record {
            at_millis: 0,
            dialect: Some(Dialect::Vcd),
            method,
            path,
            status: Some(status),
            session: None,
            latency_ms: 1.0,
            fault: None,
            correlation_id: "c",
            headers: Vec::new(),
            unmatched: false,
        }
    }

    #[test]
    fn secrets_in_headers_are_redacted() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Basic YWxpY2U6c2VjcmV0"),
            ("x-vcloud-authorization", "abc"),
            ("x-vmware-vcloud-access-token", "eyJ"),
            ("x-hm-authorization", "hcx"),
            ("x-vcav-auth", "vcda"),
            ("cookie", "JSESSIONID=1"),
            ("accept", "application/json;version=36.0"),
        ] {
            headers.insert(axum::http::HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        let kept = redacted(&headers);
        for (name, value) in &kept {
            if name == "accept" {
                assert_eq!(value, "application/json;version=36.0");
            } else {
                assert_eq!(value, REDACTED, "{name}");
            }
        }
        assert_eq!(kept.len(), 7);
    }

    #[test]
    fn the_ring_keeps_the_newest() {
        let journal = Journal::new(true, 2);
        let get = Method::GET;
        for path in ["/a", "/b", "/c"] {
            journal.record(record(path, &get, StatusCode::OK));
        }
        let paths: Vec<_> = journal.query(&Filter::default(), 10).into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["/b", "/c"]);
        assert_eq!(journal.query(&Filter::default(), 1)[0].sequence, 3);
    }

    #[test]
    fn filters_count_what_they_name() {
        let journal = Journal::new(true, 10);
        let (get, delete) = (Method::GET, Method::DELETE);
        journal.record(record("/api/session", &get, StatusCode::OK));
        journal.record(record("/api/session", &delete, StatusCode::NO_CONTENT));
        journal.record(Record { fault: Some("down"), ..record("/api/session", &get, StatusCode::SERVICE_UNAVAILABLE) });
        let filter = |json| serde_json::from_value::<Filter>(json).unwrap();
        assert_eq!(journal.count(&filter(serde_json::json!({"method": "get"}))), 2);
        assert_eq!(journal.count(&filter(serde_json::json!({"fault": "*"}))), 1);
        assert_eq!(journal.count(&filter(serde_json::json!({"path": "/api/*", "status": 204}))), 1);
        assert_eq!(journal.count(&filter(serde_json::json!({"since": 2}))), 1);
    }

    #[test]
    fn an_unmatched_request_names_the_route_it_missed() {
        assert_eq!(closest_route(Some(Dialect::Vcd), "/cloudapi/1.0.0/session"), Some("/cloudapi/1.0.0/sessions"));
        assert_eq!(closest_route(Some(Dialect::LogInsight), "/api/v1/sesions"), Some("/api/v1/sessions"));
        assert_eq!(closest_route(None, "/hybridity/api/session"), Some("/hybridity/api/sessions"));
    }

    #[test]
    fn every_listed_route_belongs_to_its_dialect() {
        let served = [Dialect::LogInsight, Dialect::BlueCat];
        for (dialect, route) in ROUTES {
            let owner = Dialect::owning(route, Dialect::ALL);
            let owner = if *dialect == Dialect::LogInsight { Dialect::owning(route, &served[..1]) } else { owner };
            assert_eq!(owner, Some(*dialect), "{route}");
        }
    }
}
