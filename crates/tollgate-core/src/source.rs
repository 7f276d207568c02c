//! Identity sources: the backends that check what a login presents.
//!
//! A source only answers "is this credential good for this name, and what does the backend
//! say about the person". Everything around that question stays in the core
//! ([`crate::Core::login`]) so that no backend can forget it: the login throttle, lockout
//! accounting (a refused guess counts, an outage never does), refusing locked, disabled and
//! other sources' accounts, the same time and answer for unknown names as for wrong passwords,
//! the audit events, the deadline, and just-in-time provisioning of accounts a directory
//! vouches for, with the roles it maps.
//!
//! To plug a new kind in (PAM, SAML, ...): implement [`IdentitySource`] in a crate of its own,
//! build it from the operator's `[sources.NAME]` table in the server's configuration, and hand
//! it to the core as [`SourceConfig::Backend`]. `verify` returns
//! - `Ok(Verdict::Accepted(identity))` for a good credential, with `identity.roles` set when
//!   the source decides the user's roles (a directory's group mapping; re-read at every
//!   login), `None` to keep the roles Tollgate holds;
//! - `Ok(Verdict::Refused(refusal))` for a credential the backend refused, the true reason in
//!   `refusal` (it goes to the audit log only; clients get their dialect's ordinary refusal);
//! - `Err(SourceError)` when the backend could not answer: the login becomes the dialect's
//!   server error and counts toward nothing. The core also gives up after
//!   [`IdentitySource::deadline`], dropping the future: keep `verify` cancel-safe.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::directory::User;
use crate::error::FailureReason;
use crate::imported_hash::HashFormat;

/// What a login presents to prove who it is.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    Password(&'a str),
    /// A signed SAML 2.0 assertion and the holder-of-key proof over it (VCDA `ssoToken`):
    /// `signature` is Base64 SHA256withRSA over `assertion` + `timestamp` + `nonce` by the key
    /// the assertion confirms.
    SamlAssertion {
        assertion: &'a str,
        timestamp: i64,
        nonce: &'a str,
        signature: &'a str,
    },
    /// A token of a live session of one of `from_dialects`, delegating its user (VCDA's
    /// `vcdCookie` and `vcdAccessToken` carry a Cloud Director session). The core checks it
    /// itself: the new session's source is [`DELEGATED_SOURCE`], and the presented one lives on.
    DelegatedSession {
        token: &'a str,
        from_dialects: &'a [&'a str],
    },
}

/// The source name of logins by [`Credential::DelegatedSession`], for [`crate::LoginRequest`]
/// and the sessions they open.
pub const DELEGATED_SOURCE: &str = "vcd-session";

impl Default for Credential<'_> {
    fn default() -> Self {
        Credential::Password("")
    }
}

// Credentials never reach a log, not even through a debug print.
impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password(<redacted>)"),
            Credential::SamlAssertion { .. } => f.write_str("SamlAssertion(<redacted>)"),
            Credential::DelegatedSession { from_dialects, .. } => {
                write!(f, "DelegatedSession(<redacted> of {from_dialects:?})")
            }
        }
    }
}

impl<'a> Credential<'a> {
    /// The password, for the sources that take one.
    pub fn password(&self) -> Option<&'a str> {
        match *self {
            Credential::Password(password) => Some(password),
            Credential::SamlAssertion { .. } | Credential::DelegatedSession { .. } => None,
        }
    }
}

/// One login, as a source sees it.
#[derive(Debug)]
pub struct SourceAttempt<'a> {
    /// The org the login is for (it exists).
    pub org: &'a str,
    /// The account name ([`IdentitySource::account_name`] of what the user typed).
    pub username: &'a str,
    pub credential: Credential<'a>,
    /// Tollgate's account for this name in this org and source, if it has one yet.
    pub account: Option<&'a User>,
}

/// What the backend said about a good credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The roles the user holds now, when the source decides them; `None` keeps the account's.
    pub roles: Option<Vec<String>>,
    /// A proof that may log in once (a SAML holder-of-key nonce): the core remembers it in the
    /// store, for every node, and refuses it the second time.
    pub single_use: Option<SingleUse>,
}

/// A single-use proof, remembered until `until`, when it could no longer verify anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleUse {
    /// Unique among this source's proofs (the core prefixes the source's name).
    pub key: String,
    pub until: crate::clock::Timestamp,
}

/// Why a backend refused a credential. Only the audit log sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such user in the backend.
    UnknownUser,
    WrongPassword,
    /// The backend does not take this kind of credential.
    UnsupportedCredential,
    /// Disabled in the backend (AD 533).
    Disabled,
    /// The password has expired (AD 532).
    PasswordExpired,
    /// The password must be changed before it can be used (AD 773).
    MustChangePassword,
    /// The account has expired (AD 701).
    AccountExpired,
    /// The backend itself has locked the account (AD 775).
    LockedInSource,
    /// The backend knows the user but none of its groups grants a role.
    NoRole,
}

impl Refusal {
    /// Whether the refusal may be a guess: only those count toward lockout. The others come
    /// after the backend checked the password, or refuse before it could.
    pub fn is_guess(self) -> bool {
        matches!(self, Refusal::UnknownUser | Refusal::WrongPassword)
    }

