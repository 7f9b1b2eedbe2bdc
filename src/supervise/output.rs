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
//!
//! A `kill -9` of the supervisor loses nothing it has read. Each chunk
//! read (at most 64 KiB) reaches its destination before the next is read:
//! written to the file, or handed to the logger. Where the pipe outlives
//! the supervisor (Linux: the holder, [`crate::sys::hold`], and
//! `/proc/PID/fd` for the next supervisor to reopen it), the chunk is not
//! even taken from it until then: a `tee(2)` copy into a pipe of the
//! supervisor's own is read, its whole lines written, and only as many
//! bytes are then read out of the service's pipe. A kill between the two
//! leaves them in the pipe, and the next supervisor writes them again:
//! the worst a kill does is write one chunk twice. An unterminated line
//! alone in the pipe (the rest not written yet) is written as it is
//! rather than kept in memory until its end; the supervise directory's
//! `open-line` record says whether the next supervisor continues it (its
//! bytes had left the pipe) or ends it with a newline (they had not, or
//! the kill cut the write: the pipe gives them again). A logger that is
//! the only destination takes straight from the pipe; what it cannot take
//! yet stays there. Elsewhere the pipe is read itself, and a kill loses
//! at most the chunk being written and an unterminated line — there the
//! next supervisor does not read the pipe again anyway.

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
    /// Where the pipe outlives the supervisor (Linux: its holder, and
    /// `/proc/PID/fd` to reopen it), a pipe of the supervisor's own that
    /// `tee(2)` copies the service's pipe into: what is read from the copy
    /// is taken from the service's pipe only once it is written (see
    /// [`Output::on_readable`]). `None`: the service's pipe is read itself.
    copy: Option<(File, OwnedFd)>,
    /// With a copy pipe, `/dev/null`, where what was used is taken to
    /// ([`crate::sys::fs::discard`]: no byte copied); `None`: read out.
    null: Option<File>,
    writer: Option<LogWriter>,
    to_logger: bool,
    retry_at: Option<Instant>,
    /// The pipe is an adopted service's, reopened: what its file's last
    /// line lacks comes from it.
    reopened: bool,
    /// With a copy pipe and a file: the record of where the file's
    /// unterminated last line ended when its bytes were taken from the
    /// pipe ([`crate::layout::OPEN_LINE`]), and the record opened.
    open_line: Option<(std::path::PathBuf, Option<File>)>,
}

/// The `logger:` command's input: a pipe whose write end the supervisor
/// feeds (non-blocking) and whose read end it keeps, so the pipe outlives
/// every logger process.
pub struct Logger {
    stdin: File,
    input: Rc<OwnedFd>,
    backlog: VecDeque<u8>,
    /// The logger's pipe was full (a write would block) and has not been
    /// seen writable since: a stream whose only destination is the logger
    /// waits (see [`Output::logger_writable`]).
    full: bool,
}

impl Stream {
    fn new(
        read: File,
        write: OwnedFd,
        writer: Option<LogWriter>,
        to_logger: bool,
        open_line: Option<std::path::PathBuf>,
    ) -> std::io::Result<Stream> {
        // What the supervisor has read must survive its `kill -9` where
        // the next supervisor reads the same pipe: a copy read first, the
        // pipe itself emptied only of what was written.
        let copy = if crate::sys::fs::TEE && crate::sys::system::capabilities().reopen_fds {
            let (r, w) = crate::sys::fs::pipe(true)?;
            Some((File::from(r), w))
        } else {
            None
        };
        let null = match &copy {
            Some(_) => std::fs::OpenOptions::new().write(true).open("/dev/null").ok(),
            None => None,
        };
        let mut writer = writer;
        let mut record = None;
        if copy.is_some() {
            if let Some(w) = &mut writer {
                w.write_partial_lines();
                record = open_line.map(|path| (path, None));
            }
        }
        Ok(Stream {
            read,
            write: Rc::new(write),
            copy,
            null,
            writer,
            to_logger,
            retry_at: None,
            reopened: false,
            open_line: record,
        })
    }

    /// Bytes waiting in the pipe (FIONREAD: no read, nothing consumed).
    fn waiting_bytes(&self) -> usize {
        crate::sys::fs::readable_bytes(self.read.as_fd())
    }

