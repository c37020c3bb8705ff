//! The engine: runs one parsed FHIR interaction against the store, synchronously (the HTTP
//! layer calls it on a blocking thread). Every path goes through the [`Guard`]: `decide`
//! first, `may_read` on every resource on its way out, `may_write` before every write, and
//! `audit` once per request in [`Engine::handle`].

use std::collections::{BTreeSet, HashSet};

use axum::http::StatusCode;
use fhir_compartment::path::search_parameter;
use fhir_compartment::{Compartment, CompartmentKind, Compartments, ResourceType, ServerBases};
use rusqlite::Connection;
use serde_json::{Value, json};

use super::guard::{AuditRecord, Caller, Guard, Narrowing, Permit};
use super::index;
use super::outcome::{Error, operation_outcome};
use super::request::{self, Interaction, RawRequest, Target};
use super::search::{Filter, Include, SearchQuery, Sort, Test};
use super::store::{self, Indexing, Search, Store, Stored};

/// The bounds the engine enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Page size when `_count` is not given.
    pub(crate) default_count: usize,
    /// Largest page (`_count` above it is lowered to it).
    pub(crate) max_count: usize,
    /// Most resources `_include`/`_revinclude` add to one page.
    pub(crate) max_include: usize,
    /// Most resources `$everything` returns (more is a 422).
    pub(crate) max_everything: usize,
    /// Most entries in a batch or transaction.
    pub(crate) max_bundle_entries: usize,
}

/// Everything a request needs, built once at start.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) store: Store,
    pub(crate) guard: std::sync::Arc<dyn Guard>,
    pub(crate) compartments: Compartments,
    pub(crate) bases: ServerBases,
    /// The FHIR base URL, without a trailing `/` (for `fullUrl`, `Location` and links).
    pub(crate) base_url: String,
    pub(crate) limits: Limits,
    /// Whether `PUT` to a new id creates the resource.
    pub(crate) update_create: bool,
    pub(crate) capabilities: Value,
}

/// The answer to one interaction, before it becomes HTTP or a Bundle entry response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Option<Value>,
    pub(crate) version: Option<u64>,
    /// Epoch milliseconds.
    pub(crate) last_modified: Option<i64>,
    pub(crate) location: Option<String>,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
            version: None,
            last_modified: None,
            location: None,
        }
    }

    /// The OperationOutcome answer to an error.
    pub(crate) fn error(error: &Error) -> Reply {
        Reply {
            status: error.status(),
            body: Some(error.to_outcome()),
            version: None,
            last_modified: None,
            location: None,
        }
    }
}

/// What a request's audit record needs beyond the request: the patients it touched and the
/// rules of the decisions taken.
#[derive(Debug, Default)]
pub(crate) struct Trail {
    patients: BTreeSet<String>,
    rules: Vec<String>,
    /// A decision carried a `hide` obligation: the reply's resources are redacted.
    redact: bool,
    /// What each permit noted while the request ran (read once, for the audit record).
    noted: Vec<super::guard::Noted>,
    /// A Consent was written: the guard forgets cached Consents after the commit.
    consents_changed: bool,
}

impl Trail {
    /// Asks the guard to decide, recording the deciding rules either way.
    pub(crate) fn decide(
        &mut self,
        guard: &dyn Guard,
        caller: &Caller,
        interaction: &Interaction,
    ) -> Result<Permit, Error> {
        match guard.decide(caller, interaction) {
            Ok(permit) => {
                self.rules.extend(permit.rules.iter().cloned());
                self.redact |= permit.redacts;
                self.noted.push(permit.noted.clone());
                Ok(permit)
            }
            Err(denial) => {
                self.rules.extend(denial.rules);
                Err(denial.error)
            }
        }
    }

    fn note(&mut self, compartments: &Compartments, resource: &Value) {
        if let Ok(patients) = compartments.compartments_of_kind(resource, CompartmentKind::Patient)
        {
            self.patients
                .extend(patients.iter().map(|patient| patient.id().to_owned()));
        }
    }
}

impl Engine {
    /// Parses, authorizes, runs and audits one request. Never fails: errors become
    /// OperationOutcome replies; an audit failure replaces any reply with a 503.
    pub(crate) fn handle(&self, caller: &Caller, raw: &RawRequest<'_>) -> Reply {
        let mut trail = Trail::default();
        let parsed = request::parse(raw, self.context());
        let name = parsed.as_ref().ok().map(Interaction::name);
        let query = parsed.as_ref().ok().and_then(Interaction::audit_query);
        let operation = parsed.as_ref().ok().and_then(Interaction::operation);
        let reply = match parsed.and_then(|i| self.run(caller, &i, &mut trail)) {
            Ok(mut reply) => {
                if trail.redact {
                    if let Some(body) = reply.body.as_mut() {
                        self.guard.redact(caller, body);
                    }
                }
                reply
            }
            Err(error) => {
                if let Error::Internal(cause) = &error {
                    tracing::error!(%cause, path = raw.path, "request failed");
                }
                Reply::error(&error)
            }
        };
        let patients: Vec<String> = trail.patients.into_iter().collect();
        let mut rules = trail.rules;
        for noted in trail.noted.iter().flat_map(super::guard::Noted::rules) {
            if !rules.contains(&noted) {
                rules.push(noted);
            }
        }
        let record = AuditRecord {
            caller,
            interaction: name,
            method: raw.method.as_str(),
            path: raw.path,
            query: query.as_deref(),
            operation,
            status: reply.status.as_u16(),
            patients: &patients,
            rules: &rules,
        };
        match self.guard.audit(&record) {
            Ok(()) => reply,
            Err(error) => Reply::error(&error),
        }
    }

