//! The `saml` identity source: SAML 2.0 holder-of-key tokens, as Cloud Director Availability's
//! `ssoToken` login sends them (`samlToken`, `timestamp`, `nonce`, `signature`).
//!
//! A token logs in when, in this order: it is at most `max_token_bytes` and has no DOCTYPE;
//! its signature verifies with the configured IdP certificate (see [`assertion`] for the
//! shape that is accepted); its issuer (if configured) and audience match; now is within
//! NotBefore/NotOnOrAfter give or take the skew; its holder-of-key confirmation names an RSA
//! certificate whose key signed `samlToken + timestamp + nonce` (SHA256withRSA, Base64); the
//! timestamp is within the skew of now. The nonce must then not have been used before: the
//! source hands it to the core as a single-use proof ([`tollgate_core::SingleUse`]), which the
//! core spends in the store, so a proof replayed to another node of a cluster is refused too.

pub mod assertion;
mod identity;

use std::path::PathBuf;
use std::time::Duration;

use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use assertion::{Assertion, claimed_subject};

/// `[sources.NAME]` with `kind = "saml"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SamlConfig {
    /// PEM file of the STS/IdP signing certificate: the only key assertions are checked with.
    pub idp_certificate: PathBuf,
    /// This server's name as the IdP writes it in `AudienceRestriction`.
    pub audience: String,
    /// When set, the assertion's `Issuer` must be exactly this.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Clock difference tolerated on the assertion's validity and the proof's timestamp.
    #[serde(default = "default_skew_secs")]
    pub clock_skew_secs: u64,
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// The roles a subject of this IdP holds, given at every login (and to the account
    /// Tollgate creates on its first login). Empty: the roles stay what `tollgate user` gave
    /// the account, and only accounts created beforehand can log in.
    #[serde(default)]
    pub roles: Vec<String>,
}

fn default_skew_secs() -> u64 {
    60
}
fn default_max_token_bytes() -> usize {
    64 * 1024
}

const MAX_NONCE_BYTES: usize = 256;

/// Why a token was refused. Every one is a 401 to the client; the reason is for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("token larger than allowed")]
    TooLarge,
    #[error("DOCTYPE or entity declaration")]
    Doctype,
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("unexpected structure: {0}")]
    Structure(&'static str),
    #[error("algorithm not accepted: {0}")]
    Algorithm(String),
    #[error("digest does not match")]
    Digest,
    #[error("signature does not verify with the IdP certificate")]
    Signature,
    #[error("issuer not trusted")]
    Issuer,
    #[error("audience does not include this server")]
    Audience,
    #[error("assertion not yet valid")]
    NotYetValid,
    #[error("assertion expired")]
    Expired,
    #[error("no holder-of-key confirmation")]
    NotHolderOfKey,
    #[error("holder certificate unusable: {0}")]
    HolderKey(String),
    #[error("holder-of-key proof does not verify")]
    Proof,
    #[error("proof timestamp outside the allowed window")]
    Timestamp,
}

/// A holder-of-key login as the client sends it.
#[derive(Debug, Clone, Copy)]
pub struct HolderOfKeyToken<'a> {
    pub saml_token: &'a str,
    /// Milliseconds since the epoch, as decimal digits.
    pub timestamp: &'a str,
    pub nonce: &'a str,
    /// Base64 SHA256withRSA over `saml_token + timestamp + nonce`.
    pub signature: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid saml source: {0}")]
pub struct ConfigError(String);

pub struct SamlSource {
    idp_key: Vec<u8>,
    roles: Vec<String>,
    audience: String,
    issuer: Option<String>,
    skew: Duration,
    max_token_bytes: usize,
}

impl std::fmt::Debug for SamlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlSource").field("audience", &self.audience).field("issuer", &self.issuer).finish()
    }
}

