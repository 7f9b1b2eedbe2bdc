//! The one log writer, used by `immortal` (`log:`, `stderr:`, `-l`) and by
//! `immortallog`: every complete line ends up exactly once in the log file
//! set, whatever the writer's speed, the rotation or a failing disk.
//!
//! - Input arrives in arbitrary chunks ([`LogWriter::push`]); complete lines
//!   are stamped (one clock read per chunk) and queued; an incomplete tail
//!   waits for its newline — or, [`LogWriter::write_partial_lines`] (the
//!   supervisor's, whose pipe a later supervisor reads again), is queued at
//!   once, stamped at its start, and what follows continues it; a rotation
//!   then waits for the line's end. A line longer than [`MAX_LINE`] is
//!   split, never dropped; a final unterminated line gets a newline at
//!   [`LogWriter::finish`].
//! - [`LogWriter::flush`] writes the queue in large writes, rotating at line
//!   boundaries when the size or age limit would be passed.
//! - Rotation protocol: start the write-back of `current`, rename it to its
//!   rotated name, open a new `current`, then prune the oldest. At every
//!   moment a complete file holds every line written so far. What follows
//!   the rename — the names, the pruning, a child that compresses or
//!   processes the rotated file — is [`crate::rotated`]'s; while that child
//!   works the next rotation waits. Compressing (the supervisor's
//!   `compress:`), the lines go on into `current` meanwhile, past its size
//!   if they must: none waits in memory, where a `kill -9` would lose it
//!   (the pipe holds what is not read yet). Processing (svlogd's and
//!   multilog's `!processor`), they wait as with svlogd and multilog, which
//!   block: queued, and [`LogWriter::full`] stops the caller's reading at
//!   once, so the input waits in its pipe. Closing ([`LogWriter::closing`]),
//!   nothing waits.
//! - A failed write keeps the unwritten lines queued; the caller retries
//!   after [`RETRY`] and stops reading its input while [`LogWriter::full`]
//!   (the writer sees back-pressure). Nothing is dropped.
//!
//! Naming: `Numbered` is the Go immortal's (`FILE.0` newest … `FILE.{n-1}`);
//! `Tai64n` is multilog/svlogd's (`DIR/current`, rotated to
//! `DIR/@<tai64n>.s`, readable by `tai64nlocal`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Lines up to this long are kept whole; longer ones are split.
pub const MAX_LINE: usize = 2 * 1024 * 1024;
/// How long to wait before retrying a failed write.
pub const RETRY: Duration = Duration::from_secs(1);
/// Queue size beyond which the caller should stop reading its input.
pub const HIGH_WATER: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Numbered,
    Tai64n,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    None,
    /// `2026-11-26T22:04:41.123456Z ` (Go immortal's `timestamp: true`).
    Rfc3339,
    /// `@4000…` (multilog `t`, svlogd `-t`).
    Tai64n,
    /// `2026-11-26_22:04:41.12345 ` (svlogd `-tt`).
    Svlogd,
    /// `2026-11-26T22:04:41.12345 ` (svlogd `-ttt`).
    SvlogdT,
}

/// Index of the first newline (glibc's vectorised memchr).
fn find_newline(data: &[u8]) -> Option<usize> {
    crate::sys::bytes::memchr(b'\n', data)
}

/// Index of the last newline.
fn rfind_newline(data: &[u8]) -> Option<usize> {
    crate::sys::bytes::memrchr(b'\n', data)
}

