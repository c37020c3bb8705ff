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

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Response, Server};
use serde_json::{Value, json};

/// Lucien, a patient user, and his Patient id.
const A: &str = "717282e4-5d08-4cbd-afad-596051966367";
/// Catharine, another patient.
const B: &str = "c46bf540-aacf-46eb-9f6e-bf13c8ef7496";
/// The public demo app's redirect URI (registered as `http://127.0.0.1/callback`, any port).
const REDIRECT: &str = "http://127.0.0.1:5555/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

impl Server {
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
    // The id_token key, made on first start: RS256, OpenID Connect's default.
    assert_eq!(jwks["keys"][1]["kid"], "fhir-access-id-1");
    assert_eq!(jwks["keys"][1]["alg"], "RS256");
    assert_eq!(jwks["keys"][1]["kty"], "RSA");
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = std::fs::metadata(server.data_dir().join("id-token-key.pem")).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(
        config["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
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

/// The PKCE S256 challenge of a verifier.
fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// The decoded value of `<input ... name="NAME" value="...">` in a page.
fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(unescape(&html[start..end]))
}

/// Every value of the inputs named `name`, in page order.
fn input_values(html: &str, name: &str) -> Vec<String> {
    let marker = format!("name=\"{name}\" value=\"");
    html.match_indices(&marker)
        .map(|(i, _)| {
            let start = i + marker.len();
            let end = start + html[start..].find('"').unwrap();
            unescape(&html[start..end])
        })
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A query parameter of a URL.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded_pairs(query)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(n, v)| (decode(n), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A browser: keeps the session cookie the server sets.
struct Browser<'s> {
    server: &'s Server,
    cookie: Option<String>,
}

impl<'s> Browser<'s> {
    fn new(server: &'s Server) -> Browser<'s> {
        Browser {
            server,
            cookie: None,
        }
    }

    fn remember(&mut self, response: &Response) {
        if let Some(set) = response.header("set-cookie") {
            self.cookie = Some(set.split(';').next().unwrap().to_owned());
        }
    }

    fn get(&mut self, path: &str) -> Response {
        let mut headers = Vec::new();
        if let Some(cookie) = &self.cookie {
            headers.push(("Cookie", cookie.as_str()));
        }
        let response = self.server.send("GET", path, &headers, b"");
        self.remember(&response);
        response
    }

    fn post(&mut self, path: &str, pairs: &[(&str, &str)]) -> Response {
        let mut headers = Vec::new();
        if let Some(cookie) = &self.cookie {
            headers.push(("Cookie", cookie.as_str()));
        }
        let response = self.server.form(path, pairs, &headers);
        self.remember(&response);
        response
    }
}

/// A seeded policy-mode server and its demo credentials.
fn seeded() -> (Server, Value) {
    let server = Server::with(&[]);
    let credentials: Value = serde_json::from_slice(
        &std::fs::read(server.data_dir().join("demo-credentials.json")).unwrap(),
    )
    .unwrap();
    (server, credentials)
}

fn password(credentials: &Value, user: &str) -> String {
    credentials["users"][user].as_str().unwrap().to_owned()
}

/// The `/authorize` query of the public demo app.
fn authorize_path(server: &Server, client: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let challenge = challenge(VERIFIER);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st&ate 1"),
        ("aud", server.base.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    format!("/authorize?{}", form_body(&pairs))
}

/// Logs `user` in on a login page; returns the consent page.
fn log_in(browser: &mut Browser<'_>, page: &Response, user: &str, password: &str) -> Response {
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    assert!(html.contains("<form id=\"login\""), "{html}");
    let tx = input_value(&html, "tx").unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    browser.post(
        "/authorize",
        &[
            ("tx", &tx),
            ("csrf", &csrf),
            ("step", "login"),
            ("username", user),
            ("password", password),
        ],
    )
}

/// Approves a consent page with `scopes` ticked and an optional patient; the redirect.
fn approve(
    browser: &mut Browser<'_>,
    page: &Response,
    scopes: &[&str],
    patient: Option<&str>,
) -> String {
    let html = page.text();
    assert!(html.contains("<form id=\"consent\""), "{html}");
    let tx = input_value(&html, "tx").unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let mut pairs = vec![
        ("tx", tx.as_str()),
        ("csrf", csrf.as_str()),
        ("step", "consent"),
    ];
    for scope in scopes {
        pairs.push(("scope", scope));
    }
    if let Some(patient) = patient {
        pairs.push(("patient", patient));
    }
    pairs.push(("decision", "approve"));
    let response = browser.post("/authorize", &pairs);
    assert_eq!(response.status, 303, "{}", response.text());
    response.header("location").unwrap().to_owned()
}

/// Exchanges a code of the public demo app.
fn exchange(server: &Server, code: &str, client: &str) -> Response {
    server.form(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", client),
            ("code_verifier", VERIFIER),
        ],
        &[],
    )
}

/// The whole standalone flow for `user`, ticking every scope offered; the token response.
fn standalone(
    server: &Server,
    credentials: &Value,
    user: &str,
    scope: &str,
    patient: Option<&str>,
) -> Value {
    let mut browser = Browser::new(server);
    let page = browser.get(&authorize_path(server, "demo-app", scope, &[]));
    let consent = log_in(&mut browser, &page, user, &password(credentials, user));
    let offered = input_values(&consent.text(), "scope");
    let offered: Vec<&str> = offered.iter().map(String::as_str).collect();
    let location = approve(&mut browser, &consent, &offered, patient);
    let code = query_param(&location, "code").unwrap();
    let response = exchange(server, &code, "demo-app");
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

fn fhir(server: &Server, token: &str, path: &str) -> Response {
    server.send(
        "GET",
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    )
}

fn claims_of(jwt: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn standalone_launch_through_the_login_and_consent_forms() {
    let (server, credentials) = seeded();
    let mut browser = Browser::new(&server);
    let scope = "launch/patient openid fhirUser offline_access patient/*.rs";
    let page = browser.get(&authorize_path(&server, "demo-app", scope, &[]));
    assert_eq!(page.status, 200, "{}", page.text());
    // The page: accessible, phone-usable, unframeable, uncached; the cookie HttpOnly + Lax.
    let html = page.text();
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
        "{html}"
    );
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(html.contains("<label for=\"username\">User name</label>"));
    assert!(html.contains("<label for=\"password\">Password</label>"));
    assert!(html.contains("autofocus"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let cookie = page.header("set-cookie").unwrap();
    assert!(cookie.starts_with("fhir_access_session="), "{cookie}");
    assert!(cookie.contains("; HttpOnly; SameSite=Lax"), "{cookie}");
    let css = server.get("/auth.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    // A wrong password: the login page again, 401, the same words for an unknown user.
    let wrong = log_in(&mut browser, &page, "lucien", "not-his-password");
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("The user name or password is wrong."));
    let unknown = log_in(&mut browser, &page, "mallory", "whatever");
    assert_eq!(unknown.status, 401);
    assert!(
        unknown
            .text()
            .contains("The user name or password is wrong.")
    );

    let before = browser.cookie.clone();
    let consent = log_in(
        &mut browser,
        &page,
        "lucien",
        &password(&credentials, "lucien"),
    );
    assert_eq!(consent.status, 200, "{}", consent.text());
    // Logging in rotates the session.
    assert_ne!(browser.cookie, before);
    let html = consent.text();
    assert_eq!(
        input_values(&html, "scope"),
        [
            "launch/patient",
            "openid",
            "fhirUser",
            "offline_access",
            "patient/*.rs"
        ]
    );
    assert!(
        html.contains("Read and search all kinds of records of the patient in context"),
        "{html}"
    );
    assert!(
        html.contains("Keep access after you log out, until you revoke it"),
        "{html}"
    );
    // A patient user is their own patient: no picker.
    assert!(input_values(&html, "patient").is_empty());
    assert!(
        html.contains(&format!("Patient in context: <code>{A}</code>")),
        "{html}"
    );

    let location = approve(
        &mut browser,
        &consent,
        &[
            "launch/patient",
            "openid",
            "fhirUser",
            "offline_access",
            "patient/*.rs",
        ],
        None,
    );
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=")),
        "{location}"
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("st&ate 1"));
    let code = query_param(&location, "code").unwrap();
    let response = exchange(&server, &code, "demo-app");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let token = response.json();
    assert_eq!(token["patient"], A);
    assert_eq!(token["need_patient_banner"], true);
    assert_eq!(
        token["scope"],
        "launch/patient openid fhirUser offline_access patient/*.rs"
    );
    assert_eq!(token["token_type"], "Bearer");
    let id_token = claims_of(token["id_token"].as_str().unwrap());
    assert_eq!(id_token["sub"], "lucien");
    assert_eq!(id_token["aud"], "demo-app");
    assert_eq!(id_token["fhirUser"], format!("Patient/{A}"));
    let access = token["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(claims["roles"], json!(["patient"]));
    assert_eq!(claims["iss"], json!(server.base));

    // The FHIR endpoint: his record, not Catharine's (404 like a missing one).
    let own = fhir(&server, access, &format!("Patient/{A}"));
    assert_eq!(own.status, 200, "{}", own.text());
    assert_eq!(own.json()["id"], A);
    assert_eq!(fhir(&server, access, &format!("Patient/{B}")).status, 404);
    assert_eq!(
        fhir(
            &server,
            access,
            &format!("Observation?patient={A}&_summary=count")
        )
        .status,
        200
    );
}

#[test]
fn refresh_rotation_reuse_detection_and_a_restart() {
    let (server, credentials) = seeded();
    let token = standalone(
        &server,
        &credentials,
        "lucien",
        "launch/patient offline_access patient/*.rs",
        None,
    );
    let first = token["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |refresh_token: &str, scope: Option<&str>| {
        let mut pairs = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "demo-app"),
        ];
        if let Some(scope) = scope {
            pairs.push(("scope", scope));
        }
        server.form("/token", &pairs, &[])
    };
    // Scope escalation on refresh is refused (and does not spend the token).
    let escalation = refresh(&first, Some("patient/*.cruds"));
    assert_eq!(escalation.status, 400, "{}", escalation.text());
    assert_eq!(escalation.json()["error"], "invalid_scope");
    // Narrowing works; the public client's token rotates.
    let narrowed = refresh(&first, Some("patient/Observation.rs"));
    assert_eq!(narrowed.status, 200, "{}", narrowed.text());
    let narrowed = narrowed.json();
    assert_eq!(narrowed["scope"], "patient/Observation.rs");
    assert_eq!(narrowed["patient"], A);
    let second = narrowed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let narrowed_access = narrowed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        fhir(
            &server,
            &narrowed_access,
            &format!("Observation?patient={A}&_count=1")
        )
        .status,
        200
    );

    // Restart the server on the same data directory: the refresh token still works.
    let dir = server._dir.as_ref().unwrap().path().to_owned();
    let mut server = server;
    let kept = server._dir.take();
    drop(server);
    let server = Server::in_dir(&dir, &[]);
    let refresh = |refresh_token: &str| {
        server.form(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", "demo-app"),
            ],
            &[],
        )
    };
    let third = refresh(&second);
    assert_eq!(third.status, 200, "{}", third.text());
    let third = third.json();
    let third_access = third["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        fhir(&server, &third_access, &format!("Patient/{A}")).status,
        200
    );

    // Reusing a rotated token: the family is revoked, with its access tokens.
    let reuse = refresh(&first);
    assert_eq!(reuse.status, 400, "{}", reuse.text());
    assert_eq!(reuse.json()["error"], "invalid_grant");
    assert_eq!(
        reuse.json()["error_description"],
        "invalid grant: the refresh token was already used; its family is revoked"
    );
    let latest = refresh(third["refresh_token"].as_str().unwrap());
    assert_eq!(latest.json()["error"], "invalid_grant");
    assert_eq!(
        fhir(&server, &third_access, &format!("Patient/{A}")).status,
        401
    );
    drop(kept);
}

#[test]
fn clinicians_pick_the_patient_untick_scopes_and_ehr_launch() {
    let (server, credentials) = seeded();
    let mut browser = Browser::new(&server);
    let scope = "launch/patient openid fhirUser offline_access patient/*.rs";
    let page = browser.get(&authorize_path(&server, "demo-app", scope, &[]));
    let consent = log_in(
        &mut browser,
        &page,
        "dr-grey",
        &password(&credentials, "dr-grey"),
    );
    assert_eq!(consent.status, 200, "{}", consent.text());
    let html = consent.text();
    let mut offered = input_values(&html, "patient");
    offered.sort();
    let mut expected = vec![
        A.to_owned(),
        B.to_owned(),
        "6fb66073-3f3c-4741-82e5-ffb2fcc367a5".to_owned(),
        "85c63cf3-278e-454c-b5ba-df5889815eb7".to_owned(),
    ];
    expected.sort();
    assert_eq!(offered, expected);
    assert!(html.contains("<legend>Patient</legend>"), "{html}");
    // No patient chosen: the page again, with the reason.
    let tx = input_value(&html, "tx").unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let again = browser.post(
        "/authorize",
        &[
            ("tx", &tx),
            ("csrf", &csrf),
            ("step", "consent"),
            ("scope", "launch/patient"),
            ("scope", "patient/*.rs"),
            ("decision", "approve"),
        ],
    );
    assert_eq!(again.status, 400);
    assert!(again.text().contains("Choose a patient."));
    // A patient id that does not exist is no choice either.
    let made_up = browser.post(
        "/authorize",
        &[
            ("tx", &tx),
            ("csrf", &csrf),
            ("step", "consent"),
            ("scope", "launch/patient"),
            ("patient", "no-such-patient"),
            ("decision", "approve"),
        ],
    );
    assert_eq!(made_up.status, 400);
    // Unticked: offline_access and fhirUser. Granted: fewer scopes, no refresh token.
    let location = approve(
        &mut browser,
        &again,
        &["launch/patient", "openid", "patient/*.rs"],
        Some(B),
    );
    let code = query_param(&location, "code").unwrap();
    let token = exchange(&server, &code, "demo-app").json();
    assert_eq!(token["scope"], "launch/patient openid patient/*.rs");
    assert_eq!(token["patient"], B);
    assert_eq!(token.get("refresh_token"), None);
    let claims = claims_of(token["access_token"].as_str().unwrap());
    assert_eq!(claims["roles"], json!(["doctor"]));
    assert_eq!(claims["fhirUser"], "Practitioner/dr-grey");
    assert_eq!(claims["assignedPatients"], json!([A, B]));
    assert_eq!(
        fhir(
            &server,
            token["access_token"].as_str().unwrap(),
            &format!("Patient/{B}")
        )
        .status,
        200
    );

    // EHR launch: the launch context names the patient; no picker.
    let (ok, out) = server.cli(
        &[
            "launch",
            "create",
            "--patient",
            A,
            "--encounter",
            "enc-1",
            "--fhir-context",
            "ImagingStudy/is-1",
        ],
        "",
    );
    assert!(ok, "{out}");
    let launch = serde_json::from_str::<Value>(&out).unwrap()["launch"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = browser.get(&authorize_path(
        &server,
        "demo-app",
        "launch openid fhirUser patient/*.rs",
        &[("launch", &launch)],
    ));
    // Still logged in: straight to consent.
    let html = page.text();
    assert!(html.contains("<form id=\"consent\""), "{html}");
    assert!(input_values(&html, "patient").is_empty());
    assert!(
        html.contains(&format!("Patient in context: <code>{A}</code>")),
        "{html}"
    );
    let location = approve(
        &mut browser,
        &page,
        &["launch", "openid", "fhirUser", "patient/*.rs"],
        None,
    );
    let token = exchange(
        &server,
        &query_param(&location, "code").unwrap(),
        "demo-app",
    )
    .json();
    assert_eq!(token["patient"], A);
    assert_eq!(token["encounter"], "enc-1");
    assert_eq!(
        token["fhirContext"],
        json!([{"reference": "ImagingStudy/is-1"}])
    );
    assert_eq!(token["need_patient_banner"], false);
    // An unknown launch goes back to the app as an error.
    let response = browser.get(&authorize_path(
        &server,
        "demo-app",
        "launch patient/*.rs",
        &[("launch", "nope")],
    ));
    assert_eq!(response.status, 303);
    let location = response.header("location").unwrap();
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(location, "state").as_deref(), Some("st&ate 1"));
}

#[test]
fn the_admin_endpoint_creates_launch_contexts() {
    let (server, credentials) = seeded();
    let admin = standalone(&server, &credentials, "admin", "user/*.rs", None);
    let admin = admin["access_token"].as_str().unwrap();
    let response = server.form(
        "/launch",
        &[("patient", B)],
        &[("Authorization", &format!("Bearer {admin}"))],
    );
    assert_eq!(response.status, 201, "{}", response.text());
    let launch = response.json()["launch"].as_str().unwrap().to_owned();
    assert_eq!(launch.len(), 32);
    let lucien = standalone(&server, &credentials, "lucien", "patient/*.rs", None);
    let lucien = lucien["access_token"].as_str().unwrap();
    let refused = server.form(
        "/launch",
        &[("patient", B)],
        &[("Authorization", &format!("Bearer {lucien}"))],
    );
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["error"], "access_denied");
    assert_eq!(server.form("/launch", &[("patient", B)], &[]).status, 403);
    // A patient user cannot be launched into another patient's record.
    let mut browser = Browser::new(&server);
    let page = browser.get(&authorize_path(
        &server,
        "demo-app",
        "launch patient/*.rs",
        &[("launch", &launch)],
    ));
    let consent = log_in(
        &mut browser,
        &page,
        "lucien",
        &password(&credentials, "lucien"),
    );
    let html = consent.text();
    let tx = input_value(&html, "tx").unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let response = browser.post(
        "/authorize",
        &[
            ("tx", &tx),
            ("csrf", &csrf),
            ("step", "consent"),
            ("scope", "launch"),
            ("scope", "patient/*.rs"),
            ("decision", "approve"),
        ],
    );
    assert_eq!(response.status, 303);
    let location = response.header("location").unwrap();
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some("access_denied")
    );
}

#[test]
fn attack_classes_end_to_end() {
    let (server, credentials) = seeded();
    let scope = "launch/patient patient/*.rs";
    let lucien = password(&credentials, "lucien");

    // PKCE missing or `plain`: back to the app with invalid_request.
    for (name, extra) in [
        ("missing", vec![]),
        (
            "plain",
            vec![
                ("code_challenge", "abc"),
                ("code_challenge_method", "plain"),
            ],
        ),
    ] {
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", "demo-app"),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "s"),
            ("aud", server.base.as_str()),
        ];
        pairs.extend(extra);
        let response = server.get(&format!("/authorize?{}", form_body(&pairs)));
        assert_eq!(response.status, 303, "{name}: {}", response.text());
        let location = response.header("location").unwrap();
        assert!(
            location.starts_with(&format!("{REDIRECT}?error=invalid_request")),
            "{name}: {location}"
        );
        assert_eq!(query_param(location, "state").as_deref(), Some("s"));
    }
    // A wrong `aud`: back to the app too.
    let response = server.get(
        &authorize_path(&server, "demo-app", scope, &[])
            .replace(&encode(&server.base), &encode("https://other.example/fhir")),
    );
    assert_eq!(response.status, 303);
    assert_eq!(
        query_param(response.header("location").unwrap(), "error").as_deref(),
        Some("invalid_request")
    );

