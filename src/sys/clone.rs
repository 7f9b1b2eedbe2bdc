//! Starting children. A service is started from a prepared
//! [`Plan`](super::exec::Plan) ([`spawn_plan`]):
//!
//! - On Linux (x86_64), as a `vfork`: `clone3` with `CLONE_VM |
//!   CLONE_VFORK`. The child borrows the supervisor's memory on a stack of
//!   its own until it execs, so nothing is copied — a fork copies the
//!   supervisor's page tables, every page either side writes until the
//!   exec, and the exec tears the copy down: measured here, a fork, exit
//!   and wait of even a small C program costs 230 µs, a vfork 50 µs. The
//!   plan was prepared so that the child allocates nothing and changes
//!   nothing of ours; `CLONE_CLEAR_SIGHAND` gives it default handlers
//!   from its first instruction, and whether its exec failed is written
//!   into the plan itself, read once the parent resumes.
//! - With `CLONE_INTO_CGROUP` (Linux 5.7+, what systemd does), born in its
//!   cgroup. Moving a process into a cgroup afterwards — writing its
//!   `cgroup.procs` — waits for the kernel's RCU grace period: measured
//!   here, 9 ms of the 11 ms between an `up` and the service's exec. A
//!   child created in the cgroup pays nothing, and never runs a single
//!   instruction outside it.
//! - Elsewhere, or on a kernel without them, forked (`clone3` into the
//!   cgroup where it can), the plan carried out in the copy, an exec that
//!   fails told to the parent through a close-on-exec pipe, as `std` does
//!   for `spawn`.

use super::exec::Plan;
use std::io;
use std::os::fd::BorrowedFd;
use std::process::Command;

