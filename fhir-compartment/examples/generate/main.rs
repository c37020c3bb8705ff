//! Writes `src/generated/tables.rs` from the official FHIR R4 package in `data/`:
//! `cargo run -p fhir-compartment --example generate`. The drift test in
//! `tests/generated.rs` runs the same code and compares its output with the committed file.
//!
//! The example builds against the library, which includes the generated file: when a change
//! to the shapes it uses (`Step`, `Expression`, `SearchParameter`) breaks the committed file,
//! adjust the committed file by hand just enough to compile, then run the generator.

mod tables;

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let package = crate_dir.join(tables::PACKAGE_PATH);
    let out = crate_dir.join(tables::OUTPUT_PATH);
    match tables::render(&package).and_then(|text| {
        std::fs::write(&out, text).map_err(|e| format!("writing `{}`: {e}", out.display()))
    }) {
        Ok(()) => {
            eprintln!("wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
