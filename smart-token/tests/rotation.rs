use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use smart_token::{
    Algorithm, Error, JwksFetcher, KeySource, RemoteKeys, SigningKey, TrustedIssuer, Validator,
};

use crate::support::*;

/// A fetcher that serves whatever JWKS the test sets, and counts requests.
#[derive(Debug, Default)]
struct Served {
    body: Mutex<String>,
    fetches: AtomicUsize,
}

impl Served {
    fn publish(&self, keys: &[&SigningKey]) {
        let keys: Vec<_> = keys.iter().map(|key| key.public_jwk()).collect();
        *self.body.lock().unwrap() = json!({ "keys": keys }).to_string();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl JwksFetcher for Served {
    fn fetch(&self, uri: &str) -> Result<String, Error> {
        assert_eq!(uri, "https://auth.example.org/jwks");
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let body = self.body.lock().unwrap().clone();
        if body.is_empty() {
            return Err(Error::Fetch {
                uri: uri.into(),
                reason: "connection refused".into(),
            });
        }
        Ok(body)
    }
}

fn setup() -> (Arc<Served>, Arc<smart_token::FixedClock>, Validator) {
    let served = Arc::new(Served::default());
    let clock = clock();
    let remote = RemoteKeys::new("https://auth.example.org/jwks", served.clone());
    let issuer = TrustedIssuer::new(ISS, AUD, KeySource::Remote(Arc::new(remote)));
    let validator = Validator::new([issuer]).clock(clock.clone());
    (served, clock, validator)
}

#[test]
fn a_new_kid_triggers_one_refetch() {
    let (served, clock, validator) = setup();
    let old = SigningKey::from_pem(RSA_PEM, Algorithm::RS256, "2024-01").unwrap();
    let new = SigningKey::from_pem(RSA_B_PEM, Algorithm::RS256, "2024-02").unwrap();
    served.publish(&[&old]);
    assert!(
        validator
            .validate(&old.sign(None, &claims()).unwrap())
            .is_ok()
    );
    assert_eq!(served.fetches(), 1);
    assert!(
        validator
            .validate(&old.sign(None, &claims()).unwrap())
            .is_ok()
    );
    assert_eq!(served.fetches(), 1, "known kid: no fetch");

    // The issuer rotates; a minute later a token with the new kid arrives.
    served.publish(&[&old, &new]);
    clock.advance(60);
    assert!(
        validator
            .validate(&new.sign(None, &claims()).unwrap())
            .is_ok()
    );
    assert_eq!(served.fetches(), 2);
}

#[test]
fn unknown_kid_floods_are_rate_limited() {
    let (served, clock, validator) = setup();
    let real = SigningKey::from_pem(RSA_PEM, Algorithm::RS256, "real").unwrap();
    served.publish(&[&real]);
    assert!(
        validator
            .validate(&real.sign(None, &claims()).unwrap())
            .is_ok()
    );
    for n in 0..1000 {
        let made_up =
            SigningKey::from_pem(RSA_PEM, Algorithm::RS256, format!("made-up-{n}")).unwrap();
        let token = forge(
            &format!(r#"{{"alg":"RS256","kid":"made-up-{n}"}}"#),
            &claims().to_string(),
            &made_up,
        );
        assert_eq!(validator.validate(&token).unwrap_err(), Error::UnknownKey);
    }
    assert_eq!(
        served.fetches(),
        1,
        "within the interval, no refetch at all"
    );
    clock.advance(60);
    for _ in 0..100 {
        let token = forge(
            r#"{"alg":"RS256","kid":"other"}"#,
            &claims().to_string(),
            &real,
        );
        assert_eq!(validator.validate(&token).unwrap_err(), Error::UnknownKey);
    }
    assert_eq!(served.fetches(), 2, "one refetch per interval");
}

#[test]
fn a_failed_refetch_keeps_the_last_good_keys() {
    let (served, clock, validator) = setup();
    let key = SigningKey::from_pem(RSA_PEM, Algorithm::RS256, "k").unwrap();
    served.publish(&[&key]);
    assert!(
        validator
            .validate(&key.sign(None, &claims()).unwrap())
            .is_ok()
    );
    served.body.lock().unwrap().clear();
    clock.advance(3600);
    // Stale, refetch fails, the old set still verifies.
    assert!(
        validator
            .validate(
                &key.sign(None, &with(claims(), json!({"exp": NOW + 4000})))
                    .unwrap()
            )
            .is_ok()
    );
    assert_eq!(served.fetches(), 2);
}

#[test]
fn removed_keys_stop_verifying_after_max_age() {
    let (served, clock, validator) = setup();
    let key = SigningKey::from_pem(RSA_PEM, Algorithm::RS256, "k").unwrap();
    let other = SigningKey::from_pem(RSA_B_PEM, Algorithm::RS256, "k2").unwrap();
    served.publish(&[&key]);
    assert!(
        validator
            .validate(&key.sign(None, &claims()).unwrap())
            .is_ok()
    );
    served.publish(&[&other]);
    clock.advance(3600);
    let token = key
        .sign(None, &with(claims(), json!({"exp": NOW + 4000})))
        .unwrap();
    assert_eq!(validator.validate(&token).unwrap_err(), Error::UnknownKey);
}

#[test]
fn an_unreachable_issuer_is_a_fetch_error() {
    let (_served, _clock, validator) = setup();
    let token = rsa().sign(None, &claims()).unwrap();
    assert_eq!(
        validator.validate(&token).unwrap_err().to_string(),
        "`https://auth.example.org/jwks` could not be fetched: connection refused"
    );
}

#[test]
fn concurrent_requests_for_a_new_kid_share_one_fetch() {
    let (served, clock, validator) = setup();
    let old = SigningKey::from_pem(RSA_PEM, Algorithm::RS256, "old").unwrap();
    let new = SigningKey::from_pem(RSA_B_PEM, Algorithm::RS256, "new").unwrap();
    served.publish(&[&old]);
    assert!(
        validator
            .validate(&old.sign(None, &claims()).unwrap())
            .is_ok()
    );
    served.publish(&[&old, &new]);
    clock.advance(60);
    let token = new.sign(None, &claims()).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| assert!(validator.validate(&token).is_ok()));
        }
    });
    assert_eq!(served.fetches(), 2, "the first use and one refetch");
}

