//! What a child does between `fork` and `exec`: [`Step`]s (as `pre_exec`
//! hooks of a `Command`, or in a [`Plan`]), then the exec itself
//! ([`Program`]). Only async-signal-safe calls, on data prepared before the
//! fork: the child of a fork may not allocate or take a lock another
//! thread held, and a child that borrows its parent's memory until it
//! execs (a vfork, [`crate::sys::clone`]) must not change anything of the
//! parent's but what was prepared for it.

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// One thing a child does before it execs: async-signal-safe system calls
/// on data it owns, prepared before the fork; no allocation, no lock.
pub type Step = Box<dyn FnMut() -> io::Result<()> + Send + Sync>;

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
/// A step of its own rather than `CommandExt::uid`, because std clears
/// the supplementary groups when it sets the uid itself.
pub fn privileges(uid: libc::uid_t, gid: libc::gid_t, groups: Vec<libc::gid_t>) -> Step {
    Box::new(move || {
        // SAFETY: geteuid, setgroups, setgid and setuid on data
        // the closure owns; `groups` outlives every call.
        unsafe {
            if libc::geteuid() == 0 && set_ids::groups(&groups) != 0 {
                return Err(io::Error::last_os_error());
            }
            if set_ids::gid(gid) != 0 || set_ids::uid(uid) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
    })
}

/// The system calls themselves on 64-bit Linux: glibc's wrappers, in a
/// process with threads, make every thread change its ids — in a child
/// that borrows its parent's memory (a vfork), the parent's threads. (On
/// 32-bit Linux these numbers are the old 16-bit calls: the wrappers
/// there, where no child borrows memory.)
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod set_ids {
    pub unsafe fn groups(list: &[libc::gid_t]) -> libc::c_long {
        libc::syscall(libc::SYS_setgroups, list.len(), list.as_ptr())
    }
    pub unsafe fn gid(gid: libc::gid_t) -> libc::c_long {
        libc::syscall(libc::SYS_setgid, gid)
    }
    pub unsafe fn uid(uid: libc::uid_t) -> libc::c_long {
        libc::syscall(libc::SYS_setuid, uid)
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod set_ids {
    pub unsafe fn groups(list: &[libc::gid_t]) -> libc::c_int {
        libc::setgroups(list.len() as _, list.as_ptr())
    }
    pub unsafe fn gid(gid: libc::gid_t) -> libc::c_int {
        libc::setgid(gid)
    }
    pub unsafe fn uid(uid: libc::uid_t) -> libc::c_int {
        libc::setuid(uid)
    }
}

/// Give the child each descriptor `from` as number `to`, without
/// close-on-exec: the sockets of `listen:` at 3, 4, … and s6's
/// notification fd. Every source is first duplicated above all the
/// targets (close-on-exec, so the copies go at exec), then each copy is
/// put in place: a source whose number is another's target is never
/// overwritten before it is placed.
pub fn place_fds(cmd: &mut Command, pairs: Vec<(std::os::fd::RawFd, std::os::fd::RawFd)>) {
    if let Some(step) = place_fds_step(pairs) {
        // SAFETY: the step is async-signal-safe (see there).
        unsafe {
            cmd.pre_exec(step);
        }
    }
}

/// [`place_fds`] as a [`Step`]; `None` when there is nothing to place.
pub fn place_fds_step(pairs: Vec<(std::os::fd::RawFd, std::os::fd::RawFd)>) -> Option<Step> {
    let above = pairs.iter().map(|&(_, to)| to).max()? + 1;
    let mut copies: Vec<std::os::fd::RawFd> = vec![-1; pairs.len()];
    Some(Box::new(move || {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) and dup2; the closure
        // owns `pairs` and `copies`, allocated before the fork (it only writes
        // into `copies`); every `from` is a descriptor the parent keeps open
        // until after the spawn.
        unsafe {
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
        }
    }))
}

/// Make every descriptor from 3 on close-on-exec, except `keep` (placed
/// by [`place_fds`], which must run first): the program then gets its
/// standard streams and the descriptors it was given, nothing the
/// supervisor inherited from whoever started it (systemd does the same
/// for a socket-activated service).
pub fn pass_only(mut keep: Vec<std::os::fd::RawFd>) -> Step {
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
    Box::new(move || {
        // SAFETY: close_range, getrlimit and fcntl are system
        // calls without allocation (async-signal-safe); the closure owns
        // `ranges`, made before the fork.
        unsafe {
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
        }
        Ok(())
    })
}

/// A program to execute, prepared before the fork: its path (or the
/// places `PATH` gives, as `execvp` looks), arguments and environment, with
/// room for variables set to the child's own pid (systemd's
/// `WATCHDOG_PID`, `LISTEN_PID`), which only the child knows. The child
/// writes the digits into that room and calls `execve`: nothing allocated
/// after the fork, and nothing of the parent's changed (`execvp` would set
/// `environ`, which a child borrowing the parent's memory must not).
pub struct Program {
    /// Where to look for it, in order.
    candidates: Vec<CString>,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    /// `/bin/sh`, the candidate, then the arguments: `execvp`'s way with a
    /// file that has no `#!` line (ENOEXEC). Slot 1 is set in the child.
    script_ptrs: Vec<*const libc::c_char>,
    _envs: Vec<CString>,
    _slots: Vec<Vec<u8>>,
    /// Where the digits go: just after each `VAR=` in `_slots`.
    digits_at: Vec<*mut u8>,
    env_ptrs: Vec<*const libc::c_char>,
}

// SAFETY: the pointers only point into the buffers `Program` owns, which
// never move after construction; only the child writes through them (the
// pid digits, slot 1 of `script_ptrs`), while the parent waits or after
// the fork.
unsafe impl Send for Program {}
// SAFETY: as for Send.
unsafe impl Sync for Program {}

const SHELL: &std::ffi::CStr = c"/bin/sh";

impl Program {
    /// `argv[0]` found as `execvp` finds it (a name without `/` in the
    /// `PATH` of `env`, else `/bin:/usr/bin`), with the environment `env`
    /// and `own_pid_vars` set to the child's pid.
    pub fn new(argv: &[&std::ffi::OsStr], env: Vec<CString>, own_pid_vars: &[&str]) -> io::Result<Program> {
        let argv = c_strings(argv.iter().copied())?;
        let program = argv
            .first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
        let name = program.as_bytes();
        let candidates = if name.contains(&b'/') || name.is_empty() {
            vec![program.clone()]
        } else {
            let path = env
                .iter()
                .find_map(|e| e.as_bytes().strip_prefix(b"PATH="))
                .unwrap_or(b"/bin:/usr/bin");
            path.split(|&b| b == b':')
                .map(|dir| {
                    // An empty entry is the working directory.
                    let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
                    let mut full = dir.to_vec();
                    full.push(b'/');
                    full.extend_from_slice(name);
                    CString::new(full).map_err(|_| nul_byte())
                })
                .collect::<io::Result<_>>()?
        };
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut script_ptrs = vec![SHELL.as_ptr(), std::ptr::null()];
        script_ptrs.extend(&argv_ptrs[1..]);
        let mut env_ptrs: Vec<*const libc::c_char> = env
            .iter()
            .filter(|e| {
                let name = e.as_bytes().split(|&b| b == b'=').next().unwrap_or_default();
                !own_pid_vars.iter().any(|v| v.as_bytes() == name)
            })
            .map(|c| c.as_ptr())
            .collect();
        // `VAR=` then room for any pid's digits and the NUL, for each.
        let mut slots: Vec<Vec<u8>> = Vec::with_capacity(own_pid_vars.len());
        let mut digits_at = Vec::with_capacity(own_pid_vars.len());
        for var in own_pid_vars {
            let mut slot = format!("{var}=").into_bytes();
            let prefix = slot.len();
            slot.resize(prefix + 24, 0);
            let base = slot.as_mut_ptr();
            env_ptrs.push(base as *const libc::c_char);
            // SAFETY: `prefix` is within the 24 + prefix bytes just
            // allocated; the buffer is moved into `slots` below, which
            // moves the Vec and not its heap allocation.
            digits_at.push(unsafe { base.add(prefix) });
            slots.push(slot);
        }
        env_ptrs.push(std::ptr::null());
        Ok(Program {
            candidates,
            _argv: argv,
            argv_ptrs,
            script_ptrs,
            _envs: env,
            _slots: slots,
            digits_at,
            env_ptrs,
        })
    }

    /// In the child: fill in the pid and execute; returns only on failure,
    /// with `execvp`'s error (EACCES if a candidate was not executable,
    /// else the last one's).
    fn exec(&mut self) -> io::Error {
        // SAFETY: getpid, writes within the slots prepared in `new` (at most
        // 20 digits and a NUL after each `VAR=`, 24 bytes of room), and
        // execve with NUL-terminated strings and NULL-terminated arrays
        // that all live in `self`.
        unsafe {
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
            for &at in &self.digits_at {
                std::ptr::copy_nonoverlapping(digits[i..].as_ptr(), at, len);
                *at.add(len) = 0;
            }
            let mut denied = false;
            let mut last = libc::ENOENT;
            for candidate in &self.candidates {
                libc::execve(candidate.as_ptr(), self.argv_ptrs.as_ptr(), self.env_ptrs.as_ptr());
                last = io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOENT);
                match last {
                    libc::EACCES => denied = true,
                    libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                    libc::ENOEXEC => {
                        self.script_ptrs[1] = candidate.as_ptr();
                        libc::execve(SHELL.as_ptr(), self.script_ptrs.as_ptr(), self.env_ptrs.as_ptr());
                        return io::Error::from_raw_os_error(libc::ENOEXEC);
                    }
                    _ => return io::Error::from_raw_os_error(last),
                }
            }
            io::Error::from_raw_os_error(if denied { libc::EACCES } else { last })
        }
    }
}

/// Everything a child does from its fork to its exec, prepared before:
/// its standard streams, working directory, a process group of its own,
/// the [`Step`]s, the signal dispositions and mask given back, then the
/// [`Program`].
pub struct Plan {
    pub program: Program,
    /// Descriptors (above 2) that become its standard streams; `None`:
    /// the one this process has.
    pub stdio: [Option<std::os::fd::RawFd>; 3],
    /// What the plan's descriptors belong to, open until it is dropped.
    pub held: Vec<OwnedFd>,
    pub cwd: Option<CString>,
    pub steps: Vec<Step>,
    /// Whether the child may borrow this process's memory until its exec
    /// (a vfork). Not when it writes itself into a cgroup: joining one
    /// whose cpuset or memory settings differ would move the memory it
    /// shares — ours — too.
    pub may_borrow: bool,
}

impl Plan {
    /// In the child: carry it out; returns only on failure. `borrowed`:
    /// the child shares this process's memory until it execs (nothing
    /// shared may change; its signal handlers are already the defaults).
    pub fn run(&mut self, borrowed: bool) -> io::Error {
        // SAFETY: dup2, chdir and setpgid on descriptors and a string this
        // plan owns.
        unsafe {
            for (n, fd) in self.stdio.iter().enumerate() {
                if let Some(fd) = fd {
                    if libc::dup2(*fd, n as libc::c_int) < 0 {
                        return io::Error::last_os_error();
                    }
                }
            }
            if let Some(cwd) = &self.cwd {
                if libc::chdir(cwd.as_ptr()) != 0 {
                    return io::Error::last_os_error();
                }
            }
            if libc::setpgid(0, 0) != 0 {
                return io::Error::last_os_error();
            }
        }
        for step in &mut self.steps {
            if let Err(e) = step() {
                return e;
            }
        }
        if let Err(e) = super::process::give_back_signals(borrowed) {
            return e;
        }
        self.program.exec()
    }
}

fn nul_byte() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "a NUL byte in the command or its environment",
    )
}

/// `text` as a C string.
pub(crate) fn c_string(text: &std::ffi::OsStr) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(text.as_bytes()).map_err(|_| nul_byte())
}

/// `items` as C strings (a program's argument vector).
pub(crate) fn c_strings<'a>(
    items: impl IntoIterator<Item = &'a std::ffi::OsStr>,
) -> io::Result<Vec<std::ffi::CString>> {
    items.into_iter().map(c_string).collect()
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
