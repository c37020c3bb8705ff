//! The validator: bearer token in, [`AccessContext`] out, for any of several trusted issuers.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use fhir_scopes::ScopeSet;
use serde_json::Value;

use crate::cache::TokenCache;
use crate::claims::Claims;
use crate::jws::Jws;
use crate::{AccessContext, Clock, Error, KeySet, RevocationStore, SystemClock, TrustedIssuer};

/// The largest token accepted by default, in bytes.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Validates bearer tokens against a set of trusted issuers.
///
/// Checks, in order: size; three canonical base64url segments; a header with a known `alg`
/// (never `none`), no `crit`, and no `jku`/`x5u`/`jwk`/`x5c` (keys come only from the
/// issuer's configuration, these headers are never followed); claims without duplicate
/// members; a trusted `iss`; `typ` if the issuer requires `at+jwt`; an algorithm both the
/// issuer and the key allow; the signature; `exp` (required), `nbf`, `iat`; `aud`; the
/// issuer's required claims; the `scope` claim; revocation of the `jti`.
///
/// ```
/// use std::sync::{Arc, RwLock};
/// use smart_token::{Algorithm, FixedClock, TrustedIssuer, Validator};
///
/// let secret = b"a shared secret of at least 32 bytes!!";
/// let issuer = TrustedIssuer::shared_secret("https://as.example", "https://fhir.example", secret, Algorithm::HS256)?;
/// let validator = Validator::new([issuer]).clock(Arc::new(FixedClock::new(1_700_000_000)));
/// // A token signed with `secret` (see `TokenIssuer` for issuing real ones).
/// # use base64::Engine as _;
/// # let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
/// # let input = format!("{}.{}", b64(br#"{"alg":"HS256"}"#), b64(br#"{"iss":"https://as.example","aud":"https://fhir.example","exp":1700000300,"sub":"alice","scope":"patient/Observation.rs","patient":"123"}"#));
/// # let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret), input.as_bytes());
/// # let token = format!("{input}.{}", b64(tag.as_ref()));
/// let context = validator.validate(&token)?;
/// assert_eq!(context.subject(), Some("alice"));
/// assert_eq!(context.patient(), Some("123"));
/// assert_eq!(context.scopes().to_string(), "patient/Observation.rs");
/// # Ok::<(), smart_token::Error>(())
/// ```
pub struct Validator {
    issuers: HashMap<String, TrustedIssuer>,
    clock: Arc<dyn Clock>,
    max_token_bytes: usize,
    cache: Option<TokenCache>,
    revocations: Option<Arc<dyn RevocationStore>>,
    scopes: ScopeCache,
}

/// Parsed `scope` claims by their text: the tokens of one app carry the same scopes, which
/// are then parsed once. Bounded; only valid scope strings enter it.
#[derive(Debug, Default)]
struct ScopeCache(RwLock<HashMap<Box<str>, Arc<ScopeSet>, BuildHasherDefault<WordHasher>>>);

/// A multiply-rotate hash over 8-byte words (rustc's FxHash), several times faster than
/// SipHash on a long scope string. Only strings from validly signed tokens become keys,
/// so flooding the map with colliding keys is not open to an attacker.
#[derive(Clone, Copy, Debug, Default)]
struct WordHasher(u64);

impl WordHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(
                <[u8; 8]>::try_from(word).unwrap_or_default(),
            ));
        }
        let mut last = [0u8; 8];
        for (slot, byte) in last.iter_mut().zip(words.remainder()) {
            *slot = *byte;
        }
        self.add(u64::from_le_bytes(last));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl ScopeCache {
    const CAPACITY: usize = 1024;

    fn parse(&self, text: &str) -> Result<Arc<ScopeSet>, Error> {
        if let Some(scopes) = self
            .0
            .read()
            .ok()
            .and_then(|cache| cache.get(text).cloned())
        {
            return Ok(scopes);
        }
        let scopes = Arc::new(ScopeSet::parse(text).map_err(Error::InvalidScope)?);
        if let Ok(mut cache) = self.0.write() {
            if cache.len() >= ScopeCache::CAPACITY {
                cache.clear();
            }
            cache.insert(text.into(), Arc::clone(&scopes));
        }
        Ok(scopes)
    }
}

