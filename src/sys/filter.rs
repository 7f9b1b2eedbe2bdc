//! A filter whose output is made durable under its final name, entirely
//! outside the caller: a compressed rotated log (`log: {compress: gzip}`).
//!
//! [`spawn`] forks a child that runs the program (a grandchild: `input` on
//! its stdin, `output` on its stdout, the caller's stderr), waits for it,
//! then — only if it exited 0 — `fsync`s the output, renames it from its
//! temporary name to its final one inside `dir`, and `fsync`s `dir`. The
//! child's exit status says how far it got ([`outcome`]); on any failure it
//! removes the temporary file. The caller only forks (everything is
//! prepared before) and later reaps the child like any other: it never
//! waits, compresses or syncs — the supervisor's loop stays free.
//!
//! The child is a fork of a single-threaded caller and makes only
//! async-signal-safe calls. It leaves the caller's session (a `^C` meant
//! for the supervisor does not cut a compression short) and keeps no
//! descriptor of the caller's but its stderr (not the supervise lock: a
//! next supervisor can start while it finishes).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use nix::unistd::Pid;

/// What `ps` shows for the child (the grandchild is the program itself).
pub const NAME: &str = "immortal-filter";

/// One job, every piece ready before the fork.
pub struct Job<'a> {
    /// The program, an absolute path (no `PATH` search after the fork).
    pub program: &'a CStr,
    /// Its argv, `argv[0]` included.
    pub argv: &'a [CString],
    pub input: BorrowedFd<'a>,
    pub output: BorrowedFd<'a>,
    /// The directory holding `tmp` and `name`.
    pub dir: BorrowedFd<'a>,
    /// The output's temporary name, and its final one, in `dir`.
    pub tmp: &'a CStr,
    pub name: &'a CStr,
}

/// The child's exit codes.
const OK: i32 = 0;
const FILTER_FAILED: i32 = 1;
const SYNC_FAILED: i32 = 2;
const RENAME_FAILED: i32 = 3;
const DIR_SYNC_FAILED: i32 = 4;
const NO_FORK: i32 = 5;
/// The grandchild could not execute the program (the shell's code).
const NO_EXEC: i32 = 127;

/// What an exit code of the child means: `Ok` when the output is complete,
/// synced and renamed (and the directory synced).
pub fn outcome(code: i32) -> Result<(), &'static str> {
    match code {
        OK => Ok(()),
        FILTER_FAILED => Err("the program failed (or could not be executed)"),
        SYNC_FAILED => Err("unable to fsync the output"),
        RENAME_FAILED => Err("unable to rename the output to its name"),
        DIR_SYNC_FAILED => Err("unable to fsync the directory"),
        NO_FORK => Err("unable to fork the program"),
        _ => Err("ended unexpectedly"),
    }
}

/// Start `job`; returns the child's pid (reap it like any child).
pub fn spawn(job: &Job<'_>) -> io::Result<Pid> {
    let mut argv: Vec<*const libc::c_char> = job.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let fds = [job.input.as_raw_fd(), job.output.as_raw_fd(), job.dir.as_raw_fd()];
    let limit = crate::sys::child::descriptor_limit();
    let plan = Plan {
        program: job.program.as_ptr(),
        argv: argv.as_ptr(),
        fds,
        tmp: job.tmp.as_ptr(),
        name: job.name.as_ptr(),
        limit,
    };
    // SAFETY: the caller is single-threaded (the supervisor), so the child
    // is a whole copy of it; the child only makes async-signal-safe calls
    // (fcntl, dup2, close, setsid, prctl, fork, sigprocmask, signal, execv,
    // waitpid, fsync, renameat, unlinkat, _exit) on data prepared above,
    // which outlives the fork, and never returns.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        // SAFETY: in the child of that fork (see above).
        0 => unsafe { run(&plan) },
        pid => Ok(Pid::from_raw(pid)),
    }
}

/// Pointers into data the parent keeps alive across the fork.
struct Plan {
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    /// input, output, dir
    fds: [RawFd; 3],
    tmp: *const libc::c_char,
    name: *const libc::c_char,
    limit: RawFd,
}

/// Where the three descriptors sit in the child.
const INPUT: RawFd = 3;
const OUTPUT: RawFd = 4;
const DIR: RawFd = 5;

/// # Safety
/// Only in the child of a fork of a single-threaded process.
unsafe fn run(plan: &Plan) -> ! {
    // Out of the way first (above every source and target), then down to
    // 3, 4, 5: no move clobbers a descriptor still to be moved.
    let above = plan.fds.iter().copied().max().unwrap_or(0).max(DIR) + 1;
    let mut high = [0 as RawFd; 3];
    for (slot, fd) in high.iter_mut().zip(plan.fds) {
        *slot = libc::fcntl(fd, libc::F_DUPFD, above);
        if *slot < 0 {
            libc::_exit(NO_FORK);
        }
    }
    for (i, fd) in high.iter().enumerate() {
        if libc::dup2(*fd, INPUT + i as RawFd) < 0 {
            libc::_exit(NO_FORK);
        }
    }
    crate::sys::child::close_from(DIR + 1, plan.limit.max(above + 4));
    // stdin and stdout are the caller's (a terminal, /dev/null): not ours.
    libc::close(0);
    libc::close(1);
    libc::setsid();
    crate::sys::child::name_self(b"immortal-filter\0");
    let pid = libc::fork();
    if pid < 0 {
        fail(plan, NO_FORK);
    }
    if pid == 0 {
        // The program: input on 0, output on 1, the caller's stderr on 2,
        // signals as if no supervisor were there.
        if libc::dup2(INPUT, 0) < 0 || libc::dup2(OUTPUT, 1) < 0 {
            libc::_exit(NO_EXEC);
        }
        libc::close(INPUT);
        libc::close(OUTPUT);
        libc::close(DIR);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
        libc::execv(plan.program, plan.argv);
        libc::_exit(NO_EXEC);
    }
    let mut status = 0;
    while libc::waitpid(pid, &mut status, 0) < 0 {
        // Reading errno allocates nothing.
        if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            fail(plan, FILTER_FAILED);
        }
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        fail(plan, FILTER_FAILED);
    }
    if libc::fsync(OUTPUT) != 0 {
        fail(plan, SYNC_FAILED);
    }
    if libc::renameat(DIR, plan.tmp, DIR, plan.name) != 0 {
        fail(plan, RENAME_FAILED);
    }
    // The rename is on disk before the caller removes the input.
    if libc::fsync(DIR) != 0 {
        libc::_exit(DIR_SYNC_FAILED);
    }
    libc::_exit(OK)
}

/// Remove the temporary output and exit with `code`.
///
/// # Safety
/// Only in the child.
unsafe fn fail(plan: &Plan, code: i32) -> ! {
    libc::unlinkat(DIR, plan.tmp, 0);
    libc::_exit(code)
}

// Tested in tests/fork.rs, a test binary of its own: the fork copies every
// descriptor the other tests of a binary hold open at that moment.