    /// Answers and audits a request refused before it could be parsed (a body over the size
    /// limit, a path that is not UTF-8, a path outside the FHIR base).
    pub(crate) fn reject(&self, caller: &Caller, method: &str, path: &str, error: &Error) -> Reply {
        let record = AuditRecord {
            caller,
            interaction: None,
            method,
            path,
            query: None,
            operation: None,
            status: error.status().as_u16(),
            patients: &[],
            rules: &[],
        };
        match self.guard.audit(&record) {
            Ok(()) => Reply::error(error),
            Err(audit) => Reply::error(&audit),
        }
    }

    /// What the request parser needs from the engine.
    pub(crate) fn context(&self) -> request::Context<'_> {
        request::Context {
            bases: &self.bases,
            compartments: &self.compartments,
        }
    }

    /// Decides, then runs, one interaction (a top-level request or a batch entry).
    pub(crate) fn run(
        &self,
        caller: &Caller,
        interaction: &Interaction,
        trail: &mut Trail,
    ) -> Result<Reply, Error> {
        let permit = trail.decide(&*self.guard, caller, interaction)?;
        match interaction {
            Interaction::Capabilities => Ok(Reply::ok(self.capabilities.clone())),
            Interaction::Batch(bundle) => super::bundle::batch(self, caller, bundle, trail),
            Interaction::Transaction(bundle) => {
                let mut conn = self.store.writer();
                let tx = conn.transaction()?;
                let reply = super::bundle::transaction(self, &tx, caller, bundle, trail)?;
                tx.commit()?;
                self.committed(trail);
                Ok(reply)
            }
            write if write.is_write() => {
                let mut conn = self.store.writer();
                let tx = conn.transaction()?;
                let reply = self.execute(&tx, caller, &permit, write, None, trail)?;
                tx.commit()?;
                self.committed(trail);
                Ok(reply)
            }
            read => {
                let conn = self.store.reader();
                self.execute(&conn, caller, &permit, read, None, trail)
            }
        }
    }

    /// After a commit: Consents written in it change what the guard decides from now on.
    fn committed(&self, trail: &mut Trail) {
        if std::mem::take(&mut trail.consents_changed) {
            self.guard.consents_changed();
        }
    }

    fn indexing(&self) -> Indexing<'_> {
        Indexing {
            compartments: &self.compartments,
            bases: &self.bases,
        }
    }

    /// Runs a decided interaction on `conn` (inside a transaction for writes). `new_id` is the
    /// id a transaction assigned to a create.
    pub(crate) fn execute(
        &self,
        conn: &Connection,
        caller: &Caller,
        permit: &Permit,
        interaction: &Interaction,
        new_id: Option<&str>,
        trail: &mut Trail,
    ) -> Result<Reply, Error> {
        let written_type = match interaction {
            Interaction::Create { resource_type, .. } => Some(*resource_type),
            Interaction::Update { target, .. } | Interaction::Patch { target, .. } => {
                Some(target.resource_type)
            }
            Interaction::Delete(target) => Some(target.resource_type),
            _ => None,
        };
        trail.consents_changed |= written_type == Some(ResourceType::Consent);
        match interaction {
            Interaction::Read(target) => {
                let stored = self.readable(conn, caller, permit, target)?;
                Ok(self.resource_reply(StatusCode::OK, stored, trail))
            }
            Interaction::Vread(target, version) => {
                // A version the caller may not see is as missing as one that never existed.
                let stored = store::version(conn, target.resource_type, &target.id, *version)?
                    .filter(|s| {
                        s.resource
                            .as_ref()
                            .is_some_and(|r| self.guard.may_read(caller, permit, r))
                    })
                    .ok_or(Error::NotFound)?;
                Ok(self.resource_reply(StatusCode::OK, stored, trail))
            }
            Interaction::Create {
                resource_type,
                resource,
                if_none_exist,
            } => {
                if let Some(condition) = if_none_exist {
                    let found =
                        self.visible(conn, caller, permit, *resource_type, condition, trail)?;
                    match found.as_slice() {
                        [] => {}
                        [existing] => {
                            return Ok(self.resource_reply(
                                StatusCode::OK,
                                existing.clone(),
                                trail,
                            ));
                        }
                        _ => {
                            return Err(Error::MultipleMatches(
                                "`If-None-Exist` matched more than one resource".to_owned(),
                            ));
                        }
                    }
                }
                if !self.guard.may_write(caller, permit, None, Some(resource)) {
                    return Err(Error::Forbidden);
                }
                let id = new_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
                let stored = store::write(
                    conn,
                    self.indexing(),
                    *resource_type,
                    &id,
                    resource.clone(),
                    "POST",
                )?;
                Ok(self.written_reply(StatusCode::CREATED, stored, caller, permit, trail))
            }
            Interaction::Update {
                target,
                resource,
                if_match,
            } => {
                // What the caller may not reach is answered as a free id would be, and a
                // free id is created only for a caller who could reach any resource under
                // it: a hidden resource is never overwritten, nor told apart from a free id.
                let current = store::current(conn, target.resource_type, &target.id)?;
                let exists = current.is_some();
                let stored = current.filter(|s| self.may_reach(caller, permit, s));
                let status = match &stored {
                    Some(_) => StatusCode::OK,
                    None if self.update_create && !permit.content_bound && !exists => {
                        StatusCode::CREATED
                    }
                    None if !self.update_create => {
                        return Err(Error::MethodNotAllowed(
                            "update as create is switched off: create with POST".to_owned(),
                        ));
                    }
                    None => {
                        return Err(Error::MethodNotAllowed(
                            "update as create is not offered to callers with restricted access: create with POST"
                                .to_owned(),
                        ));
                    }
                };
                check_version(stored.as_ref(), *if_match)?;
                if !self.guard.may_write(
                    caller,
                    permit,
                    stored.as_ref().and_then(|s| s.resource.as_ref()),
                    Some(resource),
                ) {
                    return Err(Error::Forbidden);
                }
                let written = store::write(
                    conn,
                    self.indexing(),
                    target.resource_type,
                    &target.id,
                    resource.clone(),
                    "PUT",
                )?;
                Ok(self.written_reply(status, written, caller, permit, trail))
            }
            Interaction::Patch {
                target,
                patch,
                if_match,
            } => {
                let stored = self.readable(conn, caller, permit, target)?;
                check_version(Some(&stored), *if_match)?;
                let mut patched = stored.resource.clone().unwrap_or(Value::Null);
                let operations: json_patch::Patch = serde_json::from_value(patch.clone())
                    .map_err(|e| Error::Invalid(format!("invalid JSON Patch: {e}")))?;
                json_patch::patch(&mut patched, &operations)
                    .map_err(|e| Error::Invalid(format!("JSON Patch failed: {e}")))?;
                if patched.get("resourceType").and_then(Value::as_str)
                    != Some(target.resource_type.as_str())
                    || patched.get("id").and_then(Value::as_str) != Some(target.id.as_str())
                {
                    return Err(Error::Invalid(
                        "a patch may not change `resourceType` or `id`".to_owned(),
                    ));
                }
                if !self
                    .guard
                    .may_write(caller, permit, stored.resource.as_ref(), Some(&patched))
                {
                    return Err(Error::Forbidden);
                }
                let written = store::write(
                    conn,
                    self.indexing(),
                    target.resource_type,
                    &target.id,
                    patched,
                    "PATCH",
                )?;
                Ok(self.written_reply(StatusCode::OK, written, caller, permit, trail))
            }
            Interaction::Delete(target) => {
                // Deleting what does not exist, or what the caller may not reach, is a no-op.
                let Some(stored) = store::current(conn, target.resource_type, &target.id)?
                    .filter(|s| self.may_reach(caller, permit, s))
                else {
                    return Ok(no_content());
                };
                if !self
                    .guard
                    .may_write(caller, permit, stored.resource.as_ref(), None)
                {
                    return Err(Error::Forbidden);
                }
                if let Some(resource) = &stored.resource {
                    trail.note(&self.compartments, resource);
                }
                store::delete(conn, target.resource_type, &target.id)?;
                Ok(no_content())
            }
            Interaction::Search {
                resource_type: ResourceType::AuditEvent,
                compartment: None,
                query,
            } if self.guard.serves_audit_events() => {
                let events = self.guard.audit_events(query, self.limits.max_count)?;
                let visible: Vec<Value> = events
                    .into_iter()
                    .filter(|e| self.guard.may_read(caller, permit, e))
                    .map(|e| json!({"resource": e, "search": {"mode": "match"}}))
                    .collect();
                let mut bundle =
                    json!({"resourceType": "Bundle", "type": "searchset", "total": visible.len()});
                if let (false, Some(object)) = (visible.is_empty(), bundle.as_object_mut()) {
                    object.insert("entry".to_owned(), Value::Array(visible));
                }
                Ok(Reply::ok(bundle))
            }
            Interaction::Search {
                resource_type,
                compartment,
                query,
            } => self.search(
                conn,
                caller,
                permit,
                *resource_type,
                compartment.as_ref(),
                query,
                trail,
            ),
            Interaction::History {
                resource_type,
                id,
                count,
                offset,
            } => self.history(
                conn,
                caller,
                permit,
                *resource_type,
                id.as_deref(),
                *count,
                *offset,
                trail,
            ),
            Interaction::Everything(target) => self.everything(conn, caller, permit, target, trail),
            Interaction::Capabilities | Interaction::Batch(_) | Interaction::Transaction(_) => {
                Err(Error::Invalid(format!(
                    "`{}` cannot be an entry of a batch or transaction",
                    interaction.name()
                )))
            }
        }
    }

    /// The current version, if it exists and the caller may see it; one 404 otherwise.
    fn readable(
        &self,
        conn: &Connection,
        caller: &Caller,
        permit: &Permit,
        target: &Target,
    ) -> Result<Stored, Error> {
        store::current(conn, target.resource_type, &target.id)?
            .filter(|s| {
                s.resource
                    .as_ref()
                    .is_some_and(|r| self.guard.may_read(caller, permit, r))
            })
            .ok_or(Error::NotFound)
    }

    /// Whether the caller may read a stored version or do the permitted write to it: a
    /// write-only token (`patient/Observation.u`) updates what it may not read back.
    fn may_reach(&self, caller: &Caller, permit: &Permit, stored: &Stored) -> bool {
        stored.resource.as_ref().is_some_and(|r| {
            self.guard.may_read(caller, permit, r)
                || (permit.writes_as.is_some()
                    && self.guard.may_write(caller, permit, Some(r), None))
        })
    }

    fn resource_reply(&self, status: StatusCode, stored: Stored, trail: &mut Trail) -> Reply {
        if let Some(resource) = &stored.resource {
            trail.note(&self.compartments, resource);
        }
        Reply {
            status,
            body: stored.resource,
            version: Some(stored.version),
            last_modified: Some(stored.last_updated),
            location: Some(format!(
                "{}/{}/{}/_history/{}",
                self.base_url, stored.resource_type, stored.id, stored.version
            )),
        }
    }

    /// A write's reply: the written resource only when the caller may read it back.
    fn written_reply(
        &self,
        status: StatusCode,
        stored: Stored,
        caller: &Caller,
        permit: &Permit,
        trail: &mut Trail,
    ) -> Reply {
        if let Some(resource) = &stored.resource {
            trail.note(&self.compartments, resource);
        }
        let readable = stored
            .resource
            .as_ref()
            .is_some_and(|r| self.guard.may_read(caller, permit, r));
        let mut reply = self.resource_reply(status, stored, &mut Trail::default());
        if !readable {
            reply.body = None;
        }
        reply
    }

    fn count(&self, asked: Option<usize>) -> usize {
        asked
            .unwrap_or(self.limits.default_count)
            .min(self.limits.max_count)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one search's parts, named at the one call site"
    )]
    fn search(
        &self,
        conn: &Connection,
        caller: &Caller,
        permit: &Permit,
        resource_type: ResourceType,
        compartment: Option<&Compartment>,
        query: &SearchQuery,
        trail: &mut Trail,
    ) -> Result<Reply, Error> {
        let mut narrowed = self.narrowed(resource_type, compartment, query, permit)?;
        narrowed.filters.extend(self.resolve(
            conn,
            caller,
            &narrowed,
            resource_type,
            query,
            trail,
        )?);
        let search = narrowed.search(resource_type, &query.sort);
        let total = search.count(conn)?;
        let count = self.count(query.count);
        if query.summary_count {
            return Ok(Reply::ok(
                json!({"resourceType": "Bundle", "type": "searchset", "total": total}),
            ));
        }
        let page = if count == 0 {
            Vec::new()
        } else {
            search.page(conn, count, query.offset)?
        };
        let mut seen: HashSet<(ResourceType, String)> = HashSet::new();
        let mut matches = Vec::new();
        for stored in page {
            if let Some(resource) = stored.resource {
                if self.guard.may_read(caller, permit, &resource) {
                    seen.insert((stored.resource_type, stored.id));
                    matches.push(resource);
                }
            }
        }
        let (included, truncated) =
            self.includes(conn, caller, permit, query, &matches, &mut seen)?;
        let mut entries = Vec::new();
        for resource in &matches {
            trail.note(&self.compartments, resource);
            let shown = match &query.elements {
                Some(elements) => subset(resource, elements),
                None => resource.clone(),
            };
            entries.push(self.entry(shown, "match"));
        }
        for resource in included {
            trail.note(&self.compartments, &resource);
            entries.push(self.entry(resource, "include"));
        }
        if truncated {
            entries.push(json!({
                "resource": operation_outcome("warning", "too-costly", &format!(
                    "`_include`/`_revinclude` stopped at {} resources", self.limits.max_include)),
                "search": {"mode": "outcome"}
            }));
        }
        Ok(Reply::ok(json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "total": total,
            "link": self.links(resource_type, compartment, query, count, total),
            "entry": entries
        })))
    }

    /// A query's filters and compartments with the permit's narrowing added.
    fn narrowed(
        &self,
        resource_type: ResourceType,
        compartment: Option<&Compartment>,
        query: &SearchQuery,
        permit: &Permit,
    ) -> Result<Narrowed, Error> {
        let mut narrowed = Narrowed {
            filters: query.filters.clone(),
            compartments: compartment.map(|c| vec![c.clone()]).into_iter().collect(),
            excluded: Vec::new(),
        };
        for narrowing in &permit.narrowing {
            match narrowing {
                Narrowing::InCompartments(set) => {
                    // Implied by a set already required that it includes (a compartment
                    // search inside it), or by a filter.
                    let within = narrowed
                        .compartments
                        .iter()
                        .any(|required| required.iter().all(|c| set.contains(c)));
                    if !within && !self.implied(resource_type, &narrowed.filters, set) {
                        narrowed.compartments.push(set.clone());
                    }
                }
                Narrowing::NotInCompartments(set) => narrowed.excluded.extend(set.iter().cloned()),
                Narrowing::Parameters(params) => {
                    // The guard's own parameters: one that does not parse is a server fault,
                    // not the client's, and fails closed.
                    let narrowing = SearchQuery::parse(resource_type, params, &self.bases)
                        .map_err(|e| Error::Internal(format!("guard narrowing: {e}")))?;
                    narrowed.filters.extend(narrowing.filters);
                }
            }
        }
        Ok(narrowed)
    }

    /// Whether `filters` already keep a search of `resource_type` inside the compartments of
    /// `set`: a filter admits only references to the owner of one of them, through a
    /// parameter that makes a resource referencing that owner a member (the usual
    /// `Observation?patient=<an assigned patient>`). The narrowing would then cost the
    /// database a second lookup that removes nothing.
    fn implied(
        &self,
        resource_type: ResourceType,
        filters: &[Filter],
        set: &[Compartment],
    ) -> bool {
        set.iter().any(|compartment| {
            let owner = compartment.kind().owner_type();
            let reference = format!("{owner}/{}", compartment.id());
            filters.iter().any(|filter| {
                let admits_only_owner = match filter.any_of.as_slice() {
                    [Test::ReferenceTo(to)] => *to == reference,
                    // A bare id: the owner's only when the parameter selects only references
                    // to the owner's type.
                    [Test::ReferenceId(id)] => {
                        id == compartment.id()
                            && search_parameter(resource_type, filter.param)
                                .is_some_and(|p| p.references_only(owner))
                    }
                    _ => false,
                };
                !filter.negate
                    && filter.missing.is_none()
                    && admits_only_owner
                    && self.compartments.implies_membership(
                        resource_type,
                        filter.param,
                        compartment.kind(),
                    )
            })
        })
    }

    /// A query's chained parameters and `_has` as filters on references and ids. Each is
    /// run as a search of its own: decided by the guard (a denial of a named type is the
    /// request's), narrowed, and checked resource by resource, so it ranges only over what
    /// the caller may see and can tell nothing about the rest.
    /// `within` is the searched type's narrowing: a chain without a type follows the types
    /// that the references the caller's narrowing admits point to.
    fn resolve(
        &self,
        conn: &Connection,
        caller: &Caller,
        within: &Narrowed,
        resource_type: ResourceType,
        query: &SearchQuery,
        trail: &mut Trail,
    ) -> Result<Vec<Filter>, Error> {
        let mut filters = Vec::new();
        for chain in &query.chains {
            let targets = match chain.target {
                Some(target) => vec![target],
                None => {
                    store::referenced_types(conn, &within.search(resource_type, &[]), chain.param)?
                }
            };
            let mut references = Vec::new();
            let mut unparsed = None;
            let mut parsed_any = false;
            for target in &targets {
                let target = *target;
                let inner = match chain.target {
                    Some(_) => (*chain.query).clone(),
                    // A type without that parameter is not a target of this chain.
                    None => match SearchQuery::parse(target, &chain.query.params, &self.bases) {
                        Ok(inner) => inner,
                        Err(error) => {
                            unparsed.get_or_insert(error);
                            continue;
                        }
                    },
                };
                parsed_any = true;
                let interaction = Interaction::Search {
                    resource_type: target,
                    compartment: None,
                    query: inner.clone(),
                };
                let permit = match trail.decide(&*self.guard, caller, &interaction) {
                    Ok(permit) => permit,
                    Err(error) if chain.target.is_some() => return Err(error),
                    // A type found in the data that the caller may not search adds nothing.
                    Err(_) => continue,
                };
                for found in self.visible(conn, caller, &permit, target, &inner, trail)? {
                    references.push(format!("{target}/{}", found.id));
                }
            }
            // No target type knows the parameter: the client's error, as for a plain one.
            if let (false, Some(error)) = (parsed_any, unparsed) {
                return Err(error);
            }
            filters.push(Filter::references(chain.param, references));
        }
        for has in &query.has {
            let interaction = Interaction::Search {
                resource_type: has.source,
                compartment: None,
                query: (*has.query).clone(),
            };
            let permit = trail.decide(&*self.guard, caller, &interaction)?;
            let parameter = search_parameter(has.source, has.param)
                .ok_or_else(|| Error::Internal(format!("no parameter `{}`", has.param)))?;
            let mut ids: Vec<String> = Vec::new();
            for found in self.visible(conn, caller, &permit, has.source, &has.query, trail)? {
                let Some(resource) = &found.resource else {
                    continue;
                };
                for value in parameter.expression().evaluate(resource) {
                    if let Some((target, id)) = index::local_target(value, &self.bases) {
                        if target == resource_type && !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                }
            }
            filters.push(Filter::ids(ids));
        }
        Ok(filters)
    }

    /// Every current resource matching a search (chains resolved) that the caller may see:
    /// the inner searches of chains and `_has`, and the condition of a conditional create.
    /// At most `max_everything` (more is a 422).
    fn visible(
        &self,
        conn: &Connection,
        caller: &Caller,
        permit: &Permit,
        resource_type: ResourceType,
        query: &SearchQuery,
        trail: &mut Trail,
    ) -> Result<Vec<Stored>, Error> {
        let mut narrowed = self.narrowed(resource_type, None, query, permit)?;
        narrowed.filters.extend(self.resolve(
            conn,
            caller,
            &narrowed,
            resource_type,
            query,
            trail,
        )?);
        let limit = self.limits.max_everything;
        let found = narrowed
            .search(resource_type, &[])
            .page(conn, limit.saturating_add(1), 0)?;
        if found.len() > limit {
            return Err(Error::TooCostly(format!(
                "a chained or `_has` parameter matched more than {limit} resources"
            )));
        }
        Ok(found
            .into_iter()
            .filter(|s| {
                s.resource
                    .as_ref()
                    .is_some_and(|r| self.guard.may_read(caller, permit, r))
            })
            .collect())
    }

    fn entry(&self, resource: Value, mode: &str) -> Value {
        let full_url = match (
            resource.get("resourceType").and_then(Value::as_str),
            resource.get("id").and_then(Value::as_str),
        ) {
            (Some(t), Some(id)) => format!("{}/{t}/{id}", self.base_url),
            _ => String::new(),
        };
        json!({"fullUrl": full_url, "resource": resource, "search": {"mode": mode}})
    }

    /// `self`, `first`, `previous` and `next` links. Paging is by offset over a stable order.
    fn links(
        &self,
        resource_type: ResourceType,
        compartment: Option<&Compartment>,
        query: &SearchQuery,
        count: usize,
        total: usize,
    ) -> Value {
        let path = match compartment {
            Some(c) => format!("{}/{c}/{resource_type}", self.base_url),
            None => format!("{}/{resource_type}", self.base_url),
        };
        let url = |offset: usize| {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (name, value) in query.params.iter().filter(|(n, _)| n != "_count") {
                form.append_pair(name, value);
            }
            form.append_pair("_count", &count.to_string());
            form.append_pair("_offset", &offset.to_string());
            format!("{path}?{}", form.finish())
        };
        let mut links = vec![
            json!({"relation": "self", "url": url(query.offset)}),
            json!({"relation": "first", "url": url(0)}),
        ];
        if query.offset > 0 && count > 0 {
            links.push(
                json!({"relation": "previous", "url": url(query.offset.saturating_sub(count))}),
            );
        }
        if count > 0 && query.offset.saturating_add(count) < total {
            links.push(json!({"relation": "next", "url": url(query.offset + count)}));
        }
        Value::Array(links)
    }

    /// `_include` and `_revinclude` (with `:iterate` applied to what was included), bounded by
    /// `max_include`. Returns the included resources and whether the bound cut them short.
    fn includes(
        &self,
        conn: &Connection,
        caller: &Caller,
        permit: &Permit,
        query: &SearchQuery,
        matches: &[Value],
        seen: &mut HashSet<(ResourceType, String)>,
    ) -> Result<(Vec<Value>, bool), Error> {
        let mut included: Vec<Value> = Vec::new();
        let mut frontier: Vec<Value> = matches.to_vec();
        let mut first = true;
        let budget = self.limits.max_include;
        while !frontier.is_empty() {
            let mut found: Vec<Value> = Vec::new();
            let active = |i: &&Include| first || i.iterate;
            let mut candidates: Vec<Stored> = Vec::new();
            for include in query.includes.iter().filter(active) {
                for resource in frontier
                    .iter()
                    .filter(|r| type_of(r) == Some(include.source))
                {
                    let Some(parameter) = search_parameter(include.source, include.param) else {
                        continue;
                    };
                    for value in parameter.expression().evaluate(resource) {
                        let Some((target_type, id)) = index::local_target(value, &self.bases)
                        else {
                            continue;
                        };
                        if include.target.is_some_and(|t| t != target_type)
                            || seen.contains(&(target_type, id.clone()))
                        {
                            continue;
                        }
                        if let Some(stored) = store::current(conn, target_type, &id)? {
                            candidates.push(stored);
                        }
                    }
                }
            }
            for include in query.revincludes.iter().filter(active) {
                let targets: Vec<String> = frontier
                    .iter()
                    .filter_map(|r| {
                        let t = type_of(r)?;
                        if include.target.is_some_and(|wanted| wanted != t) {
                            return None;
                        }
                        Some(format!("{t}/{}", r.get("id")?.as_str()?))
                    })
                    .collect();
                candidates.extend(store::referencing(
                    conn,
                    include.source,
                    include.param,
                    &targets,
                    budget.saturating_add(1),
                )?);
            }
            for stored in candidates {
                let key = (stored.resource_type, stored.id.clone());
                if seen.contains(&key) {
                    continue;
                }
                let Some(resource) = stored.resource else {
                    continue;
                };
                if !self.guard.may_read(caller, permit, &resource) {
                    continue;
                }
                if included.len() + found.len() >= budget {
                    included.extend(found);
                    return Ok((included, true));
                }
                seen.insert(key);
                found.push(resource);
            }
            first = false;
            frontier = found.clone();
            included.extend(found);
            if !query
                .includes
                .iter()
                .chain(&query.revincludes)
                .any(|i| i.iterate)
            {
                break;
            }
        }
        Ok((included, false))
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one history request's parts, named at the one call site"
    )]
    fn history(
        &self,
        conn: &Connection,
        caller: &Caller,
        permit: &Permit,
        resource_type: ResourceType,
        id: Option<&str>,
        count: Option<usize>,
        offset: usize,
        trail: &mut Trail,
    ) -> Result<Reply, Error> {
        let count = self.count(count);
        // A resource's history exists for the caller when its latest content may be seen;
        // otherwise it is the one 404, whatever the page asked for.
        if let Some(id) = id {
            let latest = store::latest_content(conn, resource_type, id)?;
            if !latest.is_some_and(|r| self.guard.may_read(caller, permit, &r)) {
                return Err(Error::NotFound);
            }
        }
        // A narrowed caller sees the history of the resources its narrowing currently admits.
        let narrowed = self.narrowed(resource_type, None, &SearchQuery::default(), permit)?;
        let within = narrowed.search(resource_type, &[]);
        let narrowed = !permit.narrowing.is_empty();
        let (total, versions) = store::history(
            conn,
            resource_type,
            id,
            narrowed.then_some(&within),
            count,
            offset,
        )?;
        let mut entries = Vec::new();
        for stored in versions {
            // A deletion has no content: show it when the version it deleted may be seen.
            let shown = match &stored.resource {
                Some(resource) => self.guard.may_read(caller, permit, resource),
                None => {
                    stored.version > 1
                        && store::version(conn, resource_type, &stored.id, stored.version - 1)?
                            .and_then(|previous| previous.resource)
                            .is_some_and(|r| self.guard.may_read(caller, permit, &r))
                }
            };
            if !shown {
                continue;
            }
            let url = format!("{}/{}", stored.resource_type, stored.id);
            let (request_url, status) = match stored.method.as_str() {
                "POST" => (stored.resource_type.to_string(), "201 Created"),
                "DELETE" => (url.clone(), "204 No Content"),
                _ => (url.clone(), "200 OK"),
            };
            let mut entry = json!({
                "fullUrl": format!("{}/{url}", self.base_url),
                "request": {"method": stored.method, "url": request_url},
                "response": {"status": status, "etag": format!("W/\"{}\"", stored.version),
                             "lastModified": super::date::rfc3339(stored.last_updated)}
            });
            if let (Some(resource), Some(map)) = (stored.resource, entry.as_object_mut()) {
                trail.note(&self.compartments, &resource);
                map.insert("resource".to_owned(), resource);
            }
            entries.push(entry);
        }
        let path = match id {
            Some(id) => format!("{}/{resource_type}/{id}/_history", self.base_url),
            None => format!("{}/{resource_type}/_history", self.base_url),
        };
        let mut links = vec![
            json!({"relation": "self", "url": format!("{path}?_count={count}&_offset={offset}")}),
        ];
        if count > 0 && offset.saturating_add(count) < total {
            links.push(json!({"relation": "next", "url": format!("{path}?_count={count}&_offset={}", offset + count)}));
        }
        Ok(Reply::ok(json!({
            "resourceType": "Bundle", "type": "history", "total": total, "link": links, "entry": entries
        })))
    }

    /// `Patient/id/$everything`: the patient, every resource in its compartment, and the
    /// resources those reference (practitioners, organizations, ...), each checked by the guard.
    fn everything(
        &self,
        conn: &Connection,
        caller: &Caller,
        permit: &Permit,
        target: &Target,
        trail: &mut Trail,
    ) -> Result<Reply, Error> {
        let patient = self.readable(conn, caller, permit, target)?;
        let compartment = Compartment::new(CompartmentKind::Patient, &target.id)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let limit = self.limits.max_everything;
        let members = store::compartment_members(conn, &compartment, limit.saturating_add(1))?;
        if members.len() > limit {
            return Err(Error::TooCostly(format!(
                "`$everything` would return more than {limit} resources"
            )));
        }
        let mut seen: HashSet<(ResourceType, String)> = HashSet::new();
        let mut out: Vec<Value> = Vec::new();
        for stored in std::iter::once(patient).chain(members) {
            if seen.insert((stored.resource_type, stored.id.clone())) {
                if let Some(resource) = stored
                    .resource
                    .filter(|r| self.guard.may_read(caller, permit, r))
                {
                    out.push(resource);
                }
            }
        }
        // Referenced resources outside the compartment, one level deep.
        let mut referenced: Vec<(ResourceType, String)> = Vec::new();
        for resource in &out {
            references(resource, &mut |element| {
                if let Some(key) = index::local_target(element, &self.bases) {
                    if !seen.contains(&key) && !referenced.contains(&key) {
                        referenced.push(key);
                    }
                }
            });
        }
        for (resource_type, id) in referenced {
            if out.len() >= limit {
                return Err(Error::TooCostly(format!(
                    "`$everything` would return more than {limit} resources"
                )));
            }
            if let Some(resource) = store::current(conn, resource_type, &id)?
                .and_then(|s| s.resource)
                .filter(|r| self.guard.may_read(caller, permit, r))
            {
                out.push(resource);
            }
        }
        let entries: Vec<Value> = out
            .into_iter()
            .map(|resource| {
                trail.note(&self.compartments, &resource);
                self.entry(resource, "match")
            })
            .collect();
        Ok(Reply::ok(json!({
            "resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries
        })))
    }
}

