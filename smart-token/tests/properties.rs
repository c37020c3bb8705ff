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
