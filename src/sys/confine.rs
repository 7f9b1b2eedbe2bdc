//! The service's confinement, applied by the child between fork and exec
//! (before it drops privileges: raising a hard limit or lowering the nice
//! value needs root): join its cgroups, set rlimits, nice, umask and
//! no_new_privs. Only async-signal-safe system calls, on data prepared
//! before the fork.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// What the child applies, prepared in the parent.
#[derive(Debug, Default)]
pub struct Prepared {
    /// `cgroup.procs` files open for writing: the child writes `0`.
    pub cgroups: Vec<OwnedFd>,
    /// A cgroup directory whose `cgroup.procs` the child opens and writes
    /// `0` to (the v2 one, on a kernel that cannot start a child there).
    pub cgroup_dir: Option<OwnedFd>,
    /// (resource, soft, hard) with `u64::MAX` as infinity; `None` keeps
    /// the current value.
    pub rlimits: Vec<(super::rlimit::Resource, Option<u64>, Option<u64>)>,
    pub nice: Option<i32>,
    pub umask: Option<u32>,
    pub no_new_privs: bool,
}

/// The step that applies it (before any step that drops privileges).
pub fn step(p: Prepared) -> super::exec::Step {
    Box::new(move || {
        // SAFETY: only async-signal-safe system calls (write,
        // getrlimit/setrlimit, setpriority, umask, prctl) on data the closure
        // owns, prepared before the fork; it allocates nothing.
        unsafe {
            if let Some(dir) = &p.cgroup_dir {
                let procs = libc::openat(
                    dir.as_raw_fd(),
                    c"cgroup.procs".as_ptr(),
                    libc::O_WRONLY | libc::O_CLOEXEC,
                );
                if procs < 0 {
                    return Err(io::Error::last_os_error());
                }
                let wrote = libc::write(procs, b"0".as_ptr().cast(), 1);
                let e = io::Error::last_os_error();
                libc::close(procs);
                if wrote != 1 {
                    return Err(e);
                }
            }
            for fd in &p.cgroups {
                if libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            for &(resource, soft, hard) in &p.rlimits {
                let (cur_soft, cur_hard) = super::rlimit::get(resource)?;
                super::rlimit::set(resource, soft.unwrap_or(cur_soft), hard.unwrap_or(cur_hard))?;
            }
            if let Some(nice) = p.nice {
                if libc::setpriority(libc::PRIO_PROCESS, 0, nice) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(mask) = p.umask {
                libc::umask(mask as libc::mode_t);
            }
            #[cfg(target_os = "linux")]
            if p.no_new_privs && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // Refused by the configuration already (see
            // `system::Capabilities::no_new_privs`); never skipped.
            #[cfg(not(target_os = "linux"))]
            if p.no_new_privs {
                return Err(io::Error::from_raw_os_error(libc::ENOSYS));
            }
        }
        Ok(())
    })
}
