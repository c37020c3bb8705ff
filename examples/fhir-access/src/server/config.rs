//! Configuration: every setting is a flag of `fhir-access serve`, an environment variable
//! (`FHIR_ACCESS_<NAME>`) and a key of the TOML file given by `--config` (`listen = "..."`,
//! `data_dir = "..."`, ...). A flag beats its variable, which beats the file, which beats the
//! default. Unknown keys in the file are an error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use super::engine::Limits;
pub(crate) use super::security::audit::AuditWait;

/// Run the FHIR R4 server: an embedded SQLite store in a data directory, seeded with the
/// Synthea patients on first start.
///
/// Every option is also an environment variable (shown below) and a key of the `--config`
/// TOML file (the option's name with `_` for `-`, for example `max_count = 50`). Precedence:
/// flag, then environment, then file, then default.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct Args {
    /// A TOML file with any of the settings below. Defaults to none.
    #[arg(long, env = "FHIR_ACCESS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The address to listen on. Defaults to `127.0.0.1:8080`.
    #[arg(long, env = "FHIR_ACCESS_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// The data directory; the database is `fhir.sqlite` in it. Defaults to `fhir-access-data`
    /// (relative to the working directory).
    #[arg(long, env = "FHIR_ACCESS_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The public FHIR base URL (in `fullUrl`, `Location` and paging links; absolute
    /// references under it count as local). Defaults to `http://<listen address>/fhir`.
    #[arg(long, env = "FHIR_ACCESS_BASE_URL", value_name = "URL")]
    base_url: Option<String>,
    /// Seed an empty data directory with the Synthea patients on start. Defaults to `true`.
    #[arg(long, env = "FHIR_ACCESS_SEED", value_name = "BOOL")]
    seed: Option<bool>,
    /// Who may do what: `policy` validates bearer tokens (signed by the server's own key in
    /// the data directory, or by a `trusted_issuers` entry of the config file), decides each
    /// request with the policy and writes one audit record per request; `locked` answers
    /// every FHIR request except `metadata` with 401; `allow-all` permits everything and
    /// audits nothing: development and benchmarks only, refused on a non-loopback address.
    /// Defaults to `policy`.
    #[arg(long, env = "FHIR_ACCESS_AUTHORIZATION", value_name = "MODE")]
    authorization: Option<Authorization>,
    /// The policy document (JSON, see docs/policy.md). Defaults to the built-in hospital
    /// example policy with the patient self-access rules.
    #[arg(long, env = "FHIR_ACCESS_POLICY", value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Explain mode, for developers: a 403 decided by the policy carries the policy's
    /// explanation in the OperationOutcome. Refused on a non-loopback address. Defaults to
    /// `false`.
    #[arg(long, env = "FHIR_ACCESS_EXPLAIN", value_name = "BOOL")]
    explain: Option<bool>,
    /// Dynamic client registration (RFC 7591) at `/register`: new clients are stored
    /// pending and work once `fhir-access client approve <id>` activates them. Defaults to
    /// `false` (the endpoint does not exist).
    #[arg(long, env = "FHIR_ACCESS_REGISTRATION", value_name = "BOOL")]
    registration: Option<bool>,
    /// Resource types outside the Patient compartment (Practitioner, Organization, Location,
    /// Medication, ...) that patient-context tokens may read and search, comma-separated: a
    /// patient's token otherwise reaches only its own compartment. The token's scopes must
    /// still grant the type, and the policy's deny rules still apply. Defaults to none.
    #[arg(
        long,
        env = "FHIR_ACCESS_PATIENT_READABLE_TYPES",
        value_name = "TYPES",
        value_delimiter = ','
    )]
    patient_readable_types: Option<Vec<String>>,
    /// Whether `PUT` to an id that does not exist creates the resource. Defaults to `true`.
    #[arg(long, env = "FHIR_ACCESS_UPDATE_CREATE", value_name = "BOOL")]
    update_create: Option<bool>,
    /// The largest request body accepted, in bytes (larger: 413). Defaults to `8388608` (8 MiB).
    #[arg(long, env = "FHIR_ACCESS_MAX_BODY_BYTES", value_name = "BYTES")]
    max_body_bytes: Option<usize>,
    /// The longest a request may run, in seconds (longer: 503). Defaults to `30`.
    #[arg(long, env = "FHIR_ACCESS_REQUEST_TIMEOUT", value_name = "SECONDS")]
    request_timeout: Option<u64>,
    /// The page size of a search without `_count`. Defaults to `20`.
    #[arg(long, env = "FHIR_ACCESS_DEFAULT_COUNT", value_name = "N")]
    default_count: Option<usize>,
    /// The largest page size; a larger `_count` is lowered to it. Defaults to `200`.
    #[arg(long, env = "FHIR_ACCESS_MAX_COUNT", value_name = "N")]
    max_count: Option<usize>,
    /// The most resources `_include` and `_revinclude` add to one page (then they stop, with a
    /// warning in the Bundle). Defaults to `500`.
    #[arg(long, env = "FHIR_ACCESS_MAX_INCLUDE", value_name = "N")]
    max_include: Option<usize>,
    /// The most resources `Patient/$everything` returns (more: 422). Defaults to `10000`.
    #[arg(long, env = "FHIR_ACCESS_MAX_EVERYTHING", value_name = "N")]
    max_everything: Option<usize>,
    /// The most entries in a batch or transaction Bundle (more: 422). Defaults to `1000`.
    #[arg(long, env = "FHIR_ACCESS_MAX_BUNDLE_ENTRIES", value_name = "N")]
    max_bundle_entries: Option<usize>,
    /// Database reader connections (reads run in parallel, writes one at a time). Defaults
    /// to `4`.
    #[arg(long, env = "FHIR_ACCESS_READERS", value_name = "N")]
    readers: Option<usize>,
    /// How far a request's audit record must have gone before the request is answered:
    /// `written` (written to the audit file and chained: survives a crash of the server, and
    /// a group commit within `--audit-sync-delay` makes it durable) or
    /// `durable` (`fdatasync`ed: survives a power loss too, at a cost in throughput; see
    /// docs/audit.md). Either way a request whose record cannot be stored is answered 503.
    /// Defaults to `written`.
    #[arg(long, env = "FHIR_ACCESS_AUDIT_WAIT", value_name = "STAGE")]
    audit_wait: Option<AuditWait>,
    /// With `--audit-wait written`: how long written audit records may wait for their group
    /// commit (`fdatasync`), in milliseconds, at most 1000. Longer means fewer syncs under load
    /// (each costs CPU and holds up writes to the file) and a longer window in which a power
    /// loss can lose records of answered requests. Defaults to `50`.
    #[arg(long, env = "FHIR_ACCESS_AUDIT_SYNC_DELAY", value_name = "MS")]
    audit_sync_delay: Option<u64>,
    /// The log filter (`tracing` env-filter syntax, e.g. `info,fhir_access=debug`); `RUST_LOG`
    /// wins when set. Defaults to `info`.
    #[arg(long, env = "FHIR_ACCESS_LOG", value_name = "FILTER")]
    log: Option<String>,
}

