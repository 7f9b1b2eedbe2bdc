//! `immortal -check FILE|DIR` and `immortalsvc -check DIR`: validate
//! without starting anything, and list every problem at once.
//!
//! A check never stops at the first problem: it collects [`Problem`]s
//! (`FILE:LINE: text`, or `FILE: text` where no line applies) and the
//! caller prints them all, exiting 1 if there is any. What is checked:
//!
//! - a `run.yml` file: YAML syntax, unknown keys, types and ranges (by
//!   [`config::parse_all`], the parser a start uses), then one function
//!   per concern in [`YML_CHECKS`]: the `user` exists (and may be switched
//!   to: the supervisor is root or that user); `cmd` is found in
//!   the service's `PATH` (its `env: PATH`, else the supervisor's) and is
//!   executable by the service's user; `cwd` is a directory; each
//!   `env_file:` is read as a start reads it (its problems at its own
//!   file and line); the directories of `log:`/`stderr:` files and of
//!   the supervisor's pid files exist and are writable by whoever runs
//!   the check — the supervisor to be, which opens them itself (never the
//!   service's user) — and a `compress:` program is in its `PATH`;
//!   permissions are read from mode bits, ownership and groups, nothing is
//!   created; `limits:`, `nice` and `cgroup:` can be applied (hard limits,
//!   privileges, a cgroup controller for each `cgroup:` limit); each
//!   `listen:` unix socket's directory exists and is writable by the
//!   supervisor to be, its group exists, and a port below the first
//!   unprivileged one is bound by a root supervisor;
//! - `require`: each name exists (in a services directory: among its
//!   services; for one file: a service beside it, or a supervise directory
//!   in `$IMMORTAL_SDIR` or `~/.immortal`), no service requires itself
//!   through others ([`listing::cycle_through`], as a start refuses it),
//!   and (in a services directory) none requires one that can never start
//!   — a `NAME.yml` that does not validate, or one that requires such;
//! - a daemontools/runit/s6 service directory: `run` (and `finish`,
//!   `check`, `log/run` when present) executable, `notification-fd` a
//!   number, `down-signal` and `timeout-kill` as a start reads them;
//! - a services directory: every entry the scanner would start, by its own
//!   rules ([`listing::find`]), plus the near misses it would skip in
//!   silence (a `run` that is not executable, `NAME/` hidden by `NAME.yml`).

use crate::config::{self, nested_line, RunYml};
use crate::error::Error;
use crate::layout;
use crate::listing::{self, Kind};
use crate::user;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One thing wrong, where it is — or, for a warning, one thing that works
/// otherwise than the file's author may expect (it does not fail the check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub text: String,
    pub warning: bool,
}

impl Problem {
    pub fn new(file: &Path, line: Option<usize>, text: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            line,
            text: text.into(),
            warning: false,
        }
    }

    /// A warning: told, but the check still passes.
    pub fn warning(file: &Path, line: Option<usize>, text: impl Into<String>) -> Problem {
        Problem {
            warning: true,
            ..Problem::new(file, line, text)
        }
    }

    /// From an error that may already name `file` (and a line) in front,
    /// as the configuration parser's `FILE:LINE: message` do: the location
    /// is taken apart instead of repeated.
    fn from_error(file: &Path, err: &Error) -> Problem {
        let message = err.to_string();
        let prefix = format!("{}:", file.display());
        let Some(rest) = message.strip_prefix(&prefix) else {
            return Problem::new(file, None, message);
        };
        let (line, text) = match rest.split_once(':') {
            Some((n, text)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (n.parse().ok(), text),
            _ => (None, rest),
        };
        Problem::new(file, line, text.trim_start())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.warning { "warning: " } else { "" };
        match self.line {
            Some(n) => write!(f, "{}:{n}: {kind}{}", self.file.display(), self.text),
            None => write!(f, "{}: {kind}{}", self.file.display(), self.text),
        }
    }
}

/// The outcome of a check: its problems, and what was checked.
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<Problem>,
    /// What the success line names: `web.yml`, `3 services in /etc/immortal`.
    pub checked: String,
}

