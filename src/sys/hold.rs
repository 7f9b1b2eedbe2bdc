//! A holder: a tiny process that keeps the read ends of the service's
//! output pipes open, so that the pipes outlive the supervisor. Without
//! it, a supervisor killed with `-9` closes the only read end; the
//! service's next write gets `EPIPE` (dies of `SIGPIPE`), and the next
//! supervisor finds it gone instead of adopting it. With it, what the
//! service writes meanwhile waits in the pipe (a full pipe blocks it, as a
//! slow disk would) until the next supervisor reopens the pipe and reads
//! it: no line lost — what s6-svscan does for s6-supervise's logger pipes.
//!
//! The holder is a fork of the supervisor that has closed everything but
//! those read ends (it must not keep the supervise directory's lock, the
//! socket, the control FIFO or the supervisor's stderr), left the
//! supervisor's session (a `^C` on the supervisor's terminal is not for
//! it), and then waits in `poll` for nothing but hang-ups: it ends by
//! itself once no process has a write end left (the service gone and every
//! supervisor that could start it again gone too). It never reads: not a
//! byte is taken from the supervisor that reads the pipe.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use nix::unistd::Pid;

/// What `ps` shows for a holder.
pub const NAME: &str = "immortal-hold";

/// Fork a holder of `fds` (pipe read ends); returns its pid. The caller
/// reaps it like any child (it ends by itself, or is killed when the
/// supervisor leaves with nothing running).
pub fn spawn(fds: &[BorrowedFd<'_>]) -> io::Result<Pid> {
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    // Everything the child needs is ready before the fork: after it, only
    // async-signal-safe calls.
    let mut polled: Vec<libc::pollfd> = (0..raw.len())
        .map(|i| libc::pollfd {
            fd: FIRST + i as RawFd,
            events: 0,
            revents: 0,
        })
        .collect();
    let limit = crate::sys::child::descriptor_limit();
    // SAFETY: the supervisor is single-threaded, so the child is a whole
    // copy; the child only calls async-signal-safe functions (dup2, fcntl,
    // close, setsid, sigprocmask, prctl, poll, _exit) and never returns.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        // SAFETY: in the child of that fork (see above).
        0 => unsafe { hold(&raw, &mut polled, limit) },
        pid => Ok(Pid::from_raw(pid)),
    }
}

/// Where the held descriptors are moved in the holder: above anything the
/// supervisor is likely to have open, so that moving one never overwrites
/// another still to move.
const FIRST: RawFd = 3;

/// # Safety
/// Only in the child of a fork of a single-threaded process.
unsafe fn hold(raw: &[RawFd], polled: &mut [libc::pollfd], limit: RawFd) -> ! {
    // Move the held descriptors out of the way, then down to 3, 4, … —
    // F_DUPFD picks the lowest free number at or above `above`, past every
    // source and every target, so no move clobbers one still to be moved.
    let mut high = [0 as RawFd; 8];
    let n = raw.len().min(high.len());
    let above = raw.iter().copied().max().unwrap_or(0).max(FIRST + n as RawFd) + 1;
    for i in 0..n {
        high[i] = libc::fcntl(raw[i], libc::F_DUPFD, above);
        if high[i] < 0 {
            libc::_exit(1);
        }
    }
    for (i, fd) in high.iter().enumerate().take(n) {
        if libc::dup2(*fd, FIRST + i as RawFd) < 0 {
            libc::_exit(1);
        }
    }
    crate::sys::child::close_from(FIRST + n as RawFd, limit.max(above + n as RawFd + 1));
    for fd in 0..FIRST {
        libc::close(fd);
    }
    libc::setsid();
    // Signals the supervisor blocked (to read them from a signalfd) are
    // the defaults again: a TERM or KILL ends the holder.
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    crate::sys::child::name_self(b"immortal-hold\0");
    let polled = &mut polled[..n];
    loop {
        let r = libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, -1);
        if r < 0 {
            continue; // EINTR
        }
        for p in polled.iter_mut() {
            if p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                // No writer left on this pipe: poll ignores it from now on.
                p.fd = -1;
            }
            p.revents = 0;
        }
        if polled.iter().all(|p| p.fd < 0) {
            libc::_exit(0);
        }
    }
}

// Tested in tests/fork.rs, a test binary of its own: the fork copies every
// descriptor the other tests of a binary hold open at that moment.
