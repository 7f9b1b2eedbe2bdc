//! What confines a service, as values: the rlimits of `limits:`, `nice`,
//! `umask`, `no_new_privs`, and the `cgroup:` limits. [`crate::config`]
//! validates `run.yml` with the parsers here (so a bad value is an error at
//! its line); [`crate::service`] keeps the result as a [`Confinement`];
//! the child applies it between fork and exec (`sys::confine`), and
//! [`crate::cgroup`] writes the cgroup limits.
//!
//! | key | text | meaning |
//! |---|---|---|
//! | `limits: {NAME: V}` | `N`, `unlimited`, `SOFT:HARD`, `SOFT:`, `:HARD` | `setrlimit`, names as `prlimit(1)` |
//! | `nice` | -20 … 19 | `setpriority` of the service |
//! | `umask` | octal digits (`"027"`) | `umask` |
//! | `no_new_privs` | bool | `prctl(PR_SET_NO_NEW_PRIVS)` |
//! | `cgroup: {memory}` | bytes, or `N[KMGT]` | v2 `memory.max`, v1 `memory.limit_in_bytes` |
//! | `cgroup: {pids}` | ≥ 1 | `pids.max` |
//! | `cgroup: {cpu}` | CPUs, > 0 (`0.5`) | v2 `cpu.max`, v1 `cpu.cfs_quota_us` |

use crate::error::{Error, Result};
use nix::sys::resource::Resource;

/// An rlimit's value meaning "no limit".
pub const UNLIMITED: u64 = u64::MAX;

/// The rlimit names `prlimit(1)` knows, with their resource.
pub const RLIMITS: &[(&str, Resource)] = &[
    ("as", Resource::RLIMIT_AS),
    ("core", Resource::RLIMIT_CORE),
    ("cpu", Resource::RLIMIT_CPU),
    ("data", Resource::RLIMIT_DATA),
    ("fsize", Resource::RLIMIT_FSIZE),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("locks", Resource::RLIMIT_LOCKS),
    ("memlock", Resource::RLIMIT_MEMLOCK),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("msgqueue", Resource::RLIMIT_MSGQUEUE),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("nice", Resource::RLIMIT_NICE),
    ("nofile", Resource::RLIMIT_NOFILE),
    ("nproc", Resource::RLIMIT_NPROC),
    ("rss", Resource::RLIMIT_RSS),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("rtprio", Resource::RLIMIT_RTPRIO),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("rttime", Resource::RLIMIT_RTTIME),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("sigpending", Resource::RLIMIT_SIGPENDING),
    ("stack", Resource::RLIMIT_STACK),
];

/// One rlimit to set; `None` keeps the current soft or hard value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub name: &'static str,
    pub resource: Resource,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

impl Rlimit {
    /// `limits: {NAME: TEXT}`; the error says what is wrong with it.
    pub fn parse(name: &str, text: &str) -> Result<Rlimit> {
        let Some(&(name, resource)) = RLIMITS.iter().find(|(n, _)| *n == name.to_ascii_lowercase()) else {
            let known: Vec<&str> = RLIMITS.iter().map(|(n, _)| *n).collect();
            return Err(Error::invalid(format!(
                "unknown limit '{name}' (known: {})",
                known.join(", ")
            )));
        };
        let value = |part: &str| -> Result<Option<u64>> {
            match part.trim() {
                "" => Ok(None),
                "unlimited" | "infinity" => Ok(Some(UNLIMITED)),
                n => n
                    .parse::<u64>()
                    .ok()
                    .filter(|&v| v != UNLIMITED)
                    .map(Some)
                    .ok_or_else(|| Error::invalid(format!("{name}: '{text}' is not N, unlimited or SOFT:HARD"))),
            }
        };
        let (soft, hard) = match text.split_once(':') {
            Some((s, h)) => (value(s)?, value(h)?),
            None => {
                let v = value(text)?;
                (v, v)
            }
        };
        if soft.is_none() && hard.is_none() {
            return Err(Error::invalid(format!("{name}: '{text}' sets nothing")));
        }
        if let (Some(s), Some(h)) = (soft, hard) {
            if s > h {
                return Err(Error::invalid(format!(
                    "{name}: soft limit {s} above the hard limit {h}"
                )));
            }
        }
        Ok(Rlimit {
            name,
            resource,
            soft,
            hard,
        })
    }

