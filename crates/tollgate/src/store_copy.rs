//! `tollgate store copy`: moves an installation from the embedded SQLite store to a PostgreSQL
//! store a cluster shares (see [`tollgate_core::store_copy`]).

use anyhow::{Context, bail};
use clap::Subcommand;
use tollgate_store_postgres::{PostgresStore, Timeouts};
use tollgate_store_sqlite::SqliteStore;

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy users, password hashes, roles, orgs, live sessions and API tokens (their tokens
    /// keep working) into an empty PostgreSQL store.
    ///
    /// Stop the server on the data directory first: the copy holds it as a server does. A
    /// target that holds any org is refused. Example: `tollgate store copy --from
    /// sqlite:/var/lib/tollgate --to postgres://tollgate:secret@db.example/tollgate`.
    Copy {
        /// The embedded store: `sqlite:` and its data directory, e.g. sqlite:/var/lib/tollgate.
        #[arg(long, value_name = "sqlite:DIR")]
        from: String,
        /// The PostgreSQL store, e.g. postgres://tollgate:secret@db.example:5432/tollgate
        /// (migrated first if need be).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

pub async fn run(command: StoreCommand) -> anyhow::Result<()> {
    let StoreCommand::Copy { from, to } = command;
    let Some(dir) = from.strip_prefix("sqlite:") else {
        bail!("--from takes sqlite:DIR, the data directory of the embedded store (got {from:?})");
    };
    let path = std::path::Path::new(dir).join("tollgate.db");
    if !path.is_file() {
        bail!("no Tollgate store in {dir} (no tollgate.db there)");
    }
    let source = SqliteStore::open_for_serving(&path)
        .with_context(|| format!("cannot hold {} for the copy (is a server running on it?)", path.display()))?;
    let target = PostgresStore::open(&to, Timeouts::default())
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL store: {e}"))?;
    let copied = tollgate_core::store_copy::copy_store(&source, &target)
        .await
        .map_err(|e| anyhow::anyhow!("store copy: {e}"))?;
    println!(
        "copied {} org(s), {} user(s), {} live session(s) with {} token(s), {} API token(s)",
        copied.orgs, copied.users, copied.sessions, copied.tokens, copied.api_tokens
    );
    Ok(())
}
