//! TLS: the configured certificate, or a self-signed one generated on first start in the data
//! directory and reused after, until it comes within a week of its expiry.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::config::Config;
use crate::operator::{check_not_writable, check_private, create_private_dir};

/// How long a generated certificate is valid: 397 days, the most the CA/Browser Forum allows a
/// publicly trusted server certificate.
const LIFETIME: Duration = Duration::days(397);
/// A generated certificate that expires within this is replaced at start.
const RENEW_BEFORE: Duration = Duration::days(7);

/// Uses ring as rustls' one crypto provider (the build carries no other).
pub fn install_crypto_provider() {
    // Err only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub async fn server_config(config: &Config) -> anyhow::Result<RustlsConfig> {
    let (cert, key) = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => self_signed(&config.data_dir)?,
    };
    RustlsConfig::from_pem_file(&cert, &key)
        .await
        .with_context(|| format!("cannot load the TLS certificate {} and key {}", cert.display(), key.display()))
}

/// The generated certificate's files, made now if they do not exist yet or the certificate
/// expires within [`RENEW_BEFORE`].
fn self_signed(data_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if dir.exists() {
        check_private(&dir, "the TLS directory", 0o700)?;
    } else {
        create_private_dir(&dir, "the TLS directory")?;
    }
    if cert_path.exists() && key_path.exists() {
        check_private(&key_path, "the TLS private key", 0o600)?;
        check_not_writable(&cert_path, "the TLS certificate", 0o644)?;
        let now = OffsetDateTime::now_utc();
        let not_after = not_after(&cert_path)?;
        if not_after - now > RENEW_BEFORE {
            return Ok((cert_path, key_path));
        }
        let when = if not_after <= now { "expired" } else { "expires" };
        let date = not_after.format(&Rfc3339).unwrap_or_else(|_| not_after.to_string());
        tracing::warn!(cert = %cert_path.display(), "the generated TLS certificate {when} on {date}: generating a new one");
    }
    let (cert, key) = generate(OffsetDateTime::now_utc())?;
    // Each file is written whole under a temporary name and renamed over the old one.
    write_new(&key_path, key.as_bytes(), 0o600)?;
    write_new(&cert_path, cert.as_bytes(), 0o644)?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed TLS certificate");
    Ok((cert_path, key_path))
}

/// A self-signed certificate for `localhost`, `127.0.0.1` and `::1`, valid from a minute
/// before `now` (for clocks a little behind) for [`LIFETIME`]; its PEM and its key's.
fn generate(now: OffsetDateTime) -> anyhow::Result<(String, String)> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let mut params = rcgen::CertificateParams::new(names).context("cannot generate a TLS certificate")?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "Tollgate self-signed certificate");
    params.not_before = now - Duration::minutes(1);
    params.not_after = now + LIFETIME;
    let key = rcgen::KeyPair::generate().context("cannot generate a TLS key")?;
    let cert = params.self_signed(&key).context("cannot generate a TLS certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// When the certificate in the PEM file `path` expires.
fn not_after(path: &Path) -> anyhow::Result<OffsetDateTime> {
    let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let unreadable = || {
        format!(
            "cannot read the certificate in {}; delete the files in {} to have a new one generated",
            path.display(),
            path.parent().unwrap_or(path).display()
        )
    };
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(&pem).map_err(|e| anyhow::anyhow!("{e}")).with_context(unreadable)?;
    let cert = pem.parse_x509().map_err(|e| anyhow::anyhow!("{e}")).with_context(unreadable)?;
    Ok(cert.validity().not_after.to_datetime())
}

/// Writes `contents` to `path` with exactly `mode`, whatever the umask: under a temporary
/// name first, created anew (never an existing file, whoever made it), then renamed over
/// `path`.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    match std::fs::remove_file(&temporary) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", temporary.display()));
        }
        _ => {}
    }
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&temporary)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()
    })();
    written.with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_lives_397_days_from_a_minute_ago() {
        let now = OffsetDateTime::now_utc();
        let (cert, _) = generate(now).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        let validity = cert.validity();
        let second = |t: OffsetDateTime| t.unix_timestamp();
        assert_eq!(validity.not_before.timestamp(), second(now - Duration::minutes(1)));
        assert_eq!(validity.not_after.timestamp(), second(now + Duration::days(397)));
    }
}
