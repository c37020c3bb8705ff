//! The HTML pages: login, consent (with the patient picker), device code entry, and
//! messages. Plain server-rendered HTML with one small stylesheet: `lang`, a viewport for
//! phones, a label for every control, the first field focused, visible focus outlines.
//! Every text is escaped; every page forbids framing (clickjacking) and caching.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A whole page.
fn page(title: &str, main: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · fhir-access</title>\n<link rel=\"stylesheet\" href=\"{css}\">\n</head>\n\
         <body>\n<main>\n<h1>{title}</h1>\n{main}</main>\n</body>\n</html>\n",
        title = escape(title),
        css = super::paths::STYLESHEET,
    )
}

/// A page as a response, with the headers every page carries and an optional cookie.
pub(crate) fn respond(status: StatusCode, html: String, cookie: Option<String>) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        // No scripts at all; styles from here only; never inside a frame.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, value);
    }
    response
}

fn hidden_fields(hidden: &[(&str, &str)]) -> String {
    hidden
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(name),
                escape(value)
            )
        })
        .collect()
}

fn error_note(error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default()
}

/// The login form (`id="login"`): `username`, `password`, and the hidden fields; then a
/// link per external provider (name, URL) to log in there instead.
pub(crate) fn login(
    action: &str,
    hidden: &[(&str, &str)],
    client: &str,
    error: Option<&str>,
    providers: &[(String, String)],
) -> String {
    let main = format!(
        "<p><strong>{client}</strong> asks to use your health records. Log in first.</p>\n{error}\
         <form id=\"login\" method=\"post\" action=\"{action}\">\n{hidden}\
         <input type=\"hidden\" name=\"step\" value=\"login\">\n\
         <label for=\"username\">User name</label>\n\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" autocapitalize=\"none\" required autofocus>\n\
         <label for=\"password\">Password</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\n\
         <button type=\"submit\">Log in</button>\n</form>\n{providers}",
        client = escape(client),
        error = error_note(error),
        action = escape(action),
        hidden = hidden_fields(hidden),
        providers = provider_list(providers),
    );
    page("Log in", &main)
}

fn provider_list(providers: &[(String, String)]) -> String {
    if providers.is_empty() {
        return String::new();
    }
    let items: String = providers
        .iter()
        .map(|(name, href)| {
            format!(
                "<li><a href=\"{}\">Log in with {}</a></li>\n",
                escape(href),
                escape(name)
            )
        })
        .collect();
    format!("<p>Or use another account:</p>\n<ul class=\"providers\">\n{items}</ul>\n")
}

/// What the consent form shows.
#[derive(Debug)]
pub(crate) struct Consent<'a> {
    /// `consent` on `/authorize`, `device` on `/device`.
    pub(crate) form_id: &'a str,
    pub(crate) action: &'a str,
    pub(crate) hidden: &'a [(&'a str, &'a str)],
    pub(crate) client: &'a str,
    pub(crate) user: &'a str,
    /// Each scope and its plain words.
    pub(crate) scopes: &'a [(String, String)],
    /// The patients to pick from (id, label), when the user picks one.
    pub(crate) patients: Option<&'a [(String, String)]>,
    /// The patient already in context (a patient user, an EHR launch).
    pub(crate) patient: Option<&'a str>,
    pub(crate) error: Option<&'a str>,
}

/// The consent form: a checkbox per scope (`scope`), ticked; the patient picker (`patient`
/// radio buttons) when needed; `decision=approve` or `decision=deny`.
pub(crate) fn consent(c: &Consent<'_>) -> String {
    let mut main = format!(
        "<p>Logged in as <strong>{user}</strong>. <strong>{client}</strong> asks to:</p>\n{error}\
         <form id=\"{id}\" method=\"post\" action=\"{action}\">\n{hidden}\
         <input type=\"hidden\" name=\"step\" value=\"consent\">\n\
         <fieldset>\n<legend>Permissions (untick what you do not want to give)</legend>\n",
        user = escape(c.user),
        client = escape(c.client),
        error = error_note(c.error),
        id = escape(c.form_id),
        action = escape(c.action),
        hidden = hidden_fields(c.hidden),
    );
    for (index, (scope, words)) in c.scopes.iter().enumerate() {
        main.push_str(&format!(
            "<div class=\"choice\"><input type=\"checkbox\" id=\"scope-{index}\" name=\"scope\" value=\"{scope}\" checked{focus}>\
             <label for=\"scope-{index}\">{words} <code>{scope}</code></label></div>\n",
            scope = escape(scope),
            words = escape(words),
            focus = if index == 0 { " autofocus" } else { "" },
        ));
    }
    main.push_str("</fieldset>\n");
    if let Some(patient) = c.patient {
        main.push_str(&format!(
            "<p>Patient in context: <code>{}</code></p>\n",
            escape(patient)
        ));
    }
    if let Some(patients) = c.patients {
        main.push_str("<fieldset>\n<legend>Patient</legend>\n");
        if patients.is_empty() {
            main.push_str("<p>No patient is stored on this server.</p>\n");
        }
        for (index, (id, label)) in patients.iter().enumerate() {
            main.push_str(&format!(
                "<div class=\"choice\"><input type=\"radio\" id=\"patient-{index}\" name=\"patient\" value=\"{id}\"{required}>\
                 <label for=\"patient-{index}\">{label} <code>{id}</code></label></div>\n",
                id = escape(id),
                label = escape(label),
                required = if index == 0 { " required" } else { "" },
            ));
        }
        main.push_str("</fieldset>\n");
    }
    main.push_str(
        "<div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate class=\"secondary\">Deny</button></div>\n</form>\n",
    );
    page("Allow access?", &main)
}

