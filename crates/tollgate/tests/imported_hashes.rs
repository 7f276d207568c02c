//! `tollgate user import` end to end: password hashes made by implementations independent of
//! Tollgate's (htpasswd's bcrypt, openssl's SHA-512-crypt, Python's hashlib for PBKDF2-SHA256
//! in the PHC, passlib and Django forms), imported one by one and from CSV and JSON-lines
//! files; each user logs in with the old password through the native API, the hash is
//! replaced with Argon2id (the audit log says so), and the password still works afterwards.

mod support;

use std::process::Command;

use support::{Server, http, native_login, tool};

const PASSWORD: &str = "Legacy pässword 1";

fn stdout_of(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// PBKDF2-SHA256 of [`PASSWORD`] by Python's hashlib, in `form`: "phc", "passlib" or "django".
fn python_pbkdf2(form: &str) -> String {
    let script = r#"
import base64, hashlib, os, sys
form, password = sys.argv[1], sys.argv[2].encode()
salt, rounds = os.urandom(16), 29000
b64 = lambda b: base64.b64encode(b).decode()
if form == "django":
    salt = base64.b64encode(os.urandom(12)).decode().replace("+", "x").replace("/", "y")
    print(f"pbkdf2_sha256${rounds}${salt}${b64(hashlib.pbkdf2_hmac('sha256', password, salt.encode(), rounds))}")
else:
    key = hashlib.pbkdf2_hmac("sha256", password, salt, rounds)
    if form == "phc":
        print(f"$pbkdf2-sha256$i={rounds},l=32${b64(salt).rstrip('=')}${b64(key).rstrip('=')}")
    else:  # passlib's adapted base64: '.' for '+', no padding
        ab64 = lambda b: b64(b).rstrip("=").replace("+", ".")
        print(f"$pbkdf2-sha256${rounds}${ab64(salt)}${ab64(key)}")
"#;
    stdout_of(Command::new("python3").args(["-c", script, form, PASSWORD]))
}

#[tokio::test]
async fn users_imported_with_foreign_hashes_log_in_and_are_rehashed_to_argon2id() {
    let (Some(htpasswd), Some(openssl)) = (tool("htpasswd"), tool("openssl")) else { return };
    let bcrypt = stdout_of(Command::new(htpasswd).args(["-nbB", "-C", "6", "x", PASSWORD]));
    let bcrypt = bcrypt.strip_prefix("x:").unwrap().to_owned();
    let sha512 = stdout_of(Command::new(openssl).args(["passwd", "-6", PASSWORD]));
    let (phc, passlib, django) = (python_pbkdf2("phc"), python_pbkdf2("passlib"), python_pbkdf2("django"));

    let server = Server::start_default();
    server.cli_ok(&["org", "add", "org1"], None);
    let out =
        server.cli_ok(&["user", "import", "bea", "--org", "org1", "--role", "vApp User", "--hash", &bcrypt], None);
    assert!(out.contains("Imported 1 user"), "{out}");

    let files = tempfile::tempdir().unwrap();
    let csv = files.path().join("users.csv");
    // A PHC string holds a comma (i=…,l=…): quoted, as any CSV writer does.
    let rows = format!("org1,sam,vApp User,{sha512}\norg1,pia,vApp User;Organization Administrator,\"{phc}\"\n");
    std::fs::write(&csv, format!("org,user,roles,hash\n{rows}")).unwrap();
    server.cli_ok(&["user", "import", "--file", csv.to_str().unwrap()], None);
    let jsonl = files.path().join("users.jsonl");
    let line =
        |user: &str, hash: &str| serde_json::json!({"org": "org1", "user": user, "roles": ["vApp User"], "hash": hash});
    std::fs::write(&jsonl, format!("{}\n{}\n", line("pat", &passlib), line("dan", &django))).unwrap();
    server.cli_ok(&["user", "import", "--file", jsonl.to_str().unwrap()], None);

    let client = http();
    for user in ["bea", "sam", "pia", "pat", "dan"] {
        let (status, _) = native_login(&client, &server.url, "org1", user, "wrong password").await;
        assert_eq!(status, 401, "{user}: a wrong password");
        let (status, body) = native_login(&client, &server.url, "org1", user, PASSWORD).await;
        assert_eq!(status, 201, "{user}: {body}");
        let (status, _) = native_login(&client, &server.url, "org1", user, PASSWORD).await;
        assert_eq!(status, 201, "{user}: the password works with the new hash too");
    }
    let log = server.log();
    for user in ["bea", "sam", "pia", "pat", "dan"] {
        let rehashed = log.lines().filter(|l| l.contains("password_rehashed") && l.contains(&format!("user={user}")));
        assert_eq!(rehashed.count(), 1, "{user} is rehashed once, at the first good login:\n{log}");
    }
}

#[tokio::test]
async fn a_file_with_any_bad_user_imports_nobody_and_says_which_lines() {
    let server = Server::start_default();
    server.cli_ok(&["org", "add", "org1"], None);
    let files = tempfile::tempdir().unwrap();
    let csv = files.path().join("users.csv");
    std::fs::write(
        &csv,
        "org,user,roles,hash\n\
         org1,good,vApp User,$2y$05$k.fXJQ1hiRjWxtoxze8SJu8EigiqmdmyBdcL4jQhrbmGRUeUedni6\n\
         org1,md5,vApp User,$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0\n\
         nowhere,lost,vApp User,$2y$05$k.fXJQ1hiRjWxtoxze8SJu8EigiqmdmyBdcL4jQhrbmGRUeUedni6\n\
         org1,cut,vApp User,$6$salt$short\n\
         org1,nobody,No Such Role,$2y$05$k.fXJQ1hiRjWxtoxze8SJu8EigiqmdmyBdcL4jQhrbmGRUeUedni6\n",
    )
    .unwrap();
    let output = server.cli(&["user", "import", "--file", csv.to_str().unwrap()], None);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nothing imported: 4 user(s) refused"), "{stderr}");
    assert!(stderr.contains("line 3: unknown password hash format"), "{stderr}");
    assert!(stderr.contains("line 4:") && stderr.contains("nowhere"), "{stderr}");
    assert!(stderr.contains("line 5: malformed SHA-512-crypt hash"), "{stderr}");
    assert!(stderr.contains("line 6: unknown role \"No Such Role\""), "{stderr}");
    let users = server.cli_ok(&["user", "list", "--org", "org1"], None);
    assert!(!users.contains("good"), "nobody was created: {users}");
    let txt = files.path().join("users.txt");
    std::fs::write(&txt, "").unwrap();
    let output = server.cli(&["user", "import", "--file", txt.to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&output.stderr).contains("*.csv"), "the format comes from the name");
}
