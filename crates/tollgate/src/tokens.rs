//! `tollgate token`: the API tokens programs use on the admin REST API (`/v1/admin`).

use anyhow::Context;
use clap::Subcommand;
use tollgate_core::directory::SYSTEM_ORG;
use tollgate_core::{Actor, ApiTokenSpec, Timestamp};

use crate::config::Config;
use crate::operator::{explain, open_core, print_table};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print its secret, once: only a digest of it is kept.
    ///
    /// The token acts on the admin API with its role in its org: System Administrator of
    /// System administers everything, Organization Administrator (or System Administrator) of
    /// a tenant org administers that org, Auditor reads and changes nothing. Example:
    /// `tollgate token create --name ci --role Auditor`.
    Create {
        /// A name for the token, unique, e.g. ci or backup-job (names it in the audit trail).
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The role it acts with, e.g. 'System Administrator', 'Organization Administrator' or
        /// Auditor (see `tollgate roles`).
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// The organisation it acts in, e.g. org1.
        #[arg(long, value_name = "ORG", default_value = SYSTEM_ORG)]
        org: String,
    },
    /// List API tokens: name, org, role, created, revoked.
    List,
    /// Revoke an API token: the admin API refuses it from then on.
    ///
    /// Example: `tollgate token revoke ci`.
    Revoke {
        /// The token's name, as `tollgate token list` shows it.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

pub async fn run(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let core = open_core(config).await?;
    match command {
        TokenCommand::Create { name, role, org } => {
            let spec = ApiTokenSpec { name, org, role };
            let (token, secret) = core
                .create_api_token(&Actor::Operator, &spec)
                .await
                .map_err(explain)
                .context("cannot create the token")?;
            eprintln!(
                "Created API token {} ({} of {}); its secret, shown this once, follows:",
                token.name, token.role, token.org_name
            );
            println!("{secret}");
        }
        TokenCommand::List => {
            let rows = core.api_tokens().await.map_err(explain)?.into_iter().map(|t| {
                let revoked = t.revoked_at.map(Timestamp::to_rfc3339_seconds).unwrap_or_else(|| "-".into());
                vec![t.name, t.org_name, t.role, t.created_at.to_rfc3339_seconds(), revoked]
            });
            print_table(&["NAME", "ORG", "ROLE", "CREATED", "REVOKED"], rows);
        }
        TokenCommand::Revoke { name } => {
            let token = core.revoke_api_token(&Actor::Operator, &name).await.map_err(explain)?;
            println!("Revoked API token {}", token.name);
        }
    }
    Ok(())
}
