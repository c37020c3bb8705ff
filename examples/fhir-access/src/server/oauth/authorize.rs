//! `GET|POST /authorize`: the authorization request is checked by smart-token (client,
//! exact redirect URI, PKCE S256, `aud`, scopes), then the user logs in, sees the scopes in
//! plain words (and may untick some), picks a patient when they may choose one, and is sent
//! back to the app with a code. An unknown client or redirect URI is an error page, never a
//! redirect; every other error goes back to the app per RFC 6749 §4.1.2.1.
//!
//! Who is the patient: a patient user is always their own patient; an EHR launch (`launch`
//! parameter and scope) brings its patient and encounter; otherwise a clinician picks one
//! when `launch/patient` is granted.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fhir_scopes::ScopeSet;
use rusqlite::OptionalExtension as _;
use smart_token::{Approval, AuthorizationRequest, Error, LaunchContext};

use super::consent::{PatientContext, has_scope, patient_for, ticked};
use super::db::{Db, now};
use super::endpoints::form_pairs;
use super::pages::{self, Consent};
use super::session::{Current, Transaction, cookie_value, set_cookie};
use super::users::StoredUser;
use super::{Oauth, blocking, launch, paths, scopes, users};

/// `GET /authorize`.
pub(crate) async fn get_authorize(
    State(oauth): State<Arc<Oauth>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let cookie = session_cookie(&headers);
    blocking(move || start(&oauth, pairs, cookie.as_deref()))
        .await
        .unwrap_or_else(failed)
}

/// `POST /authorize`: a form of the pages (it has `tx`), or an authorization request sent
/// as a form (SMART `authorize-post`).
pub(crate) async fn post_authorize(
    State(oauth): State<Arc<Oauth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = match form_pairs(&headers, &body) {
        Ok(pairs) => pairs,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let cookie = session_cookie(&headers);
    blocking(move || {
        if pairs.iter().any(|(name, _)| name == "tx") {
            step(&oauth, &pairs, cookie.as_deref())
        } else {
            start(&oauth, pairs, cookie.as_deref())
        }
    })
    .await
    .unwrap_or_else(failed)
}

pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| cookie_value(Some(v)))
        .map(str::to_owned)
}

fn failed() -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on the server. Please start again from the app.",
    )
}

/// An error page (never a redirect).
pub(crate) fn problem(status: StatusCode, text: &str) -> Response {
    pages::respond(status, pages::message("Cannot continue", text), None)
}

/// `303 See Other` to `location`.
pub(crate) fn see_other(location: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The error redirect of RFC 6749 §4.1.2.1 to a registered redirect URI.
fn redirect_error(
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("error", error);
    query.append_pair("error_description", description);
    if let Some(state) = state {
        query.append_pair("state", state);
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    see_other(
        &format!("{redirect_uri}{separator}{}", query.finish()),
        None,
    )
}

/// A new authorization request: checked, then stored in the session as a transaction.
fn start(oauth: &Oauth, pairs: Vec<(String, String)>, cookie: Option<&str>) -> Response {
    let return_to = format!(
        "{}?{}",
        paths::AUTHORIZE,
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish()
    );
    let request = match AuthorizationRequest::from_pairs(pairs) {
        Ok(request) => request,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let pending = match oauth.server.authorize(&request) {
        Ok(pending) => pending,
        Err(Error::InvalidClient) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "This app is not registered here (unknown `client_id`).",
            );
        }
        Err(Error::RedirectUriMismatch) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "The app's `redirect_uri` is not one it registered, so you are not sent back to it.",
            );
        }
        // The client and redirect URI were checked first: this one is registered.
        Err(error) => {
            return redirect_error(
                request.redirect_uri.as_deref().unwrap_or_default(),
                error.oauth_error(),
                &error.to_string(),
                request.state.as_deref(),
            );
        }
    };
    let launch = match &request.launch {
        None => None,
        Some(id) => match launch::find(&oauth.db, id, now()) {
            Ok(Some(context)) => Some(context),
            Ok(None) => {
                return redirect_error(
                    &pending.redirect_uri,
                    "invalid_request",
                    "the `launch` is unknown or expired",
                    pending.state.as_deref(),
                );
            }
            Err(_) => return failed(),
        },
    };
    let current = oauth.sessions.current(cookie);
    let Some(tx) = oauth
        .sessions
        .begin(&current.id, Transaction::new(pending, launch, return_to))
    else {
        return failed();
    };
    render(oauth, &current, &tx, None)
}

