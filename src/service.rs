//! A service ready to run: the command line or a `run.yml`, validated and
//! resolved (user looked up, envdir read, paths checked) before the
//! supervisor starts, so every mistake is reported while stderr is still the
//! operator's terminal.

use crate::config::{self, LogYml, RunYml};
use crate::envdir::EnvChange;
use crate::error::{Context, Error, Result};
use crate::layout;
use crate::limits::Confinement;
use crate::user::{self, RunAs};
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct LogSpec {
    pub file: PathBuf,
    /// Rotate when the file is this old; zero: never by age.
    pub age: Duration,
    /// Rotated files kept; zero: as many as rotation makes.
    pub num: u64,
    /// Rotate at this many bytes; zero: never by size.
    pub size: u64,
    pub timestamp: bool,
    /// Rotated files compressed by this program (found in `PATH`).
    pub compress: Option<crate::compress::Compressor>,
}

impl LogSpec {
    fn from_yml(y: &LogYml) -> LogSpec {
        LogSpec {
            file: PathBuf::from(&y.file),
            age: Duration::from_secs(y.age),
            num: y.num,
            size: y.size.saturating_mul(1024 * 1024),
            timestamp: y.timestamp,
            compress: None,
        }
    }

    /// The block's `compress:` program, found in `PATH` (its absence
    /// refuses the start: never a silent plain file).
    fn with_compressor(y: &LogYml, what: &str) -> Result<LogSpec> {
        let mut spec = LogSpec::from_yml(y);
        if let Some(method) = y.compress.as_deref() {
            let method = crate::compress::Method::parse(method)
                .ok_or_else(|| Error::invalid(format!("{what}: compress must be gzip or zstd, not '{method}'")))?;
            spec.compress =
                Some(crate::compress::Compressor::find(method).map_err(|e| Error::invalid(format!("{what}: {e}")))?);
        }
        Ok(spec)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopSpec {
    pub signal: Signal,
    /// Signal the whole process group (true) or the main pid only.
    pub group: bool,
    /// KILL whatever is left after this long; `None`: never.
    pub timeout: Option<Duration>,
}

impl Default for StopSpec {
    fn default() -> Self {
        StopSpec {
            signal: Signal::SIGTERM,
            group: true,
            timeout: Some(Duration::from_secs(config::DEFAULT_STOP_TIMEOUT)),
        }
    }
}

/// When an exit of the service is followed by a new start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartWhen {
    Always,
    OnFailure,
    Never,
}

/// Exit codes 0–255 as a set (`restart.success`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitCodes([u64; 4]);

impl ExitCodes {
    pub fn of(codes: &[u8]) -> ExitCodes {
        let mut set = ExitCodes([0; 4]);
        for &c in codes {
            set.0[c as usize / 64] |= 1 << (c % 64);
        }
        set
    }

    pub fn contains(&self, code: i32) -> bool {
        u8::try_from(code).is_ok_and(|c| self.0[c as usize / 64] & (1 << (c % 64)) != 0)
    }

    pub fn list(&self) -> Vec<u8> {
        (0..=255u8).filter(|&c| self.contains(c as i32)).collect()
    }
}

/// `restart:` — when to start again, how long to wait, when to give up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartSpec {
    pub when: RestartWhen,
    pub success: ExitCodes,
    /// The least time between two starts; `None`: the supervisor's
    /// throttle (1 s).
    pub delay: Option<Duration>,
    /// Backoff cap; `None` (or not above `delay`): no backoff.
    pub max_delay: Option<Duration>,
    pub factor: f64,
    /// A run this long resets the count of consecutive failures.
    pub reset_after: Duration,
    /// The circuit breaker: this many failures within this window.
    pub limit: Option<(u32, Duration)>,
}

/// Seconds of uptime that reset the backoff when `restart.reset_after` is
/// not given.
pub const DEFAULT_RESET_AFTER: Duration = Duration::from_secs(60);

