//! A service ready to run: the command line or a `run.yml`, validated and
//! resolved (user looked up, envdir read, paths checked) before the
//! supervisor starts, so every mistake is reported while stderr is still the
//! operator's terminal.

use crate::config::{self, LogYml, RunYml};
use crate::envdir::{self, EnvChange};
use crate::error::{Context, Error, Result};
use crate::layout;
use crate::limits::Confinement;
use crate::user::{self, RunAs};
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The options of `immortal`'s command line, as typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub check_config: bool,
    pub ctl: Option<String>,
    pub name: Option<String>,
    pub wrkdir: Option<String>,
    pub envdir: Option<String>,
    pub follow: Option<String>,
    pub logfile: Option<String>,
    pub logger: Option<String>,
    pub foreground: bool,
    pub supervisor_pidfile: Option<String>,
    pub child_pidfile: Option<String>,
    pub retries: i64,
    pub user: Option<String>,
    pub wait: u64,
    pub command: Vec<String>,
}

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
}

impl LogSpec {
    fn from_yml(y: &LogYml) -> LogSpec {
        LogSpec {
            file: PathBuf::from(&y.file),
            age: Duration::from_secs(y.age),
            num: y.num,
            size: y.size.saturating_mul(1024 * 1024),
            timestamp: y.timestamp,
        }
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
    /// `127.0.0.1:6379`, `[::1]:80`; `localhost:N` is 127.0.0.1.
    pub fn tcp(addr: &str) -> std::result::Result<std::net::SocketAddr, String> {
        let fixed = match addr.strip_prefix("localhost:") {
            Some(port) => format!("127.0.0.1:{port}"),
            None => addr.to_string(),
        };
        fixed
            .parse()
            .map_err(|_| format!("'{addr}' is not IP:PORT (an address, not a name: no resolver runs in the loop)"))
    }

    /// `http://127.0.0.1:8080/healthz` (plain HTTP; port 80 by default).
    pub fn http(url: &str) -> std::result::Result<Probe, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("'{url}' is not an http:// URL"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let has_port = match host.strip_prefix('[') {
            Some(v6) => v6.contains("]:"),
            None => host.contains(':'),
        };
        let with_port = if has_port {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        let addr = Probe::tcp(&with_port).map_err(|e| format!("{url}: {e}"))?;
        Ok(Probe::Http {
            addr,
            host: host.to_string(),
            path: path.to_string(),
        })
    }

    fn from_yml(cmd: &Option<String>, tcp: &Option<String>, http: &Option<String>) -> Option<Probe> {
        if let Some(c) = cmd {
            return Some(Probe::Cmd(c.clone()));
        }
        if let Some(addr) = tcp.as_deref().and_then(|a| Probe::tcp(a).ok()) {
            return Some(Probe::Tcp(addr));
        }
        http.as_deref().and_then(|u| Probe::http(u).ok())
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
    fn from_yml(y: &config::HealthYml) -> Option<HealthSpec> {
        Some(HealthSpec {
            probe: Probe::from_yml(&y.cmd, &y.tcp, &y.http)?,
            interval: y.interval.map_or(Duration::from_secs(10), seconds),
            timeout: y.timeout.map_or(Duration::from_secs(2), seconds),
            failures: y.failures.unwrap_or(3),
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
        let mode = yml
            .mode
            .as_deref()
            .map(config::parse_socket_mode)
            .transpose()
            .map_err(Error::invalid)?;
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

/// What `immortal` was asked to do.
#[derive(Debug)]
pub enum Plan {
    /// `-cc`: print this YAML and exit 0.
    PrintConfig(String),
    Supervise(Box<Service>),
    /// `immortal DIR`: a daemontools/runit service directory.
    ServiceDir(PathBuf),
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

/// Turn the command line into a plan.
pub fn plan(flags: &Flags) -> Result<Plan> {
    if let Some(path) = &flags.config {
        let yml = config::load(path)?;
        if flags.check_config {
            // Validate everything a start would check before printing,
            // and what only the files beside it show: a require cycle.
            let svc = from_yml(path, &yml)?;
            crate::check::require_cycle(path, &yml)?;
            let how = crate::cgroup::Hierarchies::discover().describe();
            return Ok(Plan::PrintConfig(format!(
                "{}# the service is stopped through {how}\n{}",
                config::to_yaml(&yml),
                crate::listen::summary(&svc.listen)
            )));
        }
        let mut svc = from_yml(path, &yml)?;
        if flags.name.is_some() {
            svc.name.clone_from(&flags.name);
        }
        return Ok(Plan::Supervise(Box::new(svc)));
    }
    if flags.check_config {
        return Err(Error::invalid("missing config file: -cc needs -c run.yml"));
    }
    if let [only] = flags.command.as_slice() {
        let path = Path::new(only);
        if is_service_dir(path) {
            return Ok(Plan::ServiceDir(layout::absolute(path)));
        }
    }
    from_flags(flags).map(|s| Plan::Supervise(Box::new(s)))
}

fn from_flags(flags: &Flags) -> Result<Service> {
    if flags.command.is_empty() {
        return Err(Error::invalid("missing command, use (\"immortal -h\") for help"));
    }
    if flags.retries < -1 {
        return Err(Error::invalid(format!(
            "-r: retries must be -1 or more, not {}",
            flags.retries
        )));
    }
    let cwd = match &flags.wrkdir {
        Some(d) => Some(check_dir("-d", d)?),
        None => None,
    };
    let env = match &flags.envdir {
        Some(d) => envdir::read(&check_dir("-e", d)?)?,
        None => Vec::new(),
    };
    let user = flags.user.as_deref().map(user::resolve).transpose()?;
    Ok(Service {
        name: flags.name.clone(),
        command: flags.command.clone(),
        cwd,
        env,
        user,
        wait: Duration::from_secs(flags.wait),
        retries: flags.retries,
        // `-l` rotates at 1 MiB, as the Go immortal does.
        log: flags.logfile.as_ref().map(|f| LogSpec {
            file: PathBuf::from(f),
            age: Duration::ZERO,
            num: 0,
            size: 1024 * 1024,
            timestamp: false,
        }),
        stderr_log: None,
        logger: flags.logger.clone(),
        follow_pidfile: flags.follow.as_ref().map(PathBuf::from),
        supervisor_pidfile: flags.supervisor_pidfile.as_ref().map(PathBuf::from),
        child_pidfile: flags.child_pidfile.as_ref().map(PathBuf::from),
        require: Vec::new(),
        require_cmd: None,
        post_exit: None,
        stop: StopSpec::default(),
        restart: RestartSpec::default(),
        essential: false,
        ready: ReadySpec::default(),
        health: None,
        watchdog: None,
        confine: Confinement::default(),
        socket: SocketSpec::default(),
        listen: Vec::new(),
        config_file: None,
        cli: true,
    })
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
        user,
        wait: Duration::from_secs(yml.wait),
        retries: yml.retries,
        log: yml.log.as_ref().map(LogSpec::from_yml),
        stderr_log: yml.stderr.as_ref().map(LogSpec::from_yml),
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
        restart: yml.restart.spec(),
        essential: yml.essential,
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

fn check_dir(what: &str, dir: &str) -> Result<PathBuf> {
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

    fn flags(cmd: &[&str]) -> Flags {
        Flags {
            retries: -1,
            command: cmd.iter().map(|s| s.to_string()).collect(),
            ..Flags::default()
        }
    }

    #[test]
    fn command_line_service() {
        let mut f = flags(&["sleep", "10"]);
        f.logfile = Some("/tmp/x.log".into());
        f.wait = 2;
        let Plan::Supervise(svc) = plan(&f).unwrap() else {
            panic!()
        };
        assert_eq!(svc.command, vec!["sleep", "10"]);
        assert!(svc.cli);
        assert_eq!(svc.wait, Duration::from_secs(2));
        assert_eq!(svc.log.unwrap().size, 1024 * 1024);
        assert_eq!(svc.stop, StopSpec::default());
    }

    #[test]
    fn command_line_errors() {
        assert!(plan(&flags(&[])).unwrap_err().to_string().contains("missing command"));
        let mut f = flags(&["x"]);
        f.wrkdir = Some("/nonexistent-dir".into());
        assert!(plan(&f).unwrap_err().to_string().contains("-d '/nonexistent-dir'"));
        let mut f = flags(&["x"]);
        f.user = Some("no-such-user-xyz".into());
        assert!(plan(&f).unwrap_err().to_string().contains("no-such-user-xyz"));
        let mut f = flags(&["x"]);
        f.check_config = true;
        assert!(plan(&f).unwrap_err().to_string().contains("-cc needs -c"));
    }

    #[test]
    fn yml_service() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            "cmd: sleep  100\nstop: {signal: QUIT, timeout: 0}\nenv: {A: 1}\n",
        )
        .unwrap();
        let Plan::Supervise(svc) = plan(&Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .unwrap() else {
            panic!()
        };
        assert_eq!(svc.name, None);
        assert_eq!(svc.default_dir_name().as_deref(), Some("web"));
        assert_eq!(svc.command, vec!["sleep", "100"]);
        assert_eq!(svc.stop.signal, Signal::SIGQUIT);
        assert_eq!(svc.stop.timeout, None);
        assert_eq!(svc.env, vec![("A".to_string(), Some("1".to_string()))]);
        assert!(!svc.cli);
    }

    #[test]
    fn yml_missing_cwd_and_user_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yml");
        std::fs::write(&path, "cmd: x\ncwd: /nonexistent-cwd\n").unwrap();
        let err = plan(&Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("bad.yml: cwd '/nonexistent-cwd'"), "{err}");
        std::fs::write(&path, "cmd: x\nuser: no-such-user-xyz\n").unwrap();
        let err = plan(&Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("bad.yml: user 'no-such-user-xyz'"), "{err}");
    }

    #[test]
    fn check_config_prints_effective_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yml");
        std::fs::write(&path, "cmd: sleep 1\n").unwrap();
        let f = Flags {
            config: Some(path),
            check_config: true,
            ..Flags::default()
        };
        let Plan::PrintConfig(text) = plan(&f).unwrap() else {
            panic!()
        };
        assert!(
            text.contains("cmd:\n- sleep\n") && text.contains("retries: -1") && text.contains("signal: TERM"),
            "{text}"
        );
    }

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
