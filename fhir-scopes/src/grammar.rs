//! The scope grammar: one scope string in, one [`Scope`] out, or an error naming the byte
//! and what was expected there.
//!
//! Grammar (SMART App Launch 2.2, "Scopes and Launch Context"):
//! ```text
//! scope      = [prefix] ( resource / launch / identity ) / extension / other
//! resource   = ("patient" / "user" / "system") "/" (Type / "*") "." perms ["?" query]
//! perms      = in-order, non-empty subsequence of "cruds"  /  "read" / "write" / "*"   (v1, no query)
//! launch     = "launch" / "launch/" lowercasetype ["?role=" uri]
//! identity   = "openid" / "fhirUser" / "profile" / "offline_access" / "online_access"
//! prefix     = "http://smarthealthit.org/fhir/scopes/" / "http://openid.net/specs/openid-connect-core-1_0#"
//! extension  = absolute URI / "__" name
//! ```
//! Every byte must be one RFC 6749 allows in a scope token (`%x21 / %x23-5B / %x5D-7E`).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ScopeErrorKind};
use crate::permissions::{Permissions, Syntax};
use crate::query::{Mode, Query};
use crate::resource_type::ResourceType;

/// The URI prefix SMART defines for writing its scopes as URIs.
pub const SMART_PREFIX: &str = "http://smarthealthit.org/fhir/scopes/";
/// The URI prefix SMART prescribes for OpenID Connect scopes written as URIs.
pub const OPENID_PREFIX: &str = "http://openid.net/specs/openid-connect-core-1_0#";

/// Options for parsing scopes.
///
/// ```
/// use fhir_scopes::{ParseOptions, Scope};
///
/// let scope = "patient/Observation.rs?code:in=http://example.org/ValueSet/diabetes";
/// assert!(Scope::parse(scope).is_err());
/// let options = ParseOptions::default().experimental(true);
/// assert!(Scope::parse_with(scope, &options).is_ok());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Accept the search features SMART marks experimental inside granular scopes: search
    /// modifiers (`code:in=`), chains (`patient.birthdate=`), `_include`, `_revinclude`,
    /// `_has` and `_filter`. A server that enables this must enforce them exactly.
    /// Defaults to `false`.
    pub experimental: bool,
}

impl ParseOptions {
    /// Sets [`experimental`](ParseOptions::experimental).
    pub fn experimental(mut self, enabled: bool) -> ParseOptions {
        self.experimental = enabled;
        self
    }
}

/// One scope, classified.
///
/// ```
/// use fhir_scopes::{Level, Scope};
///
/// let scope = Scope::parse("patient/Observation.read")?;
/// let Scope::Resource(resource) = &scope else { unreachable!() };
/// assert_eq!(resource.level(), Level::Patient);
/// assert_eq!(resource.permissions().to_string(), "rs");
/// assert_eq!(scope.to_string(), "patient/Observation.read");
/// # Ok::<(), fhir_scopes::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// Access to FHIR resources: `patient/Observation.rs`, `user/*.read`, ...
    Resource(ResourceScope),
    /// A request for launch context: `launch`, `launch/patient`, `launch/list?role=...`.
    Launch(LaunchScope),
    /// OpenID Connect and SMART identity and refresh scopes.
    Identity(Identity, Prefix),
    /// An extension scope: an absolute URI or a name starting with `__`. Kept as written;
    /// never grants FHIR access.
    Extension(String),
    /// Any other scope this crate does not define. Kept as written; never grants FHIR access.
    Other(String),
}

/// Identity and refresh scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    /// `openid`: an OpenID Connect `id_token`.
    OpenId,
    /// `fhirUser`: the `fhirUser` claim naming the user's FHIR resource.
    FhirUser,
    /// `profile`: the SMART v1 spelling of `fhirUser`'s purpose.
    Profile,
    /// `offline_access`: a refresh token that outlives the user's session.
    OfflineAccess,
    /// `online_access`: a refresh token usable while the user is online.
    OnlineAccess,
}

