//! `fhir-access scopes`: parse a scope string, or check a FHIR REST request against one.

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};
use fhir_scopes::{Context, Decision, Error, ResourceScope, RestRequest, Scope, ScopeSet, Syntax};
use serde_json::{Map, Value, json};

use super::{Outcome, print_json};

/// SMART on FHIR scopes.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse a space-separated scope string and print each scope as JSON.
    ///
    /// Exits 0 when every scope is valid, 1 when any is rejected.
    Parse {
        /// The scope string, for example "launch/patient patient/Observation.rs".
        scopes: String,
    },
    /// Decide a FHIR REST request against a scope string.
    ///
    /// Exits 0 on permit, 1 on deny.
    Check {
        /// The token's scopes.
        #[arg(long)]
        scopes: String,
        /// The patient in launch context.
        #[arg(long)]
        patient: Option<String>,
        /// Whom the token acts for. Defaults to `patient` when --patient is given, else `user`.
        #[arg(long, value_enum)]
        context: Option<ContextArg>,
        /// The HTTP method: GET, POST, PUT, PATCH, DELETE or HEAD.
        method: String,
        /// The path and query, relative to the FHIR base, for example "Observation?category=laboratory".
        target: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ContextArg {
    /// A user, with a patient in launch context (needs --patient).
    Patient,
    /// A user (--patient optional).
    User,
    /// A backend service with no user.
    System,
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Parse { scopes } => parse(&scopes),
        Command::Check {
            scopes,
            patient,
            context,
            method,
            target,
        } => check(&scopes, patient.as_deref(), context, &method, &target),
    }
}

fn parse(text: &str) -> anyhow::Result<Outcome> {
    let mut entries = Vec::new();
    let mut valid = Vec::new();
    let mut position = 0;
    for part in text.split(' ') {
        let parsed = if part.is_empty() {
            Err(Error::EmptyScope { position })
        } else {
            Scope::parse(part)
        };
        position += part.len() + 1;
        match parsed {
            Ok(scope) => {
                entries.push(describe(part, &scope));
                valid.push(scope);
            }
            // A single empty string is the empty set, not a rejected scope.
            Err(_) if text.is_empty() => {}
            Err(error) => entries.push(json!({
                "raw": part,
                "error": error.to_string(),
                "code": error.code(),
            })),
        }
    }
    let rejected = entries.iter().any(|e| e.get("error").is_some());
    let set: ScopeSet = valid.into_iter().collect();
    print_json(&json!({
        "scopes": entries,
        "normalized": set.normalized().to_string(),
    }))?;
    Ok(if rejected {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

fn describe(raw: &str, scope: &Scope) -> Value {
    let normalized: ScopeSet = [scope.clone()].into_iter().collect();
    let normalized = normalized.normalized().to_string();
    match scope {
        Scope::Resource(resource) => json!({
            "raw": raw,
            "kind": "resource",
            "context": resource.level().as_str(),
            "resource_type": resource.resource_type().map_or("*", |t| t.as_str()),
            "permissions": resource.permissions().to_string(),
            "version": if resource.syntax() == Syntax::V2 { "v2" } else { "v1" },
            "parameters": parameters(resource),
            "normalized": normalized,
        }),
        Scope::Launch(launch) => json!({
            "raw": raw,
            "kind": "launch",
            "resource_type": launch.resource_type().map(|t| t.as_str()),
            "role": launch.role(),
            "normalized": normalized,
        }),
        Scope::Identity(identity, _) => json!({
            "raw": raw,
            "kind": "identity",
            "identity": identity.as_str(),
            "normalized": normalized,
        }),
        Scope::Extension(_) => json!({"raw": raw, "kind": "extension", "normalized": normalized}),
        _ => json!({"raw": raw, "kind": "other", "normalized": normalized}),
    }
}

fn parameters(resource: &ResourceScope) -> Value {
    let Some(query) = resource.query() else {
        return json!([]);
    };
    query
        .parameters()
        .map(|p| {
            json!({
                "name": p.name(),
                "values": p.values().map(|v| v.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn check(
    scopes: &str,
    patient: Option<&str>,
    context: Option<ContextArg>,
    method: &str,
    target: &str,
) -> anyhow::Result<Outcome> {
    let set = ScopeSet::parse(scopes).context("--scopes")?;
    let context = match (context, patient) {
        (Some(ContextArg::System), Some(_)) => bail!("--context system takes no --patient"),
        (Some(ContextArg::System), None) => Context::System,
        (Some(ContextArg::Patient), None) => bail!("--context patient needs --patient"),
        (_, patient) => Context::User { patient },
    };
    let rest = RestRequest::parse(method, target)?;
    let decision = set.decide(&rest.request(context));
    let mut output = Map::new();
    let verdict = if decision.is_permit() {
        "permit"
    } else {
        "deny"
    };
    output.insert("decision".into(), json!(verdict));
    output.insert("interaction".into(), json!(rest.interaction().as_str()));
    output.insert(
        "resource_type".into(),
        json!(rest.resource_type().map(|t| t.as_str())),
    );
    if let Some(operation) = rest.operation() {
        output.insert("operation".into(), json!(operation));
    }
    if let Some((owner, id)) = rest.compartment() {
        output.insert("compartment".into(), json!(format!("{owner}/{id}")));
    }
    let outcome = match &decision {
        Decision::Permit(permit) => {
            let constraints = permit
                .clauses()
                .iter()
                .map(|clause| {
                    json!({
                        "permission": clause.letter().to_string(),
                        "any_of": clause.grants().iter().map(|grant| json!({
                            "scope": grant.scope().to_string(),
                            "compartment": grant.patient().map(|id| format!("Patient/{id}")),
                            "parameters": grant.scope().query().map(|q| q.as_str()),
                            "satisfied_by_query": grant.is_satisfied_by_query(),
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            output.insert("constraints".into(), constraints);
            Outcome::Success
        }
        Decision::Deny(denial) => {
            output.insert("reason".into(), json!(denial.to_string()));
            output.insert("reason_code".into(), json!(denial.reason.code()));
            Outcome::Failure
        }
    };
    print_json(&Value::Object(output))?;
    Ok(outcome)
}