impl Stamp {
    /// The stamp put before a line that started at `now` (with its space).
    pub fn render(self, now: SystemTime) -> String {
        use crate::timefmt;
        match self {
            Stamp::None => String::new(),
            Stamp::Rfc3339 => timefmt::rfc3339(now) + " ",
            Stamp::Tai64n => timefmt::tai64n(now) + " ",
            Stamp::Svlogd => timefmt::svlogd(now, '_') + " ",
            Stamp::SvlogdT => timefmt::svlogd(now, 'T') + " ",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a line would make `current` larger; 0: never.
    pub size: u64,
    /// Rotate when `current` is older than this; `None`: never.
    pub age: Option<Duration>,
    /// Rotated files kept (at least 1).
    pub keep: usize,
}

pub struct LogWriter {
    current: PathBuf,
    rotation: Rotation,
    stamp: Stamp,
    file: Option<File>,
    size: u64,
    started: SystemTime,
    partial: Vec<u8>,
    queue: Vec<u8>,
    last_error: Option<String>,
    /// Writes are failing (the error was reported once).
    failing: bool,
    /// The rotated files' names and what becomes of them.
    finisher: crate::rotated::Finisher,
    /// A rotation was asked for while the last rotated file was busy.
    want_rotate: bool,
    /// Lines never wait for a rotation: they go on into `current` (while
    /// compressing, and when closing).
    overflow: bool,
    /// Lines wait for a rotation now.
    waiting: bool,
    /// An unterminated line is written at once, not kept until its end
    /// ([`LogWriter::write_partial_lines`]).
    through: bool,
    /// `through`: the last line queued has no newline yet; what comes next
    /// continues it (no stamp).
    open: bool,
    /// `through`: bytes of that open line queued so far.
    open_len: usize,
    /// `current` ends inside a line: its rest goes there too, before any
    /// rotation.
    file_mid_line: bool,
    /// `current`'s device and inode.
    id: (u64, u64),
}

impl LogWriter {
    /// Log to `current` (appending to what is there).
    pub fn open(current: &Path, naming: Naming, rotation: Rotation, stamp: Stamp) -> io::Result<LogWriter> {
        Self::open_with(current, naming, rotation, stamp, crate::rotated::After::Keep)
    }

    /// [`LogWriter::open`], the rotated files compressed or processed as
    /// `after` says (what a crash left is finished first: see
    /// [`crate::rotated`]).
    pub fn open_with(
        current: &Path,
        naming: Naming,
        rotation: Rotation,
        stamp: Stamp,
        after: crate::rotated::After,
    ) -> io::Result<LogWriter> {
        let overflow = !matches!(after, crate::rotated::After::Process(_));
        let finisher = crate::rotated::Finisher::open(current, naming, rotation.keep, after);
        let mut w = LogWriter {
            current: current.to_path_buf(),
            rotation: Rotation {
                keep: rotation.keep.max(1),
                ..rotation
            },
            stamp,
            file: None,
            size: 0,
            started: SystemTime::now(),
            partial: Vec::new(),
            queue: Vec::new(),
            last_error: None,
            failing: false,
            finisher,
            want_rotate: false,
            overflow,
            waiting: false,
            through: false,
            open: false,
            open_len: 0,
            file_mid_line: false,
            id: (0, 0),
        };
        w.open_current()?;
        Ok(w)
    }

    fn open_current(&mut self) -> io::Result<()> {
        let f = OpenOptions::new().create(true).append(true).open(&self.current)?;
        let meta = f.metadata()?;
        self.size = meta.len();
        self.id = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        self.started = if self.size == 0 {
            SystemTime::now()
        } else {
            meta.modified().unwrap_or_else(|_| SystemTime::now())
        };
        self.file_mid_line = self.through && self.size > 0 && ends_mid_line(&self.current, self.size);
        self.file = Some(f);
        Ok(())
    }

    /// From now on an unterminated line is written at once (what comes
    /// later continues it in the file), not kept in memory until its end:
    /// a writer whose input can be read again after its own `kill -9` (the
    /// supervisor's, through the pipe's holder) loses nothing it has
    /// taken. A `current` that ends inside a line is taken as that line,
    /// to be continued; [`LogWriter::finish`] ends it instead.
    pub fn write_partial_lines(&mut self) {
        self.through = true;
        self.file_mid_line = self.size > 0 && ends_mid_line(&self.current, self.size);
        self.open = self.file_mid_line;
        self.open_len = 0;
    }

    /// Take raw input; queue its complete lines, stamped.
    pub fn push(&mut self, data: &[u8]) {
        self.push_at(data, SystemTime::now());
    }

    /// [`LogWriter::push`] with the clock read by the caller: the lines
    /// completed by `data` are stamped `now` (one clock read for several
    /// writers, or a line's start time kept by a filtering caller).
    pub fn push_at(&mut self, mut data: &[u8], now: SystemTime) {
        if data.is_empty() {
            return;
        }
        let stamp = self.stamp.render(now);
        while let Some(nl) = find_newline(data) {
            let (line, rest) = data.split_at(nl + 1);
            if !self.open {
                self.queue.extend_from_slice(stamp.as_bytes());
            }
            self.queue.extend_from_slice(&self.partial);
            self.queue.extend_from_slice(line);
            self.partial.clear();
            self.open = false;
            self.open_len = 0;
            data = rest;
        }
        self.partial.extend_from_slice(data);
        while self.open_len + self.partial.len() >= MAX_LINE {
            // Too long to wait for its end: write it as a line of its own.
            let tail = self.partial.split_off(MAX_LINE - self.open_len);
            if !self.open {
                self.queue.extend_from_slice(stamp.as_bytes());
            }
            self.queue.append(&mut self.partial);
            self.queue.push(b'\n');
            self.partial = tail;
            self.open = false;
            self.open_len = 0;
        }
        if self.through && !self.partial.is_empty() {
            if !self.open {
                self.queue.extend_from_slice(stamp.as_bytes());
            }
            self.open_len += self.partial.len();
            self.queue.append(&mut self.partial);
            self.open = true;
        }
    }

    /// End of input: a final unterminated line is written with a newline.
    pub fn finish(&mut self) {
        if self.mid_line() {
            self.push(b"\n");
        }
    }

    /// An unterminated line is waiting for its end.
    pub fn mid_line(&self) -> bool {
        !self.partial.is_empty() || self.open
    }

    /// Where `current` ends inside a line with nothing queued (device,
    /// inode, size): what was written last is an unterminated line.
    pub fn open_line_at(&self) -> Option<(u64, u64, u64)> {
        (self.file_mid_line && self.queue.is_empty() && self.file.is_some())
            .then_some((self.id.0, self.id.1, self.size))
    }

    /// New limits (svlogd's `config` read again at SIGHUP); they apply from
    /// the next write on.
    pub fn set_rotation(&mut self, rotation: Rotation) {
        self.rotation = Rotation {
            keep: rotation.keep.max(1),
            ..rotation
        };
        self.finisher.set_keep(self.rotation.keep);
    }

    /// Another processor (svlogd's `config` read again), from the next
    /// rotation on.
    pub fn set_after(&mut self, after: crate::rotated::After) {
        self.finisher.set_after(after);
    }

    /// Start finishing the rotated files a crash left (see
    /// [`crate::rotated`]), once the caller reaps its children.
    pub fn resume(&mut self) {
        self.finisher.resume();
    }

    /// The child finishing the last rotated file, if one runs.
    pub fn child(&self) -> Option<nix::unistd::Pid> {
        self.finisher.child()
    }

    /// A child ended: `false` if it is not this writer's. Flush after it:
    /// lines may have waited for the rotation.
    pub fn child_ended(&mut self, pid: nix::unistd::Pid, how: crate::sys::process::ExitHow) -> bool {
        self.finisher.ended(pid, how)
    }

    /// A rotated file is being finished (a child runs, or a failed
    /// processor waits to run again).
    pub fn finishing(&self) -> bool {
        self.finisher.busy()
    }

    /// When a failed processor runs again ([`LogWriter::on_timer`]).
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.finisher.deadline()
    }

    pub fn on_timer(&mut self, now: std::time::Instant) {
        self.finisher.on_timer(now);
    }

    /// What went wrong finishing rotated files, each once.
    pub fn take_notes(&mut self) -> Vec<String> {
        self.finisher.take_notes()
    }

    /// The writer closes soon: from now on lines never wait for a
    /// rotation (they go on into `current`, past its size).
    pub fn closing(&mut self) {
        self.overflow = true;
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Stop reading input until the queue drains (a failing disk, or
    /// lines waiting for a processor to finish the last rotated file).
    pub fn full(&self) -> bool {
        self.queue.len() >= HIGH_WATER || self.waiting
    }

    /// The error that started the current run of failed writes, once (to
    /// log it once, not at every retry).
    pub fn take_error(&mut self) -> Option<String> {
        self.last_error.take()
    }

    /// Write every queued line, rotating as needed. On error the unwritten
    /// lines stay queued: call again after [`RETRY`].
    pub fn flush(&mut self) -> io::Result<()> {
        let mut done = 0;
        let result = self.write_queue(&mut done);
        self.queue.drain(..done);
        match &result {
            Err(e) if !self.failing => {
                self.failing = true;
                self.last_error = Some(format!("unable to write {}: {e}", self.current.display()));
            }
            Err(_) => {}
            Ok(()) => self.failing = false,
        }
        result
    }

    fn write_queue(&mut self, done: &mut usize) -> io::Result<()> {
        if self.want_rotate && !self.finisher.busy() && !self.file_mid_line {
            self.want_rotate = false;
            self.rotate_now()?;
        }
        self.waiting = false;
        while *done < self.queue.len() {
            if self.file.is_none() {
                self.open_current()?;
            }
            if self.file_mid_line {
                // The rest of the line `current` ends in goes there,
                // whatever the limits: a line is never cut by a rotation.
                let rest = &self.queue[*done..];
                let end = find_newline(rest).map_or(rest.len(), |nl| nl + 1);
                self.write_at_most(*done, end, done)?;
                continue;
            }
            let aged = self
                .rotation
                .age
                .is_some_and(|a| SystemTime::now().duration_since(self.started).unwrap_or_default() >= a);
            if aged && self.size > 0 {
                if self.rotate_when_free()? {
                    continue;
                }
                if !self.overflow {
                    self.waiting = true;
                    return Ok(());
                }
            }
            // The longest run of whole lines that fits before a rotation
            // (the queue holds whole lines only).
            let len = self.queue.len() - *done;
            let first_line = |q: &[u8]| find_newline(q).map_or(q.len(), |nl| nl + 1);
            let end = if self.rotation.size == 0 {
                len
            } else {
                let room = self.rotation.size.saturating_sub(self.size) as usize;
                if len <= room {
                    len
                } else {
                    match rfind_newline(&self.queue[*done..*done + room]) {
                        Some(nl) => nl + 1,
                        // Not even one line fits: a fresh file takes it
                        // whole — once the last rotated file is let go.
                        None if self.size > 0 => {
                            if self.rotate_when_free()? {
                                continue;
                            }
                            if !self.overflow {
                                self.waiting = true;
                                return Ok(());
                            }
                            // Past the size until the rotation: all of it,
                            // in one write.
                            len
                        }
                        None => first_line(&self.queue[*done..]),
                    }
                }
            };
            self.write_at_most(*done, end, done)?;
            if self.rotation.size > 0 && self.size >= self.rotation.size && !self.file_mid_line {
                // If it must wait, the next turn finds no room and waits.
                self.rotate_when_free()?;
            }
        }
        Ok(())
    }

    /// Write (once) up to `len` queued bytes from `from` into `current`;
    /// `done` counts what was written.
    fn write_at_most(&mut self, from: usize, len: usize, done: &mut usize) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("log file not open"))?;
        let bytes = &self.queue[from..from + len];
        let n = file.write(bytes)?;
        if n > 0 {
            self.file_mid_line = bytes[n - 1] != b'\n';
        }
        self.size += n as u64;
        *done += n;
        Ok(())
    }

    /// Rotate unless the last rotated file is still being finished;
    /// whether it rotated.
    fn rotate_when_free(&mut self) -> io::Result<bool> {
        if self.finisher.busy() {
            return Ok(false);
        }
        self.rotate_now()?;
        Ok(true)
    }

    /// Rotate now (also `immortallog`'s SIGALRM). Lines still queued go to
    /// the new file. While the last rotated file is being finished, the
    /// rotation happens at the next flush after that.
    pub fn rotate(&mut self) -> io::Result<()> {
        if self.finisher.busy() {
            self.want_rotate = true;
            return Ok(());
        }
        self.rotate_now()
    }

    fn rotate_now(&mut self) -> io::Result<()> {
        if let Some(f) = self.file.take() {
            // Start writing the finished file back now, without waiting for
            // it (an fsync per rotation would halve the throughput).
            crate::sys::fs::start_writeback(&f);
        }
        if self.size == 0 && self.current.exists() {
            return self.open_current();
        }
        self.finisher.set_keep(self.rotation.keep);
        self.finisher.rotate()?;
        self.open_current()
    }

    /// Close and open `current` again (external rotation; SIGHUP).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = None;
        self.open_current()
    }
}

