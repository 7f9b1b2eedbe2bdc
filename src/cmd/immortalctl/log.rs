//! `immortalctl log NAME [-f] [-n N]`: the last N lines (10) of a service's
//! log file set, then with `-f` every new line, across rotations — `tail -F`
//! for the rotation protocol of [`crate::logfile`].
//!
//! - Where: the `log` field of the supervisor's `/status` (its `log:` file,
//!   numbered rotation: `FILE` newest, then `FILE.0`, `FILE.1`…); for a
//!   runit service directory without one, svlogd's `log/main/current`
//!   (rotated to `@<tai64n>.s`).
//! - The set, newest first, is `FILE` then the rotated files by age. A
//!   rotation only renames (each file to the next older name, `FILE` last),
//!   so the file after ours in that order is always the one that followed
//!   it, whatever the gaps while a rotation is under way. Files are known by
//!   device and inode, never by name.
//! - The last N lines come from the newest file, then from older ones when
//!   it has fewer than N. A compressed one (`compress:`'s `FILE.N.gz`,
//!   `FILE.N.zst`; svlogd's `@….s` made by `!gzip`), known by its first
//!   bytes, is read through a child `gzip -dc` / `zstd -q -dc`; while both
//!   `FILE.N` and its compressed copy exist, the plain one is read.
//! - Following holds the file open: when `FILE` no longer is that file, the
//!   rest of it is read to its end (our writer closes a file before renaming
//!   it), then its successor from its start — so a line written just before
//!   a rotation, or a whole file rotated away before it was read, is never
//!   lost. Wake-ups come from a watch on the directory and on the file
//!   being read ([`crate::sys::events`]); no polling.
//! - `-f` ends with exit 0 at SIGINT, SIGTERM or when stdout is closed
//!   (`EPIPE`, or `POLLERR` on it while idle).

use super::discover::{Channel, Found};
use crate::client;
use crate::error::Error;
use crate::layout;
use crate::logfile::Naming;
use crate::sys::events::{Changes, Events, Happened};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Bytes read at a time, backwards for the last lines, forwards to copy.
const CHUNK: usize = 64 * 1024;

/// A file, whatever its name now.
type FileId = (u64, u64);

fn id_of(meta: &std::fs::Metadata) -> FileId {
    (meta.dev(), meta.ino())
}

/// A log file set: the current file and its rotated names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    pub current: PathBuf,
    pub naming: Naming,
}

impl Set {
    fn dir(&self) -> &Path {
        match self.current.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        }
    }

    /// The names of the set in `dir`'s entries, newest first (the current
    /// file first, whether it exists or not).
    fn names(&self, entries: impl Iterator<Item = String>) -> Vec<PathBuf> {
        let base = self
            .current
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = self.dir();
        let mut rotated: Vec<(u64, bool, String)> = Vec::new();
        let mut stamped: Vec<String> = Vec::new();
        for name in entries {
            match self.naming {
                // `FILE.N`, or compressed `FILE.N.gz` / `FILE.N.zst`.
                Naming::Numbered => {
                    let Some(rest) = name.strip_prefix(base.as_str()).and_then(|r| r.strip_prefix('.')) else {
                        continue;
                    };
                    let (number, packed) = match crate::compress::Method::of_name(rest) {
                        Some((_, n)) => (n, true),
                        None => (rest, false),
                    };
                    let n = Some(number)
                        .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|r| r.parse::<u64>().ok());
                    if let Some(n) = n {
                        rotated.push((n, packed, name));
                    }
                }
                // svlogd's finished (`.s`) and unfinished (`.u`) files.
                Naming::Tai64n => {
                    if name.len() == 27 && name.starts_with('@') && (name.ends_with(".s") || name.ends_with(".u")) {
                        stamped.push(name);
                    }
                }
            }
        }
        // A plain file before its compressed copy (the same lines, for the
        // moment between the copy's rename and the plain one's removal):
        // only the plain one counts.
        rotated.sort();
        rotated.dedup_by_key(|(n, _, _)| *n);
        // TAI64N stamps sort as text; newest first.
        stamped.sort_by(|a, b| b.cmp(a));
        let older = rotated.into_iter().map(|(_, _, n)| n).chain(stamped);
        std::iter::once(self.current.clone())
            .chain(older.map(|n| dir.join(n)))
            .collect()
    }

    /// The files of the set that exist now, newest first.
    fn files(&self) -> io::Result<Vec<(PathBuf, FileId)>> {
        let entries = std::fs::read_dir(self.dir())?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned());
        Ok(self
            .names(entries)
            .into_iter()
            .filter_map(|p| std::fs::metadata(&p).ok().map(|m| (p, id_of(&m))))
            .collect())
    }
}

