//! What a child does between `fork` and `exec` (`pre_exec` hooks). Only
//! async-signal-safe calls, on data prepared before the fork: the child of
//! a fork may not allocate or take a lock another thread held.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The supervisor blocks the signals it reads from its signalfd and ignores
/// SIGXFSZ; a child must inherit neither (a blocked TERM would never stop
/// it, an ignored SIGXFSZ changes how it meets a file-size limit).
pub fn reset_signals(cmd: &mut Command) {
    // SAFETY: reset_child_signals is async-signal-safe (see there).
    unsafe {
        cmd.pre_exec(super::process::reset_child_signals);
    }
}

/// Switch to `uid`/`gid` with exactly `groups` as supplementary groups.
///
/// Done in `pre_exec` rather than with `CommandExt::uid`, because std clears
/// the supplementary groups when it sets the uid itself.
pub fn drop_privileges(cmd: &mut Command, uid: libc::uid_t, gid: libc::gid_t, groups: Vec<libc::gid_t>) {
    // SAFETY: the closure only makes async-signal-safe system calls
    // (geteuid, setgroups, setgid, setuid) on data prepared before the
    // fork; `groups` outlives every call (the closure owns it).
    unsafe {
        cmd.pre_exec(move || {
            if libc::geteuid() == 0 && libc::setgroups(groups.len() as _, groups.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Give the child descriptor `from` as number `to` (s6's notification fd),
/// without close-on-exec.
pub fn pass_fd(cmd: &mut Command, from: std::os::fd::RawFd, to: std::os::fd::RawFd) {
    // SAFETY: dup2 and fcntl are async-signal-safe; `from` is a descriptor
    // the parent keeps open until after the spawn.
    unsafe {
        cmd.pre_exec(move || {
            if from == to {
                // dup2 onto itself keeps close-on-exec: clear it.
                if libc::fcntl(to, libc::F_SETFD, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(from, to) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
