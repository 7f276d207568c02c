//! `tollgate`: the session and authentication server and its operator CLI.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod config;
mod ephemeral;
mod fixtures;
mod import;
mod listener;
mod operator;
mod remote;
mod serve;
mod sources;
mod store_copy;
mod tls;
mod tokens;

/// A request allocates and frees a few dozen small blocks; mimalloc serves them in about half
/// the instructions glibc's malloc takes (callgrind, `GET /v1/sessions/current`), which is a
/// tenth of a validation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A session and authentication server that speaks the login APIs of VMware Cloud Director and friends."
)]
struct Cli {
    /// Configuration file (TOML), e.g. /etc/tollgate/tollgate.toml; see the README for every key.
    #[arg(long, global = true, value_name = "FILE", env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory holding the store (tollgate.db) and the generated TLS certificate, e.g.
    /// /var/lib/tollgate; the commands other than serve and bootstrap need an existing store
    /// there [default: ./tollgate-data].
    #[arg(long, global = true, value_name = "DIR", env = "TOLLGATE_DATA")]
    data: Option<PathBuf>,
    /// A PostgreSQL store several nodes share instead of the SQLite one in the data directory,
    /// e.g. postgres://tollgate:secret@db.example:5432/tollgate (config key store.url,
    /// environment TOLLGATE_STORE__URL).
    #[arg(long, global = true, value_name = "URL")]
    store: Option<String>,
    /// Redis (or Valkey) beside the PostgreSQL store, for lockout counters and the revocation
    /// bus, e.g. redis://:secret@cache.example:6379 (config key store.redis_url, environment
    /// TOLLGATE_STORE__REDIS_URL).
    #[arg(long, global = true, value_name = "URL")]
    redis: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server; Ctrl-C or SIGTERM stops it gracefully.
    ///
    /// On first start it creates the data directory, the store, a self-signed TLS certificate
    /// and the administrator (password from TOLLGATE_ADMIN_PASSWORD, else generated and printed
    /// once). Example: `tollgate serve --listen 127.0.0.1:8443`.
    Serve(serve::ServeArgs),
    /// Create the System org and its administrator (after `serve --no-bootstrap`).
    ///
    /// Works on a store `serve --no-bootstrap` left uninitialised, or creates a new one. The
    /// password: TOLLGATE_ADMIN_PASSWORD, else --password-stdin, else typed twice at the
    /// terminal (empty: generated), else generated; a generated one is printed once. Example:
    /// `echo 's3cret-pw' | tollgate bootstrap --password-stdin`.
    Bootstrap {
        /// Read the administrator's password from the first line of standard input, e.g.
        /// `echo 's3cret-pw' | tollgate bootstrap --password-stdin`.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Bring the store's schema up to date (serve does it too, at start).
    ///
    /// Nodes sharing a PostgreSQL store may run it at once: they take turns. Example:
    /// `tollgate migrate --store postgres://tollgate@db.example/tollgate`.
    Migrate,
    /// Move an installation between stores: `store copy --from sqlite:DIR --to postgres://…`.
    #[command(subcommand)]
    Store(store_copy::StoreCommand),
    /// Manage organisations (tenants): add, list.
    #[command(subcommand)]
    Org(operator::OrgCommand),
    /// Manage local users: add, passwd, disable, enable, unlock, list.
    #[command(subcommand)]
    User(operator::UserCommand),
    /// List and revoke sessions.
    #[command(subcommand)]
    Session(operator::SessionCommand),
    /// Create, list and revoke API tokens for the admin REST API (/v1/admin).
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// List the roles users can be given (for `user add --role`).
    Roles,
    /// Install the PAM service a `pam` identity source uses, /etc/pam.d/tollgate (as root).
    ///
    /// The stack is pam_unix: password check, then account management (expired and locked
    /// accounts are refused). An existing different file is kept unless --force. Example:
    /// `sudo tollgate install-pam`.
    InstallPam {
        /// The service name: the file written in the PAM directory, e.g. tollgate.
        #[arg(long, value_name = "NAME", default_value = tollgate_source_pam::DEFAULT_SERVICE)]
        service: String,
        /// Where PAM reads services from.
        #[arg(long, value_name = "DIR", default_value = tollgate_source_pam::PAM_DIR)]
        pam_dir: PathBuf,
        /// Replace an existing file that differs.
        #[arg(long)]
        force: bool,
    },
    /// List and test the identity sources (`[sources.NAME]` in the configuration).
    #[command(subcommand)]
    Source(sources::SourceCommand),
    /// Add, list and remove a running server's fault rules (through its admin API).
    ///
    /// A rule makes matching requests fail as the product fails: a status in the dialect's
    /// own error shape, latency, a network fault, or a forced state. Example: `tollgate fault
    /// add --url http://127.0.0.1:8443 --dialect bluecat --status 500 --times 1`.
    #[command(subcommand)]
    Fault(remote::FaultCommand),
    /// The requests a running server answered lately, or a count of them (its admin API).
    ///
    /// Needs the journal on (`serve --ephemeral`, or testing.journal). Example: `tollgate
    /// journal --user alice --method DELETE --expect 1`.
    Journal(Box<remote::JournalArgs>),
}

/// `--org ORG` and the user name, shared by the user commands.
#[derive(Args, Debug)]
pub struct UserRef {
    /// The user's name, e.g. alice or administrator.
    #[arg(value_name = "NAME")]
    pub user: String,
    /// The user's organisation, e.g. org1 or System.
    #[arg(long, value_name = "ORG")]
    pub org: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = config::Config::load(cli.config.as_deref())?;
    if let Some(data) = cli.data {
        config.data_dir = data;
    }
    if let Some(url) = cli.store {
        config.store.url = Some(url);
    }
    if let Some(url) = cli.redis {
        config.store.redis_url = Some(url);
    }
    config.validate()?;
    // The server logs its requests; the other commands only their audit events and problems.
    let default_filter = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn,audit=info" };
    init_logging(config.log_format, default_filter);
    match cli.command {
        Command::Serve(args) => serve::run(config, args).await,
        Command::Bootstrap { password_stdin } => operator::bootstrap(&config, password_stdin).await,
        Command::Migrate => operator::migrate(&config).await,
        Command::Store(command) => store_copy::run(command).await,
        Command::Org(command) => operator::org(&config, command).await,
        Command::User(command) => operator::user(&config, command).await,
        Command::Session(command) => operator::session(&config, command).await,
        Command::Token(command) => tokens::run(&config, command).await,
        Command::Roles => operator::roles(&config).await,
        Command::InstallPam { service, pam_dir, force } => install_pam(&pam_dir, &service, force),
        Command::Source(command) => sources::run(&config, command).await,
        Command::Fault(command) => remote::fault(command).await,
        Command::Journal(args) => remote::journal(*args).await,
    }
}

fn install_pam(pam_dir: &std::path::Path, service: &str, force: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        !service.is_empty() && !service.contains(['/', '\0']) && !service.starts_with('.'),
        "{service:?} is not a PAM service name"
    );
    let path = pam_dir.join(service);
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing == tollgate_source_pam::SERVICE_FILE => {
            println!("{} is already installed", path.display());
            return Ok(());
        }
        Ok(_) if !force => {
            anyhow::bail!("{} exists and differs from Tollgate's; keep it, or replace it with --force", path.display())
        }
        _ => {}
    }
    std::fs::write(&path, tollgate_source_pam::SERVICE_FILE)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e} (run as root)", path.display()))?;
    println!("installed {}", path.display());
    Ok(())
}

fn init_logging(format: config::LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // Colour only for a person at a terminal: escape codes would litter files and journals.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        config::LogFormat::Json => builder.json().init(),
        config::LogFormat::Text => builder.init(),
    }
}
