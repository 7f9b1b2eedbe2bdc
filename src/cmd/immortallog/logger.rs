//! The logger: stdin to every output of one `immortallog`.
//!
//! [`open`] takes each log directory's `DIR/lock` (one logger per
//! directory), reads its `DIR/config` and opens `DIR/current` (or the Go
//! dialect's file) as a [`crate::logfile::LogWriter`], which stamps,
//! rotates and retries failed writes, and runs svlogd's or multilog's
//! `!processor` on each rotated file as they do ([`crate::rotated`]: a
//! child in the background; while it works the next rotation waits and so
//! does the reading, as svlogd and multilog block). [`Logger::push`] hands input to the
//! writers in whole chunks, unless some selection is configured (multilog's
//! script, svlogd's patterns, prefix or UDP, `-r`/`-R`): then line by line,
//! each line's outputs decided once from its first `line_len` bytes and a
//! longer line kept whole where its start went. [`run`] is one poll on
//! stdin and a signalfd: SIGHUP reloads every `config` and reopens,
//! SIGALRM rotates, SIGCHLD reports a processor's end, SIGTERM/SIGINT or
//! end of input flush (a final unterminated line gets its newline), wait
//! for the processors at work and exit 0. While a write fails,
//! reading stops (back-pressure) and the flush is retried every second.

use super::args::{Action, Dialect, Options};
use super::config::{read_config, warn_all, Config, RuleKind};
use super::pattern::{multilog_match, svlogd_match};
use crate::error::{Context, Error, Result};
use crate::layout;
use crate::logfile::{LogWriter, Naming, Rotation, Stamp, MAX_LINE};
use crate::rotated::{After, Processor, Style};
use std::fs::File;
use std::io::Write;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// multilog's `e` prints the first 200 bytes.
const MULTILOG_ALERT: usize = 200;
/// multilog's `=file` is rewritten with 1001 bytes.
const MULTILOG_STATUS: usize = 1001;
/// The read buffer: `-b` can make it larger, up to a limit.
const READ_MIN: usize = 256 * 1024;
const READ_MAX: usize = 16 * 1024 * 1024;

/// One output: a log directory or the Go dialect's file.
struct Out {
    writer: LogWriter,
    _lock: Option<crate::sys::lock::Lock>,
    /// The directory (not for the Go dialect's file).
    dir: Option<PathBuf>,
    base: Rotation,
    config: Config,
    /// multilog's `!processor` (svlogd's is in `config`), and whose rules.
    processor: Option<String>,
    style: Style,
    /// The current line goes to this log.
    selected: bool,
    /// The rest of the current line goes to this log's file.
    stream: bool,
    /// Output of the current read, not yet given to the writer.
    pending: Vec<u8>,
}

/// multilog's `=file`.
struct StatusFile {
    path: PathBuf,
    file: File,
    failing: bool,
}

/// The script at run time: `=file` by index.
enum Step {
    Select(Vec<u8>),
    Deselect(Vec<u8>),
    Alert,
    Status(usize),
    Log(usize),
}

/// Every output of one `immortallog`, and the line being selected.
pub struct Logger {
    outs: Vec<Out>,
    script: Vec<Step>,
    statuses: Vec<StatusFile>,
    stamp: Stamp,
    /// Bytes to replace (svlogd's `-r`/`-R`).
    replace: Option<(Box<[bool; 256]>, u8)>,
    /// Bytes of a line seen by patterns.
    limit: usize,
    /// Line by line (patterns, alerts, prefixes): else whole chunks.
    filtered: bool,
    read_size: usize,
    /// The current line's first bytes, until its outputs are decided.
    head: Vec<u8>,
    decided: bool,
    /// When the current line started (if in an earlier read).
    line_time: Option<SystemTime>,
    stamp_time: Option<SystemTime>,
    stamp_text: String,
    scratch: Vec<u8>,
    udp: Option<UdpSocket>,
}

/// What becomes of a directory's rotated files: multilog's `!processor`,
/// else its `config`'s, else nothing.
fn after(style: Style, script: Option<&str>, config: &Config) -> After {
    match script.or(config.processor.as_deref()) {
        Some(command) => After::Process(Processor {
            command: command.to_string(),
            style,
        }),
        None => After::Keep,
    }
}

