//! Criterion benchmarks: membership of a typical Observation and of a large Synthea
//! ExplanationOfBenefit in the Patient compartment, and the compartments of every entry of a
//! whole Synthea bundle; each beside its baseline, `serde_json` parsing of the same JSON
//! (the floor: membership should cost less than parsing the resource once).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmark set-up"
)]
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fhir_compartment::{BundleIndex, Compartment, Compartments};
use serde_json::Value;

const BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/synthea/Darrell_Erdman_c9efcb62.json"
);

fn bench(c: &mut Criterion) {
    let bytes = std::fs::read(BUNDLE).expect("the Synthea bundle");
    let bundle: Value = serde_json::from_slice(&bytes).unwrap();
    let index = BundleIndex::new(&bundle).unwrap();
    let compartments = Compartments::r4();
    let entries = bundle["entry"].as_array().unwrap();
    let patient = entries
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .unwrap();
    let owner: Compartment = format!("Patient/{}", patient["resource"]["id"].as_str().unwrap())
        .parse()
        .unwrap();

    let observation = &entries
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Observation")
        .unwrap()["resource"];
    let eob = entries
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "ExplanationOfBenefit")
        .map(|e| &e["resource"])
        .max_by_key(|r| r.to_string().len())
        .unwrap();

    // The Synthea port's ExplanationOfBenefits are small (about 1.5 KB); a 50-item one (items
    // copied, sequences renumbered) stands in for the large claims real systems produce.
    let mut eob_50 = eob.clone();
    let item = eob["item"][0].clone();
    eob_50["item"] = Value::Array(
        (1..=50)
            .map(|n| {
                let mut item = item.clone();
                item["sequence"] = n.into();
                item
            })
            .collect(),
    );

    for (name, resource) in [
        ("observation", observation),
        ("explanation_of_benefit", eob),
        ("explanation_of_benefit_50_items", &eob_50),
    ] {
        let text = serde_json::to_string(resource).unwrap();
        eprintln!("{name}: {} bytes", text.len());
        // Check the answer once before timing.
        assert!(compartments.is_member_in(resource, &owner, &index).unwrap());
        let mut group = c.benchmark_group(format!("membership/{name}"));
        group.bench_function("ours", |b| {
            b.iter(|| {
                compartments
                    .is_member_in(black_box(resource), black_box(&owner), &index)
                    .unwrap()
            })
        });
        group.bench_function("ours_all_compartments", |b| {
            b.iter(|| {
                compartments
                    .compartments_of_entry(black_box(resource), &index)
                    .unwrap()
            })
        });
        group.bench_function("serde_json_parse", |b| {
            b.iter(|| serde_json::from_str::<Value>(black_box(&text)).unwrap())
        });
        group.finish();
    }

    let sets = compartments.compartments_of_bundle(&bundle).unwrap();
    assert_eq!(sets.len(), entries.len());
    assert!(sets.iter().filter(|s| s.contains(&owner)).count() > entries.len() / 2);
    let mut group = c.benchmark_group("membership/bundle");
    group.sample_size(20);
    group.bench_function("ours", |b| {
        b.iter(|| {
            compartments
                .compartments_of_bundle(black_box(&bundle))
                .unwrap()
        })
    });
    group.bench_function("serde_json_parse", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&bytes)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
