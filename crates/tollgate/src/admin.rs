//! The operator commands: they open the same store the server uses (the server may be
//! running) and act through the same core, so every rule and audit event applies.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use tollgate_core::directory::LOCAL_SOURCE;
use tollgate_core::{Core, CoreError, SystemClock, Timestamp, UserSpec};
use tollgate_store_sqlite::SqliteStore;
use uuid::Uuid;

use crate::UserRef;
use crate::config::Config;

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organisation.
    Add {
        name: String,
        /// Display name [default: the name].
        #[arg(long)]
        full_name: Option<String>,
    },
    /// List organisations.
    List,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a local user.
    Add {
        #[command(flatten)]
        user: UserRef,
        /// A role to grant (repeatable); see `tollgate roles`.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Set a user's password.
    Passwd {
        #[command(flatten)]
        user: UserRef,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Refuse the user's logins and end their sessions.
    Disable(UserRef),
    /// Allow the user to log in again.
    Enable(UserRef),
    /// Lift a lockout caused by failed logins.
    Unlock(UserRef),
    /// List users.
    List {
        /// Only this organisation's users.
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum SessionCommand {
    /// List live sessions.
    List {
        #[arg(long)]
        org: Option<String>,
        /// Only this user's sessions (needs --org).
        #[arg(long, requires = "org")]
        user: Option<String>,
        /// Include ended sessions.
        #[arg(long)]
        all: bool,
    },
    /// End one session by id, or all of a user's sessions with --org and --user.
    Revoke {
        /// The session id.
        #[arg(required_unless_present = "user", conflicts_with_all = ["org", "user"])]
        id: Option<String>,
        #[arg(long, requires = "user")]
        org: Option<String>,
        #[arg(long, requires = "org")]
        user: Option<String>,
    },
}

/// The core over the configured store, without starting a server.
pub fn open_core(config: &Config) -> anyhow::Result<Core> {
    prepare_data_dir(&config.data_dir)?;
    let path = config.database_path();
    create_private_file(&path)?;
    let store = SqliteStore::open(&path).with_context(|| format!("cannot open the store {}", path.display()))?;
    Ok(Core::new(Arc::new(store), Arc::new(SystemClock), config.core()))
}

/// Creates the data directory readable by its owner only: it holds password hashes and the
/// TLS key. An existing one that others can read is used, with a warning.
fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.exists() {
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "the data directory is readable by other users");
        }
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

/// Creates `path` empty and owner-only if it does not exist yet; SQLite gives its WAL and
/// shared-memory files the same mode.
fn create_private_file(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

/// Turns core errors into operator-facing messages.
fn explain(error: CoreError) -> anyhow::Error {
    match error {
        CoreError::NotFound(what) => anyhow::anyhow!("{what} does not exist"),
        CoreError::Conflict(what) | CoreError::Invalid(what) => anyhow::anyhow!("{what}"),
        other => anyhow::anyhow!(other),
    }
}

/// Bootstraps with the password from the environment, stdin, or a generated one it prints.
pub async fn bootstrap_with(core: &Core, password_stdin: bool) -> anyhow::Result<()> {
    let password = match std::env::var("TOLLGATE_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if password_stdin => Some(read_password_line()?),
        _ => None,
    };
    if let Some(generated) = core.bootstrap(password).await.map_err(explain)? {
        // Printed once, to the terminal only: never to the log.
        println!(
            "Bootstrapped org System with user {}; generated password: {generated}",
            tollgate_core::BOOTSTRAP_ADMIN
        );
    } else {
        println!("Bootstrapped org System with user {}", tollgate_core::BOOTSTRAP_ADMIN);
    }
    Ok(())
}

pub async fn bootstrap(config: &Config, password_stdin: bool) -> anyhow::Result<()> {
    bootstrap_with(&open_core(config)?, password_stdin).await
}

pub async fn org(config: &Config, command: OrgCommand) -> anyhow::Result<()> {
    let core = open_core(config)?;
    match command {
        OrgCommand::Add { name, full_name } => {
            let org = core.add_org(&name, full_name.as_deref()).await.map_err(explain)?;
            println!("Created org {} ({})", org.name, org.id);
        }
        OrgCommand::List => {
            let rows =
                core.orgs().await.map_err(explain)?.into_iter().map(|o| vec![o.name, o.full_name, o.id.to_string()]);
            print_table(&["NAME", "FULL NAME", "ID"], rows);
        }
    }
    Ok(())
}

pub async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let core = open_core(config)?;
    match command {
        UserCommand::Add { user, roles, password_stdin: _ } => {
            let known = core.roles().await.map_err(explain)?;
            let mut canonical = Vec::new();
            for role in &roles {
                match known.iter().find(|k| k.name.eq_ignore_ascii_case(role)) {
                    Some(k) => canonical.push(k.name.clone()),
                    None => {
                        let names: Vec<_> = known.iter().map(|k| k.name.as_str()).collect();
                        bail!("unknown role {role:?}; known roles: {}", names.join(", "));
                    }
                }
            }
            let password = read_password_line()?;
            let spec = UserSpec {
                org: user.org.clone(),
                name: user.user.clone(),
                roles: canonical,
                identity_source: LOCAL_SOURCE.into(),
                password_hash: None,
            };
            let created = core.add_user(spec, Some(&password)).await.map_err(explain)?;
            println!("Created user {} in org {} ({})", created.name, created.org_name, created.id);
        }
        UserCommand::Passwd { user, password_stdin: _ } => {
            let password = read_password_line()?;
            core.set_password(&user.org, &user.user, &password).await.map_err(explain)?;
            println!("Password of {}@{} changed", user.user, user.org);
        }
        UserCommand::Disable(user) => {
            core.set_enabled(&user.org, &user.user, false).await.map_err(explain)?;
            println!("Disabled {}@{} and ended their sessions", user.user, user.org);
        }
        UserCommand::Enable(user) => {
            core.set_enabled(&user.org, &user.user, true).await.map_err(explain)?;
            println!("Enabled {}@{}", user.user, user.org);
        }
        UserCommand::Unlock(user) => {
            core.unlock(&user.org, &user.user).await.map_err(explain)?;
            println!("Unlocked {}@{}", user.user, user.org);
        }
        UserCommand::List { org } => {
            let now = core.now();
            let users = core.users(org.as_deref()).await.map_err(explain)?;
            let rows = users.into_iter().map(|u| {
                let status = if !u.enabled {
                    "disabled"
                } else if u.is_locked(now) {
                    "locked"
                } else {
                    "enabled"
                };
                vec![
                    u.org_name.clone(),
                    u.name.clone(),
                    u.role_names().join(", "),
                    status.to_owned(),
                    u.identity_source.clone(),
                    u.last_login_at.map(Timestamp::to_rfc3339_seconds).unwrap_or_else(|| "-".into()),
                ]
            });
            print_table(&["ORG", "USER", "ROLES", "STATUS", "SOURCE", "LAST LOGIN"], rows);
        }
    }
    Ok(())
}

pub async fn session(config: &Config, command: SessionCommand) -> anyhow::Result<()> {
    let core = open_core(config)?;
    match command {
        SessionCommand::List { org, user, all } => {
            let sessions = core.sessions(org.as_deref(), user.as_deref(), !all).await.map_err(explain)?;
            let rows = sessions.into_iter().map(|s| {
                vec![
                    s.id.to_string(),
                    s.org_name.clone(),
                    s.user_name.clone(),
                    s.dialect.clone(),
                    s.state.as_str().to_owned(),
                    s.remote_addr.clone().unwrap_or_else(|| "-".into()),
                    s.created_at.to_rfc3339_seconds(),
                    s.last_seen_at.to_rfc3339_seconds(),
                ]
            });
            print_table(&["ID", "ORG", "USER", "DIALECT", "STATE", "REMOTE", "CREATED", "LAST SEEN"], rows);
        }
        SessionCommand::Revoke { id: Some(id), .. } => {
            let id = Uuid::parse_str(id.trim()).with_context(|| format!("{id:?} is not a session id"))?;
            let session = core.revoke_session(id, "cli").await.map_err(explain)?;
            println!("Revoked session {} of {}@{}", session.id, session.user_name, session.org_name);
        }
        SessionCommand::Revoke { org: Some(org), user: Some(user), .. } => {
            let count = core.revoke_user_sessions(&org, &user, "cli").await.map_err(explain)?;
            println!("Revoked {count} session(s) of {user}@{org}");
        }
        SessionCommand::Revoke { .. } => bail!("name a session id, or --org and --user"),
    }
    Ok(())
}

pub async fn roles(config: &Config) -> anyhow::Result<()> {
    let core = open_core(config)?;
    let rows = core.roles().await.map_err(explain)?.into_iter().map(|r| vec![r.name, r.id.to_string()]);
    print_table(&["ROLE", "ID"], rows);
    Ok(())
}

fn print_table(headings: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = headings.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headings.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}
