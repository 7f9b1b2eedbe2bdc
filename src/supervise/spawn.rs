//! Building child processes: the service (own process group, cgroup,
//! limits, cwd, environment, user with its supplementary groups, stdio),
//! and the helpers around it (`post_exit`, runit's `./finish` and `control/<letter>`).

use crate::service::Service;
use crate::sys::confine;
use crate::sys::exec::{drop_privileges, reset_signals};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::rc::Rc;

/// Where one of a child's standard streams goes.
#[derive(Debug, Clone)]
pub enum Sink {
    /// The supervisor's own (foreground).
    Inherit,
    /// `/dev/null`.
    Null,
    /// A descriptor the supervisor keeps (the log pipe), so it outlives the
    /// child.
    Fd(Rc<OwnedFd>),
}

impl Sink {
    fn stdio(&self) -> io::Result<Stdio> {
        Ok(match self {
            Sink::Inherit => Stdio::inherit(),
            Sink::Null => Stdio::null(),
            Sink::Fd(fd) => Stdio::from(fd.try_clone()?),
        })
    }
}

/// The three standard streams of a child.
#[derive(Debug, Clone)]
pub struct Io {
    pub stdin: Sink,
    pub stdout: Sink,
    pub stderr: Sink,
}

impl Io {
    /// stdin from /dev/null, stdout and stderr to `out`.
    pub fn output(out: Sink) -> Io {
        Io {
            stdin: Sink::Null,
            stdout: out.clone(),
            stderr: out,
        }
    }

    fn apply(&self, cmd: &mut Command) -> io::Result<()> {
        cmd.stdin(self.stdin.stdio()?);
        cmd.stdout(self.stdout.stdio()?);
        cmd.stderr(self.stderr.stdio()?);
        Ok(())
    }
}

/// What a start adds for readiness: a descriptor passed at a number (s6's
/// notification fd) and variables (`NOTIFY_SOCKET`, `WATCHDOG_USEC`).
#[derive(Default)]
pub struct Extra<'a> {
    /// The `env_file:` variables read for this start (before `env:`).
    pub file_env: Vec<crate::envfile::Var>,
    pub fd: Option<(std::os::fd::BorrowedFd<'a>, i32)>,
    pub env: Vec<(String, String)>,
    /// A variable set to the service's own pid (`WATCHDOG_PID`).
    pub own_pid_var: Option<&'static str>,
    /// The `cgroup.procs` files it joins before exec.
    pub cgroups: Vec<OwnedFd>,
}

/// Whether the service talks sd_notify (`ready: notify`, or the
/// watchdog): then it gets a `$NOTIFY_SOCKET`.
pub fn wants_notify_socket(svc: &Service) -> bool {
    svc.ready.method == crate::service::ReadyMethod::Notify || svc.watchdog.is_some()
}

/// What a start adds to the service's environment for readiness:
/// `NOTIFY_SOCKET` (when it has one), and with the watchdog
/// `WATCHDOG_USEC` and `WATCHDOG_PID` (its own pid, set in the child).
pub fn readiness<'a>(svc: &Service, notify_socket: Option<&str>) -> Extra<'a> {
    let mut env = Vec::new();
    let mut own_pid_var = None;
    if let Some(address) = notify_socket {
        env.push(("NOTIFY_SOCKET".to_string(), address.to_string()));
        if let Some(w) = svc.watchdog {
            env.push(("WATCHDOG_USEC".to_string(), w.as_micros().to_string()));
            own_pid_var = Some("WATCHDOG_PID");
        }
    }
    Extra {
        env,
        own_pid_var,
        ..Extra::default()
    }
}

/// Start the service; returns its pid (also its process group id).
pub fn service(svc: &Service, io: &Io) -> io::Result<u32> {
    service_with(svc, io, &Extra::default())
}

/// [`service`] with what readiness needs.
pub fn service_with(svc: &Service, io: &Io, extra: &Extra) -> io::Result<u32> {
    let (program, args) = svc
        .command
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let mut cmd = Command::new(program);
    cmd.args(args).process_group(0);
    if let Some(cwd) = &svc.cwd {
        cmd.current_dir(cwd);
    }
    for (name, value) in &extra.file_env {
        cmd.env(name, value);
    }
    for (name, value) in &svc.env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    let c = &svc.confine;
    // Before drop_privileges: raising a hard limit or lowering the nice
    // value takes root.
    confine::apply(
        &mut cmd,
        confine::Prepared {
            cgroups: extra
                .cgroups
                .iter()
                .map(OwnedFd::try_clone)
                .collect::<io::Result<_>>()?,
            rlimits: c.rlimits.iter().map(|r| (r.resource, r.soft, r.hard)).collect(),
            nice: c.nice,
            umask: c.umask,
            no_new_privs: c.no_new_privs,
        },
    );
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
    for (name, value) in &extra.env {
        cmd.env(name, value);
    }
    if let Some((fd, number)) = extra.fd {
        crate::sys::exec::pass_fd(&mut cmd, std::os::fd::AsRawFd::as_raw_fd(&fd), number);
    }
    io.apply(&mut cmd)?;
    reset_signals(&mut cmd);
    if let Some(var) = extra.own_pid_var {
        // Last: it executes the program itself.
        crate::sys::exec::exec_with_own_pid(&mut cmd, var)?;
    }
    Ok(cmd.spawn()?.id())
}

/// `$SHELL`, or `sh` when unset: what runs `post_exit` and `require_cmd`.
pub fn shell() -> String {
    std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "sh".into())
}

/// Run `$SHELL -c "HOOK CODE"` in the background (its own process group, so
/// stopping the service never touches it). Reaped by the supervisor's loop.
pub fn hook(hook: &str, code: i32, svc: &Service, io: &Io) -> io::Result<u32> {
    let shell = shell();
    let args = ["-c".to_string(), format!("{hook} {code}")];
    program(Path::new(&shell), &args, svc.cwd.as_deref(), io)
}

/// Run a helper program (`./finish`, `control/x`) in its own process group.
pub fn program(path: &Path, args: &[String], cwd: Option<&Path>, io: &Io) -> io::Result<u32> {
    let mut cmd = Command::new(path);
    cmd.args(args).process_group(0);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    io.apply(&mut cmd)?;
    reset_signals(&mut cmd);
    Ok(cmd.spawn()?.id())
}
