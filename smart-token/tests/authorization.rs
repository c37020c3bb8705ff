use std::sync::Arc;

use base64::Engine as _;
use fhir_scopes::ScopeSet;
use serde_json::json;
use smart_token::{
    Algorithm, Approval, AuthorizationRequest, AuthorizationServer, Client, ClientAuth,
    ClientMetadata, ClientSecret, ClientStore, Error, FixedClock, GrantType, LaunchContext,
    MemoryClients, MemoryRevocations, PendingAuthorization, SigningKey, TokenIssuer, TokenRequest,
    TokenResponse, Validator, pkce_challenge,
};

use crate::support::*;

pub const TOKEN_ENDPOINT: &str = "https://auth.example.org/token";
const REDIRECT: &str = "https://app.example/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub struct Setup {
    pub server: AuthorizationServer,
    pub clock: Arc<FixedClock>,
    pub clients: Arc<MemoryClients>,
    /// The resource server's validator, sharing the revocation store.
    pub validator: Validator,
    pub secret: String,
}

pub fn setup() -> Setup {
    let clock = clock();
    let issuer = TokenIssuer::new(ISS, AUD, rsa(), clock.clone())
        .id_token_key(SigningKey::from_pem(RSA_B_PEM, Algorithm::RS256, "id-1").unwrap())
        .unwrap();
    let revocations = Arc::new(MemoryRevocations::default());
    let validator = Validator::new([issuer.trusted_issuer().unwrap()])
        .clock(clock.clone())
        .revocations(revocations.clone());
    let clients = Arc::new(MemoryClients::default());
    let app_scopes = "launch/patient openid fhirUser offline_access patient/Observation.rs patient/Patient.r patient/Condition.rs";
    clients
        .register(
            Client::new("public-app", ClientAuth::None)
                .redirect_uri(REDIRECT)
                .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
                .scopes(ScopeSet::parse(app_scopes).unwrap())
                .access_token_lifetime(300),
        )
        .unwrap();
    let secret = "correct horse battery staple";
    clients
        .register(
            Client::new(
                "confidential-app",
                ClientAuth::SecretBasic(ClientSecret::hash(secret).unwrap()),
            )
            .redirect_uri(REDIRECT)
            .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
            .scopes(ScopeSet::parse(app_scopes).unwrap()),
        )
        .unwrap();
    clients
        .register(
            Client::new(
                "post-app",
                ClientAuth::SecretPost(ClientSecret::hash(secret).unwrap()),
            )
            .grant_types([GrantType::ClientCredentials])
            .scopes(
                ScopeSet::parse("system/Observation.rs system/Patient.r patient/Patient.r")
                    .unwrap(),
            )
            .claims(
                json!({"roles": ["analytics-service"], "sub": "not-this"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .unwrap();
    let server = AuthorizationServer::new(issuer, TOKEN_ENDPOINT, clients.clone())
        .unwrap()
        .revocations(revocations)
        .unwrap();
    Setup {
        server,
        clock,
        clients,
        validator,
        secret: secret.into(),
    }
}

fn authorization_request(client: &str) -> AuthorizationRequest {
    AuthorizationRequest::from_pairs([
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        (
            "scope",
            "launch/patient openid fhirUser offline_access patient/*.rs",
        ),
        ("state", "af0ifjsldkj&x"),
        ("aud", AUD),
        ("code_challenge", &pkce_challenge(VERIFIER)),
        ("code_challenge_method", "S256"),
    ])
    .unwrap()
}

fn approval() -> Approval {
    Approval {
        subject: "user-7".into(),
        scopes: Some(ScopeSet::parse("launch/patient openid fhirUser offline_access patient/Observation.rs patient/Patient.rs").unwrap()),
        launch: LaunchContext {
            patient: Some("123".into()),
            fhir_user: Some("Practitioner/9".into()),
            ..LaunchContext::default()
        },
        ..Approval::default()
    }
}

fn pending(setup: &Setup, client: &str) -> PendingAuthorization {
    setup
        .server
        .authorize(&authorization_request(client))
        .unwrap()
}

fn code_for(setup: &Setup, client: &str) -> String {
    setup
        .server
        .approve(pending(setup, client), approval())
        .unwrap()
        .code
}

fn exchange(setup: &Setup, code: &str, client: &str) -> Result<TokenResponse, Error> {
    setup.server.token(
        &TokenRequest::from_pairs([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", client),
        ])
        .unwrap(),
    )
}

fn refresh(setup: &Setup, token: &str, scope: Option<&str>) -> Result<TokenResponse, Error> {
    let mut pairs = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", "public-app"),
    ];
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    setup
        .server
        .token(&TokenRequest::from_pairs(pairs).unwrap())
}

#[test]
fn authorization_code_with_pkce_end_to_end() {
    let setup = setup();
    let pending = pending(&setup, "public-app");
    // Requested ∩ registered: `patient/*.rs` narrows to the registered resource scopes.
    assert_eq!(
        pending.scopes.to_string(),
        "launch/patient openid fhirUser offline_access patient/Observation.rs patient/Patient.r patient/Condition.rs"
    );
    let code = setup.server.approve(pending, approval()).unwrap();
    assert_eq!(
        code.redirect,
        format!("{REDIRECT}?code={}&state=af0ifjsldkj%26x", code.code)
    );
    let response = exchange(&setup, &code.code, "public-app").unwrap();
    // ∩ what the user granted: Condition was not, and `Patient.rs` is cut to `Patient.r`.
    assert_eq!(
        response.scope,
        "launch/patient openid fhirUser offline_access patient/Observation.rs patient/Patient.r"
    );
    assert_eq!(response.patient.as_deref(), Some("123"));
    assert_eq!(response.token_type, "Bearer");
    assert_eq!(response.expires_in, 300);
    assert!(response.refresh_token.is_some());
    let context = setup.validator.validate(&response.access_token).unwrap();
    assert_eq!(context.client_id(), Some("public-app"));
    assert_eq!(context.subject(), Some("user-7"));
    assert_eq!(context.patient(), Some("123"));
    assert_eq!(context.fhir_user(), Some("Practitioner/9"));
    assert_eq!(context.expires_at(), NOW + 300);
    // The id_token: RS256 with the id key, fhirUser, audience the client.
    let id_token = response.id_token.unwrap();
    let id_keys =
        smart_token::KeySet::from_jwks(&setup.server.issuer().jwks().to_string()).unwrap();
    assert_eq!(id_keys.len(), 2);
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "kid": "id-1"}));
    let payload: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        payload,
        json!({"iss": ISS, "sub": "user-7", "aud": "public-app", "exp": NOW + 300, "iat": NOW, "fhirUser": "Practitioner/9"})
    );
    // An id_token is not an access token.
    assert_eq!(
        setup.validator.validate(&id_token).unwrap_err(),
        Error::WrongType
    );
}