    // Redirect URI tricks and open redirects: an error page, never a redirect.
    for redirect in [
        "http://evil.example/callback",
        "http://127.0.0.1:5555/callback/",
        "http://127.0.0.1:5555/callback?next=http://evil.example",
        "http://127.0.0.1:5555/callback#frag",
        "http://localhost:5555/callback",
        "http://127.0.0.1.evil.example:5555/callback",
        "http://127.0.0.1:5555@evil.example/callback",
        "https://127.0.0.1:5555/callback",
        "",
    ] {
        let path = authorize_path(&server, "demo-app", scope, &[])
            .replace(&encode(REDIRECT), &encode(redirect));
        let response = server.get(&path);
        assert_eq!(response.status, 400, "{redirect}");
        assert_eq!(response.header("location"), None, "{redirect}");
        assert!(
            response.text().contains("is not one it registered"),
            "{redirect}"
        );
    }
    let path = authorize_path(&server, "no-such-app", scope, &[])
        .replace(&encode(REDIRECT), &encode("http://evil.example/"));
    let response = server.get(&path);
    assert_eq!(response.status, 400);
    assert_eq!(response.header("location"), None);
    // A parameter sent twice is refused outright.
    let response = server.get(&format!(
        "{}&client_id=demo-app",
        authorize_path(&server, "demo-app", scope, &[])
    ));
    assert_eq!(response.status, 400);
    assert_eq!(response.header("location"), None);

