//! The SMART authorization server of `fhir-access serve` over real HTTP: discovery, the
//! authorization code flow through the login and consent forms, refresh rotation, client
//! credentials, the device flow, introspection, revocation, registration, and the OAuth
//! attack classes of the smart-token issue, end to end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::process::{Command, Stdio};

use common::{Response, Server};
use serde_json::{Value, json};

impl Server {
    fn data_dir(&self) -> &std::path::Path {
        self._dir.as_ref().unwrap().path()
    }

    /// `http://127.0.0.1:port`.
    fn origin(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Posts a form to an absolute path.
    fn form(&self, path: &str, pairs: &[(&str, &str)], headers: &[(&str, &str)]) -> Response {
        let body = form_body(pairs);
        let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.send("POST", path, &all, body.as_bytes())
    }

    /// Runs `fhir-access ARGS --data-dir <this server's>` with `stdin`; the output's stdout.
    fn cli(&self, args: &[&str], stdin: &str) -> (bool, String) {
        use std::io::Write as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_fhir-access"))
            .args(&args[..1])
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(&args[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.success(),
            String::from_utf8(output.stdout).unwrap(),
        )
    }
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (name, value) in pairs {
        if !body.is_empty() {
            body.push('&');
        }
        body.push_str(&encode(name));
        body.push('=');
        body.push_str(&encode(value));
    }
    body
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// A policy-mode server without the Synthea data (discovery and machine endpoints).
fn bare() -> Server {
    Server::with(&["--seed", "false"])
}

#[test]
fn discovery_names_the_real_endpoints() {
    let server = bare();
    let origin = server.origin();
    let response = server.get(".well-known/smart-configuration");
    assert_eq!(response.status, 200, "{}", response.text());
    let config = response.json();
    assert_eq!(config["issuer"], json!(server.base));
    assert_eq!(
        config["authorization_endpoint"],
        json!(format!("{origin}/authorize"))
    );
    assert_eq!(config["token_endpoint"], json!(format!("{origin}/token")));
    assert_eq!(config["jwks_uri"], json!(format!("{origin}/jwks")));
    assert_eq!(
        config["introspection_endpoint"],
        json!(format!("{origin}/introspect"))
    );
    assert_eq!(
        config["revocation_endpoint"],
        json!(format!("{origin}/revoke"))
    );
    assert_eq!(
        config["device_authorization_endpoint"],
        json!(format!("{origin}/device_authorization"))
    );
    assert_eq!(config.get("registration_endpoint"), None);
    assert_eq!(config["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(config["response_types_supported"], json!(["code"]));
    assert_eq!(
        config["grant_types_supported"],
        json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    assert_eq!(
        config["capabilities"],
        json!([
            "launch-ehr",
            "launch-standalone",
            "authorize-post",
            "client-public",
            "client-confidential-symmetric",
            "client-confidential-asymmetric",
            "sso-openid-connect",
            "context-banner",
            "context-ehr-patient",
            "context-ehr-encounter",
            "context-standalone-patient",
            "permission-offline",
            "permission-online",
            "permission-patient",
            "permission-user",
            "permission-v1",
            "permission-v2"
        ])
    );
    // The CapabilityStatement's `oauth-uris`: how fhirclient finds the endpoints.
    let metadata = server.get("metadata").json();
    let security = &metadata["rest"][0]["security"];
    assert_eq!(
        security["extension"][0],
        json!({
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [
                {"url": "authorize", "valueUri": format!("{origin}/authorize")},
                {"url": "token", "valueUri": format!("{origin}/token")},
                {"url": "introspect", "valueUri": format!("{origin}/introspect")},
                {"url": "revoke", "valueUri": format!("{origin}/revoke")}
            ]
        })
    );
    assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
    let jwks = server.get("/jwks").json();
    assert_eq!(jwks["keys"][0]["kid"], "fhir-access-1");
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    // Registration is off by default: no such endpoint.
    let response = server.send(
        "POST",
        "/register",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(response.status, 404);
}

#[test]
fn client_credentials_introspection_and_revocation() {
    let server = bare();
    let (ok, out) = server.cli(
        &[
            "client",
            "add",
            "backend",
            "--auth",
            "client_secret_basic",
            "--grant",
            "client_credentials",
            "--scope",
            "system/Patient.rs system/Observation.rs",
        ],
        "",
    );
    assert!(ok, "{out}");
    let secret = serde_json::from_str::<Value>(&out).unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = basic("backend", &secret);
    let response = server.form(
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "system/Patient.rs patient/*.rs"),
        ],
        &[("Authorization", &auth)],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let token = response.json();
    assert_eq!(token["scope"], "system/Patient.rs");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    assert_eq!(token.get("refresh_token"), None);
    let access = token["access_token"].as_str().unwrap();

    let introspection = server
        .form(
            "/introspect",
            &[("token", access)],
            &[("Authorization", &auth)],
        )
        .json();
    assert_eq!(introspection["active"], true);
    assert_eq!(introspection["client_id"], "backend");
    assert_eq!(introspection["scope"], "system/Patient.rs");
    assert_eq!(introspection["iss"], json!(server.base));
    // Introspection needs the client's credentials.
    let refused = server.form("/introspect", &[("token", access)], &[]);
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert_eq!(refused.json()["error"], "invalid_client");
    let wrong = basic("backend", "not-the-secret");
    let refused = server.form(
        "/introspect",
        &[("token", access)],
        &[("Authorization", &wrong)],
    );
    assert_eq!(refused.status, 401);

    // The FHIR endpoint accepts the token (what the policy then decides is its business).
    let bearer = format!("Bearer {access}");
    let response = server.send("GET", "Patient", &[("Authorization", &bearer)], b"");
    assert_ne!(response.status, 401, "{}", response.text());
    let response = server.form("/revoke", &[("token", access)], &[("Authorization", &auth)]);
    assert_eq!(response.status, 200, "{}", response.text());
    let introspection = server
        .form(
            "/introspect",
            &[("token", access)],
            &[("Authorization", &auth)],
        )
        .json();
    assert_eq!(introspection, json!({"active": false}));
    // The FHIR endpoint refuses the revoked token.
    let response = server.send(
        "GET",
        "Patient",
        &[("Authorization", &format!("Bearer {access}"))],
        b"",
    );
    assert_eq!(response.status, 401, "{}", response.text());
    // A wrong secret at the token endpoint.
    let response = server.form(
        "/token",
        &[("grant_type", "client_credentials")],
        &[("Authorization", &wrong)],
    );
    assert_eq!(response.status, 401);
    assert_eq!(response.json()["error"], "invalid_client");
    assert_eq!(
        response.header("www-authenticate"),
        Some("Basic realm=\"fhir-access\"")
    );
}
