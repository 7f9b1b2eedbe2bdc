//! `immortalctl`: status and control of every service — ours through the
//! JSON socket, runit's and daemontools' through `supervise/control` and
//! `supervise/status`.

pub mod args;
pub mod discover;
pub mod facts;
pub mod history;
pub mod log;
pub mod table;
pub mod watch;

use crate::api;
use crate::client;
use crate::control::{self, Command};
use crate::error::{Error, Result};
use crate::layout;
use crate::status::{self, RunState, Wanted};
use args::{Action, Request, Verb};
use discover::{Channel, Found};
use nix::sys::signal::Signal;
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use table::Row;

/// One service's state, from either channel, in the API's shape, with
/// what its supervise directory adds ([`facts`]): `None` when nothing runs
/// (no supervisor, no orphan); `Err` when it cannot be known (access
/// denied: the message to show).
fn fetch(f: &Found) -> Result<Option<Value>> {
    let Some(mut v) = fetch_status(f)? else { return Ok(None) };
    match &f.channel {
        Channel::Socket(sock) => {
            if let Some(sdir) = sock.parent() {
                facts::add(&mut v, sdir, false);
            }
        }
        Channel::Fifo(dir) => facts::add(&mut v, dir, true),
        Channel::Orphan { .. } | Channel::Denied(_) => {}
    }
    Ok(Some(v))
}

/// One service's state as its supervisor (or its status file) says it.
fn fetch_status(f: &Found) -> Result<Option<Value>> {
    match &f.channel {
        Channel::Socket(sock) => {
            let mut v = match client::status(sock) {
                Ok(v) => v,
                Err(e) if client::denied(e.raw_os_error()) => return Err(Error::invalid(discover::access_denied(e))),
                Err(_) => {
                    // Nobody answers: an orphaned service, or nothing at all.
                    let Some(dir) = sock.parent() else { return Ok(None) };
                    return match discover::live_or_orphan(dir) {
                        Some(other @ (Channel::Orphan { .. } | Channel::Denied(_))) => fetch_status(&Found {
                            name: f.name.clone(),
                            channel: other,
                        }),
                        _ => Ok(None),
                    };
                }
            };
            v["name"] = json!(f.name);
            if let Some(e) = sock.parent().and_then(table::config_error) {
                v["config_error"] = json!(e);
            }
            Ok(Some(v))
        }
        Channel::Fifo(dir) => {
            let st = match status::read(dir) {
                Ok(st) => st,
                Err(e) if client::denied(e.raw_os_error()) => return Err(Error::invalid(discover::access_denied(e))),
                Err(_) => return Ok(None),
            };
            let age = api::since(SystemTime::now().duration_since(st.since).unwrap_or(Duration::ZERO));
            let alive = supervisor_alive(dir)?;
            let mut v = json!({
                "name": f.name,
                "pid": st.pid,
                "state": match st.state { RunState::Run => "run", RunState::Down => "down", RunState::Finish => "finish" },
                "want": if st.want == Wanted::Up { "up" } else { "down" },
                "paused": st.paused,
                "cmd": run_script(dir),
            });
            if st.state == RunState::Run {
                v["up"] = json!(age);
            } else {
                v["down"] = json!(age);
            }
            if !alive {
                v["error"] = json!("supervisor not running");
            }
            Ok(Some(v))
        }
        Channel::Orphan { pid, uptime } => Ok(Some(json!({
            "name": f.name,
            "pid": pid,
            "state": "run",
            "up": api::since(*uptime),
            "cmd": command_line(*pid),
            "error": format!("orphaned: pid {pid}, supervisor gone"),
        }))),
        Channel::Denied(why) => Err(Error::invalid(why.clone())),
    }
}

/// Why a command cannot reach an orphaned service.
fn orphaned(pid: i32) -> String {
    format!("supervisor gone (pid {pid} still runs): start a supervisor on it to adopt it")
}

/// A running process's command line, as the CMD column shows it (its name
/// where the system shows no more: see `sys::process::command_line`).
fn command_line(pid: i32) -> String {
    crate::sys::process::command_line(nix::unistd::Pid::from_raw(pid)).unwrap_or_default()
}

/// The `run` beside a runit supervise directory, as the CMD column.
fn run_script(supervise: &Path) -> String {
    let svc = if supervise.file_name().is_some_and(|n| n == layout::SUPERVISE) {
        supervise.parent().unwrap_or(supervise)
    } else {
        supervise
    };
    let run = svc.join(layout::RUN);
    if run.exists() {
        run.display().to_string()
    } else {
        String::new()
    }
}

