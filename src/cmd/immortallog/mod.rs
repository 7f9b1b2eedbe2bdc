//! `immortallog`: read stdin, write rotated, timestamped logs (the library's
//! [`crate::logfile::LogWriter`], one per log), in three dialects:
//!
//! ```text
//! immortallog [-t|-tt|-ttt] [-v] [-r c] [-R abc] [-l len] [-b buflen]
//!             [-s BYTES] [-n NUM] [-a SECONDS] DIR...                  # svlogd
//! immortallog t s100000 n5 '-*' '+* fatal: *' ./fatal '+*' e ./main    # multilog
//! immortallog -f FILE [-s MiB] [-n NUM] [-a SECONDS] [-T]              # Go immortal
//! ```
//!
//! Which dialect: a first argument that is an option (`-tt`, `-b 2048`,
//! `-f`…) means svlogd's or Go's; otherwise any multilog action (`t`, `e`,
//! `sSIZE`, `nNUM`, `+…`, `-…` that is no option, `=…`, `!…`) means a
//! multilog script; otherwise (directories only) svlogd's.
//!
//! Directories hold `DIR/current`, rotated to `DIR/@<tai64n>.s`, and
//! `DIR/lock`; svlogd's `DIR/config` is read at start and at SIGHUP (in
//! every dialect). SIGHUP reopens, SIGALRM rotates now, SIGTERM or end of
//! input flushes (a final unterminated line gets its newline) and exits 0.
//!
//! Selection (multilog's `+`/`-`/`e`/`=` actions, svlogd's config patterns
//! and `p` prefix, `-r`/`-R`) happens line by line only when configured;
//! without it the input goes to the writers in whole chunks.

use crate::layout;
use crate::logfile::{LogWriter, Naming, Rotation, Stamp, MAX_LINE};
use std::fs::File;
use std::io::Write;
use std::net::{SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Svlogd,
    Multilog,
    Go,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub dialect: Dialect,
    /// Log directories (multilog, svlogd) or the one file (Go).
    pub logs: Vec<Log>,
    /// multilog's script, in order (empty in the other dialects).
    pub script: Vec<Action>,
    pub stamp: Stamp,
    /// svlogd's `-r c` / `-R abc`.
    pub replace: Option<Replace>,
    /// Bytes of a line that patterns (and alerts) see: svlogd's `-l`,
    /// multilog's 1000 (less the timestamp).
    pub line_len: usize,
    /// svlogd's `-b`: read at least this much at a time.
    pub buf_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    pub target: PathBuf,
    pub naming: Naming,
    /// From the command line; `DIR/config` overrides it.
    pub rotation: Rotation,
    /// Used when the directory has no `config` file.
    pub config: Config,
}

/// One multilog action that acts on lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `+pattern`
    Select(Vec<u8>),
    /// `-pattern`
    Deselect(Vec<u8>),
    /// `e`: selected lines (first 200 bytes) to stderr.
    Alert,
    /// `=file`: the last selected line, padded to 1001 bytes.
    Status(PathBuf),
    /// A directory: index in [`Options::logs`].
    Log(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace {
    pub with: u8,
    /// Replaced besides the non-printable bytes.
    pub also: Vec<u8>,
}

/// svlogd's `DIR/config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub size: Option<u64>,
    pub keep: Option<usize>,
    /// `NMIN`: accepted, not acted on (a full disk pauses writing).
    pub min_keep: Option<usize>,
    /// `tSECONDS`; 0: never.
    pub age: Option<u64>,
    pub rules: Vec<Rule>,
    pub prefix: Vec<u8>,
    pub udp: Option<Udp>,
    /// `!processor`: not supported (a warning says so).
    pub processor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub kind: RuleKind,
    pub pattern: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// `+pattern`
    Select,
    /// `-pattern`
    Deselect,
    /// `epattern`: to stderr.
    Alert,
    /// `Epattern`: not to stderr.
    NoAlert,
}

/// `uADDR[:PORT]` (also to the directory) or `UADDR[:PORT]` (only UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp {
    pub addr: SocketAddrV4,
    pub only: bool,
}

impl Config {
    /// The rotation in force: `base` (the command line's) overridden.
    pub fn rotation(&self, base: Rotation) -> Rotation {
        Rotation {
            size: self.size.unwrap_or(base.size),
            keep: self.keep.unwrap_or(base.keep),
            age: match self.age {
                Some(0) => None,
                Some(s) => Some(Duration::from_secs(s)),
                None => base.age,
            },
        }
    }

