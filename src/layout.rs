//! Where supervise directories live and what is in them.
//!
//! `-ctl DIR` names one directly (a bare name means `$IMMORTAL_SDIR/NAME`);
//! without it a supervisor uses `~/.immortal/NAME` (NAME: `-name`, the
//! config file's stem, or the supervisor's pid). `IMMORTAL_SDIR` defaults to
//! `/var/run/immortal`, falling back to `$XDG_RUNTIME_DIR/immortal` and then
//! `~/.immortal` when that is not writable (not root).

use crate::sys::fs;
use std::path::{Path, PathBuf};

/// Held (flock) by the one supervisor of the directory; holds its pid.
pub const LOCK: &str = "lock";
/// The HTTP/JSON API.
pub const SOCKET: &str = "immortal.sock";
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
/// A detached supervisor's messages when syslog cannot be reached.
pub const FALLBACK_LOG: &str = "immortal.log";
/// Written by `immortalsvc` while the service's `NAME.yml` does not
/// validate (the running service is kept): the error, one line.
pub const CONFIG_ERROR: &str = "config-error";

pub const DEFAULT_SDIR: &str = "/var/run/immortal";

/// The user's home: `$HOME`, else the password database, else `/`.
pub fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    match nix::unistd::User::from_uid(nix::unistd::getuid()) {
        Ok(Some(u)) => u.dir,
        _ => PathBuf::from("/"),
    }
}

/// `~/.immortal`.
pub fn user_base() -> PathBuf {
    home().join(".immortal")
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
        return PathBuf::from(xdg).join("immortal");
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

pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
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