impl Validator {
    /// A validator for these issuers, with the system clock, a 16 KiB size limit, no cache
    /// and no revocation store.
    pub fn new(issuers: impl IntoIterator<Item = TrustedIssuer>) -> Validator {
        Validator {
            issuers: issuers
                .into_iter()
                .map(|issuer| (issuer.issuer.clone(), issuer))
                .collect(),
            clock: Arc::new(SystemClock),
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            cache: None,
            revocations: None,
            scopes: ScopeCache::default(),
        }
    }

    /// Uses `clock` for every time check. Defaults to [`SystemClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Validator {
        self.clock = clock;
        self
    }

    /// The largest token accepted, in bytes. Defaults to [`DEFAULT_MAX_TOKEN_BYTES`].
    pub fn max_token_bytes(mut self, bytes: usize) -> Validator {
        self.max_token_bytes = bytes;
        self
    }

    /// Caches up to `capacity` validated tokens until their `exp`, so a repeated token skips
    /// decoding and signature verification. Entries are found by the SHA-256 of the token's
    /// signature and confirmed against the whole token (so the cache holds the tokens
    /// themselves, as the request did). Revocation is still checked on every call. Defaults
    /// to no cache.
    pub fn cache(mut self, capacity: usize) -> Validator {
        self.cache = Some(TokenCache::new(capacity));
        self
    }

    /// Rejects tokens whose `jti` the store holds as revoked. Defaults to none.
    pub fn revocations(mut self, store: Arc<dyn RevocationStore>) -> Validator {
        self.revocations = Some(store);
        self
    }

    /// The number of cached tokens.
    pub fn cached(&self) -> usize {
        self.cache.as_ref().map_or(0, TokenCache::len)
    }

    /// Validates a bearer token (without the `Bearer ` prefix).
    pub fn validate(&self, token: &str) -> Result<Arc<AccessContext>, Error> {
        let now = self.clock.now();
        let hash = match &self.cache {
            Some(cache) => {
                let hash = TokenCache::hash(token);
                if let Some((context, keys)) = cache.get(&hash, token, now) {
                    if self.keys_unchanged(&context, &keys, now) {
                        self.check_revoked(&context, now)?;
                        return Ok(context);
                    }
                }
                Some(hash)
            }
            None => None,
        };
        let (context, keys) = self.validate_uncached(token, now)?;
        let context = Arc::new(context);
        self.check_revoked(&context, now)?;
        if let (Some(cache), Some(hash)) = (&self.cache, hash) {
            cache.insert(hash, token, Arc::clone(&context), keys, now);
        }
        Ok(context)
    }

    /// Whether the issuer of a cached token still has the key set that verified it (it
    /// changes when a remote set is refetched: rotated or removed keys).
    fn keys_unchanged(&self, context: &AccessContext, keys: &Arc<KeySet>, now: i64) -> bool {
        self.issuers
            .get(context.issuer())
            .and_then(|trusted| trusted.keys.current(now).ok())
            .is_some_and(|current| Arc::ptr_eq(&current, keys))
    }

    fn check_revoked(&self, context: &AccessContext, now: i64) -> Result<(), Error> {
        match (&self.revocations, context.jti()) {
            (Some(store), Some(jti)) if store.is_revoked(jti, now)? => Err(Error::Revoked),
            _ => Ok(()),
        }
    }

    /// The token's context and the key set that verified it.
    fn validate_uncached(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(AccessContext, Arc<KeySet>), Error> {
        let jws = Jws::parse(token, self.max_token_bytes)?;
        let mut claims = jws.claims;
        let issuer = claims
            .iss
            .as_deref()
            .ok_or_else(|| Error::MissingClaim("iss".into()))?;
        let trusted = self.issuers.get(issuer).ok_or(Error::UntrustedIssuer)?;

        if trusted.require_at_jwt
            && !jws.header.typ.as_deref().is_some_and(|typ| {
                typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
            })
        {
            return Err(Error::WrongType);
        }
        let alg = jws.header.alg;
        if !trusted.algorithms.contains(alg) {
            return Err(Error::AlgorithmNotAllowed(alg));
        }
        let kid = jws.header.kid.as_deref();
        let mut keys = trusted.keys.current(now)?;
        let key = match keys.find(kid, alg) {
            Err(Error::UnknownKey) => {
                keys = trusted.keys.after_unknown_kid(now)?;
                Arc::clone(keys.find(kid, alg)?)
            }
            found => Arc::clone(found?),
        };
        key.verify(alg, jws.signing_input, &jws.signature)?;

        // The signature is good: now the claims say something.
        let leeway = trusted.leeway;
        let exp = claims
            .exp
            .ok_or_else(|| Error::MissingClaim("exp".into()))?;
        if now >= exp.saturating_add(leeway) {
            return Err(Error::Expired { exp, now });
        }
        if let Some(nbf) = claims.nbf {
            if now.saturating_add(leeway) < nbf {
                return Err(Error::NotYetValid { nbf, now });
            }
        }
        if let Some(iat) = claims.iat {
            if iat > now.saturating_add(leeway) {
                return Err(Error::IssuedInFuture { iat, now });
            }
        }
        if !claims.has_aud {
            return Err(Error::MissingClaim("aud".into()));
        }
        if !claims.aud.iter().any(|aud| trusted.audiences.contains(aud)) {
            return Err(Error::WrongAudience);
        }
        if let Some(missing) = trusted
            .required_claims
            .iter()
            .find(|claim| !claims.has(claim))
        {
            return Err(Error::MissingClaim(missing.clone()));
        }
        let context = context(
            trusted,
            &self.scopes,
            claims_issuer(&mut claims),
            claims,
            exp,
        )?;
        Ok((context, keys))
    }
}

