//! The one FHIR request parser: method + path + query + body in, a typed [`Interaction`] out.
//! Top-level HTTP requests and every batch or transaction entry go through [`parse`], so the
//! authorization seam always sees the same description of the same request, whatever route it
//! came by.

use axum::http::Method;
use fhir_compartment::{Compartment, Compartments, ResourceType, ServerBases};
use serde_json::Value;

use super::outcome::Error;
use super::search::{SearchQuery, is_valid_id};

/// A request body: raw bytes from HTTP, or the `resource` of a Bundle entry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Json(&'a Value),
}

/// What the parser reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRequest<'a> {
    pub(crate) method: &'a Method,
    /// The path below the FHIR base, without a leading `/` (`Patient/1/_history/2`).
    pub(crate) path: &'a str,
    /// The query string, still percent-encoded, without `?`.
    pub(crate) query: &'a str,
    pub(crate) body: Body<'a>,
    /// `Content-Type` (HTTP only; Bundle entries carry JSON).
    pub(crate) content_type: Option<&'a str>,
    /// `If-Match` (HTTP header, or `entry.request.ifMatch`).
    pub(crate) if_match: Option<&'a str>,
    /// `If-None-Exist` (HTTP header, or `entry.request.ifNoneExist`): a search query.
    pub(crate) if_none_exist: Option<&'a str>,
}

/// A resource named by type and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    pub(crate) resource_type: ResourceType,
    pub(crate) id: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.resource_type, self.id)
    }
}

/// A FHIR interaction, fully parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Interaction {
    /// `GET metadata`.
    Capabilities,
    /// `GET Type/id`.
    Read(Target),
    /// `GET Type/id/_history/vid`.
    Vread(Target, u64),
    /// `POST Type`, conditional when `if_none_exist` is given.
    Create {
        resource_type: ResourceType,
        resource: Value,
        if_none_exist: Option<SearchQuery>,
    },
    /// `PUT Type/id`.
    Update {
        target: Target,
        resource: Value,
        if_match: Option<u64>,
    },
    /// `PATCH Type/id` with a JSON Patch document.
    Patch {
        target: Target,
        patch: Value,
        if_match: Option<u64>,
    },
    /// `DELETE Type/id`.
    Delete(Target),
    /// `GET Type?...`, `POST Type/_search`, or a compartment search `Patient/1/Observation?...`.
    Search {
        resource_type: ResourceType,
        compartment: Option<Compartment>,
        query: SearchQuery,
    },
    /// `GET Type/id/_history` (`target` set) or `GET Type/_history`.
    History {
        resource_type: ResourceType,
        id: Option<String>,
        count: Option<usize>,
        offset: usize,
    },
    /// `GET Patient/id/$everything`.
    Everything(Target),
    /// `POST /` with a Bundle of type `batch`.
    Batch(Value),
    /// `POST /` with a Bundle of type `transaction`.
    Transaction(Value),
}

impl Interaction {
    /// The interaction's name as FHIR's `restful-interaction` code system spells it (used in
    /// logs and the audit hook).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Interaction::Capabilities => "capabilities",
            Interaction::Read(_) => "read",
            Interaction::Vread(..) => "vread",
            Interaction::Create { .. } => "create",
            Interaction::Update { .. } => "update",
            Interaction::Patch { .. } => "patch",
            Interaction::Delete(_) => "delete",
            Interaction::Search { .. } => "search-type",
            Interaction::History { id: Some(_), .. } => "history-instance",
            Interaction::History { id: None, .. } => "history-type",
            Interaction::Everything(_) => "operation",
            Interaction::Batch(_) => "batch",
            Interaction::Transaction(_) => "transaction",
        }
    }

    /// What the audit record keeps of a search: its parameters, form-encoded (a `POST
    /// _search` body's too); `None` for other interactions.
    pub(crate) fn audit_query(&self) -> Option<String> {
        match self {
            Interaction::Search { query, .. } => Some(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&query.params)
                    .finish(),
            ),
            _ => None,
        }
    }

    /// The operation's name without `$`, for operations.
    pub(crate) fn operation(&self) -> Option<&'static str> {
        match self {
            Interaction::Everything(_) => Some("everything"),
            _ => None,
        }
    }

    /// Whether the interaction changes stored data.
    pub(crate) fn is_write(&self) -> bool {
        matches!(
            self,
            Interaction::Create { .. }
                | Interaction::Update { .. }
                | Interaction::Patch { .. }
                | Interaction::Delete(_)
                | Interaction::Transaction(_)
        )
    }
}

