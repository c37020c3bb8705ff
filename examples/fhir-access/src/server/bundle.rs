//! Batch and transaction Bundles. Each entry becomes a request for the same parser
//! (`request::parse`) and the same guard as a top-level request. A batch runs its entries one
//! by one, each with its own outcome; a transaction runs them all in one SQLite transaction,
//! resolving `fullUrl` references between entries, and rolls everything back when one fails.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use rusqlite::Connection;
use serde_json::{Value, json};

use super::engine::{Engine, Reply, Trail};
use super::guard::Caller;
use super::outcome::Error;
use super::request::{self, Body, Interaction, RawRequest};

/// One entry's request, read from `entry.request` and `entry.resource`.
struct EntryRequest<'a> {
    method: Method,
    path: String,
    query: String,
    resource: Option<&'a Value>,
    if_match: Option<&'a str>,
    if_none_exist: Option<&'a str>,
}

impl EntryRequest<'_> {
    fn raw(&self) -> RawRequest<'_> {
        RawRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            body: self.resource.map_or(Body::Empty, Body::Json),
            content_type: None,
            if_match: self.if_match,
            if_none_exist: self.if_none_exist,
        }
    }
}

fn entries(bundle: &Value, limit: usize) -> Result<&[Value], Error> {
    let entries = match bundle.get("entry") {
        None => &[][..],
        Some(Value::Array(entries)) => entries.as_slice(),
        Some(_) => return Err(Error::Invalid("`Bundle.entry` must be an array".to_owned())),
    };
    if entries.len() > limit {
        return Err(Error::TooCostly(format!(
            "a Bundle may have at most {limit} entries"
        )));
    }
    Ok(entries)
}

fn entry_request<'a>(engine: &Engine, entry: &'a Value) -> Result<EntryRequest<'a>, Error> {
    let request = entry
        .get("request")
        .ok_or_else(|| Error::Invalid("an entry has no `request`".to_owned()))?;
    let method = match request.get("method").and_then(Value::as_str) {
        Some("GET") => Method::GET,
        Some("POST") => Method::POST,
        Some("PUT") => Method::PUT,
        Some("PATCH") => Method::PATCH,
        Some("DELETE") => Method::DELETE,
        Some(other) => {
            return Err(Error::NotSupported(format!(
                "entry method `{other}` is not supported"
            )));
        }
        None => {
            return Err(Error::Invalid(
                "an entry's `request.method` is missing".to_owned(),
            ));
        }
    };
    let url = request
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Invalid("an entry's `request.url` is missing".to_owned()))?;
    let relative = url
        .strip_prefix(&engine.base_url)
        .unwrap_or(url)
        .trim_start_matches('/');
    let (path, query) = relative.split_once('?').unwrap_or((relative, ""));
    if request.get("ifNoneMatch").is_some() || request.get("ifModifiedSince").is_some() {
        return Err(Error::NotSupported(
            "conditional entries are not supported".to_owned(),
        ));
    }
    Ok(EntryRequest {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        resource: entry.get("resource"),
        if_match: request.get("ifMatch").and_then(Value::as_str),
        if_none_exist: request.get("ifNoneExist").and_then(Value::as_str),
    })
}

/// A Bundle entry's `response` (and `resource`) from a reply.
fn response_entry(engine: &Engine, reply: Reply) -> Value {
    let mut response = serde_json::Map::new();
    response.insert("status".to_owned(), json!(status_text(reply.status)));
    if let Some(location) = &reply.location {
        if reply.status == StatusCode::CREATED {
            let relative = location
                .strip_prefix(&format!("{}/", engine.base_url))
                .unwrap_or(location);
            response.insert("location".to_owned(), json!(relative));
        }
    }
    if let Some(version) = reply.version {
        response.insert("etag".to_owned(), json!(format!("W/\"{version}\"")));
    }
    if let Some(millis) = reply.last_modified {
        response.insert(
            "lastModified".to_owned(),
            json!(super::date::rfc3339(millis)),
        );
    }
    let mut entry = serde_json::Map::new();
    match reply.body {
        Some(body) if reply.status.is_success() => {
            entry.insert("resource".to_owned(), body);
        }
        Some(outcome) => {
            response.insert("outcome".to_owned(), outcome);
        }
        None => {}
    }
    entry.insert("response".to_owned(), Value::Object(response));
    Value::Object(entry)
}

fn status_text(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
}

/// Runs a batch: every entry independently, through the same parser and guard.
pub(crate) fn batch(
    engine: &Engine,
    caller: &Caller,
    bundle: &Value,
    trail: &mut Trail,
) -> Result<Reply, Error> {
    let mut responses = Vec::new();
    for entry in entries(bundle, engine.limits.max_bundle_entries)? {
        let reply = entry_request(engine, entry)
            .and_then(|e| request::parse(&e.raw(), engine.context()))
            .and_then(|interaction| match interaction {
                Interaction::Batch(_) | Interaction::Transaction(_) => Err(Error::Invalid(
                    "a Bundle entry cannot be a batch or transaction".to_owned(),
                )),
                other => engine.run(caller, &other, trail),
            })
            .unwrap_or_else(|error| Reply::error(&error));
        responses.push(response_entry(engine, reply));
    }
    Ok(bundle_reply("batch-response", responses))
}

fn bundle_reply(kind: &str, entries: Vec<Value>) -> Reply {
    Reply {
        status: StatusCode::OK,
        body: Some(json!({"resourceType": "Bundle", "type": kind, "entry": entries})),
        version: None,
        last_modified: None,
        location: None,
    }
}

