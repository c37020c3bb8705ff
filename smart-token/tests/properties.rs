use std::sync::LazyLock;

use proptest::prelude::*;
use smart_token::Validator;

use crate::support::*;

static VALIDATOR: LazyLock<Validator> = LazyLock::new(validator);
static TOKEN: LazyLock<String> = LazyLock::new(|| rsa().sign(None, &claims()).unwrap());

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(VALIDATOR.validate(&text).is_err());
    }

    #[test]
    fn arbitrary_three_segment_tokens_never_panic(
        header in "[A-Za-z0-9_-]{0,60}",
        claims in "[A-Za-z0-9_-]{0,200}",
        signature in "[A-Za-z0-9_-]{0,90}",
    ) {
        let token = format!("{header}.{claims}.{signature}");
        prop_assert!(VALIDATOR.validate(&token).is_err());
    }

    #[test]
    fn arbitrary_json_in_valid_base64_never_panics(header in ".{0,80}", claims in ".{0,200}") {
        let token = format!("{}.{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()), b64(b"sig"));
        prop_assert!(VALIDATOR.validate(&token).is_err());
    }

    #[test]
    fn any_change_to_a_signed_token_is_rejected(position in 0usize..600, replacement in "[A-Za-z0-9_-]") {
        let token: &str = &TOKEN;
        prop_assert!(VALIDATOR.validate(token).is_ok());
        let position = position % token.len();
        let original = &token[position..=position];
        prop_assume!(original != "." && original != replacement);
        let tampered = format!("{}{replacement}{}", &token[..position], &token[position + 1..]);
        prop_assert!(VALIDATOR.validate(&tampered).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn arbitrary_key_sets_never_panic(text in ".{0,300}") {
        let _ = smart_token::KeySet::from_jwks(&text);
        let wrapped = format!(r#"{{"keys": [{text}]}}"#);
        let _ = smart_token::KeySet::from_jwks(&wrapped);
    }

    #[test]
    fn arbitrary_token_requests_are_refused_without_panic(
        pairs in proptest::collection::vec(
            (
                prop_oneof![
                    Just("grant_type"), Just("code"), Just("redirect_uri"), Just("code_verifier"),
                    Just("refresh_token"), Just("scope"), Just("client_id"), Just("client_secret"),
                    Just("client_assertion_type"), Just("client_assertion"), Just("device_code"),
                ],
                ".{0,40}",
            ),
            0..8,
        ),
        authorization in proptest::option::of("Basic .{0,40}"),
    ) {
        let Ok(request) = smart_token::TokenRequest::from_pairs(pairs) else {
            return Ok(());
        };
        let request = request.with_authorization_header(authorization.as_deref());
        prop_assert!(SERVER.token(&request).is_err());
        let _ = SERVER.device_authorization(&request);
    }
}

static SERVER: LazyLock<smart_token::AuthorizationServer> =
    LazyLock::new(|| crate::authorization::setup().server);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A portless loopback redirect URI admits exactly itself and itself with a port: any
    /// other accepted text would be an open redirect.
    #[test]
    fn loopback_redirect_uris_admit_only_a_port(
        uri in prop_oneof![
            "http://127\\.0\\.0\\.1(:[0-9]{0,7})?/cb[/?#a-z.:@]{0,4}",
            "http://127\\.0\\.0\\.1[:@.a-z0-9]{0,12}/cb",
            ".{0,40}",
        ],
    ) {
        let client = smart_token::Client::new("native", smart_token::ClientAuth::None)
            .redirect_uri("http://127.0.0.1/cb");
        if client.redirect_uri_matches(&uri) {
            let port = uri
                .strip_prefix("http://127.0.0.1")
                .and_then(|rest| rest.strip_suffix("/cb"))
                .unwrap_or("x");
            prop_assert!(
                port.is_empty()
                    || (port.len() > 1
                        && port.starts_with(':')
                        && port[1..].parse::<u16>().is_ok_and(|p| p > 0)),
                "{uri}"
            );
        }
    }

    /// Any text as a discovery document: a typed error or metadata that names the issuer
    /// exactly with http(s) URLs; never a panic.
    #[test]
    fn arbitrary_discovery_documents_never_panic(text in ".{0,300}") {
        if let Ok(metadata) = smart_token::ProviderMetadata::from_json(&text, "https://idp.example") {
            prop_assert_eq!(metadata.issuer, "https://idp.example");
            prop_assert!(metadata.jwks_uri.starts_with("http://") || metadata.jwks_uri.starts_with("https://"));
        }
    }

    /// A document built from parts reads back as those parts; with another issuer, it is refused.
    #[test]
    fn discovery_documents_read_back(
        host in "[a-z]{1,12}\\.example",
        path in "(/[a-z0-9]{1,8}){0,3}",
        scheme in "https?",
        methods in proptest::collection::vec("[A-Za-z0-9]{1,6}", 0..3),
    ) {
        let issuer = format!("{scheme}://{host}{path}");
        let document = serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/keys"),
            "token_endpoint": format!("{issuer}/token"),
            "code_challenge_methods_supported": methods,
            "response_types_supported": ["code"],
        })
        .to_string();
        let metadata = smart_token::ProviderMetadata::from_json(&document, &issuer).unwrap();
        prop_assert_eq!(&metadata.jwks_uri, &format!("{issuer}/keys"));
        prop_assert_eq!(metadata.token_endpoint, Some(format!("{issuer}/token")));
        prop_assert_eq!(metadata.authorization_endpoint, None);
        prop_assert_eq!(metadata.code_challenge_methods_supported, methods);
        let other = format!("{issuer}/");
        prop_assert!(smart_token::ProviderMetadata::from_json(&document, &other).is_err());
    }
}