#[test]
fn a_cached_token_stops_working_once_its_key_is_removed() {
    let served = Arc::new(Served::default());
    let clock = clock();
    let remote = RemoteKeys::new("https://auth.example.org/jwks", served.clone());
    let issuer = TrustedIssuer::new(ISS, AUD, KeySource::Remote(Arc::new(remote)));
    let validator = Validator::new([issuer]).clock(clock.clone()).cache(100);
    let old = SigningKey::from_pem(RSA_PEM, Algorithm::RS256, "old").unwrap();
    let new = SigningKey::from_pem(RSA_B_PEM, Algorithm::RS256, "new").unwrap();
    served.publish(&[&old]);
    let old_token = old
        .sign(None, &with(claims(), json!({"exp": NOW + 600})))
        .unwrap();
    assert!(validator.validate(&old_token).is_ok());
    assert!(validator.validate(&old_token).is_ok());
    assert_eq!((validator.cached(), served.fetches()), (1, 1));

    // The issuer replaces its key; the first token with the new kid refetches the set.
    served.publish(&[&new]);
    clock.advance(60);
    assert!(
        validator
            .validate(&new.sign(None, &claims()).unwrap())
            .is_ok()
    );
    assert_eq!(served.fetches(), 2);
    // The old token is still in the cache, but its key set is gone: verified again, refused.
    assert_eq!(
        validator.validate(&old_token).unwrap_err(),
        Error::UnknownKey
    );
    assert_eq!(served.fetches(), 2, "within the interval: no refetch");
}

/// An issuer with a discovery document and a JWKS, fetched by URL.
#[derive(Debug)]
struct Discovered {
    metadata: String,
    jwks: String,
    fetched: Mutex<Vec<String>>,
}

impl JwksFetcher for Discovered {
    fn fetch(&self, uri: &str) -> Result<String, Error> {
        self.fetched.lock().unwrap().push(uri.to_owned());
        match uri {
            "https://auth.example.org/.well-known/openid-configuration" => {
                Ok(self.metadata.clone())
            }
            "https://keys.example.org/v2/jwks" => Ok(self.jwks.clone()),
            _ => Err(Error::Fetch {
                uri: uri.into(),
                reason: "404".into(),
            }),
        }
    }
}

#[test]
fn keys_found_through_the_issuers_discovery_document() {
    let key = SigningKey::from_pem(RSA_PEM, Algorithm::RS256, "k").unwrap();
    let served = |issuer: &str| {
        Arc::new(Discovered {
            metadata: json!({"issuer": issuer, "jwks_uri": "https://keys.example.org/v2/jwks"})
                .to_string(),
            jwks: json!({"keys": [key.public_jwk()]}).to_string(),
            fetched: Mutex::default(),
        })
    };
    let fetcher = served(ISS);
    let validator = Validator::new([TrustedIssuer::new(
        ISS,
        AUD,
        KeySource::discovered(ISS, fetcher.clone()),
    )])
    .clock(clock());
    assert!(
        validator
            .validate(&key.sign(None, &claims()).unwrap())
            .is_ok()
    );
    assert_eq!(
        *fetcher.fetched.lock().unwrap(),
        [
            "https://auth.example.org/.well-known/openid-configuration",
            "https://keys.example.org/v2/jwks"
        ]
    );

    // A document that names another issuer is not followed.
    let impostor = served("https://evil.example.org");
    let validator = Validator::new([TrustedIssuer::new(
        ISS,
        AUD,
        KeySource::discovered(ISS, impostor.clone()),
    )])
    .clock(clock());
    assert_eq!(
        validator
            .validate(&key.sign(None, &claims()).unwrap())
            .unwrap_err()
            .to_string(),
        "invalid provider metadata: the document is for issuer `https://evil.example.org`, not `https://auth.example.org`"
    );
    assert_eq!(impostor.fetched.lock().unwrap().len(), 1);
}
