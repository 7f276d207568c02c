//! schemathesis (scripts/setup-clients.sh installs it in the client venv) against the live
//! server and its own OpenAPI document: every operation of `/v1` and `/v1/admin`, with an
//! administrator's API token, every check. No 5xx, and every answer as the document says.

mod support;

use std::process::Command;

use support::{Options, Server, venv};

/// Examples per operation and phase, and the run's time budget: enough to walk every
/// operation's positive and negative cases while keeping the suite quick.
const MAX_EXAMPLES: &str = "25";
const MAX_SECONDS: &str = "150";

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_describe() {
    let Some(venv) = venv() else { return };
    let schemathesis = venv.join("bin/schemathesis");
    let required = std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1")
        || std::env::var_os("TOLLGATE_REQUIRE_CLIENTS").is_some_and(|v| v == "1");
    if !schemathesis.exists() {
        assert!(!required, "{} is missing: run scripts/setup-clients.sh", schemathesis.display());
        eprintln!("note: no schemathesis in the client venv; run scripts/setup-clients.sh");
        return;
    }
    // Throttles off: schemathesis sends thousands of requests from one address, many of them
    // with made-up tokens, and a 429 is no finding.
    let env = [
        ("TOLLGATE_THROTTLE__LOGIN_BURST", "0"),
        ("TOLLGATE_THROTTLE__UNKNOWN_TOKEN_BURST", "0"),
        ("TOLLGATE_THROTTLE__SESSIONS_PER_USER_BURST", "0"),
    ];
    let server = Server::start(Options {
        http: true,
        env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        ..Options::default()
    });
    server.cli_ok(&["org", "add", "org1"], None);
    server.add_user("org1", "alice", "vApp User", "Alice-Pw-1");
    let token = server.cli_ok(&["token", "create", "--name", "schemathesis", "--role", "System Administrator"], None);

    let output = Command::new(&schemathesis)
        .args(["run", &format!("{}/v1/openapi.json", server.url)])
        .args(["--header", &format!("Authorization: Bearer {}", token.trim())])
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES, "--max-time", MAX_SECONDS])
        // Not "every schema-valid request is accepted": some rules join fields in ways the
        // document cannot state (a local user needs a password, a directory's user does not;
        // audit kinds are names the server knows), and those refusals are documented 400s.
        .args(["--exclude-checks", "positive_data_acceptance"])
        .args(["--seed", "1", "--workers", "2", "--request-timeout", "10"])
        .env("NO_COLOR", "1")
        // Its example database goes in the current directory: the test's own.
        .current_dir(server.data.path())
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let summary: Vec<&str> = report.lines().skip_while(|l| !l.contains("SUMMARY")).collect();
    eprintln!("{}", summary.join("\n"));
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("Tested:"), "{report}");
}
