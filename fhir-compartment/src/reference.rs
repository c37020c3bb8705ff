//! FHIR references: parsing and classifying every form R4 allows ([`Reference`]: relative,
//! versioned, absolute, contained, `urn:uuid:`, `urn:oid:`), reading a `Reference` element
//! ([`ReferenceValue`], including logical references), canonical URLs ([`Canonical`]), and
//! deciding local versus foreign absolute references against the server's bases
//! ([`ServerBases`]).

use std::fmt;

use serde_json::Value;

use crate::error::ReferenceError;
use crate::{Error, ResourceType};

/// The instance a relative or absolute reference points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target<'a> {
    /// The referenced resource's type.
    pub resource_type: ResourceType,
    /// The referenced resource's id.
    pub id: &'a str,
    /// The version, for `Type/id/_history/vid`.
    pub version: Option<&'a str>,
}

/// A literal reference (the `reference` string of a `Reference` element), classified.
///
/// ```
/// use fhir_compartment::{Reference, ResourceType};
/// let r = Reference::parse("Patient/123/_history/2")?;
/// let Reference::Relative(target) = r else { unreachable!() };
/// assert_eq!((target.resource_type, target.id, target.version), (ResourceType::Patient, "123", Some("2")));
/// assert!(Reference::parse("Patient/../x").is_err());
/// assert!(Reference::parse("patient/123").is_err());
/// # Ok::<(), fhir_compartment::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reference<'a> {
    /// `Type/id` or `Type/id/_history/vid`, relative to the server's base.
    Relative(Target<'a>),
    /// `http(s)://base/Type/id[/_history/vid]`: local when `base` is one of the server's
    /// bases ([`ServerBases::local`]), foreign otherwise.
    Absolute {
        /// Everything before `/Type/id`, with no trailing slash.
        base: &'a str,
        /// The instance.
        target: Target<'a>,
    },
    /// `#id`: a resource contained in the referring resource.
    Contained(&'a str),
    /// `urn:uuid:…`: a resource identified inside a Bundle (by an entry's `fullUrl`).
    Uuid(&'a str),
    /// `urn:oid:…`: a resource identified inside a Bundle (by an entry's `fullUrl`).
    Oid(&'a str),
}

impl<'a> Reference<'a> {
    /// Parses and classifies a literal reference. Unknown types, invalid ids, path tricks
    /// (`Patient/../x`, `Patient/123/extra`, `%2F`), case variants (`patient/123`), canonical
    /// URLs (`…|1.0`) and stray whitespace are errors.
    pub fn parse(text: &'a str) -> Result<Reference<'a>, Error> {
        parse_literal(text).map_err(|reason| Error::Reference {
            reference: text.to_owned(),
            reason,
        })
    }

    /// The instance this reference names, when it names one by type and id.
    pub fn target(&self) -> Option<Target<'a>> {
        match *self {
            Reference::Relative(target) | Reference::Absolute { target, .. } => Some(target),
            Reference::Contained(_) | Reference::Uuid(_) | Reference::Oid(_) => None,
        }
    }
}

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.resource_type, self.id)?;
        match self.version {
            Some(version) => write!(f, "/_history/{version}"),
            None => Ok(()),
        }
    }
}

/// Writes the reference as FHIR spells it; [`Reference::parse`] reads it back unchanged.
impl fmt::Display for Reference<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Relative(target) => target.fmt(f),
            Reference::Absolute { base, target } => write!(f, "{base}/{target}"),
            Reference::Contained(id) => write!(f, "#{id}"),
            Reference::Uuid(uuid) => write!(f, "urn:uuid:{uuid}"),
            Reference::Oid(oid) => write!(f, "urn:oid:{oid}"),
        }
    }
}