/// The authorization mode (see `--authorization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Authorization {
    /// Tokens, policy and audit: the real thing.
    #[default]
    Policy,
    /// Every FHIR request except `metadata` is a 401.
    Locked,
    /// Everything is permitted (loopback only; development and benchmarks).
    AllowAll,
}

/// The TOML file: the same settings, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    base_url: Option<String>,
    seed: Option<bool>,
    authorization: Option<Authorization>,
    policy: Option<PathBuf>,
    explain: Option<bool>,
    registration: Option<bool>,
    #[serde(default)]
    trusted_issuers: Vec<TrustedIssuerConfig>,
    #[serde(default)]
    identity_providers: Vec<IdentityProviderConfig>,
    patient_readable_types: Option<Vec<String>>,
    update_create: Option<bool>,
    max_body_bytes: Option<usize>,
    request_timeout: Option<u64>,
    default_count: Option<usize>,
    max_count: Option<usize>,
    max_include: Option<usize>,
    max_everything: Option<usize>,
    max_bundle_entries: Option<usize>,
    readers: Option<usize>,
    audit_wait: Option<AuditWait>,
    audit_sync_delay: Option<u64>,
    log: Option<String>,
}

/// An issuer whose tokens the server accepts besides its own (config file only, as
/// `[[trusted_issuers]]` tables): an enterprise identity provider or another authorization
/// server. See docs/smart-app-launch.md, "External identity providers".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrustedIssuerConfig {
    /// The `iss` of its tokens (http or https).
    pub(crate) issuer: String,
    /// Its JWKS URL (http or https). Defaults to the `jwks_uri` of the issuer's discovery
    /// document (`<issuer>/.well-known/openid-configuration`), read again on each refetch.
    pub(crate) jwks_uri: Option<String>,
    /// The `aud` its tokens must carry. Defaults to the server's base URL.
    pub(crate) audience: Option<String>,
    /// Whether tokens must have the RFC 9068 header `typ: at+jwt` (keeps the issuer's ID
    /// tokens from being used as access tokens). Defaults to `false`: many providers send
    /// `JWT`.
    #[serde(default)]
    pub(crate) require_at_jwt: bool,
    /// The least time between two JWKS fetches triggered by an unknown `kid`, in seconds.
    /// Defaults to `60`.
    pub(crate) jwks_refetch_seconds: Option<u32>,
    /// The age after which the JWKS is fetched again on next use (removed keys stop
    /// verifying then), in seconds. Defaults to `3600`.
    pub(crate) jwks_max_age_seconds: Option<u32>,
    /// Which claims hold what. Defaults to SMART's claim names.
    #[serde(default)]
    pub(crate) claims: ClaimsConfig,
    /// The provider's role values (groups) and the local role each becomes; once any is
    /// given, other values are dropped. Defaults to none: values are roles as they are.
    #[serde(default)]
    pub(crate) roles: BTreeMap<String, String>,
}

