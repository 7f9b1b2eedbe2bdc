//! Surviving the supervisor's own death. Each time a unit's main process
//! changes, the supervise directory records who it is — pid, start time
//! (clock ticks since boot, from `/proc/PID/stat`), boot id, and the process
//! group the supervisor created — in the file `started`. A supervisor
//! started later on the same directory (after a `kill -9`, an OOM kill, an
//! upgrade) reads it once: if that pid still runs with the same start time
//! on the same boot, it is the very process that was started, and it is
//! adopted instead of starting a second copy. A pid reused by another
//! program has another start time and is ignored.

use crate::layout::{HOLDER, STARTED};
use crate::sys::process::ProcStat;
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

/// A process left running by an earlier supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Survivor {
    pub pid: Pid,
    /// The group the earlier supervisor created for it (the supervisor may
    /// signal that group; any other only through the pid).
    pub spawned_pgid: Pid,
    /// How long it has been running.
    pub uptime: Duration,
}

/// One line: `PID START_TICKS BOOT_ID SPAWNED_PGID`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    pid: i32,
    start: u64,
    boot: String,
    pgid: i32,
}

impl Record {
    fn parse(text: &str) -> Option<Record> {
        let mut words = text.split_ascii_whitespace();
        let pid: i32 = words.next()?.parse().ok()?;
        let start = words.next()?.parse().ok()?;
        let boot = words.next()?.to_string();
        let pgid: i32 = words.next()?.parse().ok()?;
        if pid <= 1 || pgid <= 1 || words.next().is_some() {
            return None;
        }
        Some(Record { pid, start, boot, pgid })
    }

    fn line(&self) -> String {
        format!("{} {} {} {}\n", self.pid, self.start, self.boot, self.pgid)
    }
}

/// Record `pid` (started in group `spawned_pgid`) as the unit's process.
pub fn save(dir: &Path, pid: Pid, spawned_pgid: Pid) -> crate::error::Result<()> {
    save_as(&dir.join(STARTED), pid, spawned_pgid)
}

/// Record the holder of the output pipes ([`crate::sys::hold`]).
pub fn save_holder(dir: &Path, pid: Pid) -> crate::error::Result<()> {
    save_as(&dir.join(HOLDER), pid, pid)
}

/// The holder an earlier supervisor of `dir` left, if it still runs.
pub fn holder(dir: &Path) -> Option<Pid> {
    recorded(&dir.join(HOLDER)).map(|(pid, _)| pid)
}

/// The holder is gone.
pub fn forget_holder(dir: &Path) -> crate::error::Result<()> {
    remove(&dir.join(HOLDER))
}

fn save_as(path: &Path, pid: Pid, spawned_pgid: Pid) -> crate::error::Result<()> {
    let (Some(start), Some(boot)) = (start_ticks(pid), boot_id()) else {
        // Gone already (or no /proc): nothing that could be adopted.
        return remove(path);
    };
    let record = Record {
        pid: pid.as_raw(),
        start,
        boot,
        pgid: spawned_pgid.as_raw(),
    };
    crate::sys::fs::write_atomic(path, record.line().as_bytes())
}

/// The unit has no process any more.
pub fn forget(dir: &Path) -> crate::error::Result<()> {
    remove(&dir.join(STARTED))
}

fn remove(path: &Path) -> crate::error::Result<()> {
    use crate::error::Context;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).ctx("remove", path),
        _ => Ok(()),
    }
}

/// The process recorded in `path`, if it is still the same one and alive,
/// with its record.
fn recorded(path: &Path) -> Option<(Pid, Record)> {
    let text = crate::sys::fs::read_regular_text(path, 256).ok()?;
    let record = Record::parse(&text)?;
    let pid = Pid::from_raw(record.pid);
    if boot_id()? != record.boot || start_ticks(pid)? != record.start || is_zombie(pid) {
        return None;
    }
    Some((pid, record))
}

/// The process recorded in `dir`, if it is still the same one and alive.
pub fn survivor(dir: &Path) -> Option<Survivor> {
    let (pid, record) = recorded(&dir.join(STARTED))?;
    Some(Survivor {
        pid,
        spawned_pgid: Pid::from_raw(record.pgid),
        uptime: uptime_of(record.start),
    })
}

/// A fresh read end and write end of the pipe that descriptor `fd` of
/// `pid` writes to (`None` if it is not a pipe). The supervisor that held
/// its read end is gone; opening `/proc/PID/fd/FD` reaches the same pipe,
/// so the adopted service's output flows again (and the pipe outlives its
/// restarts, as the supervisor's own pipes do).
/// `nonblocking_read`: the read end is for the supervisor's loop (else for
/// a logger's stdin, which blocks).
pub fn reopen_pipe(pid: Pid, fd: i32, nonblocking_read: bool) -> std::io::Result<Option<(OwnedFd, OwnedFd)>> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let path = format!("/proc/{pid}/fd/{fd}");
    if !std::fs::metadata(&path)?.file_type().is_fifo() {
        return Ok(None);
    }
    // The read end first: with a reader, opening the write end cannot block.
    let read = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)?;
    let write = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)?;
    // The write end is handed to later starts: it must block as a normal
    // stdout would.
    let blocking = || nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty());
    nix::fcntl::fcntl(&write, blocking())?;
    if !nonblocking_read {
        nix::fcntl::fcntl(&read, blocking())?;
    }
    Ok(Some((read.into(), write.into())))
}

/// When the process started (clock ticks after boot): with the pid, it
/// names one process for the whole boot.
fn start_ticks(pid: Pid) -> Option<u64> {
    ProcStat::read(pid)?.start_ticks()
}

fn is_zombie(pid: Pid) -> bool {
    ProcStat::read(pid).is_none_or(|st| st.is_zombie())
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_string())
}

/// Time since a process started `start` ticks after boot.
fn uptime_of(start: u64) -> Duration {
    let hz = crate::sys::time::clock_ticks_per_second().unwrap_or(100);
    let started = Duration::from_secs(start / hz) + Duration::from_nanos((start % hz) * 1_000_000_000 / hz);
    let Some(now) = crate::sys::time::since_boot() else {
        return Duration::ZERO;
    };
    now.saturating_sub(started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_rejects_garbage() {
        let r = Record {
            pid: 1234,
            start: 99,
            boot: "abc-def".into(),
            pgid: 1234,
        };
        assert_eq!(Record::parse(&r.line()), Some(r));
        for bad in [
            "",
            "1234",
            "1234 99 abc",
            "x 99 abc 1",
            "1234 99 abc 1234 extra",
            "1 99 b 1",
            "5 -1 b 5",
        ] {
            assert_eq!(Record::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_live_process_is_found_again_and_a_reused_pid_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep").arg("100").spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        save(dir.path(), pid, pid).unwrap();
        let found = survivor(dir.path()).unwrap();
        assert_eq!((found.pid, found.spawned_pgid), (pid, pid));
        assert!(found.uptime < Duration::from_secs(60), "{:?}", found.uptime);

        // Same pid, another start time: a different process.
        let text = std::fs::read_to_string(dir.path().join(STARTED)).unwrap();
        let mut r = Record::parse(&text).unwrap();
        r.start += 1;
        std::fs::write(dir.path().join(STARTED), r.line()).unwrap();
        assert_eq!(survivor(dir.path()), None);

        // Dead (a zombie until reaped, then gone): not a survivor.
        save(dir.path(), pid, pid).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(survivor(dir.path()), None);
        forget(dir.path()).unwrap();
        forget(dir.path()).unwrap();
        assert!(!dir.path().join(STARTED).exists());
    }
}
