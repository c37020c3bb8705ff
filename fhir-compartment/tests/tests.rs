//! The integration tests of fhir-compartment, one binary:
//! - `generated`: the committed tables match the generator's output on the official
//!   package (drift), and every (resource type, parameter) pair of the five
//!   CompartmentDefinitions makes a member through that parameter alone, with twins that do not;
//! - `differential`: the four Synthea bundles against the `fhirpath` npm package;
//! - `properties`: no panics on any JSON; membership ignores field order and unrelated fields.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a panic is a failed test"
)]

mod differential;
mod generated;
mod properties;
