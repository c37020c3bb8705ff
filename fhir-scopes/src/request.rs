//! What a decision is asked about: who the token acts for, the FHIR interaction, the
//! resource type and, for searches, the query.

use std::fmt;

use crate::permissions::Permissions;
use crate::query::Query;
use crate::resource_type::ResourceType;

/// Whom the token acts for, which decides which scope levels apply.
///
/// - `System`: a backend service with no user; only `system/` scopes apply.
/// - `User`: an app acting for a user; `user/` scopes apply, and `patient/` scopes apply to
///   the patient in launch context, if there is one. Without a patient, `patient/` scopes
///   grant nothing.
///
/// `system/` scopes do not apply to a user's request, nor `user/` and `patient/` scopes to a
/// system's: a token mixing them did not come from a SMART flow, and honouring the wrong half
/// would widen access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context<'a> {
    /// No user: SMART Backend Services.
    System,
    /// A user, with the patient in launch context (the token response's `patient`), if any.
    User {
        /// The id of the patient in context.
        patient: Option<&'a str>,
    },
}

/// A FHIR REST interaction, with the permission letters SMART assigns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Interaction {
    /// `GET [type]/[id]`: `r`.
    Read,
    /// `GET [type]/[id]/_history/[vid]`: `r`.
    Vread,
    /// `GET [type]/[id]/_history`: `r`.
    HistoryInstance,
    /// `GET [type]/_history`: `s`.
    HistoryType,
    /// `GET _history`: `s` on every type (a wildcard scope).
    HistorySystem,
    /// `GET [type]?...`, `POST [type]/_search`, compartment searches: `s`.
    SearchType,
    /// `GET ?...`, `POST _search`: `s` on every type (a wildcard scope).
    SearchSystem,
    /// `POST [type]`: `c`.
    Create,
    /// `PUT [type]/[id]`, including update-as-create: `u`.
    Update,
    /// `PATCH [type]/[id]`: `u`.
    Patch,
    /// `DELETE [type]/[id]`: `d`.
    Delete,
    /// `POST [type]` with `If-None-Exist`: `c` and `s` (it searches first, and its
    /// outcome tells whether a match exists).
    ConditionalCreate,
    /// `PUT [type]?...`: `u` and `s`.
    ConditionalUpdate,
    /// `PATCH [type]?...`: `u` and `s`.
    ConditionalPatch,
    /// `DELETE [type]?...`: `d` and `s`.
    ConditionalDelete,
    /// An operation (`$everything`, `$validate`, ...), with the letters the server says it
    /// needs. SMART defines no letters for operations; an operation needing none is denied,
    /// so that forgetting to say is not a grant.
    Operation(Permissions),
}

impl Interaction {
    /// The permission letters the interaction needs, all of them.
    pub fn required(self) -> Permissions {
        use Permissions as P;
        match self {
            Interaction::Read | Interaction::Vread | Interaction::HistoryInstance => P::READ,
            Interaction::HistoryType
            | Interaction::HistorySystem
            | Interaction::SearchType
            | Interaction::SearchSystem => P::SEARCH,
            Interaction::Create => P::CREATE,
            Interaction::Update | Interaction::Patch => P::UPDATE,
            Interaction::Delete => P::DELETE,
            Interaction::ConditionalCreate => P::CREATE | P::SEARCH,
            Interaction::ConditionalUpdate | Interaction::ConditionalPatch => P::UPDATE | P::SEARCH,
            Interaction::ConditionalDelete => P::DELETE | P::SEARCH,
            Interaction::Operation(required) => required,
        }
    }

    /// Whether the interaction spans every resource type, so only a wildcard scope grants it.
    pub fn is_system_level(self) -> bool {
        matches!(self, Interaction::SearchSystem | Interaction::HistorySystem)
    }

    /// Whether the interaction searches, so that the request's query selects its results.
    pub fn is_search(self) -> bool {
        matches!(
            self,
            Interaction::SearchType
                | Interaction::SearchSystem
                | Interaction::HistoryType
                | Interaction::HistorySystem
        )
    }

    /// The FHIR name of the interaction (`read`, `search-type`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Interaction::Read => "read",
            Interaction::Vread => "vread",
            Interaction::HistoryInstance => "history-instance",
            Interaction::HistoryType => "history-type",
            Interaction::HistorySystem => "history-system",
            Interaction::SearchType => "search-type",
            Interaction::SearchSystem => "search-system",
            Interaction::Create => "create",
            Interaction::Update => "update",
            Interaction::Patch => "patch",
            Interaction::Delete => "delete",
            Interaction::ConditionalCreate => "conditional-create",
            Interaction::ConditionalUpdate => "conditional-update",
            Interaction::ConditionalPatch => "conditional-patch",
            Interaction::ConditionalDelete => "conditional-delete",
            Interaction::Operation(_) => "operation",
        }
    }
}

impl fmt::Display for Interaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to decide: context, interaction, resource type and, for searches, the query.
///
/// ```
/// use fhir_scopes::{Context, Interaction, Request, ResourceType};
///
/// let request = Request::new(
///     Context::User { patient: Some("123") },
///     Interaction::Read,
///     Some(ResourceType::Observation),
/// );
/// assert_eq!(request.interaction().required().to_string(), "r");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    context: Context<'a>,
    interaction: Interaction,
    resource_type: Option<ResourceType>,
    query: Option<&'a Query>,
}

impl<'a> Request<'a> {
    /// A request on a resource type; `None` only for system-level interactions.
    pub fn new(
        context: Context<'a>,
        interaction: Interaction,
        resource_type: Option<ResourceType>,
    ) -> Request<'a> {
        Request {
            context,
            interaction,
            resource_type,
            query: None,
        }
    }

    /// Attaches the query of a search.
    pub fn with_query(mut self, query: &'a Query) -> Request<'a> {
        self.query = Some(query);
        self
    }

    /// Whom the token acts for.
    pub fn context(&self) -> Context<'a> {
        self.context
    }

    /// The interaction.
    pub fn interaction(&self) -> Interaction {
        self.interaction
    }

    /// The resource type; `None` for system-level interactions.
    pub fn resource_type(&self) -> Option<ResourceType> {
        self.resource_type
    }

    /// The search query, if one was attached.
    pub fn query(&self) -> Option<&'a Query> {
        self.query
    }
}