/// The page for the transaction's next step: login, or consent.
fn render(oauth: &Oauth, current: &Current, tx: &str, error: Option<&str>) -> Response {
    let Some(transaction) = oauth.sessions.transaction(&current.id, tx) else {
        return expired();
    };
    let cookie = current
        .is_new
        .then(|| set_cookie(&current.id, oauth.origin.starts_with("https://")));
    let client = client_label(&transaction);
    let hidden = [("tx", tx), ("csrf", current.csrf.as_str())];
    user_step(
        oauth,
        current,
        &Step {
            form_id: "consent",
            action: paths::AUTHORIZE,
            hidden: &hidden,
            client: &client,
            return_to: &transaction.return_to,
            requested: &transaction.pending.scopes,
            launch: transaction.launch.as_ref(),
            error,
        },
        cookie,
    )
}

/// A page where the user acts on an app's request: `/authorize` and `/device`.
pub(crate) struct Step<'a> {
    /// The consent form's id and where both forms post.
    pub(crate) form_id: &'a str,
    pub(crate) action: &'a str,
    pub(crate) hidden: &'a [(&'a str, &'a str)],
    /// The app, as shown.
    pub(crate) client: &'a str,
    /// Where a login at an external provider comes back to.
    pub(crate) return_to: &'a str,
    pub(crate) requested: &'a ScopeSet,
    pub(crate) launch: Option<&'a LaunchContext>,
    pub(crate) error: Option<&'a str>,
}

/// The user's next step on a request: the login page, or (logged in) the consent page with
/// the patient picker when the user picks the patient.
pub(crate) fn user_step(
    oauth: &Oauth,
    current: &Current,
    step: &Step<'_>,
    cookie: Option<String>,
) -> Response {
    let user = match logged_in(oauth, current) {
        Ok(user) => user,
        Err(response) => return *response,
    };
    let Some(user) = user else {
        let status = if step.error.is_some() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        let html = pages::login(
            step.action,
            step.hidden,
            step.client,
            step.error,
            &oauth.provider_links(step.return_to),
        );
        return pages::respond(status, html, cookie);
    };
    let scope_list: Vec<(String, String)> = step
        .requested
        .iter()
        .map(|scope| (scope.to_string(), scopes::describe(scope)))
        .collect();
    let context = patient_for(user.patient.as_deref(), step.launch, step.requested);
    let patients = match &context {
        PatientContext::Pick => match patient_choices(&oauth.db) {
            Ok(list) => Some(list),
            Err(_) => return failed(),
        },
        _ => None,
    };
    let fixed = match &context {
        PatientContext::Fixed(patient) => Some(patient.as_str()),
        _ => None,
    };
    let html = pages::consent(&Consent {
        form_id: step.form_id,
        action: step.action,
        hidden: step.hidden,
        client: step.client,
        user: &user.name,
        scopes: &scope_list,
        patients: patients.as_deref(),
        patient: fixed,
        error: step.error,
    });
    let status = if step.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    pages::respond(status, html, cookie)
}

fn client_label(transaction: &Transaction) -> String {
    let client = &transaction.pending.client;
    match client.display_name() {
        Some(name) => format!("{name} ({})", client.id()),
        None => client.id().to_owned(),
    }
}

fn expired() -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "This page has expired or was not opened by the app. Please start again from the app.",
    )
}

/// The session's user, if logged in and still existing.
pub(crate) fn logged_in(
    oauth: &Oauth,
    current: &Current,
) -> Result<Option<StoredUser>, Box<Response>> {
    match &current.user {
        None => Ok(None),
        Some(name) => users::find(&oauth.db, name).map_err(|_| Box::new(failed())),
    }
}

