//! An sd_notify datagram from the service (`$NOTIFY_SOCKET`): any bytes,
//! `KEY=VALUE` lines. Never a panic; a `MAINPID` is a positive pid; what
//! it says is what it held.
#![no_main]
use immortal::supervise::notify::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let m = parse(data);
    if let Some(pid) = m.main_pid {
        assert!(pid.as_raw() > 0, "MAINPID {pid}");
    }
    if let Some(status) = &m.status {
        assert!(!status.contains('\n'), "STATUS is one line: {status:?}");
    }
    assert!(
        m.notices.len() <= (data.len() + 1) / 8,
        "{} notices from {} bytes",
        m.notices.len(),
        data.len()
    );
});