impl RestartSpec {
    /// The checked block as the supervisor uses it ([`config::parse`] has
    /// validated every value).
    pub fn from_yml(y: &config::RestartYml) -> RestartSpec {
        RestartSpec {
            when: match y.policy.as_str() {
                "on-failure" => RestartWhen::OnFailure,
                "never" => RestartWhen::Never,
                _ => RestartWhen::Always,
            },
            success: ExitCodes::of(&y.success),
            delay: y.delay.map(seconds),
            max_delay: y.max_delay.map(seconds),
            factor: y.factor,
            reset_after: y.reset_after.map_or(DEFAULT_RESET_AFTER, seconds),
            limit: y.limit.as_ref().map(|l| (l.count, seconds(l.within))),
        }
    }
}

impl Default for RestartSpec {
    /// Today's rule: restart every exit, at most one start a second.
    fn default() -> Self {
        RestartSpec {
            when: RestartWhen::Always,
            success: ExitCodes::of(&[0]),
            delay: None,
            max_delay: None,
            factor: 2.0,
            reset_after: DEFAULT_RESET_AFTER,
            limit: None,
        }
    }
}

/// A check run by the supervisor: a command exiting 0, a TCP connect, an
/// HTTP GET answered 2xx or 3xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Run by `sh -c`, as the service's user, in its directory.
    Cmd(String),
    /// `HOST:PORT` (an IP address: no resolver runs in the loop).
    Tcp(std::net::SocketAddr),
    Http {
        addr: std::net::SocketAddr,
        /// The `Host:` header (as written in the URL).
        host: String,
        path: String,
    },
}

impl Probe {
    fn from_yml(cmd: &Option<String>, tcp: &Option<String>, http: &Option<String>) -> Option<Probe> {
        if let Some(c) = cmd {
            return Some(Probe::Cmd(c.clone()));
        }
        if let Some(addr) = tcp.as_deref().and_then(|a| config::tcp_address(a).ok()) {
            return Some(Probe::Tcp(addr));
        }
        let url = http.as_deref().and_then(|u| config::http_url(u).ok())?;
        Some(Probe::Http {
            addr: url.addr,
            host: url.host,
            path: url.path,
        })
    }
}

/// How a service says it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyMethod {
    /// Ready as soon as it runs (today's rule).
    Up,
    /// s6: a line written to this descriptor.
    Fd(i32),
    /// sd_notify `READY=1` on `$NOTIFY_SOCKET`.
    Notify,
    /// The first probe that succeeds.
    Probe(Probe),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadySpec {
    pub method: ReadyMethod,
    /// Not ready this long after the start: a failed start.
    pub timeout: Option<Duration>,
    /// Between readiness probes.
    pub interval: Duration,
    /// One readiness probe's limit.
    pub probe_timeout: Duration,
}

impl Default for ReadySpec {
    fn default() -> Self {
        ReadySpec {
            method: ReadyMethod::Up,
            timeout: None,
            interval: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(5),
        }
    }
}

/// `health:` — a liveness probe once the service is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures that restart the service.
    pub failures: u32,
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

impl ReadySpec {
    fn from_yml(y: &config::ReadyYml) -> ReadySpec {
        let default = ReadySpec::default();
        let method = match (y.fd, y.notify, Probe::from_yml(&y.cmd, &y.tcp, &y.http)) {
            (Some(fd), _, _) => ReadyMethod::Fd(fd),
            (None, true, _) => ReadyMethod::Notify,
            (None, false, Some(p)) => ReadyMethod::Probe(p),
            (None, false, None) => ReadyMethod::Up,
        };
        ReadySpec {
            method,
            timeout: y.timeout.filter(|t| *t > 0.0).map(seconds),
            interval: y.interval.map_or(default.interval, seconds),
            probe_timeout: y.probe_timeout.map_or(default.probe_timeout, seconds),
        }
    }
}

impl HealthSpec {
    /// `interval`, `timeout` and `failures` when not given.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
    pub const DEFAULT_FAILURES: u32 = 3;