    // CSRF: the consent form without the session's token, or from another session.
    let mut victim = Browser::new(&server);
    let page = victim.get(&authorize_path(&server, "demo-app", scope, &[]));
    let consent = log_in(&mut victim, &page, "lucien", &lucien);
    let html = consent.text();
    let tx = input_value(&html, "tx").unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let forged = victim.post(
        "/authorize",
        &[
            ("tx", &tx),
            ("csrf", "forged"),
            ("step", "consent"),
            ("scope", "patient/*.rs"),
            ("decision", "approve"),
        ],
    );
    assert_eq!(forged.status, 400);
    assert_eq!(forged.header("location"), None);
    let missing = victim.post(
        "/authorize",
        &[("tx", &tx), ("step", "consent"), ("decision", "approve")],
    );
    assert_eq!(missing.status, 400);
    let mut attacker = Browser::new(&server);
    attacker.get(&authorize_path(&server, "demo-app", scope, &[]));
    let cross = attacker.post(
        "/authorize",
        &[
            ("tx", &tx),
            ("csrf", &csrf),
            ("step", "consent"),
            ("decision", "approve"),
        ],
    );
    assert_eq!(cross.status, 400);
    assert_eq!(cross.header("location"), None);
    // Without any cookie (a cross-site form post whose cookie was not sent).
    let bare = server.form(
        "/authorize",
        &[
            ("tx", &tx),
            ("csrf", &csrf),
            ("step", "consent"),
            ("decision", "approve"),
        ],
        &[],
    );
    assert_eq!(bare.status, 400);
    // The victim's own form still works, once.
    let location = approve(
        &mut victim,
        &consent,
        &["launch/patient", "patient/*.rs"],
        None,
    );
    let code = query_param(&location, "code").unwrap();
    let twice = victim.post(
        "/authorize",
        &[
            ("tx", &tx),
            ("csrf", &csrf),
            ("step", "consent"),
            ("decision", "approve"),
        ],
    );
    assert_eq!(twice.status, 400);

