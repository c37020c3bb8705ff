//! Fuzzes reference parsing and compartment membership: no input panics, a parsed reference
//! prints back exactly as written, and membership of arbitrary JSON is decided or refused.

#![no_main]

use fhir_compartment::{Compartments, Reference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(reference) = Reference::parse(text) {
            assert_eq!(reference.to_string(), text);
        }
    }
    let compartments = Compartments::r4();
    let _ = compartments.compartments_of_slice(data);
});
