//! The `pam` source against the real PAM stack with real OS accounts, created by each test as
//! root under a name unique to the run and deleted whatever happens. Each test checks through
//! a PAM service file of its own holding exactly the stack Tollgate ships.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tollgate_source_pam::{PAM_DIR, PamConfig, PamError, PamSource, Refusal, SERVICE_FILE};

const PASSWORD: &str = "Os-acc0unt pw!";

fn unique(prefix: &str) -> String {
    let mut bytes = [0u8; 5];
    getrandom::fill(&mut bytes).unwrap();
    format!("{prefix}{}", hex::encode(bytes))
}

/// Only root can check other accounts' passwords. In CI that is a failure, not a skip.
fn running_as_root() -> bool {
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
fn run(program: &str, args: &[&str], stdin: Option<&str>) {
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
struct OsUser(String);

impl OsUser {
    fn create() -> OsUser {
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

/// `/etc/pam.d/<unique name>` holding `stack`, removed on drop.
struct Service(String);

impl Service {
    fn install(stack: &str) -> Service {
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

fn source(service: &Service, allowed: &[&str]) -> PamSource {
    let source = PamSource::new(PamConfig {
        service: service.0.clone(),
        allowed_users: allowed.iter().map(|u| u.to_string()).collect(),
        timeout_secs: 5,
        max_concurrent: 2,
    })
    .unwrap();
    assert!(source.service_installed());
    source
}

#[tokio::test]
async fn the_right_password_of_an_allowed_account_logs_in() {
    if !running_as_root() {
        return;
    }
    let (user, service) = (OsUser::create(), Service::install(SERVICE_FILE));
    let source = source(&service, &[&user.0]);
    assert_eq!(source.authenticate(&user.0, PASSWORD).await, Ok(()));
}

#[tokio::test]
async fn a_wrong_password_is_refused_at_once() {
    if !running_as_root() {
        return;
    }
    let (user, service) = (OsUser::create(), Service::install(SERVICE_FILE));
    let source = source(&service, &[&user.0]);
    let started = Instant::now();
    assert_eq!(source.authenticate(&user.0, "not the password").await, Err(PamError::Refused(Refusal::WrongPassword)));
    // `nodelay` in the shipped stack: no ~2 s pam_unix failure delay holding a thread.
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn an_expired_account_is_refused_by_account_management() {
    if !running_as_root() {
        return;
    }
    let (user, service) = (OsUser::create(), Service::install(SERVICE_FILE));
    run("chage", &["-E", "0", &user.0], None);
    let source = source(&service, &[&user.0]);
    assert_eq!(source.authenticate(&user.0, PASSWORD).await, Err(PamError::Refused(Refusal::AccountExpired)));
}

#[tokio::test]
async fn a_locked_account_is_refused_with_its_right_password() {
    if !running_as_root() {
        return;
    }
    let (user, service) = (OsUser::create(), Service::install(SERVICE_FILE));
    run("usermod", &["-L", &user.0], None);
    let source = source(&service, &[&user.0]);
    assert_eq!(source.authenticate(&user.0, PASSWORD).await, Err(PamError::Refused(Refusal::WrongPassword)));
}

#[tokio::test]
async fn an_account_off_the_allow_list_is_refused_with_its_right_password() {
    if !running_as_root() {
        return;
    }
    let (allowed, other, service) = (OsUser::create(), OsUser::create(), Service::install(SERVICE_FILE));
    let source = source(&service, &[&allowed.0]);
    assert_eq!(source.authenticate(&other.0, PASSWORD).await, Err(PamError::Refused(Refusal::NotAllowed)));
}

#[tokio::test]
async fn an_allowed_name_with_no_account_is_refused() {
    if !running_as_root() {
        return;
    }
    let service = Service::install(SERVICE_FILE);
    let ghost = unique("tgpam");
    let source = source(&service, &[&ghost]);
    assert_eq!(source.authenticate(&ghost, PASSWORD).await, Err(PamError::Refused(Refusal::UnknownUser)));
}

#[tokio::test]
async fn a_stack_that_hangs_is_an_outage_within_the_deadline_and_holds_its_slot() {
    if !running_as_root() {
        return;
    }
    let user = OsUser::create();
    // pam_exec runs `sleep 3` before pam_unix: a stack that answers too late.
    let service = Service::install(
        "auth required pam_exec.so quiet /usr/bin/sleep 3\nauth required pam_unix.so nodelay\naccount required pam_unix.so\n",
    );
    let source = PamSource::new(PamConfig {
        service: service.0.clone(),
        allowed_users: vec![user.0.clone()],
        timeout_secs: 1,
        max_concurrent: 1,
    })
    .unwrap();
    let started = Instant::now();
    let outcome = source.authenticate(&user.0, PASSWORD).await;
    assert!(matches!(outcome, Err(PamError::Unavailable(_))), "{outcome:?}");
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    // The hung conversation still holds the only slot: the next check waits and times out
    // too, instead of starting a second stuck thread.
    let started = Instant::now();
    assert!(matches!(source.authenticate(&user.0, PASSWORD).await, Err(PamError::Unavailable(_))));
    assert!(started.elapsed() >= Duration::from_millis(900));
}
