//! The crate's one error type, [`Error`], and the reasons a reference is rejected,
//! [`ReferenceError`].

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A reference string is not one FHIR allows.
    #[error("reference `{reference}`: {reason}")]
    Reference {
        /// The reference text as given.
        reference: String,
        /// What is wrong with it.
        reason: ReferenceError,
    },
    /// A canonical URL is malformed.
    #[error("canonical `{canonical}`: {reason}")]
    Canonical {
        /// The canonical text as given.
        canonical: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A resource type name is not an R4 resource type (names are case-sensitive).
    #[error("unknown resource type `{0}`")]
    UnknownResourceType(String),
    /// A compartment text (`Patient/123`) is malformed.
    #[error("compartment `{text}`: {reason}")]
    Compartment {
        /// The compartment text as given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The input is not a FHIR resource: not a JSON object, or no `resourceType`.
    #[error("not a resource: {0}")]
    NotAResource(String),
    /// The input bytes are not JSON.
    #[error("invalid JSON at line {line} column {column}")]
    Json {
        /// Line of the error (1-based).
        line: usize,
        /// Column of the error (1-based).
        column: usize,
    },
    /// A configured search parameter does not exist for that resource type.
    #[error("`{resource_type}` has no search parameter `{code}`")]
    UnknownParameter {
        /// The resource type.
        resource_type: String,
        /// The parameter code.
        code: String,
    },
    /// A configured compartment parameter is not a reference parameter.
    #[error("search parameter `{resource_type}.{code}` is not a reference parameter")]
    NotAReferenceParameter {
        /// The resource type.
        resource_type: String,
        /// The parameter code.
        code: String,
    },
    /// An excluded compartment parameter is not in the compartment definition.
    #[error("the `{compartment}` compartment has no parameter `{resource_type}.{code}` to exclude")]
    NotInCompartment {
        /// The compartment type.
        compartment: String,
        /// The resource type.
        resource_type: String,
        /// The parameter code.
        code: String,
    },
    /// A server base URL is not an absolute `http(s)` URL.
    #[error("server base `{0}`: expected an absolute http or https URL with no query or fragment")]
    ServerBase(String),
    /// A compartment search path (`Patient/123/Observation`) is malformed or names a resource
    /// type that is not in the compartment.
    #[error("compartment search `{path}`: {reason}")]
    CompartmentSearch {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json {
            line: e.line(),
            column: e.column(),
        }
    }
}

/// Why a reference string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The reference is empty.
    #[error("empty reference")]
    Empty,
    /// The reference has leading or trailing whitespace or control characters.
    #[error("whitespace or control characters")]
    Whitespace,
    /// The type segment is not an R4 resource type (names are case-sensitive).
    #[error("unknown resource type `{0}`")]
    UnknownResourceType(String),
    /// The id (or version id) breaks the FHIR id rule `[A-Za-z0-9\-\.]{{1,64}}`.
    #[error("invalid id `{0}`: expected 1 to 64 of A-Z a-z 0-9 - .")]
    InvalidId(String),
    /// A `.` or `..` path segment.
    #[error("path segment `{0}` is not allowed")]
    DotSegment(String),
    /// The path has too few or too many segments for `Type/id[/_history/vid]`.
    #[error("expected `Type/id` or `Type/id/_history/vid`")]
    Shape,
    /// An absolute URL with a scheme other than http or https.
    #[error("unsupported URL scheme `{0}`")]
    Scheme(String),
    /// An absolute URL with a query or fragment.
    #[error("query or fragment in an absolute reference")]
    QueryOrFragment,
    /// A `urn:uuid:` that is not a UUID.
    #[error("invalid UUID")]
    InvalidUuid,
    /// A `urn:oid:` that is not an OID.
    #[error("invalid OID")]
    InvalidOid,
    /// A canonical URL (`|version`) where an instance reference is expected.
    #[error("a canonical URL is not an instance reference")]
    Canonical,
}
