//! Fuzzes reference parsing and compartment membership: no input panics, a parsed reference
//! prints back exactly as written, membership of arbitrary JSON is decided or refused, and
//! the memberships of one kind are exactly the memberships of that kind among all.

#![no_main]

use fhir_compartment::{CompartmentKind, Compartments, Reference};
use libfuzzer_sys::fuzz_target;

const KINDS: [CompartmentKind; 5] = [
    CompartmentKind::Patient,
    CompartmentKind::Encounter,
    CompartmentKind::Practitioner,
    CompartmentKind::RelatedPerson,
    CompartmentKind::Device,
];

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(reference) = Reference::parse(text) {
            assert_eq!(reference.to_string(), text);
        }
    }
    let compartments = Compartments::r4();
    let Ok(all) = compartments.compartments_of_slice(data) else {
        return;
    };
    let Ok(resource) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for kind in KINDS {
        let of_kind = compartments.compartments_of_kind(&resource, kind).unwrap();
        assert!(of_kind.iter().eq(all.iter().filter(|c| c.kind() == kind)));
    }
});
