//! `HttpFetcher` against a one-shot HTTP server on the loopback interface.
#![cfg(feature = "http")]

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;

use serde_json::json;
use smart_token::{Error, HttpFetcher, JwksFetcher, KeySource, TrustedIssuer, Validator};

use crate::support::*;

/// Serves one response on 127.0.0.1 and returns the URL.
fn serve_once(status: &'static str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request).unwrap();
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).unwrap();
    });
    format!("http://{address}/jwks")
}

#[test]
fn fetches_a_jwks_over_http() {
    let jwks = json!({ "keys": [rsa().public_jwk()] }).to_string();
    let url = serve_once("200 OK", jwks);
    let issuer = TrustedIssuer::new(
        ISS,
        AUD,
        KeySource::remote(url, Arc::new(HttpFetcher::new())),
    );
    let validator = Validator::new([issuer]).clock(clock());
    let token = rsa().sign(None, &claims()).unwrap();
    assert_eq!(validator.validate(&token).unwrap().patient(), Some("123"));
}

#[test]
fn http_errors_are_fetch_errors() {
    let url = serve_once("404 Not Found", String::new());
    let error = HttpFetcher::new().fetch(&url).unwrap_err();
    assert_eq!(error.code(), "fetch");
    assert!(matches!(error, Error::Fetch { uri, .. } if uri == url));
}
