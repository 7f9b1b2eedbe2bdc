//! `immortal`'s startup, in the order that keeps errors visible: validate
//! everything, check requirements, daemonize with a handshake, take the
//! supervise directory, then hand over to the event loop.

use crate::error::{Context, Error, Result};
use crate::layout;
use crate::notice::Log;
use crate::service::{self, Service};
use crate::supervise::{self, files, files::Files, spawn::Io, spawn::Sink, state::Role, state::Want, Supervisor, Unit};
use crate::sys::{self, daemon::Readiness, events::Events};
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub mod plan;
pub use plan::{Flags, Plan};

/// Run `immortal` with parsed flags; returns the process exit status.
pub fn run(flags: &Flags) -> i32 {
    // Startup's deep, wide frames (option and YAML handling) are gone from
    // the stack before the loop starts: the loop's stack stays shallow, and
    // what startup touched below it is given back (sys::mem).
    crate::sys::process::restore_nofile();
    // Under immortalsvc our messages have a pipe of their own.
    let notices = crate::sys::exec::take_notice_fd();
    // And the cgroup hierarchies it found.
    crate::cgroup::take_inherited();
    match start(flags, notices) {
        Start::Exit(code) => code,
        Start::Supervise(supervisor) => supervisor.run(),
    }
}

enum Start {
    Exit(i32),
    Supervise(Box<Supervisor>),
}

#[inline(never)]
fn start(flags: &Flags, notices: Option<std::fs::File>) -> Start {
    match plan::plan(flags) {
        Ok(Plan::PrintConfig(yaml)) => {
            let _ = std::io::stdout().write_all(yaml.as_bytes());
            Start::Exit(0)
        }
        Ok(Plan::Supervise(svc)) => {
            warn_about_cmd(flags);
            supervise_command(flags, *svc, notices)
        }
        // runsv's behaviour: stays in the foreground, messages on stderr.
        Ok(Plan::ServiceDir(dir)) => match prepare_service_dir(&dir, notices) {
            Ok(parts) => Start::Supervise(Box::new(Supervisor::new(parts))),
            Err(e) => Start::Exit(fail(&e.to_string())),
        },
        Err(e) => Start::Exit(fail(&e.to_string())),
    }
}

fn supervise_command(flags: &Flags, svc: Service, notices: Option<std::fs::File>) -> Start {
    if let Err(e) = check_requirements(&svc) {
        return Start::Exit(fail(&e.to_string()));
    }
    let readiness = if !flags.foreground && sys::daemon::wanted() {
        match sys::daemon::detach() {
            Ok(r) => r,
            Err(e) => return Start::Exit(fail(&e.to_string())),
        }
    } else {
        Readiness::foreground()
    };
    let pid = std::process::id();
    let dir = layout::resolve(flags.ctl.as_deref(), svc.default_dir_name().as_deref(), pid);
    let detached = readiness.is_detached();
    let parts = match prepare(svc, dir, detached, notices) {
        Ok(p) => p,
        Err(e) => readiness.fail(&format!("immortal: {e}")),
    };
    if let Err(e) = readiness.ready() {
        // stdio is half-redirected: nobody can hear this but syslog.
        parts.log.warn(&e.to_string());
    }
    Start::Supervise(Box::new(Supervisor::new(parts)))
}