/// Open every output of `opts` (creating directories, taking `DIR/lock`,
/// reading `DIR/config`, opening `=file`s).
pub fn open(opts: Options) -> Result<Logger> {
    let style = if opts.dialect == Dialect::Multilog {
        Style::Multilog
    } else {
        Style::Svlogd
    };
    let mut outs: Vec<Out> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for log in opts.logs {
        let out = match log.naming {
            Naming::Tai64n => {
                let dir = log.target;
                crate::sys::fs::ensure_dir(&dir)?;
                let real = std::fs::canonicalize(&dir).ctx("resolve", &dir)?;
                if seen.contains(&real) {
                    return Err(Error::invalid(format!(
                        "{}: log directory given twice (one directory, one log)",
                        dir.display()
                    )));
                }
                seen.push(real);
                let mut lock = crate::sys::lock::Lock::acquire(&dir.join(layout::LOG_LOCK))
                    .map_err(|e| Error::invalid(format!("{}: already running? {e}", dir.display())))?;
                lock.record_holder(std::process::id())?;
                let config = match read_config(&dir)? {
                    Some((config, warnings)) => {
                        warn_all(&dir, &warnings);
                        config
                    }
                    None => log.config,
                };
                let current = dir.join(layout::CURRENT);
                let then = after(style, log.processor.as_deref(), &config);
                let mut writer = LogWriter::open_with(
                    &current,
                    Naming::Tai64n,
                    config.rotation(log.rotation),
                    opts.stamp,
                    then,
                )
                .ctx("open", &current)?;
                for note in writer.take_notes() {
                    eprintln!("immortallog: warning: {note}");
                }
                Out {
                    writer,
                    _lock: Some(lock),
                    dir: Some(dir),
                    base: log.rotation,
                    config,
                    processor: log.processor,
                    style,
                    selected: true,
                    stream: true,
                    pending: Vec::new(),
                }
            }
            Naming::Numbered => {
                let writer = LogWriter::open(&log.target, Naming::Numbered, log.rotation, opts.stamp)
                    .ctx("open", &log.target)?;
                Out {
                    writer,
                    _lock: None,
                    dir: None,
                    base: log.rotation,
                    config: log.config,
                    processor: None,
                    style,
                    selected: true,
                    stream: true,
                    pending: Vec::new(),
                }
            }
        };
        outs.push(out);
    }
    let mut statuses = Vec::new();
    let mut script = Vec::new();
    for a in opts.script {
        script.push(match a {
            Action::Select(p) => Step::Select(p),
            Action::Deselect(p) => Step::Deselect(p),
            Action::Alert => Step::Alert,
            Action::Log(i) => Step::Log(i),
            Action::Status(path) => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .ctx("open status file", &path)?;
                statuses.push(StatusFile {
                    path,
                    file,
                    failing: false,
                });
                Step::Status(statuses.len() - 1)
            }
        });
    }
    let replace = opts.replace.map(|r| {
        let mut table = Box::new([false; 256]);
        for (b, slot) in table.iter_mut().enumerate() {
            *slot = !(32..=126).contains(&b) && b != usize::from(b'\n');
        }
        for &b in &r.also {
            if b != b'\n' {
                table[usize::from(b)] = true;
            }
        }
        (table, r.with)
    });
    let mut logger = Logger {
        outs,
        script,
        statuses,
        stamp: opts.stamp,
        replace,
        limit: opts.line_len.clamp(1, MAX_LINE),
        filtered: false,
        read_size: opts.buf_len.clamp(READ_MIN, READ_MAX),
        head: Vec::new(),
        decided: false,
        line_time: None,
        stamp_time: None,
        stamp_text: String::new(),
        scratch: Vec::new(),
        udp: None,
    };
    logger.filtered = logger.wants_filter();
    Ok(logger)
}

impl Logger {
    fn wants_filter(&self) -> bool {
        self.script.iter().any(|s| !matches!(s, Step::Log(_))) || self.outs.iter().any(|o| o.config.filters())
    }

    /// Take raw input (replacement is done in place).
    pub fn push(&mut self, data: &mut [u8]) {
        if let Some((table, with)) = &self.replace {
            for b in data.iter_mut() {
                if table[usize::from(*b)] {
                    *b = *with;
                }
            }
        }
        let now = SystemTime::now();
        if self.filtered {
            self.push_lines(data, now);
        } else {
            for o in &mut self.outs {
                o.writer.push_at(data, now);
            }
        }
    }

