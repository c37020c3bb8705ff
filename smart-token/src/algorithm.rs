//! JWS signature algorithms (RFC 7518) and small sets of them.

use std::fmt;

/// A JWS signature algorithm this crate verifies.
///
/// `none` is not one of them: an unsigned token is always rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256: only with a shared secret configured for the issuer.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every algorithm, in the order of the enum.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The algorithm an `alg` value names, exactly (case matters), if this crate knows it.
    ///
    /// ```
    /// use smart_token::Algorithm;
    /// assert_eq!(Algorithm::from_name("RS256"), Some(Algorithm::RS256));
    /// assert_eq!(Algorithm::from_name("none"), None);
    /// assert_eq!(Algorithm::from_name("rs256"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// Whether the algorithm uses a shared secret rather than a public key.
    pub fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of algorithms, as a bit set.
///
/// ```
/// use smart_token::{Algorithm, Algorithms};
/// let rsa = Algorithms::from_slice(&[Algorithm::RS256, Algorithm::PS256]);
/// assert!(rsa.contains(Algorithm::PS256));
/// assert!(!rsa.contains(Algorithm::HS256));
/// assert!(!Algorithms::ASYMMETRIC.contains(Algorithm::HS256));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Algorithms(u16);

impl Algorithms {
    /// No algorithm.
    pub const NONE: Algorithms = Algorithms(0);
    /// Every public-key algorithm: RS*, PS*, ES256, ES384, EdDSA.
    pub const ASYMMETRIC: Algorithms = Algorithms(0b1111_1111_1000);
    /// The RSA algorithms: RS* and PS*.
    pub const RSA: Algorithms = Algorithms(0b0001_1111_1000);

    /// The set of the given algorithms.
    pub fn from_slice(algorithms: &[Algorithm]) -> Algorithms {
        Algorithms(algorithms.iter().fold(0, |bits, alg| bits | alg.bit()))
    }

    /// The set with only `algorithm`.
    pub fn only(algorithm: Algorithm) -> Algorithms {
        Algorithms(algorithm.bit())
    }

    /// Whether `algorithm` is in the set.
    pub fn contains(self, algorithm: Algorithm) -> bool {
        self.0 & algorithm.bit() != 0
    }

    /// The algorithms in both sets.
    pub fn intersect(self, other: Algorithms) -> Algorithms {
        Algorithms(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The algorithms in the set, in enum order.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |alg| self.contains(*alg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.as_str()), Some(alg));
        }
        assert_eq!(Algorithm::from_name("HS256 "), None);
    }

    #[test]
    fn named_sets() {
        let asymmetric: Vec<_> = Algorithms::ASYMMETRIC.iter().collect();
        assert_eq!(asymmetric.len(), 9);
        assert!(asymmetric.iter().all(|alg| !alg.is_symmetric()));
        let rsa: Vec<_> = Algorithms::RSA.iter().map(Algorithm::as_str).collect();
        assert_eq!(rsa, ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]);
    }
}
