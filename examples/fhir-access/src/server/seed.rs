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
