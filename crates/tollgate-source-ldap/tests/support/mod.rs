//! Real directory servers for the tests, each in a temporary directory on loopback, stopped
//! when dropped: OpenLDAP `slapd` (a private cn=config, mdb, the memberof overlay, LDAPS and
//! StartTLS with a test CA) and a Samba AD domain controller. `scripts/setup-directory-servers.sh`
//! installs them; without them a test says so and passes, except in CI, where it fails.

#![allow(dead_code)] // each test binary uses its own part

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tollgate_source_ldap::{GroupLookup, LdapConfig};

pub const BASE: &str = "dc=example,dc=org";
pub const SERVICE_DN: &str = "cn=search,dc=example,dc=org";
pub const SERVICE_PW: &str = "svc-pw-1";
pub const ADMINS: &str = "cn=admins,ou=groups,dc=example,dc=org";
pub const USERS: &str = "cn=users,ou=groups,dc=example,dc=org";

/// Whether the programs `programs` are installed; when not, a test passes with a note,
/// except in CI.
pub fn installed(programs: &[&str]) -> bool {
    let missing: Vec<_> = programs.iter().filter(|p| which(p).is_none()).collect();
    if missing.is_empty() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(!ci, "{missing:?} missing in CI: scripts/setup-directory-servers.sh installs them");
    eprintln!("note: {missing:?} not installed (scripts/setup-directory-servers.sh); test skipped");
    false
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A test CA and a server certificate it signs for `ip` (and `names`), as PEM files in `dir`:
/// `ca.pem`, `cert.pem`, `key.pem`.
pub fn write_certificates(dir: &Path, ip: &str, names: &[&str]) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Tollgate test LDAP CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    sans.push(ip.to_owned());
    let mut leaf = CertificateParams::new(sans).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or(ip));
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    write_private(&dir.join("key.pem"), &key.serialize_pem());
}

fn write_private(path: &Path, contents: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).unwrap();
    file.write_all(contents.as_bytes()).unwrap();
}

fn run(command: &mut Command, input: Option<&str>) {
    let mut child = command
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Waits until something accepts connections on `addr`, or `child` dies.
fn wait_for_port(addr: SocketAddr, child: &mut Child, within: Duration) {
    let started = Instant::now();
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited with {status} before listening on {addr}");
        }
        assert!(started.elapsed() < within, "nothing listens on {addr} after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An OpenLDAP server: alice (in admins and users), bob (in users), carol (in no group),
/// all with password `NAME-pw-1`, and the service account `cn=search`.
pub struct Slapd {
    pub dir: tempfile::TempDir,
    pub ldap_url: String,
    pub ldaps_url: String,
    child: Child,
}

impl Slapd {
    pub fn start() -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("slapd.d")).unwrap();
        std::fs::create_dir_all(d.join("data")).unwrap();
        write_certificates(d, "127.0.0.1", &["localhost"]);
        let d = d.display();
        let config = format!(
            "dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/slapd.pid
olcTLSCACertificateFile: {d}/ca.pem
olcTLSCertificateFile: {d}/cert.pem
olcTLSCertificateKeyFile: {d}/key.pem

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE}
olcDbDirectory: {d}/data
olcDbMaxSize: 10485760
olcRootDN: cn=admin,{BASE}
olcRootPW: admin-pw-1
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{0}}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
"
        );
        run(Command::new(which("slapadd").unwrap()).args(["-n0", "-F", &format!("{d}/slapd.d")]), Some(&config));
        let (port, secure_port) = (free_port(), free_port());
        let ldap_url = format!("ldap://127.0.0.1:{port}");
        let ldaps_url = format!("ldaps://127.0.0.1:{secure_port}");
        let mut child = Command::new(which("slapd").unwrap())
            .args(["-d", "0", "-h", &format!("{ldap_url}/ {ldaps_url}/"), "-F", &format!("{d}/slapd.d")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), &mut child, Duration::from_secs(10));
        let slapd = Slapd { dir, ldap_url, ldaps_url, child };
        // Loaded online, so that the memberof overlay fills memberOf.
        let person = |name: &str, full: &str| {
            format!(
                "dn: uid={name},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {name}\ncn: {full}\nsn: {full}\nuserPassword: {name}-pw-1\n\n"
            )
        };
        let data = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
             dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n\
             dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: search\nuserPassword: {SERVICE_PW}\n\n\
             {}{}{}\
             dn: {ADMINS}\nobjectClass: groupOfNames\ncn: admins\nmember: uid=alice,ou=people,{BASE}\n\n\
             dn: {USERS}\nobjectClass: groupOfNames\ncn: users\nmember: uid=alice,ou=people,{BASE}\nmember: uid=bob,ou=people,{BASE}\n",
            person("alice", "Alice Anders"),
            person("bob", "Bob Brown"),
            person("carol", "Carol Cole"),
        );
        run(
            Command::new(which("ldapadd").unwrap()).args([
                "-x",
                "-H",
                &slapd.ldap_url,
                "-D",
                &format!("cn=admin,{BASE}"),
                "-w",
                "admin-pw-1",
            ]),
            Some(&data),
        );
        slapd
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A source configuration for this server over `url`: admins are System Administrators,
    /// users vApp Users.
    pub fn config(&self, urls: &[&str], groups: GroupLookup) -> LdapConfig {
        let toml = format!(
            r#"
            urls = {urls:?}
            starttls = true
            ca_file = {ca:?}
            bind_dn = "{SERVICE_DN}"
            bind_password = "{SERVICE_PW}"
            base_dn = "ou=people,{BASE}"
            user_filter = "(&(objectClass=inetOrgPerson)(uid={{user}}))"
            group_base_dn = "ou=groups,{BASE}"
            connect_timeout_seconds = 1.0
            operation_timeout_seconds = 1.0
            login_timeout_seconds = 4.0
            [group_roles]
            "{ADMINS}" = ["System Administrator"]
            "CN=Users, OU=Groups, DC=Example, DC=Org" = ["vApp User"]
            "#,
            ca = self.ca_file().display().to_string(),
        );
        let mut config: LdapConfig = toml::from_str(&toml).unwrap();
        config.groups = groups;
        config
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A listener that accepts connections and never answers: a hung directory.
pub fn silent_listener() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        // Bounded: enough for any test, and the thread ends with the process.
        for stream in listener.incoming().take(64).flatten() {
            held.push(stream);
        }
    });
    (url, handle)
}

/// A port nothing listens on.
pub fn closed_port_url() -> String {
    format!("ldap://127.0.0.1:{}", free_port())
}
