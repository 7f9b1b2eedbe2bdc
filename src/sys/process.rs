//! Processes: reaping, signalling, and telling whether a group still lives.

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

#[cfg(target_os = "linux")]
#[path = "process/linux.rs"]
mod os;
#[cfg(target_os = "freebsd")]
#[path = "process/freebsd.rs"]
mod os;
#[cfg(target_os = "netbsd")]
#[path = "process/netbsd.rs"]
mod os;
#[cfg(target_os = "macos")]
#[path = "process/macos.rs"]
mod os;
#[cfg(not(target_os = "linux"))]
#[path = "process/sysctl.rs"]
mod sysctl;

/// What the system says of a process (`/proc/PID/stat` on Linux,
/// `kinfo_proc` on the BSDs, `proc_pidinfo` on macOS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    pub ppid: i32,
    pub pgrp: i32,
    /// Its effective user.
    pub uid: u32,
    /// Ended, not reaped yet.
    pub zombie: bool,
    /// When it started, in the system's unit (clock ticks after boot on
    /// Linux, microseconds since the epoch elsewhere): with the pid and
    /// [`boot_id`], it names one process.
    pub start: u64,
}

/// `pid`, if it exists (a zombie too).
pub fn info(pid: Pid) -> Option<Info> {
    os::info(pid)
}

/// When `pid` started ([`Info::start`]), if it exists: on Linux from its
/// `stat` alone (a supervisor records it at every start).
pub fn start_time(pid: Pid) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        os::start_time(pid)
    }
    #[cfg(not(target_os = "linux"))]
    {
        info(pid).map(|i| i.start)
    }
}

/// Every process of the system (empty if it cannot be listed).
pub fn all() -> Vec<Pid> {
    os::all()
}

/// Names this boot of the system.
pub fn boot_id() -> Option<String> {
    os::boot_id()
}

/// How long a process that started at `start` ([`Info::start`]) has run.
pub fn running_for(start: u64) -> Option<std::time::Duration> {
    os::running_for(start)
}

/// A process's name (`comm`: its program's file name, cut to the system's
/// length).
pub fn name(pid: Pid) -> Option<String> {
    os::name(pid)
}

/// A running process's command line (on the BSDs and macOS: its name).
pub fn command_line(pid: Pid) -> Option<String> {
    os::command_line(pid)
}

/// This process's resident memory in bytes (`/proc/self/statm`,
/// `kinfo_proc`, `proc_pidinfo`).
pub fn resident_bytes() -> Option<u64> {
    os::resident_bytes()
}

/// The supplementary groups of `pid`, if it still runs as `uid` (empty
/// where the system does not show them: then only its primary group
/// counts).
pub fn groups_of(pid: Pid, uid: u32) -> Vec<u32> {
    os::groups_of(pid, uid)
}

/// This process's supplementary groups (`getgroups`).
pub fn own_groups() -> Vec<u32> {
    let mut groups = vec![0 as libc::gid_t; 1024];
    // SAFETY: the kernel writes at most `groups.len()` gids into `groups`.
    let n = unsafe { libc::getgroups(groups.len() as libc::c_int, groups.as_mut_ptr()) };
    groups.truncate(usize::try_from(n).unwrap_or(0));
    groups
}

/// Where descriptor `fd` of another process `pid` can be opened again
/// (`/proc/PID/fd/FD`), on systems that have such a path.
pub fn fd_path(pid: Pid, fd: i32) -> Option<std::path::PathBuf> {
    os::fd_path(pid, fd)
}

/// The memory page size.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// The supervisor's own user and system CPU time (`getrusage`).
pub fn cpu_seconds() -> f64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map(|u| {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        })
        .unwrap_or(0.0)
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitHow {
    Code(i32),
    Signal(i32),
}

impl ExitHow {
    /// The one conversion from a wait status: `None` while it has not ended
    /// (stopped, continued, still alive).
    pub fn of(status: WaitStatus) -> Option<ExitHow> {
        match status {
            WaitStatus::Exited(_, code) => Some(ExitHow::Code(code)),
            WaitStatus::Signaled(_, sig, _) => Some(ExitHow::Signal(sig as i32)),
            _ => None,
        }
    }

    /// The shell's convention: a signal death is 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitHow::Code(c) => c,
            ExitHow::Signal(s) => 128 + s,
        }
    }
}

