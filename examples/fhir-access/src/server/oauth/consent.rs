//! What a consent form decides, without HTTP or a database: the scopes the user ticked,
//! and whose patient context the grant carries. Kept apart so the fuzz target and the
//! property tests reach it.

use fhir_scopes::{Scope, ScopeSet};
use smart_token::LaunchContext;

/// Where the patient of the grant comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatientContext {
    /// No patient context.
    None,
    /// This patient (a patient user; an EHR launch).
    Fixed(String),
    /// The user picks one.
    Pick,
    /// An EHR launch for another patient than the patient user: refused.
    Conflict,
}

/// Whether `scopes` holds the scope written `text`.
pub(crate) fn has_scope(scopes: &ScopeSet, text: &str) -> bool {
    scopes.iter().any(|scope| scope.to_string() == text)
}

/// The patient context for a user (`own`: the patient a patient user is), an EHR launch
/// context and the scopes granted. A patient user is always their own patient; an EHR
/// launch counts only with the `launch` scope; a clinician picks one for `launch/patient`.
pub(crate) fn patient_for(
    own: Option<&str>,
    launch: Option<&LaunchContext>,
    granted: &ScopeSet,
) -> PatientContext {
    let ehr = launch
        .filter(|_| has_scope(granted, "launch"))
        .and_then(|l| l.patient.as_deref());
    match (own, ehr) {
        (Some(own), Some(launched)) if own != launched => PatientContext::Conflict,
        (Some(own), _) => PatientContext::Fixed(own.to_owned()),
        (None, Some(launched)) => PatientContext::Fixed(launched.to_owned()),
        (None, None) if has_scope(granted, "launch/patient") => PatientContext::Pick,
        (None, None) => PatientContext::None,
    }
}

/// The scopes ticked on a consent form (every `scope` field).
pub(crate) fn ticked(pairs: &[(String, String)]) -> Result<ScopeSet, fhir_scopes::Error> {
    let scopes = pairs
        .iter()
        .filter(|(name, _)| name == "scope")
        .map(|(_, value)| Scope::parse(value))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(scopes.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_the_patient_is() {
        let launch = LaunchContext {
            patient: Some("p2".into()),
            ..LaunchContext::default()
        };
        let scopes = |text: &str| ScopeSet::parse(text).unwrap();
        let standalone = scopes("launch/patient patient/*.rs");
        let ehr = scopes("launch patient/*.rs");
        assert_eq!(
            patient_for(Some("p1"), None, &standalone),
            PatientContext::Fixed("p1".into())
        );
        assert_eq!(
            patient_for(Some("p1"), None, &scopes("patient/*.rs")),
            PatientContext::Fixed("p1".into())
        );
        assert_eq!(
            patient_for(Some("p1"), Some(&launch), &ehr),
            PatientContext::Conflict
        );
        assert_eq!(
            patient_for(Some("p2"), Some(&launch), &ehr),
            PatientContext::Fixed("p2".into())
        );
        assert_eq!(
            patient_for(None, Some(&launch), &ehr),
            PatientContext::Fixed("p2".into())
        );
        // The launch context counts only with the `launch` scope granted.
        assert_eq!(
            patient_for(None, Some(&launch), &standalone),
            PatientContext::Pick
        );
        assert_eq!(patient_for(None, None, &standalone), PatientContext::Pick);
        assert_eq!(
            patient_for(None, None, &scopes("user/*.rs")),
            PatientContext::None
        );
    }

    #[test]
    fn ticked_scopes() {
        let pairs = vec![
            ("scope".to_owned(), "patient/Observation.rs".to_owned()),
            ("tx".to_owned(), "x".to_owned()),
            ("scope".to_owned(), "openid".to_owned()),
        ];
        assert_eq!(
            ticked(&pairs).unwrap().to_string(),
            "patient/Observation.rs openid"
        );
        let bad = vec![("scope".to_owned(), "patient/Nope.rs".to_owned())];
        assert!(ticked(&bad).is_err());
    }
}
