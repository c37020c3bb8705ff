use std::sync::Arc;

use fhir_scopes::ScopeSet;
use serde_json::{Value, json};
use smart_token::{
    Algorithm, AuthorizationServer, Client, ClientAuth, Error, FixedClock, GrantType, JWT_BEARER,
    KeySet, KeySource, MemoryClients, SigningKey, TokenIssuer, TokenRequest, TokenResponse,
    Validator,
};

use crate::support::*;

fn vector() -> Value {
    serde_json::from_str(include_str!("vectors/smart-backend-services.json")).unwrap()
}

fn exp() -> i64 {
    vector()["claims"]["exp"].as_i64().unwrap()
}

/// A server whose token endpoint is the example's, with the example client registered
/// with the example keys and our own test keys (kids `ours-rsa`, `ours-ec`).
fn server(now: i64) -> (AuthorizationServer, Arc<FixedClock>) {
    let vector = vector();
    let clock = Arc::new(FixedClock::new(now));
    let mut jwks = vector["jwks"]["keys"].as_array().unwrap().clone();
    jwks.push(serde_json::to_value(ours_rsa().public_jwk()).unwrap());
    jwks.push(serde_json::to_value(ours_ec().public_jwk()).unwrap());
    let key_set = KeySet::from_jwks(&json!({ "keys": jwks }).to_string()).unwrap();
    assert_eq!(key_set.len(), 4);
    let clients = Arc::new(MemoryClients::default());
    let client_id = vector["client_id"].as_str().unwrap();
    clients
        .register(
            Client::new(
                client_id,
                ClientAuth::PrivateKeyJwt(KeySource::fixed(key_set)),
            )
            .grant_types([GrantType::ClientCredentials])
            .scopes(ScopeSet::parse("system/Observation.rs system/Patient.rs").unwrap()),
        )
        .unwrap();
    let issuer = TokenIssuer::new(ISS, AUD, rsa(), clock.clone());
    let server =
        AuthorizationServer::new(issuer, vector["token_endpoint"].as_str().unwrap(), clients)
            .unwrap();
    (server, clock)
}

fn ours_rsa() -> SigningKey {
    SigningKey::from_pem(RSA_PEM, Algorithm::RS384, "ours-rsa").unwrap()
}

fn ours_ec() -> SigningKey {
    SigningKey::from_pem(P384_PEM, Algorithm::ES384, "ours-ec").unwrap()
}

fn exchange(server: &AuthorizationServer, assertion: &str) -> Result<TokenResponse, Error> {
    server.token(
        &TokenRequest::from_pairs([
            ("grant_type", "client_credentials"),
            ("scope", "system/Observation.rs"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ])
        .unwrap(),
    )
}

fn assertion(key: &SigningKey, changes: Value) -> String {
    key.sign(Some("JWT"), &with(vector()["claims"].clone(), changes))
        .unwrap()
}

#[test]
fn known_answer_the_specifications_example_assertions() {
    let vector = vector();
    for alg in ["RS384", "ES384"] {
        let (server, clock) = server(exp() - 60);
        let published = vector["assertions"][alg].as_str().unwrap();
        let response = exchange(&server, published).unwrap();
        assert_eq!(response.scope, "system/Observation.rs");
        let validator = Validator::new([server.issuer().trusted_issuer().unwrap()]).clock(clock);
        let context = validator.validate(&response.access_token).unwrap();
        assert_eq!(
            context.client_id(),
            Some("https://bili-monitor.example.com")
        );
        assert_eq!(context.subject(), Some("https://bili-monitor.example.com"));
        // The example's jti, once used, is a replay, whichever signature carries it.
        let other = if alg == "RS384" { "ES384" } else { "RS384" };
        assert_eq!(
            exchange(&server, vector["assertions"][other].as_str().unwrap()).unwrap_err(),
            Error::AssertionReplay
        );
    }
}

#[test]
fn known_answer_signatures_are_checked() {
    let vector = vector();
    let (server, _) = server(exp() - 60);
    for alg in ["RS384", "ES384"] {
        let published = vector["assertions"][alg].as_str().unwrap();
        let (input, signature) = published.rsplit_once('.').unwrap();
        let mut bytes =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, signature)
                .unwrap();
        bytes[10] ^= 1;
        let tampered = format!("{input}.{}", b64(&bytes));
        assert_eq!(
            exchange(&server, &tampered).unwrap_err(),
            Error::InvalidClient,
            "{alg}"
        );
    }
}

