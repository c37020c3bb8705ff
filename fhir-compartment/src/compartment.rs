//! Compartments: [`CompartmentKind`] (the five R4 compartment types) and [`Compartment`]
//! (a kind and an owner id, written `Patient/123`).

use std::fmt;
use std::str::FromStr;

use crate::reference::is_valid_id;
use crate::{Error, ResourceType};

/// The five compartment types FHIR R4 defines, each owned by a resource of that type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CompartmentKind {
    /// Owned by a `Patient`.
    Patient,
    /// Owned by an `Encounter`.
    Encounter,
    /// Owned by a `RelatedPerson`.
    RelatedPerson,
    /// Owned by a `Practitioner`.
    Practitioner,
    /// Owned by a `Device`.
    Device,
}

impl CompartmentKind {
    /// All five, in this order: Patient, Encounter, RelatedPerson, Practitioner, Device.
    pub const ALL: [CompartmentKind; 5] = [
        CompartmentKind::Patient,
        CompartmentKind::Encounter,
        CompartmentKind::RelatedPerson,
        CompartmentKind::Practitioner,
        CompartmentKind::Device,
    ];

    /// The resource type that owns compartments of this kind.
    pub fn owner_type(self) -> ResourceType {
        match self {
            CompartmentKind::Patient => ResourceType::Patient,
            CompartmentKind::Encounter => ResourceType::Encounter,
            CompartmentKind::RelatedPerson => ResourceType::RelatedPerson,
            CompartmentKind::Practitioner => ResourceType::Practitioner,
            CompartmentKind::Device => ResourceType::Device,
        }
    }

    /// The kind whose owner is `resource_type`, if any.
    pub fn for_owner(resource_type: ResourceType) -> Option<CompartmentKind> {
        CompartmentKind::ALL
            .into_iter()
            .find(|k| k.owner_type() == resource_type)
    }
}

impl fmt::Display for CompartmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.owner_type().as_str())
    }
}

/// One compartment: its kind and the owner's id, written and parsed as `Patient/123`.
///
/// ```
/// use fhir_compartment::{Compartment, CompartmentKind};
/// let c: Compartment = "Patient/123".parse()?;
/// assert_eq!(c.kind(), CompartmentKind::Patient);
/// assert_eq!(c.id(), "123");
/// assert_eq!(c.to_string(), "Patient/123");
/// assert!("patient/123".parse::<Compartment>().is_err());
/// # Ok::<(), fhir_compartment::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Compartment {
    kind: CompartmentKind,
    id: String,
}

impl Compartment {
    /// A compartment of `kind` owned by the resource with this id; fails on an invalid id.
    pub fn new(kind: CompartmentKind, id: &str) -> Result<Compartment, Error> {
        if !is_valid_id(id) {
            return Err(Error::Compartment {
                text: format!("{kind}/{id}"),
                reason: format!("invalid id `{id}`: expected 1 to 64 of A-Z a-z 0-9 - ."),
            });
        }
        Ok(Compartment {
            kind,
            id: id.to_owned(),
        })
    }

    /// The compartment's kind.
    pub fn kind(&self) -> CompartmentKind {
        self.kind
    }

    /// The owner's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The owner as a relative reference (`Patient/123`).
    pub fn owner_reference(&self) -> String {
        self.to_string()
    }
}

impl FromStr for Compartment {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| Error::Compartment {
            text: s.to_owned(),
            reason,
        };
        let (kind, id) = s
            .split_once('/')
            .ok_or_else(|| error("expected `Type/id`".to_owned()))?;
        let resource_type = ResourceType::from_name(kind)
            .ok_or_else(|| error(format!("unknown resource type `{kind}`")))?;
        let kind = CompartmentKind::for_owner(resource_type).ok_or_else(|| {
            error(format!(
                "`{kind}` owns no compartment; expected Patient, Encounter, RelatedPerson, Practitioner or Device"
            ))
        })?;
        Compartment::new(kind, id).map_err(|_| {
            error(format!(
                "invalid id `{id}`: expected 1 to 64 of A-Z a-z 0-9 - ."
            ))
        })
    }
}

impl fmt::Display for Compartment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        for text in [
            "Patient/123",
            "Encounter/e.1",
            "RelatedPerson/x-y",
            "Practitioner/7",
            "Device/d",
        ] {
            let c: Compartment = text.parse().unwrap();
            assert_eq!(c.to_string(), text);
        }
    }

    #[test]
    fn rejects_with_exact_messages() {
        let cases = [
            ("Patient", "compartment `Patient`: expected `Type/id`"),
            (
                "patient/1",
                "compartment `patient/1`: unknown resource type `patient`",
            ),
            (
                "Observation/1",
                "compartment `Observation/1`: `Observation` owns no compartment; expected Patient, Encounter, RelatedPerson, Practitioner or Device",
            ),
            (
                "Patient/1/2",
                "compartment `Patient/1/2`: invalid id `1/2`: expected 1 to 64 of A-Z a-z 0-9 - .",
            ),
            (
                "Patient/",
                "compartment `Patient/`: invalid id ``: expected 1 to 64 of A-Z a-z 0-9 - .",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(
                text.parse::<Compartment>().unwrap_err().to_string(),
                message,
                "{text}"
            );
        }
    }
}
