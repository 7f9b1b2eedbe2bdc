//! Following a pid file (`-f`, `pid.follow`): programs that daemonize or
//! re-exec themselves (nginx, unicorn/gunicorn upgrades).
//!
//! When the started process exits and the pid file names another live
//! process, the supervisor follows that one instead of restarting. Because
//! the supervisor is a child subreaper, a daemonized descendant is
//! reparented to it and its exit (with status) arrives through `waitpid`;
//! any followed pid is also watched with a pidfd in the same poll, which
//! covers one that is not our child. No polling of `/proc`.
//!
//! A candidate is followed only if it is alive, is not pid 1, is not the
//! process that just exited, and is ours: a descendant reparented to us,
//! or owned by the service's user. A pid file in a world-writable
//! directory is not read through a symlink.

use crate::error::{Context, Error, Result};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Largest pid file content we read; anything longer is garbage.
const MAX_PIDFILE: u64 = 64;

/// Parse a pid file's content: one positive decimal pid, optional
/// surrounding whitespace. Pid 1 and `exited` are refused.
pub fn parse(content: &str, exited: Pid) -> Result<Pid> {
    let text = content.trim();
    if text.is_empty() {
        return Err(Error::invalid("empty"));
    }
    let n: i32 = text
        .parse()
        .map_err(|_| Error::invalid(format!("not a pid: '{}'", text.chars().take(20).collect::<String>())))?;
    if n <= 1 {
        return Err(Error::invalid(format!("refusing pid {n}")));
    }
    let pid = Pid::from_raw(n);
    if pid == exited {
        return Err(Error::invalid(format!("still names the exited pid {n}")));
    }
    Ok(pid)
}

/// Read the pid file at `path`.
pub fn read(path: &Path) -> Result<String> {
    let world_writable = path
        .parent()
        .and_then(|d| std::fs::metadata(if d.as_os_str().is_empty() { Path::new(".") } else { d }).ok())
        .is_some_and(|m| m.mode() & 0o002 != 0);
    // In a world-writable directory anyone could plant a symlink there.
    let data = crate::sys::fs::read_regular(path, MAX_PIDFILE, world_writable).ctx("read", path)?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// The process to follow after `exited` ended, and its process group, or
/// why there is none.
pub fn candidate(path: &Path, exited: Pid, uid: u32) -> Result<(Pid, Pid)> {
    let pid = parse(&read(path)?, exited)?;
    let not_running = || Error::invalid(format!("pid {pid} is not running"));
    let (ppid, owner) = owner_and_parent(pid).ok_or_else(not_running)?;
    let ours = ppid == std::process::id() as i32 || owner == uid;
    if !ours {
        return Err(Error::invalid(format!(
            "pid {pid} belongs to uid {owner}, not to the service"
        )));
    }
    let pgid = nix::unistd::getpgid(Some(pid)).map_err(|_| not_running())?;
    Ok((pid, pgid))
}

/// Parent pid and owner of a live (non-zombie) process.
fn owner_and_parent(pid: Pid) -> Option<(i32, u32)> {
    let stat = crate::sys::process::ProcStat::read(pid)?;
    if stat.is_zombie() {
        return None;
    }
    let ppid = stat.ppid()?;
    let owner = std::fs::metadata(format!("/proc/{pid}")).ok()?.uid();
    Some((ppid, owner))
}

/// Whether `pid` is our child (so its exit reaches our `waitpid` and its
/// zombie is ours to reap).
pub fn is_our_child(pid: Pid) -> bool {
    owner_and_parent(pid).is_some_and(|(ppid, _)| ppid == std::process::id() as i32)
}

/// Live children of the supervisor other than `known`: descendants of the
/// service, reparented to us (we are a subreaper) when their parent exited.
/// Read once, at an exit, never polled.
pub fn adopted(known: &[Pid]) -> Vec<Pid> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .filter(|p| !known.contains(p))
        .filter(|&p| owner_and_parent(p).is_some_and(|(ppid, _)| ppid == me))
        .collect()
}

/// Wake-ups for changes in the pid file's directory (a rename into place
/// or a finished write), while a hand-over is awaited.
pub fn watch_dir(pidfile: &Path) -> nix::Result<nix::sys::inotify::Inotify> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let dir = match pidfile.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
    ino.add_watch(
        dir,
        AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CREATE,
    )?;
    Ok(ino)
}

/// A descriptor that becomes readable when `pid` exits (whether or not it
/// is our child).
pub fn pidfd(pid: Pid) -> std::io::Result<OwnedFd> {
    crate::sys::pidfd::open(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: i32) -> Pid {
        Pid::from_raw(n)
    }

    #[test]
    fn pidfile_cases() {
        assert_eq!(parse("1234\n", p(99)).ok(), Some(p(1234)));
        assert_eq!(parse("  1234  ", p(99)).ok(), Some(p(1234)));
        assert!(parse("", p(99)).unwrap_err().to_string().contains("empty"));
        assert!(parse("\n\n", p(99)).unwrap_err().to_string().contains("empty"));
        assert!(parse("abc", p(99)).unwrap_err().to_string().contains("not a pid"));
        assert!(parse("12 34", p(99)).unwrap_err().to_string().contains("not a pid"));
        assert!(parse("99999999999999999999", p(99))
            .unwrap_err()
            .to_string()
            .contains("not a pid"));
        assert!(parse("-5", p(99)).unwrap_err().to_string().contains("refusing"));
        assert!(parse("0", p(99)).unwrap_err().to_string().contains("refusing"));
        assert!(parse("1", p(99)).unwrap_err().to_string().contains("refusing pid 1"));
        assert!(parse("99", p(99)).unwrap_err().to_string().contains("exited pid"));
        assert!(parse("\u{0}\u{1}binary", p(99))
            .unwrap_err()
            .to_string()
            .contains("not a pid"));
    }

    #[test]
    fn candidate_checks_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.pid");
        let me = std::process::id();
        std::fs::write(&f, format!("{me}\n")).unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        let (pid, pgid) = candidate(&f, p(1), uid).unwrap();
        assert_eq!(pid.as_raw() as u32, me);
        assert_eq!(pgid, nix::unistd::getpgrp());
        // Owned by someone else and not our child: refused.
        assert!(candidate(&f, p(1), uid + 1)
            .unwrap_err()
            .to_string()
            .contains("belongs to uid"));
        // A pid nobody has.
        std::fs::write(&f, "2147483646\n").unwrap();
        assert!(candidate(&f, p(1), uid)
            .unwrap_err()
            .to_string()
            .contains("not running"));
        assert!(candidate(&dir.path().join("missing.pid"), p(1), uid)
            .unwrap_err()
            .to_string()
            .contains("unable to read"));
        // Huge content is refused, not read whole.
        std::fs::write(&f, "7".repeat(1 << 20)).unwrap();
        assert!(candidate(&f, p(1), uid)
            .unwrap_err()
            .to_string()
            .contains("larger than"));
    }

    #[test]
    fn no_symlinks_in_world_writable_dirs() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let real = dir.path().join("real.pid");
        std::fs::write(&real, "1234\n").unwrap();
        let link = dir.path().join("link.pid");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(read(&link).is_err());
        assert_eq!(read(&real).unwrap(), "1234\n");
    }
}
