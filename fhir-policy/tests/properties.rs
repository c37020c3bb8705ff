//! Properties: the indexed engine decides as a naive linear model of the same policy does;
//! policies round-trip through JSON; no request or resource makes deciding panic.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers and model code: a panic is a failed test"
)]

use std::collections::BTreeSet;

use fhir_policy::{
    Action, AttributeValue, Client, Effect, Engine, Environment, Policy, Request, Scopes, Subject,
};
use fhir_scopes::{Context, Interaction, ResourceType};
use proptest::prelude::*;
use serde_json::{Value, json};

const TYPES: [&str; 3] = ["Patient", "Observation", "Condition"];
const INTERACTIONS: [&str; 4] = ["read", "search-type", "create", "delete"];
const IDS: [&str; 3] = ["Practitioner/a", "Practitioner/b", "Practitioner/c"];

#[derive(Clone, Debug)]
enum When {
    Always,
    Department(&'static str),
    NotDepartment(&'static str),
}

#[derive(Clone, Debug)]
struct ModelRule {
    deny: bool,
    /// `None`: `*`.
    types: Option<Vec<usize>>,
    interactions: Vec<usize>,
    roles: Vec<usize>,
    ids: Vec<usize>,
    when: When,
}

#[derive(Clone, Debug)]
struct Model {
    /// `inherits[i]`: the roles role i inherits (all lower-numbered).
    inherits: Vec<Vec<usize>>,
    rules: Vec<ModelRule>,
}

#[derive(Clone, Debug)]
struct Ask {
    roles: Vec<usize>,
    id: usize,
    department: Option<&'static str>,
    interaction: usize,
    resource_type: usize,
}

fn subset(max: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::btree_set(0..max, 0..=max).prop_map(|s| s.into_iter().collect())
}

fn model() -> impl Strategy<Value = Model> {
    let inherits = (subset(1), subset(2), subset(3)).prop_map(|(a, b, c)| vec![vec![], a, b, c]);
    let when = prop_oneof![
        Just(When::Always),
        prop_oneof![Just("x"), Just("y")].prop_map(When::Department),
        prop_oneof![Just("x"), Just("y")].prop_map(When::NotDepartment),
    ];
    let rule = (
        any::<bool>(),
        prop_oneof![
            Just(None),
            proptest::collection::btree_set(0..3usize, 1..=3)
                .prop_map(|s| Some(s.into_iter().collect()))
        ],
        proptest::collection::btree_set(0..4usize, 1..=4)
            .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
        subset(4),
        prop_oneof![3 => Just(vec![]), 1 => subset(3)],
        when,
    )
        .prop_map(|(deny, types, interactions, roles, ids, when)| ModelRule {
            deny,
            types,
            interactions,
            roles,
            ids,
            when,
        });
    (inherits, proptest::collection::vec(rule, 0..12))
        .prop_map(|(inherits, rules)| Model { inherits, rules })
}

fn ask() -> impl Strategy<Value = Ask> {
    (
        proptest::collection::btree_set(0..5usize, 0..3).prop_map(|s| s.into_iter().collect()),
        0..3usize,
        prop_oneof![Just(None), Just(Some("x")), Just(Some("y"))],
        0..4usize,
        0..3usize,
    )
        .prop_map(|(roles, id, department, interaction, resource_type)| Ask {
            roles,
            id,
            department,
            interaction,
            resource_type,
        })
}

impl Model {
    fn document(&self) -> Value {
        let roles: serde_json::Map<String, Value> = self
            .inherits
            .iter()
            .enumerate()
            .map(|(i, inherits)| {
                let names: Vec<String> = inherits.iter().map(|j| format!("r{j}")).collect();
                (format!("r{i}"), json!({"inherits": names}))
            })
            .collect();
        let rules: Vec<Value> = self
            .rules
            .iter()
            .enumerate()
            .map(|(n, rule)| {
                let types: Vec<&str> = match &rule.types {
                    None => vec!["*"],
                    Some(types) => types.iter().map(|t| TYPES[*t]).collect(),
                };
                let mut value = json!({
                    "id": format!("rule{n}"),
                    "effect": if rule.deny { "deny" } else { "permit" },
                    "target": {"resourceTypes": types, "interactions": rule.interactions.iter().map(|i| INTERACTIONS[*i]).collect::<Vec<_>>()},
                    "subject": {"roles": rule.roles.iter().map(|r| format!("r{r}")).collect::<Vec<_>>(),
                                "ids": rule.ids.iter().map(|i| IDS[*i]).collect::<Vec<_>>()}
                });
                let equals = |d: &str| json!({"equals": [{"subject": "department"}, d]});
                match rule.when {
                    When::Always => {}
                    When::Department(d) => value["when"] = equals(d),
                    When::NotDepartment(d) => value["when"] = json!({"not": equals(d)}),
                }
                value
            })
            .collect();
        json!({"fhirPolicy": "1", "id": "model", "attributes": {"department": "string"}, "roles": roles, "rules": rules})
    }

    fn closure(&self, role: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let mut stack = vec![role];
        while let Some(r) = stack.pop() {
            if r < self.inherits.len() && out.insert(r) {
                stack.extend(self.inherits[r].iter().copied());
            }
        }
        out
    }

    /// (effect, the permit rules that apply, the deny rules that apply).
    fn decide(&self, ask: &Ask) -> (Effect, BTreeSet<String>, BTreeSet<String>) {
        let held: BTreeSet<usize> = ask.roles.iter().flat_map(|r| self.closure(*r)).collect();
        let (mut permits, mut denies) = (BTreeSet::new(), BTreeSet::new());
        for (n, rule) in self.rules.iter().enumerate() {
            let covers = rule.interactions.contains(&ask.interaction)
                && rule
                    .types
                    .as_ref()
                    .is_none_or(|t| t.contains(&ask.resource_type));
            let subject = (rule.roles.is_empty() && rule.ids.is_empty())
                || rule.roles.iter().any(|r| held.contains(r))
                || rule.ids.contains(&ask.id);
            // Some(true), Some(false), or None for a missing attribute.
            let truth = match rule.when {
                When::Always => Some(true),
                When::Department(d) => ask.department.map(|have| have == d),
                When::NotDepartment(d) => ask.department.map(|have| have != d),
            };
            if !(covers && subject) {
                continue;
            }
            if rule.deny && truth != Some(false) {
                denies.insert(format!("rule{n}"));
            } else if !rule.deny && truth == Some(true) {
                permits.insert(format!("rule{n}"));
            }
        }
        let effect = if !denies.is_empty() || permits.is_empty() {
            Effect::Deny
        } else {
            Effect::Permit
        };
        (effect, permits, denies)
    }
}

fn interaction(i: usize) -> Interaction {
    [
        Interaction::Read,
        Interaction::SearchType,
        Interaction::Create,
        Interaction::Delete,
    ][i]
}

fn resource_type(t: usize) -> ResourceType {
    [
        ResourceType::Patient,
        ResourceType::Observation,
        ResourceType::Condition,
    ][t]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_indexed_engine_decides_as_the_linear_model(model in model(), asks in proptest::collection::vec(ask(), 1..8)) {
        let engine = Engine::new(&Policy::parse(&model.document().to_string()).unwrap()).unwrap();
        let (client, environment) = (Client::new("app"), Environment::default());
        for ask in &asks {
            let mut subject = Subject::new(IDS[ask.id]);
            subject.roles = ask.roles.iter().map(|r| format!("r{r}")).collect();
            if let Some(d) = ask.department {
                subject = subject.with_attribute("department", AttributeValue::String(d.to_owned()));
            }
            let request = Request::new(&subject, &client, Context::User { patient: None },
                Action::new(interaction(ask.interaction), resource_type(ask.resource_type)), &environment)
.with_scopes(Scopes::PolicyOnly);
            let decision = engine.decide(&request);
            let (effect, permits, denies) = model.decide(ask);
            prop_assert_eq!(decision.effect(), effect, "{:?}", ask);
            let rules: BTreeSet<String> = decision.rules().map(str::to_owned).collect();
            if effect == Effect::Permit {
                prop_assert_eq!(rules, permits);
            } else if !denies.is_empty() {
                prop_assert_eq!(rules.len(), 1);
                prop_assert!(rules.is_subset(&denies));
            } else {
                prop_assert!(rules.is_empty());
            }
        }
    }

    #[test]
    fn policies_round_trip_through_json(model in model()) {
        let policy = Policy::parse(&model.document().to_string()).unwrap();
        let again = Policy::parse(&serde_json::to_string(&policy).unwrap()).unwrap();
        prop_assert_eq!(policy, again);
    }

    #[test]
    fn no_resource_makes_deciding_panic(resource in json_value(4), interaction in 0..4usize, t in 0..3usize) {
        let engine = hospital();
        let subject = Subject::new("Practitioner/n")
            .with_role("nurse")
            .with_role("doctor")
            .with_attribute("department", AttributeValue::String("Organization/pediatrics".into()))
            .with_attribute("assignedPatients", AttributeValue::StringSet(vec!["p1".into()]))
            .with_attribute("departmentPatients", AttributeValue::StringSet(vec!["p1".into()]));
        let client = Client::new("app");
        let environment = Environment { time: Some("2026-12-03T10:00:00".parse().unwrap()), ..Environment::default() };
        let mut request = Request::new(&subject, &client, Context::User { patient: Some("p1") },
            Action::new(self::interaction(interaction), resource_type(t)), &environment)
.with_scopes(Scopes::PolicyOnly);
        request.resource = Some(&resource);
        let decision = engine.decide(&request);
        let _ = decision.to_json();
    }

    #[test]
    fn no_text_makes_loading_panic(text in "\\PC{0,200}") {
        let _ = Policy::parse(&text).and_then(|p| Engine::new(&p));
        let _ = fhir_policy::testing::RequestDocument::parse(&text);
    }
}

fn hospital() -> Engine {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/hospital/policy.json"
    ))
    .unwrap();
    Engine::new(&Policy::parse(&text).unwrap()).unwrap()
}

