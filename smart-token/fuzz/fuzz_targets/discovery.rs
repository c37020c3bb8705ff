//! An issuer's discovery document from arbitrary bytes: a typed error, or metadata that
//! names the expected (https) issuer exactly and whose URLs are all https.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smart_token::ProviderMetadata;

const ISSUER: &str = "https://idp.example";

fn https(url: &str) -> bool {
    url.starts_with("https://")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(metadata) = ProviderMetadata::from_json(text, ISSUER) {
        assert_eq!(metadata.issuer, ISSUER);
        assert!(https(&metadata.jwks_uri));
        assert!(metadata.authorization_endpoint.as_deref().is_none_or(https));
        assert!(metadata.token_endpoint.as_deref().is_none_or(https));
    }
});
