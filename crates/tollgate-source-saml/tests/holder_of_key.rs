//! Holder-of-key tokens minted at test time by xmlsec1 and openssl, and the attack corpus:
//! each attack is refused, and for the right reason.

mod support;

use support::{Keys, SAML_NS, Template, millis, nonce};
use time::OffsetDateTime;
use tollgate_source_saml::{HolderOfKeyToken, Rejection};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A complete, valid login for `token`, proved by the holder now.
fn login<'a>(
    keys: &Keys,
    token: &'a str,
    stamp: &'a mut String,
    nonce: &'a mut String,
    proof: &'a mut String,
) -> HolderOfKeyToken<'a> {
    *stamp = millis(now());
    *nonce = support::nonce();
    *proof = keys.prove(token, stamp, nonce);
    HolderOfKeyToken { saml_token: token, timestamp: stamp, nonce, signature: proof }
}

fn verify_xml(keys: &Keys, token: &str) -> Result<tollgate_source_saml::Assertion, Rejection> {
    let (mut s, mut n, mut p) = Default::default();
    keys.source().verify(login(keys, token, &mut s, &mut n, &mut p), now())
}

#[test]
fn an_assertion_signed_by_the_idp_and_proved_by_its_holder_logs_in() {
    let keys = Keys::new();
    let token = keys.sign(&Template::default());
    let assertion = verify_xml(&keys, &token).unwrap();
    assert_eq!(assertion.subject, "alice@vsphere.local");
    assert_eq!(assertion.issuer, support::ISSUER);
    assert_eq!(assertion.attributes, vec![("groups".to_owned(), vec!["admins".to_owned()])]);
}

#[test]
fn a_proof_by_another_key_or_over_other_bytes_is_refused() {
    let keys = Keys::new();
    let source = keys.source();
    let token = keys.sign(&Template::default());
    let (stamp, nonce) = (millis(now()), nonce());
    let by_other = keys.prove_with("other", &token, &stamp, &nonce);
    let login = HolderOfKeyToken { saml_token: &token, timestamp: &stamp, nonce: &nonce, signature: &by_other };
    assert_eq!(source.verify(login, now()).unwrap_err(), Rejection::Proof);
    let proof = keys.prove(&token, &stamp, &nonce);
    let altered = format!("{nonce}x");
    let login = HolderOfKeyToken { saml_token: &token, timestamp: &stamp, nonce: &altered, signature: &proof };
    assert_eq!(source.verify(login, now()).unwrap_err(), Rejection::Proof);
}

#[test]
fn a_timestamp_outside_the_skew_is_refused() {
    let keys = Keys::new();
    let token = keys.sign(&Template::default());
    for stamp in
        [millis(now() - time::Duration::minutes(2)), millis(now() + time::Duration::minutes(2)), "17e11".into()]
    {
        let nonce = nonce();
        let proof = keys.prove(&token, &stamp, &nonce);
        let login = HolderOfKeyToken { saml_token: &token, timestamp: &stamp, nonce: &nonce, signature: &proof };
        assert_eq!(keys.source().verify(login, now()).unwrap_err(), Rejection::Timestamp, "{stamp}");
    }
}

#[test]
fn a_bearer_assertion_is_not_a_holder_of_key_token() {
    let keys = Keys::new();
    let token = keys.sign(&Template { holder_of_key: false, ..Template::default() });
    assert_eq!(verify_xml(&keys, &token).unwrap_err(), Rejection::NotHolderOfKey);
}

#[test]
fn validity_window_and_audience_are_enforced() {
    let keys = Keys::new();
    let t = now();
    let expired = keys.sign(&Template {
        not_before: t - time::Duration::minutes(10),
        not_on_or_after: t - time::Duration::minutes(2),
        ..Template::default()
    });
    assert_eq!(verify_xml(&keys, &expired).unwrap_err(), Rejection::Expired);
    let early = keys.sign(&Template { not_before: t + time::Duration::minutes(2), ..Template::default() });
    assert_eq!(verify_xml(&keys, &early).unwrap_err(), Rejection::NotYetValid);
    // Within the skew (60 s) on either side, the clocks are forgiven.
    let slightly_early = keys.sign(&Template { not_before: t + time::Duration::seconds(20), ..Template::default() });
    assert!(verify_xml(&keys, &slightly_early).is_ok());
    let elsewhere = keys.sign(&Template { audience: "https://other.test".into(), ..Template::default() });
    assert_eq!(verify_xml(&keys, &elsewhere).unwrap_err(), Rejection::Audience);
}

#[test]
fn an_assertion_signed_by_another_key_is_refused_whatever_key_it_carries() {
    let keys = Keys::new();
    // xmlsec1 embeds the signer's certificate in KeyInfo: it must be ignored.
    let token = keys.sign_with("other", &keys.template(&Template::default()));
    assert!(token.contains("<X509Certificate>") || token.contains(":X509Certificate>"));
    assert_eq!(verify_xml(&keys, &token).unwrap_err(), Rejection::Signature);
}

#[test]
fn a_sha1_signature_is_refused() {
    let keys = Keys::new();
    let token = keys.sign(&Template {
        signature_method: "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        digest_method: "http://www.w3.org/2000/09/xmldsig#sha1",
        ..Template::default()
    });
    assert!(matches!(verify_xml(&keys, &token).unwrap_err(), Rejection::Algorithm(uri) if uri.ends_with("rsa-sha1")));
}

#[test]
fn a_changed_claim_breaks_the_digest() {
    let keys = Keys::new();
    let token = keys.sign(&Template::default());
    let tampered = token.replace(">alice@vsphere.local<", ">administrator@vsphere.local<");
    assert_ne!(tampered, token);
    assert_eq!(verify_xml(&keys, &tampered).unwrap_err(), Rejection::Digest);
}