impl Report {
    /// Print the problems and warnings (stderr), and the success line
    /// (stdout) when there are only warnings; the exit status: 1 if there
    /// is any problem.
    pub fn print(&self, program: &str) -> i32 {
        use std::io::Write;
        {
            let mut err = std::io::stderr().lock();
            for p in &self.problems {
                let _ = writeln!(err, "{p}");
            }
        }
        let n = self.problems.iter().filter(|p| !p.warning).count();
        if n == 0 {
            let _ = writeln!(std::io::stdout(), "ok: {}", self.checked);
            return 0;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "{program}: {n} problem{} in {}",
            if n == 1 { "" } else { "s" },
            self.checked
        );
        crate::error::EXIT_FAILURE
    }

    /// Problems in file order, each file's by line (stable: same-line
    /// problems keep the order of the checks).
    fn sort(&mut self) {
        self.problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    }
}

// ------------------------------------------------------------ entry points

/// `immortal -check TARGET`: a `run.yml` file, or a service directory.
pub fn path(target: &Path) -> Report {
    let mut report = Report {
        checked: target.display().to_string(),
        ..Report::default()
    };
    let supervisor = Identity::current();
    if target.is_dir() {
        if crate::service::is_service_dir(target) {
            service_dir(target, &supervisor, true, &mut report.problems);
        } else {
            report.problems.push(Problem::new(
                target,
                None,
                "not a service directory (no run file); for a directory of services: immortalsvc -check",
            ));
        }
        return report;
    }
    let Some(yml) = yml_file(target, &supervisor, &mut report.problems) else {
        return report;
    };
    // A name exists as a service beside the file (as immortalsvc would run
    // it) or as a supervise directory where `require` looks.
    let dir = layout::parent_dir(target);
    let beside: BTreeSet<String> = listing::find(dir)
        .map(|f| f.services.into_iter().map(|(name, _, _)| name).collect())
        .unwrap_or_default();
    let exists = |name: &str| {
        beside.contains(name)
            || [layout::base(), layout::user_base()]
                .iter()
                .any(|b| b.join(name).is_dir())
    };
    for name in &yml.cfg.require {
        if !exists(name) {
            report.problems.push(Problem::new(
                target,
                item_line(&yml.text, "require", name),
                format!(
                    "require '{name}': no such service beside this file, nor a supervise directory {}",
                    layout::base().join(name).display()
                ),
            ));
        }
    }
    if let Err(e) = listing::require_cycle(target, &yml.cfg) {
        report.problems.push(Problem::from_error(target, &e));
    }
    report.sort();
    report
}

/// `immortalsvc -check DIR`: every service the scanner would start.
pub fn services_dir(dir: &Path) -> Report {
    let mut report = Report::default();
    let found = match listing::find(dir) {
        Ok(f) => f,
        Err(e) => {
            report.checked = dir.display().to_string();
            report
                .problems
                .push(Problem::new(dir, None, format!("unable to read the directory: {e}")));
            return report;
        }
    };
    let n = found.services.len();
    report.checked = format!("{n} service{} in {}", if n == 1 { "" } else { "s" }, dir.display());
    let supervisor = Identity::current();
    let out = &mut report.problems;
    let mut ymls: BTreeMap<String, YmlFile> = BTreeMap::new();
    for (name, kind, path) in &found.services {
        match kind {
            Kind::Yml => {
                if let Some(yml) = yml_file(path, &supervisor, out) {
                    ymls.insert(name.clone(), yml);
                }
            }
            Kind::Dir => service_dir(path, &supervisor, true, out),
        }
    }
    for name in &found.clashes {
        out.push(Problem::new(
            &dir.join(name),
            None,
            format!("ignored: {name}{} has the same name", layout::YML_SUFFIX),
        ));
    }
    for path in &found.not_executable {
        out.push(Problem::new(
            &path.join(layout::RUN),
            None,
            "not executable: immortalsvc does not start this directory",
        ));
    }
    let names: BTreeSet<&str> = found.services.iter().map(|(n, _, _)| n.as_str()).collect();
    for yml in ymls.values() {
        for req in yml.cfg.require.iter().filter(|r| !names.contains(r.as_str())) {
            out.push(Problem::new(
                &yml.path,
                item_line(&yml.text, "require", req),
                format!("require '{req}': no such service in {}", dir.display()),
            ));
        }
    }
    never_starts(&found, &ymls, out);
    // Each cycle once, told at the file of its first name.
    let mut told = BTreeSet::new();
    for (name, yml) in &ymls {
        let mut requires = |n: &str| ymls.get(n).map(|y| y.cfg.require.clone()).unwrap_or_default();
        let Some(cycle) = listing::cycle_through(name, &mut requires) else {
            continue;
        };
        let mut members: Vec<String> = cycle[1..].to_vec();
        members.sort();
        if told.insert(members) {
            out.push(Problem::new(
                &yml.path,
                config::line_of(&yml.text, "require"),
                format!("require cycle: {}", cycle.join(" -> ")),
            ));
        }
    }
    report.sort();
    report
}

