//! Storage for the authorization server: authorization codes, refresh tokens, device codes
//! and the client-assertion replay cache. Each is a small trait the server implements on
//! its database, with a thread-safe in-memory implementation here. Secrets are keyed by
//! their [`SecretHash`], never stored in clear; the records serialise (serde) so that a
//! database can keep them as JSON.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use fhir_scopes::ScopeSet;
use serde::{Deserialize, Serialize};

use crate::{Error, Grant, SecretHash};

/// An authorization code's grant and bindings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// What the code grants (client, user, scopes, launch context).
    pub grant: Grant,
    /// The exact redirect URI of the authorization request.
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The OpenID Connect nonce, for the id_token.
    pub nonce: Option<String>,
    /// When the code expires.
    pub expires_at: i64,
}

/// What the first use of a code issued, so that a second use can revoke it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// The access token's `jti` and `exp`.
    pub access: Option<(String, i64)>,
    /// The refresh token family.
    pub refresh_family: Option<String>,
}

/// The outcome of redeeming a code.
#[derive(Clone, Debug, PartialEq)]
pub enum Redeemed {
    /// First use: the record, now marked used (boxed: it is far larger than the others).
    First(Box<CodeRecord>),
    /// The code was used before; what that use issued.
    Replayed(Issued),
    /// No such code, or expired.
    Unknown,
}

/// Authorization codes: single use, remembered after use until they expire so that a
/// replay is recognised.
pub trait CodeStore: Send + Sync + fmt::Debug {
    /// Stores a new code; `now` lets the store drop expired ones.
    fn insert(&self, code: SecretHash, record: CodeRecord, now: i64) -> Result<(), Error>;
    /// Marks the code used and returns its record, atomically: of two concurrent
    /// redemptions exactly one gets [`Redeemed::First`].
    fn redeem(&self, code: SecretHash, now: i64) -> Result<Redeemed, Error>;
    /// Records what the first use issued.
    fn record_issued(&self, code: SecretHash, issued: Issued) -> Result<(), Error>;
}

/// A refresh token's grant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// The grant (client, user, original scopes, launch context).
    pub grant: Grant,
    /// The family: every token rotated from the same original shares it.
    pub family: String,
    /// When the token expires.
    pub expires_at: i64,
}

/// The outcome of using a refresh token.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned once per token request, never stored in bulk: boxing would only add an allocation"
)]
pub enum RefreshUse {
    /// A live token (now marked used, if rotating); boxed, being far the largest.
    Active(Box<RefreshRecord>),
    /// A token already rotated away: a sign it was stolen. Its family.
    Reused(String),
    /// No such token, expired, or revoked.
    Unknown,
}

/// Refresh tokens, grouped in families for rotation and reuse detection.
pub trait RefreshStore: Send + Sync + fmt::Debug {
    /// Stores a new token; `now` lets the store drop expired ones.
    fn insert(&self, token: SecretHash, record: RefreshRecord, now: i64) -> Result<(), Error>;
    /// Looks a token up; with `rotate`, marks it used atomically, so that it works once.
    fn use_token(&self, token: SecretHash, rotate: bool, now: i64) -> Result<RefreshUse, Error>;
    /// Records an access token issued in a family, to revoke with it.
    fn record_access(&self, family: &str, jti: &str, expires_at: i64) -> Result<(), Error>;
    /// Revokes every token of a family; returns the access tokens issued in it.
    fn revoke_family(&self, family: &str) -> Result<Vec<(String, i64)>, Error>;
    /// The record of a live token, without using it.
    fn find(&self, token: SecretHash, now: i64) -> Result<Option<RefreshRecord>, Error>;
}

/// Where a device authorization (RFC 8628) stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned once per token request, never stored in bulk: boxing would only add an allocation"
)]
pub enum DeviceStatus {
    /// Waiting for the user.
    Pending,
    /// The user approved: the grant to issue (boxed, being far the largest).
    Approved(Box<Grant>),
    /// The user denied.
    Denied,
}

