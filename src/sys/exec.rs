//! What a child does between `fork` and `exec` (`pre_exec` hooks). Only
//! async-signal-safe calls, on data prepared before the fork: the child of
//! a fork may not allocate or take a lock another thread held.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The supervisor blocks the signals it reads from its signalfd and ignores
/// SIGXFSZ; a child must inherit neither (a blocked TERM would never stop
/// it, an ignored SIGXFSZ changes how it meets a file-size limit).
pub fn reset_signals(cmd: &mut Command) {
    // SAFETY: reset_child_signals is async-signal-safe (see there).
    unsafe {
        cmd.pre_exec(super::process::reset_child_signals);
    }
}

/// Switch to `uid`/`gid` with exactly `groups` as supplementary groups.
///
/// Done in `pre_exec` rather than with `CommandExt::uid`, because std clears
/// the supplementary groups when it sets the uid itself.
pub fn drop_privileges(cmd: &mut Command, uid: libc::uid_t, gid: libc::gid_t, groups: Vec<libc::gid_t>) {
    // SAFETY: the closure only makes async-signal-safe system calls
    // (geteuid, setgroups, setgid, setuid) on data prepared before the
    // fork; `groups` outlives every call (the closure owns it).
    unsafe {
        cmd.pre_exec(move || {
            if libc::geteuid() == 0 && libc::setgroups(groups.len() as _, groups.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Give the child each descriptor `from` as number `to`, without
/// close-on-exec: the sockets of `listen:` at 3, 4, … and s6's
/// notification fd. Every source is first duplicated above all the
/// targets (close-on-exec, so the copies go at exec), then each copy is
/// put in place: a source whose number is another's target is never
/// overwritten before it is placed.
pub fn place_fds(cmd: &mut Command, pairs: Vec<(std::os::fd::RawFd, std::os::fd::RawFd)>) {
    let Some(above) = pairs.iter().map(|&(_, to)| to).max().map(|top| top + 1) else {
        return;
    };
    let mut copies: Vec<std::os::fd::RawFd> = vec![-1; pairs.len()];
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) and dup2 are async-signal-safe; the
    // closure owns `pairs` and `copies`, allocated before the fork (it only
    // writes into `copies`); every `from` is a descriptor the parent keeps
    // open until after the spawn.
    unsafe {
        cmd.pre_exec(move || {
            for (copy, &(from, _)) in copies.iter_mut().zip(&pairs) {
                *copy = libc::fcntl(from, libc::F_DUPFD_CLOEXEC, above);
                if *copy < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            for (&copy, &(_, to)) in copies.iter().zip(&pairs) {
                if libc::dup2(copy, to) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Make every descriptor from 3 on close-on-exec, except `keep` (placed
/// by [`place_fds`], which must run first): the program then gets its
/// standard streams and the descriptors it was given, nothing the
/// supervisor inherited from whoever started it (systemd does the same
/// for a socket-activated service).
pub fn pass_only(cmd: &mut Command, mut keep: Vec<std::os::fd::RawFd>) {
    keep.sort_unstable();
    keep.dedup();
    // The ranges between the kept ones, the last one open-ended.
    let mut ranges: Vec<(libc::c_uint, libc::c_uint)> = Vec::new();
    let mut low: libc::c_uint = 3;
    for k in keep.into_iter().filter_map(|k| libc::c_uint::try_from(k).ok()) {
        if k > low {
            ranges.push((low, k - 1));
        }
        low = low.max(k + 1);
    }
    ranges.push((low, libc::c_uint::MAX));
    // SAFETY: close_range, getrlimit and fcntl are system calls without
    // allocation (async-signal-safe); the closure owns `ranges`, made before
    // the fork.
    unsafe {
        cmd.pre_exec(move || {
            for &(low, high) in &ranges {
                #[cfg(target_os = "linux")]
                if libc::syscall(libc::SYS_close_range, low, high, libc::CLOSE_RANGE_CLOEXEC) == 0 {
                    continue;
                }
                // Before Linux 5.11, and elsewhere: one at a time, up to
                // the limit.
                let mut limit = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
                #[allow(clippy::unnecessary_cast)] // rlim_t is i64 on some systems
                let top = (high as u64).min((limit.rlim_cur as u64).saturating_sub(1));
                let mut fd = low as u64;
                while fd <= top {
                    let flags = libc::fcntl(fd as libc::c_int, libc::F_GETFD);
                    if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                        libc::fcntl(fd as libc::c_int, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                    }
                    fd += 1;
                }
            }
            Ok(())
        });
    }
}

/// Everything `execvp` needs, prepared before the fork: the child only
/// writes its pid into `slot` and executes (no allocation after the fork).
struct Prepared {
    program: std::ffi::CString,
    _argv: Vec<std::ffi::CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _envs: Vec<std::ffi::CString>,
    _slots: Vec<Vec<u8>>,
    /// Where the digits go: just after each `VAR=` in `_slots`.
    digits_at: Vec<*mut u8>,
    env_ptrs: Vec<*const libc::c_char>,
}

// SAFETY: the pointers only point into the buffers `Prepared` owns, which
// never move or change after construction; the child (one thread) is the
// only one to use them.
unsafe impl Send for Prepared {}
// SAFETY: as for Send: nothing is shared with another thread.
unsafe impl Sync for Prepared {}

extern "C" {
    static mut environ: *const *const libc::c_char;
}

fn nul_byte() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "a NUL byte in the command or its environment",
    )
}

/// `items` as C strings (a program's argument vector).
pub(crate) fn c_strings<'a>(
    items: impl IntoIterator<Item = &'a std::ffi::OsStr>,
) -> io::Result<Vec<std::ffi::CString>> {
    use std::os::unix::ffi::OsStrExt;
    items
        .into_iter()
        .map(|i| std::ffi::CString::new(i.as_bytes()).map_err(|_| nul_byte()))
        .collect()
}

/// The environment a program gets, as `NAME=value` C strings: this
/// process's, with `changes` applied in order (`None` removes the name).
pub(crate) fn environment<'a>(
    changes: impl IntoIterator<Item = (&'a std::ffi::OsStr, Option<&'a std::ffi::OsStr>)>,
) -> io::Result<Vec<std::ffi::CString>> {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let mut env: std::collections::BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for (k, v) in changes {
        match v {
            Some(v) => env.insert(k.to_os_string(), v.to_os_string()),
            None => env.remove(k),
        };
    }
    env.into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            std::ffi::CString::new(kv).map_err(|_| nul_byte())
        })
        .collect()
}

/// Run `cmd` with `VAR=<its own pid>` in its environment for each of
/// `vars` (systemd's `WATCHDOG_PID`, `LISTEN_PID`): std builds the
/// environment before the fork, when the pid is not known, so this last
/// `pre_exec` step executes the program itself with an environment
/// prepared here, the pid filled in after the fork. Must be registered
/// after every other `pre_exec` hook.
pub fn exec_with_own_pid(cmd: &mut Command, vars: &[&str]) -> io::Result<()> {
    use std::ffi::OsStr;
    let argv = c_strings(std::iter::once(cmd.get_program()).chain(cmd.get_args()))?;
    let program = argv[0].clone();
    let envs = environment(cmd.get_envs().chain(vars.iter().map(|v| (OsStr::new(v), None))))?;
    // `VAR=` then room for any pid's digits and the NUL, for each.
    let mut slots: Vec<Vec<u8>> = Vec::with_capacity(vars.len());
    let mut digits_at = Vec::with_capacity(vars.len());
    let mut env_ptrs: Vec<*const libc::c_char> = envs.iter().map(|c| c.as_ptr()).collect();
    for var in vars {
        let mut slot = format!("{var}=").into_bytes();
        let prefix = slot.len();
        slot.resize(prefix + 24, 0);
        let base = slot.as_mut_ptr();
        env_ptrs.push(base as *const libc::c_char);
        // SAFETY: `prefix` is within the 24 + prefix bytes just allocated;
        // the buffer is moved into `slots` below, which moves the Vec and
        // not its heap allocation.
        digits_at.push(unsafe { base.add(prefix) });
        slots.push(slot);
    }
    env_ptrs.push(std::ptr::null());
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let p = Prepared {
        program,
        _argv: argv,
        argv_ptrs,
        _envs: envs,
        _slots: slots,
        digits_at,
        env_ptrs,
    };
    // SAFETY: after the fork the closure calls only getpid, writes into
    // memory prepared above (at most 20 digits and a NUL, within each
    // slot), sets `environ` and calls execvp: all async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // The whole of `p` is moved in (not its fields one by one: they
            // are raw pointers, only `Prepared` is Send).
            let p = &p;
            let mut n = libc::getpid() as u64;
            let mut digits = [0u8; 20];
            let mut i = digits.len();
            loop {
                i -= 1;
                digits[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            let len = digits.len() - i;
            for &at in &p.digits_at {
                std::ptr::copy_nonoverlapping(digits[i..].as_ptr(), at, len);
                *at.add(len) = 0;
            }
            environ = p.env_ptrs.as_ptr();
            libc::execvp(p.program.as_ptr(), p.argv_ptrs.as_ptr());
            Err(io::Error::last_os_error())
        });
    }
    Ok(())
}

/// The environment variable naming the descriptor a supervisor writes its
/// own messages to instead of its stderr (immortalsvc gives each
/// supervisor one, apart from the stderr it hands its service).
pub const NOTICE_FD_VAR: &str = "IMMORTAL_NOTICE_FD";

/// The descriptor `$IMMORTAL_NOTICE_FD` names, if it is an open one above
/// the standard streams; made close-on-exec (no service inherits it), and
/// the variable removed from our environment (none inherits that either).
/// Called once, at start, while the process has one thread.
pub fn take_notice_fd() -> Option<std::fs::File> {
    use std::os::fd::FromRawFd;
    let value = std::env::var(NOTICE_FD_VAR).ok();
    std::env::remove_var(NOTICE_FD_VAR);
    let fd: std::os::fd::RawFd = value?.trim().parse().ok()?;
    if fd <= 2 {
        return None;
    }
    // SAFETY: fcntl on a number we do not own yet only asks about it; an
    // open descriptor is taken over (nothing else in this process knows
    // it: it was given to us at exec, and this runs once).
    unsafe {
        if libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) != 0 {
            return None;
        }
        Some(std::fs::File::from_raw_fd(fd))
    }
}