    fn push_lines(&mut self, data: &[u8], now: SystemTime) {
        let mut pos = 0;
        while pos < data.len() {
            if !self.decided {
                if self.head.is_empty() && self.line_time.is_none() {
                    self.line_time = Some(now);
                }
                let room = self.limit.saturating_sub(self.head.len());
                let take = &data[pos..data.len().min(pos + room)];
                match take.iter().position(|&b| b == b'\n') {
                    Some(nl) => {
                        self.head.extend_from_slice(&take[..nl]);
                        pos += nl + 1;
                        self.decide(now, true);
                        self.end_line(now);
                    }
                    None => {
                        self.head.extend_from_slice(take);
                        pos += take.len();
                        if self.head.len() >= self.limit {
                            self.decide(now, false);
                            self.decided = true;
                        }
                    }
                }
            } else {
                // The rest of a long line: where its start went.
                let rest = &data[pos..];
                let (piece, done) = match rest.iter().position(|&b| b == b'\n') {
                    Some(nl) => (&rest[..=nl], true),
                    None => (rest, false),
                };
                for o in &mut self.outs {
                    if o.stream {
                        o.pending.extend_from_slice(piece);
                    }
                }
                pos += piece.len();
                if done {
                    self.end_line(now);
                }
            }
        }
        self.give(now);
    }

    /// Hand what this read produced to the writers, stamped `at` (the lines
    /// completed in it started in it).
    fn give(&mut self, at: SystemTime) {
        for o in &mut self.outs {
            if !o.pending.is_empty() {
                o.writer.push_at(&o.pending, at);
                o.pending.clear();
            }
        }
    }

    fn end_line(&mut self, now: SystemTime) {
        self.head.clear();
        self.decided = false;
        // A line begun in an earlier read keeps the stamp of its start.
        if let Some(t) = self.line_time.take() {
            if t != now {
                self.give(t);
            }
        }
    }

    fn refresh_stamp(&mut self, t: SystemTime) {
        if self.stamp_time != Some(t) {
            self.stamp_text = self.stamp.render(t);
            self.stamp_time = Some(t);
        }
    }

    /// Where the current line goes, from its first `limit` bytes (`head`);
    /// alerts, status files and UDP are served here.
    fn decide(&mut self, now: SystemTime, complete: bool) {
        let t = self.line_time.unwrap_or(now);
        self.refresh_stamp(t);
        let truncated = self.head.len() >= self.limit;
        if self.script.is_empty() {
            for o in &mut self.outs {
                o.selected = true;
            }
        } else {
            // multilog: patterns see the stamp.
            let mut line = std::mem::take(&mut self.scratch);
            line.clear();
            line.extend_from_slice(self.stamp_text.as_bytes());
            line.extend_from_slice(&self.head);
            let mut sel = true;
            for step in &self.script {
                match step {
                    Step::Select(p) => sel = sel || multilog_match(p, &line),
                    Step::Deselect(p) => sel = sel && !multilog_match(p, &line),
                    Step::Alert if sel => {
                        let mut msg = line[..line.len().min(MULTILOG_ALERT)].to_vec();
                        msg.extend_from_slice(if line.len() > MULTILOG_ALERT { b"...\n" } else { b"\n" });
                        let _ = std::io::stderr().write_all(&msg);
                    }
                    Step::Status(k) if sel => {
                        if let Some(s) = self.statuses.get_mut(*k) {
                            write_status(s, &line);
                        }
                    }
                    Step::Log(j) => {
                        if let Some(o) = self.outs.get_mut(*j) {
                            o.selected = sel;
                        }
                    }
                    _ => {}
                }
            }
            self.scratch = line;
        }
        for o in &mut self.outs {
            let mut only_udp = false;
            if o.config.filters() {
                let mut alert = false;
                for r in &o.config.rules {
                    if svlogd_match(&r.pattern, &self.head) {
                        match r.kind {
                            RuleKind::Select => o.selected = true,
                            RuleKind::Deselect => o.selected = false,
                            RuleKind::Alert => alert = true,
                            RuleKind::NoAlert => alert = false,
                        }
                    }
                }
                let message = |head: &[u8]| {
                    let mut m = Vec::with_capacity(self.stamp_text.len() + o.config.prefix.len() + head.len() + 4);
                    m.extend_from_slice(self.stamp_text.as_bytes());
                    m.extend_from_slice(&o.config.prefix);
                    m.extend_from_slice(head);
                    if truncated {
                        m.extend_from_slice(b"...");
                    }
                    m.push(b'\n');
                    m
                };
                if alert {
                    let _ = std::io::stderr().write_all(&message(&self.head));
                }
                if let (true, Some(udp)) = (o.selected, o.config.udp) {
                    only_udp = udp.only;
                    let msg = message(&self.head);
                    if self.udp.is_none() {
                        self.udp = UdpSocket::bind(("0.0.0.0", 0))
                            .and_then(|s| s.set_nonblocking(true).map(|()| s))
                            .ok();
                    }
                    let sent = match &self.udp {
                        None => Err("no udp socket available: ".to_string()),
                        Some(s) => match s.send_to(&msg, udp.addr) {
                            Ok(n) if n == msg.len() => Ok(()),
                            _ => Err("failure sending through udp: ".to_string()),
                        },
                    };
                    if let Err(why) = sent {
                        // As svlogd: the message is kept in the directory.
                        o.pending.extend_from_slice(b"warning: ");
                        o.pending.extend_from_slice(why.as_bytes());
                        o.pending.extend_from_slice(&msg);
                    }
                }
            }
            o.stream = o.selected && !only_udp;
            if o.stream {
                o.pending.extend_from_slice(&o.config.prefix);
                o.pending.extend_from_slice(&self.head);
                if complete {
                    o.pending.push(b'\n');
                }
            }
        }
    }

