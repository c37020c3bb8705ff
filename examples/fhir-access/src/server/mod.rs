//! `fhir-access serve`: the reference FHIR R4 server.
//!
//! Layout: `config` (flags, environment, TOML), `app` (axum router and HTTP rendering),
//! `request` (the one FHIR request parser), `guard` (the authorization seam), `engine`
//! (interactions), `search` and `index` (search parameters), `bundle` (batch and transaction),
//! `store` (SQLite), `capability`, `seed`, `date`, `outcome` (errors as OperationOutcome),
//! `oauth` (the SMART authorization server, and CORS for browser apps), `federation`
//! (external identity providers).

mod app;
mod bundle;
mod capability;
mod config;
mod date;
mod engine;
mod federation;
mod guard;
mod index;
pub(crate) mod oauth;
mod outcome;
#[cfg(test)]
mod properties;
mod request;
mod search;
pub(crate) mod security;
mod seed;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use fhir_compartment::ServerBases;

pub(crate) use config::Args;

use crate::cli::Outcome;
use config::{Authorization, Config};
use engine::Engine;
use guard::{AllowAll, Guard, Locked};
use store::{Indexing, Store};

/// Runs the server until Ctrl-C or SIGTERM.
pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let config = Config::load(args)?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&config.log))
        .with_context(|| format!("--log `{}`", config.log))?;
    // Colours only on a terminal: logs sent to a file or collector stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(config))?;
    Ok(Outcome::Success)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("--listen {}", config.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let base_url = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}/fhir"));
    let bases = ServerBases::new([base_url.as_str()])
        .with_context(|| format!("--base-url `{base_url}`"))?;
    let compartments = fhir_compartment::Config::new()
        .server_bases(bases.clone())
        .build()
        .context("building the compartment tables")?;
    let store = Store::open(&config.data_dir, config.readers)
        .with_context(|| format!("--data-dir `{}`", config.data_dir.display()))?;
    if config.seed {
        let indexing = Indexing {
            compartments: &compartments,
            bases: &bases,
        };
        let written = seed::seed(&store, indexing).context("seeding the Synthea patients")?;
        if written > 0 {
            tracing::info!(resources = written, "seeded the Synthea patients");
        }
    }
    // The authorization server issues the tokens the policy guard accepts; they share the
    // revocation store, so a revoked token stops working at the FHIR endpoint at once.
    let oauth = match config.authorization {
        Authorization::Policy => Some(oauth::build(
            &config.data_dir,
            &base_url,
            config.seed,
            oauth::Settings {
                registration: config.registration,
                providers: config
                    .identity_providers
                    .iter()
                    .map(|p| (p.id.clone(), p.name.clone()))
                    .collect(),
            },
        )?),
        Authorization::Locked | Authorization::AllowAll => None,
    };
    let guard: Arc<dyn Guard> = match config.authorization {
        Authorization::Policy => Arc::new(policy_guard(
            &config,
            &base_url,
            &compartments,
            oauth.as_ref().map(|(oauth, revocations)| {
                (
                    Arc::clone(&oauth.clients) as Arc<dyn smart_token::ClientStore>,
                    Arc::clone(revocations),
                )
            }),
        )?),
        Authorization::Locked => {
            tracing::warn!(
                "authorization `locked`: every FHIR request except metadata is answered 401"
            );
            Arc::new(Locked)
        }
        Authorization::AllowAll => {
            tracing::warn!(
                "authorization `allow-all`: NO ACCESS CONTROL (development and benchmarks only)"
            );
            Arc::new(AllowAll)
        }
    };
    let capabilities = capability::Capabilities {
        base_url: &base_url,
        update_create: config.update_create,
        security: oauth
            .as_ref()
            .map(|(oauth, _)| oauth::security_extension(&oauth.origin, config.registration)),
    }
    .statement();
    let engine = Engine {
        store,
        guard,
        compartments,
        bases,
        base_url: base_url.clone(),
        limits: config.limits,
        update_create: config.update_create,
        capabilities,
    };
    let engine = Arc::new(engine);
    let state = Arc::new(app::AppState {
        engine: Arc::clone(&engine),
        max_body_bytes: config.max_body_bytes,
        request_timeout: config.request_timeout,
    });
    // The line tests and scripts wait for; the port is the real one when `--listen` asked for 0.
    println!("listening on {base_url}");
    tracing::info!(%bound, %base_url, "listening");
    let mut federation = federation::Federation::new(
        &config.identity_providers,
        federation::origin(&base_url),
        Arc::new(smart_token::HttpFetcher::new()),
    );
    if let Some((oauth, _)) = &oauth {
        federation = federation.local_users(Arc::clone(oauth) as Arc<_>);
    }
    let federation = Arc::new(federation);
    let mut router = app::app(state);
    if let Some((oauth, _)) = oauth {
        // Outermost: CORS for browser SMART apps, on the FHIR API and the token endpoints.
        router = router
            .merge(oauth::router(oauth))
            .layer(axum::middleware::from_fn(oauth::cors));
    }
    if !federation.is_empty() {
        router = router.merge(federation::router(federation));
    }
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving")?;
    // Every request has finished: let the guard flush its audit queue.
    engine.guard.flush().context("flushing the audit records")?;
    tracing::info!("stopped");
    Ok(())
}

