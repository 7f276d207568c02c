//! The `pam` source against the real PAM stack with real OS accounts, created by each test as
//! root under a name unique to the run and deleted whatever happens. Each test checks through
//! a PAM service file of its own holding exactly the stack Tollgate ships.

mod support;

use std::time::{Duration, Instant};

use support::{OsGroup, OsUser, PASSWORD, Service, run, running_as_root, unique};
use tollgate_source_pam::{PamConfig, PamError, PamSource, Refusal, SERVICE_FILE};

fn source(service: &Service, allowed: &[&str]) -> PamSource {
    let source = PamSource::new(PamConfig {
        service: service.0.clone(),
        allowed_users: allowed.iter().map(|u| u.to_string()).collect(),
        allowed_groups: Vec::new(),
        timeout_secs: 5,
        max_concurrent: 2,
        roles: Vec::new(),
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
async fn members_of_an_allowed_group_log_in_and_others_are_refused() {
    if !running_as_root() {
        return;
    }
    let (group, service) = (OsGroup::create(), Service::install(SERVICE_FILE));
    let (supplementary, primary, outsider) = (OsUser::create(), OsUser::create(), OsUser::create());
    run("usermod", &["-a", "-G", &group.0, &supplementary.0], None);
    run("usermod", &["-g", &group.0, &primary.0], None);
    // The account's own group is nobody's primary group now: userdel would leave it behind.
    run("groupdel", &[&primary.0], None);
    let source = PamSource::new(PamConfig {
        service: service.0.clone(),
        allowed_users: Vec::new(),
        allowed_groups: vec!["no-such-group-here".into(), group.0.clone()],
        timeout_secs: 5,
        max_concurrent: 2,
        roles: Vec::new(),
    })
    .unwrap();
    assert_eq!(source.authenticate(&supplementary.0, PASSWORD).await, Ok(()), "a supplementary group");
    assert_eq!(source.authenticate(&primary.0, PASSWORD).await, Ok(()), "the primary group");
    assert_eq!(source.authenticate(&outsider.0, PASSWORD).await, Err(PamError::Refused(Refusal::NotAllowed)));
    assert_eq!(source.authenticate(&unique("tgpam"), PASSWORD).await, Err(PamError::Refused(Refusal::NotAllowed)));
    assert_eq!(source.is_allowed(&outsider.0).await, Ok(false));
    // Membership is read at each login: out of the group, out of Tollgate.
    run("gpasswd", &["-d", &supplementary.0, &group.0], None);
    assert_eq!(source.authenticate(&supplementary.0, PASSWORD).await, Err(PamError::Refused(Refusal::NotAllowed)));
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
        allowed_groups: Vec::new(),
        timeout_secs: 1,
        max_concurrent: 1,
        roles: Vec::new(),
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

#[tokio::test]
async fn a_refusal_takes_as_long_as_a_good_check_whoever_is_named() {
    if !running_as_root() {
        return;
    }
    let (user, outsider, service) = (OsUser::create(), OsUser::create(), Service::install(SERVICE_FILE));
    let ghost = unique("tgpam");
    let source = source(&service, &[&user.0, &ghost]);
    let mut good = Vec::new();
    for _ in 0..8 {
        let started = Instant::now();
        assert_eq!(source.authenticate(&user.0, PASSWORD).await, Ok(()));
        good.push(started.elapsed());
    }
    good.sort();
    let typical = good[good.len() / 2];
    // Off the allow-list (PAM never asked) and no such account (pam_unix answers at once):
    // both held as long as a check that hashed.
    for (name, refusal) in [(&outsider.0, Refusal::NotAllowed), (&ghost, Refusal::UnknownUser)] {
        let started = Instant::now();
        assert_eq!(source.authenticate(name, PASSWORD).await, Err(PamError::Refused(refusal)));
        let took = started.elapsed();
        assert!(took * 10 >= typical * 7, "{refusal:?} took {took:?}, a good check {typical:?}");
    }
}
