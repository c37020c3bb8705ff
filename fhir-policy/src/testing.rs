//! Policy tests: a request document format (JSON, for test cases and the CLI) and a runner,
//! so that policy authors test policies like code.
//!
//! A test-case file:
//!
//! ```json
//! {"cases": [{
//!     "name": "a nurse cannot delete a Condition",
//!     "request": {"subject": {"id": "Practitioner/n1", "roles": ["nurse"]},
//!                 "interaction": "delete", "resourceType": "Condition"},
//!     "expect": "deny"
//! }]}
//! ```
//!
//! Besides `expect`, a case may check `rule` (one of the deciding rules), `consent` (the
//! deciding provision), `search` (the narrowing, as [`crate::Narrowing`] displays it; `null`
//! for none), `hide` and `audit`.

use fhir_scopes::{Context, Interaction, Permissions, Query, ResourceType, ScopeSet};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::Error;
use crate::consent::Consent;
use crate::decision::Decision;
use crate::document::{AuditLevel, Effect};
use crate::engine::Engine;
use crate::request::{Action, Client, Environment, Request, Scopes, Subject};

/// A request as JSON: everything [`Request`] holds, owned.
///
/// ```
/// use fhir_policy::testing::RequestDocument;
///
/// let document = RequestDocument::parse(r#"{
///     "subject": {"id": "Practitioner/1", "roles": ["doctor"]},
///     "scopes": "user/Observation.rs",
///     "interaction": "search-type", "resourceType": "Observation", "query": "code=1234"
/// }"#)?;
/// let prepared = document.prepare()?;
/// let request = prepared.request();
/// assert_eq!(request.action.query.unwrap().as_str(), "code=1234");
/// # Ok::<(), fhir_policy::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestDocument {
    /// Who asks.
    pub subject: Subject,
    /// The app; a public client `test` when absent.
    #[serde(default)]
    pub client: Option<Client>,
    /// A backend service with no user (SMART `system/` scopes apply).
    #[serde(default)]
    pub system: bool,
    /// The patient in launch context.
    #[serde(default)]
    pub patient: Option<String>,
    /// The token's scopes; absent: the policy is decided alone (no token layer).
    #[serde(default)]
    pub scopes: Option<String>,
    /// The FHIR interaction (`read`, `search-type`, `operation`, ...).
    pub interaction: String,
    /// The SMART letters an operation needs (`r`, `rs`); `r` when absent.
    #[serde(default)]
    pub operation_permissions: Option<String>,
    /// The resource type; absent only for system-level interactions.
    #[serde(default)]
    pub resource_type: Option<String>,
    /// The resource id.
    #[serde(default)]
    pub id: Option<String>,
    /// The operation (`$everything`).
    #[serde(default)]
    pub operation: Option<String>,
    /// The search query (`category=laboratory&date=ge2020`).
    #[serde(default)]
    pub query: Option<String>,
    /// The resource, when the server has it.
    #[serde(default)]
    pub resource: Option<Json>,
    /// When, from where, why.
    #[serde(default)]
    pub environment: Environment,
    /// The patient's Consent resources.
    #[serde(default)]
    pub consents: Vec<Json>,
}

/// A [`RequestDocument`] with its scopes, query and Consents parsed, ready to lend a
/// [`Request`].
#[derive(Debug)]
pub struct PreparedRequest<'d> {
    document: &'d RequestDocument,
    client: Client,
    scopes: Option<ScopeSet>,
    query: Option<Query>,
    consents: Vec<Consent>,
    interaction: Interaction,
    resource_type: Option<ResourceType>,
}

impl RequestDocument {
    /// Reads a request document.
    pub fn parse(text: &str) -> Result<RequestDocument, Error> {
        serde_json::from_str(text).map_err(|source| Error::Json {
            document: "request",
            source,
        })
    }

