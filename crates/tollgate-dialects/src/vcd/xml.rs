//! Cloud Director's XML documents. Every child element sits in its parent's default
//! namespace: pyvcloud cannot see un-namespaced `Link`s.

use std::fmt::Write;

use quick_xml::escape::escape;
use tollgate_core::Org;
use uuid::Uuid;

use super::ORG_TYPE;
use crate::settings::VcdVersion;

const NS_VCLOUD: &str = "http://www.vmware.com/vcloud/v1.5";
const NS_VERSIONS: &str = "http://www.vmware.com/vcloud/versions";
const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

pub fn error(major: u16, minor: &str, message: &str) -> String {
    format!(
        "{PROLOG}<Error xmlns=\"{NS_VCLOUD}\" majorErrorCode=\"{major}\" minorErrorCode=\"{}\" message=\"{}\"/>\n",
        escape(minor),
        escape(message)
    )
}

/// Versions from 36.0 on log in at `/cloudapi`; older ones at `/api/sessions`. Built with
/// `push_str` and the base escaped once: every client asks for this document first, and
/// `write!` per version made it the costliest answer on the API (scripts/bench.sh).
pub fn supported_versions(base: &str, versions: &[VcdVersion]) -> String {
    let base = escape(base);
    let mut out = String::with_capacity(256 + versions.len() * (160 + 2 * base.len()));
    out.push_str(PROLOG);
    out.push_str("<SupportedVersions xmlns=\"");
    out.push_str(NS_VERSIONS);
    out.push_str("\">\n");
    for VcdVersion { version, deprecated } in versions {
        let major: u32 = version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
        out.push_str(if *deprecated {
            "  <VersionInfo deprecated=\"true\"><Version>"
        } else {
            "  <VersionInfo deprecated=\"false\"><Version>"
        });
        out.push_str(&escape(version));
        out.push_str("</Version><LoginUrl>");
        out.push_str(&base);
        if major >= 36 {
            out.push_str("/cloudapi/1.0.0/sessions</LoginUrl><ProviderLoginUrl>");
            out.push_str(&base);
            out.push_str("/cloudapi/1.0.0/sessions/provider</ProviderLoginUrl>");
        } else {
            out.push_str("/api/sessions</LoginUrl>");
        }
        out.push_str("</VersionInfo>\n");
    }
    out.push_str("</SupportedVersions>\n");
    out
}

/// What a `Session` document says about the logged-in user.
pub struct SessionView<'a> {
    pub base: &'a str,
    pub user: &'a str,
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub org_name: &'a str,
    pub roles: &'a [String],
    pub site_id: Uuid,
    pub site_name: &'a str,
}

/// Appends each of `parts` in turn.
fn push_all(out: &mut String, parts: &[&str]) {
    for part in parts {
        out.push_str(part);
    }
}

/// The Session document every vcd request that checks its token may answer with; built with
/// `push_str` (not `write!`), which halves what rendering it costs (scripts/bench.sh).
pub fn session(view: &SessionView<'_>) -> String {
    let base = escape(view.base);
    let org_name = escape(view.org_name);
    let (mut org_buf, mut site_buf, mut user_buf) = ([0u8; 36], [0u8; 36], [0u8; 36]);
    let org_id = &*view.org_id.hyphenated().encode_lower(&mut org_buf);
    let site_id = &*view.site_id.hyphenated().encode_lower(&mut site_buf);
    let user_id = &*view.user_id.hyphenated().encode_lower(&mut user_buf);
    let mut out = String::with_capacity(1536 + 6 * base.len());
    push_all(
        &mut out,
        &[
            PROLOG,
            "<Session xmlns=\"",
            NS_VCLOUD,
            "\" user=\"",
            &escape(view.user),
            "\" org=\"",
            &org_name,
            "\" roles=\"",
        ],
    );
    for (i, role) in view.roles.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&escape(role.as_str()));
    }
    push_all(
        &mut out,
        &[
            "\" userId=\"urn:vcloud:user:",
            user_id,
            "\" locationId=\"",
            org_id,
            "@",
            site_id,
            "\" href=\"",
            &base,
            "/api/session\" type=\"application/vnd.vmware.vcloud.session+xml\">\n",
        ],
    );
    let mut link = |rel: &str, href: &[&str], ty: Option<&str>, name: Option<&str>| {
        push_all(&mut out, &["  <Link rel=\"", rel, "\" href=\"", &base]);
        push_all(&mut out, href);
        out.push('"');
        if let Some(name) = name {
            push_all(&mut out, &[" name=\"", &escape(name), "\""]);
        }
        if let Some(ty) = ty {
            push_all(&mut out, &[" type=\"", ty, "\""]);
        }
        out.push_str("/>\n");
    };
    // Exactly one link per (rel, type): pyvcloud refuses a session with two. Only links that
    // lead somewhere Tollgate answers.
    link("down", &["/api/org/"], Some("application/vnd.vmware.vcloud.orgList+xml"), None);
    link("remove", &["/api/session"], None, None);
    link("down", &["/api/org/", org_id], Some(ORG_TYPE), Some(view.org_name));
    link("down", &["/api/query"], Some("application/vnd.vmware.vcloud.query.queryList+xml"), None);
    if view.org_name.eq_ignore_ascii_case(tollgate_core::directory::SYSTEM_ORG) {
        link("down", &["/api/admin/"], Some("application/vnd.vmware.admin.vcloud+xml"), None);
        link("down", &["/api/admin/extension"], Some("application/vnd.vmware.admin.vmwExtension+xml"), None);
    }
    push_all(
        &mut out,
        &[
            "  <AuthorizedLocations><Location><LocationId>",
            org_id,
            "@",
            site_id,
            "</LocationId><SiteName>",
            &escape(view.site_name),
            "</SiteName><OrgName>",
            &org_name,
            "</OrgName><RestApiEndpoint>",
            &base,
            "</RestApiEndpoint><UIEndpoint>",
            &base,
            "</UIEndpoint><AuthContext>",
            &org_name,
            "</AuthContext></Location></AuthorizedLocations>\n</Session>\n",
        ],
    );
    out
}

