//! Every name immortal reads or writes on disk, and where supervise
//! directories live. A path anywhere else in the crate is built from these.
//!
//! **A supervise directory** is one supervisor's (ours, runit-compatible so
//! that `sv`, `svc` and `svstat` work on it):
//!
//! ```text
//! lock            flock-ed by the one supervisor; holds its pid
//! control         FIFO: runit/s6 control bytes (see crate::control)
//! ok              FIFO with a reader while a supervisor runs
//! status          runit's 20-byte record (see crate::status)
//! stat            runsv's state text ("run", "down, paused"…), one line
//! pid             the service's pid, one line
//! immortal.sock   the HTTP/JSON API (see crate::api)
//! started         who runs: pid, start ticks, boot id, group (adoption)
//! holder          who holds the output pipes open (pid, start ticks, boot id)
//! immortal.log    a detached supervisor's messages when syslog is
//!                 unreachable (immortal.log.1: the one older file)
//! config-error    written by immortalsvc while NAME.yml does not validate
//! supervise       -> . (only when it is no service directory's), so
//!                 `sv status DIR` works on the directory itself
//! ```
//!
//! **A service directory** is daemontools', runit's or s6's
//! (`immortal DIR`):
//!
//! ```text
//! run             the service, started in DIR (required)
//! finish          run after each exit of run: ./finish CODE SIGNAL
//! down            present: do not start the service at first
//! control/X       runit: a script run instead of control byte X's action
//! log/            a service directory itself: the logger, fed by a pipe
//! supervise/      its supervise directory (or a symlink to one)
//! down-signal     s6: the stop signal's name
//! timeout-kill    s6: milliseconds before KILL follows it (0: never)
//! ```
//!
//! Other entries (runit's `check`, an `env/` that `run` reads through
//! `chpst -e`) are the service's own: immortal does not read them.
//!
//! **A services directory** (`immortalsvc DIR`) holds `NAME.yml` files
//! (`run.yml` format) and `NAME/` service directories.
//!
//! **A log directory** (`immortallog DIR`, svlogd's and multilog's):
//! `current`, the rotated `@<tai64n>.s` files (named by
//! [`crate::logfile`]), `lock` and svlogd's `config`.
//!
//! **Where supervise directories live**: `-ctl DIR` names one directly (a
//! bare name means `$IMMORTAL_SDIR/NAME`); without it a supervisor uses
//! `~/.immortal/NAME` (NAME: `-name`, the config file's stem, or the
//! supervisor's pid). `IMMORTAL_SDIR` defaults to `/var/run/immortal`,
//! falling back to `$XDG_RUNTIME_DIR/immortal` and then `~/.immortal` when
//! that is not writable (not root).

use crate::sys::fs;
use std::path::{Path, PathBuf};

// The supervise directory.

/// Held (flock) by the one supervisor of the directory; holds its pid.
pub const LOCK: &str = "lock";
/// The HTTP/JSON API.
pub const SOCKET: &str = "immortal.sock";
/// `immortalsvc`'s own socket, in `$IMMORTAL_SDIR`.
pub const IMMORTALSVC_SOCKET: &str = "immortalsvc.sock";
/// What `immortalsvc.sock` answers with the services it runs no supervisor
/// for (waiting for a requirement, or a `NAME.yml` that does not validate).
pub const IMMORTALSVC_WAITING: &str = "/waiting";
/// runit's control FIFO.
pub const CONTROL: &str = "control";
/// runit's liveness FIFO.
pub const OK: &str = "ok";
/// runit's 20-byte status record.
pub const STATUS: &str = "status";
/// runit's human-readable state.
pub const STAT: &str = "stat";
/// The service's pid.
pub const PID: &str = "pid";
/// The record of the process a later supervisor may adopt.
pub const STARTED: &str = "started";
/// The holder of the service's output pipes (pid, start time, boot id):
/// see `sys::hold`.
pub const HOLDER: &str = "holder";
/// Where the `log:` file's last line, unterminated, ended when the
/// supervisor last took its bytes from the pipe (device, inode, size): a
/// later supervisor that finds the file ending there continues that line
/// with what the adopted service writes next; anywhere else (its write was
/// cut by a `kill -9`, and the pipe gives the bytes again) it ends it.
/// `stderr:`'s file: the same with [`OPEN_LINE_STDERR`].
pub const OPEN_LINE: &str = "open-line";
pub const OPEN_LINE_STDERR: &str = "open-line.stderr";
/// The cgroup directories made for the service (see `cgroup`), so that a
/// later supervisor finds them again.
pub const CGROUP: &str = "cgroup";
/// A detached supervisor's messages when syslog cannot be reached.
pub const FALLBACK_LOG: &str = "immortal.log";
/// Written by `immortalsvc` while the service's `NAME.yml` does not
/// validate (the running service is kept): the error, one line.
pub const CONFIG_ERROR: &str = "config-error";

