//! The `pam` identity source: operating-system accounts (HCX `local`, Cloud Director
//! Availability `localUser`) checked through a PAM service.
//!
//! Only accounts on the configured allow-list (by name, or by a group they are in) ever reach
//! PAM. Each check runs authentication and
//! then account management (an expired account authenticates but must not log in) on a
//! blocking thread; at most `max_concurrent` run at once and a check that takes longer than
//! `timeout` is answered as an outage. libpam cannot be interrupted, so a timed-out check keeps
//! its concurrency slot until PAM returns: a hung stack fills the pool instead of growing it.

mod identity;

use std::ffi::{OsStr, OsString};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nonstick::{AuthnFlags, ConversationAdapter, ErrorCode, Transaction, TransactionBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// The service file Tollgate ships, installed as `/etc/pam.d/tollgate` by `tollgate install-pam`.
pub const SERVICE_FILE: &str = include_str!("../tollgate.pam");
/// The PAM service name a `pam` source uses unless configured otherwise.
pub const DEFAULT_SERVICE: &str = "tollgate";
/// Where Linux-PAM reads service files.
pub const PAM_DIR: &str = "/etc/pam.d";
/// Longer names are refused before PAM sees them (Linux allows 32 bytes).
const MAX_USERNAME_BYTES: usize = 256;
/// Longer passwords are refused before PAM sees them (the core's bound for local accounts).
const MAX_PASSWORD_BYTES: usize = 1024;

/// `[sources.NAME]` with `kind = "pam"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PamConfig {
    /// The file in `/etc/pam.d` that holds the stack.
    #[serde(default = "default_service")]
    pub service: String,
    /// Accounts that may log in through this source.
    #[serde(default)]
    pub allowed_users: Vec<String>,
    /// Groups whose members may log in too (as their primary group or a supplementary one,
    /// read from the system's group database at each login).
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// A check still running after this long is answered as an outage.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// PAM conversations running at once.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// The roles an account of this source holds, given at every login (and to the account
    /// Tollgate creates on its first login). Empty: the roles stay what `tollgate user` gave
    /// the account, and only accounts created beforehand can log in.
    #[serde(default)]
    pub roles: Vec<String>,
}

fn default_service() -> String {
    DEFAULT_SERVICE.to_owned()
}
fn default_timeout_secs() -> u64 {
    5
}
fn default_max_concurrent() -> usize {
    4
}

/// Why PAM said no. Dialects answer all of these alike; the reason is for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The name is not on the allow-list, nor in an allowed group (PAM was not asked).
    NotAllowed,
    /// The name or password cannot be handed to PAM (too long, a NUL byte, empty).
    Malformed,
    UnknownUser,
    /// A wrong password, or a locked account (`usermod -L`): pam_unix does not tell them apart.
    WrongPassword,
    AccountExpired,
    PasswordExpired,
    PermissionDenied,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotAllowed => "not_on_allow_list",
            Refusal::Malformed => "malformed",
            Refusal::UnknownUser => "unknown_user",
            Refusal::WrongPassword => "wrong_password_or_locked",
            Refusal::AccountExpired => "account_expired",
            Refusal::PasswordExpired => "password_expired",
            Refusal::PermissionDenied => "permission_denied",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PamError {
    #[error("refused by PAM: {}", .0.as_str())]
    Refused(Refusal),
    /// PAM could not answer (timeout, a broken stack, shadow unreadable): never the user's fault.
    #[error("PAM unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pam source: {0}")]
pub struct ConfigError(String);

pub struct PamSource {
    config: PamConfig,
    slots: Arc<Semaphore>,
    /// How long a check that got past authentication took (a moving average). Every refusal
    /// is held at least this long: PAM refuses a name with no account, and this source one
    /// off the allow-list, far faster than it hashes a password, which would tell names apart.
    check_time: Mutex<Duration>,
}

impl std::fmt::Debug for PamSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PamSource").field("config", &self.config).finish()
    }
}

impl PamSource {
    pub fn new(config: PamConfig) -> Result<Self, ConfigError> {
        if config.allowed_users.is_empty() && config.allowed_groups.is_empty() {
            return Err(ConfigError("allowed_users or allowed_groups must name at least one account or group".into()));
        }
        if config.service.is_empty() || config.service.contains(['/', '\0']) || config.service.starts_with('.') {
            return Err(ConfigError(format!("{:?} is not a PAM service name", config.service)));
        }
        if config.timeout_secs == 0 || config.max_concurrent == 0 {
            return Err(ConfigError("timeout_secs and max_concurrent must be at least 1".into()));
        }
        let slots = Arc::new(Semaphore::new(config.max_concurrent));
        // Until a check has been timed: about what pam_unix's yescrypt takes on a small machine.
        let check_time = Mutex::new(Duration::from_millis(40));
        Ok(PamSource { config, slots, check_time })
    }