#[test]
fn user_claims_reach_the_access_token_but_never_replace_the_issuers() {
    let setup = setup();
    let mut claims = serde_json::Map::new();
    claims.insert("roles".into(), json!(["doctor"]));
    claims.insert("sub".into(), json!("someone-else"));
    claims.insert("patient".into(), json!("other"));
    let approval = Approval {
        claims,
        ..approval()
    };
    let code = setup
        .server
        .approve(pending(&setup, "public-app"), approval)
        .unwrap();
    let response = exchange(&setup, &code.code, "public-app").unwrap();
    let context = setup.validator.validate(&response.access_token).unwrap();
    assert_eq!(context.roles(), ["doctor"]);
    assert_eq!(context.subject(), Some("user-7"));
    assert_eq!(context.patient(), Some("123"));
    // The refresh token carries the same claims into the next access token.
    let refreshed = refresh(&setup, &response.refresh_token.unwrap(), None).unwrap();
    let context = setup.validator.validate(&refreshed.access_token).unwrap();
    assert_eq!(context.roles(), ["doctor"]);
}

#[test]
fn attack_code_replay_revokes_what_the_first_use_issued() {
    let setup = setup();
    let code = code_for(&setup, "public-app");
    let first = exchange(&setup, &code, "public-app").unwrap();
    assert!(setup.validator.validate(&first.access_token).is_ok());
    assert_eq!(
        exchange(&setup, &code, "public-app").unwrap_err(),
        Error::InvalidGrant("the code was already used; the tokens it issued are revoked")
    );
    assert_eq!(
        setup.validator.validate(&first.access_token).unwrap_err(),
        Error::Revoked
    );
    assert_eq!(
        refresh(&setup, first.refresh_token.as_deref().unwrap(), None).unwrap_err(),
        Error::InvalidGrant("the refresh token is invalid, expired or revoked")
    );
}