/// The RSA public key (PKCS#1 DER, as ring takes it) of a DER certificate.
pub(crate) fn rsa_key_of_certificate(der: &[u8]) -> Result<Vec<u8>, String> {
    let (rest, certificate) =
        x509_parser::parse_x509_certificate(der).map_err(|e| format!("not a certificate: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    let spki = certificate.public_key();
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        return Err("not an RSA key".into());
    }
    Ok(spki.subject_public_key.data.to_vec())
}

impl SamlSource {
    pub fn new(config: &SamlConfig) -> Result<Self, ConfigError> {
        let pem = std::fs::read(&config.idp_certificate)
            .map_err(|e| ConfigError(format!("{}: {e}", config.idp_certificate.display())))?;
        Self::with_certificate_pem(&pem, config)
    }

    /// As [`SamlSource::new`], with the certificate's PEM given rather than read from its path.
    pub fn with_certificate_pem(pem: &[u8], config: &SamlConfig) -> Result<Self, ConfigError> {
        let (_, pem) =
            x509_parser::pem::parse_x509_pem(pem).map_err(|e| ConfigError(format!("IdP certificate: {e}")))?;
        let idp_key =
            rsa_key_of_certificate(&pem.contents).map_err(|e| ConfigError(format!("IdP certificate: {e}")))?;
        if config.audience.is_empty() {
            return Err(ConfigError("audience must not be empty".into()));
        }
        Ok(SamlSource {
            idp_key,
            roles: config.roles.clone(),
            audience: config.audience.clone(),
            issuer: config.issuer.clone(),
            skew: Duration::from_secs(config.clock_skew_secs),
            max_token_bytes: config.max_token_bytes,
        })
    }

    /// Verifies a holder-of-key login at `now` and returns what the assertion says. Whether
    /// the nonce was used before is the caller's to check (the core does, in the store), until
    /// [`SamlSource::nonce_stale_after`].
    pub fn verify(&self, token: HolderOfKeyToken<'_>, now: OffsetDateTime) -> Result<Assertion, Rejection> {
        if token.saml_token.len() > self.max_token_bytes {
            return Err(Rejection::TooLarge);
        }
        let assertion = self.verify_assertion(token.saml_token, now)?;
        let holder_key = assertion.holder_key.as_deref().ok_or(Rejection::NotHolderOfKey)?;

        let millis: i64 = match token.timestamp.parse() {
            Ok(ms) if token.timestamp.bytes().all(|b| b.is_ascii_digit()) => ms,
            _ => return Err(Rejection::Timestamp),
        };
        let stamped = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .map_err(|_| Rejection::Timestamp)?;
        if (now - stamped).unsigned_abs() > self.skew {
            return Err(Rejection::Timestamp);
        }
        if token.nonce.is_empty() || token.nonce.len() > MAX_NONCE_BYTES {
            return Err(Rejection::Malformed("nonce empty or too long".into()));
        }
        let proof = assertion::decode_base64(token.signature)?;
        let signed = [token.saml_token.as_bytes(), token.timestamp.as_bytes(), token.nonce.as_bytes()].concat();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, holder_key)
            .verify(&signed, &proof)
            .map_err(|_| Rejection::Proof)?;
        Ok(assertion)
    }

    /// When a proof stamped `timestamp_millis` is out of the skew window, and so its nonce
    /// need not be remembered any longer.
    pub fn nonce_stale_after(&self, timestamp_millis: i64) -> i64 {
        timestamp_millis.saturating_add(self.skew.as_millis() as i64)
    }

    /// The signature, issuer, audience and validity window of a bearer of the assertion alone.
    pub fn verify_assertion(&self, xml: &str, now: OffsetDateTime) -> Result<Assertion, Rejection> {
        if xml.len() > self.max_token_bytes {
            return Err(Rejection::TooLarge);
        }
        let assertion = assertion::verify(xml, &self.idp_key)?;
        if self.issuer.as_ref().is_some_and(|issuer| *issuer != assertion.issuer) {
            return Err(Rejection::Issuer);
        }
        if !assertion.audiences.contains(&self.audience) {
            return Err(Rejection::Audience);
        }
        if assertion.not_before.is_some_and(|t| now + self.skew < t) {
            return Err(Rejection::NotYetValid);
        }
        if now - self.skew >= assertion.not_on_or_after {
            return Err(Rejection::Expired);
        }
        Ok(assertion)
    }
}
