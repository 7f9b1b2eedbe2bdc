//! The cgroup hierarchies immortalsvc hands a supervisor in
//! `$IMMORTAL_CGROUP_HIERARCHIES`: never a panic, and what is read back is
//! written out to the same text.
#![no_main]
use immortal::cgroup::Hierarchies;
use libfuzzer_sys::fuzz_target;
use std::os::unix::ffi::OsStrExt;

fuzz_target!(|data: &[u8]| {
    if let Some(found) = Hierarchies::from_env(std::ffi::OsStr::from_bytes(data)) {
        if let Some(text) = found.to_env() {
            assert_eq!(Hierarchies::from_env(text.as_ref()), Some(found));
        }
    }
});