/// Where a trusted issuer's tokens hold scopes, the client, the launch context, the user and
/// roles (dotted paths for nested claims), as `[trusted_issuers.claims]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimsConfig {
    /// Defaults to `scope`.
    pub(crate) scope: Option<String>,
    /// Defaults to `client_id`.
    pub(crate) client_id: Option<String>,
    /// Defaults to `patient`.
    pub(crate) patient: Option<String>,
    /// Defaults to `encounter`.
    pub(crate) encounter: Option<String>,
    /// Defaults to `fhirUser`.
    pub(crate) fhir_user: Option<String>,
    /// Defaults to `roles`.
    pub(crate) roles: Option<String>,
    /// Policy attribute name -> claim. Defaults to the attributes of the built-in policy,
    /// each from the claim of the same name.
    pub(crate) attributes: Option<BTreeMap<String, String>>,
}

/// An OpenID provider that users may log in at from the login page (config file only, as
/// `[[identity_providers]]` tables); the server is its relying party. See
/// docs/smart-app-launch.md, "External identity providers".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentityProviderConfig {
    /// The provider's name in URLs (`/oauth/federation/<id>/login`): lowercase letters,
    /// digits and `-`.
    pub(crate) id: String,
    /// The name shown on the login page's button.
    pub(crate) name: String,
    /// The provider's issuer (http or https); its discovery document gives the endpoints.
    pub(crate) issuer: String,
    /// The client id this server has at the provider.
    pub(crate) client_id: String,
    /// Its client secret (sent with HTTP Basic authentication).
    pub(crate) client_secret: Secret,
    /// The scopes asked for. Defaults to `openid`.
    pub(crate) scope: Option<String>,
    /// The ID token claim that identifies the person. Defaults to `sub`.
    pub(crate) user_claim: Option<String>,
    /// The local user each identity is: claim value -> local user name. Required: an
    /// identity not listed logs nobody in.
    pub(crate) users: BTreeMap<String, String>,
}