/// What immortalsvc can never start, told at each `require` that waits
/// for it: a `NAME.yml` that does not validate as a start validates it
/// (immortalsvc does not start it), and whatever requires one, however
/// indirectly. (A require cycle is told on its own.)
fn never_starts(found: &listing::Found, ymls: &BTreeMap<String, YmlFile>, out: &mut Vec<Problem>) {
    let invalid: BTreeSet<&str> = found
        .services
        .iter()
        .filter(|(_, kind, path)| {
            *kind == Kind::Yml
                && config::load(path)
                    .and_then(|y| crate::service::from_yml(path, &y))
                    .is_err()
        })
        .map(|(name, _, _)| name.as_str())
        .collect();
    // Each service that can never start, and the invalid file behind it.
    let mut never: BTreeMap<&str, &str> = invalid.iter().map(|n| (*n, *n)).collect();
    loop {
        let grown: Vec<(&str, &str)> = ymls
            .iter()
            .filter(|(name, _)| !never.contains_key(name.as_str()))
            .filter_map(|(name, yml)| {
                let root = yml.cfg.require.iter().find_map(|r| never.get(r.as_str()))?;
                Some((name.as_str(), *root))
            })
            .collect();
        if grown.is_empty() {
            break;
        }
        never.extend(grown);
    }
    // An invalid file's own problems say why it does not start.
    for (name, yml) in ymls.iter().filter(|(n, _)| !invalid.contains(n.as_str())) {
        for req in &yml.cfg.require {
            let Some(root) = never.get(req.as_str()) else {
                continue;
            };
            let text = if req == root {
                format!(
                    "require '{req}': {req}{} is invalid, so {name} can never start",
                    layout::YML_SUFFIX
                )
            } else {
                format!(
                    "require '{req}': {req} can never start ({root}{} is invalid), so neither can {name}",
                    layout::YML_SUFFIX
                )
            };
            out.push(Problem::new(&yml.path, item_line(&yml.text, "require", req), text));
        }
    }
}

// ------------------------------------------------------------- run.yml

/// A `run.yml` file being checked.
struct YmlFile {
    path: PathBuf,
    text: String,
    /// The keys that parsed (all of them when there is no syntax problem).
    cfg: RunYml,
    /// Who runs the service: its `user:`, else the supervisor. `None`: an
    /// unknown user (told already).
    service_user: Option<Identity>,
    /// Who runs the supervisor: whoever runs the check.
    supervisor: Identity,
}

impl YmlFile {
    fn problem(&self, line: Option<usize>, text: impl Into<String>) -> Problem {
        Problem::new(&self.path, line, text)
    }
}

/// The checks of a parsed `run.yml`, in this order; each returns its
/// problems. A check for a new key is one more function here.
const YML_CHECKS: &[fn(&YmlFile) -> Vec<Problem>] = &[
    check_cmd,
    check_cwd,
    check_env_files,
    check_logs,
    check_pid_files,
    check_limits,
    check_socket,
    check_listen,
];

