//! Building the service's process: own process group, cwd, environment,
//! user (uid, gid and supplementary groups), stdio.

use crate::service::Service;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Where the service's stdout and stderr go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The supervisor's own (foreground).
    Inherit,
    /// `/dev/null` (detached, no log configured).
    Null,
    /// Appended to a file.
    Append(PathBuf),
}

impl Output {
    fn stdio(&self) -> io::Result<(Stdio, Stdio)> {
        Ok(match self {
            Output::Inherit => (Stdio::inherit(), Stdio::inherit()),
            Output::Null => (Stdio::null(), Stdio::null()),
            Output::Append(path) => {
                let f = OpenOptions::new().create(true).append(true).open(path)?;
                let g = f.try_clone()?;
                (Stdio::from(f), Stdio::from(g))
            }
        })
    }
}

/// Start the service; returns its pid (also its process group id).
pub fn service(svc: &Service, out: &Output) -> io::Result<u32> {
    let (program, args) = svc
        .command
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let mut cmd = Command::new(program);
    cmd.args(args).process_group(0).stdin(Stdio::null());
    if let Some(cwd) = &svc.cwd {
        cmd.current_dir(cwd);
    }
    for (name, value) in &svc.env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    if let Some(user) = &svc.user {
        cmd.env("HOME", &user.home)
            .env("USER", &user.name)
            .env("LOGNAME", &user.name);
        drop_privileges(
            &mut cmd,
            user.uid.as_raw(),
            user.gid.as_raw(),
            user.groups.iter().map(|g| g.as_raw()).collect(),
        );
    }
    let (stdout, stderr) = out.stdio()?;
    cmd.stdout(stdout).stderr(stderr);
    unblock_signals(&mut cmd);
    Ok(cmd.spawn()?.id())
}

/// The supervisor blocks the signals it reads from its signalfd; a child
/// must not inherit that mask (a blocked TERM would never stop it).
pub fn unblock_signals(cmd: &mut Command) {
    // SAFETY: sigemptyset and sigprocmask are async-signal-safe and touch
    // only a local set.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Run `$SHELL -c "HOOK CODE"` in the background (its own process group, so
/// stopping the service never touches it). Reaped by the supervisor's loop.
pub fn hook(hook: &str, code: i32, svc: &Service, out: &Output) -> io::Result<u32> {
    let shell = std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "sh".into());
    let mut cmd = Command::new(shell);
    cmd.arg("-c")
        .arg(format!("{hook} {code}"))
        .process_group(0)
        .stdin(Stdio::null());
    if let Some(cwd) = &svc.cwd {
        cmd.current_dir(cwd);
    }
    let (stdout, stderr) = out.stdio()?;
    cmd.stdout(stdout).stderr(stderr);
    unblock_signals(&mut cmd);
    Ok(cmd.spawn()?.id())
}

/// Switch to `uid`/`gid` with exactly `groups` as supplementary groups.
///
/// Done in `pre_exec` rather than with `CommandExt::uid`, because std clears
/// the supplementary groups when it sets the uid itself.
fn drop_privileges(cmd: &mut Command, uid: libc::uid_t, gid: libc::gid_t, groups: Vec<libc::gid_t>) {
    // SAFETY: the closure only makes async-signal-safe system calls
    // (setgroups, setgid, setuid) on data prepared before the fork.
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
