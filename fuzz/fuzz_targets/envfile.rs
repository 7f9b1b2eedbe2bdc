//! An `env_file:`'s content (immortal::envfile's rules).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    match immortal::envfile::parse(data) {
        Ok(vars) => {
            for (name, value) in vars {
                assert!(!name.is_empty() && !name.contains('=') && !name.starts_with(|c: char| c.is_ascii_digit()));
                assert!(!value.as_encoded_bytes().contains(&0));
            }
        }
        // The line named is one of the file's.
        Err((line, why)) => assert!(line >= 1 && line <= lines && !why.is_empty()),
    }
});
