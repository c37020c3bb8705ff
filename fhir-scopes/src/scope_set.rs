//! [`ScopeSet`]: the scopes of a token or an authorization request, parsed strictly or
//! leniently, printed back as written, and brought to a normal form.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::grammar::{
    Identity, ParseOptions, Prefix, ResourceScope, Scope, first_invalid_byte, parse_checked_into,
    parse_into,
};
use crate::permissions::Permissions;

/// The scopes of a token (`scope` claim) or of an authorization request, in the order written.
///
/// Parsing is strict by default: one malformed scope fails the whole set. Resource scopes are
/// checked against the SMART grammar and the FHIR R4 resource list; identity, launch,
/// extension and unknown scopes are kept, and only resource scopes ever grant FHIR access.
///
/// ```
/// use fhir_scopes::ScopeSet;
///
/// let scopes: ScopeSet = "launch/patient openid fhirUser patient/Observation.r patient/Observation.s".parse()?;
/// assert_eq!(scopes.len(), 5);
/// assert_eq!(scopes.normalized().to_string(), "openid fhirUser launch/patient patient/Observation.rs");
/// # Ok::<(), fhir_scopes::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet {
    scopes: Vec<Scope>,
}

/// The result of [`ScopeSet::parse_lenient`]: the valid scopes and the rejected ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lenient {
    /// Every scope that parsed, in the order written.
    pub scopes: ScopeSet,
    /// One error per rejected scope, in the order written; each names its scope.
    pub rejected: Vec<Error>,
}

impl ScopeSet {
    /// Parses a space-separated scope string strictly, with default options. The empty string
    /// is the empty set.
    pub fn parse(text: &str) -> Result<ScopeSet, Error> {
        ScopeSet::parse_with(text, &ParseOptions::default())
    }

    /// Parses a space-separated scope string strictly: scopes separated by single spaces,
    /// every scope valid.
    pub fn parse_with(text: &str, options: &ParseOptions) -> Result<ScopeSet, Error> {
        if text.is_empty() {
            return Ok(ScopeSet::default());
        }
        // One pass validates every byte; then each scope is parsed without re-checking.
        let checked = first_invalid_byte(text.as_bytes(), true).is_none();
        // A guess, not a count: counting the spaces costs more than a rare reallocation.
        let mut scopes = Vec::with_capacity(text.len() / 40 + 1);
        let mut start = 0;
        for end in memchr::memchr_iter(b' ', text.as_bytes()).chain([text.len()]) {
            let part = text.get(start..end).unwrap_or_default();
            if part.is_empty() {
                return Err(Error::EmptyScope { position: start });
            }
            let parsed = if checked {
                parse_checked_into(part, options, &mut scopes)
            } else {
                parse_into(part, options, &mut scopes)
            };
            parsed.map_err(|(position, kind)| Error::Scope {
                scope: part.to_owned(),
                position,
                kind,
            })?;
            start = end + 1;
        }
        Ok(ScopeSet { scopes })
    }

    /// Parses leniently, with default options: see [`ScopeSet::parse_lenient_with`].
    pub fn parse_lenient(text: &str) -> Lenient {
        ScopeSet::parse_lenient_with(text, &ParseOptions::default())
    }

    /// Parses leniently, for authorization servers that drop what they do not understand:
    /// scopes are separated by any ASCII whitespace, and each malformed scope is set aside
    /// with its error instead of failing the set.
    ///
    /// ```
    /// use fhir_scopes::ScopeSet;
    ///
    /// let lenient = ScopeSet::parse_lenient("openid  patient/Observation.readx patient/Patient.r");
    /// assert_eq!(lenient.scopes.to_string(), "openid patient/Patient.r");
    /// assert_eq!(lenient.rejected.len(), 1);
    /// assert_eq!(lenient.rejected[0].code(), "invalid_permissions");
    /// ```
    pub fn parse_lenient_with(text: &str, options: &ParseOptions) -> Lenient {
        let mut lenient = Lenient {
            scopes: ScopeSet::default(),
            rejected: Vec::new(),
        };
        for part in text.split_ascii_whitespace() {
            if let Err((position, kind)) = parse_into(part, options, &mut lenient.scopes.scopes) {
                lenient.rejected.push(Error::Scope {
                    scope: part.to_owned(),
                    position,
                    kind,
                });
            }
        }
        lenient
    }

