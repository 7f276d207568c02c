//! Verifying a signed SAML 2.0 assertion and reading its claims from the verified element.
//!
//! The shape is fixed, not discovered: the document element is the one `saml:Assertion` in
//! the document, it carries exactly one `ds:Signature` (right after `Issuer`) with exactly one
//! `Reference` to the assertion's own ID, transformed by exactly enveloped-signature and
//! exclusive c14n; no other signature, assertion or element with that ID exists anywhere.
//! Anything else is refused before a byte is hashed. That closes the signature-wrapping
//! variants ("On Breaking SAML", 2012): there is no second element the signature could cover
//! while the claims are read from another. The key is the configured IdP certificate's,
//! never one the document carries.

use base64::Engine;
use bergshamra_c14n::C14nMode;
use bergshamra_xml::NodeSet;
use bergshamra_xml::uppsala::{self, Document, NodeId, NodeKind};
use ring::signature::{self, UnparsedPublicKey};
use sha2::Digest;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Rejection;

pub const SAML_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const HOLDER_OF_KEY: &str = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key";

/// The signature algorithms accepted; SHA-1 (`rsa-sha1`) is not among them.
fn signature_algorithm(uri: &str) -> Option<&'static signature::RsaParameters> {
    match uri {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
        _ => None,
    }
}

fn digest(uri: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => Some(sha2::Sha256::digest(bytes).to_vec()),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Some(sha2::Sha384::digest(bytes).to_vec()),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Some(sha2::Sha512::digest(bytes).to_vec()),
        _ => None,
    }
}

/// What a verified assertion says. Read only from the element the signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub id: String,
    pub issuer: String,
    /// The subject's `NameID`, exactly as its single text node holds it.
    pub subject: String,
    pub not_before: Option<OffsetDateTime>,
    pub not_on_or_after: OffsetDateTime,
    pub audiences: Vec<String>,
    /// The RSA public key (PKCS#1 DER) of the holder-of-key subject confirmation, if any.
    pub holder_key: Option<Vec<u8>>,
    /// `Attribute` names with their values, in document order.
    pub attributes: Vec<(String, Vec<String>)>,
}

/// Parses `xml`, verifies its signature with `idp_key` (PKCS#1 DER) and reads its claims.
pub fn verify(xml: &str, idp_key: &[u8]) -> Result<Assertion, Rejection> {
    read(xml, Some(idp_key))
}

/// The subject `xml` claims, unverified: where to route the login, never whom to trust.
/// Read by the same code as [`verify`], so that a token that verifies names this subject.
pub fn claimed_subject(xml: &str) -> Option<String> {
    read(xml, None).ok().map(|assertion| assertion.subject)
}

