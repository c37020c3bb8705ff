//! The crate's error type: what was wrong, in which scope, at which byte.

use std::fmt;

use crate::UnknownResourceType;

/// Everything that can go wrong in this crate.
///
/// Messages are one line, lowercase, quote the offending input in backticks and say what was
/// expected. Scope strings are not secrets, so they are quoted in full.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scope that does not follow the SMART grammar.
    #[error("scope `{scope}` at byte {position}: {kind}")]
    Scope {
        /// The scope as written.
        scope: String,
        /// Byte offset within `scope` where the problem starts.
        position: usize,
        /// What was wrong.
        kind: ScopeErrorKind,
    },
    /// Two spaces in a row, or a leading or trailing space, in a scope string.
    #[error("empty scope at byte {position}: scopes are separated by single spaces")]
    EmptyScope {
        /// Byte offset within the scope string.
        position: usize,
    },
    /// A FHIR REST request that cannot be interpreted.
    #[error("request `{request}`: {reason}")]
    Request {
        /// The request as given (method and path).
        request: String,
        /// What was wrong.
        reason: String,
    },
    /// A refresh asked for a scope that the original grant does not cover.
    #[error("scope `{scope}` was not in the original grant; a refresh may only narrow it")]
    NotGranted {
        /// The scope that widens the grant.
        scope: String,
    },
}

impl Error {
    /// A short, stable, snake_case name for the kind of error, for tests and machine output.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Scope { kind, .. } => kind.code(),
            Error::EmptyScope { .. } => "empty_scope",
            Error::Request { .. } => "request",
            Error::NotGranted { .. } => "not_granted",
        }
    }
}

/// What was wrong with a scope.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeErrorKind {
    /// A byte that RFC 6749 does not allow in a scope (space, `"`, `\`, control, non-ASCII).
    InvalidCharacter(char),
    /// `Patient/...`, `USER/...`: the context must be lowercase.
    ContextCase {
        /// The context as written.
        found: String,
    },
    /// `patient?...`: a context not followed by `/`.
    MissingSlash,
    /// A case variant of a defined scope, such as `OpenID` or `Launch/patient`.
    KeywordCase {
        /// The defined spelling.
        expected: &'static str,
    },
    /// The resource type is not a FHIR R4 type.
    UnknownResourceType(UnknownResourceType),
    /// No permissions after the resource type (`patient/Observation` or `patient/Observation.`).
    MissingPermissions,
    /// Permissions that are neither an in-order subsequence of `cruds` nor a v1 word.
    InvalidPermissions {
        /// The permissions as written.
        found: String,
    },
    /// A v1 scope (`.read`, `.write`, `.*`) with search parameters.
    V1WithQuery,
    /// A `?` with nothing after it.
    EmptyQuery,
    /// A malformed `name=value` item.
    InvalidParameter(&'static str),
    /// A modifier, chain, `_include`, `_revinclude`, `_has` or `_filter`, which SMART marks
    /// experimental; accepted only when enabled in [`ParseOptions`](crate::ParseOptions).
    ExperimentalParameter {
        /// The parameter name as decoded.
        name: String,
        /// Which experimental feature it uses.
        feature: &'static str,
    },
    /// A parameter that shapes results (`_count`, `_sort`, `_elements`, ...) and so cannot
    /// restrict which resources a scope grants.
    ResultParameter {
        /// The parameter name.
        name: String,
    },
    /// A `%` not followed by two hex digits, or bytes that do not decode to UTF-8.
    PercentEncoding,
    /// `launch/Patient`: launch context types are lowercase.
    LaunchTypeCase {
        /// The lowercase spelling.
        expected: String,
    },
    /// `launch/<x>` where `x` is not a FHIR resource type in lowercase.
    UnknownLaunchType {
        /// The type as written.
        found: String,
    },
    /// A malformed `?role=` on a launch scope.
    InvalidLaunchRole(&'static str),
    /// Text after a SMART or OpenID URI prefix that is not a scope that prefix names.
    UnknownPrefixedScope,
}

impl ScopeErrorKind {
    /// A short, stable, snake_case name for the kind.
    pub fn code(&self) -> &'static str {
        match self {
            ScopeErrorKind::InvalidCharacter(_) => "invalid_character",
            ScopeErrorKind::ContextCase { .. } => "context_case",
            ScopeErrorKind::MissingSlash => "missing_slash",
            ScopeErrorKind::KeywordCase { .. } => "keyword_case",
            ScopeErrorKind::UnknownResourceType(_) => "unknown_resource_type",
            ScopeErrorKind::MissingPermissions => "missing_permissions",
            ScopeErrorKind::InvalidPermissions { .. } => "invalid_permissions",
            ScopeErrorKind::V1WithQuery => "v1_with_query",
            ScopeErrorKind::EmptyQuery => "empty_query",
            ScopeErrorKind::InvalidParameter(_) => "invalid_parameter",
            ScopeErrorKind::ExperimentalParameter { .. } => "experimental_parameter",
            ScopeErrorKind::ResultParameter { .. } => "result_parameter",
            ScopeErrorKind::PercentEncoding => "percent_encoding",
            ScopeErrorKind::LaunchTypeCase { .. } => "launch_type_case",
            ScopeErrorKind::UnknownLaunchType { .. } => "unknown_launch_type",
            ScopeErrorKind::InvalidLaunchRole(_) => "invalid_launch_role",
            ScopeErrorKind::UnknownPrefixedScope => "unknown_prefixed_scope",
        }
    }
}

