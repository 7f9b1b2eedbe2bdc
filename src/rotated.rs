//! What becomes of a rotated log file: the second half of the rotation
//! protocol of [`crate::logfile::LogWriter`], once `current` is complete.
//! Its names, its pruning, and the child that compresses or processes it —
//! a child always: the caller's loop only renames, spawns and, when the
//! child's end is reported to it ([`Finisher::ended`]), renames or removes.
//! One rotated file is finished at a time; the next rotation waits for it
//! ([`Finisher::busy`]: the writer keeps the lines queued meanwhile).
//!
//! | after | naming | a rotation | the child | at its end |
//! |---|---|---|---|---|
//! | keep | `FILE.N` | shift, `FILE` → `FILE.0` | — | — |
//! | keep | `@T.s` | `current` → `@T.s`, mode 0744 | — | — |
//! | compress | `FILE.N.gz` | shift, `FILE` → `FILE.0` | compresses `FILE.0` to `FILE.0.gz.PID-K.tmp`, fsyncs it, renames it `FILE.0.gz`, fsyncs the directory ([`crate::sys::filter`]) | `FILE.0` removed |
//! | svlogd `!p` | `@T.s` | `current` → `@T.u` (0744) | `sh -c p` in DIR: stdin `@T.u`, stdout `@T.t`, fd 4 `state`, fd 5 `newstate` | exit 0: `@T.u` removed, `@T.t` → `@T.s` (0744), `newstate` → `state`; else `@T.t` removed, run again after a second |
//! | multilog `!p` | `@T.s` | `current` → `previous` (0744) | the same, stdin `previous`, stdout `processed` | exit 0: `processed` fsynced (0744), `newstate` fsynced, `previous` removed, `newstate` → `state`, `processed` → `@T.s` (T: now); else run again after a second |
//!
//! `FILE.N` numbers shift by one at each rotation (`FILE.0` the newest);
//! `keep` counts the rotated files (compressed ones, with `compress`): the
//! oldest beyond it goes. `@T` is a TAI64N label.
//!
//! Crash safety: at every moment each line is in one complete file. A
//! compressed file gets its name only once it is complete and on disk,
//! and its plain original goes only after that. What a crash leaves is
//! finished when the writer opens the set again ([`Finisher::open`]):
//!
//! - compress: a `FILE.N.gz.PID-K.tmp` is removed (incomplete; a child of
//!   the killed supervisor still at work renames only its own, and finds
//!   it gone); a plain `FILE.N` beside its `FILE.N.gz` is removed (that
//!   one was complete, on disk, before it got its name); a plain `FILE.N`
//!   alone is compressed again (one at a time, oldest first).
//! - svlogd: a `@T.t` beside its `@T.u` is removed and `@T.u` processed
//!   again; a `@T.t` alone is complete (svlogd removes `.u` first) and
//!   becomes `@T.s`; a `@T.u` alone is processed. (svlogd itself leaves
//!   them as they are.)
//! - multilog, as multilog does: an executable `processed` is complete
//!   (`previous` removed, it becomes `@T.s`); otherwise `processed` is
//!   removed and `previous` becomes `@T.u` (unprocessed); `newstate` is
//!   removed, an empty `state` created if there is none.

use crate::compress::{Compressor, Method};
use crate::logfile::Naming;
use crate::sys::process::ExitHow;
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::ffi::CString;
use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// A failed processor is run again after this long.
pub const RETRY: Duration = Duration::from_secs(1);

/// What is done with a rotated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// Kept as written.
    Keep,
    /// Numbered naming: compressed into `FILE.N.gz` (`log: compress:`).
    Compress(Compressor),
    /// TAI64N naming: svlogd's or multilog's `!processor`.
    Process(Processor),
}

/// A `!processor`: a command for `sh -c`, and whose rules it follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processor {
    pub command: String,
    pub style: Style,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Svlogd,
    Multilog,
}

/// multilog's and svlogd's working names.
const PREVIOUS: &str = "previous";
const PROCESSED: &str = "processed";
const STATE: &str = "state";
const NEWSTATE: &str = "newstate";

