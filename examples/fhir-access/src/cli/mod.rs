//! The subcommands, one module each; each has its `Args` and a `run` function.

pub(crate) mod audit;
pub(crate) mod client;
pub(crate) mod compartment;
pub(crate) mod launch;
pub(crate) mod policy;
pub(crate) mod scopes;
pub(crate) mod token;
pub(crate) mod user;

use std::io::Write as _;
use std::process::ExitCode;

/// How a command ended, which fixes the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Success, permit, all valid: 0.
    Success,
    /// Deny, invalid or rejected input: 1.
    Failure,
    /// A usage error: 2.
    Usage,
}

impl Outcome {
    pub(crate) fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Failure => ExitCode::from(1),
            Outcome::Usage => ExitCode::from(2),
        }
    }
}

/// Prints a JSON value, pretty, on stdout. A closed pipe (`| head`) ends the output quietly.
pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out));
    match written {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