    /// The scopes in the order written.
    pub fn iter(&self) -> std::slice::Iter<'_, Scope> {
        self.scopes.iter()
    }

    /// How many scopes there are (duplicates included).
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// Whether there are no scopes.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// The resource scopes, in the order written.
    pub fn resources(&self) -> impl Iterator<Item = &ResourceScope> {
        self.scopes.iter().filter_map(Scope::as_resource)
    }

    /// Whether the set holds this identity or refresh scope (with or without URI prefix).
    pub fn has_identity(&self, identity: Identity) -> bool {
        self.scopes
            .iter()
            .any(|s| matches!(s, Scope::Identity(i, _) if *i == identity))
    }

    /// Removes and returns the scope at `index`.
    ///
    /// # Panics
    /// When `index` is out of bounds, like [`Vec::remove`].
    pub(crate) fn remove(&mut self, index: usize) -> Scope {
        self.scopes.remove(index)
    }

    /// Adds a scope at the end.
    pub fn push(&mut self, scope: Scope) {
        self.scopes.push(scope);
    }

    /// The shortest equivalent set: v1 scopes become v2, URI prefixes and `profile` become
    /// their v2 spelling, duplicates go, a resource scope covered by broader ones goes,
    /// permissions of scopes with the same level, type and parameters merge
    /// (`Observation.r` + `Observation.s` = `Observation.rs`), and scopes differing only in
    /// one parameter's alternatives merge (`category=a` + `category=b` = `category=a,b`).
    /// The result is sorted: identity, launch, resource, then extension and other scopes.
    pub fn normalized(&self) -> ScopeSet {
        let mut others: Vec<Scope> = self
            .scopes
            .iter()
            .filter(|s| s.as_resource().is_none())
            .map(|scope| match scope {
                Scope::Identity(Identity::Profile, _) => {
                    Scope::Identity(Identity::FhirUser, Prefix::None)
                }
                Scope::Identity(identity, _) => Scope::Identity(*identity, Prefix::None),
                Scope::Launch(launch) => {
                    let mut launch = launch.clone();
                    launch.prefix = Prefix::None;
                    Scope::Launch(launch)
                }
                other => other.clone(),
            })
            .collect();
        others.sort_by(order);
        others.dedup();
        let resources = normalize_resources(self.resources());
        let split = others
            .iter()
            .position(|s| matches!(s, Scope::Extension(_) | Scope::Other(_)))
            .unwrap_or(others.len());
        let tail = others.split_off(split);
        others.extend(resources.into_iter().map(Scope::Resource));
        others.extend(tail);
        ScopeSet { scopes: others }
    }
}

/// The order of a normal form: identity (in [`Identity`] order), launch, resource, extension,
/// other; within each kind by their text.
fn order(a: &Scope, b: &Scope) -> Ordering {
    fn rank(scope: &Scope) -> u8 {
        match scope {
            Scope::Identity(..) => 0,
            Scope::Launch(_) => 1,
            Scope::Resource(_) => 2,
            Scope::Extension(_) => 3,
            Scope::Other(_) => 4,
        }
    }
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Scope::Identity(x, _), Scope::Identity(y, _)) => x.cmp(y),
        (Scope::Launch(x), Scope::Launch(y)) => x
            .resource_type
            .cmp(&y.resource_type)
            .then_with(|| x.role.cmp(&y.role)),
        _ => a.to_string().cmp(&b.to_string()),
    })
}

/// One letter of one scope: the unit that coverage is decided on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Atom {
    scope: ResourceScope,
    letter: Permissions,
}

impl Atom {
    /// Whether every request `other` permits, `self` permits too.
    fn covers(&self, other: &Atom) -> bool {
        self.letter == other.letter
            && self.scope.level == other.scope.level
            && self
                .scope
                .resource_type
                .is_none_or(|t| other.scope.resource_type == Some(t))
            && self.scope.query_is_implied_by(&other.scope)
    }
}

fn normalize_resources<'a>(scopes: impl Iterator<Item = &'a ResourceScope>) -> Vec<ResourceScope> {
    let mut atoms: Vec<Atom> = scopes
        .map(ResourceScope::to_v2)
        .flat_map(|scope| {
            scope.permissions.letters().map(move |letter| Atom {
                scope: ResourceScope {
                    permissions: letter,
                    ..scope.clone()
                },
                letter,
            })
        })
        .collect();
    loop {
        remove_covered(&mut atoms);
        if !merge_one_pair(&mut atoms) {
            break;
        }
    }
    // Group atoms with the same level, type and parameters; merge their letters.
    let mut grouped: Vec<ResourceScope> = Vec::new();
    for atom in atoms {
        match grouped.iter_mut().find(|g| {
            g.level == atom.scope.level
                && g.resource_type == atom.scope.resource_type
                && g.query == atom.scope.query
        }) {
            Some(group) => group.permissions = group.permissions | atom.letter,
            None => grouped.push(atom.scope),
        }
    }
    grouped.sort_by(|a, b| {
        (a.level, a.resource_type.map(|t| t.as_str()))
            .cmp(&(b.level, b.resource_type.map(|t| t.as_str())))
            .then_with(|| {
                let text = |s: &ResourceScope| s.query.as_ref().map(|q| q.as_str().to_owned());
                text(a).cmp(&text(b))
            })
            .then_with(|| a.permissions.cmp(&b.permissions))
    });
    grouped
}

/// Drops every atom covered by another; of two equal atoms the first stays.
fn remove_covered(atoms: &mut Vec<Atom>) {
    let keep: Vec<bool> = atoms
        .iter()
        .enumerate()
        .map(|(i, atom)| {
            !atoms
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && other.covers(atom) && (!atom.covers(other) || j < i))
        })
        .collect();
    let mut flags = keep.into_iter();
    atoms.retain(|_| flags.next().unwrap_or(true));
}