fn parse_literal(text: &str) -> Result<Reference<'_>, ReferenceError> {
    if text.is_empty() {
        return Err(ReferenceError::Empty);
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ReferenceError::Whitespace);
    }
    if text.contains('|') {
        return Err(ReferenceError::Canonical);
    }
    if let Some(id) = text.strip_prefix('#') {
        return valid_id(id).map(Reference::Contained);
    }
    if let Some(uuid) = text.strip_prefix("urn:uuid:") {
        return if is_uuid(uuid) {
            Ok(Reference::Uuid(uuid))
        } else {
            Err(ReferenceError::InvalidUuid)
        };
    }
    if let Some(oid) = text.strip_prefix("urn:oid:") {
        return if is_oid(oid) {
            Ok(Reference::Oid(oid))
        } else {
            Err(ReferenceError::InvalidOid)
        };
    }
    if let Some((scheme, rest)) = text.split_once("://") {
        if scheme != "http" && scheme != "https" {
            return Err(ReferenceError::Scheme(scheme.to_owned()));
        }
        if rest.contains(['?', '#']) {
            return Err(ReferenceError::QueryOrFragment);
        }
        if let Some(dot) = rest.split('/').find(|s| is_dot_segment(s)) {
            return Err(ReferenceError::DotSegment(dot.to_owned()));
        }
        // Only the host and the last four segments matter; looked at without collecting, so
        // that classifying a reference allocates nothing.
        let count = rest.split('/').count();
        let mut last = [""; 4];
        for (slot, segment) in last.iter_mut().zip(rest.rsplit('/')) {
            *slot = segment;
        }
        let [final_, second_last, third_last, fourth_last] = last;
        let tail: &[&str] = if count >= 5 && second_last == "_history" {
            &[fourth_last, third_last, second_last, final_]
        } else {
            &[second_last, final_]
        };
        // The host plus at least the tail: `https://host/Patient/1`.
        if count < tail.len() + 1 || rest.split('/').next().is_none_or(str::is_empty) {
            return Err(ReferenceError::Shape);
        }
        let target = parse_target(tail)?;
        let base_len = text.len() - tail.iter().map(|s| s.len() + 1).sum::<usize>();
        let base = text.get(..base_len).ok_or(ReferenceError::Shape)?;
        return Ok(Reference::Absolute { base, target });
    }
    if text.contains(':') {
        let scheme = text.split(':').next().unwrap_or_default();
        return Err(ReferenceError::Scheme(scheme.to_owned()));
    }
    // A target has at most four segments (`Type/id/_history/vid`); more is never one.
    let mut segments = [""; 4];
    let mut count = 0;
    for segment in text.split('/') {
        let Some(slot) = segments.get_mut(count) else {
            return Err(match text.split('/').find(|s| is_dot_segment(s)) {
                Some(dot) => ReferenceError::DotSegment(dot.to_owned()),
                None => ReferenceError::Shape,
            });
        };
        *slot = segment;
        count += 1;
    }
    parse_target(segments.get(..count).unwrap_or_default()).map(Reference::Relative)
}

fn is_dot_segment(segment: &str) -> bool {
    segment == "." || segment == ".."
}

fn parse_target<'a>(segments: &[&'a str]) -> Result<Target<'a>, ReferenceError> {
    if let Some(dot) = segments.iter().find(|s| is_dot_segment(s)) {
        return Err(ReferenceError::DotSegment((*dot).to_owned()));
    }
    let (type_name, id, version) = match *segments {
        [t, id] => (t, id, None),
        [t, id, "_history", vid] => (t, id, Some(vid)),
        _ => return Err(ReferenceError::Shape),
    };
    let resource_type = ResourceType::from_name(type_name)
        .ok_or_else(|| ReferenceError::UnknownResourceType(type_name.to_owned()))?;
    let id = valid_id(id)?;
    let version = version.map(valid_id).transpose()?;
    Ok(Target {
        resource_type,
        id,
        version,
    })
}

fn valid_id(id: &str) -> Result<&str, ReferenceError> {
    if id == "." || id == ".." {
        return Err(ReferenceError::DotSegment(id.to_owned()));
    }
    if is_valid_id(id) {
        Ok(id)
    } else {
        Err(ReferenceError::InvalidId(id.to_owned()))
    }
}

