//! `fhir-access`: a command-line tool over the fhir-access crates.
//!
//! Exit codes: 0 for success or permit, 1 for deny, invalid or rejected input, 2 for usage
//! errors.

mod cli;
mod server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Access control for FHIR: inspect scopes, check requests, run the reference server.
#[derive(Debug, Parser)]
#[command(name = "fhir-access", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// SMART on FHIR scopes: parse them, check a request against them.
    Scopes(cli::scopes::Args),
    /// FHIR compartments: which a resource is in, whether it is in one.
    Compartment(cli::compartment::Args),
    /// Audit stores: verify the hash chain, search, export as FHIR AuditEvents.
    Audit(cli::audit::Args),
    /// Access policies: check a policy, evaluate a request, run test cases.
    Policy(cli::policy::Args),
    /// Run the FHIR R4 server (embedded SQLite, seeded with Synthea patients).
    Serve(server::Args),
    /// Bearer tokens: mint one with a local key, print its JWKS, verify one.
    Token(cli::token::Args),
    /// OAuth clients of the server's authorization server: add, list, approve, remove.
    Client(cli::client::Args),
    /// Local users who log in at the authorization server: add, list, remove.
    User(cli::user::Args),
    /// EHR launch contexts: create one for `launch=<id>`.
    Launch(cli::launch::Args),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match args.command {
        Command::Scopes(args) => cli::scopes::run(args),
        Command::Compartment(args) => cli::compartment::run(args),
        Command::Audit(args) => cli::audit::run(args),
        Command::Policy(args) => cli::policy::run(args),
        Command::Serve(args) => server::run(args),
        Command::Token(args) => cli::token::run(args),
        Command::Client(args) => cli::client::run(args),
        Command::User(args) => cli::user::run(args),
        Command::Launch(args) => cli::launch::run(args),
    };
    match outcome {
        Ok(outcome) => outcome.exit_code(),
        Err(error) => {
            eprintln!("error: {error:#}");
            cli::Outcome::Usage.exit_code()
        }
    }
}
