//! Verifying keys: a public key (RSA, P-256, P-384, Ed25519) or a shared HMAC secret, parsed
//! once, with the algorithms it may verify. Every signature check of the crate goes through
//! [`VerifyingKey::verify`].

use std::fmt;

use ring::{hmac, signature};
use zeroize::Zeroizing;

use crate::{Algorithm, Algorithms, Error};

/// A key that verifies JWS signatures, and the algorithms it accepts.
///
/// The algorithms come from the key, never from a token: an RSA key verifies only RS* and PS*,
/// a P-256 key only ES256, and an HMAC secret only the one HS* algorithm it was configured
/// for. A token naming any other algorithm is rejected with
/// [`Error::AlgorithmNotAllowed`], which is what stops RS256-to-HS256 key confusion.
///
/// ```
/// use smart_token::{Algorithm, Error, VerifyingKey};
///
/// let key = VerifyingKey::shared_secret(b"0123456789abcdef0123456789abcdef", Algorithm::HS256)?;
/// let tag = ring::hmac::sign(
///     &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"0123456789abcdef0123456789abcdef"),
///     b"message",
/// );
/// key.verify(Algorithm::HS256, b"message", tag.as_ref())?;
/// assert_eq!(key.verify(Algorithm::HS384, b"message", tag.as_ref()), Err(Error::AlgorithmNotAllowed(Algorithm::HS384)));
/// # Ok::<(), smart_token::Error>(())
/// ```
pub struct VerifyingKey {
    kid: Option<String>,
    algorithms: Algorithms,
    material: Material,
}

enum Material {
    Rsa(signature::RsaPublicKeyComponents<Vec<u8>>),
    P256(Vec<u8>),
    P384(Vec<u8>),
    Ed25519(Vec<u8>),
    Hmac {
        key: hmac::Key,
        // Kept only so that it is zeroized on drop; `key` holds ring's copy.
        _secret: Zeroizing<Vec<u8>>,
    },
}

/// The elliptic curves of ECDSA keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (ES256).
    P256,
    /// NIST P-384 (ES384).
    P384,
}