    /// End of input: a line in progress is ended with a newline.
    pub fn finish(&mut self) {
        let now = SystemTime::now();
        if self.filtered {
            if !self.decided && !self.head.is_empty() {
                self.decide(now, true);
                self.end_line(now);
            } else if self.decided {
                for o in &mut self.outs {
                    if o.stream {
                        o.pending.push(b'\n');
                    }
                }
                self.end_line(now);
            }
            self.give(now);
        }
        for o in &mut self.outs {
            o.writer.finish();
        }
    }

    /// Write what is queued; false if some write failed (retry after
    /// [`crate::logfile::RETRY`]). Each failure is reported once.
    pub fn flush(&mut self) -> bool {
        let mut ok = true;
        for o in &mut self.outs {
            let failed = o.writer.flush().is_err();
            for note in o.writer.take_notes() {
                eprintln!("immortallog: warning: {note}");
            }
            if failed {
                ok = false;
                if let Some(e) = o.writer.take_error() {
                    eprintln!("immortallog: {e} (retrying every second)");
                }
            }
        }
        ok
    }

    pub fn pending(&self) -> usize {
        self.outs.iter().map(|o| o.writer.pending()).sum()
    }

    /// Stop reading: some log cannot keep up (a failing disk).
    pub fn full(&self) -> bool {
        self.outs.iter().any(|o| o.writer.full())
    }

    pub fn read_size(&self) -> usize {
        self.read_size
    }

    /// Process what a crash left (children are reaped from now on).
    pub fn resume(&mut self) {
        for o in &mut self.outs {
            o.writer.resume();
        }
    }

    /// A child ended: a processor of some log's (then that log can rotate
    /// again: flush after this).
    pub fn child_ended(&mut self, pid: nix::unistd::Pid, how: crate::sys::process::ExitHow) {
        for o in &mut self.outs {
            if o.writer.child_ended(pid, how) {
                return;
            }
        }
    }

    /// A processor runs, or waits to run again: at the end of input, wait
    /// for it (as svlogd does).
    pub fn finishing(&self) -> bool {
        self.outs.iter().any(|o| o.writer.finishing())
    }