    /// The next bytes of the pipe into `buf`: with a copy pipe, still in
    /// the service's pipe until [`Stream::take`]; without, taken already.
    /// `Ok(0)`: nothing to read.
    fn peek(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some((copy, copy_in)) = &mut self.copy else {
            return match self.read.read(buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(0),
                other => other,
            };
        };
        let n = match crate::sys::fs::tee(self.read.as_fd(), copy_in.as_fd(), buf.len()) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(0),
            other => other?,
        };
        // All of it is in the copy pipe, empty before: read it whole, so
        // that it is empty again.
        let mut got = 0;
        while got < n {
            match copy.read(&mut buf[got..n]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if got < n {
            // Never seen: the copy would hold stale bytes. Read the
            // service's pipe itself from now on (nothing was taken yet).
            self.copy = None;
            self.null = None;
            return Ok(0);
        }
        Ok(n)
    }

    /// Of the `n` bytes [`Stream::peek`] gave, how many to use now: with a
    /// copy pipe, whole lines only (a line's start stays in the pipe and
    /// comes again with its end), unless there is no newline at all (an
    /// unterminated line is written as it is: the pipe is left with
    /// nothing that would make the loop read it again at once).
    fn usable(&self, chunk: &[u8]) -> usize {
        match &self.copy {
            Some(_) => crate::sys::bytes::memrchr(b'\n', chunk).map_or(chunk.len(), |nl| nl + 1),
            None => chunk.len(),
        }
    }

    /// After a take: if the file now ends inside a line, record where
    /// (best effort: without the record, a later supervisor ends that line
    /// rather than continue it — a line cut in two, nothing lost).
    fn record_open_line(&mut self) {
        let (Some(w), Some((path, file))) = (&self.writer, &mut self.open_line) else {
            return;
        };
        let Some((dev, ino, size)) = w.open_line_at() else {
            return;
        };
        if file.is_none() {
            *file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&*path)
                .ok();
        }
        if let Some(f) = file {
            use std::os::unix::fs::FileExt;
            // Fixed width: each record overwrites the last whole, in one
            // write that a kill does not cut.
            let _ = f.write_all_at(format!("{dev:020} {ino:020} {size:020}\n").as_bytes(), 0);
        }
    }

    /// Whether the file ends where the record says its open line ended
    /// when its bytes were taken: the line is to be continued.
    fn open_line_recorded(&self) -> bool {
        let (Some(w), Some((path, _))) = (&self.writer, &self.open_line) else {
            return false;
        };
        let Some((dev, ino, size)) = w.open_line_at() else {
            return false;
        };
        std::fs::read_to_string(path).is_ok_and(|text| text.trim_end() == format!("{dev:020} {ino:020} {size:020}"))
    }

