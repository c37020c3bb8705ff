//! JSON Web Keys (RFC 7517) and key sets: reading public keys into [`VerifyingKey`]s, and
//! writing them for a published JWKS.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::key::Curve;
use crate::{Algorithm, Algorithms, Error, VerifyingKey};

/// One JSON Web Key, public members only.
///
/// Reading ignores private members (`d`, `p`, ...) and unknown members, as RFC 7517 asks;
/// symmetric (`oct`) keys are never read from a key set: a shared secret must be configured
/// explicitly ([`VerifyingKey::shared_secret`]).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The one algorithm the key is for, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `sig` or `enc`.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Permitted operations; a key for verification lists `verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Curve: `P-256`, `P-384` or `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC or OKP x coordinate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

impl Jwk {
    /// The verifying key this JWK describes.
    ///
    /// Fails for `oct` keys, keys marked for encryption only, unsupported types or curves,
    /// non-canonical base64url, and an `alg` that does not fit the key type.
    pub fn to_verifying_key(&self) -> Result<VerifyingKey, Error> {
        if self.key_use.as_deref().is_some_and(|u| u != "sig") {
            return Err(Error::InvalidKey(
                "key is not for signatures (`use`)".into(),
            ));
        }
        if let Some(ops) = &self.key_ops {
            if !ops.iter().any(|op| op == "verify") {
                return Err(Error::InvalidKey(
                    "key_ops does not include `verify`".into(),
                ));
            }
        }
        let key = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => VerifyingKey::rsa(&member(&self.n, "n")?, &member(&self.e, "e")?)?,
            ("EC", Some("P-256")) => {
                VerifyingKey::ec(Curve::P256, &member(&self.x, "x")?, &member(&self.y, "y")?)?
            }
            ("EC", Some("P-384")) => {
                VerifyingKey::ec(Curve::P384, &member(&self.x, "x")?, &member(&self.y, "y")?)?
            }
            ("OKP", Some("Ed25519")) => VerifyingKey::ed25519(&member(&self.x, "x")?)?,
            ("oct", _) => {
                return Err(Error::InvalidKey(
                    "symmetric keys are not read from key sets; configure a shared secret".into(),
                ));
            }
            _ => return Err(Error::InvalidKey("unsupported key type or curve".into())),
        };
        let key = match &self.alg {
            None => key,
            Some(alg) => {
                let algorithm = Algorithm::from_name(alg)
                    .ok_or_else(|| Error::InvalidKey("unsupported `alg`".into()))?;
                if !key.algorithms().contains(algorithm) {
                    return Err(Error::InvalidKey(format!(
                        "`alg` {algorithm} does not fit the key type"
                    )));
                }
                key.restrict(Algorithms::only(algorithm))
            }
        };
        Ok(match &self.kid {
            Some(kid) => key.with_kid(kid.clone()),
            None => key,
        })
    }
}

fn member(value: &Option<String>, name: &'static str) -> Result<Vec<u8>, Error> {
    let text = value
        .as_deref()
        .ok_or_else(|| Error::InvalidKey(format!("member `{name}` is missing")))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Error::InvalidKey(format!("member `{name}` is not canonical base64url")))
}

