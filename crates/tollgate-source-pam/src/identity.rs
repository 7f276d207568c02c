//! The `pam` source as the core asks it ([`tollgate_core::IdentitySource`]).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use tollgate_core::source::{
    Identity, IdentitySource, ProbeStep, Refusal as CoreRefusal, SourceAttempt, SourceError, Verdict,
};

use crate::{PamError, PamSource, Refusal};

impl Refusal {
    fn for_core(self) -> CoreRefusal {
        match self {
            // A name off the allow-list is answered (and counted) like one nobody has.
            Refusal::NotAllowed | Refusal::UnknownUser => CoreRefusal::UnknownUser,
            Refusal::Malformed | Refusal::WrongPassword => CoreRefusal::WrongPassword,
            Refusal::AccountExpired => CoreRefusal::AccountExpired,
            Refusal::PasswordExpired => CoreRefusal::PasswordExpired,
            Refusal::PermissionDenied => CoreRefusal::Disabled,
        }
    }
}

#[async_trait]
impl IdentitySource for PamSource {
    fn kind(&self) -> &'static str {
        "pam"
    }

    /// A little over the source's own timeout, so that its answer (naming the timeout) wins.
    fn deadline(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs) + Duration::from_millis(500)
    }

    async fn verify(&self, attempt: &SourceAttempt<'_>) -> Result<Verdict, SourceError> {
        let Some(password) = attempt.credential.password() else {
            return Ok(Verdict::Refused(CoreRefusal::UnsupportedCredential));
        };
        match self.authenticate(attempt.username, password).await {
            Ok(()) => {
                let roles = (!self.config.roles.is_empty()).then(|| self.config.roles.clone());
                Ok(Verdict::Accepted(Identity { roles, ..Identity::default() }))
            }
            Err(PamError::Refused(refusal)) => {
                // The core's audit names the mapped reason; PAM's own is kept here.
                tracing::info!(
                    target: tollgate_core::audit::TARGET,
                    event = "source_refusal",
                    source = "pam",
                    user = ?attempt.username,
                    detail = refusal.as_str(),
                );
                Ok(Verdict::Refused(refusal.for_core()))
            }
            Err(PamError::Unavailable(detail)) => Err(SourceError(detail)),
        }
    }

    async fn probe(&self, user: Option<&str>, password: Option<&str>) -> Vec<ProbeStep> {
        let path = std::path::Path::new(crate::PAM_DIR).join(&self.config.service);
        let mut steps = vec![ProbeStep {
            step: format!("service {}", path.display()),
            elapsed: Duration::ZERO,
            outcome: if self.service_installed() {
                Ok("installed".into())
            } else {
                Err("missing: run `tollgate install-pam`".into())
            },
        }];
        let Some(user) = user else { return steps };
        let started = Instant::now();
        let allowed = self.is_allowed(user).await;
        steps.push(ProbeStep {
            step: format!("allow-list {user}"),
            elapsed: started.elapsed(),
            outcome: match &allowed {
                Ok(true) => Ok("listed, or in an allowed group".into()),
                Ok(false) => Err("neither on allowed_users nor in allowed_groups".into()),
                Err(e) => Err(e.to_string()),
            },
        });
        let allowed = allowed == Ok(true);
        if let (true, Some(password)) = (allowed && steps[0].outcome.is_ok(), password) {
            let started = Instant::now();
            let outcome = self.authenticate(user, password).await.map(|()| "authenticated, account usable".to_owned());
            steps.push(ProbeStep {
                step: format!("authenticate {user}"),
                elapsed: started.elapsed(),
                outcome: outcome.map_err(|e| e.to_string()),
            });
        }
        steps
    }
}
