//! Discovery: `GET /fhir/.well-known/smart-configuration` (SMART App Launch 2.2 §2.5), the
//! `oauth-uris` extension of the CapabilityStatement (how `fhirclient` finds the endpoints)
//! and `GET /jwks`. `capabilities` lists what works here, and nothing else.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Oauth, paths};

/// Every SMART capability this server implements (tested in `tests/oauth.rs`).
pub(crate) const CAPABILITIES: [&str; 17] = [
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
    "permission-v2",
];

/// The grant types the token endpoint accepts.
const GRANT_TYPES: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
];

/// The document, for a server at `origin` with FHIR base `base_url`.
pub(crate) fn configuration(oauth: &Oauth) -> Value {
    let mut document = json!({
        "issuer": oauth.base_url,
        "jwks_uri": oauth.url(paths::JWKS),
        "authorization_endpoint": oauth.url(paths::AUTHORIZE),
        "token_endpoint": oauth.url(paths::TOKEN),
        "introspection_endpoint": oauth.url(paths::INTROSPECT),
        "revocation_endpoint": oauth.url(paths::REVOKE),
        "device_authorization_endpoint": oauth.url(paths::DEVICE_AUTHORIZATION),
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": [
            "openid", "fhirUser", "launch", "launch/patient", "launch/encounter",
            "offline_access", "online_access", "patient/*.cruds", "user/*.cruds", "system/*.cruds",
            "patient/*.*", "user/*.*", "system/*.*"
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    });
    if oauth.settings.registration {
        if let Some(map) = document.as_object_mut() {
            map.insert(
                "registration_endpoint".into(),
                json!(oauth.url(paths::REGISTER)),
            );
        }
    }
    document
}

/// `rest.security` of the CapabilityStatement: SMART on FHIR, with the `oauth-uris`
/// extension naming the endpoints of the server at `origin`.
pub(crate) fn security_extension(origin: &str, registration: bool) -> Value {
    let mut uris = vec![
        json!({"url": "authorize", "valueUri": format!("{origin}{}", paths::AUTHORIZE)}),
        json!({"url": "token", "valueUri": format!("{origin}{}", paths::TOKEN)}),
        json!({"url": "introspect", "valueUri": format!("{origin}{}", paths::INTROSPECT)}),
        json!({"url": "revoke", "valueUri": format!("{origin}{}", paths::REVOKE)}),
    ];
    if registration {
        uris.push(json!({"url": "register", "valueUri": format!("{origin}{}", paths::REGISTER)}));
    }
    json!({
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": uris
        }],
        "service": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
            "code": "SMART-on-FHIR"
        }]}],
        "description": "SMART App Launch 2.2: OAuth 2.0 with PKCE; bearer tokens signed by this server's key or a trusted issuer. See docs/smart-app-launch.md."
    })
}

/// `GET /fhir/.well-known/smart-configuration`.
pub(crate) async fn smart_configuration(State(oauth): State<Arc<Oauth>>) -> Response {
    (
        [(header::CACHE_CONTROL, "max-age=300")],
        Json(configuration(&oauth)),
    )
        .into_response()
}

/// `GET /jwks`: the public keys of the server's tokens.
pub(crate) async fn jwks(State(oauth): State<Arc<Oauth>>) -> Response {
    (
        [(header::CACHE_CONTROL, "max-age=300")],
        Json(oauth.server.issuer().jwks()),
    )
        .into_response()
}
