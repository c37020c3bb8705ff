//! Fuzzes the authorization server's entry points as the HTTP layer drives them: form and
//! query bytes into authorization, token and device requests (then approval and code
//! exchange with the consent form's ticked scopes and patient context), registration
//! metadata JSON, Cookie headers, and scope texts into the consent page's plain words.
//! Nothing may panic. The first byte picks the entry point.

#![no_main]
#![allow(
    dead_code,
    unused_imports,
    reason = "the server's modules are included whole; the target uses some of their functions"
)]

use std::sync::{Arc, LazyLock};

use fhir_scopes::ScopeSet;
use libfuzzer_sys::fuzz_target;
use smart_token::{
    Algorithm, Approval, AuthorizationRequest, AuthorizationServer, Client, ClientAuth,
    ClientMetadata, ClientStore as _, GrantType, KeySet, KeySource, LaunchContext, MemoryClients,
    SigningKey, SystemClock, TokenIssuer, TokenRequest,
};

/// The authorization server's pure modules, compiled from the binary's own files.
#[path = "../../src/server/oauth"]
mod oauth {
    pub(crate) mod consent;
    pub(crate) mod db;
    pub(crate) mod scopes;
    pub(crate) mod session;
}

use oauth::consent::{PatientContext, patient_for, ticked};
use oauth::session::{Sessions, cookie_value};

const AUD: &str = "http://127.0.0.1:8080/fhir";

static SERVER: LazyLock<Option<AuthorizationServer>> = LazyLock::new(|| {
    let key = SigningKey::generate(Algorithm::EdDSA, "k1").ok()?;
    let issuer = TokenIssuer::new(AUD, AUD, key, Arc::new(SystemClock));
    let clients = Arc::new(MemoryClients::default());
    let scopes = ScopeSet::parse(
        "openid fhirUser launch launch/patient offline_access online_access patient/*.cruds user/*.rs system/*.rs",
    )
    .ok()?;
    clients
        .register(
            Client::new("app", ClientAuth::None)
                .redirect_uri("http://127.0.0.1/cb")
                .grant_types([
                    GrantType::AuthorizationCode,
                    GrantType::RefreshToken,
                    GrantType::DeviceCode,
                ])
                .scopes(scopes.clone()),
        )
        .ok()?;
    let backend_keys = KeySet::from_jwks(
        r#"{"keys":[{"kty":"EC","crv":"P-384","kid":"b1","x":"iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7","y":"iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7"}]}"#,
    )
    .unwrap_or_else(|_| KeySet::new([]));
    clients
        .register(
            Client::new("backend", ClientAuth::PrivateKeyJwt(KeySource::fixed(backend_keys)))
                .grant_types([GrantType::ClientCredentials])
                .scopes(scopes),
        )
        .ok()?;
    AuthorizationServer::new(issuer, "http://127.0.0.1:8080/token", clients).ok()
});

static SESSIONS: LazyLock<Sessions> = LazyLock::new(Sessions::default);

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some(server) = SERVER.as_ref() else {
        return;
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(rest).into_owned().collect();
    match selector % 6 {
        0 => authorize(server, &pairs),
        1 => {
            if let Ok(request) = TokenRequest::from_pairs(pairs.clone()) {
                let header = pairs
                    .iter()
                    .find(|(name, _)| name == "authorization")
                    .map(|(_, value)| value.as_str());
                let _ = server.token(&request.with_authorization_header(header));
            }
        }
        2 => {
            if let Ok(request) = TokenRequest::from_pairs(pairs.clone()) {
                if let Ok(device) = server.device_authorization(&request) {
                    let _ = server.device_request(&device.user_code);
                }
            }
            if let Some((_, code)) = pairs.iter().find(|(name, _)| name == "user_code") {
                let _ = server.device_request(code);
            }
        }
        3 => {
            let text = String::from_utf8_lossy(rest);
            let current = SESSIONS.current(cookie_value(Some(&text)));
            let _ = SESSIONS.csrf_ok(&current.id, &text);
        }
        4 => {
            if let Ok(metadata) = serde_json::from_slice::<ClientMetadata>(rest) {
                if let Ok(allowed) = ScopeSet::parse("patient/*.rs user/*.rs system/*.rs launch") {
                    let _ = metadata.register(&allowed, None);
                }
            }
        }
        _ => {
            let lenient = ScopeSet::parse_lenient(&String::from_utf8_lossy(rest));
            for scope in lenient.scopes.iter() {
                assert!(!oauth::scopes::describe(scope).is_empty());
            }
        }
    }
});

/// An authorization request, approved with the form's ticked scopes, then exchanged.
fn authorize(server: &AuthorizationServer, pairs: &[(String, String)]) {
    let Ok(request) = AuthorizationRequest::from_pairs(pairs.to_vec()) else {
        return;
    };
    let Ok(pending) = server.authorize(&request) else {
        return;
    };
    let granted = ticked(pairs).ok();
    let launch = LaunchContext {
        patient: pairs
            .iter()
            .find(|(name, _)| name == "patient")
            .map(|(_, value)| value.clone()),
        ..LaunchContext::default()
    };
    let scopes = granted.clone().unwrap_or_else(|| pending.scopes.clone());
    let patient = match patient_for(Some("p1"), Some(&launch), &scopes) {
        PatientContext::Fixed(patient) => Some(patient),
        _ => None,
    };
    let redirect = pending.redirect_uri.clone();
    let approval = Approval {
        subject: "u".into(),
        scopes: granted,
        launch: LaunchContext {
            patient,
            ..LaunchContext::default()
        },
        claims: serde_json::Map::new(),
    };
    let Ok(code) = server.approve(pending, approval) else {
        return;
    };
    let verifier = pairs
        .iter()
        .find(|(name, _)| name == "code_verifier")
        .map_or("", |(_, value)| value.as_str());
    if let Ok(exchange) = TokenRequest::from_pairs([
        ("grant_type", "authorization_code"),
        ("code", code.code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("client_id", "app"),
        ("code_verifier", verifier),
    ]) {
        let _ = server.token(&exchange);
    }
}
