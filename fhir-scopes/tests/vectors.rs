//! The specification's test vectors (`tests/vectors/*.json`, see its README): every case is
//! run, and all failures are reported together.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a failed test"
)]

use std::path::Path;

use fhir_scopes::{Context, Decision, Error, RestRequest, Scope, ScopeSet, Syntax};
use serde_json::{Value, json};

fn load(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn cases<'a>(file: &'a Value, key: &str) -> &'a Vec<Value> {
    file[key]
        .as_array()
        .unwrap_or_else(|| panic!("no `{key}` array"))
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
}

/// Fails with every collected mismatch, or passes when there are none.
fn report(name: &str, total: usize, failures: Vec<String>) {
    assert!(total > 0, "{name}: no cases");
    assert!(
        failures.is_empty(),
        "{name}: {} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The structure of a parsed scope, in the vectors' JSON shape.
fn describe(scope: &Scope) -> Value {
    match scope {
        Scope::Resource(r) => {
            let syntax = match r.syntax() {
                Syntax::V2 => "v2",
                Syntax::V1Read => "v1-read",
                Syntax::V1Write => "v1-write",
                Syntax::V1All => "v1-all",
            };
            let parameters: Vec<Value> = r
                .query()
                .map(|q| {
                    q.parameters()
                        .map(|p| json!({"name": p.name(), "values": p.values().map(|v| v.as_str()).collect::<Vec<_>>()}))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "kind": "resource",
                "level": r.level().as_str(),
                "resource_type": r.resource_type().map_or("*", |t| t.as_str()),
                "permissions": r.permissions().to_string(),
                "syntax": syntax,
                "parameters": parameters,
            })
        }
        Scope::Launch(l) => json!({
            "kind": "launch",
            "resource_type": l.resource_type().map(|t| t.as_str()),
            "role": l.role(),
        }),
        Scope::Identity(identity, _) => json!({"kind": "identity", "identity": identity.as_str()}),
        Scope::Extension(_) => json!({"kind": "extension"}),
        _ => json!({"kind": "other"}),
    }
}

#[test]
fn valid_scopes_parse_to_their_structure_and_round_trip() {
    let file = load("valid.json");
    let cases = cases(&file, "cases");
    let mut failures = Vec::new();
    for case in cases {
        let input = text(&case["input"]);
        let scope = match Scope::parse(input) {
            Ok(scope) => scope,
            Err(error) => {
                failures.push(format!("{input}: rejected: {error}"));
                continue;
            }
        };
        if scope.to_string() != input {
            failures.push(format!("{input}: prints as `{scope}`"));
        }
        let mut actual = describe(&scope);
        let mut expected = case["expect"].clone();
        let normalized = expected
            .as_object_mut()
            .and_then(|o| o.remove("normalized"));
        if actual["kind"] == "resource" && expected.get("parameters").is_none() {
            actual.as_object_mut().unwrap().remove("parameters");
        }
        if actual != expected {
            failures.push(format!("{input}: expected {expected}, got {actual}"));
        }
        if let Some(normalized) = normalized {
            let set: ScopeSet = [scope].into_iter().collect();
            let actual = set.normalized().to_string();
            if actual != text(&normalized) {
                failures.push(format!(
                    "{input}: normalizes to `{actual}`, expected `{normalized}`"
                ));
            }
        }
    }
    report("valid.json", cases.len(), failures);
}

#[test]
fn invalid_scopes_fail_with_the_expected_error() {
    let file = load("invalid.json");
    let cases = cases(&file, "cases");
    let mut failures = Vec::new();
    for case in cases {
        let input = text(&case["input"]);
        match ScopeSet::parse(input) {
            Ok(set) => failures.push(format!("{input:?}: accepted as `{set}`")),
            Err(error) => {
                if error.code() != text(&case["error"]) {
                    failures.push(format!(
                        "{input:?}: expected {}, got {} ({error})",
                        case["error"],
                        error.code()
                    ));
                }
                let position = match &error {
                    Error::Scope { position, .. } | Error::EmptyScope { position } => {
                        Some(*position)
                    }
                    _ => None,
                };
                if let Some(expected) = case.get("position").and_then(Value::as_u64) {
                    if position != Some(expected as usize) {
                        failures.push(format!(
                            "{input:?}: expected position {expected}, got {position:?} ({error})"
                        ));
                    }
                }
                // Lenient parsing sets the scope aside and never panics.
                let lenient = ScopeSet::parse_lenient(input);
                if lenient.rejected.is_empty() && error.code() != "empty_scope" {
                    failures.push(format!("{input:?}: lenient parse rejected nothing"));
                }
            }
        }
    }
    report("invalid.json", cases.len(), failures);
}

#[test]
fn normal_forms() {
    let file = load("normal-forms.json");
    let cases = cases(&file, "cases");
    let mut failures = Vec::new();
    for case in cases {
        let input = text(&case["input"]);
        let set = match ScopeSet::parse(input) {
            Ok(set) => set,
            Err(error) => {
                failures.push(format!("{input}: rejected: {error}"));
                continue;
            }
        };
        let normalized = set.normalized();
        if normalized.to_string() != text(&case["normalized"]) {
            failures.push(format!(
                "{input}: expected `{}`, got `{normalized}`",
                text(&case["normalized"])
            ));
        }
        if normalized.normalized() != normalized {
            failures.push(format!("{input}: normal form is not idempotent"));
        }
    }
    report("normal-forms.json", cases.len(), failures);
}

fn context<'a>(case: &'a Value) -> Context<'a> {
    let patient = case.get("patient").and_then(Value::as_str);
    match case.get("context").and_then(Value::as_str) {
        Some("system") => Context::System,
        Some("patient") => Context::User {
            patient: Some(patient.expect("context patient needs a patient")),
        },
        _ => Context::User { patient },
    }
}

