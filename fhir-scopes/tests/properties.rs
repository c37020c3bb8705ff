//! Properties, checked on generated input: round trips, normal forms that are idempotent and
//! decide exactly as the original, lenient parsing that keeps every valid scope, and no
//! input that makes any parser panic.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code: a panic is a failed test"
)]

use fhir_scopes::{
    Context, Decision, Interaction, Permissions, Query, Request, ResourceType, RestRequest, Scope,
    ScopeSet,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A valid resource scope, from a small vocabulary so that sets overlap often.
fn resource_scope() -> impl Strategy<Value = String> {
    let level = prop_oneof!["patient", "user", "system"];
    let resource = prop_oneof!["Observation", "Condition", "Patient", "\\*"];
    let v2 = proptest::sample::subsequence(vec!['c', 'r', 'u', 'd', 's'], 1..=5)
        .prop_map(|letters| letters.into_iter().collect::<String>());
    let parameter = (
        prop_oneof!["category", "status", "code"],
        proptest::collection::vec(
            prop_oneof![
                "a",
                "b",
                "laboratory",
                "http://x|y",
                "final",
                "a%2Cb",
                "c\\\\,d"
            ],
            1..=2,
        ),
    )
        .prop_map(|(name, values)| format!("{name}={}", values.join(",").replace('\\', "%5C")));
    let query = proptest::collection::vec(parameter, 1..=2).prop_map(|items| items.join("&"));
    let v2_scope = (
        level.clone(),
        resource.clone(),
        v2,
        proptest::option::of(query),
    )
        .prop_map(|(level, resource, letters, query)| match query {
            Some(query) => format!("{level}/{resource}.{letters}?{query}"),
            None => format!("{level}/{resource}.{letters}"),
        });
    let v1_scope = (level, resource, prop_oneof!["read", "write", "\\*"])
        .prop_map(|(level, resource, word)| format!("{level}/{resource}.{word}"));
    prop_oneof![4 => v2_scope, 1 => v1_scope]
}

/// Any valid scope.
fn scope() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => resource_scope(),
        1 => prop_oneof![
            Just("openid".to_owned()),
            Just("fhirUser".to_owned()),
            Just("profile".to_owned()),
            Just("offline_access".to_owned()),
            Just("online_access".to_owned()),
            Just("launch".to_owned()),
            Just("launch/patient".to_owned()),
            Just("launch/list?role=https://example.org/a".to_owned()),
            Just("__ext".to_owned()),
            Just("https://example.org/scope".to_owned()),
            Just("email".to_owned()),
            Just("http://smarthealthit.org/fhir/scopes/patient/*.rs".to_owned()),
        ],
    ]
}

fn scope_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(scope(), 0..8).prop_map(|scopes| scopes.join(" "))
}

/// Sets of overlapping granular scopes on one type, where merging and coverage happen often.
fn granular_set() -> impl Strategy<Value = String> {
    let values =
        proptest::collection::vec(prop_oneof!["a", "b", "laboratory", "http://x|y"], 1..=2)
            .prop_map(|v| v.join(","));
    let scope = (
        prop_oneof!["patient", "user"],
        prop_oneof!["r", "s", "rs"],
        values,
        proptest::option::of(prop_oneof!["final", "a"]),
    )
        .prop_map(|(level, letters, category, status)| match status {
            Some(status) => {
                format!("{level}/Observation.{letters}?category={category}&status={status}")
            }
            None => format!("{level}/Observation.{letters}?category={category}"),
        });
    proptest::collection::vec(scope, 1..6).prop_map(|scopes| scopes.join(" "))
}

fn context() -> impl Strategy<Value = Context<'static>> {
    prop_oneof![
        1 => Just(Context::System),
        1 => Just(Context::User { patient: None }),
        2 => Just(Context::User { patient: Some("1") }),
    ]
}

fn interaction() -> impl Strategy<Value = Interaction> {
    prop_oneof![
        Just(Interaction::Read),
        Just(Interaction::Vread),
        Just(Interaction::HistoryInstance),
        Just(Interaction::HistoryType),
        Just(Interaction::HistorySystem),
        Just(Interaction::SearchType),
        Just(Interaction::SearchSystem),
        Just(Interaction::Create),
        Just(Interaction::Update),
        Just(Interaction::Patch),
        Just(Interaction::Delete),
        Just(Interaction::ConditionalUpdate),
        Just(Interaction::ConditionalDelete),
        Just(Interaction::Operation(
            Permissions::READ | Permissions::SEARCH
        )),
    ]
}

fn resource() -> impl Strategy<Value = Value> {
    (
        prop_oneof![3 => Just("Observation"), 1 => Just("Condition")],
        prop_oneof![
            Just(json!({"code": "a"})),
            Just(json!({"code": "b"})),
            Just(json!({"code": "laboratory"})),
            Just(json!({"system": "http://x", "code": "y"})),
            Just(json!({"code": "c,d"})),
        ],
        prop_oneof!["final", "a", "amended"],
    )
        .prop_map(|(resource_type, coding, status)| {
            json!({
                "resourceType": resource_type,
                "status": status,
                "category": [{"coding": [coding]}],
                "code": {"coding": [{"code": "a"}]}
            })
        })
}

