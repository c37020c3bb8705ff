//! Differential test: the compartments of every entry of the four Synthea bundles in
//! `tests/synthea/`, computed by this crate and by the reference FHIRPath engine (the
//! `fhirpath` npm package, version pinned in `tests/fhirpath/package-lock.json`) evaluating the
//! same official expressions (`tests/fhirpath/compartments.js`); and the values of every
//! compiled search parameter (`fhir_compartment::path`) on the same resources. Installs the
//! npm package with `npm ci` when it is missing; fails when node or npm is absent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use fhir_compartment::path::search_parameter;
use fhir_compartment::{BundleIndex, Config, ResourceType};
use serde_json::Value;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn bundles() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(crate_dir().join("tests/synthea"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "expected the four Synthea bundles");
    files
}

fn run(command: &mut Command, what: &str) -> Vec<u8> {
    let output = command.output().unwrap_or_else(|e| {
        panic!("{what}: cannot run it ({e}); the differential test needs node and npm on PATH")
    });
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Runs the node harness (installing the pinned package first if needed) and parses its output.
fn reference_side(values: bool, files: &[PathBuf]) -> Vec<Value> {
    let harness = crate_dir().join("tests/fhirpath");
    // Both differential tests may start at once on a fresh clone: install once.
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        if !harness.join("node_modules/fhirpath/package.json").exists() {
            run(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
                    .current_dir(&harness),
                "npm ci",
            );
        }
    });
    let mut node = Command::new("node");
    node.arg(harness.join("compartments.js"));
    if values {
        node.arg("--values");
    }
    node.arg(crate_dir().join("data/hl7.fhir.r4.core-4.0.1.tgz"))
        .args(files);
    serde_json::from_slice(&run(&mut node, "node compartments.js")).unwrap()
}

#[test]
fn synthea_bundles_agree_with_the_fhirpath_npm_package() {
    let files = bundles();
    let reference = reference_side(false, &files);

    // The definitions exactly as published (Patient.link included).
    let ours = Config::new().patient_links(true).build().unwrap();
    let mut compared = 0;
    let mut memberships = 0;
    let mut kinds = BTreeSet::new();
    let mut rows = reference.iter();
    for file in &files {
        let bundle: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let name = file.file_name().unwrap().to_string_lossy();
        for (index, set) in ours
            .compartments_of_bundle(&bundle)
            .unwrap()
            .into_iter()
            .enumerate()
        {
            let row = rows.next().expect("the reference side has fewer entries");
            assert_eq!(row["file"], *name);
            assert_eq!(row["index"], index);
            let theirs: Vec<String> = row["compartments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
            let mut mine: Vec<String> = set.iter().map(ToString::to_string).collect();
            mine.sort();
            let resource = &bundle["entry"][index]["resource"];
            assert_eq!(
                mine, theirs,
                "{name} entry {index} ({} {}): this crate vs fhirpath",
                resource["resourceType"], resource["id"]
            );
            compared += 1;
            memberships += mine.len();
            kinds.extend(set.iter().map(|c| c.kind()));
        }
    }
    assert!(rows.next().is_none(), "the reference side has more entries");
    // All four bundles, every entry; a run that compared nothing proves nothing.
    assert!(compared > 1_500, "compared only {compared} resources");
    assert!(memberships > compared, "only {memberships} memberships");
    assert!(kinds.len() >= 4, "only {kinds:?} compartment kinds seen");
    eprintln!(
        "differential: {compared} resources, {memberships} memberships, kinds {kinds:?}: all agree"
    );
}

/// Rewrites every `reference` that is an entry's `fullUrl` to `Type/id`, as the node harness
/// does, so that both sides see the same reference values.
fn rewrite(value: &mut Value, index: &BundleIndex) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let resolved = match v.as_str() {
                    Some(text) if key == "reference" => {
                        index.resolve(text).map(|(t, id)| format!("{t}/{id}"))
                    }
                    _ => None,
                };
                match resolved {
                    Some(r) => *v = Value::String(r),
                    None => rewrite(v, index),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, index)),
        _ => {}
    }
}

/// JSON equality with numbers compared as numbers (`1.0` and `1` are the same decimal).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn synthea_search_values_agree_with_the_fhirpath_npm_package() {
    let files = bundles();
    let reference = reference_side(true, &files);
    let mut rows = reference.iter();
    let (mut compared, mut non_empty, mut not_compiled, mut as_of_type) =
        (0, 0, BTreeSet::new(), 0);
    for file in &files {
        let mut bundle: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let index = BundleIndex::new(&bundle).unwrap();
        rewrite(&mut bundle, &index);
        for (i, entry) in bundle["entry"].as_array().unwrap().iter().enumerate() {
            let row = rows.next().expect("the reference side has fewer entries");
            assert_eq!(row["index"], i);
            let resource = &entry["resource"];
            let resource_type: ResourceType =
                resource["resourceType"].as_str().unwrap().parse().unwrap();
            for (code, theirs) in row["values"].as_object().unwrap() {
                let Some(parameter) = search_parameter(resource_type, code) else {
                    not_compiled.insert(format!("{resource_type}.{code}"));
                    continue;
                };
                // Where FHIRPath's singleton `as` failed, the harness evaluated `ofType`, which
                // is what this crate does per value.
                let theirs = match theirs.get("asOfType") {
                    Some(values) => {
                        as_of_type += 1;
                        values
                    }
                    None => theirs,
                };
                let ours: Vec<Value> = parameter
                    .expression()
                    .evaluate(resource)
                    .into_iter()
                    .cloned()
                    .collect();
                assert!(
                    same(&Value::Array(ours.clone()), theirs),
                    "{} entry {i} ({resource_type}) parameter `{code}` ({}):\n ours   {ours:?}\n theirs {theirs}",
                    file.display(),
                    parameter.expression().source()
                );
                compared += 1;
                non_empty += usize::from(!ours.is_empty());
            }
        }
    }
    assert!(rows.next().is_none(), "the reference side has more entries");
    assert!(compared > 50_000, "compared only {compared} values");
    assert!(non_empty > 10_000, "only {non_empty} non-empty values");
    eprintln!(
        "differential (search values): {compared} (resource, parameter) evaluations agree, {non_empty} non-empty, \
         {as_of_type} with `as` read as `ofType`; not compiled: {not_compiled:?}"
    );
}