    fn filters(&self) -> bool {
        !self.rules.is_empty() || !self.prefix.is_empty() || self.udp.is_some()
    }
}

const SVLOGD_SIZE: u64 = 1_000_000;
const SVLOGD_KEEP: usize = 10;
const SVLOGD_LINE: usize = 1000;
const SVLOGD_BUF: usize = 1024;
const MULTILOG_SIZE: u64 = 99_999;
/// multilog's `nNUM` counts `current` too: NUM-1 old files are kept.
const MULTILOG_FILES: usize = 10;
const MULTILOG_MIN_SIZE: u64 = 4096;
const MULTILOG_MAX_SIZE: u64 = 16_777_215;
/// multilog matches patterns against the first 1000 bytes (with the stamp).
const MULTILOG_LINE: usize = 1000;
/// multilog's `e` prints the first 200 bytes.
const MULTILOG_ALERT: usize = 200;
/// multilog's `=file` is rewritten with 1001 bytes.
const MULTILOG_STATUS: usize = 1001;
/// The read buffer: `-b` can make it larger, up to a limit.
const READ_MIN: usize = 256 * 1024;
const READ_MAX: usize = 16 * 1024 * 1024;

/// multilog's pattern match (daemontools' `match.c`): the whole line must
/// match; a `*` before the end matches any string that does not contain
/// the pattern's next character (the shortest: no backtracking); a `*` at
/// the end matches anything. Not a glob: `a*c` does not match `abcc`.
pub fn multilog_match(pattern: &[u8], line: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    loop {
        let Some(&c) = pattern.get(p) else {
            return s == line.len();
        };
        p += 1;
        if c == b'*' {
            let Some(&next) = pattern.get(p) else {
                return true;
            };
            match line[s..].iter().position(|&b| b == next) {
                Some(i) => s += i,
                None => return false,
            }
            continue;
        }
        if line.get(s) != Some(&c) {
            return false;
        }
        s += 1;
    }
}

/// svlogd's pattern match (runit's `pmatch.c`): multilog's, plus `+c`
/// matching one or more `c`. As in svlogd, a line that ends inside a `+`
/// repetition matches whatever follows in the pattern (`a+bc` matches
/// `ab`); a `+` ending the pattern matches nothing.
pub fn svlogd_match(pattern: &[u8], line: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    loop {
        let Some(&c) = pattern.get(p) else {
            return s == line.len();
        };
        p += 1;
        match c {
            b'*' => {
                let Some(&next) = pattern.get(p) else {
                    return true;
                };
                match line[s..].iter().position(|&b| b == next) {
                    Some(i) => s += i,
                    None => return false,
                }
            }
            b'+' => {
                let Some(&rep) = pattern.get(p) else {
                    return false;
                };
                p += 1;
                if line.get(s) != Some(&rep) {
                    return false;
                }
                loop {
                    match line.get(s) {
                        None => return true,
                        Some(&b) if b == rep => s += 1,
                        Some(_) => break,
                    }
                }
            }
            _ => {
                if line.get(s) != Some(&c) {
                    return false;
                }
                s += 1;
            }
        }
    }
}

/// Option letters of the svlogd and Go dialects: flags, then those that
/// take a value (attached, `-l100`, or the next argument, `-l 100`).
const FLAGS: &[u8] = b"tvT";
const VALUED: &[u8] = b"rRlbsnaf";

fn value_ok(opt: u8, v: &str) -> bool {
    match opt {
        b'l' | b'b' | b's' | b'n' | b'a' => !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()),
        b'r' => v.len() == 1,
        _ => true,
    }
}

/// `-tt`, `-b2048`, `-ttv`, `--`…: an option cluster of svlogd's or Go's.
fn is_option(a: &str) -> bool {
    let b = a.as_bytes();
    if b.len() < 2 || b[0] != b'-' {
        return false;
    }
    if a == "--" {
        return true;
    }
    for (i, &c) in b.iter().enumerate().skip(1) {
        if FLAGS.contains(&c) {
            continue;
        }
        if VALUED.contains(&c) {
            let rest = &a[i + 1..];
            return rest.is_empty() || value_ok(c, rest);
        }
        return false;
    }
    true
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// An argument only a multilog script has.
fn is_multilog_action(a: &str) -> bool {
    match a.as_bytes().first() {
        Some(b't') | Some(b'e') => a.len() == 1,
        Some(b's') | Some(b'n') => digits(&a[1..]),
        Some(b'+') | Some(b'=') | Some(b'!') => true,
        Some(b'-') => !is_option(a),
        _ => false,
    }
}

/// Parse the command line (without the program name).
pub fn parse(args: &[String]) -> Result<Options, String> {
    let Some(first) = args.first() else {
        return Err("missing DIR (or -f FILE)".into());
    };
    if !is_option(first) && args.iter().any(|a| is_multilog_action(a)) {
        parse_multilog(args).map_err(|e| {
            if first.starts_with('-') {
                format!("unknown option: {first} (read as a multilog script: {e})")
            } else {
                e
            }
        })
    } else {
        parse_flags(args)
    }
}

fn number<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{what}: not a number: '{v}'"))
}

