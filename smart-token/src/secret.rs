//! Secrets: random opaque values (codes, refresh tokens, ids), the SHA-256 under which they
//! are stored, and client secrets hashed with Argon2id.

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::Error;

/// 32 random bytes, base64url: 256 bits, for codes, refresh tokens, device codes and ids.
pub(crate) fn random_token() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Storage("the system random source failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Random bytes from the system source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Storage("the system random source failed".into()))?;
    Ok(bytes)
}

/// The key under which an opaque secret is stored: its SHA-256, so that a leaked store
/// holds no usable codes or tokens.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// The SHA-256 of `secret`.
    pub fn of(secret: &str) -> SecretHash {
        let mut hash = [0; 32];
        hash.copy_from_slice(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref());
        SecretHash(hash)
    }

    /// The hash bytes, for a database key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A hash read back from a database key (the bytes of [`SecretHash::as_bytes`]).
    pub fn from_bytes(bytes: [u8; 32]) -> SecretHash {
        SecretHash(bytes)
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretHash({})",
            URL_SAFE_NO_PAD.encode(self.0.get(..6).unwrap_or_default())
        )
    }
}

/// A client secret as stored: an Argon2id PHC string (`$argon2id$v=19$...`), never the
/// secret itself.
///
/// ```
/// use smart_token::ClientSecret;
/// let (secret, stored) = ClientSecret::generate()?;
/// assert!(stored.verify(&secret));
/// assert!(!stored.verify("guess"));
/// assert!(stored.as_phc().starts_with("$argon2id$"));
/// # Ok::<(), smart_token::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Hashes `secret` with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes).
    pub fn hash(secret: &str) -> Result<ClientSecret, Error> {
        let salt = SaltString::encode_b64(&random_bytes::<16>()?)
            .map_err(|e| Error::Storage(format!("salt: {e}")))?;
        let hash = Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map_err(|e| Error::Storage(format!("hashing the client secret: {e}")))?;
        Ok(ClientSecret(hash.to_string()))
    }

    /// A new random secret (returned once, to give to the client) and its stored hash.
    pub fn generate() -> Result<(String, ClientSecret), Error> {
        let secret = random_token()?;
        let stored = ClientSecret::hash(&secret)?;
        Ok((secret, stored))
    }

    /// A stored hash, as read back from a database.
    pub fn from_phc(phc: &str) -> Result<ClientSecret, Error> {
        PasswordHash::new(phc)
            .map_err(|e| Error::InvalidClientMetadata(format!("client secret hash: {e}")))?;
        Ok(ClientSecret(phc.to_owned()))
    }

    /// The PHC string, for storage.
    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// Whether `secret` is the one hashed; the comparison is constant-time.
    pub fn verify(&self, secret: &str) -> bool {
        PasswordHash::new(&self.0).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &hash)
                .is_ok()
        })
    }

    /// Spends the time of one verification, so that an unknown client id answers as slowly
    /// as a wrong secret and does not reveal which ids exist.
    pub(crate) fn verify_nothing(secret: &str) {
        static DUMMY: std::sync::OnceLock<Option<ClientSecret>> = std::sync::OnceLock::new();
        if let Some(dummy) =
            DUMMY.get_or_init(|| ClientSecret::hash("no client has this secret").ok())
        {
            let _ = dummy.verify(secret);
        }
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(argon2id, redacted)")
    }
}
