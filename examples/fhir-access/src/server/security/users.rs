//! The demo users: written to `users.json` in the data directory on first start (from
//! `examples/fhir-access/policy/demo-users.json`), read by `fhir-access token mint --user`
//! to mint a token for one of them with the server's key. The server itself trusts the
//! token's claims, not this file: the file only saves typing claims by hand.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::Value;

const DEMO_USERS: &str = include_str!("../../../policy/demo-users.json");
/// The file name in the data directory.
pub(crate) const USERS_FILE: &str = "users.json";

/// One demo user: the claims a token minted for them carries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct User {
    pub(crate) sub: String,
    pub(crate) fhir_user: Option<String>,
    pub(crate) patient: Option<String>,
    #[serde(default)]
    pub(crate) roles: Vec<String>,
    pub(crate) client: String,
    pub(crate) scope: String,
    #[serde(default)]
    pub(crate) attributes: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: BTreeMap<String, User>,
}

/// Writes the demo users into `data_dir` unless a users file is already there.
pub(crate) fn seed(data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join(USERS_FILE);
    if path.exists() {
        return Ok(());
    }
    std::fs::write(&path, DEMO_USERS).with_context(|| format!("writing `{}`", path.display()))
}

/// The user `name` of the users file of `data_dir`.
pub(crate) fn find(data_dir: &Path, name: &str) -> anyhow::Result<User> {
    let path = data_dir.join(USERS_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading `{}`", path.display()))?;
    let mut file: UsersFile =
        serde_json::from_str(&text).with_context(|| format!("reading `{}`", path.display()))?;
    let names: Vec<String> = file.users.keys().cloned().collect();
    file.users.remove(name).with_context(|| {
        format!(
            "no user `{name}` in `{}`; known: {}",
            path.display(),
            names.join(", ")
        )
    })
}

/// The attribute claims the server maps into the policy subject (the hospital policy's).
pub(crate) const ATTRIBUTES: [&str; 3] = ["department", "assignedPatients", "departmentPatients"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_users_parse_and_name_every_role() {
        let dir = tempfile::tempdir().unwrap();
        seed(dir.path()).unwrap();
        let doctor = find(dir.path(), "dr-grey").unwrap();
        assert_eq!(doctor.roles, ["doctor"]);
        let patient = find(dir.path(), "lucien").unwrap();
        assert_eq!(
            patient.patient.as_deref(),
            Some("717282e4-5d08-4cbd-afad-596051966367")
        );
        for name in [
            "catharine",
            "nurse-cardio",
            "nurse-peds",
            "admin",
            "auditor",
            "researcher",
            "analytics",
        ] {
            find(dir.path(), name).unwrap();
        }
        let error = find(dir.path(), "mallory").unwrap_err().to_string();
        assert!(error.starts_with("no user `mallory`"), "{error}");
    }
}
