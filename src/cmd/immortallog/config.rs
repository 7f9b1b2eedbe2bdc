//! svlogd's `DIR/config`, one setting a line (read at start and at
//! SIGHUP, in every dialect), to a [`Config`]:
//!
//! | line | meaning |
//! |---|---|
//! | `sSIZE` (`k`, `m`) | rotate `current` at SIZE bytes |
//! | `nNUM` | keep NUM old files (`n0`: never remove) |
//! | `NMIN` | accepted, not acted on |
//! | `tTIME` (`m`, `h`) | rotate after TIME seconds (`t0`: never) |
//! | `+pattern`, `-pattern` | select, deselect lines ([`super::pattern::svlogd_match`]) |
//! | `epattern`, `Epattern` | alert on stderr, or not |
//! | `pPREFIX` | prefix every line |
//! | `uADDR[:PORT]`, `UADDR[:PORT]` | send lines over UDP (also to the directory, or only) |
//! | `!processor` | feed each rotated file through `sh -c processor` ([`crate::rotated`]: svlogd's `.u`/`.t`/`.s`) |
//! | `#…`, blank | ignored |
//!
//! A number or address that does not parse is an error naming
//! `config:LINE`; an unknown line is a warning, as svlogd ignores it. The
//! settings override the command line's rotation ([`Config::rotation`]).

use crate::error::{Context, Error, Result};
use crate::layout;
use crate::logfile::Rotation;
use std::net::SocketAddrV4;
use std::path::Path;
use std::time::Duration;

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
    /// `!processor`: each rotated file through `sh -c processor`.
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

    /// Lines must be looked at one by one (patterns, a prefix, UDP).
    pub(super) fn filters(&self) -> bool {
        !self.rules.is_empty() || !self.prefix.is_empty() || self.udp.is_some()
    }
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
pub fn parse_config(text: &[u8]) -> Result<(Config, Vec<String>)> {
    let mut c = Config::default();
    let mut warnings = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let shown = String::from_utf8_lossy(line);
        let at = format!("config:{}", i + 1);
        let bad = |why: &str| Error::invalid(format!("{at}: {why}: {shown}"));
        let Some((&kind, rest)) = line.split_first() else {
            continue;
        };
        // Numbers may have trailing blanks, nothing else.
        let num = |suffixes: &[(u8, u64)]| -> Result<u64> {
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
            b'!' if !rest.is_empty() => c.processor = Some(String::from_utf8_lossy(rest).into_owned()),
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

/// `DIR/config`, if there is one.
pub(super) fn read_config(dir: &Path) -> Result<Option<(Config, Vec<String>)>> {
    let path = dir.join(layout::LOG_CONFIG);
    match crate::sys::fs::read_regular(&path, crate::sys::fs::MAX_SMALL_FILE, false) {
        Ok(text) => parse_config(&text)
            .map(Some)
            .map_err(|e| Error::invalid(format!("{}/{e}", dir.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx("read", &path),
    }
}

pub(super) fn warn_all(dir: &Path, warnings: &[String]) {
    for w in warnings {
        eprintln!("immortallog: warning: {}/{w}", dir.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("config:14: unknown line ignored: what"));
        assert_eq!(c.processor.as_deref(), Some("gzip"));
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
            let e = parse_config(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
