//! EHR launch contexts: `fhir-access launch create --patient ID [--encounter ID]` (or
//! `POST /launch` by an administrator) stores a patient and encounter under a random
//! opaque id; an app launched with `launch=<id>` gets that context in its token.

use rusqlite::{OptionalExtension as _, params};
use smart_token::{Error, LaunchContext};

use super::db::{Db, from_json, storage, to_json};

/// How long a launch id stays usable, in seconds.
pub(crate) const LAUNCH_LIFETIME: i64 = 3600;

/// A launch context of a patient, an optional encounter and `fhirContext` references
/// (`Type/id`, each checked to be a relative reference).
pub(crate) fn context(
    patient: String,
    encounter: Option<String>,
    references: &[String],
) -> Result<LaunchContext, Error> {
    let fhir_context = references
        .iter()
        .map(|reference| {
            let valid = reference.split_once('/').is_some_and(|(kind, id)| {
                kind.starts_with(|c: char| c.is_ascii_uppercase())
                    && kind.chars().all(|c| c.is_ascii_alphanumeric())
                    && !id.is_empty()
                    && id.len() <= 64
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            });
            if valid {
                Ok(serde_json::json!({ "reference": reference }))
            } else {
                Err(Error::InvalidRequest(format!(
                    "`{reference}` is not a relative reference `Type/id`"
                )))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LaunchContext {
        patient: Some(patient),
        encounter,
        fhir_context,
        ..LaunchContext::default()
    })
}

/// Stores `context` under a new random id, valid for [`LAUNCH_LIFETIME`] from `now`.
pub(crate) fn create(db: &Db, context: &LaunchContext, now: i64) -> Result<String, Error> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let connection = db.lock();
    connection
        .execute("DELETE FROM oauth_launches WHERE expires_at <= ?1", [now])
        .map_err(storage)?;
    connection
        .execute(
            "INSERT INTO oauth_launches (id, context, expires_at) VALUES (?1, ?2, ?3)",
            params![id, to_json(context)?, now.saturating_add(LAUNCH_LIFETIME)],
        )
        .map_err(storage)?;
    Ok(id)
}

/// The context of a live launch id.
pub(crate) fn find(db: &Db, id: &str, now: i64) -> Result<Option<LaunchContext>, Error> {
    let context: Option<String> = db
        .lock()
        .query_row(
            "SELECT context FROM oauth_launches WHERE id = ?1 AND expires_at > ?2",
            params![id, now],
            |row| row.get(0),
        )
        .optional()
        .map_err(storage)?;
    context.as_deref().map(from_json).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhir_context_references_are_relative() {
        let context = context("p1".into(), None, &["ImagingStudy/is-1".into()]).unwrap();
        assert_eq!(
            context.fhir_context,
            [serde_json::json!({"reference": "ImagingStudy/is-1"})]
        );
        for bad in [
            "imagingStudy/1",
            "ImagingStudy/",
            "http://x/ImagingStudy/1",
            "A/b/c",
            "x",
        ] {
            assert_eq!(
                context_error(bad),
                format!("invalid request: `{bad}` is not a relative reference `Type/id`")
            );
        }
    }

    fn context_error(reference: &str) -> String {
        context("p".into(), None, &[reference.to_owned()])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn launches_are_found_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let context = LaunchContext {
            patient: Some("p1".into()),
            encounter: Some("e1".into()),
            ..LaunchContext::default()
        };
        let id = create(&db, &context, 1_000).unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(find(&db, &id, 1_001).unwrap(), Some(context));
        assert_eq!(find(&db, &id, 1_000 + LAUNCH_LIFETIME).unwrap(), None);
        assert_eq!(find(&db, "unknown", 1_001).unwrap(), None);
    }
}
