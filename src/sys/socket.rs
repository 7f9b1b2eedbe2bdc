//! What the sockets of `listen:` need beyond std and nix: a backlog of
//! any size the kernel accepts (nix caps it at `SOMAXCONN`, below what an
//! operator may have raised `net.core.somaxconn` to), and which ports need
//! privileges.

use std::os::fd::{AsRawFd, BorrowedFd};

/// `listen(2)` with `backlog`; on a socket already listening it sets the
/// new backlog (Linux, the BSDs).
pub fn listen(fd: BorrowedFd<'_>, backlog: i32) -> std::io::Result<()> {
    // SAFETY: listen takes a descriptor number and an int; it touches no
    // memory of ours.
    if unsafe { libc::listen(fd.as_raw_fd(), backlog) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The first port an unprivileged process may bind (Linux's
/// `net.ipv4.ip_unprivileged_port_start`, 0 in most containers; 1024
/// where it cannot be read).
pub fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(1024)
}

/// Copies of the descriptors process `pid` holds (`pidfd_getfd`, Linux
/// 5.6+: the service of a killed supervisor keeps its sockets, the next
/// supervisor takes them back). Empty where the system cannot, or `pid` is
/// gone.
pub fn copies_held_by(pid: nix::unistd::Pid) -> Vec<std::os::fd::OwnedFd> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsFd;
        let Ok(pidfd) = crate::sys::pidfd::open(pid) else {
            return Vec::new();
        };
        crate::sys::pidfd::open_fds(pid)
            .into_iter()
            .filter_map(|n| crate::sys::pidfd::get_fd(pidfd.as_fd(), n).ok())
            .collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        Vec::new()
    }
}