    /// Parses the scopes, query, interaction, type and Consents.
    pub fn prepare(&self) -> Result<PreparedRequest<'_>, Error> {
        let error = |at: &str, message: String| Error::Request {
            at: at.to_owned(),
            message,
        };
        let interaction = if self.interaction == "operation" {
            let letters = self.operation_permissions.as_deref().unwrap_or("r");
            let mut permissions = Permissions::NONE;
            for letter in letters.chars() {
                permissions = permissions
                    | match letter {
                        'c' => Permissions::CREATE,
                        'r' => Permissions::READ,
                        'u' => Permissions::UPDATE,
                        'd' => Permissions::DELETE,
                        's' => Permissions::SEARCH,
                        other => {
                            return Err(error(
                                "operationPermissions",
                                format!("`{other}` is not one of c, r, u, d, s"),
                            ));
                        }
                    };
            }
            if self.operation.is_none() {
                return Err(error(
                    "operation",
                    "an operation request names the operation".to_owned(),
                ));
            }
            Interaction::Operation(permissions)
        } else {
            parse_interaction(&self.interaction).ok_or_else(|| {
                error(
                    "interaction",
                    format!("unknown interaction `{}`", self.interaction),
                )
            })?
        };
        let resource_type = self
            .resource_type
            .as_deref()
            .map(|t| {
                t.parse::<ResourceType>()
                    .map_err(|_| error("resourceType", format!("unknown resource type `{t}`")))
            })
            .transpose()?;
        if resource_type.is_none() && !interaction.is_system_level() {
            return Err(error(
                "resourceType",
                format!("`{}` needs a resource type", self.interaction),
            ));
        }
        let scopes = self
            .scopes
            .as_deref()
            .map(|s| ScopeSet::parse(s).map_err(|e| error("scopes", e.to_string())))
            .transpose()?;
        let query = self
            .query
            .as_deref()
            .map(|q| Query::parse(q).map_err(|e| error("query", e.to_string())))
            .transpose()?;
        let consents = self
            .consents
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Consent::from_json(c).map_err(|e| error(&format!("consents[{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PreparedRequest {
            document: self,
            client: self.client.clone().unwrap_or_else(|| Client::new("test")),
            scopes,
            query,
            consents,
            interaction,
            resource_type,
        })
    }
}

impl PreparedRequest<'_> {
    /// The request.
    pub fn request(&self) -> Request<'_> {
        let document = self.document;
        let context = if document.system {
            Context::System
        } else {
            Context::User {
                patient: document.patient.as_deref(),
            }
        };
        Request {
            subject: &document.subject,
            client: &self.client,
            context,
            scopes: self
                .scopes
                .as_ref()
                .map_or(Scopes::PolicyOnly, Scopes::Token),
            action: Action {
                interaction: self.interaction,
                resource_type: self.resource_type,
                id: document.id.as_deref(),
                operation: document.operation.as_deref(),
                query: self.query.as_ref(),
            },
            resource: document.resource.as_ref(),
            environment: &document.environment,
            consents: &self.consents,
        }
    }
}

/// A test-case file.
///
/// ```
/// use fhir_policy::testing::TestCases;
/// use fhir_policy::{Engine, Policy};
///
/// let engine = Engine::new(&Policy::parse(r#"{"fhirPolicy": "1", "id": "p",
///     "roles": {"clerk": {"permissions": [{"resourceTypes": ["Patient"], "interactions": ["read"]}]}},
///     "rules": []}"#)?)?;
/// let cases = TestCases::parse(r#"{"cases": [
///     {"name": "clerk reads", "expect": "permit", "rule": "role:clerk",
///      "request": {"subject": {"id": "Practitioner/1", "roles": ["clerk"]}, "interaction": "read", "resourceType": "Patient"}},
///     {"name": "clerk deletes", "expect": "deny",
///      "request": {"subject": {"id": "Practitioner/1", "roles": ["clerk"]}, "interaction": "delete", "resourceType": "Patient"}}
/// ]}"#)?;
/// let results = cases.run(&engine);
/// assert!(results.iter().all(|r| r.failures.is_empty()));
/// # Ok::<(), fhir_policy::Error>(())
/// ```
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestCases {
    /// The cases, run in order.
    pub cases: Vec<TestCase>,
}

/// One case: a request and what the decision must be.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the case checks.
    pub name: String,
    /// The request.
    pub request: RequestDocument,
    /// The expected effect.
    pub expect: Effect,
    /// A rule that must be among the deciding rules.
    #[serde(default)]
    pub rule: Option<String>,
    /// The Consent provision that must decide.
    #[serde(default)]
    pub consent: Option<String>,
    /// The expected search narrowing (as displayed); `null` for none.
    #[serde(default, deserialize_with = "present")]
    pub search: Option<Option<String>>,
    /// The expected hidden fields.
    #[serde(default)]
    pub hide: Option<Vec<String>>,
    /// The expected audit level.
    #[serde(default)]
    pub audit: Option<AuditLevel>,
    /// Words the explanation must contain.
    #[serde(default)]
    pub explanation: Option<String>,
}

