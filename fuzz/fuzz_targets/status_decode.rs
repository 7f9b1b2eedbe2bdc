//! A supervise/status record, as immortalctl and the compat layer read it
//! (written by runsv, supervise or us — or corrupted).
#![no_main]
use immortal::status::{decode, encode, Wanted};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = decode(data) else { return };
    let _ = immortal::status::stat_text(&s);
    // What we decode, we encode back to a record that decodes the same
    // (the binary record cannot say "exit": it says down).
    let again = decode(&encode(&s)).expect("our own record decodes");
    assert_eq!(
        (again.pid, again.paused, again.term_sent),
        (s.pid, s.paused, s.term_sent)
    );
    if data.len() >= 20 {
        assert_eq!(again.state, s.state);
    }
    if s.want == Wanted::Up {
        assert_eq!(again.want, Wanted::Up);
    }
});
