//! Processes: reaping, signalling, and telling whether a group still lives.

use crate::supervise::state::{ExitHow, Target};
use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Reap every child that has ended. Signals coalesce, so one SIGCHLD may
/// stand for many exits: loop until nothing is left.
pub fn reap_all() -> Vec<(Pid, ExitHow)> {
    let mut out = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => out.push((pid, ExitHow::Code(code))),
            Ok(WaitStatus::Signaled(pid, sig, _)) => out.push((pid, ExitHow::Signal(sig as i32))),
            Ok(WaitStatus::StillAlive) => break,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => break, // ECHILD: no children at all
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
