use std::sync::Arc;

use fhir_scopes::{Decision, DenyReason, RestRequest};
use serde_json::{Value, json};
use smart_token::{
    Algorithm, ClaimMapping, Error, KeySet, KeySource, MemoryRevocations, RevocationStore,
    SigningKey, TrustedIssuer, Validator,
};

use crate::support::*;

fn validate(token: &str) -> Result<Arc<smart_token::AccessContext>, Error> {
    validator().validate(token)
}

#[test]
fn a_smart_token_becomes_its_access_context() {
    let token = rsa().sign(Some("at+jwt"), &claims()).unwrap();
    let context = validate(&token).unwrap();
    assert_eq!(
        serde_json::to_value(&*context).unwrap(),
        json!({
            "issuer": ISS,
            "subject": "user-7",
            "client_id": "growth-chart",
            "scopes": "launch/patient openid fhirUser patient/Observation.rs patient/Patient.r",
            "patient": "123",
            "encounter": null,
            "fhir_context": [],
            "fhir_user": "Practitioner/9",
            "roles": [],
            "attributes": {},
            "audience": [AUD],
            "expires_at": NOW + 300,
            "issued_at": NOW,
            "jti": "jti-1",
        })
    );
    let read = RestRequest::parse("GET", "Observation/1").unwrap();
    let Decision::Permit(permit) = context
        .scopes()
        .decide(&read.request(context.scope_context()))
    else {
        panic!("denied")
    };
    assert_eq!(permit.clauses()[0].grants()[0].patient(), Some("123"));
}

#[test]
fn every_asymmetric_algorithm_verifies_with_its_key() {
    for (pem, alg, kid) in [
        (RSA_PEM, Algorithm::RS256, "rsa-1"),
        (RSA_PEM, Algorithm::RS384, "rsa-1"),
        (RSA_PEM, Algorithm::RS512, "rsa-1"),
        (RSA_PEM, Algorithm::PS256, "rsa-1"),
        (RSA_PEM, Algorithm::PS384, "rsa-1"),
        (RSA_PEM, Algorithm::PS512, "rsa-1"),
        (P256_PEM, Algorithm::ES256, "p256"),
        (P384_PEM, Algorithm::ES384, "p384"),
        (ED25519_PEM, Algorithm::EdDSA, "ed"),
    ] {
        let token = key(pem, alg, kid).sign(None, &claims()).unwrap();
        assert_eq!(validate(&token).unwrap().subject(), Some("user-7"), "{alg}");
    }
}

