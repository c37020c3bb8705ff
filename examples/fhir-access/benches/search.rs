//! The server's per-request and per-write parsing costs, on Synthea data: parsing a search
//! URL into a typed query, and extracting every R4 search parameter's index rows from a
//! resource (done on each write). Ids are `group/case/impl`.

#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    reason = "a benchmark: the server's modules are included whole, setup may panic, criterion's macros generate undocumented items"
)]

use std::hint::black_box;

use axum::http::Method;
use criterion::{Criterion, criterion_group, criterion_main};
use fhir_compartment::{Compartments, ResourceType, ServerBases};
use serde_json::Value;

/// The server's parser and indexing modules, compiled from the binary's own files.
#[path = "../src/server"]
mod server {
    pub(crate) mod date;
    pub(crate) mod index;
    pub(crate) mod outcome;
    pub(crate) mod request;
    pub(crate) mod search;
}

use server::request::{Body, Context, Interaction, RawRequest};

fn synthea(resource_type: &str) -> Value {
    let text = include_str!("../seed/Lucien_Hahn_21e66b72.json");
    let bundle: Value = serde_json::from_str(text).unwrap();
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .find(|r| r["resourceType"] == resource_type)
        .unwrap()
}

fn parse(c: &mut Criterion) {
    let bases = ServerBases::new(["http://127.0.0.1:8080/fhir"]).unwrap();
    let compartments = Compartments::r4();
    let context = Context {
        bases: &bases,
        compartments: &compartments,
    };
    let query = "patient=717282e4-5d08-4cbd-afad-596051966367&code=http://loinc.org|8302-2,http://loinc.org|29463-7\
                 &date=ge2021-01-01&date=lt2025&status:not=cancelled&_sort=-date&_count=20&_include=Observation:encounter";
    let raw = RawRequest {
        method: &Method::GET,
        path: "Observation",
        query,
        body: Body::Empty,
        content_type: None,
        if_match: None,
        if_none_exist: None,
    };
    let Interaction::Search { query: parsed, .. } = server::request::parse(&raw, context).unwrap()
    else {
        panic!("not a search");
    };
    assert_eq!(parsed.filters.len(), 5);
    c.bench_function("request/observation_search/ours", |b| {
        b.iter(|| server::request::parse(black_box(&raw), context).unwrap())
    });
    let read = RawRequest {
        path: "Patient/717282e4-5d08-4cbd-afad-596051966367",
        query: "",
        ..raw
    };
    c.bench_function("request/read/ours", |b| {
        b.iter(|| server::request::parse(black_box(&read), context).unwrap())
    });
    // A chain and a reverse chain: each link becomes a search of its own.
    let chained = RawRequest {
        path: "Patient",
        query: "general-practitioner:Practitioner.name=smith&_has:Observation:patient:code=http://loinc.org|8302-2&_count=20",
        ..raw
    };
    let Interaction::Search { query: parsed, .. } =
        server::request::parse(&chained, context).unwrap()
    else {
        panic!("not a search");
    };
    assert_eq!((parsed.chains.len(), parsed.has.len()), (1, 1));
    c.bench_function("request/chain_and_has/ours", |b| {
        b.iter(|| server::request::parse(black_box(&chained), context).unwrap())
    });
}

fn index(c: &mut Criterion) {
    let bases = ServerBases::new(["http://127.0.0.1:8080/fhir"]).unwrap();
    for (name, resource_type) in [
        ("Observation", ResourceType::Observation),
        ("Patient", ResourceType::Patient),
        ("ExplanationOfBenefit", ResourceType::ExplanationOfBenefit),
    ] {
        let resource = synthea(name);
        assert!(!server::index::rows(resource_type, &resource, &bases).is_empty());
        c.bench_function(&format!("index/{name}/ours"), |b| {
            b.iter(|| server::index::rows(resource_type, black_box(&resource), &bases))
        });
    }
}

criterion_group!(benches, parse, index);
criterion_main!(benches);
