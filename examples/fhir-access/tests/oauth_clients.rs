//! The SMART authorization server of `fhir-access serve` against clients nobody here wrote,
//! each pinned in `tests/clients/` and installed into `target/` by the test itself (a venv
//! from `requirements.txt`):
//! - SMART's Python client `fhirclient`: a standalone launch with PKCE, the login and
//!   consent forms filled over HTTP by the test;
//! - SMART's JavaScript client `fhirclient` (npm, pinned) in a small SMART app page, in
//!   headless Debian chromium driven by playwright-core, through the real login and consent
//!   pages; the screenshot is saved as `target/smart-app-launch.png`;
//! - a SMART Backend Services client signing RS384 and ES384 client assertions with PyJWT.
//!
//! Needs python3 with venv and pip, node and npm, and `/usr/bin/chromium` (Debian's
//! `chromium`; `.ci/run` installs it when missing).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;

use common::clients::{clients_dir, node_modules};
use common::{Response, Server};
use serde_json::{Value, json};

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

/// Lucien Hahn, the demo user `lucien`'s patient.
const LUCIEN: &str = "717282e4-5d08-4cbd-afad-596051966367";
/// Catharine Morar, another patient.
const CATHARINE: &str = "c46bf540-aacf-46eb-9f6e-bf13c8ef7496";

/// The value of the input named `name` (the first one) in a page.
fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no `{name}` in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// Every value of the checkboxes named `name`.
fn checkbox_values(html: &str, name: &str) -> Vec<String> {
    html.match_indices("type=\"checkbox\"")
        .filter_map(|(at, _)| {
            let tag = &html[at..at + html[at..].find('>').unwrap()];
            let named = format!("name=\"{name}\" value=\"");
            let start = tag.find(&named)? + named.len();
            Some(tag[start..start + tag[start..].find('"').unwrap()].to_owned())
        })
        .collect()
}

/// A user at our login and consent pages, as a browser would be: the session cookie kept,
/// the hidden fields sent back. Returns where the server finally redirects.
fn log_in_and_approve(server: &Server, authorize: &str, user: &str, password: &str) -> String {
    let target = authorize
        .strip_prefix(&format!("http://{}", server.address))
        .unwrap_or_else(|| panic!("{authorize} is not on the server"));
    let login = server.get(target);
    assert_eq!(login.status, 200, "{}", login.text());
    let mut cookie = session_cookie(&login).expect("a session cookie");
    let html = login.text();
    assert!(html.contains("<form id=\"login\""), "{html}");
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("tx", &input_value(&html, "tx"))
        .append_pair("csrf", &input_value(&html, "csrf"))
        .append_pair("step", "login")
        .append_pair("username", user)
        .append_pair("password", password)
        .finish();
    let consent = post_form(server, &cookie, &body);
    assert_eq!(consent.status, 200, "{}", consent.text());
    // Logging in starts a new session (no session fixation).
    cookie = session_cookie(&consent).unwrap_or(cookie);
    let html = consent.text();
    assert!(html.contains("<form id=\"consent\""), "{html}");
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("tx", &input_value(&html, "tx"))
        .append_pair("csrf", &input_value(&html, "csrf"))
        .append_pair("step", "consent");
    for scope in checkbox_values(&html, "scope") {
        form.append_pair("scope", &scope);
    }
    form.append_pair("decision", "approve");
    let approved = post_form(server, &cookie, &form.finish());
    assert_eq!(approved.status, 303, "{}", approved.text());
    approved.header("location").unwrap().to_owned()
}

/// The session cookie a response sets, if it sets one.
fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers
        .iter()
        .filter(|(name, _)| name == "set-cookie")
        .map(|(_, value)| value.split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with("fhir_access_session="))
}

fn post_form(server: &Server, cookie: &str, body: &str) -> Response {
    server.send(
        "POST",
        "/authorize",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", cookie),
        ],
        body.as_bytes(),
    )
}

/// The demo user's password, from the credentials the server wrote on first start.
fn password(data: &Path, user: &str) -> String {
    let credentials: Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-credentials.json")).unwrap())
            .unwrap();
    credentials["users"][user].as_str().unwrap().to_owned()
}

#[test]
fn python_fhirclient_standalone_launch_reads_its_patient_and_no_other() {
    let server = Server::with(&[]);
    let data = server._dir.as_ref().unwrap().path();
    let redirect = "http://127.0.0.1:9/callback";
    cli(
        data,
        &[
            "client",
            "add",
            "py-app",
            "--auth",
            "none",
            "--redirect-uri",
            redirect,
            "--scope",
            "launch/patient openid fhirUser patient/*.rs",
        ],
    );
    let mut client = Command::new(python())
        .arg(clients_dir().join("standalone_launch.py"))
        .args([server.base.as_str(), "py-app", redirect, CATHARINE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let authorize = first["authorize"].as_str().unwrap();
    // The client found `/authorize` through the CapabilityStatement's oauth-uris, with PKCE.
    assert!(
        authorize.starts_with(&format!("http://{}/authorize?", server.address)),
        "{authorize}"
    );
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    let callback = log_in_and_approve(&server, authorize, "lucien", &password(data, "lucien"));
    assert!(
        callback.starts_with(&format!("{redirect}?code=")),
        "{callback}"
    );
    let mut stdin = client.stdin.take().unwrap();
    writeln!(stdin, "{callback}").unwrap();
    drop(stdin);
    let seen: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(client.wait().unwrap().success());
    assert_eq!(
        seen,
        json!({
            "ready": true,
            "patient_id": LUCIEN,
            "patient_name": "Mr. Lucien Hahn",
            "other_patient_status": 404,
        })
    );
}

#[test]
fn js_fhirclient_in_chromium_launches_through_the_real_pages_and_shows_the_patient() {
    node_modules();
    let server = Server::with(&[]);
    let data = server._dir.as_ref().unwrap().path();
    cli(
        data,
        &[
            "client",
            "add",
            "js-app",
            "--auth",
            "none",
            "--redirect-uri",
            "http://127.0.0.1/index.html",
            "--scope",
            "launch/patient openid fhirUser patient/*.rs",
            "--name",
            "Growth chart",
        ],
    );
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("smart-app-launch.png");
    let _ = std::fs::remove_file(&screenshot);
    let output = Command::new("node")
        .arg(clients_dir().join("browser_launch.mjs"))
        .args([
            server.base.as_str(),
            "lucien",
            &password(data, "lucien"),
            CATHARINE,
            screenshot.to_str().unwrap(),
        ])
        .output()
        .unwrap_or_else(|e| panic!("node: cannot run it ({e})"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    let app = seen["app"].as_str().unwrap().to_owned();
    seen.as_object_mut().unwrap().remove("app");
    assert_eq!(
        seen,
        json!({
            "name": "Lucien Hahn",
            "patient": LUCIEN,
            "other": "404",
            "error": "",
            "url": format!("{app}/index.html"),
            "offered": ["launch/patient", "openid", "fhirUser", "patient/*.rs"],
        })
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot");
}
