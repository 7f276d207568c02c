//! API tokens: credentials for the admin API held by programs (`tollgate token create`). Each
//! acts with one role in one org; only a digest of its secret is stored, and it is shown once.

use super::Core;
use crate::actor::Actor;
use crate::audit::AuditEvent;
use crate::authorization::Action;
use crate::directory::{ApiToken, ApiTokenSpec, validate_name};
use crate::error::{CoreError, SessionRejection};
use crate::token::{self, TokenDigest};

/// Every API token's secret starts with this: a leaked one is recognisable (by a secret
/// scanner, or a person), and one presented to the admin API is told from a session token
/// without asking the store about both.
pub const API_TOKEN_PREFIX: &str = "tga_";

impl Core {
    /// Creates an API token; returns it with its secret, which nothing can show again.
    pub async fn create_api_token(&self, actor: &Actor, spec: &ApiTokenSpec) -> Result<(ApiToken, String), CoreError> {
        self.authorize(actor, Action::ManageTokens)?;
        validate_name("API token", &spec.name).map_err(CoreError::Invalid)?;
        let secret = format!("{API_TOKEN_PREFIX}{}", token::base64url256());
        let created = self.store.create_api_token(spec, &TokenDigest::of(&secret), self.now()).await?;
        let event = AuditEvent::TokenCreated {
            token_id: created.id,
            name: created.name.clone(),
            roles: vec![created.role.clone()],
        };
        self.audit(actor, None, event);
        Ok((created, secret))
    }

    /// Every API token, revoked ones included, by name.
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, CoreError> {
        Ok(self.store.list_api_tokens().await?)
    }

    /// Revokes the token `name`: it is refused from then on, by every node.
    pub async fn revoke_api_token(&self, actor: &Actor, name: &str) -> Result<ApiToken, CoreError> {
        self.authorize(actor, Action::ManageTokens)?;
        let revoked = self
            .store
            .revoke_api_token(name, self.now())
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("API token {name:?}")))?;
        self.audit(actor, None, AuditEvent::TokenRevoked { token_id: revoked.id, name: revoked.name.clone() });
        Ok(revoked)
    }

    /// The live API token `secret` is, presented from `remote`. Unknown and revoked tokens are
    /// refused alike, and an address that keeps presenting unknown ones is throttled as for
    /// session tokens. Read from the store each time: a revocation holds at once, everywhere.
    pub async fn authenticate_api_token(&self, secret: &str, remote: Option<&str>) -> Result<ApiToken, CoreError> {
        let now = self.now();
        if let Some(remote) = remote {
            self.check_unknown_token_throttle(remote, now)?;
        }
        let found = match secret.starts_with(API_TOKEN_PREFIX) {
            true => self.store.api_token_by_digest(&TokenDigest::of(secret)).await?,
            false => None,
        };
        match found {
            Some(token) if token.revoked_at.is_none() => Ok(token),
            _ => {
                if let Some(remote) = remote {
                    let _ = self.unknown_token_throttle.take(remote, now);
                }
                Err(SessionRejection::Unknown.into())
            }
        }
    }
}