    /// The soft and hard values once applied over `current`.
    pub fn over(&self, current: (u64, u64)) -> (u64, u64) {
        (self.soft.unwrap_or(current.0), self.hard.unwrap_or(current.1))
    }
}

/// `cgroup:` limits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CgroupLimits {
    /// Bytes.
    pub memory: Option<u64>,
    pub pids: Option<u64>,
    /// CPUs (0.5: half of one).
    pub cpu: Option<f64>,
}

impl CgroupLimits {
    pub fn is_empty(&self) -> bool {
        self.memory.is_none() && self.pids.is_none() && self.cpu.is_none()
    }
}

/// Everything that confines the service (never its logger or helpers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Confinement {
    pub rlimits: Vec<Rlimit>,
    pub nice: Option<i32>,
    pub umask: Option<u32>,
    pub no_new_privs: bool,
    pub cgroup: CgroupLimits,
}

impl Confinement {
    /// Whether the supervisor (its euid and current limits) can apply
    /// this: every reason it cannot, each naming the limit, with the
    /// rlimit's name (`None`: `nice`). What the child does between fork and
    /// exec can then only fail for reasons outside the supervisor's view.
    pub fn check(&self) -> Vec<(Option<&'static str>, String)> {
        let root = nix::unistd::geteuid().is_root();
        let mut out = Vec::new();
        for r in &self.rlimits {
            let Ok(current) = nix::sys::resource::getrlimit(r.resource) else {
                out.push((
                    Some(r.name),
                    format!("limits: {}: unable to read the current limit", r.name),
                ));
                continue;
            };
            let (soft, hard) = r.over(current);
            let why = if soft > hard {
                format!("soft limit {} above the hard limit {}", show(soft), show(hard))
            } else if hard > current.1 && !root {
                format!(
                    "hard limit {} above the supervisor's {} (only root may raise it)",
                    show(hard),
                    show(current.1)
                )
            } else {
                match nr_open().filter(|&max| r.name == "nofile" && hard > max) {
                    Some(max) => format!("{} above the system's maximum, fs.nr_open = {max}", show(hard)),
                    None => continue,
                }
            };
            out.push((Some(r.name), format!("limits: {}: {why}", r.name)));
        }
        if let Some(nice) = self.nice {
            let now = current_nice();
            if nice < now && !root && !nice_allowed(nice) {
                out.push((
                    None,
                    format!("nice: {nice} is below the supervisor's {now} (only root may lower it)"),
                ));
            }
        }
        out
    }
}

/// `unlimited` or the number.
pub fn show(v: u64) -> String {
    if v == UNLIMITED {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn current_nice() -> i32 {
    // The nice value of the process itself, field 19 of /proc/self/stat
    // (after the parenthesised name, which may hold spaces).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(16)?.parse().ok())
        })
        .unwrap_or(0)
}

/// RLIMIT_NICE lets an unprivileged process lower its nice value down to
/// `20 - limit`.
fn nice_allowed(nice: i32) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Ok((soft, _)) = nix::sys::resource::getrlimit(Resource::RLIMIT_NICE) {
        return i64::from(20 - nice) <= soft.min(i64::MAX as u64) as i64;
    }
    let _ = nice;
    false
}

/// `nice:` in range.
pub fn parse_nice(n: i64) -> Result<i32> {
    if (-20..=19).contains(&n) {
        Ok(n as i32)
    } else {
        Err(Error::invalid(format!("nice must be -20 to 19, not {n}")))
    }
}

/// `umask: "027"`: octal digits (a YAML number's digits are read as octal
/// too: `umask: 027` means the same).
pub fn parse_umask(text: &str) -> Result<u32> {
    let digits = text.trim();
    let digits = digits.strip_prefix("0o").unwrap_or(digits);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|&m| m <= 0o777 && !digits.is_empty())
        .ok_or_else(|| Error::invalid(format!("umask must be octal digits 000 to 777, not '{text}'")))
}