#[test]
fn codes_expire_and_are_bound_to_their_client() {
    let setup = setup();
    let code = code_for(&setup, "public-app");
    setup.clock.advance(60);
    assert_eq!(
        exchange(&setup, &code, "public-app").unwrap_err(),
        Error::InvalidGrant("the code is invalid or expired")
    );
    let setup = self::setup();
    let code = code_for(&setup, "public-app");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("confidential-app:{}", setup.secret))
    );
    let stolen = TokenRequest::from_pairs([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ])
    .unwrap()
    .with_authorization_header(Some(&basic));
    assert_eq!(
        setup.server.token(&stolen).unwrap_err(),
        Error::InvalidGrant("the code was issued to another client")
    );
    assert_eq!(
        exchange(&setup, "made-up", "public-app").unwrap_err(),
        Error::InvalidGrant("the code is invalid or expired")
    );
}

#[test]
fn attack_pkce_missing_plain_and_wrong_verifier() {
    let setup = setup();
    let mut request = authorization_request("public-app");
    request.code_challenge_method = Some("plain".into());
    request.code_challenge = Some(VERIFIER.into());
    assert_eq!(
        setup.server.authorize(&request).unwrap_err(),
        Error::Pkce("the `plain` method is refused; use `S256`")
    );
    request.code_challenge = None;
    request.code_challenge_method = None;
    assert_eq!(
        setup.server.authorize(&request).unwrap_err(),
        Error::Pkce("`code_challenge` is required")
    );

    for (verifier, error) in [
        (None, Error::Pkce("`code_verifier` is required")),
        (
            Some("eBjftJeZ4CK-7NaU9YHaZBKnJZw-JkSFMl7xXHNsbZY"),
            Error::InvalidGrant("`code_verifier` does not match the challenge"),
        ),
        (
            Some(pkce_challenge(VERIFIER).as_str()),
            Error::InvalidGrant("`code_verifier` does not match the challenge"),
        ),
    ] {
        let code = code_for(&setup, "public-app");
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "public-app"),
        ];
        if let Some(verifier) = verifier {
            pairs.push(("code_verifier", verifier));
        }
        assert_eq!(
            setup
                .server
                .token(&TokenRequest::from_pairs(pairs).unwrap())
                .unwrap_err(),
            error
        );
        // A failed attempt spends the code.
        assert_eq!(
            exchange(&setup, &code, "public-app").unwrap_err(),
            Error::InvalidGrant("the code was already used; the tokens it issued are revoked")
        );
    }
}

#[test]
fn attack_redirect_uri_variants() {
    let setup = setup();
    for variant in [
        "https://app.example/callback/",
        "https://APP.example/callback",
        "https://app.example/Callback",
        "https://app.example/callback?x=1",
        "https://app.example/callback#x",
        "http://app.example/callback",
        "https://app.example:443/callback",
        "https://app.example/callback/../evil",
        "https://app.example.evil.example/callback",
        "https://app.example@evil.example/callback",
        "https://app.example/callback%2F..",
        "",
    ] {
        let mut request = authorization_request("public-app");
        request.redirect_uri = Some(variant.into());
        assert_eq!(
            setup.server.authorize(&request).unwrap_err(),
            Error::RedirectUriMismatch,
            "{variant}"
        );
    }
    // At the token endpoint, the redirect URI must be the authorization request's.
    let code = code_for(&setup, "public-app");
    let request = TokenRequest::from_pairs([
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://app.example/callback/"),
        ("code_verifier", VERIFIER),
        ("client_id", "public-app"),
    ])
    .unwrap();
    assert_eq!(
        setup.server.token(&request).unwrap_err(),
        Error::InvalidGrant("`redirect_uri` does not match the authorization request")
    );
}