/// Merges the first pair of atoms whose queries differ only in the alternatives of one
/// parameter (each name appearing once in both): their union is that parameter with both
/// sets of alternatives. Returns whether it merged.
fn merge_one_pair(atoms: &mut Vec<Atom>) -> bool {
    for i in 0..atoms.len() {
        for j in i + 1..atoms.len() {
            let (Some(a), Some(b)) = (atoms.get(i), atoms.get(j)) else {
                continue;
            };
            if a.letter != b.letter
                || a.scope.level != b.scope.level
                || a.scope.resource_type != b.scope.resource_type
            {
                continue;
            }
            let (Some(qa), Some(qb)) = (&a.scope.query, &b.scope.query) else {
                continue;
            };
            if let Some(merged) = qa.merge_alternatives(qb) {
                if let Some(target) = atoms.get_mut(i) {
                    target.scope.query = Some(merged);
                }
                atoms.remove(j);
                return true;
            }
        }
    }
    false
}

impl fmt::Display for ScopeSet {
    /// Writes the scopes as parsed, separated by single spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, scope) in self.scopes.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{scope}")?;
        }
        Ok(())
    }
}

impl FromStr for ScopeSet {
    type Err = Error;

    fn from_str(text: &str) -> Result<ScopeSet, Error> {
        ScopeSet::parse(text)
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> ScopeSet {
        ScopeSet {
            scopes: iter.into_iter().collect(),
        }
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::slice::Iter<'a, Scope>;

    fn into_iter(self) -> Self::IntoIter {
        self.scopes.iter()
    }
}

impl Serialize for ScopeSet {
    /// Serialises as the space-separated scope string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    /// Deserialises from a space-separated scope string, strictly.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ScopeSet, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        ScopeSet::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(text: &str) -> String {
        ScopeSet::parse(text).unwrap().normalized().to_string()
    }

    #[test]
    fn strict_parse_rejects_bad_separators_and_any_bad_scope() {
        assert_eq!(ScopeSet::parse("").unwrap().len(), 0);
        assert_eq!(
            ScopeSet::parse("openid  fhirUser").unwrap_err(),
            Error::EmptyScope { position: 7 }
        );
        assert_eq!(
            ScopeSet::parse(" openid").unwrap_err(),
            Error::EmptyScope { position: 0 }
        );
        assert_eq!(
            ScopeSet::parse("openid ").unwrap_err(),
            Error::EmptyScope { position: 7 }
        );
        assert_eq!(
            ScopeSet::parse("openid\tfhirUser").unwrap_err().code(),
            "invalid_character"
        );
        assert_eq!(
            ScopeSet::parse("openid patient/Observation.x")
                .unwrap_err()
                .code(),
            "invalid_permissions"
        );
    }

    #[test]
    fn display_round_trips() {
        let text = "http://smarthealthit.org/fhir/scopes/patient/*.read launch/patient patient/Observation.rs?category=laboratory __x email";
        assert_eq!(ScopeSet::parse(text).unwrap().to_string(), text);
    }

    #[test]
    fn normal_form_factors_permissions_and_removes_covered_scopes() {
        assert_eq!(
            normal("patient/Observation.r patient/Observation.s"),
            "patient/Observation.rs"
        );
        assert_eq!(
            normal("patient/Observation.rs patient/Observation.rs"),
            "patient/Observation.rs"
        );
        assert_eq!(
            normal("patient/*.read patient/Observation.rs"),
            "patient/*.rs"
        );
        assert_eq!(
            normal("patient/*.r patient/Observation.rs"),
            "patient/*.r patient/Observation.s"
        );
        assert_eq!(normal("user/*.*"), "user/*.cruds");
        assert_eq!(
            normal("user/Patient.write user/Patient.read"),
            "user/Patient.cruds"
        );
        assert_eq!(
            normal("patient/Observation.rs?category=laboratory patient/Observation.rs"),
            "patient/Observation.rs"
        );
        assert_eq!(
            normal("patient/Observation.rs?category=b patient/Observation.rs?category=a"),
            "patient/Observation.rs?category=a,b"
        );
        assert_eq!(
            normal("user/Observation.rs system/Observation.rs patient/Observation.rs"),
            "patient/Observation.rs user/Observation.rs system/Observation.rs"
        );
        assert_eq!(
            normal("offline_access profile openid launch/patient launch"),
            "openid fhirUser offline_access launch launch/patient"
        );
        assert_eq!(normal("email __x email"), "__x email");
    }

    #[test]
    fn serde_uses_the_scope_string() {
        let set = ScopeSet::parse("openid patient/Patient.r").unwrap();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, "\"openid patient/Patient.r\"");
        let back: ScopeSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
        assert!(serde_json::from_str::<ScopeSet>("\"patient/Patient.x\"").is_err());
    }
}