#[test]
fn a_comment_in_the_name_id_is_refused_not_truncated() {
    let keys = Keys::new();
    // CVE-2017-11427: the IdP signs a name with a comment in it (canonicalised away, so the
    // signature holds); a parser reading the first text node would see "administrator".
    let signed_with_comment =
        keys.sign(&Template { name_id: "administrator<!---->.evil.test".into(), ..Template::default() });
    assert_eq!(
        verify_xml(&keys, &signed_with_comment).unwrap_err(),
        Rejection::Structure("a value is not exactly one text node")
    );
    // A comment added after signing leaves the signature valid too: still refused.
    let token = keys.sign(&Template::default());
    let injected = token.replace(">alice@vsphere.local<", ">alice<!-- -->@vsphere.local<");
    assert_eq!(verify_xml(&keys, &injected).unwrap_err(), Rejection::Structure("a value is not exactly one text node"));
}

#[test]
fn a_doctype_or_external_entity_is_refused_before_parsing() {
    let keys = Keys::new();
    let token = keys.sign(&Template::default());
    let xxe = token
        .replacen(
            "<saml:Assertion",
            "<!DOCTYPE saml:Assertion [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<saml:Assertion",
            1,
        )
        .replace(">alice@vsphere.local<", ">&xxe;<");
    assert_eq!(verify_xml(&keys, &xxe).unwrap_err(), Rejection::Doctype);
    let internal = token.replacen("<saml:Assertion", "<!DOCTYPE a [<!ENTITY a \"aaaa\">]>\n<saml:Assertion", 1);
    assert_eq!(verify_xml(&keys, &internal).unwrap_err(), Rejection::Doctype);
}

/// The element of `signed` from `<saml:Subject>` to `</saml:Subject>`.
fn subject_of(signed: &str) -> &str {
    let start = signed.find("<saml:Subject>").unwrap();
    let end = signed.find("</saml:Subject>").unwrap() + "</saml:Subject>".len();
    &signed[start..end]
}

#[test]
fn signature_wrapping_variants_are_refused() {
    let keys = Keys::new();
    let signed = keys.sign(&Template::default());
    let body = signed.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#).trim();
    let id = signed.split("ID=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let evil_subject = subject_of(body).replace("alice@vsphere.local", "administrator@vsphere.local");

    // 1. An evil assertion as the document element, the signed original nested inside it.
    let nested = format!(
        r#"<saml:Assertion xmlns:saml="{SAML_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_evil" Version="2.0" IssueInstant="2030-01-01T00:00:00Z"><saml:Issuer>{}</saml:Issuer>{evil_subject}<saml:Advice>{body}</saml:Advice></saml:Assertion>"#,
        support::ISSUER
    );
    let two_assertions = Rejection::Structure("the document holds more than one assertion");
    assert_eq!(verify_xml(&keys, &nested).unwrap_err(), two_assertions);

    // 2. The same, the evil assertion taking the original's ID (the signature's reference
    //    would find whichever element an ID lookup returns first).
    let same_id = nested.replace("ID=\"_evil\"", &format!("ID=\"{id}\""));
    assert_eq!(verify_xml(&keys, &same_id).unwrap_err(), two_assertions);

    // 3. The original as the document element with an evil assertion hidden in the
    //    Signature (ds:Object): more than one assertion.
    let in_object = body.replacen(
        "</ds:Signature>",
        &format!(r#"<ds:Object><saml:Assertion ID="_x" Version="2.0" IssueInstant="2030-01-01T00:00:00Z">{evil_subject}</saml:Assertion></ds:Object></ds:Signature>"#),
        1,
    );
    assert_eq!(verify_xml(&keys, &in_object).unwrap_err(), two_assertions);

    // 4. A second Subject added after the signed one (claims read from the wrong element).
    let second_subject = body.replacen("</saml:Subject>", &format!("</saml:Subject>{evil_subject}"), 1);
    assert_eq!(verify_xml(&keys, &second_subject).unwrap_err(), Rejection::Digest);

    // 5. The assertion wrapped in a protocol Response with an unsigned sibling assertion.
    let response = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="{SAML_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_r"><saml:Assertion ID="_evil" Version="2.0" IssueInstant="2030-01-01T00:00:00Z">{}</saml:Assertion>{body}</samlp:Response>"#,
        evil_subject
    );
    assert_eq!(
        verify_xml(&keys, &response).unwrap_err(),
        Rejection::Structure("the document element is not a saml:Assertion")
    );

    // 6. The Signature moved out of its place and a second signature added.
    let two_signatures = body.replacen(
        "<saml:Subject>",
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/><saml:Subject>",
        1,
    );
    assert_eq!(
        verify_xml(&keys, &two_signatures).unwrap_err(),
        Rejection::Structure("the document holds more than one signature")
    );
}

#[test]
fn a_token_over_the_size_limit_is_refused_unread() {
    let keys = Keys::new();
    let huge = format!("<x>{}</x>", " ".repeat(64 * 1024));
    assert_eq!(verify_xml(&keys, &huge).unwrap_err(), Rejection::TooLarge);
}

#[test]
fn the_source_refuses_to_start_without_a_usable_idp_certificate() {
    let keys = Keys::new();
    let mut config = keys.config();
    config.idp_certificate = keys.path("missing.crt");
    assert!(tollgate_source_saml::SamlSource::new(&config).is_err());
    config.idp_certificate = keys.path("idp.key");
    assert!(tollgate_source_saml::SamlSource::new(&config).is_err());
}
