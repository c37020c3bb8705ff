//! Properties of what the authorization pages parse and print (proptest): no input panics,
//! everything shown is escaped, a cookie header finds only our session, and a patient user
//! never gets another patient's context.

use fhir_scopes::{Scope, ScopeSet};
use proptest::prelude::*;
use smart_token::LaunchContext;

use super::consent::{PatientContext, patient_for, ticked};
use super::pages::escape;
use super::scopes::describe;
use super::session::{COOKIE, cookie_value};

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Scope texts, mostly valid.
fn scope_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(patient|user|system)/(\\*|Observation|Patient|Condition)\\.(c?r?u?d?s?|read|write|\\*)(\\?[a-z]{1,8}=[a-z|:/0-9]{1,12})?",
        Just("launch".to_owned()),
        Just("launch/patient".to_owned()),
        Just("launch/encounter".to_owned()),
        Just("openid".to_owned()),
        Just("fhirUser".to_owned()),
        Just("offline_access".to_owned()),
        Just("online_access".to_owned()),
        ".{0,20}",
    ]
}

fn form_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("scope".to_owned()),
        Just("patient".to_owned()),
        Just("tx".to_owned()),
        ".{0,6}",
    ];
    proptest::collection::vec((name, scope_text()), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn escaped_text_has_no_markup_and_round_trips(text in ".{0,80}") {
        let escaped = escape(&text);
        prop_assert!(!escaped.contains(['<', '>', '"', '\'']), "{escaped}");
        prop_assert_eq!(unescape(&escaped), text);
    }

    #[test]
    fn a_cookie_header_yields_only_our_session(
        others in proptest::collection::vec(("[a-z_]{1,24}", "[^;]{0,20}"), 0..5),
        id in "[0-9a-f]{64}",
        noise in ".{0,60}",
    ) {
        let _ = cookie_value(Some(&noise));
        let mut pairs: Vec<String> = others
            .iter()
            .filter(|(name, _)| name != COOKIE)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let without = pairs.join("; ");
        prop_assert_eq!(cookie_value(Some(&without)), None);
        pairs.insert(pairs.len() / 2, format!("{COOKIE}={id}"));
        let with = pairs.join("; ");
        prop_assert_eq!(cookie_value(Some(&with)), Some(id.as_str()));
    }

    #[test]
    fn consent_forms_never_panic_and_a_patient_keeps_their_own_context(
        pairs in form_pairs(),
        own in proptest::option::of("[a-z0-9-]{1,12}"),
        launched in proptest::option::of("[a-z0-9-]{1,12}"),
    ) {
        let Ok(granted) = ticked(&pairs) else {
            return Ok(());
        };
        for scope in granted.iter() {
            prop_assert!(!describe(scope).is_empty());
        }
        let launch = LaunchContext { patient: launched.clone(), ..LaunchContext::default() };
        let context = patient_for(own.as_deref(), Some(&launch), &granted);
        if let Some(own) = &own {
            prop_assert!(
                context == PatientContext::Fixed(own.clone()) || context == PatientContext::Conflict,
                "{context:?}"
            );
        }
        if context == PatientContext::Conflict {
            prop_assert!(own.is_some() && launched.is_some() && own != launched);
        }
    }

    #[test]
    fn every_scope_has_plain_words(text in scope_text()) {
        if let Ok(scope) = Scope::parse(&text) {
            let words = describe(&scope);
            prop_assert!(!words.is_empty());
            prop_assert!(!ScopeSet::from_iter([scope]).is_empty());
        }
    }
}
