//! The supervise directory's status files, in runit's formats, so `sv`,
//! `svstat` (and our own readers) understand them.
//!
//! `status`, 20 bytes (daemontools readers use the first 18):
//!
//! | bytes | meaning                                                        |
//! |-------|----------------------------------------------------------------|
//! | 0–11  | TAI64N of the last change: 8 bytes BE `2^62 + 10 + unix secs`, 4 bytes BE nanoseconds |
//! | 12–15 | pid, little-endian, 0 when down                                |
//! | 16    | 1 if paused                                                    |
//! | 17    | `u` or `d`: what is wanted                                     |
//! | 18    | 1 if TERM was sent and the process has not exited yet          |
//! | 19    | 0 down, 1 run, 2 finish                                        |
//!
//! `stat`: `run`/`down`/`finish`, then `, paused`, `, got TERM`, `, want
//! up`/`, want down`/`, want exit` as they apply, and a newline.
//! `pid`: the pid and a newline, or empty.
//!
//! Every file is replaced atomically (`NAME.new` + rename).

use crate::error::{Context, Error, Result};
use crate::layout;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const LEN: usize = 20;
/// daemontools' `svstat` reads this many bytes.
pub const DAEMONTOOLS_LEN: usize = 18;
/// TAI64 label of the Unix epoch (2^62 + 10 leap seconds, as libtai).
pub const TAI_EPOCH: u64 = (1 << 62) + 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Down = 0,
    Run = 1,
    Finish = 2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    Up,
    Down,
    /// Down, then the supervisor exits (`stat` says `want exit`; the
    /// binary record can only say `d`).
    Exit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// When the state last changed.
    pub since: SystemTime,
    pub pid: u32,
    pub paused: bool,
    pub want: Wanted,
    pub term_sent: bool,
    pub state: RunState,
}

pub fn encode(s: &Status) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    let (secs, nanos) = match s.since.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs(), d.subsec_nanos()),
        Err(_) => (0, 0),
    };
    out[0..8].copy_from_slice(&TAI_EPOCH.saturating_add(secs).to_be_bytes());
    out[8..12].copy_from_slice(&nanos.to_be_bytes());
    out[12..16].copy_from_slice(&s.pid.to_le_bytes());
    out[16] = s.paused as u8;
    out[17] = if s.want == Wanted::Up { b'u' } else { b'd' };
    out[18] = s.term_sent as u8;
    out[19] = s.state as u8;
    out
}

/// Decode a runit (20-byte) or daemontools (18-byte) record.
pub fn decode(bytes: &[u8]) -> Result<Status> {
    if bytes.len() < DAEMONTOOLS_LEN {
        return Err(Error::invalid(format!(
            "status record too short: {} bytes",
            bytes.len()
        )));
    }
    let mut tai = [0u8; 8];
    tai.copy_from_slice(&bytes[0..8]);
    let mut nanos = [0u8; 4];
    nanos.copy_from_slice(&bytes[8..12]);
    let mut pid = [0u8; 4];
    pid.copy_from_slice(&bytes[12..16]);
    let secs = u64::from_be_bytes(tai).saturating_sub(TAI_EPOCH);
    let nanos = u32::from_be_bytes(nanos).min(999_999_999);
    let pid = u32::from_le_bytes(pid);
    let state = match bytes.get(19) {
        Some(2) => RunState::Finish,
        Some(1) => RunState::Run,
        Some(_) => RunState::Down,
        // daemontools: no state byte; a pid means it runs.
        None if pid != 0 => RunState::Run,
        None => RunState::Down,
    };
    // A corrupt record may name a time no clock can hold.
    let since = UNIX_EPOCH
        .checked_add(Duration::new(secs, nanos))
        .ok_or_else(|| Error::invalid(format!("status record: time out of range ({secs} s)")))?;
    Ok(Status {
        since,
        pid,
        paused: bytes[16] != 0,
        want: if bytes[17] == b'u' { Wanted::Up } else { Wanted::Down },
        term_sent: bytes.get(18).is_some_and(|&b| b != 0),
        state,
    })
}

/// runsv's `stat` text.
pub fn stat_text(s: &Status) -> String {
    let mut out = String::from(match s.state {
        RunState::Down => "down",
        RunState::Run => "run",
        RunState::Finish => "finish",
    });
    if s.paused {
        out.push_str(", paused");
    }
    if s.term_sent {
        out.push_str(", got TERM");
    }
    match (s.state, s.want) {
        (RunState::Down, Wanted::Up) => out.push_str(", want up"),
        (RunState::Down, _) => {}
        (_, Wanted::Down) => out.push_str(", want down"),
        (_, Wanted::Exit) => out.push_str(", want exit"),
        (_, Wanted::Up) => {}
    }
    out.push('\n');
    out
}

