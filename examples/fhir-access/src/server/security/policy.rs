//! The policy the server enforces: a file named in the configuration, or by default the
//! hospital example policy (`examples/policies/hospital`) with the server's patient
//! self-access rules (`examples/fhir-access/policy/patient-access.json`) merged in: the
//! hospital policy is about staff, and the demo patients must reach their own record.

use std::path::Path;

use anyhow::Context as _;
use fhir_compartment::Compartments;
use fhir_policy::{Engine, Policy};
use serde_json::Value;

const HOSPITAL: &str = include_str!("../../../../policies/hospital/policy.json");
const PATIENT_ACCESS: &str = include_str!("../../../policy/patient-access.json");

/// Compiles the policy of `path`, or the default one.
pub(crate) fn load(path: Option<&Path>, compartments: Compartments) -> anyhow::Result<Engine> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--policy `{}`", path.display()))?,
        None => default_text()?,
    };
    let policy = Policy::parse(&text).context("parsing the policy")?;
    Ok(Engine::new(&policy)
        .context("compiling the policy")?
        .with_compartments(compartments))
}

/// The hospital policy with the patient rules and role added.
fn default_text() -> anyhow::Result<String> {
    let mut hospital: Value = serde_json::from_str(HOSPITAL).context("the hospital policy")?;
    let addition: Value = serde_json::from_str(PATIENT_ACCESS).context("patient-access.json")?;
    if let (Some(roles), Some(extra)) = (
        hospital.get_mut("roles").and_then(Value::as_object_mut),
        addition.get("roles").and_then(Value::as_object),
    ) {
        roles.extend(extra.clone());
    }
    if let (Some(rules), Some(extra)) = (
        hospital.get_mut("rules").and_then(Value::as_array_mut),
        addition.get("rules").and_then(Value::as_array),
    ) {
        rules.extend(extra.iter().cloned());
    }
    Ok(hospital.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_compiles_with_the_patient_rules() {
        let engine = load(None, Compartments::r4()).unwrap();
        assert_eq!(engine.id(), "hospital");
        let hospital = Engine::new(&Policy::parse(HOSPITAL).unwrap()).unwrap();
        assert_eq!(engine.rule_count(), hospital.rule_count() + 5);
    }
}
