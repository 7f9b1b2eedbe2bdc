//! What a program with a C `main` (`#![no_main]`) needs of its start: its
//! arguments from `argv`, and what of std's start-up it keeps ([`start`]).
//! std's start-up also reads /proc/self/maps for the main thread's stack
//! guard and sets up a signal stack: about twenty system calls that every
//! supervisor `immortalsvc` starts would pay.

use std::ffi::{c_char, c_int, CStr};

/// The arguments after the program's name, from a C `main`'s `argc` and
/// `argv` (not from std, which fills its own only on glibc when std's
/// `main` is not the one that runs). One that is not UTF-8 is read
/// lossily: a start is never refused for it.
///
/// # Safety
///
/// `argv` must point to `argc` pointers to NUL-ended strings, as the C
/// runtime hands them to `main`.
pub unsafe fn args(argc: c_int, argv: *const *const c_char) -> Vec<String> {
    let count = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return Vec::new();
    }
    (1..count)
        .filter_map(|i| {
            // SAFETY: i < argc, and the caller vouches for argv[0..argc].
            let arg = unsafe { *argv.add(i) };
            // SAFETY: a non-null argv entry is a NUL-ended string.
            (!arg.is_null()).then(|| unsafe { CStr::from_ptr(arg) }.to_string_lossy().into_owned())
        })
        .collect()
}

/// What std's start-up did that a supervisor needs: descriptors 0, 1 and
/// 2 open (a closed one is opened on `/dev/null`, so that no file the
/// supervisor opens later lands there and gets handed to its service as
/// its stdin or output), and SIGPIPE ignored (a write to a reader that is
/// gone is an `EPIPE` to handle, not the end of the supervisor). As after
/// std's start-up, the programs started from here get SIGPIPE at its
/// default whatever this process found (an init system often starts it
/// ignored: systemd's `IgnoreSIGPIPE=yes`), so not recorded as a change
/// of ours ([`super::process::reset_child_signals`]).
pub fn start() {
    open_standard_descriptors();
    // SAFETY: signal(2) with SIG_IGN, before anything else runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

fn open_standard_descriptors() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes the three entries of a local array.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if polled < 0 {
        // As std does where poll cannot tell (no memory, a sandbox that
        // forbids it): asked one by one.
        for entry in &mut fds {
            // SAFETY: F_GETFD only reads the descriptor's flags.
            let closed = unsafe { libc::fcntl(entry.fd, libc::F_GETFD) } == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
            entry.revents = if closed { libc::POLLNVAL } else { 0 };
        }
    }
    for entry in fds.iter().filter(|e| e.revents & libc::POLLNVAL != 0) {
        // The lowest free descriptor: this one, as the ones below it are open.
        // SAFETY: open of a constant NUL-ended path.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd >= 0 && fd != entry.fd {
            // Not where it was wanted (cannot happen): not kept.
            // SAFETY: fd was just opened by this function.
            unsafe { libc::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arguments_after_the_name_from_argv() {
        let owned = [c"immortal", c"-n", c"/etc/sv/web", c"caf\xc3\xa9", c"\xff"];
        let argv: Vec<*const c_char> = owned.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
        // SAFETY: argv holds five NUL-ended strings, then a null.
        let got = unsafe { args(5, argv.as_ptr()) };
        assert_eq!(got, ["-n", "/etc/sv/web", "café", "\u{fffd}"]);
        // SAFETY: as above; argc 1 reads less of it.
        assert!(unsafe { args(1, argv.as_ptr()) }.is_empty());
        // SAFETY: as above; argc 0 reads none of it.
        assert!(unsafe { args(0, argv.as_ptr()) }.is_empty());
        // SAFETY: a null argv is not read.
        assert!(unsafe { args(3, std::ptr::null()) }.is_empty());
    }
}
