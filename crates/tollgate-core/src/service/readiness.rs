//! Whether the identity sources can be reached, for `/readyz`: each source's own probe (an
//! LDAP connect and service bind, the PAM service file, ...), all at once, each bounded in
//! time. The answer is kept for a few seconds and one check runs at a time, so that probes
//! from many load balancers (or anyone who can reach `/readyz`) cost the directories at most
//! one connection per source every [`KEPT_FOR`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::Core;

/// How long one check's answer is given to the probes that follow it.
pub const KEPT_FOR: Duration = Duration::from_secs(5);

/// An identity source's reachability as of the last check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReadiness {
    /// The name the configuration gives it.
    pub name: String,
    /// `local`, `ldap`, `pam`, `saml`.
    pub kind: &'static str,
    pub reachable: bool,
}

/// The last check and when it ran.
#[derive(Default)]
pub(crate) struct SourceChecks(Mutex<Option<(Instant, Arc<[SourceReadiness]>)>>);

impl Core {
    /// Each identity source's reachability, by name, checked within `within` (at most each
    /// source's own deadline), or the answer of a check less than [`KEPT_FOR`] old. Why a
    /// source could not be reached goes to the log, not to the answer: `/readyz` may be public.
    pub async fn check_sources(&self, within: Duration) -> Arc<[SourceReadiness]> {
        let mut last = self.source_checks.0.lock().await;
        if let Some((at, checked)) = last.as_ref()
            && at.elapsed() < KEPT_FOR
        {
            return checked.clone();
        }
        // Each probe in a task of its own: all at once, and a probe that panics is only an
        // unreachable source.
        let probes: Vec<_> = self
            .sources
            .iter()
            .map(|(name, source)| {
                let (name, source) = (name.clone(), source.clone());
                let within = within.min(source.deadline());
                let kind = source.kind();
                let probe = tokio::spawn(async move {
                    match tokio::time::timeout(within, source.probe(None, None)).await {
                        Ok(steps) => {
                            steps.into_iter().find_map(|step| step.outcome.err().map(|e| format!("{}: {e}", step.step)))
                        }
                        Err(_) => Some(format!("no answer within {within:?}")),
                    }
                });
                (name, kind, probe)
            })
            .collect();
        let mut checked = Vec::with_capacity(probes.len());
        for (name, kind, probe) in probes {
            let failed = probe.await.unwrap_or_else(|e| Some(format!("the probe failed: {e}")));
            if let Some(detail) = &failed {
                tracing::warn!(source = %name, kind, detail = %detail, "readiness: an identity source cannot be reached");
            }
            checked.push(SourceReadiness { name, kind, reachable: failed.is_none() });
        }
        checked.sort_by(|a, b| a.name.cmp(&b.name));
        let checked: Arc<[SourceReadiness]> = checked.into();
        *last = Some((Instant::now(), checked.clone()));
        checked
    }
}
