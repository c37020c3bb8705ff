//! SMART on FHIR scopes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod resource_type;

pub use resource_type::{ResourceType, UnknownResourceType};