/// runit's liveness test: `ok` has a reader (`ENXIO`: none). Opening it is
/// for whoever may control the service: `Err` (access denied), as `sv`
/// says, when we may not.
fn supervisor_alive(dir: &Path) -> Result<bool> {
    let ok = dir.join(layout::OK);
    match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&ok)
    {
        Ok(_) => Ok(true),
        Err(e) if client::denied(e.raw_os_error()) => Err(Error::invalid(discover::access_denied(format!(
            "unable to open {}: {e}",
            ok.display()
        )))),
        Err(_) => Ok(false),
    }
}

/// A service's row; `detailed` (one service named): with the lines
/// under it (the sockets it holds, `listen:`).
fn row(v: &Value, detailed: bool) -> Row {
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let listen = v.get("listen").and_then(Value::as_array).filter(|_| detailed);
    let details = listen
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| format!("listen: {s}"))
        .collect();
    Row {
        name: text("name"),
        pid: v.get("pid").and_then(Value::as_i64).unwrap_or(0),
        up: text("up"),
        down: text("down"),
        cmd: text("cmd"),
        fpid: v.get("fpid").and_then(Value::as_bool).unwrap_or(false),
        waiting: v.get("status").and_then(Value::as_str).map(String::from),
        reason: v.get("reason").and_then(Value::as_str).map(String::from),
        error: v.get("error").and_then(Value::as_str).map(String::from),
        config_error: v.get("config_error").and_then(Value::as_str).map(String::from),
        live: live_notes(v),
        details,
        log_service: facts::log_note(v),
    }
}

/// What the row says of a running service: ` - stopping: TERM sent …`
/// during a stop (instead of ` - not ready`), else ` - not ready`; ` -
/// unhealthy: …`, and its sd_notify `STATUS=` text.
fn live_notes(v: &Value) -> Vec<String> {
    let mut notes = Vec::new();
    if v.get("state").and_then(Value::as_str) != Some("run") {
        return notes;
    }
    if let Some(stop) = facts::stop_note(v) {
        notes.push(stop);
    } else if v.get("ready").and_then(Value::as_bool) == Some(false) {
        notes.push("not ready".to_string());
    }
    if v.get("healthy").and_then(Value::as_bool) == Some(false) {
        let why = v.get("health").and_then(Value::as_str).unwrap_or("failed");
        notes.push(format!("unhealthy: {why}"));
    }
    if let Some(note) = v.get("note").and_then(Value::as_str) {
        notes.push(note.to_string());
    }
    notes
}

/// What a verb asks of one of our supervisors, through its socket.
fn socket_command(verb: Verb) -> Command {
    match verb {
        Verb::Up => Command::Up,
        Verb::Down => Command::Down,
        Verb::Once => Command::Once,
        Verb::Restart => Command::Restart,
        Verb::Halt => Command::Halt,
        // The Go tool's `exit`: the supervisor goes, the service stays.
        Verb::Exit => Command::Exit { stop_service: false },
    }
}

/// The same of runit's `runsv`, which has no restart or halt: `tcu` (TERM,
/// CONT, up) and `dx` (down, exit), as `sv` writes them.
fn fifo_commands(verb: Verb) -> &'static [Command] {
    match verb {
        Verb::Up => &[Command::Up],
        Verb::Down => &[Command::Down],
        Verb::Once => &[Command::Once],
        Verb::Restart => &[Command::Signal(Signal::SIGTERM), Command::Continue, Command::Up],
        Verb::Halt => &[Command::Down, Command::Exit { stop_service: true }],
        Verb::Exit => &[Command::Exit { stop_service: true }],
    }
}

/// The `/signal/WORD` that asks for `action` (`None`: nothing to send).
fn socket_word(action: &Action) -> Result<Option<&'static str>> {
    let cmd = match action {
        Action::Status | Action::History | Action::Events | Action::Wait { .. } | Action::Log { .. } => {
            return Ok(None)
        }
        Action::Verb(v) => socket_command(*v),
        Action::Signal(sig) => {
            control::from_word(sig).ok_or_else(|| Error::invalid(format!("{sig}: no such signal")))?
        }
    };
    control::to_word(cmd)
        .map(Some)
        .ok_or_else(|| Error::invalid(format!("{cmd:?}: no socket word for it")))
}