/// The FHIR id rule: `[A-Za-z0-9\-\.]{1,64}`.
pub(crate) fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_oid(s: &str) -> bool {
    let mut arcs = s.split('.');
    let first_ok = matches!(arcs.next(), Some("0" | "1" | "2"));
    let mut count = 0;
    let rest_ok = arcs.all(|arc| {
        count += 1;
        !arc.is_empty()
            && arc.bytes().all(|b| b.is_ascii_digit())
            && (arc == "0" || !arc.starts_with('0'))
    });
    first_ok && rest_ok && count >= 1
}

/// What a `Reference` element (JSON object) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceValue<'a> {
    /// A literal reference (`reference` is present).
    Literal(Reference<'a>),
    /// A logical reference: an `identifier` and no `reference`. It names no instance, so it
    /// never makes a resource a compartment member.
    Logical,
    /// Neither `reference` nor `identifier` (a `display` only, or empty).
    Empty,
}

impl<'a> ReferenceValue<'a> {
    /// Reads a `Reference` element. A `reference` that is not a string or does not parse is an
    /// error.
    ///
    /// ```
    /// use fhir_compartment::{ReferenceValue, Reference};
    /// let element = serde_json::json!({"identifier": {"system": "urn:mrn", "value": "7"}});
    /// assert_eq!(ReferenceValue::from_json(&element)?, ReferenceValue::Logical);
    /// let element = serde_json::json!({"reference": "#med1"});
    /// assert_eq!(ReferenceValue::from_json(&element)?, ReferenceValue::Literal(Reference::Contained("med1")));
    /// # Ok::<(), fhir_compartment::Error>(())
    /// ```
    pub fn from_json(element: &'a Value) -> Result<ReferenceValue<'a>, Error> {
        match element.get("reference") {
            Some(Value::String(text)) => Reference::parse(text).map(ReferenceValue::Literal),
            Some(other) => Err(Error::Reference {
                reference: other.to_string(),
                reason: ReferenceError::Shape,
            }),
            None if element.get("identifier").is_some() => Ok(ReferenceValue::Logical),
            None => Ok(ReferenceValue::Empty),
        }
    }
}

/// A canonical URL (`canonical` elements: `http://…/ValueSet/x|1.0`). Canonicals name
/// definitions by URL and version, not instances: they never make a resource a compartment
/// member.
///
/// ```
/// use fhir_compartment::Canonical;
/// let c = Canonical::parse("http://hl7.org/fhir/ValueSet/example|4.0.1")?;
/// assert_eq!((c.url, c.version), ("http://hl7.org/fhir/ValueSet/example", Some("4.0.1")));
/// # Ok::<(), fhir_compartment::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Canonical<'a> {
    /// The URL, without version or fragment.
    pub url: &'a str,
    /// The version after `|`.
    pub version: Option<&'a str>,
    /// A fragment after `#` (a contained definition).
    pub fragment: Option<&'a str>,
}

impl<'a> Canonical<'a> {
    /// Splits a canonical into URL, `|version` and `#fragment`.
    pub fn parse(text: &'a str) -> Result<Canonical<'a>, Error> {
        let error = |reason| Error::Canonical {
            canonical: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Err(error("empty canonical"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(error("whitespace or control characters"));
        }
        let (rest, fragment) = match text.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (text, None),
        };
        let (url, version) = match rest.split_once('|') {
            Some((url, version)) if !version.is_empty() && !version.contains('|') => {
                (url, Some(version))
            }
            Some(_) => return Err(error("empty or repeated version")),
            None => (rest, None),
        };
        if url.is_empty() || !url.contains(':') {
            return Err(error("expected an absolute URL"));
        }
        Ok(Canonical {
            url,
            version,
            fragment,
        })
    }
}

/// Writes `url[|version][#fragment]`; [`Canonical::parse`] reads it back unchanged.
impl fmt::Display for Canonical<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url)?;
        if let Some(version) = self.version {
            write!(f, "|{version}")?;
        }
        if let Some(fragment) = self.fragment {
            write!(f, "#{fragment}")?;
        }
        Ok(())
    }
}