/// Why the output stops.
#[derive(Debug)]
enum Stop {
    /// SIGINT, SIGTERM, stdout closed: exit 0.
    Quit,
    /// Exit 1 with this message.
    Fail(String),
}

fn unable(op: &str, path: &Path, e: io::Error) -> Stop {
    Stop::Fail(format!("unable to {op} {}: {e}", path.display()))
}

fn write_out(out: &mut impl Write, data: &[u8]) -> Result<(), Stop> {
    match out.write_all(data).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Stop::Quit),
        Err(e) => Err(Stop::Fail(format!("unable to write to stdout: {e}"))),
    }
}

/// Where the last `n` lines before `end` start, and how many there are
/// (fewer when the file has fewer). A last line without its newline counts.
fn tail_start(file: &File, end: u64, n: usize, chunk: usize) -> io::Result<(u64, usize)> {
    if n == 0 || end == 0 {
        return Ok((end, 0));
    }
    // The byte before `end` ends the last line, newline or not: newlines
    // are looked for before it.
    let mut pos = end - 1;
    let mut found = 0;
    let mut buf = vec![0u8; chunk.max(1)];
    while pos > 0 {
        let len = (buf.len() as u64).min(pos) as usize;
        let from = pos - len as u64;
        file.read_exact_at(&mut buf[..len], from)?;
        let mut window = &buf[..len];
        while let Some(nl) = crate::sys::bytes::memrchr(b'\n', window) {
            found += 1;
            if found == n {
                return Ok((from + nl as u64 + 1, n));
            }
            window = &window[..nl];
        }
        pos = from;
    }
    Ok((0, found + 1))
}

/// [`tail_start`] in bytes at hand (a decompressed file).
fn tail_start_in(data: &[u8], n: usize) -> (usize, usize) {
    if n == 0 || data.is_empty() {
        return (data.len(), 0);
    }
    let mut window = &data[..data.len() - 1];
    let mut found = 0;
    while let Some(nl) = crate::sys::bytes::memrchr(b'\n', window) {
        found += 1;
        if found == n {
            return (nl + 1, n);
        }
        window = &window[..nl];
    }
    (0, found + 1)
}

/// Copy `file` from `from` to `to` (or to its end); returns where it stopped.
fn copy(file: &File, path: &Path, mut from: u64, to: Option<u64>, out: &mut impl Write) -> Result<u64, Stop> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let want = to.map_or(CHUNK as u64, |t| t.saturating_sub(from).min(CHUNK as u64)) as usize;
        if want == 0 {
            return Ok(from);
        }
        let n = match file.read_at(&mut buf[..want], from) {
            Ok(0) => return Ok(from),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(unable("read", path, e)),
        };
        write_out(out, &buf[..n])?;
        from += n as u64;
    }
}

/// The file being read, and how far.
struct Reading {
    file: File,
    path: PathBuf,
    id: FileId,
    offset: u64,
}

/// Open the newest file of `set` (none: `None`).
fn open_newest(set: &Set) -> Result<Option<Reading>, Stop> {
    let files = set.files().map_err(|e| unable("read", set.dir(), e))?;
    let Some((path, _)) = files.into_iter().next() else {
        return Ok(None);
    };
    match File::open(&path) {
        Ok(file) => {
            let meta = file.metadata().map_err(|e| unable("stat", &path, e))?;
            Ok(Some(Reading {
                file,
                path,
                id: id_of(&meta),
                offset: meta.len(),
            }))
        }
        // Rotated away between the listing and the open: the next one.
        Err(e) if e.kind() == io::ErrorKind::NotFound => open_newest(set),
        Err(e) => Err(unable("open", &path, e)),
    }
}

