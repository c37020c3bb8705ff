//! [`ResourceType`], the FHIR R4 resource types (generated from the official
//! StructureDefinitions), with strict, case-sensitive parsing and display.

use std::fmt;
use std::str::FromStr;

use crate::Error;
pub use crate::generated::tables::ResourceType;
use crate::generated::tables::{RESOURCE_TYPE_NAMES, RESOURCE_TYPES};

impl ResourceType {
    /// The type's name as FHIR spells it (`"Observation"`).
    ///
    /// ```
    /// use fhir_compartment::ResourceType;
    /// assert_eq!(ResourceType::Observation.as_str(), "Observation");
    /// ```
    pub fn as_str(self) -> &'static str {
        RESOURCE_TYPE_NAMES
            .get(self as usize)
            .copied()
            .unwrap_or("")
    }

    /// Every R4 resource type, in alphabetical order.
    pub fn all() -> &'static [ResourceType] {
        &RESOURCE_TYPES
    }

    /// Looks up a name, case-sensitively: `Patient` is a type, `patient` is not.
    pub fn from_name(name: &str) -> Option<ResourceType> {
        let index = RESOURCE_TYPE_NAMES.binary_search(&name).ok()?;
        RESOURCE_TYPES.get(index).copied()
    }
}

impl FromStr for ResourceType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceType::from_name(s).ok_or_else(|| Error::UnknownResourceType(s.to_owned()))
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_sorted() {
        assert!(RESOURCE_TYPE_NAMES.windows(2).all(|w| w[0] < w[1]));
        for &t in ResourceType::all() {
            assert_eq!(t.as_str().parse::<ResourceType>(), Ok(t));
        }
        assert_eq!(ResourceType::all().len(), 146);
    }

    #[test]
    fn case_variants_are_unknown() {
        assert_eq!(
            "patient".parse::<ResourceType>().unwrap_err().to_string(),
            "unknown resource type `patient`"
        );
        assert!(ResourceType::from_name("PATIENT").is_none());
        assert!(ResourceType::from_name("Resource").is_none());
        assert!(ResourceType::from_name("DomainResource").is_none());
    }
}
