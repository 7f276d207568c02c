//! An IdP and a token holder for the tests: keys made with `openssl`, assertions signed with
//! `xmlsec1` (an implementation independent of the one under test), holder-of-key proofs
//! made with `openssl dgst -sha256 -sign`. Installed by scripts/install-system-deps.sh.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tollgate_source_saml::{SamlConfig, SamlSource};

pub const AUDIENCE: &str = "https://tollgate.test";
pub const ISSUER: &str = "https://sts.test/websso";
pub const SAML_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

pub struct Keys {
    pub dir: tempfile::TempDir,
}

fn run(program: &str, args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed (scripts/install-system-deps.sh): {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn key_pair(dir: &Path, name: &str, subject: &str) {
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            subject,
        ],
        dir,
    );
}

/// The parts of an assertion a test varies.
pub struct Template {
    pub id: String,
    pub name_id: String,
    pub not_before: OffsetDateTime,
    pub not_on_or_after: OffsetDateTime,
    pub audience: String,
    pub signature_method: &'static str,
    pub digest_method: &'static str,
    /// Whether the subject is confirmed by the holder's key (else bearer).
    pub holder_of_key: bool,
}

impl Default for Template {
    fn default() -> Self {
        let now = OffsetDateTime::now_utc();
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).unwrap();
        Template {
            id: format!("_{}", hex::encode(id)),
            name_id: "alice@vsphere.local".into(),
            not_before: now - time::Duration::seconds(5),
            not_on_or_after: now + time::Duration::minutes(5),
            audience: AUDIENCE.into(),
            signature_method: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            digest_method: "http://www.w3.org/2001/04/xmlenc#sha256",
            holder_of_key: true,
        }
    }
}

pub fn instant(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0).unwrap().format(&Rfc3339).unwrap()
}

impl Keys {
    pub fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        key_pair(dir.path(), "idp", "/CN=Test STS");
        key_pair(dir.path(), "holder", "/CN=alice");
        key_pair(dir.path(), "other", "/CN=Another IdP");
        Keys { dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn config(&self) -> SamlConfig {
        SamlConfig {
            idp_certificate: self.path("idp.crt"),
            audience: AUDIENCE.into(),
            issuer: Some(ISSUER.into()),
            clock_skew_secs: 60,
            max_token_bytes: 64 * 1024,
            roles: Vec::new(),
        }
    }

    pub fn source(&self) -> SamlSource {
        SamlSource::new(&self.config()).unwrap()
    }

    fn holder_certificate_base64(&self) -> String {
        let pem = std::fs::read_to_string(self.path("holder.crt")).unwrap();
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    /// The unsigned assertion (xmlsec1 fills DigestValue, SignatureValue, X509Data).
    pub fn template(&self, t: &Template) -> String {
        let confirmation = if t.holder_of_key {
            format!(
                r#"<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:holder-of-key">
      <saml:SubjectConfirmationData xsi:type="saml:KeyInfoConfirmationDataType">
        <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
      </saml:SubjectConfirmationData>
    </saml:SubjectConfirmation>"#,
                self.holder_certificate_base64()
            )
        } else {
            r#"<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"/>"#.to_owned()
        };
        format!(
            r##"<?xml version="1.0" encoding="UTF-8"?>
<saml:Assertion xmlns:saml="{SAML_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{id}" Version="2.0" IssueInstant="{nb}">
  <saml:Issuer>{ISSUER}</saml:Issuer>
  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <ds:SignatureMethod Algorithm="{sm}"/>
      <ds:Reference URI="#{id}">
        <ds:Transforms>
          <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
          <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        </ds:Transforms>
        <ds:DigestMethod Algorithm="{dm}"/>
        <ds:DigestValue/>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue/>
    <ds:KeyInfo><ds:X509Data/></ds:KeyInfo>
  </ds:Signature>
  <saml:Subject>
    <saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">{name}</saml:NameID>
    {confirmation}
  </saml:Subject>
  <saml:Conditions NotBefore="{nb}" NotOnOrAfter="{na}">
    <saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction>
  </saml:Conditions>
  <saml:AttributeStatement>
    <saml:Attribute Name="groups"><saml:AttributeValue>admins</saml:AttributeValue></saml:Attribute>
  </saml:AttributeStatement>
</saml:Assertion>
"##,
            id = t.id,
            nb = instant(t.not_before),
            na = instant(t.not_on_or_after),
            sm = t.signature_method,
            dm = t.digest_method,
            name = t.name_id,
            aud = t.audience,
        )
    }

    /// Signs `xml` with `key` ("idp" or "other") using xmlsec1.
    pub fn sign_with(&self, key: &str, xml: &str) -> String {
        let input = self.path("template.xml");
        std::fs::write(&input, xml).unwrap();
        let keys = format!("{key}.key,{key}.crt");
        let signed = run(
            "xmlsec1",
            &["--sign", "--privkey-pem", &keys, "--id-attr:ID", &format!("{SAML_NS}:Assertion"), "template.xml"],
            self.dir.path(),
        );
        String::from_utf8(signed).unwrap()
    }

    pub fn sign(&self, t: &Template) -> String {
        self.sign_with("idp", &self.template(t))
    }

    /// Base64 SHA256withRSA by the holder's key over token + timestamp + nonce, by openssl.
    pub fn prove_with(&self, key: &str, token: &str, timestamp: &str, nonce: &str) -> String {
        std::fs::write(self.path("payload.bin"), format!("{token}{timestamp}{nonce}")).unwrap();
        run(
            "openssl",
            &["dgst", "-sha256", "-sign", &format!("{key}.key"), "-out", "proof.sig", "payload.bin"],
            self.dir.path(),
        );
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(self.path("proof.sig")).unwrap())
    }

    pub fn prove(&self, token: &str, timestamp: &str, nonce: &str) -> String {
        self.prove_with("holder", token, timestamp, nonce)
    }
}

pub fn millis(t: OffsetDateTime) -> String {
    (t.unix_timestamp_nanos() / 1_000_000).to_string()
}

pub fn nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).unwrap();
    hex::encode(bytes)
}
