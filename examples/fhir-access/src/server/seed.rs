//! The seed: the Synthea patients under `examples/fhir-access/seed/` (see its PROVENANCE.md),
//! compiled into the binary and written on the first start of an empty data directory, with
//! the ids the files give and their `urn:uuid:` references resolved to `Type/id`.

use std::collections::HashMap;

use fhir_compartment::ResourceType;
use serde_json::Value;

use super::bundle::rewrite_references;
use super::outcome::Error;
use super::store::{self, Indexing, Store};

/// The seed files: (name, JSON text).
const FILES: [(&str, &str); 4] = [
    (
        "Catharine_Morar_b2abee80.json",
        include_str!("../../seed/Catharine_Morar_b2abee80.json"),
    ),
    (
        "Darrell_Erdman_c9efcb62.json",
        include_str!("../../seed/Darrell_Erdman_c9efcb62.json"),
    ),
    (
        "Lucien_Hahn_21e66b72.json",
        include_str!("../../seed/Lucien_Hahn_21e66b72.json"),
    ),
    (
        "Valentine_Nolan_a1760f07.json",
        include_str!("../../seed/Valentine_Nolan_a1760f07.json"),
    ),
];

/// Writes the seed unless it was written before (in one transaction: all or nothing).
/// Returns how many resource versions were written. The seed is the operator's own data,
/// written before any request is served, so no guard is asked.
pub(crate) fn seed(store: &Store, indexing: Indexing<'_>) -> Result<usize, Error> {
    let mut conn = store.writer();
    if store::setting(&conn, "seeded")?.is_some() {
        return Ok(0);
    }
    let tx = conn.transaction()?;
    let mut written = 0;
    for (name, text) in FILES {
        let bad = |why: String| Error::Internal(format!("seed `{name}`: {why}"));
        let bundle: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let entries = bundle
            .get("entry")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no entries".to_owned()))?;
        let mut resources = Vec::new();
        let mut map = HashMap::new();
        for entry in entries {
            let resource = entry
                .get("resource")
                .ok_or_else(|| bad("an entry has no resource".to_owned()))?;
            let type_name = resource
                .get("resourceType")
                .and_then(Value::as_str)
                .unwrap_or("");
            let resource_type = ResourceType::from_name(type_name)
                .ok_or_else(|| bad(format!("resource type `{type_name}`")))?;
            let id = resource
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a resource has no id".to_owned()))?;
            if let Some(full_url) = entry.get("fullUrl").and_then(Value::as_str) {
                map.insert(full_url.to_owned(), format!("{type_name}/{id}"));
            }
            resources.push((resource_type, id.to_owned(), resource.clone()));
        }
        for (resource_type, id, mut resource) in resources {
            rewrite_references(&mut resource, &map);
            store::write(&tx, indexing, resource_type, &id, resource, "PUT")?;
            written += 1;
        }
    }
    store::set_setting(&tx, "seeded", "synthea")?;
    tx.commit()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use fhir_compartment::path::{ParameterKind, search_parameters};
    use fhir_compartment::{CompartmentKind, Compartments, ServerBases};

    use super::*;
    use crate::server::index;

    /// The engine drops a patient narrowing that a filter implies
    /// (`Compartments::implies_membership`): on every seeded resource, each reference such a
    /// parameter indexes to a patient is a compartment membership of that patient.
    #[test]
    fn an_implied_narrowing_holds_on_the_seed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1).unwrap();
        let (compartments, bases) = (Compartments::r4(), ServerBases::default());
        let indexing = Indexing {
            compartments: &compartments,
            bases: &bases,
        };
        seed(&store, indexing).unwrap();
        let conn = store.reader();
        let mut rows = conn.prepare("SELECT type, body FROM resources").unwrap();
        let resources: Vec<(String, String)> = rows
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let (mut checked, mut violations) = (0, Vec::new());
        for (type_name, body) in &resources {
            let resource_type = ResourceType::from_name(type_name).unwrap();
            let resource: Value = serde_json::from_str(body).unwrap();
            let members: Vec<String> = compartments
                .compartments_of_kind(&resource, CompartmentKind::Patient)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect();
            let implying: Vec<&str> = search_parameters(resource_type)
                .filter(|p| p.kind() == ParameterKind::Reference)
                .map(|p| p.code())
                .filter(|code| {
                    compartments.implies_membership(resource_type, code, CompartmentKind::Patient)
                })
                .collect();
            for row in index::rows(resource_type, &resource, &bases) {
                if !implying.contains(&row.param) {
                    continue;
                }
                let value = row.value.clone().unwrap_or_default();
                if value.starts_with("Patient/") {
                    checked += 1;
                    if !members.contains(&value) {
                        violations.push(format!("{type_name} {}: {value}", row.param));
                    }
                }
            }
        }
        assert_eq!(violations, Vec::<String>::new());
        assert_eq!(checked, 3371, "rows checked");
    }
}