/// Read, parse and check one file; the parsed file (for `require`), unless
/// it could not be read or its YAML is broken.
fn yml_file(path: &Path, supervisor: &Identity, out: &mut Vec<Problem>) -> Option<YmlFile> {
    let text = match crate::sys::fs::read_regular_text(path, crate::sys::fs::MAX_SMALL_FILE) {
        Ok(t) => t,
        Err(e) => {
            out.push(Problem::new(path, None, format!("unable to read: {e}")));
            return None;
        }
    };
    let (cfg, errors) = config::parse_all(path, &text);
    out.extend(errors.iter().map(|e| Problem::from_error(path, e)));
    let cfg = cfg?;
    let service_user = match &cfg.user {
        None => Some(supervisor.clone()),
        Some(name) => match user::resolve(name) {
            // Only root may start a service as someone else.
            Ok(run_as) if supervisor.uid != 0 && run_as.uid.as_raw() != supervisor.uid => {
                out.push(Problem::new(
                    path,
                    config::line_of(&text, "user"),
                    format!("user '{name}': only root can run a service as another user, not {supervisor}"),
                ));
                Some(Identity::of(&run_as))
            }
            Ok(run_as) => Some(Identity::of(&run_as)),
            Err(e) => {
                out.push(Problem::new(path, config::line_of(&text, "user"), e.to_string()));
                None
            }
        },
    };
    let yml = YmlFile {
        path: path.to_path_buf(),
        text,
        cfg,
        service_user,
        supervisor: supervisor.clone(),
    };
    for check in YML_CHECKS {
        out.extend(check(&yml));
    }
    Some(yml)
}

/// `cmd`: found (in `PATH` for a bare name, else relative to `cwd`) and
/// executable by the service's user; a warning where a shell would split
/// its string otherwise (a quote, a backslash: [`config::cmd_difference`]).
fn check_cmd(yml: &YmlFile) -> Vec<Problem> {
    let mut out: Vec<Problem> = config::cmd_note(&yml.text)
        .map(|(line, note)| Problem::warning(&yml.path, line, note))
        .into_iter()
        .collect();
    out.extend(check_program(yml));
    out
}

/// `cmd`'s program: found and executable by the service's user.
fn check_program(yml: &YmlFile) -> Vec<Problem> {
    // With an unknown user (told already), whether it is found at all.
    let who = yml.service_user.as_ref().unwrap_or(&yml.supervisor);
    let Some(program) = yml.cfg.cmd.first() else {
        return Vec::new();
    };
    if program.is_empty() {
        return Vec::new();
    }
    let line = config::line_of(&yml.text, "cmd");
    // The service's PATH: its `env:`, else the supervisor's environment
    // (the lookup std's Command makes in the child, or execvp's default).
    let search = yml
        .cfg
        .env
        .get("PATH")
        .cloned()
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_else(|| DEFAULT_PATH.to_string());
    let cwd = yml.cfg.cwd.as_ref().map(PathBuf::from);
    let lookup = find_program(program, cwd.as_deref(), &search, who);
    let text = match lookup {
        Lookup::Found => return Vec::new(),
        Lookup::Missing if program.contains('/') => format!("cmd '{program}' not found"),
        Lookup::Missing => format!("cmd '{program}' not found in PATH ({search})"),
        Lookup::Unusable(path, why) => format!("cmd '{program}': {} {why}", path.display()),
    };
    vec![yml.problem(line, text)]
}

/// `cwd`: an existing directory.
fn check_cwd(yml: &YmlFile) -> Vec<Problem> {
    let Some(cwd) = &yml.cfg.cwd else {
        return Vec::new();
    };
    let why = match std::fs::metadata(cwd) {
        Ok(m) if m.is_dir() => return Vec::new(),
        Ok(_) => "is not a directory".to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_string(),
        Err(e) => format!("cannot be examined: {e}"),
    };
    vec![yml.problem(config::line_of(&yml.text, "cwd"), format!("cwd '{cwd}' {why}"))]
}

/// `log:` and `stderr:` files: opened, rotated and pruned by the
/// supervisor itself, so its directory must be writable by the supervisor.
fn check_logs(yml: &YmlFile) -> Vec<Problem> {
    let mut out = Vec::new();
    for (key, log) in [("log", &yml.cfg.log), ("stderr", &yml.cfg.stderr)] {
        let Some(log) = log else { continue };
        if let Some(why) = unwritable(Path::new(&log.file), &yml.supervisor) {
            out.push(yml.problem(
                nested_line(&yml.text, key, "file"),
                format!("{key}: file '{}': {why}", log.file),
            ));
        }
        // The supervisor runs it, from its own PATH.
        let method = log.compress.as_deref().and_then(crate::compress::Method::parse);
        if let Some(Err(why)) = method.map(|m| m.find(None)) {
            out.push(yml.problem(nested_line(&yml.text, key, "compress"), format!("{key}: {why}")));
        }
    }
    out
}

