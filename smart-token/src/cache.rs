//! A small cache of validated tokens, so a client that sends the same token on every request
//! pays for its signature once. Entries are keyed by the SHA-256 of the token's signature
//! segment (a few hundred bytes at most, unique per signed token) and confirmed against the
//! whole token, so no two tokens can share an entry whatever their signatures. Each entry
//! keeps the key set that verified it: once the issuer's keys change, the token is verified
//! again, so a key the issuer removed stops a cached token too.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use ring::digest;

use crate::{AccessContext, KeySet};

/// The SHA-256 of a token's signature segment.
pub(crate) type TokenHash = [u8; 32];

const SHARDS: usize = 8;

/// A bounded map from token hash to validated context. Entries are dropped at the token's
/// `exp`, and the oldest first when a shard is full. Only validated tokens enter it.
pub(crate) struct TokenCache {
    shards: [Mutex<Shard>; SHARDS],
    per_shard: usize,
}

/// A cached token, its context, and the key set that verified it.
type Entry = (Box<str>, Arc<AccessContext>, Arc<KeySet>);

#[derive(Default)]
struct Shard {
    entries: HashMap<TokenHash, Entry>,
    order: VecDeque<TokenHash>,
}

impl TokenCache {
    /// A cache holding about `capacity` tokens.
    pub(crate) fn new(capacity: usize) -> TokenCache {
        TokenCache {
            shards: Default::default(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    pub(crate) fn hash(token: &str) -> TokenHash {
        let signature = token
            .rsplit_once('.')
            .map_or(token, |(_, signature)| signature);
        let mut hash = [0; 32];
        hash.copy_from_slice(digest::digest(&digest::SHA256, signature.as_bytes()).as_ref());
        hash
    }

    fn shard(&self, hash: &TokenHash) -> Option<&Mutex<Shard>> {
        self.shards.get(usize::from(hash[0]) % SHARDS)
    }

    /// The context cached for `token` (whose hash is `hash`) and the key set that verified
    /// it, if it has not expired at `now`.
    pub(crate) fn get(
        &self,
        hash: &TokenHash,
        token: &str,
        now: i64,
    ) -> Option<(Arc<AccessContext>, Arc<KeySet>)> {
        let mut shard = self.shard(hash)?.lock().ok()?;
        let (cached, context, keys) = shard.entries.get(hash)?;
        if **cached != *token {
            return None;
        }
        if context.expires_at > now {
            return Some((Arc::clone(context), Arc::clone(keys)));
        }
        shard.entries.remove(hash);
        None
    }

    pub(crate) fn insert(
        &self,
        hash: TokenHash,
        token: &str,
        context: Arc<AccessContext>,
        keys: Arc<KeySet>,
        now: i64,
    ) {
        let Some(Ok(mut shard)) = self.shard(&hash).map(|shard| shard.lock()) else {
            return;
        };
        if shard.entries.len() >= self.per_shard {
            shard
                .entries
                .retain(|_, (_, context, _)| context.expires_at > now);
            let Shard { entries, order } = &mut *shard;
            order.retain(|hash| entries.contains_key(hash));
            while entries.len() >= self.per_shard {
                match order.pop_front() {
                    Some(oldest) => entries.remove(&oldest),
                    None => break,
                };
            }
        }
        if shard
            .entries
            .insert(hash, (token.into(), context, keys))
            .is_none()
        {
            shard.order.push_back(hash);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|shard| shard.lock().ok().map(|shard| shard.entries.len()))
            .sum()
    }
}

impl std::fmt::Debug for TokenCache {
    // The entries hold bearer tokens: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.len())
            .field("per_shard", &self.per_shard)
            .finish()
    }
}
