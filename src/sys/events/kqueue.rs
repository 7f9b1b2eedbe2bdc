//! FreeBSD, NetBSD, macOS: one kqueue, polled by the caller's `poll` (a
//! kqueue descriptor is readable while events are queued on it), drained
//! with a zero timeout. Checked against kqueue(2) of FreeBSD and of macOS
//! (xnu's bsd/man/man2/kqueue.2); NetBSD's follows FreeBSD's:
//!
//! - `EVFILT_SIGNAL`, ident the signal number: "records all attempts to
//!   deliver a signal to a process, even if the signal has been marked as
//!   SIG_IGN" — except SIGCHLD when ignored (FreeBSD; an ignored SIGCHLD
//!   also reaps children for us). So SIGCHLD keeps its default action
//!   (nothing happens, children stay zombies until reaped) and the others
//!   are ignored, as libevent's kqueue backend does; the filter sets
//!   `EV_CLEAR` itself and reports once however many arrived (signals
//!   coalesce anyway). Children get the dispositions back
//!   (`process::reset_child_signals`).
//! - `EVFILT_PROC` with `NOTE_EXIT`, ident the pid: "If a process can
//!   normally see another process, it can attach an event to it" — our
//!   child or not; `ESRCH` when there is no such process (macOS also for a
//!   zombie: the caller then reaps it or reports it gone). The filter sets
//!   `EV_CLEAR`; after `NOTE_EXIT` the event is gone (`EV_ONESHOT` set by
//!   the kernel), and `forget`'s `EV_DELETE` of it fails harmlessly.
//! - `EVFILT_VNODE`, ident a descriptor of the directory or file:
//!   `NOTE_WRITE` on a directory is an entry added, removed or renamed;
//!   `NOTE_DELETE`/`NOTE_RENAME`/`NOTE_REVOKE` on it mean it is gone. Added
//!   with `EV_CLEAR` (reported once per change, not while the condition
//!   holds). "Calling close() on a file descriptor will remove any kevents
//!   that reference the descriptor": dropping the descriptor forgets the
//!   watch. macOS opens it with `O_EVTONLY` (watching does not keep a
//!   volume from being unmounted).
//! - "The queue is not inherited by a child created with fork": children
//!   never see it; `FD_CLOEXEC` is set too.
//! - `struct kevent` differs between the systems (NetBSD: `u32` filter and
//!   flags, `intptr_t` udata; FreeBSD 12+: `ext[4]`): built zeroed, fields
//!   set by name with `as _` conversions.

// The field types differ per system: a cast that is needed on one is a
// no-op on another.
#![allow(clippy::unnecessary_cast)]

