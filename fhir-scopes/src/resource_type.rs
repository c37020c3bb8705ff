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

/// Indices into [`NAMES`] ordered by (length, name): a lookup compares lengths first, so
/// most steps of the binary search are one integer comparison.
const BY_LENGTH: [u8; 146] = [
    54,  // Flag
    55,  // Goal
    69,  // List
    124, // Slot
    139, // Task
    7,   // Basic
    18,  // Claim
    57,  // Group
    73,  // Media
    8,   // Binary
    11,  // Bundle
    34,  // Device
    105, // Person
    0,   // Account
    28,  // Consent
    66,  // Invoice
    67,  // Library
    68,  // Linkage
    71,  // Measure
    102, // Patient
    13,  // CarePlan
    14,  // CareTeam
    29,  // Contract
    30,  // Coverage
    44,  // Endpoint
    49,  // Evidence
    70,  // Location
    121, // Schedule
    125, // Specimen
    143, // ValueSet
    27,  // Condition
    43,  // Encounter
    109, // Procedure
    130, // Substance
    6,   // AuditEvent
    16,  // ChargeItem
    21,  // CodeSystem
    26,  // ConceptMap
    74,  // Medication
    101, // Parameters
    110, // Provenance
    141, // TestReport
    142, // TestScript
    4,   // Appointment
    25,  // Composition
    95,  // Observation
    2,   // AdverseEvent
    15,  // CatalogEntry
    36,  // DeviceMetric
    60,  // ImagingStudy
    61,  // Immunization
    93,  // NamingSystem
    99,  // Organization
    107, // Practitioner
    114, // RequestGroup
    128, // StructureMap
    129, // Subscription
    10,  // BodyStructure
    19,  // ClaimResponse
    22,  // Communication
    33,  // DetectedIssue
    37,  // DeviceRequest
    47,  // EpisodeOfCare
    65,  // InsurancePlan
    72,  // MeasureReport
    91,  // MessageHeader
    103, // PaymentNotice
    111, // Questionnaire
    113, // RelatedPerson
    117, // ResearchStudy
    138, // SupplyRequest
    94,  // NutritionOrder
    106, // PlanDefinition
    119, // RiskAssessment
    123, // ServiceRequest
    137, // SupplyDelivery
    48,  // EventDefinition
    51,  // ExampleScenario
    56,  // GraphDefinition
    118, // ResearchSubject
    122, // SearchParameter
    35,  // DeviceDefinition
    39,  // DiagnosticReport
    40,  // DocumentManifest
    50,  // EvidenceVariable
    58,  // GuidanceResponse
    80,  // MedicinalProduct
    98,  // OperationOutcome
    108, // PractitionerRole
    132, // SubstancePolymer
    133, // SubstanceProtein
    41,  // DocumentReference
    45,  // EnrollmentRequest
    59,  // HealthcareService
    78,  // MedicationRequest
    90,  // MessageDefinition
    92,  // MolecularSequence
    1,   // ActivityDefinition
    3,   // AllergyIntolerance
    20,  // ClinicalImpression
    38,  // DeviceUseStatement
    46,  // EnrollmentResponse
    76,  // MedicationDispense
    115, // ResearchDefinition
    126, // SpecimenDefinition
    144, // VerificationResult
    145, // VisionPrescription
    5,   // AppointmentResponse
    12,  // CapabilityStatement
    53,  // FamilyMemberHistory
    64,  // ImplementationGuide
    77,  // MedicationKnowledge
    79,  // MedicationStatement
    97,  // OperationDefinition
    127, // StructureDefinition
    17,  // ChargeItemDefinition
    23,  // CommunicationRequest
    52,  // ExplanationOfBenefit
    131, // SubstanceNucleicAcid
    24,  // CompartmentDefinition
    96,  // ObservationDefinition
    104, // PaymentReconciliation
    112, // QuestionnaireResponse
    120, // RiskEvidenceSynthesis
    62,  // ImmunizationEvaluation
    136, // SubstanceSpecification
    42,  // EffectEvidenceSynthesis
    100, // OrganizationAffiliation
    135, // SubstanceSourceMaterial
    140, // TerminologyCapabilities
    75,  // MedicationAdministration
    87,  // MedicinalProductPackaged
    116, // ResearchElementDefinition
    9,   // BiologicallyDerivedProduct
    31,  // CoverageEligibilityRequest
    63,  // ImmunizationRecommendation
    83,  // MedicinalProductIndication
    84,  // MedicinalProductIngredient
    32,  // CoverageEligibilityResponse
    85,  // MedicinalProductInteraction
    86,  // MedicinalProductManufactured
    81,  // MedicinalProductAuthorization
    134, // SubstanceReferenceInformation
    88,  // MedicinalProductPharmaceutical
    82,  // MedicinalProductContraindication
    89,  // MedicinalProductUndesirableEffect
];