    /// When a failed processor runs again.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.outs.iter().filter_map(|o| o.writer.deadline()).min()
    }

    pub fn on_timer(&mut self) {
        let now = std::time::Instant::now();
        for o in &mut self.outs {
            o.writer.on_timer(now);
        }
    }

    /// SIGALRM: rotate every log now.
    pub fn rotate(&mut self) {
        for o in &mut self.outs {
            if let Err(e) = o.writer.rotate() {
                eprintln!("immortallog: unable to rotate {}: {e}", o.name());
            }
        }
    }

    /// SIGHUP: read each `DIR/config` again and reopen every log.
    pub fn reload(&mut self) {
        for o in &mut self.outs {
            if let Some(dir) = &o.dir {
                match read_config(dir) {
                    Ok(found) => {
                        let config = found.map_or_else(Config::default, |(config, warnings)| {
                            warn_all(dir, &warnings);
                            config
                        });
                        o.writer.set_rotation(config.rotation(o.base));
                        o.writer.set_after(after(o.style, o.processor.as_deref(), &config));
                        o.config = config;
                    }
                    Err(e) => eprintln!("immortallog: {e} (keeping the previous configuration)"),
                }
            }
            if let Err(e) = o.writer.reopen() {
                eprintln!("immortallog: unable to reopen {}: {e}", o.name());
            }
        }
        if !self.filtered && self.wants_filter() {
            // Line by line from now on; a line already begun goes on
            // where it started (everywhere).
            self.filtered = true;
            let begun = self.outs.iter().any(|o| o.writer.mid_line());
            for o in &mut self.outs {
                o.stream = o.writer.mid_line();
            }
            self.decided = begun;
        }
    }
}

impl Out {
    fn name(&self) -> String {
        self.dir.as_deref().unwrap_or(Path::new("log")).display().to_string()
    }
}

fn write_status(s: &mut StatusFile, line: &[u8]) {
    use std::os::unix::fs::FileExt;
    let mut buf = [b'\n'; MULTILOG_STATUS];
    let n = line.len().min(MULTILOG_STATUS - 1);
    buf[..n].copy_from_slice(&line[..n]);
    match s.file.write_all_at(&buf, 0) {
        Ok(()) => s.failing = false,
        Err(e) if !s.failing => {
            s.failing = true;
            eprintln!("immortallog: unable to write status file {}: {e}", s.path.display());
        }
        Err(_) => {}
    }
}

