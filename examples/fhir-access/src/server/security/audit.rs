//! Requests as `fhir-audit` records in the file store of the data directory (`audit/`).
//! Every request waits until its record is stored as far as `--audit-wait` says (written to
//! the file by default, `fdatasync`ed on request); a store failure answers 503.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use compact_str::{CompactString, ToCompactString as _, format_compact};
use fhir_audit::{
    AuditRecord, BreakGlass, Client, ClientKind, Decision, FileStore, Interaction, Searcher,
    Sink as _, Stage, StoreConfig, Timestamp, User,
};
use serde_json::Value;
use smart_token::{AccessContext, ClientAuth, ClientStore};

use super::super::search::SearchQuery;

use super::super::guard;
use super::super::outcome::Error;

/// The audit store and this server's id in its records.
#[derive(Debug)]
pub(crate) struct Auditor {
    store: FileStore,
    store_dir: std::path::PathBuf,
    server_id: String,
    wait: Stage,
    kinds: Option<ClientKinds>,
}

/// Whether the clients of this server's own tokens are public or confidential, from its
/// client registry, remembered per client id until the server restarts (the request path
/// makes no database query once a client was seen). Clients of other issuers are recorded as
/// public: nothing here vouches that they can keep a secret.
pub(crate) struct ClientKinds {
    store: Arc<dyn ClientStore>,
    issuer: String,
    known: Mutex<HashMap<String, ClientKind>>,
}

/// How many client ids [`ClientKinds`] remembers; past that it asks the registry each time.
const KNOWN_CLIENTS: usize = 10_000;

impl std::fmt::Debug for ClientKinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKinds")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ClientKinds {
    /// The registry of the clients of the tokens `issuer` issues.
    pub(crate) fn new(store: Arc<dyn ClientStore>, issuer: &str) -> ClientKinds {
        ClientKinds {
            store,
            issuer: issuer.to_owned(),
            known: Mutex::new(HashMap::new()),
        }
    }

    fn of(&self, context: &AccessContext, id: &str) -> ClientKind {
        if context.issuer() != self.issuer {
            return ClientKind::Public;
        }
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kind) = known.get(id) {
            return *kind;
        }
        let kind = match self.store.client(id) {
            Ok(Some(client)) if !matches!(client.auth(), ClientAuth::None) => {
                ClientKind::Confidential
            }
            // Public, or not registered (a token minted for a client id of its own).
            Ok(_) => ClientKind::Public,
            // Unreadable: claim no authentication, and ask again next time.
            Err(_) => return ClientKind::Public,
        };
        if known.len() < KNOWN_CLIENTS {
            known.insert(id.to_owned(), kind);
        }
        kind
    }
}

/// How far a request's audit record must have gone before the request is answered (the
/// `--audit-wait` setting; docs/audit.md says why `written` is the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum AuditWait {
    /// Written to the audit file and chained ([`Stage::Written`]): survives a crash of the
    /// server; a group commit within `--audit-sync-delay` makes it durable.
    #[default]
    Written,
    /// `fdatasync`ed ([`Stage::Durable`]): survives a power loss too.
    Durable,
}

/// The audit directory inside the data directory.
pub(crate) const AUDIT_DIR: &str = "audit";

impl Auditor {
    /// Opens (or creates) the store under `data_dir`.
    pub(crate) fn open(
        data_dir: &Path,
        server_id: String,
        wait: AuditWait,
        sync_delay: std::time::Duration,
        kinds: Option<ClientKinds>,
    ) -> anyhow::Result<Auditor> {
        let store_dir = data_dir.join(AUDIT_DIR);
        let store = FileStore::open(&store_dir, StoreConfig::default().sync_delay(sync_delay))?;
        Ok(Auditor {
            store,
            store_dir,
            server_id,
            wait: match wait {
                AuditWait::Written => Stage::Written,
                AuditWait::Durable => Stage::Durable,
            },
            kinds,
        })
    }

    /// Stores the record of one request and waits until it has gone as far as configured.
    pub(crate) fn record(
        &self,
        record: &guard::AuditRecord<'_>,
        context: Option<&AccessContext>,
    ) -> Result<(), Error> {
        let stored = self
            .store
            .append(convert(
                record,
                context,
                &self.server_id,
                self.kinds.as_ref(),
            ))
            .and_then(|receipt| receipt.wait_until(self.wait));
        stored.map_err(|error| {
            tracing::error!(%error, "audit store failed: failing the request closed");
            Error::AuditUnavailable
        })
    }