// The service directory.

/// The service itself.
pub const RUN: &str = "run";
/// Run after each exit of `run`.
pub const FINISH: &str = "finish";
/// Present: the service is not started at first.
pub const DOWN: &str = "down";
/// The directory of runit's per-letter control scripts (`control/X`); not
/// to be confused with the supervise directory's [`CONTROL`] FIFO.
pub const CONTROL_SCRIPTS: &str = "control";
/// The logger's service directory.
pub const LOG_SERVICE: &str = "log";
/// The service directory's supervise directory; in a supervise directory
/// of our own, the symlink to itself.
pub const SUPERVISE: &str = "supervise";
/// s6's stop-signal file.
pub const DOWN_SIGNAL: &str = "down-signal";
/// s6's kill-timeout file.
pub const TIMEOUT_KILL: &str = "timeout-kill";
/// Present: the service is essential (`essential: true`): once it has
/// failed for good, its supervisor exits 3.
pub const ESSENTIAL: &str = "essential";
/// s6's readiness file in a service directory: the descriptor number the
/// service writes a line to once it is ready.
pub const NOTIFICATION_FD: &str = "notification-fd";
/// Present in a supervise directory while its service is ready: what
/// `immortalsvc` watches (inotify) to start the services requiring it.
pub const READY: &str = "ready";
/// The sd_notify socket in a supervise directory (`NOTIFY_SOCKET`).
pub const NOTIFY_SOCKET: &str = "notify";

// The services directory (`immortalsvc`).

/// What makes `NAME.yml` a service named NAME.
pub const YML_SUFFIX: &str = ".yml";

// The log directory (`immortallog`).

/// The file being written.
pub const CURRENT: &str = "current";
/// Held (flock) by the one logger of the directory.
pub const LOG_LOCK: &str = "lock";
/// svlogd's settings, read at start and at SIGHUP.
pub const LOG_CONFIG: &str = "config";

// Where supervise directories live.

/// `$IMMORTAL_SDIR`'s default.
pub const DEFAULT_SDIR: &str = "/var/run/immortal";
/// In `$XDG_RUNTIME_DIR`: the fallback for [`DEFAULT_SDIR`].
pub const RUNTIME_SDIR: &str = "immortal";
/// In the user's home: supervise directories without `-ctl`, and the last
/// fallback for [`DEFAULT_SDIR`].
pub const USER_SDIR: &str = ".immortal";

/// The user's home: `$HOME`, else the password database, else `/`.
pub fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    crate::user::home_of(nix::unistd::getuid()).map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// `~/.immortal`.
pub fn user_base() -> PathBuf {
    home().join(USER_SDIR)
}

/// `$IMMORTAL_SDIR`, with the non-root fallbacks.
pub fn base() -> PathBuf {
    if let Some(dir) = std::env::var_os("IMMORTAL_SDIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let default = Path::new(DEFAULT_SDIR);
    if fs::writable_dir(default) {
        return default.to_path_buf();
    }
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(xdg).join(RUNTIME_SDIR);
    }
    user_base()
}

/// Whether `-ctl`'s argument is a bare service name rather than a path.
pub fn is_bare_name(ctl: &str) -> bool {
    !ctl.contains('/') && ctl != "." && ctl != ".."
}

/// The supervise directory for a supervisor (made absolute: the supervisor
/// must find it again whatever its working directory).
pub fn resolve(ctl: Option<&str>, name: Option<&str>, pid: u32) -> PathBuf {
    match ctl {
        Some(c) if is_bare_name(c) => base().join(c),
        Some(c) => absolute(Path::new(c)),
        None => user_base().join(name.map_or_else(|| pid.to_string(), String::from)),
    }
}

/// `p` against the working directory (as it is if that is unknown).
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_rules() {
        assert_eq!(resolve(Some("/x/y"), Some("n"), 7), PathBuf::from("/x/y"));
        assert!(resolve(Some("web"), None, 7).ends_with("web"));
        assert_eq!(resolve(None, Some("web"), 7), user_base().join("web"));
        assert_eq!(resolve(None, None, 7), user_base().join("7"));
        assert!(resolve(Some("./rel"), None, 7).is_absolute());
        assert!(is_bare_name("web") && !is_bare_name("./web") && !is_bare_name("a/b"));
    }
}
