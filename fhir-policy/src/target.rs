//! The vocabulary of targets: FHIR interaction names and their groups, resource types
//! (bridging `fhir-scopes`' and `fhir-compartment`'s enums), and a compiled target.

use fhir_compartment::ResourceType as CompartmentType;
use fhir_scopes::{Interaction, ResourceType};

use crate::Error;
use crate::error::suggestion;

/// Interactions by index; operations are the last.
pub(crate) const INTERACTIONS: [&str; 16] = [
    "read",
    "vread",
    "history-instance",
    "history-type",
    "history-system",
    "search-type",
    "search-system",
    "create",
    "update",
    "patch",
    "delete",
    "conditional-create",
    "conditional-update",
    "conditional-patch",
    "conditional-delete",
    "operation",
];
pub(crate) const OPERATION: usize = 15;
/// The number of resource types (R4).
pub(crate) const TYPES: usize = 146;

/// The index of an interaction in [`INTERACTIONS`]; `None` for one this crate does not
/// know (a newer `fhir-scopes`), which therefore matches no rule.
pub(crate) fn interaction_index(interaction: Interaction) -> Option<usize> {
    Some(match interaction {
        Interaction::Read => 0,
        Interaction::Vread => 1,
        Interaction::HistoryInstance => 2,
        Interaction::HistoryType => 3,
        Interaction::HistorySystem => 4,
        Interaction::SearchType => 5,
        Interaction::SearchSystem => 6,
        Interaction::Create => 7,
        Interaction::Update => 8,
        Interaction::Patch => 9,
        Interaction::Delete => 10,
        Interaction::ConditionalCreate => 11,
        Interaction::ConditionalUpdate => 12,
        Interaction::ConditionalPatch => 13,
        Interaction::ConditionalDelete => 14,
        Interaction::Operation(_) => OPERATION,
        _ => return None,
    })
}

/// The interaction indexes a name in a policy stands for: one interaction, or a group.
fn interaction_names(name: &str) -> Option<&'static [usize]> {
    const ALL: [usize; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    Some(match name {
        "*" => &ALL,
        "search" => &[5, 6],
        "history" => &[2, 3, 4],
        "write" => &[7, 8, 9, 10, 11, 12, 13, 14],
        other => {
            let index = INTERACTIONS.iter().position(|n| *n == other)?;
            ALL.get(index..=index)?
        }
    })
}

/// The `fhir-compartment` type for a `fhir-scopes` type (both list the R4 types in the same
/// order; the name check guards that).
pub(crate) fn compartment_type(t: ResourceType) -> Option<CompartmentType> {
    CompartmentType::all()
        .get(t as usize)
        .copied()
        .filter(|c| c.as_str() == t.as_str())
        .or_else(|| CompartmentType::from_name(t.as_str()))
}

/// A rule's target, compiled: which (type, interaction) cells it covers, and the operation
/// names it is limited to.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CompiledTarget {
    /// `None`: every type (and system-level interactions).
    pub(crate) types: Option<Vec<CompartmentType>>,
    pub(crate) interactions: Vec<usize>,
    /// Empty: any operation (when `operation` is among the interactions).
    pub(crate) operations: Vec<Box<str>>,
}

impl CompiledTarget {
    pub(crate) fn compile(target: &crate::document::Target, at: &str) -> Result<Self, Error> {
        let mut types = Some(Vec::new());
        for name in &target.resource_types {
            if name == "*" {
                types = None;
            } else {
                let t = CompartmentType::from_name(name).ok_or_else(|| {
                    Error::invalid(
                        format!("{at}: target.resourceTypes"),
                        format!(
                            "unknown resource type `{name}`{}",
                            suggestion(name, CompartmentType::all().iter().map(|t| t.as_str()))
                        ),
                    )
                })?;
                if let Some(list) = types.as_mut() {
                    list.push(t);
                }
            }
        }
        if target.resource_types.is_empty() {
            return Err(Error::invalid(
                format!("{at}: target.resourceTypes"),
                "empty: name resource types or `*`",
            ));
        }
        let mut interactions = Vec::new();
        for name in &target.interactions {
            let indexes = interaction_names(name).ok_or_else(|| {
                let known = INTERACTIONS
                    .iter()
                    .copied()
                    .chain(["search", "history", "write"]);
                Error::invalid(
                    format!("{at}: target.interactions"),
                    format!("unknown interaction `{name}`{}", suggestion(name, known)),
                )
            })?;
            interactions.extend_from_slice(indexes);
        }
        let mut operations = Vec::new();
        for name in &target.operations {
            let valid = name.len() > 1
                && name.starts_with('$')
                && name
                    .bytes()
                    .skip(1)
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(Error::invalid(
                    format!("{at}: target.operations"),
                    format!(
                        "`{name}` is not an operation name (`$` and letters, as `$everything`)"
                    ),
                ));
            }
            operations.push(name.as_str().into());
            interactions.push(OPERATION);
        }
        if interactions.is_empty() {
            return Err(Error::invalid(
                format!("{at}: target"),
                "names no interactions or operations",
            ));
        }
        interactions.sort_unstable();
        interactions.dedup();
        Ok(CompiledTarget {
            types,
            interactions,
            operations,
        })
    }

    /// Whether the target covers the operation name (for an operation request).
    pub(crate) fn covers_operation(&self, name: Option<&str>) -> bool {
        self.operations.is_empty()
            || name.is_some_and(|n| self.operations.iter().any(|o| &**o == n))
    }

    /// Whether the target covers a (type, interaction) cell.
    pub(crate) fn covers(&self, t: Option<CompartmentType>, interaction: usize) -> bool {
        self.interactions.contains(&interaction)
            && match (&self.types, t) {
                (None, _) => true,
                (Some(list), Some(t)) => list.contains(&t),
                (Some(_), None) => false,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_type_enums_agree() {
        for t in CompartmentType::all() {
            let scopes: ResourceType = t.as_str().parse().unwrap();
            assert_eq!(compartment_type(scopes), Some(*t));
        }
        assert_eq!(CompartmentType::all().len(), TYPES);
    }

    #[test]
    fn interaction_names_round_trip() {
        assert_eq!(interaction_names("history"), Some(&[2usize, 3, 4][..]));
        assert_eq!(interaction_names("reed"), None);
    }
}