/// A secret from the configuration file: never printed, zeroed when dropped.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(pub(crate) String);

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The settings in force.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Config {
    pub(crate) listen: SocketAddr,
    pub(crate) data_dir: PathBuf,
    /// `None`: derived from the bound address.
    pub(crate) base_url: Option<String>,
    pub(crate) seed: bool,
    pub(crate) authorization: Authorization,
    /// `None`: the built-in default policy.
    pub(crate) policy: Option<PathBuf>,
    pub(crate) trusted_issuers: Vec<TrustedIssuerConfig>,
    pub(crate) identity_providers: Vec<IdentityProviderConfig>,
    pub(crate) explain: bool,
    /// Dynamic client registration at `/register`.
    pub(crate) registration: bool,
    /// Types patient-context tokens may read outside their compartment.
    pub(crate) patient_readable_types: Vec<fhir_compartment::ResourceType>,
    pub(crate) update_create: bool,
    pub(crate) max_body_bytes: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) limits: Limits,
    pub(crate) readers: usize,
    pub(crate) audit_wait: AuditWait,
    pub(crate) audit_sync_delay: Duration,
    pub(crate) log: String,
}

/// The longest `--audit-sync-delay`: past a second, a power loss could take too many
/// answered requests' records.
const MAX_AUDIT_SYNC_DELAY: Duration = Duration::from_secs(1);