/// Where a signal goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Pid(Pid),
    Group(Pid),
}

/// The variable through which `immortalsvc` passes the descriptor limit
/// it was started with to its supervisors (it raises its own).
pub const NOFILE_ENV: &str = "IMMORTAL_NOFILE";

/// Raise the soft descriptor limit to the hard one (at most 2^20); the
/// limit as it was goes to [`NOFILE_ENV`], so that children put it back
/// ([`restore_nofile`]) and services see the limit they would have seen.
pub fn raise_nofile() {
    use super::rlimit;
    let Ok((soft, hard)) = rlimit::get(rlimit::nofile()) else {
        return;
    };
    let want = hard.min(1 << 20);
    if want > soft && rlimit::set(rlimit::nofile(), want, hard).is_ok() {
        std::env::set_var(NOFILE_ENV, soft.to_string());
    }
}

/// A supervisor started by `immortalsvc` takes back the soft limit
/// `immortalsvc` was started with.
pub fn restore_nofile() {
    use super::rlimit;
    let Some(value) = std::env::var_os(NOFILE_ENV) else {
        return;
    };
    std::env::remove_var(NOFILE_ENV);
    let wanted = value.to_str().and_then(|v| v.parse::<u64>().ok());
    if let (Some(soft), Ok((_, hard))) = (wanted, rlimit::get(rlimit::nofile())) {
        let _ = rlimit::set(rlimit::nofile(), soft.min(hard), hard);
    }
}

/// The exit status of `pid` if it is our child and has ended (reaping it).
pub fn try_wait(pid: Pid) -> nix::Result<Option<ExitHow>> {
    waitpid(pid, Some(WaitPidFlag::WNOHANG)).map(ExitHow::of)
}