impl fmt::Display for ScopeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeErrorKind::InvalidCharacter(c) => {
                write!(f, "character {c:?} is not allowed in a scope")
            }
            ScopeErrorKind::ContextCase { found } => write!(
                f,
                "context `{found}` must be lowercase; did you mean `{}`?",
                found.to_ascii_lowercase()
            ),
            ScopeErrorKind::MissingSlash => {
                f.write_str("expected `/` and a resource type after the context")
            }
            ScopeErrorKind::KeywordCase { expected } => {
                write!(f, "scopes are case-sensitive; did you mean `{expected}`?")
            }
            ScopeErrorKind::UnknownResourceType(unknown) => write!(f, "{unknown}"),
            ScopeErrorKind::MissingPermissions => f.write_str(
                "expected `.` and permissions (letters of `cruds`, or `read`, `write`, `*`)",
            ),
            ScopeErrorKind::InvalidPermissions { found } => write!(
                f,
                "invalid permissions `{found}`: expected letters of `cruds` in that order, \
                 each at most once, or `read`, `write`, `*`"
            ),
            ScopeErrorKind::V1WithQuery => {
                f.write_str("a v1 scope (`.read`, `.write`, `.*`) cannot have search parameters")
            }
            ScopeErrorKind::EmptyQuery => f.write_str("expected `name=value` after `?`"),
            ScopeErrorKind::InvalidParameter(reason) => f.write_str(reason),
            ScopeErrorKind::ExperimentalParameter { name, feature } => write!(
                f,
                "parameter `{name}` uses {feature}, which SMART marks experimental and is not enabled"
            ),
            ScopeErrorKind::ResultParameter { name } => write!(
                f,
                "parameter `{name}` shapes results and cannot restrict a scope"
            ),
            ScopeErrorKind::PercentEncoding => f.write_str(
                "invalid percent-encoding: expected `%` and two hex digits, decoding to UTF-8",
            ),
            ScopeErrorKind::LaunchTypeCase { expected } => write!(
                f,
                "launch context types are lowercase; did you mean `launch/{expected}`?"
            ),
            ScopeErrorKind::UnknownLaunchType { found } => {
                write!(f, "`{found}` is not a FHIR resource type in lowercase")
            }
            ScopeErrorKind::InvalidLaunchRole(reason) => f.write_str(reason),
            ScopeErrorKind::UnknownPrefixedScope => {
                f.write_str("the text after the URI prefix is not a scope that prefix defines")
            }
        }
    }
}
