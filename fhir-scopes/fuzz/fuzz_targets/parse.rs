//! Fuzzes the scope parsers: nothing panics, a strict parse prints back exactly as written,
//! the normal form is stable and decides like the original.

#![no_main]

use fhir_scopes::{
    Context, Interaction, ParseOptions, Query, Request, ResourceType, RestRequest, ScopeSet,
};
use libfuzzer_sys::fuzz_target;

const REQUESTS: [(Interaction, Option<ResourceType>); 5] = [
    (Interaction::Read, Some(ResourceType::Observation)),
    (Interaction::SearchType, Some(ResourceType::Patient)),
    (Interaction::ConditionalUpdate, Some(ResourceType::Condition)),
    (Interaction::SearchSystem, None),
    (Interaction::Delete, Some(ResourceType::Observation)),
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let experimental = ParseOptions::default().experimental(true);
    for options in [ParseOptions::default(), experimental.clone()] {
        if let Ok(set) = ScopeSet::parse_with(text, &options) {
            assert_eq!(set.to_string(), text);
            let normalized = set.normalized();
            assert_eq!(normalized.normalized(), normalized);
            let reparsed = ScopeSet::parse_with(&normalized.to_string(), &experimental);
            assert_eq!(reparsed.as_ref(), Ok(&normalized));
            for context in [Context::System, Context::User { patient: None }, Context::User { patient: Some("1") }] {
                for (interaction, resource_type) in REQUESTS {
                    let request = Request::new(context, interaction, resource_type);
                    assert_eq!(
                        set.decide(&request).is_permit(),
                        normalized.decide(&request).is_permit(),
                        "{set} vs {normalized}"
                    );
                }
            }
        }
        let lenient = ScopeSet::parse_lenient_with(text, &options);
        let words = text.split_ascii_whitespace().count();
        assert_eq!(lenient.scopes.len() + lenient.rejected.len(), words);
    }
    let _ = Query::parse(text);
    let _ = RestRequest::parse("GET", text);
    let _ = RestRequest::parse("POST", text);
});