/// A device authorization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device's client.
    pub client_id: String,
    /// The scopes requested (already bounded by the client's).
    pub scopes: ScopeSet,
    /// The code the user types, normalised (`BDWP-HQPK` as `BDWPHQPK`).
    pub user_code: String,
    /// When both codes expire.
    pub expires_at: i64,
    /// Seconds the device must wait between polls (grows by 5 on `slow_down`).
    pub interval: i64,
    /// When the device last polled.
    pub last_poll: Option<i64>,
    /// Where it stands.
    pub status: DeviceStatus,
}

/// Device authorizations, found by device code (hashed) or user code.
pub trait DeviceStore: Send + Sync + fmt::Debug {
    /// Stores a new authorization; fails if the user code is taken. `now` lets the store
    /// drop expired ones.
    fn insert(&self, device_code: SecretHash, record: DeviceRecord, now: i64) -> Result<(), Error>;
    /// The device code hash and record for a normalised user code.
    fn by_user_code(
        &self,
        user_code: &str,
        now: i64,
    ) -> Result<Option<(SecretHash, DeviceRecord)>, Error>;
    /// Applies `change` to the record atomically and returns the record as it was before.
    fn update(
        &self,
        device_code: SecretHash,
        change: &mut dyn FnMut(&mut DeviceRecord),
    ) -> Result<Option<DeviceRecord>, Error>;
    /// Removes the authorization (after tokens were issued for it).
    fn remove(&self, device_code: SecretHash) -> Result<(), Error>;
}

/// Seen client-assertion `jti`s, each until its assertion expires.
pub trait ReplayCache: Send + Sync + fmt::Debug {
    /// Records `key` until `expires_at`; false if it was already recorded and not expired.
    fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, Error>;
}

fn poisoned() -> Error {
    Error::Storage("store lock poisoned by a panic elsewhere".into())
}

/// In-memory [`CodeStore`]; expired entries are dropped on the next insert.
#[derive(Debug, Default)]
pub struct MemoryCodes {
    codes: Mutex<Pruned<(CodeRecord, Option<Issued>)>>,
}

/// A map pruned of expired entries whenever it has doubled since the last prune: amortised
/// O(1) per insert, and never much more than twice the live entries.
#[derive(Debug)]
struct Pruned<T> {
    entries: HashMap<SecretHash, T>,
    prune_at: usize,
}

impl<T> Default for Pruned<T> {
    fn default() -> Pruned<T> {
        Pruned {
            entries: HashMap::new(),
            prune_at: 64,
        }
    }
}

impl<T> Pruned<T> {
    fn insert(&mut self, key: SecretHash, value: T, live: impl Fn(&T) -> bool) {
        if self.entries.len() >= self.prune_at {
            self.entries.retain(|_, value| live(value));
            self.prune_at = (self.entries.len() * 2).max(64);
        }
        self.entries.insert(key, value);
    }
}

impl CodeStore for MemoryCodes {
    fn insert(&self, code: SecretHash, record: CodeRecord, now: i64) -> Result<(), Error> {
        let mut codes = self.codes.lock().map_err(|_| poisoned())?;
        codes.insert(code, (record, None), |(record, _)| record.expires_at > now);
        Ok(())
    }

    fn redeem(&self, code: SecretHash, now: i64) -> Result<Redeemed, Error> {
        let mut codes = self.codes.lock().map_err(|_| poisoned())?;
        Ok(match codes.entries.get_mut(&code) {
            Some((record, _)) if record.expires_at <= now => Redeemed::Unknown,
            Some((_, Some(issued))) => Redeemed::Replayed(issued.clone()),
            Some((record, used @ None)) => {
                *used = Some(Issued::default());
                Redeemed::First(Box::new(record.clone()))
            }
            None => Redeemed::Unknown,
        })
    }

