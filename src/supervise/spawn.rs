//! Building child processes: the service (own process group, cgroup,
//! limits, cwd, environment, user with its supplementary groups, stdio),
//! and the helpers around it (`post_exit`, runit's `./finish` and `control/<letter>`).

use crate::service::Service;
use crate::sys::confine;
use crate::sys::exec::reset_signals;
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
    /// As a descriptor above the standard streams (close-on-exec) that a
    /// prepared child makes its standard stream; `None`: inherited.
    fn fd(&self) -> io::Result<Option<OwnedFd>> {
        Ok(match self {
            Sink::Inherit => None,
            Sink::Null => Some(crate::sys::fs::above_std(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")?
                    .into(),
            )?),
            Sink::Fd(fd) => Some(crate::sys::fs::above_std(fd.try_clone()?)?),
        })
    }

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
/// notification fd) and variables (`NOTIFY_SOCKET`, `WATCHDOG_USEC`); and
/// the sockets of `listen:`.
#[derive(Default)]
pub struct Extra<'a> {
    /// The `env_file:` variables read for this start (before `env:`).
    pub file_env: Vec<crate::envfile::Var>,
    pub fd: Option<(std::os::fd::BorrowedFd<'a>, i32)>,
    pub env: Vec<(String, String)>,
    /// A variable set to the service's own pid (`WATCHDOG_PID`).
    pub own_pid_var: Option<&'static str>,
    /// The cgroups it enters: born in the v2 one, the v1 ones joined
    /// before exec.
    pub cgroups: crate::cgroup::Entry,
    /// The sockets it gets as descriptors 3, 4, … with `LISTEN_FDS`,
    /// `LISTEN_FDNAMES` and `LISTEN_PID` (its own pid).
    pub listen: Option<&'a crate::listen::Sockets>,
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
    match start(svc, io, extra, true)? {
        Some(pid) => Ok(pid),
        // This kernel cannot start a child in a cgroup: it writes itself in.
        None => start(svc, io, extra, false)?.ok_or_else(|| io::Error::other("no child started")),
    }
}

