//! `fhir-access user`: the local users who log in at `/authorize` (passwords as Argon2id
//! hashes, roles, attributes, `fhirUser`, linked patient).

use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::{Outcome, print_json};
use crate::server::oauth::db::Db;
use crate::server::oauth::users::{self, StoredUser};

/// Local users of a server's data directory.
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
    /// Add a user (or replace the one with this name). The password is read from standard
    /// input (the first line); on a terminal you are prompted, without echo.
    Add(AddArgs),
    /// Print every user (without password hashes) as JSON.
    List,
    /// Remove a user; they can no longer log in (tokens already issued run out).
    Remove {
        /// The user name.
        name: String,
    },
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// The user name (the token's `sub`).
    name: String,
    /// A role (repeat for several), as the policy names them: `doctor`, `nurse`, `patient`, ...
    #[arg(long = "role")]
    roles: Vec<String>,
    /// An attribute `NAME=VALUE` (repeat); VALUE is JSON when it parses as JSON
    /// (`assignedPatients=["p1","p2"]`), a string otherwise (`department=Organization/cardiology`).
    #[arg(long = "attribute", value_name = "NAME=VALUE")]
    attributes: Vec<String>,
    /// The user's FHIR resource (`Practitioner/123`, `Patient/456`).
    #[arg(long)]
    fhir_user: Option<String>,
    /// The patient this user is: their `launch/patient` context, never a choice.
    #[arg(long)]
    patient: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let db = Db::open(&args.data_dir)
        .with_context(|| format!("--data-dir `{}`", args.data_dir.display()))?;
    match args.command {
        Command::Add(add_args) => {
            let attributes = add_args
                .attributes
                .iter()
                .map(|text| attribute(text).with_context(|| format!("--attribute `{text}`")))
                .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
            let password = read_password()?;
            let user = StoredUser {
                name: add_args.name,
                fhir_user: add_args.fhir_user,
                patient: add_args.patient,
                roles: add_args.roles,
                attributes,
                password_hash: users::hash_password(&password)?,
            };
            users::put(&db, &user)?;
            println!("user `{}` saved", user.name);
            Ok(Outcome::Success)
        }
        Command::List => {
            let listed: Vec<Value> = users::list(&db)?
                .into_iter()
                .map(|user| {
                    let mut value = serde_json::to_value(&user).unwrap_or_default();
                    if let Some(map) = value.as_object_mut() {
                        map.remove("passwordHash");
                    }
                    value
                })
                .collect();
            print_json(&json!(listed))?;
            Ok(Outcome::Success)
        }
        Command::Remove { name } => {
            if !users::remove(&db, &name)? {
                eprintln!("error: no user `{name}`");
                return Ok(Outcome::Failure);
            }
            println!("user `{name}` removed");
            Ok(Outcome::Success)
        }
    }
}

fn attribute(text: &str) -> anyhow::Result<(String, Value)> {
    let (name, value) = text.split_once('=').context("expected NAME=VALUE")?;
    if name.is_empty() || name == "roles" {
        bail!("the attribute name must be non-empty and not `roles` (use --role)");
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((name.to_owned(), value))
}

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        // Typed at a terminal: read without echo.
        rpassword::prompt_password("password for the new user: ").context("reading the password")?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password")?;
        line
    };
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.chars().count() < 8 {
        bail!("the password needs at least 8 characters");
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_json_or_strings() {
        assert_eq!(
            attribute("department=Organization/x").unwrap(),
            ("department".into(), json!("Organization/x"))
        );
        assert_eq!(
            attribute("assigned=[\"a\",\"b\"]").unwrap(),
            ("assigned".into(), json!(["a", "b"]))
        );
        assert_eq!(
            attribute("roles=x").unwrap_err().to_string(),
            "the attribute name must be non-empty and not `roles` (use --role)"
        );
        assert_eq!(
            attribute("novalue").unwrap_err().to_string(),
            "expected NAME=VALUE"
        );
    }
}
