//! Processes: reaping, signalling, and telling whether a group still lives.

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitHow {
    Code(i32),
    Signal(i32),
}

impl ExitHow {
    /// The one conversion from a wait status: `None` while it has not ended
    /// (stopped, continued, still alive).
    pub fn of(status: WaitStatus) -> Option<ExitHow> {
        match status {
            WaitStatus::Exited(_, code) => Some(ExitHow::Code(code)),
            WaitStatus::Signaled(_, sig, _) => Some(ExitHow::Signal(sig as i32)),
            _ => None,
        }
    }

    /// The shell's convention: a signal death is 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitHow::Code(c) => c,
            ExitHow::Signal(s) => 128 + s,
        }
    }
}

/// Where a signal goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Pid(Pid),
    Group(Pid),
}

/// The variable through which `immortalsvc` passes the descriptor limit
/// it was started with to its supervisors (it raises its own).
pub const NOFILE_ENV: &str = "IMMORTAL_NOFILE";

/// Raise the soft descriptor limit to the hard one (at most 2^20); the
/// limit as it was goes to [`NOFILE_ENV`], so that children put it back
/// ([`restore_nofile`]) and services see the limit they would have seen.
pub fn raise_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let want = hard.min(1 << 20);
    if want > soft && setrlimit(Resource::RLIMIT_NOFILE, want, hard).is_ok() {
        std::env::set_var(NOFILE_ENV, soft.to_string());
    }
}

/// A supervisor started by `immortalsvc` takes back the soft limit
/// `immortalsvc` was started with.
pub fn restore_nofile() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Some(value) = std::env::var_os(NOFILE_ENV) else {
        return;
    };
    std::env::remove_var(NOFILE_ENV);
    let wanted = value.to_str().and_then(|v| v.parse::<u64>().ok());
    if let (Some(soft), Ok((_, hard))) = (wanted, getrlimit(Resource::RLIMIT_NOFILE)) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, soft.min(hard), hard);
    }
}

/// The exit status of `pid` if it is our child and has ended (reaping it).
pub fn try_wait(pid: Pid) -> nix::Result<Option<ExitHow>> {
    waitpid(pid, Some(WaitPidFlag::WNOHANG)).map(ExitHow::of)
}

/// Reap every child that has ended, with the process group it was in.
/// Signals coalesce, so one SIGCHLD may stand for many exits: loop until
/// nothing is left. Each zombie is looked at (`WNOWAIT`) before it is
/// reaped, because its process group can only be read while it exists.
pub fn reap_all() -> Vec<(Pid, ExitHow, Option<Pid>)> {
    use nix::sys::wait::{waitid, Id};
    let mut out = Vec::new();
    loop {
        let peek = waitid(
            Id::All,
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
        );
        let pid = match peek {
            Ok(status) => match status.pid() {
                Some(pid) => pid,
                None => break, // StillAlive: nothing more has ended
            },
            Err(Errno::EINTR) => continue,
            Err(_) => break, // ECHILD: no children at all
        };
        let pgid = nix::unistd::getpgid(Some(pid)).ok();
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(status) => {
                if let Some(how) = ExitHow::of(status) {
                    out.push((pid, how, pgid));
                }
            }
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    out
}

/// Whether any process of group `pgid` is left (zombies not yet reaped by
/// their parent count: they are not gone from the system yet).
pub fn group_alive(pgid: Pid) -> bool {
    match killpg(pgid, None) {
        Ok(()) => true,
        Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// One process's `/proc/PID/stat`, the fields after the command name
/// (which may hold spaces and parentheses, so it ends at the last `)`).
pub struct ProcStat(Vec<String>);

impl ProcStat {
    pub fn read(pid: Pid) -> Option<ProcStat> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = stat.rsplit_once(')')?.1;
        Some(ProcStat(rest.split_ascii_whitespace().map(str::to_string).collect()))
    }

    fn number<T: std::str::FromStr>(&self, i: usize) -> Option<T> {
        self.0.get(i)?.parse().ok()
    }

    /// Dead: a zombie not reaped yet (or being torn down).
    pub fn is_zombie(&self) -> bool {
        matches!(self.0.first().map(String::as_str), Some("Z" | "X"))
    }

    pub fn ppid(&self) -> Option<i32> {
        self.number(1)
    }

    pub fn pgrp(&self) -> Option<i32> {
        self.number(2)
    }

    /// When it started, in clock ticks after boot.
    pub fn start_ticks(&self) -> Option<u64> {
        self.number(19)
    }
}

/// As [`group_alive`], but zombies do not count: for a group whose members
/// are not our children (an adopted service's), whose zombies their own
/// parent — maybe a slow init — reaps, not us. Reads `/proc` once, only
/// when the group is not plainly gone.
pub fn group_has_live_member(pgid: Pid) -> bool {
    if !group_alive(pgid) {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries.flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            return false;
        };
        ProcStat::read(Pid::from_raw(pid)).is_some_and(|st| st.pgrp() == Some(pgid.as_raw()) && !st.is_zombie())
    })
}

pub fn send(target: &Target, sig: Signal) -> nix::Result<()> {
    match *target {
        Target::Pid(pid) => kill(pid, sig),
        Target::Group(pgid) => killpg(pgid, sig),
    }
}

/// Become a child subreaper, so daemonizing descendants are reparented to us
/// (and their exits reach our `waitpid`) instead of to PID 1.
pub fn become_subreaper() -> nix::Result<()> {
    #[cfg(target_os = "linux")]
    {
        nix::sys::prctl::set_child_subreaper(true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Ok(())
    }
}

/// SIGXFSZ's disposition before [`ignore_file_size_signal`] changed it
/// (`usize::MAX`: unchanged), for [`reset_child_signals`].
static FILE_SIZE_SIGNAL_BEFORE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(usize::MAX);

/// A file-size limit must fail a log write (EFBIG, retried), not kill the
/// process with SIGXFSZ. Children get the previous disposition back.
pub fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to "ignore".
    let before = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    if before != libc::SIG_ERR && before != libc::SIG_IGN {
        FILE_SIZE_SIGNAL_BEFORE.store(before, std::sync::atomic::Ordering::Relaxed);
    }
}

/// In a child between fork and exec: give back what the supervisor
/// changed — the signal mask it blocks for its signalfd, SIGXFSZ it
/// ignores — so every child (service, logger, hooks, `./finish`,
/// `control/<letter>`) starts as if the supervisor were not there.
/// Async-signal-safe: only sigprocmask, signal and an atomic load.
pub fn reset_child_signals() -> std::io::Result<()> {
    // SAFETY: sigemptyset/sigprocmask on a local set; signal() restores a
    // disposition that this process had before.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let before = FILE_SIZE_SIGNAL_BEFORE.load(std::sync::atomic::Ordering::Relaxed);
        if before != usize::MAX && libc::signal(libc::SIGXFSZ, before) == libc::SIG_ERR {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_zombie_keeps_a_group_alive_but_has_no_live_member() {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = Pid::from_raw(child.id() as i32);
        assert!(group_alive(pgid) && group_has_live_member(pgid));
        kill(pgid, Signal::SIGKILL).unwrap();
        // Not reaped yet: a zombie, still in the group.
        let zombie = || std::fs::read_to_string(format!("/proc/{pgid}/stat")).is_ok_and(|s| s.contains(") Z "));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !zombie() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(group_alive(pgid));
        assert!(!group_has_live_member(pgid));
        child.wait().unwrap();
        assert!(!group_alive(pgid) && !group_has_live_member(pgid));
    }
}
