//! Compartment membership: [`Config`] (parameters added or excluded beyond the
//! CompartmentDefinitions, `Patient.link`, the server's bases) builds [`Compartments`], which
//! answers "which compartments is this resource in?" and "is it in compartment C?".

use std::collections::BTreeSet;

use serde_json::Value;

use crate::bundle::{BundleIndex, entries};
use crate::generated::tables::COMPARTMENT_LINKS;
use crate::path::{ParameterKind, SearchParameter, Step, search_parameter};
use crate::reference::{Reference, ServerBases, is_valid_id};
use crate::{Compartment, CompartmentKind, Error, ResourceType};

/// How to build [`Compartments`]. Defaults to the five R4 CompartmentDefinitions as
/// published, except `Patient.link` (see [`Config::patient_links`]), with no server base
/// (only relative references are local).
///
/// ```
/// use fhir_compartment::{CompartmentKind, Config, ResourceType};
/// let compartments = Config::new()
///     // Observations whose `focus` is the patient are the patient's too.
///     .add_parameter(CompartmentKind::Patient, ResourceType::Observation, "focus")
///     // A practitioner does not see every Observation they performed.
///     .exclude_parameter(CompartmentKind::Practitioner, ResourceType::Observation, "performer")
///     .build()?;
/// # Ok::<(), fhir_compartment::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Config {
    bases: ServerBases,
    patient_links: bool,
    added: Vec<(CompartmentKind, ResourceType, String)>,
    excluded: Vec<(CompartmentKind, ResourceType, String)>,
}

impl Config {
    /// The published definitions, `Patient.link` off, no server base.
    pub fn new() -> Config {
        Config::default()
    }

    /// The server's own bases: absolute references under them are local. Defaults to none.
    pub fn server_bases(mut self, bases: ServerBases) -> Config {
        self.bases = bases;
        self
    }

    /// Whether the Patient compartment definition's `Patient.link` parameter applies: when on,
    /// a Patient resource whose `link.other` references `Patient/B` is in `Patient/B`'s
    /// compartment, as the definition says. Defaults to off: `link` also records patients who
    /// are only possibly the same person (`seealso`) or were replaced, and following it would
    /// show one person's demographics to another. A server that merges linked patients into
    /// one compartment checks membership against each linked id
    /// ([`Compartments::is_member_of_any`]).
    pub fn patient_links(mut self, on: bool) -> Config {
        self.patient_links = on;
        self
    }

    /// Adds a reference search parameter of `resource_type` to the `kind` compartment (for
    /// example `Observation.focus` to the Patient compartment). [`Config::build`] fails when
    /// the parameter does not exist or is not a reference parameter.
    pub fn add_parameter(
        mut self,
        kind: CompartmentKind,
        resource_type: ResourceType,
        code: &str,
    ) -> Config {
        self.added.push((kind, resource_type, code.to_owned()));
        self
    }

    /// Removes a parameter the definition lists for `resource_type` in the `kind` compartment.
    /// [`Config::build`] fails when the definition does not list it.
    pub fn exclude_parameter(
        mut self,
        kind: CompartmentKind,
        resource_type: ResourceType,
        code: &str,
    ) -> Config {
        self.excluded.push((kind, resource_type, code.to_owned()));
        self
    }

    /// Checks the configuration and builds the membership tables.
    pub fn build(self) -> Result<Compartments, Error> {
        let mut links = published_links(self.patient_links);
        // INVARIANT: `links` has one entry per resource type, indexed by the enum.
        let out_of_table = |t: &ResourceType| Error::UnknownResourceType(t.to_string());
        for (kind, resource_type, code) in &self.excluded {
            let these = links
                .get_mut(*resource_type as usize)
                .ok_or_else(|| out_of_table(resource_type))?;
            let before = these.len();
            these.retain(|(k, p)| !(k == kind && p.code == code));
            if these.len() == before {
                return Err(Error::NotInCompartment {
                    compartment: kind.to_string(),
                    resource_type: resource_type.to_string(),
                    code: code.clone(),
                });
            }
        }
        for (kind, resource_type, code) in &self.added {
            let parameter = search_parameter(*resource_type, code)
                .filter(|p| p.base().is_some())
                .ok_or_else(|| Error::UnknownParameter {
                    resource_type: resource_type.to_string(),
                    code: code.clone(),
                })?;
            if parameter.kind() != ParameterKind::Reference {
                return Err(Error::NotAReferenceParameter {
                    resource_type: resource_type.to_string(),
                    code: code.clone(),
                });
            }
            let these = links
                .get_mut(*resource_type as usize)
                .ok_or_else(|| out_of_table(resource_type))?;
            if !these
                .iter()
                .any(|(k, p)| k == kind && p.code == parameter.code)
            {
                these.push((*kind, parameter));
                these.sort_by_key(|(k, _)| *k);
            }
        }
        Ok(Compartments {
            links,
            bases: self.bases,
        })
    }
}