use super::{Changes, Happened, Seen, Token};
use crate::error::{Context, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key;

struct Vnode {
    token: Token,
    path: PathBuf,
    dir: bool,
    fd: OwnedFd,
}

pub struct Events {
    kq: OwnedFd,
    exits: Vec<(Token, Pid)>,
    vnodes: Vec<Vnode>,
}

/// Nothing to undo in a child: the kqueue is not inherited.
pub(crate) fn detach_in_child() {}

#[cfg(target_os = "macos")]
const WATCH_OPEN: libc::c_int = libc::O_EVTONLY | libc::O_CLOEXEC | libc::O_NONBLOCK;
#[cfg(not(target_os = "macos"))]
const WATCH_OPEN: libc::c_int = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK;

/// What a watched directory reports: entries changed (`NOTE_WRITE`,
/// `NOTE_LINK`: a subdirectory added or removed), attributes, or itself
/// gone.
const DIR_NOTES: u32 =
    libc::NOTE_WRITE | libc::NOTE_LINK | libc::NOTE_ATTRIB | libc::NOTE_DELETE | libc::NOTE_RENAME | libc::NOTE_REVOKE;
/// What a watched file reports: written, extended, attributes, replaced.
const FILE_NOTES: u32 =
    libc::NOTE_WRITE | libc::NOTE_EXTEND | libc::NOTE_ATTRIB | libc::NOTE_DELETE | libc::NOTE_RENAME;
const GONE_NOTES: u32 = libc::NOTE_DELETE | libc::NOTE_RENAME | libc::NOTE_REVOKE;

/// A change to register: `EV_SET(ident, filter, flags, fflags, 0, token)`.
fn change(ident: usize, filter: i64, flags: u32, fflags: u32, token: Token) -> libc::kevent {
    // SAFETY: kevent is plain data; all-zero is a valid value of it (the
    // extension fields of FreeBSD 12+ and macOS must be zero).
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = ident as _;
    ev.filter = filter as _;
    ev.flags = flags as _;
    ev.fflags = fflags as _;
    ev.udata = token.0 as usize as _;
    ev
}

impl Events {
    pub fn new(signals: &[Signal]) -> Result<Events> {
        // SAFETY: kqueue() takes no arguments and returns a new descriptor
        // or -1.
        let raw = unsafe { libc::kqueue() };
        if raw < 0 {
            return Err(std::io::Error::last_os_error()).ctx("create", "kqueue");
        }
        // SAFETY: `raw` is a fresh descriptor owned by nothing else.
        let kq = unsafe { OwnedFd::from_raw_fd(raw) };
        nix::fcntl::fcntl(&kq, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
            .ctx("configure", "kqueue")?;
        let events = Events {
            kq,
            exits: Vec::new(),
            vnodes: Vec::new(),
        };
        let mut set = SigSet::empty();
        for &s in signals {
            set.add(s);
            // Watched first, then ignored: ignored first, one arriving in
            // between would be lost.
            events
                .register(change(
                    s as usize,
                    libc::EVFILT_SIGNAL as i64,
                    libc::EV_ADD as u32,
                    0,
                    Token(0),
                ))
                .ctx("watch signal", s.as_str())?;
            let to = if s == Signal::SIGCHLD {
                libc::SIG_DFL
            } else {
                libc::SIG_IGN
            };
            crate::sys::process::catch_signal(s as libc::c_int, to).ctx("set the disposition of", s.as_str())?;
        }
        // A mask inherited from our parent would hold them back.
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None)
            .ctx("unblock signals for", "kqueue")?;
        Ok(events)
    }

    /// Apply one change; an error is the kernel's for it.
    fn register(&self, ev: libc::kevent) -> std::io::Result<()> {
        loop {
            // SAFETY: one valid change in, no event list out (nevents 0:
            // an error comes back as -1 and errno), no timeout needed.
            let n = unsafe { libc::kevent(self.kq.as_raw_fd(), &ev, 1, std::ptr::null_mut(), 0, std::ptr::null()) };
            if n >= 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    pub fn exit(&mut self, token: Token, pid: Pid) -> std::io::Result<()> {
        let ident = usize::try_from(pid.as_raw()).map_err(|_| std::io::Error::from_raw_os_error(libc::ESRCH))?;
        self.register(change(
            ident,
            libc::EVFILT_PROC as i64,
            libc::EV_ADD as u32,
            libc::NOTE_EXIT as u32,
            token,
        ))?;
        self.exits.push((token, pid));
        Ok(())
    }

    pub fn dir(&mut self, token: Token, dir: &Path, _what: Changes) -> std::io::Result<()> {
        // Every write to a file inside is only seen through the file
        // itself (`contents`): both kinds watch the same on a directory.
        self.vnode(token, dir, true)
    }

    pub fn contents(&mut self, token: Token, file: &Path) -> std::io::Result<()> {
        self.vnode(token, file, false)
    }

    /// (Re)open `path` and watch it under `token`.
    fn vnode(&mut self, token: Token, path: &Path, dir: bool) -> std::io::Result<()> {
        // The same name again: the old descriptor goes (closing it removes
        // its event), the name may be another file now.
        self.vnodes.retain(|v| !(v.token == token && v.path == path));
        let name = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        let flags = WATCH_OPEN | if dir { libc::O_DIRECTORY } else { 0 };
        // SAFETY: a NUL-terminated path; open returns a new descriptor or -1.
        let raw = unsafe { libc::open(name.as_ptr(), flags) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let notes = if dir { DIR_NOTES } else { FILE_NOTES };
        let flags = libc::EV_ADD as u32 | libc::EV_CLEAR as u32;
        let ident = fd.as_raw_fd() as usize;
        self.register(change(ident, libc::EVFILT_VNODE as i64, flags, notes, token))?;
        self.vnodes.push(Vnode {
            token,
            path: path.to_path_buf(),
            dir,
            fd,
        });
        Ok(())
    }

    pub fn forget(&mut self, token: Token) {
        if let Some(at) = self.exits.iter().position(|(t, _)| *t == token) {
            let (_, pid) = self.exits.swap_remove(at);
            // Gone already after its NOTE_EXIT (ENOENT): nothing to do.
            let _ = self.register(change(
                pid.as_raw() as usize,
                libc::EVFILT_PROC as i64,
                libc::EV_DELETE as u32,
                0,
                token,
            ));
        }
        self.vnodes.retain(|v| v.token != token);
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.kq.as_fd()
    }

    pub fn fds(&self) -> Vec<(BorrowedFd<'_>, Key)> {
        vec![(self.kq.as_fd(), Key)]
    }

    pub fn take(&mut self, ready: &[Key]) -> Vec<Happened> {
        let mut out: Vec<Happened> = Vec::new();
        if ready.is_empty() {
            return out;
        }
        const BATCH: usize = 16;
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        loop {
            // SAFETY: kevent is plain data; the kernel fills at most BATCH
            // entries of `got`.
            let mut got: [libc::kevent; BATCH] = unsafe { std::mem::zeroed() };
            // SAFETY: no changes; an event list of BATCH entries we own; a
            // zero timeout (never blocks).
            let n = unsafe {
                libc::kevent(
                    self.kq.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    got.as_mut_ptr(),
                    BATCH as _,
                    &zero,
                )
            };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            let n = n as usize;
            for ev in &got[..n.min(BATCH)] {
                self.event(ev, &mut out);
            }
            if n < BATCH {
                break;
            }
        }
        out
    }

    /// One event from the queue, as what happened.
    fn event(&mut self, ev: &libc::kevent, out: &mut Vec<Happened>) {
        if ev.flags as u32 & libc::EV_ERROR as u32 != 0 {
            return;
        }
        let token = Token(ev.udata as usize as u32);
        let filter = ev.filter as i64;
        if filter == libc::EVFILT_SIGNAL as i64 {
            if let Ok(sig) = Signal::try_from(ev.ident as i32) {
                out.push(Happened::Signal(sig));
            }
        } else if filter == libc::EVFILT_PROC as i64 {
            if ev.fflags as u32 & libc::NOTE_EXIT as u32 != 0 {
                if let Some(at) = self.exits.iter().position(|(t, _)| *t == token) {
                    self.exits.swap_remove(at);
                    out.push(Happened::Exited(token));
                }
            }
        } else if filter == libc::EVFILT_VNODE as i64 {
            let Some(v) = self
                .vnodes
                .iter()
                .find(|v| v.fd.as_raw_fd() as usize == ev.ident as usize)
            else {
                return;
            };
            let gone = v.dir && ev.fflags as u32 & GONE_NOTES != 0;
            let seen = Seen { overflow: false, gone };
            // One report per token, whatever the number of events.
            match out
                .iter_mut()
                .find(|h| matches!(h, Happened::Changed(t, _) if *t == v.token))
            {
                Some(Happened::Changed(_, s)) => s.gone |= gone,
                _ => out.push(Happened::Changed(v.token, seen)),
            }
        }
    }
}
