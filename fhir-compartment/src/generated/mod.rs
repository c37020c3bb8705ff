//! Code generated from the official FHIR R4 package by `examples/generate`; never edited by
//! hand (the drift test in `tests/generated.rs` fails when it and the data disagree).

// Kept exactly as the generator writes it, so that the drift test compares byte for byte.
#[rustfmt::skip]
pub(crate) mod tables;
