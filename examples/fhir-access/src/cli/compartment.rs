//! `fhir-access compartment`: the compartments of a resource (or of each entry of a Bundle),
//! and whether it is in a given compartment.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use fhir_compartment::{BundleIndex, Compartment, Compartments, Config, ServerBases};
use serde_json::{Value, json};

use super::{Outcome, print_json};

/// FHIR compartments (Patient, Encounter, RelatedPerson, Practitioner, Device).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, clap::Args)]
struct Options {
    /// Count `Patient.link` as the Patient compartment definition does (off by default).
    #[arg(long, global = true)]
    patient_links: bool,
    /// A base URL of this server: absolute references under it are local (repeatable).
    #[arg(long = "base", value_name = "URL", global = true)]
    bases: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the compartments of a resource, or of every entry of a Bundle, as JSON.
    ///
    /// References between a Bundle's entries (`urn:uuid:`, `fullUrl`) are resolved.
    Of {
        /// A FHIR R4 resource or Bundle, as JSON.
        file: PathBuf,
    },
    /// Check that a resource (or every entry of a Bundle) is in a compartment.
    ///
    /// Exits 0 when it is a member, 1 when it is not.
    Check {
        /// The compartment, for example `Patient/123`.
        #[arg(long = "in", value_name = "COMPARTMENT")]
        compartment: String,
        /// A FHIR R4 resource or Bundle, as JSON.
        file: PathBuf,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let bases = ServerBases::new(&args.options.bases).context("--base")?;
    let compartments = Config::new()
        .patient_links(args.options.patient_links)
        .server_bases(bases)
        .build()?;
    match args.command {
        Command::Of { file } => of(&compartments, &file),
        Command::Check { compartment, file } => {
            let compartment: Compartment = compartment.parse().context("--in")?;
            check(&compartments, &compartment, &file)
        }
    }
}

fn read(file: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(file).with_context(|| format!("reading `{}`", file.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("`{}` is not JSON", file.display()))
}

fn is_bundle(value: &Value) -> bool {
    value.get("resourceType").and_then(Value::as_str) == Some("Bundle")
}

fn names(set: &BTreeSet<Compartment>) -> Vec<String> {
    set.iter().map(ToString::to_string).collect()
}

/// The entries of a Bundle, with their resources and compartments.
fn entries<'a>(
    compartments: &Compartments,
    bundle: &'a Value,
) -> anyhow::Result<Vec<(usize, &'a Value, BTreeSet<Compartment>)>> {
    let sets = compartments.compartments_of_bundle(bundle)?;
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    Ok(entries
        .iter()
        .zip(sets)
        .enumerate()
        .map(|(i, (entry, set))| (i, entry, set))
        .collect())
}

fn of(compartments: &Compartments, file: &Path) -> anyhow::Result<Outcome> {
    let value = read(file)?;
    if is_bundle(&value) {
        let rows: Vec<Value> = entries(compartments, &value)?
            .into_iter()
            .map(|(index, entry, set)| {
                json!({
                    "index": index,
                    "fullUrl": entry.get("fullUrl"),
                    "resourceType": entry.get("resource").and_then(|r| r.get("resourceType")),
                    "id": entry.get("resource").and_then(|r| r.get("id")),
                    "compartments": names(&set),
                })
            })
            .collect();
        print_json(&json!({"resourceType": "Bundle", "entries": rows}))?;
    } else {
        let set = compartments.compartments_of(&value)?;
        print_json(&json!({
            "resourceType": value.get("resourceType"),
            "id": value.get("id"),
            "compartments": names(&set),
        }))?;
    }
    Ok(Outcome::Success)
}

fn check(
    compartments: &Compartments,
    compartment: &Compartment,
    file: &Path,
) -> anyhow::Result<Outcome> {
    let value = read(file)?;
    let member = if is_bundle(&value) {
        let index = BundleIndex::new(&value)?;
        let mut all = true;
        let mut rows = Vec::new();
        for (i, entry, _) in entries(compartments, &value)? {
            let member = match entry.get("resource") {
                Some(resource) => compartments.is_member_in(resource, compartment, &index)?,
                None => false,
            };
            all &= member;
            rows.push(json!({"index": i, "fullUrl": entry.get("fullUrl"), "member": member}));
        }
        print_json(
            &json!({"compartment": compartment.to_string(), "member": all, "entries": rows}),
        )?;
        all
    } else {
        let member = compartments.is_member(&value, compartment)?;
        print_json(&json!({"compartment": compartment.to_string(), "member": member}))?;
        member
    };
    Ok(if member {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}
