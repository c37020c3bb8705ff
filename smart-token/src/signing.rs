//! Signing keys: a private key (RSA, P-256, P-384, Ed25519) or an HMAC secret that signs
//! compact JWS tokens, with the public half as a JWK for a published key set.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::{hmac, rsa, signature};
use serde::Serialize;

use crate::key::Curve;
use crate::{Algorithm, Error, Jwk, VerifyingKey};

/// A key that signs tokens with one algorithm, under a key id.
///
/// ```
/// use smart_token::{Algorithm, SigningKey};
///
/// let key = SigningKey::generate(Algorithm::ES256, "2024-01")?;
/// let token = key.sign(Some("at+jwt"), &serde_json::json!({"iss": "https://as.example"}))?;
/// assert_eq!(token.split('.').count(), 3);
/// assert_eq!(key.public_jwk().kid.as_deref(), Some("2024-01"));
/// # Ok::<(), smart_token::Error>(())
/// ```
pub struct SigningKey {
    kid: String,
    algorithm: Algorithm,
    inner: Inner,
    rng: SystemRandom,
}

enum Inner {
    Rsa(signature::RsaKeyPair),
    Ecdsa(signature::EcdsaKeyPair),
    Ed25519(signature::Ed25519KeyPair),
    Hmac(hmac::Key, zeroize::Zeroizing<Vec<u8>>),
}

