//! The policy mode's helpers: a seeded server in the default (policy) mode, tokens minted for
//! the demo users with `fhir-access token mint --data-dir`, requests with a token, and the
//! audit records of the file store.

use std::process::Command;

use serde_json::Value;

use super::{Response, Server, entry_ids};

/// Lucien Hahn: patient A.
pub(crate) const A: &str = "717282e4-5d08-4cbd-afad-596051966367";
/// Catharine Morar: patient B.
pub(crate) const B: &str = "c46bf540-aacf-46eb-9f6e-bf13c8ef7496";
/// Darrell Erdman: a patient of the cardiology nurse, assigned to no doctor.
pub(crate) const DARRELL: &str = "85c63cf3-278e-454c-b5ba-df5889815eb7";

impl Server {
    /// The default mode (policy), seeded, in a fresh directory.
    pub(crate) fn secured() -> Server {
        Server::with(&[])
    }

    pub(crate) fn data_dir(&self) -> &std::path::Path {
        self._dir.as_ref().unwrap().path()
    }

    /// A token for a demo user, signed with the server's key; `extra` flags override claims.
    pub(crate) fn mint(&self, user: &str, extra: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_fhir-access"))
            .args(["token", "mint", "--data-dir"])
            .arg(self.data_dir())
            .args(["--user", user, "--aud", &self.base])
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    pub(crate) fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Response {
        let auth = format!("Bearer {token}");
        let mut headers = vec![("Authorization", auth.as_str())];
        let text = body.map(Value::to_string).unwrap_or_default();
        if body.is_some() {
            headers.push(("Content-Type", "application/fhir+json"));
        }
        self.send(method, path, &headers, text.as_bytes())
    }

    pub(crate) fn read_as(&self, token: &str, path: &str) -> Response {
        self.call(token, "GET", path, None)
    }

    /// The audit records stored so far, in order.
    pub(crate) fn audit_records(&self) -> Vec<Value> {
        let dir = self.data_dir().join("audit");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        names.sort();
        names
            .iter()
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap()["record"].clone())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

impl Server {
    /// A request with extra headers (purpose of use, break-glass, Prefer, ...).
    pub(crate) fn call_with(
        &self,
        token: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Response {
        let auth = format!("Bearer {token}");
        let mut all = vec![("Authorization", auth.as_str())];
        if body.is_some() {
            all.push(("Content-Type", "application/fhir+json"));
        }
        all.extend_from_slice(headers);
        let text = body.map(Value::to_string).unwrap_or_default();
        self.send(method, path, &all, text.as_bytes())
    }

    pub(crate) fn search_as(&self, token: &str, query: &str) -> Vec<String> {
        let response = self.read_as(token, query);
        assert_eq!(response.status, 200, "{query}: {}", response.text());
        entry_ids(&response.json())
    }

    pub(crate) fn total(&self, token: &str, query: &str, headers: &[(&str, &str)]) -> u64 {
        let response = self.call_with(token, "GET", query, headers, None);
        assert_eq!(response.status, 200, "{query}: {}", response.text());
        response.json()["total"].as_u64().unwrap()
    }
}