/// Prepare everything the child does, then start it
/// ([`crate::sys::clone::spawn_plan`]: borrowing our memory where it can);
/// `born_in_cgroup`: try to create the child in its v2 cgroup (`None` when
/// the kernel cannot).
fn start(svc: &Service, io: &Io, extra: &Extra, born_in_cgroup: bool) -> io::Result<Option<u32>> {
    use std::ffi::OsStr;
    use std::os::fd::AsRawFd;
    if svc.command.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    }
    // The environment: ours, then `env_file:`, `env:`, the user's, what
    // readiness and `listen:` add, in that order (a later one wins).
    let mut changes: Vec<(&OsStr, Option<&OsStr>)> = Vec::new();
    for (name, value) in &extra.file_env {
        changes.push((OsStr::new(name), Some(OsStr::new(value))));
    }
    for (name, value) in &svc.env {
        changes.push((OsStr::new(name), value.as_deref().map(OsStr::new)));
    }
    if let Some(user) = &svc.user {
        changes.push((OsStr::new("HOME"), Some(OsStr::new(&user.home))));
        changes.push((OsStr::new("USER"), Some(OsStr::new(&user.name))));
        changes.push((OsStr::new("LOGNAME"), Some(OsStr::new(&user.name))));
    }
    for (name, value) in &extra.env {
        changes.push((OsStr::new(name), Some(OsStr::new(value))));
    }
    let sockets = extra.listen.filter(|s| !s.is_empty());
    let listen_env = match sockets {
        Some(sockets) => {
            sockets.reset()?;
            sockets.env()
        }
        None => Vec::new(),
    };
    for (name, value) in &listen_env {
        changes.push((OsStr::new(name), Some(OsStr::new(value))));
    }
    let mut own_pid_vars: Vec<&str> = extra.own_pid_var.into_iter().collect();
    if sockets.is_some() {
        own_pid_vars.push("LISTEN_PID");
    }
    let argv: Vec<&OsStr> = svc.command.iter().map(OsStr::new).collect();
    let program = crate::sys::exec::Program::new(&argv, crate::sys::exec::environment(changes)?, &own_pid_vars)?;

    let mut steps: Vec<crate::sys::exec::Step> = Vec::new();
    let c = &svc.confine;
    // Born in its v2 cgroup when the kernel can (clone3); else it writes
    // itself into it, as into the v1 ones, before exec.
    let born_in = extra.cgroups.v2.as_ref().filter(|_| born_in_cgroup);
    let joins = extra
        .cgroups
        .v1
        .iter()
        .map(OwnedFd::try_clone)
        .collect::<io::Result<_>>()?;
    let v2_join = match (&extra.cgroups.v2, born_in) {
        (Some(dir), None) => Some(dir.try_clone()?),
        _ => None,
    };
    let writes_cgroup_procs = v2_join.is_some() || !extra.cgroups.v1.is_empty();
    // Before the privileges are dropped: raising a hard limit or lowering
    // the nice value takes root.
    steps.push(confine::step(confine::Prepared {
        cgroups: joins,
        cgroup_dir: v2_join,
        rlimits: c.rlimits.iter().map(|r| (r.resource, r.soft, r.hard)).collect(),
        nice: c.nice,
        umask: c.umask,
        no_new_privs: c.no_new_privs,
    }));
    if let Some(user) = &svc.user {
        steps.push(crate::sys::exec::privileges(
            user.uid.as_raw(),
            user.gid.as_raw(),
            user.groups.iter().map(|g| g.as_raw()).collect(),
        ));
    }
    let mut places = Vec::new();
    if let Some(sockets) = sockets {
        places.extend(sockets.placement().into_iter().map(|(fd, n)| (fd.as_raw_fd(), n)));
    }
    // The notification fd never is one of the sockets' numbers
    // (`listen::fd_conflict`); all are placed at once.
    places.extend(extra.fd.map(|(fd, n)| (fd.as_raw_fd(), n)));
    let given: Vec<_> = places.iter().map(|&(_, n)| n).collect();
    steps.extend(crate::sys::exec::place_fds_step(places));
    if sockets.is_some() {
        // The protocol's promise: the sockets, and nothing else.
        steps.push(crate::sys::exec::pass_only(given));
    }
    let cwd = match &svc.cwd {
        Some(cwd) => Some(crate::sys::exec::c_string(cwd.as_os_str())?),
        None => None,
    };
    let held: Vec<Option<OwnedFd>> = vec![io.stdin.fd()?, io.stdout.fd()?, io.stderr.fd()?];
    let raw = |k: usize| held[k].as_ref().map(|fd| fd.as_raw_fd());
    let mut plan = crate::sys::exec::Plan {
        program,
        stdio: [raw(0), raw(1), raw(2)],
        held: held.into_iter().flatten().collect(),
        cwd,
        steps,
        may_borrow: !writes_cgroup_procs,
    };
    crate::sys::clone::spawn_plan(&mut plan, born_in.map(std::os::fd::AsFd::as_fd))
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
/// A supervisor (`immortal`, started by immortalsvc) with `io`, its own
/// messages going to `notices` (its descriptor 3, named by
/// [`crate::sys::exec::NOTICE_FD_VAR`]): with a small descriptor table of
/// its own where it can ([`supervisor_small_table`]), else with
/// `posix_spawn` (nothing of a scanner holding hundreds of pipes is copied
/// in memory), else forked, its exec confirmed later
/// ([`crate::sys::clone::Forked::confirm`]).
pub fn supervisor(
    path: &Path,
    args: &[String],
    env: &[(&str, String)],
    io: &Io,
    notices: &std::os::fd::OwnedFd,
) -> io::Result<crate::sys::clone::Forked> {
    use std::os::fd::AsRawFd;
    const NOTICE_FD: i32 = 3;
    let std_fd = |sink: &Sink, n: i32| match sink {
        Sink::Fd(fd) => Some((fd.as_raw_fd(), n)),
        Sink::Null => None,
        Sink::Inherit => Some((n, n)),
    };
    let fds: Vec<(i32, i32)> = [std_fd(&io.stdin, 0), std_fd(&io.stdout, 1), std_fd(&io.stderr, 2)]
        .into_iter()
        .flatten()
        .chain([(notices.as_raw_fd(), NOTICE_FD)])
        .collect();
    let mut env = env.to_vec();
    env.push((crate::sys::exec::NOTICE_FD_VAR, NOTICE_FD.to_string()));
    if let Some(pid) = supervisor_small_table(path, args, &env, io, notices)? {
        return Ok(crate::sys::clone::Forked::done(pid));
    }
    let spawned = crate::sys::spawn::spawn(&crate::sys::spawn::Spawn {
        path,
        args,
        env: &env,
        fds: &fds,
    })?;
    if let Some(pid) = spawned {
        return Ok(crate::sys::clone::Forked::done(pid));
    }
    let mut cmd = command(path, args, None);
    cmd.envs(env.iter().map(|(k, v)| (*k, v)));
    crate::sys::exec::place_fds(&mut cmd, vec![(notices.as_raw_fd(), NOTICE_FD)]);
    io.apply(&mut cmd)?;
    reset_signals(&mut cmd);
    crate::sys::clone::fork_exec(&mut cmd)
}

