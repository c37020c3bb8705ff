//! Every parser of fhir-audit on arbitrary bytes; the first byte picks one:
//! 0. a store line (`StoredRecord::parse_line`): no panic, and a parsed line re-encodes to a
//!    line that parses back to the same record;
//! 1. a search query: no panic, and a parsed query round-trips through its text;
//! 2. a timestamp: no panic, and a parsed one prints back exactly as written;
//! 3. a whole segment file: the verifier and the searcher read it without panicking, and
//!    the verifier's count matches the lines that parse.
#![no_main]

use std::sync::OnceLock;

use fhir_audit::{Query, Searcher, StoredRecord, Timestamp, verify};
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fhir-audit-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else { return };
    match mode % 4 {
        0 => {
            if let Ok(stored) = StoredRecord::parse_line(input) {
                let line = stored.to_line();
                let again = StoredRecord::parse_line(line.strip_suffix(b"\n").unwrap()).unwrap();
                assert_eq!(again.record, stored.record);
                assert_eq!((again.seq, again.prev), (stored.seq, stored.prev));
                if line.strip_suffix(b"\n").unwrap() == input {
                    assert_eq!(again.hash, stored.hash);
                }
            }
        }
        1 => {
            if let Ok(text) = std::str::from_utf8(input)
                && let Ok(query) = text.parse::<Query>()
            {
                assert_eq!(query.to_string().parse::<Query>().unwrap(), query);
            }
        }
        2 => {
            if let Ok(text) = std::str::from_utf8(input) {
                if let Ok(time) = text.parse::<Timestamp>() {
                    assert_eq!(time.to_string(), text);
                }
                let _ = Timestamp::parse_date_or_time(text);
            }
        }
        _ => {
            let dir = scratch();
            let _ = std::fs::remove_file(dir.join("head.json"));
            let _ = std::fs::remove_file(dir.join("audit-00000001.idx"));
            std::fs::write(dir.join("audit-00000001.jsonl"), input).unwrap();
            let verification = verify(dir).unwrap();
            let valid = input.split(|&b| b == b'\n').take_while(|line| StoredRecord::parse_line(line).is_ok()).count();
            assert!(verification.records as usize <= valid);
            if let Ok(mut searcher) = Searcher::open(dir) {
                let _ = searcher.search(&Query::default());
            }
        }
    }
});
