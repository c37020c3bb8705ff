//! The FHIR R4 (4.0.1) resource types: the names a resource scope may carry.
//!
//! The list is the 146 concrete resource StructureDefinitions of the official
//! `hl7.fhir.r4.core` 4.0.1 package, sorted so lookups can binary-search it.

use std::fmt;

/// A FHIR R4 resource type, such as `Observation`.
///
/// Only the 146 types defined by FHIR R4 (4.0.1) exist; parsing any other name fails.
///
/// ```
/// use fhir_scopes::ResourceType;
///
/// let t: ResourceType = "Observation".parse()?;
/// assert_eq!(t.as_str(), "Observation");
/// assert!("Observaton".parse::<ResourceType>().is_err());
/// # Ok::<(), fhir_scopes::UnknownResourceType>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ResourceType {
    /// `Account`
    Account,
    /// `ActivityDefinition`
    ActivityDefinition,
    /// `AdverseEvent`
    AdverseEvent,
    /// `AllergyIntolerance`
    AllergyIntolerance,
    /// `Appointment`
    Appointment,
    /// `AppointmentResponse`
    AppointmentResponse,
    /// `AuditEvent`
    AuditEvent,
    /// `Basic`
    Basic,
    /// `Binary`
    Binary,
    /// `BiologicallyDerivedProduct`
    BiologicallyDerivedProduct,
    /// `BodyStructure`
    BodyStructure,
    /// `Bundle`
    Bundle,
    /// `CapabilityStatement`
    CapabilityStatement,
    /// `CarePlan`
    CarePlan,
    /// `CareTeam`
    CareTeam,
    /// `CatalogEntry`
    CatalogEntry,
    /// `ChargeItem`
    ChargeItem,
    /// `ChargeItemDefinition`
    ChargeItemDefinition,
    /// `Claim`
    Claim,
    /// `ClaimResponse`
    ClaimResponse,
    /// `ClinicalImpression`
    ClinicalImpression,
    /// `CodeSystem`
    CodeSystem,
    /// `Communication`
    Communication,
    /// `CommunicationRequest`
    CommunicationRequest,
    /// `CompartmentDefinition`
    CompartmentDefinition,
    /// `Composition`
    Composition,
    /// `ConceptMap`
    ConceptMap,
    /// `Condition`
    Condition,
    /// `Consent`
    Consent,
    /// `Contract`
    Contract,
    /// `Coverage`
    Coverage,
    /// `CoverageEligibilityRequest`
    CoverageEligibilityRequest,
    /// `CoverageEligibilityResponse`
    CoverageEligibilityResponse,
    /// `DetectedIssue`
    DetectedIssue,
    /// `Device`
    Device,
    /// `DeviceDefinition`
    DeviceDefinition,
    /// `DeviceMetric`
    DeviceMetric,
    /// `DeviceRequest`
    DeviceRequest,
    /// `DeviceUseStatement`
    DeviceUseStatement,
    /// `DiagnosticReport`
    DiagnosticReport,
    /// `DocumentManifest`
    DocumentManifest,
    /// `DocumentReference`
    DocumentReference,
    /// `EffectEvidenceSynthesis`
    EffectEvidenceSynthesis,
    /// `Encounter`
    Encounter,
    /// `Endpoint`
    Endpoint,
    /// `EnrollmentRequest`
    EnrollmentRequest,
    /// `EnrollmentResponse`
    EnrollmentResponse,
    /// `EpisodeOfCare`
    EpisodeOfCare,
    /// `EventDefinition`
    EventDefinition,
    /// `Evidence`
    Evidence,
    /// `EvidenceVariable`
    EvidenceVariable,
    /// `ExampleScenario`
    ExampleScenario,
    /// `ExplanationOfBenefit`
    ExplanationOfBenefit,
    /// `FamilyMemberHistory`
    FamilyMemberHistory,
    /// `Flag`
    Flag,
    /// `Goal`
    Goal,
    /// `GraphDefinition`
    GraphDefinition,
    /// `Group`
    Group,
    /// `GuidanceResponse`
    GuidanceResponse,
    /// `HealthcareService`
    HealthcareService,
    /// `ImagingStudy`
    ImagingStudy,
    /// `Immunization`
    Immunization,
    /// `ImmunizationEvaluation`
    ImmunizationEvaluation,
    /// `ImmunizationRecommendation`
    ImmunizationRecommendation,
    /// `ImplementationGuide`
    ImplementationGuide,
    /// `InsurancePlan`
    InsurancePlan,
    /// `Invoice`
    Invoice,
    /// `Library`
    Library,
    /// `Linkage`
    Linkage,
    /// `List`
    List,
    /// `Location`
    Location,
    /// `Measure`
    Measure,
    /// `MeasureReport`
    MeasureReport,
    /// `Media`
    Media,
    /// `Medication`
    Medication,
    /// `MedicationAdministration`
    MedicationAdministration,
    /// `MedicationDispense`
    MedicationDispense,
    /// `MedicationKnowledge`
    MedicationKnowledge,
    /// `MedicationRequest`
    MedicationRequest,
    /// `MedicationStatement`
    MedicationStatement,
    /// `MedicinalProduct`
    MedicinalProduct,
    /// `MedicinalProductAuthorization`
    MedicinalProductAuthorization,
    /// `MedicinalProductContraindication`
    MedicinalProductContraindication,
    /// `MedicinalProductIndication`
    MedicinalProductIndication,
    /// `MedicinalProductIngredient`
    MedicinalProductIngredient,
    /// `MedicinalProductInteraction`
    MedicinalProductInteraction,
    /// `MedicinalProductManufactured`
    MedicinalProductManufactured,
    /// `MedicinalProductPackaged`
    MedicinalProductPackaged,
    /// `MedicinalProductPharmaceutical`
    MedicinalProductPharmaceutical,
    /// `MedicinalProductUndesirableEffect`
    MedicinalProductUndesirableEffect,
    /// `MessageDefinition`
    MessageDefinition,
    /// `MessageHeader`
    MessageHeader,
    /// `MolecularSequence`
    MolecularSequence,
    /// `NamingSystem`
    NamingSystem,
    /// `NutritionOrder`
    NutritionOrder,
    /// `Observation`
    Observation,
    /// `ObservationDefinition`
    ObservationDefinition,
    /// `OperationDefinition`
    OperationDefinition,
    /// `OperationOutcome`
    OperationOutcome,
    /// `Organization`
    Organization,
    /// `OrganizationAffiliation`
    OrganizationAffiliation,
    /// `Parameters`
    Parameters,
    /// `Patient`
    Patient,
    /// `PaymentNotice`
    PaymentNotice,
    /// `PaymentReconciliation`
    PaymentReconciliation,
    /// `Person`
    Person,
    /// `PlanDefinition`
    PlanDefinition,
    /// `Practitioner`
    Practitioner,
    /// `PractitionerRole`
    PractitionerRole,
    /// `Procedure`
    Procedure,
    /// `Provenance`
    Provenance,
    /// `Questionnaire`
    Questionnaire,
    /// `QuestionnaireResponse`
    QuestionnaireResponse,
    /// `RelatedPerson`
    RelatedPerson,
    /// `RequestGroup`
    RequestGroup,
    /// `ResearchDefinition`
    ResearchDefinition,
    /// `ResearchElementDefinition`
    ResearchElementDefinition,
    /// `ResearchStudy`
    ResearchStudy,
    /// `ResearchSubject`
    ResearchSubject,
    /// `RiskAssessment`
    RiskAssessment,
    /// `RiskEvidenceSynthesis`
    RiskEvidenceSynthesis,
    /// `Schedule`
    Schedule,
    /// `SearchParameter`
    SearchParameter,
    /// `ServiceRequest`
    ServiceRequest,
    /// `Slot`
    Slot,
    /// `Specimen`
    Specimen,
    /// `SpecimenDefinition`
    SpecimenDefinition,
    /// `StructureDefinition`
    StructureDefinition,
    /// `StructureMap`
    StructureMap,
    /// `Subscription`
    Subscription,
    /// `Substance`
    Substance,
    /// `SubstanceNucleicAcid`
    SubstanceNucleicAcid,
    /// `SubstancePolymer`
    SubstancePolymer,
    /// `SubstanceProtein`
    SubstanceProtein,
    /// `SubstanceReferenceInformation`
    SubstanceReferenceInformation,
    /// `SubstanceSourceMaterial`
    SubstanceSourceMaterial,
    /// `SubstanceSpecification`
    SubstanceSpecification,
    /// `SupplyDelivery`
    SupplyDelivery,
    /// `SupplyRequest`
    SupplyRequest,
    /// `Task`
    Task,
    /// `TerminologyCapabilities`
    TerminologyCapabilities,
    /// `TestReport`
    TestReport,
    /// `TestScript`
    TestScript,
    /// `ValueSet`
    ValueSet,
    /// `VerificationResult`
    VerificationResult,
    /// `VisionPrescription`
    VisionPrescription,
}

