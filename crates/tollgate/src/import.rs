//! `tollgate user import`: local users whose password hashes come from another system
//! (bcrypt, PBKDF2-SHA256, SHA-512-crypt; see [`tollgate_core::imported_hash`]). They log in
//! with their old passwords, and the first good login replaces the hash with Argon2id.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use tollgate_core::directory::LOCAL_SOURCE;
use tollgate_core::imported_hash::HashFormat;
use tollgate_core::{Actor, Core, Role, UserSpec};

/// Larger files are refused: a million users with long hashes fit well within it.
const MAX_FILE_BYTES: u64 = 256 << 20;
/// Problems listed before the rest are only counted.
const MAX_PROBLEMS_SHOWN: usize = 20;

/// One user to import, as a line of a file or the command line gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedUser {
    pub org: String,
    pub user: String,
    pub roles: Vec<String>,
    pub hash: String,
}

/// A CSV row: `roles` holds the role names separated by `;`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvRow {
    org: String,
    user: String,
    roles: String,
    hash: String,
}

/// The users of `path`, with the line each came from: CSV when it ends in `.csv` (a header
/// `org,user,roles,hash`), JSON lines when it ends in `.jsonl` (one object per line).
pub fn read_file(path: &Path) -> anyhow::Result<Vec<(u64, ImportedUser)>> {
    let size = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
    if size > MAX_FILE_BYTES {
        bail!("{} is larger than {} MiB", path.display(), MAX_FILE_BYTES >> 20);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => read_csv(&text),
        Some("jsonl") => read_json_lines(&text),
        _ => bail!("{}: name the file *.csv (org,user,roles,hash) or *.jsonl (JSON lines)", path.display()),
    }
}

fn read_csv(text: &str) -> anyhow::Result<Vec<(u64, ImportedUser)>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut users = Vec::new();
    for row in reader.deserialize::<CsvRow>() {
        let row = row.map_err(|e| anyhow::anyhow!("{e}"))?;
        let roles = row.roles.split(';').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect();
        let line = users.len() as u64 + 2;
        users.push((line, ImportedUser { org: row.org, user: row.user, roles, hash: row.hash }));
    }
    Ok(users)
}

fn read_json_lines(text: &str) -> anyhow::Result<Vec<(u64, ImportedUser)>> {
    let mut users = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let user = serde_json::from_str(line).with_context(|| format!("line {}", index + 1))?;
        users.push((index as u64 + 1, user));
    }
    Ok(users)
}

/// `roles` as the store spells them; an unknown one is an error naming the known ones.
pub fn canonical_roles(known: &[Role], roles: &[String]) -> anyhow::Result<Vec<String>> {
    if roles.is_empty() {
        bail!("a user needs at least one role");
    }
    roles
        .iter()
        .map(|role| match known.iter().find(|k| k.name.eq_ignore_ascii_case(role)) {
            Some(k) => Ok(k.name.clone()),
            None => {
                let names: Vec<_> = known.iter().map(|k| k.name.as_str()).collect();
                bail!("unknown role {role:?}; known roles: {}", names.join(", "))
            }
        })
        .collect()
}

/// Checks every user first (org, roles, hash format) and creates none when any is wrong;
/// then creates them in order, stopping at the first the store refuses (a name taken).
pub async fn import(core: &Core, users: Vec<(u64, ImportedUser)>, from: &str) -> anyhow::Result<()> {
    let known = core.roles().await?;
    let mut specs = Vec::with_capacity(users.len());
    let mut problems = Vec::new();
    for (line, user) in users {
        let checked = async {
            core.org(&user.org).await?;
            let roles = canonical_roles(&known, &user.roles)?;
            HashFormat::of(&user.hash).map_err(anyhow::Error::msg)?;
            anyhow::Ok(UserSpec {
                org: user.org,
                name: user.user,
                roles,
                identity_source: LOCAL_SOURCE.into(),
                password_hash: Some(user.hash),
            })
        };
        match checked.await {
            Ok(spec) => specs.push((line, spec)),
            Err(e) => problems.push(format!("{from} line {line}: {e:#}")),
        }
    }
    if !problems.is_empty() {
        let shown = problems.len().min(MAX_PROBLEMS_SHOWN);
        let more = match problems.len() - shown {
            0 => String::new(),
            n => format!("\n... and {n} more"),
        };
        bail!("nothing imported: {} user(s) refused\n{}{more}", problems.len(), problems[..shown].join("\n"));
    }
    let total = specs.len();
    for (done, (line, spec)) in specs.into_iter().enumerate() {
        let name = format!("{}@{}", spec.name, spec.org);
        core.add_user(&Actor::Operator, spec, None)
            .await
            .with_context(|| format!("{from} line {line} ({name}); imported {done} of {total} before it"))?;
    }
    println!("Imported {total} user(s) from {from}; each gets an Argon2id hash at their first good login");
    Ok(())
}

/// Where `tollgate user import` takes its users from.
pub enum Source {
    One(ImportedUser),
    File(PathBuf),
}

pub async fn run(core: &Core, source: Source) -> anyhow::Result<()> {
    match source {
        Source::One(user) => import(core, vec![(1, user)], "the command line").await,
        Source::File(path) => {
            let users = read_file(&path)?;
            import(core, users, &path.display().to_string()).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_splits_roles_and_json_lines_skip_blank_lines() {
        let csv = "org,user,roles,hash\norg1,alice,vApp User; Organization Administrator,$2b$x\n";
        let users = read_csv(csv).unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].0, 2);
        assert_eq!(users[0].1.roles, ["vApp User", "Organization Administrator"]);
        let jsonl = "{\"org\":\"org1\",\"user\":\"bob\",\"roles\":[\"vApp User\"],\"hash\":\"$6$s$h\"}\n\n";
        let users = read_json_lines(jsonl).unwrap();
        assert_eq!((users[0].0, users[0].1.user.as_str(), users[0].1.hash.as_str()), (1, "bob", "$6$s$h"));
        assert!(read_json_lines("{\"org\":\"o\",\"user\":\"u\",\"roles\":[],\"hash\":\"h\",\"extra\":1}").is_err());
        assert!(read_csv("org,user,hash\no,u,h\n").is_err(), "the roles column is required");
    }
}