/// The child at work, and on what.
#[derive(Debug)]
enum Job {
    /// The child names the output itself; `input` goes at its end.
    Compress {
        pid: Pid,
        input: PathBuf,
    },
    Svlogd {
        pid: Pid,
        u: PathBuf,
    },
    Multilog {
        pid: Pid,
    },
}

impl Job {
    fn pid(&self) -> Pid {
        match self {
            Job::Compress { pid, .. } | Job::Svlogd { pid, .. } | Job::Multilog { pid } => *pid,
        }
    }
}

/// A rotated file still to finish.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Todo {
    Compress { input: PathBuf, target: PathBuf },
    Svlogd { u: PathBuf },
    Multilog,
}

/// The rotated files of one log, from their rename to their last name.
#[derive(Debug)]
pub struct Finisher {
    after: After,
    naming: Naming,
    current: PathBuf,
    /// Rotated files kept (at least 1).
    keep: usize,
    job: Option<Job>,
    /// Oldest first.
    todo: VecDeque<Todo>,
    /// A failed processor runs again then.
    retry_at: Option<Instant>,
    /// What went wrong, for the caller to report.
    notes: Vec<String>,
    /// Children started, to name each one's temporary output apart.
    started: u64,
}

/// `@` and a TAI64N label: 25 bytes; with `.s`/`.u`/`.t`: 27.
fn stamped(name: &str, suffix: &str) -> bool {
    name.len() == 27
        && name.starts_with('@')
        && name.ends_with(suffix)
        && name[1..25].bytes().all(|b| b.is_ascii_hexdigit())
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(mode))
}

fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn unable(op: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("unable to {op} {}: {e}", path.display()))
}

impl Finisher {
    /// The finisher of the set around `current`, after looking at what a
    /// crash left (the module's list); the children it needs start at
    /// [`Finisher::resume`] (or the first rotation).
    pub fn open(current: &Path, naming: Naming, keep: usize, after: After) -> Finisher {
        let mut f = Finisher {
            after: match (&after, naming) {
                (After::Compress(_), Naming::Numbered) | (After::Process(_), Naming::Tai64n) => after,
                _ => After::Keep,
            },
            naming,
            current: current.to_path_buf(),
            keep: keep.max(1),
            job: None,
            todo: VecDeque::new(),
            retry_at: None,
            notes: Vec::new(),
            started: 0,
        };
        if let Err(e) = f.recover() {
            f.notes.push(e.to_string());
        }
        f
    }

    /// Start finishing what [`Finisher::open`] found — once the caller
    /// reaps its children (its SIGCHLD blocked and read): a child that
    /// ended before would never be reported.
    pub fn resume(&mut self) {
        self.next();
    }

    fn dir(&self) -> &Path {
        crate::layout::parent_dir(&self.current)
    }

    pub fn after(&self) -> &After {
        &self.after
    }

    /// Another `!processor` (svlogd's `config` read again): from the next
    /// rotation on.
    pub fn set_after(&mut self, after: After) {
        if matches!(
            (&after, self.naming),
            (After::Process(_), Naming::Tai64n) | (After::Keep, _)
        ) {
            self.after = after;
        }
    }

    pub fn set_keep(&mut self, keep: usize) {
        self.keep = keep.max(1);
    }

    /// A rotation must wait: the last rotated file is not finished.
    pub fn busy(&self) -> bool {
        self.job.is_some() || !self.todo.is_empty()
    }

    /// The child at work.
    pub fn child(&self) -> Option<Pid> {
        self.job.as_ref().map(Job::pid)
    }