/// [`verify`], or with no key only the structure and claims ([`claimed_subject`]).
fn read(xml: &str, idp_key: Option<&[u8]>) -> Result<Assertion, Rejection> {
    // uppsala refuses the DOCTYPE itself; the check here keeps that promise whatever the
    // parser's defaults become.
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        return Err(Rejection::Doctype);
    }
    let doc = uppsala::Parser::new()
        .with_forbid_dtd(true)
        .with_forbid_entities(true)
        .parse(xml)
        .map_err(|e| Rejection::Malformed(format!("not well-formed XML: {e}")))?;
    let tree = Tree(&doc);
    let assertion = doc.document_element().ok_or_else(|| Rejection::Malformed("no element".into()))?;
    if !tree.is(assertion, SAML_NS, "Assertion") {
        return Err(Rejection::Structure("the document element is not a saml:Assertion"));
    }
    let id = tree.attribute(assertion, "ID").ok_or(Rejection::Structure("the assertion has no ID"))?.to_owned();

    let mut census = Census::default();
    tree.count(doc.root(), &id, &mut census);
    if census.assertions != 1 {
        return Err(Rejection::Structure("the document holds more than one assertion"));
    }
    if census.signatures != 1 {
        return Err(Rejection::Structure("the document holds more than one signature"));
    }
    if census.id_holders != 1 {
        return Err(Rejection::Structure("the assertion's ID is not unique in the document"));
    }

    let children = tree.elements(assertion)?;
    let [issuer, signature_node, ..] = children[..] else {
        return Err(Rejection::Structure("the assertion lacks its Issuer and Signature"));
    };
    if !tree.is(issuer, SAML_NS, "Issuer") || !tree.is(signature_node, DSIG_NS, "Signature") {
        return Err(Rejection::Structure("the Signature must follow the Issuer"));
    }
    if let Some(idp_key) = idp_key {
        verify_signature(&tree, assertion, signature_node, &id, idp_key)?;
    }

    // Only now, from the verified element, by fixed paths (never from inside the Signature).
    let issuer = tree.single_text(issuer)?;
    let mut subject = None;
    let mut conditions = None;
    let mut attributes = Vec::new();
    for &child in &children[2..] {
        if tree.is(child, SAML_NS, "Subject") {
            subject = Some(child);
        } else if tree.is(child, SAML_NS, "Conditions") {
            conditions = Some(child);
        } else if tree.is(child, SAML_NS, "AttributeStatement") {
            for attribute in tree.elements(child)? {
                if tree.is(attribute, SAML_NS, "Attribute") {
                    let name = tree.attribute(attribute, "Name").unwrap_or_default().to_owned();
                    let values = tree
                        .elements(attribute)?
                        .into_iter()
                        .filter(|&v| tree.is(v, SAML_NS, "AttributeValue"))
                        .map(|v| tree.single_text(v))
                        .collect::<Result<_, _>>()?;
                    attributes.push((name, values));
                }
            }
        }
    }
    let subject = subject.ok_or(Rejection::Structure("the assertion has no Subject"))?;
    let conditions = conditions.ok_or(Rejection::Structure("the assertion has no Conditions"))?;

    let mut name_id = None;
    let mut holder_key = None;
    for child in tree.elements(subject)? {
        if tree.is(child, SAML_NS, "NameID") {
            if name_id.is_some() {
                return Err(Rejection::Structure("more than one NameID"));
            }
            name_id = Some(tree.single_text(child)?);
        } else if tree.is(child, SAML_NS, "SubjectConfirmation")
            && tree.attribute(child, "Method") == Some(HOLDER_OF_KEY)
        {
            if holder_key.is_some() {
                return Err(Rejection::Structure("more than one holder-of-key confirmation"));
            }
            holder_key = Some(holder_certificate_key(&tree, child)?);
        }
    }
    let subject = name_id.ok_or(Rejection::Structure("the Subject has no NameID"))?;

    let not_before = tree.attribute(conditions, "NotBefore").map(parse_instant).transpose()?;
    let not_on_or_after = tree
        .attribute(conditions, "NotOnOrAfter")
        .map(parse_instant)
        .transpose()?
        .ok_or(Rejection::Structure("the Conditions have no NotOnOrAfter"))?;
    let mut audiences = Vec::new();
    for restriction in tree.elements(conditions)? {
        if tree.is(restriction, SAML_NS, "AudienceRestriction") {
            for audience in tree.elements(restriction)? {
                if tree.is(audience, SAML_NS, "Audience") {
                    audiences.push(tree.single_text(audience)?);
                }
            }
        }
    }
    Ok(Assertion { id, issuer, subject, not_before, not_on_or_after, audiences, holder_key, attributes })
}