/// What parsing needs besides the request: the server's bases (absolute references under them
/// are local) and the compartment definitions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub(crate) bases: &'a ServerBases,
    pub(crate) compartments: &'a Compartments,
}

/// Parses one request.
pub(crate) fn parse(request: &RawRequest<'_>, context: Context<'_>) -> Result<Interaction, Error> {
    let method = request.method;
    let segments: Vec<&str> = if request.path.is_empty() {
        Vec::new()
    } else {
        request.path.split('/').collect()
    };
    let unknown = || {
        Error::UnknownRoute(format!(
            "no FHIR interaction at `{method} /{}`",
            request.path
        ))
    };
    if segments.iter().any(|s| s.is_empty()) {
        return Err(unknown());
    }
    let params = || query_params(request.query);
    match (method, segments.as_slice()) {
        (&Method::POST, []) => {
            let bundle = json_body(request)?;
            match bundle.get("resourceType").and_then(Value::as_str) {
                Some("Bundle") => {}
                _ => {
                    return Err(Error::Invalid(
                        "expected a Bundle of type `batch` or `transaction`".to_owned(),
                    ));
                }
            }
            match bundle.get("type").and_then(Value::as_str) {
                Some("batch") => Ok(Interaction::Batch(bundle)),
                Some("transaction") => Ok(Interaction::Transaction(bundle)),
                _ => Err(Error::Invalid(
                    "expected a Bundle of type `batch` or `transaction`".to_owned(),
                )),
            }
        }
        (&Method::GET, ["metadata"]) => Ok(Interaction::Capabilities),
        (_, [type_name, rest @ ..]) => {
            let resource_type = resource_type(type_name)?;
            match (method, rest) {
                (&Method::GET, []) => search(resource_type, None, &params()?, context),
                (&Method::POST, []) => Ok(Interaction::Create {
                    resource_type,
                    resource: resource_body(request, resource_type, None)?,
                    if_none_exist: condition(resource_type, request.if_none_exist, context)?,
                }),
                (&Method::POST, ["_search"]) => {
                    let mut all = params()?;
                    all.extend(form_body(request)?);
                    search(resource_type, None, &all, context)
                }
                (&Method::GET, ["_history"]) => history(resource_type, None, &params()?),
                (&Method::GET, [id]) => Ok(Interaction::Read(target(resource_type, id)?)),
                (&Method::PUT, [id]) => {
                    let target = target(resource_type, id)?;
                    Ok(Interaction::Update {
                        resource: resource_body(request, resource_type, Some(&target.id))?,
                        target,
                        if_match: if_match(request.if_match)?,
                    })
                }
                (&Method::PATCH, [id]) => Ok(Interaction::Patch {
                    target: target(resource_type, id)?,
                    patch: patch_body(request)?,
                    if_match: if_match(request.if_match)?,
                }),
                (&Method::DELETE, [id]) => Ok(Interaction::Delete(target(resource_type, id)?)),
                (&Method::GET, [id, "_history"]) => {
                    let target = target(resource_type, id)?;
                    history(resource_type, Some(target.id), &params()?)
                }
                (&Method::GET, [id, "_history", version]) => {
                    let target = target(resource_type, id)?;
                    let version = version
                        .parse::<u64>()
                        .ok()
                        .filter(|v| *v > 0)
                        .ok_or_else(|| Error::Invalid(format!("invalid version id `{version}`")))?;
                    Ok(Interaction::Vread(target, version))
                }
                (&Method::GET | &Method::POST, [id, "$everything"])
                    if resource_type == ResourceType::Patient =>
                {
                    if !params()?.is_empty() {
                        return Err(Error::NotSupported(
                            "`$everything` takes no parameters on this server".to_owned(),
                        ));
                    }
                    Ok(Interaction::Everything(target(resource_type, id)?))
                }
                (&Method::GET, [id, compartment_type])
                    if !compartment_type.starts_with(['_', '$']) =>
                {
                    compartment_search(resource_type, id, compartment_type, &params()?, context)
                }
                (&Method::POST, [id, compartment_type, "_search"]) => {
                    let mut all = params()?;
                    all.extend(form_body(request)?);
                    compartment_search(resource_type, id, compartment_type, &all, context)
                }
                _ => Err(unknown()),
            }
        }
        _ => Err(unknown()),
    }
}