    fn record_issued(&self, code: SecretHash, issued: Issued) -> Result<(), Error> {
        let mut codes = self.codes.lock().map_err(|_| poisoned())?;
        if let Some((_, used)) = codes.entries.get_mut(&code) {
            *used = Some(issued);
        }
        Ok(())
    }
}

/// In-memory [`RefreshStore`]; expired tokens and families are dropped on the next insert.
#[derive(Debug, Default)]
pub struct MemoryRefreshTokens {
    inner: Mutex<RefreshState>,
}

#[derive(Debug, Default)]
struct RefreshState {
    tokens: Pruned<(RefreshRecord, bool)>,
    revoked_families: HashMap<String, i64>,
    access: HashMap<String, Vec<(String, i64)>>,
}

impl RefreshStore for MemoryRefreshTokens {
    fn insert(&self, token: SecretHash, record: RefreshRecord, now: i64) -> Result<(), Error> {
        let mut state = self.inner.lock().map_err(|_| poisoned())?;
        if state.tokens.entries.len() >= state.tokens.prune_at {
            state.revoked_families.retain(|_, until| *until > now);
            state
                .access
                .retain(|_, issued| issued.iter().any(|(_, exp)| *exp > now));
        }
        state.tokens.insert(token, (record, false), |(record, _)| {
            record.expires_at > now
        });
        Ok(())
    }

    fn use_token(&self, token: SecretHash, rotate: bool, now: i64) -> Result<RefreshUse, Error> {
        let mut state = self.inner.lock().map_err(|_| poisoned())?;
        let RefreshState {
            tokens,
            revoked_families,
            ..
        } = &mut *state;
        Ok(match tokens.entries.get_mut(&token) {
            None => RefreshUse::Unknown,
            Some((record, _))
                if record.expires_at <= now || revoked_families.contains_key(&record.family) =>
            {
                RefreshUse::Unknown
            }
            Some((record, true)) => RefreshUse::Reused(record.family.clone()),
            Some((record, used)) => {
                *used = rotate;
                RefreshUse::Active(Box::new(record.clone()))
            }
        })
    }

    fn record_access(&self, family: &str, jti: &str, expires_at: i64) -> Result<(), Error> {
        let mut state = self.inner.lock().map_err(|_| poisoned())?;
        let issued = state.access.entry(family.to_owned()).or_default();
        issued.retain(|(_, exp)| *exp > expires_at.saturating_sub(86_400));
        issued.push((jti.to_owned(), expires_at));
        Ok(())
    }

    fn revoke_family(&self, family: &str) -> Result<Vec<(String, i64)>, Error> {
        let mut state = self.inner.lock().map_err(|_| poisoned())?;
        let latest = state
            .tokens
            .entries
            .values()
            .filter(|(record, _)| record.family == family)
            .map(|(record, _)| record.expires_at)
            .max()
            .unwrap_or(0);
        state
            .tokens
            .entries
            .retain(|_, (record, _)| record.family != family);
        state.revoked_families.insert(family.to_owned(), latest);
        Ok(state.access.remove(family).unwrap_or_default())
    }

    fn find(&self, token: SecretHash, now: i64) -> Result<Option<RefreshRecord>, Error> {
        let state = self.inner.lock().map_err(|_| poisoned())?;
        Ok(state.tokens.entries.get(&token).and_then(|(record, used)| {
            let live = !used
                && record.expires_at > now
                && !state.revoked_families.contains_key(&record.family);
            live.then(|| record.clone())
        }))
    }
}

/// In-memory [`DeviceStore`].
#[derive(Debug, Default)]
pub struct MemoryDevices {
    devices: Mutex<HashMap<SecretHash, DeviceRecord>>,
}

