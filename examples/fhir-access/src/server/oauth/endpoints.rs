//! The machine-facing endpoints: `POST /token`, `/introspect`, `/revoke`,
//! `/device_authorization`, `/register` (RFC 7591, when enabled) and `/launch`. Form bodies
//! in, JSON out; errors as RFC 6749 §5.2 `{"error", "error_description"}` with the status
//! smart-token assigns. Responses carrying tokens are `Cache-Control: no-store`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use smart_token::{ClientAuth, ClientMetadata, Error, GrantType, TokenRequest};

use super::clients::{Status, StoredClient};
use super::{Oauth, blocking, db, launch, users};

/// The largest form or JSON body accepted (assertions and JWKS fit easily).
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// An RFC 6749 error response.
pub(crate) fn oauth_error(error: &Error) -> Response {
    // Here a token-shape error (`alg: none`, a `jku` header, bad base64, ...) can only come
    // from a client assertion: client authentication failed (RFC 7523 §3.2).
    let (code, status) = match error.oauth_error() {
        "invalid_token" => ("invalid_client", StatusCode::UNAUTHORIZED),
        code => (
            code,
            StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
        ),
    };
    let mut response = (
        status,
        Json(json!({"error": code, "error_description": error.to_string()})),
    )
        .into_response();
    let headers = response.headers_mut();
    no_store(headers);
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"fhir-access\""),
        );
    }
    response
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A blocking endpoint's answer, never cached: the response, its OAuth error, or a server
/// error when the blocking task failed.
fn no_store_answer(answer: Option<Result<impl IntoResponse, Error>>) -> Response {
    match answer {
        Some(Ok(answer)) => {
            let mut response = answer.into_response();
            no_store(response.headers_mut());
            response
        }
        Some(Err(error)) => oauth_error(&error),
        None => server_error(),
    }
}

fn server_error() -> Response {
    oauth_error(&Error::Storage("internal error".into()))
}

/// The decoded pairs of a form body; anything but `application/x-www-form-urlencoded` (or a
/// body over [`MAX_BODY`]) is `invalid_request`.
pub(crate) fn form_pairs(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, Error> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(Error::InvalidRequest(
            "the body must be `application/x-www-form-urlencoded`".into(),
        ));
    }
    if body.len() > MAX_BODY {
        return Err(Error::InvalidRequest("the body is too large".into()));
    }
    Ok(form_urlencoded::parse(body).into_owned().collect())
}