fn verify_signature(
    tree: &Tree<'_, '_>,
    assertion: NodeId,
    signature_node: NodeId,
    id: &str,
    idp_key: &[u8],
) -> Result<(), Rejection> {
    let parts = tree.elements(signature_node)?;
    let [signed_info, signature_value, ..] = parts[..] else {
        return Err(Rejection::Structure("the Signature lacks SignedInfo or SignatureValue"));
    };
    if !tree.is(signed_info, DSIG_NS, "SignedInfo") || !tree.is(signature_value, DSIG_NS, "SignatureValue") {
        return Err(Rejection::Structure("the Signature lacks SignedInfo or SignatureValue"));
    }
    let info = tree.elements(signed_info)?;
    let [c14n_method, signature_method, reference] = info[..] else {
        return Err(Rejection::Structure("SignedInfo must hold exactly one Reference"));
    };
    if !tree.is(c14n_method, DSIG_NS, "CanonicalizationMethod")
        || !tree.is(signature_method, DSIG_NS, "SignatureMethod")
        || !tree.is(reference, DSIG_NS, "Reference")
    {
        return Err(Rejection::Structure("SignedInfo is not CanonicalizationMethod, SignatureMethod, Reference"));
    }
    let info_prefixes = exclusive_c14n_prefixes(tree, c14n_method)?;
    let algorithm = tree.attribute(signature_method, "Algorithm").unwrap_or_default();
    let algorithm = signature_algorithm(algorithm).ok_or_else(|| Rejection::Algorithm(algorithm.to_owned()))?;

    if tree.attribute(reference, "URI") != Some(&format!("#{id}")) {
        return Err(Rejection::Structure("the Reference does not name the assertion"));
    }
    let reference_parts = tree.elements(reference)?;
    let [transforms, digest_method, digest_value] = reference_parts[..] else {
        return Err(Rejection::Structure("the Reference is not Transforms, DigestMethod, DigestValue"));
    };
    if !tree.is(transforms, DSIG_NS, "Transforms")
        || !tree.is(digest_method, DSIG_NS, "DigestMethod")
        || !tree.is(digest_value, DSIG_NS, "DigestValue")
    {
        return Err(Rejection::Structure("the Reference is not Transforms, DigestMethod, DigestValue"));
    }
    let steps = tree.elements(transforms)?;
    let [enveloped, c14n] = steps[..] else {
        return Err(Rejection::Structure("the transforms must be enveloped-signature then exclusive c14n"));
    };
    if tree.attribute(enveloped, "Algorithm") != Some(ENVELOPED) || !tree.elements(enveloped)?.is_empty() {
        return Err(Rejection::Structure("the transforms must be enveloped-signature then exclusive c14n"));
    }
    let reference_prefixes = exclusive_c14n_prefixes(tree, c14n)?;

    // The digest covers the assertion without its Signature and without comments.
    let doc = tree.0;
    let covered =
        NodeSet::tree_without_comments(assertion, doc).subtract(&NodeSet::tree_with_comments(signature_node, doc));
    let canonical = bergshamra_c14n::canonicalize_doc(doc, C14nMode::Exclusive, Some(&covered), &reference_prefixes)
        .map_err(|e| Rejection::Malformed(format!("canonicalisation: {e}")))?;
    let digest_uri = tree.attribute(digest_method, "Algorithm").unwrap_or_default();
    let computed = digest(digest_uri, &canonical).ok_or_else(|| Rejection::Algorithm(digest_uri.to_owned()))?;
    let claimed = decode_base64(&tree.single_text(digest_value)?)?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(computed.as_slice(), claimed.as_slice())) {
        return Err(Rejection::Digest);
    }

    let info_set = NodeSet::tree_without_comments(signed_info, doc);
    let canonical_info = bergshamra_c14n::canonicalize_doc(doc, C14nMode::Exclusive, Some(&info_set), &info_prefixes)
        .map_err(|e| Rejection::Malformed(format!("canonicalisation: {e}")))?;
    let value = decode_base64(&tree.single_text(signature_value)?)?;
    UnparsedPublicKey::new(algorithm, idp_key).verify(&canonical_info, &value).map_err(|_| Rejection::Signature)
}

/// Checks an exclusive-c14n method element and returns its InclusiveNamespaces prefixes.
fn exclusive_c14n_prefixes(tree: &Tree<'_, '_>, method: NodeId) -> Result<Vec<String>, Rejection> {
    let uri = tree.attribute(method, "Algorithm").unwrap_or_default();
    if uri != EXC_C14N {
        return Err(Rejection::Algorithm(uri.to_owned()));
    }
    let mut prefixes = Vec::new();
    for child in tree.elements(method)? {
        if !tree.is(child, EXC_C14N_NS, "InclusiveNamespaces") {
            return Err(Rejection::Structure("unexpected element in a canonicalisation method"));
        }
        let list = tree.attribute(child, "PrefixList").unwrap_or_default();
        prefixes.extend(list.split_ascii_whitespace().map(str::to_owned));
    }
    Ok(prefixes)
}

