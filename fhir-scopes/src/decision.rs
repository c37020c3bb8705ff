//! Deciding a request against a [`ScopeSet`]: deny, or permit with the constraints the
//! server must enforce (the patient compartment, granular search parameters).

use std::fmt;

use smallvec::SmallVec;

use crate::grammar::{Level, ResourceScope};
use crate::permissions::Permissions;
use crate::request::{Context, Interaction, Request};
use crate::resource_type::ResourceType;
use crate::scope_set::ScopeSet;

/// The answer to a request: what the token's scopes allow. Scopes are an upper bound; the
/// server's own policy may still refuse what they permit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// The scopes allow the request, within the [`Permit`]'s constraints.
    Permit(Permit<'a>),
    /// No scope allows the request.
    Deny(Denial),
}

impl<'a> Decision<'a> {
    /// Whether the decision is a permit.
    pub fn is_permit(&self) -> bool {
        matches!(self, Decision::Permit(_))
    }

    /// The permit, if it is one.
    pub fn permit(&self) -> Option<&Permit<'a>> {
        match self {
            Decision::Permit(permit) => Some(permit),
            Decision::Deny(_) => None,
        }
    }
}

/// What a permit requires of the server.
///
/// Each [`Clause`] stands for one permission letter the interaction needs; a resource is
/// within the permit when, for every clause, at least one of its [`Grant`]s admits it. A
/// permit with no clauses is unrestricted by scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permit<'a> {
    // Inline: a permit usually has one clause of one or two grants, and deciding runs on
    // every request, so it should not allocate.
    pub(crate) clauses: SmallVec<[Clause<'a>; 1]>,
}

impl<'a> Permit<'a> {
    /// Whether the scopes put no constraint on the request (policy still may).
    pub fn is_unrestricted(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The constraints: all clauses must hold.
    pub fn clauses(&self) -> &[Clause<'a>] {
        &self.clauses
    }
}

/// The grants for one permission letter: at least one must admit the resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause<'a> {
    pub(crate) letter: Permissions,
    pub(crate) grants: SmallVec<[Grant<'a>; 2]>,
}

impl<'a> Clause<'a> {
    /// The letter this clause is for.
    pub fn letter(&self) -> Permissions {
        self.letter
    }

    /// The alternatives (an OR).
    pub fn grants(&self) -> &[Grant<'a>] {
        &self.grants
    }
}

/// One way the request is allowed: a scope, restricted to a patient's compartment for
/// `patient/` scopes, and to the scope's search parameters for granular scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant<'a> {
    pub(crate) scope: &'a ResourceScope,
    pub(crate) patient: Option<&'a str>,
    pub(crate) satisfied_by_query: bool,
}

impl<'a> Grant<'a> {
    /// The scope that grants.
    pub fn scope(&self) -> &'a ResourceScope {
        self.scope
    }

    /// The patient whose compartment the resource must be in (`patient/` scopes).
    pub fn patient(&self) -> Option<&'a str> {
        self.patient
    }

    /// Whether the search's own parameters already include every parameter of this grant's
    /// scope, so the matches need no extra narrowing. Resources added by `_include` and
    /// `_revinclude` are not matches and must still be checked.
    pub fn is_satisfied_by_query(&self) -> bool {
        self.satisfied_by_query
    }

    /// Whether this grant subsumes `other`, a grant of the same decision: every resource
    /// `other` admits, it admits. Grants of one decision name the same patient (the one in
    /// context) or none, so only whether they name one matters.
    fn subsumes(&self, other: &Grant<'_>) -> bool {
        (self.patient.is_none() || other.patient.is_some())
            && self
                .scope
                .resource_type
                .is_none_or(|t| other.scope.resource_type == Some(t))
            && self.scope.query_is_implied_by(other.scope)
    }
}

/// Why a request was denied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    /// The interaction asked for.
    pub interaction: Interaction,
    /// The resource type asked for (`None` for system-level interactions).
    pub resource_type: Option<ResourceType>,
    /// The first permission letter no scope grants.
    pub letter: Permissions,
    /// Why no scope grants it.
    pub reason: DenyReason,
}

/// The classes of denial, most specific first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenyReason {
    /// The token has no FHIR resource scopes at all.
    NoResourceScopes,
    /// No scope names this resource type (or `*`, for system-level interactions).
    NoScopeForType,
    /// Scopes name the type, but none has the letter.
    MissingPermission,
    /// Only `patient/` scopes would grant it, and there is no patient in launch context.
    NoPatientInContext,
    /// Only scopes of a level that does not apply in this context would grant it.
    LevelMismatch,
    /// An operation that names no permission letters.
    NoPermissionNamed,
}

