//! A pid file's content, as the follow logic reads it.
#![no_main]
use immortal::supervise::follow::parse;
use libfuzzer_sys::fuzz_target;
use nix::unistd::Pid;

fuzz_target!(|data: &[u8]| {
    let Some((&exited, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let exited = Pid::from_raw(i32::from(exited) + 2);
    if let Ok(pid) = parse(&text, exited) {
        assert!(pid.as_raw() > 1 && pid != exited);
    }
});