impl DeviceStore for MemoryDevices {
    fn insert(&self, device_code: SecretHash, record: DeviceRecord, now: i64) -> Result<(), Error> {
        let mut devices = self.devices.lock().map_err(|_| poisoned())?;
        devices.retain(|_, record| record.expires_at > now);
        if devices
            .values()
            .any(|other| other.user_code == record.user_code)
        {
            return Err(Error::Storage("user code collision".into()));
        }
        devices.insert(device_code, record);
        Ok(())
    }

    fn by_user_code(
        &self,
        user_code: &str,
        now: i64,
    ) -> Result<Option<(SecretHash, DeviceRecord)>, Error> {
        let devices = self.devices.lock().map_err(|_| poisoned())?;
        Ok(devices
            .iter()
            .find(|(_, record)| record.user_code == user_code && record.expires_at > now)
            .map(|(hash, record)| (*hash, record.clone())))
    }

    fn update(
        &self,
        device_code: SecretHash,
        change: &mut dyn FnMut(&mut DeviceRecord),
    ) -> Result<Option<DeviceRecord>, Error> {
        let mut devices = self.devices.lock().map_err(|_| poisoned())?;
        Ok(devices.get_mut(&device_code).map(|record| {
            let before = record.clone();
            change(record);
            before
        }))
    }

    fn remove(&self, device_code: SecretHash) -> Result<(), Error> {
        let mut devices = self.devices.lock().map_err(|_| poisoned())?;
        devices.remove(&device_code);
        Ok(())
    }
}

/// In-memory [`ReplayCache`]; entries are dropped once expired.
#[derive(Debug, Default)]
pub struct MemoryReplayCache {
    seen: Mutex<(HashMap<String, i64>, usize)>,
}

impl ReplayCache for MemoryReplayCache {
    fn first_use(&self, key: &str, expires_at: i64, now: i64) -> Result<bool, Error> {
        let mut guard = self.seen.lock().map_err(|_| poisoned())?;
        let (seen, prune_at) = &mut *guard;
        // Pruned when doubled since the last prune: amortised O(1) per insert.
        if seen.len() >= (*prune_at).max(64) {
            seen.retain(|_, until| *until > now);
            *prune_at = seen.len() * 2;
        }
        match seen.get(key) {
            Some(until) if *until > now => Ok(false),
            _ => {
                seen.insert(key.to_owned(), expires_at);
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            client_id: "c".into(),
            subject: None,
            scopes: ScopeSet::default(),
            launch: crate::LaunchContext::default(),
            claims: serde_json::Map::new(),
        }
    }

    #[test]
    fn memory_codes_stay_bounded_by_live_codes() {
        let codes = MemoryCodes::default();
        // One code a second, each living 60 s.
        for second in 0..10_000_i64 {
            let record = CodeRecord {
                grant: grant(),
                redirect_uri: String::new(),
                code_challenge: String::new(),
                nonce: None,
                expires_at: second + 60,
            };
            codes
                .insert(SecretHash::of(&second.to_string()), record, second)
                .unwrap();
            let held = codes.codes.lock().unwrap().entries.len();
            assert!(held <= 2 * 60 + 64, "{held} codes held at {second}");
        }
        assert!(matches!(
            codes.redeem(SecretHash::of("9999"), 9_999).unwrap(),
            Redeemed::First(_)
        ));
        assert_eq!(
            codes.redeem(SecretHash::of("1"), 9_999).unwrap(),
            Redeemed::Unknown
        );
    }

    #[test]
    fn replay_cache_forgets_expired_ids() {
        let cache = MemoryReplayCache::default();
        assert!(cache.first_use("a", 100, 0).unwrap());
        assert!(!cache.first_use("a", 100, 99).unwrap());
        assert!(cache.first_use("a", 200, 100).unwrap());
        for n in 0..5_000_i64 {
            cache.first_use(&n.to_string(), n + 10, n).unwrap();
        }
        assert!(cache.seen.lock().unwrap().0.len() <= 2 * 10 + 64);
    }
}