#[test]
fn attack_assertion_lifetime() {
    let vector = vector();
    let published = vector["assertions"]["RS384"].as_str().unwrap();
    // More than five minutes (plus 30 s leeway) ahead.
    assert_eq!(
        exchange(&server(exp() - 331).0, published).unwrap_err(),
        Error::InvalidAssertion("`exp` is more than five minutes ahead")
    );
    assert_eq!(
        exchange(&server(exp() + 30).0, published).unwrap_err(),
        Error::InvalidAssertion("the assertion expired")
    );
    // Exactly at the bounds, accepted.
    assert!(exchange(&server(exp() - 330).0, published).is_ok());
    assert!(exchange(&server(exp() + 29).0, published).is_ok());
}

#[test]
fn attack_assertion_replay_within_its_lifetime() {
    let (server, clock) = server(exp() - 200);
    let token = assertion(&ours_ec(), json!({"jti": "once"}));
    assert!(exchange(&server, &token).is_ok());
    assert_eq!(
        exchange(&server, &token).unwrap_err(),
        Error::AssertionReplay
    );
    clock.advance(100);
    let again = assertion(&ours_rsa(), json!({"jti": "once"}));
    assert_eq!(
        exchange(&server, &again).unwrap_err(),
        Error::AssertionReplay
    );
}

#[test]
fn attack_assertion_claims() {
    let (server, _) = server(exp() - 60);
    let key = ours_rsa();
    for (changes, error) in [
        (
            json!({"aud": "https://authorize.smarthealthit.org/token/"}),
            Error::InvalidAssertion("`aud` must be the token endpoint"),
        ),
        (
            json!({"aud": "https://fhir.example.org/r4"}),
            Error::InvalidAssertion("`aud` must be the token endpoint"),
        ),
        (
            json!({"sub": "someone-else"}),
            Error::InvalidAssertion("`sub` must equal `iss`, the client id"),
        ),
        (
            json!({"sub": null}),
            Error::InvalidAssertion("`sub` must equal `iss`, the client id"),
        ),
        (
            json!({"jti": null}),
            Error::InvalidAssertion("`jti` is required"),
        ),
        (
            json!({"exp": null}),
            Error::InvalidAssertion("`exp` is required"),
        ),
        (
            json!({"iss": "https://other.example", "sub": "https://other.example"}),
            Error::InvalidClient,
        ),
    ] {
        assert_eq!(
            exchange(&server, &assertion(&key, changes.clone())).unwrap_err(),
            error,
            "{changes}"
        );
    }
    // Only RS384 and ES384.
    let rs256 = SigningKey::from_pem(RSA_PEM, Algorithm::RS256, "ours-rsa").unwrap();
    assert_eq!(
        exchange(&server, &assertion(&rs256, json!({}))).unwrap_err(),
        Error::InvalidAssertion("the algorithm must be RS384 or ES384")
    );
    // A key the client did not register.
    let stranger = SigningKey::from_pem(RSA_B_PEM, Algorithm::RS384, "ours-rsa").unwrap();
    assert_eq!(
        exchange(&server, &assertion(&stranger, json!({}))).unwrap_err(),
        Error::InvalidClient
    );
    // `client_id` in the form must name the same client.
    let request = TokenRequest::from_pairs([
        ("grant_type", "client_credentials"),
        ("client_id", "another-client"),
        ("client_assertion_type", JWT_BEARER),
        (
            "client_assertion",
            assertion(&key, json!({"jti": "x1"})).as_str(),
        ),
    ])
    .unwrap();
    assert_eq!(
        server.token(&request).unwrap_err(),
        Error::InvalidAssertion("`iss` does not match `client_id`")
    );
    // The assertion type is exact.
    let request = TokenRequest::from_pairs([
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        ),
        (
            "client_assertion",
            assertion(&key, json!({"jti": "x2"})).as_str(),
        ),
    ])
    .unwrap();
    assert_eq!(
        server.token(&request).unwrap_err().oauth_error(),
        "invalid_request"
    );
}

#[test]
fn attack_assertion_headers_are_checked_like_tokens() {
    let (server, _) = server(exp() - 60);
    let claims = with(vector()["claims"].clone(), json!({"jti": "h1"})).to_string();
    let key = ours_rsa();
    assert_eq!(
        exchange(
            &server,
            &forge(
                r#"{"alg":"RS384","kid":"ours-rsa","jku":"https://evil.example/jwks"}"#,
                &claims,
                &key
            )
        )
        .unwrap_err(),
        Error::ForbiddenHeader("jku")
    );
    assert_eq!(
        exchange(&server, &forge(r#"{"alg":"none"}"#, &claims, &key)).unwrap_err(),
        Error::Unsigned
    );
}

#[test]
fn a_backend_client_cannot_use_a_secret() {
    let (server, _) = server(exp() - 60);
    let request = TokenRequest::from_pairs([
        ("grant_type", "client_credentials"),
        ("client_id", "https://bili-monitor.example.com"),
        ("client_secret", "guess"),
    ])
    .unwrap();
    assert_eq!(server.token(&request).unwrap_err(), Error::InvalidClient);
}
