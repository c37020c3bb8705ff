//! External identity providers, end to end: the certified OpenID provider `oidc-provider`
//! (npm, pinned in `tests/clients/package-lock.json`) runs on loopback as the hospital's
//! identity provider (`tests/clients/idp.mjs`); the server trusts it through
//! `[[trusted_issuers]]` (keys found by discovery) and maps its claims by configuration.
//!
//! Needs node and npm on PATH; installs the pinned packages with `npm ci` when missing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a failed test"
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::clients::{clients_dir, node_modules};
use common::{Response, Server};
use serde_json::{Value, json};

/// Lucien Hahn, whom the provider knows as `lucien@idp.test`.
const LUCIEN: &str = "717282e4-5d08-4cbd-afad-596051966367";
/// Catharine Morar, another patient.
const CATHARINE: &str = "c46bf540-aacf-46eb-9f6e-bf13c8ef7496";

/// The identity provider process; stopped (stdin closed, then killed) when dropped.
struct Idp {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    issuer: String,
}

impl Idp {
    fn start() -> Idp {
        node_modules();
        let mut child = Command::new("node")
            .arg("idp.mjs")
            .current_dir(clients_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("node: cannot run it ({e}); these tests need node"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut idp = Idp {
            child,
            stdin,
            stdout,
            issuer: String::new(),
        };
        idp.issuer = idp
            .line()
            .strip_prefix("issuer ")
            .expect("the provider's first line names its issuer")
            .to_owned();
        idp
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    /// Sends one command and returns its one-line answer.
    fn command(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        self.line()
    }

    fn jwks_fetches(&mut self) -> u32 {
        self.command("jwks-fetches").parse().unwrap()
    }

    /// `host:port` of the provider.
    fn address(&self) -> &str {
        self.issuer.trim_start_matches("http://")
    }

    /// An access token for the FHIR server at `resource`, speaking for `account`.
    fn access_token(&self, resource: &str, account: &str, scope: &str) -> String {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("scope", scope),
                ("login_hint", account),
            ])
            .finish();
        let response = http(
            self.address(),
            "POST",
            "/token",
            &[
                // ward-app:ward-secret
                ("Authorization", "Basic d2FyZC1hcHA6d2FyZC1zZWNyZXQ="),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        );
        assert_eq!(response.status, 200, "{}", response.text());
        let token = response.json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(header(&token)["typ"], "at+jwt", "an RFC 9068 access token");
        token
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to `address` (`host:port`).
fn http(
    address: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    Response::parse(&raw)
}

/// The decoded JOSE header of a compact JWT.
fn header(token: &str) -> Value {
    use base64::Engine as _;
    let segment = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The server, seeded, trusting the provider as configured for the hospital.
fn server_trusting(idp: &Idp, dir: &tempfile::TempDir) -> Server {
    let config = dir.path().join("fhir-access.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[trusted_issuers]]
issuer = "{issuer}"
require_at_jwt = true
jwks_refetch_seconds = 1

[trusted_issuers.claims]
patient = "patient_id"
fhir_user = "fhir_user"
roles = "groups"
attributes = {{ assignedPatients = "assigned" }}

[trusted_issuers.roles]
patients = "patient"
clinicians = "doctor"
"#,
            issuer = idp.issuer
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    Server::in_dir(&data, &["--config", config.to_str().unwrap()])
}

fn read(server: &Server, token: &str, path: &str) -> Response {
    let auth = format!("Bearer {token}");
    server.send("GET", path, &[("Authorization", &auth)], b"")
}

/// The status of reading Lucien's record with `token`.
fn reads_lucien(server: &Server, token: &str) -> u16 {
    read(server, token, &format!("Patient/{LUCIEN}")).status
}

#[test]
fn oidc_provider_access_tokens_are_accepted_through_key_rotation_and_refused_after_removal() {
    let mut idp = Idp::start();
    let dir = tempfile::tempdir().unwrap();
    let server = server_trusting(&idp, &dir);
    let scope = "patient/Patient.rs patient/Observation.rs";

    // The provider's token, its claims mapped: Lucien's patient context, role `patient`.
    let first = idp.access_token(&server.base, "lucien@idp.test", scope);
    let response = read(&server, &first, &format!("Patient/{LUCIEN}"));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["id"], LUCIEN);
    let observations = read(
        &server,
        &first,
        &format!("Observation?patient={LUCIEN}&_count=5"),
    );
    assert_eq!(observations.status, 200, "{}", observations.text());
    assert_eq!(observations.json()["entry"].as_array().unwrap().len(), 5);
    // Another patient's data: as if it did not exist, or refused outright.
    assert_eq!(
        read(&server, &first, &format!("Patient/{CATHARINE}")).status,
        404
    );
    read(&server, &first, &format!("Observation?patient={CATHARINE}")).assert_outcome(
        403,
        "forbidden",
        "forbidden",
    );
    // Keys found through discovery, fetched once.
    assert_eq!(idp.jwks_fetches(), 1);

    // Rotation: a new signing key, the previous one still published.
    let rotated_kid = idp.command("rotate");
    std::thread::sleep(Duration::from_millis(1100));
    let second = idp.access_token(&server.base, "lucien@idp.test", scope);
    assert_eq!(
        Some(header(&second)["kid"].as_str().unwrap()),
        rotated_kid.strip_prefix("ok ")
    );
    assert_ne!(header(&second)["kid"], header(&first)["kid"]);
    assert_eq!(reads_lucien(&server, &second), 200);
    assert_eq!(
        idp.jwks_fetches(),
        2,
        "the unknown kid refetched the key set once"
    );
    assert_eq!(
        reads_lucien(&server, &first),
        200,
        "the old key is still published"
    );

    // Removal: a third key, and the two before it dropped from the JWKS.
    idp.command("retire");
    std::thread::sleep(Duration::from_millis(1100));
    let third = idp.access_token(&server.base, "lucien@idp.test", scope);
    assert_eq!(reads_lucien(&server, &third), 200);
    assert_eq!(idp.jwks_fetches(), 3);
    // Both earlier tokens are unexpired and were accepted (and cached) before: refused now.
    for removed in [&first, &second] {
        let response = read(&server, removed, &format!("Patient/{LUCIEN}"));
        response.assert_outcome(401, "login", "authentication required");
    }

    // A flood of tokens naming made-up keys costs the provider at most one fetch a second.
    let forger = smart_token::SigningKey::from_pkcs8(
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .unwrap()
            .as_ref(),
        smart_token::Algorithm::EdDSA,
        "made-up",
    )
    .unwrap();
    let claims = json!({
        "iss": idp.issuer, "aud": server.base, "sub": "mallory", "exp": chrono::Utc::now().timestamp() + 300,
        "scope": scope, "patient_id": CATHARINE, "groups": ["patients"],
    });
    let forged = forger.sign(Some("at+jwt"), &claims).unwrap();
    let before = idp.jwks_fetches();
    for _ in 0..20 {
        assert_eq!(reads_lucien(&server, &forged), 401);
    }
    assert!(idp.jwks_fetches() - before <= 1, "rate-limited refetch");
    assert_eq!(reads_lucien(&server, &third), 200);
}

#[test]
fn mapped_roles_and_attributes_decide_and_unmapped_groups_give_nothing() {
    let idp = Idp::start();
    let dir = tempfile::tempdir().unwrap();
    let server = server_trusting(&idp, &dir);
    // Dr Grey: group `clinicians` -> role doctor (`staff` is unmapped), `assigned` ->
    // the policy attribute `assignedPatients`: the hospital policy lets her read Lucien.
    let grey = idp.access_token(&server.base, "grey@idp.test", "user/Patient.rs");
    let response = read(&server, &grey, &format!("Patient/{LUCIEN}"));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["id"], LUCIEN);
    assert_eq!(
        read(&server, &grey, &format!("Patient/{CATHARINE}")).status,
        404
    );
    // A visitor whose only group is unmapped has no role: no rule permits anything.
    let visitor = idp.access_token(&server.base, "visitor@idp.test", "user/Patient.rs");
    read(&server, &visitor, &format!("Patient/{LUCIEN}")).assert_outcome(
        403,
        "forbidden",
        "forbidden",
    );
    // A token for another resource server (audience) is refused.
    let elsewhere = idp.access_token(
        "http://127.0.0.1:1/fhir",
        "grey@idp.test",
        "user/Patient.rs",
    );
    read(&server, &elsewhere, &format!("Patient/{LUCIEN}")).assert_outcome(
        401,
        "login",
        "authentication required",
    );
}

/// A browser: one cookie jar per `host:port` (paths and expiry ignored: short tests).
#[derive(Default)]
struct Browser {
    cookies: Vec<(String, String, String)>,
}

impl Browser {
    fn request(&mut self, method: &str, url: &str, body: Option<&str>) -> Response {
        let rest = url.strip_prefix("http://").expect("an http URL");
        let (address, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .filter(|(a, _, _)| a == address)
            .map(|(_, n, v)| format!("{n}={v}"))
            .collect();
        let cookie = cookie.join("; ");
        let mut headers = vec![];
        if !cookie.is_empty() {
            headers.push(("Cookie", cookie.as_str()));
        }
        if body.is_some() {
            headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        }
        let response = http(
            address,
            method,
            target,
            &headers,
            body.unwrap_or("").as_bytes(),
        );
        for (name, value) in &response.headers {
            if name != "set-cookie" {
                continue;
            }
            let pair = value.split(';').next().unwrap();
            let (n, v) = pair.split_once('=').unwrap();
            self.cookies
                .retain(|(a, name, _)| !(a == address && name == n));
            if !v.is_empty() {
                self.cookies
                    .push((address.to_owned(), n.to_owned(), v.to_owned()));
            }
        }
        response
    }

    /// The `Location` of a 303/302, made absolute against `url`.
    fn location(url: &str, response: &Response) -> String {
        assert!(
            [302, 303].contains(&response.status),
            "{url}: {} {}",
            response.status,
            response.text()
        );
        let location = response.header("location").unwrap();
        if location.starts_with("http") {
            return location.to_owned();
        }
        let origin_end = url[7..].find('/').map_or(url.len(), |i| i + 7);
        format!("{}{location}", &url[..origin_end])
    }

    /// Starts a federated login and signs in at the provider as `account`; returns the URL
    /// the provider sends the browser back to (the server's callback).
    fn sign_in_at_provider(&mut self, server: &Server, account: &str) -> String {
        self.sign_in_returning_to(server, account, "/authorize?client_id=demo-app")
    }

    fn sign_in_returning_to(&mut self, server: &Server, account: &str, return_to: &str) -> String {
        let start = format!(
            "http://{}/oauth/federation/hospital/login?return_to={}",
            server.address,
            form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
        );
        let response = self.request("GET", &start, None);
        let mut url = Browser::location(&start, &response);
        let query: Vec<(String, String)> =
            form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
        assert_eq!(param("response_type").as_deref(), Some("code"));
        assert_eq!(param("client_id").as_deref(), Some("fhir-access"));
        assert_eq!(param("state").unwrap().len(), 43);
        assert_eq!(param("nonce").unwrap().len(), 43);
        assert_eq!(
            param("redirect_uri").unwrap(),
            format!(
                "http://{}/oauth/federation/hospital/callback",
                server.address
            )
        );
        // The provider's pages: its authorization endpoint, our login form, back again.
        for _ in 0..6 {
            if url.contains("/oauth/federation/hospital/callback") {
                return url;
            }
            let response = if url.contains("/interaction/") {
                let form = self.request("GET", &url, None);
                assert_eq!(form.status, 200, "{}", form.text());
                assert!(form.text().contains("<form method=\"post\">"));
                let body = form_urlencoded::Serializer::new(String::new())
                    .append_pair("user", account)
                    .finish();
                self.request("POST", &url, Some(&body))
            } else {
                self.request("GET", &url, None)
            };
            url = Browser::location(&url, &response);
        }
        panic!("the provider never sent the browser back: {url}");
    }
}

/// The server, with the provider as `[[identity_providers]]` `hospital` (Lucien linked).
fn server_with_login_at(idp: &mut Idp, dir: &tempfile::TempDir) -> Server {
    let config = dir.path().join("fhir-access.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[identity_providers]]
id = "hospital"
name = "Hospital SSO"
issuer = "{issuer}"
client_id = "fhir-access"
client_secret = "fhir-access-secret"
scope = "openid profile fhir"
users = {{ "lucien@idp.test" = "lucien" }}
"#,
            issuer = idp.issuer
        ),
    )
    .unwrap();
    // Seeded: the linked user `lucien` must exist here.
    let server = Server::in_dir(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let callback = format!(
        "http://{}/oauth/federation/hospital/callback",
        server.address
    );
    assert_eq!(idp.command(&format!("redirect-uri {callback}")), "ok");
    server
}

#[test]
fn users_log_in_at_the_provider_and_come_back_as_their_local_user() {
    let mut idp = Idp::start();
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_login_at(&mut idp, &dir);

    // The login page's buttons.
    let providers = server.get("/oauth/federation/providers?return_to=%2Fauthorize%3Fx%3D1");
    assert_eq!(providers.status, 200);
    assert_eq!(
        providers.json(),
        json!({"providers": [{"name": "Hospital SSO", "href": "/oauth/federation/hospital/login?return_to=%2Fauthorize%3Fx%3D1"}]})
    );

    let mut browser = Browser::default();
    let callback = browser.sign_in_at_provider(&server, "lucien@idp.test");
    assert!(callback.contains(&format!(
        "iss={}",
        form_urlencoded::byte_serialize(idp.issuer.as_bytes()).collect::<String>()
    )));
    let back = browser.request("GET", &callback, None);
    assert_eq!(back.status, 303, "{}", back.text());
    assert_eq!(
        back.header("location"),
        Some("/authorize?client_id=demo-app")
    );
    let session = format!("http://{}/oauth/federation/session", server.address);
    let who = browser.request("GET", &session, None);
    assert_eq!(who.status, 200);
    assert_eq!(
        who.json(),
        json!({"user": "lucien", "provider": "hospital"})
    );

    // The same callback again (a replayed code and state): refused, whoever sends it.
    let replay = browser.request("GET", &callback, None);
    assert_eq!(replay.status, 400);
    assert!(
        replay
            .text()
            .contains("this login was not started here, was already used, or took too long")
    );

    // Login CSRF: a callback carried to another browser (no state cookie) logs nobody in.
    let mut attacker = Browser::default();
    let planted = attacker.sign_in_at_provider(&server, "lucien@idp.test");
    let mut victim = Browser::default();
    assert_eq!(victim.request("GET", &planted, None).status, 400);
    assert_eq!(victim.request("GET", &session, None).status, 401);
    assert_eq!(server.get("/oauth/federation/session").status, 401);
}

#[test]
fn an_identity_not_linked_to_a_local_user_logs_nobody_in() {
    let mut idp = Idp::start();
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_login_at(&mut idp, &dir);
    let mut browser = Browser::default();
    let callback = browser.sign_in_at_provider(&server, "grey@idp.test");
    let back = browser.request("GET", &callback, None);
    assert_eq!(back.status, 403);
    assert!(
        back.text()
            .contains("your account at `Hospital SSO` is not linked to a user of this server"),
        "{}",
        back.text()
    );
    let session = format!("http://{}/oauth/federation/session", server.address);
    assert_eq!(browser.request("GET", &session, None).status, 401);
    // An unknown provider, and a return address on another host.
    let unknown = server.get("/oauth/federation/elsewhere/login");
    assert_eq!(unknown.status, 404);
    assert!(
        unknown
            .text()
            .contains("no identity provider `elsewhere` is configured")
    );
}

/// The value of the first input named `name` in a page.
fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no `{name}` in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

#[test]
fn a_federated_login_goes_on_to_consent_and_the_app_reads_the_linked_users_data() {
    let mut idp = Idp::start();
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_login_at(&mut idp, &dir);
    let origin = format!("http://{}", server.address);
    // The public demo app starts a standalone launch; the browser sees our login page.
    let verifier = "a-verifier-of-at-least-43-characters-0123456789";
    let challenge = smart_token::pkce_challenge(verifier);
    let redirect = "http://127.0.0.1:9/callback";
    let authorize = format!(
        "/authorize?{}",
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", "demo-app"),
                ("redirect_uri", redirect),
                ("scope", "launch/patient openid fhirUser patient/*.rs"),
                ("state", "s-1"),
                ("aud", server.base.as_str()),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .finish()
    );
    let mut browser = Browser::default();
    let login = browser.request("GET", &format!("{origin}{authorize}"), None);
    assert_eq!(login.status, 200, "{}", login.text());
    assert!(login.text().contains("<form id=\"login\""));
    // Instead of a password: the provider's link, coming back to this request.
    let link = format!(
        "<a href=\"/oauth/federation/hospital/login?return_to={}\">Log in with Hospital SSO</a>",
        form_urlencoded::byte_serialize(authorize.as_bytes()).collect::<String>()
    );
    assert!(login.text().contains(&link), "{}", login.text());
    let callback = browser.sign_in_returning_to(&server, "lucien@idp.test", &authorize);
    let back = browser.request("GET", &callback, None);
    assert_eq!(back.header("location"), Some(authorize.as_str()));
    let consent = browser.request("GET", &format!("{origin}{authorize}"), None);
    assert_eq!(consent.status, 200, "{}", consent.text());
    let html = consent.text();
    assert!(
        html.contains("<form id=\"consent\""),
        "logged in as the linked user: {html}"
    );
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("tx", &input_value(&html, "tx"))
        .append_pair("csrf", &input_value(&html, "csrf"))
        .append_pair("step", "consent")
        .append_pair("scope", "launch/patient")
        .append_pair("scope", "patient/*.rs")
        .append_pair("decision", "approve")
        .finish();
    let approved = browser.request("POST", &format!("{origin}/authorize"), Some(&body));
    assert_eq!(approved.status, 303, "{}", approved.text());
    let location = approved.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!("{redirect}?code=")),
        "{location}"
    );
    let code = form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
        .find(|(name, _)| name == "code")
        .unwrap()
        .1
        .into_owned();
    let exchange = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("client_id", "demo-app"),
            ("code_verifier", verifier),
        ])
        .finish();
    let token = server.send(
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        exchange.as_bytes(),
    );
    assert_eq!(token.status, 200, "{}", token.text());
    let token = token.json();
    assert_eq!(token["patient"], LUCIEN);
    assert_eq!(token["scope"], "launch/patient patient/*.rs");
    let access = token["access_token"].as_str().unwrap();
    assert_eq!(reads_lucien(&server, access), 200);
    assert_eq!(
        read(&server, access, &format!("Patient/{CATHARINE}")).status,
        404
    );
}
