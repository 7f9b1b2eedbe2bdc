//! What a forked child that does not exec (a holder, a filter) does to
//! itself, with async-signal-safe calls only: close what it must not keep,
//! and name itself for `ps`.

use std::os::fd::RawFd;

/// Close every descriptor from `from` below `to` (`close_range` on Linux,
/// one by one elsewhere or on an older kernel).
///
/// # Safety
/// Only in the child of a fork, before it touches anything it closes.
pub unsafe fn close_from(from: RawFd, to: RawFd) {
    #[cfg(target_os = "linux")]
    {
        if libc::syscall(libc::SYS_close_range, from as libc::c_uint, libc::c_uint::MAX, 0) == 0 {
            return;
        }
    }
    for fd in from..to {
        libc::close(fd);
    }
}

/// The highest descriptor number the process may have (+1), capped: the
/// fallback of [`close_from`] closes every one below it. Read before the
/// fork.
pub fn descriptor_limit() -> RawFd {
    let max = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
    RawFd::try_from(max.min(1 << 20)).unwrap_or(1024)
}

/// Name the process (`/proc/PID/comm`, what `ps` shows) where the system
/// allows it.
///
/// # Safety
/// Only in the child of a fork; `name` ends with a NUL byte.
pub unsafe fn name_self(name: &[u8]) {
    #[cfg(target_os = "linux")]
    {
        libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0);
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = name;
    }
}