impl VerifyingKey {
    /// An RSA public key from its modulus and exponent, big-endian. The modulus must have
    /// 2048 to 8192 bits.
    pub fn rsa(n: &[u8], e: &[u8]) -> Result<VerifyingKey, Error> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if !(256..=1024).contains(&n.len()) {
            return Err(Error::InvalidKey(format!(
                "RSA modulus of {} bits; 2048 to 8192 are accepted",
                n.len() * 8
            )));
        }
        if e.is_empty() || e.len() > 4 || e.last().is_none_or(|last| last & 1 == 0) {
            return Err(Error::InvalidKey(
                "RSA exponent must be odd and at most 32 bits".into(),
            ));
        }
        Ok(VerifyingKey::new(
            Algorithms::RSA,
            Material::Rsa(signature::RsaPublicKeyComponents {
                n: n.to_vec(),
                e: e.to_vec(),
            }),
        ))
    }

    /// An ECDSA public key from its affine coordinates, big-endian, each exactly the
    /// curve's size (32 bytes for P-256, 48 for P-384).
    pub fn ec(curve: Curve, x: &[u8], y: &[u8]) -> Result<VerifyingKey, Error> {
        let size = match curve {
            Curve::P256 => 32,
            Curve::P384 => 48,
        };
        if x.len() != size || y.len() != size {
            return Err(Error::InvalidKey(format!(
                "{curve:?} coordinates must be {size} bytes each"
            )));
        }
        let mut point = Vec::with_capacity(1 + 2 * size);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Ok(match curve {
            Curve::P256 => {
                VerifyingKey::new(Algorithms::only(Algorithm::ES256), Material::P256(point))
            }
            Curve::P384 => {
                VerifyingKey::new(Algorithms::only(Algorithm::ES384), Material::P384(point))
            }
        })
    }

    /// An Ed25519 public key (32 bytes).
    pub fn ed25519(x: &[u8]) -> Result<VerifyingKey, Error> {
        if x.len() != 32 {
            return Err(Error::InvalidKey("Ed25519 keys are 32 bytes".into()));
        }
        Ok(VerifyingKey::new(
            Algorithms::only(Algorithm::EdDSA),
            Material::Ed25519(x.to_vec()),
        ))
    }

    /// A shared secret for one HMAC algorithm. RFC 7518 §3.2: the secret must be at least
    /// as long as the hash output (32 bytes for HS256, 48 for HS384, 64 for HS512).
    pub fn shared_secret(secret: &[u8], algorithm: Algorithm) -> Result<VerifyingKey, Error> {
        let (hmac_algorithm, minimum) = match algorithm {
            Algorithm::HS256 => (hmac::HMAC_SHA256, 32),
            Algorithm::HS384 => (hmac::HMAC_SHA384, 48),
            Algorithm::HS512 => (hmac::HMAC_SHA512, 64),
            other => {
                return Err(Error::InvalidKey(format!(
                    "a shared secret cannot verify `{other}`"
                )));
            }
        };
        if secret.len() < minimum {
            return Err(Error::InvalidKey(format!(
                "{algorithm} secrets must be at least {minimum} bytes"
            )));
        }
        Ok(VerifyingKey::new(
            Algorithms::only(algorithm),
            Material::Hmac {
                key: hmac::Key::new(hmac_algorithm, secret),
                _secret: Zeroizing::new(secret.to_vec()),
            },
        ))
    }

    fn new(algorithms: Algorithms, material: Material) -> VerifyingKey {
        VerifyingKey {
            kid: None,
            algorithms,
            material,
        }
    }

    /// The key with a key id (`kid`).
    pub fn with_kid(mut self, kid: impl Into<String>) -> VerifyingKey {
        self.kid = Some(kid.into());
        self
    }

    /// The key restricted to the given algorithms (a JWK's `alg`, an issuer's list). The
    /// result may be empty, and then the key verifies nothing.
    pub fn restrict(mut self, algorithms: Algorithms) -> VerifyingKey {
        self.algorithms = self.algorithms.intersect(algorithms);
        self
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> Algorithms {
        self.algorithms
    }

    /// Verifies `signature` over `message` with `algorithm`, which the key must allow.
    ///
    /// ECDSA signatures are in the JWS form (R || S, fixed size), not DER.
    pub fn verify(
        &self,
        algorithm: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), Error> {
        if !self.algorithms.contains(algorithm) {
            return Err(Error::AlgorithmNotAllowed(algorithm));
        }
        let verified = match &self.material {
            Material::Rsa(components) => {
                let parameters: &signature::RsaParameters = match algorithm {
                    Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return Err(Error::AlgorithmNotAllowed(algorithm)),
                };
                components.verify(parameters, message, signature)
            }
            Material::P256(point) => signature::UnparsedPublicKey::new(
                &signature::ECDSA_P256_SHA256_FIXED,
                point.as_slice(),
            )
            .verify(message, signature),
            Material::P384(point) => signature::UnparsedPublicKey::new(
                &signature::ECDSA_P384_SHA384_FIXED,
                point.as_slice(),
            )
            .verify(message, signature),
            Material::Ed25519(point) => {
                signature::UnparsedPublicKey::new(&signature::ED25519, point.as_slice())
                    .verify(message, signature)
            }
            Material::Hmac { key, .. } => hmac::verify(key, message, signature),
        };
        verified.map_err(|_| Error::InvalidSignature)
    }

    /// The key's type as a JWK `kty`.
    pub fn key_type(&self) -> &'static str {
        match self.material {
            Material::Rsa(_) => "RSA",
            Material::P256(_) | Material::P384(_) => "EC",
            Material::Ed25519(_) => "OKP",
            Material::Hmac { .. } => "oct",
        }
    }
}

impl fmt::Debug for VerifyingKey {
    // Public keys are not secret, but printing them helps nobody; secrets must never print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("kty", &self.key_type())
            .field("algorithms", &self.algorithms.iter().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_small_rsa_keys_and_even_exponents() {
        let n = [0xc5u8; 128];
        assert_eq!(
            VerifyingKey::rsa(&n, &[1, 0, 1]).unwrap_err().to_string(),
            "invalid key: RSA modulus of 1024 bits; 2048 to 8192 are accepted"
        );
        let n = [0xc5u8; 256];
        assert_eq!(
            VerifyingKey::rsa(&n, &[2]).unwrap_err().to_string(),
            "invalid key: RSA exponent must be odd and at most 32 bits"
        );
        assert!(VerifyingKey::rsa(&n, &[1, 0, 1]).is_ok());
    }

    #[test]
    fn short_hmac_secrets_are_refused() {
        assert_eq!(
            VerifyingKey::shared_secret(&[7; 31], Algorithm::HS256)
                .unwrap_err()
                .to_string(),
            "invalid key: HS256 secrets must be at least 32 bytes"
        );
        assert_eq!(
            VerifyingKey::shared_secret(&[7; 64], Algorithm::RS256)
                .unwrap_err()
                .to_string(),
            "invalid key: a shared secret cannot verify `RS256`"
        );
    }

    #[test]
    fn debug_does_not_print_secrets() {
        let key = VerifyingKey::shared_secret(&[0x41; 32], Algorithm::HS256)
            .unwrap()
            .with_kid("k1");
        let debug = format!("{key:?}");
        assert_eq!(
            debug,
            "VerifyingKey { kid: Some(\"k1\"), kty: \"oct\", algorithms: [HS256], .. }"
        );
    }

    #[test]
    fn wrong_curve_sizes_are_refused() {
        assert_eq!(
            VerifyingKey::ec(Curve::P384, &[1; 32], &[1; 32])
                .unwrap_err()
                .to_string(),
            "invalid key: P384 coordinates must be 48 bytes each"
        );
    }
}