    // Cross-client code use: the confidential app cannot redeem the public app's code.
    let secret = credentials["clients"]["demo-confidential-app"]
        .as_str()
        .unwrap();
    let stolen = server.form(
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        &[("Authorization", &basic("demo-confidential-app", secret))],
    );
    assert_eq!(stolen.status, 400, "{}", stolen.text());
    assert_eq!(
        stolen.json()["error_description"],
        "invalid grant: the code was issued to another client"
    );

    // Code replay: the second use fails and revokes what the first issued.
    let mut browser = Browser::new(&server);
    let page = browser.get(&authorize_path(&server, "demo-app", scope, &[]));
    let consent = log_in(&mut browser, &page, "lucien", &lucien);
    let location = approve(
        &mut browser,
        &consent,
        &["launch/patient", "patient/*.rs"],
        None,
    );
    let code = query_param(&location, "code").unwrap();
    let first = exchange(&server, &code, "demo-app").json();
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(fhir(&server, access, &format!("Patient/{A}")).status, 200);
    let replay = exchange(&server, &code, "demo-app");
    assert_eq!(replay.status, 400);
    assert_eq!(
        replay.json()["error_description"],
        "invalid grant: the code was already used; the tokens it issued are revoked"
    );
    assert_eq!(fhir(&server, access, &format!("Patient/{A}")).status, 401);