/// Every resource type, in the same (alphabetical) order as the enum.
const ALL: [ResourceType; 146] = [
    ResourceType::Account,
    ResourceType::ActivityDefinition,
    ResourceType::AdverseEvent,
    ResourceType::AllergyIntolerance,
    ResourceType::Appointment,
    ResourceType::AppointmentResponse,
    ResourceType::AuditEvent,
    ResourceType::Basic,
    ResourceType::Binary,
    ResourceType::BiologicallyDerivedProduct,
    ResourceType::BodyStructure,
    ResourceType::Bundle,
    ResourceType::CapabilityStatement,
    ResourceType::CarePlan,
    ResourceType::CareTeam,
    ResourceType::CatalogEntry,
    ResourceType::ChargeItem,
    ResourceType::ChargeItemDefinition,
    ResourceType::Claim,
    ResourceType::ClaimResponse,
    ResourceType::ClinicalImpression,
    ResourceType::CodeSystem,
    ResourceType::Communication,
    ResourceType::CommunicationRequest,
    ResourceType::CompartmentDefinition,
    ResourceType::Composition,
    ResourceType::ConceptMap,
    ResourceType::Condition,
    ResourceType::Consent,
    ResourceType::Contract,
    ResourceType::Coverage,
    ResourceType::CoverageEligibilityRequest,
    ResourceType::CoverageEligibilityResponse,
    ResourceType::DetectedIssue,
    ResourceType::Device,
    ResourceType::DeviceDefinition,
    ResourceType::DeviceMetric,
    ResourceType::DeviceRequest,
    ResourceType::DeviceUseStatement,
    ResourceType::DiagnosticReport,
    ResourceType::DocumentManifest,
    ResourceType::DocumentReference,
    ResourceType::EffectEvidenceSynthesis,
    ResourceType::Encounter,
    ResourceType::Endpoint,
    ResourceType::EnrollmentRequest,
    ResourceType::EnrollmentResponse,
    ResourceType::EpisodeOfCare,
    ResourceType::EventDefinition,
    ResourceType::Evidence,
    ResourceType::EvidenceVariable,
    ResourceType::ExampleScenario,
    ResourceType::ExplanationOfBenefit,
    ResourceType::FamilyMemberHistory,
    ResourceType::Flag,
    ResourceType::Goal,
    ResourceType::GraphDefinition,
    ResourceType::Group,
    ResourceType::GuidanceResponse,
    ResourceType::HealthcareService,
    ResourceType::ImagingStudy,
    ResourceType::Immunization,
    ResourceType::ImmunizationEvaluation,
    ResourceType::ImmunizationRecommendation,
    ResourceType::ImplementationGuide,
    ResourceType::InsurancePlan,
    ResourceType::Invoice,
    ResourceType::Library,
    ResourceType::Linkage,
    ResourceType::List,
    ResourceType::Location,
    ResourceType::Measure,
    ResourceType::MeasureReport,
    ResourceType::Media,
    ResourceType::Medication,
    ResourceType::MedicationAdministration,
    ResourceType::MedicationDispense,
    ResourceType::MedicationKnowledge,
    ResourceType::MedicationRequest,
    ResourceType::MedicationStatement,
    ResourceType::MedicinalProduct,
    ResourceType::MedicinalProductAuthorization,
    ResourceType::MedicinalProductContraindication,
    ResourceType::MedicinalProductIndication,
    ResourceType::MedicinalProductIngredient,
    ResourceType::MedicinalProductInteraction,
    ResourceType::MedicinalProductManufactured,
    ResourceType::MedicinalProductPackaged,
    ResourceType::MedicinalProductPharmaceutical,
    ResourceType::MedicinalProductUndesirableEffect,
    ResourceType::MessageDefinition,
    ResourceType::MessageHeader,
    ResourceType::MolecularSequence,
    ResourceType::NamingSystem,
    ResourceType::NutritionOrder,
    ResourceType::Observation,
    ResourceType::ObservationDefinition,
    ResourceType::OperationDefinition,
    ResourceType::OperationOutcome,
    ResourceType::Organization,
    ResourceType::OrganizationAffiliation,
    ResourceType::Parameters,
    ResourceType::Patient,
    ResourceType::PaymentNotice,
    ResourceType::PaymentReconciliation,
    ResourceType::Person,
    ResourceType::PlanDefinition,
    ResourceType::Practitioner,
    ResourceType::PractitionerRole,
    ResourceType::Procedure,
    ResourceType::Provenance,
    ResourceType::Questionnaire,
    ResourceType::QuestionnaireResponse,
    ResourceType::RelatedPerson,
    ResourceType::RequestGroup,
    ResourceType::ResearchDefinition,
    ResourceType::ResearchElementDefinition,
    ResourceType::ResearchStudy,
    ResourceType::ResearchSubject,
    ResourceType::RiskAssessment,
    ResourceType::RiskEvidenceSynthesis,
    ResourceType::Schedule,
    ResourceType::SearchParameter,
    ResourceType::ServiceRequest,
    ResourceType::Slot,
    ResourceType::Specimen,
    ResourceType::SpecimenDefinition,
    ResourceType::StructureDefinition,
    ResourceType::StructureMap,
    ResourceType::Subscription,
    ResourceType::Substance,
    ResourceType::SubstanceNucleicAcid,
    ResourceType::SubstancePolymer,
    ResourceType::SubstanceProtein,
    ResourceType::SubstanceReferenceInformation,
    ResourceType::SubstanceSourceMaterial,
    ResourceType::SubstanceSpecification,
    ResourceType::SupplyDelivery,
    ResourceType::SupplyRequest,
    ResourceType::Task,
    ResourceType::TerminologyCapabilities,
    ResourceType::TestReport,
    ResourceType::TestScript,
    ResourceType::ValueSet,
    ResourceType::VerificationResult,
    ResourceType::VisionPrescription,
];

