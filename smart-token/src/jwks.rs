//! Where an issuer's keys come from: a static set, or a `jwks_uri` fetched through a
//! [`JwksFetcher`], refetched for key rotation at most once per interval.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};

use crate::{Error, KeySet, ProviderMetadata};

/// Fetches a JWKS document (and an issuer's discovery document). The crate ships `HttpFetcher` behind the `http` feature; a
/// server with its own HTTP client implements this in a few lines.
pub trait JwksFetcher: Send + Sync + fmt::Debug {
    /// The body of the (JSON) document at `uri`.
    fn fetch(&self, uri: &str) -> Result<String, Error>;
}

/// The keys of one trusted issuer.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// A fixed set (a JWKS file, our own issuer's keys, a shared secret).
    Static(Arc<KeySet>),
    /// A `jwks_uri`, fetched on first use and refreshed on rotation.
    Remote(Arc<RemoteKeys>),
}

impl KeySource {
    /// A fixed key set.
    pub fn fixed(keys: KeySet) -> KeySource {
        KeySource::Static(Arc::new(keys))
    }

    /// A `jwks_uri` with the default intervals (see [`RemoteKeys::new`]).
    pub fn remote(uri: impl Into<String>, fetcher: Arc<dyn JwksFetcher>) -> KeySource {
        KeySource::Remote(Arc::new(RemoteKeys::new(uri, fetcher)))
    }

    /// The keys named by `issuer`'s discovery document, with the default intervals (see
    /// [`RemoteKeys::discovered`]).
    pub fn discovered(issuer: impl Into<String>, fetcher: Arc<dyn JwksFetcher>) -> KeySource {
        KeySource::Remote(Arc::new(RemoteKeys::discovered(issuer, fetcher)))
    }

    /// The keys to use now: loaded on first use, refreshed when older than the maximum age.
    pub(crate) fn current(&self, now: i64) -> Result<Arc<KeySet>, Error> {
        match self {
            KeySource::Static(keys) => Ok(Arc::clone(keys)),
            KeySource::Remote(remote) => remote.current(now),
        }
    }

    /// The keys after a refetch for an unknown `kid`, if the rate limit allows one; the
    /// current keys otherwise.
    pub(crate) fn after_unknown_kid(&self, now: i64) -> Result<Arc<KeySet>, Error> {
        match self {
            KeySource::Static(keys) => Ok(Arc::clone(keys)),
            KeySource::Remote(remote) => remote.refetch(now),
        }
    }
}

/// Keys from a `jwks_uri`.
///
/// Rotation: a token with a `kid` the set does not have triggers a refetch, but at most one
/// per `min_refetch_interval` (default 60 s) however many such tokens arrive, so a flood of
/// made-up `kid`s costs the issuer one request a minute. The set is also refreshed when older
/// than `max_age` (default 1 hour), so removed keys stop verifying. When a refetch fails,
/// the last good set stays in use.
pub struct RemoteKeys {
    location: Location,
    fetcher: Arc<dyn JwksFetcher>,
    min_refetch_interval: i64,
    max_age: i64,
    state: RwLock<State>,
    // Held while fetching, so that concurrent requests wait for one fetch, not start many.
    fetching: Mutex<()>,
}

/// Where the keys are: a known `jwks_uri`, or the one the issuer's metadata names.
enum Location {
    Jwks(String),
    /// The issuer; its discovery document is read again on every fetch, so a provider that
    /// moves its `jwks_uri` is followed.
    Issuer(String),
}

#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    fetched_at: i64,
    attempted_at: Option<i64>,
}

impl RemoteKeys {
    /// Keys from `uri`, fetched with `fetcher`; refetched at most every 60 s, and refreshed
    /// after 1 hour.
    pub fn new(uri: impl Into<String>, fetcher: Arc<dyn JwksFetcher>) -> RemoteKeys {
        RemoteKeys {
            location: Location::Jwks(uri.into()),
            fetcher,
            min_refetch_interval: 60,
            max_age: 3600,
            state: RwLock::new(State::default()),
            fetching: Mutex::new(()),
        }
    }