    // PKCE mismatch: a wrong verifier spends the code; a different redirect URI too.
    for (name, verifier, redirect) in [
        ("wrong verifier", "x".repeat(43), REDIRECT),
        (
            "other redirect",
            VERIFIER.to_owned(),
            "http://127.0.0.1:6666/callback",
        ),
    ] {
        let page = browser.get(&authorize_path(&server, "demo-app", scope, &[]));
        let location = approve(
            &mut browser,
            &page,
            &["launch/patient", "patient/*.rs"],
            None,
        );
        let code = query_param(&location, "code").unwrap();
        let response = server.form(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect),
                ("client_id", "demo-app"),
                ("code_verifier", &verifier),
            ],
            &[],
        );
        assert_eq!(response.status, 400, "{name}");
        assert_eq!(response.json()["error"], "invalid_grant", "{name}");
        assert_eq!(
            exchange(&server, &code, "demo-app").json()["error"],
            "invalid_grant",
            "{name}"
        );
    }

    // Denying sends the app access_denied.
    let page = browser.get(&authorize_path(&server, "demo-app", scope, &[]));
    let html = page.text();
    let response = browser.post(
        "/authorize",
        &[
            ("tx", &input_value(&html, "tx").unwrap()),
            ("csrf", &input_value(&html, "csrf").unwrap()),
            ("step", "consent"),
            ("decision", "deny"),
        ],
    );
    assert_eq!(response.status, 303);
    let location = response.header("location").unwrap();
    assert!(
        location.starts_with(&format!("{REDIRECT}?error=access_denied")),
        "{location}"
    );

    // Revoking a refresh token (a public client, by client_id) ends its family.
    let token = standalone(
        &server,
        &credentials,
        "lucien",
        "offline_access patient/*.rs",
        None,
    );
    let refresh = token["refresh_token"].as_str().unwrap();
    let revoked = server.form(
        "/revoke",
        &[("token", refresh), ("client_id", "demo-app")],
        &[],
    );
    assert_eq!(revoked.status, 200);
    let response = server.form(
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "demo-app"),
        ],
        &[],
    );
    assert_eq!(response.json()["error"], "invalid_grant");
    // Unknown tokens revoke "successfully" (RFC 7009 2.2).
    assert_eq!(
        server
            .form(
                "/revoke",
                &[("token", "junk"), ("client_id", "demo-app")],
                &[]
            )
            .status,
        200
    );
}

/// An ES384 key pair for a backend client: the signing key and its public JWKS.
fn backend_key() -> (ring::signature::EcdsaKeyPair, Value) {
    use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    let rng = ring::rand::SystemRandom::new();
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der.as_ref(), &rng).unwrap();
    let point = key.public_key().as_ref();
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-384", "kid": "backend-1", "alg": "ES384", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
        "y": URL_SAFE_NO_PAD.encode(&point[49..97]),
    }]});
    (key, jwks)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A compact JWS of `header` and `claims` signed by `sign`.