fn parse_flags(args: &[String]) -> Result<Options, String> {
    let (mut file, mut dirs) = (None, Vec::new());
    let (mut size, mut keep, mut age) = (None, None, None);
    let (mut ts, mut rfc3339) = (0, false);
    let (mut with, mut also) = (None, None);
    let (mut line_len, mut buf_len) = (SVLOGD_LINE, SVLOGD_BUF);
    let mut options_done = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if !options_done && a == "--" {
            options_done = true;
            continue;
        }
        if options_done || !a.starts_with('-') || a.len() == 1 {
            if !a.contains('/') && is_multilog_action(a) {
                return Err(format!(
                    "{a} is a multilog action, but the command line started with svlogd options \
                     (a multilog script starts with an action; a directory named {a}: ./{a})"
                ));
            }
            dirs.push(PathBuf::from(a));
            continue;
        }
        let b = a.as_bytes();
        let mut k = 1;
        while k < b.len() {
            let c = b[k];
            k += 1;
            if FLAGS.contains(&c) {
                match c {
                    b't' => ts += 1,
                    b'T' => rfc3339 = true,
                    _ => {} // -v: svlogd's verbose; nothing more to say here
                }
                continue;
            }
            if !VALUED.contains(&c) {
                return Err(if b.len() == 2 {
                    format!("unknown option: {a}")
                } else {
                    format!("unknown option in {a}: -{}", a[k - 1..].chars().next().unwrap_or('?'))
                });
            }
            let opt = format!("-{}", c as char);
            let v: &str = if k < b.len() {
                let v = &a[k..];
                k = b.len();
                v
            } else {
                let v = args.get(i).ok_or_else(|| format!("{opt} needs a value"))?;
                i += 1;
                v
            };
            match c {
                b'r' => {
                    if v.len() != 1 {
                        return Err(format!("-r needs a single character (byte): '{v}'"));
                    }
                    with = Some(v.as_bytes()[0]);
                }
                b'R' => also = Some(v.as_bytes().to_vec()),
                b'l' => {
                    line_len = number::<usize>("-l", v)?;
                    if line_len == 0 {
                        line_len = SVLOGD_LINE;
                    }
                }
                b'b' => {
                    buf_len = number::<usize>("-b", v)?;
                    if buf_len == 0 {
                        buf_len = SVLOGD_BUF;
                    }
                }
                b's' => size = Some(number::<u64>("-s", v)?),
                b'n' => keep = Some(number::<usize>("-n", v)?),
                b'a' => age = Some(number::<u64>("-a", v)?),
                _ => file = Some(PathBuf::from(v)), // -f
            }
        }
    }
    if buf_len <= line_len {
        return Err(format!(
            "-b {buf_len} must be greater than -l {line_len} (as svlogd requires; default -b 1024, -l 1000)"
        ));
    }
    let replace = (with.is_some() || also.is_some()).then(|| Replace {
        with: with.unwrap_or(b'_'),
        also: also.unwrap_or_default(),
    });
    let stamp = match (rfc3339, ts) {
        (true, _) => Stamp::Rfc3339,
        (false, 0) => Stamp::None,
        (false, 1) => Stamp::Tai64n,
        (false, 2) => Stamp::Svlogd,
        _ => Stamp::SvlogdT,
    };
    let age = age.filter(|&a| a > 0).map(Duration::from_secs);
    let line_len = line_len.min(MAX_LINE);
    match (file, dirs.is_empty()) {
        (Some(f), true) => Ok(Options {
            dialect: Dialect::Go,
            logs: vec![Log {
                target: f,
                naming: Naming::Numbered,
                // Go immortal: sizes in MiB, default 1 MiB.
                rotation: Rotation {
                    size: size.unwrap_or(1).saturating_mul(1024 * 1024),
                    age,
                    keep: keep.unwrap_or(1),
                },
                config: Config::default(),
            }],
            script: Vec::new(),
            stamp,
            replace,
            line_len,
            buf_len,
        }),
        (None, false) => {
            let rotation = Rotation {
                size: size.unwrap_or(SVLOGD_SIZE),
                age,
                // svlogd's n0: never remove old files.
                keep: match keep {
                    None => SVLOGD_KEEP,
                    Some(0) => usize::MAX,
                    Some(n) => n,
                },
            };
            Ok(Options {
                dialect: Dialect::Svlogd,
                logs: dirs
                    .into_iter()
                    .map(|d| Log {
                        target: d,
                        naming: Naming::Tai64n,
                        rotation,
                        config: Config::default(),
                    })
                    .collect(),
                script: Vec::new(),
                stamp,
                replace,
                line_len,
                buf_len,
            })
        }
        (Some(_), false) => Err(format!(
            "give -f FILE or DIR, not both (DIR: {})",
            dirs.first().map_or(String::new(), |d| d.display().to_string())
        )),
        (None, true) => Err("missing DIR (or -f FILE)".into()),
    }
}