/// The real guard: the server's key (created on first start) and the configured issuers,
/// the policy, the audit store, and the demo users written for `token mint --user`.
fn policy_guard(
    config: &Config,
    base_url: &str,
    compartments: &fhir_compartment::Compartments,
    registry: Option<(
        Arc<dyn smart_token::ClientStore>,
        Arc<dyn smart_token::RevocationStore>,
    )>,
) -> anyhow::Result<security::PolicyGuard> {
    use smart_token::{
        ClaimMapping, HttpFetcher, JwksFetcher, KeySet, KeySource, TrustedIssuer, Validator,
    };
    let key = security::key::load(&config.data_dir, true)?;
    if config.seed {
        security::users::seed(&config.data_dir)?;
    }
    let mapping = security::users::ATTRIBUTES
        .iter()
        .fold(ClaimMapping::default(), |m, name| m.attribute(*name, *name));
    let own = KeySource::fixed(KeySet::new([key.verifying_key()?]));
    let mut issuers = vec![TrustedIssuer::new(base_url, base_url, own).mapping(mapping)];
    let fetcher: Arc<dyn JwksFetcher> = Arc::new(HttpFetcher::new());
    issuers.extend(federation::trusted_issuers(
        &config.trusted_issuers,
        base_url,
        &fetcher,
    )?);
    let mut validator = Validator::new(issuers).cache(10_000);
    let mut kinds = None;
    if let Some((clients, revocations)) = registry {
        validator = validator.revocations(revocations);
        kinds = Some(security::audit::ClientKinds::new(clients, base_url));
    }
    let policy = security::policy::load(config.policy.as_deref(), compartments.clone())?;
    let audit = security::audit::Auditor::open(
        &config.data_dir,
        base_url.to_owned(),
        config.audit_wait,
        config.audit_sync_delay,
        kinds,
    )?;
    tracing::info!(
        policy = policy.id(),
        rules = policy.rule_count(),
        issuer = base_url,
        "authorization `policy`"
    );
    Ok(security::PolicyGuard {
        validator,
        policy,
        audit,
        compartments: compartments.clone(),
        consents: security::consents::ConsentIndex::open(&config.data_dir)?,
        patient_readable: config
            .patient_readable_types
            .iter()
            .filter_map(|t| fhir_scopes::ResourceType::from_name(t.as_str()))
            .collect(),
        explain: config.explain,
    })
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish before the server stops.
/// The handlers are installed now, before the server listens: a signal that arrives while it
/// starts must stop it gracefully too, not kill it.
#[cfg(unix)]
fn shutdown() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
    })
}

/// Resolves on Ctrl-C; in-flight requests then finish before the server stops.
#[cfg(not(unix))]
fn shutdown() -> anyhow::Result<impl Future<Output = ()>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("shutting down");
        } else {
            std::future::pending::<()>().await;
        }
    })
}
