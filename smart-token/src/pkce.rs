//! PKCE (RFC 7636): only the S256 method; `plain` is refused, as SMART App Launch 2 requires.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use subtle::ConstantTimeEq as _;

use crate::Error;

/// The S256 challenge of a code verifier: base64url(SHA-256(verifier)).
///
/// The RFC 7636 appendix B example:
/// ```
/// assert_eq!(
///     smart_token::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
///     "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
/// );
/// ```
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// Checks an authorization request's `code_challenge` and `code_challenge_method`: a
/// challenge is required, the method must be `S256`, and the challenge must be 43
/// base64url characters (a SHA-256).
pub fn check_challenge(challenge: Option<&str>, method: Option<&str>) -> Result<String, Error> {
    let challenge = challenge.ok_or(Error::Pkce("`code_challenge` is required"))?;
    match method {
        Some("S256") => {}
        Some("plain") | None => {
            return Err(Error::Pkce("the `plain` method is refused; use `S256`"));
        }
        Some(_) => {
            return Err(Error::Pkce(
                "unsupported `code_challenge_method`; use `S256`",
            ));
        }
    }
    let decoded = URL_SAFE_NO_PAD.decode(challenge).ok();
    if challenge.len() != 43 || decoded.is_none_or(|bytes| bytes.len() != 32) {
        return Err(Error::Pkce("`code_challenge` is not a base64url SHA-256"));
    }
    Ok(challenge.to_owned())
}

/// Checks a token request's `code_verifier` against the stored S256 challenge: 43 to 128
/// unreserved characters (RFC 7636 §4.1), whose challenge matches in constant time.
pub fn verify_verifier(verifier: Option<&str>, challenge: &str) -> Result<(), Error> {
    let verifier = verifier.ok_or(Error::Pkce("`code_verifier` is required"))?;
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return Err(Error::Pkce(
            "`code_verifier` must be 43 to 128 unreserved characters",
        ));
    }
    let computed = pkce_challenge(verifier);
    if !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
        return Err(Error::Pkce("`code_verifier` does not match the challenge"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_7636_appendix_b() {
        assert_eq!(pkce_challenge(VERIFIER), CHALLENGE);
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("S256")).unwrap(),
            CHALLENGE
        );
        assert_eq!(verify_verifier(Some(VERIFIER), CHALLENGE), Ok(()));
    }

    #[test]
    fn plain_missing_and_wrong() {
        assert_eq!(
            check_challenge(Some(VERIFIER), Some("plain")),
            Err(Error::Pkce("the `plain` method is refused; use `S256`"))
        );
        // No method means plain (RFC 7636 §4.3).
        assert_eq!(
            check_challenge(Some(CHALLENGE), None),
            Err(Error::Pkce("the `plain` method is refused; use `S256`"))
        );
        assert_eq!(
            check_challenge(None, Some("S256")),
            Err(Error::Pkce("`code_challenge` is required"))
        );
        assert_eq!(
            check_challenge(Some("short"), Some("S256")),
            Err(Error::Pkce("`code_challenge` is not a base64url SHA-256"))
        );
        assert_eq!(
            verify_verifier(None, CHALLENGE),
            Err(Error::Pkce("`code_verifier` is required"))
        );
        let wrong = "eBjftJeZ4CK-7NaU9YHaZBKnJZw-JkSFMl7xXHNsbZY";
        assert_eq!(
            verify_verifier(Some(wrong), CHALLENGE),
            Err(Error::Pkce("`code_verifier` does not match the challenge"))
        );
        assert_eq!(
            verify_verifier(Some("short"), CHALLENGE),
            Err(Error::Pkce(
                "`code_verifier` must be 43 to 128 unreserved characters"
            ))
        );
        // The challenge itself sent as verifier (a `plain` downgrade) does not match.
        assert_eq!(
            verify_verifier(Some(CHALLENGE), CHALLENGE),
            Err(Error::Pkce("`code_verifier` does not match the challenge"))
        );
    }
}
