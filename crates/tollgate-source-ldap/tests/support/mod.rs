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

    /// The `[sources.NAME]` table of a server's configuration file for this server over LDAPS,
    /// as the binary's tests use it: the service account finds people by uid, groups by
    /// memberOf; admins are Enterprise Administrators, users vApp Users; `alice@example.org`
    /// is alice.
    pub fn server_source_table(&self, name: &str) -> String {
        let settings = format!(
            r#"urls = ["{ldaps}"]
ca_file = "{ca}"
bind_dn = "{SERVICE_DN}"
bind_password = "{SERVICE_PW}"
base_dn = "ou=people,{BASE}"
user_filter = "(&(objectClass=inetOrgPerson)(uid={{user}}))"
domain = "example.org"
groups = "member_of"
[sources.{name}.group_roles]
"{ADMINS}" = ["Enterprise Administrator"]
"{USERS}" = ["vApp User"]
"#,
            ldaps = self.ldaps_url,
            ca = self.ca_file().display(),
        );
        ldap_source_table(name, &settings)
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

/// A listener that accepts connections and never answers (a hung directory); the count is of
/// the connections the client has closed since.
pub fn silent_listener() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ldap://{}", listener.local_addr().unwrap());
    let closed = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = closed.clone();
    std::thread::spawn(move || {
        // Bounded: enough for any test; the threads end with the process.
        for mut stream in listener.incoming().take(64).flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut sink = [0u8; 512];
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
                counter.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (url, closed)
}

/// A port nothing listens on.
pub fn closed_port_url() -> String {
    format!("ldap://127.0.0.1:{}", free_port())
}

/// The `[sources.NAME]` table of a server's configuration file for a directory nobody answers
/// for (a closed port), giving up on connecting after half a second.
pub fn unreachable_source_table(name: &str) -> String {
    let settings = format!("urls = [\"{}\"]\nbase_dn = \"{BASE}\"\nconnect_timeout_seconds = 0.5\n", closed_port_url());
    ldap_source_table(name, &settings)
}

/// The `[sources.NAME]` table of an `ldap` source with `settings` (TOML lines).
fn ldap_source_table(name: &str, settings: &str) -> String {
    format!("\n[sources.{name}]\nkind = \"ldap\"\n{settings}")
}

pub const AD_IP: &str = "127.0.0.2";
pub const AD_BASE: &str = "DC=tg,DC=test";
pub const AD_USERS: &str = "CN=Users,DC=tg,DC=test";
pub const AD_SERVICE_DN: &str = "CN=svc-search,CN=Users,DC=tg,DC=test";
pub const AD_SERVICE_PW: &str = "Look-up-4-Tests";
pub const AD_ALICE_PW: &str = "Wonder#Land42";
pub const AD_BOB_PW: &str = "Build3r&Fix";
pub const AD_CAROL_PW: &str = "Sing-Song-77";

/// A Samba Active Directory domain controller for the domain TG.TEST (NetBIOS `TG`),
/// provisioned in a temporary directory and serving only LDAP on 127.0.0.2 (389 with
/// StartTLS, 636), with its own CA: alice (in `inner`, which is in `outer`), bob (must change
/// his password: 773), carol (disabled: 533), and the service account `svc-search`. Its ports
/// are fixed, so one test at a time may start it.
pub struct SambaDc {
    pub dir: tempfile::TempDir,
    child: Child,
}

impl SambaDc {
    pub fn start() -> SambaDc {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let option = |setting: &str| format!("--option={setting}");
        run(
            Command::new(which("samba-tool").unwrap())
                .args(["domain", "provision", "-s", "/dev/null", "--realm=TG.TEST", "--domain=TG"])
                .args(["--server-role=dc", "--dns-backend=NONE", "--host-name=dc1"])
                .arg(format!("--targetdir={d}"))
                .arg(format!("--host-ip={AD_IP}"))
                .arg("--adminpass=Fixture-Adm1n!")
                .arg(option("netbios name = DC1"))
                .arg(option(&format!("interfaces = {AD_IP}/8")))
                .arg(option("bind interfaces only = yes"))
                .arg(option("server services = ldap"))
                .arg(option("ldb:nosync = true"))
                .arg(option(&format!("pid directory = {d}/run")))
                .arg(option(&format!("ncalrpc dir = {d}/run/ncalrpc")))
                .arg(option(&format!("winbindd socket directory = {d}/run/winbindd")))
                .arg(option(&format!("ntp signd socket directory = {d}/run/ntp_signd"))),
            None,
        );
        let tls = dir.path().join("private/tls");
        std::fs::create_dir_all(&tls).unwrap();
        write_certificates(&tls, AD_IP, &["dc1.tg.test"]);
        let mut child = Command::new(which("samba").unwrap())
            .args(["--foreground", "--no-process-group", "--debug-stdout", "-M", "single"])
            // Samba ends itself should this process die without stopping it.
            .arg("--maximum-runtime=600")
            .args(["-s", &format!("{d}/etc/smb.conf")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(SocketAddr::from(([127, 0, 0, 2], 636)), &mut child, Duration::from_secs(30));
        let samba = SambaDc { dir, child };
        samba.load_directory();
        samba
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("private/tls/ca.pem")
    }

    fn load_directory(&self) {
        let user = |name: &str, password: &str, control: u32| {
            format!(
                "dn: CN={name},{AD_USERS}\nchangetype: add\nobjectClass: user\nsAMAccountName: {name}\n\
                 userPrincipalName: {name}@tg.test\nunicodePwd:: {}\nuserAccountControl: {control}\n\n",
                unicode_password(password)
            )
        };
        let ldif = format!(
            // 66048: a normal account whose password never expires; 512: normal; 514: disabled.
            "{}{}{}\
             dn: CN=bob,{AD_USERS}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 0\n\n\
             {}\
             dn: CN=inner,{AD_USERS}\nchangetype: add\nobjectClass: group\nsAMAccountName: inner\nmember: CN=alice,{AD_USERS}\n\n\
             dn: CN=outer,{AD_USERS}\nchangetype: add\nobjectClass: group\nsAMAccountName: outer\nmember: CN=inner,{AD_USERS}\n",
            user("svc-search", AD_SERVICE_PW, 66048),
            user("alice", AD_ALICE_PW, 512),
            user("bob", AD_BOB_PW, 512),
            user("carol", AD_CAROL_PW, 514),
        );
        // LDAPS may lag the port by a moment while Samba loads its certificate.
        let started = Instant::now();
        loop {
            let status = Command::new(which("ldapsearch").unwrap())
                .args(["-x", "-H", &format!("ldaps://{AD_IP}"), "-b", "", "-s", "base", "1.1"])
                .env("LDAPTLS_CACERT", self.ca_file())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            if status.success() {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "Samba's LDAPS is not ready after 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        run(
            Command::new(which("ldapmodify").unwrap())
                .args(["-x", "-H", &format!("ldaps://{AD_IP}"), "-D", &format!("CN=Administrator,{AD_USERS}")])
                .args(["-w", "Fixture-Adm1n!"])
                .env("LDAPTLS_CACERT", self.ca_file()),
            Some(&ldif),
        );
    }

    /// A source configuration for this domain controller over `urls`: members of `outer`
    /// (alice, through `inner`) are System Administrators, of `inner` vApp Users.
    pub fn config(&self, urls: &[&str], groups: GroupLookup) -> LdapConfig {
        let toml = format!(
            r#"
            urls = {urls:?}
            starttls = true
            ca_file = {ca:?}
            bind_dn = "{AD_SERVICE_DN}"
            bind_password = "{AD_SERVICE_PW}"
            base_dn = "{AD_BASE}"
            user_filter = "(&(objectClass=user)(sAMAccountName={{user}}))"
            domain = "tg.test"
            [group_roles]
            "CN=outer,{AD_USERS}" = ["System Administrator"]
            "CN=inner,{AD_USERS}" = ["vApp User"]
            "#,
            ca = self.ca_file().display().to_string(),
        );
        let mut config: LdapConfig = toml::from_str(&toml).unwrap();
        config.groups = groups;
        config
    }
}

impl Drop for SambaDc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Active Directory's `unicodePwd`: the quoted password in UTF-16LE, base64 for LDIF.
fn unicode_password(password: &str) -> String {
    use base64::Engine;
    let quoted: Vec<u8> = format!("\"{password}\"").encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64::engine::general_purpose::STANDARD.encode(quoted)
}