/// `env_file:`: each file read as a start reads it (a missing `-PATH` is
/// fine); a problem in one is told at its own file and line.
fn check_env_files(yml: &YmlFile) -> Vec<Problem> {
    // Named as the check was asked (`bad.env`, `svc/bad.env`).
    let base = yml.path.parent().unwrap_or(Path::new("")).to_path_buf();
    let start = config::line_of(&yml.text, "env_file");
    let mut out = Vec::new();
    for entry in &yml.cfg.env_file {
        let file = crate::envfile::EnvFile::parse(entry, &base);
        let Err(e) = crate::envfile::read(&file) else { continue };
        out.push(match e.line {
            Some(n) => Problem::new(&e.path, Some(n), e.text),
            None => {
                // The list item's line, else the key's.
                let line = start.map(|s| {
                    yml.text
                        .lines()
                        .enumerate()
                        .skip(s - 1)
                        .take_while(|(i, l)| *i == s - 1 || l.starts_with([' ', '\t', '-']))
                        .find(|(_, l)| l.contains(entry.as_str()))
                        .map_or(s, |(i, _)| i + 1)
                });
                yml.problem(line, e.to_string())
            }
        });
    }
    out
}

/// `pid.parent` and `pid.child` are written by the supervisor; the
/// directory of `pid.follow`, written by the service, must exist.
fn check_pid_files(yml: &YmlFile) -> Vec<Problem> {
    let mut out = Vec::new();
    let pid = &yml.cfg.pid;
    for (key, file) in [("parent", &pid.parent), ("child", &pid.child)] {
        let Some(file) = file else { continue };
        if let Some(why) = unwritable(Path::new(file), &yml.supervisor) {
            out.push(yml.problem(
                nested_line(&yml.text, "pid", key),
                format!("pid: {key} '{file}': {why}"),
            ));
        }
    }
    if let Some(file) = &pid.follow {
        let dir = layout::parent_dir(Path::new(file));
        if !dir.is_dir() {
            out.push(yml.problem(
                nested_line(&yml.text, "pid", "follow"),
                format!("pid: follow '{file}': directory '{}' does not exist", dir.display()),
            ));
        }
    }
    out
}

/// `limits:`, `nice` and `cgroup:`: applicable by the supervisor to be
/// (whoever runs the check): rlimits within its hard limits unless root,
/// a nice value it may set, each `cgroup:` limit with a controller (v2 or
/// v1) it can write.
fn check_limits(yml: &YmlFile) -> Vec<Problem> {
    // A value that does not parse is told already (and left out of cfg).
    let Ok(confine) = config::confinement(&yml.cfg) else {
        return Vec::new();
    };
    let mut out: Vec<Problem> = confine
        .check()
        .into_iter()
        .map(|(name, why)| {
            let line = match name {
                Some(name) => nested_line(&yml.text, "limits", name),
                None => config::line_of(&yml.text, "nice"),
            };
            yml.problem(line, why)
        })
        .collect();
    if !confine.cgroup.is_empty() {
        if let Some((controller, why)) = crate::cgroup::Hierarchies::discover().check(&confine.cgroup) {
            out.push(yml.problem(nested_line(&yml.text, "cgroup", controller), why));
        }
    }
    out
}

/// `listen:` (its syntax is the parser's): a unix socket's directory
/// exists and the supervisor to be may create it there, nothing but a
/// socket is at its path, its group exists; a port below the first
/// unprivileged one is for a supervisor run by root.
fn check_listen(yml: &YmlFile) -> Vec<Problem> {
    use crate::listen::Address;
    let Ok(entries) = crate::listen::entries(&yml.cfg.listen) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let at = |i: usize, key: &str| crate::listen::line_of(&yml.text, i, key);
    for (i, e) in entries.iter().enumerate() {
        match &e.address {
            Address::Unix(path) => {
                let occupied = std::fs::symlink_metadata(path)
                    .is_ok_and(|m| !std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()));
                let why = if occupied {
                    Some("exists and is not a socket".to_string())
                } else {
                    unwritable(path, &yml.supervisor)
                };
                if let Some(why) = why {
                    out.push(yml.problem(at(i, "unix"), format!("listen: unix '{}': {why}", path.display())));
                }
                if let Some(Err(err)) = e.group.as_deref().map(user::group_id) {
                    out.push(yml.problem(at(i, "group"), format!("listen: group: {err}")));
                }
            }
            Address::Tcp(addr) | Address::Udp(addr) => {
                let first = crate::sys::socket::unprivileged_port_start();
                if yml.supervisor.uid != 0 && addr.port() != 0 && addr.port() < first {
                    let kind = e.address.kind();
                    out.push(yml.problem(
                        at(i, kind),
                        format!(
                            "listen: {kind} {addr}: a port below {first} is for a supervisor run by root, not {}",
                            yml.supervisor
                        ),
                    ));
                }
            }
        }
    }
    out
}