fn resource_type(name: &str) -> Result<ResourceType, Error> {
    ResourceType::from_name(name)
        .ok_or_else(|| Error::UnknownRoute(format!("unknown resource type `{name}`")))
}

fn target(resource_type: ResourceType, id: &str) -> Result<Target, Error> {
    if !is_valid_id(id) {
        return Err(Error::Invalid(format!(
            "invalid id `{}`: 1 to 64 of `A-Z a-z 0-9 - .`",
            id.chars().take(80).collect::<String>()
        )));
    }
    Ok(Target {
        resource_type,
        id: id.to_owned(),
    })
}

fn search(
    resource_type: ResourceType,
    compartment: Option<Compartment>,
    params: &[(String, String)],
    context: Context<'_>,
) -> Result<Interaction, Error> {
    Ok(Interaction::Search {
        resource_type,
        compartment,
        query: SearchQuery::parse(resource_type, params, context.bases)?,
    })
}

fn compartment_search(
    owner: ResourceType,
    id: &str,
    searched: &str,
    params: &[(String, String)],
    context: Context<'_>,
) -> Result<Interaction, Error> {
    let owner_target = target(owner, id)?;
    let path = format!("{owner_target}/{searched}");
    if ResourceType::from_name(searched).is_none() {
        return Err(Error::UnknownRoute(format!(
            "unknown resource type `{searched}`"
        )));
    }
    let narrowing = context
        .compartments
        .compartment_search(&path)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    search(
        narrowing.resource_type(),
        Some(narrowing.compartment().clone()),
        params,
        context,
    )
}

/// The search of an `If-None-Exist` condition: a query string, with or without `Type?`.
fn condition(
    resource_type: ResourceType,
    text: Option<&str>,
    context: Context<'_>,
) -> Result<Option<SearchQuery>, Error> {
    let Some(text) = text else {
        return Ok(None);
    };
    let query = text
        .strip_prefix(resource_type.as_str())
        .unwrap_or(text)
        .trim_start_matches('?');
    let parsed = SearchQuery::parse(resource_type, &query_params(query)?, context.bases)?;
    if parsed.filters.is_empty() {
        return Err(Error::Invalid(
            "`If-None-Exist` needs at least one search parameter".to_owned(),
        ));
    }
    Ok(Some(parsed))
}

fn history(
    resource_type: ResourceType,
    id: Option<String>,
    params: &[(String, String)],
) -> Result<Interaction, Error> {
    let mut count = None;
    let mut offset = 0;
    for (name, value) in params {
        let number = || {
            value.parse::<usize>().map_err(|_| {
                Error::Invalid(format!(
                    "`{name}`: expected a non-negative integer, got `{value}`"
                ))
            })
        };
        match name.as_str() {
            "_count" => count = Some(number()?),
            "_offset" => offset = number()?,
            "_format" | "_pretty" => {}
            other => {
                return Err(Error::NotSupported(format!(
                    "history parameter `{other}` is not supported"
                )));
            }
        }
    }
    Ok(Interaction::History {
        resource_type,
        id,
        count,
        offset,
    })
}

/// The query string's parameters, percent-decoded (`+` is a space).
pub(crate) fn query_params(query: &str) -> Result<Vec<(String, String)>, Error> {
    Ok(form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect())
}