impl Config {
    /// Merges flags and environment (already in `args`) over the file over the defaults, and
    /// checks the result.
    pub(crate) fn load(args: Args) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => File::default(),
        };
        let config = Config {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("fhir-access-data")),
            base_url: args
                .base_url
                .or(file.base_url)
                .map(|u| u.trim_end_matches('/').to_owned()),
            seed: args.seed.or(file.seed).unwrap_or(true),
            authorization: args
                .authorization
                .or(file.authorization)
                .unwrap_or_default(),
            policy: args.policy.or(file.policy),
            trusted_issuers: file.trusted_issuers,
            identity_providers: file.identity_providers,
            explain: args.explain.or(file.explain).unwrap_or(false),
            registration: args.registration.or(file.registration).unwrap_or(false),
            patient_readable_types: readable_types(
                args.patient_readable_types
                    .or(file.patient_readable_types)
                    .unwrap_or_default(),
            )?,
            update_create: args.update_create.or(file.update_create).unwrap_or(true),
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(8 * 1024 * 1024),
            request_timeout: Duration::from_secs(
                args.request_timeout.or(file.request_timeout).unwrap_or(30),
            ),
            limits: Limits {
                default_count: args.default_count.or(file.default_count).unwrap_or(20),
                max_count: args.max_count.or(file.max_count).unwrap_or(200),
                max_include: args.max_include.or(file.max_include).unwrap_or(500),
                max_everything: args
                    .max_everything
                    .or(file.max_everything)
                    .unwrap_or(10_000),
                max_bundle_entries: args
                    .max_bundle_entries
                    .or(file.max_bundle_entries)
                    .unwrap_or(1000),
            },
            readers: args.readers.or(file.readers).unwrap_or(4),
            audit_wait: args.audit_wait.or(file.audit_wait).unwrap_or_default(),
            audit_sync_delay: Duration::from_millis(
                args.audit_sync_delay
                    .or(file.audit_sync_delay)
                    .unwrap_or(50),
            ),
            log: args.log.or(file.log).unwrap_or_else(|| "info".to_owned()),
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.authorization == Authorization::AllowAll && !self.listen.ip().is_loopback() {
            anyhow::bail!(
                "--authorization allow-all is for development and benchmarks: refused on the non-loopback address {}",
                self.listen
            );
        }
        if self.explain && !self.listen.ip().is_loopback() {
            anyhow::bail!(
                "--explain is for development: refused on the non-loopback address {}",
                self.listen
            );
        }
        if self.limits.default_count > self.limits.max_count {
            anyhow::bail!(
                "--default-count {} is above --max-count {}",
                self.limits.default_count,
                self.limits.max_count
            );
        }
        if self.readers == 0 || self.readers > 64 {
            anyhow::bail!("--readers must be between 1 and 64, not {}", self.readers);
        }
        if self.audit_sync_delay > MAX_AUDIT_SYNC_DELAY {
            anyhow::bail!(
                "--audit-sync-delay must be at most {} ms, not {}",
                MAX_AUDIT_SYNC_DELAY.as_millis(),
                self.audit_sync_delay.as_millis()
            );
        }
        if let Some(url) = &self.base_url {
            if !is_http_url(url) {
                anyhow::bail!("--base-url `{url}`: expected an http:// or https:// URL");
            }
        }
        for trusted in &self.trusted_issuers {
            let issuer = &trusted.issuer;
            if !is_secure_url(issuer) {
                anyhow::bail!(
                    "trusted_issuers: issuer `{issuer}`: expected an https:// URL (http:// on loopback only)"
                );
            }
            if let Some(uri) = trusted.jwks_uri.as_deref().filter(|u| !is_secure_url(u)) {
                anyhow::bail!(
                    "trusted_issuers `{issuer}`: jwks_uri `{uri}`: expected an https:// URL (http:// on loopback only)"
                );
            }
            if self
                .trusted_issuers
                .iter()
                .filter(|t| &t.issuer == issuer)
                .count()
                > 1
            {
                anyhow::bail!("trusted_issuers `{issuer}`: listed twice");
            }
        }
        for provider in &self.identity_providers {
            let id = &provider.id;
            let valid_id = !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid_id {
                anyhow::bail!(
                    "identity_providers: id `{id}`: expected lowercase letters, digits and `-`"
                );
            }
            if !is_secure_url(&provider.issuer) {
                anyhow::bail!(
                    "identity_providers `{id}`: issuer `{}`: expected an https:// URL (http:// on loopback only)",
                    provider.issuer
                );
            }
            if provider.users.is_empty() {
                anyhow::bail!(
                    "identity_providers `{id}`: `users` is empty: list which identity is which local user"
                );
            }
            if self
                .identity_providers
                .iter()
                .filter(|p| &p.id == id)
                .count()
                > 1
            {
                anyhow::bail!("identity_providers `{id}`: listed twice");
            }
        }
        Ok(())
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// https, or http to this machine only: keys and ID tokens fetched over plain http from
/// elsewhere could be swapped by anyone on the path.
fn is_secure_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return url.starts_with("https://");
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Checks `patient_readable_types`: R4 types, none in the Patient compartment (those are
/// read through it, narrowed to the token's patient; listing one would widen nothing).
fn readable_types(names: Vec<String>) -> anyhow::Result<Vec<fhir_compartment::ResourceType>> {
    use fhir_compartment::{CompartmentKind, Compartments, ResourceType};
    let r4 = Compartments::r4();
    let mut types = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let Some(resource_type) = ResourceType::from_name(name) else {
            anyhow::bail!("--patient-readable-types: unknown resource type `{name}`");
        };
        if resource_type == ResourceType::Patient
            || !r4
                .parameters(resource_type, CompartmentKind::Patient)
                .is_empty()
        {
            anyhow::bail!(
                "--patient-readable-types: `{name}` is in the Patient compartment; patient tokens read it there"
            );
        }
        if !types.contains(&resource_type) {
            types.push(resource_type);
        }
    }
    Ok(types)
}

