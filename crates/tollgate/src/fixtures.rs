//! `tollgate serve --fixtures FILE.toml`: orgs and users (with their roles, passwords and
//! states) a test suite starts from, applied at start-up. Applying a file twice leaves the
//! same state as applying it once: what exists is brought to what the file says.

use std::ops::Range;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;
use tollgate_core::directory::LOCAL_SOURCE;
use tollgate_core::{Actor, Core, CoreError, UserSpec};
use tollgate_dialects::faults::{Faults, RuleSpec};

use crate::import::canonical_roles;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    #[serde(default)]
    orgs: Vec<OrgFixture>,
    #[serde(default)]
    users: Vec<UserFixture>,
    /// Fault rules the server starts with, and a reset brings back (as `POST /v1/admin/faults`
    /// takes them).
    #[serde(default)]
    faults: Vec<Spanned<RuleSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgFixture {
    name: Spanned<String>,
    /// Display name [default: the name]; only used when the org is created.
    full_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFixture {
    org: String,
    name: Spanned<String>,
    roles: Vec<String>,
    /// The password, hashed with Argon2id; or else `password_hash`.
    password: Option<String>,
    /// A hash imported from another system (bcrypt, PBKDF2-SHA256, SHA-512-crypt, Argon2id),
    /// kept as it is: see `tollgate user import`.
    password_hash: Option<String>,
    /// Logins refused as for a disabled account.
    #[serde(default)]
    disabled: bool,
    /// Locked for every address, as failed logins lock it, for `lockout.lock_seconds`.
    #[serde(default)]
    locked: bool,
}

impl Fixtures {
    /// Reads and parses `path`; a mistake names the file, line, column and key.
    pub fn load(path: &Path) -> anyhow::Result<(Fixtures, String)> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the fixtures {}", path.display()))?;
        let fixtures = toml::from_str(&text).map_err(|e| anyhow::anyhow!("fixtures {}: {e}", path.display()))?;
        Ok((fixtures, text))
    }

    /// Makes the fixtures' fault rules the ones `faults` starts with; a bad rule is named by line.
    pub fn install_faults(&self, faults: &Faults, path: &Path, text: &str) -> anyhow::Result<()> {
        for rule in &self.faults {
            let probe = Faults::new();
            if let Err(invalid) = probe.add(rule.get_ref().clone()) {
                bail!("fixtures {}:{}: fault rule: {}", path.display(), line_of(text, rule.span().start), invalid.0);
            }
        }
        let rules = self.faults.iter().map(|rule| rule.get_ref().clone()).collect();
        faults.set_initial(rules).map_err(|invalid| anyhow::anyhow!("fixtures {}: {}", path.display(), invalid.0))
    }

    /// Brings the store to what the fixtures declare: missing orgs and users are created;
    /// existing users get the roles, password and states declared (a password is only
    /// re-hashed when it differs).
    pub async fn apply(&self, core: &Core, path: &Path, text: &str) -> anyhow::Result<()> {
        let at = |span: Range<usize>| format!("fixtures {}:{}", path.display(), line_of(text, span.start));
        for org in &self.orgs {
            let name = org.name.get_ref();
            match core.add_org(&Actor::Operator, name, org.full_name.as_deref()).await {
                Ok(_) | Err(CoreError::Conflict(_)) => {}
                Err(e) => bail!("{}: org {name:?}: {e}", at(org.name.span())),
            }
        }
        let known_roles = core.roles().await?;
        for user in &self.users {
            let name = user.name.get_ref();
            let whose = format!("{}: user {name:?} of org {:?}", at(user.name.span()), user.org);
            let roles = canonical_roles(&known_roles, &user.roles).with_context(|| whose.clone())?;
            apply_user(core, user, roles).await.with_context(|| whose.clone())?;
        }
        Ok(())
    }
}

async fn apply_user(core: &Core, user: &UserFixture, roles: Vec<String>) -> anyhow::Result<()> {
    let (org, name) = (user.org.as_str(), user.name.get_ref().as_str());
    let secret = match (&user.password, &user.password_hash) {
        (Some(password), None) => Secret::Password(password),
        (None, Some(hash)) => Secret::Hash(hash),
        _ => bail!("give either password or password_hash"),
    };
    let existing = match core.user(org, name).await {
        Ok(existing) => Some(existing),
        Err(CoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    match existing {
        None => {
            let spec = UserSpec {
                org: org.to_owned(),
                name: name.to_owned(),
                roles,
                identity_source: LOCAL_SOURCE.into(),
                password_hash: None,
            };
            match secret {
                Secret::Password(password) => core.add_user(&Actor::Operator, spec, Some(password)).await?,
                Secret::Hash(hash) => {
                    core.add_user(&Actor::Operator, UserSpec { password_hash: Some(hash.clone()), ..spec }, None)
                        .await?
                }
            };
        }
        Some(existing) => {
            let mut held = existing.role_names();
            let mut wanted = roles.clone();
            held.sort();
            wanted.sort();
            if held != wanted {
                core.set_roles(&Actor::Operator, org, name, &roles).await?;
            }
            match secret {
                Secret::Password(password) => {
                    if !core.password_matches(&existing, password).await? {
                        core.set_password(&Actor::Operator, org, name, password).await?;
                    }
                }
                // The first good login replaces an imported hash with Argon2id: applying the
                // file again puts the imported one back (the same password).
                Secret::Hash(hash) => {
                    if existing.password_hash.as_deref() != Some(hash) {
                        core.set_imported_hash(org, name, hash).await?;
                    }
                }
            }
        }
    }
    let current = core.user(org, name).await?;
    if current.enabled == user.disabled {
        core.set_enabled(&Actor::Operator, org, name, !user.disabled).await?;
    }
    let locks = core.lockout(&current).await?;
    if user.locked {
        core.lock(&Actor::Operator, org, name).await?;
    } else if locks.everywhere || !locks.addresses.is_empty() {
        core.unlock(&Actor::Operator, org, name).await?;
    }
    Ok(())
}

/// How a fixture user's password is given.
enum Secret<'a> {
    Password(&'a str),
    Hash(&'a String),
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(toml: &str) -> String {
        match toml::from_str::<Fixtures>(toml) {
            Ok(parsed) => panic!("{toml:?} parsed: {parsed:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn mistakes_name_the_line_and_the_key() {
        let unknown =
            parse_error("[[orgs]]\nname = \"org1\"\n\n[[users]]\norg = \"org1\"\nname = \"alice\"\nrole = [\"x\"]\n");
        assert!(unknown.contains("line 7") && unknown.contains("unknown field `role`"), "{unknown}");
        let missing = parse_error("[[users]]\norg = \"org1\"\nname = \"alice\"\npassword = \"alice-pw-1\"\n");
        assert!(missing.contains("missing field `roles`"), "{missing}");
        let wrong_type =
            parse_error("[[users]]\norg = \"o\"\nname = \"a\"\nroles = []\npassword = \"p\"\nlocked = \"yes\"\n");
        assert!(wrong_type.contains("line 6") && wrong_type.contains("invalid type"), "{wrong_type}");
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}