/// A set of verifying keys, found by `kid`.
///
/// ```
/// use smart_token::{Algorithm, KeySet};
///
/// let jwks = r#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "2024-01", "alg": "ES256",
///     "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
///     "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
///   {"kty": "oct", "k": "c2VjcmV0"}]}"#;
/// let keys = KeySet::from_jwks(jwks)?;
/// assert_eq!(keys.len(), 1); // the symmetric key is skipped
/// assert!(keys.find(Some("2024-01"), Algorithm::ES256).is_ok());
/// # Ok::<(), smart_token::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// The set of the given keys.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> KeySet {
        KeySet {
            keys: keys.into_iter().map(Arc::new).collect(),
        }
    }

    /// Reads a JWKS document (`{"keys": [...]}`). Keys this crate cannot use for
    /// verification (encryption keys, `oct` keys, unsupported types, malformed members) are
    /// skipped, so that one odd key does not take the issuer's other keys down with it; a
    /// document that is not a JWKS is an error.
    pub fn from_jwks(json: &str) -> Result<KeySet, Error> {
        let document: JwksDocument = serde_json::from_str(json)
            .map_err(|e| Error::InvalidKeySet(format!("not a JWKS document: {e}")))?;
        let keys = document
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter_map(|jwk| jwk.to_verifying_key().ok())
            .collect::<Vec<_>>();
        Ok(KeySet::new(keys))
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether some key has this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid() == Some(kid))
    }

    /// The key for a token's `kid` and `alg`.
    ///
    /// With a `kid`, the key with that id, which must allow `alg`; if none has it, the one
    /// key without a `kid` that allows `alg` (a key without an id matches any), else
    /// [`Error::UnknownKey`]. Without a `kid`, the only key that allows `alg`; several is
    /// [`Error::AmbiguousKey`].
    pub fn find(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<&Arc<VerifyingKey>, Error> {
        match kid {
            Some(kid) => match self.keys.iter().find(|key| key.kid() == Some(kid)) {
                Some(key) if key.algorithms().contains(algorithm) => Ok(key),
                Some(_) => Err(Error::AlgorithmNotAllowed(algorithm)),
                None => {
                    let mut anonymous = self
                        .keys
                        .iter()
                        .filter(|key| key.kid().is_none() && key.algorithms().contains(algorithm));
                    match (anonymous.next(), anonymous.next()) {
                        (Some(key), None) => Ok(key),
                        _ => Err(Error::UnknownKey),
                    }
                }
            },
            None => {
                let mut fitting = self
                    .keys
                    .iter()
                    .filter(|key| key.algorithms().contains(algorithm));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    (Some(_), Some(_)) => Err(Error::AmbiguousKey),
                    (None, _) if self.keys.is_empty() => Err(Error::UnknownKey),
                    (None, _) => Err(Error::AlgorithmNotAllowed(algorithm)),
                }
            }
        }
    }

    /// The keys.
    pub fn iter(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.iter().map(|key| &**key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_JWK: &str = r#"{"kty": "EC", "crv": "P-256", "kid": "a",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    fn jwk(json: &str) -> Jwk {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn ec_key_allows_only_es256() {
        let key = jwk(EC_JWK).to_verifying_key().unwrap();
        assert_eq!(key.algorithms(), Algorithms::only(Algorithm::ES256));
        assert_eq!(key.kid(), Some("a"));
    }

    #[test]
    fn alg_that_does_not_fit_the_key_is_refused() {
        let mut key = jwk(EC_JWK);
        key.alg = Some("RS256".into());
        assert_eq!(
            key.to_verifying_key().unwrap_err().to_string(),
            "invalid key: `alg` RS256 does not fit the key type"
        );
    }

    #[test]
    fn encryption_keys_and_padded_base64_are_refused() {
        let mut key = jwk(EC_JWK);
        key.key_use = Some("enc".into());
        assert_eq!(key.to_verifying_key().unwrap_err().code(), "invalid_key");
        let mut key = jwk(EC_JWK);
        key.x = Some("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU=".into());
        assert_eq!(
            key.to_verifying_key().unwrap_err().to_string(),
            "invalid key: member `x` is not canonical base64url"
        );
    }

    #[test]
    fn jwks_document_errors() {
        assert_eq!(
            KeySet::from_jwks("[]").unwrap_err().code(),
            "invalid_key_set"
        );
        assert_eq!(
            KeySet::from_jwks(r#"{"keys": [1, "x", {}]}"#)
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn find_without_kid() {
        let two = KeySet::new([
            jwk(EC_JWK).to_verifying_key().unwrap(),
            jwk(EC_JWK).to_verifying_key().unwrap().with_kid("b"),
        ]);
        assert_eq!(
            two.find(None, Algorithm::ES256).unwrap_err(),
            Error::AmbiguousKey
        );
        assert_eq!(
            two.find(Some("c"), Algorithm::ES256).unwrap_err(),
            Error::UnknownKey
        );
        assert_eq!(
            two.find(Some("b"), Algorithm::HS256).unwrap_err(),
            Error::AlgorithmNotAllowed(Algorithm::HS256)
        );
        assert_eq!(
            two.find(Some("b"), Algorithm::ES256).unwrap().kid(),
            Some("b")
        );
    }
}