/// Write `status`, `stat` and `pid` into the supervise directory `dir`.
pub fn write(dir: &Path, s: &Status) -> Result<()> {
    write_to(&mut crate::sys::fs::Records::open(dir)?, s)
}

/// As [`write`], into a supervise directory's [`Records`](crate::sys::fs::Records).
pub fn write_to(records: &mut crate::sys::fs::Records, s: &Status) -> Result<()> {
    records.write(layout::STATUS, &encode(s))?;
    records.write(layout::STAT, stat_text(s).as_bytes())?;
    let pid = if s.pid != 0 {
        format!("{}\n", s.pid)
    } else {
        String::new()
    };
    records.write(layout::PID, pid.as_bytes())
}

/// Read and decode `dir/status`.
pub fn read(dir: &Path) -> Result<Status> {
    let path = dir.join(layout::STATUS);
    let bytes = crate::sys::fs::read_regular(&path, 1024, false).ctx("read", &path)?;
    decode(&bytes).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `fuzz/` (status_decode): a TAI label far in the future
    /// overflowed `SystemTime` and panicked the reader (immortalctl).
    #[test]
    fn time_out_of_range_is_an_error_not_a_panic() {
        let crash = [194, 255, 255, 255, 154, 172, 14, 255, 0, 0, 0, 5, 146, 16, 0, 0, 0, 117];
        let err = decode(&crash).unwrap_err().to_string();
        assert!(err.contains("time out of range"), "{err}");
        let mut max = [0xffu8; 20];
        max[19] = 1;
        assert!(decode(&max).is_err());
    }

    /// Written by the real runit 2.1.2 `runsv` (Debian) for a running
    /// `sleep`, pid 15731.
    const RUNSV_RUNNING: [u8; 20] = [
        0x40, 0x00, 0x00, 0x00, 0x6b, 0x08, 0x9c, 0x89, 0x1f, 0xb2, 0xdc, 0x4c, 0x73, 0x3d, 0x00, 0x00, 0x00, 0x75,
        0x00, 0x01,
    ];
    /// The same runsv after `sv pause` then `sv down`: down, paused, want down.
    const RUNSV_DOWN_PAUSED: [u8; 20] = [
        0x40, 0x00, 0x00, 0x00, 0x6b, 0x08, 0x9c, 0x89, 0x13, 0x3b, 0x6c, 0x7c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64,
        0x00, 0x00,
    ];

    #[test]
    fn decodes_and_reencodes_real_runsv_bytes() {
        let s = decode(&RUNSV_RUNNING).unwrap();
        assert_eq!(s.pid, 15731);
        assert_eq!(s.state, RunState::Run);
        assert_eq!(s.want, Wanted::Up);
        assert!(!s.paused && !s.term_sent);
        assert_eq!(s.since, UNIX_EPOCH + Duration::new(1_795_726_463, 0x1fb2dc4c));
        assert_eq!(encode(&s), RUNSV_RUNNING);
        assert_eq!(stat_text(&s), "run\n");

        let d = decode(&RUNSV_DOWN_PAUSED).unwrap();
        assert_eq!(
            (d.pid, d.state, d.want, d.paused),
            (0, RunState::Down, Wanted::Down, true)
        );
        assert_eq!(encode(&d), RUNSV_DOWN_PAUSED);
        // runsv wrote exactly this `stat` for that state.
        assert_eq!(stat_text(&d), "down, paused\n");
    }

    #[test]
    fn daemontools_18_bytes_and_short_records() {
        let s = decode(&RUNSV_RUNNING[..18]).unwrap();
        assert_eq!((s.pid, s.state), (15731, RunState::Run));
        assert!(decode(&RUNSV_RUNNING[..17]).is_err());
        assert!(decode(b"").is_err());
    }

    #[test]
    fn stat_texts() {
        let base = decode(&RUNSV_RUNNING).unwrap();
        let st = |state, want, paused, term_sent| {
            stat_text(&Status {
                state,
                want,
                paused,
                term_sent,
                ..base
            })
        };
        assert_eq!(
            st(RunState::Run, Wanted::Down, false, true),
            "run, got TERM, want down\n"
        );
        assert_eq!(st(RunState::Run, Wanted::Exit, true, false), "run, paused, want exit\n");
        assert_eq!(st(RunState::Finish, Wanted::Up, false, false), "finish\n");
        assert_eq!(st(RunState::Down, Wanted::Up, false, false), "down, want up\n");
        assert_eq!(st(RunState::Down, Wanted::Down, false, false), "down\n");
    }

    #[test]
    fn write_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = decode(&RUNSV_RUNNING).unwrap();
        write(dir.path(), &s).unwrap();
        assert_eq!(read(dir.path()).unwrap(), s);
        assert_eq!(std::fs::read_to_string(dir.path().join("pid")).unwrap(), "15731\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("stat")).unwrap(), "run\n");
    }
}
