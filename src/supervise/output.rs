//! The service's output, inside the event loop: stdout (and stderr, unless
//! `stderr:` is set) arrive on a pipe the supervisor holds open across
//! restarts; each line goes to the `log:` file set (the library's
//! [`LogWriter`]) and to the `logger:` command.
//!
//! Nothing here blocks: pipes are non-blocking; a failing disk stops the
//! reading (back-pressure on the service) and is retried every second; a
//! slow or dead logger never holds the file log back — what it has not
//! taken waits in a bounded buffer (1 MiB, oldest lines dropped first) and
//! in the logger's pipe, which the supervisor holds open across the
//! logger's restarts (the logger is a unit of the supervisor, restarted by
//! the same state machine as runit's `log/run`): a new logger gets it all.
//! When the logger is the only place the output goes, nothing is dropped:
//! a full backlog stops the reading instead, as a full disk does.
//!
//! With `compress:`, each rotated file is compressed by a child of the
//! supervisor ([`crate::rotated`]); its end arrives as any child's does
//! (SIGCHLD, [`Output::child_ended`]) and the lines that waited for the
//! next rotation are written then.

use crate::logfile::{self, LogWriter, Naming, Rotation, Stamp};
use crate::service::LogSpec;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Backlog kept for a logger that is down or slow.
pub const LOGGER_BUFFER: usize = 1024 * 1024;
/// A logger is started again at most this often.
/// At the supervisor's exit, a live logger gets this long to take its
/// backlog.
pub const LOGGER_FINISH: Duration = Duration::from_secs(5);
pub const LOGGER_RESTART: Duration = Duration::from_secs(1);

/// One pipe from the service and where its lines go.
pub struct Stream {
    read: File,
    /// The write end handed to every start of the service.
    pub write: Rc<OwnedFd>,
    writer: Option<LogWriter>,
    to_logger: bool,
    retry_at: Option<Instant>,
}

/// The `logger:` command's input: a pipe whose write end the supervisor
/// feeds (non-blocking) and whose read end it keeps, so the pipe outlives
/// every logger process.
pub struct Logger {
    stdin: File,
    input: Rc<OwnedFd>,
    backlog: VecDeque<u8>,
}

impl Stream {
    /// Bytes waiting in the pipe (FIONREAD: no read, nothing consumed).
    fn waiting_bytes(&self) -> usize {
        crate::sys::fs::readable_bytes(self.read.as_fd())
    }
}

pub struct Output {
    pub streams: Vec<Stream>,
    pub logger: Option<Logger>,
    pub counts: Counts,
}

/// What went through, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Read from the service (lines: newlines seen).
    pub lines: u64,
    pub bytes: u64,
    /// Lines a destination never got (the logger's backlog overflowed, or
    /// it did not take its last lines at exit).
    pub dropped_lines: u64,
}

fn newlines<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> u64 {
    bytes.into_iter().filter(|&&b| b == b'\n').count() as u64
}

fn pipe() -> std::io::Result<(File, OwnedFd)> {
    let (r, w) = crate::sys::fs::pipe(true)?;
    // The service's end must block as a normal stdout would.
    nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()))
        .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
    Ok((File::from(r), w))
}

fn writer(spec: &LogSpec) -> std::io::Result<LogWriter> {
    let rotation = Rotation {
        size: spec.size,
        age: (!spec.age.is_zero()).then_some(spec.age),
        keep: spec.num as usize,
    };
    let stamp = if spec.timestamp { Stamp::Rfc3339 } else { Stamp::None };
    // `compress:`: each rotated file by a child of ours, never in the loop.
    let after = match &spec.compress {
        Some(c) => crate::rotated::After::Compress(c.clone()),
        None => crate::rotated::After::Keep,
    };
    LogWriter::open_with(&spec.file, Naming::Numbered, rotation, stamp, after)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", spec.file.display())))
}

