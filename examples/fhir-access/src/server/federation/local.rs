//! The authorization server's users and pages sessions ([`Oauth`]) as the relying party's
//! [`LocalUsers`]: an identity is linked only to a user that exists, and a federated login
//! logs the browser's pages session in as that user.

use super::relying_party::LocalUsers;
use crate::server::oauth::{Oauth, session, users};

impl LocalUsers for Oauth {
    fn exists(&self, user: &str) -> bool {
        matches!(users::find(&self.db, user), Ok(Some(_)))
    }

    fn log_in(&self, cookie: Option<&str>, user: &str) -> String {
        let current = self.sessions.current(cookie);
        let logged_in = self.sessions.login(&current.id, user);
        session::set_cookie(&logged_in.id, self.origin.starts_with("https://"))
    }
}
