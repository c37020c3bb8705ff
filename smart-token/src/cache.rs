//! A small cache of validated tokens, keyed by the SHA-256 of the token, so a client that
//! sends the same token on every request pays for its signature once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use ring::digest;

use crate::AccessContext;

/// The SHA-256 of a token.
pub(crate) type TokenHash = [u8; 32];

const SHARDS: usize = 8;

/// A bounded map from token hash to validated context. Entries are dropped at the token's
/// `exp`, and the oldest first when a shard is full. Only validated tokens enter it.
#[derive(Debug)]
pub(crate) struct TokenCache {
    shards: [Mutex<Shard>; SHARDS],
    per_shard: usize,
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<TokenHash, Arc<AccessContext>>,
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
        let mut hash = [0; 32];
        hash.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        hash
    }

    fn shard(&self, hash: &TokenHash) -> Option<&Mutex<Shard>> {
        self.shards.get(usize::from(hash[0]) % SHARDS)
    }

    /// The context cached for `hash`, if it has not expired at `now`.
    pub(crate) fn get(&self, hash: &TokenHash, now: i64) -> Option<Arc<AccessContext>> {
        let mut shard = self.shard(hash)?.lock().ok()?;
        let context = shard.entries.get(hash)?;
        if context.expires_at > now {
            return Some(Arc::clone(context));
        }
        shard.entries.remove(hash);
        None
    }

    pub(crate) fn insert(&self, hash: TokenHash, context: Arc<AccessContext>, now: i64) {
        let Some(Ok(mut shard)) = self.shard(&hash).map(|shard| shard.lock()) else {
            return;
        };
        if shard.entries.len() >= self.per_shard {
            shard.entries.retain(|_, context| context.expires_at > now);
            let Shard { entries, order } = &mut *shard;
            order.retain(|hash| entries.contains_key(hash));
            while entries.len() >= self.per_shard {
                match order.pop_front() {
                    Some(oldest) => entries.remove(&oldest),
                    None => break,
                };
            }
        }
        if shard.entries.insert(hash, context).is_none() {
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
