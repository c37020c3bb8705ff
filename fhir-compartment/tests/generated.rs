//! The generated tables against the official package: the committed file is exactly what
//! the generator writes (drift), and each of the 299 (resource type, parameter) pairs of the
//! five CompartmentDefinitions is exercised by a resource that is a member through that
//! parameter alone, with twins that are not.

#[path = "../examples/generate/tables.rs"]
mod tables;

use std::path::Path;
use std::sync::OnceLock;

use fhir_compartment::{Compartment, CompartmentKind, Config, ResourceType, ServerBases};
use serde_json::{Value, json};

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn generated_tables_match_the_official_package() {
    let expected = tables::render(&crate_dir().join(tables::PACKAGE_PATH)).unwrap();
    let committed = std::fs::read_to_string(crate_dir().join(tables::OUTPUT_PATH)).unwrap();
    if expected != committed {
        let line = expected
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the length".to_owned(), |i| format!("line {}", i + 1));
        panic!(
            "src/generated/tables.rs differs from the generator's output at {line}; \
             run `cargo run -p fhir-compartment --example generate`"
        );
    }
}

fn templates() -> &'static [tables::PairTemplate] {
    static TEMPLATES: OnceLock<Vec<tables::PairTemplate>> = OnceLock::new();
    TEMPLATES
        .get_or_init(|| tables::pair_templates(&crate_dir().join(tables::PACKAGE_PATH)).unwrap())
}

/// Replaces the `"__REFERENCE__"` placeholder with `reference` (and adds `contained`).
fn fill(template: &Value, reference: &Value, contained: Option<&Value>) -> Value {
    fn walk(v: &mut Value, reference: &Value) {
        match v {
            Value::String(s) if s == "__REFERENCE__" => *v = reference.clone(),
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, reference)),
            Value::Object(map) => map.values_mut().for_each(|i| walk(i, reference)),
            _ => {}
        }
    }
    let mut out = template.clone();
    walk(&mut out, reference);
    if let (Some(c), Value::Object(map)) = (contained, &mut out) {
        map.insert("contained".to_owned(), json!([c]));
    }
    out
}

fn names(set: &std::collections::BTreeSet<Compartment>) -> Vec<String> {
    let mut names: Vec<String> = set.iter().map(ToString::to_string).collect();
    names.sort();
    names
}

#[test]
fn every_definition_pair_is_exercised_with_member_and_twins() {
    // The exact definitions: `Patient.link` on, and a server base for local absolute URLs.
    let bases = ServerBases::new(["https://ehr.example.org/fhir"]).unwrap();
    let spec = Config::new()
        .patient_links(true)
        .server_bases(bases)
        .build()
        .unwrap();
    let templates = templates();
    assert_eq!(templates.len(), 299);
    for t in templates {
        let kind = format!("{}/x", t.compartment)
            .parse::<Compartment>()
            .unwrap()
            .kind();
        let resource_type: ResourceType = t.resource_type.parse().unwrap();
        let owner = t.compartment;
        let here = format!("{}.{} in {owner}", t.resource_type, t.parameter);
        let member: Compartment = format!("{owner}/owner-1").parse().unwrap();
        // What the resource is in regardless of the reference: its own compartment when it
        // is an owner type.
        let own: Vec<String> = CompartmentKind::for_owner(resource_type)
            .map(|k| format!("{k}/pair-test"))
            .into_iter()
            .collect();
        let with = |mut v: Vec<String>| {
            v.extend(own.iter().cloned());
            v.sort();
            v.dedup();
            v
        };

        // Members: relative, versioned, local absolute.
        for reference in [
            format!("{owner}/owner-1"),
            format!("{owner}/owner-1/_history/3"),
            format!("https://ehr.example.org/fhir/{owner}/owner-1"),
        ] {
            let r = fill(&t.resource, &json!({"reference": reference}), None);
            assert!(
                spec.is_member(&r, &member).unwrap(),
                "{here}: `{reference}` should be a member"
            );
            assert_eq!(
                names(&spec.compartments_of(&r).unwrap()),
                with(vec![member.to_string()]),
                "{here}"
            );
        }

        // Through that parameter alone: with every other parameter of this type in this
        // compartment excluded it is still a member; with this one excluded too, it is not.
        // (Some parameters share a path, e.g. Encounter `practitioner` and `participant`,
        // so excluding only this one may leave the membership.)
        let r = fill(
            &t.resource,
            &json!({"reference": format!("{owner}/owner-1")}),
            None,
        );
        let others: Vec<&str> = spec
            .parameters(resource_type, kind)
            .into_iter()
            .filter(|p| *p != t.parameter)
            .collect();
        let mut alone = Config::new().patient_links(true);
        for p in &others {
            alone = alone.exclude_parameter(kind, resource_type, p);
        }
        let none = alone
            .clone()
            .exclude_parameter(kind, resource_type, &t.parameter);
        assert!(
            alone.build().unwrap().is_member(&r, &member).unwrap(),
            "{here}: not a member through it alone"
        );
        assert!(
            !none.build().unwrap().is_member(&r, &member).unwrap(),
            "{here}: member without any parameter"
        );

        // Twins that are not members.
        let other_type = if owner == "Device" {
            "Organization"
        } else {
            "Device"
        };
        let twins = [
            (
                "another owner",
                json!({"reference": format!("{owner}/owner-2")}),
                None,
            ),
            (
                "another type",
                json!({"reference": format!("{other_type}/owner-1")}),
                None,
            ),
            (
                "a logical reference",
                json!({"identifier": {"system": "urn:example", "value": "owner-1"}, "type": owner}),
                None,
            ),
            (
                "a contained reference",
                json!({"reference": "#owner-1"}),
                Some(json!({"resourceType": owner, "id": "owner-1"})),
            ),
            (
                "a foreign absolute reference",
                json!({"reference": format!("https://other.example.org/fhir/{owner}/owner-1")}),
                None,
            ),
            (
                "a case variant",
                json!({"reference": format!("{}/owner-1", owner.to_lowercase())}),
                None,
            ),
            (
                "a path trick",
                json!({"reference": format!("{owner}/../{owner}/owner-1")}),
                None,
            ),
        ];
        for (what, reference, contained) in twins {
            let r = fill(&t.resource, &reference, contained.as_ref());
            assert!(
                !spec.is_member(&r, &member).unwrap(),
                "{here}: {what} is a member"
            );
            let all = names(&spec.compartments_of(&r).unwrap());
            assert!(
                !all.contains(&member.to_string()),
                "{here}: {what} listed {all:?}"
            );
        }
        // The other owner's twin is in the other owner's compartment instead.
        let r = fill(
            &t.resource,
            &json!({"reference": format!("{owner}/owner-2")}),
            None,
        );
        assert_eq!(
            names(&spec.compartments_of(&r).unwrap()),
            with(vec![format!("{owner}/owner-2")]),
            "{here}"
        );
    }
}
