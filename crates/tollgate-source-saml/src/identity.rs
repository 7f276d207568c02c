//! The `saml` source as the core asks it ([`tollgate_core::IdentitySource`]).

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use tollgate_core::Timestamp;
use tollgate_core::source::{
    Credential, Identity, IdentitySource, ProbeStep, Refusal, SingleUse, SourceAttempt, SourceError, Verdict,
};

use crate::{HolderOfKeyToken, SamlSource};

#[async_trait]
impl IdentitySource for SamlSource {
    fn kind(&self) -> &'static str {
        "saml"
    }

    /// Verification is computation only: no backend to wait for.
    fn deadline(&self) -> Duration {
        Duration::from_secs(5)
    }

    async fn verify(&self, attempt: &SourceAttempt<'_>) -> Result<Verdict, SourceError> {
        let Credential::SamlAssertion { assertion, timestamp, nonce, signature } = attempt.credential else {
            return Ok(Verdict::Refused(Refusal::UnsupportedCredential));
        };
        let stamp = timestamp.to_string();
        let token = HolderOfKeyToken { saml_token: assertion, timestamp: &stamp, nonce, signature };
        let refuse = |detail: String| {
            // The core's audit names the login refused; why the token was is kept here.
            tracing::info!(
                target: tollgate_core::audit::TARGET,
                event = "source_refusal",
                source = "saml",
                user = ?attempt.username,
                detail,
            );
            Ok(Verdict::Refused(Refusal::WrongPassword))
        };
        let verified = match SamlSource::verify(self, token, OffsetDateTime::now_utc()) {
            Ok(verified) => verified,
            Err(rejection) => return refuse(rejection.to_string()),
        };
        // The login was routed by the subject the token claims (`user@domain` through an SSO
        // domain names `user`); it must be the one it proves.
        let local_part = verified.subject.rsplit_once('@').map(|(user, _)| user);
        if verified.subject != attempt.username && local_part != Some(attempt.username) {
            return refuse(format!("verified subject {:?} is not the routed user", verified.subject));
        }
        let roles = (!self.roles.is_empty()).then(|| self.roles.clone());
        let until = Timestamp(self.nonce_stale_after(timestamp));
        Ok(Verdict::Accepted(Identity { roles, single_use: Some(SingleUse { key: nonce.to_owned(), until }) }))
    }

    async fn probe(&self, _user: Option<&str>, _password: Option<&str>) -> Vec<ProbeStep> {
        vec![ProbeStep {
            step: "IdP certificate".into(),
            elapsed: Duration::ZERO,
            outcome: Ok(format!("RSA key loaded; audience {:?}, issuer {:?}", self.audience, self.issuer)),
        }]
    }
}
