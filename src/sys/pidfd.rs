//! Process descriptors: a pidfd becomes readable when its process exits,
//! whether or not that process is our child, so a `poll` can wait for it.

use nix::unistd::Pid;
use std::os::fd::{FromRawFd, OwnedFd};

/// A descriptor that becomes readable when `pid` exits (Linux 5.3+).
pub fn open(pid: Pid) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // (or -1); it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor returned by the kernel, owned by
    // nothing else: the OwnedFd is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A copy of descriptor `fd` of the process behind `pidfd`, close-on-exec
/// (Linux 5.6+; needs the right to ptrace it: root, or the same user
/// without Yama's restrictions).
pub fn get_fd(pidfd: std::os::fd::BorrowedFd<'_>, fd: i32) -> std::io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_getfd takes two descriptor numbers and flags and
    // returns a new descriptor (or -1); it touches no memory of ours.
    let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if got < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor returned by the kernel (close-on-exec, as
    // pidfd_getfd always makes it), owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(got as i32) })
}

/// The descriptor numbers process `pid` has open, in order (none when
/// they cannot be read).
pub fn open_fds(pid: Pid) -> Vec<i32> {
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    fds.sort_unstable();
    fds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_once_the_process_is_gone() {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut child = std::process::Command::new("sleep").arg("100").spawn().unwrap();
        let fd = open(Pid::from_raw(child.id() as i32)).unwrap();
        let ready = |fd: &OwnedFd, ms: u16| {
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(ms)).unwrap() == 1
        };
        assert!(!ready(&fd, 0));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(ready(&fd, 5000));
    }
}
