//! The authorization server's users and pages sessions ([`Oauth`]) as the relying party's
//! [`LocalUsers`]: an identity is linked only to a user that exists, and a federated login
//! logs the browser's pages session in as that user.

use super::relying_party::LocalUsers;
use crate::server::oauth::{Oauth, users};

impl LocalUsers for Oauth {
    fn exists(&self, user: &str) -> bool {
        matches!(users::find(&self.db, user), Ok(Some(_)))
    }

    fn log_in(&self, session: Option<&str>, user: &str) -> String {
        let current = self.sessions.current(session);
        let logged_in = self.sessions.login(&current.id, user);
        // The same cookie the pages set (oauth's session module): name, scope, lifetime.
        let secure = if self.origin.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        format!(
            "fhir_access_session={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600{secure}",
            logged_in.id
        )
    }
}