impl Identity {
    const ALL: [Identity; 5] = [
        Identity::OpenId,
        Identity::FhirUser,
        Identity::Profile,
        Identity::OfflineAccess,
        Identity::OnlineAccess,
    ];

    fn from_name(name: &str) -> Option<Identity> {
        match name {
            "openid" => Some(Identity::OpenId),
            "fhirUser" => Some(Identity::FhirUser),
            "profile" => Some(Identity::Profile),
            "offline_access" => Some(Identity::OfflineAccess),
            "online_access" => Some(Identity::OnlineAccess),
            _ => None,
        }
    }

    /// The scope as written without prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Identity::OpenId => "openid",
            Identity::FhirUser => "fhirUser",
            Identity::Profile => "profile",
            Identity::OfflineAccess => "offline_access",
            Identity::OnlineAccess => "online_access",
        }
    }

    /// Whether OpenID Connect defines it (and so may carry the OpenID URI prefix).
    fn is_openid(self) -> bool {
        matches!(
            self,
            Identity::OpenId | Identity::Profile | Identity::OfflineAccess
        )
    }
}

/// A URI prefix a scope was written with, kept so that the scope prints as it was parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Prefix {
    /// No prefix.
    #[default]
    None,
    /// [`SMART_PREFIX`].
    Smart,
    /// [`OPENID_PREFIX`].
    OpenId,
}

impl Prefix {
    fn as_str(self) -> &'static str {
        match self {
            Prefix::None => "",
            Prefix::Smart => SMART_PREFIX,
            Prefix::OpenId => OPENID_PREFIX,
        }
    }
}

/// Whose data a resource scope reaches: the `patient/`, `user/` or `system/` part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// `patient/`: data in the compartment of the patient in launch context.
    Patient,
    /// `user/`: data the authorising user may access.
    User,
    /// `system/`: data the client itself is authorised for (no user involved).
    System,
}

impl Level {
    /// The level as written in a scope.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Patient => "patient",
            Level::User => "user",
            Level::System => "system",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A FHIR resource scope: level, resource type (or `*`), permissions, and optional
/// granular search parameters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceScope {
    pub(crate) level: Level,
    pub(crate) resource_type: Option<ResourceType>,
    pub(crate) permissions: Permissions,
    pub(crate) syntax: Syntax,
    pub(crate) prefix: Prefix,
    pub(crate) query: Option<Query>,
}

impl ResourceScope {
    /// Builds a v2 scope from parts.
    ///
    /// ```
    /// use fhir_scopes::{Level, Permissions, ResourceScope, ResourceType};
    ///
    /// let scope = ResourceScope::new(Level::User, Some(ResourceType::Patient), Permissions::READ);
    /// assert_eq!(scope.to_string(), "user/Patient.r");
    /// ```
    pub fn new(
        level: Level,
        resource_type: Option<ResourceType>,
        permissions: Permissions,
    ) -> ResourceScope {
        ResourceScope {
            level,
            resource_type,
            permissions,
            syntax: Syntax::V2,
            prefix: Prefix::None,
            query: None,
        }
    }

    /// `patient`, `user` or `system`.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The resource type; `None` for the wildcard `*`.
    pub fn resource_type(&self) -> Option<ResourceType> {
        self.resource_type
    }

    /// The permissions in v2 letters (a v1 `.read` gives `rs`).
    pub fn permissions(&self) -> Permissions {
        self.permissions
    }

    /// How the permissions were written.
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// The granular search parameters, if any: all must match (AND), and each parameter
    /// matches when any of its alternatives does (OR).
    pub fn query(&self) -> Option<&Query> {
        self.query.as_ref()
    }

    /// Whether this scope's resource type covers `resource_type` (`*` covers every type).
    pub fn covers_type(&self, resource_type: ResourceType) -> bool {
        self.resource_type.is_none_or(|own| own == resource_type)
    }

