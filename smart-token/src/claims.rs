//! The claims of a token: the registered JWT claims typed, the others kept as JSON and found
//! by (dotted) name for an issuer's claim mapping.

use std::borrow::Cow;

use serde_json::Value;

use crate::Error;

/// A token's claims after decoding, before any check.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    pub(crate) iss: Option<String>,
    pub(crate) sub: Option<String>,
    pub(crate) aud: Vec<String>,
    pub(crate) has_aud: bool,
    pub(crate) exp: Option<i64>,
    pub(crate) nbf: Option<i64>,
    pub(crate) iat: Option<i64>,
    pub(crate) jti: Option<String>,
    /// The other claims, in document order (few: a linear search beats a map here).
    pub(crate) other: Vec<(String, Value)>,
}

impl Claims {
    /// Types the registered claims; members are unique (the parser checked).
    pub(crate) fn from_members(members: Vec<(Cow<'_, str>, Value)>) -> Result<Claims, Error> {
        let mut claims = Claims::default();
        for (name, value) in members {
            match &*name {
                "iss" => claims.iss = Some(string(value, "iss")?),
                "sub" => claims.sub = Some(string(value, "sub")?),
                "jti" => claims.jti = Some(string(value, "jti")?),
                "aud" => {
                    claims.aud = strings(value, "aud")?;
                    claims.has_aud = true;
                }
                "exp" => claims.exp = Some(numeric_date(&value, "exp")?),
                "nbf" => claims.nbf = Some(numeric_date(&value, "nbf")?),
                "iat" => claims.iat = Some(numeric_date(&value, "iat")?),
                _ => claims.other.push((name.into_owned(), value)),
            }
        }
        Ok(claims)
    }

    /// Whether a claim is present, by dotted path for nested objects.
    pub(crate) fn has(&self, path: &str) -> bool {
        match path {
            "iss" => self.iss.is_some(),
            "sub" => self.sub.is_some(),
            "aud" => self.has_aud,
            "exp" => self.exp.is_some(),
            "nbf" => self.nbf.is_some(),
            "iat" => self.iat.is_some(),
            "jti" => self.jti.is_some(),
            _ => self.lookup(path).is_some_and(|value| !value.is_null()),
        }
    }

    /// A non-registered claim, by dotted path (`realm_access.roles`). A claim whose own
    /// name contains a dot is found first.
    pub(crate) fn lookup(&self, path: &str) -> Option<&Value> {
        if let Some(value) = self.top(path) {
            return Some(value);
        }
        let mut parts = path.split('.');
        let mut value = self.top(parts.next()?)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }

    fn top(&self, name: &str) -> Option<&Value> {
        self.other
            .iter()
            .find(|(claim, _)| claim == name)
            .map(|(_, value)| value)
    }

    /// Removes and returns a top-level claim, or clones a nested one.
    pub(crate) fn take(&mut self, path: &str) -> Option<Value> {
        match self.other.iter().position(|(claim, _)| claim == path) {
            Some(index) => Some(self.other.swap_remove(index).1),
            None => self.lookup(path).cloned(),
        }
    }

    /// A string claim, by dotted path.
    pub(crate) fn take_string(&mut self, path: &str) -> Result<Option<String>, Error> {
        match self.take(path) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => string(value, path).map(Some),
        }
    }

    /// A claim that is a string or an array of strings.
    pub(crate) fn take_strings(&mut self, path: &str) -> Result<Vec<String>, Error> {
        match self.take(path) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(value) => strings(value, path),
        }
    }
}

fn string(value: Value, claim: &str) -> Result<String, Error> {
    match value {
        Value::String(text) => Ok(text),
        _ => Err(invalid(claim, "must be a string")),
    }
}

pub(crate) fn strings(value: Value, claim: &str) -> Result<Vec<String>, Error> {
    match value {
        Value::String(text) => Ok(vec![text]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                _ => Err(invalid(claim, "must be a string or an array of strings")),
            })
            .collect(),
        _ => Err(invalid(claim, "must be a string or an array of strings")),
    }
}

/// RFC 7519 NumericDate: seconds since the epoch, possibly fractional (rounded down).
fn numeric_date(value: &Value, claim: &str) -> Result<i64, Error> {
    let Value::Number(number) = value else {
        return Err(invalid(
            claim,
            "must be a number of seconds since the epoch",
        ));
    };
    if let Some(seconds) = number.as_i64() {
        return Ok(seconds);
    }
    match number.as_f64() {
        // Beyond ±2^53 a float is not a meaningful time; such values are refused.
        Some(seconds) if seconds.is_finite() && seconds.abs() < 9.0e15 =>
        {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "bounded above, floor is the intent"
            )]
            Ok(seconds.floor() as i64)
        }
        _ => Err(invalid(
            claim,
            "must be a number of seconds since the epoch",
        )),
    }
}

fn invalid(claim: &str, reason: &'static str) -> Error {
    Error::InvalidClaim {
        claim: claim.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Result<Claims, Error> {
        let Value::Object(map) = value else {
            unreachable!()
        };
        Claims::from_members(
            map.into_iter()
                .map(|(name, value)| (Cow::Owned(name), value))
                .collect(),
        )
    }

    #[test]
    fn registered_claims_are_typed() {
        let c = claims(
            json!({"iss": "i", "aud": ["a", "b"], "exp": 10, "nbf": 1.9, "x": {"y": ["r"]}}),
        )
        .unwrap();
        assert_eq!(c.aud, ["a", "b"]);
        assert_eq!(c.exp, Some(10));
        assert_eq!(c.nbf, Some(1));
        assert!(c.has("x.y"));
        assert!(!c.has("x.z"));
        assert_eq!(
            claims(json!({"exp": "10"})).unwrap_err().to_string(),
            "claim `exp`: must be a number of seconds since the epoch"
        );
        assert_eq!(
            claims(json!({"exp": 1e300})).unwrap_err().to_string(),
            "claim `exp`: must be a number of seconds since the epoch"
        );
        assert_eq!(
            claims(json!({"aud": ["a", 1]})).unwrap_err().to_string(),
            "claim `aud`: must be a string or an array of strings"
        );
        assert_eq!(
            claims(json!({"iss": 1})).unwrap_err().to_string(),
            "claim `iss`: must be a string"
        );
    }

    #[test]
    fn nested_lookup() {
        let mut c =
            claims(json!({"realm_access": {"roles": ["doctor", "admin"]}, "a.b": "flat"})).unwrap();
        assert_eq!(
            c.take_strings("realm_access.roles").unwrap(),
            ["doctor", "admin"]
        );
        assert_eq!(c.take_string("a.b").unwrap().as_deref(), Some("flat"));
        assert_eq!(c.take_string("missing").unwrap(), None);
    }
}
