//! Properties: the fast JSON writer agrees with serde_json, records round-trip through JSON,
//! timestamps round-trip through text, and redaction leaves no secret behind.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests: a panic is a failed test"
)]

use fhir_audit::{
    Action, AuditRecord, BreakGlass, Client, ClientKind, CompactString, ContentPolicy, Decision,
    Interaction, Origin, Outcome, Timestamp, User,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// Any text, weighted towards what breaks line formats: newlines, quotes, controls, non-ASCII.
fn text() -> impl Strategy<Value = CompactString> {
    prop_oneof![
        "[a-zA-Z0-9/_.-]{0,24}",
        any::<String>(),
        "[\\x00-\\x1f\"\\\\\u{2028}é😀a-z]{0,40}",
    ]
    .prop_map(CompactString::from)
}

fn interaction() -> impl Strategy<Value = Interaction> {
    prop_oneof![
        Just(Interaction::Read),
        Just(Interaction::Vread),
        Just(Interaction::Update),
        Just(Interaction::Patch),
        Just(Interaction::Delete),
        Just(Interaction::HistoryInstance),
        Just(Interaction::HistoryType),
        Just(Interaction::HistorySystem),
        Just(Interaction::Create),
        Just(Interaction::SearchType),
        Just(Interaction::SearchSystem),
        Just(Interaction::Capabilities),
        Just(Interaction::Transaction),
        Just(Interaction::Batch),
        Just(Interaction::Operation),
    ]
}

/// Any record, with text that stresses the line format.
pub fn record() -> impl Strategy<Value = AuditRecord> {
    let who = (
        option::of((text(), option::of(text()), vec(text(), 0..3)).prop_map(
            |(id, fhir_user, roles)| User {
                id,
                fhir_user,
                roles,
            },
        )),
        option::of((text(), any::<bool>()).prop_map(|(id, public)| Client {
            id,
            kind: if public {
                ClientKind::Public
            } else {
                ClientKind::Confidential
            },
        })),
        option::of(text()),
    );
    let action = (
        interaction(),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
    )
        .prop_map(
            |(interaction, resource_type, resource_id, version_id, query, operation)| Action {
                interaction,
                resource_type,
                resource_id,
                version_id,
                query,
                operation,
            },
        );
    let outcome = (
        prop_oneof![
            Just(Decision::Permitted),
            Just(Decision::Denied),
            Just(Decision::Error)
        ],
        any::<u16>(),
        vec(text(), 0..3),
        option::of(text()),
    )
        .prop_map(|(decision, status, rules, reason)| Outcome {
            decision,
            status,
            rules,
            reason,
        });
    let rest = (
        (-62_167_219_200_000_i64..253_402_300_800_000)
            .prop_map(|m| Timestamp::from_millis(m).unwrap()),
        vec(text(), 0..4),
        (text(), option::of(text()), option::of(text())),
        vec(text(), 0..2),
        option::of(text()),
        option::of(text()),
        option::of(prop_oneof![
            Just(serde_json::json!({"resourceType": "Patient", "id": "1"})),
            text().prop_map(|text| serde_json::Value::String(text.into()))
        ]),
    );
    (who, action, outcome, rest).prop_map(
        |(
            (user, client, on_behalf_of),
            action,
            outcome,
            (
                time,
                patients,
                (server_id, client_ip, request_id),
                purpose_of_use,
                break_glass,
                token_jti,
                content,
            ),
        )| AuditRecord {
            time,
            user,
            client,
            on_behalf_of,
            action,
            patients,
            outcome,
            origin: Origin {
                server_id,
                client_ip,
                request_id,
            },
            purpose_of_use,
            break_glass: break_glass.map(|reason| BreakGlass { reason }),
            token_jti,
            content,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fast_writer_matches_serde_json(record in record()) {
        let mut ours = Vec::new();
        record.write_json(&mut ours);
        prop_assert_eq!(String::from_utf8(ours.clone()).unwrap(), serde_json::to_string(&record).unwrap());
        prop_assert!(!ours.contains(&b'\n'), "a record is one line");
        let back: AuditRecord = serde_json::from_slice(&ours).unwrap();
        prop_assert_eq!(back, record);
    }

    #[test]
    fn timestamps_round_trip(millis in -62_167_219_200_000_i64..253_402_300_800_000) {
        let time = Timestamp::from_millis(millis).unwrap();
        let text = time.to_string();
        prop_assert_eq!(text.len(), 24);
        prop_assert_eq!(text.parse::<Timestamp>().unwrap(), time);
    }

    #[test]
    fn timestamp_parsing_never_panics(text in "\\PC{0,30}") {
        if let Ok(time) = text.parse::<Timestamp>() {
            prop_assert_eq!(time.to_string(), text);
        }
    }

    #[test]
    fn redaction_removes_planted_secrets(mut record in record(), secret in "[A-Za-z0-9]{12,20}") {
        let jwt = format!("eyJhbGciOiJSUzI1NiJ9.eyJ{secret}.{secret}");
        record.action.query = Some(format!("patient=1&access_token={secret}&x={jwt}").into());
        record.outcome.reason = Some(format!("rejected Bearer {secret}").into());
        record.token_jti = Some(jwt.clone().into());
        record.redact(ContentPolicy::ReferencesOnly);
        prop_assert!(!record.action.query.as_deref().unwrap().contains(&secret));
        prop_assert!(!record.outcome.reason.as_deref().unwrap().contains(&secret));
        prop_assert_eq!(record.token_jti.as_deref(), Some("[redacted]"));
        prop_assert_eq!(record.content, None);
    }
}
