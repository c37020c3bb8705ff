//! [`BundleIndex`]: the `fullUrl`s of a Bundle's entries, so that references between entries
//! (`urn:uuid:…`, `urn:oid:…`, or absolute `fullUrl`s) resolve to `Type/id`.

use std::collections::HashMap;

use serde_json::Value;

use crate::reference::is_valid_id;
use crate::{Error, ResourceType};

/// Maps each entry's `fullUrl` to the type and id of its resource.
///
/// An entry counts when it has a `fullUrl`, a resource with a known `resourceType` and a valid
/// `id`. Entries without an id (a transaction's `POST` without one) cannot be resolved to
/// `Type/id`, so references to them never make a resource a compartment member. The ids are
/// the Bundle's: for a transaction whose entries get server-assigned ids, index it after the
/// server has assigned them.
///
/// ```
/// use fhir_compartment::{BundleIndex, ResourceType};
/// let bundle = serde_json::json!({"resourceType": "Bundle", "entry": [{
///     "fullUrl": "urn:uuid:3f1e4c1a-2b6d-4c8e-9f0a-1b2c3d4e5f60",
///     "resource": {"resourceType": "Patient", "id": "3f1e4c1a-2b6d-4c8e-9f0a-1b2c3d4e5f60"}
/// }]});
/// let index = BundleIndex::new(&bundle)?;
/// assert_eq!(
///     index.resolve("urn:uuid:3f1e4c1a-2b6d-4c8e-9f0a-1b2c3d4e5f60"),
///     Some((ResourceType::Patient, "3f1e4c1a-2b6d-4c8e-9f0a-1b2c3d4e5f60"))
/// );
/// # Ok::<(), fhir_compartment::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct BundleIndex {
    by_full_url: HashMap<String, (ResourceType, String)>,
}

impl BundleIndex {
    /// Indexes a Bundle. Fails when `bundle` is not a `Bundle` resource.
    pub fn new(bundle: &Value) -> Result<BundleIndex, Error> {
        if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            return Err(Error::NotAResource("expected a `Bundle`".to_owned()));
        }
        let mut by_full_url = HashMap::new();
        for entry in entries(bundle) {
            let Some(full_url) = entry.get("fullUrl").and_then(Value::as_str) else {
                continue;
            };
            let Some(resource) = entry.get("resource") else {
                continue;
            };
            let resource_type = resource
                .get("resourceType")
                .and_then(Value::as_str)
                .and_then(ResourceType::from_name);
            let id = resource
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| is_valid_id(id));
            if let (Some(resource_type), Some(id)) = (resource_type, id) {
                by_full_url.insert(full_url.to_owned(), (resource_type, id.to_owned()));
            }
        }
        Ok(BundleIndex { by_full_url })
    }

    /// The type and id of the entry whose `fullUrl` is `reference`.
    pub fn resolve(&self, reference: &str) -> Option<(ResourceType, &str)> {
        self.by_full_url
            .get(reference)
            .map(|(t, id)| (*t, id.as_str()))
    }

    /// Number of resolvable entries.
    pub fn len(&self) -> usize {
        self.by_full_url.len()
    }

    /// True when no entry is resolvable.
    pub fn is_empty(&self) -> bool {
        self.by_full_url.is_empty()
    }
}

/// The entries of a Bundle (empty when there are none).
pub(crate) fn entries(bundle: &Value) -> &[Value] {
    bundle
        .get("entry")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn skips_unresolvable_entries() {
        let bundle = json!({"resourceType": "Bundle", "entry": [
            {"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Patient"}},
            {"fullUrl": "urn:uuid:b", "resource": {"resourceType": "Nope", "id": "1"}},
            {"fullUrl": "urn:uuid:c", "resource": {"resourceType": "Patient", "id": "bad/id"}},
            {"resource": {"resourceType": "Patient", "id": "1"}},
            {"fullUrl": "https://x/Patient/2", "resource": {"resourceType": "Patient", "id": "2"}}
        ]});
        let index = BundleIndex::new(&bundle).unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!(
            index.resolve("https://x/Patient/2"),
            Some((ResourceType::Patient, "2"))
        );
        assert!(BundleIndex::new(&json!({"resourceType": "Patient"})).is_err());
    }
}