fn parse_multilog(args: &[String]) -> Result<Options, String> {
    let (mut size, mut files, mut stamp) = (MULTILOG_SIZE, MULTILOG_FILES, Stamp::None);
    let (mut logs, mut script) = (Vec::new(), Vec::new());
    for (i, a) in args.iter().enumerate() {
        let b = a.as_bytes();
        match b.first() {
            None => {} // multilog ignores an empty action
            Some(b't') if a == "t" => {
                if i > 0 {
                    return Err(format!("multilog action t must come first (it is argument {})", i + 1));
                }
                stamp = Stamp::Tai64n;
            }
            Some(b's') => {
                let n: u64 = a[1..].parse().map_err(|_| format!("bad size token: {a}"))?;
                size = n.clamp(MULTILOG_MIN_SIZE, MULTILOG_MAX_SIZE);
            }
            Some(b'n') => {
                let n: usize = a[1..].parse().map_err(|_| format!("bad count token: {a}"))?;
                files = n.max(2);
            }
            Some(b'+') => script.push(Action::Select(b[1..].to_vec())),
            Some(b'-') => script.push(Action::Deselect(b[1..].to_vec())),
            Some(b'e') if a == "e" => script.push(Action::Alert),
            Some(b'=') if a.len() > 1 => script.push(Action::Status(PathBuf::from(&a[1..]))),
            Some(b'.') | Some(b'/') => {
                script.push(Action::Log(logs.len()));
                logs.push(Log {
                    target: PathBuf::from(a),
                    naming: Naming::Tai64n,
                    rotation: Rotation {
                        size,
                        age: None,
                        keep: files - 1,
                    },
                    config: Config::default(),
                });
            }
            Some(b'!') => {
                return Err(format!(
                    "unsupported multilog action: {a} (processors are not supported; rotated files are kept as they are without it)"
                ))
            }
            Some(b'=') => return Err(format!("unsupported multilog action: {a} (= needs a file name)")),
            _ => return Err(format!("unsupported multilog action: {a}")),
        }
    }
    if logs.is_empty() && !script.iter().any(|a| matches!(a, Action::Alert | Action::Status(_))) {
        return Err("missing log directory (starting with . or /)".into());
    }
    let line_len = MULTILOG_LINE - stamp.render(SystemTime::UNIX_EPOCH).len();
    Ok(Options {
        dialect: Dialect::Multilog,
        logs,
        script,
        stamp,
        replace: None,
        line_len,
        buf_len: SVLOGD_BUF,
    })
}

/// A number at the start of `s`, and what follows it.
fn leading_number(s: &[u8]) -> Option<(u64, &[u8])> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let v = std::str::from_utf8(&s[..n]).ok()?.parse().ok()?;
    Some((v, &s[n..]))
}

