//! The HTTP layer: the axum router, and the one handler that turns any request under `/fhir`
//! into a [`RawRequest`] for the engine (on a blocking thread, under the time limit) and its
//! [`Reply`] back into HTTP. Request bodies are read here, up to the size limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;

use super::engine::{Engine, Reply};
use super::guard::Caller;
use super::outcome::Error;
use super::request::{self, RawRequest};

/// The header that carries a break-glass reason: the policy's break-glass rules apply and
/// the audit record carries the reason.
pub(crate) const BREAK_GLASS_HEADER: &str = "x-break-glass";
/// The header that carries the purpose of use (a v3 PurposeOfUse code such as `HRESCH`).
pub(crate) const PURPOSE_HEADER: &str = "x-purpose-of-use";

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) engine: Arc<Engine>,
    pub(crate) max_body_bytes: usize,
    pub(crate) request_timeout: Duration,
}

/// The router: `/healthz` (an operational probe, not audited), and FHIR under `/fhir`.
pub(crate) fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/fhir", any(fhir))
        .route("/fhir/", any(fhir))
        .route("/fhir/{*path}", any(fhir))
        .fallback(not_fhir)
        .with_state(state)
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let engine = Arc::clone(&state.engine);
    let check = tokio::task::spawn_blocking(move || {
        engine
            .store
            .reader()
            .query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
    })
    .await;
    match check {
        Ok(Ok(1)) => (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "unavailable"})),
        )
            .into_response(),
    }
}

/// Anything outside `/fhir` and `/healthz`: a 404, audited like every FHIR request.
async fn not_fhir(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let caller = caller(request.headers(), peer);
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let engine = Arc::clone(&state.engine);
    let error = Error::UnknownRoute("not a FHIR endpoint: the FHIR base is `/fhir`".to_owned());
    let reply =
        tokio::task::spawn_blocking(move || engine.reject(&caller, &method, &path, &error)).await;
    match reply {
        Ok(reply) => render(reply),
        Err(_) => render(Reply::error(&Error::Internal("task".to_owned()))),
    }
}

async fn fhir(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let caller = caller(&parts.headers, peer);
    let method = parts.method.clone();
    let raw_path = parts
        .uri
        .path()
        .strip_prefix("/fhir")
        .unwrap_or("")
        .trim_start_matches('/')
        .to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(header::CONTENT_TYPE);
    let if_match = header(header::IF_MATCH);
    let if_none_exist = header(header::HeaderName::from_static("if-none-exist"));
    // `Prefer: return=minimal` on a create, update or patch: status and headers, no body.
    let minimal = matches!(parts.method, Method::POST | Method::PUT | Method::PATCH)
        && !raw_path.is_empty()
        && !raw_path.ends_with("_search")
        && parts
            .headers
            .get_all(header::HeaderName::from_static("prefer"))
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split([',', ';']))
            .any(|p| p.trim() == "return=minimal");
    let engine = Arc::clone(&state.engine);

    // Read the body under the limit; a too-large body is still one audited request.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let body = if declared.is_some_and(|n| n > state.max_body_bytes) {
        Err(Error::TooLarge {
            limit: state.max_body_bytes,
        })
    } else {
        axum::body::to_bytes(body, state.max_body_bytes)
            .await
            .map_err(|_| Error::TooLarge {
                limit: state.max_body_bytes,
            })
    };
    let path = percent_encoding::percent_decode_str(&raw_path)
        .decode_utf8()
        .map(|p| p.into_owned())
        .map_err(|_| Error::Invalid("the path is not UTF-8".to_owned()));

    let work = tokio::task::spawn_blocking(move || {
        let path_text = path.as_deref().unwrap_or(&raw_path).to_owned();
        let outcome = body.and_then(|bytes| path.map(|p| (bytes, p)));
        match outcome {
            Ok((bytes, path)) => {
                let raw = RawRequest {
                    method: &method,
                    path: &path,
                    query: &query,
                    body: if bytes.is_empty() {
                        request::Body::Empty
                    } else {
                        request::Body::Bytes(&bytes)
                    },
                    content_type: content_type.as_deref(),
                    if_match: if_match.as_deref(),
                    if_none_exist: if_none_exist.as_deref(),
                };
                engine.handle(&caller, &raw)
            }
            Err(error) => engine.reject(&caller, method.as_str(), &path_text, &error),
        }
    });
    match tokio::time::timeout(state.request_timeout, work).await {
        Ok(Ok(mut reply)) => {
            if minimal && reply.status.is_success() {
                reply.body = None;
            }
            render(reply)
        }
        Ok(Err(join)) => {
            tracing::error!(%join, "request task failed");
            render(Reply::error(&Error::Internal("task".to_owned())))
        }
        Err(_) => render(Reply::error(&Error::Timeout {
            seconds: state.request_timeout.as_secs(),
        })),
    }
}

fn caller(headers: &HeaderMap, peer: SocketAddr) -> Caller {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Caller {
        authorization: text(header::AUTHORIZATION.as_str()),
        peer: Some(peer),
        break_glass: text(BREAK_GLASS_HEADER),
        purpose_of_use: text(PURPOSE_HEADER),
        session: std::sync::OnceLock::new(),
    }
}

/// A reply as HTTP: FHIR JSON, `ETag`, `Last-Modified`, `Location` on creation, and
/// `WWW-Authenticate` on 401.
pub(crate) fn render(reply: Reply) -> Response {
    let mut response = match &reply.body {
        Some(body) => match serde_json::to_vec(body) {
            Ok(bytes) => Response::new(Body::from(bytes)),
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        None => Response::new(Body::empty()),
    };
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    if reply.body.is_some() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+json; charset=utf-8"),
        );
    }
    if let Some(version) = reply.version {
        if let Ok(value) = HeaderValue::from_str(&format!("W/\"{version}\"")) {
            headers.insert(header::ETAG, value);
        }
    }
    if let Some(millis) = reply.last_modified {
        if let Ok(value) = HeaderValue::from_str(&super::date::http_date(millis)) {
            headers.insert(header::LAST_MODIFIED, value);
        }
    }
    if reply.status == StatusCode::CREATED {
        if let Some(value) = reply
            .location
            .as_deref()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            headers.insert(header::LOCATION, value);
        }
    }
    if reply.status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"fhir-access\""),
        );
    }
    response
}