    fn from_yml(y: &config::HealthYml) -> Option<HealthSpec> {
        Some(HealthSpec {
            probe: Probe::from_yml(&y.cmd, &y.tcp, &y.http)?,
            interval: y.interval.map_or(Self::DEFAULT_INTERVAL, seconds),
            timeout: y.timeout.map_or(Self::DEFAULT_TIMEOUT, seconds),
            failures: y.failures.unwrap_or(Self::DEFAULT_FAILURES),
        })
    }
}

/// `socket:`: who may connect (the socket's mode) and who, besides root
/// and the supervisor's own uid, may control (`group`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketSpec {
    /// Default 0660.
    pub mode: Option<u32>,
    pub group: Option<nix::unistd::Gid>,
}

impl SocketSpec {
    pub const DEFAULT_MODE: u32 = 0o660;

    pub fn from_yml(yml: &config::SocketYml) -> Result<SocketSpec> {
        let mode = yml.mode.as_deref().map(config::parse_socket_mode).transpose()?;
        let group = match &yml.group {
            Some(g) => Some(user::group_id(g).map_err(|e| Error::invalid(format!("socket: group: {e}")))?),
            None => None,
        };
        Ok(SocketSpec { mode, group })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// `-name`, if given.
    pub name: Option<String>,
    /// Program and arguments (never empty).
    pub command: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// Applied in order over the inherited environment.
    pub env: Vec<EnvChange>,
    /// `env_file:`, read at each start and applied before `env`.
    pub env_files: Vec<crate::envfile::EnvFile>,
    pub user: Option<RunAs>,
    pub wait: Duration,
    /// -1: forever; N ≥ 0: at most N+1 starts.
    pub retries: i64,
    pub log: Option<LogSpec>,
    pub stderr_log: Option<LogSpec>,
    pub logger: Option<String>,
    pub follow_pidfile: Option<PathBuf>,
    pub supervisor_pidfile: Option<PathBuf>,
    pub child_pidfile: Option<PathBuf>,
    pub require: Vec<String>,
    pub require_cmd: Option<String>,
    pub post_exit: Option<String>,
    pub stop: StopSpec,
    pub restart: RestartSpec,
    /// Once the service is failed, the supervisor stops and exits 3.
    pub essential: bool,
    /// Runs to completion: exit 0 makes it `done` (ready, not restarted).
    pub oneshot: bool,
    pub ready: ReadySpec,
    pub health: Option<HealthSpec>,
    /// sd_notify `WATCHDOG=1` expected at least this often.
    pub watchdog: Option<Duration>,
    /// rlimits, nice, umask, no_new_privs, cgroup limits (the service's
    /// only: never its logger or helpers).
    pub confine: Confinement,
    /// The API socket's mode and group.
    pub socket: SocketSpec,
    /// Sockets the supervisor holds and passes at 3, 4, … (`listen:`).
    pub listen: Vec<crate::listen::Entry>,
    /// The `-c` file, re-read on `restart`.
    pub config_file: Option<PathBuf>,
    /// Started from the command line (not `-c`): the supervisor exits when
    /// retries run out, and `exit` through the socket is allowed.
    pub cli: bool,
}

impl Service {
    /// The name that picks `~/.immortal/NAME` when there is no `-ctl`:
    /// `-name`, else the config file's stem.
    pub fn default_dir_name(&self) -> Option<String> {
        self.name.clone().or_else(|| {
            let stem = self.config_file.as_ref()?.file_stem()?;
            Some(stem.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
        })
    }
}

/// Whether `path` is a service directory: a directory with a `run` file.
pub fn is_service_dir(path: &Path) -> bool {
    path.is_dir() && path.join(layout::RUN).is_file()
}

/// The service of a runit/daemontools directory: `./run` in DIR, with the
/// inherited environment. s6's `down-signal` (a signal name) and
/// `timeout-kill` (milliseconds; 0: never) files set the stop policy.
pub fn from_service_dir(dir: &Path) -> Result<Service> {
    let mut stop = StopSpec::default();
    if let Some(text) = read_setting(&dir.join(layout::DOWN_SIGNAL))? {
        stop.signal = crate::signal::parse(&text).ok_or_else(|| {
            Error::invalid(format!(
                "{}: unknown signal '{text}'",
                dir.join(layout::DOWN_SIGNAL).display()
            ))
        })?;
    }
    if let Some(text) = read_setting(&dir.join(layout::TIMEOUT_KILL))? {
        let ms: u64 = text.parse().map_err(|_| {
            Error::invalid(format!(
                "{}: not a number of milliseconds: '{text}'",
                dir.join(layout::TIMEOUT_KILL).display()
            ))
        })?;
        stop.timeout = (ms > 0).then(|| Duration::from_millis(ms));
    }
    Ok(Service {
        stop,
        // s6's `essential`-style marker file: failed for good ends the supervisor.
        essential: dir.join(layout::ESSENTIAL).exists(),
        oneshot: false,
        ready: ReadySpec {
            method: match notification_fd(dir)? {
                Some(fd) => ReadyMethod::Fd(fd),
                None => ReadyMethod::Up,
            },
            ..ReadySpec::default()
        },
        ..Service::program(vec![format!("./{}", layout::RUN)], Some(dir.to_path_buf()))
    })
}

/// s6's `notification-fd`: a descriptor number, 3 or more.
fn notification_fd(dir: &Path) -> Result<Option<i32>> {
    let path = dir.join(layout::NOTIFICATION_FD);
    let Some(text) = read_setting(&path)? else {
        return Ok(None);
    };
    match text.parse::<i32>() {
        Ok(fd) if (3..=1023).contains(&fd) => Ok(Some(fd)),
        _ => Err(Error::invalid(format!(
            "{}: not a descriptor number from 3 to 1023: '{text}'",
            path.display()
        ))),
    }
}

impl Service {
    /// A plain program: no user, log, pid file, hooks or requirements;
    /// restarted forever, stopped by TERM (a runit `run`, a `logger:`).
    pub fn program(command: Vec<String>, cwd: Option<PathBuf>) -> Service {
        Service {
            name: None,
            command,
            cwd,
            env: Vec::new(),
            env_files: Vec::new(),
            user: None,
            wait: Duration::ZERO,
            retries: -1,
            log: None,
            stderr_log: None,
            logger: None,
            follow_pidfile: None,
            supervisor_pidfile: None,
            child_pidfile: None,
            require: Vec::new(),
            require_cmd: None,
            post_exit: None,
            stop: StopSpec::default(),
            restart: RestartSpec::default(),
            essential: false,
            oneshot: false,
            ready: ReadySpec::default(),
            health: None,
            watchdog: None,
            confine: Confinement::default(),
            socket: SocketSpec::default(),
            listen: Vec::new(),
            config_file: None,
            cli: false,
        }
    }
}

/// The first line of a one-value settings file, if the file exists.
fn read_setting(path: &Path) -> Result<Option<String>> {
    match crate::sys::fs::read_regular_text(path, crate::sys::fs::MAX_SMALL_FILE) {
        Ok(text) => Ok(Some(text.lines().next().unwrap_or("").trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx("read", path),
    }
}

/// Build a service from a parsed `run.yml` found at `path`.
pub fn from_yml(path: &Path, yml: &RunYml) -> Result<Service> {
    let shown = path.display();
    let command = yml.cmd.clone();
    let cwd = match &yml.cwd {
        Some(d) => Some(check_dir(&format!("{shown}: cwd"), d)?),
        None => None,
    };
    let user = match &yml.user {
        Some(u) => Some(user::resolve(u).map_err(|e| Error::invalid(format!("{shown}: {e}")))?),
        None => None,
    };
    let signal = crate::signal::parse(&yml.stop.signal)
        .ok_or_else(|| Error::invalid(format!("{shown}: unknown signal '{}'", yml.stop.signal)))?;
    let confine = config::confinement(yml).map_err(|(_, _, msg)| Error::invalid(format!("{shown}: {msg}")))?;
    let mut problems: Vec<String> = confine.check().into_iter().map(|(_, why)| why).collect();
    if !confine.cgroup.is_empty() {
        problems.extend(
            crate::cgroup::Hierarchies::discover()
                .check(&confine.cgroup)
                .map(|(_, why)| why),
        );
    }
    if !problems.is_empty() {
        return Err(Error::invalid(format!("{shown}: {}", problems.join("; "))));
    }
    let socket = SocketSpec::from_yml(&yml.socket).map_err(|e| Error::invalid(format!("{shown}: {e}")))?;
    let listen = crate::listen::entries(&yml.listen).map_err(|(_, _, e)| Error::invalid(format!("{shown}: {e}")))?;
    Ok(Service {
        name: None,
        command,
        cwd,
        env: yml.env.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
        env_files: yml
            .env_file
            .iter()
            .map(|f| crate::envfile::EnvFile::parse(f, layout::parent_dir(&layout::absolute(path))))
            .collect(),
        user,
        wait: Duration::from_secs(yml.wait),
        retries: yml.retries,
        log: yml
            .log
            .as_ref()
            .map(|y| LogSpec::with_compressor(y, &format!("{shown}: log")))
            .transpose()?,
        stderr_log: yml
            .stderr
            .as_ref()
            .map(|y| LogSpec::with_compressor(y, &format!("{shown}: stderr")))
            .transpose()?,
        logger: yml.logger.clone(),
        follow_pidfile: yml.pid.follow.as_ref().map(PathBuf::from),
        supervisor_pidfile: yml.pid.parent.as_ref().map(PathBuf::from),
        child_pidfile: yml.pid.child.as_ref().map(PathBuf::from),
        require: yml.require.clone(),
        require_cmd: yml.require_cmd.clone(),
        post_exit: yml.post_exit.clone(),
        stop: StopSpec {
            signal,
            group: yml.stop.group,
            timeout: (yml.stop.timeout > 0).then(|| Duration::from_secs(yml.stop.timeout)),
        },
        restart: RestartSpec::from_yml(&yml.restart),
        essential: yml.essential,
        oneshot: yml.oneshot,
        ready: yml.ready.as_ref().map(ReadySpec::from_yml).unwrap_or_default(),
        health: yml.health.as_ref().and_then(HealthSpec::from_yml),
        watchdog: yml.watchdog.map(seconds),
        confine,
        socket,
        listen,
        config_file: Some(path.to_path_buf()),
        cli: false,
    })
}

/// `dir` if it is an existing directory, else an error naming `what`
/// (`-d`, `FILE: cwd`).
pub fn check_dir(what: &str, dir: &str) -> Result<PathBuf> {
    let path = PathBuf::from(dir);
    if path.is_dir() {
        Ok(path)
    } else {
        Err(Error::invalid(format!(
            "{what} '{dir}' does not exist or is not a directory"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_dir_settings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("run"), "#!/bin/sh\n").unwrap();
        let svc = from_service_dir(dir.path()).unwrap();
        assert_eq!(
            (svc.command.clone(), svc.stop),
            (vec!["./run".to_string()], StopSpec::default())
        );
        std::fs::write(dir.path().join("down-signal"), "SIGQUIT\n").unwrap();
        std::fs::write(dir.path().join("timeout-kill"), "1500\n").unwrap();
        let svc = from_service_dir(dir.path()).unwrap();
        assert_eq!(svc.stop.signal, Signal::SIGQUIT);
        assert_eq!(svc.stop.timeout, Some(Duration::from_millis(1500)));
        std::fs::write(dir.path().join("timeout-kill"), "0\n").unwrap();
        assert_eq!(from_service_dir(dir.path()).unwrap().stop.timeout, None);
        std::fs::write(dir.path().join("timeout-kill"), "soon\n").unwrap();
        let err = from_service_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("timeout-kill: not a number of milliseconds: 'soon'"),
            "{err}"
        );
    }
}
