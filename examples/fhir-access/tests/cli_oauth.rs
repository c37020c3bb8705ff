//! `fhir-access client | user | launch`: the authorization server's clients, users and EHR
//! launch contexts in a data directory, with their usage errors.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use assert_cmd::Command;
use serde_json::{Value, json};

/// Runs `fhir-access ARGS --data-dir DIR` with `stdin`: exit code, stdout, stderr.
fn run(dir: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let output = Command::cargo_bin("fhir-access")
        .unwrap()
        .args(&args[..1])
        .arg("--data-dir")
        .arg(dir)
        .args(&args[1..])
        .write_stdin(stdin)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn users_are_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (code, out, err) = run(
        dir,
        &[
            "user",
            "add",
            "nurse-x",
            "--role",
            "nurse",
            "--attribute",
            "department=Organization/cardiology",
            "--attribute",
            "departmentPatients=[\"p1\",\"p2\"]",
            "--fhir-user",
            "Practitioner/nurse-x",
        ],
        "a long enough password\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "user `nurse-x` saved\n");
    let (code, out, _) = run(
        dir,
        &["user", "add", "pat", "--role", "patient", "--patient", "p1"],
        "password8\n",
    );
    assert_eq!(code, 0);
    assert_eq!(out, "user `pat` saved\n");
    let (code, out, _) = run(dir, &["user", "list"], "");
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!([
            {"name": "nurse-x", "fhirUser": "Practitioner/nurse-x", "roles": ["nurse"],
             "attributes": {"department": "Organization/cardiology", "departmentPatients": ["p1", "p2"]}},
            {"name": "pat", "patient": "p1", "roles": ["patient"], "attributes": {}}
        ])
    );
    assert!(!out.contains("argon2"), "{out}");
    let (code, out, _) = run(dir, &["user", "remove", "pat"], "");
    assert_eq!((code, out.as_str()), (0, "user `pat` removed\n"));
    let (code, _, err) = run(dir, &["user", "remove", "pat"], "");
    assert_eq!((code, err.as_str()), (1, "error: no user `pat`\n"));
    // Usage errors: exit 2 with the reason.
    let (code, _, err) = run(dir, &["user", "add", "short"], "1234567\n");
    assert_eq!(
        (code, err.as_str()),
        (2, "error: the password needs at least 8 characters\n")
    );
    let (code, _, err) = run(
        dir,
        &["user", "add", "x", "--attribute", "roles=admin"],
        "password8\n",
    );
    assert_eq!(
        (code, err.as_str()),
        (
            2,
            "error: --attribute `roles=admin`: the attribute name must be non-empty and not `roles` (use --role)\n"
        )
    );
}

#[test]
fn clients_are_added_listed_approved_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (code, out, err) = run(
        dir,
        &[
            "client",
            "add",
            "web",
            "--auth",
            "client_secret_post",
            "--redirect-uri",
            "https://app.example/cb",
            "--scope",
            "launch user/*.rs",
            "--name",
            "Web app",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let added: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(added["client_id"], "web");
    assert_eq!(added["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(added["client_secret"].as_str().unwrap().len(), 43);
    let (code, _, err) = run(
        dir,
        &[
            "client",
            "add",
            "svc",
            "--auth",
            "client_secret_basic",
            "--grant",
            "client_credentials",
            "--scope",
            "system/*.rs",
            "--secret-stdin",
        ],
        "a chosen secret of some length\n",
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(dir, &["client", "list"], "");
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!([
            {"id": "svc", "token_endpoint_auth_method": "client_secret_basic", "redirect_uris": [],
             "grant_types": ["client_credentials"], "scope": "system/*.rs",
             "access_token_lifetime": 3600, "refresh_token_lifetime": 7776000, "status": "active"},
            {"id": "web", "name": "Web app", "token_endpoint_auth_method": "client_secret_post",
             "redirect_uris": ["https://app.example/cb"], "grant_types": ["authorization_code", "refresh_token"],
             "scope": "launch user/*.rs", "access_token_lifetime": 3600,
             "refresh_token_lifetime": 7776000, "status": "active"}
        ])
    );
    let (code, _, err) = run(dir, &["client", "approve", "web"], "");
    assert_eq!(
        (code, err.as_str()),
        (1, "error: no pending client `web`\n")
    );
    let (code, out, _) = run(dir, &["client", "remove", "web"], "");
    assert_eq!((code, out.as_str()), (0, "client `web` removed\n"));
    let (code, _, err) = run(dir, &["client", "remove", "web"], "");
    assert_eq!((code, err.as_str()), (1, "error: no client `web`\n"));
    // Usage errors.
    for (args, message) in [
        (
            vec![
                "client",
                "add",
                "a",
                "--redirect-uri",
                "http://app.example/cb",
                "--scope",
                "user/*.rs",
            ],
            "error: --redirect-uri `http://app.example/cb`: expected https, http on a loopback address, or a private-use scheme\n",
        ),
        (
            vec!["client", "add", "a", "--scope", "user/*.rs"],
            "error: --redirect-uri: an `authorization_code` client needs at least one\n",
        ),
        (
            vec![
                "client",
                "add",
                "a",
                "--redirect-uri",
                "https://a.example/cb",
                "--scope",
                "user/Nope.rs",
            ],
            "error: the client: invalid scope: scope `user/Nope.rs` at byte 5: unknown resource type `Nope`\n",
        ),
        (
            vec![
                "client",
                "add",
                "a",
                "--auth",
                "private_key_jwt",
                "--grant",
                "client_credentials",
                "--scope",
                "system/*.rs",
            ],
            "error: the client: invalid client metadata: stored client: `private_key_jwt` needs one of `jwks`, `jwks_uri`\n",
        ),
        (
            vec![
                "client",
                "add",
                "a",
                "--redirect-uri",
                "https://a.example/cb",
                "--scope",
                "user/*.rs",
                "--secret-stdin",
            ],
            "error: --secret-stdin: only `client_secret_basic` and `client_secret_post` clients have a secret\n",
        ),
        (
            vec![
                "client",
                "add",
                "a",
                "--auth",
                "magic",
                "--redirect-uri",
                "https://a.example/cb",
                "--scope",
                "user/*.rs",
            ],
            "error: the client: invalid client metadata: stored client: unknown `token_endpoint_auth_method`\n",
        ),
    ] {
        let (code, _, err) = run(dir, &args, "");
        assert_eq!((code, err.as_str()), (2, message), "{args:?}");
    }
}

#[test]
fn launch_contexts_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(
        dir.path(),
        &["launch", "create", "--patient", "p1", "--encounter", "e1"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let launch: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(launch["launch"].as_str().unwrap().len(), 32);
    let (code, _, _) = run(dir.path(), &["launch", "create"], "");
    assert_eq!(code, 2);
}