pub fn org_list(base: &str, orgs: &[Org]) -> String {
    let base = escape(base);
    let mut out = format!(
        "{PROLOG}<OrgList xmlns=\"{NS_VCLOUD}\" href=\"{base}/api/org/\" type=\"application/vnd.vmware.vcloud.orgList+xml\">\n"
    );
    for org in orgs {
        let _ = writeln!(
            out,
            "  <Org href=\"{base}/api/org/{}\" name=\"{}\" type=\"{ORG_TYPE}\"/>",
            org.id,
            escape(&org.name)
        );
    }
    out.push_str("</OrgList>\n");
    out
}

pub fn org(base: &str, org: &Org) -> String {
    let base_esc = escape(base);
    let mut out = format!(
        "{PROLOG}<Org xmlns=\"{NS_VCLOUD}\" name=\"{}\" id=\"urn:vcloud:org:{}\" href=\"{base_esc}/api/org/{}\" type=\"{ORG_TYPE}\">\n",
        escape(&org.name),
        org.id,
        org.id
    );
    if !org.is_system() {
        // vcd-cli follows this to find the org's VDCs.
        let query = format!("{base}/api/query?type=vdc&filter=orgName=={}", percent_encode(&org.name));
        let _ = writeln!(
            out,
            "  <Link rel=\"down\" href=\"{}\" type=\"application/vnd.vmware.vcloud.query.records+xml\"/>",
            escape(&query)
        );
    }
    let _ = write!(out, "  <Description/>\n  <FullName>{}</FullName>\n</Org>\n", escape(&org.full_name));
    out
}

/// An empty page of query results: Tollgate keeps no VDCs, vApps or the like.
pub fn empty_query(base: &str, query_string: &str, kind: &str) -> String {
    let href = format!("{base}/api/query?{query_string}");
    format!(
        "{PROLOG}<QueryResultRecords xmlns=\"{NS_VCLOUD}\" total=\"0\" pageSize=\"25\" page=\"1\" name=\"{}\" href=\"{}\" \
         type=\"application/vnd.vmware.vcloud.query.records+xml\"/>\n",
        escape(kind),
        escape(&href)
    )
}

/// The queries `/api/query?type=…` answers (always with an empty page).
pub fn query_list(base: &str) -> String {
    let base = escape(base);
    let mut out = format!(
        "{PROLOG}<QueryList xmlns=\"{NS_VCLOUD}\" href=\"{base}/api/query\" type=\"application/vnd.vmware.vcloud.query.queryList+xml\">\n"
    );
    for kind in ["organization", "orgVdc", "vApp", "vm", "catalog", "media", "user"] {
        let _ = writeln!(
            out,
            "  <Link rel=\"down\" href=\"{base}/api/query?type={kind}&amp;format=records\" name=\"{kind}\" \
             type=\"application/vnd.vmware.vcloud.query.records+xml\"/>"
        );
    }
    out.push_str("</QueryList>\n");
    out
}

/// The provider's extension root, which the System Session document links to.
pub fn admin_extension(base: &str) -> String {
    format!(
        "{PROLOG}<VMWExtension xmlns=\"http://www.vmware.com/vcloud/extension/v1.5\" href=\"{}/api/admin/extension\" \
         type=\"application/vnd.vmware.admin.vmwExtension+xml\"/>\n",
        escape(base)
    )
}

pub fn admin(base: &str, product: &str) -> String {
    format!(
        "{PROLOG}<VCloud xmlns=\"{NS_VCLOUD}\" name=\"vCloud\" href=\"{}/api/admin/\" type=\"application/vnd.vmware.admin.vcloud+xml\">\n\
         \x20 <Description>{}</Description>\n</VCloud>\n",
        escape(base),
        escape(product)
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encodes_reserved_characters() {
        assert_eq!(percent_encode("org 1&x"), "org%201%26x");
        assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
    }

    #[test]
    fn error_escapes_its_message() {
        let xml = error(400, "BAD_REQUEST", "a \"quoted\" <thing>");
        assert!(xml.contains("message=\"a &quot;quoted&quot; &lt;thing&gt;\""), "{xml}");
    }
}
