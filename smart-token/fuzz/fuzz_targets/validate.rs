//! Fuzzes the token validator two ways: the input as a bearer token (nothing panics, nothing
//! is accepted), and the input as header and claims JSON that the harness signs with the
//! issuer's HMAC secret, so that every check after the signature runs on arbitrary claims
//! (nothing panics, and an accepted token meets every rule).

#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use smart_token::{Algorithm, FixedClock, SigningKey, TrustedIssuer, Validator};

const NOW: i64 = 1_700_000_000;
const ISS: &str = "https://auth.example.org";
const AUD: &str = "https://fhir.example.org/r4";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    let issuer = TrustedIssuer::shared_secret(ISS, AUD, SECRET, Algorithm::HS256)
        .unwrap()
        .require_claims(["sub"]);
    Validator::new([issuer]).clock(Arc::new(FixedClock::new(NOW)))
});

static SIGNER: LazyLock<SigningKey> =
    LazyLock::new(|| SigningKey::shared_secret(SECRET, Algorithm::HS256, "k").unwrap());

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert!(VALIDATOR.validate(text).is_err(), "an unsigned input was accepted");

    // `header` NUL `claims`: sign them and validate.
    let Some((header, claims)) = text.split_once('\0') else {
        return;
    };
    let token = sign(header, claims);
    if let Ok(context) = VALIDATOR.validate(&token) {
        assert_eq!(context.issuer(), ISS);
        assert!(context.audience().iter().any(|aud| aud == AUD));
        assert!(context.expires_at() > NOW - 60);
        assert!(context.subject().is_some());
        let claims: serde_json::Value = serde_json::from_str(claims).unwrap();
        assert_eq!(claims["iss"], ISS);
        let header: serde_json::Value = serde_json::from_str(header).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert!(header.get("crit").is_none() && header.get("jku").is_none() && header.get("jwk").is_none());
    }
});

fn sign(header: &str, claims: &str) -> String {
    let mut token = String::new();
    base64url(header.as_bytes(), &mut token);
    token.push('.');
    base64url(claims.as_bytes(), &mut token);
    let signature = SIGNER.sign_bytes(token.as_bytes()).unwrap();
    token.push('.');
    base64url(&signature, &mut token);
    token
}

fn base64url(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
}
