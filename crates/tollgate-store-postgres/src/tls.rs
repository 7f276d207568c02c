//! TLS to PostgreSQL, asked for in the store URL as libpq asks for it: `sslmode=require`
//! encrypts without checking whom it talks to (libpq's meaning), `sslmode=verify-full` also
//! checks the server's certificate against `sslrootcert` (a PEM file of CA certificates, or
//! `system` for the machine's roots) and its name against the URL's host. rustls does the TLS.
//! tokio-postgres reads neither `verify-full` nor `sslrootcert`, so they are taken out of the
//! URL here before it reads the rest.

use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// A store URL read: the connection settings, and the TLS connector when the URL asks for TLS.
pub(crate) struct Target {
    pub config: tokio_postgres::Config,
    pub tls: Option<MakeRustlsConnect>,
}

pub(crate) fn read_url(url: &str) -> Result<Target, String> {
    let mut mode = None;
    let mut root_certs = None;
    // The key=value form has no URL to take keys out of; tokio-postgres reads it as it is.
    let url = match url::Url::parse(url) {
        Ok(mut parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") => {
            let mut kept = Vec::new();
            for (key, value) in parsed.query_pairs() {
                match &*key {
                    "sslmode" => mode = Some(value.into_owned()),
                    "sslrootcert" => root_certs = Some(value.into_owned()),
                    _ => kept.push((key.into_owned(), value.into_owned())),
                }
            }
            parsed.set_query(None);
            if !kept.is_empty() {
                parsed.query_pairs_mut().extend_pairs(kept);
            }
            parsed.to_string()
        }
        _ => url.to_owned(),
    };
    let mut config = tokio_postgres::Config::from_str(&url).map_err(|e| format!("bad store URL: {e}"))?;
    let verifier: Option<Arc<dyn ServerCertVerifier>> = match mode.as_deref() {
        None | Some("disable") => {
            config.ssl_mode(SslMode::Disable);
            None
        }
        Some(mode @ ("prefer" | "require")) => {
            config.ssl_mode(if mode == "prefer" { SslMode::Prefer } else { SslMode::Require });
            Some(Arc::new(AnyCertificate(provider())))
        }
        Some("verify-full") => {
            config.ssl_mode(SslMode::Require);
            let roots = roots(root_certs.as_deref())?;
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| format!("sslrootcert: {e}"))?;
            Some(verifier)
        }
        Some(other) => {
            return Err(format!("bad store URL: sslmode={other} (disable, prefer, require or verify-full)"));
        }
    };
    let tls = verifier
        .map(|verifier| {
            let config = ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            Ok::<_, String>(MakeRustlsConnect::new(config))
        })
        .transpose()?;
    Ok(Target { config, tls })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(source: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match source {
        None => return Err("sslmode=verify-full needs sslrootcert=PATH (a PEM file) or sslrootcert=system".into()),
        Some("system") => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("sslrootcert {path}: {e}"))? {
                roots
                    .add(cert.map_err(|e| format!("sslrootcert {path}: {e}"))?)
                    .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            }
        }
    }
    if roots.is_empty() {
        return Err(format!("sslrootcert {}: no CA certificate in it", source.unwrap_or_default()));
    }
    Ok(roots)
}

/// `sslmode=require`: any certificate, as libpq accepts with that mode; the handshake's
/// signatures are still checked, so the session is encrypted to whoever holds the key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl AnyCertificate {
    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.0.signature_verification_algorithms
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}