#[test]
fn authorization_request_errors() {
    let setup = setup();
    let mut request = authorization_request("nobody");
    assert_eq!(
        setup.server.authorize(&request).unwrap_err(),
        Error::InvalidClient
    );
    request = authorization_request("public-app");
    request.aud = Some("https://other-fhir.example".into());
    assert_eq!(
        setup.server.authorize(&request).unwrap_err(),
        Error::InvalidRequest("`aud` must be this FHIR server's base URL".into())
    );
    request = authorization_request("public-app");
    request.response_type = Some("token".into());
    assert_eq!(
        setup.server.authorize(&request).unwrap_err(),
        Error::InvalidRequest("`response_type` must be `code`".into())
    );
    assert_eq!(
        AuthorizationRequest::from_pairs([("scope", "a"), ("scope", "b")]).unwrap_err(),
        Error::InvalidRequest("parameter `scope` was sent twice".into())
    );
}

#[test]
fn attack_refresh_scope_escalation() {
    let setup = setup();
    let first = exchange(&setup, &code_for(&setup, "public-app"), "public-app").unwrap();
    let token = first.refresh_token.unwrap();
    assert_eq!(
        refresh(&setup, &token, Some("patient/Observation.rs patient/Condition.rs")).unwrap_err(),
        Error::ScopeNotAllowed(
            "scope `patient/Condition.rs` was not in the original grant; a refresh may only narrow it".into()
        )
    );
    assert_eq!(
        refresh(&setup, &token, Some("patient/Observation.rsu"))
            .unwrap_err()
            .oauth_error(),
        "invalid_scope"
    );
    // Refused refreshes do not spend the token.
    assert!(refresh(&setup, &token, Some("patient/Observation.r")).is_ok());
}

#[test]
fn public_clients_rotate_and_reuse_revokes_the_family() {
    let setup = setup();
    let first = exchange(&setup, &code_for(&setup, "public-app"), "public-app").unwrap();
    let token_1 = first.refresh_token.unwrap();
    // Narrowing is fine.
    let second = refresh(&setup, &token_1, Some("patient/Observation.r")).unwrap();
    assert_eq!(second.scope, "patient/Observation.r");
    let token_2 = second.refresh_token.unwrap();
    assert_ne!(token_1, token_2);
    assert!(setup.validator.validate(&second.access_token).is_ok());
    // The rotated token is refused again, and the whole family dies with it.
    assert_eq!(
        refresh(&setup, &token_1, None).unwrap_err(),
        Error::InvalidGrant("the refresh token was already used; its family is revoked")
    );
    assert_eq!(
        refresh(&setup, &token_2, None).unwrap_err(),
        Error::InvalidGrant("the refresh token is invalid, expired or revoked")
    );
    assert_eq!(
        setup.validator.validate(&first.access_token).unwrap_err(),
        Error::Revoked
    );
    assert_eq!(
        setup.validator.validate(&second.access_token).unwrap_err(),
        Error::Revoked
    );
}

#[test]
fn confidential_clients_keep_their_refresh_token() {
    let setup = setup();
    let code = code_for(&setup, "confidential-app");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("confidential-app:{}", setup.secret))
    );
    let request = |pairs: Vec<(&str, &str)>| {
        TokenRequest::from_pairs(pairs)
            .unwrap()
            .with_authorization_header(Some(&basic))
    };
    let first = setup
        .server
        .token(&request(vec![
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ]))
        .unwrap();
    let token = first.refresh_token.unwrap();
    for _ in 0..2 {
        let refreshed = setup
            .server
            .token(&request(vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
            ]))
            .unwrap();
        assert_eq!(refreshed.refresh_token, None);
    }
    // Bound to the client: the public app cannot use it.
    assert_eq!(
        refresh(&setup, &token, None).unwrap_err(),
        Error::InvalidGrant("the refresh token was issued to another client")
    );
}