/// `socket:`: an octal mode, a group that exists (the supervisor chgrps
/// its socket to it at start).
fn check_socket(yml: &YmlFile) -> Vec<Problem> {
    let socket = &yml.cfg.socket;
    let mut out = Vec::new();
    if let Some(Err(why)) = socket.mode.as_deref().map(config::parse_socket_mode) {
        out.push(yml.problem(nested_line(&yml.text, "socket", "mode"), why.to_string()));
    }
    if let Some(group) = &socket.group {
        if let Err(e) = crate::user::group_id(group) {
            out.push(yml.problem(nested_line(&yml.text, "socket", "group"), format!("socket: group: {e}")));
        }
    }
    out
}

// ------------------------------------------------------ service directory

/// A daemontools/runit/s6 service directory, as `immortal DIR` runs it;
/// `with_log`: and its `log/` (not the log's own `log/`).
fn service_dir(dir: &Path, supervisor: &Identity, with_log: bool, out: &mut Vec<Problem>) {
    let run = dir.join(layout::RUN);
    if let Some(why) = run_state(&run, supervisor) {
        out.push(Problem::new(&run, None, why));
    }
    // runsv runs ./finish when it exists, sv check ./check: a copy without
    // its x bit fails at every exit or check.
    for optional in [layout::FINISH, "check"] {
        let path = dir.join(optional);
        if path.exists() {
            if let Some(why) = run_state(&path, supervisor) {
                out.push(Problem::new(&path, None, why));
            }
        }
    }
    let notification = dir.join("notification-fd");
    match crate::sys::fs::read_regular_text(&notification, 64) {
        Ok(text) => {
            let value = text.lines().next().unwrap_or("").trim();
            if value.parse::<u32>().is_err() {
                out.push(Problem::new(
                    &notification,
                    Some(1),
                    format!("not a file descriptor number: '{value}'"),
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => out.push(Problem::new(&notification, None, format!("unable to read: {e}"))),
    }
    // s6's fifodir opened to everyone: by s6-svperms -e, or by an earlier
    // immortal, which made it 1733.
    let event = dir.join(crate::supervise::fifodir::EVENT_DIR);
    if let Ok(meta) = std::fs::symlink_metadata(&event) {
        let mode = meta.mode() & 0o7777;
        if meta.is_dir() && mode & 0o002 != 0 {
            out.push(Problem::warning(
                &event,
                None,
                format!(
                    "anyone may write this directory (mode {mode:04o}): any user may subscribe to the \
                     service's events and fill it; s6-supervise and immortal make it {:04o}, for their \
                     group only: chmod {:04o} {} unless everyone is meant to (s6-svperms -e)",
                    crate::supervise::fifodir::MODE,
                    crate::supervise::fifodir::MODE,
                    event.display()
                ),
            ));
        }
    }
    // down-signal and timeout-kill: read as a start reads them.
    if let Err(e) = crate::service::from_service_dir(dir) {
        let named = [layout::DOWN_SIGNAL, layout::TIMEOUT_KILL]
            .iter()
            .map(|f| dir.join(f))
            .find(|f| e.to_string().starts_with(&format!("{}:", f.display())))
            .unwrap_or_else(|| dir.to_path_buf());
        out.push(Problem::from_error(&named, &e));
    }
    let log = dir.join(layout::LOG_SERVICE);
    if with_log && log.is_dir() {
        if log.join(layout::RUN).exists() {
            service_dir(&log, supervisor, false, out);
        } else {
            out.push(Problem::new(&log, None, "no run file: no logger is started"));
        }
    }
}

/// Why the script at `path` cannot be run by `who`, if it cannot.
fn run_state(path: &Path, who: &Identity) -> Option<String> {
    match usable(path, who) {
        Usable::Yes => None,
        Usable::Missing => Some("does not exist".into()),
        Usable::No(why) => Some(why),
    }
}

// ------------------------------------------------------- who may do what

/// `execvp`'s search path when `PATH` is unset.
const DEFAULT_PATH: &str = "/usr/bin:/bin";

/// A user as the kernel's permission checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub uid: u32,
    /// The primary group and the supplementary ones.
    pub gids: Vec<u32>,
}

impl Identity {
    /// The running process (effective ids).
    pub fn current() -> Identity {
        use nix::unistd::{getegid, geteuid};
        let uid = geteuid();
        let mut gids = vec![getegid().as_raw()];
        gids.extend(crate::sys::process::own_groups());
        // Only the name comes from the user database: the ids are the
        // process's own.
        let name = user::resolve(&uid.as_raw().to_string()).map_or_else(|_| uid.to_string(), |u| u.name);
        Identity {
            name,
            uid: uid.as_raw(),
            gids,
        }
    }

    pub fn of(run_as: &user::RunAs) -> Identity {
        let mut gids = vec![run_as.gid.as_raw()];
        gids.extend(run_as.groups.iter().map(|g| g.as_raw()));
        Identity {
            name: run_as.name.clone(),
            uid: run_as.uid.as_raw(),
            gids,
        }
    }

    /// Whether `meta`'s mode bits let this user read (4), write (2) and/or
    /// execute or search (1) it: `want` is their sum. Root passes every
    /// read and write check; it may execute a file with any x bit set.
    pub fn may(&self, meta: &std::fs::Metadata, want: u32) -> bool {
        let mode = meta.permissions().mode();
        if self.uid == 0 {
            return want & 1 == 0 || meta.is_dir() || mode & 0o111 != 0;
        }
        let bits = if meta.uid() == self.uid {
            mode >> 6
        } else if self.gids.contains(&meta.gid()) {
            mode >> 3
        } else {
            mode
        };
        bits & 7 & want == want
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user '{}'", self.name)
    }
}

enum Usable {
    Yes,
    Missing,
    No(String),
}

/// Whether `who` can execute `path`: a regular file with its x bit for
/// them, every directory above it searchable.
fn usable(path: &Path, who: &Identity) -> Usable {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Usable::Missing,
        Err(e) => return Usable::No(format!("cannot be examined: {e}")),
    };
    if !meta.is_file() {
        return Usable::No("is not a regular file".into());
    }
    if let Some(dir) = closed_ancestor(path, who) {
        return Usable::No(format!(
            "is out of reach of {who}: '{}' is not searchable",
            dir.display()
        ));
    }
    if !who.may(&meta, 1) {
        return Usable::No(format!("is not executable by {who}"));
    }
    Usable::Yes
}

enum Lookup {
    Found,
    Missing,
    /// The first candidate found, and why it cannot be run.
    Unusable(PathBuf, String),
}

/// Find `program` as the service's exec would: a path with a slash
/// relative to `cwd`, a bare name in each directory of `search` in turn
/// (execvp goes on past one it cannot execute).
fn find_program(program: &str, cwd: Option<&Path>, search: &str, who: &Identity) -> Lookup {
    let base = |p: &Path| match cwd {
        Some(cwd) => cwd.join(p),
        None => p.to_path_buf(),
    };
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![base(Path::new(program))]
    } else {
        // An empty entry is the working directory.
        search
            .split(':')
            .map(|dir| base(Path::new(if dir.is_empty() { "." } else { dir })).join(program))
            .collect()
    };
    let mut first_unusable = None;
    for candidate in candidates {
        match usable(&candidate, who) {
            Usable::Yes => return Lookup::Found,
            Usable::Missing => {}
            Usable::No(why) => {
                first_unusable.get_or_insert((candidate, why));
            }
        }
    }
    match first_unusable {
        Some((path, why)) => Lookup::Unusable(path, why),
        None => Lookup::Missing,
    }
}

/// Why `who` cannot create, write and rotate the file `file` (its directory
/// searchable and writable; the file, if it exists, writable), if so.
fn unwritable(file: &Path, who: &Identity) -> Option<String> {
    let dir = layout::parent_dir(file);
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!("directory '{}' does not exist", dir.display()))
        }
        Err(e) => return Some(format!("directory '{}' cannot be examined: {e}", dir.display())),
    };
    if !meta.is_dir() {
        return Some(format!("'{}' is not a directory", dir.display()));
    }
    if let Some(closed) = closed_ancestor(file, who) {
        return Some(format!(
            "directory '{}' is out of reach of {who}: '{}' is not searchable",
            dir.display(),
            closed.display()
        ));
    }
    if !who.may(&meta, 2 | 1) {
        return Some(format!("directory '{}' is not writable by {who}", dir.display()));
    }
    match std::fs::metadata(file) {
        Ok(m) if m.is_dir() => Some("is a directory".into()),
        Ok(m) if !who.may(&m, 2) => Some(format!("is not writable by {who}")),
        _ => None,
    }
}

