//! The system's event sources, behind one small interface for the one
//! `poll` of every loop: "a signal arrived", "this pid ended", "this
//! directory (or a file in it) changed". The fourth kind, "this descriptor
//! is readable", is `poll` itself: pipes, sockets and FIFOs go straight into
//! the poll set.
//!
//! The loop asks [`Events::fds`] for the descriptors to poll (each with a
//! [`Key`]), polls them with everything else, and hands the keys of those
//! that were ready to [`Events::take`], which says what [`Happened`]. Never
//! blocking, never a timer of its own: an idle loop sleeps in its `poll`.
//!
//! | | Linux | FreeBSD, NetBSD, macOS |
//! |---|---|---|
//! | signals | a signalfd (the signals blocked); a self-pipe with `IMMORTAL_PORTABLE=1` | `EVFILT_SIGNAL` |
//! | "this pid ended" | a pidfd per process | `EVFILT_PROC`, `NOTE_EXIT` |
//! | "this directory changed" | an inotify instance per [`Token`] | `EVFILT_VNODE` on the directory, and on each file named by [`Events::contents`] |
//! | descriptors polled | the signalfd (or pipe), each pidfd, each inotify instance | one kqueue |
//!
//! Like `mio`'s and `polling`'s backends (one `Registry`, one
//! implementation per family of systems), but the caller keeps its own
//! `poll`: a kqueue descriptor is readable when events are queued on it,
//! so the kqueue is one more descriptor of the same poll set.

use crate::error::Result;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::os::fd::BorrowedFd;
use std::path::Path;

#[cfg(target_os = "linux")]
#[path = "events/linux.rs"]
mod imp;

#[cfg(not(target_os = "linux"))]
#[path = "events/kqueue.rs"]
mod imp;

pub(crate) use imp::detach_in_child;

/// Names one watch: a process ([`Events::exit`]) or a set of directories
/// and files ([`Events::dir`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token(u32);

/// Names one of the descriptors [`Events::fds`] gives to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(imp::Key);

/// What happened, as [`Events::take`] tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happened {
    /// A signal arrived (signals coalesce: one may stand for several).
    Signal(Signal),
    /// The process watched by this token ended; the watch is gone.
    Exited(Token),
    /// Something in the directories or files watched by this token changed.
    Changed(Token, Seen),
}

/// More about a change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// Changes were lost (the kernel's queue overflowed): look at everything.
    pub overflow: bool,
    /// A watched directory itself was removed or renamed, or its watch was
    /// dropped: nothing more comes from it.
    pub gone: bool,
}

/// What the directories of a [`Events::dir`] watch report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changes {
    /// An entry added, removed or renamed, a file in it written and closed,
    /// an attribute changed.
    Entries,
    /// As `Entries`, and every write to a file in it (`log -f`).
    Writes,
}

/// The signals of one process and its watches.
pub struct Events {
    imp: imp::Events,
    next: u32,
}

impl Events {
    /// Receive `signals` here from now on (they no longer act by default:
    /// SIGTERM no longer kills); children get the dispositions back.
    pub fn new(signals: &[Signal]) -> Result<Events> {
        Ok(Events {
            imp: imp::Events::new(signals)?,
            next: 0,
        })
    }

    fn token(&mut self) -> Token {
        self.next = self.next.wrapping_add(1);
        Token(self.next)
    }

    /// Watch for the end of `pid`, our child or not. An error when it is
    /// gone already (or cannot be watched).
    pub fn exit(&mut self, pid: Pid) -> std::io::Result<Token> {
        let token = self.token();
        self.imp.exit(token, pid)?;
        Ok(token)
    }

    /// Watch directory `dir` for `what`.
    pub fn dir(&mut self, dir: &Path, what: Changes) -> std::io::Result<Token> {
        let token = self.token();
        self.imp.dir(token, dir, what)?;
        Ok(token)
    }

    /// Watch one more directory under `token` (watching it again is
    /// harmless).
    pub fn add_dir(&mut self, token: Token, dir: &Path, what: Changes) -> std::io::Result<()> {
        self.imp.dir(token, dir, what)
    }

