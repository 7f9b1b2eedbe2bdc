//! `run.yml`: the Go immortal's configuration format plus our `stop:` block.
//!
//! Parsing is strict: an unknown key, a wrong type or a number out of range
//! is an error that names the file and line (`run.yml:7: unknown field
//! `cmdd` …`), because a typo silently ignored is a service misconfigured in
//! production. [`parse`] returns the file as written, with defaults filled
//! in; [`crate::service`] turns it into a ready-to-run service.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunYml {
    /// The argv: `cmd: bundle exec unicorn` split at blanks as the Go
    /// immortal splits it (no quoting, no shell), or a YAML list.
    #[serde(default, deserialize_with = "command_line")]
    pub cmd: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, deserialize_with = "scalar_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Environment files (`-PATH`: may be missing), read at each start
    /// before `env:` ([`crate::envfile`]); one path or a list.
    #[serde(default, deserialize_with = "path_list")]
    pub env_file: Vec<String>,
    #[serde(default, skip_serializing_if = "PidYml::is_empty")]
    pub pid: PidYml,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogYml>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<LogYml>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default)]
    pub wait: u64,
    #[serde(default = "default_retries")]
    pub retries: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_exit: Option<String>,
    #[serde(default)]
    pub stop: StopYml,
    // What has a default is always printed (`-cc` promises every one):
    // `restart:`, `essential`, `ready:`, `health:`, `watchdog`,
    // `no_new_privs`, `socket:` — an absent block as `null` ([`to_yaml`]).
    #[serde(default)]
    pub restart: RestartYml,
    #[serde(default)]
    pub essential: bool,
    /// Runs to completion: exit 0 is `done`, never restarted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oneshot: bool,
    /// How the service says it can serve (`notify`, `{fd: 3}`, a probe).
    #[serde(default, deserialize_with = "ready_block")]
    pub ready: Option<ReadyYml>,
    #[serde(default)]
    pub health: Option<HealthYml>,
    /// sd_notify `WATCHDOG=1` expected at least this often (seconds).
    #[serde(default)]
    pub watchdog: Option<f64>,
    /// rlimits by `prlimit(1)` name: `N`, `unlimited`, `SOFT:HARD`.
    #[serde(default, deserialize_with = "limit_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nice: Option<i64>,
    /// Octal digits, kept as written (`"027"`).
    #[serde(default, deserialize_with = "umask_text", skip_serializing_if = "Option::is_none")]
    pub umask: Option<String>,
    #[serde(default)]
    pub no_new_privs: bool,
    #[serde(default, skip_serializing_if = "CgroupYml::is_empty")]
    pub cgroup: CgroupYml,
    /// The API socket's mode and group (who may connect, who may control).
    #[serde(default)]
    pub socket: SocketYml,
    /// Sockets the supervisor holds for the service ([`crate::listen`]).
    #[serde(default)]
    pub listen: Vec<crate::listen::ListenYml>,
}

/// `socket: {mode: 0660, group: ops}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SocketYml {
    /// Octal digits, kept as written (`"0666"`).
    #[serde(default, deserialize_with = "mode_text", skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

/// `ready:` as written: `ready: notify`, or a mapping with one method
/// (`fd`, `notify`, `cmd`, `tcp`, `http`) and its timings (seconds).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReadyYml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd: Option<i32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Between two probes until one succeeds (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    /// Not ready this long after the start: a failed start (default 0: wait forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// One probe's limit (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_timeout: Option<f64>,
}

/// `health:` as written: one probe (`cmd`, `tcp`, `http`) and its timings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthYml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Seconds between probes once the service is ready (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<f64>,
    /// One probe's limit (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Consecutive failed probes before the service is restarted (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
}

/// `ready: notify` (the short form) or the mapping.
fn ready_block<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<ReadyYml>, D::Error> {
    use serde::de::Error as _;
    match serde_yaml::Value::deserialize(d)? {
        serde_yaml::Value::Null => Ok(None),
        serde_yaml::Value::String(s) if s == "notify" => Ok(Some(ReadyYml {
            notify: true,
            ..ReadyYml::default()
        })),
        serde_yaml::Value::String(s) => Err(D::Error::custom(format!(
            "ready: 'notify' or a mapping (fd, notify, cmd, tcp, http), not '{s}'"
        ))),
        v => ReadyYml::deserialize(v)
            .map(Some)
            .map_err(|e| D::Error::custom(e.to_string())),
    }
}

/// A number of seconds as written: finite and ≥ 0 (`> 0` when `positive`).
fn check_seconds(what: &str, v: Option<f64>, positive: bool) -> Result<()> {
    match v {
        Some(s) if !s.is_finite() || s < 0.0 || (positive && s == 0.0) => {
            let bound = if positive { "> 0" } else { "≥ 0" };
            Err(Error::invalid(format!(
                "{what} must be a number of seconds {bound}, not {s}"
            )))
        }
        _ => Ok(()),
    }
}

/// A probe's `tcp:` address: `127.0.0.1:6379`, `[::1]:80`; `localhost:N`
/// is 127.0.0.1.
pub fn tcp_address(addr: &str) -> Result<std::net::SocketAddr> {
    let fixed = match addr.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => addr.to_string(),
    };
    fixed.parse().map_err(|_| {
        Error::invalid(format!(
            "'{addr}' is not IP:PORT (an address, not a name: no resolver runs in the loop)"
        ))
    })
}

/// A probe's `http:` URL, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub addr: std::net::SocketAddr,
    /// The `Host:` header (as written in the URL).
    pub host: String,
    pub path: String,
}

/// `http://127.0.0.1:8080/healthz` (plain HTTP; port 80 by default).
pub fn http_url(url: &str) -> Result<HttpUrl> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::invalid(format!("'{url}' is not an http:// URL")))?;
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
    let addr = tcp_address(&with_port).map_err(|e| Error::invalid(format!("{url}: {e}")))?;
    Ok(HttpUrl {
        addr,
        host: host.to_string(),
        path: path.to_string(),
    })
}

/// The probe named in a block: exactly one of `cmd`, `tcp`, `http`.
fn check_probe(
    block: &str,
    cmd: &Option<String>,
    tcp: &Option<String>,
    http: &Option<String>,
) -> std::result::Result<(), (&'static str, String)> {
    if let Some(addr) = tcp {
        tcp_address(addr).map_err(|e| ("tcp", format!("{block}.tcp: {e}")))?;
    }
    if let Some(url) = http {
        http_url(url).map_err(|e| ("http", format!("{block}.http: {e}")))?;
    }
    if cmd.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(("cmd", format!("{block}.cmd is empty")));
    }
    Ok(())
}