/// The bytes to write to a runit control FIFO for `action` (`None`: nothing
/// to send).
fn fifo_bytes(action: &Action) -> Result<Option<Vec<u8>>> {
    let commands = match action {
        Action::Status | Action::History | Action::Events | Action::Wait { .. } | Action::Log { .. } => {
            return Ok(None)
        }
        Action::Verb(v) => fifo_commands(*v).to_vec(),
        Action::Signal(sig) => match control::from_word(sig) {
            // runit's `p` sends STOP (and marks the service paused).
            Some(Command::Signal(Signal::SIGSTOP)) => vec![Command::Pause],
            Some(cmd) => vec![cmd],
            None => Vec::new(),
        },
    };
    let bytes: Option<Vec<u8>> = commands
        .iter()
        .map(|&cmd| control::to_byte(cmd).filter(|b| control::RUNIT_BYTES.contains(b)))
        .collect();
    match (bytes, action) {
        (Some(bytes), _) if !bytes.is_empty() => Ok(Some(bytes)),
        (_, Action::Signal(sig)) => Err(Error::invalid(format!(
            "{sig}: no runit control letter for this signal"
        ))),
        (_, _) => Err(Error::invalid(format!("{action:?}: no runit control letter for it"))),
    }
}

/// An action on its way: done (its error text, if any), or sent to a
/// supervisor's socket with the answer still to read.
enum Sent {
    Done(Option<String>),
    Asked(std::path::PathBuf, client::Pending),
    /// Found by [`discover::all_unchecked`], and stale: no service.
    Stale,
}

impl Sent {
    /// The error text, if any (the answer read, if there is one to read).
    fn outcome(self) -> Option<String> {
        match self {
            Sent::Done(error) => error,
            Sent::Stale => None,
            Sent::Asked(sock, pending) => match pending.answer() {
                Ok((_, body)) => {
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    v.get("Err")
                        .and_then(Value::as_str)
                        .filter(|e| !e.is_empty())
                        .map(String::from)
                }
                Err(e) => Some(unanswered(&sock, e)),
            },
        }
    }
}

/// Why a supervisor's socket did not answer, for the operator.
fn unanswered(sock: &std::path::Path, e: Error) -> String {
    // Not let in: the supervisor may well run (never advise starting a
    // second one).
    if client::denied(e.raw_os_error()) {
        return discover::access_denied(e);
    }
    match sock.parent().and_then(crate::supervise::adopt::survivor) {
        Some(s) => orphaned(s.pid.as_raw()),
        None => e.to_string(),
    }
}

/// Send the action without waiting for a supervisor's answer. `unchecked`:
/// `f` was found without a look at whether anyone answers
/// ([`discover::all_unchecked`]).
fn send(f: &Found, action: &Action, unchecked: bool) -> Sent {
    match &f.channel {
        Channel::Orphan { pid, .. } => Sent::Done(match action {
            Action::Status | Action::History | Action::Events | Action::Wait { .. } | Action::Log { .. } => None,
            _ => Some(orphaned(*pid)),
        }),
        Channel::Denied(why) => Sent::Done(match action {
            Action::Status | Action::History | Action::Events | Action::Wait { .. } | Action::Log { .. } => None,
            _ => Some(why.clone()),
        }),
        Channel::Socket(sock) => {
            let word = match socket_word(action) {
                Ok(Some(word)) => word,
                Ok(None) => return Sent::Done(None),
                Err(e) => return Sent::Done(Some(e.to_string())),
            };
            match client::send(sock, &format!("/signal/{word}")) {
                Ok(pending) => Sent::Asked(sock.clone(), pending),
                // Nobody listens (refused), or the socket is gone.
                Err(e)
                    if unchecked
                        && matches!(e.raw_os_error(), Some(libc::ECONNREFUSED | libc::ENOENT))
                        && sock.parent().is_some_and(discover::stale) =>
                {
                    Sent::Stale
                }
                Err(e) => Sent::Done(Some(unanswered(sock, e))),
            }
        }
        Channel::Fifo(dir) => {
            let bytes = match fifo_bytes(action) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Sent::Done(None),
                Err(e) => return Sent::Done(Some(e.to_string())),
            };
            let path = dir.join(layout::CONTROL);
            let written = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .and_then(|mut f| f.write_all(&bytes));
            Sent::Done(match written {
                Ok(()) => None,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Some("supervisor not running".into()),
                Err(e) if client::denied(e.raw_os_error()) => Some(discover::access_denied(format!(
                    "unable to write {}: {e}",
                    path.display()
                ))),
                Err(e) => Some(format!("unable to write {}: {e}", path.display())),
            })
        }
    }
}

/// Without `-w`, how long a verb waits for its effect before printing the
/// table anyway.
const SETTLE: Duration = Duration::from_secs(2);

