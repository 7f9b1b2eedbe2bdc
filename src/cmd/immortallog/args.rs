//! `immortallog`'s command line, in three dialects, to [`Options`]:
//!
//! | dialect | looks like | logs |
//! |---|---|---|
//! | svlogd | `[-t\|-tt\|-ttt] [-v] [-r c] [-R abc] [-l len] [-b buflen] [-s BYTES] [-n NUM] [-a SECONDS] DIR...` | directories, svlogd's defaults (1 MB, 10 files) |
//! | multilog | `t s100000 n5 '-*' '+* fatal: *' ./fatal '+*' e ./main` | a script of actions in order, directories |
//! | Go immortal | `-f FILE [-s MiB] [-n NUM] [-a SECONDS] [-T]` | one numbered file (1 MiB) |
//!
//! Which dialect: a first argument that is an option (`-tt`, `-b 2048`,
//! `-f`…) means svlogd's or Go's (`-f` makes it Go's); otherwise any
//! multilog action (`t`, `e`, `sSIZE`, `nNUM`, `+…`, `-…` that is no
//! option, `=…`, `!…`) means a multilog script; otherwise (directories
//! only) svlogd's. Every error names the argument at fault. Nothing is
//! opened here: [`super::logger::open`] does that.

use super::config::{parse_config, Config};
use crate::error::{Error, Result};
use crate::logfile::{Naming, Rotation, Stamp, MAX_LINE};
use std::path::PathBuf;
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
    /// multilog's `!processor` for this directory (svlogd's is in its
    /// `config`).
    pub processor: Option<String>,
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
pub fn parse(args: &[String]) -> Result<Options> {
    let Some(first) = args.first() else {
        return Err(Error::invalid("missing DIR (or -f FILE)"));
    };
    if !is_option(first) && args.iter().any(|a| is_multilog_action(a)) {
        parse_multilog(args).map_err(|e| {
            if first.starts_with('-') {
                Error::invalid(format!("unknown option: {first} (read as a multilog script: {e})"))
            } else {
                e
            }
        })
    } else {
        parse_flags(args)
    }
}

fn number<T: std::str::FromStr>(what: &str, v: &str) -> Result<T> {
    v.parse()
        .map_err(|_| Error::invalid(format!("{what}: not a number: '{v}'")))
}

fn parse_flags(args: &[String]) -> Result<Options> {
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
                return Err(Error::invalid(format!(
                    "{a} is a multilog action, but the command line started with svlogd options \
                     (a multilog script starts with an action; a directory named {a}: ./{a})"
                )));
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
                return Err(Error::invalid(if b.len() == 2 {
                    format!("unknown option: {a}")
                } else {
                    format!("unknown option in {a}: -{}", a[k - 1..].chars().next().unwrap_or('?'))
                }));
            }
            let opt = format!("-{}", c as char);
            let v: &str = if k < b.len() {
                let v = &a[k..];
                k = b.len();
                v
            } else {
                let v = args
                    .get(i)
                    .ok_or_else(|| Error::invalid(format!("{opt} needs a value")))?;
                i += 1;
                v
            };
            match c {
                b'r' => {
                    if v.len() != 1 {
                        return Err(Error::invalid(format!("-r needs a single character (byte): '{v}'")));
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
        return Err(Error::invalid(format!(
            "-b {buf_len} must be greater than -l {line_len} (as svlogd requires; default -b 1024, -l 1000)"
        )));
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
                processor: None,
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
                        processor: None,
                    })
                    .collect(),
                script: Vec::new(),
                stamp,
                replace,
                line_len,
                buf_len,
            })
        }
        (Some(_), false) => Err(Error::invalid(format!(
            "give -f FILE or DIR, not both (DIR: {})",
            dirs.first().map_or(String::new(), |d| d.display().to_string())
        ))),
        (None, true) => Err(Error::invalid("missing DIR (or -f FILE)")),
    }
}

fn parse_multilog(args: &[String]) -> Result<Options> {
    let (mut size, mut files, mut stamp) = (MULTILOG_SIZE, MULTILOG_FILES, Stamp::None);
    let mut processor: Option<String> = None;
    let (mut logs, mut script) = (Vec::new(), Vec::new());
    for (i, a) in args.iter().enumerate() {
        let b = a.as_bytes();
        match b.first() {
            None => {} // multilog ignores an empty action
            Some(b't') if a == "t" => {
                if i > 0 {
                    return Err(Error::invalid(format!(
                        "multilog action t must come first (it is argument {})",
                        i + 1
                    )));
                }
                stamp = Stamp::Tai64n;
            }
            Some(b's') => {
                let n: u64 = a[1..]
                    .parse()
                    .map_err(|_| Error::invalid(format!("bad size token: {a}")))?;
                size = n.clamp(MULTILOG_MIN_SIZE, MULTILOG_MAX_SIZE);
            }
            Some(b'n') => {
                let n: usize = a[1..]
                    .parse()
                    .map_err(|_| Error::invalid(format!("bad count token: {a}")))?;
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
                    processor: processor.clone(),
                });
            }
            // For the directories that follow (`!` alone: none).
            Some(b'!') => processor = Some(a[1..].to_string()).filter(|p| !p.is_empty()),
            Some(b'=') => {
                return Err(Error::invalid(format!(
                    "unsupported multilog action: {a} (= needs a file name)"
                )))
            }
            _ => return Err(Error::invalid(format!("unsupported multilog action: {a}"))),
        }
    }
    if logs.is_empty() && !script.iter().any(|a| matches!(a, Action::Alert | Action::Status(_))) {
        return Err(Error::invalid("missing log directory (starting with . or /)"));
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

/// Apply a `config` text to every log directory of `opts` (what [`open`]
/// does per directory with its own `DIR/config`).
pub fn apply_config(opts: &mut Options, text: &str) -> Result<()> {
    let (config, _) = parse_config(text.as_bytes())?;
    for log in &mut opts.logs {
        log.config = config.clone();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
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
            (&["t", "x", "./d"], "unsupported multilog action: x"),
            (&["t", "etc", "./d"], "unsupported multilog action: etc"),
            (&["t", "=", "./d"], "unsupported multilog action: ="),
            (&["-*", "t", "./d"], "t must come first (it is argument 2)"),
        ];
        for &(args, want) in table {
            let e = p(args).expect_err(&format!("{args:?}")).to_string();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    /// multilog's `!processor` is for the directories after it.
    #[test]
    fn multilog_processor_is_for_the_directories_that_follow() {
        let o = p(&["t", "./a", "!gzip -9", "./b", "./c", "!", "./d"]).unwrap();
        let procs: Vec<Option<&str>> = o.logs.iter().map(|l| l.processor.as_deref()).collect();
        assert_eq!(procs, [None, Some("gzip -9"), Some("gzip -9"), None]);
    }
}
