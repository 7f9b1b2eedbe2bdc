//! `run.yml`: parsed, then turned into a service (user and directory
//! lookups included), never a panic, errors naming the file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("run.yml");
    // -check's note on a `cmd:` string (the shell's reading beside ours).
    let _ = immortal::config::cmd_note(text);
    match immortal::config::parse(path, text) {
        Ok(yml) => {
            if let Err(e) = immortal::service::from_yml(path, &yml) {
                assert!(e.to_string().contains("run.yml"), "{e}");
            }
            // What we print with -cc parses again.
            let printed = immortal::config::to_yaml(&yml);
            immortal::config::parse(path, &printed).expect("our own YAML parses");
        }
        Err(e) => assert!(e.to_string().contains("run.yml"), "{e}"),
    }
});
