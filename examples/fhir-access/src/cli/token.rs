//! `fhir-access token`: mint a test token with a local key, print a key's public JWKS, and
//! verify a token against a JWKS, printing its `AccessContext`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::{Map, Value, json};
use smart_token::{
    Algorithm, HttpFetcher, KeySet, KeySource, SigningKey, TrustedIssuer, Validator,
};

use super::{Outcome, print_json};

/// Bearer tokens: mint one for testing, verify one.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign an access token with a local private key (for testing) and print it.
    Mint(MintArgs),
    /// Print the public JWKS of a local private key, for `token verify --jwks`.
    Jwks {
        /// A PKCS#8 PEM private key (RSA, P-256, P-384 or Ed25519).
        #[arg(long)]
        key: PathBuf,
        /// The key's algorithm. Defaults to the first that fits the key: RS256, ES256, ES384, EdDSA.
        #[arg(long)]
        alg: Option<String>,
        /// The key id.
        #[arg(long, default_value = "local-1")]
        kid: String,
    },
    /// Verify a token against a JWKS and print its access context as JSON.
    ///
    /// Exits 0 when the token is valid, 1 when it is not (printing the error as JSON).
    Verify {
        /// The issuer's keys: a JWKS file, or an http(s) URL to fetch it from.
        #[arg(long, value_name = "FILE|URL")]
        jwks: String,
        /// The trusted issuer. Defaults to the token's own `iss` (the keys still decide).
        #[arg(long)]
        issuer: Option<String>,
        /// This server's audience. Defaults to the token's first `aud`.
        #[arg(long)]
        audience: Option<String>,
        /// The token, or `-` to read it from standard input.
        token: String,
    },
}

#[derive(Debug, clap::Args)]
struct MintArgs {
    /// A PKCS#8 PEM private key (RSA, P-256, P-384 or Ed25519). Either this or --data-dir.
    #[arg(
        long,
        required_unless_present = "data_dir",
        conflicts_with = "data_dir"
    )]
    key: Option<PathBuf>,
    /// A `fhir-access serve` data directory: sign with the server's own key (created on the
    /// server's first start); `--iss` then defaults to `--aud`, which the server trusts.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A demo user of the data directory's `users.json` (`lucien`, `dr-grey`, `nurse-peds`,
    /// `admin`, `auditor`, ...): their subject, roles, attributes, patient, client and scopes;
    /// the flags below override them.
    #[arg(long, requires = "data_dir")]
    user: Option<String>,
    /// The algorithm. Defaults to the first that fits the key: RS256, ES256, ES384, EdDSA.
    #[arg(long)]
    alg: Option<String>,
    /// The key id (with --key).
    #[arg(long, default_value = "local-1")]
    kid: String,
    /// The issuer (`iss`). Defaults to `--aud` with --data-dir, else `https://auth.example.org`.
    #[arg(long)]
    iss: Option<String>,
    /// The audience (`aud`): the FHIR server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080/fhir")]
    aud: String,
    /// The subject (`sub`). Defaults to the user's, else `test-user`.
    #[arg(long)]
    sub: Option<String>,
    /// The scopes, space-separated. Defaults to the user's, else none.
    #[arg(long)]
    scope: Option<String>,
    /// The patient in launch context. Defaults to the user's.
    #[arg(long)]
    patient: Option<String>,
    /// The user's FHIR resource URL (`fhirUser`). Defaults to the user's.
    #[arg(long)]
    fhir_user: Option<String>,
    /// The client id. Defaults to the user's, else `fhir-access-cli`.
    #[arg(long)]
    client_id: Option<String>,
    /// Seconds from now until the token expires; negative for an expired token.
    #[arg(long, default_value_t = 3600, allow_hyphen_values = true)]
    exp: i64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    match args.command {
        Command::Mint(mint_args) => mint(&mint_args),
        Command::Jwks { key, alg, kid } => {
            let key = signing_key(&key, alg.as_deref(), &kid)?;
            print_json(&json!({ "keys": [key.public_jwk()] }))?;
            Ok(Outcome::Success)
        }
        Command::Verify {
            jwks,
            issuer,
            audience,
            token,
        } => verify(&jwks, issuer, audience, &token),
    }
}

fn signing_key(path: &PathBuf, alg: Option<&str>, kid: &str) -> anyhow::Result<SigningKey> {
    let pem = std::fs::read_to_string(path).with_context(|| format!("--key {}", path.display()))?;
    let candidates = match alg {
        Some(name) => vec![
            Algorithm::from_name(name)
                .with_context(|| format!("--alg: unknown algorithm `{name}`"))?,
        ],
        None => vec![
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ],
    };
    let mut last = None;
    for candidate in candidates {
        match SigningKey::from_pem(&pem, candidate, kid) {
            Ok(key) => return Ok(key),
            Err(error) => last = Some(error),
        }
    }
    match last {
        Some(error) => Err(error).with_context(|| format!("--key {}", path.display())),
        None => bail!("--key {}: no algorithm fits the key", path.display()),
    }
}