    /// Take `n` bytes out of the pipe (with a copy pipe: the first `n` of
    /// what the last peek gave, used now: into `/dev/null`, or read out
    /// into `buf`).
    fn take(&mut self, mut n: usize, buf: &mut [u8]) {
        if self.copy.is_none() {
            return;
        }
        while n > 0 {
            let want = n.min(buf.len());
            let taken = match &self.null {
                Some(null) => crate::sys::fs::discard(self.read.as_fd(), null.as_fd(), want),
                None => self.read.read(&mut buf[..want]),
            };
            match taken {
                Ok(0) => return,
                Ok(k) => n -= k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // /dev/null refuses: read them out instead.
                Err(_) if self.null.is_some() => self.null = None,
                // Not there any more (nobody else reads this pipe): the
                // next peek starts wherever the pipe is.
                Err(_) => return,
            }
        }
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
    /// stderr apart; `None` when nothing is configured. `dir`: the
    /// supervise directory, for the open-line records.
    pub fn new(
        log: Option<&LogSpec>,
        stderr: Option<&LogSpec>,
        logger: Option<&str>,
        dir: Option<&std::path::Path>,
    ) -> std::io::Result<Option<Output>> {
        if log.is_none() && stderr.is_none() && logger.is_none() {
            return Ok(None);
        }
        let mut streams = Vec::new();
        let record = |name: &str| dir.map(|d| d.join(name));
        let (r, w) = pipe()?;
        streams.push(Stream::new(
            r,
            w,
            log.map(writer).transpose()?,
            logger.is_some(),
            record(crate::layout::OPEN_LINE),
        )?);
        if let Some(spec) = stderr {
            let (r, w) = pipe()?;
            streams.push(Stream::new(
                r,
                w,
                Some(writer(spec)?),
                false,
                record(crate::layout::OPEN_LINE_STDERR),
            )?);
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
                    full: false,
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
            s.reopened = true;
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
            if !l.backlog.is_empty() || l.full {
                v.push((None, l.stdin.as_fd(), true));
            }
        }
        v
    }

    /// Stream `i` is not read for now: its file writer is full (with a
    /// copy pipe: has anything queued, a failing disk), or the logger that
    /// is its only destination has a full backlog (with a copy pipe: a
    /// full pipe).
    fn held_back(&self, i: usize) -> bool {
        let s = &self.streams[i];
        let copy = s.copy.is_some();
        match &s.writer {
            Some(w) => w.full() || (copy && w.pending() > 0),
            None => {
                s.to_logger
                    && self.logger.as_ref().is_some_and(|l| {
                        l.backlog.len() >= LOGGER_BUFFER || (copy && (l.full || !l.backlog.is_empty()))
                    })
            }
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
    ///
    /// Each chunk read reaches its destination before the next is read:
    /// the file (written), the logger's pipe when it is the only
    /// destination (with a copy pipe), else the logger's backlog. With a
    /// copy pipe the chunk is taken from the service's pipe only then, so
    /// a `kill -9` at any moment loses nothing of it: the next supervisor
    /// reads it again (what was written before the kill, at most this one
    /// chunk, is then written twice).
    pub fn on_readable(&mut self, i: usize) -> Vec<String> {
        let mut buf = [0u8; 64 * 1024];
        let mut errors = Vec::new();
        for _ in 0..16 {
            if self.held_back(i) {
                break;
            }
            let n = match self.streams[i].peek(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let usable = self.streams[i].usable(&buf[..n]);
            let used = self.deliver(i, &buf[..usable], &mut errors);
            self.counts.bytes += used as u64;
            self.counts.lines += newlines(&buf[..used]);
            self.streams[i].take(used, &mut buf);
            self.streams[i].record_open_line();
            // Nothing taken (the destination is full), or the pipe held
            // less than a buffer and all of it was used: nothing more now
            // (what comes later wakes the poll).
            if used == 0 || (used == n && n < buf.len()) {
                break;
            }
        }
        self.feed_logger();
        errors
    }

    /// Hand `data` (read from stream `i`) to its destinations: what they
    /// took (all of it, unless the logger is the only destination and its
    /// pipe is full).
    fn deliver(&mut self, i: usize, data: &[u8], errors: &mut Vec<String>) -> usize {
        let s = &mut self.streams[i];
        let lossless_logger = s.copy.is_some() && s.writer.is_none();
        if let Some(w) = &mut s.writer {
            w.push(data);
        }
        if self.streams[i].writer.is_some() {
            self.flush(i, errors);
        }
        if !self.streams[i].to_logger {
            return data.len();
        }
        let Some(l) = &mut self.logger else { return data.len() };
        if !lossless_logger {
            l.backlog.extend(data);
            return data.len();
        }
        // Straight into the logger's pipe; what it cannot take now stays
        // in the service's pipe.
        let mut sent = 0;
        while sent < data.len() {
            match l.stdin.write(&data[sent..]) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // WouldBlock, or anything else: try when it is writable.
                Err(_) => break,
            }
        }
        if sent < data.len() {
            l.full = true;
        }
        sent
    }

    /// The logger's pipe can take more: feed it; streams that waited for
    /// it are read again.
    pub fn logger_writable(&mut self) {
        if let Some(l) = &mut self.logger {
            l.full = false;
        }
        self.feed_logger();
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

    /// Compress what a crash left (the loop reaps children now). A log
    /// file that ends inside a line (written by a supervisor killed before
    /// the line's end came) is continued when the pipe it came from is
    /// read again (an adopted service's, reopened) and the line's bytes
    /// were taken from it (the record says the file ends where it ended
    /// then); else that line is ended now — no other output is glued to
    /// it, nor the same bytes again when the kill cut the write and the
    /// pipe still has them. Returns errors to report.
    pub fn resume(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        for i in 0..self.streams.len() {
            let continued = self.streams[i].reopened && self.streams[i].open_line_recorded();
            let Some(w) = self.streams[i].writer.as_mut() else {
                continue;
            };
            w.resume();
            if !continued && w.mid_line() {
                w.finish();
                self.flush(i, &mut errors);
            }
        }
        errors
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
            errors.extend(self.drain(i));
            if let Some(w) = &mut self.streams[i].writer {
                w.finish();
            }
            self.flush(i, &mut errors);
        }
        // The logger gets the bytes as they are (it has had them all along).
        self.feed_logger();
        errors
    }

    /// Read stream `i` until its pipe is empty, its destination pushes
    /// back, or a read makes no progress (never spin here).
    fn drain(&mut self, i: usize) -> Vec<String> {
        let mut errors = Vec::new();
        let mut waiting = self.streams[i].waiting_bytes();
        while waiting > 0 && !self.held_back(i) {
            errors.extend(self.on_readable(i));
            let left = self.streams[i].waiting_bytes();
            if left >= waiting {
                break;
            }
            waiting = left;
        }
        errors
    }

    /// Bytes the logger has yet to take: its backlog, and (with a copy
    /// pipe) what waits for it in the service's pipe, unless `kept` (the
    /// service runs on: the next supervisor reads its pipe).
    fn logger_pending(&self, kept: bool) -> usize {
        let Some(l) = &self.logger else { return 0 };
        let in_pipes: usize = self
            .streams
            .iter()
            .filter(|s| !kept && s.to_logger && s.writer.is_none() && s.copy.is_some())
            .map(Stream::waiting_bytes)
            .sum();
        l.backlog.len() + in_pipes
    }

    /// The supervisor exits: take what is left in the pipes, write
    /// everything; give a live logger up to `grace` to take its backlog
    /// (it gets end-of-file when the supervisor is gone). Partial lines
    /// are ended, unless `left_running` (`exit`: the service runs on) and
    /// they are in the file already: the next supervisor continues them.
    pub fn finish(&mut self, grace: Duration, logger_alive: bool, left_running: bool) -> Vec<String> {
        let mut errors = Vec::new();
        let deadline = Instant::now() + grace;
        loop {
            let before = self.logger_pending(left_running);
            for i in 0..self.streams.len() {
                errors.extend(self.drain(i));
            }
            if self.logger.is_none() || !logger_alive {
                break;
            }
            let pending = self.logger_pending(left_running);
            if pending == 0 || Instant::now() >= deadline {
                if let Some(l) = self.logger.as_ref().filter(|_| pending > 0) {
                    self.counts.dropped_lines += newlines(&l.backlog).max(1);
                    errors.push(format!("the logger did not take the last {pending} bytes in time"));
                }
                break;
            }
            if pending >= before {
                // No progress: wait until the logger can take more.
                if let Some(l) = &mut self.logger {
                    let mut fds = [nix::poll::PollFd::new(l.stdin.as_fd(), nix::poll::PollFlags::POLLOUT)];
                    let _ = nix::poll::poll(&mut fds, crate::sys::timeout_until(Some(deadline)));
                    l.full = false;
                }
                self.feed_logger();
            }
        }
        for i in 0..self.streams.len() {
            let keep_partial = left_running && self.streams[i].copy.is_some();
            if let Some(w) = &mut self.streams[i].writer {
                if !keep_partial {
                    w.finish();
                }
                // Nothing waits for a compression now: the last lines go
                // into the file, past its size if they must.
                w.closing();
            }
            self.flush(i, &mut errors);
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Where the pipe outlives the supervisor: the copy pipe is used.
    fn copies() -> bool {
        crate::sys::fs::TEE && crate::sys::system::capabilities().reopen_fds
    }

    fn spec(file: &Path) -> LogSpec {
        LogSpec {
            file: file.to_path_buf(),
            age: Duration::ZERO,
            num: 1,
            size: 0,
            timestamp: false,
            compress: None,
        }
    }

    /// Write to the service's end of stream `i`'s pipe.
    fn service_writes(o: &Output, i: usize, bytes: &[u8]) {
        let mut w = File::from(o.streams[i].write.try_clone().unwrap());
        w.write_all(bytes).unwrap();
    }

    #[test]
    fn a_line_left_unterminated_is_continued_by_the_next_supervisor_only_where_it_ended() {
        if !copies() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("out.log");
        let mut first = Output::new(Some(&spec(&log)), None, None, Some(d.path()))
            .unwrap()
            .unwrap();
        assert!(first.resume().is_empty());
        service_writes(&first, 0, b"one\ntw");
        assert!(first.on_readable(0).is_empty());
        // In the file at once, and taken from the pipe.
        assert_eq!(fs_text(&log), "one\ntw");
        assert_eq!(first.streams[0].waiting_bytes(), 0);
        // The next supervisor (the first killed) reads the same pipe.
        let adopt = |o: &mut Output, from: &Output| {
            let read = from.streams[0].read.try_clone().unwrap();
            let write = from.streams[0].write.try_clone().unwrap();
            o.replace_pipe(0, read.into(), write);
        };
        let mut second = Output::new(Some(&spec(&log)), None, None, Some(d.path()))
            .unwrap()
            .unwrap();
        adopt(&mut second, &first);
        assert!(second.resume().is_empty());
        service_writes(&second, 0, b"o\n");
        second.on_readable(0);
        assert_eq!(fs_text(&log), "one\ntwo\n");
        // A file that does not end where the record says (a kill cut the
        // write: the pipe gives those bytes again) gets its line ended.
        service_writes(&second, 0, b"thr");
        second.on_readable(0);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(b"ee")
            .unwrap();
        let mut third = Output::new(Some(&spec(&log)), None, None, Some(d.path()))
            .unwrap()
            .unwrap();
        adopt(&mut third, &second);
        assert!(third.resume().is_empty());
        assert_eq!(fs_text(&log), "one\ntwo\nthree\n");
        // Without the pipe read again (a fresh start), it is ended too.
        service_writes(&third, 0, b"four");
        third.on_readable(0);
        let mut fresh = Output::new(Some(&spec(&log)), None, None, Some(d.path()))
            .unwrap()
            .unwrap();
        assert!(fresh.resume().is_empty());
        assert_eq!(fs_text(&log), "one\ntwo\nthree\nfour\n");
    }

    fn fs_text(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn what_a_full_logger_cannot_take_stays_in_the_services_pipe() {
        if !copies() {
            return;
        }
        let mut o = Output::new(None, None, Some("cat"), None).unwrap().unwrap();
        let mut sent = Vec::new();
        for k in 0..2u8 {
            let chunk: Vec<u8> = (0..40 * 1024)
                .map(|j| b'a' + ((j / 100 + usize::from(k)) % 26) as u8)
                .collect();
            service_writes(&o, 0, &chunk);
            sent.extend(chunk);
            o.on_readable(0);
        }
        // The logger's pipe (64 KiB) is full, nobody reads it: the rest is
        // in the service's pipe, none in the supervisor's memory, and the
        // stream is not polled until the logger's pipe is writable.
        let logger = o.logger.as_ref().unwrap();
        assert!(logger.full && logger.backlog.is_empty());
        assert_eq!(o.streams[0].waiting_bytes(), 80 * 1024 - 64 * 1024);
        assert!(o.poll_fds().iter().all(|(which, _, write)| which.is_none() && *write));
        // The logger reads: the rest follows, in order.
        let mut input = File::from(o.logger_input().unwrap().try_clone().unwrap());
        let mut got = vec![0u8; 64 * 1024];
        input.read_exact(&mut got).unwrap();
        o.logger_writable();
        assert!(o.poll_fds().iter().any(|(which, _, _)| *which == Some(0)));
        o.on_readable(0);
        assert_eq!(o.streams[0].waiting_bytes(), 0);
        let mut rest = vec![0u8; 16 * 1024];
        input.read_exact(&mut rest).unwrap();
        got.extend(rest);
        assert!(got == sent, "the logger got the bytes in another order");
    }
}
