//! `GET|POST /device`: where a user enters the code a device shows (RFC 8628), logs in,
//! and approves (or denies) the device's scopes, choosing a patient when they may.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use fhir_scopes::ScopeSet;
use smart_token::{Approval, ClientStore as _, LaunchContext};

use super::authorize::{
    Step, field, log_in, logged_in, patient_exists, problem, session_cookie, user_step,
};
use super::consent::{PatientContext, patient_for, ticked};
use super::endpoints::form_pairs;
use super::pages;
use super::session::{Current, set_cookie};
use super::{Oauth, blocking, paths};

/// The query of `GET /device`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct CodeQuery {
    user_code: Option<String>,
}

/// `GET /device[?user_code=...]`.
pub(crate) async fn get_device(
    State(oauth): State<Arc<Oauth>>,
    headers: HeaderMap,
    Query(query): Query<CodeQuery>,
) -> Response {
    let cookie = session_cookie(&headers);
    blocking(move || {
        let current = oauth.sessions.current(cookie.as_deref());
        match query.user_code {
            None => pages::respond(
                StatusCode::OK,
                pages::code_entry(paths::DEVICE, None),
                new_cookie(&oauth, &current),
            ),
            Some(code) => render(&oauth, &current, &code, None),
        }
    })
    .await
    .unwrap_or_else(failed)
}

/// `POST /device`: the login and consent forms.
pub(crate) async fn post_device(
    State(oauth): State<Arc<Oauth>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = match form_pairs(&headers, &body) {
        Ok(pairs) => pairs,
        Err(error) => return problem(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let cookie = session_cookie(&headers);
    blocking(move || step(&oauth, &pairs, cookie.as_deref()))
        .await
        .unwrap_or_else(failed)
}

fn failed() -> Response {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on the server. Please try again.",
    )
}

fn new_cookie(oauth: &Oauth, current: &Current) -> Option<String> {
    current
        .is_new
        .then(|| set_cookie(&current.id, oauth.origin.starts_with("https://")))
}

/// The page for a user code: login, or consent; an unknown code asks again.
fn render(oauth: &Oauth, current: &Current, code: &str, error: Option<&str>) -> Response {
    let cookie = new_cookie(oauth, current);
    let Ok((client_id, requested)) = oauth.server.device_request(code) else {
        return pages::respond(
            StatusCode::BAD_REQUEST,
            pages::code_entry(paths::DEVICE, Some("This code is unknown or has expired.")),
            cookie,
        );
    };
    let client = match oauth.clients.client(&client_id) {
        Ok(Some(client)) => match client.display_name() {
            Some(name) => format!("{name} ({client_id})"),
            None => client_id.clone(),
        },
        _ => client_id.clone(),
    };
    let hidden = [("csrf", current.csrf.as_str()), ("user_code", code)];
    user_step(
        oauth,
        current,
        &Step {
            form_id: "device",
            action: paths::DEVICE,
            hidden: &hidden,
            client: &client,
            return_to: paths::DEVICE,
            requested: &requested,
            launch: None,
            error,
        },
        cookie,
    )
}

fn step(oauth: &Oauth, pairs: &[(String, String)], cookie: Option<&str>) -> Response {
    let csrf = field(pairs, "csrf").unwrap_or_default();
    let code = field(pairs, "user_code").unwrap_or_default();
    let expired = || {
        problem(
            StatusCode::BAD_REQUEST,
            "This page has expired. Open the device page again and enter the code.",
        )
    };
    let Some(session) = cookie else {
        return expired();
    };
    if !oauth.sessions.csrf_ok(session, csrf) {
        return expired();
    }
    let current = oauth.sessions.current(Some(session));
    match field(pairs, "step") {
        Some("login") => {
            let username = field(pairs, "username").unwrap_or_default();
            let password = field(pairs, "password").unwrap_or_default();
            match log_in(oauth, username, password) {
                Ok(Ok(user)) => {
                    let current = oauth.sessions.login(&current.id, &user.name);
                    render(oauth, &current, code, None)
                }
                Ok(Err(refusal)) => render(oauth, &current, code, Some(refusal)),
                Err(_) => failed(),
            }
        }
        Some("consent") => decide(oauth, &current, code, pairs),
        _ => problem(StatusCode::BAD_REQUEST, "Unknown form step."),
    }
}

fn decide(oauth: &Oauth, current: &Current, code: &str, pairs: &[(String, String)]) -> Response {
    let user = match logged_in(oauth, current) {
        Ok(Some(user)) => user,
        Ok(None) => return render(oauth, current, code, None),
        Err(response) => return *response,
    };
    let Ok((_, requested)) = oauth.server.device_request(code) else {
        return render(oauth, current, code, None);
    };
    if field(pairs, "decision") != Some("approve") {
        return match oauth.server.deny_device(code) {
            Ok(()) => pages::respond(
                StatusCode::OK,
                pages::message("Device denied", "The device was not given access."),
                None,
            ),
            Err(_) => render(oauth, current, code, None),
        };
    }
    let Ok(granted) = ticked(pairs) else {
        return render(
            oauth,
            current,
            code,
            Some("A permission on the form is not valid."),
        );
    };
    let granted = ScopeSet::negotiate(&requested, &requested, Some(&granted));
    let patient = match patient_for(user.patient.as_deref(), None, &granted) {
        PatientContext::None | PatientContext::Conflict => None,
        PatientContext::Fixed(patient) => Some(patient),
        PatientContext::Pick => match field(pairs, "patient") {
            Some(id) if patient_exists(&oauth.db, id) => Some(id.to_owned()),
            _ => return render(oauth, current, code, Some("Choose a patient.")),
        },
    };
    let approval = Approval {
        subject: user.name.clone(),
        scopes: Some(granted),
        launch: LaunchContext {
            patient,
            fhir_user: user.fhir_user.clone(),
            ..LaunchContext::default()
        },
        claims: user.claims(),
    };
    match oauth.server.approve_device(code, approval) {
        Ok(()) => pages::respond(
            StatusCode::OK,
            pages::message("Device connected", "You can go back to your device now."),
            None,
        ),
        Err(_) => render(oauth, current, code, None),
    }
}