type Link = (CompartmentKind, &'static SearchParameter);

/// The generated definitions, per resource type, with or without `Patient.link`.
fn published_links(patient_links: bool) -> Vec<Vec<Link>> {
    let is_patient_link = |(kind, parameter): &&Link| {
        *kind == CompartmentKind::Patient
            && parameter.base == Some(ResourceType::Patient)
            && parameter.code == "link"
    };
    COMPARTMENT_LINKS
        .iter()
        .map(|links| {
            links
                .iter()
                .filter(|l| patient_links || !is_patient_link(l))
                .copied()
                .collect()
        })
        .collect()
}

/// Compiled compartment membership. Build once ([`Config::build`]) and share; evaluation does
/// no parsing beyond the references it meets and no I/O.
///
/// ```
/// use fhir_compartment::{Compartment, Compartments};
/// let compartments = Compartments::r4();
/// let observation = serde_json::json!({
///     "resourceType": "Observation", "id": "o1",
///     "subject": {"reference": "Patient/B"},
///     "performer": [{"reference": "Patient/A"}, {"reference": "Practitioner/7"}],
///     "encounter": {"reference": "Encounter/9"}
/// });
/// let all: Vec<String> = compartments.compartments_of(&observation)?.iter().map(|c| c.to_string()).collect();
/// assert_eq!(all, ["Patient/A", "Patient/B", "Encounter/9", "Practitioner/7"]);
/// assert!(compartments.is_member(&observation, &"Patient/A".parse()?)?);
/// assert!(!compartments.is_member(&observation, &"Patient/C".parse()?)?);
/// # Ok::<(), fhir_compartment::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Compartments {
    links: Vec<Vec<Link>>,
    bases: ServerBases,
}

impl Compartments {
    /// The published R4 definitions with the defaults of [`Config`].
    pub fn r4() -> Compartments {
        Compartments {
            links: published_links(false),
            bases: ServerBases::default(),
        }
    }

    /// Every compartment the resource is in. Fails only when `resource` is not a resource
    /// (not an object, no or unknown `resourceType`); references that do not parse, logical,
    /// contained, `urn:` and foreign references are never a membership.
    pub fn compartments_of(&self, resource: &Value) -> Result<BTreeSet<Compartment>, Error> {
        self.collect(resource, None, None)
    }

    /// The compartments of one `kind` the resource is in: [`Compartments::compartments_of`]
    /// without evaluating the other kinds' parameters (an audit trail needs only the
    /// patients).
    ///
    /// ```
    /// use fhir_compartment::{CompartmentKind, Compartments};
    ///
    /// let encounter = serde_json::json!({"resourceType": "Encounter", "id": "e1",
    ///     "subject": {"reference": "Patient/1"},
    ///     "participant": [{"individual": {"reference": "Practitioner/7"}}]});
    /// let patients = Compartments::r4().compartments_of_kind(&encounter, CompartmentKind::Patient)?;
    /// assert_eq!(patients.iter().map(|c| c.to_string()).collect::<Vec<_>>(), ["Patient/1"]);
    /// # Ok::<(), fhir_compartment::Error>(())
    /// ```
    pub fn compartments_of_kind(
        &self,
        resource: &Value,
        kind: CompartmentKind,
    ) -> Result<BTreeSet<Compartment>, Error> {
        let mut of_kind = self.collect(resource, None, Some(kind))?;
        // The owner's own compartment is visited whatever the filter.
        of_kind.retain(|c| c.kind() == kind);
        Ok(of_kind)
    }

    /// [`Compartments::compartments_of`] for a resource inside a Bundle: references to other
    /// entries (`urn:uuid:`, `fullUrl`) resolve through `bundle`.
    pub fn compartments_of_entry(
        &self,
        resource: &Value,
        bundle: &BundleIndex,
    ) -> Result<BTreeSet<Compartment>, Error> {
        self.collect(resource, Some(bundle), None)
    }

