//! Finding services: every supervise directory under `$IMMORTAL_SDIR` and
//! `~/.immortal` with a live `immortal.sock`; or a NAME among them; or a
//! PATH to a supervise directory or a service directory, ours (socket) or
//! one run by the real `runsv`/`supervise` (control FIFO and status file).
//!
//! What we may not look at or connect to (`EACCES`, `EPERM`) is found as
//! [`Channel::Denied`]: never taken for a supervisor that is gone, a stale
//! directory to purge, or no service at all.

use crate::client;
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
    /// A service we may not reach: `access denied: unable to connect to
    /// …/immortal.sock: Permission denied (os error 13)`, to be said as is.
    Denied(String),
}

/// What to say of something we may not reach, from the failure.
pub fn access_denied(failure: impl std::fmt::Display) -> String {
    format!("access denied: {failure}")
}

/// A failed request to a supervisor, as said to the operator: a refusal is
/// named as one.
pub fn explain(e: &crate::error::Error) -> String {
    if client::denied(e.raw_os_error()) {
        access_denied(e)
    } else {
        e.to_string()
    }
}

/// Whether `path` exists; `Err` with the [`Channel::Denied`] to report if
/// it could not be looked at for lack of permission (another error: not
/// there).
fn look(path: &Path) -> Result<bool, Channel> {
    match path.try_exists() {
        Ok(exists) => Ok(exists),
        Err(e) if client::denied(e.raw_os_error()) => {
            let dir = path.parent().unwrap_or(path);
            Err(Channel::Denied(access_denied(format!(
                "unable to look in {}: {e}",
                dir.display()
            ))))
        }
        Err(_) => Ok(false),
    }
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
    every(true)
}

/// As [`all`], every socket taken as it is found, not connected to first:
/// for a request that is sent to each at once (the request itself tells
/// whether it answers: see [`stale`] for one that does not). A supervisor
/// asked to stop is not woken twice.
pub fn all_unchecked() -> Vec<Found> {
    every(false)
}

/// Whether our supervise directory `dir`, whose socket did not answer, is
/// stale (nobody holds its lock, no service it started runs on): then it
/// is removed, as [`all`] does.
pub fn stale(dir: &Path) -> bool {
    // A supervisor that exits removes its socket and leaves its records
    // for the next one: without a socket, not stale.
    if !dir.join(layout::SOCKET).exists()
        || live_or_orphan(dir).is_some()
        || crate::sys::lock::is_held(&dir.join(layout::LOCK))
    {
        return false;
    }
    let _ = std::fs::remove_dir_all(dir);
    true
}

fn every(check: bool) -> Vec<Found> {
    let mut out = Vec::new();
    let mut bases = vec![layout::base()];
    let user = layout::user_base();
    if !bases.contains(&user) {
        bases.push(user);
    }
    for base in bases {
        let entries = match std::fs::read_dir(&base) {
            Ok(entries) => entries,
            Err(e) if client::denied(e.raw_os_error()) => {
                out.push(Found {
                    name: base.display().to_string(),
                    channel: Channel::Denied(access_denied(format!("unable to list {}: {e}", base.display()))),
                });
                continue;
            }
            Err(_) => continue,
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
            match look(&dir.join(layout::SOCKET)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(channel) => {
                    out.push(Found { name, channel });
                    continue;
                }
            }
            if !check {
                out.push(Found {
                    name,
                    channel: Channel::Socket(dir.join(layout::SOCKET)),
                });
            } else if let Some(channel) = live_or_orphan(&dir) {
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
/// the orphaned service its `started` record names, if that still runs; a
/// socket we may not connect to is [`Channel::Denied`] (whether anyone
/// listens cannot be known).
pub fn live_or_orphan(dir: &Path) -> Option<Channel> {
    let sock = dir.join(layout::SOCKET);
    match std::os::unix::net::UnixStream::connect(&sock) {
        Ok(_) => return Some(Channel::Socket(sock)),
        Err(e) if client::denied(e.raw_os_error()) => {
            return Some(Channel::Denied(access_denied(format!(
                "unable to connect to {}: {e}",
                sock.display()
            ))))
        }
        Err(_) => {}
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
    let mut denied = None;
    for base in [layout::base(), layout::user_base()] {
        let sock = base.join(target).join(layout::SOCKET);
        // A socket file is enough: the request itself tells if it answers
        // (and if not, whether an orphaned service runs on: see `super::fetch`, `super::act`).
        match look(&sock) {
            Ok(true) => {
                return Some(Found {
                    name: target.to_string(),
                    channel: Channel::Socket(sock),
                })
            }
            Ok(false) => {}
            Err(channel) => {
                denied.get_or_insert(Found {
                    name: target.to_string(),
                    channel,
                });
            }
        }
    }
    all().into_iter().find(|f| f.name == target).or(denied)
}

/// A supervise directory (ours: socket), a service directory with
/// `supervise/`, or a runit/daemontools supervise directory (FIFO only).
pub fn by_path(path: &Path) -> Option<Found> {
    let path = layout::absolute(path);
    let name = path.file_name()?.to_string_lossy().into_owned();
    // A directory we may not look in (runit's supervise/ is 0700) is said
    // so, if nothing else is found.
    let mut denied = None;
    let mut exists = |p: PathBuf| {
        look(&p).unwrap_or_else(|channel| {
            denied.get_or_insert(channel);
            false
        })
    };
    for dir in [path.clone(), path.join(layout::SUPERVISE)] {
        if exists(dir.join(layout::SOCKET)) {
            if let Some(channel) = live_or_orphan(&dir) {
                return Some(Found { name, channel });
            }
        }
    }
    for dir in [path.join(layout::SUPERVISE), path.clone()] {
        if exists(dir.join(layout::CONTROL)) && exists(dir.join(layout::STATUS)) {
            return Some(Found {
                name,
                channel: Channel::Fifo(dir),
            });
        }
    }
    denied.map(|channel| Found { name, channel })
}
