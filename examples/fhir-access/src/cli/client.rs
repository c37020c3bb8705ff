//! `fhir-access client`: register, list, approve and remove the OAuth clients of a server's
//! data directory (the server sees changes at once).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::json;
use smart_token::{ClientSecret, HttpFetcher, JwksFetcher};

use super::{Outcome, print_json};
use crate::server::oauth::clients::{self, Status, StoredClient};
use crate::server::oauth::db::Db;

/// OAuth clients (SMART apps, backend services, devices) of a server's data directory.
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
    /// Register a client (or replace the one with this id). A `client_secret_*` client's
    /// secret is generated and printed once, unless `--secret-stdin` gives it.
    Add(Box<AddArgs>),
    /// Print every client (without secrets) as JSON.
    List,
    /// Activate a client registered through `/register`.
    Approve {
        /// The client id.
        id: String,
    },
    /// Remove a client; its tokens stop being renewed (refresh) at once.
    Remove {
        /// The client id.
        id: String,
    },
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// The client id.
    id: String,
    /// How it authenticates at the token endpoint: `none` (public, PKCE),
    /// `client_secret_basic`, `client_secret_post` or `private_key_jwt`.
    #[arg(long, default_value = "none")]
    auth: String,
    /// A redirect URI (repeat for several); matched exactly, except that a loopback
    /// `http://127.0.0.1/path` without a port takes any port.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// A grant type (repeat): `authorization_code`, `refresh_token`, `client_credentials`,
    /// `urn:ietf:params:oauth:grant-type:device_code`. Defaults to `authorization_code`
    /// and `refresh_token`.
    #[arg(long = "grant")]
    grants: Vec<String>,
    /// The scopes it may be granted, space-separated.
    #[arg(long)]
    scope: String,
    /// A human-readable name, shown on the consent page.
    #[arg(long)]
    name: Option<String>,
    /// `private_key_jwt`: a JWKS file with the client's public keys.
    #[arg(long, conflicts_with = "jwks_uri")]
    jwks: Option<PathBuf>,
    /// `private_key_jwt`: an https URL of the client's JWKS.
    #[arg(long)]
    jwks_uri: Option<String>,
    /// Read the client secret from the first line of standard input instead of generating one.
    #[arg(long)]
    secret_stdin: bool,
    /// Access token lifetime, in seconds.
    #[arg(long, default_value_t = 3600)]
    access_token_lifetime: u32,
    /// Refresh token lifetime, in seconds.
    #[arg(long, default_value_t = 90 * 24 * 3600)]
    refresh_token_lifetime: u32,
    /// A role of a backend client (repeat), as the policy names them
    /// (`analytics-service`): its `client_credentials` tokens carry them.
    #[arg(long = "role")]
    roles: Vec<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let db = Db::open(&args.data_dir)
        .with_context(|| format!("--data-dir `{}`", args.data_dir.display()))?;
    match args.command {
        Command::Add(add_args) => add(&db, *add_args),
        Command::List => {
            let listed: Vec<_> = clients::list(&db)?
                .into_iter()
                .map(|(client, status)| {
                    let mut value = serde_json::to_value(&client).unwrap_or_default();
                    if let Some(map) = value.as_object_mut() {
                        map.remove("secret_hash");
                        map.insert("status".into(), json!(status));
                    }
                    value
                })
                .collect();
            print_json(&json!(listed))?;
            Ok(Outcome::Success)
        }
        Command::Approve { id } => {
            if !clients::approve(&db, &id)? {
                eprintln!("error: no pending client `{id}`");
                return Ok(Outcome::Failure);
            }
            println!("client `{id}` is active");
            Ok(Outcome::Success)
        }
        Command::Remove { id } => {
            if !clients::remove(&db, &id)? {
                eprintln!("error: no client `{id}`");
                return Ok(Outcome::Failure);
            }
            println!("client `{id}` removed");
            Ok(Outcome::Success)
        }
    }
}

fn add(db: &Db, args: AddArgs) -> anyhow::Result<Outcome> {
    let confidential = matches!(
        args.auth.as_str(),
        "client_secret_basic" | "client_secret_post"
    );
    let mut secret = None;
    let secret_hash = if confidential {
        let clear = if args.secret_stdin {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the secret")?;
            let line = line.trim_end_matches(['\r', '\n']).to_owned();
            if line.len() < 16 {
                bail!("--secret-stdin: a client secret needs at least 16 characters");
            }
            line
        } else {
            let (generated, _) = ClientSecret::generate()?;
            secret = Some(generated.clone());
            generated
        };
        Some(ClientSecret::hash(&clear)?.as_phc().to_owned())
    } else {
        if args.secret_stdin {
            bail!(
                "--secret-stdin: only `client_secret_basic` and `client_secret_post` clients have a secret"
            );
        }
        None
    };
    for uri in &args.redirect_uris {
        check_redirect_uri(uri).with_context(|| format!("--redirect-uri `{uri}`"))?;
    }
    let jwks = match &args.jwks {
        Some(path) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("--jwks `{}`", path.display()))?,
            )
            .with_context(|| format!("--jwks `{}`", path.display()))?,
        ),
        None => None,
    };
    let grants = if args.grants.is_empty() {
        vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
    } else {
        args.grants
    };
    let stored = StoredClient {
        id: args.id,
        name: args.name,
        token_endpoint_auth_method: args.auth,
        secret_hash,
        jwks,
        jwks_uri: args.jwks_uri,
        redirect_uris: args.redirect_uris,
        grant_types: grants,
        scope: args.scope,
        access_token_lifetime: args.access_token_lifetime,
        refresh_token_lifetime: args.refresh_token_lifetime,
        roles: args.roles,
    };
    // Builds the client as the server will: bad scopes, keys or grants fail here.
    let fetcher: Arc<dyn JwksFetcher> = Arc::new(HttpFetcher::new());
    stored.to_client(&fetcher).context("the client")?;
    if stored.grant_types.iter().any(|g| g == "authorization_code")
        && stored.redirect_uris.is_empty()
    {
        bail!("--redirect-uri: an `authorization_code` client needs at least one");
    }
    clients::put(db, &stored, Status::Active)?;
    let mut answer = json!({"client_id": stored.id, "token_endpoint_auth_method": stored.token_endpoint_auth_method});
    if let (Some(secret), Some(map)) = (secret, answer.as_object_mut()) {
        map.insert("client_secret".into(), json!(secret));
    }
    print_json(&answer)?;
    Ok(Outcome::Success)
}

/// RFC 8252 / OAuth 2.0 Security BCP: https, or http on a loopback address, or a private-use
/// scheme with a dot (`com.example.app:/cb`); absolute, no fragment.
fn check_redirect_uri(uri: &str) -> anyhow::Result<()> {
    if uri.contains('#') {
        bail!("a redirect URI has no fragment");
    }
    let loopback = ["http://127.0.0.1", "http://[::1]", "http://localhost"]
        .iter()
        .any(|host| {
            uri.strip_prefix(host)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    let private_scheme = uri
        .split_once(':')
        .is_some_and(|(scheme, _)| scheme.contains('.') && !scheme.starts_with("http"));
    if !(uri.starts_with("https://") || loopback || private_scheme) {
        bail!("expected https, http on a loopback address, or a private-use scheme");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8000/",
            "com.example.app:/cb",
        ] {
            check_redirect_uri(ok).unwrap();
        }
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#x",
            "http://127.0.0.1.evil.example/",
            "javascript:alert(1)",
            "cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
