//! Starting a program with `posix_spawn(3)`: what immortalsvc starts its
//! supervisors with where it cannot give each a small descriptor table of
//! its own ([`super::clone::spawn_small_table`], Linux x86_64).
//!
//! A `fork` copies the whole parent — its page tables, then every page
//! either side writes until the exec, and the exec tears the copy down
//! again. With hundreds of services, the scanner's fork of each supervisor
//! cost more than the supervisor's own start. `posix_spawn` is a `vfork`
//! on glibc, musl and FreeBSD (the child borrows the parent's memory until
//! its exec) and a system call of its own on macOS and NetBSD: nothing is
//! copied, and the exec's outcome is known when it returns.
//!
//! What the child gets is described up front (file actions, attributes)
//! rather than done by code in the child: its standard streams, descriptors
//! placed at fixed numbers, a process group of its own, an empty signal
//! mask, and the signal dispositions this process had before it changed
//! them ([`super::process::spawn_signal_defaults`]).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::path::Path;

/// What a spawned program gets.
pub struct Spawn<'a> {
    pub path: &'a Path,
    pub args: &'a [String],
    /// Set (or replaced) in the environment it inherits.
    pub env: &'a [(&'a str, String)],
    /// Each `(descriptor, number)`: the descriptor is its `number` (0, 1,
    /// 2: its standard streams). Numbers not given for 0–2: `/dev/null`.
    pub fds: &'a [(RawFd, RawFd)],
}

/// Start it, in a process group of its own. `Ok(None)`: this process
/// changed a signal's disposition in a way `posix_spawn` cannot give back
/// (see [`super::process::spawn_signal_defaults`]): the caller forks.
pub fn spawn(what: &Spawn<'_>) -> io::Result<Option<u32>> {
    let Some(defaults) = super::process::spawn_signal_defaults() else {
        return Ok(None);
    };
    let argv = super::exec::c_strings(std::iter::once(what.path.as_os_str()).chain(what.args.iter().map(OsStr::new)))?;
    let envp = super::exec::environment(what.env.iter().map(|(k, v)| (OsStr::new(k), Some(OsStr::new(v)))))?;
    // A source below the highest number placed could be overwritten by an
    // earlier placement: such sources are copied above them first. So is
    // one already at its number (a dup2 onto itself, which must clear
    // close-on-exec, is not done the same way everywhere).
    let top = what.fds.iter().map(|&(_, n)| n).max().unwrap_or(2).max(2);
    let mut copies: Vec<OwnedFd> = Vec::new();
    let mut moves = Vec::new();
    for &(fd, n) in what.fds {
        if fd <= top {
            let copy = super::fs::dup_above(fd, top + 1)?;
            moves.push((std::os::fd::AsRawFd::as_raw_fd(&copy), n));
            copies.push(copy);
        } else {
            moves.push((fd, n));
        }
    }
    let null = c"/dev/null";
    let mut argv_ptrs: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr() as *mut _).collect();
    argv_ptrs.push(std::ptr::null_mut());
    let mut envp_ptrs: Vec<*mut libc::c_char> = envp.iter().map(|e| e.as_ptr() as *mut _).collect();
    envp_ptrs.push(std::ptr::null_mut());
    let mut actions = Actions::new()?;
    let mut attr = Attr::new()?;
    for std_fd in 0..3 {
        if !moves.iter().any(|&(_, n)| n == std_fd) {
            // SAFETY: `actions` is initialised; `null` outlives the spawn.
            check(unsafe {
                libc::posix_spawn_file_actions_addopen(&mut actions.0, std_fd, null.as_ptr(), libc::O_RDWR, 0)
            })?;
        }
    }
    for &(fd, n) in &moves {
        // SAFETY: `actions` is initialised; `fd` is open until the spawn.
        check(unsafe { libc::posix_spawn_file_actions_adddup2(&mut actions.0, fd, n) })?;
    }
    // SAFETY: `attr` is initialised; the sets are plain values.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        check(libc::posix_spawnattr_setsigmask(&mut attr.0, &empty))?;
        check(libc::posix_spawnattr_setsigdefault(&mut attr.0, &defaults))?;
        check(libc::posix_spawnattr_setpgroup(&mut attr.0, 0))?;
        let flags = libc::POSIX_SPAWN_SETPGROUP | libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
        check(libc::posix_spawnattr_setflags(&mut attr.0, flags as _))?;
    }
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is to a NUL-terminated string or a
    // NULL-terminated array that lives until the call returns; `actions`
    // and `attr` are initialised.
    check(unsafe {
        libc::posix_spawn(
            &mut pid,
            argv[0].as_ptr(),
            &actions.0,
            &attr.0,
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
        )
    })?;
    drop(copies);
    Ok(Some(pid as u32))
}

/// posix_spawn's functions return the error number itself.
fn check(ret: libc::c_int) -> io::Result<()> {
    match ret {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

struct Actions(libc::posix_spawn_file_actions_t);

impl Actions {
    fn new() -> io::Result<Actions> {
        // SAFETY: zeroed storage, initialised by the call before any use.
        let mut a = Actions(unsafe { std::mem::zeroed() });
        // SAFETY: as above.
        check(unsafe { libc::posix_spawn_file_actions_init(&mut a.0) })?;
        Ok(a)
    }
}

impl Drop for Actions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe {
            libc::posix_spawn_file_actions_destroy(&mut self.0);
        }
    }
}

struct Attr(libc::posix_spawnattr_t);

impl Attr {
    fn new() -> io::Result<Attr> {
        // SAFETY: zeroed storage, initialised by the call before any use.
        let mut a = Attr(unsafe { std::mem::zeroed() });
        // SAFETY: as above.
        check(unsafe { libc::posix_spawnattr_init(&mut a.0) })?;
        Ok(a)
    }
}

impl Drop for Attr {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe {
            libc::posix_spawnattr_destroy(&mut self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn run(what: &Spawn<'_>) -> i32 {
        let pid = spawn(what).unwrap().expect("posix_spawn available");
        let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None).unwrap();
        match status {
            nix::sys::wait::WaitStatus::Exited(_, code) => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_program_gets_its_descriptors_environment_and_group() {
        let (read, write) = nix::unistd::pipe().unwrap();
        let script = "echo \"$IMMORTAL_SPAWN_TEST\" >&3; ps -o pgid= -p $$ >&3; read x; echo \"in:$x.\" >&3";
        let args = ["-c".to_string(), script.to_string()];
        let code = run(&Spawn {
            path: Path::new("/bin/sh"),
            args: &args,
            env: &[("IMMORTAL_SPAWN_TEST", "it's there".into())],
            fds: &[(write.as_raw_fd(), 3)],
        });
        drop(write);
        assert_eq!(code, 0);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(read), &mut out).unwrap();
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        assert_eq!(lines[0], "it's there");
        // Its own group: the group id is not ours.
        assert_ne!(lines[1], nix::unistd::getpgrp().to_string());
        // stdin was /dev/null.
        assert_eq!(lines[2], "in:.");
    }

    #[test]
    fn a_missing_program_is_an_error_at_once() {
        let err = spawn(&Spawn {
            path: Path::new("/nonexistent/program"),
            args: &[],
            env: &[],
            fds: &[],
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
