//! Scope arithmetic for authorization servers: coverage, intersection, negotiation of a
//! grant, and the refresh rule.

use crate::error::Error;
use crate::grammar::{LaunchScope, ResourceScope, Scope};
use crate::permissions::{Permissions, Syntax};
use crate::scope_set::ScopeSet;

impl ScopeSet {
    /// Whether `self` grants everything `scope` grants.
    ///
    /// A resource scope is covered letter by letter: each of its letters must be granted by
    /// some scope of the same level whose type covers it (`*` covers all) and whose search
    /// parameters are implied by its own. Other scopes are covered by an equal scope; a
    /// launch scope without a role covers the same launch scope with any role; `profile` and
    /// `fhirUser` are not interchangeable here.
    ///
    /// ```
    /// use fhir_scopes::{Scope, ScopeSet};
    ///
    /// let granted = ScopeSet::parse("patient/Observation.r patient/Observation.s")?;
    /// assert!(granted.covers(&Scope::parse("patient/Observation.read")?));
    /// assert!(granted.covers(&Scope::parse("patient/Observation.rs?category=laboratory")?));
    /// assert!(!granted.covers(&Scope::parse("patient/Observation.c")?));
    /// # Ok::<(), fhir_scopes::Error>(())
    /// ```
    pub fn covers(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Resource(wanted) => wanted.permissions.letters().all(|letter| {
                self.resources()
                    .any(|have| resource_covers(have, wanted) && have.permissions.contains(letter))
            }),
            Scope::Launch(wanted) => self.iter().any(|have| match have {
                Scope::Launch(have) => launch_covers(have, wanted),
                _ => false,
            }),
            Scope::Identity(wanted, _) => self.has_identity(*wanted),
            Scope::Extension(_) | Scope::Other(_) => self.iter().any(|have| have == scope),
        }
    }

    /// Whether `self` grants everything every scope of `other` grants.
    pub fn covers_all(&self, other: &ScopeSet) -> bool {
        other.iter().all(|scope| self.covers(scope))
    }

    /// What both sets grant. A scope of `self` fully covered by `other` is kept as written
    /// (so a v1 request granted in full stays v1, as SMART asks); otherwise its overlap with
    /// each scope of `other` is added in v2 form.
    ///
    /// ```
    /// use fhir_scopes::ScopeSet;
    ///
    /// let requested = ScopeSet::parse("launch/patient patient/*.read patient/Observation.cruds")?;
    /// let registered = ScopeSet::parse("launch/patient patient/Observation.rs patient/Condition.rs")?;
    /// assert_eq!(
    ///     requested.intersection(&registered).to_string(),
    ///     "launch/patient patient/Observation.read patient/Condition.read"
    /// );
    /// # Ok::<(), fhir_scopes::Error>(())
    /// ```
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        let mut result = ScopeSet::default();
        for scope in self {
            if other.covers(scope) {
                result.push_unique(scope.clone());
                continue;
            }
            let Scope::Resource(mine) = scope else {
                continue;
            };
            for theirs in other.resources() {
                if let Some(meet) = resource_meet(mine, theirs) {
                    result.push_unique(Scope::Resource(meet));
                }
            }
        }
        result.without_redundant()
    }

    /// Drops, from the end, each scope that the others cover: the grant stays the same,
    /// written once.
    fn without_redundant(mut self) -> ScopeSet {
        let mut index = self.len();
        while index > 0 {
            index -= 1;
            let mut rest = self.clone();
            let scope = rest.remove(index);
            if rest.covers(&scope) {
                self = rest;
            }
        }
        self
    }

    /// Negotiates a grant: what the client asked for, limited to what it is registered for,
    /// and to what the user may grant when a user is involved.
    ///
    /// ```
    /// use fhir_scopes::ScopeSet;
    ///
    /// let requested = ScopeSet::parse("openid fhirUser patient/*.rs __custom")?;
    /// let client = ScopeSet::parse("openid fhirUser patient/*.rs")?;
    /// let user = ScopeSet::parse("openid fhirUser patient/Observation.rs patient/Patient.r")?;
    /// let granted = ScopeSet::negotiate(&requested, &client, Some(&user));
    /// assert_eq!(granted.to_string(), "openid fhirUser patient/Observation.rs patient/Patient.r");
    /// // `__custom` was not registered for the client, so it is not granted.
    /// # Ok::<(), fhir_scopes::Error>(())
    /// ```
    pub fn negotiate(requested: &ScopeSet, client: &ScopeSet, user: Option<&ScopeSet>) -> ScopeSet {
        let granted = requested.intersection(client);
        match user {
            Some(user) => granted.intersection(user),
            None => granted,
        }
    }

    /// The scopes of a refreshed token (RFC 6749 §6): the original grant when the refresh
    /// names no scope, else the scopes it names, each of which the original must cover.
    ///
    /// ```
    /// use fhir_scopes::ScopeSet;
    ///
    /// let original = ScopeSet::parse("offline_access patient/Observation.rs")?;
    /// let narrower = ScopeSet::parse("patient/Observation.r")?;
    /// assert_eq!(ScopeSet::refresh(&original, Some(&narrower))?, narrower);
    /// let wider = ScopeSet::parse("patient/Observation.rs patient/Condition.rs")?;
    /// assert_eq!(
    ///     ScopeSet::refresh(&original, Some(&wider)).unwrap_err().to_string(),
    ///     "scope `patient/Condition.rs` was not in the original grant; a refresh may only narrow it"
    /// );
    /// # Ok::<(), fhir_scopes::Error>(())
    /// ```
    pub fn refresh(original: &ScopeSet, requested: Option<&ScopeSet>) -> Result<ScopeSet, Error> {
        let Some(requested) = requested else {
            return Ok(original.clone());
        };
        match requested.iter().find(|scope| !original.covers(scope)) {
            Some(scope) => Err(Error::NotGranted {
                scope: scope.to_string(),
            }),
            None => Ok(requested.clone()),
        }
    }

    fn push_unique(&mut self, scope: Scope) {
        if !self.iter().any(|have| *have == scope) {
            self.push(scope);
        }
    }
}