impl DenyReason {
    /// A short, stable, snake_case name for the reason, for machine output.
    pub fn code(self) -> &'static str {
        match self {
            DenyReason::NoResourceScopes => "no_resource_scopes",
            DenyReason::NoScopeForType => "no_scope_for_type",
            DenyReason::MissingPermission => "missing_permission",
            DenyReason::NoPatientInContext => "no_patient_in_context",
            DenyReason::LevelMismatch => "level_mismatch",
            DenyReason::NoPermissionNamed => "no_permission_named",
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match self.resource_type {
            Some(t) => format!("`{t}`"),
            None => "all resource types".to_owned(),
        };
        let letter = self.letter;
        match self.reason {
            DenyReason::NoResourceScopes => f.write_str("the token has no FHIR resource scopes"),
            DenyReason::NoScopeForType if self.resource_type.is_none() => write!(
                f,
                "{} spans all resource types and needs a wildcard (`*`) scope",
                self.interaction
            ),
            DenyReason::NoScopeForType => write!(f, "no scope covers {target}"),
            DenyReason::MissingPermission => write!(
                f,
                "no scope grants `{letter}` on {target}, which {} needs",
                self.interaction
            ),
            DenyReason::NoPatientInContext => write!(
                f,
                "only `patient/` scopes grant `{letter}` on {target}, and there is no patient in launch context"
            ),
            DenyReason::LevelMismatch => write!(
                f,
                "the scopes that grant `{letter}` on {target} are for another context \
                 (`system/` applies only without a user, `user/` and `patient/` only with one)"
            ),
            DenyReason::NoPermissionNamed => {
                f.write_str("the operation names no permission letters, so nothing grants it")
            }
        }
    }
}

impl ScopeSet {
    /// Decides a request against these scopes.
    ///
    /// SMART's letters apply exactly: `r` covers read, vread and instance history; `s`
    /// covers type and system search and history; `u` covers update and patch. Read does not
    /// imply search. `patient/` scopes permit only within the compartment of the patient in
    /// context, and nothing without one. Granular scopes permit only resources matching
    /// their parameters. Nothing matching: deny.
    ///
    /// ```
    /// use fhir_scopes::{Context, Decision, Interaction, Request, ResourceType, ScopeSet};
    ///
    /// let scopes = ScopeSet::parse("patient/Observation.rs?category=laboratory")?;
    /// let read = Request::new(Context::User { patient: Some("123") }, Interaction::Read, Some(ResourceType::Observation));
    /// let Decision::Permit(permit) = scopes.decide(&read) else { panic!("denied") };
    /// let grant = permit.clauses()[0].grants()[0];
    /// assert_eq!(grant.patient(), Some("123"));
    /// assert_eq!(grant.scope().query().unwrap().as_str(), "category=laboratory");
    ///
    /// let no_patient = Request::new(Context::User { patient: None }, Interaction::Read, Some(ResourceType::Observation));
    /// assert!(!scopes.decide(&no_patient).is_permit());
    /// # Ok::<(), fhir_scopes::Error>(())
    /// ```
    pub fn decide<'a>(&'a self, request: &Request<'a>) -> Decision<'a> {
        let required = request.interaction().required();
        if required.is_empty() {
            return Decision::Deny(self.denial(request, Permissions::NONE));
        }
        let mut clauses = SmallVec::new();
        for letter in required.letters() {
            match self.grants(request, letter) {
                Ok(None) => {}
                Ok(Some(grants)) => clauses.push(Clause { letter, grants }),
                Err(()) => return Decision::Deny(self.denial(request, letter)),
            }
        }
        Decision::Permit(Permit { clauses })
    }

    /// The grants for one letter: `Ok(None)` when one is unrestricted, `Err` when none.
    fn grants<'a>(
        &'a self,
        request: &Request<'a>,
        letter: Permissions,
    ) -> Result<Option<SmallVec<[Grant<'a>; 2]>>, ()> {
        let mut grants: SmallVec<[Grant<'a>; 2]> = SmallVec::new();
        for scope in self.resources() {
            if !scope.permissions.contains(letter) || !type_applies(scope, request) {
                continue;
            }
            let patient = match (scope.level, request.context()) {
                (Level::System, Context::System) | (Level::User, Context::User { .. }) => None,
                (Level::Patient, Context::User { patient: Some(id) }) => Some(id),
                _ => continue,
            };
            if patient.is_none() && scope.query.is_none() {
                return Ok(None);
            }
            let grant = Grant {
                scope,
                patient,
                satisfied_by_query: satisfied_by_query(scope, request),
            };
            if grants.iter().any(|kept| kept.subsumes(&grant)) {
                continue;
            }
            grants.retain(|kept| !grant.subsumes(kept));
            grants.push(grant);
        }
        if grants.is_empty() {
            Err(())
        } else {
            Ok(Some(grants))
        }
    }

    /// Explains a denial; only runs when denying, so it favours clarity over speed.
    fn denial(&self, request: &Request<'_>, letter: Permissions) -> Denial {
        let reason = if letter.is_empty() {
            DenyReason::NoPermissionNamed
        } else if self.resources().next().is_none() {
            DenyReason::NoResourceScopes
        } else {
            let typed: Vec<&ResourceScope> = self
                .resources()
                .filter(|scope| type_applies(scope, request))
                .collect();
            let lettered = || typed.iter().filter(|s| s.permissions.contains(letter));
            let context = request.context();
            if lettered()
                .any(|s| s.level == Level::Patient && context == (Context::User { patient: None }))
            {
                DenyReason::NoPatientInContext
            } else if lettered().next().is_some() {
                DenyReason::LevelMismatch
            } else if typed.is_empty() {
                DenyReason::NoScopeForType
            } else {
                DenyReason::MissingPermission
            }
        };
        Denial {
            interaction: request.interaction(),
            resource_type: request.resource_type(),
            letter,
            reason,
        }
    }
}

