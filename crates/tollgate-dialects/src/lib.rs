//! Tollgate's wire dialects. Each module is one product's session API: it parses that
//! product's requests, calls [`tollgate_core::Core`], and renders that product's responses
//! and errors, byte for byte what its clients expect.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tollgate_core::Core;
use uuid::Uuid;

pub mod common;
pub mod native;
pub mod vcd;

/// The dialects a listener can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Vcd,
    Native,
}

impl Dialect {
    pub const ALL: &[Dialect] = &[Dialect::Vcd, Dialect::Native];

    /// The name sessions are stamped with and configuration uses.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Vcd => vcd::DIALECT,
            Dialect::Native => native::DIALECT,
        }
    }

    pub fn parse(name: &str) -> Option<Dialect> {
        Dialect::ALL.iter().copied().find(|d| d.name() == name)
    }
}

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

/// One router serving `dialects`; their paths never collide.
pub fn router(state: AppState, dialects: &[Dialect]) -> Router {
    let mut app = Router::new();
    for dialect in dialects {
        app = app.merge(match dialect {
            Dialect::Vcd => vcd::router(),
            Dialect::Native => native::router(),
        });
    }
    app.layer(DefaultBodyLimit::max(common::MAX_BODY_BYTES)).with_state(state)
}
