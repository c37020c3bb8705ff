use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use smart_token::{Algorithm, FixedClock, KeySet, KeySource, SigningKey, TrustedIssuer, Validator};

pub const NOW: i64 = 1_700_000_000;
pub const ISS: &str = "https://auth.example.org";
pub const AUD: &str = "https://fhir.example.org/r4";
pub const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

pub const RSA_PEM: &str = include_str!("keys/rsa-2048.pem");
pub const RSA_B_PEM: &str = include_str!("keys/rsa-2048-b.pem");
pub const P256_PEM: &str = include_str!("keys/ec-p256.pem");
pub const P384_PEM: &str = include_str!("keys/ec-p384.pem");
pub const ED25519_PEM: &str = include_str!("keys/ed25519.pem");

pub fn rsa() -> SigningKey {
    SigningKey::from_pem(RSA_PEM, Algorithm::RS256, "rsa-1").unwrap()
}

pub fn key(pem: &str, alg: Algorithm, kid: &str) -> SigningKey {
    SigningKey::from_pem(pem, alg, kid).unwrap()
}

/// The claims of a typical SMART patient-app token.
pub fn claims() -> Value {
    json!({
        "iss": ISS,
        "sub": "user-7",
        "aud": AUD,
        "exp": NOW + 300,
        "iat": NOW,
        "jti": "jti-1",
        "client_id": "growth-chart",
        "scope": "launch/patient openid fhirUser patient/Observation.rs patient/Patient.r",
        "patient": "123",
        "fhirUser": "Practitioner/9",
    })
}

pub fn with(mut claims: Value, changes: Value) -> Value {
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// Keys of the issuer: every test key's public half.
pub fn key_set() -> KeySet {
    // The RSA key without `alg`, so that it verifies every RS* and PS* algorithm.
    let mut rsa_jwk = rsa().public_jwk();
    rsa_jwk.alg = None;
    KeySet::new([
        rsa_jwk.to_verifying_key().unwrap(),
        key(P256_PEM, Algorithm::ES256, "p256")
            .verifying_key()
            .unwrap(),
        key(P384_PEM, Algorithm::ES384, "p384")
            .verifying_key()
            .unwrap(),
        key(ED25519_PEM, Algorithm::EdDSA, "ed")
            .verifying_key()
            .unwrap(),
    ])
}

pub fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(NOW))
}

pub fn validator() -> Validator {
    Validator::new([TrustedIssuer::new(ISS, AUD, KeySource::fixed(key_set()))]).clock(clock())
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with any header and claims text, signed by `key`'s raw signature.
pub fn forge(header: &str, claims: &str, key: &SigningKey) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let signature = key.sign_bytes(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&signature))
}
