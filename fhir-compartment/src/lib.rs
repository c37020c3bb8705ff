#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The public interface is: references (`Reference`, `ReferenceValue`, `Canonical`,
// `ServerBases`, `Target`), resource types, compartments and membership (`Compartment`,
// `CompartmentKind`, `Config`, `Compartments`, `BundleIndex`), search narrowing
// (`CompartmentSearch`), the error types, and the compiled FHIRPath evaluator under `path`.

mod bundle;
pub use bundle::BundleIndex;

mod compartment;
pub use compartment::{Compartment, CompartmentKind};

mod error;
pub use error::{Error, ReferenceError};

mod generated;

mod membership;
pub use membership::{Compartments, Config};

pub mod path;

mod reference;
pub use reference::{Canonical, Reference, ReferenceValue, ServerBases, Target};

mod resource_type;
pub use resource_type::ResourceType;

mod search;
pub use search::CompartmentSearch;

/// The FHIR version the tables were generated from (`"4.0.1"`).
pub const FHIR_VERSION: &str = generated::tables::FHIR_VERSION;