/// A field that may be `null` on purpose: absent is `None`, `null` is `Some(None)`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The result of one case.
#[derive(Clone, Debug, PartialEq)]
pub struct TestResult {
    /// The case's name.
    pub name: String,
    /// The decision as JSON (see [`Decision::to_json`]).
    pub decision: Json,
    /// What did not match; empty when the case passed.
    pub failures: Vec<String>,
}

impl TestCases {
    /// Reads a test-case file.
    pub fn parse(text: &str) -> Result<TestCases, Error> {
        serde_json::from_str(text).map_err(|source| Error::Json {
            document: "test cases",
            source,
        })
    }

    /// Runs every case. A request that cannot be prepared is a failed case.
    pub fn run(&self, engine: &Engine) -> Vec<TestResult> {
        self.cases
            .iter()
            .map(|case| match case.request.prepare() {
                Ok(prepared) => {
                    let request = prepared.request();
                    let decision = engine.decide(&request);
                    let failures = case.check(&decision);
                    TestResult {
                        name: case.name.clone(),
                        decision: decision.to_json(),
                        failures,
                    }
                }
                Err(e) => TestResult {
                    name: case.name.clone(),
                    decision: Json::Null,
                    failures: vec![format!("invalid request: {e}")],
                },
            })
            .collect()
    }
}

impl TestCase {
    fn check(&self, decision: &Decision<'_>) -> Vec<String> {
        let mut failures = Vec::new();
        let name = |e: Effect| match e {
            Effect::Permit => "permit",
            Effect::Deny => "deny",
        };
        if decision.effect() != self.expect {
            failures.push(format!(
                "expected {}, got {}: {}",
                name(self.expect),
                name(decision.effect()),
                decision.explanation()
            ));
        }
        if let Some(rule) = &self.rule {
            if !decision.rules().any(|r| r == rule) {
                let rules: Vec<&str> = decision.rules().collect();
                failures.push(format!(
                    "expected rule `{rule}` to decide, got [{}]",
                    rules.join(", ")
                ));
            }
        }
        if let Some(consent) = &self.consent {
            if decision.consent_provision() != Some(consent.as_str()) {
                failures.push(format!(
                    "expected consent provision `{consent}`, got {:?}",
                    decision.consent_provision()
                ));
            }
        }
        let obligations = decision.obligations();
        if let Some(search) = &self.search {
            let actual = obligations.search.as_ref().map(ToString::to_string);
            if &actual != search {
                failures.push(format!(
                    "expected search narrowing {search:?}, got {actual:?}"
                ));
            }
        }
        if let Some(hide) = &self.hide {
            if &obligations.hide != hide {
                failures.push(format!(
                    "expected hidden fields {hide:?}, got {:?}",
                    obligations.hide
                ));
            }
        }
        if let Some(audit) = self.audit {
            if obligations.audit != audit {
                failures.push(format!(
                    "expected audit level {}, got {}",
                    audit.as_str(),
                    obligations.audit.as_str()
                ));
            }
        }
        if let Some(words) = &self.explanation {
            let text = decision.explanation().to_string();
            if !text.contains(words.as_str()) {
                failures.push(format!(
                    "expected the explanation to contain {words:?}, got {text:?}"
                ));
            }
        }
        failures
    }
}

/// Reads an interaction name as a request document writes it (operations are given by
/// name elsewhere; here `operation` needs no letters, which a caller sets).
fn parse_interaction(name: &str) -> Option<Interaction> {
    Some(match name {
        "read" => Interaction::Read,
        "vread" => Interaction::Vread,
        "history-instance" => Interaction::HistoryInstance,
        "history-type" => Interaction::HistoryType,
        "history-system" => Interaction::HistorySystem,
        "search-type" => Interaction::SearchType,
        "search-system" => Interaction::SearchSystem,
        "create" => Interaction::Create,
        "update" => Interaction::Update,
        "patch" => Interaction::Patch,
        "delete" => Interaction::Delete,
        "conditional-create" => Interaction::ConditionalCreate,
        "conditional-update" => Interaction::ConditionalUpdate,
        "conditional-patch" => Interaction::ConditionalPatch,
        "conditional-delete" => Interaction::ConditionalDelete,
        _ => return None,
    })
}
