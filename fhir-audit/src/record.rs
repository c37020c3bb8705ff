//! The audit record: who did what to which patients' data, through which app, with what
//! outcome, when and from where. Its JSON form is schema 1 (see `docs/audit.md`): unknown
//! fields are an error, absent optional fields are omitted.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// One request's audit record, permitted, denied or failed alike.
///
/// Holds plain values: the server fills it from its token validation, policy decision and
/// response. It never holds a token, a client secret or a password; the sinks redact such
/// text where a caller let it slip into a query or a reason (see [`ContentPolicy`](crate::ContentPolicy)).
///
/// ```
/// use fhir_audit::{AuditRecord, Decision, Interaction, Timestamp};
/// let mut record = AuditRecord::new(
///     "2026-03-01T10:00:00.000Z".parse()?,
///     Interaction::Read,
///     Decision::Permitted,
///     200,
///     "fhir-1",
/// );
/// record.action.resource_type = Some("Observation".into());
/// record.action.resource_id = Some("obs-1".into());
/// record.patients.push("Patient/123".into());
/// let json = serde_json::to_string(&record)?;
/// assert_eq!(
///     json,
///     r#"{"time":"2026-03-01T10:00:00.000Z","action":{"interaction":"read","resource_type":"Observation","resource_id":"obs-1"},"patients":["Patient/123"],"outcome":{"decision":"permitted","status":200},"origin":{"server_id":"fhir-1"}}"#
/// );
/// assert_eq!(serde_json::from_str::<AuditRecord>(&json)?, record);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// When the request was decided (UTC, milliseconds).
    pub time: Timestamp,
    /// The user, when one is known (absent for SMART Backend Services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// The app (OAuth client), when one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<Client>,
    /// On whose behalf the user acted (a FHIR reference such as `RelatedPerson/7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<CompactString>,
    /// What was asked.
    pub action: Action,
    /// Every patient whose data the request touched, as `Patient/<id>` references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patients: Vec<CompactString>,
    /// What was answered.
    pub outcome: Outcome,
    /// Where the request came from and which server decided it.
    pub origin: Origin,
    /// Purposes of use (for example `TREAT`), as the token or request stated them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purpose_of_use: Vec<CompactString>,
    /// Present when emergency access (break-glass) was invoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlass>,
    /// The access token's `jti` claim: identifies the token without being it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_jti: Option<CompactString>,
    /// The resource content involved; sinks drop it unless configured to keep content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<serde_json::Value>,
}

impl AuditRecord {
    /// A record with the required values; everything else empty.
    pub fn new(
        time: Timestamp,
        interaction: Interaction,
        decision: Decision,
        status: u16,
        server_id: impl Into<CompactString>,
    ) -> Self {
        AuditRecord {
            time,
            user: None,
            client: None,
            on_behalf_of: None,
            action: Action {
                interaction,
                resource_type: None,
                resource_id: None,
                version_id: None,
                query: None,
                operation: None,
            },
            patients: Vec::new(),
            outcome: Outcome {
                decision,
                status,
                rules: Vec::new(),
                reason: None,
            },
            origin: Origin {
                server_id: server_id.into(),
                client_ip: None,
                request_id: None,
            },
            purpose_of_use: Vec::new(),
            break_glass: None,
            token_jti: None,
            content: None,
        }
    }
}

/// The user behind a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The token's subject (`sub`).
    pub id: CompactString,
    /// The SMART `fhirUser` claim, a reference such as `Practitioner/9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fhir_user: Option<CompactString>,
    /// The user's roles, as the token or directory gave them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<CompactString>,
}

/// The app (OAuth client) that sent a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// The client id.
    pub id: CompactString,
    /// Whether the client can keep a secret.
    #[serde(rename = "type")]
    pub kind: ClientKind,
}

/// OAuth client types (RFC 6749 section 2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// A client that cannot keep a secret (a browser or mobile app).
    Public,
    /// A client that authenticates (secret, private key JWT, mTLS).
    Confidential,
}

/// What a request asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// The FHIR RESTful interaction.
    pub interaction: Interaction,
    /// The resource type, absent for system-level interactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<CompactString>,
    /// The resource id, for instance-level interactions and creates once assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<CompactString>,
    /// The version id, for vread and after a write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<CompactString>,
    /// The search query as received (without `?`), secrets redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<CompactString>,
    /// The operation name without `$`, for `operation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<CompactString>,
}

impl Action {
    /// `Type/id` when both are known, else `Type`, else nothing.
    pub fn resource_reference(&self) -> Option<String> {
        match (&self.resource_type, &self.resource_id) {
            (Some(kind), Some(id)) => Some(format!("{kind}/{id}")),
            (Some(kind), None) => Some(kind.to_string()),
            _ => None,
        }
    }
}

/// FHIR RESTful interactions, with the codes of `http://hl7.org/fhir/restful-interaction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interaction {
    /// `GET [type]/[id]`.
    Read,
    /// `GET [type]/[id]/_history/[vid]`.
    Vread,
    /// `PUT [type]/[id]`.
    Update,
    /// `PATCH [type]/[id]`.
    Patch,
    /// `DELETE [type]/[id]`.
    Delete,
    /// `GET [type]/[id]/_history`.
    HistoryInstance,
    /// `GET [type]/_history`.
    HistoryType,
    /// `GET _history`.
    HistorySystem,
    /// `POST [type]`.
    Create,
    /// `GET [type]?...` (including compartment searches).
    SearchType,
    /// `GET ?...`.
    SearchSystem,
    /// `GET metadata`.
    Capabilities,
    /// A transaction Bundle.
    Transaction,
    /// A batch Bundle.
    Batch,
    /// `$operation` at any level.
    Operation,
}

impl Interaction {
    /// The `restful-interaction` code, as in the record's JSON.
    pub fn code(self) -> &'static str {
        match self {
            Interaction::Read => "read",
            Interaction::Vread => "vread",
            Interaction::Update => "update",
            Interaction::Patch => "patch",
            Interaction::Delete => "delete",
            Interaction::HistoryInstance => "history-instance",
            Interaction::HistoryType => "history-type",
            Interaction::HistorySystem => "history-system",
            Interaction::Create => "create",
            Interaction::SearchType => "search-type",
            Interaction::SearchSystem => "search-system",
            Interaction::Capabilities => "capabilities",
            Interaction::Transaction => "transaction",
            Interaction::Batch => "batch",
            Interaction::Operation => "operation",
        }
    }
}

/// What was answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Permitted, denied, or failed.
    pub decision: Decision,
    /// The HTTP status sent.
    pub status: u16,
    /// The ids of the rules (or scopes) that decided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<CompactString>,
    /// Why a request was denied or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<CompactString>,
}

/// The three outcomes an auditor distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Access was granted and the request succeeded.
    Permitted,
    /// Access was refused.
    Denied,
    /// The request failed for another reason (invalid, or a server error).
    Error,
}

impl Decision {
    /// The JSON code: `permitted`, `denied` or `error`.
    pub fn code(self) -> &'static str {
        match self {
            Decision::Permitted => "permitted",
            Decision::Denied => "denied",
            Decision::Error => "error",
        }
    }
}

/// Where a request came from and which server decided it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The server (or gateway) that recorded the event.
    pub server_id: CompactString,
    /// The client's IP address as the server saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<CompactString>,
    /// The request id (`X-Request-Id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<CompactString>,
}

/// Emergency access: policy was overridden, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlass {
    /// The reason the user gave.
    pub reason: CompactString,
}
