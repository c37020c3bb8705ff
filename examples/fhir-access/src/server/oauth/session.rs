//! Browser sessions of the login, consent and device pages: a random id in an `HttpOnly`,
//! `SameSite=Lax` cookie; the logged-in user; a CSRF token every form must carry back; and
//! the authorization requests (transactions) in progress, each bound to its session. Kept in
//! memory: a restart logs browsers out, which costs a login and nothing else.
//!
//! Logging in replaces the session id (no session fixation); sessions last an hour,
//! transactions ten minutes; at most [`MAX_SESSIONS`] are kept (the oldest go first).

use std::collections::HashMap;
use std::sync::Mutex;

use smart_token::{LaunchContext, PendingAuthorization};

use super::db::now;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "fhir_access_session";
/// Seconds a session lives after it was created or logged in.
const SESSION_LIFETIME: i64 = 3600;
/// Seconds an authorization request waits for the user.
const TRANSACTION_LIFETIME: i64 = 600;
/// Sessions kept at most.
pub(crate) const MAX_SESSIONS: usize = 10_000;
/// Authorization requests in progress per session at most.
const MAX_TRANSACTIONS: usize = 16;

/// An authorization request waiting for the user.
#[derive(Clone, Debug)]
pub(crate) struct Transaction {
    pub(crate) pending: PendingAuthorization,
    /// The EHR launch context of a `launch` parameter.
    pub(crate) launch: Option<LaunchContext>,
    /// The authorization request as a `GET /authorize` path: where a login at an external
    /// provider comes back to.
    pub(crate) return_to: String,
    expires_at: i64,
}

impl Transaction {
    pub(crate) fn new(
        pending: PendingAuthorization,
        launch: Option<LaunchContext>,
        return_to: String,
    ) -> Transaction {
        Transaction {
            pending,
            launch,
            return_to,
            expires_at: now().saturating_add(TRANSACTION_LIFETIME),
        }
    }
}

#[derive(Debug)]
struct Session {
    user: Option<String>,
    csrf: String,
    expires_at: i64,
    transactions: HashMap<String, Transaction>,
}

/// What a request knows about its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Current {
    /// The session id (the cookie's value).
    pub(crate) id: String,
    /// Whether the cookie must be (re)sent.
    pub(crate) is_new: bool,
    pub(crate) user: Option<String>,
    pub(crate) csrf: String,
}

/// Every live session.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

/// 256 random bits, hex.
fn random_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Compares in time independent of where the texts differ.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live session of `cookie`, or a new anonymous one.
    pub(crate) fn current(&self, cookie: Option<&str>) -> Current {
        let now = now();
        let mut sessions = self.lock();
        if let Some(id) = cookie {
            if let Some(session) = sessions.get(id).filter(|s| s.expires_at > now) {
                return Current {
                    id: id.to_owned(),
                    is_new: false,
                    user: session.user.clone(),
                    csrf: session.csrf.clone(),
                };
            }
        }
        let id = random_id();
        let session = Session {
            user: None,
            csrf: random_id(),
            expires_at: now.saturating_add(SESSION_LIFETIME),
            transactions: HashMap::new(),
        };
        let current = Current {
            id: id.clone(),
            is_new: true,
            user: None,
            csrf: session.csrf.clone(),
        };
        insert(&mut sessions, id, session, now);
        current
    }

    /// Whether `csrf` is the token of the live session `id`.
    pub(crate) fn csrf_ok(&self, id: &str, csrf: &str) -> bool {
        let now = now();
        self.lock()
            .get(id)
            .is_some_and(|s| s.expires_at > now && same(&s.csrf, csrf))
    }

    /// Stores a transaction in session `id`; its id.
    pub(crate) fn begin(&self, id: &str, transaction: Transaction) -> Option<String> {
        let now = now();
        let mut sessions = self.lock();
        let session = sessions.get_mut(id)?;
        session.transactions.retain(|_, t| t.expires_at > now);
        if session.transactions.len() >= MAX_TRANSACTIONS {
            let oldest = session
                .transactions
                .iter()
                .min_by_key(|(_, t)| t.expires_at)
                .map(|(tx, _)| tx.clone());
            if let Some(oldest) = oldest {
                session.transactions.remove(&oldest);
            }
        }
        let tx = random_id();
        session.transactions.insert(tx.clone(), transaction);
        Some(tx)
    }

    /// The live transaction `tx` of session `id`.
    pub(crate) fn transaction(&self, id: &str, tx: &str) -> Option<Transaction> {
        let now = now();
        self.lock()
            .get(id)
            .and_then(|s| s.transactions.get(tx))
            .filter(|t| t.expires_at > now)
            .cloned()
    }

    /// Removes and returns the live transaction `tx` of session `id` (it is decided once).
    pub(crate) fn finish(&self, id: &str, tx: &str) -> Option<Transaction> {
        let now = now();
        self.lock()
            .get_mut(id)
            .and_then(|s| s.transactions.remove(tx))
            .filter(|t| t.expires_at > now)
    }

    /// Logs `user` in: the session moves to a new id with a new CSRF token (its
    /// transactions come along). The new session.
    pub(crate) fn login(&self, id: &str, user: &str) -> Current {
        let now = now();
        let mut sessions = self.lock();
        let transactions = sessions
            .remove(id)
            .map(|s| s.transactions)
            .unwrap_or_default();
        let new_id = random_id();
        let session = Session {
            user: Some(user.to_owned()),
            csrf: random_id(),
            expires_at: now.saturating_add(SESSION_LIFETIME),
            transactions,
        };
        let current = Current {
            id: new_id.clone(),
            is_new: true,
            user: session.user.clone(),
            csrf: session.csrf.clone(),
        };
        insert(&mut sessions, new_id, session, now);
        current
    }

    /// The number of sessions held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Inserts a session, first dropping expired ones, then the oldest, when full.
