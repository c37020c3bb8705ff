//! Search narrowing: [`CompartmentSearch`], the search parameters a server ORs together (and
//! ANDs into the client's search) to keep a search inside one compartment, including the
//! expansion of `Patient/123/Observation`-style compartment searches.

use crate::membership::Compartments;
use crate::{Compartment, CompartmentKind, Error, ResourceType};

/// A search of one resource type restricted to one compartment: the resource must match at
/// least one of [`CompartmentSearch::alternatives`].
///
/// ```
/// use fhir_compartment::Compartments;
/// let compartments = Compartments::r4();
/// let search = compartments.compartment_search("Patient/123/Observation")?;
/// let alternatives: Vec<String> = search.alternatives().map(|(p, v)| format!("{p}={v}")).collect();
/// assert_eq!(alternatives, ["subject=Patient/123", "performer=Patient/123"]);
/// # Ok::<(), fhir_compartment::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompartmentSearch {
    compartment: Compartment,
    resource_type: ResourceType,
    parameters: Vec<&'static str>,
}

impl CompartmentSearch {
    /// The compartment searched in.
    pub fn compartment(&self) -> &Compartment {
        &self.compartment
    }

    /// The resource type searched for.
    pub fn resource_type(&self) -> ResourceType {
        self.resource_type
    }

    /// The parameters, one of which must reference the compartment owner. For the owner's own
    /// type, `_id` comes first (its value is the owner's id).
    pub fn parameters(&self) -> &[&'static str] {
        &self.parameters
    }

    /// `(parameter, value)` pairs to OR together: `("subject", "Patient/123")`, and
    /// `("_id", "123")` for the owner's own type.
    pub fn alternatives(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        self.parameters.iter().map(|p| {
            let value = if *p == "_id" {
                self.compartment.id().to_owned()
            } else {
                self.compartment.to_string()
            };
            (*p, value)
        })
    }
}

impl Compartments {
    /// The narrowing of a `resource_type` search to `compartment`. Fails when the type is not
    /// in that compartment (no parameter links it to the owner and it is not the owner type):
    /// such a search can only return nothing.
    pub fn narrowing(
        &self,
        resource_type: ResourceType,
        compartment: &Compartment,
    ) -> Result<CompartmentSearch, Error> {
        let mut parameters = Vec::new();
        if compartment.kind().owner_type() == resource_type {
            parameters.push("_id");
        }
        parameters.extend(self.parameters(resource_type, compartment.kind()));
        if parameters.is_empty() {
            return Err(Error::CompartmentSearch {
                path: format!("{compartment}/{resource_type}"),
                reason: format!(
                    "`{resource_type}` is not in the `{}` compartment",
                    compartment.kind()
                ),
            });
        }
        Ok(CompartmentSearch {
            compartment: compartment.clone(),
            resource_type,
            parameters,
        })
    }

    /// Expands a compartment search path, `Patient/123/Observation` (without a leading `/`
    /// or a query).
    pub fn compartment_search(&self, path: &str) -> Result<CompartmentSearch, Error> {
        let error = |reason: String| Error::CompartmentSearch {
            path: path.to_owned(),
            reason,
        };
        let mut parts = path.split('/');
        let (Some(kind), Some(id), Some(target), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(error("expected `Compartment/id/Type`".to_owned()));
        };
        let compartment: Compartment =
            format!("{kind}/{id}").parse().map_err(|e: Error| match e {
                Error::Compartment { reason, .. } => error(reason),
                other => error(other.to_string()),
            })?;
        let resource_type = ResourceType::from_name(target)
            .ok_or_else(|| error(format!("unknown resource type `{target}`")))?;
        self.narrowing(resource_type, &compartment)
    }

    /// Every resource type in the `kind` compartment (the owner type included).
    pub fn resource_types(&self, kind: CompartmentKind) -> Vec<ResourceType> {
        ResourceType::all()
            .iter()
            .copied()
            .filter(|t| *t == kind.owner_type() || !self.parameters(*t, kind).is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_and_errors() {
        let c = Compartments::r4();
        let s = c.compartment_search("Patient/123/Patient").unwrap();
        assert_eq!(s.parameters(), ["_id"]);
        let s = c.compartment_search("Encounter/9/Observation").unwrap();
        assert_eq!(
            s.alternatives().collect::<Vec<_>>(),
            [("encounter", "Encounter/9".to_owned())]
        );
        let cases = [
            (
                "Patient/123",
                "compartment search `Patient/123`: expected `Compartment/id/Type`",
            ),
            (
                "Patient/1/Observation/x",
                "compartment search `Patient/1/Observation/x`: expected `Compartment/id/Type`",
            ),
            (
                "patient/1/Observation",
                "compartment search `patient/1/Observation`: unknown resource type `patient`",
            ),
            (
                "Patient/1/observation",
                "compartment search `Patient/1/observation`: unknown resource type `observation`",
            ),
            (
                "Patient/1/Organization",
                "compartment search `Patient/1/Organization`: `Organization` is not in the `Patient` compartment",
            ),
        ];
        for (path, message) in cases {
            assert_eq!(c.compartment_search(path).unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn compartment_sizes() {
        let c = Compartments::r4();
        assert!(
            c.resource_types(CompartmentKind::Patient)
                .contains(&ResourceType::Observation)
        );
        assert!(
            !c.resource_types(CompartmentKind::Patient)
                .contains(&ResourceType::Organization)
        );
    }
}
