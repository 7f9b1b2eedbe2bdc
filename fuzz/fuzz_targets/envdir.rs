//! An envdir file's content (daemontools rules).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match immortal::envdir::decode(data) {
        None => assert!(data.is_empty()),
        // One line: no newline survives except those made from NULs.
        Some(v) => assert!(!v.ends_with(' ') && !v.ends_with('\t')),
    }
});
