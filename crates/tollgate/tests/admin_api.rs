//! The admin REST API (`/v1/admin`) and its API tokens, end to end: the real binary, its CLI
//! and HTTP.

mod support;

use support::Server;

/// Creates an API token with the CLI; returns its secret.
fn create_token(server: &Server, name: &str, role: &str, org: &str) -> String {
    let secret = server.cli_ok(&["token", "create", "--name", name, "--role", role, "--org", org], None);
    secret.trim().to_owned()
}

#[test]
fn api_tokens_are_shown_once_listed_without_their_secret_and_revoked() {
    let server = Server::start_default();
    let secret = create_token(&server, "ci", "Auditor", "System");
    assert!(secret.starts_with("tga_") && secret.len() == 47, "{secret}");
    assert_ne!(create_token(&server, "backup", "System Administrator", "System"), secret);

    let listing = server.cli_ok(&["token", "list"], None);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(
        lines[1].starts_with("backup ") && lines[2].starts_with("ci ") && lines[2].contains("Auditor"),
        "{listing}"
    );
    assert!(!listing.contains(&secret[4..]), "a listing never shows a secret");
    let store = std::fs::read(server.data_dir().join("tollgate.db")).unwrap();
    assert!(!store.windows(secret.len()).any(|w| w == secret.as_bytes()), "the store keeps only a digest");

    assert_eq!(server.cli_ok(&["token", "revoke", "ci"], None).trim(), "Revoked API token ci");
    assert!(server.cli_ok(&["token", "list"], None).lines().nth(2).is_some_and(|l| !l.trim_end().ends_with('-')));

    for (args, message) in [
        (&["token", "create", "--name", "CI", "--role", "Auditor"][..], "already exists"),
        (&["token", "create", "--name", "x", "--role", "Nope"][..], "role \"Nope\" does not exist"),
        (&["token", "create", "--name", "x", "--role", "Auditor", "--org", "nope"][..], "org \"nope\" does not exist"),
        (&["token", "create", "--name", " x", "--role", "Auditor"][..], "white space"),
        (&["token", "revoke", "nobody"][..], "API token \"nobody\" does not exist"),
    ] {
        let output = server.cli(args, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(message), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
