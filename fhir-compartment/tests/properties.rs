//! Properties: no input JSON makes the crate panic, and membership does not depend on field
//! order or on fields no compartment parameter reads, and one kind's memberships are all
//! memberships of that kind.

use fhir_compartment::{CompartmentKind, Compartments, Reference};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("Patient/1".to_owned()),
            Just("urn:uuid:0".to_owned()),
            Just("#x".to_owned()),
            Just("Observation".to_owned()),
            Just("Patient".to_owned()),
            "[A-Za-z0-9/#:.%-]{0,20}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("resourceType".to_owned()),
                        Just("reference".to_owned()),
                        Just("subject".to_owned()),
                        Just("performer".to_owned()),
                        Just("contained".to_owned()),
                        Just("id".to_owned()),
                        "[a-z]{1,8}",
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn observation() -> Value {
    json!({
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
        "subject": {"reference": "Patient/B"},
        "encounter": {"reference": "Encounter/9"},
        "performer": [{"reference": "Patient/A"}, {"reference": "Practitioner/7"}, {"identifier": {"value": "x"}}],
        "device": {"reference": "Device/d1"},
        "valueQuantity": {"value": 5.4, "unit": "mmol/L"}
    })
}

/// The same object with its keys in another order (serde_json keeps insertion order).
fn reorder(value: &Value, seed: u64) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            let n = entries.len().max(1) as u64;
            entries.rotate_left((seed % n) as usize);
            if seed % 2 == 1 {
                entries.reverse();
            }
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), reorder(v, seed / 3 + 1)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| reorder(v, seed)).collect()),
        other => other.clone(),
    }
}

proptest! {
    #[test]
    fn no_json_panics(value in arbitrary_json(), typ in prop::sample::select(vec!["Observation", "Patient", "Bundle", "Encounter"])) {
        let c = Compartments::r4();
        let _ = c.compartments_of(&value);
        let mut with_type = value.clone();
        if let Value::Object(map) = &mut with_type {
            map.insert("resourceType".to_owned(), json!(typ));
        }
        let _ = c.compartments_of(&with_type);
        let _ = c.compartments_of_bundle(&with_type);
        for p in fhir_compartment::path::search_parameters(typ.parse().unwrap()) {
            let _ = p.expression().evaluate(&with_type);
        }
    }

    #[test]
    fn no_bytes_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Compartments::r4().compartments_of_slice(&bytes);
    }

    #[test]
    fn no_reference_text_panics(text in "\\PC{0,40}") {
        let _ = Reference::parse(&text);
        let _ = fhir_compartment::Canonical::parse(&text);
        let _ = text.parse::<fhir_compartment::Compartment>();
    }

    #[test]
    fn references_round_trip(
        form in 0..5u8,
        resource_type in prop::sample::select(fhir_compartment::ResourceType::all().to_vec()),
        id in "[A-Za-z0-9.-]{1,64}",
        version in proptest::option::of("[A-Za-z0-9-]{1,8}"),
        host in "[a-z]{1,10}(\\.[a-z]{2,5})?(/[a-z]{1,6}){0,2}",
    ) {
        prop_assume!(id != "." && id != "..");
        let history = version.map(|v| format!("/_history/{v}")).unwrap_or_default();
        let text = match form {
            0 => format!("{resource_type}/{id}{history}"),
            1 => format!("https://{host}/{resource_type}/{id}{history}"),
            2 => format!("#{id}"),
            3 => "urn:uuid:c9efcb62-0000-4000-8000-00000000abcd".to_owned(),
            _ => format!("urn:oid:1.2.{}", id.len()),
        };
        let parsed = Reference::parse(&text).unwrap();
        prop_assert_eq!(parsed.to_string(), text.clone());
        let written = parsed.to_string();
        prop_assert_eq!(Reference::parse(&written).unwrap(), parsed);
    }

    #[test]
    fn membership_ignores_field_order(seed in any::<u64>()) {
        let c = Compartments::r4();
        let original = observation();
        prop_assert_eq!(c.compartments_of(&reorder(&original, seed)).unwrap(), c.compartments_of(&original).unwrap());
    }

    #[test]
    fn membership_ignores_unrelated_fields(key in "[a-z]{3,12}", value in arbitrary_json()) {
        prop_assume!(!["subject", "encounter", "performer", "device", "resourceType", "id", "contained"].contains(&key.as_str()));
        let c = Compartments::r4();
        let original = observation();
        let mut changed = original.clone();
        changed.as_object_mut().unwrap().insert(key, value);
        prop_assert_eq!(c.compartments_of(&changed).unwrap(), c.compartments_of(&original).unwrap());
    }

    #[test]
    fn one_kind_is_all_kinds_filtered(
        key in prop::sample::select(vec!["subject", "encounter", "performer", "device", "note"]),
        value in arbitrary_json(),
        kind in prop::sample::select(vec![
            CompartmentKind::Patient,
            CompartmentKind::Encounter,
            CompartmentKind::Practitioner,
            CompartmentKind::RelatedPerson,
            CompartmentKind::Device,
        ]),
    ) {
        let c = Compartments::r4();
        let mut resource = observation();
        resource.as_object_mut().unwrap().insert(key.to_owned(), value);
        let all = c.compartments_of(&resource).unwrap();
        let expected: std::collections::BTreeSet<_> = all.into_iter().filter(|m| m.kind() == kind).collect();
        prop_assert_eq!(c.compartments_of_kind(&resource, kind).unwrap(), expected);
    }
}