fn read_file(path: &Path) -> anyhow::Result<File> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--config `{}`", path.display()))?;
    toml::from_str(&text).with_context(|| format!("--config `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let config = Config::load(Args::default()).unwrap();
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(config.authorization, Authorization::Policy);
        assert_eq!(config.limits.max_count, 200);
        assert!(config.seed);
        assert!(!config.explain);
        assert_eq!(config.audit_wait, AuditWait::Written);
        assert_eq!(config.audit_sync_delay, Duration::from_millis(50));
        let args = Args {
            explain: Some(true),
            listen: Some(SocketAddr::from(([0, 0, 0, 0], 8080))),
            ..Args::default()
        };
        assert_eq!(
            Config::load(args).unwrap_err().to_string(),
            "--explain is for development: refused on the non-loopback address 0.0.0.0:8080"
        );
    }

    #[test]
    fn audit_sync_delay_comes_from_the_flag_then_the_file_and_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "audit_sync_delay = 5\n").unwrap();
        let with = |flag: Option<u64>| Args {
            config: Some(path.clone()),
            audit_sync_delay: flag,
            ..Args::default()
        };
        assert_eq!(
            Config::load(with(None)).unwrap().audit_sync_delay,
            Duration::from_millis(5)
        );
        assert_eq!(
            Config::load(with(Some(0))).unwrap().audit_sync_delay,
            Duration::ZERO
        );
        assert_eq!(
            Config::load(with(Some(1001))).unwrap_err().to_string(),
            "--audit-sync-delay must be at most 1000 ms, not 1001"
        );
    }

    #[test]
    fn audit_wait_comes_from_the_flag_then_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "audit_wait = \"durable\"\n").unwrap();
        let from_file = Args {
            config: Some(path.clone()),
            ..Args::default()
        };
        assert_eq!(
            Config::load(from_file).unwrap().audit_wait,
            AuditWait::Durable
        );
        let flag = Args {
            config: Some(path.clone()),
            audit_wait: Some(AuditWait::Written),
            ..Args::default()
        };
        assert_eq!(Config::load(flag).unwrap().audit_wait, AuditWait::Written);
        std::fs::write(&path, "audit_wait = \"fsync\"\n").unwrap();
        let bad = Args {
            config: Some(path),
            ..Args::default()
        };
        let error = format!("{:#}", Config::load(bad).unwrap_err());
        assert!(error.contains("unknown variant `fsync`"), "{error}");
    }

    #[test]
    fn flags_beat_the_file_and_allow_all_stays_on_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "max_count = 50\nauthorization = \"allow-all\"\nlisten = \"0.0.0.0:9000\"\n",
        )
        .unwrap();
        let args = Args {
            config: Some(path.clone()),
            ..Args::default()
        };
        assert_eq!(
            Config::load(args).unwrap_err().to_string(),
            "--authorization allow-all is for development and benchmarks: refused on the non-loopback address 0.0.0.0:9000"
        );
        let args = Args {
            config: Some(path.clone()),
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9000))),
            max_count: Some(70),
            ..Args::default()
        };
        let config = Config::load(args).unwrap();
        assert_eq!(config.limits.max_count, 70);
        assert_eq!(config.authorization, Authorization::AllowAll);
        std::fs::write(&path, "max_cont = 50\n").unwrap();
        let args = Args {
            config: Some(path),
            ..Args::default()
        };
        let error = format!("{:#}", Config::load(args).unwrap_err());
        assert!(error.contains("unknown field `max_cont`"), "{error}");
    }

    #[test]
    fn trusted_issuers_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let args = Args {
                config: Some(path.clone()),
                ..Args::default()
            };
            Config::load(args).map_err(|e| format!("{e:#}"))
        };
        let config = load(
            "[[trusted_issuers]]\nissuer = \"https://idp.example\"\njwks_refetch_seconds = 5\n[trusted_issuers.claims]\nroles = \"groups\"\n[trusted_issuers.roles]\nclinicians = \"doctor\"\n",
        )
        .unwrap();
        let trusted = &config.trusted_issuers[0];
        assert_eq!(trusted.jwks_uri, None);
        assert_eq!(trusted.jwks_refetch_seconds, Some(5));
        assert!(!trusted.require_at_jwt);
        assert_eq!(trusted.claims.roles.as_deref(), Some("groups"));
        assert_eq!(trusted.roles["clinicians"], "doctor");
        assert_eq!(
            load("[[trusted_issuers]]\nissuer = \"idp.example\"\n").unwrap_err(),
            "trusted_issuers: issuer `idp.example`: expected an https:// URL (http:// on loopback only)"
        );
        assert_eq!(
            load("[[trusted_issuers]]\nissuer = \"http://idp.example\"\n").unwrap_err(),
            "trusted_issuers: issuer `http://idp.example`: expected an https:// URL (http:// on loopback only)"
        );
        assert_eq!(
            load("[[trusted_issuers]]\nissuer = \"http://127.0.0.1.evil.example:80\"\n")
                .unwrap_err(),
            "trusted_issuers: issuer `http://127.0.0.1.evil.example:80`: expected an https:// URL (http:// on loopback only)"
        );
        assert!(load("[[trusted_issuers]]\nissuer = \"http://127.0.0.1:4000\"\n").is_ok());
        assert!(load("[[trusted_issuers]]\nissuer = \"http://localhost/realms/x\"\n").is_ok());
        assert_eq!(
            load("[[trusted_issuers]]\nissuer = \"https://i\"\njwks_uri = \"file:///k\"\n")
                .unwrap_err(),
            "trusted_issuers `https://i`: jwks_uri `file:///k`: expected an https:// URL (http:// on loopback only)"
        );
        assert_eq!(
            load("[[trusted_issuers]]\nissuer = \"https://i\"\n[[trusted_issuers]]\nissuer = \"https://i\"\n")
                .unwrap_err(),
            "trusted_issuers `https://i`: listed twice"
        );
        let error = load("[[trusted_issuers]]\nissuer = \"https://i\"\n[trusted_issuers.claims]\nrole = \"groups\"\n")
            .unwrap_err();
        assert!(error.contains("unknown field `role`"), "{error}");
    }

    #[test]
    fn identity_providers_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let args = Args {
                config: Some(path.clone()),
                ..Args::default()
            };
            Config::load(args).map_err(|e| format!("{e:#}"))
        };
        let entry = |id: &str, issuer: &str, users: &str| {
            format!(
                "[[identity_providers]]\nid = \"{id}\"\nname = \"SSO\"\nissuer = \"{issuer}\"\nclient_id = \"c\"\nclient_secret = \"s3cret\"\nusers = {{ {users} }}\n"
            )
        };
        let config = load(&entry("hospital-1", "https://idp", "\"a@idp\" = \"alice\"")).unwrap();
        let provider = &config.identity_providers[0];
        assert_eq!(provider.users["a@idp"], "alice");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert_eq!(
            load(&entry("Hospital", "https://idp", "a = \"b\"")).unwrap_err(),
            "identity_providers: id `Hospital`: expected lowercase letters, digits and `-`"
        );
        assert_eq!(
            load(&entry("h", "idp", "a = \"b\"")).unwrap_err(),
            "identity_providers `h`: issuer `idp`: expected an https:// URL (http:// on loopback only)"
        );
        assert_eq!(
            load(&entry("h", "https://idp", "")).unwrap_err(),
            "identity_providers `h`: `users` is empty: list which identity is which local user"
        );
        let twice = entry("h", "https://idp", "a = \"b\"").repeat(2);
        assert_eq!(
            load(&twice).unwrap_err(),
            "identity_providers `h`: listed twice"
        );
    }

    #[test]
    fn patient_readable_types_are_checked_and_default_to_none() {
        use fhir_compartment::ResourceType;
        assert!(
            Config::load(Args::default())
                .unwrap()
                .patient_readable_types
                .is_empty()
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "patient_readable_types = [\"Practitioner\", \"Organization\"]\n",
        )
        .unwrap();
        let from_file = Args {
            config: Some(path.clone()),
            ..Args::default()
        };
        assert_eq!(
            Config::load(from_file).unwrap().patient_readable_types,
            [ResourceType::Practitioner, ResourceType::Organization]
        );
        let flag = |types: &[&str]| Args {
            config: Some(path.clone()),
            patient_readable_types: Some(types.iter().map(|t| (*t).to_owned()).collect()),
            ..Args::default()
        };
        assert_eq!(
            Config::load(flag(&["Medication", "Location", "Medication"]))
                .unwrap()
                .patient_readable_types,
            [ResourceType::Medication, ResourceType::Location]
        );
        assert_eq!(
            Config::load(flag(&["Observation"]))
                .unwrap_err()
                .to_string(),
            "--patient-readable-types: `Observation` is in the Patient compartment; patient tokens read it there"
        );
        assert_eq!(
            Config::load(flag(&["Practitioners"]))
                .unwrap_err()
                .to_string(),
            "--patient-readable-types: unknown resource type `Practitioners`"
        );
    }
}