/// The names of [`ALL`], index for index.
const NAMES: [&str; 146] = [
    "Account",
    "ActivityDefinition",
    "AdverseEvent",
    "AllergyIntolerance",
    "Appointment",
    "AppointmentResponse",
    "AuditEvent",
    "Basic",
    "Binary",
    "BiologicallyDerivedProduct",
    "BodyStructure",
    "Bundle",
    "CapabilityStatement",
    "CarePlan",
    "CareTeam",
    "CatalogEntry",
    "ChargeItem",
    "ChargeItemDefinition",
    "Claim",
    "ClaimResponse",
    "ClinicalImpression",
    "CodeSystem",
    "Communication",
    "CommunicationRequest",
    "CompartmentDefinition",
    "Composition",
    "ConceptMap",
    "Condition",
    "Consent",
    "Contract",
    "Coverage",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
    "DetectedIssue",
    "Device",
    "DeviceDefinition",
    "DeviceMetric",
    "DeviceRequest",
    "DeviceUseStatement",
    "DiagnosticReport",
    "DocumentManifest",
    "DocumentReference",
    "EffectEvidenceSynthesis",
    "Encounter",
    "Endpoint",
    "EnrollmentRequest",
    "EnrollmentResponse",
    "EpisodeOfCare",
    "EventDefinition",
    "Evidence",
    "EvidenceVariable",
    "ExampleScenario",
    "ExplanationOfBenefit",
    "FamilyMemberHistory",
    "Flag",
    "Goal",
    "GraphDefinition",
    "Group",
    "GuidanceResponse",
    "HealthcareService",
    "ImagingStudy",
    "Immunization",
    "ImmunizationEvaluation",
    "ImmunizationRecommendation",
    "ImplementationGuide",
    "InsurancePlan",
    "Invoice",
    "Library",
    "Linkage",
    "List",
    "Location",
    "Measure",
    "MeasureReport",
    "Media",
    "Medication",
    "MedicationAdministration",
    "MedicationDispense",
    "MedicationKnowledge",
    "MedicationRequest",
    "MedicationStatement",
    "MedicinalProduct",
    "MedicinalProductAuthorization",
    "MedicinalProductContraindication",
    "MedicinalProductIndication",
    "MedicinalProductIngredient",
    "MedicinalProductInteraction",
    "MedicinalProductManufactured",
    "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect",
    "MessageDefinition",
    "MessageHeader",
    "MolecularSequence",
    "NamingSystem",
    "NutritionOrder",
    "Observation",
    "ObservationDefinition",
    "OperationDefinition",
    "OperationOutcome",
    "Organization",
    "OrganizationAffiliation",
    "Parameters",
    "Patient",
    "PaymentNotice",
    "PaymentReconciliation",
    "Person",
    "PlanDefinition",
    "Practitioner",
    "PractitionerRole",
    "Procedure",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "RelatedPerson",
    "RequestGroup",
    "ResearchDefinition",
    "ResearchElementDefinition",
    "ResearchStudy",
    "ResearchSubject",
    "RiskAssessment",
    "RiskEvidenceSynthesis",
    "Schedule",
    "SearchParameter",
    "ServiceRequest",
    "Slot",
    "Specimen",
    "SpecimenDefinition",
    "StructureDefinition",
    "StructureMap",
    "Subscription",
    "Substance",
    "SubstanceNucleicAcid",
    "SubstancePolymer",
    "SubstanceProtein",
    "SubstanceReferenceInformation",
    "SubstanceSourceMaterial",
    "SubstanceSpecification",
    "SupplyDelivery",
    "SupplyRequest",
    "Task",
    "TerminologyCapabilities",
    "TestReport",
    "TestScript",
    "ValueSet",
    "VerificationResult",
    "VisionPrescription",
];