/// A search's constraints once the permit's narrowing is added.
#[derive(Debug, Default)]
struct Narrowed {
    filters: Vec<Filter>,
    /// For each set, the resource must be in one of its compartments.
    compartments: Vec<Vec<Compartment>>,
    /// The resource must be in none of these.
    excluded: Vec<Compartment>,
}

impl Narrowed {
    fn search<'a>(&'a self, resource_type: ResourceType, sort: &'a [Sort]) -> Search<'a> {
        Search {
            resource_type,
            filters: &self.filters,
            compartments: &self.compartments,
            excluded: &self.excluded,
            sort,
        }
    }
}

fn no_content() -> Reply {
    Reply {
        status: StatusCode::NO_CONTENT,
        body: None,
        version: None,
        last_modified: None,
        location: None,
    }
}

fn check_version(stored: Option<&Stored>, if_match: Option<u64>) -> Result<(), Error> {
    match (if_match, stored) {
        (None, _) => Ok(()),
        (Some(wanted), Some(stored)) if wanted == stored.version => Ok(()),
        (Some(_), Some(stored)) => Err(Error::VersionConflict {
            current: stored.version,
        }),
        (Some(_), None) => Err(Error::NotFound),
    }
}

fn type_of(resource: &Value) -> Option<ResourceType> {
    ResourceType::from_name(resource.get("resourceType")?.as_str()?)
}

/// Calls `f` with every object holding a `reference` string, anywhere in `value`.
fn references(value: &Value, f: &mut dyn FnMut(&Value)) {
    match value {
        Value::Object(map) => {
            if map.get("reference").is_some_and(Value::is_string) {
                f(value);
            }
            map.values().for_each(|v| references(v, f));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, f)),
        _ => {}
    }
}

/// `_elements`: the listed top-level elements, plus the mandatory `resourceType`, `id` and
/// `meta`, tagged `SUBSETTED` as the specification asks.
fn subset(resource: &Value, elements: &[String]) -> Value {
    let Some(map) = resource.as_object() else {
        return resource.clone();
    };
    let mut out = serde_json::Map::new();
    for (key, value) in map {
        if matches!(key.as_str(), "resourceType" | "id" | "meta")
            || elements.iter().any(|e| e == key)
        {
            out.insert(key.clone(), value.clone());
        }
    }
    let meta = out.entry("meta").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        let tags = meta.entry("tag").or_insert_with(|| json!([]));
        if let Some(tags) = tags.as_array_mut() {
            tags.push(json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests;