    /// The same grant in SMART v2 form: v1 words become letters, the URI prefix is dropped,
    /// and granular parameters are put in normal order.
    pub fn to_v2(&self) -> ResourceScope {
        ResourceScope {
            syntax: Syntax::V2,
            prefix: Prefix::None,
            query: self.query.as_ref().map(Query::normalized),
            ..self.clone()
        }
    }

    pub(crate) fn query_is_implied_by(&self, other: &ResourceScope) -> bool {
        match (&self.query, &other.query) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => mine.is_implied_by(theirs),
        }
    }
}

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix.as_str())?;
        f.write_str(self.level.as_str())?;
        f.write_str("/")?;
        match self.resource_type {
            Some(t) => f.write_str(t.as_str())?,
            None => f.write_str("*")?,
        }
        f.write_str(".")?;
        match self.syntax.v1_word() {
            Some(word) => f.write_str(word)?,
            None => write!(f, "{}", self.permissions)?,
        }
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        Ok(())
    }
}

/// A launch context scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LaunchScope {
    pub(crate) resource_type: Option<ResourceType>,
    pub(crate) role: Option<Box<str>>,
    pub(crate) prefix: Prefix,
}

impl LaunchScope {
    /// The context asked for: `None` for the bare `launch` (EHR launch), else the type, such
    /// as `Patient` for `launch/patient`.
    pub fn resource_type(&self) -> Option<ResourceType> {
        self.resource_type
    }

    /// The `?role=` asked for, as written.
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }
}

impl fmt::Display for LaunchScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix.as_str())?;
        f.write_str("launch")?;
        if let Some(t) = self.resource_type {
            write!(f, "/{}", t.as_str().to_ascii_lowercase())?;
        }
        if let Some(role) = &self.role {
            write!(f, "?role={role}")?;
        }
        Ok(())
    }
}

impl Scope {
    /// Parses one scope strictly, with default options.
    pub fn parse(text: &str) -> Result<Scope, Error> {
        Scope::parse_with(text, &ParseOptions::default())
    }

    /// Parses one scope strictly.
    pub fn parse_with(text: &str, options: &ParseOptions) -> Result<Scope, Error> {
        let mut out = Vec::with_capacity(1);
        parse_into(text, options, &mut out).map_err(|(position, kind)| Error::Scope {
            scope: text.to_owned(),
            position,
            kind,
        })?;
        out.pop().ok_or_else(|| Error::Scope {
            scope: text.to_owned(),
            position: 0,
            kind: ScopeErrorKind::InvalidParameter("empty scope"),
        })
    }

    /// The resource scope, if this is one.
    pub fn as_resource(&self) -> Option<&ResourceScope> {
        match self {
            Scope::Resource(resource) => Some(resource),
            _ => None,
        }
    }
}

impl FromStr for Scope {
    type Err = Error;

    fn from_str(text: &str) -> Result<Scope, Error> {
        Scope::parse(text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Resource(resource) => resource.fmt(f),
            Scope::Launch(launch) => launch.fmt(f),
            Scope::Identity(identity, prefix) => {
                f.write_str(prefix.as_str())?;
                f.write_str(identity.as_str())
            }
            Scope::Extension(text) | Scope::Other(text) => f.write_str(text),
        }
    }
}

type ScopeError = (usize, ScopeErrorKind);

/// The offset of the first byte RFC 6749 does not allow in a scope token
/// (`%x21 / %x23-5B / %x5D-7E`), also allowing spaces when `spaces` is set (a whole scope
/// string). Every byte of every token is checked on every request, so the common case is a
/// branch-free fold the compiler vectorises; only a failing input is searched byte by byte.
pub(crate) fn first_invalid_byte(bytes: &[u8], spaces: bool) -> Option<usize> {
    let lowest = if spaces { b' ' } else { 0x21 };
    let invalid = |b: u8| (b.wrapping_sub(lowest) > 0x7E - lowest) | (b == b'"') | (b == b'\\');
    if !bytes.iter().fold(false, |found, b| found | invalid(*b)) {
        return None;
    }
    bytes.iter().position(|b| invalid(*b))
}

