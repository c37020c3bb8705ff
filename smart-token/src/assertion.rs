//! Client assertions (`private_key_jwt`, RFC 7523) as SMART Backend Services profiles
//! them: RS384 or ES384, `iss` = `sub` = the client id, `aud` = the token endpoint, `exp`
//! at most five minutes ahead, and a `jti` never accepted twice within its lifetime.

use crate::jws::Jws;
use crate::{Algorithm, Algorithms, ClientAuth, ClientStore, Error, ReplayCache};

/// The most an assertion may live: SMART Backend Services says `exp` no more than five
/// minutes in the future.
pub const MAX_ASSERTION_LIFETIME: i64 = 300;

/// Leeway for clock skew between client and server, in seconds.
const LEEWAY: i64 = 30;

/// Verifies a client assertion; returns the authenticated client id.
///
/// `expected_client` is the `client_id` form parameter, if the client sent one: it must
/// match `iss`.
pub(crate) fn verify(
    assertion: &str,
    expected_client: Option<&str>,
    token_endpoint: &str,
    clients: &dyn ClientStore,
    replay: &dyn ReplayCache,
    now: i64,
) -> Result<String, Error> {
    let jws = Jws::parse(assertion, 8 * 1024)?;
    let alg = jws.header.alg;
    if !Algorithms::from_slice(&[Algorithm::RS384, Algorithm::ES384]).contains(alg) {
        return Err(Error::InvalidAssertion(
            "the algorithm must be RS384 or ES384",
        ));
    }
    let claims = jws.claims;
    let issuer = claims
        .iss
        .as_deref()
        .ok_or(Error::InvalidAssertion("`iss` is required"))?;
    if claims.sub.as_deref() != Some(issuer) {
        return Err(Error::InvalidAssertion(
            "`sub` must equal `iss`, the client id",
        ));
    }
    if expected_client.is_some_and(|id| id != issuer) {
        return Err(Error::InvalidAssertion("`iss` does not match `client_id`"));
    }
    let client = clients.client(issuer)?.ok_or(Error::InvalidClient)?;
    let ClientAuth::PrivateKeyJwt(keys) = client.auth() else {
        return Err(Error::InvalidClient);
    };
    let kid = jws.header.kid.as_deref();
    let key = match keys.current(now)?.find(kid, alg) {
        Err(Error::UnknownKey) => keys.after_unknown_kid(now)?.find(kid, alg).cloned(),
        found => found.cloned(),
    }
    .map_err(|_| Error::InvalidClient)?;
    key.verify(alg, jws.signing_input, &jws.signature)
        .map_err(|_| Error::InvalidClient)?;

    if !claims.aud.iter().any(|aud| aud == token_endpoint) {
        return Err(Error::InvalidAssertion("`aud` must be the token endpoint"));
    }
    let exp = claims
        .exp
        .ok_or(Error::InvalidAssertion("`exp` is required"))?;
    if exp <= now.saturating_sub(LEEWAY) {
        return Err(Error::InvalidAssertion("the assertion expired"));
    }
    if exp > now.saturating_add(MAX_ASSERTION_LIFETIME + LEEWAY) {
        return Err(Error::InvalidAssertion(
            "`exp` is more than five minutes ahead",
        ));
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY))
    {
        return Err(Error::InvalidAssertion("the assertion is not valid yet"));
    }
    let jti = claims
        .jti
        .as_deref()
        .ok_or(Error::InvalidAssertion("`jti` is required"))?;
    // Keyed by client, so that one client's ids cannot block another's.
    if !replay.first_use(
        &format!("{issuer}\u{0}{jti}"),
        exp.saturating_add(LEEWAY),
        now,
    )? {
        return Err(Error::AssertionReplay);
    }
    Ok(issuer.to_owned())
}
