//! [`Error`]: why a policy, a Consent or a test-case file could not be loaded. Messages say
//! what was wrong and where (rule id and JSON path); they never quote resource content.

/// A policy, Consent or test-case document that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not JSON, or does not have the document's shape (a missing or unknown
    /// field, a wrong JSON type).
    #[error("{document}: {source}")]
    Json {
        /// Which document: `policy`, `consent`, `test cases` or `request`.
        document: &'static str,
        /// The parser's message, with line and column.
        source: serde_json::Error,
    },
    /// The policy's `fhirPolicy` version is not one this crate reads.
    #[error("policy: unsupported schema version `{found}`; this crate reads version `1`")]
    Version {
        /// The version found.
        found: String,
    },
    /// A rule, role or condition is invalid: an unknown name, a type error.
    #[error("policy: {at}: {message}")]
    Invalid {
        /// Where: `rule `nurse-read`: when.all[1].lessThan` or `role `nurse``.
        at: String,
        /// What is wrong, for example ``unknown resource type `Observaton`; did you mean `Observation`?``.
        message: String,
    },
    /// A Consent resource that cannot be evaluated.
    #[error("consent: {at}: {message}")]
    Consent {
        /// The element, for example `provision.provision[0].actor[0]`.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// A test case or request document that does not describe a request.
    #[error("{at}: {message}")]
    Request {
        /// Where: `cases[3].request.interaction`.
        at: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn invalid(at: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            at: at.into(),
            message: message.into(),
        }
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.len() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars, for suggestions only.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let left = row.get(j).copied().unwrap_or(usize::MAX);
            let value = if ca == *cb {
                previous
            } else {
                1 + previous.min(above).min(left)
            };
            previous = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = value;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

/// `, did you mean `x`?` or nothing.
pub(crate) fn suggestion<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("Observaton", ["Observation", "Patient"]),
            Some("Observation")
        );
        assert_eq!(did_you_mean("Zzz", ["Observation", "Patient"]), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