    pub fn config(&self) -> &PamConfig {
        &self.config
    }

    /// Whether the service's file exists: without it Linux-PAM silently falls back to the
    /// `other` stack, which is not the one the operator meant to use.
    pub fn service_installed(&self) -> bool {
        std::path::Path::new(PAM_DIR).join(&self.config.service).is_file()
    }

    /// Authenticates `username` with `password`, then checks the account is usable. A refusal
    /// takes at least as long as a good password's check.
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<(), PamError> {
        let started = Instant::now();
        let outcome = self.check(username, password).await;
        let hold_until = {
            let mut check_time = self.check_time.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match &outcome {
                Ok(())
                | Err(PamError::Refused(
                    Refusal::AccountExpired | Refusal::PasswordExpired | Refusal::PermissionDenied,
                )) => {
                    *check_time = (*check_time * 3 + started.elapsed()) / 4;
                    None
                }
                Err(PamError::Refused(_)) => Some(started + *check_time),
                Err(PamError::Unavailable(_)) => None,
            }
        };
        if let Some(hold_until) = hold_until {
            tokio::time::sleep_until(hold_until.into()).await;
        }
        outcome
    }

    /// Whether `username` is on `allowed_users`, or else in one of `allowed_groups` (which
    /// asks the system's account databases on a blocking thread).
    pub async fn is_allowed(&self, username: &str) -> Result<bool, PamError> {
        if self.config.allowed_users.iter().any(|allowed| allowed == username) {
            return Ok(true);
        }
        let (username, groups) = (username.to_owned(), self.config.allowed_groups.clone());
        tokio::task::spawn_blocking(move || in_any_group(&username, &groups))
            .await
            .map_err(|e| PamError::Unavailable(format!("group lookup failed: {e}")))?
    }

    async fn check(&self, username: &str, password: &str) -> Result<(), PamError> {
        let by_name = self.config.allowed_users.iter().any(|allowed| allowed == username);
        if !by_name && self.config.allowed_groups.is_empty() {
            return Err(PamError::Refused(Refusal::NotAllowed));
        }
        let malformed = |s: &str, max: usize| s.is_empty() || s.len() > max || s.contains('\0');
        if malformed(username, MAX_USERNAME_BYTES) || malformed(password, MAX_PASSWORD_BYTES) {
            return Err(PamError::Refused(Refusal::Malformed));
        }
        let deadline = Duration::from_secs(self.config.timeout_secs);
        let service = self.config.service.clone();
        let groups = if by_name { Vec::new() } else { self.config.allowed_groups.clone() };
        let conversation = Credentials { username: username.into(), password: password.into() };
        let slots = self.slots.clone();
        let check = async move {
            let permit = slots.acquire_owned().await.map_err(|_| PamError::Unavailable("pool closed".into()))?;
            tokio::task::spawn_blocking(move || {
                // Group lookups may reach a directory (sssd, winbind): on this bounded thread.
                let outcome = match by_name || in_any_group(&conversation.username.to_string_lossy(), &groups)? {
                    true => converse(&service, conversation),
                    false => Err(PamError::Refused(Refusal::NotAllowed)),
                };
                drop(permit);
                outcome
            })
            .await
            .map_err(|e| PamError::Unavailable(format!("PAM thread failed: {e}")))?
        };
        match tokio::time::timeout(deadline, check).await {
            Ok(outcome) => outcome,
            Err(_) => Err(PamError::Unavailable(format!("no answer within {deadline:?}"))),
        }
    }
}