/// Parse svlogd's `config` text. Returns the configuration and warnings
/// (lines svlogd would act on that immortallog does not); an error names
/// the line (`config:LINE: ...`).
pub fn parse_config(text: &[u8]) -> Result<(Config, Vec<String>), String> {
    let mut c = Config::default();
    let mut warnings = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let shown = String::from_utf8_lossy(line);
        let at = format!("config:{}", i + 1);
        let bad = |why: &str| format!("{at}: {why}: {shown}");
        let Some((&kind, rest)) = line.split_first() else {
            continue;
        };
        // Numbers may have trailing blanks, nothing else.
        let num = |suffixes: &[(u8, u64)]| -> Result<u64, String> {
            let (v, mut tail) = leading_number(rest).ok_or_else(|| bad("not a number"))?;
            let mut v = v;
            if let Some((&s, t)) = tail.split_first() {
                if let Some(&(_, m)) = suffixes.iter().find(|(c, _)| *c == s) {
                    v = v.checked_mul(m).ok_or_else(|| bad("too large"))?;
                    tail = t;
                }
            }
            if tail.iter().any(|b| !b.is_ascii_whitespace()) {
                return Err(bad("not a number"));
            }
            Ok(v)
        };
        let count = |v: u64| usize::try_from(v).map_err(|_| bad("too large"));
        match kind {
            b'#' => {}
            b'+' | b'-' | b'e' | b'E' => c.rules.push(Rule {
                kind: match kind {
                    b'+' => RuleKind::Select,
                    b'-' => RuleKind::Deselect,
                    b'e' => RuleKind::Alert,
                    _ => RuleKind::NoAlert,
                },
                pattern: rest.to_vec(),
            }),
            b's' => c.size = Some(num(&[(b'k', 1024), (b'm', 1024 * 1024)])?),
            b'n' => {
                // svlogd's n0: never remove old files.
                c.keep = Some(match count(num(&[])?)? {
                    0 => usize::MAX,
                    n => n,
                })
            }
            b'N' => c.min_keep = Some(count(num(&[])?)?),
            b't' => c.age = Some(num(&[(b'm', 60), (b'h', 3600)])?),
            b'p' => c.prefix = rest.to_vec(),
            b'!' if !rest.is_empty() => {
                let p = String::from_utf8_lossy(rest).into_owned();
                warnings.push(format!(
                    "{at}: processors are not supported, rotated files are kept unprocessed: !{p}"
                ));
                c.processor = Some(p);
            }
            b'u' | b'U' => {
                let text = std::str::from_utf8(rest).map_err(|_| bad("not an IPv4 address"))?;
                let text = text.trim_end();
                let addr = if text.contains(':') {
                    text.parse::<SocketAddrV4>()
                } else {
                    text.parse().map(|ip| SocketAddrV4::new(ip, 514))
                }
                .map_err(|_| bad("not an IPv4 address[:port]"))?;
                c.udp = Some(Udp {
                    addr,
                    only: kind == b'U',
                });
            }
            _ if line.iter().all(|b| b.is_ascii_whitespace()) => {}
            _ => warnings.push(format!("{at}: unknown line ignored: {shown}")),
        }
    }
    Ok((c, warnings))
}

/// Apply a `config` text to every log directory of `opts` (what [`open`]
/// does per directory with its own `DIR/config`).
pub fn apply_config(opts: &mut Options, text: &str) -> Result<(), String> {
    let (config, _) = parse_config(text.as_bytes())?;
    for log in &mut opts.logs {
        log.config = config.clone();
    }
    Ok(())
}