/// Whether the file at `path`, `size` bytes long, ends inside a line (its
/// last byte is no newline). Unreadable: taken as ending a line.
fn ends_mid_line(path: &Path, size: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut last = [0u8; 1];
    File::open(path)
        .and_then(|f| f.read_exact_at(&mut last, size - 1))
        .is_ok_and(|()| last[0] != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &Path, naming: Naming, size: u64, keep: usize) -> LogWriter {
        let current = match naming {
            Naming::Numbered => dir.join("app.log"),
            Naming::Tai64n => dir.join("current"),
        };
        LogWriter::open(&current, naming, Rotation { size, age: None, keep }, Stamp::None).unwrap()
    }

    fn all_lines(dir: &Path) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
        files.sort();
        let mut out = Vec::new();
        for f in files {
            out.extend(std::fs::read_to_string(f).unwrap().lines().map(String::from));
        }
        out.sort_by_key(|l| l.trim_start_matches("line ").parse::<u64>().unwrap_or(0));
        out
    }

    #[test]
    fn lines_arrive_in_pieces_and_partial_waits() {
        let d = tempfile::tempdir().unwrap();
        let mut w = writer(d.path(), Naming::Numbered, 0, 1);
        w.push(b"hel");
        w.push(b"lo\nwor");
        w.flush().unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("app.log")).unwrap(), "hello\n");
        w.push(b"ld");
        w.finish();
        w.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("app.log")).unwrap(),
            "hello\nworld\n"
        );
    }

    #[test]
    fn numbered_rotation_keeps_every_line_once() {
        let d = tempfile::tempdir().unwrap();
        let mut w = writer(d.path(), Naming::Numbered, 100, 1000);
        for i in 0..1000 {
            w.push(format!("line {i}\n").as_bytes());
            if i % 7 == 0 {
                w.flush().unwrap();
            }
        }
        w.flush().unwrap();
        let want: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
        assert_eq!(all_lines(d.path()), want);
        for e in std::fs::read_dir(d.path()).unwrap().flatten() {
            assert!(e.metadata().unwrap().len() <= 100, "{:?} too big", e.path());
        }
        // app.log.0 is the newest rotated file.
        let first = |f: &str| -> u64 {
            let text = std::fs::read_to_string(d.path().join(f)).unwrap();
            text.lines()
                .next()
                .unwrap()
                .trim_start_matches("line ")
                .parse()
                .unwrap()
        };
        assert!(first("app.log.0") > first("app.log.1"));
    }

    #[test]
    fn keep_prunes_the_oldest() {
        let d = tempfile::tempdir().unwrap();
        let mut w = writer(d.path(), Naming::Numbered, 10, 3);
        for i in 0..20 {
            w.push(format!("line {i:03}\n").as_bytes());
        }
        w.flush().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["app.log", "app.log.0", "app.log.1", "app.log.2"]);
        assert_eq!(std::fs::read_to_string(d.path().join("app.log")).unwrap(), "line 019\n");
        assert_eq!(
            std::fs::read_to_string(d.path().join("app.log.0")).unwrap(),
            "line 018\n"
        );
    }

    #[test]
    fn tai64n_rotation_names_and_prune() {
        let d = tempfile::tempdir().unwrap();
        let mut w = writer(d.path(), Naming::Tai64n, 10, 2);
        for i in 0..5 {
            w.push(format!("line {i:03}\n").as_bytes());
            w.flush().unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names[0].starts_with("@4000") && names[0].ends_with(".s"));
        assert_eq!(names[2], "current");
        assert_eq!(std::fs::read_to_string(d.path().join("current")).unwrap(), "line 004\n");
    }

    #[test]
    fn long_lines_are_kept_whole_up_to_the_limit_then_split() {
        let d = tempfile::tempdir().unwrap();
        let mut w = writer(d.path(), Naming::Numbered, 0, 1);
        let mib = vec![b'x'; 1024 * 1024];
        w.push(&mib);
        w.push(b"\n");
        let huge = vec![b'y'; MAX_LINE + 10];
        w.push(&huge);
        w.finish();
        w.flush().unwrap();
        let text = std::fs::read(d.path().join("app.log")).unwrap();
        let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        assert_eq!(lines[0].len(), 1024 * 1024);
        assert_eq!(lines[1].len(), MAX_LINE);
        assert_eq!(lines[2].len(), 10);
    }

    #[test]
    fn binary_bytes_pass_through_and_stamps_prefix_lines() {
        let d = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(
            &d.path().join("a.log"),
            Naming::Numbered,
            Rotation {
                size: 0,
                age: None,
                keep: 1,
            },
            Stamp::Rfc3339,
        )
        .unwrap();
        w.push(b"\x00\xff\x01bin\n");
        w.flush().unwrap();
        let text = std::fs::read(d.path().join("a.log")).unwrap();
        assert_eq!(text[4], b'-');
        assert_eq!(&text[text.len() - 8..], b" \x00\xff\x01bin\n");
    }

    #[test]
    fn a_failed_write_keeps_the_data() {
        let d = tempfile::tempdir().unwrap();
        let mut w = writer(d.path(), Naming::Numbered, 0, 1);
        w.push(b"kept\n");
        // Make the next write fail: the file handle goes read-only.
        w.file = Some(File::open(d.path().join("app.log")).unwrap());
        assert!(w.flush().is_err());
        assert!(w.take_error().unwrap().contains("app.log"));
        assert_eq!(w.pending(), 5);
        w.reopen().unwrap();
        w.flush().unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("app.log")).unwrap(), "kept\n");
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn written_through_an_unterminated_line_is_in_the_file_at_once_and_continued() {
        let d = tempfile::tempdir().unwrap();
        let mut w = writer(d.path(), Naming::Numbered, 0, 1);
        w.write_partial_lines();
        w.push(b"hel");
        w.flush().unwrap();
        assert_eq!(read(d.path(), "app.log"), "hel");
        assert!(w.mid_line());
        assert!(w.open_line_at().is_some_and(|(_, _, size)| size == 3));
        w.push(b"lo\nwor");
        w.flush().unwrap();
        assert_eq!(read(d.path(), "app.log"), "hello\nwor");
        w.push(b"ld\n");
        w.flush().unwrap();
        assert_eq!(read(d.path(), "app.log"), "hello\nworld\n");
        assert!(!w.mid_line());
        assert_eq!(w.open_line_at(), None);
        w.push(b"last");
        w.finish();
        w.flush().unwrap();
        assert_eq!(read(d.path(), "app.log"), "hello\nworld\nlast\n");
    }

    #[test]
    fn a_line_written_in_pieces_gets_one_stamp_even_across_writers() {
        let d = tempfile::tempdir().unwrap();
        let open = || {
            let rotation = Rotation {
                size: 0,
                age: None,
                keep: 1,
            };
            let mut w = LogWriter::open(&d.path().join("a.log"), Naming::Numbered, rotation, Stamp::Rfc3339).unwrap();
            w.write_partial_lines();
            w
        };
        let mut w = open();
        w.push(b"one ");
        w.flush().unwrap();
        w.push(b"two ");
        w.flush().unwrap();
        // A second writer on the same file (the next supervisor, whose pipe
        // gives the rest of the line) continues it: no stamp inside.
        drop(w);
        let mut w = open();
        assert!(w.mid_line());
        w.push(b"three\nfour\n");
        w.flush().unwrap();
        let text = read(d.path(), "a.log");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text:?}");
        assert!(
            lines[0].ends_with("Z one two three") && lines[0].matches('Z').count() == 1,
            "{text:?}"
        );
        assert!(lines[1].ends_with("Z four"), "{text:?}");
        // Or it ends it (the pipe is not the same: nothing continues it).
        let mut w = open();
        w.push(b"open");
        w.flush().unwrap();
        drop(w);
        let mut w = open();
        w.finish();
        w.flush().unwrap();
        assert!(read(d.path(), "a.log").ends_with(" open\n"));
    }

    #[test]
    fn a_rotation_waits_for_the_end_of_a_line_written_in_pieces() {
        let d = tempfile::tempdir().unwrap();
        let mut w = writer(d.path(), Naming::Numbered, 10, 10);
        w.write_partial_lines();
        w.push(b"12345678");
        w.flush().unwrap();
        // Past the size in the middle of the line: its rest goes to the
        // same file, then the rotation.
        w.push(b"9abcdef");
        w.flush().unwrap();
        w.push(b"\nnext\n");
        w.flush().unwrap();
        assert_eq!(read(d.path(), "app.log.0"), "123456789abcdef\n");
        assert_eq!(read(d.path(), "app.log"), "next\n");
    }

    #[test]
    fn written_through_a_line_longer_than_the_limit_is_split_there() {
        let d = tempfile::tempdir().unwrap();
        let mut w = writer(d.path(), Naming::Numbered, 0, 1);
        w.write_partial_lines();
        let piece = vec![b'z'; MAX_LINE / 3 + 1];
        for _ in 0..4 {
            w.push(&piece);
            w.flush().unwrap();
        }
        w.finish();
        w.flush().unwrap();
        let text = std::fs::read(d.path().join("app.log")).unwrap();
        let lens: Vec<usize> = text.split(|&b| b == b'\n').map(<[u8]>::len).collect();
        assert_eq!(lens, [MAX_LINE, 4 * piece.len() - MAX_LINE, 0]);
    }
}
