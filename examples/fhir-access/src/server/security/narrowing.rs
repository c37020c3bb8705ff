//! `fhir-policy`'s search narrowing in the engine's terms. The engine ANDs compartment sets
//! and search parameters; a policy tree is translated when it is a conjunction of matches
//! and of "in one of these patients' compartments" disjunctions. Anything else narrows to
//! nothing: a narrowing left out would let a search count, or page over, what the caller
//! may not see (fail closed).

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

/// The patients of an `Any` whose every branch is a Patient-compartment parameter matching
/// `Patient/id` references: the resource is in one of those patients' compartments.
fn patients(
    items: &[Tree],
    resource_type: ResourceType,
    compartments: &Compartments,
) -> Option<Vec<Compartment>> {
    let links = compartments.parameters(resource_type, CompartmentKind::Patient);
    let mut found: Vec<Compartment> = Vec::new();
    for item in items {
        let Tree::Match { parameter, values } = item else {
            return None;
        };
        let base = parameter.split(':').next().unwrap_or(parameter);
        if !links.contains(&base) {
            return None;
        }
        for value in values {
            let id = value.strip_prefix("Patient/")?;
            let compartment = Compartment::new(CompartmentKind::Patient, id).ok()?;
            if !found.contains(&compartment) {
                found.push(compartment);
            }
        }
    }
    Some(found)
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
        let nothing = [Narrowing::InCompartments(Vec::new())];
        let other = Tree::Any(vec![
            matching("status", &["final"]),
            matching("code", &["x"]),
        ]);
        assert_eq!(translate(&other, ResourceType::Observation, &r4), nothing);
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