/// The device page's first form (`id="code"`): the `user_code` shown on the device.
pub(crate) fn code_entry(action: &str, error: Option<&str>) -> String {
    let main = format!(
        "<p>Enter the code your device shows.</p>\n{error}\
         <form id=\"code\" method=\"get\" action=\"{action}\">\n\
         <label for=\"user_code\">Code</label>\n\
         <input id=\"user_code\" name=\"user_code\" autocomplete=\"off\" autocapitalize=\"characters\" required autofocus>\n\
         <button type=\"submit\">Continue</button>\n</form>\n",
        error = error_note(error),
        action = escape(action),
    );
    page("Connect a device", &main)
}

/// A page with one message.
pub(crate) fn message(title: &str, text: &str) -> String {
    page(title, &format!("<p>{}</p>\n", escape(text)))
}

/// The stylesheet: readable on a phone, large touch targets, visible focus.
const STYLESHEET: &str = "\
body{font-family:system-ui,-apple-system,\"Segoe UI\",sans-serif;margin:0;background:#f4f6f8;color:#1b1f23;line-height:1.5}
main{max-width:34rem;margin:0 auto;padding:1.25rem;background:#fff;min-height:100vh;box-sizing:border-box}
h1{font-size:1.5rem;margin-top:0}
label{display:block;margin:.75rem 0 .25rem}
input[type=text],input:not([type]),input[type=password]{width:100%;box-sizing:border-box;font-size:1rem;padding:.6rem;border:1px solid #6a737d;border-radius:4px}
fieldset{border:1px solid #d1d5da;border-radius:4px;margin:1rem 0;padding:.5rem 1rem}
legend{font-weight:600}
.choice{display:flex;align-items:flex-start;gap:.5rem;margin:.5rem 0}
.choice label{display:inline;margin:0}
.choice input{width:1.25rem;height:1.25rem;margin-top:.15rem;flex:none}
code{font-size:.85em;color:#586069;word-break:break-all}
button{font-size:1rem;padding:.7rem 1.4rem;margin:1rem .5rem 0 0;border:0;border-radius:4px;background:#0b5cad;color:#fff;cursor:pointer;min-height:44px}
button.secondary{background:#e1e4e8;color:#1b1f23}
:focus-visible{outline:3px solid #f9a825;outline-offset:2px}
.error{background:#ffeef0;border:1px solid #d73a49;padding:.5rem;border-radius:4px}
";

/// `GET /auth.css`.
pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_shown_is_escaped() {
        assert_eq!(escape("<script>\"'&"), "&lt;script&gt;&quot;&#39;&amp;");
        let providers = [("<SSO>".to_owned(), "/login?a=1&b=\"".to_owned())];
        let html = login(
            "/authorize",
            &[("tx", "\"><b>")],
            "<evil app>",
            Some("<x>"),
            &providers,
        );
        assert!(
            html.contains(
                "<li><a href=\"/login?a=1&amp;b=&quot;\">Log in with &lt;SSO&gt;</a></li>"
            ),
            "{html}"
        );
        assert!(!login("/authorize", &[], "app", None, &[]).contains("providers"));
        assert!(html.contains("value=\"&quot;&gt;&lt;b&gt;\""), "{html}");
        assert!(html.contains("<strong>&lt;evil app&gt;</strong>"), "{html}");
        assert!(!html.contains("<evil"), "{html}");
        assert!(
            html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
            "{html}"
        );
        assert!(html.contains("name=\"viewport\""), "{html}");
        assert!(html.contains("<label for=\"username\">"), "{html}");
    }
}
