//! External identity providers: tokens of configured trusted issuers accepted by the FHIR
//! endpoint (`issuers`), with their keys found through discovery, refreshed on rotation and
//! their claims mapped to local roles, attributes, user and patient by configuration; and
//! users logging in at a configured OpenID provider (`relying_party`, over HTTP in
//! `routes`), coming back as the local user the configuration maps them to, logged in at
//! the authorization pages (`local`).

mod issuers;
mod local;
mod relying_party;
mod routes;

pub(crate) use issuers::trusted_issuers;
pub(crate) use relying_party::{Federation, login_link};
pub(crate) use routes::router;

/// `scheme://host[:port]` of a URL: where the callback paths are.
pub(crate) fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url.get(after_scheme..).and_then(|rest| rest.find('/')) {
        Some(slash) => url.get(..after_scheme + slash).unwrap_or(url),
        None => url,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins() {
        assert_eq!(
            super::origin("http://127.0.0.1:8080/fhir"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            super::origin("https://ehr.example/r4/fhir"),
            "https://ehr.example"
        );
        assert_eq!(super::origin("https://ehr.example"), "https://ehr.example");
    }
}