/// Runs a transaction on `conn` (the caller commits; an error rolls everything back).
pub(crate) fn transaction(
    engine: &Engine,
    conn: &Connection,
    caller: &Caller,
    bundle: &Value,
    trail: &mut Trail,
) -> Result<Reply, Error> {
    let entries = entries(bundle, engine.limits.max_bundle_entries)?;
    // Pass 1: assign ids to creates and record every fullUrl's local reference.
    let mut ids: Vec<Option<String>> = Vec::with_capacity(entries.len());
    let mut map: HashMap<String, String> = HashMap::new();
    for (n, entry) in entries.iter().enumerate() {
        let request = entry_request(engine, entry).map_err(|e| in_entry(e, n))?;
        let mut id = None;
        let local = match (
            &request.method,
            request.path.split('/').collect::<Vec<_>>().as_slice(),
        ) {
            (&Method::POST, [type_name]) if request.query.is_empty() => {
                let new_id = uuid::Uuid::new_v4().to_string();
                id = Some(new_id.clone());
                Some(format!("{type_name}/{new_id}"))
            }
            (&Method::PUT, [type_name, id]) => Some(format!("{type_name}/{id}")),
            _ => None,
        };
        if let (Some(full_url), Some(local)) = (entry.get("fullUrl").and_then(Value::as_str), local)
        {
            if map.insert(full_url.to_owned(), local).is_some() {
                return Err(in_entry(
                    Error::Invalid(format!("duplicate fullUrl `{full_url}`")),
                    n,
                ));
            }
        }
        ids.push(id);
    }
    // Pass 2: rewrite references, parse and decide each entry; then run them in the order the
    // specification fixes: DELETE, POST, PUT and PATCH, GET.
    let mut parsed: Vec<(usize, Interaction)> = Vec::with_capacity(entries.len());
    for (n, entry) in entries.iter().enumerate() {
        let mut rewritten = entry.get("resource").cloned();
        if let Some(resource) = &mut rewritten {
            rewrite_references(resource, &map);
        }
        let request = entry_request(engine, entry).map_err(|e| in_entry(e, n))?;
        let request = EntryRequest {
            resource: rewritten.as_ref(),
            ..request
        };
        let interaction =
            request::parse(&request.raw(), engine.context()).map_err(|e| in_entry(e, n))?;
        if let Interaction::Create {
            if_none_exist: Some(_),
            ..
        } = interaction
        {
            return Err(in_entry(
                Error::NotSupported(
                    "conditional create (`ifNoneExist`) is not supported in a transaction: use a batch".to_owned(),
                ),
                n,
            ));
        }
        if matches!(
            interaction,
            Interaction::Batch(_) | Interaction::Transaction(_)
        ) {
            return Err(in_entry(
                Error::Invalid("a Bundle entry cannot be a batch or transaction".to_owned()),
                n,
            ));
        }
        parsed.push((n, interaction));
    }
    let rank = |i: &Interaction| match i {
        Interaction::Delete(_) => 0,
        Interaction::Create { .. } => 1,
        Interaction::Update { .. } | Interaction::Patch { .. } => 2,
        _ => 3,
    };
    parsed.sort_by_key(|(n, i)| (rank(i), *n));
    let mut responses: Vec<Option<Value>> = vec![None; entries.len()];
    for (n, interaction) in &parsed {
        let permit = trail
            .decide(&*engine.guard, caller, interaction)
            .map_err(|e| in_entry(e, *n))?;
        let new_id = ids.get(*n).and_then(Option::as_deref);
        let reply = engine
            .execute(conn, caller, &permit, interaction, new_id, trail)
            .map_err(|e| in_entry(e, *n))?;
        if let Some(slot) = responses.get_mut(*n) {
            *slot = Some(response_entry(engine, reply));
        }
    }
    Ok(bundle_reply(
        "transaction-response",
        responses.into_iter().flatten().collect(),
    ))
}

/// Names the failing entry in a transaction's error (which keeps its status).
fn in_entry(error: Error, n: usize) -> Error {
    let prefix = |message: String| format!("entry {n}: {message}");
    match error {
        Error::Invalid(m) => Error::Invalid(prefix(m)),
        Error::NotSupported(m) => Error::NotSupported(prefix(m)),
        Error::UnknownRoute(m) => Error::UnknownRoute(prefix(m)),
        Error::MethodNotAllowed(m) => Error::MethodNotAllowed(prefix(m)),
        Error::TooCostly(m) => Error::TooCostly(prefix(m)),
        other => other,
    }
}

/// Replaces references to other entries' `fullUrl`s (`urn:uuid:...` or absolute) with their
/// local `Type/id`.
pub(crate) fn rewrite_references(value: &mut Value, map: &HashMap<String, String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("reference") {
                if let Some(local) = map.get(reference.as_str()) {
                    *reference = local.clone();
                }
            }
            object.values_mut().for_each(|v| rewrite_references(v, map));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_references(v, map)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_to_entries_are_rewritten() {
        let mut map = HashMap::new();
        map.insert("urn:uuid:1".to_owned(), "Patient/p".to_owned());
        let mut resource =
            json!({"subject": {"reference": "urn:uuid:1"}, "x": [{"reference": "urn:uuid:2"}]});
        rewrite_references(&mut resource, &map);
        assert_eq!(
            resource,
            json!({"subject": {"reference": "Patient/p"}, "x": [{"reference": "urn:uuid:2"}]})
        );
    }
}