/// Parses one scope and pushes it onto `out`. Parsers push rather than return the scope, so
/// that the scope is built in place instead of moved through each layer.
pub(crate) fn parse_into(
    text: &str,
    options: &ParseOptions,
    out: &mut Vec<Scope>,
) -> Result<(), ScopeError> {
    if let Some(position) = first_invalid_byte(text.as_bytes(), false) {
        // Bytes, not chars: every byte of a non-ASCII char fails the test anyway.
        let c = text
            .get(position..)
            .and_then(|rest| rest.chars().next())
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        return Err((position, ScopeErrorKind::InvalidCharacter(c)));
    }
    parse_checked_into(text, options, out)
}

/// Parses a scope whose bytes are known to be valid and pushes it onto `out`.
pub(crate) fn parse_checked_into(
    text: &str,
    options: &ParseOptions,
    out: &mut Vec<Scope>,
) -> Result<(), ScopeError> {
    if text.is_empty() {
        return Err((0, ScopeErrorKind::InvalidParameter("empty scope")));
    }
    if parse_smart(text, 0, Prefix::None, options, out)? {
        return Ok(());
    }
    if let Some(rest) = text.strip_prefix(SMART_PREFIX) {
        let offset = SMART_PREFIX.len();
        return match parse_smart(rest, offset, Prefix::Smart, options, out)? {
            true => Ok(()),
            false => Err((offset, ScopeErrorKind::UnknownPrefixedScope)),
        };
    }
    let scope = if let Some(rest) = text.strip_prefix(OPENID_PREFIX) {
        match Identity::from_name(rest) {
            Some(identity) if identity.is_openid() => Scope::Identity(identity, Prefix::OpenId),
            _ => return Err((OPENID_PREFIX.len(), ScopeErrorKind::UnknownPrefixedScope)),
        }
    } else if text.starts_with("__") || is_absolute_uri(text) {
        Scope::Extension(text.to_owned())
    } else {
        Scope::Other(text.to_owned())
    };
    out.push(scope);
    Ok(())
}

/// Parses a scope SMART defines onto `out`; `Ok(false)` when the text is not shaped like one.
fn parse_smart(
    text: &str,
    offset: usize,
    prefix: Prefix,
    options: &ParseOptions,
    out: &mut Vec<Scope>,
) -> Result<bool, ScopeError> {
    let level = if text.starts_with("patient/") {
        Some(Level::Patient)
    } else if text.starts_with("user/") {
        Some(Level::User)
    } else if text.starts_with("system/") {
        Some(Level::System)
    } else {
        None
    };
    if let Some(level) = level {
        parse_resource(text, offset, level, prefix, options, out)?;
        return Ok(true);
    }
    if let Some(identity) = Identity::from_name(text) {
        out.push(Scope::Identity(identity, prefix));
        return Ok(true);
    }
    if text.starts_with("launch") && matches!(text.as_bytes().get(6), None | Some(b'/' | b'?')) {
        out.push(Scope::Launch(parse_launch(text, offset, prefix)?));
        return Ok(true);
    }
    // Case variants of defined scopes are mistakes, not unknown scopes: reject them rather
    // than keep them as opaque values the client will think were granted.
    let head = text
        .bytes()
        .position(|b| b == b'/' || b == b'?')
        .and_then(|end| text.get(..end))
        .unwrap_or(text);
    if let Some(level) = ["patient", "user", "system"]
        .into_iter()
        .find(|level| head.eq_ignore_ascii_case(level))
    {
        // `patient?...`: the right word, the wrong separator.
        if head == level {
            return Err((offset + head.len(), ScopeErrorKind::MissingSlash));
        }
        return Err((
            offset,
            ScopeErrorKind::ContextCase {
                found: head.to_owned(),
            },
        ));
    }
    if head.eq_ignore_ascii_case("launch") {
        return Err((offset, ScopeErrorKind::KeywordCase { expected: "launch" }));
    }
    if let Some(identity) = Identity::ALL
        .into_iter()
        .find(|i| i.as_str().eq_ignore_ascii_case(text))
    {
        return Err((
            offset,
            ScopeErrorKind::KeywordCase {
                expected: identity.as_str(),
            },
        ));
    }
    Ok(false)
}

