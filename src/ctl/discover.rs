//! Finding services: every supervise directory under `$IMMORTAL_SDIR` and
//! `~/.immortal` with a live `immortal.sock`; or a NAME among them; or a
//! PATH to a supervise directory or a service directory, ours (socket) or
//! one run by the real `runsv`/`supervise` (control FIFO and status file).

use crate::sdir;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// Our JSON API.
    Socket(PathBuf),
    /// runit/daemontools: `control` FIFO and `status` in this supervise
    /// directory.
    Fifo(PathBuf),
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
    let mut bases = vec![sdir::base()];
    let user = sdir::user_base();
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
            let sock = dir.join(sdir::SOCKET);
            if !sock.exists() {
                continue;
            }
            if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
                out.push(Found {
                    name,
                    channel: Channel::Socket(sock),
                });
            } else if !crate::sys::lock::is_held(&dir.join(sdir::LOCK)) {
                // Its supervisor died without cleaning up: purge, as Go does.
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    out
}

/// A service named on the command line: a PATH (contains `/`) or a NAME.
pub fn one(target: &str) -> Option<Found> {
    if target.contains('/') {
        return by_path(Path::new(target));
    }
    // The usual place first: one connect instead of a scan of every
    // supervise directory.
    for base in [sdir::base(), sdir::user_base()] {
        let sock = base.join(target).join(sdir::SOCKET);
        // A socket file is enough: the request itself tells if it answers.
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
    let path = sdir::absolute(path);
    let name = path.file_name()?.to_string_lossy().into_owned();
    for dir in [path.clone(), path.join("supervise")] {
        let sock = dir.join(sdir::SOCKET);
        if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
            return Some(Found {
                name,
                channel: Channel::Socket(sock),
            });
        }
    }
    for dir in [path.join("supervise"), path.clone()] {
        if dir.join(sdir::CONTROL).exists() && dir.join(sdir::STATUS).exists() {
            return Some(Found {
                name,
                channel: Channel::Fifo(dir),
            });
        }
    }
    None
}
