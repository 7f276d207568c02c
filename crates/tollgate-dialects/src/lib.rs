//! Tollgate's wire dialects. Each module is one product's session API: it parses that
//! product's requests, calls [`tollgate_core::Core`], and renders that product's responses
//! and errors, byte for byte what its clients expect.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tollgate_core::Core;
use uuid::Uuid;

pub mod bluecat;
pub mod common;
pub mod hcx;
pub mod loginsight;
pub mod native;
mod overlap;
pub mod settings;
pub mod vcd;
pub mod vcda;

pub use settings::{DialectSettings, Route, Settings, SsoDomain};

/// The dialects a listener can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Vcd,
    Vcda,
    LogInsight,
    Hcx,
    BlueCat,
    Native,
}

impl Dialect {
    pub const ALL: &[Dialect] =
        &[Dialect::Vcd, Dialect::Vcda, Dialect::LogInsight, Dialect::Hcx, Dialect::BlueCat, Dialect::Native];

    /// The name sessions are stamped with and configuration uses.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Vcd => vcd::DIALECT,
            Dialect::Vcda => vcda::DIALECT,
            Dialect::LogInsight => loginsight::DIALECT,
            Dialect::Hcx => hcx::DIALECT,
            Dialect::BlueCat => bluecat::DIALECT,
            Dialect::Native => native::DIALECT,
        }
    }

    pub fn parse(name: &str) -> Option<Dialect> {
        Dialect::ALL.iter().copied().find(|d| d.name() == name)
    }

    /// The provider names a dialect's login requests may carry, each mapped to an identity
    /// source in [`DialectSettings::providers`]. Dialects that name none use [`DEFAULT_PROVIDER`].
    pub fn providers(self) -> &'static [&'static str] {
        match self {
            Dialect::LogInsight => loginsight::PROVIDERS,
            Dialect::Hcx => hcx::PROVIDERS,
            Dialect::Vcda => vcda::PROVIDERS,
            Dialect::BlueCat => &[DEFAULT_PROVIDER],
            // Their credentials name an org, whose source `org_sources` gives.
            Dialect::Vcd | Dialect::Native => &[],
        }
    }
}

/// The provider of dialects whose logins name none.
pub const DEFAULT_PROVIDER: &str = "default";

/// What this installation calls itself (Cloud Director's "site").
#[derive(Debug, Clone)]
pub struct Site {
    pub id: Uuid,
    pub name: String,
}

/// Everything a handler needs; one per listener.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub core: Arc<Core>,
    pub site: Site,
    /// Prefix of every absolute URL we hand out; `None` derives it from the request's `Host`.
    pub public_url: Option<String>,
    /// `https` or `http`, for URLs derived from `Host`.
    pub scheme: &'static str,
    pub settings: Arc<Settings>,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// One router serving `dialects`. Their paths do not collide but for Log Insight's and
/// BlueCat's `/api/v2`, which [`overlap`] shares out when a listener serves both.
pub fn router(state: AppState, dialects: &[Dialect]) -> Router {
    let both = dialects.contains(&Dialect::LogInsight) && dialects.contains(&Dialect::BlueCat);
    let mut app = Router::new();
    if both {
        app = app.merge(loginsight::router_for(&["v1"])).merge(overlap::router(state.clone()));
    }
    for dialect in dialects {
        if both && matches!(dialect, Dialect::LogInsight | Dialect::BlueCat) {
            continue;
        }
        app = app.merge(match dialect {
            Dialect::Vcd => vcd::router(),
            Dialect::Vcda => vcda::router(),
            Dialect::LogInsight => loginsight::router(),
            Dialect::Hcx => hcx::router(),
            Dialect::BlueCat => bluecat::router(),
            Dialect::Native => native::router(),
        });
    }
    app.layer(DefaultBodyLimit::max(common::MAX_BODY_BYTES)).with_state(state)
}