/// Print the last `n` lines of the set; returns the newest file, positioned
/// after what was printed (`None`: the set has no file yet).
fn print_tail(set: &Set, n: usize, out: &mut impl Write) -> Result<Option<Reading>, Stop> {
    let Some(newest) = open_newest(set)? else {
        return Ok(None);
    };
    let (start, mut count) =
        tail_start(&newest.file, newest.offset, n, CHUNK).map_err(|e| unable("read", &newest.path, e))?;
    // Older pieces, newest first: a file from a start to an end, or a
    // compressed file's lines from a start.
    enum Piece {
        File(File, PathBuf, u64, u64),
        Unpacked(Vec<u8>, usize),
    }
    let mut older = Vec::new();
    if count < n {
        let files = set.files().map_err(|e| unable("read", set.dir(), e))?;
        let after = files
            .iter()
            .position(|(_, id)| *id == newest.id)
            .map_or(files.len(), |p| p + 1);
        for (path, id) in &files[after..] {
            let Ok(file) = File::open(path) else { continue };
            let Ok(meta) = file.metadata() else { continue };
            if id_of(&meta) != *id {
                // Renamed meanwhile: a rotation happened; what we hold is enough.
                break;
            }
            let mut head = [0u8; 4];
            let got = file.read_at(&mut head, 0).unwrap_or(0);
            let (piece, c) = if crate::compress::Method::of_magic(&head[..got]).is_some() {
                // Compressed (`compress:`, svlogd's `!gzip`): through a child.
                let data = crate::compress::read_any(path).map_err(|e| unable("decompress", path, e))?;
                let (s, c) = tail_start_in(&data, n - count);
                (Piece::Unpacked(data, s), c)
            } else {
                let (s, c) = tail_start(&file, meta.len(), n - count, CHUNK).map_err(|e| unable("read", path, e))?;
                (Piece::File(file, path.clone(), s, meta.len()), c)
            };
            older.push(piece);
            count += c;
            if count >= n {
                break;
            }
        }
    }
    for piece in older.iter().rev() {
        match piece {
            Piece::File(file, path, s, end) => {
                copy(file, path, *s, Some(*end), out)?;
            }
            Piece::Unpacked(data, s) => write_out(out, &data[*s..])?,
        }
    }
    copy(&newest.file, &newest.path, start, Some(newest.offset), out)?;
    Ok(Some(newest))
}

/// The file that came after `id` in the set (it was rotated), opened;
/// `Ok(None)` when there is none yet.
fn successor(set: &Set, id: FileId) -> Result<Option<Reading>, Stop> {
    let list = || set.files().map_err(|e| unable("read", set.dir(), e));
    // A rotation under way can change the names between two looks: look
    // again until the open file is where the listing said.
    for _ in 0..100 {
        let before = list()?;
        let Some(p) = before.iter().position(|(_, i)| *i == id) else {
            // Removed, or renamed out of the set (another rotation tool):
            // the current file from its start.
            return open_from_start(&set.current);
        };
        let Some((path, next)) = p.checked_sub(1).and_then(|q| before.get(q)) else {
            // Ours is the newest: the new current file is not created yet.
            return Ok(None);
        };
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(unable("open", path, e)),
        };
        let meta = file.metadata().map_err(|e| unable("stat", path, e))?;
        let after = list()?;
        let still = after.iter().position(|(_, i)| *i == id);
        let adjacent = still
            .and_then(|q| q.checked_sub(1))
            .and_then(|q| after.get(q))
            .map(|(_, i)| *i);
        if id_of(&meta) == *next && adjacent == Some(*next) {
            return Ok(Some(Reading {
                file,
                path: path.clone(),
                id: *next,
                offset: 0,
            }));
        }
    }
    Err(Stop::Fail(format!(
        "{}: the files keep being renamed",
        set.dir().display()
    )))
}

