//! The relying party's routes: `GET /oauth/federation/providers?return_to=PATH` (the login
//! page's buttons), `GET /oauth/federation/{id}/login?return_to=PATH` (to the provider),
//! `GET /oauth/federation/{id}/callback` (back from it), and `GET /oauth/federation/session`
//! (who the browser's federated login is).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::relying_party::{Callback, Federation, LoginError};

/// The cookie that binds a started login's `state` to the browser (login CSRF defence).
const STATE_COOKIE: &str = "fhir_access_federation";
/// The cookie of a finished login: the session id.
pub(crate) const LOGIN_COOKIE: &str = "fhir_access_login";
/// The authorization pages' session cookie (`oauth`), logged in by a federated login.
const PAGES_COOKIE: &str = "fhir_access_session";

/// The routes, over the configured providers.
pub(crate) fn router(federation: Arc<Federation>) -> Router {
    Router::new()
        .route("/oauth/federation/providers", get(providers))
        .route("/oauth/federation/session", get(session))
        .route("/oauth/federation/{id}/login", get(login))
        .route("/oauth/federation/{id}/callback", get(callback))
        .with_state(federation)
}

/// The `return_to` parameter, `/` when absent (or the query is unusable).
fn return_to(query: Option<&str>) -> String {
    pairs(query)
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(name, _)| name == "return_to")
                .map(|(_, value)| value)
        })
        .unwrap_or_else(|| "/".to_owned())
}

async fn providers(
    State(federation): State<Arc<Federation>>,
    RawQuery(query): RawQuery,
) -> Response {
    let links: Vec<serde_json::Value> = federation
        .links(&return_to(query.as_deref()))
        .into_iter()
        .map(|(name, href)| json!({"name": name, "href": href}))
        .collect();
    axum::Json(json!({ "providers": links })).into_response()
}

async fn login(
    State(federation): State<Arc<Federation>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let return_to = return_to(query.as_deref());
    let work = Arc::clone(&federation);
    let started = tokio::task::spawn_blocking(move || work.start(&id, &return_to, now())).await;
    match started {
        Ok(Ok(started)) => {
            let cookie = cookie(
                &federation,
                STATE_COOKIE,
                &started.state,
                "/oauth/federation",
                600,
            );
            redirect(&started.location, &cookie)
        }
        Ok(Err(error)) => error_page(&error),
        Err(_) => error_page(&LoginError::Provider("internal task failed".into())),
    }
}

async fn callback(
    State(federation): State<Arc<Federation>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Ok(pairs) = pairs(query.as_deref()) else {
        return error_page(&LoginError::UnknownState);
    };
    let mut answer = Callback::default();
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "code" => &mut answer.code,
            "state" => &mut answer.state,
            "error" => &mut answer.error,
            "iss" => &mut answer.iss,
            _ => continue,
        };
        *slot = Some(value);
    }
    let cookie_state = cookie_value(&headers, STATE_COOKIE);
    let pages_session = cookie_value(&headers, PAGES_COOKIE);
    let work = Arc::clone(&federation);
    let finished = tokio::task::spawn_blocking(move || {
        let now = now();
        let (session, return_to) = work.finish(&id, &answer, cookie_state.as_deref(), now)?;
        // The pages' session, logged in as the linked user: `/authorize` goes on to consent.
        let pages = work
            .logged_in(&session, now)
            .and_then(|login| work.log_in_pages(pages_session.as_deref(), &login.user));
        Ok::<_, LoginError>((session, return_to, pages))
    })
    .await;
    match finished {
        Ok(Ok((session, return_to, pages))) => {
            let mut response = redirect(
                &return_to,
                &cookie(&federation, LOGIN_COOKIE, &session, "/", 600),
            );
            // The state cookie has served its one purpose.
            let cleared = cookie(&federation, STATE_COOKIE, "", "/oauth/federation", 0);
            for value in std::iter::once(cleared).chain(pages) {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Ok(Err(error)) => {
            tracing::info!(%error, "federated login refused");
            error_page(&error)
        }
        Err(_) => error_page(&LoginError::Provider("internal task failed".into())),
    }
}

async fn session(State(federation): State<Arc<Federation>>, headers: HeaderMap) -> Response {
    let login = cookie_value(&headers, LOGIN_COOKIE)
        .and_then(|session| federation.logged_in(&session, now()));
    let mut response = match login {
        Some(login) => (
            StatusCode::OK,
            axum::Json(json!({"user": login.user, "provider": login.provider})),
        )
            .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "no federated login in this browser"})),
        )
            .into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The query's pairs; a parameter given twice is an error (RFC 6749 3.1).
fn pairs(query: Option<&str>) -> Result<Vec<(String, String)>, ()> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    for (index, (name, _)) in pairs.iter().enumerate() {
        if pairs.iter().skip(index + 1).any(|(other, _)| other == name) {
            return Err(());
        }
    }
    Ok(pairs)
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

fn cookie(federation: &Federation, name: &str, value: &str, path: &str, max_age: u32) -> String {
    let secure = if federation.is_https() {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

fn redirect(location: &str, cookie: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    match (
        HeaderValue::from_str(location),
        HeaderValue::from_str(cookie),
    ) {
        (Ok(location), Ok(cookie)) => {
            headers.insert(header::LOCATION, location);
            headers.insert(header::SET_COOKIE, cookie);
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        _ => error_page(&LoginError::Provider("unusable redirect".into())),
    }
}

/// A plain page saying what went wrong and how to go on.
fn error_page(error: &LoginError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Login failed</title></head>\n<body><main><h1>Login failed</h1><p role=\"alert\">{}</p><p><a href=\"/\">Back</a></p></main></body></html>\n",
        escape(&error.to_string())
    );
    let mut response = (status, html).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused_and_cookies_found_by_name() {
        assert_eq!(pairs(Some("state=a&state=b")), Err(()));
        assert_eq!(
            pairs(Some("code=c&state=s")).unwrap(),
            [
                ("code".to_owned(), "c".to_owned()),
                ("state".to_owned(), "s".to_owned())
            ]
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; fhir_access_federation=abc; x=y"),
        );
        assert_eq!(cookie_value(&headers, STATE_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie_value(&headers, LOGIN_COOKIE), None);
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
