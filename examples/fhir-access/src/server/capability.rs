//! The CapabilityStatement served at `metadata`: every R4 resource type with the interactions
//! and the search parameters this server supports, built once at start.

use fhir_compartment::ResourceType;
use fhir_compartment::path::{ParameterKind, search_parameters};
use serde_json::{Value, json};

/// What the statement says about the server.
#[derive(Debug, Clone)]
pub(crate) struct Capabilities<'a> {
    pub(crate) base_url: &'a str,
    pub(crate) update_create: bool,
    /// `rest.security`: where the SMART `oauth-uris` extension goes once the authorization
    /// server is configured (the security slice of issue 7 fills it); `None` leaves it out.
    pub(crate) security: Option<Value>,
}

impl Capabilities<'_> {
    /// Builds the statement.
    pub(crate) fn statement(&self) -> Value {
        let interactions = json!([
            {"code": "read"}, {"code": "vread"}, {"code": "update"}, {"code": "patch"},
            {"code": "delete"}, {"code": "history-instance"}, {"code": "history-type"},
            {"code": "create"}, {"code": "search-type"}
        ]);
        let resources: Vec<Value> = ResourceType::all()
            .iter()
            .map(|&t| {
                let params: Vec<Value> = search_parameters(t)
                    .filter_map(|p| {
                        let kind = match p.kind() {
                            ParameterKind::Number => "number",
                            ParameterKind::Date => "date",
                            ParameterKind::String => "string",
                            ParameterKind::Token => "token",
                            ParameterKind::Reference => "reference",
                            ParameterKind::Uri => "uri",
                            _ => return None,
                        };
                        Some(json!({"name": p.code(), "type": kind}))
                    })
                    .collect();
                let mut resource = json!({
                    "type": t.as_str(),
                    "interaction": interactions,
                    "versioning": "versioned-update",
                    "readHistory": true,
                    "updateCreate": self.update_create,
                    "conditionalCreate": true,
                    "conditionalUpdate": false,
                    "conditionalDelete": "not-supported",
                    "searchInclude": ["*"],
                    "searchRevInclude": ["*"],
                    "searchParam": params
                });
                if let (ResourceType::Patient, Some(map)) = (t, resource.as_object_mut()) {
                    map.insert("operation".to_owned(), json!([{
                        "name": "everything",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"
                    }]));
                }
                resource
            })
            .collect();
        let mut rest = json!({
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": "batch"}, {"code": "transaction"}]
        });
        if let (Some(security), Some(map)) = (&self.security, rest.as_object_mut()) {
            map.insert("security".to_owned(), security.clone());
        }
        json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-12-03",
            "kind": "instance",
            "software": {"name": "fhir-access", "version": env!("CARGO_PKG_VERSION")},
            "implementation": {"description": "fhir-access reference server", "url": self.base_url},
            "fhirVersion": fhir_compartment::FHIR_VERSION,
            "format": ["application/fhir+json", "json"],
            "patchFormat": ["application/json-patch+json"],
            "rest": [rest]
        })
    }
}
