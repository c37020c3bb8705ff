//! Validating a realistic SMART access token (10 scopes, 11 claims) signed RS256, ES256 and
//! HS256, beside what it is made of and a baseline, all in the same run:
//! - `ours`: `Validator::validate` without the token cache (its parsed-scope cache is warm,
//!   as it is for every token of an app after the first);
//! - `signature`: the raw signature check alone, with the same backend (ring);
//! - `decode`: base64url + JSON decoding of header and claims, no crypto;
//! - `jsonwebtoken`: `jsonwebtoken` 9 (ring) decoding the same token with `iss`, `aud` and
//!   `exp` checks into a typed struct;
//! - `validate/cached/ours`: a repeated token with the validator's cache;
//! - `validate/parts/scope_parse`: parsing the `scope` claim alone, which the validator does
//!   once per distinct scope string.
//!
//! Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on
//! a shared machine, time spent preempted by other processes is not the code's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark code: a panic is a failed run"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cpu_time::ThreadTime;
use criterion::{Bencher, Criterion, criterion_group, criterion_main};
use ring::{hmac, signature};
use serde::Deserialize;
use serde_json::{Value, json};
use smart_token::{Algorithm, FixedClock, KeySet, KeySource, SigningKey, TrustedIssuer, Validator};

const NOW: i64 = 1_700_000_000;
const ISS: &str = "https://auth.example.org";
const AUD: &str = "https://fhir.example.org/r4";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Ten scopes, as a patient-facing app's token carries them.
const SCOPES: &str = "launch/patient openid fhirUser offline_access patient/Patient.rs \
patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory \
patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs \
patient/Condition.rs patient/MedicationRequest.rs patient/AllergyIntolerance.rs";

fn claims() -> Value {
    json!({
        "iss": ISS,
        "sub": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
        "aud": AUD,
        "exp": NOW + 3600,
        "iat": NOW,
        "jti": "2b0c0b4f-6a0c-4c52-9c6e-3d0f2a7f0c11",
        "client_id": "growth-chart-app",
        "scope": SCOPES,
        "patient": "smart-1288992",
        "encounter": "smart-enc-4471",
        "fhirUser": "https://fhir.example.org/r4/Practitioner/smart-Practitioner-71482713",
    })
}

/// The claims jsonwebtoken decodes into: the same, typed.
#[derive(Deserialize)]
#[allow(dead_code, reason = "decoded to be measured, not read")]
struct SmartClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    jti: String,
    client_id: String,
    scope: String,
    patient: String,
    encounter: String,
    #[serde(rename = "fhirUser")]
    fhir_user: String,
}

/// The raw signature check: message, signature, valid?
type Verify = Box<dyn Fn(&[u8], &[u8]) -> bool>;

struct Case {
    name: &'static str,
    token: String,
    validator: Validator,
    verify: Verify,
    jwt_key: jsonwebtoken::DecodingKey,
    jwt_alg: jsonwebtoken::Algorithm,
}