fn jws(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[test]
fn backend_services_assertions_replay_lifetime_and_forgeries() {
    let server = bare();
    let (key, jwks) = backend_key();
    let jwks_file = server.data_dir().join("backend.jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let (ok, out) = server.cli(
        &[
            "client",
            "add",
            "backend",
            "--auth",
            "private_key_jwt",
            "--jwks",
            jwks_file.to_str().unwrap(),
            "--grant",
            "client_credentials",
            "--scope",
            "system/Patient.rs system/Observation.rs",
            "--role",
            "analytics-service",
        ],
        "",
    );
    assert!(ok, "{out}");
    let rng = ring::rand::SystemRandom::new();
    let es384 = |input: &[u8]| key.sign(&rng, input).unwrap().as_ref().to_vec();
    let token_endpoint = format!("{}/token", server.origin());
    let claims = |jti: &str, lifetime: i64| json!({"iss": "backend", "sub": "backend", "aud": token_endpoint, "exp": now() + lifetime, "jti": jti});
    let header = json!({"alg": "ES384", "kid": "backend-1", "typ": "JWT"});
    let ask = |assertion: &str| {
        server.form(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/Observation.rs"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion),
            ],
            &[],
        )
    };
    let assertion = jws(&header, &claims("a-1", 240), es384);
    let response = ask(&assertion);
    assert_eq!(response.status, 200, "{}", response.text());
    let token = response.json();
    assert_eq!(token["scope"], "system/Observation.rs");
    let access = token["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["client_id"], "backend");
    assert_eq!(claims_of(access)["roles"], json!(["analytics-service"]));
    // The hospital policy's analytics role reads Observations (none stored here).
    let search = fhir(&server, access, "Observation?_count=1");
    assert_eq!(search.status, 200, "{}", search.text());
    assert_eq!(search.json()["resourceType"], "Bundle");

    let refused = |response: Response, description: &str| {
        assert_eq!(response.status, 401, "{}", response.text());
        assert_eq!(
            response.json(),
            json!({"error": "invalid_client", "error_description": description})
        );
    };
    // Replayed.
    refused(
        ask(&assertion),
        "client assertion rejected: `jti` was already used",
    );
    // Over-long: more than five minutes.
    refused(
        ask(&jws(&header, &claims("a-2", 3600), es384)),
        "client assertion rejected: `exp` is more than five minutes ahead",
    );
    // Expired.
    refused(
        ask(&jws(&header, &claims("a-3", -600), es384)),
        "client assertion rejected: the assertion expired",
    );
    // For another audience.
    let mut other = claims("a-4", 240);
    other["aud"] = json!("https://other.example/token");
    refused(
        ask(&jws(&header, &other, es384)),
        "client assertion rejected: `aud` must be the token endpoint",
    );
    // alg none.
    refused(
        ask(&jws(&json!({"alg": "none"}), &claims("a-5", 240), |_| {
            Vec::new()
        })),
        "unsigned tokens (`alg` `none`) are never accepted",
    );
    // HS256 keyed with the client's public key (key confusion).
    let public = jwks.to_string();
    let hmac = |input: &[u8]| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public.as_bytes());
        ring::hmac::sign(&key, input).as_ref().to_vec()
    };
    refused(
        ask(&jws(
            &json!({"alg": "HS256", "kid": "backend-1"}),
            &claims("a-6", 240),
            hmac,
        )),
        "client assertion rejected: the algorithm must be RS384 or ES384",
    );
    // Another key's signature.
    let (stranger, _) = backend_key();
    let forged = |input: &[u8]| stranger.sign(&rng, input).unwrap().as_ref().to_vec();
    refused(
        ask(&jws(&header, &claims("a-7", 240), forged)),
        "client authentication failed",
    );
    // A `jku` header pointing elsewhere.
    refused(
        ask(&jws(
            &json!({"alg": "ES384", "kid": "backend-1", "jku": "https://evil.example/jwks"}),
            &claims("a-8", 240),
            es384,
        )),
        "header `jku` is not accepted: keys come only from the issuer's configured key set",
    );
    // Garbage.
    refused(
        ask("not.a.jwt"),
        "malformed token: header is not canonical base64url",
    );
}

#[test]
fn device_flow_with_the_user_code_page() {
    let (server, credentials) = seeded();
    let response = server.form(
        "/device_authorization",
        &[
            ("client_id", "demo-device"),
            ("scope", "launch/patient offline_access patient/*.rs"),
        ],
        &[],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let device = response.json();
    let user_code = device["user_code"].as_str().unwrap().to_owned();
    let device_code = device["device_code"].as_str().unwrap().to_owned();
    assert_eq!(
        device["verification_uri"],
        json!(format!("{}/device", server.origin()))
    );
    assert_eq!(device["interval"], 5);
    assert_eq!(user_code.len(), 9);
    let poll = || {
        server.form(
            "/token",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &device_code),
                ("client_id", "demo-device"),
            ],
            &[],
        )
    };
    assert_eq!(poll().json()["error"], "authorization_pending");
    assert_eq!(poll().json()["error"], "slow_down");

    let mut browser = Browser::new(&server);
    let entry = browser.get("/device");
    assert_eq!(entry.status, 200);
    assert!(entry.text().contains("<form id=\"code\""));
    let unknown = browser.get("/device?user_code=BBBB-BBBB");
    assert_eq!(unknown.status, 400);
    assert!(
        unknown
            .text()
            .contains("This code is unknown or has expired.")
    );
    // Typed in lower case with a space: still the code.
    let typed = user_code.to_lowercase().replace('-', " ");
    let login = browser.get(&format!("/device?user_code={}", encode(&typed)));
    assert_eq!(login.status, 200, "{}", login.text());
    let html = login.text();
    assert!(html.contains("<form id=\"login\""), "{html}");
    let csrf = input_value(&html, "csrf").unwrap();
    let lucien = password(&credentials, "lucien");
    let consent = browser.post(
        "/device",
        &[
            ("csrf", &csrf),
            ("step", "login"),
            ("user_code", &typed),
            ("username", "lucien"),
            ("password", &lucien),
        ],
    );
    assert_eq!(consent.status, 200, "{}", consent.text());
    let html = consent.text();
    assert!(html.contains("<form id=\"device\""), "{html}");
    assert_eq!(
        input_values(&html, "scope"),
        ["launch/patient", "offline_access", "patient/*.rs"]
    );
    // A forged CSRF token decides nothing.
    let forged = browser.post(
        "/device",
        &[
            ("csrf", "forged"),
            ("step", "consent"),
            ("user_code", &typed),
            ("scope", "patient/*.rs"),
            ("decision", "approve"),
        ],
    );
    assert_eq!(forged.status, 400);
    assert_eq!(poll().json()["error"], "slow_down");
    let csrf = input_value(&html, "csrf").unwrap();
    let done = browser.post(
        "/device",
        &[
            ("csrf", &csrf),
            ("step", "consent"),
            ("user_code", &typed),
            ("scope", "launch/patient"),
            ("scope", "patient/*.rs"),
            ("decision", "approve"),
        ],
    );
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(done.text().contains("Device connected"));
    // The interval grew to 15 s with the two fast polls.
    std::thread::sleep(std::time::Duration::from_secs(15));
    let token = poll();
    assert_eq!(token.status, 200, "{}", token.text());
    let token = token.json();
    assert_eq!(token["scope"], "launch/patient patient/*.rs");
    assert_eq!(token["patient"], A);
    assert_eq!(token.get("refresh_token"), None);
    let access = token["access_token"].as_str().unwrap();
    assert_eq!(fhir(&server, access, &format!("Patient/{A}")).status, 200);
    // Once only.
    assert_eq!(poll().json()["error"], "invalid_grant");
}