#[test]
fn client_authentication() {
    let setup = setup();
    let basic = |id: &str, secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };
    let credentials = |header: Option<String>, pairs: Vec<(&str, &str)>| {
        let mut pairs = pairs;
        pairs.push(("grant_type", "client_credentials"));
        TokenRequest::from_pairs(pairs)
            .unwrap()
            .with_authorization_header(header.as_deref())
    };
    // client_secret_post works for the post client.
    let ok = setup
        .server
        .token(&credentials(
            None,
            vec![("client_id", "post-app"), ("client_secret", &setup.secret)],
        ))
        .unwrap();
    assert_eq!(ok.scope, "system/Observation.rs system/Patient.r");
    // Wrong secret, unknown client, wrong method: the same answer.
    for request in [
        credentials(
            None,
            vec![("client_id", "post-app"), ("client_secret", "wrong")],
        ),
        credentials(
            None,
            vec![("client_id", "nobody"), ("client_secret", "wrong")],
        ),
        credentials(Some(basic("post-app", &setup.secret)), vec![]),
        credentials(None, vec![("client_id", "post-app")]),
        credentials(None, vec![]),
    ] {
        assert_eq!(
            setup.server.token(&request).unwrap_err(),
            Error::InvalidClient
        );
    }
    assert_eq!(
        setup
            .server
            .token(&credentials(
                Some(basic("post-app", &setup.secret)),
                vec![("client_id", "post-app"), ("client_secret", &setup.secret)]
            ))
            .unwrap_err(),
        Error::InvalidRequest("use exactly one client authentication method".into())
    );
    assert_eq!(
        setup
            .server
            .token(
                &TokenRequest::from_pairs([
                    ("grant_type", "password"),
                    ("client_id", "public-app")
                ])
                .unwrap()
            )
            .unwrap_err(),
        Error::UnsupportedGrantType
    );
    assert_eq!(
        setup
            .server
            .token(
                &TokenRequest::from_pairs([
                    ("grant_type", "client_credentials"),
                    ("client_id", "public-app")
                ])
                .unwrap()
            )
            .unwrap_err(),
        Error::UnauthorizedClient("use this grant type")
    );
}

#[test]
fn client_credentials_grants_only_system_scopes() {
    let setup = setup();
    let request = TokenRequest::from_pairs([
        ("grant_type", "client_credentials"),
        ("client_id", "post-app"),
        ("client_secret", setup.secret.as_str()),
        (
            "scope",
            "system/Observation.rs patient/Patient.r system/Condition.rs",
        ),
    ])
    .unwrap();
    let response = setup.server.token(&request).unwrap();
    assert_eq!(response.scope, "system/Observation.rs");
    assert_eq!(response.refresh_token, None);
    let context = setup.validator.validate(&response.access_token).unwrap();
    assert_eq!(context.subject(), Some("post-app"));
    assert_eq!(context.scope_context(), fhir_scopes::Context::System);
    // The client's own claims come along; the issuer's win.
    assert_eq!(context.roles(), ["analytics-service"]);
    let request = TokenRequest::from_pairs([
        ("grant_type", "client_credentials"),
        ("client_id", "post-app"),
        ("client_secret", setup.secret.as_str()),
        ("scope", "system/Condition.rs"),
    ])
    .unwrap();
    assert_eq!(
        setup.server.token(&request).unwrap_err(),
        Error::ScopeNotAllowed("no requested `system/` scope is allowed for this client".into())
    );
}