impl Output {
    /// Pipes for the service's stdout (+stderr) and, with `stderr:`, its
    /// stderr apart; `None` when nothing is configured.
    pub fn new(
        log: Option<&LogSpec>,
        stderr: Option<&LogSpec>,
        logger: Option<&str>,
    ) -> std::io::Result<Option<Output>> {
        if log.is_none() && stderr.is_none() && logger.is_none() {
            return Ok(None);
        }
        let mut streams = Vec::new();
        let (r, w) = pipe()?;
        streams.push(Stream {
            read: r,
            write: Rc::new(w),
            writer: log.map(writer).transpose()?,
            to_logger: logger.is_some(),
            retry_at: None,
        });
        if let Some(spec) = stderr {
            let (r, w) = pipe()?;
            streams.push(Stream {
                read: r,
                write: Rc::new(w),
                writer: Some(writer(spec)?),
                to_logger: false,
                retry_at: None,
            });
        }
        let logger = match logger {
            Some(_) => {
                let (r, w) = crate::sys::fs::pipe(false)?;
                nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))
                    .map_err(|e| std::io::Error::from_raw_os_error(e as i32))?;
                Some(Logger {
                    stdin: File::from(w),
                    input: Rc::new(r),
                    backlog: VecDeque::new(),
                })
            }
            None => None,
        };
        Ok(Some(Output {
            streams,
            logger,
            counts: Counts::default(),
        }))
    }

    /// Stream `i` takes over another pipe (an adopted service's): its read
    /// end is read from now on, its write end is handed to later starts.
    pub fn replace_pipe(&mut self, i: usize, read: OwnedFd, write: OwnedFd) {
        if let Some(s) = self.streams.get_mut(i) {
            s.read = File::from(read);
            s.write = Rc::new(write);
        }
    }

    /// The read ends of the service's pipes, for their holder.
    pub fn read_ends(&self) -> Vec<BorrowedFd<'_>> {
        self.streams.iter().map(|s| s.read.as_fd()).collect()
    }

    /// The read end of the logger's pipe: the `logger:` unit's stdin.
    pub fn logger_input(&self) -> Option<Rc<OwnedFd>> {
        self.logger.as_ref().map(|l| l.input.clone())
    }

    /// The service's stdout and stderr.
    pub fn sinks(&self) -> (Rc<OwnedFd>, Rc<OwnedFd>) {
        let out = self.streams[0].write.clone();
        let err = self.streams.get(1).map_or_else(|| out.clone(), |s| s.write.clone());
        (out, err)
    }

    /// Descriptors to poll: (stream index or logger, fd, want write).
    pub fn poll_fds(&self) -> Vec<(Option<usize>, BorrowedFd<'_>, bool)> {
        let mut v = Vec::new();
        for (i, s) in self.streams.iter().enumerate() {
            if !self.held_back(i) {
                v.push((Some(i), s.read.as_fd(), false));
            }
        }
        if let Some(l) = &self.logger {
            if !l.backlog.is_empty() {
                v.push((None, l.stdin.as_fd(), true));
            }
        }
        v
    }

    /// Stream `i` is not read for now: its file writer is full, or the
    /// logger that is its only destination has a full backlog.
    fn held_back(&self, i: usize) -> bool {
        let s = &self.streams[i];
        match &s.writer {
            Some(w) => w.full(),
            None => s.to_logger && self.logger.as_ref().is_some_and(|l| l.backlog.len() >= LOGGER_BUFFER),
        }
    }

    /// The logger is the only destination of some stream: its lines must
    /// not be dropped.
    fn logger_is_the_log(&self) -> bool {
        self.streams.iter().any(|s| s.to_logger && s.writer.is_none())
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.streams.iter().filter_map(|s| s.retry_at).min()
    }

    /// Read what stream `i` has; returns errors to report.
    pub fn on_readable(&mut self, i: usize) -> Vec<String> {
        let mut buf = [0u8; 64 * 1024];
        let mut errors = Vec::new();
        for _ in 0..16 {
            let n = match self.streams[i].read.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break, // WouldBlock
            };
            self.counts.bytes += n as u64;
            self.counts.lines += newlines(&buf[..n]);
            let s = &mut self.streams[i];
            if let Some(w) = &mut s.writer {
                w.push(&buf[..n]);
            }
            if s.to_logger {
                if let Some(l) = &mut self.logger {
                    l.backlog.extend(&buf[..n]);
                }
            }
            if self.held_back(i) {
                break;
            }
        }
        self.flush(i, &mut errors);
        self.feed_logger();
        errors
    }

    fn flush(&mut self, i: usize, errors: &mut Vec<String>) {
        let s = &mut self.streams[i];
        let Some(w) = &mut s.writer else { return };
        errors.extend(w.take_notes());
        match w.flush() {
            Ok(()) => s.retry_at = None,
            Err(_) => {
                s.retry_at = Some(Instant::now() + logfile::RETRY);
                if let Some(e) = w.take_error() {
                    errors.push(format!("{e} (the service's output waits; retrying every second)"));
                }
            }
        }
    }

    /// Compress what a crash left (the loop reaps children now).
    pub fn resume(&mut self) {
        for w in self.streams.iter_mut().filter_map(|s| s.writer.as_mut()) {
            w.resume();
        }
    }

    /// A child ended: if it was compressing a rotated file of ours, the
    /// lines that waited for that are written now; the errors to report.
    /// `None`: not ours.
    pub fn child_ended(&mut self, pid: nix::unistd::Pid, how: crate::sys::process::ExitHow) -> Option<Vec<String>> {
        let i = self
            .streams
            .iter_mut()
            .position(|s| s.writer.as_mut().is_some_and(|w| w.child_ended(pid, how)))?;
        let mut errors = Vec::new();
        self.flush(i, &mut errors);
        Some(errors)
    }

    /// Deadlines passed: retry failed writes; returns errors to report.
    pub fn on_timer(&mut self) -> Vec<String> {
        let now = Instant::now();
        let mut errors = Vec::new();
        for i in 0..self.streams.len() {
            if self.streams[i].retry_at.is_some_and(|t| t <= now) {
                self.flush(i, &mut errors);
            }
        }
        errors
    }

    /// Give the logger what it can take now; keep at most LOGGER_BUFFER.
    pub fn feed_logger(&mut self) {
        let lossless = self.logger_is_the_log();
        let Some(l) = &mut self.logger else { return };
        if l.backlog.len() > LOGGER_BUFFER && !lossless {
            // Drop the oldest, at a line boundary.
            let excess = l.backlog.len() - LOGGER_BUFFER;
            let cut = l
                .backlog
                .iter()
                .skip(excess)
                .position(|&b| b == b'\n')
                .map_or(excess, |p| excess + p + 1);
            let cut = cut.min(l.backlog.len());
            // A line cut in two counts as dropped.
            self.counts.dropped_lines += newlines(l.backlog.range(..cut)).max(1);
            l.backlog.drain(..cut);
        }
        while !l.backlog.is_empty() {
            let (front, _) = l.backlog.as_slices();
            match l.stdin.write(front) {
                Ok(0) => break,
                Ok(n) => {
                    l.backlog.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // We hold the read end: no EPIPE; anything else, try later.
                Err(_) => break,
            }
        }
    }

    /// The service's main process has exited: what it wrote is all in the
    /// pipes now. Take it, and end a final unterminated line with a newline
    /// at once — not whenever the supervisor itself exits.
    pub fn run_ended(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        for i in 0..self.streams.len() {
            // Until the pipe is empty, its destination pushes back, or a
            // read makes no progress (never spin here).
            let mut waiting = self.streams[i].waiting_bytes();
            while waiting > 0 && !self.held_back(i) {
                errors.extend(self.on_readable(i));
                let left = self.streams[i].waiting_bytes();
                if left >= waiting {
                    break;
                }
                waiting = left;
            }
            if let Some(w) = &mut self.streams[i].writer {
                w.finish();
            }
            self.flush(i, &mut errors);
        }
        // The logger gets the bytes as they are (it has had them all along).
        self.feed_logger();
        errors
    }

    /// The supervisor exits: take what is left in the pipes, end partial
    /// lines, write everything; give a live logger up to `grace` to take
    /// its backlog (it gets end-of-file when the supervisor is gone).
    pub fn finish(&mut self, grace: Duration, logger_alive: bool) -> Vec<String> {
        let mut errors = Vec::new();
        let deadline = Instant::now() + grace;
        loop {
            let before = self.logger.as_ref().map_or(0, |l| l.backlog.len());
            for i in 0..self.streams.len() {
                errors.extend(self.on_readable(i));
            }
            let Some(l) = &self.logger else { break };
            if !logger_alive {
                break;
            }
            let stdin = &l.stdin;
            if l.backlog.is_empty() || Instant::now() >= deadline {
                if !l.backlog.is_empty() {
                    self.counts.dropped_lines += newlines(&l.backlog).max(1);
                    errors.push(format!(
                        "the logger did not take the last {} bytes in time",
                        l.backlog.len()
                    ));
                }
                break;
            }
            if l.backlog.len() >= before {
                // No progress: wait until the logger can take more.
                let mut fds = [nix::poll::PollFd::new(stdin.as_fd(), nix::poll::PollFlags::POLLOUT)];
                let _ = nix::poll::poll(&mut fds, crate::sys::timeout_until(Some(deadline)));
            }
        }
        for i in 0..self.streams.len() {
            if let Some(w) = &mut self.streams[i].writer {
                w.finish();
                // Nothing waits for a compression now: the last lines go
                // into the file, past its size if they must.
                w.closing();
            }
            self.flush(i, &mut errors);
        }
        errors
    }
}