#[test]
fn decisions() {
    let file = load("decisions.json");
    let cases = cases(&file, "cases");
    let mut failures = Vec::new();
    for case in cases {
        let scopes = text(&case["scopes"]);
        let request = text(&case["request"]);
        let label = format!("[{scopes}] {request} ({})", case["context"]);
        let set = ScopeSet::parse(scopes).unwrap_or_else(|e| panic!("{label}: {e}"));
        let (method, target) = request
            .split_once(' ')
            .unwrap_or_else(|| panic!("{label}: no method"));
        let rest = RestRequest::parse(method, target).unwrap_or_else(|e| panic!("{label}: {e}"));
        let decision = set.decide(&rest.request(context(case)));
        let actual = match &decision {
            Decision::Permit(permit) => json!({
                "expect": "permit",
                "constraints": permit.clauses().iter().map(|clause| {
                    clause.grants().iter().map(|g| json!({
                        "patient": g.patient(),
                        "query": g.scope().query().map(|q| q.as_str()),
                    })).collect::<Vec<_>>()
                }).collect::<Vec<_>>(),
            }),
            Decision::Deny(denial) => json!({"expect": "deny", "reason": denial.reason.code()}),
        };
        let expected = match text(&case["expect"]) {
            "permit" => {
                json!({"expect": "permit", "constraints": case.get("constraints").cloned().unwrap_or(json!([]))})
            }
            _ => json!({"expect": "deny", "reason": case["reason"]}),
        };
        if actual != expected {
            failures.push(format!("{label}: expected {expected}, got {actual}"));
        }
        // A set and its normal form decide alike.
        let normalized = set.normalized();
        if normalized.decide(&rest.request(context(case))).is_permit() != decision.is_permit() {
            failures.push(format!(
                "{label}: the normal form `{normalized}` decides differently"
            ));
        }
    }
    report("decisions.json", cases.len(), failures);
}

#[test]
fn negotiation_and_refresh() {
    let file = load("negotiation.json");
    let parse = |v: &Value| ScopeSet::parse(text(v)).unwrap_or_else(|e| panic!("{v}: {e}"));
    let mut failures = Vec::new();
    let negotiation = cases(&file, "negotiation");
    for case in negotiation {
        let user = case.get("user").filter(|u| !u.is_null()).map(parse);
        let granted = ScopeSet::negotiate(
            &parse(&case["requested"]),
            &parse(&case["client"]),
            user.as_ref(),
        );
        if granted.to_string() != text(&case["granted"]) {
            failures.push(format!("{case}: granted `{granted}`"));
        }
    }
    let refresh = cases(&file, "refresh");
    for case in refresh {
        let original = parse(&case["original"]);
        let requested = case.get("refresh").filter(|r| !r.is_null()).map(parse);
        let outcome = ScopeSet::refresh(&original, requested.as_ref());
        let ok = match (&outcome, case.get("result"), case.get("error")) {
            (Ok(set), Some(result), _) => set.to_string() == text(result),
            (Err(error), _, Some(code)) => error.code() == text(code),
            _ => false,
        };
        if !ok {
            failures.push(format!("{case}: got {outcome:?}"));
        }
    }
    report(
        "negotiation.json",
        negotiation.len() + refresh.len(),
        failures,
    );
}
