//! Properties of the parsers (proptest): no input makes them panic, every refusal is a client
//! error, and what the server writes back (ids in URLs, paging links) parses to what it came
//! from.

use axum::http::Method;
use fhir_compartment::{Compartments, ResourceType, ServerBases};
use proptest::prelude::*;

use super::date::Range;
use super::request::{self, Body, Context, Interaction, RawRequest, Target};
use super::search::SearchQuery;

fn any_method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::PATCH),
        Just(Method::DELETE),
        Just(Method::HEAD),
    ]
}

/// Paths made of FHIR-ish pieces, so the parser gets past its first checks often.
fn fhir_path() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("Patient".to_owned()),
        Just("Observation".to_owned()),
        Just("_history".to_owned()),
        Just("_search".to_owned()),
        Just("$everything".to_owned()),
        Just("metadata".to_owned()),
        "[A-Za-z0-9.\\-]{1,8}",
        ".{0,6}",
    ];
    proptest::collection::vec(piece, 0..5).prop_map(|p| p.join("/"))
}

fn fhir_query() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("code".to_owned()),
        Just("date".to_owned()),
        Just("subject".to_owned()),
        Just("name:exact".to_owned()),
        Just("status:not".to_owned()),
        Just("_count".to_owned()),
        Just("_include".to_owned()),
        Just("_revinclude:iterate".to_owned()),
        Just("_sort".to_owned()),
        Just("_elements".to_owned()),
        Just("subject:Patient.name".to_owned()),
        Just("subject.organization.name".to_owned()),
        Just("_has:Observation:patient:code".to_owned()),
        Just("_has:Observation:subject:_has:Provenance:target:agent".to_owned()),
        "[a-z_:\\-.]{1,10}",
        "_has:[A-Za-z:.]{0,20}",
    ];
    let value = prop_oneof![
        "[a-z0-9|,.:/\\\\\\-]{0,12}",
        "(eq|ne|gt|lt|ge|le|sa|eb|ap)?[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?",
        ".{0,8}",
    ];
    proptest::collection::vec((name, value), 0..4).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn parse(
    method: &Method,
    path: &str,
    query: &str,
    body: Body<'_>,
) -> Result<Interaction, super::outcome::Error> {
    let bases = ServerBases::new(["http://example.org/fhir"]).unwrap();
    let compartments = Compartments::r4();
    request::parse(
        &RawRequest {
            method,
            path,
            query,
            body,
            content_type: None,
            if_match: None,
            if_none_exist: None,
        },
        Context {
            bases: &bases,
            compartments: &compartments,
        },
    )
}

proptest! {
    #[test]
    fn the_request_parser_never_panics(
        method in any_method(),
        path in fhir_path(),
        query in fhir_query(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let body = if body.is_empty() { Body::Empty } else { Body::Bytes(&body) };
        if let Err(error) = parse(&method, &path, &query, body) {
            prop_assert!(error.status().is_client_error(), "{error:?}");
        }
    }

    #[test]
    fn reads_parse_to_their_target(type_index in 0..146usize, id in "[A-Za-z0-9.\\-]{1,64}") {
        let resource_type = ResourceType::all()[type_index];
        let parsed = parse(&Method::GET, &format!("{resource_type}/{id}"), "", Body::Empty).unwrap();
        prop_assert_eq!(parsed, Interaction::Read(Target { resource_type, id }));
    }

    #[test]
    fn paging_links_repeat_the_search(query in fhir_query()) {
        let params = request::query_params(&query).unwrap();
        let bases = ServerBases::default();
        if let Ok(parsed) = SearchQuery::parse(ResourceType::Observation, &params, &bases) {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (name, value) in &parsed.params {
                form.append_pair(name, value);
            }
            let again = SearchQuery::parse(ResourceType::Observation, &request::query_params(&form.finish()).unwrap(), &bases).unwrap();
            prop_assert_eq!(again, SearchQuery { offset: 0, ..parsed });
        }
    }

    #[test]
    fn date_ranges_never_panic_and_are_ordered(text in ".{0,40}") {
        if let Some(range) = Range::parse(&text) {
            prop_assert!(range.low < range.high);
        }
    }

    #[test]
    fn generated_dates_parse(
        year in 1900i32..2100, month in 1u32..=12, day in 1u32..=28,
        hour in 0u32..24, minute in 0u32..60, second in 0u32..60, zone in prop_oneof![Just("Z"), Just("+02:00"), Just("-05:30")],
    ) {
        let day_range = Range::parse(&format!("{year:04}-{month:02}-{day:02}")).unwrap();
        let instant = Range::parse(&format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")).unwrap();
        prop_assert!(day_range.low <= instant.low && instant.high <= day_range.high);
        prop_assert_eq!(instant.high - instant.low, 1000);
        let zoned = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{zone}");
        prop_assert!(Range::parse(&zoned).is_some(), "{}", zoned);
    }
}
