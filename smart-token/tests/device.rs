use std::sync::Arc;

use fhir_scopes::ScopeSet;
use smart_token::{
    Approval, AuthorizationServer, Client, ClientAuth, Error, FixedClock, GrantType, LaunchContext,
    MemoryClients, TokenIssuer, TokenRequest, TokenResponse, Validator,
};

use crate::support::*;

fn setup() -> (AuthorizationServer, Arc<FixedClock>) {
    let clock = clock();
    let clients = Arc::new(MemoryClients::default());
    for id in ["tv-app", "other-tv"] {
        clients
            .register(
                Client::new(id, ClientAuth::None)
                    .grant_types([GrantType::DeviceCode, GrantType::RefreshToken])
                    .scopes(
                        ScopeSet::parse("openid fhirUser offline_access patient/Observation.rs")
                            .unwrap(),
                    ),
            )
            .unwrap();
    }
    clients
        .register(Client::new("web", ClientAuth::None).grant_types([GrantType::AuthorizationCode]))
        .unwrap();
    let issuer = TokenIssuer::new(ISS, AUD, rsa(), clock.clone());
    let server = AuthorizationServer::new(issuer, "https://auth.example.org/token", clients)
        .unwrap()
        .verification_uri("https://auth.example.org/activate");
    (server, clock)
}

fn start(server: &AuthorizationServer, client: &str) -> smart_token::DeviceAuthorization {
    server
        .device_authorization(
            &TokenRequest::from_pairs([
                ("client_id", client),
                (
                    "scope",
                    "offline_access patient/Observation.rs patient/Condition.rs",
                ),
            ])
            .unwrap(),
        )
        .unwrap()
}

fn poll(
    server: &AuthorizationServer,
    device_code: &str,
    client: &str,
) -> Result<TokenResponse, Error> {
    server.token(
        &TokenRequest::from_pairs([
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", client),
        ])
        .unwrap(),
    )
}

#[test]
fn the_device_flow_from_code_to_tokens() {
    let (server, clock) = setup();
    let device = start(&server, "tv-app");
    assert_eq!(device.user_code.len(), 9);
    assert_eq!(device.user_code.as_bytes()[4], b'-');
    assert_eq!(device.verification_uri, "https://auth.example.org/activate");
    assert_eq!(
        device.verification_uri_complete,
        format!(
            "https://auth.example.org/activate?user_code={}",
            device.user_code
        )
    );
    assert_eq!((device.expires_in, device.interval), (600, 5));

    assert_eq!(
        poll(&server, &device.device_code, "tv-app").unwrap_err(),
        Error::AuthorizationPending
    );
    // Too fast: slow down, and the interval grows to 10 s.
    clock.advance(4);
    assert_eq!(
        poll(&server, &device.device_code, "tv-app").unwrap_err(),
        Error::SlowDown
    );
    clock.advance(9);
    assert_eq!(
        poll(&server, &device.device_code, "tv-app").unwrap_err(),
        Error::SlowDown
    );
    clock.advance(15);
    assert_eq!(
        poll(&server, &device.device_code, "tv-app").unwrap_err(),
        Error::AuthorizationPending
    );

    // What the user sees: the client and the requested ∩ registered scopes.
    let (client, scopes) = server
        .device_request(&device.user_code.to_lowercase())
        .unwrap();
    assert_eq!(client, "tv-app");
    assert_eq!(scopes.to_string(), "offline_access patient/Observation.rs");
    server
        .approve_device(
            &device.user_code.replace('-', " "),
            Approval {
                subject: "user-7".into(),
                scopes: None,
                launch: LaunchContext {
                    patient: Some("123".into()),
                    ..LaunchContext::default()
                },
                ..Approval::default()
            },
        )
        .unwrap();
    clock.advance(15);
    let tokens = poll(&server, &device.device_code, "tv-app").unwrap();
    assert_eq!(tokens.scope, "offline_access patient/Observation.rs");
    assert!(tokens.refresh_token.is_some());
    let validator =
        Validator::new([server.issuer().trusted_issuer().unwrap()]).clock(clock.clone());
    assert_eq!(
        validator.validate(&tokens.access_token).unwrap().patient(),
        Some("123")
    );
    // Once.
    clock.advance(15);
    assert_eq!(
        poll(&server, &device.device_code, "tv-app").unwrap_err(),
        Error::InvalidGrant("the device code is invalid")
    );
    assert_eq!(
        server
            .approve_device(&device.user_code, Approval::default())
            .unwrap_err(),
        Error::InvalidGrant("the user code is invalid or expired")
    );
}

#[test]
fn denied_expired_and_foreign_device_codes() {
    let (server, clock) = setup();
    let device = start(&server, "tv-app");
    assert_eq!(
        poll(&server, &device.device_code, "other-tv").unwrap_err(),
        Error::InvalidGrant("the device code was issued to another client")
    );
    server.deny_device(&device.user_code).unwrap();
    clock.advance(5);
    assert_eq!(
        poll(&server, &device.device_code, "tv-app").unwrap_err(),
        Error::AccessDenied
    );

    let device = start(&server, "tv-app");
    clock.advance(600);
    assert_eq!(
        poll(&server, &device.device_code, "tv-app").unwrap_err(),
        Error::ExpiredDeviceCode
    );
    assert_eq!(Error::ExpiredDeviceCode.oauth_error(), "expired_token");
    assert_eq!(
        server.device_request("BCDF-GHJK").unwrap_err(),
        Error::InvalidGrant("the user code is invalid or expired")
    );
}

#[test]
fn only_device_clients_start_the_flow() {
    let (server, _) = setup();
    assert_eq!(
        server
            .device_authorization(&TokenRequest::from_pairs([("client_id", "web")]).unwrap())
            .unwrap_err(),
        Error::UnauthorizedClient("use the device authorization grant")
    );
    assert_eq!(
        server
            .device_authorization(&TokenRequest::from_pairs([("client_id", "unknown")]).unwrap())
            .unwrap_err(),
        Error::InvalidClient
    );
}
