//! The supervisor's one poll set: every descriptor carries a tag naming
//! what it is, so the loop reads back *which source* is ready, never an
//! index into a list it must rebuild in the same order.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::BorrowedFd;

/// What a polled descriptor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// One of the system's sources ([`crate::sys::events`]): signals, the
    /// end of a watched process, a watched directory.
    System(crate::sys::events::Key),
    /// The API socket: a client is connecting.
    Listener,
    /// Unit `n`'s control FIFO.
    Control(usize),
    /// Unit `n`'s `cgroup.events` changed (its cgroup emptied or filled).
    Cgroup(usize),
    /// Unit `n`'s output: a stream of the service (`Some(i)`) or the
    /// logger's input (`None`).
    Output(usize, Option<usize>),
    /// API client `n`.
    Client(usize),
    /// `/events` reader `n`.
    Watcher(usize),
    /// Unit `n`'s probe in flight.
    Probe(usize),
    /// Unit `n`'s s6 notification pipe.
    ReadyPipe(usize),
    /// The sd_notify socket.
    Notify,
}

#[derive(Default)]
pub struct PollSet<'a> {
    fds: Vec<PollFd<'a>>,
    tags: Vec<Source>,
}

impl<'a> PollSet<'a> {
    pub fn add(&mut self, fd: BorrowedFd<'a>, write: bool, tag: Source) {
        let flags = if write { PollFlags::POLLOUT } else { PollFlags::POLLIN };
        self.fds.push(PollFd::new(fd, flags));
        self.tags.push(tag);
    }

    /// `fd` for exactly `flags` (empty: only a hang-up or an error wakes
    /// the loop).
    pub fn add_flags(&mut self, fd: BorrowedFd<'a>, flags: PollFlags, tag: Source) {
        self.fds.push(PollFd::new(fd, flags));
        self.tags.push(tag);
    }

    /// `fd` for its urgent condition only (`POLLPRI`: a changed kernfs
    /// file such as `cgroup.events`).
    pub fn add_priority(&mut self, fd: BorrowedFd<'a>, tag: Source) {
        self.fds.push(PollFd::new(fd, PollFlags::POLLPRI));
        self.tags.push(tag);
    }

    /// Wait until something is ready or `timeout` passes; the ready
    /// sources in the order they were added.
    pub fn wait(mut self, timeout: PollTimeout) -> nix::Result<Vec<Source>> {
        poll(&mut self.fds, timeout)?;
        Ok(self
            .fds
            .iter()
            .zip(self.tags)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, tag)| tag)
            .collect())
    }
}