fn insert(sessions: &mut HashMap<String, Session>, id: String, session: Session, now: i64) {
    if sessions.len() >= MAX_SESSIONS {
        sessions.retain(|_, s| s.expires_at > now);
    }
    while sessions.len() >= MAX_SESSIONS {
        let oldest = sessions
            .iter()
            .min_by_key(|(_, s)| s.expires_at)
            .map(|(id, _)| id.clone());
        match oldest {
            Some(oldest) => sessions.remove(&oldest),
            None => break,
        };
    }
    sessions.insert(id, session);
}

/// The session id in a `Cookie` header.
pub(crate) fn cookie_value(header: Option<&str>) -> Option<&str> {
    header?.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE).then_some(value)
    })
}

/// The `Set-Cookie` value for session `id`.
pub(crate) fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_LIFETIME}{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_rotates_the_session_and_its_csrf_token() {
        let sessions = Sessions::default();
        let anonymous = sessions.current(None);
        assert!(anonymous.is_new);
        assert_eq!(anonymous.user, None);
        assert_eq!(sessions.current(Some(&anonymous.id)).csrf, anonymous.csrf);
        assert!(sessions.csrf_ok(&anonymous.id, &anonymous.csrf));
        assert!(!sessions.csrf_ok(&anonymous.id, "forged"));
        let unknown = sessions.current(Some("made-up"));
        assert_ne!(unknown.id, "made-up");
        let logged_in = sessions.login(&anonymous.id, "lucien");
        assert_ne!(logged_in.id, anonymous.id);
        assert_ne!(logged_in.csrf, anonymous.csrf);
        assert_eq!(logged_in.user.as_deref(), Some("lucien"));
        // The old id is gone: a fixated session id is worth nothing.
        assert!(!sessions.csrf_ok(&anonymous.id, &anonymous.csrf));
        assert_eq!(sessions.current(Some(&anonymous.id)).user, None);
    }

    #[test]
    fn sessions_stay_bounded() {
        let sessions = Sessions::default();
        for _ in 0..MAX_SESSIONS + 10 {
            sessions.current(None);
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
    }

    #[test]
    fn cookies() {
        assert_eq!(
            cookie_value(Some("a=1; fhir_access_session=abc; b=2")),
            Some("abc")
        );
        assert_eq!(cookie_value(Some("xfhir_access_session=abc")), None);
        assert_eq!(cookie_value(None), None);
        assert_eq!(
            set_cookie("abc", true),
            "fhir_access_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600; Secure"
        );
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
