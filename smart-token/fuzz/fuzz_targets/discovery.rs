//! An issuer's discovery document from arbitrary bytes: a typed error, or metadata that
//! names the expected issuer exactly and whose URLs are all http or https.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smart_token::ProviderMetadata;

const ISSUER: &str = "https://idp.example";

fn http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(metadata) = ProviderMetadata::from_json(text, ISSUER) {
        assert_eq!(metadata.issuer, ISSUER);
        assert!(http(&metadata.jwks_uri));
        assert!(metadata.authorization_endpoint.as_deref().is_none_or(http));
        assert!(metadata.token_endpoint.as_deref().is_none_or(http));
    }
});
