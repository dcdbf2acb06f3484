//! Fuzzes what `run` and `logs` parse from the user or from files: `-p` specs, `EXPOSE`
//! keys, `--since` times, and a runtime's `state` output. None may panic; a parsed mapping
//! never has container port 0.
#![no_main]

use kasane_runtime::logs::parse_since;
use kasane_runtime::ports::{parse_expose, parse_publish};
use kasane_runtime::runtime::parse_state;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    if let Ok(maps) = parse_publish(&text) {
        assert!(maps.iter().all(|m| m.container_port != 0));
    }
    let _ = parse_expose(&text);
    let _ = parse_since(&text, jiff::Timestamp::UNIX_EPOCH);
    let _ = parse_state("fuzz", input);
});