#[test]
fn hs256_only_with_a_configured_secret() {
    let signer = SigningKey::shared_secret(HS_SECRET, Algorithm::HS256, "hs").unwrap();
    let token = signer.sign(None, &claims()).unwrap();
    // The asymmetric issuer refuses it outright.
    assert_eq!(
        validate(&token).unwrap_err(),
        Error::AlgorithmNotAllowed(Algorithm::HS256)
    );
    let shared = TrustedIssuer::shared_secret(ISS, AUD, HS_SECRET, Algorithm::HS256).unwrap();
    let validator = Validator::new([shared]).clock(clock());
    assert_eq!(validator.validate(&token).unwrap().patient(), Some("123"));
    // Only the configured HMAC algorithm: HS512 with the same secret is refused.
    let hs512 = forge(r#"{"alg":"HS512"}"#, &claims().to_string(), &signer);
    assert_eq!(
        validator.validate(&hs512).unwrap_err(),
        Error::AlgorithmNotAllowed(Algorithm::HS512)
    );
    // A wrong secret.
    let other = SigningKey::shared_secret(&[9; 32], Algorithm::HS256, "hs").unwrap();
    assert_eq!(
        validator
            .validate(&other.sign(None, &claims()).unwrap())
            .unwrap_err(),
        Error::InvalidSignature
    );
}

#[test]
fn attack_alg_none() {
    let claims = b64(claims().to_string().as_bytes());
    for header in [
        r#"{"alg":"none"}"#,
        r#"{"alg":"None"}"#,
        r#"{"alg":"NONE","kid":"rsa-1"}"#,
    ] {
        let token = format!("{}.{claims}.", b64(header.as_bytes()));
        // An empty signature is malformed before `alg` matters; with one, `none` is named.
        assert_eq!(validate(&token).unwrap_err(), Error::Unsigned, "{header}");
        assert_eq!(
            validate(&format!("{token}AAAA")).unwrap_err(),
            Error::Unsigned
        );
    }
}

#[test]
fn attack_rs256_to_hs256_key_confusion() {
    // The attacker signs with HMAC, using the RSA public key (as published) as the secret.
    let jwk = rsa().public_jwk();
    let public_bytes = serde_json::to_vec(&jwk).unwrap();
    let confused = SigningKey::shared_secret(&public_bytes, Algorithm::HS256, "rsa-1").unwrap();
    let token = forge(
        r#"{"alg":"HS256","kid":"rsa-1"}"#,
        &claims().to_string(),
        &confused,
    );
    assert_eq!(
        validate(&token).unwrap_err(),
        Error::AlgorithmNotAllowed(Algorithm::HS256)
    );
    // Even an issuer that lists HS256 among its algorithms never turns an RSA key into a secret.
    let trusting = TrustedIssuer::new(ISS, AUD, KeySource::fixed(key_set()))
        .algorithms(&[Algorithm::HS256, Algorithm::RS256]);
    let validator = Validator::new([trusting]).clock(clock());
    assert_eq!(
        validator.validate(&token).unwrap_err(),
        Error::AlgorithmNotAllowed(Algorithm::HS256)
    );
}

#[test]
fn attack_ecdsa_all_zero_signature() {
    let signer = key(P256_PEM, Algorithm::ES256, "p256");
    let token = signer.sign(None, &claims()).unwrap();
    let (input, _) = token.rsplit_once('.').unwrap();
    let zero = format!("{input}.{}", b64(&[0; 64]));
    assert_eq!(validate(&zero).unwrap_err(), Error::InvalidSignature);
    // And a signature of the wrong length.
    let short = format!("{input}.{}", b64(&[1; 63]));
    assert_eq!(validate(&short).unwrap_err(), Error::InvalidSignature);
}

#[test]
fn attack_key_choosing_headers() {
    let signer = rsa();
    let claims = claims().to_string();
    for (header, error) in [
        (
            r#"{"alg":"RS256","kid":"rsa-1","jku":"https://attacker.example/jwks.json"}"#,
            Error::ForbiddenHeader("jku"),
        ),
        (
            r#"{"alg":"RS256","kid":"rsa-1","x5u":"https://attacker.example/cert.pem"}"#,
            Error::ForbiddenHeader("x5u"),
        ),
        (
            r#"{"alg":"RS256","jwk":{"kty":"oct","k":"AAAA"}}"#,
            Error::ForbiddenHeader("jwk"),
        ),
        (
            r#"{"alg":"RS256","x5c":["MIIB"]}"#,
            Error::ForbiddenHeader("x5c"),
        ),
        (
            r#"{"alg":"RS256","kid":"rsa-1","crit":["exp"],"exp":1}"#,
            Error::UnknownCritical,
        ),
        (
            r#"{"alg":"RS256","kid":"../../dev/null"}"#,
            Error::UnknownKey,
        ),
        (r#"{"alg":"RS256","kid":"' OR 1=1 --"}"#, Error::UnknownKey),
        (
            r#"{"alg":"RS256","kid":7}"#,
            Error::Malformed("header `kid` must be a string"),
        ),
    ] {
        assert_eq!(
            validate(&forge(header, &claims, &signer)).unwrap_err(),
            error,
            "{header}"
        );
    }
}

#[test]
fn attack_kid_of_another_key_type() {
    // The token names the P-256 key but claims RS256.
    let token = forge(
        r#"{"alg":"RS256","kid":"p256"}"#,
        &claims().to_string(),
        &rsa(),
    );
    assert_eq!(
        validate(&token).unwrap_err(),
        Error::AlgorithmNotAllowed(Algorithm::RS256)
    );
}

#[test]
fn attack_time_claims() {
    let signer = rsa();
    let check = |changes, error: Error| {
        let token = signer.sign(None, &with(claims(), changes)).unwrap();
        assert_eq!(validate(&token).unwrap_err(), error);
    };
    check(
        json!({"exp": NOW - 61}),
        Error::Expired {
            exp: NOW - 61,
            now: NOW,
        },
    );
    check(json!({"exp": null}), Error::MissingClaim("exp".into()));
    check(
        json!({"nbf": NOW + 61}),
        Error::NotYetValid {
            nbf: NOW + 61,
            now: NOW,
        },
    );
    check(
        json!({"iat": NOW + 61}),
        Error::IssuedInFuture {
            iat: NOW + 61,
            now: NOW,
        },
    );
    check(
        json!({"exp": "tomorrow"}),
        Error::InvalidClaim {
            claim: "exp".into(),
            reason: "must be a number of seconds since the epoch",
        },
    );
    // Within the 60 s leeway, all three pass.
    let token = signer
        .sign(
            None,
            &with(
                claims(),
                json!({"exp": NOW - 59, "nbf": NOW + 59, "iat": NOW + 59}),
            ),
        )
        .unwrap();
    assert!(validate(&token).is_ok());
}

#[test]
fn attack_issuer_and_audience() {
    let signer = rsa();
    let check = |changes, error: Error| {
        let token = signer.sign(None, &with(claims(), changes)).unwrap();
        assert_eq!(validate(&token).unwrap_err(), error);
    };
    check(
        json!({"iss": "https://auth.example.org/"}),
        Error::UntrustedIssuer,
    );
    check(
        json!({"iss": "https://evil.example"}),
        Error::UntrustedIssuer,
    );
    check(json!({"iss": null}), Error::MissingClaim("iss".into()));
    check(
        json!({"aud": "https://fhir.example.org/r4/"}),
        Error::WrongAudience,
    );
    check(
        json!({"aud": ["https://other.example", "https://third.example"]}),
        Error::WrongAudience,
    );
    check(json!({"aud": []}), Error::WrongAudience);
    check(json!({"aud": null}), Error::MissingClaim("aud".into()));
    // An array containing our audience is fine.
    let token = signer
        .sign(
            None,
            &with(claims(), json!({"aud": ["https://other.example", AUD]})),
        )
        .unwrap();
    assert_eq!(
        validate(&token).unwrap().audience(),
        ["https://other.example", AUD]
    );
}

#[test]
fn attack_oversize_token() {
    let token = rsa()
        .sign(
            None,
            &with(claims(), json!({"padding": "x".repeat(20_000)})),
        )
        .unwrap();
    assert_eq!(
        validate(&token).unwrap_err(),
        Error::TooLarge {
            size: token.len(),
            limit: 16 * 1024
        }
    );
    let small = validator().max_token_bytes(100);
    let normal = rsa().sign(None, &claims()).unwrap();
    assert_eq!(small.validate(&normal).unwrap_err().code(), "too_large");
}

#[test]
fn attack_non_canonical_base64() {
    let token = rsa().sign(None, &claims()).unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    // Padding, standard-alphabet characters, and flipped unused bits each change the text
    // but not (for a lax decoder) the bytes.
    assert_eq!(
        validate(&format!("{token}==")).unwrap_err(),
        Error::Malformed("signature is not canonical base64url")
    );
    let standard = format!("{input}.{}", signature.replace('-', "+").replace('_', "/"));
    if standard != token {
        assert_eq!(
            validate(&standard).unwrap_err(),
            Error::Malformed("signature is not canonical base64url")
        );
    }
    // A 2048-bit signature is 342 characters, the last carrying 4 unused bits.
    let last = signature.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    let flipped = alphabet.chars().nth(index | 1).unwrap();
    assert_ne!(
        flipped, last,
        "the canonical last character has its low bits clear"
    );
    let tampered = format!("{input}.{}{flipped}", &signature[..signature.len() - 1]);
    assert_eq!(
        validate(&tampered).unwrap_err(),
        Error::Malformed("signature is not canonical base64url")
    );
    let (header, payload) = input.split_once('.').unwrap();
    let padded = format!("{header}.{payload}=.{signature}");
    assert_eq!(validate(&padded).unwrap_err().code(), "malformed");
}

#[test]
fn attack_duplicate_claims() {
    let text = claims().to_string().replacen('{', r#"{"sub":"admin","#, 1);
    let token = forge(r#"{"alg":"RS256","kid":"rsa-1"}"#, &text, &rsa());
    assert_eq!(
        validate(&token).unwrap_err(),
        Error::DuplicateMember {
            part: "claims",
            member: "sub".into()
        }
    );
    let token = forge(
        r#"{"alg":"RS256","kid":"rsa-1","kid":"p256"}"#,
        &claims().to_string(),
        &rsa(),
    );
    assert_eq!(
        validate(&token).unwrap_err(),
        Error::DuplicateMember {
            part: "header",
            member: "kid".into()
        }
    );
}

#[test]
fn attack_tampered_claims_and_wrong_key() {
    let token = rsa().sign(None, &claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let evil = b64(with(claims(), json!({"patient": "456"}))
        .to_string()
        .as_bytes());
    assert_eq!(
        validate(&format!("{}.{evil}.{}", parts[0], parts[2])).unwrap_err(),
        Error::InvalidSignature
    );
    let impostor = key(RSA_B_PEM, Algorithm::RS256, "rsa-1");
    assert_eq!(
        validate(&impostor.sign(None, &claims()).unwrap()).unwrap_err(),
        Error::InvalidSignature
    );
}

#[test]
fn typ_at_jwt_when_required() {
    let strict = Validator::new([
        TrustedIssuer::new(ISS, AUD, KeySource::fixed(key_set())).require_at_jwt(true)
    ])
    .clock(clock());
    let signer = rsa();
    assert_eq!(
        strict
            .validate(&signer.sign(Some("JWT"), &claims()).unwrap())
            .unwrap_err(),
        Error::WrongType
    );
    assert_eq!(
        strict
            .validate(&signer.sign(None, &claims()).unwrap())
            .unwrap_err(),
        Error::WrongType
    );
    assert!(
        strict
            .validate(&signer.sign(Some("at+jwt"), &claims()).unwrap())
            .is_ok()
    );
    assert!(
        strict
            .validate(&signer.sign(Some("application/at+JWT"), &claims()).unwrap())
            .is_ok()
    );
}

#[test]
fn a_patient_scope_without_a_patient_grants_no_patient_data() {
    let token = rsa()
        .sign(None, &with(claims(), json!({"patient": null})))
        .unwrap();
    let context = validate(&token).unwrap();
    assert_eq!(context.patient(), None);
    let read = RestRequest::parse("GET", "Observation/1").unwrap();
    let Decision::Deny(denial) = context
        .scopes()
        .decide(&read.request(context.scope_context()))
    else {
        panic!("a patient/ scope without a patient must not permit")
    };
    assert_eq!(denial.reason, DenyReason::NoPatientInContext);
}

#[test]
fn required_claims_are_enforced() {
    let strict = Validator::new([TrustedIssuer::new(ISS, AUD, KeySource::fixed(key_set()))
        .require_claims(["fhirUser", "jti", "sub"])])
    .clock(clock());
    let signer = rsa();
    for missing in ["fhirUser", "jti", "sub"] {
        let token = signer
            .sign(None, &with(claims(), json!({ missing: null })))
            .unwrap();
        assert_eq!(
            strict.validate(&token).unwrap_err(),
            Error::MissingClaim(missing.into())
        );
    }
    // A null claim counts as missing.
    let token = signer
        .sign(None, &with(claims(), json!({"fhirUser": null})))
        .unwrap();
    assert_eq!(
        strict.validate(&token).unwrap_err(),
        Error::MissingClaim("fhirUser".into())
    );
}

#[test]
fn backend_service_tokens_decide_as_system() {
    let token = rsa()
        .sign(
            None,
            &with(
                claims(),
                json!({"scope": "system/Observation.rs", "patient": null, "fhirUser": null}),
            ),
        )
        .unwrap();
    let context = validate(&token).unwrap();
    assert_eq!(context.scope_context(), fhir_scopes::Context::System);
    let search = RestRequest::parse("GET", "Observation?code=x").unwrap();
    assert!(
        context
            .scopes()
            .decide(&search.request(context.scope_context()))
            .is_permit()
    );
}

#[test]
fn invalid_scope_claim_is_rejected() {
    let token = rsa()
        .sign(
            None,
            &with(claims(), json!({"scope": "patient/Observaton.rs"})),
        )
        .unwrap();
    assert_eq!(validate(&token).unwrap_err().code(), "invalid_scope");
    assert_eq!(
        validate(&token).unwrap_err().to_string(),
        "claim `scope`: scope `patient/Observaton.rs` at byte 8: unknown resource type `Observaton`; did you mean `Observation`?"
    );
    let token = rsa()
        .sign(None, &with(claims(), json!({"scope": 5})))
        .unwrap();
    assert_eq!(
        validate(&token).unwrap_err(),
        Error::InvalidClaim {
            claim: "scope".into(),
            reason: "must be a string or an array of strings"
        }
    );
}

#[test]
fn several_issuers_each_with_its_mapping() {
    let idp_key = key(P256_PEM, Algorithm::ES256, "idp-1");
    let ours = TrustedIssuer::new(
        ISS,
        AUD,
        KeySource::fixed(KeySet::new([rsa().verifying_key().unwrap()])),
    );
    let enterprise = TrustedIssuer::new(
        "https://idp.hospital.example/realms/staff",
        "fhir-api",
        KeySource::fixed(KeySet::new([idp_key.verifying_key().unwrap()])),
    )
    .algorithms(&[Algorithm::ES256])
    .leeway(0)
    .require_claims(["fhir_user"])
    .mapping(
        ClaimMapping::default()
            .scope("scp")
            .client_id("azp")
            .fhir_user("fhir_user")
            .roles("realm_access.roles")
            .attribute("department", "department"),
    );
    let validator = Validator::new([ours, enterprise]).clock(clock());
    let staff = json!({
        "iss": "https://idp.hospital.example/realms/staff",
        "aud": ["account", "fhir-api"],
        "sub": "f:1:nurse",
        "azp": "ward-app",
        "exp": NOW + 60,
        "scp": ["openid", "user/Observation.rs"],
        "fhir_user": "Practitioner/77",
        "realm_access": {"roles": ["nurse", "ward-3"]},
        "department": {"code": "ICU"},
    });
    let context = validator
        .validate(&idp_key.sign(None, &staff).unwrap())
        .unwrap();
    assert_eq!(context.client_id(), Some("ward-app"));
    assert_eq!(context.fhir_user(), Some("Practitioner/77"));
    assert_eq!(context.roles(), ["nurse", "ward-3"]);
    assert_eq!(context.scopes().to_string(), "openid user/Observation.rs");
    assert_eq!(context.attributes()["department"], json!({"code": "ICU"}));
    // Our own issuer's tokens still work, with the SMART names.
    assert_eq!(
        validator
            .validate(&rsa().sign(None, &claims()).unwrap())
            .unwrap()
            .patient(),
        Some("123")
    );
    // The IdP's key does not sign for our issuer, nor ours for the IdP.
    let crossed = idp_key.sign(None, &claims()).unwrap();
    assert_eq!(validator.validate(&crossed).unwrap_err(), Error::UnknownKey);
    let crossed = forge(
        r#"{"alg":"RS256","kid":"rsa-1"}"#,
        &staff.to_string(),
        &rsa(),
    );
    assert_eq!(
        validator.validate(&crossed).unwrap_err(),
        Error::AlgorithmNotAllowed(Algorithm::RS256)
    );
    // No leeway for this issuer.
    let late = with(staff.clone(), json!({"exp": NOW}));
    assert_eq!(
        validator
            .validate(&idp_key.sign(None, &late).unwrap())
            .unwrap_err(),
        Error::Expired { exp: NOW, now: NOW }
    );
    // Without the mapped fhirUser.
    let anonymous = with(staff, json!({"fhir_user": null}));
    assert_eq!(
        validator
            .validate(&idp_key.sign(None, &anonymous).unwrap())
            .unwrap_err(),
        Error::MissingClaim("fhir_user".into())
    );
}

#[test]
fn revoked_tokens_are_rejected_even_when_cached() {
    let store = Arc::new(MemoryRevocations::default());
    let clock = clock();
    let validator = Validator::new([TrustedIssuer::new(ISS, AUD, KeySource::fixed(key_set()))])
        .clock(clock.clone())
        .cache(100)
        .revocations(store.clone());
    let token = rsa().sign(None, &claims()).unwrap();
    assert!(validator.validate(&token).is_ok());
    assert_eq!(validator.cached(), 1);
    store.revoke("jti-1", NOW + 300, NOW).unwrap();
    assert_eq!(validator.validate(&token).unwrap_err(), Error::Revoked);
}

#[test]
fn the_cache_returns_the_same_context_and_honours_exp() {
    let clock = clock();
    let validator =
        Validator::new([TrustedIssuer::new(ISS, AUD, KeySource::fixed(key_set())).leeway(0)])
            .clock(clock.clone())
            .cache(2);
    let token = rsa().sign(None, &claims()).unwrap();
    let first = validator.validate(&token).unwrap();
    let second = validator.validate(&token).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    // Another payload under the cached token's signature is not a cache hit.
    let parts: Vec<&str> = token.split('.').collect();
    let evil = b64(with(claims(), json!({"patient": "456"}))
        .to_string()
        .as_bytes());
    let grafted = format!("{}.{evil}.{}", parts[0], parts[2]);
    assert_eq!(
        validator.validate(&grafted).unwrap_err(),
        Error::InvalidSignature
    );
    assert!(Arc::ptr_eq(&first, &validator.validate(&token).unwrap()));
    clock.advance(300);
    assert_eq!(
        validator.validate(&token).unwrap_err(),
        Error::Expired {
            exp: NOW + 300,
            now: NOW + 300
        }
    );
    // Bounded: many tokens, few entries.
    clock.set(NOW);
    for n in 0..50 {
        let token = rsa()
            .sign(None, &with(claims(), json!({"jti": format!("j{n}")})))
            .unwrap();
        validator.validate(&token).unwrap();
    }
    assert!(validator.cached() <= 8, "{} cached", validator.cached());
}

#[test]
fn tokens_from_jsonwebtoken_validate() {
    let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let token = jsonwebtoken::encode(&header, &claims(), &encoding).unwrap();
    assert_eq!(
        validate(&token).unwrap().fhir_user(),
        Some("Practitioner/9")
    );
    // And ours decode with jsonwebtoken.
    let jwk = rsa().public_jwk();
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk.n.as_deref().unwrap(),
        jwk.e.as_deref().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[AUD]);
    validation.validate_exp = false;
    let ours = rsa().sign(Some("at+jwt"), &claims()).unwrap();
    let decoded = jsonwebtoken::decode::<serde_json::Value>(&ours, &decoding, &validation).unwrap();
    assert_eq!(decoded.claims, claims());
}

#[test]
fn errors_map_to_oauth() {
    assert_eq!(
        Error::Expired { exp: 1, now: 2 }.oauth_error(),
        "invalid_token"
    );
    assert_eq!(Error::Expired { exp: 1, now: 2 }.http_status(), 401);
    assert_eq!(
        Error::InvalidGrant("code was already used").oauth_error(),
        "invalid_grant"
    );
    assert_eq!(
        Error::InvalidGrant("code was already used").http_status(),
        400
    );
    assert_eq!(Error::SlowDown.oauth_error(), "slow_down");
    assert_eq!(
        Error::UnauthorizedClient("use this grant").http_status(),
        403
    );
}

#[test]
fn error_messages_do_not_echo_the_token() {
    let token = rsa()
        .sign(None, &with(claims(), json!({"sub": "secret-subject"})))
        .unwrap();
    let (input, _) = token.rsplit_once('.').unwrap();
    let broken = format!("{input}.!!!");
    let message = validate(&broken).unwrap_err().to_string();
    assert_eq!(
        message,
        "malformed token: signature is not canonical base64url"
    );
    assert!(!message.contains("secret-subject"));
}

#[test]
fn role_values_translate_to_local_roles_and_others_are_dropped() {
    let issuer = TrustedIssuer::new(ISS, AUD, KeySource::fixed(key_set())).mapping(
        ClaimMapping::default()
            .roles("groups")
            .role("clinicians", "doctor")
            .role("clinicians", "staff")
            .role("night-shift", "staff")
            .role("patients", "patient"),
    );
    let validator = Validator::new([issuer]).clock(clock());
    let roles = |groups: Value| {
        let token = rsa()
            .sign(None, &with(claims(), json!({ "groups": groups })))
            .unwrap();
        validator.validate(&token).unwrap().roles().to_vec()
    };
    assert_eq!(
        roles(json!(["night-shift", "clinicians", "admins"])),
        ["doctor", "staff"]
    );
    assert_eq!(roles(json!(["patients"])), ["patient"]);
    assert_eq!(roles(json!(["admins", "Clinicians"])), Vec::<String>::new());
    assert_eq!(roles(json!([])), Vec::<String>::new());
    // Without translations, values are roles as they are.
    let plain = Validator::new([TrustedIssuer::new(ISS, AUD, KeySource::fixed(key_set()))
        .mapping(ClaimMapping::default().roles("groups"))])
    .clock(clock());
    let token = rsa()
        .sign(None, &with(claims(), json!({"groups": ["admins"]})))
        .unwrap();
    assert_eq!(plain.validate(&token).unwrap().roles(), ["admins"]);
}
