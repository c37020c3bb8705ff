//! Code generated from the official FHIR R4 package by `examples/generate`; never edited by
//! hand (the drift test in `tests/generated.rs` fails when it and the data disagree).

pub(crate) mod tables;