/// `DIR/config`, if there is one.
fn read_config(dir: &Path) -> Result<Option<(Config, Vec<String>)>, String> {
    let path = dir.join(layout::LOG_CONFIG);
    match crate::sys::fs::read_regular(&path, crate::sys::fs::MAX_SMALL_FILE, false) {
        Ok(text) => parse_config(&text)
            .map(Some)
            .map_err(|e| format!("{}/{e}", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("unable to read {}: {e}", path.display())),
    }
}

fn warn_all(dir: &Path, warnings: &[String]) {
    for w in warnings {
        eprintln!("immortallog: warning: {}/{w}", dir.display());
    }
}

/// One output: a log directory or the Go dialect's file.
struct Out {
    writer: LogWriter,
    _lock: Option<crate::sys::lock::Lock>,
    /// The directory (not for the Go dialect's file).
    dir: Option<PathBuf>,
    base: Rotation,
    config: Config,
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

/// Open every output of `opts` (creating directories, taking `DIR/lock`,
/// reading `DIR/config`, opening `=file`s).
pub fn open(opts: Options) -> crate::error::Result<Logger> {
    use crate::error::{Context, Error};
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
                let config = match read_config(&dir).map_err(Error::invalid)? {
                    Some((config, warnings)) => {
                        warn_all(&dir, &warnings);
                        config
                    }
                    None => log.config,
                };
                let current = dir.join(layout::CURRENT);
                let writer = LogWriter::open(&current, Naming::Tai64n, config.rotation(log.rotation), opts.stamp)
                    .ctx("open", &current)?;
                Out {
                    writer,
                    _lock: Some(lock),
                    dir: Some(dir),
                    base: log.rotation,
                    config,
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
            if o.writer.flush().is_err() {
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

/// Copy stdin into the logs until end of input or SIGTERM; returns the
/// exit code.
pub fn run(mut logger: Logger) -> i32 {
    use crate::sys::events::Events;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::Signal;
    use std::io::Read;
    use std::os::fd::AsFd;
    let mut signals = match Events::new(&[Signal::SIGHUP, Signal::SIGALRM, Signal::SIGTERM, Signal::SIGINT]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("immortallog: fatal: {e}");
            return 1;
        }
    };
    crate::sys::process::ignore_file_size_signal();
    let stdin = std::io::stdin();
    let _ = nix::fcntl::fcntl(&stdin, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK));
    let mut buf = vec![0u8; logger.read_size()];
    let mut eof = false;
    loop {
        if eof {
            logger.finish();
        }
        let retry = !logger.flush();
        if eof && logger.pending() == 0 {
            return 0;
        }
        let (sig_ready, in_ready) = {
            let mut fds = vec![PollFd::new(signals.fd(), PollFlags::POLLIN)];
            // Back-pressure: while the disk fails, stop reading.
            let reading = !eof && !logger.full();
            if reading {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            let timeout = if retry {
                PollTimeout::from(1000u16)
            } else {
                PollTimeout::NONE
            };
            if poll(&mut fds, timeout).is_err() {
                continue;
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), reading && ready(&fds[1]))
        };
        if sig_ready {
            for s in signals.signals() {
                match s {
                    Signal::SIGHUP => logger.reload(),
                    Signal::SIGALRM => logger.rotate(),
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

    fn p(args: &[&str]) -> Result<Options, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn multilog_patterns() {
        let table: &[(&str, &str, bool)] = &[
            // From multilog(8).
            ("hello", "hello", true),
            ("hello", "hello world", false),
            (
                "named[*]: Cleaned cache *",
                "named[135]: Cleaned cache of 3121 RRs",
                true,
            ),
            ("*", "", true),
            ("*", "anything at all", true),
            ("* fatal: *", "@400000003b4a39c23294b13c fatal: out of memory", true),
            ("* fatal: *", "@400000003b4a39c23294b13c info: fatal: no", false),
            // A star stops at the first occurrence of the next character.
            ("a*c", "abbc", true),
            ("a*c", "abcc", false),
            ("*pid*", "tcpsvd: info: pid 1977", false),
            ("*: *: pid *", "tcpsvd: info: pid 1977 from 10.4.1.14", true),
            ("", "", true),
            ("", "x", false),
            ("x", "", false),
            ("ab", "a", false),
            // No other special characters.
            ("a+b", "a+b", true),
            ("a+b", "aab", false),
            ("a?c", "abc", false),
            ("[ab]", "a", false),
            // The next character of a star can be a star (taken literally).
            ("**x", "yyx", false),
            ("**x", "y*x", true),
            ("*x", "yyxz", false),
        ];
        for &(pat, line, want) in table {
            assert_eq!(
                multilog_match(pat.as_bytes(), line.as_bytes()),
                want,
                "{pat:?} ~ {line:?}"
            );
        }
    }

    #[test]
    fn svlogd_patterns() {
        let table: &[(&str, &str, bool)] = &[
            // From svlogd(8): the first star stops at the p of tcpsvd.
            ("*pid*", "tcpsvd: info: pid 1977 from 10.4.1.14", false),
            ("*: *: pid *", "tcpsvd: info: pid 1977 from 10.4.1.14", true),
            ("hello", "hello", true),
            ("hello", "hello!", false),
            ("*", "", true),
            // + repeats the next character once or more.
            ("a+b", "abbb", true),
            ("a+bc", "abbbc", true),
            ("a+b", "a", false),
            ("a+bc", "ac", false),
            ("+ab", "aaab", true),
            ("x+y", "xyz", false),
            // svlogd's quirks: a line ending inside a repetition matches;
            // a + that ends the pattern matches nothing.
            ("a+bc", "ab", true),
            ("a+", "a+", false),
            ("+a", "", false),
        ];
        for &(pat, line, want) in table {
            assert_eq!(
                svlogd_match(pat.as_bytes(), line.as_bytes()),
                want,
                "{pat:?} ~ {line:?}"
            );
        }
    }

    #[test]
    fn dialects() {
        // (args, dialect, stamp, directories)
        let table: &[(&[&str], Dialect, Stamp, usize)] = &[
            (
                &["-tt", "-s", "5000", "-n", "3", "/var/log/x"],
                Dialect::Svlogd,
                Stamp::Svlogd,
                1,
            ),
            (&["/var/log/x"], Dialect::Svlogd, Stamp::None, 1),
            (&["./a", "./b"], Dialect::Svlogd, Stamp::None, 2),
            (&["main"], Dialect::Svlogd, Stamp::None, 1),
            (&["./d", "-t"], Dialect::Svlogd, Stamp::Tai64n, 1),
            (&["-t", "-t", "./d"], Dialect::Svlogd, Stamp::Svlogd, 1),
            (&["-ttt", "./d"], Dialect::Svlogd, Stamp::SvlogdT, 1),
            (&["-tttt", "./d"], Dialect::Svlogd, Stamp::SvlogdT, 1),
            (&["-ttv", "-b2048", "./d", "/e"], Dialect::Svlogd, Stamp::Svlogd, 2),
            (
                &["-tt", "-b", "2048", "/var/log/runit/x"],
                Dialect::Svlogd,
                Stamp::Svlogd,
                1,
            ),
            (&["-v", "./d"], Dialect::Svlogd, Stamp::None, 1),
            (&["-r_", "-R", ":;", "-l", "20", "./d"], Dialect::Svlogd, Stamp::None, 1),
            (
                &["t", "s100000", "n5", "-*", "./a"],
                Dialect::Multilog,
                Stamp::Tai64n,
                1,
            ),
            (&["-*", "+*fatal*", "./a"], Dialect::Multilog, Stamp::None, 1),
            (
                &["-named[*]: Cleaned cache *", "./a"],
                Dialect::Multilog,
                Stamp::None,
                1,
            ),
            (&["t", "./a", "./b", "./c"], Dialect::Multilog, Stamp::Tai64n, 3),
            (&["e"], Dialect::Multilog, Stamp::None, 0),
            (&["-*", "+STAT*", "=log/status"], Dialect::Multilog, Stamp::None, 0),
            (&["-f", "/tmp/a.log", "-T"], Dialect::Go, Stamp::Rfc3339, 1),
        ];
        for &(args, dialect, stamp, n) in table {
            let o = p(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!((o.dialect, o.stamp, o.logs.len()), (dialect, stamp, n), "{args:?}");
        }
    }

    #[test]
    fn sizes_counts_and_defaults() {
        let rot = |args: &[&str]| -> Vec<(u64, usize)> {
            p(args)
                .unwrap()
                .logs
                .iter()
                .map(|l| (l.rotation.size, l.rotation.keep))
                .collect()
        };
        assert_eq!(rot(&["/x"]), [(SVLOGD_SIZE, SVLOGD_KEEP)]);
        assert_eq!(rot(&["-s", "5000", "-n", "0", "/x"]), [(5000, usize::MAX)]);
        // multilog: s99999 n10 (9 old files), s within 4096..16777215,
        // n at least 2, each directory with the values before it.
        assert_eq!(rot(&["t", "./a"]), [(99_999, 9)]);
        assert_eq!(rot(&["t", "s1000000", "n10", "./main"]), [(1_000_000, 9)]);
        assert_eq!(
            rot(&["s100", "n1", "./a", "s99999999", "n20", "./b", "./c"]),
            [(4096, 1), (16_777_215, 19), (16_777_215, 19)]
        );
        let o = p(&["-f", "/tmp/a.log", "-s", "2", "-n", "7", "-a", "60"]).unwrap();
        assert_eq!(
            (o.logs[0].naming, o.logs[0].rotation),
            (
                Naming::Numbered,
                Rotation {
                    size: 2 << 20,
                    keep: 7,
                    age: Some(Duration::from_secs(60))
                }
            )
        );
        // svlogd -l/-b; -R alone replaces with _.
        let o = p(&["-l", "20", "-b", "4096", "-R", "xy", "./d"]).unwrap();
        assert_eq!((o.line_len, o.buf_len), (20, 4096));
        assert_eq!(
            o.replace,
            Some(Replace {
                with: b'_',
                also: b"xy".to_vec()
            })
        );
        assert_eq!(p(&["-R", "x", "-r", "?", "./d"]).unwrap().replace.unwrap().with, b'?');
        assert_eq!(p(&["-l", "0", "./d"]).unwrap().line_len, 1000);
        // multilog: patterns see 1000 bytes, the stamp included.
        assert_eq!(p(&["t", "./d"]).unwrap().line_len, 1000 - 26);
        assert_eq!(p(&["./d", "+x"]).unwrap().line_len, 1000);
    }

    #[test]
    fn multilog_script_in_order() {
        let o = p(&["t", "-*", "+* fatal: *", "./fatal", "+*", "e", "=st", "./all"]).unwrap();
        assert_eq!(
            o.script,
            [
                Action::Deselect(b"*".to_vec()),
                Action::Select(b"* fatal: *".to_vec()),
                Action::Log(0),
                Action::Select(b"*".to_vec()),
                Action::Alert,
                Action::Status(PathBuf::from("st")),
                Action::Log(1),
            ]
        );
        assert_eq!(o.logs[1].target, PathBuf::from("./all"));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let table: &[(&[&str], &str)] = &[
            (&[], "missing DIR"),
            (&["-s", "big", "d"], "-s: not a number: 'big'"),
            (&["-x", "d"], "unknown option: -x"),
            (&["-tx", "d"], "unknown option: -tx"),
            (&["-t", "-tx", "d"], "unknown option in -tx: -x"),
            (&["-l"], "-l needs a value"),
            (&["-r", "ab", "d"], "-r needs a single character"),
            (&["-l", "2000", "d"], "-b 1024 must be greater than -l 2000"),
            (&["-f", "a", "dir"], "not both"),
            (&["-tt", "s100000", "./a"], "s100000 is a multilog action"),
            (&["t", "sbig", "./d"], "bad size token: sbig"),
            (&["t", "n10"], "missing log directory"),
            (&["t", "!gzip", "./d"], "unsupported multilog action: !gzip"),
            (&["t", "x", "./d"], "unsupported multilog action: x"),
            (&["t", "etc", "./d"], "unsupported multilog action: etc"),
            (&["t", "=", "./d"], "unsupported multilog action: ="),
            (&["-*", "t", "./d"], "t must come first (it is argument 2)"),
        ];
        for &(args, want) in table {
            let e = p(args).expect_err(&format!("{args:?}"));
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn svlogd_config() {
        let (c, warnings) = parse_config(
            b"# comment\n\ns4096\nn5\nN2\nt3600\n!gzip\n+*x*\n-y\nefatal*\nEfatal: ok*\npmy prefix: \nu127.0.0.1:5140\nwhat\n",
        )
        .unwrap();
        let rules: Vec<(RuleKind, &[u8])> = c.rules.iter().map(|r| (r.kind, &r.pattern[..])).collect();
        assert_eq!(
            rules,
            [
                (RuleKind::Select, &b"*x*"[..]),
                (RuleKind::Deselect, b"y"),
                (RuleKind::Alert, b"fatal*"),
                (RuleKind::NoAlert, b"fatal: ok*"),
            ]
        );
        assert_eq!(
            (c.size, c.keep, c.min_keep, c.age, &c.prefix[..]),
            (Some(4096), Some(5), Some(2), Some(3600), &b"my prefix: "[..])
        );
        assert_eq!(
            c.udp,
            Some(Udp {
                addr: "127.0.0.1:5140".parse().unwrap(),
                only: false
            })
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("config:7: processors are not supported") && warnings[0].contains("!gzip"));
        assert!(warnings[1].contains("config:14: unknown line ignored: what"));
        let base = Rotation {
            size: 1,
            keep: 1,
            age: None,
        };
        assert_eq!(
            c.rotation(base),
            Rotation {
                size: 4096,
                keep: 5,
                age: Some(Duration::from_secs(3600))
            }
        );
        // Units and zeros: (text, size, keep, age).
        type Row = (&'static str, Option<u64>, Option<usize>, Option<u64>);
        let table: &[Row] = &[
            ("s10k\n", Some(10 * 1024), None, None),
            ("s2m \n", Some(2 << 20), None, None),
            ("s0\nn0\nt0\n", Some(0), Some(usize::MAX), Some(0)),
            ("t5m\n", None, None, Some(300)),
            ("t2h\n", None, None, Some(7200)),
        ];
        for &(text, size, keep, age) in table {
            let (c, _) = parse_config(text.as_bytes()).unwrap();
            assert_eq!((c.size, c.keep, c.age), (size, keep, age), "{text:?}");
        }
        assert_eq!(parse_config(b"s0\nn0\n").unwrap().0.rotation(base).keep, usize::MAX);
        let (c, _) = parse_config(b"U10.0.0.1\n").unwrap();
        assert_eq!(
            c.udp,
            Some(Udp {
                addr: "10.0.0.1:514".parse().unwrap(),
                only: true
            })
        );
        for (text, want) in [
            ("sx\n", "config:1: not a number: sx"),
            ("\ns10q\n", "config:2: not a number: s10q"),
            ("uhost:1\n", "config:1: not an IPv4 address"),
        ] {
            let e = parse_config(text.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

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