/// The patients stored, as (id, "Given Family, born YYYY-MM-DD"), by name.
pub(crate) fn patient_choices(db: &Db) -> Result<Vec<(String, String)>, Error> {
    let connection = db.lock();
    let mut statement = match connection
        .prepare("SELECT id, body FROM resources WHERE type = 'Patient' ORDER BY id LIMIT 500")
    {
        Ok(statement) => statement,
        // No FHIR store in this database (tests of the OAuth tables alone).
        Err(_) => return Ok(Vec::new()),
    };
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(super::db::storage)?;
    let mut patients = Vec::new();
    for row in rows {
        let (id, body) = row.map_err(super::db::storage)?;
        let resource: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let name = resource.pointer("/name/0");
        let mut label: Vec<String> = name
            .and_then(|n| n.get("given"))
            .and_then(serde_json::Value::as_array)
            .map(|given| {
                given
                    .iter()
                    .filter_map(|g| g.as_str())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(family) = name.and_then(|n| n.get("family")).and_then(|f| f.as_str()) {
            label.push(family.to_owned());
        }
        let mut label = label.join(" ");
        if label.is_empty() {
            label = "(no name)".to_owned();
        }
        if let Some(born) = resource.get("birthDate").and_then(|b| b.as_str()) {
            label.push_str(&format!(", born {born}"));
        }
        patients.push((id, label));
    }
    patients.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(patients)
}

/// Whether a Patient with this id is stored.
pub(crate) fn patient_exists(db: &Db, id: &str) -> bool {
    db.lock()
        .query_row(
            "SELECT 1 FROM resources WHERE type = 'Patient' AND id = ?1",
            [id],
            |_| Ok(()),
        )
        .optional()
        .is_ok_and(|found| found.is_some())
}

/// The value of a form field (the first).
pub(crate) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Checks a login, throttled per user name: the user, or what to tell the person.
pub(crate) fn log_in(
    oauth: &Oauth,
    username: &str,
    password: &str,
) -> Result<Result<StoredUser, &'static str>, Error> {
    let now = now();
    if !oauth.throttle.allows(username, now) {
        return Ok(Err(
            "Too many wrong passwords for this user name. Try again in 15 minutes.",
        ));
    }
    match users::authenticate(&oauth.db, username, password)? {
        Some(user) => {
            oauth.throttle.succeeded(username);
            Ok(Ok(user))
        }
        None => {
            oauth.throttle.failed(username, now);
            Ok(Err("The user name or password is wrong."))
        }
    }
}

/// A form of the pages.
fn step(oauth: &Oauth, pairs: &[(String, String)], cookie: Option<&str>) -> Response {
    let tx = field(pairs, "tx").unwrap_or_default();
    let csrf = field(pairs, "csrf").unwrap_or_default();
    let Some(session) = cookie else {
        return expired();
    };
    // The CSRF token is bound to the session: a form posted from another site has neither.
    if !oauth.sessions.csrf_ok(session, csrf) {
        return expired();
    }
    let current = oauth.sessions.current(Some(session));
    if oauth.sessions.transaction(&current.id, tx).is_none() {
        return expired();
    }
    match field(pairs, "step") {
        Some("login") => {
            let username = field(pairs, "username").unwrap_or_default();
            let password = field(pairs, "password").unwrap_or_default();
            match log_in(oauth, username, password) {
                Ok(Ok(user)) => {
                    let current = oauth.sessions.login(&current.id, &user.name);
                    render(oauth, &current, tx, None)
                }
                Ok(Err(refusal)) => render(oauth, &current, tx, Some(refusal)),
                Err(_) => failed(),
            }
        }
        Some("consent") => consent(oauth, &current, tx, pairs),
        _ => problem(StatusCode::BAD_REQUEST, "Unknown form step."),
    }
}

fn consent(oauth: &Oauth, current: &Current, tx: &str, pairs: &[(String, String)]) -> Response {
    let user = match logged_in(oauth, current) {
        Ok(Some(user)) => user,
        Ok(None) => return render(oauth, current, tx, None),
        Err(response) => return *response,
    };
    let Some(transaction) = oauth.sessions.transaction(&current.id, tx) else {
        return expired();
    };
    let pending = &transaction.pending;
    if field(pairs, "decision") != Some("approve") {
        oauth.sessions.finish(&current.id, tx);
        return redirect_error(
            &pending.redirect_uri,
            "access_denied",
            "the user denied the request",
            pending.state.as_deref(),
        );
    }
    let Ok(granted) = ticked(pairs) else {
        return render(
            oauth,
            current,
            tx,
            Some("A permission on the form is not valid."),
        );
    };
    // What is granted is bounded by what was asked (smart-token intersects again).
    let granted = ScopeSet::negotiate(&pending.scopes, &pending.scopes, Some(&granted));
    let patient = match patient_for(
        user.patient.as_deref(),
        transaction.launch.as_ref(),
        &granted,
    ) {
        PatientContext::None => None,
        PatientContext::Fixed(patient) => Some(patient),
        PatientContext::Conflict => {
            oauth.sessions.finish(&current.id, tx);
            return redirect_error(
                &pending.redirect_uri,
                "access_denied",
                "the launch is for another patient than the logged-in patient",
                pending.state.as_deref(),
            );
        }
        PatientContext::Pick => match field(pairs, "patient") {
            Some(id) if patient_exists(&oauth.db, id) => Some(id.to_owned()),
            _ => return render(oauth, current, tx, Some("Choose a patient.")),
        },
    };
    // An EHR launch's encounter and fhirContext come along with the `launch` scope.
    let ehr = transaction
        .launch
        .as_ref()
        .filter(|_| has_scope(&granted, "launch"));
    let encounter = ehr.and_then(|l| l.encounter.clone());
    let fhir_context = ehr.map(|l| l.fhir_context.clone()).unwrap_or_default();
    let approval = Approval {
        subject: user.name.clone(),
        scopes: Some(granted),
        launch: LaunchContext {
            patient,
            encounter,
            fhir_user: user.fhir_user.clone(),
            fhir_context,
        },
        claims: user.claims(),
    };
    let Some(transaction) = oauth.sessions.finish(&current.id, tx) else {
        return expired();
    };
    match oauth.server.approve(transaction.pending, approval) {
        Ok(code) => see_other(&code.redirect, None),
        Err(_) => failed(),
    }
}
