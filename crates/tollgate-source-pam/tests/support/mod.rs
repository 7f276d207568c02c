//! OS accounts and PAM service files for the tests, made as root under names unique to the
//! run and removed on drop. Shared with the server's end-to-end tests (included by path).

#![allow(dead_code)] // each test binary uses its own part

use std::process::{Command, Stdio};
use std::time::Duration;

use tollgate_source_pam::PAM_DIR;

pub const PASSWORD: &str = "Os-acc0unt pw!";

pub fn unique(prefix: &str) -> String {
    let mut bytes = [0u8; 5];
    getrandom::fill(&mut bytes).unwrap();
    format!("{prefix}{}", hex::encode(bytes))
}

/// Only root can check other accounts' passwords. In CI that is a failure, not a skip.
pub fn running_as_root() -> bool {
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    if !root {
        let in_ci = std::env::var("CI").is_ok_and(|v| v != "false");
        assert!(!in_ci, "CI runs as root: the PAM tests cannot be skipped there");
        eprintln!("skipped: PAM tests need root (they create OS accounts)");
    }
    root
}

/// Runs a shadow-utils command, retrying while another test holds the /etc/passwd lock.
pub fn run(program: &str, args: &[&str], stdin: Option<&str>) {
    for _ in 0..50 {
        let mut child = Command::new(program)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        if let Some(input) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.contains("lock") {
            panic!("{program} {args:?}: {err}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{program} {args:?}: /etc/passwd stayed locked");
}

/// An OS account with [`PASSWORD`], deleted on drop.
pub struct OsUser(pub String);

impl OsUser {
    pub fn create() -> OsUser {
        let user = OsUser(unique("tgpam"));
        run("useradd", &["--no-create-home", "--shell", "/usr/sbin/nologin", &user.0], None);
        run("chpasswd", &[], Some(&format!("{}:{PASSWORD}\n", user.0)));
        user
    }
}

impl Drop for OsUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.0).stderr(Stdio::null()).status();
    }
}

/// An OS group, deleted on drop (after the accounts made in a test, which are dropped first
/// when declared after it).
pub struct OsGroup(pub String);

impl OsGroup {
    pub fn create() -> OsGroup {
        let group = OsGroup(unique("tgpamg"));
        run("groupadd", &[&group.0], None);
        group
    }
}

impl Drop for OsGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.0).stderr(Stdio::null()).status();
    }
}

/// `/etc/pam.d/<unique name>` holding `stack`, removed on drop.
pub struct Service(pub String);

impl Service {
    pub fn install(stack: &str) -> Service {
        let service = Service(unique("tollgate-test-"));
        std::fs::write(std::path::Path::new(PAM_DIR).join(&service.0), stack).unwrap();
        service
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(std::path::Path::new(PAM_DIR).join(&self.0));
    }
}