#[test]
fn introspection_and_revocation() {
    let setup = setup();
    let response = exchange(&setup, &code_for(&setup, "public-app"), "public-app").unwrap();
    let introspection =
        serde_json::to_value(setup.server.introspect(&response.access_token)).unwrap();
    assert_eq!(
        introspection,
        json!({
            "active": true,
            "scope": "launch/patient openid fhirUser offline_access patient/Observation.rs patient/Patient.r",
            "client_id": "public-app",
            "sub": "user-7",
            "token_type": "Bearer",
            "exp": NOW + 300,
            "iat": NOW,
            "iss": ISS,
            "patient": "123",
            "fhirUser": "Practitioner/9",
        })
    );
    let refresh_token = response.refresh_token.unwrap();
    assert_eq!(
        setup.server.introspect(&refresh_token).token_type,
        Some("refresh_token")
    );
    assert_eq!(
        serde_json::to_value(setup.server.introspect("junk")).unwrap(),
        json!({"active": false})
    );

    let public = setup.clients.client("public-app").unwrap().unwrap();
    let other = setup.clients.client("confidential-app").unwrap().unwrap();
    assert_eq!(
        setup
            .server
            .revoke(&response.access_token, &other)
            .unwrap_err(),
        Error::UnauthorizedClient("revoke another client's token")
    );
    setup
        .server
        .revoke(&response.access_token, &public)
        .unwrap();
    assert_eq!(
        setup
            .validator
            .validate(&response.access_token)
            .unwrap_err(),
        Error::Revoked
    );
    assert!(!setup.server.introspect(&response.access_token).active);
    setup.server.revoke(&refresh_token, &public).unwrap();
    assert!(!setup.server.introspect(&refresh_token).active);
    // Unknown tokens are not an error.
    setup.server.revoke("junk", &public).unwrap();
}

#[test]
fn dynamic_registration_rules() {
    let allowed =
        ScopeSet::parse("openid fhirUser launch/patient offline_access patient/*.rs system/*.rs")
            .unwrap();
    let metadata =
        |value: serde_json::Value| serde_json::from_value::<ClientMetadata>(value).unwrap();
    let registered = metadata(json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid launch/patient patient/Observation.rs",
        "client_name": "Growth chart",
        "logo_uri": "ignored: unknown members are ignored"
    }))
    .register(&allowed, None)
    .unwrap();
    assert!(registered.client.is_public());
    assert_eq!(registered.client_secret, None);
    assert_eq!(registered.client.id().len(), 43);

    let confidential = metadata(json!({"redirect_uris": [REDIRECT]}))
        .register(&allowed, None)
        .unwrap();
    let secret = confidential.client_secret.unwrap();
    let ClientAuth::SecretBasic(stored) = confidential.client.auth() else {
        panic!()
    };
    assert!(stored.verify(&secret));
    assert!(!format!("{stored:?}").contains(stored.as_phc()));

    for (value, message) in [
        (
            json!({"token_endpoint_auth_method": "none"}),
            "an authorization-code client needs at least one redirect URI",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "grant_types": ["password"]}),
            "unsupported grant type",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "response_types": ["token"]}),
            "only the `code` response type is supported",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "`client_credentials` needs a confidential client",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "scope": "system/Patient.r"}),
            "`system/` scopes are only for `client_credentials` clients",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "scope": "user/Patient.r"}),
            "scope `user/Patient.r` is not offered",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}),
            "`private_key_jwt` needs `jwks` or `jwks_uri`",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://x.example/jwks"}),
            "`jwks_uri` must be https",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}}),
            "`jwks` has no usable signing key",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "jwks": {"keys": []}}),
            "`jwks` and `jwks_uri` are only for `private_key_jwt`",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_jwt"}),
            "unsupported `token_endpoint_auth_method`",
        ),
        (
            json!({"redirect_uris": ["https://app.example/*"]}),
            "redirect URI `https://app.example/*`: must not contain wildcards",
        ),
    ] {
        assert_eq!(
            metadata(value.clone())
                .register(&allowed, None)
                .unwrap_err(),
            Error::InvalidClientMetadata(message.into()),
            "{value}"
        );
    }
}

#[test]
fn library_types_are_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<AuthorizationServer>();
    shared::<Validator>();
    shared::<TokenIssuer>();
    shared::<smart_token::AccessContext>();
    shared::<smart_token::KeySource>();
    shared::<Error>();
}