/// Whether the scope's type covers the request's: any type for a wildcard, and only a
/// wildcard for requests that name no type (system-level searches, histories and
/// operations such as `$export`).
fn type_applies(scope: &ResourceScope, request: &Request<'_>) -> bool {
    match request.resource_type() {
        Some(t) if !request.interaction().is_system_level() => scope.covers_type(t),
        _ => scope.resource_type.is_none(),
    }
}

fn satisfied_by_query(scope: &ResourceScope, request: &Request<'_>) -> bool {
    match (&scope.query, request.query()) {
        (Some(own), Some(asked)) => request.interaction().is_search() && own.is_implied_by(asked),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Query;

    /// A grant as (patient, query text).
    type GrantSummary = (Option<String>, Option<String>);

    const PATIENT: Context<'static> = Context::User {
        patient: Some("123"),
    };
    const USER: Context<'static> = Context::User { patient: None };

    fn decide(
        scopes: &str,
        context: Context<'_>,
        interaction: Interaction,
        t: Option<ResourceType>,
    ) -> Result<Vec<Vec<GrantSummary>>, DenyReason> {
        let set = ScopeSet::parse(scopes).unwrap();
        match set.decide(&Request::new(context, interaction, t)) {
            Decision::Permit(permit) => Ok(permit
                .clauses()
                .iter()
                .map(|c| {
                    c.grants()
                        .iter()
                        .map(|g| {
                            (
                                g.patient().map(str::to_owned),
                                g.scope().query().map(|q| q.as_str().to_owned()),
                            )
                        })
                        .collect()
                })
                .collect()),
            Decision::Deny(denial) => Err(denial.reason),
        }
    }

    use Interaction as I;
    use ResourceType as T;

    #[test]
    fn letters_mean_exactly_what_smart_says() {
        let obs = Some(T::Observation);
        assert_eq!(decide("user/Observation.r", USER, I::Read, obs), Ok(vec![]));
        assert_eq!(
            decide("user/Observation.r", USER, I::Vread, obs),
            Ok(vec![])
        );
        assert_eq!(
            decide("user/Observation.r", USER, I::HistoryInstance, obs),
            Ok(vec![])
        );
        assert_eq!(
            decide("user/Observation.r", USER, I::SearchType, obs),
            Err(DenyReason::MissingPermission)
        );
        assert_eq!(
            decide("user/Observation.s", USER, I::HistoryType, obs),
            Ok(vec![])
        );
        assert_eq!(
            decide("user/Observation.s", USER, I::Read, obs),
            Err(DenyReason::MissingPermission)
        );
        assert_eq!(
            decide("user/Observation.u", USER, I::Patch, obs),
            Ok(vec![])
        );
        assert_eq!(
            decide("user/Observation.u", USER, I::ConditionalUpdate, obs),
            Err(DenyReason::MissingPermission)
        );
        assert_eq!(
            decide("user/Observation.us", USER, I::ConditionalUpdate, obs),
            Ok(vec![])
        );
        assert_eq!(
            decide("user/Observation.read", USER, I::Delete, obs),
            Err(DenyReason::MissingPermission)
        );
        assert_eq!(
            decide("user/Observation.write", USER, I::Delete, obs),
            Ok(vec![])
        );
        assert_eq!(
            decide("user/Observation.rs", USER, I::Read, Some(T::Condition)),
            Err(DenyReason::NoScopeForType)
        );
        assert_eq!(
            decide("openid", USER, I::Read, obs),
            Err(DenyReason::NoResourceScopes)
        );
    }

    #[test]
    fn system_level_interactions_need_a_wildcard() {
        assert_eq!(
            decide("user/Observation.s", USER, I::SearchSystem, None),
            Err(DenyReason::NoScopeForType)
        );
        assert_eq!(decide("user/*.s", USER, I::SearchSystem, None), Ok(vec![]));
        assert_eq!(decide("user/*.s", USER, I::HistorySystem, None), Ok(vec![]));
    }

    #[test]
    fn patient_scopes_need_a_patient_and_restrict_to_it() {
        let obs = Some(T::Observation);
        assert_eq!(
            decide("patient/Observation.rs", PATIENT, I::Read, obs),
            Ok(vec![vec![(Some("123".to_owned()), None)]])
        );
        assert_eq!(
            decide("patient/Observation.rs", USER, I::Read, obs),
            Err(DenyReason::NoPatientInContext)
        );
        assert_eq!(
            decide("patient/Observation.rs", Context::System, I::Read, obs),
            Err(DenyReason::LevelMismatch)
        );
        assert_eq!(
            decide("system/Observation.rs", USER, I::Read, obs),
            Err(DenyReason::LevelMismatch)
        );
        assert_eq!(
            decide("user/Observation.rs", Context::System, I::Read, obs),
            Err(DenyReason::LevelMismatch)
        );
        assert_eq!(
            decide("system/Observation.rs", Context::System, I::Read, obs),
            Ok(vec![])
        );
        // A user scope alongside lifts the compartment restriction.
        assert_eq!(
            decide(
                "patient/Observation.rs user/Observation.rs",
                PATIENT,
                I::Read,
                obs
            ),
            Ok(vec![])
        );
    }

    #[test]
    fn granular_scopes_union_and_subsumption() {
        let obs = Some(T::Observation);
        assert_eq!(
            decide(
                "patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs",
                PATIENT,
                I::SearchType,
                obs
            ),
            Ok(vec![vec![
                (
                    Some("123".to_owned()),
                    Some("category=laboratory".to_owned())
                ),
                (
                    Some("123".to_owned()),
                    Some("category=vital-signs".to_owned())
                ),
            ]])
        );
        assert_eq!(
            decide(
                "patient/Observation.rs?category=laboratory patient/Observation.rs",
                PATIENT,
                I::SearchType,
                obs
            ),
            Ok(vec![vec![(Some("123".to_owned()), None)]])
        );
        assert_eq!(
            decide(
                "user/Observation.rs?category=laboratory&status=final",
                USER,
                I::Read,
                obs
            ),
            Ok(vec![vec![(
                None,
                Some("category=laboratory&status=final".to_owned())
            )]])
        );
    }

    #[test]
    fn operations_must_name_their_letters() {
        assert_eq!(
            decide(
                "user/*.cruds",
                USER,
                I::Operation(Permissions::NONE),
                Some(T::Patient)
            ),
            Err(DenyReason::NoPermissionNamed)
        );
        assert_eq!(
            decide(
                "user/Patient.r",
                USER,
                I::Operation(Permissions::READ),
                Some(T::Patient)
            ),
            Ok(vec![])
        );
    }

    #[test]
    fn system_operations_need_a_wildcard() {
        let meta = I::Operation(Permissions::SEARCH);
        assert_eq!(decide("user/*.s", USER, meta, None), Ok(vec![]));
        assert_eq!(
            decide("user/Patient.s", USER, meta, None),
            Err(DenyReason::NoScopeForType)
        );
    }

    #[test]
    fn search_query_can_satisfy_a_granular_grant() {
        let set = ScopeSet::parse("patient/Observation.rs?category=laboratory").unwrap();
        let query = Query::parse("patient=123&category=laboratory").unwrap();
        let request = Request::new(PATIENT, I::SearchType, Some(T::Observation)).with_query(&query);
        let permit = set.decide(&request);
        let grant = permit.permit().unwrap().clauses()[0].grants()[0];
        assert!(grant.is_satisfied_by_query());
        let other = Query::parse("category=vital-signs").unwrap();
        let request = Request::new(PATIENT, I::SearchType, Some(T::Observation)).with_query(&other);
        assert!(
            !set.decide(&request).permit().unwrap().clauses()[0].grants()[0]
                .is_satisfied_by_query()
        );
    }

    #[test]
    fn denial_messages() {
        let set = ScopeSet::parse("patient/Observation.r").unwrap();
        let Decision::Deny(denial) =
            set.decide(&Request::new(PATIENT, I::SearchType, Some(T::Observation)))
        else {
            panic!()
        };
        assert_eq!(
            denial.to_string(),
            "no scope grants `s` on `Observation`, which search-type needs"
        );
        let Decision::Deny(denial) = set.decide(&Request::new(USER, I::Read, Some(T::Observation)))
        else {
            panic!()
        };
        assert_eq!(
            denial.to_string(),
            "only `patient/` scopes grant `r` on `Observation`, and there is no patient in launch context"
        );
    }
}