/// The base URLs under which this server's own resources live. An absolute reference whose
/// base is one of them is local; any other absolute reference is foreign and never makes a
/// resource a member of a local compartment.
///
/// ```
/// use fhir_compartment::{Reference, ServerBases};
/// let bases = ServerBases::new(["https://ehr.example.org/fhir/"])?;
/// let local = Reference::parse("https://ehr.example.org/fhir/Patient/1")?;
/// let foreign = Reference::parse("https://other.example.org/fhir/Patient/1")?;
/// assert!(bases.local(&local).is_some());
/// assert!(bases.local(&foreign).is_none());
/// # Ok::<(), fhir_compartment::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerBases {
    bases: Vec<String>,
}

impl ServerBases {
    /// Bases as absolute `http(s)` URLs; a trailing slash is ignored. Comparison is exact
    /// otherwise (scheme and host included).
    pub fn new<I, S>(bases: I) -> Result<ServerBases, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for base in bases {
            let base = base.as_ref();
            let trimmed = base.strip_suffix('/').unwrap_or(base);
            let ok = (trimmed.starts_with("http://") || trimmed.starts_with("https://"))
                && !trimmed.contains(['?', '#'])
                && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
                && trimmed
                    .split("://")
                    .nth(1)
                    .is_some_and(|rest| !rest.is_empty());
            if !ok {
                return Err(Error::ServerBase(base.to_owned()));
            }
            out.push(trimmed.to_owned());
        }
        Ok(ServerBases { bases: out })
    }

    /// The local instance a reference names: relative references always, absolute ones when
    /// their base is one of the server's.
    pub fn local<'a>(&self, reference: &Reference<'a>) -> Option<Target<'a>> {
        match *reference {
            Reference::Relative(target) => Some(target),
            Reference::Absolute { base, target } if self.bases.iter().any(|b| b == base) => {
                Some(target)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        Reference::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn classifies_every_form() {
        let patient = |id, version| Target {
            resource_type: ResourceType::Patient,
            id,
            version,
        };
        assert_eq!(
            Reference::parse("Patient/123").unwrap(),
            Reference::Relative(patient("123", None))
        );
        assert_eq!(
            Reference::parse("Patient/123/_history/2").unwrap(),
            Reference::Relative(patient("123", Some("2")))
        );
        assert_eq!(
            Reference::parse("https://base/fhir/Patient/123").unwrap(),
            Reference::Absolute {
                base: "https://base/fhir",
                target: patient("123", None)
            }
        );
        assert_eq!(
            Reference::parse("http://base/Patient/123/_history/7").unwrap(),
            Reference::Absolute {
                base: "http://base",
                target: patient("123", Some("7"))
            }
        );
        assert_eq!(
            Reference::parse("#med1").unwrap(),
            Reference::Contained("med1")
        );
        assert_eq!(
            Reference::parse("urn:uuid:c9efcb62-0000-4000-8000-00000000abcd").unwrap(),
            Reference::Uuid("c9efcb62-0000-4000-8000-00000000abcd")
        );
        assert_eq!(
            Reference::parse("urn:oid:1.2.840.10008").unwrap(),
            Reference::Oid("1.2.840.10008")
        );
    }

    #[test]
    fn rejects_tricks_with_exact_messages() {
        let cases = [
            ("", "reference ``: empty reference"),
            (
                "Patient/../x",
                "reference `Patient/../x`: path segment `..` is not allowed",
            ),
            (
                "Patient/..",
                "reference `Patient/..`: path segment `..` is not allowed",
            ),
            (
                "Patient/123/extra",
                "reference `Patient/123/extra`: expected `Type/id` or `Type/id/_history/vid`",
            ),
            (
                "Patient%2F123",
                "reference `Patient%2F123`: expected `Type/id` or `Type/id/_history/vid`",
            ),
            (
                "Patient/1%2F2",
                "reference `Patient/1%2F2`: invalid id `1%2F2`: expected 1 to 64 of A-Z a-z 0-9 - .",
            ),
            (
                "patient/123",
                "reference `patient/123`: unknown resource type `patient`",
            ),
            (
                "Patient/123 ",
                "reference `Patient/123 `: whitespace or control characters",
            ),
            (
                "Patient/123/_history/",
                "reference `Patient/123/_history/`: invalid id ``: expected 1 to 64 of A-Z a-z 0-9 - .",
            ),
            (
                "ftp://x/Patient/1",
                "reference `ftp://x/Patient/1`: unsupported URL scheme `ftp`",
            ),
            (
                "https://x/Patient/1?a=b",
                "reference `https://x/Patient/1?a=b`: query or fragment in an absolute reference",
            ),
            (
                "https://x/a/../Patient/1",
                "reference `https://x/a/../Patient/1`: path segment `..` is not allowed",
            ),
            (
                "https:///Patient/1",
                "reference `https:///Patient/1`: expected `Type/id` or `Type/id/_history/vid`",
            ),
            ("urn:uuid:nope", "reference `urn:uuid:nope`: invalid UUID"),
            ("urn:oid:1.02", "reference `urn:oid:1.02`: invalid OID"),
            (
                "http://hl7.org/fhir/ValueSet/x|4.0.1",
                "reference `http://hl7.org/fhir/ValueSet/x|4.0.1`: a canonical URL is not an instance reference",
            ),
            (
                "#",
                "reference `#`: invalid id ``: expected 1 to 64 of A-Z a-z 0-9 - .",
            ),
            (
                "mailto:a@b",
                "reference `mailto:a@b`: unsupported URL scheme `mailto`",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(reason(text), message, "{text:?}");
        }
        let long = format!("Patient/{}", "a".repeat(65));
        assert!(Reference::parse(&long).is_err());
        assert!(Reference::parse(&format!("Patient/{}", "a".repeat(64))).is_ok());
    }

    #[test]
    fn logical_and_empty_elements() {
        let logical = serde_json::json!({"identifier": {"value": "1"}, "display": "x"});
        assert_eq!(
            ReferenceValue::from_json(&logical).unwrap(),
            ReferenceValue::Logical
        );
        assert_eq!(
            ReferenceValue::from_json(&serde_json::json!({"display": "x"})).unwrap(),
            ReferenceValue::Empty
        );
        assert!(ReferenceValue::from_json(&serde_json::json!({"reference": 5})).is_err());
    }

    #[test]
    fn canonicals() {
        let c = Canonical::parse("http://x.org/StructureDefinition/a|1.0#frag").unwrap();
        assert_eq!(
            (c.url, c.version, c.fragment),
            (
                "http://x.org/StructureDefinition/a",
                Some("1.0"),
                Some("frag")
            )
        );
        assert!(Canonical::parse("http://x|").is_err());
        assert!(Canonical::parse("relative/url").is_err());
    }

    #[test]
    fn server_bases() {
        assert!(ServerBases::new(["ftp://x"]).is_err());
        assert!(ServerBases::new(["https://"]).is_err());
        let bases = ServerBases::new(["https://a.org/fhir"]).unwrap();
        let r = Reference::parse("https://a.org/fhir/Patient/1").unwrap();
        assert_eq!(bases.local(&r).map(|t| t.id), Some("1"));
        // Another path under the same host is another server.
        let r = Reference::parse("https://a.org/fhir2/Patient/1").unwrap();
        assert_eq!(bases.local(&r), None);
        let r = Reference::parse("http://a.org/fhir/Patient/1").unwrap();
        assert_eq!(bases.local(&r), None);
    }
}