/// Whether the account `username` is in one of `groups`, as its primary group or a
/// supplementary one. An account or group the system does not know is in nothing.
fn in_any_group(username: &str, groups: &[String]) -> Result<bool, PamError> {
    use nix::unistd::{Group, User, getgrouplist};
    if groups.is_empty() {
        return Ok(false);
    }
    let unavailable = |what: &str, e: nix::Error| PamError::Unavailable(format!("cannot read {what}: {e}"));
    let Some(account) = User::from_name(username).map_err(|e| unavailable("the account database", e))? else {
        return Ok(false);
    };
    let name = std::ffi::CString::new(username).map_err(|_| PamError::Refused(Refusal::Malformed))?;
    let member_of = getgrouplist(&name, account.gid).map_err(|e| unavailable("the account's groups", e))?;
    for group in groups {
        if let Some(group) = Group::from_name(group).map_err(|e| unavailable("the group database", e))?
            && member_of.contains(&group.gid)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One PAM transaction: authenticate, then account management.
fn converse(service: &str, conversation: Credentials) -> Result<(), PamError> {
    let username = conversation.username.clone();
    let mut transaction = TransactionBuilder::new_with_service(service)
        .username(&username)
        .build(conversation.into_conversation())
        .map_err(|code| PamError::Unavailable(format!("cannot start service {service:?}: {code}")))?;
    transaction.authenticate(AuthnFlags::empty()).map_err(classify)?;
    transaction.account_management(AuthnFlags::empty()).map_err(classify)
}

fn classify(code: ErrorCode) -> PamError {
    let refused = match code {
        ErrorCode::AuthenticationError | ErrorCode::CredentialsInsufficient | ErrorCode::MaxTries => {
            Refusal::WrongPassword
        }
        ErrorCode::UserUnknown => Refusal::UnknownUser,
        ErrorCode::AccountExpired => Refusal::AccountExpired,
        ErrorCode::NewAuthTokRequired | ErrorCode::AuthTokExpired => Refusal::PasswordExpired,
        ErrorCode::PermissionDenied => Refusal::PermissionDenied,
        other => return PamError::Unavailable(format!("PAM error: {other}")),
    };
    PamError::Refused(refused)
}

/// Answers PAM's prompts: the name for a visible one, the password for a masked one.
struct Credentials {
    username: OsString,
    password: OsString,
}

impl ConversationAdapter for Credentials {
    fn prompt(&self, _request: impl AsRef<OsStr>) -> nonstick::Result<OsString> {
        Ok(self.username.clone())
    }

    fn masked_prompt(&self, _request: impl AsRef<OsStr>) -> nonstick::Result<OsString> {
        Ok(self.password.clone())
    }

    fn error_msg(&self, message: impl AsRef<OsStr>) {
        tracing::debug!(message = %message.as_ref().to_string_lossy(), "PAM error message");
    }

    fn info_msg(&self, message: impl AsRef<OsStr>) {
        tracing::debug!(message = %message.as_ref().to_string_lossy(), "PAM info message");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(users: &[&str]) -> PamConfig {
        PamConfig {
            service: DEFAULT_SERVICE.into(),
            allowed_users: users.iter().map(|u| u.to_string()).collect(),
            allowed_groups: Vec::new(),
            timeout_secs: 5,
            max_concurrent: 1,
            roles: Vec::new(),
        }
    }

    #[test]
    fn an_empty_allow_list_or_a_path_as_service_is_refused_at_start() {
        assert!(PamSource::new(config(&[])).is_err());
        assert!(PamSource::new(PamConfig { service: "../shadow".into(), ..config(&["root"]) }).is_err());
        assert!(PamSource::new(PamConfig { timeout_secs: 0, ..config(&["root"]) }).is_err());
        assert!(PamSource::new(config(&["root"])).is_ok());
    }

    #[test]
    fn the_shipped_service_checks_accounts_and_has_no_failure_delay() {
        assert!(SERVICE_FILE.lines().any(|l| l.split_whitespace().eq(["auth", "required", "pam_unix.so", "nodelay"])));
        assert!(SERVICE_FILE.lines().any(|l| l.split_whitespace().eq(["account", "required", "pam_unix.so"])));
    }

    #[tokio::test]
    async fn names_off_the_allow_list_and_malformed_input_never_reach_pam() {
        let source = PamSource::new(config(&["root", ""])).unwrap();
        assert_eq!(source.authenticate("mallory", "x").await, Err(PamError::Refused(Refusal::NotAllowed)));
        assert_eq!(source.authenticate("root", "a\0b").await, Err(PamError::Refused(Refusal::Malformed)));
        assert_eq!(source.authenticate("root", "").await, Err(PamError::Refused(Refusal::Malformed)));
        assert_eq!(source.authenticate("", "x").await, Err(PamError::Refused(Refusal::Malformed)));
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(source.authenticate("root", &long).await, Err(PamError::Refused(Refusal::Malformed)));
    }
}