/// Start the child `plan` describes, born in the cgroup v2 directory
/// `cgroup` if given; its pid once it has exec'd, or the error that
/// stopped it. `Ok(None)`: this kernel cannot start a child in a cgroup
/// (no `clone3`, or no `CLONE_INTO_CGROUP`): the caller moves it there
/// itself (a step that writes `cgroup.procs`) and asks again without.
pub fn spawn_plan(plan: &mut Plan, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Option<u32>> {
    if let Some(pid) = imp::borrowing(plan, cgroup)? {
        return Ok(Some(pid));
    }
    let forked = match cgroup {
        Some(dir) => match imp::fork_into(plan, dir)? {
            Some(forked) => forked,
            None => return Ok(None),
        },
        None => fork_plan(plan)?,
    };
    forked.confirm().map(Some)
}

/// Start the child `plan` describes with a descriptor table of its own
/// that holds only this process's descriptors below `keep_below` (where
/// the plan's sources must be: see [`Slots`]), without copying the rest:
/// a scanner holding three pipe ends per running supervisor copied them
/// all into each child it started, whose exec then closed them one by one
/// — quadratic in the number of services. Its pid once it has exec'd;
/// `Ok(None)`: not done this way here (the caller spawns another way).
pub fn spawn_small_table(plan: &mut Plan, keep_below: u32) -> io::Result<Option<u32>> {
    imp::borrowing_files(plan, keep_below)
}

/// Whether [`spawn_small_table`] can be done here (Linux x86_64: the
/// vfork of [`spawn_plan`], sharing the table until the child unshares
/// what it keeps).
pub const SMALL_TABLE: bool = cfg!(all(target_os = "linux", target_arch = "x86_64"));

/// Descriptor numbers reserved low, at a process's start, for what a
/// child gets ([`spawn_small_table`]): each holds `/dev/null` between
/// starts, and a child's source just before its start.
pub struct Slots {
    null: std::os::fd::OwnedFd,
    slots: Vec<std::os::fd::OwnedFd>,
}

impl Slots {
    /// `n` numbers, the lowest free ones above the standard streams
    /// (close-on-exec); taken before the process opens anything else,
    /// they stay below everything it opens later.
    pub fn reserve(n: usize) -> io::Result<Slots> {
        use std::os::fd::AsRawFd;
        let null: std::os::fd::OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?
            .into();
        let null = crate::sys::fs::above_std(null)?;
        let slots = (0..n)
            .map(|_| crate::sys::fs::dup_above(null.as_raw_fd(), 3))
            .collect::<io::Result<_>>()?;
        Ok(Slots { null, slots })
    }

    /// The number above every slot (and the `/dev/null` they hold).
    pub fn end(&self) -> u32 {
        use std::os::fd::AsRawFd;
        let top = self
            .slots
            .iter()
            .map(AsRawFd::as_raw_fd)
            .chain([self.null.as_raw_fd()])
            .max();
        top.map_or(3, |t| t as u32 + 1)
    }

    /// `/dev/null`, below [`Slots::end`].
    pub fn null(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.null.as_raw_fd()
    }

    /// Put `sources` in the slots (close-on-exec copies), in order; the
    /// slots' numbers. At most as many as were reserved.
    pub fn fill(&self, sources: &[std::os::fd::RawFd]) -> io::Result<Vec<std::os::fd::RawFd>> {
        use std::os::fd::AsRawFd;
        if sources.len() > self.slots.len() {
            return Err(io::Error::other("more sources than slots"));
        }
        let mut at = Vec::with_capacity(sources.len());
        for (slot, &fd) in self.slots.iter().zip(sources) {
            put(fd, slot.as_raw_fd())?;
            at.push(slot.as_raw_fd());
        }
        Ok(at)
    }

    /// Every slot back to `/dev/null`: no pipe end is kept open by one.
    pub fn clear(&self) {
        use std::os::fd::AsRawFd;
        for slot in &self.slots {
            let _ = put(self.null.as_raw_fd(), slot.as_raw_fd());
        }
    }
}

/// Make descriptor `to` (one we own) a close-on-exec copy of `from`.
fn put(from: std::os::fd::RawFd, to: std::os::fd::RawFd) -> io::Result<()> {
    // SAFETY: dup2 onto a descriptor this process owns (a slot), then its
    // flag set; no memory is involved.
    unsafe {
        if libc::dup2(from, to) < 0 || libc::fcntl(to, libc::F_SETFD, libc::FD_CLOEXEC) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;
    use std::os::fd::AsRawFd;

    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    #[cfg(target_arch = "x86_64")]
    const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

    /// The kernel's `struct clone_args` up to `cgroup` (version 2, 88 bytes).
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }

    /// What `clone3` answers when this kernel cannot do what was asked
    /// (too old, a flag it does not know, a cgroup it will not start a
    /// child in): the caller takes another way.
    fn unsupported(e: &io::Error) -> bool {
        if e.raw_os_error() == Some(libc::ENOSYS) {
            NO_CLONE3.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        matches!(
            e.raw_os_error(),
            Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL | libc::EOPNOTSUPP)
        )
    }

    /// `clone3` answered ENOSYS once (an old kernel, or a seccomp filter
    /// such as a container runtime's): not asked again.
    static NO_CLONE3: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    fn no_clone3() -> bool {
        NO_CLONE3.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The plan and the child's verdict, shared with a child that borrows
    /// our memory.
    #[cfg(target_arch = "x86_64")]
    struct Shared<'a> {
        plan: &'a mut Plan,
        /// With CLONE_FILES: the child's first act is to take a table of
        /// its own holding only the descriptors below this number.
        unshare_below: Option<u32>,
        /// The errno that stopped it; 0: it exec'd.
        failed: i32,
        /// It could not take a table of its own (close_range too old).
        not_unshared: bool,
    }

    /// The child's stack (it runs nothing deep: the plan's steps and
    /// system calls), and the inaccessible page below it.
    #[cfg(target_arch = "x86_64")]
    const STACK: usize = 64 * 1024;
    #[cfg(target_arch = "x86_64")]
    const GUARD: usize = 4096;

    /// A child could not take a descriptor table of its own once.
    #[cfg(target_arch = "x86_64")]
    static NO_UNSHARE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    #[cfg(target_arch = "x86_64")]
    use std::sync::atomic::Ordering;

    /// The children's stack: mapped once and kept (a mapping made and
    /// removed at every start costs a TLB flush on each processor the
    /// child ran on), used by one child at a time.
    #[cfg(target_arch = "x86_64")]
    static STACK_AT: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

    /// `Ok(None)`: not done this way here (the caller forks).
    #[cfg(target_arch = "x86_64")]
    pub fn borrowing(plan: &mut Plan, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Option<u32>> {
        borrowing_with(plan, cgroup, None)
    }

    /// [`super::spawn_small_table`]'s way.
    #[cfg(target_arch = "x86_64")]
    pub fn borrowing_files(plan: &mut Plan, keep_below: u32) -> io::Result<Option<u32>> {
        borrowing_with(plan, None, Some(keep_below))
    }

    #[cfg(target_arch = "x86_64")]
    fn borrowing_with(
        plan: &mut Plan,
        cgroup: Option<BorrowedFd<'_>>,
        unshare_below: Option<u32>,
    ) -> io::Result<Option<u32>> {
        if no_clone3() || !plan.may_borrow || (unshare_below.is_some() && NO_UNSHARE.load(Ordering::Relaxed)) {
            return Ok(None);
        }
        let Ok(mut stack) = STACK_AT.lock() else {
            return Ok(None);
        };
        if *stack == 0 {
            // A page below it that faults: an overflow kills the child
            // instead of writing over whatever of ours lies there.
            // SAFETY: a fresh private mapping, never unmapped; only the
            // child started while `STACK_AT` is held uses it, and that
            // child no longer does once the parent resumes (CLONE_VFORK:
            // after its exec or exit).
            let at = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    GUARD + STACK,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                    -1,
                    0,
                )
            };
            if at == libc::MAP_FAILED {
                return Ok(None);
            }
            // SAFETY: the first page of the mapping just made.
            if unsafe { libc::mprotect(at, GUARD, libc::PROT_NONE) } != 0 {
                return Ok(None);
            }
            *stack = at as usize + GUARD;
        }
        let mut shared = Shared {
            plan,
            unshare_below,
            failed: 0,
            not_unshared: false,
        };
        let files = if unshare_below.is_some() { libc::CLONE_FILES } else { 0 };
        let mut args = CloneArgs {
            flags: (libc::CLONE_VM | libc::CLONE_VFORK | files) as u64 | CLONE_CLEAR_SIGHAND,
            exit_signal: libc::SIGCHLD as u64,
            stack: *stack as u64,
            stack_size: STACK as u64,
            ..CloneArgs::default()
        };
        if let Some(dir) = cgroup {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = dir.as_raw_fd() as u64;
        }
        // A child that changes its ids makes the memory it shares — ours —
        // not dumpable (no core, /proc/PID root's only): put back after.
        // SAFETY: prctl reads a flag of this process.
        let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
        // SAFETY: `args` describes a stack of STACK bytes that nothing else
        // uses; the child runs `borrowed_child` on it with `shared`, which
        // lives until the parent resumes (CLONE_VFORK: after the child's
        // exec or exit), and touches nothing else of ours.
        let pid = unsafe {
            clone3_borrowing(
                &args,
                std::mem::size_of::<CloneArgs>(),
                borrowed_child,
                (&mut shared as *mut Shared<'_>).cast(),
            )
        };
        // SAFETY: prctl reads, then sets back, a flag of this process.
        unsafe {
            if dumpable >= 0 && libc::prctl(libc::PR_GET_DUMPABLE) != dumpable {
                libc::prctl(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong);
            }
        }
        if pid < 0 {
            let e = io::Error::from_raw_os_error(-pid as i32);
            return if unsupported(&e) { Ok(None) } else { Err(e) };
        }
        if shared.failed != 0 || shared.not_unshared {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
            if shared.not_unshared {
                // close_range without CLOSE_RANGE_UNSHARE (Linux < 5.9):
                // not tried again.
                NO_UNSHARE.store(true, Ordering::Relaxed);
                return Ok(None);
            }
            return Err(io::Error::from_raw_os_error(shared.failed));
        }
        Ok(Some(pid as u32))
    }

    /// The child: carry out the plan; if that returns, it failed.
    #[cfg(target_arch = "x86_64")]
    extern "C" fn borrowed_child(arg: *mut libc::c_void) -> ! {
        // SAFETY: `arg` is the parent's `Shared`, alive and untouched by
        // the parent until this child execs or exits (CLONE_VFORK).
        let shared = unsafe { &mut *arg.cast::<Shared<'_>>() };
        if let Some(below) = shared.unshare_below {
            // A table of our own with the descriptors below `below` only:
            // the kernel copies those and nothing else (the range reaches
            // the end), where a fork copies every descriptor and an exec
            // then closes every close-on-exec one, one by one.
            // SAFETY: close_range on this child's own table (the parent's
            // stays as it is: it is unshared first).
            let done = unsafe { libc::syscall(libc::SYS_close_range, below, u32::MAX, libc::CLOSE_RANGE_UNSHARE) };
            if done != 0 {
                shared.not_unshared = true;
                // SAFETY: as below.
                unsafe { libc::_exit(127) }
            }
        }
        let e = shared.plan.run(true);
        shared.failed = e.raw_os_error().filter(|&n| n != 0).unwrap_or(libc::EINVAL);
        // SAFETY: leaving at once: no destructor, no atexit hook of the
        // parent's runs in its memory.
        unsafe { libc::_exit(127) }
    }

    /// `clone3(args, size)`; the child, on the stack `args` gives it, calls
    /// `child(arg)` and never returns. Returns the child's pid, or a
    /// negative errno.
    ///
    /// # Safety
    /// `args` must give a stack that nothing else uses; `child` must not
    /// return, and with CLONE_VM must touch only memory meant for it.
    #[cfg(target_arch = "x86_64")]
    unsafe fn clone3_borrowing(
        args: &CloneArgs,
        size: usize,
        child: extern "C" fn(*mut libc::c_void) -> !,
        arg: *mut libc::c_void,
    ) -> i64 {
        let ret: i64;
        // The child resumes after `syscall` with rax 0, on its new stack
        // (16-byte aligned: the top of a mapping), its other registers
        // as they were: it calls child(arg), which never returns.
        core::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") libc::SYS_clone3 => ret,
            in("rdi") args as *const CloneArgs,
            in("rsi") size,
            in("r12") arg,
            in("r13") child,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
        ret
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn borrowing(_plan: &mut Plan, _cgroup: Option<BorrowedFd<'_>>) -> io::Result<Option<u32>> {
        Ok(None)
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn borrowing_files(_plan: &mut Plan, _keep_below: u32) -> io::Result<Option<u32>> {
        Ok(None)
    }

    /// A fork (clone3 without CLONE_VM) born in the cgroup `dir`; `None`
    /// when the kernel cannot.
    pub fn fork_into(plan: &mut Plan, dir: BorrowedFd<'_>) -> io::Result<Option<Forked>> {
        if no_clone3() {
            return Ok(None);
        }
        let args = CloneArgs {
            flags: CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: dir.as_raw_fd() as u64,
            ..CloneArgs::default()
        };
        // SAFETY: clone3 without CLONE_VM is a fork: the child gets its own
        // copy of the (single-threaded) supervisor. `args` lives across
        // the call and its size is the one given.
        let clone3 = || unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            ) as libc::pid_t
        };
        match fork_with(clone3, || plan.run(false)) {
            Err(e) if unsupported(&e) => Ok(None),
            forked => forked.map(Some),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    /// No vfork of our own here: the caller forks.
    pub fn borrowing(_plan: &mut Plan, _cgroup: Option<BorrowedFd<'_>>) -> io::Result<Option<u32>> {
        Ok(None)
    }

    pub fn borrowing_files(_plan: &mut Plan, _keep_below: u32) -> io::Result<Option<u32>> {
        Ok(None)
    }

    /// No cgroups here.
    pub fn fork_into(_plan: &mut Plan, _dir: BorrowedFd<'_>) -> io::Result<Option<Forked>> {
        Ok(None)
    }
}

/// Fork a child that carries out `plan`, its exec confirmed later.
fn fork_plan(plan: &mut Plan) -> io::Result<Forked> {
    fork_with(plain_fork, || plan.run(false))
}

/// `fork()`.
fn plain_fork() -> libc::pid_t {
    // SAFETY: a fork of a single-threaded process: the child has its own
    // copy of everything, and (in `fork_with`) either execs or leaves
    // with _exit.
    unsafe { libc::fork() }
}

/// Fork a child with `fork` (a fork: 0 in the child, -1 and errno on
/// failure) that runs `in_child` (which returns only when it could not
/// exec), the outcome read later ([`Forked::confirm`]).
fn fork_with(fork: impl FnOnce() -> libc::pid_t, in_child: impl FnOnce() -> io::Error) -> io::Result<Forked> {
    let (report, told) = crate::sys::fs::pipe(false)?;
    let pid = fork();
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        drop(report);
        report_and_leave(in_child(), &told);
    }
    drop(told);
    Ok(Forked {
        pid: pid as u32,
        report: Some(report),
    })
}

/// A child forked to become a program, its exec not confirmed yet: many
/// can be started before any is waited for ([`fork_exec`]).
pub struct Forked {
    pub pid: u32,
    /// Closed by the child's exec; `None`: known to have exec'd already.
    report: Option<std::os::fd::OwnedFd>,
}

/// Fork a child that carries out `cmd` ([`CommandExt::exec`], as
/// `spawn` would), without waiting for its exec: `spawn` waits for each
/// child to have exec'd (a few milliseconds each, the parent idle), which
/// made immortalsvc start 200 supervisors one after the other. The exec's
/// outcome is read later with [`Forked::confirm`]. Only from a
/// single-threaded process (the child runs `cmd`'s setup, which may
/// allocate).
///
/// [`CommandExt::exec`]: std::os::unix::process::CommandExt::exec
pub fn fork_exec(cmd: &mut Command) -> io::Result<Forked> {
    use std::os::unix::process::CommandExt;
    fork_with(plain_fork, || cmd.exec())
}

/// In a forked child that could not exec: write the errno to `told` and
/// leave.
fn report_and_leave(err: io::Error, told: &std::os::fd::OwnedFd) -> ! {
    use std::os::fd::AsRawFd;
    let errno = err.raw_os_error().unwrap_or(libc::EINVAL).to_ne_bytes();
    // SAFETY: writing four bytes we own to our pipe, then leaving without
    // running the parent's destructors or atexit hooks.
    unsafe {
        libc::write(told.as_raw_fd(), errno.as_ptr().cast(), errno.len());
        libc::_exit(127);
    }
}

impl Forked {
    /// A child whose exec is known to have succeeded (`posix_spawn`).
    pub fn done(pid: u32) -> Forked {
        Forked { pid, report: None }
    }

    /// Wait until the child has exec'd (its end of the pipe closes), or
    /// failed to: then it is reaped here and the error returned.
    pub fn confirm(self) -> io::Result<u32> {
        let Some(report) = self.report else {
            return Ok(self.pid);
        };
        let mut errno = [0u8; 4];
        let mut got = 0;
        while got < errno.len() {
            match nix::unistd::read(&report, &mut errno[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if got == 0 {
            return Ok(self.pid);
        }
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid as i32), None);
        Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::exec::{Plan, Program};
    use std::ffi::{CString, OsStr};

    fn env(vars: &[&str]) -> Vec<CString> {
        vars.iter().map(|v| CString::new(*v).unwrap()).collect()
    }

    /// A plan whose stdout is a pipe; its output once it is gone.
    fn run(argv: &[&str], vars: &[&str], own_pid: &[&str], cwd: Option<&str>) -> (io::Result<u32>, String) {
        let argv: Vec<&OsStr> = argv.iter().map(OsStr::new).collect();
        let (read, write) = crate::sys::fs::pipe(false).unwrap();
        let write = crate::sys::fs::above_std(write).unwrap();
        let mut plan = Plan {
            program: Program::new(&argv, env(vars), own_pid).unwrap(),
            stdio: [None, Some(std::os::fd::AsRawFd::as_raw_fd(&write)), None],
            held: vec![write],
            cwd: cwd.map(|c| CString::new(c).unwrap()),
            steps: Vec::new(),
            may_borrow: true,
        };
        let started = spawn_plan(&mut plan, None).map(|pid| pid.expect("no cgroup asked"));
        drop(plan);
        if let Ok(pid) = started {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
        }
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(read), &mut out).unwrap();
        (started, out)
    }

    #[test]
    fn a_program_is_found_in_its_own_path_and_told_its_own_pid() {
        let (pid, out) = run(
            &["sh", "-c", "echo $WATCHDOG_PID $$ $PATH-$KEPT"],
            &["PATH=/nonexistent:/bin:/usr/bin", "KEPT=yes", "WATCHDOG_PID=stale"],
            &["WATCHDOG_PID"],
            None,
        );
        let pid = pid.unwrap();
        assert_eq!(out.trim(), format!("{pid} {pid} /nonexistent:/bin:/usr/bin-yes"));
    }

    #[test]
    fn what_stops_a_child_is_its_error() {
        let (err, _) = run(&["/nonexistent/program"], &[], &[], None);
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::NotFound);
        let (err, _) = run(&["no-such-program-anywhere"], &["PATH=/bin:/usr/bin"], &[], None);
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::NotFound);
        let (err, _) = run(&["true"], &["PATH=/bin:/usr/bin"], &[], Some("/nonexistent/dir"));
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    /// A child that changes its ids borrows our memory, and the kernel
    /// marks that memory not dumpable: the supervisor must stay dumpable
    /// (core dumps, its /proc files).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_child_switching_users_leaves_us_dumpable() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root (a child switching users)");
            return;
        }
        // SAFETY: prctl reads a flag of this process.
        let before = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
        let argv: Vec<&OsStr> = ["/bin/sh", "-c", "exit 0"].iter().map(OsStr::new).collect();
        let mut plan = Plan {
            program: Program::new(&argv, env(&[]), &[]).unwrap(),
            stdio: [None, None, None],
            held: Vec::new(),
            cwd: None,
            steps: vec![crate::sys::exec::privileges(65534, 65534, vec![65534])],
            may_borrow: true,
        };
        let pid = spawn_plan(&mut plan, None).unwrap().unwrap();
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }, before);
    }

    #[test]
    fn a_script_without_an_interpreter_line_runs_in_sh_as_execvp_does() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("plain");
        std::fs::write(&script, "echo \"plain:$1\"\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let (pid, out) = run(&[script.to_str().unwrap(), "arg"], &[], &[], None);
        pid.unwrap();
        assert_eq!(out.trim(), "plain:arg");
    }
}