impl ReadyYml {
    /// One method, timings in range.
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        let methods = [
            self.fd.is_some(),
            self.notify,
            self.cmd.is_some(),
            self.tcp.is_some(),
            self.http.is_some(),
        ];
        match methods.iter().filter(|m| **m).count() {
            0 => return Err(("ready", "ready: name one method: fd, notify, cmd, tcp or http".into())),
            1 => {}
            _ => return Err(("ready", "ready: one method only (fd, notify, cmd, tcp, http)".into())),
        }
        // sd_notify needs the kernel to name each datagram's sender.
        if self.notify && !crate::sys::system::capabilities().notify_socket {
            return Err(("ready", crate::sys::system::unavailable("ready: notify")));
        }
        if let Some(fd) = self.fd {
            if !(3..=1023).contains(&fd) {
                return Err(("fd", format!("ready.fd must be 3 to 1023 (0-2 are stdio), not {fd}")));
            }
        }
        check_probe("ready", &self.cmd, &self.tcp, &self.http)?;
        check_seconds("ready.interval", self.interval, true).map_err(|e| ("interval", e.to_string()))?;
        check_seconds("ready.timeout", self.timeout, false).map_err(|e| ("timeout", e.to_string()))?;
        check_seconds("ready.probe_timeout", self.probe_timeout, true).map_err(|e| ("probe_timeout", e.to_string()))?;
        let is_probe = self.cmd.is_some() || self.tcp.is_some() || self.http.is_some();
        if !is_probe && (self.interval.is_some() || self.probe_timeout.is_some()) {
            let key = if self.interval.is_some() {
                "interval"
            } else {
                "probe_timeout"
            };
            return Err((key, format!("ready.{key} is for a probe (cmd, tcp, http)")));
        }
        Ok(())
    }
}

impl HealthYml {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        if [&self.cmd, &self.tcp, &self.http]
            .iter()
            .filter(|p| p.is_some())
            .count()
            != 1
        {
            return Err(("health", "health: name one probe: cmd, tcp or http".into()));
        }
        check_probe("health", &self.cmd, &self.tcp, &self.http)?;
        check_seconds("health.interval", self.interval, true).map_err(|e| ("interval", e.to_string()))?;
        check_seconds("health.timeout", self.timeout, true).map_err(|e| ("timeout", e.to_string()))?;
        if self.failures == Some(0) {
            return Err(("failures", "health.failures must be 1 or more".into()));
        }
        Ok(())
    }
}

/// `restart:` as written. Times are seconds (fractions allowed).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RestartYml {
    #[serde(default = "default_restart_policy")]
    pub policy: String,
    #[serde(default = "default_success")]
    pub success: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<f64>,
    #[serde(default = "default_factor")]
    pub factor: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_after: Option<f64>,
    #[serde(default)]
    pub limit: Option<LimitYml>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitYml {
    pub count: u32,
    pub within: f64,
}

impl Default for RestartYml {
    fn default() -> Self {
        RestartYml {
            policy: default_restart_policy(),
            success: default_success(),
            delay: None,
            max_delay: None,
            factor: default_factor(),
            reset_after: None,
            limit: None,
        }
    }
}

fn default_restart_policy() -> String {
    "always".into()
}
fn default_success() -> Vec<u8> {
    vec![0]
}
fn default_factor() -> f64 {
    2.0
}

impl RestartYml {
    /// Every value in range, or what is wrong with which key.
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        if !["always", "on-failure", "never"].contains(&self.policy.as_str()) {
            return Err((
                "policy",
                format!(
                    "restart.policy must be always, on-failure or never, not '{}'",
                    self.policy
                ),
            ));
        }
        let seconds = |key: &'static str, v: Option<f64>| match v {
            Some(s) if !(s.is_finite() && s >= 0.0) => {
                Err((key, format!("restart.{key} must be a number of seconds ≥ 0, not {s}")))
            }
            _ => Ok(()),
        };
        seconds("delay", self.delay)?;
        seconds("max_delay", self.max_delay)?;
        seconds("reset_after", self.reset_after)?;
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err((
                "factor",
                format!("restart.factor must be 1 or more, not {}", self.factor),
            ));
        }
        if let (Some(max), delay) = (self.max_delay, self.delay.unwrap_or(1.0)) {
            if max < delay {
                return Err((
                    "max_delay",
                    format!("restart.max_delay ({max}) is below restart.delay ({delay})"),
                ));
            }
        }
        if let Some(limit) = &self.limit {
            if limit.count == 0 {
                return Err(("count", "restart.limit.count must be 1 or more".into()));
            }
            if !(limit.within.is_finite() && limit.within > 0.0) {
                return Err((
                    "within",
                    format!(
                        "restart.limit.within must be a number of seconds > 0, not {}",
                        limit.within
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `cgroup:` limits, as written; [`crate::limits`] says what they mean.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CgroupYml {
    /// Bytes, or `512M`.
    #[serde(default, deserialize_with = "size_text", skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
}

impl CgroupYml {
    fn is_empty(&self) -> bool {
        self.memory.is_none() && self.pids.is_none() && self.cpu.is_none()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PidYml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<String>,
}

impl PidYml {
    fn is_empty(&self) -> bool {
        self.follow.is_none() && self.parent.is_none() && self.child.is_none()
    }
}

/// A log destination. Sizes are MiB, ages seconds; 0 means "no limit".
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogYml {
    pub file: String,
    #[serde(default)]
    pub age: u64,
    #[serde(default)]
    pub num: u64,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub timestamp: bool,
    /// `gzip` or `zstd`: each rotated file compressed by that program.
    #[serde(default)]
    pub compress: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StopYml {
    #[serde(default = "default_stop_signal")]
    pub signal: String,
    #[serde(default = "default_true")]
    pub group: bool,
    #[serde(default = "default_stop_timeout")]
    pub timeout: u64,
}

impl Default for StopYml {
    fn default() -> Self {
        StopYml {
            signal: default_stop_signal(),
            group: true,
            timeout: default_stop_timeout(),
        }
    }
}

fn default_retries() -> i64 {
    -1
}
fn default_true() -> bool {
    true
}
fn default_stop_signal() -> String {
    "TERM".into()
}
/// Seconds between the stop signal and KILL to whatever is left.
pub const DEFAULT_STOP_TIMEOUT: u64 = 10;
fn default_stop_timeout() -> u64 {
    DEFAULT_STOP_TIMEOUT
}

/// `env:` values may be written as numbers or booleans (`DEBUG: 1`), as the
/// Go immortal accepts; they become their YAML text.
fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    texts(d, "env")
}

/// `env_file: PATH` or a list of paths.
fn path_list<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    use serde::de::Error as _;
    let bad = || D::Error::custom("env_file: a path or a list of paths");
    let paths = match serde_yaml::Value::deserialize(d)? {
        serde_yaml::Value::Null => Vec::new(),
        serde_yaml::Value::String(s) => vec![s],
        serde_yaml::Value::Sequence(items) => items
            .into_iter()
            .map(|v| v.as_str().map(String::from).ok_or_else(bad))
            .collect::<std::result::Result<_, _>>()?,
        _ => return Err(bad()),
    };
    if paths.iter().any(|p| p.trim_start_matches('-').is_empty()) {
        return Err(D::Error::custom("env_file: an empty path"));
    }
    Ok(paths)
}

/// `limits:` values are numbers or strings (`unlimited`, `1024:4096`).
fn limit_map<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    texts(d, "limits")
}

/// A mapping of scalars, each as its YAML text.
fn texts<'de, D: Deserializer<'de>>(d: D, key: &str) -> std::result::Result<BTreeMap<String, String>, D::Error> {
    use serde::de::Error as _;
    let raw: BTreeMap<String, serde_yaml::Value> = BTreeMap::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| match scalar_text(v) {
            Some(text) => Ok((k, text)),
            None => Err(D::Error::custom(format!("{key}: value of {k} must be a scalar"))),
        })
        .collect()
}

fn scalar_text(v: serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        serde_yaml::Value::Null => Some(String::new()),
        _ => None,
    }
}

/// `umask: "027"` or `umask: 027` (YAML reads the latter as 27: its
/// digits are what counts).
fn umask_text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    one_text(d, "umask")
}

/// `mode: "0660"` or `mode: 0660` (the digits count, as for `umask`).
fn mode_text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    one_text(d, "mode")
}

