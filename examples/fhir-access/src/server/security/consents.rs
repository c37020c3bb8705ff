//! The patients' active privacy Consents, as `fhir-policy` evaluates them: read from the
//! store through the compartment index (`membership`, one indexed lookup per patient, never
//! a table scan), compiled once, and cached per patient until a Consent is written.
//!
//! The index has its own read connection: the guard asks it while the engine holds one of
//! the store's connections (even the writer, inside a transaction), and SQLite's WAL mode
//! lets it read the committed state meanwhile. The engine calls [`ConsentIndex::invalidate`]
//! after every commit that wrote a Consent; a load that raced with that commit is not kept
//! (the generation it started under is stale).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use fhir_compartment::CompartmentKind;
use fhir_policy::Consent;
use rusqlite::{Connection, params};

use super::super::outcome::Error;
use super::super::store;

/// Patients cached at most (then the cache starts over): bounds memory on a large store.
const MAX_CACHED: usize = 100_000;

/// The Consents of each patient, loaded on first use.
#[derive(Debug)]
pub(crate) struct ConsentIndex {
    conn: Mutex<Connection>,
    cache: RwLock<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    /// Bumped by every invalidation; a load started under an older one is not stored.
    generation: u64,
    by_patient: HashMap<String, Arc<[Consent]>>,
    /// The patients with at least one active Consent.
    patients: Option<Arc<[String]>>,
}

impl ConsentIndex {
    /// Opens a read connection to the store of `data_dir`.
    pub(crate) fn open(data_dir: &Path) -> Result<ConsentIndex, Error> {
        Ok(ConsentIndex {
            conn: Mutex::new(store::open_reader(data_dir)?),
            cache: RwLock::new(Cache::default()),
        })
    }

    /// The active Consents of `patient` (an id). An error means they could not be read: the
    /// caller fails closed.
    pub(crate) fn of(&self, patient: &str) -> Result<Arc<[Consent]>, Error> {
        let generation = {
            let cache = self.read();
            if let Some(found) = cache.by_patient.get(patient) {
                return Ok(Arc::clone(found));
            }
            cache.generation
        };
        let loaded: Arc<[Consent]> = self.load(patient)?.into();
        let mut cache = self.write();
        if cache.generation == generation {
            if cache.by_patient.len() >= MAX_CACHED {
                cache.by_patient.clear();
            }
            cache
                .by_patient
                .insert(patient.to_owned(), Arc::clone(&loaded));
        }
        Ok(loaded)
    }

    /// The ids of the patients who have at least one active Consent.
    pub(crate) fn patients(&self) -> Result<Arc<[String]>, Error> {
        let generation = {
            let cache = self.read();
            if let Some(found) = &cache.patients {
                return Ok(Arc::clone(found));
            }
            cache.generation
        };
        let owners: Vec<String> = {
            let conn = self.conn();
            let mut statement = conn.prepare_cached(
                "SELECT DISTINCT owner FROM membership WHERE type = 'Consent' AND kind = ?1 ORDER BY owner",
            )?;
            statement
                .query_map(params![CompartmentKind::Patient.to_string()], |row| {
                    row.get(0)
                })?
                .collect::<Result<_, _>>()?
        };
        let mut patients = Vec::new();
        for owner in owners {
            if !self.of(&owner)?.is_empty() {
                patients.push(owner);
            }
        }
        let patients: Arc<[String]> = patients.into();
        let mut cache = self.write();
        if cache.generation == generation {
            cache.patients = Some(Arc::clone(&patients));
        }
        Ok(patients)
    }

    /// Forgets everything cached: a Consent was written.
    pub(crate) fn invalidate(&self) {
        let mut cache = self.write();
        cache.generation = cache.generation.wrapping_add(1);
        cache.by_patient.clear();
        cache.patients = None;
    }

    /// Reads and compiles the patient's Consents. A Consent the policy engine cannot evaluate
    /// (another scope than `patient-privacy`, no provision) is left out and logged; so is an
    /// inactive one.
    fn load(&self, patient: &str) -> Result<Vec<Consent>, Error> {
        let bodies: Vec<String> = {
            let conn = self.conn();
            let mut statement = conn.prepare_cached(
                "SELECT r.body FROM membership m JOIN resources r ON r.type = m.type AND r.id = m.id \
                 WHERE m.kind = ?1 AND m.owner = ?2 AND m.type = 'Consent' ORDER BY r.id",
            )?;
            statement
                .query_map(
                    params![CompartmentKind::Patient.to_string(), patient],
                    |row| row.get(0),
                )?
                .collect::<Result<_, _>>()?
        };
        let mut consents = Vec::new();
        for body in bodies {
            let json: serde_json::Value = serde_json::from_str(&body)?;
            match Consent::from_json(&json) {
                Ok(consent) if consent.is_active() && consent.patient() == patient => {
                    consents.push(consent);
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, patient, "a Consent the policy cannot evaluate");
                }
            }
        }
        Ok(consents)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::{Indexing, Store};
    use fhir_compartment::{Compartments, ResourceType, ServerBases};
    use serde_json::json;

    fn consent(id: &str, patient: &str, status: &str) -> serde_json::Value {
        json!({
            "resourceType": "Consent", "id": id, "status": status,
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": format!("Patient/{patient}")},
            "provision": {"type": "deny"}
        })
    }

    #[test]
    fn consents_are_found_by_patient_cached_and_reloaded_after_invalidation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1).unwrap();
        let compartments = Compartments::r4();
        let bases = ServerBases::new(["http://x/fhir"]).unwrap();
        let indexing = Indexing {
            compartments: &compartments,
            bases: &bases,
        };
        let write = |id: &str, resource: serde_json::Value| {
            let conn = store.writer();
            store::write(&conn, indexing, ResourceType::Consent, id, resource, "PUT").unwrap();
        };
        write("c1", consent("c1", "a", "active"));
        write("c2", consent("c2", "a", "inactive"));
        write("c3", consent("c3", "b", "active"));
        // Not evaluable (no provision): left out.
        write(
            "c4",
            json!({"resourceType": "Consent", "id": "c4", "status": "active",
            "scope": {"coding": [{"code": "patient-privacy"}]}, "patient": {"reference": "Patient/c"}}),
        );
        let index = ConsentIndex::open(dir.path()).unwrap();
        let ids = |patient: &str| -> Vec<String> {
            index
                .of(patient)
                .unwrap()
                .iter()
                .map(|c| c.id().to_owned())
                .collect()
        };
        assert_eq!(ids("a"), ["Consent/c1"]);
        assert_eq!(ids("b"), ["Consent/c3"]);
        assert_eq!(ids("c"), Vec::<String>::new());
        assert_eq!(&*index.patients().unwrap(), ["a", "b"]);
        // Cached: a new Consent is not seen until the engine says one was written.
        write("c5", consent("c5", "c", "active"));
        assert_eq!(ids("c"), Vec::<String>::new());
        index.invalidate();
        assert_eq!(ids("c"), ["Consent/c5"]);
        assert_eq!(&*index.patients().unwrap(), ["a", "b", "c"]);
    }
}
