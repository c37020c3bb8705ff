//! Parsing a realistic token scope string and deciding a request, beside two baselines
//! measured in the same run: a straightforward regex per scope with captures, and the floor
//! of a bare `split_once` split that validates nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark code: a panic is a failed run"
)]

use std::collections::HashSet;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fhir_scopes::{Context, Interaction, Query, Request, ResourceType, ScopeSet};
use regex::Regex;

/// Ten scopes as a patient-facing app's token carries them: identity, launch, v1, v2 and
/// granular scopes with `system|code` tokens.
const TOKEN_SCOPES: &str = "launch/patient openid fhirUser offline_access patient/Patient.read \
patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory \
patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs \
patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item \
patient/MedicationRequest.rs user/Practitioner.read";

/// What the regex baseline extracts from a resource scope: as much structure as ours.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the fields are the baseline's output, read only by Debug"
)]
struct RegexScope {
    level: String,
    resource_type: String,
    permissions: String,
    parameters: Vec<(String, Vec<Token>)>,
}

/// A token value: optional system, code.
type Token = (Option<String>, String);

struct RegexParser {
    resource: Regex,
    context: Regex,
    types: HashSet<&'static str>,
}

impl RegexParser {
    fn new() -> RegexParser {
        RegexParser {
            resource: Regex::new(
                r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)(?:\?(.+))?$",
            )
            .unwrap(),
            context: Regex::new(
                r"^(?:launch(?:/[a-z]+)?|openid|fhirUser|profile|offline_access|online_access)$",
            )
            .unwrap(),
            types: ResourceType::ALL.iter().map(|t| t.as_str()).collect(),
        }
    }

    fn parse(&self, text: &str) -> Option<Vec<RegexScope>> {
        let mut scopes = Vec::new();
        for scope in text.split(' ') {
            if self.context.is_match(scope) {
                continue;
            }
            let captures = self.resource.captures(scope)?;
            let resource_type = captures.get(2)?.as_str();
            let permissions = captures.get(3)?.as_str();
            if (resource_type != "*" && !self.types.contains(resource_type))
                || permissions.is_empty()
            {
                return None;
            }
            let parameters = match captures.get(4) {
                None => Vec::new(),
                Some(query) => query
                    .as_str()
                    .split('&')
                    .map(|item| {
                        let (name, value) = item.split_once('=')?;
                        let values = value
                            .split(',')
                            .map(|v| match v.split_once('|') {
                                Some((system, code)) => (Some(system.to_owned()), code.to_owned()),
                                None => (None, v.to_owned()),
                            })
                            .collect();
                        Some((name.to_owned(), values))
                    })
                    .collect::<Option<Vec<_>>>()?,
            };
            scopes.push(RegexScope {
                level: captures.get(1)?.as_str().to_owned(),
                resource_type: resource_type.to_owned(),
                permissions: permissions.to_owned(),
                parameters,
            });
        }
        Some(scopes)
    }
}

/// The floor: split into scopes and their parts, validate nothing, keep nothing.
fn split_floor(text: &str) -> usize {
    let mut parts = 0;
    for scope in text.split(' ') {
        if let Some((_, rest)) = scope.split_once('/') {
            if let Some((_, rest)) = rest.split_once('.') {
                parts += match rest.split_once('?') {
                    Some((_, query)) => query.split_once('|').map_or(1, |_| 2),
                    None => 1,
                };
            }
        }
    }
    parts
}

fn parse(c: &mut Criterion) {
    let regex = RegexParser::new();
    // Check each implementation's answer once before timing it.
    assert_eq!(ScopeSet::parse(TOKEN_SCOPES).unwrap().len(), 10);
    assert_eq!(regex.parse(TOKEN_SCOPES).unwrap().len(), 6);
    assert_eq!(split_floor(TOKEN_SCOPES), 9);

    let mut group = c.benchmark_group("parse/10_scopes");
    group.bench_function("ours", |b| {
        b.iter(|| ScopeSet::parse(black_box(TOKEN_SCOPES)))
    });
    group.bench_function("regex", |b| b.iter(|| regex.parse(black_box(TOKEN_SCOPES))));
    group.bench_function("split_floor", |b| {
        b.iter(|| split_floor(black_box(TOKEN_SCOPES)))
    });
    group.finish();
}

fn decide(c: &mut Criterion) {
    let scopes = ScopeSet::parse(TOKEN_SCOPES).unwrap();
    let query = Query::parse("patient=123&category=laboratory").unwrap();
    let context = Context::User {
        patient: Some("123"),
    };
    let search = Request::new(
        context,
        Interaction::SearchType,
        Some(ResourceType::Observation),
    )
    .with_query(&query);
    let read = Request::new(context, Interaction::Read, Some(ResourceType::Patient));
    let denied = Request::new(
        context,
        Interaction::Delete,
        Some(ResourceType::Observation),
    );
    assert_eq!(
        scopes.decide(&search).permit().unwrap().clauses()[0]
            .grants()
            .len(),
        2
    );
    assert!(scopes.decide(&read).is_permit());
    assert!(!scopes.decide(&denied).is_permit());

    let mut group = c.benchmark_group("decide/10_scopes");
    group.bench_function("granular_search", |b| {
        b.iter(|| scopes.decide(black_box(&search)))
    });
    group.bench_function("read", |b| b.iter(|| scopes.decide(black_box(&read))));
    group.bench_function("deny", |b| b.iter(|| scopes.decide(black_box(&denied))));
    group.finish();
}

criterion_group!(benches, parse, decide);
criterion_main!(benches);