/// A token-style request: the form plus the `Authorization` header.
fn token_request(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, Error> {
    let pairs = form_pairs(headers, body)?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    Ok(TokenRequest::from_pairs(pairs)?.with_authorization_header(authorization))
}

/// `POST /token`.
pub(crate) async fn token(
    State(oauth): State<Arc<Oauth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = blocking(move || {
        let request = token_request(&headers, &body)?;
        let response = oauth.server.token(&request)?;
        let mut value = serde_json::to_value(&response).map_err(super::db::storage)?;
        if let Some(map) = value.as_object_mut() {
            // A standalone launch's app shows the patient itself; an EHR-launched app
            // (`launch` scope) runs inside the EHR's own banner.
            if response.patient.is_some() {
                let ehr = response.scope.split(' ').any(|scope| scope == "launch");
                map.insert("need_patient_banner".into(), json!(!ehr));
            }
        }
        Ok::<Value, Error>(value)
    })
    .await;
    no_store_answer(answer.map(|result| result.map(Json)))
}

/// `POST /introspect` (RFC 7662): a confidential client authenticates (a resource server);
/// the answer is `{"active": false}` for anything not live.
pub(crate) async fn introspect(
    State(oauth): State<Arc<Oauth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = blocking(move || {
        let pairs = form_pairs(&headers, &body)?;
        let token = single(&pairs, "token")?;
        let client = authenticate(&oauth, &headers, &pairs, &["token", "token_type_hint"])?;
        if client.is_public() {
            return Err(Error::InvalidClient);
        }
        Ok(oauth.server.introspect(&token))
    })
    .await;
    no_store_answer(answer.map(|result| result.map(Json)))
}

/// `POST /revoke` (RFC 7009): the client authenticates (a public one by `client_id`) and
/// revokes one of its own tokens; unknown tokens are a success.
pub(crate) async fn revoke(
    State(oauth): State<Arc<Oauth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = blocking(move || {
        let pairs = form_pairs(&headers, &body)?;
        let token = single(&pairs, "token")?;
        let client = authenticate(&oauth, &headers, &pairs, &["token", "token_type_hint"])?;
        oauth.server.revoke(&token, &client)
    })
    .await;
    no_store_answer(answer.map(|result| result.map(|()| StatusCode::OK)))
}

/// `POST /device_authorization` (RFC 8628 §3.1).
pub(crate) async fn device_authorization(
    State(oauth): State<Arc<Oauth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = blocking(move || {
        let request = token_request(&headers, &body)?;
        oauth.server.device_authorization(&request)
    })
    .await;
    no_store_answer(answer.map(|result| result.map(Json)))
}

/// The one value of a required form field.
fn single(pairs: &[(String, String)], name: &str) -> Result<String, Error> {
    let mut values = pairs.iter().filter(|(n, _)| n == name);
    match (values.next(), values.next()) {
        (Some((_, value)), None) => Ok(value.clone()),
        (None, _) => Err(Error::InvalidRequest(format!("`{name}` is required"))),
        (Some(_), Some(_)) => Err(Error::InvalidRequest(format!(
            "parameter `{name}` was sent twice"
        ))),
    }
}

/// Client authentication as at the token endpoint, from the form minus the endpoint's own
/// fields.
fn authenticate(
    oauth: &Oauth,
    headers: &HeaderMap,
    pairs: &[(String, String)],
    own: &[&str],
) -> Result<Arc<smart_token::Client>, Error> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let request = TokenRequest::from_pairs(
        pairs
            .iter()
            .filter(|(name, _)| !own.contains(&name.as_str()))
            .map(|(n, v)| (n.as_str(), v.clone())),
    )?
    .with_authorization_header(authorization);
    oauth.server.authenticate_client(&request)
}

/// Registrations waiting for approval at most: more are refused until an administrator
/// approves or removes some (an unauthenticated endpoint must not grow the database
/// without bound).
pub(crate) const MAX_PENDING: usize = 100;

/// The scopes a dynamically registered client may be given.
const REGISTRATION_SCOPES: &str = "openid fhirUser launch launch/patient launch/encounter offline_access online_access patient/*.cruds user/*.cruds system/*.cruds";

/// `POST /register` (RFC 7591): the client is stored `pending` and works once an
/// administrator runs `fhir-access client approve <id>`.
pub(crate) async fn register(
    State(oauth): State<Arc<Oauth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = blocking(move || register_client(&oauth, &headers, &body)).await;
    no_store_answer(answer.map(|result| result.map(|value| (StatusCode::CREATED, Json(value)))))
}

