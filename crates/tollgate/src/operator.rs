//! The operator commands: they open the same store the server uses (the server may be
//! running) and act through the same core, so every rule and audit event applies.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use tollgate_core::directory::LOCAL_SOURCE;
use tollgate_core::{
    Actor, Clock, Core, CoreConfig, CoreError, Metrics, Page, PasswordPolicy, Store, SystemClock, Timestamp, UserSpec,
};
use tollgate_store_postgres::{PostgresStore, Timeouts};
use tollgate_store_redis::RedisAssisted;
use tollgate_store_sqlite::SqliteStore;
use uuid::Uuid;

use crate::UserRef;
use crate::config::Config;

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organisation.
    ///
    /// Example: `tollgate org add org1 --full-name 'Org One'`.
    Add {
        /// The organisation's name, as users type it when they log in (`alice@org1`), e.g.
        /// org1; it must not contain '@' or '/'.
        #[arg(value_name = "NAME")]
        name: String,
        /// Display name, e.g. 'Org One' [default: the name].
        #[arg(long, value_name = "TEXT")]
        full_name: Option<String>,
    },
    /// List organisations: name, full name, id.
    List,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a local user.
    ///
    /// The password is asked for twice at the terminal, or read with --password-stdin; it must
    /// have at least passwords.min_length characters (8 by default). Example: `tollgate user add
    /// alice --org org1 --role 'Organization Administrator'`.
    Add {
        #[command(flatten)]
        user: UserRef,
        /// A role to grant, e.g. 'Organization Administrator' or 'vApp User' (repeatable; see
        /// `tollgate roles`; matched case-insensitively).
        #[arg(long = "role", value_name = "ROLE", required = true)]
        roles: Vec<String>,
        /// Read the password from the first line of standard input instead of asking at the
        /// terminal, e.g. `echo 's3cret-pw' | tollgate user add … --password-stdin`.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create local users with password hashes made by another system.
    ///
    /// Takes bcrypt ($2a$, $2b$, $2y$), PBKDF2-SHA256 ($pbkdf2-sha256$ PHC or passlib, Django's
    /// pbkdf2_sha256$), SHA-512-crypt ($6$) and Argon2id; the users log in with their old
    /// passwords and get an Argon2id hash at their first good login. One user: `tollgate user
    /// import alice --org org1 --role 'vApp User' --hash '$2b$12$…'`. Many: `--file users.csv`
    /// (a header org,user,roles,hash; roles separated by ';') or `--file users.jsonl` (one
    /// {"org","user","roles":[…],"hash"} object a line). Every user is checked before any is
    /// created.
    Import {
        /// The one user to import, e.g. alice (with --org, --role and --hash).
        #[arg(value_name = "NAME", requires_all = ["org", "hash"], conflicts_with = "file")]
        user: Option<String>,
        /// The user's organisation, e.g. org1.
        #[arg(long, value_name = "ORG", requires = "user")]
        org: Option<String>,
        /// A role to grant (repeatable).
        #[arg(long = "role", value_name = "ROLE", requires = "user")]
        roles: Vec<String>,
        /// The user's password hash, e.g. '$2b$12$…' (quote it: it holds '$').
        #[arg(long, value_name = "HASH", requires = "user")]
        hash: Option<String>,
        /// A file of users: *.csv or *.jsonl.
        #[arg(long, value_name = "FILE", required_unless_present = "user")]
        file: Option<std::path::PathBuf>,
    },
    /// Set a user's password and end their sessions.
    ///
    /// The password is asked for twice at the terminal, or read with --password-stdin. Also
    /// the way to reset a lost administrator password: `tollgate user passwd administrator --org
    /// System` (with the server's --data).
    Passwd {
        #[command(flatten)]
        user: UserRef,
        /// Read the password from the first line of standard input instead of asking at the
        /// terminal.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Refuse the user's logins and end their sessions.
    ///
    /// Example: `tollgate user disable alice --org org1`.
    Disable(UserRef),
    /// Allow the user to log in again.
    ///
    /// Example: `tollgate user enable alice --org org1`.
    Enable(UserRef),
    /// Lift a lockout caused by failed logins.
    ///
    /// Example: `tollgate user unlock alice --org org1`.
    Unlock(UserRef),
    /// List users: org, name, roles, status, identity source, last login.
    List {
        /// Only this organisation's users, e.g. org1.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum SessionCommand {
    /// List live sessions, newest first.
    ///
    /// Example: `tollgate session list --org org1 --user alice`.
    List {
        /// Only this organisation's sessions, e.g. org1 or System.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        /// Only this user's sessions, e.g. alice (needs --org).
        #[arg(long, value_name = "NAME", requires = "org")]
        user: Option<String>,
        /// Include ended sessions (logged out, revoked, timed out, expired).
        #[arg(long)]
        all: bool,
    },
    /// End one session by id, or all of a user's sessions with --org and --user.
    ///
    /// Examples: `tollgate session revoke 0b6c7e0e-5f2a-4c4e-9d53-6a1f0c3e2b71`, `tollgate
    /// session revoke --org org1 --user alice`.
    Revoke {
        /// The session id as `tollgate session list` shows it, e.g.
        /// 0b6c7e0e-5f2a-4c4e-9d53-6a1f0c3e2b71.
        #[arg(value_name = "ID", required_unless_present = "user", conflicts_with_all = ["org", "user"])]
        id: Option<String>,
        /// The organisation of the user whose sessions end, e.g. org1 (needs --user).
        #[arg(long, value_name = "ORG", requires = "user")]
        org: Option<String>,
        /// The user whose sessions all end, e.g. alice (needs --org).
        #[arg(long, value_name = "NAME", requires = "org")]
        user: Option<String>,
    },
}

/// The core over the configured store, creating the data directory and the store (or its
/// schema) when they do not exist yet: for `bootstrap`.
pub async fn create_or_open_core(config: &Config, metrics: Metrics) -> anyhow::Result<Core> {
    create_or_open(config, config.core()?, Arc::new(SystemClock), metrics, SqliteStore::open).await
}

/// [`create_or_open_core`] for `serve`: the store is held for this server alone (a second
/// `serve` on the same data directory is refused), so the core knows every token it issued.
/// A shared (PostgreSQL) store is migrated and opened as for any command: other nodes write
/// it too. The server chooses the core's policies (`core_config`) and clock.
pub async fn serving_core(
    config: &Config,
    core_config: CoreConfig,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
) -> anyhow::Result<Core> {
    create_or_open(config, core_config, clock, metrics, SqliteStore::open_for_serving).await
}

/// What [`create_or_open_core`] and [`serving_core`] share; they differ in how they open an
/// embedded store (`open_embedded`).
async fn create_or_open(
    config: &Config,
    core_config: CoreConfig,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    open_embedded: fn(&std::path::Path) -> tollgate_core::StoreResult<SqliteStore>,
) -> anyhow::Result<Core> {
    prepare_data_dir(&config.data_dir)?;
    let store: Arc<dyn Store> = match &config.store.url {
        Some(url) => assisted(config, Arc::new(open_postgres(url).await?))?,
        None => {
            let path = config.database_path();
            create_private_file(&path)?;
            Arc::new(open_embedded(&path).with_context(|| format!("cannot open the store {}", path.display()))?)
        }
    };
    Ok(Core::with_metrics(store, clock, core_config, metrics))
}

/// The core over the configured store, which must exist: the other commands never create one,
/// so a command run in the wrong directory (or database) says so instead of acting on an empty
/// store.
pub async fn open_core(config: &Config) -> anyhow::Result<Core> {
    let store: Arc<dyn Store> = match &config.store.url {
        Some(url) => {
            let store = PostgresStore::connect(url, Timeouts::default()).context("cannot use the store URL")?;
            if !store.is_migrated().await.map_err(|e| anyhow::anyhow!("cannot read the PostgreSQL store: {e}"))? {
                bail!(
                    "that database holds no up-to-date Tollgate store; run `tollgate migrate` or `tollgate serve` with it first"
                );
            }
            assisted(config, Arc::new(store))?
        }
        None => {
            if !config.database_path().is_file() {
                bail!(
                    "no Tollgate store in {}; run `tollgate serve` or `tollgate bootstrap` there first, or pass --data",
                    config.data_dir.display()
                );
            }
            prepare_data_dir(&config.data_dir)?;
            Arc::new(open_sqlite(config)?)
        }
    };
    Ok(Core::with_metrics(store, Arc::new(SystemClock), config.core()?, Metrics::disabled()))
}

fn open_sqlite(config: &Config) -> anyhow::Result<SqliteStore> {
    let path = config.database_path();
    SqliteStore::open(&path).with_context(|| format!("cannot open the store {}", path.display()))
}

/// `store`, with Redis beside it when the configuration names one.
fn assisted(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &config.store.redis_url {
        Some(url) => Arc::new(RedisAssisted::new(store, url).map_err(|e| anyhow::anyhow!("cannot use Redis: {e}"))?),
        None => store,
    })
}

/// Connects and brings the schema up to date (nodes starting at once take turns).
async fn open_postgres(url: &str) -> anyhow::Result<PostgresStore> {
    PostgresStore::open(url, Timeouts::default())
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL store: {e}"))
}

/// `tollgate migrate`: the schema of the configured store, up to date.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    match &config.store.url {
        Some(url) => {
            let store = PostgresStore::connect(url, Timeouts::default()).context("cannot use the store URL")?;
            let applied =
                store.migrate().await.map_err(|e| anyhow::anyhow!("cannot migrate the PostgreSQL store: {e}"))?;
            println!("PostgreSQL store up to date ({applied} migration(s) applied)");
        }
        None => {
            prepare_data_dir(&config.data_dir)?;
            create_private_file(&config.database_path())?;
            open_sqlite(config)?;
            println!("SQLite store {} up to date", config.database_path().display());
        }
    }
    Ok(())
}

