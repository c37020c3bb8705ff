//! Fuzzes the server's one FHIR request parser (`src/server/request.rs`, with the search and
//! date parsers under it): any method, path, query and body is parsed or refused with a client
//! error (4xx), never a panic. The input is `<method byte><path>\n<query>\n<body>`.

#![no_main]
#![allow(
    dead_code,
    unused_imports,
    reason = "the server's modules are included whole; the target uses their parsers"
)]

use axum::http::Method;
use fhir_compartment::{Compartments, ServerBases};
use libfuzzer_sys::fuzz_target;

/// The server's parser modules, compiled from the binary's own files.
#[path = "../../src/server"]
mod server {
    pub(crate) mod date;
    pub(crate) mod index;
    pub(crate) mod outcome;
    pub(crate) mod request;
    pub(crate) mod search;
}

use server::request::{Body, Context, RawRequest, parse};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let method = match selector % 6 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::PUT,
        3 => Method::PATCH,
        4 => Method::DELETE,
        _ => Method::HEAD,
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let path = parts.next().unwrap_or("");
    let query = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("").as_bytes();
    let bases = ServerBases::new(["http://localhost:8080/fhir"]).unwrap();
    let compartments = Compartments::r4();
    let raw = RawRequest {
        method: &method,
        path,
        query,
        body: if body.is_empty() {
            Body::Empty
        } else {
            Body::Bytes(body)
        },
        content_type: None,
        if_match: None,
        if_none_exist: None,
    };
    if let Err(error) = parse(
        &raw,
        Context {
            bases: &bases,
            compartments: &compartments,
        },
    ) {
        assert!(error.status().is_client_error(), "{error:?}");
    }
});
