//! What the HTTP tests of `fhir-access serve` share: a server started on an ephemeral port
//! with a temporary data directory, and a plain HTTP/1.1 client.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers: a panic is a failed test; not every test binary uses every helper"
)]

pub(crate) mod clients;
pub(crate) mod secured;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// A server started for one test; killed (by its own process id) when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    /// `127.0.0.1:port`.
    pub(crate) address: String,
    /// `http://127.0.0.1:port/fhir`.
    pub(crate) base: String,
    pub(crate) _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Development mode, no seed, in a fresh directory.
    pub(crate) fn start() -> Server {
        Server::with(&["--authorization", "allow-all", "--seed", "false"])
    }

    pub(crate) fn with(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::in_dir(dir.path(), args);
        server._dir = Some(dir);
        server
    }

    pub(crate) fn in_dir(dir: &std::path::Path, args: &[&str]) -> Server {
        Server::logged(dir, args, "warn", Stdio::null())
    }

    /// A server whose log (at `filter`) goes to `stderr`.
    pub(crate) fn logged(
        dir: &std::path::Path,
        args: &[&str],
        filter: &str,
        stderr: Stdio,
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fhir-access"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(args)
            .env_remove("RUST_LOG")
            .env("FHIR_ACCESS_LOG", filter)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        let address = base
            .trim_start_matches("http://")
            .trim_end_matches("/fhir")
            .to_owned();
        Server {
            child,
            address,
            base,
            _dir: None,
        }
    }

    /// Sends one request; `path` is below `/fhir` (or absolute from `/` when it starts with `/`).
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let target = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/fhir/{path}")
        };
        let mut stream = TcpStream::connect(&self.address).unwrap();
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.address,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        Response::parse(&raw)
    }

    pub(crate) fn get(&self, path: &str) -> Response {
        self.send("GET", path, &[], b"")
    }

    pub(crate) fn json(&self, method: &str, path: &str, body: &Value) -> Response {
        self.send(
            method,
            path,
            &[("Content-Type", "application/fhir+json")],
            body.to_string().as_bytes(),
        )
    }

    /// Creates a resource under a chosen id.
    pub(crate) fn put(&self, resource: Value) {
        let path = format!(
            "{}/{}",
            resource["resourceType"].as_str().unwrap(),
            resource["id"].as_str().unwrap()
        );
        let response = self.json("PUT", &path, &resource);
        assert!(
            response.status == 201 || response.status == 200,
            "{}",
            response.text()
        );
    }

    /// The ids (`Type/id`) a search returns, in order.
    pub(crate) fn search(&self, query: &str) -> Vec<String> {
        let response = self.get(query);
        assert_eq!(response.status, 200, "{query}: {}", response.text());
        entry_ids(&response.json())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn parse(raw: &[u8]) -> Response {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete response");
        let head = std::str::from_utf8(&raw[..split]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_ascii_lowercase(), v.to_owned())
            })
            .collect();
        Response {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// Asserts an OperationOutcome with this status, issue code and diagnostics.
    pub(crate) fn assert_outcome(&self, status: u16, code: &str, diagnostics: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/fhir+json; charset=utf-8")
        );
        assert_eq!(
            self.json(),
            json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}]})
        );
    }
}

pub(crate) fn entry_ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e["resource"]["resourceType"] != "OperationOutcome")
                .map(|e| {
                    format!(
                        "{}/{}",
                        e["resource"]["resourceType"].as_str().unwrap(),
                        e["resource"]["id"].as_str().unwrap()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