fn if_match(header: Option<&str>) -> Result<Option<u64>, Error> {
    let Some(text) = header else {
        return Ok(None);
    };
    let bare = text.trim().trim_start_matches("W/").trim_matches('"');
    bare.parse::<u64>().map(Some).map_err(|_| {
        Error::Invalid(format!(
            "`If-Match`: expected `W/\"<version>\"`, got `{}`",
            text.chars().take(40).collect::<String>()
        ))
    })
}

fn json_body(request: &RawRequest<'_>) -> Result<Value, Error> {
    match request.body {
        Body::Empty => Err(Error::Invalid("a body is required".to_owned())),
        Body::Json(value) => Ok(value.clone()),
        Body::Bytes(bytes) => {
            if let Some(content_type) = request.content_type {
                let mime = content_type.split(';').next().unwrap_or("").trim();
                if !matches!(
                    mime,
                    "application/fhir+json" | "application/json" | "application/json-patch+json"
                ) {
                    return Err(Error::NotSupported(format!(
                        "content type `{mime}` is not supported: send JSON"
                    )));
                }
            }
            serde_json::from_slice(bytes)
                .map_err(|e| Error::Invalid(format!("malformed JSON: {e}")))
        }
    }
}

fn resource_body(
    request: &RawRequest<'_>,
    resource_type: ResourceType,
    id: Option<&str>,
) -> Result<Value, Error> {
    let resource = json_body(request)?;
    let Some(object) = resource.as_object() else {
        return Err(Error::Invalid(
            "the body must be a JSON object (a resource)".to_owned(),
        ));
    };
    match object.get("resourceType").and_then(Value::as_str) {
        Some(name) if name == resource_type.as_str() => {}
        Some(name) => {
            return Err(Error::Invalid(format!(
                "the body is a `{}`, the URL names `{resource_type}`",
                name.chars().take(64).collect::<String>()
            )));
        }
        None => return Err(Error::Invalid("the body has no `resourceType`".to_owned())),
    }
    if let Some(id) = id {
        match object.get("id").and_then(Value::as_str) {
            Some(body_id) if body_id == id => {}
            Some(_) => {
                return Err(Error::Invalid(
                    "the body's `id` differs from the URL's".to_owned(),
                ));
            }
            None => {
                return Err(Error::Invalid(
                    "the body has no `id` (an update must carry the URL's id)".to_owned(),
                ));
            }
        }
    }
    Ok(resource)
}

fn patch_body(request: &RawRequest<'_>) -> Result<Value, Error> {
    let patch = match request.body {
        // In a Bundle, a JSON Patch travels base64-encoded in a Binary (R4 http.html#patch).
        Body::Json(binary)
            if binary.get("resourceType").and_then(Value::as_str) == Some("Binary") =>
        {
            if binary.get("contentType").and_then(Value::as_str)
                != Some("application/json-patch+json")
            {
                return Err(Error::NotSupported(
                    "a PATCH entry's Binary must have `contentType` `application/json-patch+json`"
                        .to_owned(),
                ));
            }
            let data = binary
                .get("data")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::Invalid("a PATCH entry's Binary has no `data`".to_owned()))?;
            let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data)
                .map_err(|_| {
                    Error::Invalid("a PATCH entry's `Binary.data` is not base64".to_owned())
                })?;
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::Invalid(format!("malformed JSON Patch: {e}")))?
        }
        _ => json_body(request)?,
    };
    if !patch.is_array() {
        return Err(Error::Invalid(
            "a JSON Patch document is a JSON array of operations".to_owned(),
        ));
    }
    Ok(patch)
}