/// JSON shaped like FHIR resources: the keys conditions read, with values of any type.
fn json_value(depth: u32) -> impl Strategy<Value = Value> {
    let keys = prop_oneof![
        Just("resourceType"),
        Just("id"),
        Just("subject"),
        Just("reference"),
        Just("birthDate"),
        Just("managingOrganization"),
        Just("coding"),
        Just("system"),
        Just("code"),
        Just("category"),
        Just("meta"),
        Just("security"),
        Just("value"),
        Just("performer"),
        Just("patient"),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("Observation".to_owned()),
            Just("Patient".to_owned()),
            Just("Patient/p1".to_owned()),
            Just("2010-01-01".to_owned()),
            Just("Organization/pediatrics".to_owned()),
            "\\PC{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(keys.clone(), inner, 0..6).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// Whether a Patient matches a narrowing over `organization` and `birthdate` (the
/// parameters the hospital's nurse rule narrows by).
fn matches(narrowing: &fhir_policy::Narrowing, patient: &Value) -> bool {
    use fhir_policy::Narrowing as N;
    match narrowing {
        N::All(items) => items.iter().all(|n| matches(n, patient)),
        N::Any(items) => items.iter().any(|n| matches(n, patient)),
        N::Nothing => false,
        N::Match { parameter, values } => values.iter().any(|value| match parameter.as_str() {
            "organization" => patient["managingOrganization"]["reference"] == value.as_str(),
            "birthdate" => {
                let bound = value.strip_prefix("gt").unwrap();
                patient["birthDate"].as_str().is_some_and(|b| b > bound)
            }
            other => panic!("unexpected parameter {other}"),
        }),
    }
}

fn day() -> impl Strategy<Value = String> {
    (1990..2027i32, 1..13u32, 1..29u32).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Search narrowing admits the patients the per-resource decision permits, and no
    /// other, for the hospital's nurse rule (department and, in Pediatrics, age under 18).
    #[test]
    fn narrowing_admits_exactly_what_decisions_permit(
        born in day(),
        today in day(),
        ward in prop_oneof![Just("Organization/pediatrics"), Just("Organization/cardiology")],
        department in prop_oneof![Just("Organization/pediatrics"), Just("Organization/cardiology")],
    ) {
        let engine = hospital();
        let nurse = Subject::new("Practitioner/n")
            .with_role("nurse")
            .with_attribute("department", AttributeValue::String(department.to_owned()));
        let client = Client::new("app");
        let environment = Environment {
            time: Some(format!("{today}T12:00:00").parse().unwrap()),
            ..Environment::default()
        };
        let search = Request::new(&nurse, &client, Context::User { patient: None },
            Action::new(Interaction::SearchType, ResourceType::Patient), &environment)
.with_scopes(Scopes::PolicyOnly);
        let decision = engine.decide(&search);
        prop_assert!(decision.is_permit());
        let narrowing = decision.obligations().search.unwrap();
        let patient = json!({"resourceType": "Patient", "id": "x", "birthDate": born,
            "managingOrganization": {"reference": ward}});
        let each = engine.decide(&Request { resource: Some(&patient), ..search });
        let admitted = matches(&narrowing, &patient);
        // Never narrower than the decisions; exact, except that a birth after today has no
        // age (the per-resource check denies it).
        if each.is_permit() {
            prop_assert!(admitted, "{}", narrowing);
        } else if born <= today {
            prop_assert!(!admitted, "{}", narrowing);
        }
    }
}
