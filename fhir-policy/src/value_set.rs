//! [`ValueSet`]: a ValueSet expansion a policy provides, as sorted `(system, code)` pairs so
//! that membership is a binary search.

use crate::Error;
use crate::condition::Value;

/// The codes of one ValueSet expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValueSet {
    /// Sorted by (system, code).
    codes: Vec<(Box<str>, Box<str>)>,
    /// Indexes into `codes`, sorted by code, for codes that come without a system.
    by_code: Vec<usize>,
}

impl ValueSet {
    /// Reads `system|code` entries; `at` names the set for errors.
    pub(crate) fn new(entries: &[String], at: &str) -> Result<ValueSet, Error> {
        let mut codes = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry.split_once('|') {
                Some((system, code)) if !system.is_empty() && !code.is_empty() => {
                    codes.push((system.into(), code.into()));
                }
                _ => {
                    return Err(Error::invalid(
                        at,
                        format!("`{entry}` is not `system|code`"),
                    ));
                }
            }
        }
        codes.sort();
        codes.dedup();
        let mut by_code: Vec<usize> = (0..codes.len()).collect();
        let code_of =
            |i: &usize| -> &str { codes.get(*i).map_or("", |(_, c): &(Box<str>, Box<str>)| c) };
        by_code.sort_by(|a, b| code_of(a).cmp(code_of(b)));
        Ok(ValueSet { codes, by_code })
    }

    pub(crate) fn codes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.codes.iter().map(|(s, c)| (&**s, &**c))
    }

    /// Whether a value is in the set: a Coding by system and code (by code alone when it
    /// has no system), a string as `system|code` or a bare code.
    pub(crate) fn contains(&self, value: Value<'_>) -> bool {
        let (system, code) = match value {
            Value::Code(system, code) => (system, code),
            Value::String(text) => match text.split_once('|') {
                Some((system, code)) if !system.is_empty() => (Some(system), code),
                Some((_, code)) => (None, code),
                None => (None, text),
            },
            Value::Number(_) | Value::Boolean(_) => return false,
        };
        match system {
            Some(system) => self
                .codes
                .binary_search_by(|(s, c)| (&**s, &**c).cmp(&(system, code)))
                .is_ok(),
            None => self
                .by_code
                .binary_search_by(|i| self.codes.get(*i).map_or("", |(_, c)| &**c).cmp(code))
                .is_ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_by_system_and_code() {
        let set = ValueSet::new(
            &[
                "http://loinc.org|8867-4".into(),
                "http://snomed.info/sct|35489007".into(),
            ],
            "valueSets.x",
        )
        .unwrap();
        assert!(set.contains(Value::Code(Some("http://loinc.org"), "8867-4")));
        assert!(!set.contains(Value::Code(Some("http://other"), "8867-4")));
        assert!(set.contains(Value::Code(None, "35489007")));
        assert!(set.contains(Value::String("http://snomed.info/sct|35489007")));
        assert!(!set.contains(Value::String("1234")));
        assert_eq!(
            ValueSet::new(&["nosystem".into()], "valueSets.x")
                .unwrap_err()
                .to_string(),
            "policy: valueSets.x: `nosystem` is not `system|code`"
        );
    }
}
