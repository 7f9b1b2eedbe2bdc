//! Processes: reaping, signalling, and telling whether a group still lives.

use crate::supervise::state::{ExitHow, Target};
use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

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
            Ok(WaitStatus::Exited(pid, code)) => out.push((pid, ExitHow::Code(code), pgid)),
            Ok(WaitStatus::Signaled(pid, sig, _)) => out.push((pid, ExitHow::Signal(sig as i32), pgid)),
            Ok(_) | Err(Errno::EINTR) => continue,
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

/// A file-size limit must fail a log write (EFBIG, retried), not kill the
/// process with SIGXFSZ.
pub fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to "ignore".
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}
