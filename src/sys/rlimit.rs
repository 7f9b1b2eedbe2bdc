//! Resource limits by `prlimit(1)` name, as this system has them; values
//! as `u64` with [`INFINITY`] for "no limit" (`rlim_t` is unsigned on
//! Linux and macOS, signed on the BSDs).
//!
//! Every system: `as` (FreeBSD's `RLIMIT_VMEM`; on macOS the same
//! resource as `rss`), `core`, `cpu`, `data`, `fsize`, `memlock`,
//! `nofile`, `nproc`, `rss`, `stack`. Linux only: `locks`, `msgqueue`,
//! `nice`, `rtprio`, `rttime`, `sigpending` (missing with
//! `IMMORTAL_PORTABLE=1` too).

// `rlim_t` and the resource constants differ in type per system: a cast
// needed on one is a no-op on another.
#![allow(clippy::unnecessary_cast, clippy::useless_conversion)]

/// "No limit".
pub const INFINITY: u64 = u64::MAX;

/// The names `prlimit(1)` knows, on any system.
pub const NAMES: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// A resource of this system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource(libc::c_int);

/// The resource named `name` (a [`NAMES`] entry), if this system has it.
pub fn resource(name: &str) -> Option<Resource> {
    let r = match name {
        "as" => libc::RLIMIT_AS as libc::c_int,
        "core" => libc::RLIMIT_CORE as libc::c_int,
        "cpu" => libc::RLIMIT_CPU as libc::c_int,
        "data" => libc::RLIMIT_DATA as libc::c_int,
        "fsize" => libc::RLIMIT_FSIZE as libc::c_int,
        "memlock" => libc::RLIMIT_MEMLOCK as libc::c_int,
        "nofile" => libc::RLIMIT_NOFILE as libc::c_int,
        "nproc" => libc::RLIMIT_NPROC as libc::c_int,
        "rss" => libc::RLIMIT_RSS as libc::c_int,
        "stack" => libc::RLIMIT_STACK as libc::c_int,
        _ => return linux_only(name),
    };
    Some(Resource(r))
}

#[cfg(target_os = "linux")]
fn linux_only(name: &str) -> Option<Resource> {
    if crate::sys::system::portable() {
        return None;
    }
    let r = match name {
        "locks" => libc::RLIMIT_LOCKS,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "rtprio" => libc::RLIMIT_RTPRIO,
        "rttime" => libc::RLIMIT_RTTIME,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        _ => return None,
    };
    Some(Resource(r as libc::c_int))
}

#[cfg(not(target_os = "linux"))]
fn linux_only(_name: &str) -> Option<Resource> {
    None
}

fn to_u64(v: libc::rlim_t) -> u64 {
    if v == libc::RLIM_INFINITY {
        INFINITY
    } else {
        u64::try_from(v).unwrap_or(INFINITY)
    }
}

fn from_u64(v: u64) -> libc::rlim_t {
    if v == INFINITY {
        libc::RLIM_INFINITY
    } else {
        libc::rlim_t::try_from(v).unwrap_or(libc::RLIM_INFINITY)
    }
}

/// The soft and hard limits now. Async-signal-safe.
pub fn get(r: Resource) -> std::io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(r.0 as _, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((to_u64(lim.rlim_cur), to_u64(lim.rlim_max)))
}

/// Set the soft and hard limits. Async-signal-safe.
pub fn set(r: Resource, soft: u64, hard: u64) -> std::io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: from_u64(soft),
        rlim_max: from_u64(hard),
    };
    // SAFETY: `lim` is a valid rlimit, read by the kernel.
    if unsafe { libc::setrlimit(r.0 as _, &lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `nofile`'s resource, which every system has.
pub fn nofile() -> Resource {
    Resource(libc::RLIMIT_NOFILE as libc::c_int)
}

/// The most descriptors a process may be allowed (Linux's `fs.nr_open`;
/// unknown elsewhere).
pub fn max_open_files() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// This process's nice value.
pub fn nice() -> i32 {
    // getpriority may return -1 legitimately: errno tells, cleared first.
    // SAFETY: errno is this thread's; getpriority has no memory
    // preconditions.
    unsafe {
        nix::errno::Errno::clear();
        let n = libc::getpriority(libc::PRIO_PROCESS as _, 0);
        if n == -1 && nix::errno::Errno::last_raw() != 0 {
            return 0;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_and_limits_round_trip() {
        for name in ["as", "core", "nofile", "stack"] {
            assert!(resource(name).is_some(), "{name}");
        }
        assert_eq!(resource("nofiles"), None);
        let (soft, hard) = get(nofile()).unwrap();
        assert!(soft <= hard);
        set(nofile(), soft, hard).unwrap();
        assert_eq!(get(nofile()).unwrap(), (soft, hard));
    }
}