    /// The keys of `issuer`, found through its discovery document
    /// ([`ProviderMetadata::discovery_url`]): each fetch reads the document (which must name
    /// `issuer` exactly), then its `jwks_uri`. Same intervals as [`RemoteKeys::new`].
    pub fn discovered(issuer: impl Into<String>, fetcher: Arc<dyn JwksFetcher>) -> RemoteKeys {
        let mut keys = RemoteKeys::new(String::new(), fetcher);
        keys.location = Location::Issuer(issuer.into());
        keys
    }

    /// Sets the least time between two fetches, in seconds. Defaults to 60.
    pub fn min_refetch_interval(mut self, seconds: u32) -> RemoteKeys {
        self.min_refetch_interval = i64::from(seconds);
        self
    }

    /// Sets the age after which the set is refreshed on next use, in seconds. Defaults to 3600.
    pub fn max_age(mut self, seconds: u32) -> RemoteKeys {
        self.max_age = i64::from(seconds);
        self
    }

    /// The `jwks_uri`, or the discovery document's URL for keys found through it.
    pub fn uri(&self) -> String {
        match &self.location {
            Location::Jwks(uri) => uri.clone(),
            Location::Issuer(issuer) => ProviderMetadata::discovery_url(issuer),
        }
    }

    fn fetch(&self) -> Result<KeySet, Error> {
        let body = match &self.location {
            Location::Jwks(uri) => self.fetcher.fetch(uri)?,
            Location::Issuer(issuer) => {
                let metadata = ProviderMetadata::fetch(issuer, self.fetcher.as_ref())?;
                self.fetcher.fetch(&metadata.jwks_uri)?
            }
        };
        KeySet::from_jwks(&body)
    }

    fn current(&self, now: i64) -> Result<Arc<KeySet>, Error> {
        {
            let state = self.state.read().map_err(|_| poisoned())?;
            if let Some(keys) = &state.keys {
                if now.saturating_sub(state.fetched_at) < self.max_age {
                    return Ok(Arc::clone(keys));
                }
            }
        }
        self.refetch(now)
    }

    fn refetch(&self, now: i64) -> Result<Arc<KeySet>, Error> {
        let _fetching = self.fetching.lock().map_err(|_| poisoned())?;
        let attempted_at = self.state.read().map_err(|_| poisoned())?.attempted_at;
        let allowed =
            attempted_at.is_none_or(|at| now.saturating_sub(at) >= self.min_refetch_interval);
        if allowed {
            let fetched = self.fetch();
            let mut state = self.state.write().map_err(|_| poisoned())?;
            state.attempted_at = Some(now);
            match fetched {
                Ok(keys) => {
                    state.keys = Some(Arc::new(keys));
                    state.fetched_at = now;
                }
                Err(error) if state.keys.is_none() => return Err(error),
                Err(_) => {}
            }
        }
        let state = self.state.read().map_err(|_| poisoned())?;
        match &state.keys {
            Some(keys) => Ok(Arc::clone(keys)),
            None => Err(Error::Fetch {
                uri: self.uri(),
                reason:
                    "no key set yet, and the last attempt was less than the refetch interval ago"
                        .into(),
            }),
        }
    }
}

fn poisoned() -> Error {
    Error::Storage("key set lock poisoned by a panic elsewhere".into())
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("uri", &self.uri())
            .field("min_refetch_interval", &self.min_refetch_interval)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// A blocking HTTP(S) [`JwksFetcher`] (feature `http`), with timeouts and a 1 MiB limit on
/// the document.
#[cfg(feature = "http")]
#[derive(Debug)]
pub struct HttpFetcher {
    agent: ureq::Agent,
}

#[cfg(feature = "http")]
impl HttpFetcher {
    /// A fetcher with a 10-second timeout.
    pub fn new() -> HttpFetcher {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .build();
        HttpFetcher {
            agent: config.into(),
        }
    }
}

#[cfg(feature = "http")]
impl Default for HttpFetcher {
    fn default() -> HttpFetcher {
        HttpFetcher::new()
    }
}

#[cfg(feature = "http")]
impl JwksFetcher for HttpFetcher {
    fn fetch(&self, uri: &str) -> Result<String, Error> {
        let failed = |reason: String| Error::Fetch {
            uri: uri.to_owned(),
            reason,
        };
        let mut response = self
            .agent
            .get(uri)
            .call()
            .map_err(|e| failed(e.to_string()))?;
        response
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_string()
            .map_err(|e| failed(e.to_string()))
    }
}