/// A `cmd:` string that a shell would split otherwise (quotes,
/// backslashes) starts as the Go immortal starts it: said on stderr,
/// before detaching, as `immortal -check` says it.
fn warn_about_cmd(flags: &Flags) {
    let Some(path) = &flags.config else {
        return;
    };
    let Ok(text) = crate::sys::fs::read_regular_text(path, crate::sys::fs::MAX_SMALL_FILE) else {
        return;
    };
    if let Some((line, note)) = crate::config::cmd_note(&text) {
        let at = line.map(|n| format!(":{n}")).unwrap_or_default();
        let _ = writeln!(std::io::stderr(), "immortal: {}{at}: warning: {note}", path.display());
    }
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
        return Err(Error::invalid(format!("require not ready: {}", down.join(", "))));
    }
    if let Some(cmd) = &svc.require_cmd {
        let shell = crate::supervise::spawn::shell();
        let mut check = std::process::Command::new(&shell);
        sys::exec::reset_signals(&mut check);
        let status = check
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

/// Whether the service NAME is ready: its supervisor, found in
/// `$IMMORTAL_SDIR/NAME` then `~/.immortal/NAME`, reports it running and
/// ready (a supervisor without readiness fields: running).
pub fn is_up(name: &str) -> bool {
    [layout::base(), layout::user_base()].iter().any(|base| {
        let sock = base.join(name).join(layout::SOCKET);
        match crate::client::status(&sock) {
            // Running and ready, or a one-shot that ran to completion.
            Ok(st) => {
                let ready = st.get("ready").and_then(serde_json::Value::as_bool) != Some(false);
                (st.get("up").is_some() || st["state"] == "done") && ready
            }
            Err(_) => false,
        }
    })
}

/// Take the supervise directory and open everything the loop needs.
fn prepare(svc: Service, dir: PathBuf, detached: bool, notices: Option<std::fs::File>) -> Result<supervise::Parts> {
    let files = Files::open(&dir)?;
    files::link_self(&dir)?;
    let output = supervise::output::Output::new(
        svc.log.as_ref(),
        svc.stderr_log.as_ref(),
        svc.logger.as_deref(),
        Some(&dir),
    )
    .map_err(|e| Error::invalid(format!("unable to set up the service's log: {e}")))?;
    if let Some(path) = &svc.supervisor_pidfile {
        sys::fs::write_pidfile(path, std::process::id())?;
    }
    // The service's sockets (`listen:`), before it first starts and while
    // we may still be root: one held by a service a killed supervisor left
    // running is taken from it.
    let survivor = if files.made {
        None
    } else {
        supervise::adopt::survivor(&dir).map(|s| s.pid)
    };
    let sockets = crate::listen::Sockets::open(&svc.listen, survivor)?;
    let rest = start_supervising(&dir).and_then(|events| {
        // Last: a start refused by anything above leaves no dead socket.
        Ok((events, listen(&dir.join(layout::SOCKET), svc.socket)?))
    });
    let (events, listener) = rest.inspect_err(|_| sockets.retire(&[]))?;
    let prefix = dir.display().to_string();
    let log = if detached {
        Log::syslog(prefix, dir.join(layout::FALLBACK_LOG))
    } else {
        Log::to(prefix, notices)
    };
    crate::sys::process::ignore_file_size_signal();
    let io = match &output {
        Some(o) => {
            let (out, err) = o.sinks();
            Io {
                stdin: Sink::Null,
                stdout: Sink::Fd(out),
                stderr: Sink::Fd(err),
            }
        }
        None if detached => Io::output(Sink::Null),
        None => Io::output(Sink::Inherit),
    };
    let logger = match (output.as_ref().and_then(|o| o.logger_input()), &svc.logger) {
        (Some(input), Some(command)) => Some(Unit::logger(&svc, command, input)),
        _ => None,
    };
    let name = svc.name.clone().unwrap_or_else(|| dir_name(&dir));
    let mut unit = Unit::new("", svc, Some(files), io, None, Want::Up, Role::Service);
    unit.output = output;
    unit.listen = sockets;
    confine(&mut unit, &dir, &name)?;
    let mut units = vec![unit];
    units.extend(logger);
    Ok(supervise::Parts {
        units,
        dir,
        log,
        events,
        listener,
        detached,
    })
}

/// `immortal DIR`, runsv's way: `DIR/supervise/`, `./down`, and `log/`
/// with `log/run` fed through a pipe that outlives both sides' restarts.
fn prepare_service_dir(dir: &Path, notices: Option<std::fs::File>) -> Result<supervise::Parts> {
    // Read both services' settings before taking anything.
    let svc = service::from_service_dir(dir)?;
    let log_dir = dir.join(layout::LOG_SERVICE);
    let log_svc = if service::is_service_dir(&log_dir) {
        Some(service::from_service_dir(&log_dir)?)
    } else {
        None
    };
    let sdir = files::of_service_dir(dir)?;
    let files = Files::open(&sdir)?;
    let log_files = match log_svc {
        Some(_) => Some(Files::open(&files::of_service_dir(&log_dir)?)?),
        None => None,
    };
    let listener = listen(&sdir.join(layout::SOCKET), svc.socket)?;
    let events = start_supervising(&sdir)?;
    let want = |d: &Path| {
        if d.join(layout::DOWN).exists() {
            Want::Down
        } else {
            Want::Up
        }
    };
    let mut io = Io {
        stdin: Sink::Null,
        stdout: Sink::Inherit,
        stderr: Sink::Inherit,
    };
    let mut log_unit = None;
    if let (Some(log_svc), Some(log_files)) = (log_svc, log_files) {
        let (read_end, write_end) = sys::fs::pipe(false).ctx("create", "log pipe")?;
        io.stdout = Sink::Fd(Rc::new(write_end));
        let log_io = Io {
            stdin: Sink::Fd(Rc::new(read_end)),
            stdout: Sink::Inherit,
            stderr: Sink::Inherit,
        };
        log_unit = Some(Unit::new(
            "log",
            log_svc,
            Some(log_files),
            log_io,
            Some(log_dir.clone()),
            want(&log_dir),
            Role::Log,
        ));
    }
    let mut unit = Unit::new(
        "",
        svc,
        Some(files),
        io,
        Some(dir.to_path_buf()),
        want(dir),
        Role::Service,
    );
    confine(&mut unit, &sdir, &dir_name(dir))?;
    let mut units = vec![unit];
    units.extend(log_unit);
    let log = Log::to(dir.display().to_string(), notices);
    Ok(supervise::Parts {
        units,
        dir: sdir,
        log,
        events,
        listener,
        detached: false,
    })
}

/// The service's own cgroup (found again after a `kill -9`, else made),
/// wherever a writable cgroup v2 hierarchy is or `cgroup:` limits ask for
/// one; `sdir` records it.
fn confine(unit: &mut Unit, sdir: &Path, name: &str) -> Result<()> {
    let hier = crate::cgroup::Hierarchies::discover();
    let recorded = !unit.files.as_ref().is_some_and(|f| f.made);
    if let Some(cg) = crate::cgroup::Cgroup::setup(&hier, sdir, name, &unit.svc.confine.cgroup, recorded)? {
        unit.confine(cg).ctx("watch cgroup.events of", sdir)?;
    }
    Ok(())
}

fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The process-wide part of becoming a supervisor: subreaper (where the
/// system has one), signals. After any daemonizing fork: a kqueue is not
/// inherited by a child.
fn start_supervising(dir: &Path) -> Result<Events> {
    if let Err(e) = sys::process::become_subreaper() {
        return Err(e).ctx("become child subreaper in", dir);
    }
    Events::new(supervise::HANDLED)
}

/// Bind the API socket (mode 0660 unless `socket: mode:` says otherwise,
/// in `socket: group:` if given). We hold the lock, so an existing socket
/// file is a dead supervisor's leftover.
fn listen(path: &Path, spec: crate::service::SocketSpec) -> Result<UnixListener> {
    // Bound first: a new supervise directory has no socket. One left by
    // an earlier supervisor (that supervisor is gone: we hold the lock) is
    // removed, if it is ours to remove.
    let listener = match UnixListener::bind(path) {
        Ok(listener) => listener,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            sys::fs::check_owner(path)?;
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx("remove stale", path),
            }
            UnixListener::bind(path).ctx("bind", path)?
        }
        Err(e) => return Err(e).ctx("bind", path),
    };
    listener.set_nonblocking(true).ctx("configure", path)?;
    sys::fs::set_mode(path, spec.mode.unwrap_or(crate::service::SocketSpec::DEFAULT_MODE))?;
    if let Some(gid) = spec.group {
        nix::unistd::chown(path, None, Some(gid))
            .map_err(std::io::Error::from)
            .ctx("chgrp", path)?;
    }
    Ok(listener)
}
