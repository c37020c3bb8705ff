//! `fhir-access launch create`: an EHR launch context for an app launched with
//! `launch=<id>` (what an EHR does when a clinician opens an app on a patient's chart).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::{Outcome, print_json};
use crate::server::oauth::db::{self, Db};
use crate::server::oauth::launch;

/// EHR launch contexts of a server's data directory.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The `fhir-access serve` data directory.
    #[arg(long, env = "FHIR_ACCESS_DATA_DIR", default_value = "fhir-access-data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a launch context (valid one hour) and print `{"launch": "<id>"}`.
    Create {
        /// The patient id.
        #[arg(long)]
        patient: String,
        /// The encounter id.
        #[arg(long)]
        encounter: Option<String>,
        /// A further resource in context (SMART `fhirContext`), as a relative reference
        /// (`ImagingStudy/123`); repeat for several.
        #[arg(long = "fhir-context", value_name = "REFERENCE")]
        fhir_context: Vec<String>,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let db = Db::open(&args.data_dir)
        .with_context(|| format!("--data-dir `{}`", args.data_dir.display()))?;
    match args.command {
        Command::Create {
            patient,
            encounter,
            fhir_context,
        } => {
            let context =
                launch::context(patient, encounter, &fhir_context).context("--fhir-context")?;
            let id = launch::create(&db, &context, db::now())?;
            print_json(&json!({"launch": id}))?;
            Ok(Outcome::Success)
        }
    }
}
