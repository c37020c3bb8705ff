//! Interpreting a FHIR REST request line (`GET Observation?category=laboratory`) as the
//! interaction, resource type and query a decision needs.

use crate::error::Error;
use crate::permissions::Permissions;
use crate::query::Query;
use crate::request::{Context, Interaction, Request};
use crate::resource_type::ResourceType;

/// A FHIR REST request, interpreted. Paths are relative to the FHIR base.
///
/// ```
/// use fhir_scopes::{Context, Interaction, ResourceType, RestRequest, ScopeSet};
///
/// let rest = RestRequest::parse("GET", "Patient/123/_history")?;
/// assert_eq!(rest.interaction(), Interaction::HistoryInstance);
/// assert_eq!(rest.resource_type(), Some(ResourceType::Patient));
///
/// let scopes = ScopeSet::parse("patient/Patient.r")?;
/// assert!(scopes.decide(&rest.request(Context::User { patient: Some("123") })).is_permit());
/// # Ok::<(), fhir_scopes::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestRequest {
    interaction: Interaction,
    resource_type: Option<ResourceType>,
    id: Option<String>,
    compartment: Option<(ResourceType, String)>,
    operation: Option<String>,
    query: Query,
}

impl RestRequest {
    /// Interprets an HTTP method and a path with optional query, relative to the FHIR base.
    ///
    /// Operations get the letters SMART leaves undefined conservatively: `GET` on an
    /// instance needs `r`, `GET` on a type or the system needs `s`, and `POST` (which may
    /// change data) needs all of `cruds`. Batches and transactions are not one interaction
    /// and are refused here: decide each entry.
    pub fn parse(method: &str, target: &str) -> Result<RestRequest, Error> {
        let fail = |reason: &str| Error::Request {
            request: format!("{method} {target}"),
            reason: reason.to_owned(),
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = Query::parse(query).map_err(|e| fail(&e.to_string()))?;
        let path = path.strip_prefix('/').unwrap_or(path);
        if path.contains("://") {
            return Err(fail("give the path relative to the FHIR base"));
        }
        if path.contains('%') {
            return Err(fail("percent-encoded path segments are not accepted"));
        }
        let segments: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        if segments.iter().any(|s| s.is_empty()) {
            return Err(fail("empty path segment"));
        }
        let has_query = !query.is_empty();
        let mut request = RestRequest {
            interaction: Interaction::Read,
            resource_type: None,
            id: None,
            compartment: None,
            operation: None,
            query,
        };
        let method = match method {
            "HEAD" => "GET",
            other => other,
        };
        let resource_type = |name: &str| -> Result<ResourceType, Error> {
            name.parse::<ResourceType>()
                .map_err(|e| fail(&e.to_string()))
        };
        let id = |text: &str| -> Result<String, Error> {
            let valid = (1..=64).contains(&text.len())
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && text != "."
                && text != "..";
            if valid {
                Ok(text.to_owned())
            } else {
                Err(fail(&format!(
                    "`{text}` is not a FHIR id ([A-Za-z0-9-.]{{1,64}})"
                )))
            }
        };
        let operation = |name: &str, instance: bool| -> Result<(Interaction, String), Error> {
            let Some(op) = name.strip_prefix('$').filter(|op| {
                !op.is_empty()
                    && op
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }) else {
                return Err(fail(&format!("`{name}` is not an operation name")));
            };
            let letters = match (method, instance) {
                ("GET", true) => Permissions::READ,
                ("GET", false) => Permissions::SEARCH,
                ("POST", _) => Permissions::ALL,
                _ => return Err(fail("operations are invoked with GET or POST")),
            };
            Ok((Interaction::Operation(letters), op.to_owned()))
        };
        use Interaction as I;
        request.interaction = match (method, segments.as_slice()) {
            ("GET", []) if has_query => I::SearchSystem,
            ("GET", []) => return Err(fail("a system search needs parameters")),
            ("POST", []) => {
                return Err(fail("a batch or transaction is decided entry by entry"));
            }
            ("GET", ["_history"]) => I::HistorySystem,
            ("POST", ["_search"]) => I::SearchSystem,
            ("GET", ["metadata"]) => {
                return Err(fail("`metadata` is public and needs no scope"));
            }
            (_, [op]) if op.starts_with('$') => {
                let (interaction, name) = operation(op, false)?;
                request.operation = Some(name);
                interaction
            }
            (_, [t, rest @ ..]) => {
                request.resource_type = Some(resource_type(t)?);
                match (method, rest) {
                    ("GET", []) => I::SearchType,
                    ("POST", []) => I::Create,
                    ("PUT", []) if has_query => I::ConditionalUpdate,
                    ("PATCH", []) if has_query => I::ConditionalPatch,
                    ("DELETE", []) if has_query => I::ConditionalDelete,
                    ("POST", ["_search"]) => I::SearchType,
                    ("GET", ["_history"]) => I::HistoryType,
                    (_, [op]) if op.starts_with('$') => {
                        let (interaction, name) = operation(op, false)?;
                        request.operation = Some(name);
                        interaction
                    }
                    (_, [instance, rest @ ..]) => {
                        request.id = Some(id(instance)?);
                        match (method, rest) {
                            ("GET", []) => I::Read,
                            ("PUT", []) => I::Update,
                            ("PATCH", []) => I::Patch,
                            ("DELETE", []) => I::Delete,
                            ("GET", ["_history"]) => I::HistoryInstance,
                            ("GET", ["_history", version]) => {
                                id(version)?;
                                I::Vread
                            }
                            (_, [op]) if op.starts_with('$') => {
                                let (interaction, name) = operation(op, true)?;
                                request.operation = Some(name);
                                interaction
                            }
                            ("GET", [member]) | ("POST", [member, "_search"]) => {
                                // Compartment search: Patient/123/Observation.
                                let owner = request.resource_type.take();
                                let owner_id = request.id.take();
                                if let (Some(owner), Some(owner_id)) = (owner, owner_id) {
                                    request.compartment = Some((owner, owner_id));
                                }
                                if *member == "*" {
                                    I::SearchSystem
                                } else {
                                    request.resource_type = Some(resource_type(member)?);
                                    I::SearchType
                                }
                            }
                            _ => return Err(fail("not a FHIR REST interaction")),
                        }
                    }
                    _ => return Err(fail("not a FHIR REST interaction")),
                }
            }
            _ => return Err(fail("not a FHIR REST interaction")),
        };
        Ok(request)
    }

    /// The request to decide, in `context`.
    pub fn request<'a>(&'a self, context: Context<'a>) -> Request<'a> {
        Request::new(context, self.interaction, self.resource_type).with_query(&self.query)
    }

    /// The interaction.
    pub fn interaction(&self) -> Interaction {
        self.interaction
    }

    /// The resource type acted on (for a compartment search, the type searched).
    pub fn resource_type(&self) -> Option<ResourceType> {
        self.resource_type
    }

    /// The instance id, for instance-level interactions.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The compartment of a compartment search (`Patient/123/Observation`): owner type and id.
    pub fn compartment(&self) -> Option<(ResourceType, &str)> {
        self.compartment.as_ref().map(|(t, id)| (*t, id.as_str()))
    }

    /// The operation name without `$`, for operations.
    pub fn operation(&self) -> Option<&str> {
        self.operation.as_deref()
    }

    /// The query (empty when there is none).
    pub fn query(&self) -> &Query {
        &self.query
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Interaction as I;

    fn interpret(method: &str, target: &str) -> (Interaction, Option<ResourceType>) {
        let rest = RestRequest::parse(method, target).unwrap();
        (rest.interaction(), rest.resource_type())
    }

    #[test]
    fn request_lines() {
        use ResourceType as T;
        assert_eq!(
            interpret("GET", "Observation?patient=123"),
            (I::SearchType, Some(T::Observation))
        );
        assert_eq!(
            interpret("GET", "/Observation"),
            (I::SearchType, Some(T::Observation))
        );
        assert_eq!(
            interpret("POST", "Observation/_search"),
            (I::SearchType, Some(T::Observation))
        );
        assert_eq!(interpret("GET", "Patient/123"), (I::Read, Some(T::Patient)));
        assert_eq!(
            interpret("HEAD", "Patient/123"),
            (I::Read, Some(T::Patient))
        );
        assert_eq!(
            interpret("GET", "Patient/123/_history/2"),
            (I::Vread, Some(T::Patient))
        );
        assert_eq!(
            interpret("GET", "Patient/123/_history"),
            (I::HistoryInstance, Some(T::Patient))
        );
        assert_eq!(
            interpret("GET", "Patient/_history"),
            (I::HistoryType, Some(T::Patient))
        );
        assert_eq!(interpret("GET", "_history"), (I::HistorySystem, None));
        assert_eq!(
            interpret("GET", "?_type=Observation"),
            (I::SearchSystem, None)
        );
        assert_eq!(interpret("POST", "_search"), (I::SearchSystem, None));
        assert_eq!(
            interpret("POST", "Observation"),
            (I::Create, Some(T::Observation))
        );
        assert_eq!(
            interpret("PUT", "Patient/123"),
            (I::Update, Some(T::Patient))
        );
        assert_eq!(
            interpret("PATCH", "Patient/123"),
            (I::Patch, Some(T::Patient))
        );
        assert_eq!(
            interpret("DELETE", "Patient/123"),
            (I::Delete, Some(T::Patient))
        );
        assert_eq!(
            interpret("PUT", "Patient?identifier=x"),
            (I::ConditionalUpdate, Some(T::Patient))
        );
        assert_eq!(
            interpret("DELETE", "Patient?identifier=x"),
            (I::ConditionalDelete, Some(T::Patient))
        );
        assert_eq!(
            interpret("GET", "Patient/123/$everything"),
            (I::Operation(Permissions::READ), Some(T::Patient))
        );
        assert_eq!(
            interpret("POST", "Patient/$match"),
            (I::Operation(Permissions::ALL), Some(T::Patient))
        );
        assert_eq!(
            interpret("GET", "$export"),
            (I::Operation(Permissions::SEARCH), None)
        );
        let compartment = RestRequest::parse("GET", "Patient/123/Observation?code=x").unwrap();
        assert_eq!(
            (compartment.interaction(), compartment.resource_type()),
            (I::SearchType, Some(T::Observation))
        );
        assert_eq!(compartment.compartment(), Some((T::Patient, "123")));
        assert_eq!(interpret("GET", "Patient/123/*"), (I::SearchSystem, None));
    }

    #[test]
    fn bad_request_lines() {
        for (method, target, reason) in [
            (
                "GET",
                "Observaton/1",
                "unknown resource type `Observaton`; did you mean `Observation`?",
            ),
            (
                "GET",
                "Patient/../x",
                "`..` is not a FHIR id ([A-Za-z0-9-.]{1,64})",
            ),
            ("GET", "Patient//1", "empty path segment"),
            (
                "GET",
                "Patient/1%2F2",
                "percent-encoded path segments are not accepted",
            ),
            ("GET", "Patient/1/extra/more", "not a FHIR REST interaction"),
            ("PUT", "Patient", "not a FHIR REST interaction"),
            (
                "POST",
                "",
                "a batch or transaction is decided entry by entry",
            ),
            ("get", "Patient/1", "not a FHIR REST interaction"),
            (
                "GET",
                "https://example.org/fhir/Patient/1",
                "give the path relative to the FHIR base",
            ),
            ("GET", "metadata", "`metadata` is public and needs no scope"),
            (
                "PUT",
                "Patient/1/$x",
                "operations are invoked with GET or POST",
            ),
        ] {
            let error = RestRequest::parse(method, target).unwrap_err();
            assert_eq!(
                error,
                Error::Request {
                    request: format!("{method} {target}"),
                    reason: reason.to_owned()
                },
                "{method} {target}"
            );
        }
    }
}