    /// Also report writes to `file`, which lies in a directory watched
    /// under `token`. inotify's directory watch reports them already; a
    /// kqueue needs the file itself (opened again each call: the name may
    /// now be another file).
    pub fn contents(&mut self, token: Token, file: &Path) -> std::io::Result<()> {
        self.imp.contents(token, file)
    }

    /// Stop watching; a token already gone is ignored.
    pub fn forget(&mut self, token: Token) {
        self.imp.forget(token);
    }

    /// The descriptors to poll for reading.
    pub fn fds(&self) -> Vec<(BorrowedFd<'_>, Key)> {
        self.imp.fds().into_iter().map(|(fd, k)| (fd, Key(k))).collect()
    }

    /// The descriptor signals arrive on (for a loop with no watches).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.imp.fd()
    }

    /// What happened, from the descriptors that `poll` found ready (never
    /// blocks).
    pub fn take(&mut self, ready: &[Key]) -> Vec<Happened> {
        let keys: Vec<imp::Key> = ready.iter().map(|k| k.0).collect();
        self.imp.take(&keys)
    }

    /// Wait until something happens or `deadline` passes (`None`: no
    /// deadline), for a loop that polls nothing else.
    pub fn wait(&mut self, deadline: Option<std::time::Instant>) -> Vec<Happened> {
        use nix::poll::{poll, PollFd, PollFlags};
        let ready: Vec<Key> = {
            let sources = self.fds();
            let mut fds: Vec<PollFd> = sources
                .iter()
                .map(|(fd, _)| PollFd::new(*fd, PollFlags::POLLIN))
                .collect();
            if poll(&mut fds, super::timeout_until(deadline)).unwrap_or(0) <= 0 {
                return Vec::new();
            }
            sources
                .iter()
                .zip(&fds)
                .filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty()))
                .map(|((_, k), _)| *k)
                .collect()
        };
        self.take(&ready)
    }

    /// Every signal pending now (for a loop with no watches).
    pub fn signals(&mut self) -> Vec<Signal> {
        let keys: Vec<Key> = self.fds().into_iter().map(|(_, k)| k).collect();
        self.take(&keys)
            .into_iter()
            .filter_map(|h| match h {
                Happened::Signal(s) => Some(s),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wait up to `ms` for what happens.
    fn wait(events: &mut Events, ms: u64) -> Vec<Happened> {
        events.wait(Some(std::time::Instant::now() + std::time::Duration::from_millis(ms)))
    }

    #[test]
    fn a_process_that_is_not_our_child_is_seen_to_end_and_a_directory_to_change() {
        let mut events = Events::new(&[]).unwrap();
        // `sh` starts `sleep` in the background and exits: the sleep is
        // not our child.
        let out = std::process::Command::new("sh")
            .args(["-c", "sleep 100 >/dev/null 2>&1 & echo $!"])
            .output()
            .unwrap();
        let pid = Pid::from_raw(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap());
        let token = events.exit(pid).unwrap();
        assert_eq!(wait(&mut events, 0), vec![]);
        nix::sys::signal::kill(pid, Signal::SIGKILL).unwrap();
        assert_eq!(wait(&mut events, 5000), vec![Happened::Exited(token)]);
        // Gone: watching it again fails (its parent, init, reaped it), or
        // reports the end at once.
        if let Ok(again) = events.exit(pid) {
            assert_eq!(wait(&mut events, 5000), vec![Happened::Exited(again)]);
        }

        let dir = tempfile::tempdir().unwrap();
        let token = events.dir(dir.path(), Changes::Entries).unwrap();
        assert_eq!(wait(&mut events, 0), vec![]);
        std::fs::write(dir.path().join("x.pid"), "1\n").unwrap();
        let seen = wait(&mut events, 5000);
        assert!(
            seen.iter().all(|h| matches!(h, Happened::Changed(t, _) if *t == token)) && !seen.is_empty(),
            "{seen:?}"
        );
        events.forget(token);
        std::fs::write(dir.path().join("y.pid"), "1\n").unwrap();
        assert_eq!(wait(&mut events, 0), vec![]);
    }
}