fn cases() -> Vec<Case> {
    let rsa = SigningKey::from_pem(
        include_str!("../tests/keys/rsa-2048.pem"),
        Algorithm::RS256,
        "rsa-1",
    )
    .unwrap();
    let ec = SigningKey::from_pem(
        include_str!("../tests/keys/ec-p256.pem"),
        Algorithm::ES256,
        "ec-1",
    )
    .unwrap();
    let hs = SigningKey::shared_secret(SECRET, Algorithm::HS256, "hs-1").unwrap();
    let clock = Arc::new(FixedClock::new(NOW));
    let asymmetric = |key: &SigningKey| {
        Validator::new([TrustedIssuer::new(
            ISS,
            AUD,
            KeySource::fixed(KeySet::new([key.verifying_key().unwrap()])),
        )])
        .clock(clock.clone())
    };
    let rsa_jwk = rsa.public_jwk();
    let n = URL_SAFE_NO_PAD
        .decode(rsa_jwk.n.as_deref().unwrap())
        .unwrap();
    let e = URL_SAFE_NO_PAD
        .decode(rsa_jwk.e.as_deref().unwrap())
        .unwrap();
    let ec_jwk = ec.public_jwk();
    let mut point = vec![4u8];
    point.extend(
        URL_SAFE_NO_PAD
            .decode(ec_jwk.x.as_deref().unwrap())
            .unwrap(),
    );
    point.extend(
        URL_SAFE_NO_PAD
            .decode(ec_jwk.y.as_deref().unwrap())
            .unwrap(),
    );
    let hmac_key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    vec![
        Case {
            name: "rs256",
            token: rsa.sign(Some("at+jwt"), &claims()).unwrap(),
            validator: asymmetric(&rsa),
            jwt_key: jsonwebtoken::DecodingKey::from_rsa_components(
                rsa_jwk.n.as_deref().unwrap(),
                rsa_jwk.e.as_deref().unwrap(),
            )
            .unwrap(),
            jwt_alg: jsonwebtoken::Algorithm::RS256,
            verify: Box::new(move |message, sig| {
                signature::RsaPublicKeyComponents { n: &n, e: &e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                    .is_ok()
            }),
        },
        Case {
            name: "es256",
            token: ec.sign(Some("at+jwt"), &claims()).unwrap(),
            validator: asymmetric(&ec),
            jwt_key: jsonwebtoken::DecodingKey::from_ec_components(
                ec_jwk.x.as_deref().unwrap(),
                ec_jwk.y.as_deref().unwrap(),
            )
            .unwrap(),
            jwt_alg: jsonwebtoken::Algorithm::ES256,
            verify: Box::new(move |message, sig| {
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point)
                    .verify(message, sig)
                    .is_ok()
            }),
        },
        Case {
            name: "hs256",
            token: hs.sign(Some("at+jwt"), &claims()).unwrap(),
            validator: Validator::new([TrustedIssuer::shared_secret(
                ISS,
                AUD,
                SECRET,
                Algorithm::HS256,
            )
            .unwrap()])
            .clock(clock.clone()),
            jwt_key: jsonwebtoken::DecodingKey::from_secret(SECRET),
            jwt_alg: jsonwebtoken::Algorithm::HS256,
            verify: Box::new(move |message, sig| hmac::verify(&hmac_key, message, sig).is_ok()),
        },
    ]
}

fn decode(token: &str) -> (Value, Value, Vec<u8>) {
    let mut parts = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    let payload = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&payload).unwrap(),
        signature,
    )
}

/// Runs `f` `iters` times and reports the thread CPU time spent.
fn cpu<R>(b: &mut Bencher<'_>, mut f: impl FnMut() -> R) {
    b.iter_custom(|iters| {
        let start = ThreadTime::now();
        for _ in 0..iters {
            black_box(f());
        }
        start.elapsed()
    });
}

fn validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    for case in cases() {
        let token = case.token.as_str();
        // Each measurement checks its answer once before timing.
        assert_eq!(case.validator.validate(token).unwrap().scopes().len(), 10);
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        assert!((case.verify)(input.as_bytes(), &sig));
        assert_eq!(decode(token).1["patient"], "smart-1288992");
        let mut validation = jsonwebtoken::Validation::new(case.jwt_alg);
        validation.set_audience(&[AUD]);
        validation.set_issuer(&[ISS]);
        validation.leeway = 60;
        // jsonwebtoken reads the system clock, and the token is stamped for a fixed time:
        // its `exp` check is off (a comparison of two integers), the rest is on.
        validation.validate_exp = false;
        let decoded =
            jsonwebtoken::decode::<SmartClaims>(token, &case.jwt_key, &validation).unwrap();
        assert_eq!(decoded.claims.patient, "smart-1288992");

        group.bench_function(format!("{}/ours", case.name), |b| {
            cpu(b, || case.validator.validate(black_box(token)).unwrap())
        });
        group.bench_function(format!("{}/signature", case.name), |b| {
            cpu(b, || {
                (case.verify)(black_box(input.as_bytes()), black_box(&sig))
            })
        });
        group.bench_function(format!("{}/decode", case.name), |b| {
            cpu(b, || decode(black_box(token)))
        });
        group.bench_function(format!("{}/jsonwebtoken", case.name), |b| {
            cpu(b, || {
                jsonwebtoken::decode::<SmartClaims>(black_box(token), &case.jwt_key, &validation)
                    .unwrap()
            })
        });
    }
    // What the validator does beyond (a) + (b): parsing the `scope` claim with fhir-scopes.
    assert_eq!(fhir_scopes::ScopeSet::parse(SCOPES).unwrap().len(), 10);
    group.bench_function("parts/scope_parse", |b| {
        cpu(b, || {
            fhir_scopes::ScopeSet::parse(black_box(SCOPES)).unwrap()
        })
    });
    let case = cases().into_iter().next().unwrap();
    let cached = case.validator.cache(1024);
    cached.validate(&case.token).unwrap();
    group.bench_function("cached/ours", |b| {
        b.iter(|| cached.validate(black_box(&case.token)).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = validate
}
criterion_main!(benches);