/// `socket: mode:` as a file mode: octal, at most 0777.
pub fn parse_socket_mode(text: &str) -> Result<u32> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| {
            Error::invalid(format!(
                "socket: mode must be octal permissions like 0660, not '{text}'"
            ))
        })
}

/// `memory: 512M` or `memory: 1048576`.
fn size_text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    one_text(d, "memory")
}

fn one_text<'de, D: Deserializer<'de>>(d: D, key: &str) -> std::result::Result<Option<String>, D::Error> {
    use serde::de::Error as _;
    match serde_yaml::Value::deserialize(d)? {
        v @ (serde_yaml::Value::String(_) | serde_yaml::Value::Number(_)) => Ok(scalar_text(v)),
        _ => Err(D::Error::custom(format!("{key}: must be a number or a string"))),
    }
}

/// `cmd:` as a string, split at blanks (Unicode white space) exactly as
/// the Go immortal splits it (`strings.Fields`): every other character,
/// quotes and backslashes included, stays in its word, and no shell runs
/// it; or a YAML list, its words as they are. A scalar that YAML reads as
/// a number or a boolean is its text, as the Go immortal reads it into its
/// string.
fn command_line<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    use serde::de::Error as _;
    match serde_yaml::Value::deserialize(d)? {
        serde_yaml::Value::String(s) => Ok(split_blanks(&s)),
        serde_yaml::Value::Sequence(items) => items
            .into_iter()
            .map(|v| match v {
                serde_yaml::Value::String(s) => Ok(s),
                serde_yaml::Value::Number(n) => Ok(n.to_string()),
                serde_yaml::Value::Bool(b) => Ok(b.to_string()),
                _ => Err(D::Error::custom("cmd: each item of the list must be a string")),
            })
            .collect(),
        serde_yaml::Value::Null => Ok(Vec::new()),
        serde_yaml::Value::Number(n) => Ok(vec![n.to_string()]),
        serde_yaml::Value::Bool(b) => Ok(vec![b.to_string()]),
        _ => Err(D::Error::custom("cmd: must be a string or a list of strings")),
    }
}

/// A `cmd:` string's words: split at white space, as Go's `strings.Fields`
/// (the same Unicode `White_Space` set), nothing else interpreted.
pub fn split_blanks(cmd: &str) -> Vec<String> {
    cmd.split_whitespace().map(String::from).collect()
}

/// Where the words of a `cmd:` string differ from what a shell would make
/// of it — a quote or a backslash, which the split at blanks keeps as
/// written — a sentence that says both (for `-check` and a start's
/// warning); `None` when they are the same.
pub fn cmd_difference(cmd: &str) -> Option<String> {
    let words = split_blanks(cmd);
    let shell = shlex::split(cmd);
    if shell.as_ref() == Some(&words) {
        return None;
    }
    let show = |w: &[String]| w.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(" ");
    let shell = match shell {
        Some(shell_words) => format!("a shell would pass {}", show(&shell_words)),
        None => "a shell would refuse the unbalanced quote or trailing backslash".to_string(),
    };
    Some(format!(
        "cmd is split at blanks only, as the Go immortal splits it: the words are {}, quotes and backslashes \
         kept as written ({shell}); to pass a word with blanks, write cmd as a YAML list: \
         cmd: [sh, -c, \"echo hello world\"]",
        show(&words)
    ))
}

/// [`cmd_difference`] of the `cmd:` string of the file `text`, with the
/// line of the key.
pub fn cmd_note(text: &str) -> Option<(Option<usize>, String)> {
    let doc: serde_yaml::Value = serde_yaml::from_str(text).ok()?;
    let note = cmd_difference(doc.get("cmd")?.as_str()?)?;
    let line = top_level_blocks(text)
        .into_iter()
        .find(|(key, _)| key == "cmd")
        .map(|(_, lines)| lines.start + 1);
    Some((line, note))
}