/// Reap every child that has ended, with the process group it was in.
/// Signals coalesce, so one SIGCHLD may stand for many exits: loop until
/// nothing is left. Each zombie is looked at (`WNOWAIT`) before it is
/// reaped, because its process group can only be read while it exists.
pub fn reap_all() -> Vec<(Pid, ExitHow, Option<Pid>)> {
    let mut out = Vec::new();
    loop {
        let pid = match peek_ended() {
            Ok(Some(pid)) => Some(pid),
            Ok(None) => break, // nothing more has ended
            Err(Errno::EINTR) => continue,
            Err(Errno::ENOSYS) => None, // cannot look first: reap whoever
            Err(_) => break,            // ECHILD: no children at all
        };
        let pgid = pid.and_then(|p| nix::unistd::getpgid(Some(p)).ok());
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(status) => {
                let Some(pid) = status.pid() else { break };
                if let Some(how) = ExitHow::of(status) {
                    out.push((pid, how, pgid));
                }
            }
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    out
}

/// A child that has ended, left a zombie (`waitid` with `WNOWAIT`), if any.
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
fn peek_ended() -> nix::Result<Option<Pid>> {
    use nix::sys::wait::{waitid, Id};
    waitid(
        Id::All,
        WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
    )
    .map(|status| status.pid())
}

/// NetBSD, macOS: not looked at first (`ENOSYS`): the zombie's group is
/// not known when it is reaped, and the state decides with the group it
/// knew.
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
fn peek_ended() -> nix::Result<Option<Pid>> {
    Err(Errno::ENOSYS)
}

/// Whether any process of group `pgid` is left (zombies not yet reaped by
/// their parent count: they are not gone from the system yet).
pub fn group_alive(pgid: Pid) -> bool {
    match killpg(pgid, None) {
        Ok(()) => true,
        Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// As [`group_alive`], but zombies do not count: for a group whose members
/// are not our children (an adopted service's), whose zombies their own
/// parent — maybe a slow init — reaps, not us. Lists the processes once,
/// only when the group is not plainly gone.
pub fn group_has_live_member(pgid: Pid) -> bool {
    if !group_alive(pgid) {
        return false;
    }
    let all = all();
    if all.is_empty() {
        return true; // unable to look: assume it lives
    }
    all.into_iter()
        .any(|pid| info(pid).is_some_and(|i| i.pgrp == pgid.as_raw() && !i.zombie))
}

pub fn send(target: &Target, sig: Signal) -> nix::Result<()> {
    match *target {
        Target::Pid(pid) => kill(pid, sig),
        Target::Group(pgid) => killpg(pgid, sig),
    }
}

/// Become a child subreaper where the system has one (Linux's
/// `PR_SET_CHILD_SUBREAPER`, FreeBSD's `PROC_REAP_ACQUIRE`), so daemonizing
/// descendants are reparented to us (and their exits reach our `waitpid`)
/// instead of to PID 1. `Ok(false)`: the system has none (see
/// [`super::system::Capabilities::subreaper`]).
pub fn become_subreaper() -> std::io::Result<bool> {
    os::become_subreaper()
}

/// The dispositions this process changed, by signal number (`usize::MAX`:
/// unchanged), for [`reset_child_signals`] to give back.
static BEFORE: [std::sync::atomic::AtomicUsize; 65] = [const { std::sync::atomic::AtomicUsize::new(usize::MAX) }; 65];

/// Set `sig`'s disposition to `to` (a handler, `SIG_IGN` or `SIG_DFL`),
/// remembering the first one it replaced: children get that one back.
pub(crate) fn catch_signal(sig: libc::c_int, to: libc::sighandler_t) -> std::io::Result<()> {
    // SAFETY: a sigaction struct zeroed then filled (an empty mask,
    // SA_RESTART so that calls interrupted by a handler resume); `old` is
    // written by the kernel.
    let before = unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = to;
        act.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut act.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, &act, &mut old) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        old.sa_sigaction
    };
    if let Some(slot) = usize::try_from(sig).ok().and_then(|i| BEFORE.get(i)) {
        let _ = slot.compare_exchange(
            usize::MAX,
            before,
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    Ok(())
}

/// The signals a program spawned with `posix_spawn` gets at their default
/// disposition ([`super::spawn`]): every one but those this process
/// inherited ignored and left so (`nohup`'s SIGHUP stays ignored, as after
/// a fork and exec). SIGPIPE is among them (std ignores it in every Rust
/// program, and puts it back for the programs it starts), and so is every
/// signal this process changed from a disposition other than "ignored".
///
/// All rather than only those changed: glibc's child asks the disposition
/// of each signal outside the set and then sets it anyway (two system
/// calls a signal, where one in the set costs one) — 64 calls fewer for
/// each supervisor immortalsvc starts.
///
/// `None`: a signal this process found ignored now has a handler, which an
/// exec would turn into the default, not back into "ignored": only a fork
/// can give that back.
pub fn spawn_signal_defaults() -> Option<libc::sigset_t> {
    // SAFETY: sigemptyset/sigaddset on a local set; sigaction only reads.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        add_libc_internal_signals(&mut set);
        let inherited_ignored = inherited_ignored();
        for (sig, slot) in BEFORE.iter().enumerate().skip(1) {
            let before = slot.load(std::sync::atomic::Ordering::Relaxed);
            if before == libc::SIG_IGN {
                let mut now: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig as libc::c_int, std::ptr::null(), &mut now) != 0
                    || now.sa_sigaction != libc::SIG_IGN
                {
                    return None;
                }
                continue;
            }
            // std ignored SIGPIPE before main: found ignored, yet not
            // inherited so.
            let std_changed = sig as libc::c_int == libc::SIGPIPE;
            if before == usize::MAX && !std_changed && inherited_ignored & (1u128 << sig) != 0 {
                continue;
            }
            // SIGKILL and SIGSTOP are refused by sigaction, in the child
            // too, which goes on.
            libc::sigaddset(&mut set, sig as libc::c_int);
        }
        Some(set)
    }
}

/// The signals found ignored the first time this is asked, by number (bit
/// N). A signal this process leaves alone keeps its disposition, and one it
/// changes is recorded in [`BEFORE`] first: asking once is enough.
fn inherited_ignored() -> u128 {
    static FOUND: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        let mut found = 0u128;
        for sig in 1..BEFORE.len() {
            // SAFETY: sigaction only reads into a local struct.
            let ignored = unsafe {
                let mut now: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig as libc::c_int, std::ptr::null(), &mut now) == 0
                    && now.sa_sigaction == libc::SIG_IGN
            };
            if ignored {
                found |= 1u128 << sig;
            }
        }
        found
    })
}