/// An open-addressing hash table from a name to its index in [`NAMES`] plus one (zero marks
/// an empty slot), built at compile time. A lookup hashes the name and compares one or two
/// candidates, instead of the eight comparisons of a binary search.
const SLOTS: usize = 512;
const TABLE: [u8; SLOTS] = table(false);

/// The same for names in lowercase, as `launch/<type>` scopes write them.
const LOWERCASE_TABLE: [u8; SLOTS] = table(true);

#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: an out-of-bounds index fails the build"
)]
const fn table(lowercase: bool) -> [u8; SLOTS] {
    let mut table = [0u8; SLOTS];
    let mut index = 0;
    while index < NAMES.len() {
        let mut slot = hash(NAMES[index].as_bytes(), lowercase) % SLOTS;
        while table[slot] != 0 {
            slot = (slot + 1) % SLOTS;
        }
        // INVARIANT: 146 names fit in a u8 and leave most slots empty, so probing ends.
        table[slot] = (index + 1) as u8;
        index += 1;
    }
    table
}

/// FNV-1a, of the lowercased bytes when `lowercase` is set: a few instructions a byte, and
/// spread enough for 146 short names.
#[expect(
    clippy::indexing_slicing,
    reason = "the loop bound is the slice length"
)]
const fn hash(bytes: &[u8], lowercase: bool) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    let mut index = 0;
    while index < bytes.len() {
        let byte = if lowercase {
            bytes[index].to_ascii_lowercase()
        } else {
            bytes[index]
        };
        hash ^= byte as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        index += 1;
    }
    hash as usize
}