/// Indices into [`NAMES`] ordered by the lowercase name, for `launch/<type>` scopes.
const BY_LOWERCASE: [u8; 146] = [
    0,   // account
    1,   // activitydefinition
    2,   // adverseevent
    3,   // allergyintolerance
    4,   // appointment
    5,   // appointmentresponse
    6,   // auditevent
    7,   // basic
    8,   // binary
    9,   // biologicallyderivedproduct
    10,  // bodystructure
    11,  // bundle
    12,  // capabilitystatement
    13,  // careplan
    14,  // careteam
    15,  // catalogentry
    16,  // chargeitem
    17,  // chargeitemdefinition
    18,  // claim
    19,  // claimresponse
    20,  // clinicalimpression
    21,  // codesystem
    22,  // communication
    23,  // communicationrequest
    24,  // compartmentdefinition
    25,  // composition
    26,  // conceptmap
    27,  // condition
    28,  // consent
    29,  // contract
    30,  // coverage
    31,  // coverageeligibilityrequest
    32,  // coverageeligibilityresponse
    33,  // detectedissue
    34,  // device
    35,  // devicedefinition
    36,  // devicemetric
    37,  // devicerequest
    38,  // deviceusestatement
    39,  // diagnosticreport
    40,  // documentmanifest
    41,  // documentreference
    42,  // effectevidencesynthesis
    43,  // encounter
    44,  // endpoint
    45,  // enrollmentrequest
    46,  // enrollmentresponse
    47,  // episodeofcare
    48,  // eventdefinition
    49,  // evidence
    50,  // evidencevariable
    51,  // examplescenario
    52,  // explanationofbenefit
    53,  // familymemberhistory
    54,  // flag
    55,  // goal
    56,  // graphdefinition
    57,  // group
    58,  // guidanceresponse
    59,  // healthcareservice
    60,  // imagingstudy
    61,  // immunization
    62,  // immunizationevaluation
    63,  // immunizationrecommendation
    64,  // implementationguide
    65,  // insuranceplan
    66,  // invoice
    67,  // library
    68,  // linkage
    69,  // list
    70,  // location
    71,  // measure
    72,  // measurereport
    73,  // media
    74,  // medication
    75,  // medicationadministration
    76,  // medicationdispense
    77,  // medicationknowledge
    78,  // medicationrequest
    79,  // medicationstatement
    80,  // medicinalproduct
    81,  // medicinalproductauthorization
    82,  // medicinalproductcontraindication
    83,  // medicinalproductindication
    84,  // medicinalproductingredient
    85,  // medicinalproductinteraction
    86,  // medicinalproductmanufactured
    87,  // medicinalproductpackaged
    88,  // medicinalproductpharmaceutical
    89,  // medicinalproductundesirableeffect
    90,  // messagedefinition
    91,  // messageheader
    92,  // molecularsequence
    93,  // namingsystem
    94,  // nutritionorder
    95,  // observation
    96,  // observationdefinition
    97,  // operationdefinition
    98,  // operationoutcome
    99,  // organization
    100, // organizationaffiliation
    101, // parameters
    102, // patient
    103, // paymentnotice
    104, // paymentreconciliation
    105, // person
    106, // plandefinition
    107, // practitioner
    108, // practitionerrole
    109, // procedure
    110, // provenance
    111, // questionnaire
    112, // questionnaireresponse
    113, // relatedperson
    114, // requestgroup
    115, // researchdefinition
    116, // researchelementdefinition
    117, // researchstudy
    118, // researchsubject
    119, // riskassessment
    120, // riskevidencesynthesis
    121, // schedule
    122, // searchparameter
    123, // servicerequest
    124, // slot
    125, // specimen
    126, // specimendefinition
    127, // structuredefinition
    128, // structuremap
    129, // subscription
    130, // substance
    131, // substancenucleicacid
    132, // substancepolymer
    133, // substanceprotein
    134, // substancereferenceinformation
    135, // substancesourcematerial
    136, // substancespecification
    137, // supplydelivery
    138, // supplyrequest
    139, // task
    140, // terminologycapabilities
    141, // testreport
    142, // testscript
    143, // valueset
    144, // verificationresult
    145, // visionprescription
];

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
        let position = BY_LENGTH
            .binary_search_by(|index| {
                let known = NAMES.get(usize::from(*index)).copied().unwrap_or("");
                known.len().cmp(&name.len()).then_with(|| known.cmp(name))
            })
            .ok()?;
        let index = BY_LENGTH.get(position)?;
        ALL.get(usize::from(*index)).copied()
    }

    /// Looks up a resource type by its name in lowercase, as `launch/<type>` scopes write it
    /// (`imagingstudy` for `ImagingStudy`). Any uppercase letter fails.
    pub fn from_lowercase(name: &str) -> Option<ResourceType> {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let position = BY_LOWERCASE
            .binary_search_by(|index| {
                let known = NAMES.get(usize::from(*index)).copied().unwrap_or("");
                known
                    .bytes()
                    .map(|b| b.to_ascii_lowercase())
                    .cmp(name.bytes())
            })
            .ok()?;
        let index = BY_LOWERCASE.get(position)?;
        ALL.get(usize::from(*index)).copied()
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
    fn lookup_tables_are_ordered() {
        let by_length: Vec<&str> = BY_LENGTH.iter().map(|i| NAMES[usize::from(*i)]).collect();
        assert!(
            by_length
                .windows(2)
                .all(|w| (w[0].len(), w[0]) < (w[1].len(), w[1]))
        );
        let lower: Vec<String> = BY_LOWERCASE
            .iter()
            .map(|i| NAMES[usize::from(*i)].to_ascii_lowercase())
            .collect();
        assert!(lower.windows(2).all(|w| w[0] < w[1]));
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