impl SigningKey {
    /// A key from a PKCS#8 PEM document (`-----BEGIN PRIVATE KEY-----`), for `algorithm`:
    /// RS*/PS* for RSA keys, ES256 for P-256, ES384 for P-384, EdDSA for Ed25519.
    pub fn from_pem(
        pem: &str,
        algorithm: Algorithm,
        kid: impl Into<String>,
    ) -> Result<SigningKey, Error> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|line| *line != "-----BEGIN PRIVATE KEY-----")
            .skip(1)
            .take_while(|line| *line != "-----END PRIVATE KEY-----")
            .collect();
        if body.is_empty() {
            return Err(Error::InvalidKey(
                "expected a PKCS#8 `BEGIN PRIVATE KEY` PEM block".into(),
            ));
        }
        let der = zeroize::Zeroizing::new(
            STANDARD
                .decode(body)
                .map_err(|_| Error::InvalidKey("PEM body is not base64".into()))?,
        );
        SigningKey::from_pkcs8(&der, algorithm, kid)
    }

    /// A key from PKCS#8 DER.
    pub fn from_pkcs8(
        der: &[u8],
        algorithm: Algorithm,
        kid: impl Into<String>,
    ) -> Result<SigningKey, Error> {
        let rng = SystemRandom::new();
        let rejected = |e: ring::error::KeyRejected| {
            Error::InvalidKey(format!("{algorithm} key rejected: {e}"))
        };
        let inner = match algorithm {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => {
                Inner::Rsa(signature::RsaKeyPair::from_pkcs8(der).map_err(rejected)?)
            }
            Algorithm::ES256 => Inner::Ecdsa(
                signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &rng,
                )
                .map_err(rejected)?,
            ),
            Algorithm::ES384 => Inner::Ecdsa(
                signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                    der,
                    &rng,
                )
                .map_err(rejected)?,
            ),
            Algorithm::EdDSA => Inner::Ed25519(
                signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected)?,
            ),
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                return Err(Error::InvalidKey(
                    "use SigningKey::shared_secret for HMAC".into(),
                ));
            }
        };
        Ok(SigningKey {
            kid: kid.into(),
            algorithm,
            inner,
            rng,
        })
    }

    /// A new random key for ES256, ES384 or EdDSA (ring does not generate RSA keys).
    pub fn generate(algorithm: Algorithm, kid: impl Into<String>) -> Result<SigningKey, Error> {
        let rng = SystemRandom::new();
        let failed = |_| Error::Signing("key generation failed".into());
        let pkcs8 = match algorithm {
            Algorithm::ES256 => signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .map_err(failed)?,
            Algorithm::ES384 => signature::EcdsaKeyPair::generate_pkcs8(
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                &rng,
            )
            .map_err(failed)?,
            Algorithm::EdDSA => signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?,
            other => return Err(Error::InvalidKey(format!("cannot generate {other} keys"))),
        };
        SigningKey::from_pkcs8(pkcs8.as_ref(), algorithm, kid)
    }

    /// An HMAC secret for HS256, HS384 or HS512 (at least the hash size long).
    pub fn shared_secret(
        secret: &[u8],
        algorithm: Algorithm,
        kid: impl Into<String>,
    ) -> Result<SigningKey, Error> {
        // The verifying constructor checks the algorithm and the length.
        VerifyingKey::shared_secret(secret, algorithm)?;
        let hmac_algorithm = match algorithm {
            Algorithm::HS384 => hmac::HMAC_SHA384,
            Algorithm::HS512 => hmac::HMAC_SHA512,
            _ => hmac::HMAC_SHA256,
        };
        Ok(SigningKey {
            kid: kid.into(),
            algorithm,
            inner: Inner::Hmac(
                hmac::Key::new(hmac_algorithm, secret),
                zeroize::Zeroizing::new(secret.to_vec()),
            ),
            rng: SystemRandom::new(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm it signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Signs `claims` as a compact JWS with header `{"alg", "kid", "typ"}`.
    pub fn sign<C: Serialize + ?Sized>(
        &self,
        typ: Option<&str>,
        claims: &C,
    ) -> Result<String, Error> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            typ: Option<&'a str>,
            kid: &'a str,
        }
        let header = serde_json::to_vec(&Header {
            alg: self.algorithm.as_str(),
            typ,
            kid: &self.kid,
        })
        .map_err(|e| Error::Signing(e.to_string()))?;
        let claims = serde_json::to_vec(claims).map_err(|e| Error::Signing(e.to_string()))?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    /// The raw signature of `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let failed = |_| Error::Signing(format!("{} signing failed", self.algorithm));
        match &self.inner {
            Inner::Rsa(pair) => {
                let encoding: &dyn signature::RsaEncoding = match self.algorithm {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(encoding, &self.rng, message, &mut out)
                    .map_err(failed)?;
                Ok(out)
            }
            Inner::Ecdsa(pair) => Ok(pair
                .sign(&self.rng, message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            Inner::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Inner::Hmac(key, _) => Ok(hmac::sign(key, message).as_ref().to_vec()),
        }
    }

    /// The public half as a JWK (`use: sig`, with `alg` and `kid`). For an HMAC key, whose
    /// secret must never be published, a JWK with only `kty`, `kid` and `alg`.
    pub fn public_jwk(&self) -> Jwk {
        let mut jwk = Jwk {
            kid: Some(self.kid.clone()),
            alg: Some(self.algorithm.as_str().into()),
            key_use: Some("sig".into()),
            ..Jwk::default()
        };
        match &self.inner {
            Inner::Rsa(pair) => {
                let components = rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
                jwk.kty = "RSA".into();
                jwk.n = Some(URL_SAFE_NO_PAD.encode(components.n));
                jwk.e = Some(URL_SAFE_NO_PAD.encode(components.e));
            }
            Inner::Ecdsa(pair) => {
                use signature::KeyPair as _;
                let point = pair.public_key().as_ref();
                let size = (point.len().saturating_sub(1)) / 2;
                jwk.kty = "EC".into();
                jwk.crv = Some(if size == 32 { "P-256" } else { "P-384" }.into());
                jwk.x = point.get(1..=size).map(|x| URL_SAFE_NO_PAD.encode(x));
                jwk.y = point.get(1 + size..).map(|y| URL_SAFE_NO_PAD.encode(y));
            }
            Inner::Ed25519(pair) => {
                use signature::KeyPair as _;
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()));
            }
            Inner::Hmac(..) => jwk.kty = "oct".into(),
        }
        jwk
    }

    /// The key that verifies this key's signatures.
    pub fn verifying_key(&self) -> Result<VerifyingKey, Error> {
        let key = match &self.inner {
            Inner::Hmac(_, secret) => VerifyingKey::shared_secret(secret, self.algorithm)?,
            Inner::Ecdsa(pair) => {
                use signature::KeyPair as _;
                let point = pair.public_key().as_ref();
                let size = (point.len().saturating_sub(1)) / 2;
                let curve = if size == 32 { Curve::P256 } else { Curve::P384 };
                let coordinate =
                    |range: std::ops::Range<usize>| point.get(range).unwrap_or_default();
                VerifyingKey::ec(
                    curve,
                    coordinate(1..1 + size),
                    coordinate(1 + size..1 + 2 * size),
                )?
            }
            _ => self.public_jwk().to_verifying_key()?,
        };
        Ok(key.with_kid(self.kid.clone()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}
