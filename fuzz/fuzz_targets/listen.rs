//! `listen:` entries: an address of each kind parses back to itself as it
//! is shown; a `listen:` block either parses into entries whose names can
//! be joined into LISTEN_FDNAMES (no `:`, as many names as sockets), or is
//! an error naming the file; finding an entry's line never panics.
#![no_main]
use immortal::listen::{self, Address};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for kind in ["tcp", "udp", "unix"] {
        if let Ok(addr) = Address::parse(kind, text) {
            assert_eq!(addr.kind(), kind);
            let shown = addr.to_string();
            assert_eq!(Address::parse(kind, &shown).as_ref(), Ok(&addr), "{shown}");
            assert!(!listen::default_name(&addr).contains(':'));
        }
    }
    let path = Path::new("run.yml");
    let yml = format!("cmd: x\nlisten:\n{text}\n");
    match immortal::config::parse(path, &yml) {
        Ok(cfg) => {
            let entries = listen::entries(&cfg.listen).expect("parse checked the entries");
            let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            assert_eq!(names.join(":").split(':').count(), entries.len().max(1));
            let _ = listen::summary(&entries);
            let printed = immortal::config::to_yaml(&cfg);
            let printed_back = immortal::config::parse(path, &printed).expect("our own YAML parses");
            assert_eq!(printed_back, immortal::config::effective(&cfg));
        }
        Err(e) => assert!(e.to_string().starts_with("run.yml"), "{e}"),
    }
    let lines = yml.lines().count();
    for index in 0..3 {
        for key in ["tcp", "unix", "udp", "name", "backlog", "mode", "group", "listen"] {
            if let Some(n) = listen::line_of(&yml, index, key) {
                assert!((1..=lines).contains(&n), "{index} {key}: line {n} of {lines}");
            }
        }
    }
});