/// Creates the data directory with mode 0700, whatever the umask: it holds password hashes and
/// the TLS key. An existing one that other users can write is refused (they could replace the
/// store or the key); one they can only read is used, with a warning.
fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        check_private(dir, "the data directory", 0o700)
    } else {
        create_private_dir(dir, "the data directory")
    }
}

/// Refuses `path` when users other than its owner can write it (they could replace what it
/// is or holds); warns when they can read it. `fix` is the mode the messages suggest.
pub(crate) fn check_private(path: &std::path::Path, what: &str, fix: u32) -> anyhow::Result<()> {
    let mode = check_not_writable(path, what, fix)?;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "{what} is readable by other users; run `chmod {fix:o} {}`", path.display());
    }
    Ok(())
}

/// Refuses `path` when users other than its owner can write it; its mode otherwise.
pub(crate) fn check_not_writable(path: &std::path::Path, what: &str, fix: u32) -> anyhow::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.permissions().mode();
    if mode & 0o022 != 0 {
        bail!(
            "{what} {} is writable by other users (mode {:o}), who could replace the store or the TLS key; run `chmod {fix:o} {}` and try again",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(mode)
}

/// Creates the directory `dir` (and any missing parents) with mode 0700, whatever the umask.
pub(crate) fn create_private_dir(dir: &std::path::Path, what: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {what} {}", dir.display()))?;
    // The umask can only have taken bits away; give the owner back what it took.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set the mode of {what} {}", dir.display()))
}

/// Creates `path` empty with mode 0600, whatever the umask, if it does not exist yet; SQLite
/// gives its WAL and shared-memory files the same mode.
fn create_private_file(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(file) => file
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot set the mode of {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The password on the first line of standard input (`--password-stdin`).
pub(crate) fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

/// A new password: from standard input with `--password-stdin`, else typed twice at the
/// terminal without echo. Without the flag and without a terminal it fails rather than block.
fn new_password(password_stdin: bool, whose: &str, policy: &PasswordPolicy) -> anyhow::Result<String> {
    if password_stdin {
        return read_password_line();
    }
    match prompt_new_password(whose, policy)? {
        Some(password) => Ok(password),
        None => bail!("no password typed"),
    }
}

/// Asks for a new password twice without echo; `None` when the first answer is empty. One the
/// policy refuses is refused before it is asked for again (the core checks it once more).
fn prompt_new_password(whose: &str, policy: &PasswordPolicy) -> anyhow::Result<Option<String>> {
    if !std::io::stdin().is_terminal() {
        bail!("standard input is not a terminal: pass --password-stdin and the password on its first line");
    }
    let password = rpassword::prompt_password(format!("New password for {whose}: "))
        .context("cannot read the password from the terminal")?;
    if password.is_empty() {
        return Ok(None);
    }
    policy.check(&password).map_err(explain)?;
    let again = rpassword::prompt_password("Type it again: ").context("cannot read the password from the terminal")?;
    if again != password {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(Some(password))
}

/// TOLLGATE_ADMIN_PASSWORD, when set and not empty.
pub(crate) fn admin_password_from_env() -> Option<String> {
    std::env::var("TOLLGATE_ADMIN_PASSWORD").ok().filter(|p| !p.is_empty())
}

/// Where `bootstrap` gets the administrator's password when TOLLGATE_ADMIN_PASSWORD is unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminPassword {
    /// The first line of standard input (`--password-stdin`).
    Stdin,
    /// Typed at the terminal (empty: generated), or generated when there is no terminal.
    PromptOrGenerate,
    /// Generated and printed once (`serve`).
    Generate,
}

/// Turns core errors into operator-facing messages.
pub(crate) fn explain(error: CoreError) -> anyhow::Error {
    match error {
        CoreError::NotFound(what) => anyhow::anyhow!("{what} does not exist"),
        CoreError::Conflict(what) | CoreError::Invalid(what) => anyhow::anyhow!("{what}"),
        other => anyhow::anyhow!(other),
    }
}

/// Bootstraps with the password from TOLLGATE_ADMIN_PASSWORD, else from `source`; prints a
/// generated one once.
pub async fn bootstrap_with(core: &Core, source: AdminPassword) -> anyhow::Result<()> {
    if core.is_initialised().await? {
        bail!(
            "the server is already bootstrapped; to set the administrator's password run `tollgate user passwd {} --org System`",
            tollgate_core::BOOTSTRAP_ADMIN
        );
    }
    let password = match (admin_password_from_env(), source) {
        (Some(p), _) => Some(p),
        (None, AdminPassword::Stdin) => Some(read_password_line()?),
        (None, AdminPassword::PromptOrGenerate) if std::io::stdin().is_terminal() => {
            let whose = format!("{}@System (empty: generate one)", tollgate_core::BOOTSTRAP_ADMIN);
            prompt_new_password(&whose, &core.config().passwords)?
        }
        (None, AdminPassword::PromptOrGenerate | AdminPassword::Generate) => None,
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
    let source = if password_stdin { AdminPassword::Stdin } else { AdminPassword::PromptOrGenerate };
    bootstrap_with(&create_or_open_core(config, Metrics::disabled()).await?, source).await
}

/// Says that TOLLGATE_ADMIN_PASSWORD, when set, has no effect on this start.
pub fn warn_if_admin_password_ignored(why: &str) {
    if admin_password_from_env().is_some() {
        tracing::warn!(
            "TOLLGATE_ADMIN_PASSWORD is set but ignored: {why}; to change the administrator's password run `tollgate user passwd {} --org System`",
            tollgate_core::BOOTSTRAP_ADMIN
        );
    }
}

pub async fn org(config: &Config, command: OrgCommand) -> anyhow::Result<()> {
    let core = open_core(config).await?;
    match command {
        OrgCommand::Add { name, full_name } => {
            let org = core.add_org(&Actor::Operator, &name, full_name.as_deref()).await.map_err(explain)?;
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
    let core = open_core(config).await?;
    match command {
        UserCommand::Add { user, roles, password_stdin } => {
            // Fail on a mistyped org or role before asking for a password.
            core.org(&user.org).await.map_err(explain)?;
            let known = core.roles().await.map_err(explain)?;
            let canonical = crate::import::canonical_roles(&known, &roles)?;
            let password =
                new_password(password_stdin, &format!("{}@{}", user.user, user.org), &core.config().passwords)?;
            let spec = UserSpec {
                org: user.org.clone(),
                name: user.user.clone(),
                roles: canonical,
                identity_source: LOCAL_SOURCE.into(),
                password_hash: None,
            };
            let created = core.add_user(&Actor::Operator, spec, Some(&password)).await.map_err(explain)?;
            println!("Created user {} in org {} ({})", created.name, created.org_name, created.id);
        }
        UserCommand::Import { user, org, roles, hash, file } => {
            let source = match (user, org, hash, file) {
                (Some(user), Some(org), Some(hash), None) => {
                    crate::import::Source::One(crate::import::ImportedUser { org, user, roles, hash })
                }
                (None, None, None, Some(file)) => crate::import::Source::File(file),
                _ => bail!("give NAME with --org, --role and --hash, or --file"),
            };
            crate::import::run(&core, source).await?;
        }
        UserCommand::Passwd { user, password_stdin } => {
            // Fail on a mistyped name before asking for a password.
            core.user(&user.org, &user.user).await.map_err(explain)?;
            let password =
                new_password(password_stdin, &format!("{}@{}", user.user, user.org), &core.config().passwords)?;
            core.set_password(&Actor::Operator, &user.org, &user.user, &password).await.map_err(explain)?;
            println!("Password of {}@{} changed", user.user, user.org);
        }
        UserCommand::Disable(user) => {
            core.set_enabled(&Actor::Operator, &user.org, &user.user, false).await.map_err(explain)?;
            println!("Disabled {}@{} and ended their sessions", user.user, user.org);
        }
        UserCommand::Enable(user) => {
            core.set_enabled(&Actor::Operator, &user.org, &user.user, true).await.map_err(explain)?;
            println!("Enabled {}@{}", user.user, user.org);
        }
        UserCommand::Unlock(user) => {
            core.unlock(&Actor::Operator, &user.org, &user.user).await.map_err(explain)?;
            println!("Unlocked {}@{}", user.user, user.org);
        }
        UserCommand::List { org } => {
            let mut table = Table::new(&["ORG", "USER", "ROLES", "STATUS", "SOURCE", "LAST LOGIN"]);
            let mut page = Some(Page::first(LISTING_PAGE));
            while let Some(current) = page {
                let users = core.users(org.as_deref(), current).await.map_err(explain)?;
                page = current.next(&users, |u| u.number);
                let mut rows = Vec::with_capacity(users.len());
                for u in users {
                    let locks = core.lockout(&u).await.map_err(explain)?;
                    let status = if !u.enabled {
                        "disabled".to_owned()
                    } else if locks.everywhere {
                        "locked".to_owned()
                    } else if !locks.addresses.is_empty() {
                        format!("locked for {}", locks.addresses.join(" "))
                    } else {
                        "enabled".to_owned()
                    };
                    rows.push(vec![
                        u.org_name.clone(),
                        u.name.clone(),
                        u.role_names().join(", "),
                        status,
                        u.identity_source.clone(),
                        u.last_login_at.map(Timestamp::to_rfc3339_seconds).unwrap_or_else(|| "-".into()),
                    ]);
                }
                if !table.print(rows) {
                    break;
                }
            }
        }
    }
    Ok(())
}

pub async fn session(config: &Config, command: SessionCommand) -> anyhow::Result<()> {
    let core = open_core(config).await?;
    match command {
        SessionCommand::List { org, user, all } => {
            let mut table = Table::new(&["ID", "ORG", "USER", "DIALECT", "STATE", "REMOTE", "CREATED", "LAST SEEN"]);
            let mut page = Some(Page::first(LISTING_PAGE));
            while let Some(current) = page {
                let sessions = core.sessions(org.as_deref(), user.as_deref(), !all, current).await.map_err(explain)?;
                page = current.next(&sessions, |s| s.number);
                let rows = sessions.into_iter().map(|s| {
                    vec![
                        s.id.to_string(),
                        s.org_name,
                        s.user_name,
                        s.dialect,
                        s.state.as_str().to_owned(),
                        s.remote_addr.unwrap_or_else(|| "-".into()),
                        s.created_at.to_rfc3339_seconds(),
                        s.last_seen_at.to_rfc3339_seconds(),
                    ]
                });
                if !table.print(rows.collect()) {
                    break;
                }
            }
        }
        SessionCommand::Revoke { id: Some(id), .. } => {
            let id = Uuid::parse_str(id.trim()).with_context(|| format!("{id:?} is not a session id"))?;
            let session = core.revoke_session(&Actor::Operator, id, "cli").await.map_err(explain)?;
            println!("Revoked session {} of {}@{}", session.id, session.user_name, session.org_name);
        }
        SessionCommand::Revoke { org: Some(org), user: Some(user), .. } => {
            let count = core.revoke_user_sessions(&Actor::Operator, &org, &user, "cli").await.map_err(explain)?;
            println!("Revoked {count} session(s) of {user}@{org}");
        }
        SessionCommand::Revoke { .. } => bail!("name a session id, or --org and --user"),
    }
    Ok(())
}

pub async fn roles(config: &Config) -> anyhow::Result<()> {
    let core = open_core(config).await?;
    let rows = core.roles().await.map_err(explain)?.into_iter().map(|r| vec![r.name, r.id.to_string()]);
    print_table(&["ROLE", "ID"], rows);
    Ok(())
}

/// Rows read from the store per page by the listings, which print each page as it comes: a
/// million sessions are listed in the memory of one page.
const LISTING_PAGE: u32 = 500;

pub(crate) fn print_table(headings: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    Table::new(headings).print(rows.collect());
}

/// A table printed page by page: the columns get the widths of the first page (and of the
/// headings); a longer cell on a later page pushes its row's next cells to the right.
struct Table {
    headings: Option<Vec<String>>,
    widths: Vec<usize>,
}

impl Table {
    fn new(headings: &[&str]) -> Table {
        Table { headings: Some(headings.iter().map(|h| (*h).to_owned()).collect()), widths: Vec::new() }
    }

    /// Prints `rows` (the headings first, with the first page); false once the reader has gone.
    fn print(&mut self, rows: Vec<Vec<String>>) -> bool {
        let headings = self.headings.take();
        if let Some(headings) = &headings {
            self.widths = headings.iter().map(|h| h.chars().count()).collect();
            for row in &rows {
                for (width, cell) in self.widths.iter_mut().zip(row) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let mut out = std::io::stdout().lock();
        let widths = &self.widths;
        let mut line = |cells: &[String]| {
            let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
            writeln!(out, "{}", padded.join("  ").trim_end())
        };
        // A reader that stops early (`| head`) closes the pipe: that ends the listing, quietly.
        let written = headings.iter().chain(&rows).try_for_each(|row| line(row));
        match written {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => false,
            Err(e) => {
                eprintln!("error: cannot write the listing: {e}");
                false
            }
        }
    }
}
