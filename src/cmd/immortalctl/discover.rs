//! Finding services: every supervise directory under `$IMMORTAL_SDIR` and
//! `~/.immortal` with a live `immortal.sock`; or a NAME among them; or a
//! PATH to a supervise directory or a service directory, ours (socket) or
//! one run by the real `runsv`/`supervise` (control FIFO and status file).

use crate::layout;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// Our JSON API.
    Socket(PathBuf),
    /// runit/daemontools: `control` FIFO and `status` in this supervise
    /// directory.
    Fifo(PathBuf),
    /// Our supervise directory whose supervisor is gone (`kill -9`) while
    /// the service it started still runs: the directory's `started` record
    /// is what the next supervisor adopts, so it is shown, never purged.
    Orphan { pid: i32, uptime: std::time::Duration },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    pub channel: Channel,
}

/// Every service with a live socket, `$IMMORTAL_SDIR` first, each
/// directory's entries by name. Stale supervise directories (a socket
/// nobody listens on, a free lock) are removed on the way.
pub fn all() -> Vec<Found> {
    let mut out = Vec::new();
    let mut bases = vec![layout::base()];
    let user = layout::user_base();
    if !bases.contains(&user) {
        bases.push(user);
    }
    for base in bases {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            if name.starts_with('.') {
                continue;
            }
            let dir = base.join(&name);
            let sock = dir.join(layout::SOCKET);
            if !sock.exists() {
                continue;
            }
            if let Some(channel) = live_or_orphan(&dir) {
                out.push(Found { name, channel });
            } else if !crate::sys::lock::is_held(&dir.join(layout::LOCK)) {
                // Its supervisor died without cleaning up, and nothing it
                // started runs on: purge, as Go does.
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    out
}

/// Our supervise directory `dir`: its socket if a supervisor answers, else
/// the orphaned service its `started` record names, if that still runs.
pub fn live_or_orphan(dir: &Path) -> Option<Channel> {
    let sock = dir.join(layout::SOCKET);
    if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
        return Some(Channel::Socket(sock));
    }
    if crate::sys::lock::is_held(&dir.join(layout::LOCK)) {
        // A supervisor is starting (or stopping): not ours to judge.
        return Some(Channel::Socket(sock));
    }
    let found = crate::supervise::adopt::survivor(dir)?;
    Some(Channel::Orphan {
        pid: found.pid.as_raw(),
        uptime: found.uptime,
    })
}

/// A service named on the command line: a PATH (contains `/`) or a NAME.
pub fn one(target: &str) -> Option<Found> {
    if target.contains('/') {
        return by_path(Path::new(target));
    }
    // The usual place first: one connect instead of a scan of every
    // supervise directory.
    for base in [layout::base(), layout::user_base()] {
        let sock = base.join(target).join(layout::SOCKET);
        // A socket file is enough: the request itself tells if it answers
        // (and if not, whether an orphaned service runs on: see `super::fetch`, `super::act`).
        if sock.exists() {
            return Some(Found {
                name: target.to_string(),
                channel: Channel::Socket(sock),
            });
        }
    }
    all().into_iter().find(|f| f.name == target)
}

/// A supervise directory (ours: socket), a service directory with
/// `supervise/`, or a runit/daemontools supervise directory (FIFO only).
pub fn by_path(path: &Path) -> Option<Found> {
    let path = layout::absolute(path);
    let name = path.file_name()?.to_string_lossy().into_owned();
    for dir in [path.clone(), path.join(layout::SUPERVISE)] {
        if dir.join(layout::SOCKET).exists() {
            if let Some(channel) = live_or_orphan(&dir) {
                return Some(Found { name, channel });
            }
        }
    }
    for dir in [path.join(layout::SUPERVISE), path.clone()] {
        if dir.join(layout::CONTROL).exists() && dir.join(layout::STATUS).exists() {
            return Some(Found {
                name,
                channel: Channel::Fifo(dir),
            });
        }
    }
    None
}