fn parse_resource(
    text: &str,
    offset: usize,
    level: Level,
    prefix: Prefix,
    options: &ParseOptions,
    out: &mut Vec<Scope>,
) -> Result<(), ScopeError> {
    let type_start = level.as_str().len() + 1;
    let rest = text.get(type_start..).unwrap_or_default();
    // One scan for the first `?` and the first `.` before it.
    let mut dot = None;
    let mut question = None;
    for (index, byte) in rest.bytes().enumerate() {
        match byte {
            b'.' if dot.is_none() => dot = Some(index),
            b'?' => {
                question = Some(index);
                break;
            }
            _ => {}
        }
    }
    let path_end = question.unwrap_or(rest.len());
    let path = rest.get(..path_end).unwrap_or_default();
    let query = question.and_then(|q| rest.get(q + 1..));
    let (type_name, permissions) = match dot {
        Some(dot) => (
            rest.get(..dot).unwrap_or_default(),
            rest.get(dot + 1..path_end),
        ),
        None => (path, None),
    };
    let resource_type = if type_name == "*" {
        None
    } else {
        Some(type_name.parse::<ResourceType>().map_err(|unknown| {
            (
                offset + type_start,
                ScopeErrorKind::UnknownResourceType(unknown),
            )
        })?)
    };
    let permissions_start = type_start + type_name.len() + 1;
    let (permissions, syntax) = match permissions {
        None | Some("") => {
            return Err((
                offset + permissions_start.min(type_start + path.len()),
                ScopeErrorKind::MissingPermissions,
            ));
        }
        Some("read") => (Permissions::NONE, Syntax::V1Read),
        Some("write") => (Permissions::NONE, Syntax::V1Write),
        Some("*") => (Permissions::NONE, Syntax::V1All),
        Some(letters) => {
            let parsed = Permissions::parse_v2(letters.as_bytes()).map_err(|at| {
                (
                    offset + permissions_start + at,
                    ScopeErrorKind::InvalidPermissions {
                        found: letters.to_owned(),
                    },
                )
            })?;
            (parsed, Syntax::V2)
        }
    };
    let permissions = syntax.v1_permissions().unwrap_or(permissions);
    let query_start = type_start + path.len() + 1;
    let query = match query {
        None => None,
        Some(_) if syntax.is_v1() => {
            return Err((offset + query_start - 1, ScopeErrorKind::V1WithQuery));
        }
        Some(query) => {
            let mode = Mode::Scope {
                experimental: options.experimental,
            };
            let parsed = Query::parse_in(query, mode)
                .map_err(|(at, kind)| (offset + query_start + at, kind))?;
            Some(parsed)
        }
    };
    out.push(Scope::Resource(ResourceScope {
        level,
        resource_type,
        permissions,
        syntax,
        prefix,
        query,
    }));
    Ok(())
}

fn parse_launch(text: &str, offset: usize, prefix: Prefix) -> Result<LaunchScope, ScopeError> {
    let (path, query) = match text.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (text, None),
    };
    let resource_type = match path.strip_prefix("launch/") {
        None if path == "launch" => None,
        None => return Err((offset, ScopeErrorKind::KeywordCase { expected: "launch" })),
        Some(name) => Some(launch_type(name).map_err(|kind| (offset + 7, kind))?),
    };
    let role = match query {
        None => None,
        Some(_) if resource_type.is_none() => {
            return Err((
                offset + path.len(),
                ScopeErrorKind::InvalidLaunchRole(
                    "a role needs a context type: `launch/<type>?role=<uri>`",
                ),
            ));
        }
        Some(query) => {
            let position = offset + path.len() + 1;
            let role = query.strip_prefix("role=").ok_or((
                position,
                ScopeErrorKind::InvalidLaunchRole("the only launch parameter is `role=<uri>`"),
            ))?;
            if role.is_empty() {
                return Err((
                    position + 5,
                    ScopeErrorKind::InvalidLaunchRole("the role must not be empty"),
                ));
            }
            if role.contains('&') {
                return Err((
                    position + 5,
                    ScopeErrorKind::InvalidLaunchRole("a launch scope carries at most one role"),
                ));
            }
            Some(Box::from(role))
        }
    };
    Ok(LaunchScope {
        resource_type,
        role,
        prefix,
    })
}

