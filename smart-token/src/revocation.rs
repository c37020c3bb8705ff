//! Revoked token ids (`jti`), remembered until the token would have expired anyway.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use crate::Error;

/// Where revoked `jti`s are kept. The server implements it on its database; the crate ships
/// [`MemoryRevocations`].
pub trait RevocationStore: Send + Sync + fmt::Debug {
    /// Records `jti` as revoked until `expires_at` (the token's `exp`): after that the token
    /// is rejected as expired, so the entry may be forgotten. `now` lets a store drop
    /// entries that are already dead.
    fn revoke(&self, jti: &str, expires_at: i64, now: i64) -> Result<(), Error>;

    /// Whether `jti` is revoked at time `now`.
    fn is_revoked(&self, jti: &str, now: i64) -> Result<bool, Error>;
}

/// A thread-safe in-memory [`RevocationStore`]. Entries are dropped once their token has
/// expired, so its size is bounded by the tokens revoked within one token lifetime.
///
/// ```
/// use smart_token::{MemoryRevocations, RevocationStore};
/// let store = MemoryRevocations::default();
/// store.revoke("jti-1", 1_000, 900)?;
/// assert!(store.is_revoked("jti-1", 999)?);
/// assert!(!store.is_revoked("jti-1", 1_000)?); // expired: forgotten
/// # Ok::<(), smart_token::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryRevocations {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    until: HashMap<String, i64>,
    // Prune when the map doubles since the last prune: amortised O(1) per insert.
    prune_at: usize,
}

impl MemoryRevocations {
    /// The number of entries held (expired ones included until the next prune).
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |entries| entries.until.len())
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops entries whose token expired before `now`.
    pub fn prune(&self, now: i64) {
        if let Ok(mut entries) = self.inner.lock() {
            entries.until.retain(|_, until| *until > now);
            entries.prune_at = (entries.until.len() * 2).max(64);
        }
    }
}

impl RevocationStore for MemoryRevocations {
    fn revoke(&self, jti: &str, expires_at: i64, now: i64) -> Result<(), Error> {
        let mut entries = self.inner.lock().map_err(|_| poisoned())?;
        if entries.until.len() >= entries.prune_at {
            entries.until.retain(|_, until| *until > now);
            entries.prune_at = (entries.until.len() * 2).max(64);
        }
        if expires_at > now {
            let until = entries.until.entry(jti.to_owned()).or_insert(expires_at);
            *until = (*until).max(expires_at);
        }
        Ok(())
    }

    fn is_revoked(&self, jti: &str, now: i64) -> Result<bool, Error> {
        let entries = self.inner.lock().map_err(|_| poisoned())?;
        Ok(entries.until.get(jti).is_some_and(|until| *until > now))
    }
}

fn poisoned() -> Error {
    Error::Storage("revocation store lock poisoned by a panic elsewhere".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_with_their_token_so_the_store_stays_bounded() {
        let store = MemoryRevocations::default();
        // 10,000 revocations of tokens living 100 s, one per second: the store never holds
        // much more than the live ones (100) plus one prune batch.
        for second in 0..10_000_i64 {
            store
                .revoke(&format!("jti-{second}"), second + 100, second)
                .unwrap();
            assert!(
                store.len() <= 2 * 100 + 64,
                "len {} at {second}",
                store.len()
            );
        }
        assert!(store.is_revoked("jti-9999", 9_999).unwrap());
        assert!(!store.is_revoked("jti-0", 9_999).unwrap());
        store.prune(20_000);
        assert!(store.is_empty());
    }

    #[test]
    fn already_expired_tokens_are_not_stored() {
        let store = MemoryRevocations::default();
        store.revoke("old", 10, 20).unwrap();
        assert!(store.is_empty());
    }
}