/// The holder's RSA key from `SubjectConfirmationData/KeyInfo/X509Data/X509Certificate`.
fn holder_certificate_key(tree: &Tree<'_, '_>, confirmation: NodeId) -> Result<Vec<u8>, Rejection> {
    let missing = Rejection::Structure("the holder-of-key confirmation carries no X509Certificate");
    let data = tree.child(confirmation, SAML_NS, "SubjectConfirmationData")?.ok_or(missing.clone())?;
    let key_info = tree.child(data, DSIG_NS, "KeyInfo")?.ok_or(missing.clone())?;
    let x509_data = tree.child(key_info, DSIG_NS, "X509Data")?.ok_or(missing.clone())?;
    let certificate = tree.child(x509_data, DSIG_NS, "X509Certificate")?.ok_or(missing)?;
    let der = decode_base64(&tree.single_text(certificate)?)?;
    crate::rsa_key_of_certificate(&der).map_err(Rejection::HolderKey)
}

fn parse_instant(text: &str) -> Result<OffsetDateTime, Rejection> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| Rejection::Malformed(format!("{text:?} is not an xs:dateTime")))
}

/// Base64 as XML-DSig writes it: line breaks and spaces allowed between characters.
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, Rejection> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact).map_err(|_| Rejection::Malformed("invalid base64".into()))
}

#[derive(Default)]
struct Census {
    assertions: usize,
    signatures: usize,
    /// Elements with an ID-like attribute equal to the assertion's ID.
    id_holders: usize,
}

/// Read-only helpers over the parsed document.
struct Tree<'d, 'a>(&'d Document<'a>);

impl Tree<'_, '_> {
    fn is(&self, node: NodeId, namespace: &str, local: &str) -> bool {
        self.0
            .element(node)
            .is_some_and(|e| e.name.local_name == local && e.name.namespace_uri.as_deref() == Some(namespace))
    }

    /// An attribute with no namespace (SAML and XML-DSig attributes are unqualified).
    fn attribute(&self, node: NodeId, local: &str) -> Option<&str> {
        self.0
            .element(node)?
            .attributes
            .iter()
            .find(|a| a.name.namespace_uri.is_none() && a.name.local_name == local)
            .map(|a| &*a.value)
    }

    /// The element children of `node`; whitespace between them is all else allowed.
    fn elements(&self, node: NodeId) -> Result<Vec<NodeId>, Rejection> {
        let mut out = Vec::new();
        for child in self.0.children_iter(node) {
            match self.0.node_kind(child) {
                Some(NodeKind::Element(_)) => out.push(child),
                Some(NodeKind::Text(t)) if t.trim().is_empty() => {}
                Some(NodeKind::Comment(_)) => {}
                _ => return Err(Rejection::Structure("text where only elements belong")),
            }
        }
        Ok(out)
    }

    fn child(&self, node: NodeId, namespace: &str, local: &str) -> Result<Option<NodeId>, Rejection> {
        Ok(self.elements(node)?.into_iter().find(|&c| self.is(c, namespace, local)))
    }

    /// The text of an element that holds exactly one text node and nothing else. A comment
    /// splitting it (`alice<!---->.evil`, CVE-2017-11427) is refused, never truncated.
    fn single_text(&self, node: NodeId) -> Result<String, Rejection> {
        let mut children = self.0.children_iter(node);
        match (children.next().and_then(|c| self.0.node_kind(c)), children.next()) {
            (Some(NodeKind::Text(text)), None) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
            _ => Err(Rejection::Structure("a value is not exactly one text node")),
        }
    }

    fn count(&self, node: NodeId, id: &str, census: &mut Census) {
        for child in self.0.children_iter(node) {
            if let Some(element) = self.0.element(child) {
                let namespace = element.name.namespace_uri.as_deref();
                let local = &*element.name.local_name;
                if namespace == Some(SAML_NS) && (local == "Assertion" || local == "EncryptedAssertion") {
                    census.assertions += 1;
                }
                if namespace == Some(DSIG_NS) && local == "Signature" {
                    census.signatures += 1;
                }
                let holds_id = element
                    .attributes
                    .iter()
                    .any(|a| matches!(&*a.name.local_name, "ID" | "Id" | "id" | "AssertionID") && a.value == id);
                census.id_holders += usize::from(holds_id);
                self.count(child, id, census);
            }
        }
    }
}
