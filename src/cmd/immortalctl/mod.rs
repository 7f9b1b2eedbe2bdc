//! `immortalctl`: status and control of every service — ours through the
//! JSON socket, runit's and daemontools' through `supervise/control` and
//! `supervise/status`.

pub mod args;
pub mod discover;
pub mod table;

use crate::api;
use crate::client;
use crate::layout;
use crate::status::{self, RunState, Wanted};
use args::{Action, Request, Verb};
use discover::{Channel, Found};
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use table::Row;

/// One service's state, from either channel, in the API's shape.
fn fetch(f: &Found) -> Option<Value> {
    match &f.channel {
        Channel::Socket(sock) => {
            let Ok(mut v) = client::status(sock) else {
                // Nobody answers: an orphaned service, or nothing at all.
                let dir = sock.parent()?;
                return match discover::live_or_orphan(dir)? {
                    orphan @ Channel::Orphan { .. } => fetch(&Found {
                        name: f.name.clone(),
                        channel: orphan,
                    }),
                    _ => None,
                };
            };
            v["name"] = json!(f.name);
            if let Some(e) = sock.parent().and_then(table::config_error) {
                v["config_error"] = json!(e);
            }
            Some(v)
        }
        Channel::Fifo(dir) => {
            let st = status::read(dir).ok()?;
            let age = api::since(SystemTime::now().duration_since(st.since).unwrap_or(Duration::ZERO));
            let alive = supervisor_alive(dir);
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
            Some(v)
        }
        Channel::Orphan { pid, uptime } => Some(json!({
            "name": f.name,
            "pid": pid,
            "state": "run",
            "up": api::since(*uptime),
            "cmd": command_line(*pid),
            "error": format!("orphaned: pid {pid}, supervisor gone"),
        })),
    }
}

/// Why a command cannot reach an orphaned service.
fn orphaned(pid: i32) -> String {
    format!("supervisor gone (pid {pid} still runs): start a supervisor on it to adopt it")
}

/// A running process's command line, as the CMD column shows it.
fn command_line(pid: i32) -> String {
    let raw = crate::sys::fs::read_regular(Path::new(&format!("/proc/{pid}/cmdline")), 64 * 1024, false);
    let raw = raw.unwrap_or_default();
    let words: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    words.join(" ")
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

/// runit's liveness test: `ok` has a reader.
fn supervisor_alive(dir: &Path) -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join(layout::OK))
        .is_ok()
}

fn row(v: &Value) -> Row {
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
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
    }
}

/// Send the action; returns the error text, if any.
fn act(f: &Found, action: &Action) -> Option<String> {
    match &f.channel {
        Channel::Orphan { pid, .. } => match action {
            Action::Status => None,
            _ => Some(orphaned(*pid)),
        },
        Channel::Socket(sock) => {
            let word = match action {
                Action::Status => return None,
                Action::Signal(sig) => sig,
                Action::Verb(v) => match v {
                    Verb::Up => "up",
                    Verb::Down => "down",
                    Verb::Once => "once",
                    Verb::Restart => "restart",
                    Verb::Halt => "halt",
                    Verb::Exit => "exit",
                },
            };
            match client::get(sock, &format!("/signal/{word}")) {
                Ok((_, body)) => {
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    v.get("Err")
                        .and_then(Value::as_str)
                        .filter(|e| !e.is_empty())
                        .map(String::from)
                }
                Err(e) => Some(match sock.parent().and_then(crate::supervise::adopt::survivor) {
                    Some(s) => orphaned(s.pid.as_raw()),
                    None => e.to_string(),
                }),
            }
        }
        Channel::Fifo(dir) => {
            let bytes = match action {
                Action::Status => return None,
                Action::Verb(v) => match v {
                    Verb::Up => "u",
                    Verb::Down => "d",
                    Verb::Once => "o",
                    Verb::Restart => "tcu",
                    Verb::Halt => "dx",
                    Verb::Exit => "x",
                },
                Action::Signal(sig) => match *sig {
                    "USR1" => "1",
                    "USR2" => "2",
                    "ALRM" => "a",
                    "CONT" => "c",
                    "HUP" => "h",
                    "INT" => "i",
                    "KILL" => "k",
                    "QUIT" => "q",
                    "TERM" => "t",
                    "STOP" => "p",
                    other => return Some(format!("{other}: no runit control letter for this signal")),
                },
            };
            let path = dir.join(layout::CONTROL);
            let written = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .and_then(|mut f| f.write_all(bytes.as_bytes()));
            match written {
                Ok(()) => None,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Some("supervisor not running".into()),
                Err(e) => Some(format!("unable to write {}: {e}", path.display())),
            }
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
        Verb::Up | Verb::Once => state == "run" && pid > 0,
        Verb::Down => state == "down",
        Verb::Restart => state == "run" && pid > 0 && pid != old_pid,
        Verb::Halt | Verb::Exit => true,
    }
}

fn colour_wanted(req: &Request) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    let tty = unsafe { libc::isatty(1) } == 1;
    req.color && tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Run a parsed request; returns the exit status.
pub fn run(req: &Request) -> i32 {
    let services = match req.target.as_deref() {
        None | Some("*") => discover::all(),
        Some(t) => match discover::one(t) {
            Some(f) => vec![f],
            None => {
                let _ = writeln!(std::io::stderr(), "immortalctl: no such service: {t}");
                return 1;
            }
        },
    };
    let mut code = 0;
    // Act on every service first, then wait for all of them: `down '*'`
    // takes as long as the slowest stop, not the sum.
    let mut acted = Vec::new();
    for f in &services {
        // The state before the action matters to `restart` (a new pid).
        let before = match req.action {
            Action::Verb(Verb::Restart) => fetch(f),
            _ => None,
        };
        let error = act(f, &req.action);
        if error.is_some() {
            code = 1;
        }
        acted.push((f, before, error));
    }
    // The table shows the state the verb led to: wait for it (up to SETTLE
    // without -w; with -w, its timeout is an error).
    let limit = req.wait.map_or(SETTLE, Duration::from_secs);
    let deadline = crate::supervise::state::later(Instant::now(), limit);
    let mut shown = Vec::new();
    for (f, before, error) in acted {
        let mut now = fetch(f);
        let mut pause = Duration::from_millis(2);
        if let (Action::Verb(verb), None) = (&req.action, &error) {
            while !now.as_ref().is_some_and(|v| reached(*verb, before.as_ref(), v)) {
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
                // Most effects arrive within milliseconds: look again soon,
                // then less often.
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
                now = fetch(f);
            }
        }
        // A supervisor that exited (halt, exit) has no status to show.
        if let Some(mut v) = now {
            if let Some(e) = error {
                v["error"] = json!(e);
            }
            shown.push(v);
        } else if let Some(e) = error {
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
    let out = if req.json {
        serde_json::to_string_pretty(&shown).unwrap_or_default() + "\n"
    } else {
        let rows: Vec<Row> = shown.iter().map(row).collect();
        table::render(&rows, colour_wanted(req))
    };
    crate::cli::print(&out);
    code
}
