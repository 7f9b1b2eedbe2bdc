//! Signals as file-descriptor events: block them, then read them from a
//! signalfd inside the one `poll`. Signals coalesce, so a reader of SIGCHLD
//! must reap until nothing is left.

use crate::error::{Context, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsFd, BorrowedFd};

pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Block `signals` in this (single-threaded) process and receive them on
    /// a descriptor. Children get an empty mask back from `std::process`.
    pub fn block(signals: &[Signal]) -> Result<Signals> {
        let mut set = SigSet::empty();
        for &s in signals {
            set.add(s);
        }
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).ctx("block signals for", "signalfd")?;
        let fd =
            SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).ctx("create", "signalfd")?;
        Ok(Signals { fd })
    }

    /// Every signal pending now, in arrival order.
    pub fn drain(&mut self) -> Vec<Signal> {
        let mut out = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                out.push(sig);
            }
        }
        out
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
