//! `fhir-access policy`: load and analyze a policy, decide a request, run test cases.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use fhir_policy::analysis::analyze;
use fhir_policy::testing::{RequestDocument, TestCases};
use fhir_policy::{Engine, Policy};
use serde_json::json;

use super::{Outcome, print_json};

/// fhir-policy documents: check them, evaluate requests, run their tests.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load and type-check a policy, then print the analysis findings as JSON.
    ///
    /// Exits 0 when the policy loads (findings are warnings unless --strict), 1 when it
    /// does not.
    Check {
        /// The policy document (JSON).
        policy: PathBuf,
        /// Exit 1 when there are findings.
        #[arg(long)]
        strict: bool,
    },
    /// Decide a request and print the decision, with its explanation, as JSON.
    ///
    /// Exits 0 on permit, 1 on deny or an invalid policy or request.
    Eval {
        /// The policy document (JSON).
        policy: PathBuf,
        /// The request document (JSON; see docs/policy.md).
        request: PathBuf,
    },
    /// Run a test-case file against a policy.
    ///
    /// Exits 0 when every case passes, 1 when any fails (each failure is printed).
    Test {
        /// The policy document (JSON).
        policy: PathBuf,
        /// The test-case file (JSON).
        cases: PathBuf,
    },
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Check { policy, strict } => check(&policy, strict),
        Command::Eval { policy, request } => eval(&policy, &request),
        Command::Test { policy, cases } => test(&policy, &cases),
    }
}

fn read(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading `{}`", file.display()))
}

/// Loads a policy; an invalid one is printed as `{"valid": false, "error": ...}`.
fn load(file: &Path) -> anyhow::Result<Result<Engine, Outcome>> {
    let text = read(file)?;
    match Policy::parse(&text).and_then(|p| Engine::new(&p)) {
        Ok(engine) => Ok(Ok(engine)),
        Err(error) => {
            print_json(&json!({"valid": false, "error": error.to_string()}))?;
            Ok(Err(Outcome::Failure))
        }
    }
}

fn check(file: &Path, strict: bool) -> anyhow::Result<Outcome> {
    let engine = match load(file)? {
        Ok(engine) => engine,
        Err(outcome) => return Ok(outcome),
    };
    let findings = analyze(&engine);
    let listed: Vec<_> = findings
        .iter()
        .map(|f| {
            json!({"kind": f.kind.code(), "rule": f.rule, "path": f.path, "message": f.to_string()})
        })
        .collect();
    print_json(&json!({
        "valid": true,
        "policy": engine.id(),
        "rules": engine.rule_count(),
        "findings": listed,
    }))?;
    Ok(if strict && !findings.is_empty() {
        Outcome::Failure
    } else {
        Outcome::Success
    })
}

fn eval(policy: &Path, request: &Path) -> anyhow::Result<Outcome> {
    let engine = match load(policy)? {
        Ok(engine) => engine,
        Err(outcome) => return Ok(outcome),
    };
    let document = match RequestDocument::parse(&read(request)?) {
        Ok(document) => document,
        Err(error) => {
            print_json(&json!({"error": error.to_string()}))?;
            return Ok(Outcome::Failure);
        }
    };
    let prepared = match document.prepare() {
        Ok(prepared) => prepared,
        Err(error) => {
            print_json(&json!({"error": format!("request: {error}")}))?;
            return Ok(Outcome::Failure);
        }
    };
    let decision = engine.decide(&prepared.request());
    print_json(&decision.to_json())?;
    Ok(if decision.is_permit() {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}

fn test(policy: &Path, cases: &Path) -> anyhow::Result<Outcome> {
    let engine = match load(policy)? {
        Ok(engine) => engine,
        Err(outcome) => return Ok(outcome),
    };
    let cases = match TestCases::parse(&read(cases)?) {
        Ok(cases) => cases,
        Err(error) => {
            print_json(&json!({"error": error.to_string()}))?;
            return Ok(Outcome::Failure);
        }
    };
    let results = cases.run(&engine);
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    let listed: Vec<_> = results
        .iter()
        .map(|r| json!({"name": r.name, "passed": r.failures.is_empty(), "failures": r.failures}))
        .collect();
    print_json(&json!({
        "policy": engine.id(),
        "passed": results.len() - failed,
        "failed": failed,
        "cases": listed,
    }))?;
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::Failure
    })
}
