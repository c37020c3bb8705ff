//! The compact JWS form (RFC 7515 §7.1) read strictly: three canonical base64url segments,
//! header and claims as JSON objects without duplicate members, and a header that names its
//! algorithm and nothing that would let the token pick its own key.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::claims::Claims;
use crate::{Algorithm, Error};

/// The most members accepted in a header or claims object.
const MAX_MEMBERS: usize = 256;

/// A token split and decoded, not yet verified.
#[derive(Debug)]
pub(crate) struct Jws<'a> {
    /// `header.payload`, the bytes the signature covers.
    pub(crate) signing_input: &'a [u8],
    pub(crate) header: Header,
    /// The claims, typed where registered.
    pub(crate) claims: Claims,
    pub(crate) signature: Vec<u8>,
}

/// The header members this crate acts on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
}

impl<'a> Jws<'a> {
    /// Splits and decodes `token`, checking its size first.
    pub(crate) fn parse(token: &'a str, max_bytes: usize) -> Result<Jws<'a>, Error> {
        if token.len() > max_bytes {
            return Err(Error::TooLarge {
                size: token.len(),
                limit: max_bytes,
            });
        }
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or(Error::Malformed("expected three segments separated by `.`"))?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(Error::Malformed("expected three segments separated by `.`"))?;
        if payload.contains('.') {
            return Err(Error::Malformed("expected three segments separated by `.`"));
        }
        let header = Header::parse(&decode(header, "header is not canonical base64url")?)?;
        let payload = decode(payload, "payload is not canonical base64url")?;
        let claims = Claims::from_members(parse_object(&payload, "claims")?)?;
        let signature = decode(signature, "signature is not canonical base64url")?;
        if signature.is_empty() {
            return Err(Error::Malformed("empty signature"));
        }
        Ok(Jws {
            signing_input: signing_input.as_bytes(),
            header,
            claims,
            signature,
        })
    }
}

impl Header {
    fn parse(json: &[u8]) -> Result<Header, Error> {
        let mut alg = None;
        let mut kid = None;
        let mut typ = None;
        for (name, value) in parse_object(json, "header")? {
            match &*name {
                "alg" => {
                    let Value::String(name) = value else {
                        return Err(Error::Malformed("header `alg` must be a string"));
                    };
                    if name.eq_ignore_ascii_case("none") {
                        return Err(Error::Unsigned);
                    }
                    alg = Some(Algorithm::from_name(&name).ok_or(Error::UnsupportedAlgorithm)?);
                }
                "kid" => match value {
                    Value::String(id) => kid = Some(id),
                    _ => return Err(Error::Malformed("header `kid` must be a string")),
                },
                "typ" => match value {
                    Value::String(t) => typ = Some(t),
                    _ => return Err(Error::Malformed("header `typ` must be a string")),
                },
                // This crate implements no JWS extension, so any critical one is unknown.
                "crit" => return Err(Error::UnknownCritical),
                "jku" => return Err(Error::ForbiddenHeader("jku")),
                "x5u" => return Err(Error::ForbiddenHeader("x5u")),
                "jwk" => return Err(Error::ForbiddenHeader("jwk")),
                "x5c" => return Err(Error::ForbiddenHeader("x5c")),
                // RFC 7797 unencoded payloads would change what is signed.
                "b64" => return Err(Error::UnknownCritical),
                _ => {}
            }
        }
        Ok(Header {
            alg: alg.ok_or(Error::Malformed("header has no `alg`"))?,
            kid,
            typ,
        })
    }
}

fn decode(segment: &str, error: &'static str) -> Result<Vec<u8>, Error> {
    // The engine rejects padding and non-zero trailing bits: one encoding per value.
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Error::Malformed(error))
}

/// Parses a JSON object into its members, rejecting duplicate names (RFC 7515 §4 lets a
/// parser reject them; accepting them lets two parsers see two different tokens).
/// Member names borrow from `json` unless they contain escapes.
pub(crate) fn parse_object<'de>(
    json: &'de [u8],
    part: &'static str,
) -> Result<Vec<(Cow<'de, str>, Value)>, Error> {
    let malformed = match part {
        "header" => "header is not a JSON object",
        _ => "claims are not a JSON object",
    };
    let mut duplicate = None;
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let members = Members {
        duplicate: &mut duplicate,
    }
    .deserialize(&mut deserializer);
    let members = match (members, duplicate) {
        (_, Some(member)) => return Err(Error::DuplicateMember { part, member }),
        (Err(_), None) => return Err(Error::Malformed(malformed)),
        (Ok(members), None) => members,
    };
    deserializer
        .end()
        .map_err(|_| Error::Malformed(malformed))?;
    Ok(members)
}

