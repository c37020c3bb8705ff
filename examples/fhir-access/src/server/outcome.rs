//! The server's one error type, [`Error`]: each variant knows its HTTP status and its
//! OperationOutcome issue code, so every route answers a failure the same way. Messages say
//! what was wrong with the request; they never carry stored data, tokens or internal causes
//! (those go to the log).

use axum::http::StatusCode;
use serde_json::{Value, json};

/// The longest diagnostics text answered: messages quote the request, which may be huge.
pub(crate) const MAX_DIAGNOSTICS: usize = 300;

/// Why a FHIR request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The request is malformed: bad JSON, bad id, bad search value, wrong resource type.
    #[error("{0}")]
    Invalid(String),
    /// A search parameter or feature this server does not support.
    #[error("{0}")]
    NotSupported(String),
    /// The resource does not exist, was deleted, or may not be seen: one answer for all three.
    #[error("resource not found")]
    NotFound,
    /// The URL names no FHIR interaction (unknown resource type or path shape).
    #[error("{0}")]
    UnknownRoute(String),
    /// The interaction is not allowed on this server (update-as-create switched off, ...).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// `If-Match` names another version than the current one.
    #[error("version conflict: the resource is at version {current}")]
    VersionConflict {
        /// The current version.
        current: u64,
    },
    /// A conditional interaction's search matched more than one resource.
    #[error("{0}")]
    MultipleMatches(String),
    /// The request body is larger than the configured limit.
    #[error("request body larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A search or operation would return more than the configured bound.
    #[error("{0}")]
    TooCostly(String),
    /// The request ran longer than the configured limit.
    #[error("request took longer than {seconds} s")]
    Timeout {
        /// The limit in seconds.
        seconds: u64,
    },
    /// Authentication is required and missing or invalid (the authorization seam decides).
    #[error("authentication required")]
    Unauthenticated,
    /// The caller may not perform this interaction, decided without stored data.
    #[error("forbidden")]
    Forbidden,
    /// A 403 with the policy's explanation: explain mode only (a developer setting, refused
    /// off loopback).
    #[error("forbidden: {0}")]
    ForbiddenExplained(String),
    /// The audit record could not be written: the request fails closed.
    #[error("audit unavailable")]
    AuditUnavailable,
    /// A storage or other internal failure; the cause is logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl Error {
    /// The HTTP status this error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Error::Invalid(_) | Error::NotSupported(_) => StatusCode::BAD_REQUEST,
            Error::NotFound | Error::UnknownRoute(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::VersionConflict { .. } | Error::MultipleMatches(_) => {
                StatusCode::PRECONDITION_FAILED
            }
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::TooCostly(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::Forbidden | Error::ForbiddenExplained(_) => StatusCode::FORBIDDEN,
            Error::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OperationOutcome `issue.code` (from the `IssueType` value set).
    fn issue_code(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid",
            Error::NotSupported(_) | Error::MethodNotAllowed(_) => "not-supported",
            Error::NotFound | Error::UnknownRoute(_) => "not-found",
            Error::VersionConflict { .. } => "conflict",
            Error::MultipleMatches(_) => "multiple-matches",
            Error::TooLarge { .. } | Error::TooCostly(_) => "too-costly",
            Error::Timeout { .. } => "timeout",
            Error::Unauthenticated => "login",
            Error::Forbidden | Error::ForbiddenExplained(_) => "forbidden",
            Error::AuditUnavailable => "transient",
            Error::Internal(_) => "exception",
        }
    }

    /// The error as an OperationOutcome resource. An internal cause is not included, and
    /// diagnostics that echo the request are cut at [`MAX_DIAGNOSTICS`] characters.
    pub(crate) fn to_outcome(&self) -> Value {
        let mut text = self.to_string();
        if let Some((cut, _)) = text.char_indices().nth(MAX_DIAGNOSTICS) {
            text.truncate(cut);
            text.push('…');
        }
        operation_outcome("error", self.issue_code(), &text)
    }
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Error {
        Error::Internal(format!("storage: {error}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Error {
        Error::Internal(format!("stored JSON: {error}"))
    }
}

/// An OperationOutcome with one issue.
pub(crate) fn operation_outcome(severity: &str, code: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_causes_stay_out_of_the_outcome() {
        let error = Error::Internal("storage: disk I/O error at /secret/path".to_owned());
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            error.to_outcome(),
            json!({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "exception", "diagnostics": "internal error"}]})
        );
    }

    #[test]
    fn long_diagnostics_are_cut() {
        let error = Error::Invalid(format!("unknown search parameter `{}`", "é".repeat(1000)));
        let text = error.to_outcome()["issue"][0]["diagnostics"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(text.chars().count(), MAX_DIAGNOSTICS + 1);
        assert!(text.starts_with("unknown search parameter `éé") && text.ends_with("é…"));
    }

    #[test]
    fn not_found_is_one_answer() {
        assert_eq!(Error::NotFound.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            Error::NotFound.to_outcome()["issue"][0]["diagnostics"],
            "resource not found"
        );
    }
}
