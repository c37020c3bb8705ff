//! Differential test: the compartments of every entry of the four Synthea bundles in
//! `tests/synthea/`, computed by this crate and by the reference FHIRPath engine (the
//! `fhirpath` npm package, version pinned in `tests/fhirpath/package-lock.json`) evaluating the
//! same official expressions (`tests/fhirpath/compartments.js`). Installs the npm package
//! with `npm ci` when it is missing; fails when node or npm is absent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use fhir_compartment::Config;
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

#[test]
fn synthea_bundles_agree_with_the_fhirpath_npm_package() {
    let harness = crate_dir().join("tests/fhirpath");
    if !harness.join("node_modules/fhirpath/package.json").exists() {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
                .current_dir(&harness),
            "npm ci",
        );
    }
    let files = bundles();
    let stdout = run(
        Command::new("node")
            .arg(harness.join("compartments.js"))
            .arg(crate_dir().join("data/hl7.fhir.r4.core-4.0.1.tgz"))
            .args(&files),
        "node compartments.js",
    );
    let reference: Vec<Value> = serde_json::from_slice(&stdout).unwrap();

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