/// The descriptor numbers immortalsvc reserves at its start
/// ([`reserve_slots`]) for what each supervisor gets.
static SLOTS: std::sync::OnceLock<crate::sys::clone::Slots> = std::sync::OnceLock::new();

/// Reserve, before anything else is opened, the low descriptor numbers
/// through which supervisors get their standard streams and notice pipe
/// ([`crate::sys::clone::spawn_small_table`]). Where that cannot be
/// done, supervisors are started with `posix_spawn`.
pub fn reserve_slots() {
    if crate::sys::clone::SMALL_TABLE {
        if let Ok(slots) = crate::sys::clone::Slots::reserve(4) {
            let _ = SLOTS.set(slots);
        }
    }
}

/// A supervisor started with a descriptor table of its own that holds the
/// scanner's first few descriptors only (its sources put in the reserved
/// slots): nothing of the hundreds of pipe ends a scanner holds is copied
/// and closed again. `Ok(None)`: not done this way here.
fn supervisor_small_table(
    path: &Path,
    args: &[String],
    env: &[(&str, String)],
    io: &Io,
    notices: &std::os::fd::OwnedFd,
) -> io::Result<Option<u32>> {
    use std::ffi::OsStr;
    use std::os::fd::AsRawFd;
    let Some(slots) = SLOTS.get() else { return Ok(None) };
    let sinks = [&io.stdin, &io.stdout, &io.stderr];
    let mut sources: Vec<std::os::fd::RawFd> = sinks
        .iter()
        .filter_map(|sink| match sink {
            Sink::Fd(fd) => Some(fd.as_raw_fd()),
            _ => None,
        })
        .collect();
    sources.push(notices.as_raw_fd());
    let mut placed = match slots.fill(&sources) {
        Ok(placed) => placed.into_iter(),
        Err(e) => {
            // None of a supervisor's pipe ends stays held in a slot.
            slots.clear();
            return Err(e);
        }
    };
    let mut stdio = [None; 3];
    for (n, sink) in sinks.iter().enumerate() {
        stdio[n] = match sink {
            Sink::Fd(_) => placed.next(),
            Sink::Null => Some(slots.null()),
            // The scanner's own, below the slots: in the child's table.
            Sink::Inherit => None,
        };
    }
    let Some(notice_slot) = placed.next() else {
        slots.clear();
        return Ok(None);
    };
    let argv: Vec<&OsStr> = std::iter::once(path.as_os_str())
        .chain(args.iter().map(OsStr::new))
        .collect();
    let changes = env.iter().map(|(k, v)| (OsStr::new(*k), Some(OsStr::new(v))));
    let started = (|| {
        let program = crate::sys::exec::Program::new(&argv, crate::sys::exec::environment(changes)?, &[])?;
        let mut plan = crate::sys::exec::Plan {
            program,
            stdio,
            held: Vec::new(),
            cwd: None,
            steps: crate::sys::exec::place_fds_step(vec![(notice_slot, 3)])
                .into_iter()
                .collect(),
            may_borrow: true,
        };
        crate::sys::clone::spawn_small_table(&mut plan, slots.end())
    })();
    slots.clear();
    started
}

pub fn program(path: &Path, args: &[String], cwd: Option<&Path>, io: &Io) -> io::Result<u32> {
    let mut cmd = command(path, args, cwd);
    io.apply(&mut cmd)?;
    reset_signals(&mut cmd);
    Ok(cmd.spawn()?.id())
}

/// `path args` in a process group of its own, in `cwd` if given.
fn command(path: &Path, args: &[String], cwd: Option<&Path>) -> Command {
    let mut cmd = Command::new(path);
    cmd.args(args).process_group(0);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    cmd
}
