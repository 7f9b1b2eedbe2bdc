//! Linux: signals from a signalfd (or, with `IMMORTAL_PORTABLE=1`, a
//! self-pipe written by a signal handler, as on a system without
//! signalfd), a pidfd per watched process, an inotify instance per watch.

use super::{Changes, Happened, Seen, Token};
use crate::error::{Context, Result};
use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Signals,
    Exit(Token),
    Dir(Token),
}

enum Source {
    Fd(SignalFd),
    /// The read end of the self-pipe.
    Pipe(OwnedFd),
    /// No signals: a pipe nobody writes (its write end kept, so it never
    /// reads as closed).
    Idle(OwnedFd, #[allow(dead_code)] OwnedFd),
}

pub struct Events {
    signals: Source,
    exits: Vec<(Token, OwnedFd)>,
    dirs: Vec<(Token, Inotify)>,
}

/// The self-pipe's write end, for the handler (-1: none).
static PIPE: AtomicI32 = AtomicI32::new(-1);

/// Write the signal's number to the self-pipe; errno is kept (the handler
/// may interrupt any call).
extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let byte = sig as u8;
    // SAFETY: write(2) and errno are async-signal-safe; `byte` lives
    // through the call. A full pipe (EAGAIN) loses nothing that matters:
    // signals coalesce, and bytes already there wake the loop.
    unsafe {
        let errno = *libc::__errno_location();
        libc::write(fd, (&byte as *const u8).cast(), 1);
        *libc::__errno_location() = errno;
    }
}

/// In a child between fork and exec: a signal caught there must not reach
/// the supervisor's self-pipe (async-signal-safe: an atomic store).
pub(crate) fn detach_in_child() {
    PIPE.store(-1, Ordering::Relaxed);
}

impl Events {
    pub fn new(signals: &[Signal]) -> Result<Events> {
        let mut set = SigSet::empty();
        for &s in signals {
            set.add(s);
        }
        let source = if signals.is_empty() {
            // Watches only (a second instance in the process): no signal
            // source, and the one self-pipe left alone. Never readable.
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .ctx("create", "pipe")?;
            Source::Idle(read, write)
        } else if crate::sys::system::portable() {
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .ctx("create", "self-pipe")?;
            // The write end lives as long as the process (the handler may
            // run at any time): handed to the static, never closed.
            let old = PIPE.swap(std::os::fd::IntoRawFd::into_raw_fd(write), Ordering::Relaxed);
            if old >= 0 {
                let _ = nix::unistd::close(old);
            }
            for &s in signals {
                crate::sys::process::catch_signal(
                    s as libc::c_int,
                    on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
                )
                .ctx("catch signals for", "self-pipe")?;
            }
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None)
                .ctx("unblock signals for", "self-pipe")?;
            Source::Pipe(read)
        } else {
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
                .ctx("block signals for", "signalfd")?;
            Source::Fd(
                SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).ctx("create", "signalfd")?,
            )
        };
        Ok(Events {
            signals: source,
            exits: Vec::new(),
            dirs: Vec::new(),
        })
    }

    pub fn exit(&mut self, token: Token, pid: Pid) -> std::io::Result<()> {
        let fd = crate::sys::pidfd::open(pid)?;
        self.exits.push((token, fd));
        Ok(())
    }

    pub fn dir(&mut self, token: Token, dir: &Path, what: Changes) -> std::io::Result<()> {
        let mut flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF;
        if what == Changes::Writes {
            flags |= AddWatchFlags::IN_MODIFY;
        }
        if let Some((_, ino)) = self.dirs.iter().find(|(t, _)| *t == token) {
            ino.add_watch(dir, flags)?;
            return Ok(());
        }
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        ino.add_watch(dir, flags)?;
        self.dirs.push((token, ino));
        Ok(())
    }

    /// The directory's inotify watch reports its files' writes already.
    pub fn contents(&mut self, _token: Token, _file: &Path) -> std::io::Result<()> {
        Ok(())
    }

    pub fn forget(&mut self, token: Token) {
        self.exits.retain(|(t, _)| *t != token);
        self.dirs.retain(|(t, _)| *t != token);
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.signals {
            Source::Fd(fd) => fd.as_fd(),
            Source::Pipe(fd) | Source::Idle(fd, _) => fd.as_fd(),
        }
    }

    pub fn fds(&self) -> Vec<(BorrowedFd<'_>, Key)> {
        let mut out = vec![(self.fd(), Key::Signals)];
        out.extend(self.exits.iter().map(|(t, fd)| (fd.as_fd(), Key::Exit(*t))));
        out.extend(self.dirs.iter().map(|(t, ino)| (ino.as_fd(), Key::Dir(*t))));
        out
    }

    pub fn take(&mut self, ready: &[Key]) -> Vec<Happened> {
        let mut out = Vec::new();
        for key in ready {
            match *key {
                Key::Signals => self.drain_signals(&mut out),
                Key::Exit(token) => {
                    // A pidfd is readable once its process has ended.
                    if let Some(at) = self.exits.iter().position(|(t, _)| *t == token) {
                        self.exits.swap_remove(at);
                        out.push(Happened::Exited(token));
                    }
                }
                Key::Dir(token) => {
                    if let Some((_, ino)) = self.dirs.iter().find(|(t, _)| *t == token) {
                        let seen = drain_inotify(ino);
                        out.push(Happened::Changed(token, seen));
                    }
                }
            }
        }
        out
    }

    fn drain_signals(&mut self, out: &mut Vec<Happened>) {
        match &mut self.signals {
            Source::Fd(fd) => {
                // Several records a read; `ssi_signo` comes first in each.
                const RECORD: usize = std::mem::size_of::<libc::signalfd_siginfo>();
                let mut buf = [0u8; 8 * RECORD];
                super::super::fs::drain(fd.as_fd(), &mut buf, |got| {
                    for record in got.chunks_exact(RECORD) {
                        let signo = u32::from_ne_bytes([record[0], record[1], record[2], record[3]]);
                        if let Ok(sig) = Signal::try_from(signo as i32) {
                            out.push(Happened::Signal(sig));
                        }
                    }
                });
            }
            Source::Idle(..) => {}
            Source::Pipe(fd) => {
                let mut buf = [0u8; 64];
                super::super::fs::drain(fd.as_fd(), &mut buf, |got| {
                    for &b in got {
                        if let Ok(sig) = Signal::try_from(i32::from(b)) {
                            out.push(Happened::Signal(sig));
                        }
                    }
                });
            }
        }
    }
}

/// Read every queued inotify event; what they say beyond "something
/// changed".
fn drain_inotify(ino: &Inotify) -> Seen {
    let mut seen = Seen::default();
    loop {
        match ino.read_events() {
            Ok(events) if events.is_empty() => break,
            Ok(events) => {
                for e in events {
                    if e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                        seen.overflow = true;
                    }
                    let gone = AddWatchFlags::IN_IGNORED | AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF;
                    if e.mask.intersects(gone) {
                        seen.gone = true;
                    }
                }
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => break,
            Err(_) => {
                seen.gone = true;
                break;
            }
        }
    }
    seen
}