fn mint(args: &MintArgs) -> anyhow::Result<Outcome> {
    let (key, user) = match (&args.key, &args.data_dir) {
        (Some(path), _) => (signing_key(path, args.alg.as_deref(), &args.kid)?, None),
        (None, Some(dir)) => (
            crate::server::security::key::load(dir, false)?,
            match &args.user {
                Some(name) => Some(crate::server::security::users::find(dir, name)?),
                None => None,
            },
        ),
        (None, None) => bail!("--key or --data-dir is required"),
    };
    let iss = match (&args.iss, &args.data_dir) {
        (Some(iss), _) => iss.clone(),
        (None, Some(_)) => args.aud.clone(),
        (None, None) => "https://auth.example.org".to_owned(),
    };
    let pick =
        |flag: &Option<String>, from_user: Option<&String>| flag.clone().or(from_user.cloned());
    let sub =
        pick(&args.sub, user.as_ref().map(|u| &u.sub)).unwrap_or_else(|| "test-user".to_owned());
    let scope = pick(&args.scope, user.as_ref().map(|u| &u.scope)).unwrap_or_default();
    let patient = pick(
        &args.patient,
        user.as_ref().and_then(|u| u.patient.as_ref()),
    );
    let fhir_user = pick(
        &args.fhir_user,
        user.as_ref().and_then(|u| u.fhir_user.as_ref()),
    );
    let client_id = pick(&args.client_id, user.as_ref().map(|u| &u.client))
        .unwrap_or_else(|| "fhir-access-cli".to_owned());
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let now = i64::try_from(elapsed.as_secs())?;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(iss));
    claims.insert("sub".into(), json!(sub));
    claims.insert("aud".into(), json!(args.aud));
    claims.insert("exp".into(), json!(now.saturating_add(args.exp)));
    claims.insert("iat".into(), json!(now));
    claims.insert(
        "jti".into(),
        json!(format!("{:x}-{:x}", elapsed.as_nanos(), std::process::id())),
    );
    claims.insert("client_id".into(), json!(client_id));
    if !scope.is_empty() {
        fhir_scopes::ScopeSet::parse(&scope).context("--scope")?;
        claims.insert("scope".into(), json!(scope));
    }
    if let Some(patient) = &patient {
        claims.insert("patient".into(), json!(patient));
    }
    if let Some(fhir_user) = &fhir_user {
        claims.insert("fhirUser".into(), json!(fhir_user));
    }
    if let Some(user) = &user {
        if !user.roles.is_empty() {
            claims.insert("roles".into(), json!(user.roles));
        }
        for (name, value) in &user.attributes {
            claims.insert(name.clone(), value.clone());
        }
    }
    println!("{}", key.sign(Some("at+jwt"), &Value::Object(claims))?);
    Ok(Outcome::Success)
}

fn verify(
    jwks: &str,
    issuer: Option<String>,
    audience: Option<String>,
    token: &str,
) -> anyhow::Result<Outcome> {
    let token = if token == "-" {
        std::io::read_to_string(std::io::stdin())
            .context("reading the token from standard input")?
    } else {
        token.to_owned()
    };
    let token = token.trim();
    let keys = if jwks.starts_with("https://") || jwks.starts_with("http://") {
        KeySource::remote(jwks, Arc::new(HttpFetcher::new()))
    } else {
        let text = std::fs::read_to_string(jwks).with_context(|| format!("--jwks {jwks}"))?;
        let document: Value =
            serde_json::from_str(&text).with_context(|| format!("--jwks {jwks}"))?;
        // A single JWK is accepted as a set of one.
        let set = if document.get("keys").is_some() {
            document
        } else {
            json!({ "keys": [document] })
        };
        let keys = KeySet::from_jwks(&set.to_string()).with_context(|| format!("--jwks {jwks}"))?;
        if keys.is_empty() {
            bail!("--jwks {jwks}: no usable verification key");
        }
        KeySource::fixed(keys)
    };
    // Without --issuer/--audience, take them from the token to choose the issuer; the
    // signature still has to verify with the given keys.
    let unverified = unverified_claims(token);
    let issuer = issuer
        .or_else(|| {
            unverified
                .get("iss")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let audience = audience
        .or_else(|| match unverified.get("aud") {
            Some(Value::String(aud)) => Some(aud.clone()),
            Some(Value::Array(auds)) => auds.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        })
        .unwrap_or_default();
    let validator = Validator::new([TrustedIssuer::new(issuer, audience, keys)]);
    match validator.validate(token) {
        Ok(context) => {
            print_json(&serde_json::to_value(&*context)?)?;
            Ok(Outcome::Success)
        }
        Err(error) => {
            print_json(&json!({
                "valid": false,
                "error": error.code(),
                "oauth_error": error.oauth_error(),
                "message": error.to_string(),
            }))?;
            Ok(Outcome::Failure)
        }
    }
}

/// The claims of a token, unverified, or an empty object.
fn unverified_claims(token: &str) -> Value {
    use base64::Engine as _;
    token
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Object(Map::new()))
}
