//! `fhir-policy`'s search narrowing in the engine's terms. The engine ANDs compartment sets
//! and search parameters; a policy tree is translated when it is a conjunction of matches
//! and of "in one of these patients' compartments" disjunctions. Anything else narrows to
//! nothing: a narrowing left out would let a search count, or page over, what the caller
//! may not see (fail closed).

use std::collections::{BTreeMap, BTreeSet};

use fhir_compartment::{Compartment, CompartmentKind, Compartments, ResourceType};
use fhir_policy::Narrowing as Tree;

use super::super::guard::Narrowing;

/// The engine narrowings equivalent to `tree` on a search of `resource_type`.
pub(crate) fn translate(
    tree: &Tree,
    resource_type: ResourceType,
    compartments: &Compartments,
) -> Vec<Narrowing> {
    let mut out = Vec::new();
    if conjunct(tree, resource_type, compartments, &mut out).is_none() {
        return vec![Narrowing::InCompartments(Vec::new())];
    }
    out
}

fn conjunct(
    tree: &Tree,
    resource_type: ResourceType,
    compartments: &Compartments,
    out: &mut Vec<Narrowing>,
) -> Option<()> {
    match tree {
        Tree::Nothing => None,
        Tree::All(items) => items
            .iter()
            .try_for_each(|item| conjunct(item, resource_type, compartments, out)),
        Tree::Match { parameter, values } => {
            // A type in the Patient compartment by this one parameter (`Encounter.patient`):
            // a compartment set, which the engine can tell a compartment search implies.
            if let Some(found) = patients(std::slice::from_ref(tree), resource_type, compartments) {
                out.push(Narrowing::InCompartments(found));
                return Some(());
            }
            // FHIR's escapes: a `,` inside a value is not an OR.
            let values: Vec<String> = values
                .iter()
                .map(|v| v.replace('\\', "\\\\").replace(',', "\\,"))
                .collect();
            out.push(Narrowing::Parameters(vec![(
                parameter.clone(),
                values.join(","),
            )]));
            Some(())
        }
        Tree::Any(items) => match items.as_slice() {
            [one] => conjunct(one, resource_type, compartments, out),
            _ => {
                out.push(Narrowing::InCompartments(patients(
                    items,
                    resource_type,
                    compartments,
                )?));
                Some(())
            }
        },
    }
}

/// The patients of a disjunction that is exactly "in one of these patients' compartments":
/// one match per parameter linking the type to the Patient compartment, every one of them,
/// each with the same `Patient/id` references. Anything narrower (some of the parameters, a
/// modifier) or broader is not a compartment set.
fn patients(
    items: &[Tree],
    resource_type: ResourceType,
    compartments: &Compartments,
) -> Option<Vec<Compartment>> {
    let links = compartments.parameters(resource_type, CompartmentKind::Patient);
    let mut by_parameter: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for item in items {
        let Tree::Match { parameter, values } = item else {
            return None;
        };
        // A type modifier only: `:not`, `:missing` and the like are no membership.
        let base = match parameter.split_once(':') {
            None => parameter.as_str(),
            Some((base, "Patient")) => base,
            Some(_) => return None,
        };
        if !links.contains(&base) {
            return None;
        }
        let ids = by_parameter.entry(base).or_default();
        for value in values {
            ids.insert(value.strip_prefix("Patient/")?);
        }
    }
    let mut sets = by_parameter.values();
    let first = sets.next()?;
    if by_parameter.len() != links.len() || sets.any(|ids| ids != first) {
        return None;
    }
    first
        .iter()
        .map(|id| Compartment::new(CompartmentKind::Patient, id).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matching(parameter: &str, values: &[&str]) -> Tree {
        Tree::Match {
            parameter: parameter.to_owned(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn compartment_disjunctions_and_matches_translate_and_the_rest_is_nothing() {
        let r4 = Compartments::r4();
        let p = |id: &str| Compartment::new(CompartmentKind::Patient, id).unwrap();
        let in_compartment = Tree::Any(vec![
            matching("subject", &["Patient/1", "Patient/2"]),
            matching("performer", &["Patient/1", "Patient/2"]),
        ]);
        assert_eq!(
            translate(&in_compartment, ResourceType::Observation, &r4),
            [Narrowing::InCompartments(vec![p("1"), p("2")])]
        );
        let both = Tree::All(vec![matching("category", &["vital-signs"]), in_compartment]);
        assert_eq!(
            translate(&both, ResourceType::Observation, &r4),
            [
                Narrowing::Parameters(vec![("category".into(), "vital-signs".into())]),
                Narrowing::InCompartments(vec![p("1"), p("2")]),
            ]
        );
        let by_one_parameter = matching("patient", &["Patient/1"]);
        assert_eq!(
            translate(&by_one_parameter, ResourceType::Encounter, &r4),
            [Narrowing::InCompartments(vec![p("1")])]
        );
        // Narrower than the compartment: stays a parameter.
        for narrower in [
            matching("patient:not", &["Patient/1"]),
            matching("subject", &["Patient/1"]),
        ] {
            let Tree::Match { parameter, values } = &narrower else {
                unreachable!()
            };
            assert_eq!(
                translate(&narrower, ResourceType::Observation, &r4),
                [Narrowing::Parameters(vec![(
                    parameter.clone(),
                    values.join(",")
                )])]
            );
        }
        let one_link = Tree::Any(vec![
            matching("subject", &["Patient/1"]),
            matching("subject", &["Patient/2"]),
        ]);
        let uneven = Tree::Any(vec![
            matching("subject", &["Patient/1", "Patient/2"]),
            matching("performer", &["Patient/1"]),
        ]);
        let nothing = [Narrowing::InCompartments(Vec::new())];
        let other = Tree::Any(vec![
            matching("status", &["final"]),
            matching("code", &["x"]),
        ]);
        assert_eq!(translate(&other, ResourceType::Observation, &r4), nothing);
        assert_eq!(
            translate(&one_link, ResourceType::Observation, &r4),
            nothing
        );
        assert_eq!(translate(&uneven, ResourceType::Observation, &r4), nothing);
        let not_patients = Tree::Any(vec![
            matching("subject", &["Group/1"]),
            matching("performer", &["Patient/1"]),
        ]);
        assert_eq!(
            translate(&not_patients, ResourceType::Observation, &r4),
            nothing
        );
        assert_eq!(
            translate(&Tree::Nothing, ResourceType::Observation, &r4),
            nothing
        );
    }
}