/// What a decision means for one resource: deny, or whether the permit admits it.
fn outcome(decision: &Decision<'_>, resource: &Value, in_compartment: bool) -> Option<bool> {
    decision
        .permit()
        .map(|permit| permit.admits(resource, |_| in_compartment))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn valid_scopes_round_trip(text in scope()) {
        let scope = Scope::parse(&text).unwrap();
        prop_assert_eq!(scope.to_string(), text.clone());
        prop_assert_eq!(Scope::parse(&scope.to_string()).unwrap(), scope);
    }

    #[test]
    fn scope_sets_round_trip(text in scope_string()) {
        let set = ScopeSet::parse(&text).unwrap();
        prop_assert_eq!(set.to_string(), text);
        prop_assert_eq!(ScopeSet::parse(&set.to_string()).unwrap(), set.clone());
        let json = serde_json::to_string(&set).unwrap();
        prop_assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), set);
    }

    #[test]
    fn normal_form_is_idempotent_and_round_trips(text in scope_string()) {
        let normalized = ScopeSet::parse(&text).unwrap().normalized();
        prop_assert_eq!(normalized.normalized(), normalized.clone());
        prop_assert_eq!(ScopeSet::parse(&normalized.to_string()).unwrap(), normalized);
    }

    #[test]
    fn normal_form_decides_like_the_original(
        text in prop_oneof![scope_string(), granular_set()],
        context in context(),
        interaction in interaction(),
        resource_type in prop_oneof![4 => Just(ResourceType::Observation), 1 => Just(ResourceType::Condition), 1 => Just(ResourceType::Patient)],
        resources in proptest::collection::vec((resource(), any::<bool>()), 1..10),
    ) {
        let set = ScopeSet::parse(&text).unwrap();
        let normalized = set.normalized();
        let resource_type = (!interaction.is_system_level()).then_some(resource_type);
        let request = Request::new(context, interaction, resource_type);
        let original = set.decide(&request);
        let normal = normalized.decide(&request);
        prop_assert_eq!(original.is_permit(), normal.is_permit(), "{} vs {}", set, normalized);
        if let (Some(a), Some(b)) = (original.permit(), normal.permit()) {
            prop_assert_eq!(a.is_unrestricted(), b.is_unrestricted(), "{} vs {}", set, normalized);
        }
        for (resource, in_compartment) in &resources {
            prop_assert_eq!(
                outcome(&original, resource, *in_compartment),
                outcome(&normal, resource, *in_compartment),
                "{} vs {} on {}", set, normalized, resource
            );
        }
    }

    #[test]
    fn coverage_agrees_with_decisions(
        have in scope_string(),
        want in resource_scope(),
        context in context(),
        interaction in interaction(),
        resources in proptest::collection::vec((resource(), any::<bool>()), 1..4),
    ) {
        // `want ∩ have` is covered by `have`, and whatever a covered set admits, the
        // covering set admits.
        let have = ScopeSet::parse(&have).unwrap();
        let narrowed = ScopeSet::parse(&want).unwrap().intersection(&have);
        prop_assert!(have.covers_all(&narrowed), "{} does not cover {}", have, narrowed);
        let resource_type = (!interaction.is_system_level()).then_some(ResourceType::Observation);
        let request = Request::new(context, interaction, resource_type);
        let wanted = narrowed.decide(&request);
        let held = have.decide(&request);
        for (resource, in_compartment) in &resources {
            if outcome(&wanted, resource, *in_compartment) == Some(true) {
                prop_assert_eq!(outcome(&held, resource, *in_compartment), Some(true), "{} covers {}", have, narrowed);
            }
        }
    }

    #[test]
    fn negotiation_never_grants_more_than_asked_or_allowed(
        requested in scope_string(),
        client in scope_string(),
    ) {
        let requested = ScopeSet::parse(&requested).unwrap();
        let client = ScopeSet::parse(&client).unwrap();
        let granted = ScopeSet::negotiate(&requested, &client, None);
        prop_assert!(requested.covers_all(&granted), "{} ⊄ requested {}", granted, requested);
        prop_assert!(client.covers_all(&granted), "{} ⊄ client {}", granted, client);
        prop_assert!(ScopeSet::refresh(&granted, Some(&granted)).is_ok());
    }

    #[test]
    fn lenient_parse_keeps_every_valid_scope(
        parts in proptest::collection::vec(prop_oneof![scope(), "[ -~]{0,30}"], 0..8),
    ) {
        let text = parts.join(" ");
        let lenient = ScopeSet::parse_lenient(&text);
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        let valid: Vec<Scope> = words.iter().filter_map(|w| Scope::parse(w).ok()).collect();
        prop_assert_eq!(lenient.scopes.iter().cloned().collect::<Vec<_>>(), valid.clone());
        prop_assert_eq!(lenient.rejected.len(), words.len() - valid.len());
    }

    #[test]
    fn no_input_panics(text in "\\PC{0,80}") {
        let _ = ScopeSet::parse(&text);
        let _ = ScopeSet::parse_lenient(&text);
        let _ = Query::parse(&text);
        let _ = RestRequest::parse("GET", &text);
        let _ = RestRequest::parse("PUT", &text);
    }

    #[test]
    fn no_scope_shaped_input_panics(text in "(patient|user|system|launch|http://smarthealthit.org/fhir/scopes/)[/.*?=&,|%A-Za-z0-9:_\\\\-]{0,40}") {
        if let Ok(set) = ScopeSet::parse(&text) {
            prop_assert_eq!(ScopeSet::parse(&set.to_string()).unwrap(), set.clone());
            let normalized = set.normalized();
            prop_assert_eq!(normalized.normalized(), normalized);
        }
        let _ = ScopeSet::parse_lenient(&text);
    }
}
