//! `fhir-access token`: mint with a local key, print its JWKS, verify against it.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::{Value, json};

fn key(name: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "smart-token",
        "tests",
        "keys",
        name,
    ]
    .iter()
    .collect();
    path.to_str().unwrap().to_owned()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("fhir-access")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn jwks_file(key_name: &str, dir: &std::path::Path) -> String {
    let (code, jwks, _) = run(&["token", "jwks", "--key", &key(key_name), "--kid", "k1"]);
    assert_eq!(code, 0);
    let path = dir.join(format!("{key_name}.jwks.json"));
    std::fs::write(&path, jwks).unwrap();
    path.to_str().unwrap().to_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fhir-access-cli-token-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mint(key_name: &str, extra: &[&str]) -> String {
    let key_path = key(key_name);
    let mut args = vec!["token", "mint", "--key", &key_path, "--kid", "k1"];
    args.extend_from_slice(&["--aud", "https://fhir.example.org/r4"]);
    args.extend_from_slice(extra);
    let (code, token, stderr) = run(&args);
    assert_eq!(code, 0, "{stderr}");
    token.trim().to_owned()
}

#[test]
fn mint_then_verify_prints_the_access_context() {
    let dir = temp_dir("roundtrip");
    for key_name in ["rsa-2048.pem", "ec-p256.pem", "ed25519.pem"] {
        let jwks = jwks_file(key_name, &dir);
        let token = mint(
            key_name,
            &[
                "--scope",
                "launch/patient patient/Observation.rs",
                "--patient",
                "123",
                "--sub",
                "alice",
            ],
        );
        let (code, out, _) = run(&[
            "token",
            "verify",
            "--jwks",
            &jwks,
            "--issuer",
            "https://auth.example.org",
            "--audience",
            "https://fhir.example.org/r4",
            &token,
        ]);
        assert_eq!(code, 0, "{key_name}: {out}");
        let context: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(context["subject"], "alice");
        assert_eq!(context["patient"], "123");
        assert_eq!(context["scopes"], "launch/patient patient/Observation.rs");
        assert_eq!(context["client_id"], "fhir-access-cli");
        assert_eq!(context["issuer"], "https://auth.example.org");
    }
}

#[test]
fn verify_reports_the_exact_error_and_exits_1() {
    let dir = temp_dir("errors");
    let jwks = jwks_file("rsa-2048.pem", &dir);
    let expired = mint("rsa-2048.pem", &["--exp", "-120"]);
    let (code, out, _) = run(&["token", "verify", "--jwks", &jwks, &expired]);
    assert_eq!(code, 1);
    let error: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(error["valid"], false);
    assert_eq!(error["error"], "expired");
    assert_eq!(error["oauth_error"], "invalid_token");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("token expired at ")
    );

    let token = mint("rsa-2048.pem", &[]);
    let (code, out, _) = run(&[
        "token",
        "verify",
        "--jwks",
        &jwks,
        "--audience",
        "https://other.example",
        &token,
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"valid": false, "error": "wrong_audience", "oauth_error": "invalid_token",
               "message": "the token's audience does not include this server"})
    );
    let (code, out, _) = run(&[
        "token",
        "verify",
        "--jwks",
        &jwks,
        "--issuer",
        "https://evil.example",
        &token,
    ]);
    assert_eq!(
        (
            code,
            serde_json::from_str::<Value>(&out).unwrap()["error"].clone()
        ),
        (1, json!("untrusted_issuer"))
    );

    // Signed by another key.
    let other = jwks_file("ec-p256.pem", &dir);
    let (code, out, _) = run(&["token", "verify", "--jwks", &other, &token]);
    assert_eq!(
        (
            code,
            serde_json::from_str::<Value>(&out).unwrap()["error"].clone()
        ),
        (1, json!("algorithm_not_allowed"))
    );

    let (code, out, _) = run(&["token", "verify", "--jwks", &jwks, "not-a-token"]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["message"],
        "malformed token: expected three segments separated by `.`"
    );
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, stderr) = run(&[
        "token",
        "verify",
        "--jwks",
        "/nonexistent/jwks.json",
        "a.b.c",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: --jwks /nonexistent/jwks.json"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&[
        "token",
        "mint",
        "--key",
        &key("rsa-2048.pem"),
        "--aud",
        "x",
        "--alg",
        "XS256",
    ]);
    assert_eq!(code, 2);
    assert_eq!(stderr.trim(), "error: --alg: unknown algorithm `XS256`");
    let (code, _, stderr) = run(&[
        "token",
        "mint",
        "--key",
        &key("rsa-2048.pem"),
        "--aud",
        "x",
        "--scope",
        "patient/Foo.rs",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: --scope: scope `patient/Foo.rs`"),
        "{stderr}"
    );
    let (code, _, _) = run(&["token", "verify", "a.b.c"]);
    assert_eq!(code, 2);
}
