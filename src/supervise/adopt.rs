//! Surviving the supervisor's own death. Each time a unit's main process
//! changes, the supervise directory records who it is — pid, start time
//! (as the system counts it: clock ticks since boot on Linux, microseconds
//! since the epoch elsewhere), boot id, and the process
//! group the supervisor created — in the file `started`. A supervisor
//! started later on the same directory (after a `kill -9`, an OOM kill, an
//! upgrade) reads it once: if that pid still runs with the same start time
//! on the same boot, it is the very process that was started, and it is
//! adopted instead of starting a second copy. A pid reused by another
//! program has another start time and is ignored.

use crate::layout::{HOLDER, STARTED};
use crate::sys::fs::Records;
use crate::sys::process;
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
pub fn save(records: &mut Records, pid: Pid, spawned_pgid: Pid) -> crate::error::Result<()> {
    save_as(records, STARTED, pid, spawned_pgid)
}

/// Record the holder of the output pipes ([`crate::sys::hold`]).
pub fn save_holder(records: &mut Records, pid: Pid) -> crate::error::Result<()> {
    save_as(records, HOLDER, pid, pid)
}

/// The holder an earlier supervisor of `dir` left, if it still runs.
pub fn holder(dir: &Path) -> Option<Pid> {
    recorded(&dir.join(HOLDER)).map(|(pid, _)| pid)
}

/// The holder is gone.
pub fn forget_holder(records: &mut Records) -> crate::error::Result<()> {
    records.clear(HOLDER)
}

/// Record `pid` in `name`; an empty record when it is gone already (or
/// there is no /proc): nothing that could be adopted.
fn save_as(records: &mut Records, name: &'static str, pid: Pid, spawned_pgid: Pid) -> crate::error::Result<()> {
    let (Some(start), Some(boot)) = (start_ticks(pid), boot_id()) else {
        return records.clear(name);
    };
    let record = Record {
        pid: pid.as_raw(),
        start,
        boot,
        pgid: spawned_pgid.as_raw(),
    };
    records.write(name, record.line().as_bytes())
}

/// The unit has no process any more.
pub fn forget(records: &mut Records) -> crate::error::Result<()> {
    records.clear(STARTED)
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
/// `pid` writes to (`None` if it is not a pipe, or the system cannot open
/// another process's descriptor: then the adopted service's output is not
/// read again until it restarts). The supervisor that held its read end is
/// gone; opening `/proc/PID/fd/FD` reaches the same pipe, so the adopted
/// service's output flows again (and the pipe outlives its restarts, as
/// the supervisor's own pipes do).
/// `nonblocking_read`: the read end is for the supervisor's loop (else for
/// a logger's stdin, which blocks).
pub fn reopen_pipe(pid: Pid, fd: i32, nonblocking_read: bool) -> std::io::Result<Option<(OwnedFd, OwnedFd)>> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let Some(path) = process::fd_path(pid, fd) else {
        return Ok(None);
    };
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

/// When the process started: with the pid and the boot, it names one
/// process.
fn start_ticks(pid: Pid) -> Option<u64> {
    process::start_time(pid)
}

fn is_zombie(pid: Pid) -> bool {
    process::info(pid).is_none_or(|i| i.zombie)
}

fn boot_id() -> Option<String> {
    process::boot_id()
}

/// Time since a process started at `start`.
fn uptime_of(start: u64) -> Duration {
    process::running_for(start).unwrap_or(Duration::ZERO)
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
        let records = || Records::open(dir.path()).unwrap();
        save(&mut records(), pid, pid).unwrap();
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
        let mut records = records();
        save(&mut records, pid, pid).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(survivor(dir.path()), None);
        // Forgotten: an empty record (written over, not removed), twice.
        forget(&mut records).unwrap();
        forget(&mut records).unwrap();
        assert_eq!(std::fs::read(dir.path().join(STARTED)).unwrap(), b"");
        assert_eq!(survivor(dir.path()), None);
        // Never started: nothing is created.
        let empty = tempfile::tempdir().unwrap();
        forget(&mut Records::open(empty.path()).unwrap()).unwrap();
        assert!(!empty.path().join(STARTED).exists());
    }
}
