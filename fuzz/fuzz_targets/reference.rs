//! Fuzzes `Reference::from_str`: never panics, and whatever parses round-trips through both
//! its fully qualified and its familiar form.
#![no_main]

use kasane_oci::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(r) = input.parse::<Reference>() {
        let full = r.to_string();
        assert_eq!(full.parse::<Reference>().ok().as_ref(), Some(&r), "display {full:?}");
        let familiar = r.familiar();
        assert_eq!(familiar.parse::<Reference>().ok().as_ref(), Some(&r), "familiar {familiar:?}");
    }
});
