//! What this system can do, as a value: the code above `sys` asks here and
//! never names an operating system. A key of `run.yml` that needs what the
//! system lacks is an error naming the key and the system
//! ([`unavailable`]), never a silent no-op.
//!
//! | | Linux | FreeBSD | NetBSD | macOS |
//! |---|---|---|---|---|
//! | signals | signalfd | kqueue `EVFILT_SIGNAL` | same | same |
//! | "this pid ended" (not our child) | pidfd | kqueue `EVFILT_PROC` | same | same |
//! | "this directory changed" | inotify | kqueue `EVFILT_VNODE` | same | same |
//! | subreaper | `PR_SET_CHILD_SUBREAPER` | `procctl(PROC_REAP_ACQUIRE)` | none | none |
//! | cgroups, `no_new_privs`, sd_notify | yes | no | no | no |
//! | another process's descriptors (`/proc/PID/fd`) | yes | no | no | no |
//!
//! `IMMORTAL_PORTABLE=1` (a test and debug switch, Linux only) makes Linux
//! take the paths a system without its extras takes: signals through a
//! self-pipe, no subreaper (a daemon that double-forks is followed through
//! its pid file), and cgroups, `no_new_privs`, sd_notify, another process's
//! descriptors and the Linux-only rlimits reported missing. pidfd and
//! inotify stay: they are Linux's `EVFILT_PROC` and `EVFILT_VNODE`.

/// The variable that switches Linux to the portable paths.
pub const PORTABLE_ENV: &str = "IMMORTAL_PORTABLE";

/// What the system offers the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// As messages name it: `Linux`, `FreeBSD`, `NetBSD`, `macOS`, or
    /// `Linux with IMMORTAL_PORTABLE=1`.
    pub system: &'static str,
    /// cgroups (v2 or v1): `cgroup:` limits, a stop that reaches every
    /// process of the service.
    pub cgroups: bool,
    /// `no_new_privs`.
    pub no_new_privs: bool,
    /// A process can adopt its orphaned descendants: a daemon that forks
    /// twice stays our child.
    pub subreaper: bool,
    /// sd_notify (`ready: notify`): datagrams whose sender the kernel names.
    pub notify_socket: bool,
    /// Another process's descriptors can be opened (`/proc/PID/fd/N`): an
    /// adopted service's output is read again.
    pub reopen_fds: bool,
    /// How signals, exits of processes that are not our children, and
    /// changes of directories reach the one `poll`.
    pub signals: &'static str,
    pub exits: &'static str,
    pub changes: &'static str,
}

/// Whether `IMMORTAL_PORTABLE` asks for the portable paths (read once).
pub fn portable() -> bool {
    static PORTABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PORTABLE.get_or_init(|| {
        cfg!(target_os = "linux") && std::env::var_os(PORTABLE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
    })
}

/// This system's capabilities.
pub fn capabilities() -> Capabilities {
    #[cfg(target_os = "linux")]
    {
        let full = !portable();
        Capabilities {
            system: if full {
                "Linux"
            } else {
                "Linux with IMMORTAL_PORTABLE=1"
            },
            cgroups: full,
            no_new_privs: full,
            subreaper: full,
            notify_socket: full,
            reopen_fds: full,
            signals: if full { "signalfd" } else { "self-pipe" },
            exits: "pidfd",
            changes: "inotify",
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        Capabilities {
            system: SYSTEM,
            cgroups: false,
            no_new_privs: false,
            subreaper: cfg!(target_os = "freebsd"),
            notify_socket: false,
            reopen_fds: false,
            signals: "kqueue",
            exits: "kqueue",
            changes: "kqueue",
        }
    }
}

#[cfg(target_os = "freebsd")]
const SYSTEM: &str = "FreeBSD";
#[cfg(target_os = "netbsd")]
const SYSTEM: &str = "NetBSD";
#[cfg(target_os = "macos")]
const SYSTEM: &str = "macOS";
#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "macos"
)))]
const SYSTEM: &str = "this system";

/// `KEY: not available on SYSTEM`.
pub fn unavailable(key: &str) -> String {
    format!("{key}: not available on {}", capabilities().system)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn linux_has_everything_unless_told_to_be_portable() {
        let c = capabilities();
        if portable() {
            assert!(!c.cgroups && !c.subreaper && !c.notify_socket);
            assert_eq!(
                unavailable("cgroup"),
                "cgroup: not available on Linux with IMMORTAL_PORTABLE=1"
            );
        } else {
            assert!(c.cgroups && c.no_new_privs && c.subreaper && c.notify_socket && c.reopen_fds);
            assert_eq!(unavailable("cgroup"), "cgroup: not available on Linux");
        }
    }
}