/// Parse `text` read from `path`; errors are `PATH:LINE: message`.
pub fn parse(path: &Path, text: &str) -> Result<RunYml> {
    let shown = path.display();
    let cfg: RunYml = serde_yaml::from_str(text).map_err(|e| {
        let msg = e.to_string();
        match e.location() {
            Some(loc) => {
                // serde_yaml appends the location we print in front instead.
                let suffix = format!(" at line {} column {}", loc.line(), loc.column());
                let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
                // A value checked by our own deserializer is reported at the
                // start of the mapping: point at its key instead.
                let line = ["cmd", "env_file", "env", "limits", "umask", "memory"]
                    .iter()
                    .find(|key| msg.starts_with(&format!("{key}: ")))
                    .and_then(|key| line_of(text, key))
                    .unwrap_or(loc.line());
                Error::invalid(format!("{shown}:{line}: {msg}"))
            }
            None => Error::invalid(format!("{shown}: {msg}")),
        }
    })?;
    let at = |key: &str| match line_of(text, key) {
        Some(n) => format!("{shown}:{n}"),
        None => shown.to_string(),
    };
    if cfg.cmd.first().is_none_or(|program| program.is_empty()) {
        return Err(Error::invalid(format!("{shown}: missing key 'cmd'")));
    }
    if cfg.retries < -1 {
        return Err(Error::invalid(format!(
            "{}: retries must be -1 (forever) or more, not {}",
            at("retries"),
            cfg.retries
        )));
    }
    if let Err((key, msg)) = cfg.restart.check() {
        return Err(Error::invalid(format!("{}: {msg}", at(key))));
    }
    // A key of a block: the first line naming it at or after the block's.
    let at_in = |block: &str, key: &str| {
        let start = line_of(text, block).unwrap_or(1);
        let rest: String = text.lines().skip(start - 1).map(|l| format!("{l}\n")).collect();
        match line_of(&rest, key) {
            Some(n) => format!("{shown}:{}", start + n - 1),
            None => at(block),
        }
    };
    if let Some(Err((key, msg))) = cfg.ready.as_ref().map(ReadyYml::check) {
        return Err(Error::invalid(format!("{}: {msg}", at_in("ready", key))));
    }
    if let Some(Err((key, msg))) = cfg.health.as_ref().map(HealthYml::check) {
        return Err(Error::invalid(format!("{}: {msg}", at_in("health", key))));
    }
    if let Err((i, key, msg)) = crate::listen::entries(&cfg.listen) {
        let at = crate::listen::line_of(text, i, key).map_or(shown.to_string(), |n| format!("{shown}:{n}"));
        return Err(Error::invalid(format!("{at}: {msg}")));
    }
    let ready_fd = cfg.ready.as_ref().and_then(|r| r.fd);
    if let Some(why) = ready_fd.and_then(|fd| crate::listen::fd_conflict(cfg.listen.len(), fd)) {
        return Err(Error::invalid(format!("{}: {why}", at_in("ready", "fd"))));
    }
    for (block, log) in [("log", &cfg.log), ("stderr", &cfg.stderr)] {
        if let Some(method) = log.as_ref().and_then(|l| l.compress.as_deref()) {
            if crate::compress::Method::parse(method).is_none() {
                let line = nested_line(text, block, "compress").map_or(shown.to_string(), |n| format!("{shown}:{n}"));
                return Err(Error::invalid(format!(
                    "{line}: {block}: compress must be gzip or zstd, not '{method}'"
                )));
            }
        }
    }
    if let Err(msg) = check_seconds("watchdog", cfg.watchdog, true) {
        return Err(Error::invalid(format!("{}: {msg}", at("watchdog"))));
    }
    // The watchdog's WATCHDOG=1 comes through sd_notify.
    if cfg.watchdog.is_some() && !crate::sys::system::capabilities().notify_socket {
        return Err(Error::invalid(format!(
            "{}: {}",
            at("watchdog"),
            crate::sys::system::unavailable("watchdog")
        )));
    }
    if crate::signal::parse(&cfg.stop.signal).is_none() {
        return Err(Error::invalid(format!(
            "{}: unknown signal '{}'",
            at("signal"),
            cfg.stop.signal
        )));
    }
    confinement(&cfg).map_err(|(block, key, msg)| {
        let line = match key {
            Some(key) => nested_line(text, block, &key),
            None => line_of(text, block),
        };
        match line {
            Some(n) => Error::invalid(format!("{shown}:{n}: {msg}")),
            None => Error::invalid(format!("{shown}: {msg}")),
        }
    })?;
    Ok(cfg)
}

/// `limits:`, `nice`, `umask`, `no_new_privs` and `cgroup:` as values;
/// an error says where (`limits:`'s key `nofile`) and what.
pub fn confinement(
    cfg: &RunYml,
) -> std::result::Result<crate::limits::Confinement, (&'static str, Option<String>, String)> {
    use crate::limits;
    let mut rlimits = Vec::new();
    for (name, value) in &cfg.limits {
        let r =
            limits::Rlimit::parse(name, value).map_err(|e| ("limits", Some(name.clone()), format!("limits: {e}")))?;
        rlimits.push(r);
    }
    let nice = cfg
        .nice
        .map(limits::parse_nice)
        .transpose()
        .map_err(|e| ("nice", None, e.to_string()))?;
    let umask = cfg
        .umask
        .as_deref()
        .map(limits::parse_umask)
        .transpose()
        .map_err(|e| ("umask", None, e.to_string()))?;
    let caps = crate::sys::system::capabilities();
    if cfg.no_new_privs && !caps.no_new_privs {
        return Err(("no_new_privs", None, crate::sys::system::unavailable("no_new_privs")));
    }
    let cgroup = &cfg.cgroup;
    if (cgroup.memory.is_some() || cgroup.pids.is_some() || cgroup.cpu.is_some()) && !caps.cgroups {
        return Err(("cgroup", None, crate::sys::system::unavailable("cgroup")));
    }
    let in_cgroup = |key: &str, e: String| ("cgroup", Some(key.to_string()), format!("cgroup: {e}"));
    let memory = cfg
        .cgroup
        .memory
        .as_deref()
        .map(limits::parse_size)
        .transpose()
        .map_err(|e| in_cgroup("memory", e.to_string()))?;
    if cfg.cgroup.pids == Some(0) {
        return Err(in_cgroup("pids", "pids must be 1 or more".into()));
    }
    if let Some(cpu) = cfg.cgroup.cpu.filter(|c| !(c.is_finite() && *c > 0.0 && *c <= 1e6)) {
        return Err(in_cgroup(
            "cpu",
            format!("cpu must be a number of CPUs above 0 (0.5: half of one), not {cpu}"),
        ));
    }
    Ok(limits::Confinement {
        rlimits,
        nice,
        umask,
        no_new_privs: cfg.no_new_privs,
        cgroup: limits::CgroupLimits {
            memory,
            pids: cfg.cgroup.pids,
            cpu: cfg.cgroup.cpu,
        },
    })
}

/// The line of `key:` inside the block `block:` (`log:` → its `file:`).
pub fn nested_line(text: &str, block: &str, key: &str) -> Option<usize> {
    let start = line_of(text, block)?;
    let rest: String = text.lines().skip(start - 1).collect::<Vec<_>>().join("\n");
    line_of(&rest, key).map(|n| n + start - 1)
}

/// The 1-based line where `key:` first appears, to point errors found after
/// deserialization at the right place.
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    let wanted = format!("{key}:");
    let is_key_at = |line: &str, at: usize| {
        line[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == '{' || c == ',' || c == '-')
    };
    text.lines()
        .position(|l| {
            let code = l.split(" #").next().unwrap_or(l);
            code.match_indices(&wanted).any(|(at, _)| is_key_at(code, at))
        })
        .map(|i| i + 1)
}

