//! The SMART authorization server of `fhir-access serve` against clients nobody here wrote,
//! each pinned in `tests/clients/` and installed into `target/` by the test itself (a venv
//! from `requirements.txt`):
//! - a SMART Backend Services client signing RS384 and ES384 client assertions with PyJWT.
//!
//! Needs python3 with venv and pip on PATH.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use common::Server;
use serde_json::{Value, json};

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The venv with the pinned Python clients, made once per test binary when missing.
fn python() -> PathBuf {
    static INSTALL: Once = Once::new();
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fhir-access-clients-venv");
    let python = venv.join("bin/python");
    INSTALL.call_once(|| {
        let installed = Command::new(&python)
            .args(["-c", "import jwt, cryptography, fhirclient"])
            .status()
            .is_ok_and(|status| status.success());
        if installed {
            return;
        }
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap_or_else(|e| panic!("python3 -m venv: cannot run it ({e})"));
        assert!(status.success(), "python3 -m venv failed");
        let status = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(clients_dir().join("requirements.txt"))
            .status()
            .unwrap_or_else(|e| panic!("pip: cannot run it ({e})"));
        assert!(status.success(), "pip install -r requirements.txt failed");
    });
    python
}

/// Runs a client script; its stdout, one JSON value a line.
fn run(script: &str, args: &[&str]) -> Vec<Value> {
    let output = Command::new(python())
        .arg(clients_dir().join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `fhir-access ARGS --data-dir DIR`; asserts success.
fn cli(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_fhir-access"))
        .args(&args[..1])
        .arg("--data-dir")
        .arg(dir)
        .args(&args[1..])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn backend_services_with_pyjwt_rs384_and_es384_assertions() {
    let server = Server::with(&[]);
    let data = server._dir.as_ref().unwrap().path();
    let keys = tempfile::tempdir().unwrap();
    let keys_dir = keys.path().to_str().unwrap();
    assert_eq!(
        run("backend_services.py", &["keys", keys_dir]),
        Vec::<Value>::new()
    );
    let jwks = keys.path().join("jwks.json");
    cli(
        data,
        &[
            "client",
            "add",
            "nightly-export",
            "--auth",
            "private_key_jwt",
            "--jwks",
            jwks.to_str().unwrap(),
            "--grant",
            "client_credentials",
            "--scope",
            "system/Patient.rs system/Observation.rs",
        ],
    );
    let token_url = format!("http://{}/token", server.address);
    for (pem, alg, kid) in [
        ("rs384.pem", "RS384", "rs384-1"),
        ("es384.pem", "ES384", "es384-1"),
    ] {
        let pem = keys.path().join(pem);
        let attempts = run(
            "backend_services.py",
            &[
                "token",
                &token_url,
                "nightly-export",
                pem.to_str().unwrap(),
                alg,
                kid,
                "system/Patient.rs",
            ],
        );
        let [fresh, replayed, over_long] = attempts.as_slice() else {
            panic!("three attempts: {attempts:?}");
        };
        assert_eq!(fresh["status"], 200, "{alg}: {fresh}");
        let body = &fresh["body"];
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "system/Patient.rs");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body.get("refresh_token"), None);
        // The FHIR endpoint accepts the token: the policy decides (the hospital policy has
        // no rule for system clients, so 403), where a bad token is a 401.
        let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());
        server
            .send(
                "GET",
                "Patient?_count=2",
                &[("Authorization", &bearer)],
                b"",
            )
            .assert_outcome(403, "forbidden", "forbidden");
        let tampered = format!("{bearer}x");
        let refused = server.send(
            "GET",
            "Patient?_count=2",
            &[("Authorization", &tampered)],
            b"",
        );
        assert_eq!(refused.status, 401, "{alg}: {}", refused.text());
        // The same assertion again: a replay.
        assert_eq!(
            (
                replayed["status"].clone(),
                replayed["body"]["error"].clone()
            ),
            (json!(401), json!("invalid_client")),
            "{alg}: {replayed}"
        );
        // An assertion valid for 10 minutes: longer than the 5 SMART allows.
        assert_eq!(
            (
                over_long["status"].clone(),
                over_long["body"]["error"].clone()
            ),
            (json!(401), json!("invalid_client")),
            "{alg}: {over_long}"
        );
    }
}