/// A seed that reads an object's members and records the first duplicate name.
struct Members<'s> {
    duplicate: &'s mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Members<'_> {
    type Value = Vec<(Cow<'de, str>, Value)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Members<'_> {
    type Value = Vec<(Cow<'de, str>, Value)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Value)> = Vec::with_capacity(16);
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            if members.iter().any(|(seen, _)| *seen == name) {
                *self.duplicate = Some(name.into_owned());
                return Err(de::Error::custom("duplicate member"));
            }
            if members.len() == MAX_MEMBERS {
                return Err(de::Error::custom("too many members"));
            }
            let value = map.next_value::<Value>()?;
            members.push((name, value));
        }
        Ok(members)
    }
}

/// A member name, borrowed from the input when it has no escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Borrowed(name)))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(name.to_owned())))
    }

    fn visit_string<E: de::Error>(self, name: String) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn token(header: &str, claims: &str) -> String {
        format!("{}.{}.c2k", b64(header), b64(claims))
    }

    fn error(token: &str) -> Error {
        Jws::parse(token, 8192).unwrap_err()
    }

    #[test]
    fn reads_header_and_claims() {
        let t = token(
            r#"{"alg":"ES256","kid":"k","typ":"at+jwt","x5t":"ignored"}"#,
            r#"{"iss":"a","n":1}"#,
        );
        let jws = Jws::parse(&t, 8192).unwrap();
        assert_eq!(
            jws.header,
            Header {
                alg: Algorithm::ES256,
                kid: Some("k".into()),
                typ: Some("at+jwt".into())
            }
        );
        assert_eq!(jws.claims.iss.as_deref(), Some("a"));
        assert_eq!(jws.claims.other.len(), 1);
        assert_eq!(jws.signature, b"si");
        assert!(t.starts_with(std::str::from_utf8(jws.signing_input).unwrap()));
    }

    #[test]
    fn header_attacks() {
        let claims = r#"{"iss":"a"}"#;
        assert_eq!(error(&token(r#"{"alg":"none"}"#, claims)), Error::Unsigned);
        assert_eq!(error(&token(r#"{"alg":"nOnE"}"#, claims)), Error::Unsigned);
        assert_eq!(
            error(&token(r#"{"alg":"HS1"}"#, claims)),
            Error::UnsupportedAlgorithm
        );
        assert_eq!(
            error(&token(
                r#"{"alg":"RS256","jku":"https://evil.example/jwks"}"#,
                claims
            )),
            Error::ForbiddenHeader("jku")
        );
        assert_eq!(
            error(&token(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#, claims)),
            Error::UnknownCritical
        );
        assert_eq!(
            error(&token(r#"{"alg":"RS256","alg":"none"}"#, claims)),
            Error::DuplicateMember {
                part: "header",
                member: "alg".into()
            }
        );
        assert_eq!(
            error(&token(r#"{"kid":"k"}"#, claims)),
            Error::Malformed("header has no `alg`")
        );
        assert_eq!(
            error(&token(r#"{"alg":["RS256"]}"#, claims)),
            Error::Malformed("header `alg` must be a string")
        );
    }

    #[test]
    fn shape_errors() {
        assert_eq!(
            error("a.b"),
            Error::Malformed("expected three segments separated by `.`")
        );
        assert_eq!(
            error("a.b.c.d"),
            Error::Malformed("expected three segments separated by `.`")
        );
        let good = token(r#"{"alg":"RS256"}"#, "{}");
        assert_eq!(
            error(&format!("{good}=")),
            Error::Malformed("signature is not canonical base64url")
        );
        // `c2k` and `c2l` differ only in the unused low bits of the last character.
        let (head, _) = good.rsplit_once('.').unwrap();
        assert_eq!(
            error(&format!("{head}.c2l")),
            Error::Malformed("signature is not canonical base64url")
        );
        assert_eq!(
            error(&format!("{head}.")),
            Error::Malformed("empty signature")
        );
        assert_eq!(
            error(&token("[]", "{}")),
            Error::Malformed("header is not a JSON object")
        );
        assert_eq!(
            error(&token(r#"{"alg":"RS256"}"#, "{} x")),
            Error::Malformed("claims are not a JSON object")
        );
        assert_eq!(
            Jws::parse(&good, 10).unwrap_err(),
            Error::TooLarge {
                size: good.len(),
                limit: 10
            }
        );
    }

    #[test]
    fn signatures_of_rsa_8192_decode() {
        let head = format!("{}.{}", b64(r#"{"alg":"RS512"}"#), b64("{}"));
        let largest = format!("{head}.{}", URL_SAFE_NO_PAD.encode([7u8; 1024]));
        assert_eq!(Jws::parse(&largest, 8192).unwrap().signature.len(), 1024);
    }

    #[test]
    fn duplicate_claims_even_when_escaped() {
        // `\u0069ss` is `iss`: the duplicate is found after unescaping.
        let t = token(r#"{"alg":"RS256"}"#, r#"{"iss":"a","\u0069ss":"b"}"#);
        assert_eq!(
            error(&t),
            Error::DuplicateMember {
                part: "claims",
                member: "iss".into()
            }
        );
    }
}
