//! Linux: processes as `/proc` shows them.

use super::Info;
use nix::unistd::Pid;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// One process's `/proc/PID/stat`, the fields after the command name
/// (which may hold spaces and parentheses, so it ends at the last `)`).
struct ProcStat(Vec<String>);

impl ProcStat {
    fn read(pid: Pid) -> Option<ProcStat> {
        let stat = crate::sys::fs::read_small(format!("/proc/{pid}/stat")).ok()?;
        let rest = stat.rsplit_once(')')?.1;
        Some(ProcStat(rest.split_ascii_whitespace().map(str::to_string).collect()))
    }

    fn number<T: std::str::FromStr>(&self, i: usize) -> Option<T> {
        self.0.get(i)?.parse().ok()
    }
}

pub fn info(pid: Pid) -> Option<Info> {
    let st = ProcStat::read(pid)?;
    // The directory belongs to the process's effective user.
    let uid = std::fs::metadata(format!("/proc/{pid}")).ok()?.uid();
    Some(Info {
        ppid: st.number(1)?,
        pgrp: st.number(2)?,
        uid,
        // Dead: a zombie not reaped yet (or being torn down).
        zombie: matches!(st.0.first().map(String::as_str), Some("Z" | "X")),
        // Clock ticks after boot.
        start: st.number(19)?,
    })
}

pub fn start_time(pid: Pid) -> Option<u64> {
    ProcStat::read(pid)?.number(19)
}

pub fn all() -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .collect()
}

/// Read once: it names this boot, and this process does not outlive it.
pub fn boot_id() -> Option<String> {
    static ID: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let id = crate::sys::fs::read_small("/proc/sys/kernel/random/boot_id").ok()?;
        let id = id.trim();
        (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_string())
    })
    .clone()
}

/// Time since a process started `start` clock ticks after boot, against
/// `CLOCK_BOOTTIME` (the clock `/proc/PID/stat` counts in).
pub fn running_for(start: u64) -> Option<Duration> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    let started = Duration::from_secs(start / hz) + Duration::from_nanos((start % hz) * 1_000_000_000 / hz);
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return None;
    }
    let now = Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32);
    Some(now.saturating_sub(started))
}

pub fn command_line(pid: Pid) -> Option<String> {
    let raw =
        crate::sys::fs::read_regular(std::path::Path::new(&format!("/proc/{pid}/cmdline")), 64 * 1024, false).ok()?;
    let words: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    Some(words.join(" "))
}

pub fn resident_bytes() -> Option<u64> {
    let pages: u64 = std::fs::read_to_string("/proc/self/statm")
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(pages * super::page_size())
}

/// `pid`'s supplementary groups, from `/proc/PID/status`, if it still runs
/// as `uid` (a pid reused by another user gives nothing).
pub fn groups_of(pid: Pid, uid: u32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).unwrap_or("");
    let ids = |text: &str| -> Vec<u32> { text.split_whitespace().filter_map(|n| n.parse().ok()).collect() };
    // Uid: real, effective, saved, fs.
    if ids(field("Uid:")).get(1) != Some(&uid) {
        return Vec::new();
    }
    ids(field("Groups:"))
}

/// Where descriptor `fd` of `pid` can be opened again.
pub fn fd_path(pid: Pid, fd: i32) -> Option<std::path::PathBuf> {
    (!crate::sys::system::portable()).then(|| format!("/proc/{pid}/fd/{fd}").into())
}

/// Become a child subreaper (not with `IMMORTAL_PORTABLE=1`).
pub fn become_subreaper() -> std::io::Result<bool> {
    if crate::sys::system::portable() {
        return Ok(false);
    }
    nix::sys::prctl::set_child_subreaper(true)?;
    Ok(true)
}

pub fn name(pid: Pid) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end_matches('\n').to_string())
}
