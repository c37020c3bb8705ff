//! CORS for browser SMART apps (SMART's JavaScript client runs on the app's own origin): the
//! FHIR API, discovery, `/jwks`, `/token`, `/introspect`, `/revoke` and
//! `/device_authorization` may be called from any origin. Safe because these take bearer
//! tokens or client credentials in the request, never cookies: credentials are not allowed
//! (`Access-Control-Allow-Credentials` is never sent), so another site's script cannot ride
//! a user's session. The cookie-based pages (`/authorize`, `/device`, `/launch`) get no CORS
//! headers at all.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::paths;

/// Request headers a browser app may send.
const ALLOWED_HEADERS: &str = "authorization, content-type, accept, prefer, if-match, if-none-exist, if-none-match, x-purpose-of-use";
/// Response headers a browser app may read.
const EXPOSED_HEADERS: &str = "location, etag, last-modified, content-location, www-authenticate";

/// Whether cross-origin calls to `path` are allowed.
fn open(path: &str) -> bool {
    path == "/fhir"
        || path.starts_with("/fhir/")
        || [
            paths::JWKS,
            paths::TOKEN,
            paths::INTROSPECT,
            paths::REVOKE,
            paths::DEVICE_AUTHORIZATION,
            paths::REGISTER,
        ]
        .contains(&path)
}

/// The middleware: answers preflights itself and marks cross-origin answers readable.
pub(crate) async fn cors(request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|_| open(request.uri().path()))
        .cloned();
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        allow(headers, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return response;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    allow(headers, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    response
}

fn allow(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    // The answer depends on the Origin header: caches must key on it.
    headers.append(header::VARY, HeaderValue::from_static("origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_and_api_paths_are_open() {
        for path in [
            "/fhir",
            "/fhir/Patient/1",
            "/fhir/.well-known/smart-configuration",
            "/token",
            "/jwks",
            "/revoke",
        ] {
            assert!(open(path), "{path}");
        }
        for path in [
            "/authorize",
            "/device",
            "/launch",
            "/auth.css",
            "/fhirx",
            "/tokens",
            "/healthz",
        ] {
            assert!(!open(path), "{path}");
        }
    }
}