fn claims_issuer(claims: &mut Claims) -> String {
    claims.iss.take().unwrap_or_default()
}

/// Builds the context through the issuer's claim mapping.
fn context(
    trusted: &TrustedIssuer,
    scope_cache: &ScopeCache,
    issuer: String,
    mut claims: Claims,
    exp: i64,
) -> Result<AccessContext, Error> {
    let mapping = &trusted.mapping;
    let scopes = match claims.take(&mapping.scope) {
        None | Some(Value::Null) => Arc::new(ScopeSet::default()),
        Some(Value::String(text)) if text.is_empty() => Arc::new(ScopeSet::default()),
        Some(Value::String(text)) => scope_cache.parse(&text)?,
        // An array of scopes (`scp`), as some identity providers send.
        Some(other) => {
            let scope_text = crate::claims::strings(other, &mapping.scope)?.join(" ");
            scope_cache.parse(&scope_text)?
        }
    };
    let client_id = claims.take_string(&mapping.client_id)?;
    let patient = claims.take_string(&mapping.patient)?;
    let encounter = claims.take_string(&mapping.encounter)?;
    let fhir_user = claims.take_string(&mapping.fhir_user)?;
    let roles = mapping.local_roles(claims.take_strings(&mapping.roles)?);
    let fhir_context = match claims.take(&mapping.fhir_context) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Error::InvalidClaim {
                claim: mapping.fhir_context.clone(),
                reason: "must be an array",
            });
        }
    };
    let attributes: BTreeMap<String, Value> = mapping
        .attributes
        .iter()
        .filter_map(|(claim, name)| {
            claims
                .lookup(claim)
                .map(|value| (name.clone(), value.clone()))
        })
        .collect();
    Ok(AccessContext {
        issuer,
        subject: claims.sub,
        client_id,
        scopes,
        patient,
        encounter,
        fhir_context,
        fhir_user,
        roles,
        attributes,
        audience: claims.aud,
        expires_at: exp,
        issued_at: claims.iat,
        jti: claims.jti,
    })
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .field("clock", &self.clock)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("cache", &self.cache.is_some())
            .field("revocations", &self.revocations.is_some())
            .finish()
    }
}