/// Every error of `text`, not only the first that [`parse`] stops at, and
/// the configuration made of the keys without one (`None` when the YAML
/// itself is broken, or the file is no block mapping of keys). For
/// `-check`: each top-level key's block is parsed on its own, at its own
/// lines (the rest blanked, so messages keep the file's line numbers), then
/// the whole, for what only the whole shows (a missing `cmd`, a key given
/// twice). Empty when [`parse`] accepts the file.
pub fn parse_all(path: &Path, text: &str) -> (Option<RunYml>, Vec<Error>) {
    use serde_yaml::Value;
    let whole = match parse(path, text) {
        Ok(cfg) => return (Some(cfg), Vec::new()),
        Err(e) => e,
    };
    let is_mapping = |t: &str| matches!(serde_yaml::from_str::<Value>(t), Ok(Value::Mapping(_)));
    let blocks = top_level_blocks(text);
    if blocks.is_empty() || !is_mapping(text) {
        return (None, vec![whole]);
    }
    let lines: Vec<&str> = text.lines().collect();
    let only = |keep: &dyn Fn(usize) -> bool| {
        let kept: Vec<&str> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| if keep(i) { *l } else { "" })
            .collect();
        kept.join("\n") + "\n"
    };
    let mut errors = Vec::new();
    let mut good = vec![false; lines.len()];
    for (key, range) in &blocks {
        let piece = only(&|i| range.contains(&i));
        // A piece that is no mapping on its own means the split was wrong
        // (a flow collection continued at column 0): trust the whole parse.
        if !is_mapping(&piece) {
            return (None, vec![whole]);
        }
        // A stand-in `cmd` after the piece (no line moves), so that a piece
        // is judged on its own key alone.
        let judged = if key == "cmd" { piece } else { piece + "cmd: x\n" };
        match parse(path, &judged) {
            Ok(_) => range.clone().for_each(|i| good[i] = true),
            Err(e) => errors.push(e),
        }
    }
    if !errors.iter().any(|e| e.to_string() == whole.to_string()) {
        errors.push(whole);
    }
    // Without the post-deserialization checks: they passed for every good
    // key, and a missing `cmd` is already an error above.
    let cfg = serde_yaml::from_str::<RunYml>(&only(&|i| good[i])).ok();
    (cfg, errors)
}

/// The top-level keys of a block mapping with the 0-based lines of each
/// one's block: from its `key:` line at column 0 to the next.
fn top_level_blocks(text: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let mut blocks: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    let count = text.lines().count();
    for (i, line) in text.lines().enumerate() {
        // Not a key: indented, a comment, a list item, a document marker, a
        // flow collection or another YAML construct (then no split at all).
        let starts_key = line
            .chars()
            .next()
            .is_some_and(|c| !c.is_whitespace() && !"#-.{[?%&*!|>".contains(c));
        let Some((key, _)) = line.split_once(':').filter(|_| starts_key) else {
            continue;
        };
        if let Some(last) = blocks.last_mut() {
            last.1.end = i;
        }
        blocks.push((key.trim().trim_matches(|c| c == '"' || c == '\'').to_string(), i..count));
    }
    blocks
}

/// Read and parse the file at `path`.
pub fn load(path: &Path) -> Result<RunYml> {
    use crate::error::Context;
    let text = crate::sys::fs::read_regular_text(path, crate::sys::fs::MAX_SMALL_FILE).ctx("read", path)?;
    parse(path, &text)
}

/// The configuration with every default written in: what a start uses.
/// Keys whose default is "none" stay `None` (printed `null`); those whose
/// default is "inherited from the supervisor" (`cwd`, `user`, `env`,
/// `limits`, `nice`, `umask`, `cgroup`) stay absent.
pub fn effective(cfg: &RunYml) -> RunYml {
    use crate::service::{SocketSpec, DEFAULT_RESET_AFTER};
    let mut out = cfg.clone();
    let r = &mut out.restart;
    // No delay: the one-second throttle between two starts.
    let delay = *r.delay.get_or_insert(crate::supervise::state::MIN_RUN.as_secs_f64());
    // No max_delay: delay itself, which is no backoff.
    r.max_delay.get_or_insert(delay);
    r.reset_after.get_or_insert(DEFAULT_RESET_AFTER.as_secs_f64());
    if let Some(ready) = &mut out.ready {
        let default = crate::service::ReadySpec::default();
        ready.timeout.get_or_insert(0.0);
        if ready.cmd.is_some() || ready.tcp.is_some() || ready.http.is_some() {
            ready.interval.get_or_insert(default.interval.as_secs_f64());
            ready.probe_timeout.get_or_insert(default.probe_timeout.as_secs_f64());
        }
    }
    if let Some(health) = &mut out.health {
        use crate::service::HealthSpec;
        health
            .interval
            .get_or_insert(HealthSpec::DEFAULT_INTERVAL.as_secs_f64());
        health.timeout.get_or_insert(HealthSpec::DEFAULT_TIMEOUT.as_secs_f64());
        health.failures.get_or_insert(HealthSpec::DEFAULT_FAILURES);
    }
    out.socket
        .mode
        .get_or_insert_with(|| format!("{:04o}", SocketSpec::DEFAULT_MODE));
    out.listen = out.listen.iter().map(crate::listen::effective).collect();
    out
}

/// What an absent block means, beside its `null` in `-cc`'s output: the
/// top-level key the line is in (`""`: none), the line, the meaning.
const ABSENT: &[(&str, &str, &str)] = &[
    (
        "restart",
        "  limit: null",
        "no circuit breaker: restarted however often it fails",
    ),
    ("", "ready: null", "ready as soon as it runs (no fd, notify or probe)"),
    ("", "env_file: []", "no environment file"),
    ("log", "  compress: null", "rotated files kept as written"),
    ("stderr", "  compress: null", "rotated files kept as written"),
    ("", "health: null", "no health check"),
    ("", "watchdog: null", "no watchdog"),
    (
        "socket",
        "  group: null",
        "control: root and the supervisor's user only",
    ),
    ("", "listen: []", "no socket held: the service opens its own"),
];