impl ResourceType {
    /// Every FHIR R4 resource type, in alphabetical order.
    pub const ALL: &'static [ResourceType] = &ALL;

    /// Looks up a resource type by its exact, case-sensitive name.
    ///
    /// ```
    /// use fhir_scopes::ResourceType;
    ///
    /// assert_eq!(ResourceType::from_name("Patient"), Some(ResourceType::Patient));
    /// assert_eq!(ResourceType::from_name("patient"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<ResourceType> {
        lookup(&TABLE, name, false, |known| known == name)
    }

    /// Looks up a resource type by its name in lowercase, as `launch/<type>` scopes write it
    /// (`imagingstudy` for `ImagingStudy`). Any uppercase letter fails.
    pub fn from_lowercase(name: &str) -> Option<ResourceType> {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        lookup(&LOWERCASE_TABLE, name, true, |known| {
            known.eq_ignore_ascii_case(name)
        })
    }

    /// The type's name as FHIR writes it.
    pub fn as_str(self) -> &'static str {
        // INVARIANT: `ALL` lists every variant in declaration order, so the discriminant
        // is the index into `NAMES`, which has the same length.
        NAMES.get(self as usize).copied().unwrap_or("")
    }

    /// The closest known type name to `name`, for "did you mean" messages: a case-insensitive
    /// match, or a name at edit distance at most 2.
    pub(crate) fn suggest(name: &str) -> Option<&'static str> {
        if let Some(exact) = NAMES.iter().find(|known| known.eq_ignore_ascii_case(name)) {
            return Some(exact);
        }
        NAMES
            .iter()
            .map(|known| (edit_distance(known, name), *known))
            .filter(|(distance, _)| *distance <= 2)
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, known)| known)
    }
}