/// Copy stdin into the logs until end of input or SIGTERM (then wait for
/// the processors at work, as svlogd does); returns the exit code.
pub fn run(mut logger: Logger) -> i32 {
    use crate::sys::events::Events;
    use nix::poll::{poll, PollFd, PollFlags};
    use nix::sys::signal::Signal;
    use std::io::Read;
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};
    let handled = [
        Signal::SIGHUP,
        Signal::SIGALRM,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGCHLD,
    ];
    let mut signals = match Events::new(&handled) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("immortallog: fatal: {e}");
            return 1;
        }
    };
    crate::sys::process::ignore_file_size_signal();
    // SIGCHLD is read from the signalfd now: processors may start.
    logger.resume();
    let stdin = std::io::stdin();
    let _ = nix::fcntl::fcntl(&stdin, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK));
    let mut buf = vec![0u8; logger.read_size()];
    let mut eof = false;
    loop {
        if eof {
            logger.finish();
        }
        let retry = !logger.flush();
        if eof && logger.pending() == 0 && !logger.finishing() {
            return 0;
        }
        let (sig_ready, in_ready) = {
            let mut fds = vec![PollFd::new(signals.fd(), PollFlags::POLLIN)];
            // Back-pressure: while the disk fails, or lines wait for a
            // processor, stop reading.
            let reading = !eof && !logger.full();
            if reading {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            let retry_at = retry.then(|| Instant::now() + Duration::from_secs(1));
            let deadline = retry_at.into_iter().chain(logger.deadline()).min();
            if poll(&mut fds, crate::sys::timeout_until(deadline)).is_err() {
                continue;
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), reading && ready(&fds[1]))
        };
        if logger.deadline().is_some_and(|t| t <= Instant::now()) {
            logger.on_timer();
        }
        if sig_ready {
            for s in signals.signals() {
                match s {
                    Signal::SIGHUP => logger.reload(),
                    Signal::SIGALRM => logger.rotate(),
                    Signal::SIGCHLD => {
                        for (pid, how, _) in crate::sys::process::reap_all() {
                            logger.child_ended(pid, how);
                        }
                    }
                    _ => eof = true, // TERM/INT: flush what we have and exit
                }
            }
        }
        if in_ready {
            // Read what is there (bounded, so the disk sees large writes).
            for _ in 0..16 {
                match (&stdin).read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => logger.push(&mut buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break, // WouldBlock
                }
                // Write as it comes: a processor's rotation holds the
                // rest back in stdin's pipe, not here.
                logger.flush();
                if logger.full() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::immortallog::args::parse;

    // The line machinery, through real writers in a temporary directory.

    /// Run `args` (ROOT: a temporary directory) over `input`, in chunks as
    /// given; `configs`: (directory, config text) written before.
    fn run_logger(args: &[&str], configs: &[(&str, &str)], input: &[&[u8]]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap().to_string();
        let args: Vec<String> = args.iter().map(|a| a.replace("ROOT", &root)).collect();
        for (dir, text) in configs {
            std::fs::create_dir_all(d.path().join(dir)).unwrap();
            std::fs::write(d.path().join(dir).join("config"), text).unwrap();
        }
        let mut logger = open(parse(&args).unwrap()).unwrap();
        for chunk in input {
            logger.push(&mut chunk.to_vec());
            assert!(logger.flush());
        }
        logger.finish();
        assert!(logger.flush());
        d
    }

    fn current(d: &tempfile::TempDir, dir: &str) -> String {
        std::fs::read_to_string(d.path().join(dir).join("current")).unwrap()
    }

    #[test]
    fn multilog_selection_goes_to_each_directory_as_it_stands() {
        let d = run_logger(
            &[
                "-*",
                "+*fatal*",
                "ROOT/fatal",
                "+*",
                "-debug*",
                "ROOT/main",
                "-*",
                "ROOT/none",
            ],
            &[],
            &[b"info one\ndebug two\nfat", b"al three\nx fatal\n", b"no newline"],
        );
        assert_eq!(current(&d, "fatal"), "fatal three\nx fatal\n");
        assert_eq!(current(&d, "main"), "info one\nfatal three\nx fatal\nno newline\n");
        assert_eq!(current(&d, "none"), "");
    }

    #[test]
    fn long_lines_are_decided_by_their_start_and_kept_whole() {
        let long = format!("keep {}\n", "x".repeat(5000));
        let drop = format!("drop {}\n", "y".repeat(5000));
        let input = format!("{long}{drop}short\n");
        let chunks: Vec<&[u8]> = input.as_bytes().chunks(700).collect();
        let d = run_logger(&["-drop*", "ROOT/a"], &[], &chunks);
        assert_eq!(current(&d, "a"), format!("{long}short\n"));
        // svlogd -l 10: patterns see 10 bytes; lines are written whole.
        let d = run_logger(&["-l", "10", "ROOT/b"], &[("b", "-keep *\n-short\n")], &chunks);
        assert_eq!(current(&d, "b"), drop);
    }

    #[test]
    fn svlogd_config_selects_prefixes_and_stamps_first() {
        let d = run_logger(
            &["-tt", "ROOT/a", "ROOT/b"],
            &[("a", "-*\n+*: fatal: *\npa: \n"), ("b", "-*debug*\n")],
            &[b"x: fatal: boom\nx: info: fine\n", b"debug\n"],
        );
        let a = current(&d, "a");
        let lines: Vec<&str> = a.lines().collect();
        assert_eq!(lines.len(), 1, "{a}");
        assert_eq!(&lines[0][25..], " a: x: fatal: boom");
        assert_eq!(&lines[0][10..11], "_");
        let b = current(&d, "b");
        assert_eq!(
            b.lines().map(|l| &l[26..]).collect::<Vec<_>>(),
            ["x: fatal: boom", "x: info: fine"]
        );
    }

    #[test]
    fn replacement_of_non_printable_bytes() {
        let d = run_logger(&["-r", "?", "-R", ":", "ROOT/a"], &[], &[b"a\tb\x00c\xffd: e\x7f\n"]);
        assert_eq!(current(&d, "a"), "a?b?c?d? e?\n");
    }

    #[test]
    fn multilog_stamps_are_seen_by_patterns_and_written() {
        let d = run_logger(
            &["t", "-*", "+@4000* fatal: *", "ROOT/a", "=ROOT/st"],
            &[],
            &[b"fatal: x\nok\n"],
        );
        let a = current(&d, "a");
        assert!(
            a.starts_with("@4000") && a.ends_with(" fatal: x\n") && a.lines().count() == 1,
            "{a}"
        );
        let st = std::fs::read(d.path().join("st")).unwrap();
        assert_eq!(st.len(), 1001);
        assert_eq!(&st[..a.len()], a.as_bytes());
        assert!(st[a.len()..].iter().all(|&b| b == b'\n'));
    }
}
