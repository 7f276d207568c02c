//! `tollgate serve --fixtures FILE.toml`: the declared orgs, users and states, applied again
//! to the same store without changing anything, and mistakes named with their line.

mod support;

use std::path::{Path, PathBuf};

use support::{Options, Server, http, native_login, serve_until_exit};

const FIXTURES: &str = r#"
[[orgs]]
name = "org1"
full_name = "Org One"

[[users]]
org = "org1"
name = "alice"
roles = ["Organization Administrator"]
password = "alice-pw-1"

[[users]]
org = "org1"
name = "bob"
roles = ["vApp User", "Catalog Author"]
password = "bob-pw-12"
disabled = true

[[users]]
org = "System"
name = "carol"
roles = ["System Administrator"]
password = "carol-pw-1"
locked = true

[[users]]
org = "org1"
name = "dave"
roles = ["vApp User"]
# openssl passwd -6 -salt fixturesalt dave-pw-1
password_hash = "$6$fixturesalt$gkRmFbcmkVCaJXsKZ6J6FW.wfpbHMOrc6MwgllBn518wPyZ87jWQGjHHKEjq9OvMOwqWHxHlp08ECrfOJLnIn/"
"#;

fn write_fixtures(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("fixtures.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn server_with(fixtures: &Path) -> Server {
    Server::start(Options {
        http: true,
        args: vec!["--fixtures".into(), fixtures.display().to_string()],
        ..Options::default()
    })
}

/// `user list` without the LAST LOGIN column.
fn users(server: &Server) -> Vec<String> {
    let listed = server.cli_ok(&["user", "list"], None);
    listed.lines().map(|line| line.rsplitn(2, "  ").last().unwrap().trim_end().to_owned()).collect()
}

#[tokio::test]
async fn declared_users_and_states_are_applied_and_applying_again_restores_them() {
    let files = tempfile::tempdir().unwrap();
    let fixtures = write_fixtures(files.path(), FIXTURES);
    let mut server = server_with(&fixtures);
    let first = users(&server);
    let row =
        |name: &str| first.iter().find(|l| l.split_whitespace().nth(1) == Some(name)).cloned().unwrap_or_default();
    assert!(row("alice").contains("Organization Administrator") && row("alice").contains("enabled"), "{first:#?}");
    assert!(
        row("bob").contains("Catalog Author, vApp User") || row("bob").contains("vApp User, Catalog Author"),
        "{first:#?}"
    );
    assert!(row("bob").contains("disabled"), "{first:#?}");
    assert!(row("carol").contains("locked"), "{first:#?}");
    assert!(server.cli_ok(&["org", "list"], None).contains("Org One"));

    // Drift away from the file, then start again with it: everything is as declared.
    server.cli_ok(&["user", "passwd", "alice", "--org", "org1", "--password-stdin"], Some("another-pw-1"));
    server.cli_ok(&["user", "enable", "bob", "--org", "org1"], None);
    server.cli_ok(&["user", "unlock", "carol", "--org", "System"], None);
    server.restart();
    assert_eq!(users(&server), first);
    // And once more, with nothing to change.
    server.restart();
    assert_eq!(users(&server), first);

    let client = http();
    let login = |org: &'static str, user: &'static str, password: &'static str| {
        let (client, url) = (client.clone(), server.url.clone());
        async move { native_login(&client, &url, org, user, password).await.0 }
    };
    assert_eq!(login("org1", "alice", "alice-pw-1").await, 201);
    assert_eq!(login("org1", "alice", "another-pw-1").await, 401);
    assert_eq!(login("org1", "bob", "bob-pw-12").await, 401);
    assert_eq!(login("System", "carol", "carol-pw-1").await, 401);
    // The imported hash logs dave in (and is replaced by Argon2id); the file puts it back.
    assert_eq!(login("org1", "dave", "dave-pw-1").await, 201);
    server.restart();
    assert_eq!(users(&server), first);
    assert_eq!(native_login(&http(), &server.url, "org1", "dave", "dave-pw-1").await.0, 201);
}

#[test]
fn mistakes_in_the_file_are_named_with_their_line() {
    let files = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let refusal = |text: &str| {
        let path = write_fixtures(files.path(), text);
        let output = serve_until_exit(
            data.path(),
            &["--http", "--listen", "127.0.0.1:0", "--fixtures", path.to_str().unwrap()],
            &[],
        );
        assert!(!output.status.success(), "{text}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let typo =
        refusal("[[users]]\norg = \"System\"\nname = \"dave\"\nrole = [\"vApp User\"]\npassword = \"dave-pw-1\"\n");
    assert!(
        typo.contains("fixtures.toml") && typo.contains("line 4") && typo.contains("unknown field `role`"),
        "{typo}"
    );
    let role = refusal(&FIXTURES.replace("\"Catalog Author\"", "\"Catalogue Author\""));
    assert!(
        role.contains("fixtures.toml:14: user \"bob\" of org \"org1\": unknown role \"Catalogue Author\""),
        "{role}"
    );
    let org =
        refusal("[[users]]\norg = \"nowhere\"\nname = \"dave\"\nroles = [\"vApp User\"]\npassword = \"dave-pw-1\"\n");
    assert!(org.contains("fixtures.toml:3: user \"dave\" of org \"nowhere\"") && org.contains("nowhere"), "{org}");
    let short =
        refusal("[[users]]\norg = \"System\"\nname = \"dave\"\nroles = [\"vApp User\"]\npassword = \"short\"\n");
    assert!(short.contains("fixtures.toml:3") && short.contains("too short"), "{short}");
    let output = serve_until_exit(data.path(), &["--http", "--fixtures", "/nonexistent/fixtures.toml"], &[]);
    let missing = String::from_utf8_lossy(&output.stderr);
    assert!(missing.contains("cannot read the fixtures /nonexistent/fixtures.toml"), "{missing}");
}