    /// [`Compartments::compartments_of`] from JSON bytes.
    pub fn compartments_of_slice(&self, json: &[u8]) -> Result<BTreeSet<Compartment>, Error> {
        let value: Value = serde_json::from_slice(json)?;
        self.compartments_of(&value)
    }

    /// The compartments of every entry of a Bundle, in entry order (an entry with no resource
    /// has none). References between entries resolve through the Bundle's `fullUrl`s.
    pub fn compartments_of_bundle(
        &self,
        bundle: &Value,
    ) -> Result<Vec<BTreeSet<Compartment>>, Error> {
        let index = BundleIndex::new(bundle)?;
        entries(bundle)
            .iter()
            .map(|entry| match entry.get("resource") {
                Some(resource) => self.collect(resource, Some(&index), None),
                None => Ok(BTreeSet::new()),
            })
            .collect()
    }

    /// Is the resource in `compartment`?
    pub fn is_member(&self, resource: &Value, compartment: &Compartment) -> Result<bool, Error> {
        self.is_member_of_any(resource, std::slice::from_ref(compartment))
    }

    /// [`Compartments::is_member`] for the compartment of `kind` owned by `id`, allocating
    /// nothing (a [`Compartment`] owns its id). An invalid id is in no compartment.
    ///
    /// ```
    /// use fhir_compartment::{CompartmentKind, Compartments};
    ///
    /// let observation = serde_json::json!({"resourceType": "Observation",
    ///     "subject": {"reference": "Patient/1"}});
    /// let compartments = Compartments::r4();
    /// assert_eq!(compartments.is_member_of(&observation, CompartmentKind::Patient, "1"), Ok(true));
    /// assert_eq!(compartments.is_member_of(&observation, CompartmentKind::Patient, "2"), Ok(false));
    /// ```
    pub fn is_member_of(
        &self,
        resource: &Value,
        kind: CompartmentKind,
        id: &str,
    ) -> Result<bool, Error> {
        let mut found = false;
        self.visit(resource, None, Some(kind), &mut |k, member| {
            found |= k == kind && member == id;
        })?;
        Ok(found)
    }

    /// [`Compartments::is_member`] for a resource inside a Bundle.
    pub fn is_member_in(
        &self,
        resource: &Value,
        compartment: &Compartment,
        bundle: &BundleIndex,
    ) -> Result<bool, Error> {
        let mut found = false;
        self.visit(
            resource,
            Some(bundle),
            Some(compartment.kind()),
            &mut |kind, id| {
                found |= kind == compartment.kind() && id == compartment.id();
            },
        )?;
        Ok(found)
    }

    /// Is the resource in at least one of `compartments` (for example a patient and the
    /// patients linked to them)?
    pub fn is_member_of_any(
        &self,
        resource: &Value,
        compartments: &[Compartment],
    ) -> Result<bool, Error> {
        let only = match compartments {
            [single] => Some(single.kind()),
            _ => None,
        };
        let mut found = false;
        self.visit(resource, None, only, &mut |kind, id| {
            found |= compartments
                .iter()
                .any(|c| c.kind() == kind && c.id() == id);
        })?;
        Ok(found)
    }

    /// Whether a resource of `resource_type` whose search parameter `code` references the
    /// owner of a `kind` compartment is in that owner's compartment: each branch of the
    /// parameter's path selects what a branch of one of the compartment's parameters selects
    /// (a final `.where(resolve() is <owner type>)` aside). A search filtered by such a
    /// parameter to one owner needs no narrowing to that owner's compartment. `false` when
    /// unsure: an unknown parameter, or a path the compartment's parameters do not cover.
    ///
    /// ```
    /// use fhir_compartment::{CompartmentKind, Compartments, ResourceType};
    ///
    /// let compartments = Compartments::r4();
    /// let implies = |code| compartments.implies_membership(ResourceType::Observation, code, CompartmentKind::Patient);
    /// assert!(implies("patient")); // Observation.subject.where(resolve() is Patient)
    /// assert!(implies("subject"));
    /// assert!(implies("performer"));
    /// assert!(!implies("encounter"));
    /// assert!(!implies("code"));
    /// ```
    pub fn implies_membership(
        &self,
        resource_type: ResourceType,
        code: &str,
        kind: CompartmentKind,
    ) -> bool {
        let Some(parameter) = search_parameter(resource_type, code) else {
            return false;
        };
        let owner = [Step::ReferenceTo(kind.owner_type())];
        let bare = |branch: &'static [Step]| branch.strip_suffix(&owner).unwrap_or(branch);
        let links = self
            .links
            .get(resource_type as usize)
            .map_or(&[][..], Vec::as_slice);
        let branches = parameter.expression.branches;
        !branches.is_empty()
            && branches.iter().all(|branch| {
                links
                    .iter()
                    .filter(|(k, _)| *k == kind)
                    .flat_map(|(_, link)| link.expression.branches)
                    .any(|linked| bare(linked) == bare(branch))
            })
    }

