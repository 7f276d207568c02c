//! Moves an installation from one store to another (`tollgate store copy`, from the embedded
//! SQLite store to a PostgreSQL one a cluster shares): orgs, users with their password hashes
//! and roles, live sessions with the digests of their tokens, and API tokens with their digests,
//! so that every token issued before the move keeps working after it (and every one revoked
//! stays revoked). The target must be empty: a copy never merges.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::directory::ApiTokenSpec;
use crate::service::COPIED_META;
use crate::session::Session;
use crate::store::{Page, Store, StoreError, StoreResult};
use crate::token::TokenDigest;

/// What a copy moved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub orgs: usize,
    pub users: usize,
    pub sessions: usize,
    pub tokens: usize,
    /// API tokens, revoked ones included.
    pub api_tokens: usize,
}

const BATCH: u32 = 1000;

/// Copies `from` into `to`, which must hold no org and not be bootstrapped. `from` must be the
/// sole issuer of its sessions (opened as a server opens it), so that its live tokens can be
/// listed and no session is issued while the copy runs.
pub async fn copy_store(from: &dyn Store, to: &dyn Store) -> StoreResult<Copied> {
    let existing = to.list_orgs().await?;
    if !existing.is_empty() || to.meta(COPIED_META[0]).await?.is_some() {
        return Err(StoreError::Conflict(format!(
            "the target store is not empty ({} org(s)); store copy fills an empty store only",
            existing.len()
        )));
    }
    if !from.sole_issuer() {
        return Err(StoreError::Conflict("the source store must be held for the copy alone".into()));
    }
    let mut copied = Copied::default();
    let mut orgs = HashMap::new();
    for org in from.list_orgs().await? {
        let new = to.create_org(&org.name, &org.full_name, org.created_at).await?;
        orgs.insert(org.id, new.id);
        copied.orgs += 1;
    }
    let mut users = HashMap::new();
    let mut page = Some(Page::first(BATCH));
    while let Some(current) = page {
        let batch = from.list_users(None, current).await?;
        for user in &batch {
            let spec = crate::directory::UserSpec {
                org: user.org_name.clone(),
                name: user.name.clone(),
                roles: user.role_names(),
                identity_source: user.identity_source.clone(),
                password_hash: user.password_hash.clone(),
            };
            let new = to.create_user(&spec, user.created_at).await?;
            if !user.enabled {
                to.set_enabled(new.id, false).await?;
            }
            if let Some(at) = user.last_login_at {
                to.set_last_login(new.id, at).await?;
            }
            users.insert(user.id, new.id);
            copied.users += 1;
        }
        page = current.next(&batch, |u| u.number);
    }
    // Each live session, with every digest that names it.
    let mut sessions: BTreeMap<Uuid, (Session, Vec<TokenDigest>)> = BTreeMap::new();
    let mut after = None;
    loop {
        let digests = from.live_token_digests(after, BATCH).await?;
        for digest in &digests {
            if let Some(session) = from.session_by_digest(digest).await? {
                sessions.entry(session.id).or_insert_with(|| (session, Vec::new())).1.push(*digest);
            }
        }
        match digests.last() {
            Some(last) if digests.len() == BATCH as usize => after = Some(*last),
            _ => break,
        }
    }
    for (id, (mut session, digests)) in sessions {
        let (Some(&user_id), Some(&org_id)) = (users.get(&session.user_id), orgs.get(&session.org_id)) else {
            continue;
        };
        session.user_id = user_id;
        session.org_id = org_id;
        to.insert_session(&session, &digests).await?;
        if let Some(data) = from.session_data(id).await? {
            to.set_session_data(id, &data).await?;
        }
        copied.sessions += 1;
        copied.tokens += digests.len();
    }
    for (token, digest) in from.api_token_digests().await? {
        let spec = ApiTokenSpec { name: token.name.clone(), org: token.org_name, role: token.role };
        to.create_api_token(&spec, &digest, token.created_at).await?;
        if let Some(at) = token.revoked_at {
            to.revoke_api_token(&token.name, at).await?;
        }
        copied.api_tokens += 1;
    }
    // Last: a copy that failed midway leaves a store that is neither bootstrapped nor empty,
    // which nothing serves and a second copy refuses.
    for key in COPIED_META {
        if let Some(value) = from.meta(key).await? {
            to.init_meta(key, &value).await?;
        }
    }
    Ok(copied)
}