/// Whether `v` (a status after the action) shows what the verb wanted.
fn reached(verb: Verb, before: Option<&Value>, v: &Value) -> bool {
    let state = v.get("state").and_then(Value::as_str).unwrap_or("");
    let pid = v.get("pid").and_then(Value::as_i64).unwrap_or(0);
    let old_pid = before.and_then(|b| b.get("pid")).and_then(Value::as_i64).unwrap_or(0);
    match verb {
        // Up means ready (no `ready` field: a runit supervisor, or an older
        // one: running is ready).
        Verb::Up | Verb::Once => {
            let ran = (state == "run" && pid > 0) || state == "done";
            ran && v.get("ready").and_then(Value::as_bool) != Some(false)
        }
        Verb::Down => state == "down",
        Verb::Restart => state == "run" && pid > 0 && pid != old_pid,
        Verb::Halt | Verb::Exit => true,
    }
}

fn colour_wanted(req: &Request) -> bool {
    let tty = std::io::stdout().is_terminal();
    req.color && tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The services `immortalsvc` runs no supervisor for — waiting for a
/// requirement, or a `NAME.yml` that does not validate — each as a status
/// with its `reason`, asked of its socket (none without an immortalsvc).
fn not_started() -> Vec<Value> {
    let sock = watch::immortalsvc_socket();
    if !sock.exists() {
        return Vec::new();
    }
    match client::get(&sock, layout::IMMORTALSVC_WAITING) {
        Ok((200, body)) => serde_json::from_str(&body).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Run a parsed request; returns the exit status.
pub fn run(req: &Request) -> i32 {
    // A verb or a signal for every service is sent to each socket found,
    // without a connection first to see whether it answers: its request
    // tells.
    let unchecked = req.target.as_deref() == Some("*") && matches!(req.action, Action::Verb(_) | Action::Signal(_));
    let services = match req.target.as_deref() {
        _ if unchecked => discover::all_unchecked(),
        None | Some("*") => discover::all(),
        Some(t) => match discover::one(t) {
            Some(f) => vec![f],
            None => {
                // No supervisor: immortalsvc may say why.
                if let Some(v) = not_started().into_iter().find(|v| v["name"] == t) {
                    if req.action == Action::Status {
                        return show(req, &[v]);
                    }
                    let why = v["reason"].as_str().unwrap_or("not started");
                    let _ = writeln!(std::io::stderr(), "immortalctl: {t}: no supervisor yet: {why}");
                    return 1;
                }
                let _ = writeln!(std::io::stderr(), "immortalctl: no such service: {t}");
                return 1;
            }
        },
    };
    match req.action {
        Action::History => return history::show(&services, req.json),
        Action::Events => {
            let merged = (req.target.as_deref() == Some("*")).then(watch::immortalsvc_socket);
            return watch::events(&services, merged.as_deref(), req.json);
        }
        Action::Wait { until, timeout } => return watch::wait(&services[0], until, timeout),
        Action::Log { follow, lines } => return log::show(&services, follow, lines),
        _ => {}
    }
    let mut code = 0;
    // Send every supervisor the action, then ask every one for its
    // changes, before reading any answer; then wait for all of them: the
    // supervisors work at once, and `down '*'` takes as long as the slowest
    // stop, not the sum. The actions go first: no supervisor waits for the
    // others' subscriptions to be asked before it acts.
    let mut sent = Vec::new();
    for f in &services {
        // The state before the action matters to `restart` (a new pid).
        let before = match req.action {
            Action::Verb(Verb::Restart) => fetch(f).ok().flatten(),
            _ => None,
        };
        sent.push((f, before, send(f, &req.action, unchecked)));
    }
    let waits = matches!(req.action, Action::Verb(v) if !matches!(v, Verb::Halt | Verb::Exit));
    let sent: Vec<_> = sent
        .into_iter()
        .filter(|(_, _, action)| !matches!(action, Sent::Stale))
        .map(|(f, before, action)| (f, before, waits.then(|| watch::Changes::ask(f)), action))
        .collect();
    let mut acted = Vec::new();
    for (f, before, watching, action) in sent {
        // Subscribed before the first look below: a change after it is
        // told; one before it, seen by that look.
        let changes = watching.map(watch::Asked::established);
        let error = action.outcome();
        if error.is_some() {
            code = 1;
        }
        acted.push((f, before, error, changes));
    }
    // The table shows the state the verb led to: wait for it (up to SETTLE
    // without -w; with -w, its timeout is an error).
    let limit = req.wait.map_or(SETTLE, Duration::from_secs);
    let deadline = crate::supervise::state::later(Instant::now(), limit);
    let mut shown = Vec::new();
    for (f, before, error, changes) in acted {
        let mut now = fetch(f);
        if let (Action::Verb(verb), None, Some(mut changes)) = (&req.action, &error, changes) {
            // Until reached, or until it cannot be known (access denied).
            while matches!(&now, Ok(v) if !v.as_ref().is_some_and(|v| reached(*verb, before.as_ref(), v))) {
                if Instant::now() >= deadline {
                    if let Some(secs) = req.wait {
                        let _ = writeln!(
                            std::io::stderr(),
                            "immortalctl: timeout: {} did not reach the wanted state in {secs}s",
                            f.name
                        );
                        code = 1;
                    }
                    break;
                }
                changes.next(Some(deadline));
                now = fetch(f);
            }
        }
        match now {
            Ok(Some(mut v)) => {
                if let Some(e) = error {
                    v["error"] = json!(e);
                }
                shown.push(v);
            }
            // We may not see it (nor, usually, act on it: then the action
            // said the same, once is enough). Not a row: nothing is known.
            Err(why) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "immortalctl: {}: {}",
                    f.name,
                    error.unwrap_or_else(|| why.to_string())
                );
                code = 1;
            }
            // A supervisor that exited (halt, exit) has no status to show.
            Ok(None) => {
                if let Some(e) = error {
                    let _ = writeln!(std::io::stderr(), "immortalctl: {}: {e}", f.name);
                } else if req.target.as_deref().is_some_and(|t| t != "*")
                    && !matches!(req.action, Action::Verb(Verb::Halt | Verb::Exit))
                {
                    let _ = writeln!(
                        std::io::stderr(),
                        "immortalctl: {}: not running (its supervisor is gone)",
                        f.name
                    );
                    code = 1;
                }
            }
        }
    }
    if matches!(req.target.as_deref(), None | Some("*")) && req.action == Action::Status {
        // What immortalsvc has not started, in its place by name.
        for v in not_started() {
            if shown.iter().any(|s| s["name"] == v["name"]) {
                continue;
            }
            let name = v["name"].as_str().unwrap_or("");
            let at = shown
                .iter()
                .position(|s| s["name"].as_str().is_some_and(|n| n > name))
                .unwrap_or(shown.len());
            shown.insert(at, v);
        }
    }
    show(req, &shown);
    code
}

/// Print the statuses as the table (or `--json`); 0.
fn show(req: &Request, shown: &[Value]) -> i32 {
    let out = if req.json {
        serde_json::to_string_pretty(shown).unwrap_or_default() + "\n"
    } else {
        let detailed = req.target.as_deref().is_some_and(|t| t != "*");
        let rows: Vec<Row> = shown.iter().map(|v| row(v, detailed)).collect();
        table::render(&rows, colour_wanted(req))
    };
    crate::cli::print(&out);
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What immortalctl writes for each verb and signal flag, on each
    /// channel: the bytes and words `sv` and the Go immortalctl send.
    #[test]
    fn what_each_action_sends() {
        let verbs = [
            (Verb::Up, "up", "u"),
            (Verb::Down, "down", "d"),
            (Verb::Once, "once", "o"),
            (Verb::Restart, "restart", "tcu"),
            (Verb::Halt, "halt", "dx"),
            (Verb::Exit, "exit", "x"),
        ];
        for (verb, word, bytes) in verbs {
            let action = Action::Verb(verb);
            assert_eq!(socket_word(&action).ok(), Some(Some(word)), "{verb:?}");
            assert_eq!(
                fifo_bytes(&action).ok(),
                Some(Some(bytes.as_bytes().to_vec())),
                "{verb:?}"
            );
        }
        let signals = [
            ("USR1", Some("1")),
            ("USR2", Some("2")),
            ("ALRM", Some("a")),
            ("CONT", Some("c")),
            ("HUP", Some("h")),
            ("INT", Some("i")),
            ("KILL", Some("k")),
            ("QUIT", Some("q")),
            ("TERM", Some("t")),
            ("STOP", Some("p")),
            ("TTIN", None),
            ("TTOU", None),
            ("WINCH", None),
        ];
        for (sig, bytes) in signals {
            let action = Action::Signal(sig);
            assert_eq!(socket_word(&action).ok(), Some(Some(sig)), "{sig}");
            match bytes {
                Some(b) => assert_eq!(fifo_bytes(&action).ok(), Some(Some(b.as_bytes().to_vec())), "{sig}"),
                None => assert_eq!(
                    fifo_bytes(&action).map_err(|e| e.to_string()),
                    Err(format!("{sig}: no runit control letter for this signal"))
                ),
            }
        }
        assert_eq!(socket_word(&Action::Status).ok(), Some(None));
        assert_eq!(fifo_bytes(&Action::Status).ok(), Some(None));
    }
}