    /// The search parameters of `resource_type` that link it to a `kind` compartment's owner,
    /// in definition order (after the configuration's additions and exclusions). Empty when
    /// the type is not in that compartment.
    pub fn parameters(
        &self,
        resource_type: ResourceType,
        kind: CompartmentKind,
    ) -> Vec<&'static str> {
        self.links
            .get(resource_type as usize)
            .map(|links| {
                links
                    .iter()
                    .filter(|(k, _)| *k == kind)
                    .map(|(_, p)| p.code)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn collect(
        &self,
        resource: &Value,
        bundle: Option<&BundleIndex>,
        only: Option<CompartmentKind>,
    ) -> Result<BTreeSet<Compartment>, Error> {
        let mut out = BTreeSet::new();
        self.visit(resource, bundle, only, &mut |kind, id| {
            if !out
                .iter()
                .any(|c: &Compartment| c.kind() == kind && c.id() == id)
            {
                if let Ok(c) = Compartment::new(kind, id) {
                    out.insert(c);
                }
            }
        })?;
        Ok(out)
    }

    /// Calls `f(kind, owner id)` for each membership (possibly repeated).
    fn visit(
        &self,
        resource: &Value,
        bundle: Option<&BundleIndex>,
        only: Option<CompartmentKind>,
        f: &mut dyn FnMut(CompartmentKind, &str),
    ) -> Result<(), Error> {
        let resource_type = resource_type_of(resource)?;
        if let Some(kind) = CompartmentKind::for_owner(resource_type) {
            if let Some(id) = resource
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| is_valid_id(id))
            {
                f(kind, id);
            }
        }
        let links = self
            .links
            .get(resource_type as usize)
            .map_or(&[][..], Vec::as_slice);
        for (kind, parameter) in links {
            if only.is_some_and(|only| only != *kind) {
                continue;
            }
            let owner = kind.owner_type();
            parameter
                .expression
                .for_each(resource, bundle, &mut |element| {
                    let Some(text) = element.get("reference").and_then(Value::as_str) else {
                        return;
                    };
                    if let Some((t, id)) = bundle.and_then(|b| b.resolve(text)) {
                        if t == owner {
                            f(*kind, id);
                        }
                        return;
                    }
                    if let Ok(reference) = Reference::parse(text) {
                        if let Some(target) = self.bases.local(&reference) {
                            if target.resource_type == owner {
                                f(*kind, target.id);
                            }
                        }
                    }
                });
        }
        Ok(())
    }
}

/// The `resourceType` of a resource JSON object.
pub(crate) fn resource_type_of(resource: &Value) -> Result<ResourceType, Error> {
    let object = resource
        .as_object()
        .ok_or_else(|| Error::NotAResource("expected a JSON object".to_owned()))?;
    let name = object
        .get("resourceType")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::NotAResource("no `resourceType`".to_owned()))?;
    ResourceType::from_name(name).ok_or_else(|| Error::UnknownResourceType(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn of(c: &Compartments, r: &Value) -> Vec<String> {
        c.compartments_of(r)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn one_kind_evaluates_that_kind_only() {
        let c = Compartments::r4();
        let patient = json!({"resourceType": "Patient", "id": "p1",
            "generalPractitioner": [{"reference": "Practitioner/7"}]});
        let kind = |k| -> Vec<String> {
            c.compartments_of_kind(&patient, k)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(kind(CompartmentKind::Patient), ["Patient/p1"]);
        assert_eq!(kind(CompartmentKind::Practitioner), ["Practitioner/7"]);
        assert_eq!(kind(CompartmentKind::Device), Vec::<String>::new());
        assert_eq!(of(&c, &patient), ["Patient/p1", "Practitioner/7"]);
    }

    #[test]
    fn owners_are_in_their_own_compartment() {
        let c = Compartments::r4();
        for (t, kind) in [
            ("Patient", "Patient"),
            ("Encounter", "Encounter"),
            ("Device", "Device"),
            ("Practitioner", "Practitioner"),
            ("RelatedPerson", "RelatedPerson"),
        ] {
            assert!(
                of(&c, &json!({"resourceType": t, "id": "x1"})).contains(&format!("{kind}/x1"))
            );
        }
        assert!(of(&c, &json!({"resourceType": "Patient", "id": "bad id"})).is_empty());
    }

    #[test]
    fn patient_link_is_off_by_default() {
        let p = json!({"resourceType": "Patient", "id": "a", "link": [{"other": {"reference": "Patient/b"}, "type": "seealso"}]});
        assert_eq!(of(&Compartments::r4(), &p), ["Patient/a"]);
        assert_eq!(of(&Config::new().build().unwrap(), &p), ["Patient/a"]);
        assert_eq!(
            of(&Config::new().patient_links(true).build().unwrap(), &p),
            ["Patient/a", "Patient/b"]
        );
    }

    #[test]
    fn configuration_errors() {
        let e = Config::new()
            .add_parameter(CompartmentKind::Patient, ResourceType::Observation, "nope")
            .build()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`Observation` has no search parameter `nope`"
        );
        let e = Config::new()
            .add_parameter(CompartmentKind::Patient, ResourceType::Observation, "code")
            .build()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "search parameter `Observation.code` is not a reference parameter"
        );
        let e = Config::new()
            .exclude_parameter(CompartmentKind::Patient, ResourceType::Observation, "focus")
            .build()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the `Patient` compartment has no parameter `Observation.focus` to exclude"
        );
    }

    #[test]
    fn added_and_excluded_parameters() {
        let obs = json!({"resourceType": "Observation", "focus": [{"reference": "Patient/f"}], "performer": [{"reference": "Practitioner/p"}]});
        assert_eq!(of(&Compartments::r4(), &obs), ["Practitioner/p"]);
        let c = Config::new()
            .add_parameter(CompartmentKind::Patient, ResourceType::Observation, "focus")
            .exclude_parameter(
                CompartmentKind::Practitioner,
                ResourceType::Observation,
                "performer",
            )
            .build()
            .unwrap();
        assert_eq!(of(&c, &obs), ["Patient/f"]);
        assert_eq!(
            c.parameters(ResourceType::Observation, CompartmentKind::Patient),
            ["subject", "performer", "focus"]
        );
    }

    #[test]
    fn foreign_absolute_references_are_not_members() {
        let obs = json!({"resourceType": "Observation", "subject": {"reference": "https://ehr.org/fhir/Patient/1"}});
        assert!(of(&Compartments::r4(), &obs).is_empty());
        let c = Config::new()
            .server_bases(ServerBases::new(["https://ehr.org/fhir"]).unwrap())
            .build()
            .unwrap();
        assert_eq!(of(&c, &obs), ["Patient/1"]);
    }

    #[test]
    fn built_tables_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Compartments>();
        shareable::<crate::BundleIndex>();
    }

    #[test]
    fn the_definitions_have_299_pairs() {
        let pairs: usize = COMPARTMENT_LINKS.iter().map(|l| l.len()).sum();
        assert_eq!(pairs, crate::generated::tables::COMPARTMENT_PAIR_COUNT);
        assert_eq!(pairs, 299);
    }

    #[test]
    fn not_a_resource() {
        let c = Compartments::r4();
        assert_eq!(
            c.compartments_of(&json!([1])).unwrap_err().to_string(),
            "not a resource: expected a JSON object"
        );
        assert_eq!(
            c.compartments_of(&json!({})).unwrap_err().to_string(),
            "not a resource: no `resourceType`"
        );
        assert_eq!(
            c.compartments_of(&json!({"resourceType": "observation"}))
                .unwrap_err()
                .to_string(),
            "unknown resource type `observation`"
        );
        assert_eq!(
            c.compartments_of_slice(b"{").unwrap_err().to_string(),
            "invalid JSON at line 1 column 1"
        );
    }
}
