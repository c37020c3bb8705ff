//! CORS for browser SMART apps: an app served from its own origin calls the FHIR API, the
//! token, revocation and introspection endpoints, discovery and the JWKS with `fetch`, so
//! those answer preflights and carry `Access-Control-Allow-Origin: *`. Credentials (cookies)
//! are never allowed cross-origin: these endpoints take bearer tokens and form posts, and the
//! cookie-bound pages (`/authorize`, `/device`, `/oauth/federation`) get no CORS headers, so
//! another origin can neither read them nor send them the browser's session.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The request headers an app may send: the FHIR API's and OAuth's.
const ALLOWED_HEADERS: &str = "authorization, content-type, accept, prefer, if-match, if-none-exist, if-none-match, if-modified-since, x-purpose-of-use";
/// The response headers an app may read.
const EXPOSED_HEADERS: &str = "location, content-location, etag, last-modified, www-authenticate";

/// Whether `path` is an endpoint a browser app calls with `fetch`.
fn open_to_apps(path: &str) -> bool {
    path == "/fhir"
        || path.starts_with("/fhir/")
        || matches!(path, "/token" | "/revoke" | "/introspect" | "/jwks")
}

/// The middleware: answers preflights for the open endpoints, and marks their answers.
pub(crate) async fn cors(request: Request, next: Next) -> Response {
    if !open_to_apps(request.uri().path()) || !request.headers().contains_key(header::ORIGIN) {
        return next.run(request).await;
    }
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut response = (StatusCode::NO_CONTENT, Body::empty()).into_response();
        let headers = response.headers_mut();
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
        allow(headers);
        return response;
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    allow(headers);
    response
}

fn allow(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    // Caches must not serve one origin's answer to another's request.
    headers.append(header::VARY, HeaderValue::from_static("origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_endpoints_apps_fetch_are_open() {
        for path in [
            "/fhir",
            "/fhir/Patient/1",
            "/fhir/.well-known/smart-configuration",
            "/token",
            "/revoke",
            "/introspect",
            "/jwks",
        ] {
            assert!(open_to_apps(path), "{path}");
        }
        for path in [
            "/authorize",
            "/device",
            "/oauth/federation/session",
            "/register",
            "/launch",
            "/fhirx",
            "/healthz",
        ] {
            assert!(!open_to_apps(path), "{path}");
        }
    }
}