/// Probes `table` for `name` until a candidate passes `matches` or a slot is empty.
fn lookup(
    table: &[u8; SLOTS],
    name: &str,
    lowercase: bool,
    matches: impl Fn(&str) -> bool,
) -> Option<ResourceType> {
    let mut slot = hash(name.as_bytes(), lowercase) % SLOTS;
    loop {
        let index = usize::from(*table.get(slot)?).checked_sub(1)?;
        if NAMES.get(index).is_some_and(|known| matches(known)) {
            return ALL.get(index).copied();
        }
        slot = (slot + 1) % SLOTS;
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ResourceType {
    type Err = UnknownResourceType;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ResourceType::from_name(name).ok_or_else(|| UnknownResourceType {
            name: name.to_owned(),
            suggestion: ResourceType::suggest(name),
        })
    }
}

/// A name that is not a FHIR R4 resource type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown resource type `{name}`{}", suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
pub struct UnknownResourceType {
    /// The name that was given.
    pub name: String,
    /// The closest known name, when one is close.
    pub suggestion: Option<&'static str>,
}

/// Levenshtein distance over bytes; names are ASCII and short, so the quadratic table is tiny.
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous
                .get(j)
                .map_or(usize::MAX, |d| d + usize::from(ca != *cb));
            let delete = previous.get(j + 1).map_or(usize::MAX, |d| d + 1);
            let insert = current.last().map_or(usize::MAX, |d| d + 1);
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_matches_the_enum() {
        assert_eq!(ALL.len(), 146);
        assert!(NAMES.windows(2).all(|w| w[0] < w[1]));
        for (index, t) in ALL.iter().enumerate() {
            assert_eq!(*t as usize, index);
            assert_eq!(ResourceType::from_name(NAMES[index]), Some(*t));
            assert_eq!(t.to_string(), NAMES[index]);
        }
    }

    #[test]
    fn hash_tables_find_every_name_and_nothing_else() {
        assert_eq!(TABLE.iter().filter(|slot| **slot != 0).count(), 146);
        assert_eq!(
            LOWERCASE_TABLE.iter().filter(|slot| **slot != 0).count(),
            146
        );
        for t in ResourceType::ALL {
            assert_eq!(
                ResourceType::from_lowercase(&t.as_str().to_ascii_lowercase()),
                Some(*t)
            );
        }
        assert_eq!(ResourceType::from_lowercase("Patient"), None);
        assert_eq!(ResourceType::from_lowercase("zebra"), None);
        assert_eq!(ResourceType::from_name(""), None);
        assert_eq!(ResourceType::from_name("ObservationX"), None);
    }

    #[test]
    fn unknown_names_suggest_the_closest() {
        let err = "Observaton".parse::<ResourceType>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown resource type `Observaton`; did you mean `Observation`?"
        );
        let err = "patient".parse::<ResourceType>().unwrap_err();
        assert_eq!(err.suggestion, Some("Patient"));
        let err = "Zebra".parse::<ResourceType>().unwrap_err();
        assert_eq!(err.to_string(), "unknown resource type `Zebra`");
    }
}
