//! The identity and session core of Tollgate.
//!
//! Everything a wire dialect needs — logging in against the directory, validating and ending
//! sessions, lockout and session caps, audit events — lives here, free of HTTP. Dialects parse
//! their requests into calls on [`Core`] and render what comes back.

pub mod actor;
pub mod audit;
pub mod authorization;
mod cache;
pub mod clock;
pub mod config;
pub mod context;
pub mod directory;
mod error;
mod feed;
pub mod imported_hash;
mod known_tokens;
mod lockout;
mod measured_store;
pub mod password;
mod service;
pub mod session;
pub mod source;
pub mod store;
pub mod store_copy;
mod suspects;
pub mod telemetry;
pub mod throttle;
pub mod token;
mod touches;

pub use actor::{Actor, SessionActor, TokenActor};
pub use audit::{AuditEvent, AuditFilter, AuditKind, AuditRecord, AuditTrail};
pub use authorization::Action;
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use config::{CoreConfig, DialectPolicy, LockoutPolicy};
pub use directory::{ApiToken, ApiTokenSpec, Org, Role, User, UserSpec};
pub use error::{AuthFailure, CoreError, FailureReason, SessionRejection};
pub use password::PasswordPolicy;
pub use service::{API_TOKEN_PREFIX, SessionQuery, UserQuery};
pub use service::{
    AccountLocks, BOOTSTRAP_ADMIN, Core, LiveSession, LoginOutcome, LoginRequest, SourceReadiness, TokenKind,
};
pub use session::{Session, SessionState};
pub use source::{
    Credential, DELEGATED_SOURCE, Identity, IdentitySource, ProbeStep, Refusal, SingleUse, SourceAttempt, SourceConfig,
    SourceError, Verdict,
};
pub use store::{
    Activity, DirectoryStore, LockoutStore, MetaStore, Page, Revocation, RevocationLog, SessionFilter, SessionStore,
    Store, StoreError, StoreResult,
};
pub use telemetry::Metrics;
pub use throttle::ThrottlePolicy;
