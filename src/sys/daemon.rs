//! Detaching from the terminal without losing startup errors.
//!
//! The parent forks and waits on a pipe: the child does all its setup
//! (supervise directory, lock, socket), then either closes the pipe (ready:
//! the parent exits 0) or writes the error (the parent prints it to the
//! operator's stderr and exits 1). Nothing is swallowed by a detached child.

use crate::error::{Context, Result};
use nix::unistd::{fork, getpid, getppid, getsid, pipe, setsid, ForkResult};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

/// Daemonize unless already a session leader or a child of PID 1 (a
/// supervisor started by init or `immortalsvc`-as-PID-1 stays put).
pub fn wanted() -> bool {
    let leader = getsid(None).map(|sid| sid == getpid()).unwrap_or(false);
    !leader && getppid().as_raw() != 1
}

/// The child's side of the startup handshake.
pub struct Readiness {
    pipe: Option<File>,
}

impl Readiness {
    /// No handshake: running in the foreground.
    pub fn foreground() -> Readiness {
        Readiness { pipe: None }
    }

    pub fn is_detached(&self) -> bool {
        self.pipe.is_some()
    }

    /// Report a fatal startup error: to the waiting parent, or to stderr.
    pub fn fail(self, msg: &str) -> ! {
        match self.pipe {
            Some(mut p) => {
                let _ = p.write_all(msg.as_bytes());
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{msg}");
            }
        }
        std::process::exit(crate::error::EXIT_FAILURE)
    }

    /// Setup is complete: detach stdio and release the parent.
    pub fn ready(self) -> Result<()> {
        if let Some(pipe) = self.pipe {
            let null = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .ctx("open", "/dev/null")?;
            for fd in 0..=2 {
                // SAFETY: dup2 onto the standard descriptors, which this
                // process owns; no Rust object owns fds 0-2 exclusively.
                if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
                    return Err(std::io::Error::last_os_error()).ctx("redirect stdio to", "/dev/null");
                }
            }
            drop(pipe);
        }
        Ok(())
    }
}

/// Fork; the parent waits for the child's verdict and exits with it. Only
/// the child returns. Must be called while the process has one thread.
pub fn detach() -> Result<Readiness> {
    let (read_end, write_end): (OwnedFd, OwnedFd) = pipe().ctx("create", "startup pipe")?;
    // SAFETY: the process is single-threaded here (no thread is ever
    // started before this point), so the child may run arbitrary code.
    match unsafe { fork() }.ctx("fork", "daemon")? {
        ForkResult::Parent { .. } => {
            drop(write_end);
            let mut msg = String::new();
            let _ = File::from(read_end).read_to_string(&mut msg);
            if msg.is_empty() {
                std::process::exit(0);
            }
            eprintln!("{}", msg.trim_end());
            std::process::exit(crate::error::EXIT_FAILURE);
        }
        ForkResult::Child => {
            drop(read_end);
            setsid().ctx("setsid", "daemon")?;
            let pipe = File::from(write_end);
            // The write end must not leak into the service.
            nix::fcntl::fcntl(&pipe, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
                .ctx("set close-on-exec on", "startup pipe")?;
            Ok(Readiness { pipe: Some(pipe) })
        }
    }
}