/// `memory: 512M`: bytes, or a number with K, M, G or T (powers of 1024;
/// `KB`, `KiB` … too).
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let bad = || {
        Error::invalid(format!(
            "memory: '{text}' is not a size (bytes, or a number with K, M, G or T)"
        ))
    };
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix("ib"))
        .or_else(|| {
            t.strip_suffix(['B', 'b'])
                .filter(|r| r.ends_with(|c: char| c.is_alphabetic()))
        })
        .unwrap_or(t);
    let (num, shift) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 10),
        Some('M') => (&t[..t.len() - 1], 20),
        Some('G') => (&t[..t.len() - 1], 30),
        Some('T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    let bytes = n.checked_mul(1u64 << shift).ok_or_else(bad)?;
    if bytes == 0 {
        return Err(Error::invalid(format!("memory: '{text}' must be more than 0")));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimit_values() {
        let r = Rlimit::parse("nofile", "65536").unwrap();
        assert_eq!((r.name, r.soft, r.hard), ("nofile", Some(65536), Some(65536)));
        let r = Rlimit::parse("NOFILE", "1024:4096").unwrap();
        assert_eq!((r.soft, r.hard), (Some(1024), Some(4096)));
        let r = Rlimit::parse("core", "unlimited").unwrap();
        assert_eq!((r.soft, r.hard), (Some(UNLIMITED), Some(UNLIMITED)));
        let r = Rlimit::parse("core", "0:unlimited").unwrap();
        assert_eq!((r.soft, r.hard), (Some(0), Some(UNLIMITED)));
        let r = Rlimit::parse("stack", "8388608:").unwrap();
        assert_eq!((r.soft, r.hard), (Some(8388608), None));
        assert_eq!(r.over((1, 99)), (8388608, 99));
        let r = Rlimit::parse("nproc", ":100").unwrap();
        assert_eq!((r.soft, r.hard), (None, Some(100)));
        for (name, bad, want) in [
            ("nofiles", "1", "unknown limit 'nofiles'"),
            ("nofile", "many", "nofile: 'many' is not N"),
            ("nofile", "10:5", "soft limit 10 above the hard limit 5"),
            ("nofile", ":", "sets nothing"),
            ("nofile", "-1", "is not N"),
        ] {
            let err = Rlimit::parse(name, bad).unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {bad}: {err}");
        }
    }

    #[test]
    fn sizes_umasks_and_nice() {
        assert_eq!(parse_size("512M").ok(), Some(512 << 20));
        assert_eq!(parse_size("32MiB").ok(), Some(32 << 20));
        assert_eq!(parse_size("1g").ok(), Some(1 << 30));
        assert_eq!(parse_size("4KB").ok(), Some(4096));
        assert_eq!(parse_size("1000").ok(), Some(1000));
        for bad in ["", "M", "12X", "0", "-1M", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_umask("027").ok(), Some(0o27));
        assert_eq!(parse_umask("27").ok(), Some(0o27));
        assert_eq!(parse_umask("0777").ok(), Some(0o777));
        for bad in ["8", "1000", "", "u=rwx"] {
            assert!(parse_umask(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_nice(-20).ok(), Some(-20));
        assert!(parse_nice(20).is_err() && parse_nice(-21).is_err());
    }

    #[test]
    fn check_names_what_cannot_be_applied() {
        let (_, hard) = nix::sys::resource::getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let mut c = Confinement {
            rlimits: vec![Rlimit::parse("nofile", &format!("{}:", hard)).unwrap()],
            ..Confinement::default()
        };
        // The soft limit raised to the hard one: always allowed.
        assert_eq!(c.check(), Vec::new());
        c.rlimits = vec![Rlimit::parse("nofile", "unlimited").unwrap()];
        let problems = c.check();
        assert!(
            problems.len() == 1 && problems[0].0 == Some("nofile") && problems[0].1.starts_with("limits: nofile: "),
            "{problems:?}"
        );
    }
}