fn open_from_start(path: &Path) -> Result<Option<Reading>, Stop> {
    match File::open(path) {
        Ok(file) => {
            let meta = file.metadata().map_err(|e| unable("stat", path, e))?;
            Ok(Some(Reading {
                file,
                path: path.to_path_buf(),
                id: id_of(&meta),
                offset: 0,
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unable("open", path, e)),
    }
}

/// Print whatever was written since the last look, following rotations.
fn catch_up(set: &Set, reading: &mut Option<Reading>, out: &mut impl Write) -> Result<(), Stop> {
    loop {
        let Some(r) = reading.as_mut() else {
            *reading = open_from_start(&set.current)?;
            if reading.is_none() {
                return Ok(());
            }
            continue;
        };
        let len = r.file.metadata().map_err(|e| unable("stat", &r.path, e))?.len();
        if len < r.offset {
            let _ = writeln!(io::stderr(), "immortalctl: {}: file truncated", r.path.display());
            r.offset = 0;
        }
        r.offset = copy(&r.file, &r.path, r.offset, None, out)?;
        let current = std::fs::metadata(&set.current).map(|m| id_of(&m)).ok();
        if current == Some(r.id) {
            return Ok(());
        }
        let Some(next) = successor(set, r.id)? else {
            return Ok(());
        };
        // Lines written after the copy above and before the rotation.
        copy(&r.file, &r.path, r.offset, None, out)?;
        *reading = Some(next);
    }
}

/// Print new lines as they come, until a signal or stdout closes.
fn follow(set: &Set, mut reading: Option<Reading>, events: &mut Events, out: &mut impl Write) -> Result<(), Stop> {
    let dir = set.dir();
    let watch = events.dir(dir, Changes::Writes).map_err(|e| unable("watch", dir, e))?;
    // Where the directory's watch does not see its files written (a
    // kqueue), the file being read is watched itself.
    let _ = events.contents(watch, &set.current);
    // What happened before the watch began.
    catch_up(set, &mut reading, out)?;
    let stdout = io::stdout();
    loop {
        let (ready, closed) = {
            let sources = events.fds();
            let mut fds: Vec<PollFd> = sources
                .iter()
                .map(|(fd, _)| PollFd::new(*fd, PollFlags::POLLIN))
                .collect();
            // No events asked: only POLLERR (the reader is gone) or POLLHUP.
            fds.push(PollFd::new(stdout.as_fd(), PollFlags::empty()));
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Stop::Fail(format!("poll: {e}"))),
            }
            let is_ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            let ready: Vec<crate::sys::events::Key> = sources
                .iter()
                .zip(&fds)
                .filter(|(_, f)| is_ready(f))
                .map(|((_, k), _)| *k)
                .collect();
            (ready, fds.last().is_some_and(is_ready))
        };
        if closed {
            return Err(Stop::Quit);
        }
        let mut changed = false;
        for happened in events.take(&ready) {
            match happened {
                Happened::Signal(_) => return Err(Stop::Quit),
                Happened::Changed(_, seen) if seen.gone => {
                    catch_up(set, &mut reading, out)?;
                    return Err(Stop::Fail(format!("{}: directory removed or renamed", dir.display())));
                }
                Happened::Changed(..) => changed = true,
                Happened::Exited(_) => {}
            }
        }
        if changed {
            catch_up(set, &mut reading, out)?;
            // After a rotation the name is another file.
            let _ = events.contents(watch, &set.current);
        }
    }
}

/// Print the last `lines` lines, then follow if asked.
fn run(set: &Set, follow_on: bool, lines: usize) -> Result<(), Stop> {
    // Blocked before the first write: SIGPIPE turns into EPIPE, the others
    // are read in the poll loop.
    let mut signals = if follow_on {
        Some(Events::new(&[Signal::SIGINT, Signal::SIGTERM, Signal::SIGPIPE]).map_err(|e| Stop::Fail(e.to_string()))?)
    } else {
        None
    };
    let mut out = io::stdout().lock();
    let reading = print_tail(set, lines, &mut out)?;
    match signals.as_mut() {
        Some(signals) => follow(set, reading, signals, &mut out),
        None if reading.is_none() => Err(unable("open", &set.current, io::Error::from(io::ErrorKind::NotFound))),
        None => Ok(()),
    }
}

/// svlogd's file set in the runit service directory around `supervise`
/// (`DIR/supervise` → `DIR/log/main/current`), if there is one.
/// `Err`: we may not look (access denied), the message.
fn svlogd_set(supervise: &Path) -> crate::error::Result<Option<Set>> {
    if supervise.file_name() != Some(std::ffi::OsStr::new(layout::SUPERVISE)) {
        return Ok(None);
    }
    let Some(svc) = supervise.parent() else {
        return Ok(None);
    };
    let current = svc.join(layout::LOG_SERVICE).join("main").join(layout::CURRENT);
    match current.try_exists() {
        Ok(true) => Ok(Some(Set {
            current,
            naming: Naming::Tai64n,
        })),
        Err(e) if client::denied(e.raw_os_error()) => Err(Error::invalid(super::discover::access_denied(format!(
            "unable to look for {}: {e}",
            current.display()
        )))),
        _ => Ok(None),
    }
}

/// The service's log file set, or the message saying why there is none.
fn find_set(f: &Found) -> crate::error::Result<Set> {
    let none = || Error::invalid(format!("{} has no log: file", f.name));
    let svlogd = |dir: &Path| match svlogd_set(dir) {
        Ok(set) => set.ok_or_else(none),
        Err(e) => Err(Error::invalid(format!("{}: {e}", f.name))),
    };
    match &f.channel {
        Channel::Socket(sock) => {
            let status = client::status(sock)
                .map_err(|e| Error::invalid(format!("{}: {}", f.name, super::discover::explain(&e))))?;
            match status.get("log").and_then(serde_json::Value::as_str) {
                Some(file) => Ok(Set {
                    current: PathBuf::from(file),
                    naming: Naming::Numbered,
                }),
                None => sock.parent().map_or_else(|| Err(none()), svlogd),
            }
        }
        Channel::Fifo(dir) => svlogd(dir),
        Channel::Orphan { pid, .. } => Err(Error::invalid(format!("{}: {}", f.name, super::orphaned(*pid)))),
        Channel::Denied(why) => Err(Error::invalid(format!("{}: {why}", f.name))),
    }
}

/// `immortalctl log`: returns the exit status.
pub fn show(services: &[Found], follow_on: bool, lines: usize) -> i32 {
    let [f] = services else {
        let _ = writeln!(io::stderr(), "immortalctl: log takes one service");
        return 1;
    };
    let set = match find_set(f) {
        Ok(set) => set,
        Err(e) => {
            let _ = writeln!(io::stderr(), "immortalctl: {e}");
            return 1;
        }
    };
    match run(&set, follow_on, lines) {
        Ok(()) | Err(Stop::Quit) => 0,
        Err(Stop::Fail(e)) => {
            let _ = writeln!(io::stderr(), "immortalctl: {}: {e}", f.name);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(text: &str) -> (tempfile::NamedTempFile, File) {
        let mut t = tempfile::NamedTempFile::new().unwrap();
        t.write_all(text.as_bytes()).unwrap();
        let f = File::open(t.path()).unwrap();
        (t, f)
    }

    /// The last n lines as `tail -n` prints them, at every chunk size.
    #[test]
    fn last_lines_like_tail() {
        let cases: &[(&str, usize, &str, usize)] = &[
            ("1\n2\n3\n4\n", 2, "3\n4\n", 2),
            ("1\n2\n3\n4\n", 4, "1\n2\n3\n4\n", 4),
            ("1\n2\n3\n4\n", 9, "1\n2\n3\n4\n", 4),
            ("1\n2\n3\n4\n", 0, "", 0),
            ("1\n2\nno newline", 1, "no newline", 1),
            ("1\n2\nno newline", 2, "2\nno newline", 2),
            ("\n\n\n", 2, "\n\n", 2),
            ("one\n", 1, "one\n", 1),
            ("one\n", 3, "one\n", 1),
            ("", 3, "", 0),
            ("long line here\nx\n", 1, "x\n", 1),
        ];
        for chunk in [1, 2, 3, 5, CHUNK] {
            for &(text, n, want, count) in cases {
                let (_t, f) = file_with(text);
                let (start, got) = tail_start(&f, text.len() as u64, n, chunk).unwrap();
                assert_eq!(
                    (&text[start as usize..], got),
                    (want, count),
                    "{text:?} n={n} chunk={chunk}"
                );
            }
        }
        for &(text, n, want, count) in cases {
            let (start, got) = tail_start_in(text.as_bytes(), n);
            assert_eq!((&text[start..], got), (want, count), "{text:?} n={n} in memory");
        }
    }

    #[test]
    fn the_set_newest_first() {
        let set = Set {
            current: PathBuf::from("/var/log/web.log"),
            naming: Naming::Numbered,
        };
        let entries = [
            "web.log.10",
            "web.log",
            "web.log.2",
            "web.log.0",
            "web.logx",
            "web.log.",
            "web.log.1a",
            "other.1",
            // Compressed: named by number; a plain one wins over its copy;
            // a temporary output is no file of the set.
            "web.log.3.gz",
            "web.log.2.gz",
            "web.log.4.zst",
            "web.log.1.gz.4242-1.tmp",
            "web.log.x.gz",
        ];
        let names = set.names(entries.iter().map(|s| s.to_string()));
        let want = [
            "/var/log/web.log",
            "/var/log/web.log.0",
            "/var/log/web.log.2",
            "/var/log/web.log.3.gz",
            "/var/log/web.log.4.zst",
            "/var/log/web.log.10",
        ];
        assert_eq!(names, want.map(PathBuf::from));

        let set = Set {
            current: PathBuf::from("/s/log/main/current"),
            naming: Naming::Tai64n,
        };
        let entries = [
            "@400000006554a1b22f3e1c04.s",
            "lock",
            "@400000006554a1c0000aaaaa.u",
            "config",
            "@400000006554a1a0000aaaaa.s",
            "@short.s",
        ];
        let names = set.names(entries.iter().map(|s| s.to_string()));
        let want = [
            "/s/log/main/current",
            "/s/log/main/@400000006554a1c0000aaaaa.u",
            "/s/log/main/@400000006554a1b22f3e1c04.s",
            "/s/log/main/@400000006554a1a0000aaaaa.s",
        ];
        assert_eq!(names, want.map(PathBuf::from));
    }

    /// The last lines span compressed rotated files (each method whose
    /// program is installed), read through a child.
    #[test]
    fn last_lines_span_compressed_files() {
        for m in crate::compress::Method::ALL {
            let Ok(program) = m.find(None) else { continue };
            let dir = tempfile::tempdir().unwrap();
            let current = dir.path().join("out.log");
            let pack = |name: &str, text: &str| {
                let mut child = std::process::Command::new(&program)
                    .args(m.compress_args())
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::fs::File::create(dir.path().join(name)).unwrap())
                    .spawn()
                    .unwrap();
                child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
                assert!(child.wait().unwrap().success());
            };
            pack(&format!("out.log.1.{}", m.extension()), "1\n2\n3\n");
            pack(&format!("out.log.0.{}", m.extension()), "4\n5\n");
            std::fs::write(&current, "6\n").unwrap();
            let set = Set {
                current,
                naming: Naming::Numbered,
            };
            for (n, want) in [
                (1, "6\n"),
                (2, "5\n6\n"),
                (4, "3\n4\n5\n6\n"),
                (9, "1\n2\n3\n4\n5\n6\n"),
            ] {
                let mut out = Vec::new();
                print_tail(&set, n, &mut out).unwrap();
                assert_eq!(String::from_utf8(out).unwrap(), want, "{m:?} -n {n}");
            }
        }
    }

    /// A rotation while the follower holds the old file: the rest of the old
    /// file, then the new one, every line once.
    #[test]
    fn catch_up_follows_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("out.log");
        let set = Set {
            current: current.clone(),
            naming: Naming::Numbered,
        };
        std::fs::write(&current, "1\n2\n").unwrap();
        let mut out = Vec::new();
        let mut reading = print_tail(&set, 1, &mut out).unwrap();
        assert_eq!(out, b"2\n");
        let append = |p: &Path, s: &str| {
            let mut f = std::fs::OpenOptions::new().append(true).create(true).open(p).unwrap();
            f.write_all(s.as_bytes()).unwrap();
        };
        append(&current, "3\n");
        // Two rotations before the follower looks: out.log → .0 → .1.
        std::fs::rename(&current, dir.path().join("out.log.0")).unwrap();
        append(&current, "4\n");
        std::fs::rename(dir.path().join("out.log.0"), dir.path().join("out.log.1")).unwrap();
        std::fs::rename(&current, dir.path().join("out.log.0")).unwrap();
        catch_up(&set, &mut reading, &mut out).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            "2\n3\n4\n",
            "the new current file is not there yet"
        );
        append(&current, "5\n");
        catch_up(&set, &mut reading, &mut out).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "2\n3\n4\n5\n");
        // The last lines across the boundary.
        let mut tail = Vec::new();
        print_tail(&set, 4, &mut tail).unwrap();
        assert_eq!(String::from_utf8_lossy(&tail), "2\n3\n4\n5\n");
    }
}