/// Resolves the lowercase type name of `launch/<type>`.
fn launch_type(name: &str) -> Result<ResourceType, ScopeErrorKind> {
    if let Some(t) = ResourceType::from_lowercase(name) {
        return Ok(t);
    }
    match ResourceType::from_lowercase(&name.to_ascii_lowercase()) {
        Some(t) => Err(ScopeErrorKind::LaunchTypeCase {
            expected: t.as_str().to_ascii_lowercase(),
        }),
        None => Err(ScopeErrorKind::UnknownLaunchType {
            found: name.to_owned(),
        }),
    }
}

/// `scheme ":" rest` with an RFC 3986 scheme and something after the colon.
fn is_absolute_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    !rest.is_empty()
        && scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> (usize, &'static str) {
        match Scope::parse(text).unwrap_err() {
            Error::Scope { position, kind, .. } => (position, kind.code()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn resource_scopes_v1_and_v2() {
        let Scope::Resource(r) = Scope::parse("patient/Observation.rs").unwrap() else {
            panic!()
        };
        assert_eq!(
            (
                r.level,
                r.resource_type,
                r.permissions.to_string(),
                r.syntax
            ),
            (
                Level::Patient,
                Some(ResourceType::Observation),
                "rs".to_owned(),
                Syntax::V2
            )
        );
        let Scope::Resource(r) = Scope::parse("user/*.write").unwrap() else {
            panic!()
        };
        assert_eq!(
            (r.resource_type, r.permissions.to_string(), r.syntax),
            (None, "cud".to_owned(), Syntax::V1Write)
        );
        let Scope::Resource(r) = Scope::parse("system/Patient.*").unwrap() else {
            panic!()
        };
        assert_eq!(r.permissions, Permissions::ALL);
    }

    #[test]
    fn prefixes_of_scopes_are_never_scopes() {
        assert_eq!(
            error("patient/Observation.readx"),
            (21, "invalid_permissions")
        );
        assert_eq!(error("patient/Observation.dr"), (21, "invalid_permissions"));
        assert_eq!(error("patient/Observation."), (20, "missing_permissions"));
        assert_eq!(error("patient/Observation"), (19, "missing_permissions"));
        assert_eq!(
            error("patient/Observationxrs"),
            (8, "unknown_resource_type")
        );
        assert_eq!(
            error("patient/Observation.dus"),
            (21, "invalid_permissions")
        );
        assert_eq!(error("patient/Observation.rs?"), (23, "empty_query"));
        assert_eq!(error("user/Patient.r?name"), (19, "invalid_parameter"));
        assert_eq!(error("patient/*.read?x=1"), (14, "v1_with_query"));
        assert_eq!(error("Patient/Observation.rs"), (0, "context_case"));
        assert_eq!(error("USER/*.rs"), (0, "context_case"));
        assert_eq!(
            error("patient/observation.rs"),
            (8, "unknown_resource_type")
        );
    }

    #[test]
    fn error_messages_say_what_and_where() {
        assert_eq!(
            Scope::parse("patient/Observaton.rs")
                .unwrap_err()
                .to_string(),
            "scope `patient/Observaton.rs` at byte 8: unknown resource type `Observaton`; did you mean `Observation`?"
        );
        assert_eq!(
            Scope::parse("patient/Observation.sr")
                .unwrap_err()
                .to_string(),
            "scope `patient/Observation.sr` at byte 21: invalid permissions `sr`: expected letters of `cruds` in that order, each at most once, or `read`, `write`, `*`"
        );
        assert_eq!(
            Scope::parse("OpenID").unwrap_err().to_string(),
            "scope `OpenID` at byte 0: scopes are case-sensitive; did you mean `openid`?"
        );
    }

    #[test]
    fn launch_scopes() {
        let Scope::Launch(l) =
            Scope::parse("launch/list?role=https://example.org/med-list-at-home").unwrap()
        else {
            panic!()
        };
        assert_eq!(l.resource_type, Some(ResourceType::List));
        assert_eq!(l.role(), Some("https://example.org/med-list-at-home"));
        assert_eq!(error("launch/Patient"), (7, "launch_type_case"));
        assert_eq!(error("launch/zebra"), (7, "unknown_launch_type"));
        assert_eq!(error("launch?role=x"), (6, "invalid_launch_role"));
        assert_eq!(error("launch/list?role="), (17, "invalid_launch_role"));
        assert_eq!(error("launch/list?kind=x"), (12, "invalid_launch_role"));
        assert_eq!(
            error("launch/list?role=a&role=b"),
            (17, "invalid_launch_role")
        );
        assert_eq!(error("Launch/patient"), (0, "keyword_case"));
        assert_eq!(
            Scope::parse("launchx").unwrap(),
            Scope::Other("launchx".to_owned())
        );
    }

    #[test]
    fn identity_extension_and_other_scopes() {
        assert_eq!(
            Scope::parse("fhirUser").unwrap(),
            Scope::Identity(Identity::FhirUser, Prefix::None)
        );
        assert_eq!(error("fhiruser"), (0, "keyword_case"));
        assert_eq!(
            Scope::parse("__darkMode").unwrap(),
            Scope::Extension("__darkMode".to_owned())
        );
        assert_eq!(
            Scope::parse("https://ehr.example.org/scopes/profilePhoto.manage").unwrap(),
            Scope::Extension("https://ehr.example.org/scopes/profilePhoto.manage".to_owned())
        );
        assert_eq!(
            Scope::parse("email").unwrap(),
            Scope::Other("email".to_owned())
        );
        assert_eq!(error("a\"b"), (1, "invalid_character"));
        assert_eq!(error("caf\u{e9}"), (3, "invalid_character"));
    }

    #[test]
    fn byte_check_agrees_with_the_rfc_one_byte_at_a_time() {
        let allowed = |b: u8, spaces: bool| {
            matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E) || (spaces && b == b' ')
        };
        for spaces in [false, true] {
            for bad in 0..=255u8 {
                for at in 0..20 {
                    let mut bytes = vec![b'a'; 20];
                    bytes[at] = bad;
                    let expected = (!allowed(bad, spaces)).then_some(at);
                    assert_eq!(
                        first_invalid_byte(&bytes, spaces),
                        expected,
                        "{bad:#x} at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn uri_forms() {
        let scope = Scope::parse("http://smarthealthit.org/fhir/scopes/patient/*.r").unwrap();
        assert_eq!(
            scope.to_string(),
            "http://smarthealthit.org/fhir/scopes/patient/*.r"
        );
        assert_eq!(
            scope.as_resource().unwrap().to_v2().to_string(),
            "patient/*.r"
        );
        assert_eq!(
            Scope::parse("http://openid.net/specs/openid-connect-core-1_0#openid").unwrap(),
            Scope::Identity(Identity::OpenId, Prefix::OpenId)
        );
        assert_eq!(
            error("http://smarthealthit.org/fhir/scopes/bogus"),
            (37, "unknown_prefixed_scope")
        );
        assert_eq!(
            error("http://openid.net/specs/openid-connect-core-1_0#fhirUser"),
            (48, "unknown_prefixed_scope")
        );
    }
}