fn register_client(oauth: &Oauth, headers: &HeaderMap, body: &[u8]) -> Result<Value, Error> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "application/json" {
        return Err(Error::InvalidClientMetadata(
            "the body must be `application/json`".into(),
        ));
    }
    if body.len() > MAX_BODY {
        return Err(Error::InvalidClientMetadata("the body is too large".into()));
    }
    if super::clients::pending(&oauth.db)? >= MAX_PENDING {
        return Err(Error::InvalidClientMetadata(
            "too many registrations wait for approval; try again later".into(),
        ));
    }
    let metadata: ClientMetadata = serde_json::from_slice(body)
        .map_err(|_| Error::InvalidClientMetadata("the body is not client metadata JSON".into()))?;
    let allowed = fhir_scopes::ScopeSet::parse(REGISTRATION_SCOPES)
        .map_err(|e| Error::ScopeNotAllowed(e.to_string()))?;
    let jwks = metadata.jwks.clone();
    let jwks_uri = metadata.jwks_uri.clone();
    let name = metadata.client_name.clone();
    let registration = metadata.register(&allowed, Some(Arc::clone(&oauth.fetcher)))?;
    let client = &registration.client;
    let secret_hash = match client.auth() {
        ClientAuth::SecretBasic(hash) | ClientAuth::SecretPost(hash) => {
            Some(hash.as_phc().to_owned())
        }
        _ => None,
    };
    let grant_types: Vec<String> = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::DeviceCode,
    ]
    .into_iter()
    .filter(|grant| client.allows_grant(*grant))
    .map(|grant| grant.as_str().to_owned())
    .collect();
    let stored = StoredClient {
        id: client.id().to_owned(),
        name: name.clone(),
        token_endpoint_auth_method: client.auth().method().to_owned(),
        secret_hash,
        jwks: if client.auth().method() == "private_key_jwt" {
            jwks
        } else {
            None
        },
        jwks_uri: if client.auth().method() == "private_key_jwt" {
            jwks_uri
        } else {
            None
        },
        redirect_uris: client.redirect_uris().to_vec(),
        grant_types: grant_types.clone(),
        scope: client.allowed_scopes().to_string(),
        access_token_lifetime: 3600,
        refresh_token_lifetime: 90 * 24 * 3600,
        roles: Vec::new(),
    };
    oauth.clients.put(&stored, Status::Pending)?;
    tracing::info!(client = %stored.id, "client registered; waiting for `fhir-access client approve`");
    let mut answer = json!({
        "client_id": stored.id,
        "client_id_issued_at": db::now(),
        "token_endpoint_auth_method": stored.token_endpoint_auth_method,
        "redirect_uris": stored.redirect_uris,
        "grant_types": grant_types,
        "scope": stored.scope,
    });
    if let Some(map) = answer.as_object_mut() {
        if let Some(secret) = registration.client_secret {
            map.insert("client_secret".into(), json!(secret));
            map.insert("client_secret_expires_at".into(), json!(0));
        }
        if let Some(name) = name {
            map.insert("client_name".into(), json!(name));
        }
    }
    Ok(answer)
}

/// `POST /launch`: an administrator (a bearer token of this server for a user with the
/// `admin` role) creates an EHR launch context from `patient`, optional `encounter` and
/// `fhirContext` references (form fields); the answer is `{"launch": "<id>"}`.
pub(crate) async fn launch(
    State(oauth): State<Arc<Oauth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = blocking(move || {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned());
        let admin = bearer
            .map(|token| oauth.server.introspect(&token))
            .filter(|introspection| {
                introspection.active && introspection.token_type == Some("Bearer")
            })
            .and_then(|introspection| introspection.sub)
            .map(|sub| users::find(&oauth.db, &sub))
            .transpose()?
            .flatten()
            .is_some_and(|user| user.roles.iter().any(|role| role == "admin"));
        if !admin {
            return Err(Error::AccessDenied);
        }
        let pairs = form_pairs(&headers, &body)?;
        let patient = single(&pairs, "patient")?;
        let encounter = pairs
            .iter()
            .find(|(name, _)| name == "encounter")
            .map(|(_, value)| value.clone());
        let references: Vec<String> = pairs
            .iter()
            .filter(|(name, _)| name == "fhirContext")
            .map(|(_, value)| value.clone())
            .collect();
        let context = launch::context(patient, encounter, &references)?;
        launch::create(&oauth.db, &context, db::now())
    })
    .await;
    match answer {
        Some(Ok(id)) => (StatusCode::CREATED, Json(json!({"launch": id}))).into_response(),
        Some(Err(Error::AccessDenied)) => (
            StatusCode::FORBIDDEN,
            Json(json!({"error": "access_denied", "error_description": "an administrator's bearer token is required"})),
        )
            .into_response(),
        Some(Err(error)) => oauth_error(&error),
        None => server_error(),
    }
}
