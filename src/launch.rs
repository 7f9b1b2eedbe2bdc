//! `immortal`'s startup, in the order that keeps errors visible: validate
//! everything, check requirements, daemonize with a handshake, take the
//! supervise directory, then hand over to the event loop.

use crate::error::{Context, Error, Result};
use crate::log::Log;
use crate::sdir;
use crate::service::{self, Flags, Plan, Service};
use crate::supervise::{self, spawn::Output, state::Want, Supervisor};
use crate::sys::{self, daemon::Readiness, lock::Lock, signals::Signals};
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// Run `immortal` with parsed flags; returns the process exit status.
pub fn immortal(flags: &Flags) -> i32 {
    let svc = match service::plan(flags) {
        Ok(Plan::PrintConfig(yaml)) => {
            let _ = std::io::stdout().write_all(yaml.as_bytes());
            return 0;
        }
        Ok(Plan::Supervise(svc)) => *svc,
        Err(e) => return fail(&e.to_string()),
    };
    if let Err(e) = check_requirements(&svc) {
        return fail(&e.to_string());
    }
    let readiness = if !flags.foreground && sys::daemon::wanted() {
        match sys::daemon::detach() {
            Ok(r) => r,
            Err(e) => return fail(&e.to_string()),
        }
    } else {
        Readiness::foreground()
    };
    let pid = std::process::id();
    let dir = sdir::resolve(flags.ctl.as_deref(), svc.default_dir_name().as_deref(), pid);
    let detached = readiness.is_detached();
    let parts = match prepare(svc, dir.clone(), detached) {
        Ok(p) => p,
        Err(e) => readiness.fail(&format!("immortal: {e}")),
    };
    if let Err(e) = readiness.ready() {
        // stdio is half-redirected: nobody can hear this but syslog.
        parts.log.warn(&e.to_string());
    }
    Supervisor::new(parts).run()
}

fn fail(msg: &str) -> i32 {
    let _ = writeln!(std::io::stderr(), "immortal: {msg}");
    crate::error::EXIT_FAILURE
}

/// `require` and `require_cmd`: refuse to start when they are not met.
pub fn check_requirements(svc: &Service) -> Result<()> {
    let down: Vec<&str> = svc
        .require
        .iter()
        .filter(|name| !is_up(name))
        .map(String::as_str)
        .collect();
    if !down.is_empty() {
        return Err(Error::invalid(format!("required services not up: {}", down.join(", "))));
    }
    if let Some(cmd) = &svc.require_cmd {
        let shell = std::env::var("SHELL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "sh".into());
        let status = std::process::Command::new(&shell)
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .ctx("run require_cmd with", &shell)?;
        if !status.success() {
            let how = match status.code() {
                Some(c) => format!("exit status {c}"),
                None => "killed by a signal".into(),
            };
            return Err(Error::invalid(format!("require_cmd '{cmd}' failed: {how}")));
        }
    }
    Ok(())
}

/// Whether the service NAME is up: its supervisor, found in
/// `$IMMORTAL_SDIR/NAME` then `~/.immortal/NAME`, reports it running.
pub fn is_up(name: &str) -> bool {
    [sdir::base(), sdir::user_base()].iter().any(|base| {
        let sock = base.join(name).join(sdir::SOCKET);
        match crate::client::status(&sock) {
            Ok(st) => st.get("up").is_some(),
            Err(_) => false,
        }
    })
}

/// Take the supervise directory and open everything the loop needs.
fn prepare(svc: Service, dir: PathBuf, detached: bool) -> Result<supervise::Parts> {
    sys::fs::ensure_dir(&dir)?;
    sys::fs::check_owner(&dir)?;
    let mut lock = Lock::acquire(&dir.join(sdir::LOCK))?;
    lock.record_holder(std::process::id())?;
    let listener = listen(&dir.join(sdir::SOCKET))?;
    if let Some(path) = &svc.supervisor_pidfile {
        sys::fs::write_pidfile(path, std::process::id())?;
    }
    if let Err(e) = sys::process::become_subreaper() {
        return Err(e).ctx("become child subreaper in", &dir);
    }
    let signals = Signals::block(supervise::HANDLED)?;
    let prefix = dir.display().to_string();
    let log = if detached {
        Log::syslog(prefix)
    } else {
        Log::stderr(prefix)
    };
    let out = match &svc.log {
        Some(spec) => Output::Append(spec.file.clone()),
        None if detached => Output::Null,
        None => Output::Inherit,
    };
    Ok(supervise::Parts {
        svc,
        dir,
        out,
        log,
        signals,
        listener,
        lock,
        detached,
        want: Want::Up,
    })
}

/// Bind the API socket (mode 0660). We hold the lock, so an existing
/// socket file is a dead supervisor's leftover.
fn listen(path: &Path) -> Result<UnixListener> {
    sys::fs::check_owner(path)?;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).ctx("remove stale", path),
    }
    let listener = UnixListener::bind(path).ctx("bind", path)?;
    listener.set_nonblocking(true).ctx("configure", path)?;
    sys::fs::set_mode(path, 0o660)?;
    Ok(listener)
}