/// The effective configuration as YAML, for `-cc`: every default filled
/// in ([`effective`]), an absent block said so in a comment. It parses
/// back to the same [`effective`] configuration.
pub fn to_yaml(cfg: &RunYml) -> String {
    // Serializing plain structs of strings and numbers cannot fail.
    let text = serde_yaml::to_string(&effective(cfg)).unwrap_or_default();
    let mut block = "";
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.lines() {
        // A key at column 0 opens a block (a string's own lines, in a
        // block scalar, are indented: never taken for a key).
        if !line.starts_with(' ') {
            block = line.strip_suffix(':').unwrap_or("");
        }
        let inside = if line.starts_with(' ') { block } else { "" };
        out += line;
        if let Some((_, _, what)) = ABSENT.iter().find(|(b, l, _)| *b == inside && *l == line) {
            out += "  # ";
            out += what;
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<RunYml> {
        parse(Path::new("run.yml"), text)
    }

    const SEED: &str = "\
cmd: bundle exec unicorn -c unicorn.rb
cwd: /arena/app-1/tmp
env:
    DEBUG: 1
    ENVIRONMENT: production
pid:
    follow: /arena/app-1/unicorn.pid
    parent: /arena/app-1/parent.pid
    child: /arena/app-1/child.pid
log:
    file: /var/log/app-1.log
    age: 86400 # log 1 day
    num: 7     # keep 7 files
    size: 1    # size of file 1MB
logger: filebeat -c filebeat.yml -v -once
user: www
wait: 2 # wait 2 seconds before start
require:
  - foo
  - bar
";

    #[test]
    fn seed_example_parses() {
        let cfg = p(SEED).unwrap();
        assert_eq!(cfg.cmd, ["bundle", "exec", "unicorn", "-c", "unicorn.rb"]);
        assert_eq!(cfg.cwd.as_deref(), Some("/arena/app-1/tmp"));
        assert_eq!(cfg.env.get("DEBUG").map(String::as_str), Some("1"));
        assert_eq!(cfg.env.get("ENVIRONMENT").map(String::as_str), Some("production"));
        assert_eq!(cfg.pid.follow.as_deref(), Some("/arena/app-1/unicorn.pid"));
        assert_eq!(cfg.pid.parent.as_deref(), Some("/arena/app-1/parent.pid"));
        assert_eq!(cfg.pid.child.as_deref(), Some("/arena/app-1/child.pid"));
        let log = cfg.log.clone().unwrap();
        assert_eq!(
            (log.file.as_str(), log.age, log.num, log.size),
            ("/var/log/app-1.log", 86400, 7, 1)
        );
        assert_eq!(cfg.logger.as_deref(), Some("filebeat -c filebeat.yml -v -once"));
        assert_eq!(cfg.user.as_deref(), Some("www"));
        assert_eq!(cfg.wait, 2);
        assert_eq!(cfg.retries, -1);
        assert_eq!(cfg.require, vec!["foo", "bar"]);
        assert_eq!(cfg.stop, StopYml::default());
    }

    #[test]
    fn defaults() {
        let cfg = p("cmd: sleep 1\n").unwrap();
        assert_eq!(cfg.retries, -1);
        assert_eq!(cfg.wait, 0);
        assert_eq!(cfg.stop.signal, "TERM");
        assert!(cfg.stop.group);
        assert_eq!(cfg.stop.timeout, 10);
    }

    #[test]
    fn stop_block_and_full_spec_example() {
        let cfg = p("cmd: x\nstop:\n  signal: SIGQUIT\n  group: false\n  timeout: 3\nrequire_cmd: test -f /ok\npost_exit: /bin/notify\nretries: 0\nstderr: {file: /e, age: 0, num: 7, size: 1, timestamp: false}\n").unwrap();
        assert_eq!(
            cfg.stop,
            StopYml {
                signal: "SIGQUIT".into(),
                group: false,
                timeout: 3
            }
        );
        assert_eq!(cfg.require_cmd.as_deref(), Some("test -f /ok"));
        assert_eq!(cfg.post_exit.as_deref(), Some("/bin/notify"));
        assert_eq!(cfg.retries, 0);
        assert_eq!(cfg.stderr.unwrap().file, "/e");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = p("cmd: x\nwait: 1\ncmdd: y\n").unwrap_err().to_string();
        assert!(err.starts_with("run.yml:3: unknown field `cmdd`"), "{err}");
        let err = p("cmd: x\nlog:\n  file: /x\n  sizee: 1\n").unwrap_err().to_string();
        assert!(err.starts_with("run.yml:4:") && err.contains("sizee"), "{err}");
    }

    #[test]
    fn wrong_types_and_ranges_are_errors() {
        let err = p("cmd: x\nwait: soon\n").unwrap_err().to_string();
        assert!(err.starts_with("run.yml:2:") && err.contains("wait"), "{err}");
        let err = p("cmd: x\nwait: -1\n").unwrap_err().to_string();
        assert!(err.starts_with("run.yml:2:"), "{err}");
        let err = p("cmd: x\nretries: -2\n").unwrap_err().to_string();
        assert!(err.starts_with("run.yml:2: retries"), "{err}");
        let err = p("cmd: x\nstop:\n  timeout: -5\n").unwrap_err().to_string();
        assert!(err.starts_with("run.yml:3:"), "{err}");
        let err = p("cmd: x\nstop:\n  signal: BOGUS\n").unwrap_err().to_string();
        assert!(err.starts_with("run.yml:3: unknown signal 'BOGUS'"), "{err}");
        let err = p("cmd: x\nenv:\n  A: [1, 2]\n").unwrap_err().to_string();
        assert!(err.contains("env"), "{err}");
    }

    /// `cmd:` as the Go immortal reads it (`strings.Fields`): blanks split,
    /// nothing else is special; a list gives the words as they are.
    #[test]
    fn cmd_is_split_at_blanks_as_the_go_immortal_splits_it() {
        let argv = |text: &str| p(text).map(|c| c.cmd);
        for (yml, want) in [
            ("cmd: /bin/echo it's fine\n", vec!["/bin/echo", "it's", "fine"]),
            ("cmd: grep -E a\\d+ /x\n", vec!["grep", "-E", "a\\d+", "/x"]),
            ("cmd: printf a\\ b\n", vec!["printf", "a\\", "b"]),
            ("cmd: app --name=\"x\"\n", vec!["app", "--name=\"x\""]),
            (
                "cmd: sh -c 'echo hello world'\n",
                vec!["sh", "-c", "'echo", "hello", "world'"],
            ),
            ("cmd: \"trailing\\\\\"\n", vec!["trailing\\"]),
            ("cmd: bundle   exec\tunicorn\n", vec!["bundle", "exec", "unicorn"]),
            // YAML folds a plain scalar's line breaks; tabs, NBSP and the
            // other Unicode blanks split as in Go.
            ("cmd: \"a\\tb\\nc\\u00a0d\\u3000e\"\n", vec!["a", "b", "c", "d", "e"]),
            ("cmd: \"  padded  \"\n", vec!["padded"]),
            ("cmd: 42\n", vec!["42"]),
            ("cmd: true\n", vec!["true"]),
            (
                "cmd: [sh, -c, echo hello world]\n",
                vec!["sh", "-c", "echo hello world"],
            ),
            ("cmd:\n  - sleep\n  - 10\n", vec!["sleep", "10"]),
        ] {
            assert_eq!(argv(yml).unwrap(), want, "{yml}");
        }
        let err = argv("cmd: [sh, {a: 1}]\n").unwrap_err().to_string();
        assert!(err.starts_with("run.yml:1: cmd: each item"), "{err}");
        assert_eq!(
            argv("cmd: \"  \"\n").unwrap_err().to_string(),
            "run.yml: missing key 'cmd'"
        );
        // -cc prints the argv, and what it prints parses back the same.
        let cfg = p("cmd: /bin/echo it's \"fine\"\n").unwrap();
        let printed = to_yaml(&cfg);
        assert!(printed.contains("- it's\n"), "{printed}");
        assert_eq!(p(&printed).unwrap().cmd, cfg.cmd);
    }

    /// What `-check` says where a shell would read the string otherwise.
    #[test]
    fn cmd_difference_names_both_readings() {
        assert_eq!(cmd_difference("bundle exec unicorn -c unicorn.rb"), None);
        assert_eq!(cmd_difference("a-b_c/d:e=f,g"), None);
        let said = cmd_difference("/bin/echo it's fine").unwrap();
        assert!(
            said.contains("the words are `/bin/echo` `it's` `fine`")
                && said.contains("a shell would refuse the unbalanced quote")
                && said.contains("cmd: [sh, -c, \"echo hello world\"]"),
            "{said}"
        );
        let said = cmd_difference("sh -c \"echo hi\"").unwrap();
        assert!(
            said.contains("the words are `sh` `-c` `\"echo` `hi\"`")
                && said.contains("a shell would pass `sh` `-c` `echo hi`"),
            "{said}"
        );
        let said = cmd_difference("printf a\\b").unwrap();
        assert!(
            said.contains("`printf` `a\\b`") && said.contains("`printf` `ab`"),
            "{said}"
        );
        // The line is the top-level key's, not a probe's `cmd:` above it.
        let text = "ready:\n  cmd: true\ncmd: echo 'x'\n";
        let (line, said) = cmd_note(text).unwrap();
        assert_eq!(line, Some(3));
        assert!(said.contains("`echo` `'x'`"), "{said}");
        assert_eq!(cmd_note("cmd: [sh, -c, \"echo 'x'\"]\n"), None);
        assert_eq!(cmd_note("cmd: sleep 1\n"), None);
    }

    #[test]
    fn missing_cmd_is_an_error() {
        let err = p("cwd: /tmp\n").unwrap_err().to_string();
        assert_eq!(err, "run.yml: missing key 'cmd'");
        let err = p("").unwrap_err().to_string();
        assert!(err.starts_with("run.yml"), "{err}");
    }

    #[test]
    fn parse_all_lists_an_error_per_key_and_keeps_the_good_keys() {
        let all = |text: &str| {
            let (cfg, errors) = parse_all(Path::new("run.yml"), text);
            (cfg, errors.iter().map(|e| e.to_string()).collect::<Vec<_>>())
        };
        let (cfg, errors) = all("cmd: x\ncmdd: 1\n# note\nwait: soon\nlog:\n  file: /l\n  sizee: 1\nuser: www\n");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("run.yml:2: unknown field `cmdd`"), "{errors:?}");
        assert!(errors[1].starts_with("run.yml:4: wait"), "{errors:?}");
        assert!(
            errors[2].starts_with("run.yml:7: log: unknown field `sizee`"),
            "{errors:?}"
        );
        let cfg = cfg.unwrap();
        assert_eq!(
            (cfg.cmd, cfg.user.as_deref(), cfg.log),
            (vec!["x".to_string()], Some("www"), None)
        );
        // What only the whole file shows is listed too.
        let (cfg, errors) = all("cwd: /tmp\nretries: -3\n");
        assert_eq!(
            errors,
            [
                "run.yml:2: retries must be -1 (forever) or more, not -3",
                "run.yml: missing key 'cmd'"
            ]
        );
        assert!(cfg.is_some_and(|c| c.cmd.is_empty() && c.cwd.as_deref() == Some("/tmp")));
        // Broken YAML is one error, at its line; a good file none.
        let (cfg, errors) = all("cmd: x\nenv: {A: 1\nwait: 2\n");
        assert!(
            cfg.is_none() && errors.len() == 1 && errors[0].starts_with("run.yml:3:"),
            "{errors:?}"
        );
        assert_eq!(all(SEED).1, Vec::<String>::new());
        // A flow mapping is not split: its first error, as parse says it.
        let (cfg, errors) = all("{cmd: x, cmdd: y, wait: soon}\n");
        assert!(
            cfg.is_none() && errors.len() == 1 && errors[0].contains("cmdd"),
            "{errors:?}"
        );
    }

    #[test]
    fn confinement_keys_parse_and_errors_name_the_line() {
        let text = "cmd: x\nlimits:\n  nofile: 65536\n  core: \"0:unlimited\"\n  stack: 8388608\nnice: 10\numask: 027\nno_new_privs: true\ncgroup: {memory: 512M, pids: 256, cpu: 0.5}\n";
        let caps = crate::sys::system::capabilities();
        if !(caps.cgroups && caps.no_new_privs) {
            // A system without them says so, at the first one's line.
            let err = p(text).unwrap_err().to_string();
            assert!(err.starts_with("run.yml:8: no_new_privs: not available on "), "{err}");
            return;
        }
        let cfg = p(text).unwrap();
        let c = confinement(&cfg).unwrap();
        let names: Vec<_> = c.rlimits.iter().map(|r| (r.name, r.soft, r.hard)).collect();
        assert_eq!(
            names,
            [
                ("core", Some(0), Some(crate::limits::UNLIMITED)),
                ("nofile", Some(65536), Some(65536)),
                ("stack", Some(8388608), Some(8388608))
            ]
        );
        assert_eq!((c.nice, c.umask, c.no_new_privs), (Some(10), Some(0o27), true));
        assert_eq!(
            (c.cgroup.memory, c.cgroup.pids, c.cgroup.cpu),
            (Some(512 << 20), Some(256), Some(0.5))
        );
        // -cc prints what parses back the same.
        assert_eq!(p(&to_yaml(&cfg)).unwrap(), effective(&cfg));
        for (yml, want) in [
            (
                "cmd: x\nlimits:\n  nofiles: 1\n",
                "run.yml:3: limits: unknown limit 'nofiles'",
            ),
            (
                "cmd: x\nlimits: {nofile: \"9:1\"}\n",
                "run.yml:2: limits: nofile: soft limit 9 above",
            ),
            ("cmd: x\nlimits: {nofile: [1]}\n", "run.yml:2"),
            (
                "cmd: x\nwait: 1\nnice: 20\n",
                "run.yml:3: nice must be -20 to 19, not 20",
            ),
            ("cmd: x\numask: \"099\"\n", "run.yml:2: umask must be octal digits"),
            (
                "cmd: x\ncgroup:\n  pids: 5\n  memory: lots\n",
                "run.yml:4: cgroup: memory: 'lots' is not a size",
            ),
            (
                "cmd: x\ncgroup:\n  pids: 0\n",
                "run.yml:3: cgroup: pids must be 1 or more",
            ),
            (
                "cmd: x\ncgroup: {cpu: 0}\n",
                "run.yml:2: cgroup: cpu must be a number of CPUs above 0",
            ),
            ("cmd: x\ncgroup: {swap: 1}\n", "run.yml:2:"),
            ("cmd: x\nno_new_privs: maybe\n", "run.yml:2:"),
        ] {
            let err = p(yml).unwrap_err().to_string();
            assert!(err.starts_with(want), "{yml:?}: {err}");
        }
    }

    /// `log: {compress: gzip|zstd}`; `-cc` prints `compress: null` when
    /// there is none.
    #[test]
    fn log_compress_is_gzip_or_zstd() {
        let cfg = p("cmd: x\nlog: {file: /l, compress: zstd}\nstderr:\n  file: /e\n  compress: gzip\n").unwrap();
        assert_eq!(cfg.log.as_ref().unwrap().compress.as_deref(), Some("zstd"));
        assert_eq!(cfg.stderr.as_ref().unwrap().compress.as_deref(), Some("gzip"));
        assert_eq!(p(&to_yaml(&cfg)).unwrap(), effective(&cfg));
        let plain = to_yaml(&p("cmd: x\nlog: {file: /l}\n").unwrap());
        assert!(
            plain.contains("\n  compress: null  # rotated files kept as written\n"),
            "{plain}"
        );
        let err = p("cmd: x\nlog:\n  file: /l\n  compress: bzip2\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "run.yml:4: log: compress must be gzip or zstd, not 'bzip2'");
        let err = p("cmd: x\nstderr: {file: /l, compress: 1}\n").unwrap_err().to_string();
        assert!(
            err.starts_with("run.yml:2: stderr: compress must be gzip or zstd"),
            "{err}"
        );
    }

    /// `env_file:` is a path or a list; `-cc` prints it (as a list).
    #[test]
    fn env_file_is_a_path_or_a_list() {
        assert_eq!(
            p("cmd: x\nenv_file: /etc/app.env\n").unwrap().env_file,
            ["/etc/app.env"]
        );
        let cfg = p("cmd: x\nenv_file:\n  - a.env\n  - -/etc/opt.env\n").unwrap();
        assert_eq!(cfg.env_file, ["a.env", "-/etc/opt.env"]);
        let text = to_yaml(&cfg);
        assert!(text.contains("env_file:\n- a.env\n- -/etc/opt.env\n"), "{text}");
        assert_eq!(p(&text).unwrap(), effective(&cfg));
        let none = to_yaml(&p("cmd: x\n").unwrap());
        assert!(none.contains("\nenv_file: []  # no environment file\n"), "{none}");
        for (yml, want) in [
            (
                "cmd: x\nwait: 1\nenv_file: {a: 1}\n",
                "run.yml:3: env_file: a path or a list of paths",
            ),
            ("cmd: x\nenv_file: [a, [b]]\n", "run.yml:2: env_file: a path or a list"),
            ("cmd: x\nenv_file: \"-\"\n", "run.yml:2: env_file: an empty path"),
        ] {
            let err = p(yml).unwrap_err().to_string();
            assert!(err.starts_with(want), "{yml:?}: {err}");
        }
    }

    #[test]
    fn effective_yaml_round_trips() {
        let cfg = p(SEED).unwrap();
        let text = to_yaml(&cfg);
        assert!(text.contains("timeout: 10"), "{text}");
        assert_eq!(p(&text).unwrap(), effective(&cfg));
        assert_eq!(effective(&effective(&cfg)), effective(&cfg));
    }

    /// `-cc` prints every default: `restart:`, `ready:`, `socket:` too,
    /// and what a start makes of the printed file is what it makes of the
    /// file itself.
    #[test]
    fn cc_prints_every_default_and_means_the_same() {
        let text = to_yaml(&p("cmd: sleep 1\n").unwrap());
        for want in [
            "restart:\n  policy: always\n  success:\n  - 0\n  delay: 1.0\n  max_delay: 1.0\n  factor: 2.0\n  reset_after: 60.0\n  limit: null  # no circuit breaker",
            "\nessential: false\n",
            "\nready: null  # ready as soon as it runs",
            "\nhealth: null  # no health check\n",
            "\nwatchdog: null  # no watchdog\n",
            "\nno_new_privs: false\n",
            "\nsocket:\n  mode: '0660'\n  group: null  # control: root",
            "\nstop:\n  signal: TERM\n  group: true\n  timeout: 10\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        let probe = to_yaml(&p("cmd: x\nready: {tcp: \"127.0.0.1:1\"}\nhealth: {cmd: \"true\"}\n").unwrap());
        for want in [
            "ready:\n  tcp: 127.0.0.1:1\n  interval: 1.0\n  timeout: 0.0\n  probe_timeout: 5.0\n",
            "health:\n  cmd: 'true'\n  interval: 10.0\n  timeout: 2.0\n  failures: 3\n",
        ] {
            assert!(probe.contains(want), "missing {want:?} in:\n{probe}");
        }
        // A string's line that looks like an absent block is left alone.
        let odd = p("cmd: x\nlogger: \"a\\nlimit: null\\nready: null\"\nenv: {A: \"b\\n  group: null\"}\n").unwrap();
        assert_eq!(p(&to_yaml(&odd)).unwrap(), effective(&odd));
        // sd_notify where the system has it (not with IMMORTAL_PORTABLE=1).
        if crate::sys::system::capabilities().notify_socket {
            let notify = to_yaml(&p("cmd: x\nready: notify\n").unwrap());
            assert!(notify.contains("ready:\n  notify: true\n  timeout: 0.0\n"), "{notify}");
        }
        let path = Path::new("run.yml");
        for text in [
            "cmd: sleep 1\n",
            "cmd: x\nready: {tcp: \"127.0.0.1:1\"}\nhealth: {cmd: \"true\"}\n",
            "cmd: x\nready: {fd: 3, timeout: 2}\nrestart: {delay: 0.5, limit: {count: 2, within: 9}}\n",
            "cmd: x\nrestart: {max_delay: 30, policy: on-failure}\nsocket: {group: root}\n",
        ] {
            let cfg = p(text).unwrap();
            let printed = p(&to_yaml(&cfg)).unwrap();
            assert_eq!(printed, effective(&cfg), "{text}");
            let (a, b) = (
                crate::service::from_yml(path, &cfg).map(|s| (s.restart, s.ready, s.health, s.socket)),
                crate::service::from_yml(path, &printed).map(|s| (s.restart, s.ready, s.health, s.socket)),
            );
            let (mut a, b) = (a.unwrap(), b.unwrap());
            // Absent, each of these is what -cc prints: the delay is the
            // supervisor's throttle (1 s); max_delay the delay (no
            // backoff); the socket's mode 0660.
            a.0.delay = a.0.delay.or(Some(crate::supervise::state::MIN_RUN));
            a.0.max_delay = a.0.max_delay.or(a.0.delay);
            a.3.mode = a.3.mode.or(Some(crate::service::SocketSpec::DEFAULT_MODE));
            assert_eq!(a, b, "{text}");
        }
    }
}