/// The first directory above `path` that `who` may not search.
fn closed_ancestor(path: &Path, who: &Identity) -> Option<PathBuf> {
    let absolute = layout::absolute(path);
    absolute
        .ancestors()
        .skip(1)
        .find(|dir| std::fs::metadata(dir).is_ok_and(|m| !who.may(&m, 1)))
        .map(Path::to_path_buf)
}

// ------------------------------------------------------------ lines

/// The line of the list item `item` of `key:` (`require: [a, b]`, or one
/// `- a` a line), else the key's line.
fn item_line(text: &str, key: &str, item: &str) -> Option<usize> {
    let start = config::line_of(text, key)?;
    let is_word = |c: char| c.is_alphanumeric() || "_-.@".contains(c);
    let found = text
        .lines()
        .enumerate()
        .skip(start - 1)
        .take_while(|(i, l)| *i == start - 1 || l.starts_with([' ', '\t', '-']))
        .find(|(_, l)| {
            let code = l.split(" #").next().unwrap_or(l);
            code.split(|c: char| !is_word(c)).any(|w| w == item)
        });
    Some(found.map_or(start, |(i, _)| i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_bits_by_owner_group_other() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "").unwrap();
        let owner = std::fs::metadata(&f).unwrap().uid();
        let group = std::fs::metadata(&f).unwrap().gid();
        let who = |uid: u32, gids: &[u32]| Identity {
            name: "t".into(),
            uid,
            gids: gids.to_vec(),
        };
        let set = |mode: u32| {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
            std::fs::metadata(&f).unwrap()
        };
        let stranger = 4_000_000;
        let m = set(0o750);
        // Root is the owner here only when the tests run as root: use a
        // non-root uid that is the owner by construction when possible.
        if owner != 0 {
            assert!(who(owner, &[]).may(&m, 7));
        }
        assert!(who(stranger, &[group]).may(&m, 4 | 1));
        assert!(!who(stranger, &[group]).may(&m, 2));
        assert!(!who(stranger, &[stranger]).may(&m, 4));
        assert!(who(0, &[0]).may(&m, 7));
        let m = set(0o644);
        assert!(!who(0, &[0]).may(&m, 1), "root needs an x bit to execute");
        assert!(who(0, &[0]).may(&m, 2));
        assert!(who(stranger, &[]).may(&m, 4) && !who(stranger, &[]).may(&m, 2));
    }

    #[test]
    fn problems_take_the_location_apart() {
        let file = Path::new("web.yml");
        let p = Problem::from_error(file, &Error::invalid("web.yml:7: unknown field `cmdd`"));
        assert_eq!((p.line, p.text.as_str()), (Some(7), "unknown field `cmdd`"));
        assert_eq!(p.to_string(), "web.yml:7: unknown field `cmdd`");
        let p = Problem::from_error(file, &Error::invalid("web.yml: missing key 'cmd'"));
        assert_eq!((p.line, p.text.as_str()), (None, "missing key 'cmd'"));
        let p = Problem::from_error(file, &Error::invalid("something else"));
        assert_eq!(p.to_string(), "web.yml: something else");
    }

    #[test]
    fn lines_of_nested_keys_and_items() {
        let text = "cmd: x\nlog:\n  file: /a\nstderr: {file: /b}\nrequire:\n  - foo\n  - bar\nwait: 1\n";
        assert_eq!(nested_line(text, "log", "file"), Some(3));
        assert_eq!(nested_line(text, "stderr", "file"), Some(4));
        assert_eq!(item_line(text, "require", "bar"), Some(7));
        assert_eq!(item_line(text, "require", "zzz"), Some(5));
        assert_eq!(item_line("require: [a, b]\n", "require", "b"), Some(1));
    }
}
