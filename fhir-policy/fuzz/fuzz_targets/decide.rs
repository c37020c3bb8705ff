//! Fuzzes the policy loader and the decision path: any text as a policy (load, analyze,
//! round-trip through JSON) and as a request document decided against the hospital example
//! (decision, explanation, obligations); nothing may panic.

#![no_main]

use std::sync::OnceLock;

use fhir_policy::analysis::analyze;
use fhir_policy::testing::{RequestDocument, TestCases};
use fhir_policy::{Engine, Policy};
use libfuzzer_sys::fuzz_target;

fn hospital() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let text = include_str!("../../../examples/policies/hospital/policy.json");
        Engine::new(&Policy::parse(text).expect("the example loads")).expect("the example compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = Policy::parse(text) {
        let again = Policy::parse(&serde_json::to_string(&policy).expect("serializes"));
        assert_eq!(again.as_ref().ok(), Some(&policy));
        if let Ok(engine) = Engine::new(&policy) {
            for finding in analyze(&engine) {
                let _ = finding.to_string();
            }
        }
    }
    if let Ok(document) = RequestDocument::parse(text) {
        if let Ok(prepared) = document.prepare() {
            let decision = hospital().decide(&prepared.request());
            let _ = decision.to_json();
            if let Some(narrowing) = decision.obligations().search {
                let _ = (narrowing.to_string(), narrowing.to_query());
            }
        }
    }
    if let Ok(cases) = TestCases::parse(text) {
        let _ = cases.run(hospital());
    }
});