    pub fn reason(self) -> FailureReason {
        match self {
            Refusal::UnknownUser => FailureReason::UnknownUser,
            Refusal::WrongPassword | Refusal::UnsupportedCredential => FailureReason::WrongPassword,
            Refusal::Disabled => FailureReason::Disabled,
            Refusal::PasswordExpired => FailureReason::PasswordExpired,
            Refusal::MustChangePassword => FailureReason::MustChangePassword,
            Refusal::AccountExpired => FailureReason::AccountExpired,
            Refusal::LockedInSource => FailureReason::LockedInSource,
            Refusal::NoRole => FailureReason::NoRole,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted(Identity),
    Refused(Refusal),
}

/// The backend could not answer (unreachable, timed out, misconfigured TLS, ...): a server
/// error, never a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// One step of `tollgate source test`, timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStep {
    /// What was tried: `connect ldaps://...`, `service bind`, `search alice`, `user bind`.
    pub step: String,
    pub elapsed: Duration,
    /// What came of it: `Ok` with a detail (the DN found, the groups), or `Err` with why.
    pub outcome: Result<String, String>,
}

/// A backend that checks credentials. See the module documentation for the contract.
#[async_trait]
pub trait IdentitySource: Send + Sync + std::fmt::Debug + 'static {
    /// The configured kind: `local`, `ldap`, `pam`, `saml`.
    fn kind(&self) -> &'static str;

    /// How long the core waits for [`IdentitySource::verify`] before it answers with a
    /// server error.
    fn deadline(&self) -> Duration;

    /// The account name a typed login name stands for: a directory strips `DOMAIN\` and its
    /// own `@domain`, so that a person has one account whichever form they type.
    fn account_name<'a>(&self, typed: &'a str) -> std::borrow::Cow<'a, str> {
        std::borrow::Cow::Borrowed(typed)
    }

    /// Checks `attempt`'s credential.
    async fn verify(&self, attempt: &SourceAttempt<'_>) -> Result<Verdict, SourceError>;

    /// Reaches the backend step by step for `tollgate source test`, with `user` (and its
    /// `password`, when given) looked up too; stops at the first step that fails.
    async fn probe(&self, user: Option<&str>, password: Option<&str>) -> Vec<ProbeStep>;
}

/// An identity source as configured.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// Tollgate's own accounts, with Argon2id hashes in the store (the core builds it, since
    /// it shares the core's hashing pool).
    Local,
    Backend(Arc<dyn IdentitySource>),
}

impl SourceConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Local => crate::directory::LOCAL_SOURCE,
            SourceConfig::Backend(source) => source.kind(),
        }
    }
}

/// Tollgate's own accounts: Argon2id hashes kept in the store, or hashes imported from another
/// system, which the first good login replaces with Argon2id.
#[derive(Clone)]
pub(crate) struct LocalSource {
    pub(crate) hasher: crate::password::PasswordHasher,
    pub(crate) store: Arc<dyn crate::store::Store>,
}

impl LocalSource {
    /// Replaces `account`'s imported hash with an Argon2id one of `password` (just verified).
    /// A failure leaves the imported hash, which still verifies: the login goes on.
    async fn upgrade_hash(&self, account: &User, imported: &str, password: &str) {
        let upgraded = match self.hasher.hash(password).await {
            Ok(hash) => self.store.replace_password_hash(account.id, imported, &hash).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match upgraded {
            Ok(true) => tracing::info!(
                target: crate::audit::TARGET,
                event = "password_rehashed",
                org = %account.org_name,
                user = %account.name,
                to = "argon2id",
            ),
            // A new password was set meanwhile: it stays.
            Ok(false) => {}
            Err(e) => tracing::warn!(user = %account.name, error = %e, "could not replace an imported password hash"),
        }
    }
}

impl std::fmt::Debug for LocalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalSource")
    }
}

#[async_trait]
impl IdentitySource for LocalSource {
    fn kind(&self) -> &'static str {
        crate::directory::LOCAL_SOURCE
    }

    /// Hashes wait for a thread of the shared pool, which a login flood keeps busy: the
    /// request's own timeout is the bound that matters.
    fn deadline(&self) -> Duration {
        Duration::from_secs(60)
    }

    async fn verify(&self, attempt: &SourceAttempt<'_>) -> Result<Verdict, SourceError> {
        let unavailable = |e: crate::CoreError| SourceError(e.to_string());
        let Some(password) = attempt.credential.password() else {
            return Ok(Verdict::Refused(Refusal::UnsupportedCredential));
        };
        let Some(account) = attempt.account else {
            // Like a wrong password: one hash, so that the time tells nothing.
            self.hasher.verify_dummy(password).await.map_err(unavailable)?;
            return Ok(Verdict::Refused(Refusal::UnknownUser));
        };
        let hash = account.password_hash.as_deref();
        if !self.hasher.verify(hash, password).await.map_err(unavailable)? {
            return Ok(Verdict::Refused(Refusal::WrongPassword));
        }
        if let Some(imported) = hash.filter(|h| HashFormat::of(h) != Ok(HashFormat::Argon2id)) {
            self.upgrade_hash(account, imported, password).await;
        }
        Ok(Verdict::Accepted(Identity::default()))
    }

    async fn probe(&self, _user: Option<&str>, _password: Option<&str>) -> Vec<ProbeStep> {
        vec![ProbeStep {
            step: "local accounts".into(),
            elapsed: Duration::ZERO,
            outcome: Ok("Tollgate's own store: nothing to reach".into()),
        }]
    }
}