#[test]
fn dynamic_registration_waits_for_approval() {
    let server = Server::with(&["--seed", "false", "--registration", "true"]);
    let origin = server.origin();
    let config = server.get(".well-known/smart-configuration").json();
    assert_eq!(
        config["registration_endpoint"],
        json!(format!("{origin}/register"))
    );
    let metadata = json!({
        "client_name": "Registered app",
        "redirect_uris": ["http://127.0.0.1/cb"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "launch/patient patient/*.rs offline_access"
    });
    let response = server.send(
        "POST",
        "/register",
        &[("Content-Type", "application/json")],
        metadata.to_string().as_bytes(),
    );
    assert_eq!(response.status, 201, "{}", response.text());
    let registered = response.json();
    let id = registered["client_id"].as_str().unwrap().to_owned();
    assert_eq!(registered["token_endpoint_auth_method"], "none");
    assert_eq!(registered["client_name"], "Registered app");
    assert_eq!(registered.get("client_secret"), None);
    let authorize = |client: &str| {
        let challenge = challenge(VERIFIER);
        server.get(&format!(
            "/authorize?{}",
            form_body(&[
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", "http://127.0.0.1:4444/cb"),
                ("scope", "patient/*.rs"),
                ("aud", &server.base),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
        ))
    };
    // Pending: it does not exist yet.
    let pending = authorize(&id);
    assert_eq!(pending.status, 400);
    assert!(pending.text().contains("This app is not registered here"));
    let (ok, listed) = server.cli(&["client", "list"], "");
    assert!(ok);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["status"], "pending");
    assert_eq!(listed[0].get("secret_hash"), None);
    let (ok, out) = server.cli(&["client", "approve", &id], "");
    assert!(ok, "{out}");
    let approved = authorize(&id);
    assert_eq!(approved.status, 200, "{}", approved.text());
    assert!(approved.text().contains("<strong>Registered app ("));

    // A confidential registration gets its secret once; bad metadata is refused.
    let confidential = json!({"redirect_uris": ["https://app.example/cb"], "scope": "user/*.rs"});
    let response = server.send(
        "POST",
        "/register",
        &[("Content-Type", "application/json")],
        confidential.to_string().as_bytes(),
    );
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(
        response.json()["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(response.json()["client_secret"].as_str().unwrap().len(), 43);
    for (body, error) in [
        (
            json!({"redirect_uris": ["http://app.example/cb"]}).to_string(),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": []}).to_string(),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]})
                .to_string(),
            "invalid_client_metadata",
        ),
        ("{not json".to_owned(), "invalid_client_metadata"),
    ] {
        let response = server.send(
            "POST",
            "/register",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(response.status, 400, "{body}: {}", response.text());
        assert_eq!(response.json()["error"], error, "{body}");
    }
    let response = server.send(
        "POST",
        "/register",
        &[("Content-Type", "text/plain")],
        b"{}",
    );
    assert_eq!(response.status, 400);
}

#[test]
fn a_cli_user_logs_in_and_wrong_passwords_are_throttled() {
    let server = bare();
    let (ok, out) = server.cli(
        &[
            "user",
            "add",
            "nurse-x",
            "--role",
            "nurse",
            "--attribute",
            "department=Organization/cardiology",
            "--fhir-user",
            "Practitioner/nurse-x",
        ],
        "correct horse battery\n",
    );
    assert!(ok, "{out}");
    let mut browser = Browser::new(&server);
    let page = browser.get(&authorize_path(&server, "demo-app", "user/*.rs", &[]));
    // Without the seed there is no demo client: register one like the seeded one.
    assert_eq!(page.status, 400);
    let (ok, out) = server.cli(
        &[
            "client",
            "add",
            "demo-app",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--scope",
            "openid fhirUser user/*.rs",
        ],
        "",
    );
    assert!(ok, "{out}");
    let page = browser.get(&authorize_path(
        &server,
        "demo-app",
        "openid user/*.rs",
        &[],
    ));
    for _ in 0..5 {
        let wrong = log_in(&mut browser, &page, "nurse-x", "wrong password");
        assert_eq!(wrong.status, 401);
        assert!(wrong.text().contains("The user name or password is wrong."));
    }
    // The sixth attempt is refused even with the right password.
    let locked = log_in(&mut browser, &page, "nurse-x", "correct horse battery");
    assert_eq!(locked.status, 401);
    assert!(
        locked
            .text()
            .contains("Too many wrong passwords for this user name.")
    );
    // Another name is not affected; unknown names are counted the same way.
    for _ in 0..5 {
        log_in(&mut browser, &page, "nobody", "x");
    }
    let locked = log_in(&mut browser, &page, "nobody", "x");
    assert!(
        locked
            .text()
            .contains("Too many wrong passwords for this user name.")
    );

    let (ok, out) = server.cli(
        &["user", "add", "nurse-y", "--role", "nurse"],
        "another password\n",
    );
    assert!(ok, "{out}");
    let consent = log_in(&mut browser, &page, "nurse-y", "another password");
    let location = approve(&mut browser, &consent, &["openid", "user/*.rs"], None);
    let token = exchange(
        &server,
        &query_param(&location, "code").unwrap(),
        "demo-app",
    )
    .json();
    assert_eq!(token["scope"], "openid user/*.rs");
    assert_eq!(
        claims_of(token["access_token"].as_str().unwrap())["roles"],
        json!(["nurse"])
    );
}

#[test]
fn client_secret_post_and_public_clients_cannot_introspect() {
    let server = bare();
    let (ok, out) = server.cli(
        &[
            "client",
            "add",
            "poster",
            "--auth",
            "client_secret_post",
            "--grant",
            "client_credentials",
            "--scope",
            "system/Patient.rs",
        ],
        "",
    );
    assert!(ok, "{out}");
    let secret = serde_json::from_str::<Value>(&out).unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = server.form(
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "poster"),
            ("client_secret", &secret),
        ],
        &[],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let access = response.json()["access_token"].as_str().unwrap().to_owned();
    // The same secret by HTTP Basic: not how this client authenticates.
    let response = server.form(
        "/token",
        &[("grant_type", "client_credentials")],
        &[("Authorization", &basic("poster", &secret))],
    );
    assert_eq!(response.status, 401);
    // Two methods at once.
    let response = server.form(
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "poster"),
            ("client_secret", &secret),
        ],
        &[("Authorization", &basic("poster", &secret))],
    );
    assert_eq!(response.json()["error"], "invalid_request");
    // A public client may not introspect.
    let (ok, out) = server.cli(
        &[
            "client",
            "add",
            "pub",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scope",
            "patient/*.rs",
        ],
        "",
    );
    assert!(ok, "{out}");
    let response = server.form(
        "/introspect",
        &[("token", &access), ("client_id", "pub")],
        &[],
    );
    assert_eq!(response.status, 401);
    // Confidential: yes.
    let response = server.form(
        "/introspect",
        &[
            ("token", &access),
            ("client_id", "poster"),
            ("client_secret", &secret),
        ],
        &[],
    );
    assert_eq!(response.json()["active"], true);
    // A form body of another type is refused.
    let response = server.send(
        "POST",
        "/token",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"], "invalid_request");
    // A parameter twice.
    let response = server.form(
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
        &[],
    );
    assert_eq!(
        response.json()["error_description"],
        "invalid request: parameter `grant_type` was sent twice"
    );
}

#[test]
fn id_tokens_are_signed_with_the_rsa_key_put_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let pem: std::path::PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "smart-token",
        "tests",
        "keys",
        "rsa-2048.pem",
    ]
    .iter()
    .collect();
    std::fs::copy(&pem, dir.path().join("id-token-key.pem")).unwrap();
    let own = smart_token::SigningKey::from_pem(
        &std::fs::read_to_string(&pem).unwrap(),
        smart_token::Algorithm::RS256,
        "fhir-access-id-1",
    )
    .unwrap();
    let mut server = Server::in_dir(dir.path(), &["--seed", "false"]);
    server._dir = Some(dir);
    let config = server.get(".well-known/smart-configuration").json();
    assert_eq!(
        config["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let jwks = server.get("/jwks").json();
    assert_eq!(jwks["keys"][1]["kid"], "fhir-access-id-1");
    assert_eq!(jwks["keys"][1]["alg"], "RS256");
    // The key put there, not a new one.
    assert_eq!(
        jwks["keys"][1]["n"],
        serde_json::to_value(own.public_jwk()).unwrap()["n"]
    );
    let (ok, out) = server.cli(
        &[
            "user",
            "add",
            "dr-x",
            "--role",
            "doctor",
            "--fhir-user",
            "Practitioner/x",
        ],
        "long password\n",
    );
    assert!(ok, "{out}");
    let (ok, out) = server.cli(
        &[
            "client",
            "add",
            "demo-app",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--scope",
            "openid fhirUser user/*.rs",
        ],
        "",
    );
    assert!(ok, "{out}");
    let mut browser = Browser::new(&server);
    let page = browser.get(&authorize_path(
        &server,
        "demo-app",
        "openid fhirUser user/*.rs",
        &[("nonce", "n-1")],
    ));
    let consent = log_in(&mut browser, &page, "dr-x", "long password");
    let location = approve(
        &mut browser,
        &consent,
        &["openid", "fhirUser", "user/*.rs"],
        None,
    );
    let token = exchange(
        &server,
        &query_param(&location, "code").unwrap(),
        "demo-app",
    )
    .json();
    let id_token = token["id_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "fhir-access-id-1"})
    );
    let claims = claims_of(id_token);
    assert_eq!(claims["fhirUser"], "Practitioner/x");
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["aud"], "demo-app");
    // The access token is still the server's EdDSA token.
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                token["access_token"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .next()
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
}

#[test]
fn browser_apps_on_other_origins_get_cors_but_never_with_cookies() {
    let server = bare();
    let app = ("Origin", "http://127.0.0.1:7777");
    // The preflight of a FHIR read with a bearer token.
    let preflight = server.send(
        "OPTIONS",
        "Patient/1",
        &[
            app,
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
        b"",
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://127.0.0.1:7777")
    );
    assert!(
        preflight
            .header("access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );
    assert_eq!(preflight.header("access-control-allow-credentials"), None);
    // The answers themselves are readable by the app.
    let config = server.send("GET", ".well-known/smart-configuration", &[app], b"");
    assert_eq!(config.status, 200);
    assert_eq!(
        config.header("access-control-allow-origin"),
        Some("http://127.0.0.1:7777")
    );
    let token = server.form("/token", &[("grant_type", "client_credentials")], &[app]);
    assert_eq!(
        token.header("access-control-allow-origin"),
        Some("http://127.0.0.1:7777")
    );
    let unauthorized = server.send("GET", "Patient", &[app], b"");
    assert_eq!(unauthorized.status, 401);
    assert_eq!(
        unauthorized.header("access-control-allow-origin"),
        Some("http://127.0.0.1:7777")
    );
    assert!(
        unauthorized
            .header("access-control-expose-headers")
            .unwrap()
            .contains("www-authenticate")
    );
    // The cookie-based pages: no CORS at all.
    let page = server.send("GET", "/authorize", &[app], b"");
    assert_eq!(page.header("access-control-allow-origin"), None);
    let preflight = server.send(
        "OPTIONS",
        "/authorize",
        &[app, ("Access-Control-Request-Method", "POST")],
        b"",
    );
    assert_eq!(preflight.header("access-control-allow-origin"), None);
    // Without an Origin: no CORS headers.
    assert_eq!(
        server.get("metadata").header("access-control-allow-origin"),
        None
    );
}