fn form_body(request: &RawRequest<'_>) -> Result<Vec<(String, String)>, Error> {
    match request.body {
        Body::Empty | Body::Json(_) => Ok(Vec::new()),
        Body::Bytes([]) => Ok(Vec::new()),
        Body::Bytes(bytes) => {
            let mime = request
                .content_type
                .and_then(|c| c.split(';').next())
                .map(str::trim);
            if mime != Some("application/x-www-form-urlencoded") {
                return Err(Error::NotSupported(
                    "`_search` takes its parameters as `application/x-www-form-urlencoded`"
                        .to_owned(),
                ));
            }
            Ok(form_urlencoded::parse(bytes).into_owned().collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(method: Method, path: &str, query: &str, body: Body<'_>) -> Result<Interaction, Error> {
        let bases = ServerBases::default();
        let compartments = Compartments::r4();
        let context = Context {
            bases: &bases,
            compartments: &compartments,
        };
        parse(
            &RawRequest {
                method: &method,
                path,
                query,
                body,
                content_type: None,
                if_match: None,
                if_none_exist: None,
            },
            context,
        )
    }

    fn target(t: ResourceType, id: &str) -> Target {
        Target {
            resource_type: t,
            id: id.to_owned(),
        }
    }

    #[test]
    fn routes() {
        assert_eq!(
            run(Method::GET, "metadata", "", Body::Empty).unwrap(),
            Interaction::Capabilities
        );
        assert_eq!(
            run(Method::GET, "Patient/1", "", Body::Empty).unwrap(),
            Interaction::Read(target(ResourceType::Patient, "1"))
        );
        assert_eq!(
            run(Method::GET, "Patient/1/_history/3", "", Body::Empty).unwrap(),
            Interaction::Vread(target(ResourceType::Patient, "1"), 3)
        );
        assert_eq!(
            run(Method::DELETE, "Observation/a.b-c", "", Body::Empty).unwrap(),
            Interaction::Delete(target(ResourceType::Observation, "a.b-c"))
        );
        assert_eq!(
            run(Method::GET, "Patient/1/$everything", "", Body::Empty).unwrap(),
            Interaction::Everything(target(ResourceType::Patient, "1"))
        );
        let Interaction::Search {
            resource_type,
            compartment,
            ..
        } = run(Method::GET, "Patient/1/Observation", "code=x", Body::Empty).unwrap()
        else {
            panic!("not a search")
        };
        assert_eq!(resource_type, ResourceType::Observation);
        assert_eq!(compartment.unwrap().to_string(), "Patient/1");
        let body = json!({"resourceType": "Patient", "id": "1"});
        assert!(matches!(
            run(Method::PUT, "Patient/1", "", Body::Json(&body)).unwrap(),
            Interaction::Update { .. }
        ));
    }

    #[test]
    fn bad_requests() {
        let wrong = json!({"resourceType": "Observation", "id": "1"});
        let cases: [(Method, &str, Body<'_>, &str); 9] = [
            (
                Method::GET,
                "Patient/1/_history/0",
                Body::Empty,
                "invalid version id `0`",
            ),
            (
                Method::GET,
                "patient/1",
                Body::Empty,
                "unknown resource type `patient`",
            ),
            (
                Method::GET,
                "Patient/a_b",
                Body::Empty,
                "invalid id `a_b`: 1 to 64 of `A-Z a-z 0-9 - .`",
            ),
            (
                Method::GET,
                "Patient//1",
                Body::Empty,
                "no FHIR interaction at `GET /Patient//1`",
            ),
            (
                Method::POST,
                "Patient",
                Body::Bytes(b"{"),
                "malformed JSON: EOF while parsing an object at line 1 column 1",
            ),
            (
                Method::POST,
                "Patient",
                Body::Json(&wrong),
                "the body is a `Observation`, the URL names `Patient`",
            ),
            (
                Method::PUT,
                "Observation/2",
                Body::Json(&wrong),
                "the body's `id` differs from the URL's",
            ),
            (
                Method::PATCH,
                "Observation/1",
                Body::Json(&wrong),
                "a JSON Patch document is a JSON array of operations",
            ),
            (
                Method::GET,
                "Patient/1/Organization",
                Body::Empty,
                "compartment search `Patient/1/Organization`: `Organization` is not in the `Patient` compartment",
            ),
        ];
        for (method, path, body, message) in cases {
            assert_eq!(
                run(method, path, "", body).unwrap_err().to_string(),
                message,
                "{path}"
            );
        }
    }
}