/// glibc (32, 33) and musl (32–34) keep the first real-time signals for
/// themselves, and their `posix_spawn` sets those to "ignored" in the child
/// unless they are in its default set — which their `sigaddset` refuses.
/// A program then starts with them ignored (after a fork and exec they are
/// at their default): set their bits directly. Both libraries lay a
/// `sigset_t` out as an array of `unsigned long`, signal N at bit N − 1.
#[cfg(target_os = "linux")]
fn add_libc_internal_signals(set: &mut libc::sigset_t) {
    let bits = libc::c_ulong::BITS as usize;
    let words = std::mem::size_of::<libc::sigset_t>() / std::mem::size_of::<libc::c_ulong>();
    let set = set as *mut libc::sigset_t as *mut libc::c_ulong;
    for sig in 32..=34usize {
        let (word, bit) = ((sig - 1) / bits, (sig - 1) % bits);
        if word < words {
            // SAFETY: `word` is inside the set (checked above), which is an
            // array of `unsigned long` on glibc and musl.
            unsafe { *set.add(word) |= 1 << bit };
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn add_libc_internal_signals(_set: &mut libc::sigset_t) {}

/// A file-size limit must fail a log write (EFBIG, retried), not kill the
/// process with SIGXFSZ. Children get the previous disposition back.
pub fn ignore_file_size_signal() {
    let _ = catch_signal(libc::SIGXFSZ, libc::SIG_IGN);
}

/// In a child between fork and exec: give back what the supervisor
/// changed — the signal mask it blocks for its signalfd, the dispositions
/// it set (SIGXFSZ ignored; the signals a kqueue or a self-pipe receives) —
/// so every child (service, logger, hooks, `./finish`, `control/<letter>`)
/// starts as if the supervisor were not there.
/// Async-signal-safe: only sigprocmask, sigaction and atomics.
pub fn reset_child_signals() -> std::io::Result<()> {
    give_back_signals(false)
}

/// [`reset_child_signals`]: the dispositions first, then the mask (a
/// signal held back until then meets the disposition the program gets).
/// `borrowed`: a child that shares this process's memory until it execs
/// (a vfork): the kernel already made its handlers the defaults
/// (`CLONE_CLEAR_SIGHAND`), and nothing of ours may change (no detach).
pub fn give_back_signals(borrowed: bool) -> std::io::Result<()> {
    if !borrowed {
        super::events::detach_in_child();
    }
    // SAFETY: sigaction restores a disposition that this process had
    // before; sigemptyset/sigprocmask on a local set.
    unsafe {
        for (sig, slot) in BEFORE.iter().enumerate() {
            let mut before = slot.load(std::sync::atomic::Ordering::Relaxed);
            if before == usize::MAX && sig as libc::c_int == libc::SIGPIPE {
                // std ignored it before main, and puts it back for the
                // programs it starts: so do we.
                before = libc::SIG_DFL;
            }
            if before == usize::MAX {
                continue;
            }
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = before;
            libc::sigemptyset(&mut act.sa_mask);
            if libc::sigaction(sig as libc::c_int, &act, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        default_libc_internal_signals();
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// glibc's and musl's signals 32–34 at their default: a `posix_spawn` of
/// theirs leaves them ignored in the child it starts (this process, when
/// so started) unless asked otherwise, and their `sigaction` refuses them:
/// the system call itself. A kernel `sigaction` with the handler SIG_DFL
/// and everything else 0 reads the same whatever the architecture's
/// layout.
#[cfg(target_os = "linux")]
fn default_libc_internal_signals() {
    let act = [0u64; 4];
    for sig in 32..=34 {
        // SAFETY: rt_sigaction reads `act` (32 zero bytes: SIG_DFL, no
        // flags, no restorer, an empty mask) and writes nothing back.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                act.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn default_libc_internal_signals() {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_zombie_keeps_a_group_alive_but_has_no_live_member() {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = Pid::from_raw(child.id() as i32);
        assert!(group_alive(pgid) && group_has_live_member(pgid));
        kill(pgid, Signal::SIGKILL).unwrap();
        // Not reaped yet: a zombie, still in the group.
        let zombie = || info(pgid).is_some_and(|i| i.zombie);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !zombie() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(group_alive(pgid));
        assert!(!group_has_live_member(pgid));
        child.wait().unwrap();
        assert!(!group_alive(pgid) && !group_has_live_member(pgid));
    }
}