/// Whether `have` covers `wanted` apart from permissions: same level, a type that covers it,
/// and parameters implied by `wanted`'s.
fn resource_covers(have: &ResourceScope, wanted: &ResourceScope) -> bool {
    have.level == wanted.level
        && have
            .resource_type
            .is_none_or(|t| wanted.resource_type == Some(t))
        && have.query_is_implied_by(wanted)
}

fn launch_covers(have: &LaunchScope, wanted: &LaunchScope) -> bool {
    have.resource_type == wanted.resource_type && (have.role.is_none() || have.role == wanted.role)
}

/// The overlap of two resource scopes, in v2 form, if they overlap.
fn resource_meet(a: &ResourceScope, b: &ResourceScope) -> Option<ResourceScope> {
    if a.level != b.level {
        return None;
    }
    let resource_type = match (a.resource_type, b.resource_type) {
        (None, t) | (t, None) => t,
        (Some(x), Some(y)) if x == y => Some(x),
        _ => return None,
    };
    let permissions: Permissions = a.permissions.intersection(b.permissions);
    if permissions.is_empty() {
        return None;
    }
    let query = match (&a.query, &b.query) {
        (None, None) => None,
        (Some(q), None) | (None, Some(q)) => Some(q.clone()),
        (Some(x), Some(y)) if x.is_implied_by(y) => Some(y.clone()),
        (Some(x), Some(y)) if y.is_implied_by(x) => Some(x.clone()),
        (Some(x), Some(y)) => Some(x.and(y)),
    };
    let mut meet = ResourceScope::new(a.level, resource_type, permissions);
    meet.query = query;
    // Keep a v1 word when the overlap is exactly one and carries no parameters.
    if meet.query.is_none() && a.syntax.is_v1() {
        if let Some(v1) = Syntax::v1_for(permissions) {
            meet.syntax = v1;
        }
    }
    Some(meet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    #[test]
    fn coverage_by_letters_across_scopes() {
        let have = set("user/Observation.r user/*.s");
        assert!(have.covers(&Scope::parse("user/Observation.rs").unwrap()));
        assert!(!have.covers(&Scope::parse("user/Condition.rs").unwrap()));
        assert!(!have.covers(&Scope::parse("patient/Observation.r").unwrap()));
        let granular = set("patient/Observation.rs?category=laboratory,vital-signs");
        assert!(
            granular.covers(&Scope::parse("patient/Observation.r?category=laboratory").unwrap())
        );
        assert!(!granular.covers(&Scope::parse("patient/Observation.r").unwrap()));
        assert!(!granular.covers(&Scope::parse("patient/Observation.r?category=survey").unwrap()));
    }

    #[test]
    fn launch_roles_and_extensions() {
        let have = set("launch/list __x");
        assert!(have.covers(&Scope::parse("launch/list?role=https://example.org/a").unwrap()));
        assert!(!have.covers(&Scope::parse("launch/patient").unwrap()));
        assert!(have.covers(&Scope::parse("__x").unwrap()));
        assert!(!have.covers(&Scope::parse("__y").unwrap()));
    }

    #[test]
    fn intersection_narrows_types_letters_and_parameters() {
        assert_eq!(
            set("patient/*.cruds")
                .intersection(&set("patient/Observation.rs"))
                .to_string(),
            "patient/Observation.rs"
        );
        assert_eq!(
            set("patient/Observation.read")
                .intersection(&set("patient/*.read"))
                .to_string(),
            "patient/Observation.read"
        );
        assert_eq!(
            set("patient/Observation.*")
                .intersection(&set("patient/Observation.rs"))
                .to_string(),
            "patient/Observation.read"
        );
        assert_eq!(
            set("patient/Observation.rs")
                .intersection(&set("patient/Observation.cud"))
                .to_string(),
            ""
        );
        assert_eq!(
            set("user/Observation.rs")
                .intersection(&set("patient/Observation.rs"))
                .to_string(),
            ""
        );
        assert_eq!(
            set("patient/Observation.rs")
                .intersection(&set("patient/Observation.rs?category=laboratory"))
                .to_string(),
            "patient/Observation.rs?category=laboratory"
        );
        assert_eq!(
            set("patient/Observation.rs?status=final")
                .intersection(&set("patient/Observation.r?category=laboratory"))
                .to_string(),
            "patient/Observation.r?category=laboratory&status=final"
        );
    }

    #[test]
    fn refresh_may_only_narrow() {
        let original = set("patient/*.rs offline_access");
        assert_eq!(ScopeSet::refresh(&original, None).unwrap(), original);
        assert!(ScopeSet::refresh(&original, Some(&set("patient/Observation.rs"))).is_ok());
        assert_eq!(
            ScopeSet::refresh(&original, Some(&set("patient/Observation.c"))).unwrap_err(),
            Error::NotGranted {
                scope: "patient/Observation.c".to_owned()
            }
        );
    }
}