    /// The records matching a FHIR AuditEvent search (`patient`, `agent`, `date` with `ge`,
    /// `gt`, `le`, `lt`, `_count`), newest last, as BALP AuditEvents. Other parameters are a
    /// 400: an ignored filter would return more than was asked for.
    pub(crate) fn search(&self, query: &SearchQuery, max: usize) -> Result<Vec<Value>, Error> {
        let mut filter = fhir_audit::Query {
            limit: query.count.unwrap_or(max).min(max),
            ..fhir_audit::Query::default()
        };
        for (name, value) in &query.params {
            match name.as_str() {
                "patient" => {
                    let id = value.rsplit('/').next().unwrap_or(value);
                    filter.patient = Some(format!("Patient/{id}"));
                }
                "agent" => filter.user = Some(value.clone()),
                "date" => {
                    let (prefix, rest) = value.split_at(value.len().min(2));
                    let time = Timestamp::parse_date_or_time(rest)
                        .map_err(|e| Error::Invalid(format!("date: {e}")))?;
                    match prefix {
                        "ge" | "gt" => filter.since = Some(time),
                        "le" | "lt" => filter.until = Some(time),
                        _ => {
                            return Err(Error::Invalid(
                                "AuditEvent date takes ge, gt, le or lt".to_owned(),
                            ));
                        }
                    }
                }
                "_count" => {}
                other => {
                    return Err(Error::NotSupported(format!(
                        "AuditEvent search parameter `{other}`"
                    )));
                }
            }
        }
        self.store.flush().map_err(|_| Error::AuditUnavailable)?;
        let mut searcher = Searcher::open(self.store_dir.as_path()).map_err(|error| {
            tracing::error!(%error, "opening the audit log");
            Error::AuditUnavailable
        })?;
        let found = searcher.search(&filter).map_err(|error| {
            tracing::error!(%error, "searching the audit log");
            Error::AuditUnavailable
        })?;
        Ok(found
            .iter()
            .flat_map(|stored| stored.record.audit_events())
            .collect())
    }

    /// Flushes what is queued (at shutdown).
    pub(crate) fn flush(&self) -> Result<(), Error> {
        self.store.flush().map_err(|error| {
            tracing::error!(%error, "flushing the audit store");
            Error::AuditUnavailable
        })
    }
}

fn interaction(record: &guard::AuditRecord<'_>) -> Interaction {
    match record.interaction {
        Some("capabilities") => Interaction::Capabilities,
        Some("read") => Interaction::Read,
        Some("vread") => Interaction::Vread,
        Some("create") => Interaction::Create,
        Some("update") => Interaction::Update,
        Some("patch") => Interaction::Patch,
        Some("delete") => Interaction::Delete,
        Some("search-type") => Interaction::SearchType,
        Some("history-instance") => Interaction::HistoryInstance,
        Some("history-type") => Interaction::HistoryType,
        Some("operation") => Interaction::Operation,
        Some("batch") => Interaction::Batch,
        Some("transaction") => Interaction::Transaction,
        // A request that did not parse: what its method asked for.
        _ => match record.method {
            "POST" => Interaction::Create,
            "PUT" => Interaction::Update,
            "PATCH" => Interaction::Patch,
            "DELETE" => Interaction::Delete,
            _ => Interaction::Read,
        },
    }
}

fn convert(
    record: &guard::AuditRecord<'_>,
    context: Option<&AccessContext>,
    server_id: &str,
    kinds: Option<&ClientKinds>,
) -> AuditRecord {
    let decision = match record.status {
        401 | 403 => Decision::Denied,
        status if status < 400 => Decision::Permitted,
        _ => Decision::Error,
    };
    let mut out = AuditRecord::new(
        Timestamp::now(),
        interaction(record),
        decision,
        record.status,
        server_id,
    );
    let mut segments = record.path.split('/').filter(|s| !s.is_empty());
    out.action.resource_type = segments
        .next()
        .filter(|s| s.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .map(CompactString::from);
    out.action.resource_id = segments
        .next()
        .filter(|s| out.action.resource_type.is_some() && !s.starts_with(['_', '$']))
        .map(CompactString::from);
    out.action.query = record
        .query
        .filter(|q| !q.is_empty())
        .map(CompactString::from);
    out.action.operation = record.operation.map(CompactString::from);
    if let Some(context) = context {
        out.user = context.subject().map(|id| User {
            id: id.into(),
            fhir_user: context.fhir_user().map(CompactString::from),
            roles: context.roles().iter().map(CompactString::from).collect(),
        });
        out.client = context.client_id().map(|id| Client {
            id: id.into(),
            kind: kinds.map_or(ClientKind::Public, |kinds| kinds.of(context, id)),
        });
        out.token_jti = context.jti().map(CompactString::from);
    }
    // fhir-audit's convention: patients as references.
    out.patients = record
        .patients
        .iter()
        .map(|id| format_compact!("Patient/{id}"))
        .collect();
    out.outcome.rules = record.rules.iter().map(CompactString::from).collect();
    out.origin.client_ip = record.caller.peer.map(|p| p.ip().to_compact_string());
    out.purpose_of_use = record
        .caller
        .purpose_of_use
        .iter()
        .map(CompactString::from)
        .collect();
    out.break_glass = record
        .caller
        .break_glass
        .as_ref()
        .filter(|r| !r.trim().is_empty())
        .map(|reason| BreakGlass {
            reason: reason.into(),
        });
    out
}