    /// When a failed processor runs again.
    pub fn deadline(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Problems to report (each once).
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Past the deadline: run the failed processor again.
    pub fn on_timer(&mut self, now: Instant) {
        if self.retry_at.is_some_and(|t| t <= now) {
            self.retry_at = None;
            self.next();
        }
    }

    /// Rename `current` away (it is closed, complete) and prune; start its
    /// child. Only when not [`Finisher::busy`].
    pub fn rotate(&mut self) -> io::Result<()> {
        match (self.naming, self.after.clone()) {
            (Naming::Numbered, after) => {
                self.shift()?;
                let first = self.numbered(0, None);
                std::fs::rename(&self.current, &first).map_err(|e| unable("rename", &self.current, e))?;
                if let After::Compress(c) = after {
                    let target = self.numbered(0, Some(c.method));
                    self.todo.push_back(Todo::Compress { input: first, target });
                }
            }
            (Naming::Tai64n, After::Process(p)) if p.style == Style::Svlogd => {
                let u = self.fresh_name("u");
                std::fs::rename(&self.current, &u).map_err(|e| unable("rename", &self.current, e))?;
                set_mode(&u, 0o744).map_err(|e| unable("set the mode of", &u, e))?;
                self.prune(Some(&u));
                self.todo.push_back(Todo::Svlogd { u });
            }
            (Naming::Tai64n, After::Process(_)) => {
                let previous = self.dir().join(PREVIOUS);
                std::fs::rename(&self.current, &previous).map_err(|e| unable("rename", &self.current, e))?;
                set_mode(&previous, 0o744).map_err(|e| unable("set the mode of", &previous, e))?;
                self.todo.push_back(Todo::Multilog);
            }
            (Naming::Tai64n, _) => {
                let s = self.fresh_name("s");
                std::fs::rename(&self.current, &s).map_err(|e| unable("rename", &self.current, e))?;
                // multilog's mark of a complete rotated file.
                let _ = set_mode(&s, 0o744);
                self.prune(None);
            }
        }
        self.next();
        Ok(())
    }

    /// `FILE.i`, or `FILE.i.gz` for `method`.
    fn numbered(&self, i: usize, method: Option<Method>) -> PathBuf {
        let suffix = match method {
            Some(m) => format!(".{i}.{}", m.extension()),
            None => format!(".{i}"),
        };
        with_suffix(&self.current, &suffix)
    }

    /// The rotated files of a numbered set: (number, method) by name.
    fn numbered_files(&self) -> io::Result<Vec<(usize, Option<Method>)>> {
        let base = self
            .current
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut found = Vec::new();
        for entry in std::fs::read_dir(self.dir())?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(base.as_str()).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let (method, number) = match Method::of_name(rest) {
                Some((m, n)) => (Some(m), n),
                None => (None, rest),
            };
            if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(n) = number.parse() {
                    found.push((n, method));
                }
            }
        }
        Ok(found)
    }

    /// Each rotated file one number older; what would pass `keep` goes.
    fn shift(&self) -> io::Result<()> {
        let mut files = self.numbered_files().map_err(|e| unable("read", self.dir(), e))?;
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        for (n, method) in files {
            let from = self.numbered(n, method);
            if n + 1 >= self.keep {
                remove(&from).map_err(|e| unable("remove", &from, e))?;
            } else {
                let to = self.numbered(n + 1, method);
                std::fs::rename(&from, &to).map_err(|e| unable("rename", &from, e))?;
            }
        }
        Ok(())
    }

    /// `DIR/@<now>.SUFFIX`, not taken yet.
    fn fresh_name(&self, suffix: &str) -> PathBuf {
        loop {
            let p = self
                .dir()
                .join(format!("{}.{suffix}", crate::timefmt::tai64n(SystemTime::now())));
            if !p.exists() {
                return p;
            }
        }
    }

    /// Keep the newest `keep` rotated files (`@….s`, `@….u`), never
    /// `busy` (the file a processor reads).
    fn prune(&self, busy: Option<&Path>) {
        let Ok(entries) = std::fs::read_dir(self.dir()) else {
            return;
        };
        let mut old: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| stamped(n, ".s") || stamped(n, ".u"))
            })
            .collect();
        old.sort();
        let excess = old.len().saturating_sub(self.keep);
        for p in old[..excess].iter().filter(|p| Some(p.as_path()) != busy) {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Start the next child, unless one runs or a retry is due later.
    fn next(&mut self) {
        while self.job.is_none() && self.retry_at.is_none() {
            let Some(todo) = self.todo.front().cloned() else { return };
            self.started += 1;
            match self.start(&todo) {
                Ok(job) => {
                    self.todo.pop_front();
                    self.job = Some(job);
                }
                Err(e) => match todo {
                    // Kept plain, said once: the next start tries again.
                    Todo::Compress { input, .. } => {
                        self.todo.pop_front();
                        self.notes
                            .push(format!("unable to compress {}: {e} (kept as it is)", input.display()));
                    }
                    Todo::Svlogd { .. } | Todo::Multilog => {
                        self.notes
                            .push(format!("unable to run the processor in {}: {e}", self.dir().display()));
                        self.retry_at = Some(Instant::now() + RETRY);
                    }
                },
            }
        }
    }

    fn start(&self, todo: &Todo) -> io::Result<Job> {
        match todo {
            Todo::Compress { input, target } => {
                let After::Compress(c) = &self.after else {
                    return Err(io::Error::other("compression is no longer configured"));
                };
                let pid = self.start_compress(c, input, target)?;
                Ok(Job::Compress {
                    pid,
                    input: input.clone(),
                })
            }
            Todo::Svlogd { u } => {
                let t = u.with_extension("t");
                let state = self.dir().join(STATE);
                if !state.exists() {
                    File::create(&state).map_err(|e| unable("create", &state, e))?;
                }
                let pid = self.start_processor(u, &t)?;
                Ok(Job::Svlogd { pid, u: u.clone() })
            }
            Todo::Multilog => {
                let dir = self.dir();
                let pid = self.start_processor(&dir.join(PREVIOUS), &dir.join(PROCESSED))?;
                Ok(Job::Multilog { pid })
            }
        }
    }

    fn start_compress(&self, c: &Compressor, input: &Path, target: &Path) -> io::Result<Pid> {
        // A name of its own (`FILE.0.gz.PID-N.tmp`): the child of a killed
        // supervisor may still be at work on the same file, and renames
        // only its own output.
        let tmp = with_suffix(target, &format!(".{}-{}.tmp", std::process::id(), self.started));
        remove(&tmp).map_err(|e| unable("remove", &tmp, e))?;
        let source = File::open(input).map_err(|e| unable("open", input, e))?;
        let output = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| unable("create", &tmp, e))?;
        let dir = File::open(self.dir()).map_err(|e| unable("open", self.dir(), e))?;
        let c_string = |b: &[u8]| CString::new(b).map_err(|_| io::Error::other("a NUL byte in a name"));
        let program = c_string(c.program.as_os_str().as_bytes())?;
        let mut argv = vec![c_string(c.method.program().as_bytes())?];
        for a in c.method.compress_args() {
            argv.push(c_string(a.as_bytes())?);
        }
        let file_name = |p: &Path| c_string(p.file_name().map_or(&b""[..], |n| n.as_bytes()));
        let (tmp_name, name) = (file_name(&tmp)?, file_name(target)?);
        crate::sys::filter::spawn(&crate::sys::filter::Job {
            program: &program,
            argv: &argv,
            input: source.as_fd(),
            output: output.as_fd(),
            dir: dir.as_fd(),
            tmp: &tmp_name,
            name: &name,
        })
    }

    /// `sh -c PROCESSOR` in the directory: stdin `input`, stdout `output`
    /// (emptied), fd 4 `state`, fd 5 `newstate` (emptied).
    fn start_processor(&self, input: &Path, output: &Path) -> io::Result<Pid> {
        let After::Process(p) = &self.after else {
            return Err(io::Error::other("no processor is configured"));
        };
        let dir = self.dir();
        let stdin = File::open(input).map_err(|e| unable("open", input, e))?;
        let stdout = File::create(output).map_err(|e| unable("create", output, e))?;
        let state = File::open(dir.join(STATE)).map_err(|e| unable("open", &dir.join(STATE), e))?;
        let newstate = File::create(dir.join(NEWSTATE)).map_err(|e| unable("create", &dir.join(NEWSTATE), e))?;
        // Above 5, so that moving one to 4 or 5 never overwrites the other.
        let high = |f: &File| nix::fcntl::fcntl(f, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10)).map_err(io::Error::from);
        let (state, newstate) = (high(&state)?, high(&newstate)?);
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", &p.command])
            .current_dir(dir)
            .stdin(stdin)
            .stdout(stdout);
        crate::sys::exec::place_fds(&mut cmd, vec![(state, 4), (newstate, 5)]);
        crate::sys::exec::reset_signals(&mut cmd);
        let spawned = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("sh -c {}: {e}", p.command)));
        let _ = nix::unistd::close(state);
        let _ = nix::unistd::close(newstate);
        Ok(Pid::from_raw(spawned?.id() as i32))
    }

    /// A child ended: `false` when it is not this finisher's. Its file is
    /// finished (or kept, or processed again later), the next one started.
    pub fn ended(&mut self, pid: Pid, how: ExitHow) -> bool {
        if self.child() != Some(pid) {
            return false;
        }
        let Some(job) = self.job.take() else { return false };
        let ok = how == ExitHow::Code(0);
        let said = match how {
            ExitHow::Code(c) => format!("exit {c}"),
            ExitHow::Signal(s) => format!("killed by SIG{}", crate::signal::name_of(s)),
        };
        match job {
            Job::Compress { input, .. } => {
                let code = match how {
                    ExitHow::Code(c) => c,
                    ExitHow::Signal(_) => -1,
                };
                match crate::sys::filter::outcome(code) {
                    Ok(()) => {
                        if let Err(e) = remove(&input) {
                            self.notes.push(unable("remove", &input, e).to_string());
                        }
                    }
                    Err(why) => {
                        let why = if code < 0 { said.as_str() } else { why };
                        self.notes
                            .push(format!("unable to compress {}: {why} (kept as it is)", input.display()));
                    }
                }
            }
            Job::Svlogd { u, .. } if ok => {
                if let Err(e) = self.svlogd_done(&u) {
                    self.notes.push(e.to_string());
                }
            }
            Job::Multilog { .. } if ok => {
                if let Err(e) = self.multilog_done() {
                    self.notes.push(e.to_string());
                }
            }
            Job::Svlogd { u, .. } => {
                let _ = remove(&u.with_extension("t"));
                self.failed_processor(&said, Todo::Svlogd { u });
            }
            Job::Multilog { .. } => self.failed_processor(&said, Todo::Multilog),
        }
        self.next();
        true
    }

    fn failed_processor(&mut self, said: &str, todo: Todo) {
        self.notes.push(format!(
            "processor failed in {} ({said}): running it again in {}s",
            self.dir().display(),
            RETRY.as_secs()
        ));
        self.todo.push_front(todo);
        self.retry_at = Some(Instant::now() + RETRY);
    }

    /// svlogd: `@T.u` removed, `@T.t` → `@T.s` (0744), `newstate` → `state`.
    fn svlogd_done(&self, u: &Path) -> io::Result<()> {
        let (t, s) = (u.with_extension("t"), u.with_extension("s"));
        remove(u).map_err(|e| unable("remove", u, e))?;
        std::fs::rename(&t, &s).map_err(|e| unable("rename", &t, e))?;
        set_mode(&s, 0o744).map_err(|e| unable("set the mode of", &s, e))?;
        let dir = self.dir();
        std::fs::rename(dir.join(NEWSTATE), dir.join(STATE)).map_err(|e| unable("rename", &dir.join(NEWSTATE), e))
    }

    /// multilog: `processed` and `newstate` on disk, `previous` removed,
    /// `newstate` → `state`, `processed` → `@<now>.s`.
    fn multilog_done(&self) -> io::Result<()> {
        let dir = self.dir();
        let processed = dir.join(PROCESSED);
        let f = OpenOptions::new()
            .append(true)
            .open(&processed)
            .map_err(|e| unable("open", &processed, e))?;
        f.sync_all().map_err(|e| unable("fsync", &processed, e))?;
        f.set_permissions(Permissions::from_mode(0o744))
            .map_err(|e| unable("set the mode of", &processed, e))?;
        let newstate = dir.join(NEWSTATE);
        let n = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&newstate)
            .map_err(|e| unable("open", &newstate, e))?;
        n.sync_all().map_err(|e| unable("fsync", &newstate, e))?;
        remove(&dir.join(PREVIOUS)).map_err(|e| unable("remove", &dir.join(PREVIOUS), e))?;
        std::fs::rename(&newstate, dir.join(STATE)).map_err(|e| unable("rename", &newstate, e))?;
        self.multilog_finish(&processed, "s")
    }

    /// multilog's `finish`: `file` linked as `@<now>.CODE`, removed, pruned.
    fn multilog_finish(&self, file: &Path, code: &str) -> io::Result<()> {
        let named = self.fresh_name(code);
        std::fs::hard_link(file, &named).map_err(|e| unable("link", file, e))?;
        remove(file).map_err(|e| unable("remove", file, e))?;
        self.prune(None);
        Ok(())
    }

    /// Finish what a crash left (the module's list).
    fn recover(&mut self) -> io::Result<()> {
        let dir = self.dir().to_path_buf();
        match (self.naming, self.after.clone()) {
            (Naming::Numbered, After::Compress(c)) => {
                let files = self.numbered_files().map_err(|e| unable("read", &dir, e))?;
                // Temporary outputs: incomplete.
                let base = self
                    .current
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                for entry in std::fs::read_dir(&dir).map_err(|e| unable("read", &dir, e))?.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    // `FILE.N.gz.PID-K.tmp`
                    let tmp = name
                        .strip_prefix(base.as_str())
                        .and_then(|r| r.strip_prefix('.'))
                        .and_then(|r| r.strip_suffix(".tmp"))
                        .and_then(|r| r.rsplit_once('.'))
                        .and_then(|(r, _)| Method::of_name(r))
                        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                    if tmp {
                        remove(&entry.path()).map_err(|e| unable("remove", &entry.path(), e))?;
                    }
                }
                let mut plain: Vec<usize> = files.iter().filter(|(_, m)| m.is_none()).map(|(n, _)| *n).collect();
                plain.sort_by(|a, b| b.cmp(a));
                for n in plain {
                    let input = self.numbered(n, None);
                    if files.iter().any(|(k, m)| *k == n && m.is_some()) {
                        // Compressed and renamed before the crash.
                        remove(&input).map_err(|e| unable("remove", &input, e))?;
                    } else {
                        let target = self.numbered(n, Some(c.method));
                        self.todo.push_back(Todo::Compress { input, target });
                    }
                }
            }
            (Naming::Tai64n, After::Process(p)) if p.style == Style::Svlogd => {
                let mut names: Vec<String> = std::fs::read_dir(&dir)
                    .map_err(|e| unable("read", &dir, e))?
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                for name in names.iter().filter(|n| stamped(n, ".t")) {
                    let t = dir.join(name);
                    if t.with_extension("u").exists() {
                        remove(&t).map_err(|e| unable("remove", &t, e))?;
                    } else {
                        // svlogd removes the .u before it renames the .t.
                        let s = t.with_extension("s");
                        std::fs::rename(&t, &s).map_err(|e| unable("rename", &t, e))?;
                        let _ = set_mode(&s, 0o744);
                    }
                }
                for name in names.iter().filter(|n| stamped(n, ".u")) {
                    self.todo.push_back(Todo::Svlogd { u: dir.join(name) });
                }
            }
            (Naming::Tai64n, After::Process(_)) => {
                let (previous, processed) = (dir.join(PREVIOUS), dir.join(PROCESSED));
                remove(&dir.join(NEWSTATE)).map_err(|e| unable("remove", &dir.join(NEWSTATE), e))?;
                let complete = std::fs::metadata(&processed).is_ok_and(|m| m.permissions().mode() & 0o100 != 0);
                if complete {
                    remove(&previous).map_err(|e| unable("remove", &previous, e))?;
                    self.multilog_finish(&processed, "s")?;
                } else {
                    remove(&processed).map_err(|e| unable("remove", &processed, e))?;
                    if previous.exists() {
                        self.multilog_finish(&previous, "u")?;
                    }
                }
                let state = dir.join(STATE);
                if !state.exists() {
                    File::create(&state).map_err(|e| unable("create", &state, e))?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
