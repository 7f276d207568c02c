//! `[sources.NAME]`: the identity sources the operator configures, each with a `kind`, and
//! the `tollgate source` commands that list and test them.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use tollgate_core::SourceConfig;
use tollgate_core::directory::LOCAL_SOURCE;

use crate::config::Config;

/// One `[sources.NAME]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceTable {
    /// Tollgate's own accounts (`tollgate user add`), with Argon2id hashes in the store.
    Local,
    /// An LDAP directory or Active Directory (see the README's Identity sources).
    Ldap(Box<tollgate_source_ldap::LdapConfig>),
    /// Operating-system accounts through a PAM service (`tollgate install-pam`).
    Pam(tollgate_source_pam::PamConfig),
    /// SAML 2.0 holder-of-key assertions signed by one STS/IdP (VCDA `ssoToken`).
    Saml(tollgate_source_saml::SamlConfig),
}

impl SourceTable {
    pub fn kind(&self) -> &'static str {
        match self {
            SourceTable::Local => LOCAL_SOURCE,
            SourceTable::Ldap(_) => "ldap",
            SourceTable::Pam(_) => "pam",
            SourceTable::Saml(_) => "saml",
        }
    }

    /// The source the core asks, built from this table (its files read, no connection made).
    pub fn build(&self) -> anyhow::Result<SourceConfig> {
        Ok(match self {
            SourceTable::Local => SourceConfig::Local,
            SourceTable::Ldap(config) => {
                let source = tollgate_source_ldap::LdapSource::new((**config).clone()).map_err(anyhow::Error::msg)?;
                SourceConfig::Backend(Arc::new(source))
            }
            SourceTable::Pam(config) => {
                let source = tollgate_source_pam::PamSource::new(config.clone())?;
                // Without its file, Linux-PAM would quietly use the `other` stack instead.
                anyhow::ensure!(
                    source.service_installed(),
                    "the PAM service {:?} is not installed: run `tollgate install-pam`",
                    config.service
                );
                SourceConfig::Backend(Arc::new(source))
            }
            SourceTable::Saml(config) => {
                SourceConfig::Backend(Arc::new(tollgate_source_saml::SamlSource::new(config)?))
            }
        })
    }
}

/// The sources a configuration starts with: `local`.
pub fn default_sources() -> HashMap<String, SourceTable> {
    HashMap::from([(LOCAL_SOURCE.to_owned(), SourceTable::Local)])
}

/// Checks the names, and that each source can be built.
pub fn validate(sources: &HashMap<String, SourceTable>) -> anyhow::Result<()> {
    for (name, table) in sources {
        table.build().with_context(|| format!("sources.{name}"))?;
        tollgate_core::directory::validate_name("source", name).map_err(|e| anyhow::anyhow!("sources.{name}: {e}"))?;
        anyhow::ensure!(
            name != "sso" && name != "vcd-session",
            "sources.{name}: the name {name:?} is reserved (sso routes through sso_domains)"
        );
        anyhow::ensure!(
            name != LOCAL_SOURCE || matches!(table, SourceTable::Local),
            "sources.local must keep kind = \"local\": Tollgate's own accounts are checked by it"
        );
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum SourceCommand {
    /// List the configured identity sources: name and kind.
    List,
    /// Reach an identity source step by step, each step timed: connect, service bind and,
    /// with --user, the user's search and (given a password) bind.
    ///
    /// Example: `tollgate source test corp-ldap --user alice`; the password is asked for at
    /// the terminal (empty: no password check), or read with --password-stdin.
    Test {
        /// The source's name, as in `[sources.NAME]`, e.g. corp-ldap.
        #[arg(value_name = "NAME")]
        name: String,
        /// Also look this user up, e.g. alice, alice@corp.example or 'CORP\alice'.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Read the user's password from the first line of standard input, to check it too.
        #[arg(long, requires = "user")]
        password_stdin: bool,
    },
}

pub async fn run(config: &Config, command: SourceCommand) -> anyhow::Result<()> {
    match command {
        SourceCommand::List => {
            let mut names: Vec<_> = config.sources.iter().collect();
            names.sort_by(|a, b| a.0.cmp(b.0));
            crate::operator::print_table(
                &["NAME", "KIND"],
                names.into_iter().map(|(name, table)| vec![name.clone(), table.kind().to_owned()]),
            );
            Ok(())
        }
        SourceCommand::Test { name, user, password_stdin } => {
            let table =
                config.sources.get(&name).with_context(|| format!("no identity source {name:?} is configured"))?;
            let password = match (&user, password_stdin) {
                (Some(_), true) => Some(crate::operator::read_password_line()?),
                (Some(user), false) if std::io::stdin().is_terminal() => {
                    let typed = rpassword::prompt_password(format!("Password of {user} (empty: no password check): "))
                        .context("cannot read the password from the terminal")?;
                    Some(typed).filter(|p| !p.is_empty())
                }
                _ => None,
            };
            let source: Arc<dyn tollgate_core::IdentitySource> = match table.build()? {
                SourceConfig::Local => {
                    println!("{name}: kind local, Tollgate's own store: nothing to reach");
                    return Ok(());
                }
                SourceConfig::Backend(source) => source,
            };
            let steps = source.probe(user.as_deref(), password.as_deref()).await;
            let mut failed = false;
            for step in &steps {
                let millis = step.elapsed.as_secs_f64() * 1000.0;
                match &step.outcome {
                    Ok(detail) => println!("ok    {millis:>8.1} ms  {}: {detail}", step.step),
                    Err(why) => {
                        failed = true;
                        println!("FAIL  {millis:>8.1} ms  {}: {why}", step.step);
                    }
                }
            }
            anyhow::ensure!(!failed, "identity source {name:?} failed its test");
            Ok(())
        }
    }
}
