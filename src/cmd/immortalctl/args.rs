//! `immortalctl`'s command line, Go-compatible: a verb and a target
//! (`immortalctl halt web`, `immortalctl '*'`), or one signal flag and a
//! target (`immortalctl -2 web`), in any order; `-A` (no colour), `--json`,
//! `-w SECONDS` (wait; before a verb) and `-v`; `log NAME [-f] [-n N]`.
//!
//! `-h` is HUP and `-w` WINCH, as in the Go tool; `-help` prints usage. A
//! `-w` followed by a number and a verb is a wait instead.

use crate::control::Command;
use crate::error::{Error, Result};

/// What to do to the selected services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Status,
    /// The last exits (`GET /history`).
    History,
    /// The last `lines` lines of the `log:` file set; with `follow`, then
    /// every new line, across rotations (`tail -F`).
    Log {
        follow: bool,
        lines: usize,
    },
    /// A verb: start up stop down once restart halt exit.
    Verb(Verb),
    /// A signal by the Go tool's name (`HUP`, `USR1`, `TTIN`…).
    Signal(&'static str),
    /// Follow `GET /events`.
    Events,
    /// Wait until the state is reached (at most this long).
    Wait {
        until: Until,
        timeout: Option<std::time::Duration>,
    },
}

/// What `wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    Up,
    Ready,
    Down,
}

impl Until {
    pub fn word(self) -> &'static str {
        match self {
            Until::Up => "up",
            Until::Ready => "ready",
            Until::Down => "down",
        }
    }
}

/// `wait [-t SECONDS] up|ready|down NAME` (options may also come first:
/// `-A`, `--json` are accepted and ignored).
fn parse_wait(args: &[String]) -> Result<Parsed> {
    let (mut until, mut timeout, mut target) = (None, None, None);
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        match arg {
            "-t" => {
                let secs = args
                    .get(i)
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| Error::invalid("wait: -t needs a number of seconds"))?;
                timeout = Some(std::time::Duration::from_secs_f64(secs.min(1e9)));
                i += 1;
            }
            "-A" | "--json" | "-json" => {}
            "up" | "ready" | "down" if until.is_none() => {
                until = Some(match arg {
                    "up" => Until::Up,
                    "ready" => Until::Ready,
                    _ => Until::Down,
                });
            }
            _ if arg.starts_with('-') => return Err(Error::invalid(format!("wait: unknown option: {arg}"))),
            _ if until.is_none() => return Err(Error::invalid(format!("wait: up, ready or down, not '{arg}'"))),
            _ if target.is_none() => target = Some(arg.to_string()),
            _ => return Err(Error::invalid(format!("unexpected argument: {arg}"))),
        }
    }
    let until = until.ok_or_else(|| Error::invalid("wait: up, ready or down, then a NAME"))?;
    let target = target.ok_or_else(|| Error::invalid("missing service: give a NAME or a PATH"))?;
    if target == "*" {
        return Err(Error::invalid("wait: one service at a time"));
    }
    Ok(Parsed::Run(Request {
        action: Action::Wait { until, timeout },
        target: Some(target),
        color: false,
        json: false,
        wait: None,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Up,
    Down,
    Once,
    Restart,
    Halt,
    Exit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub action: Action,
    /// A name, a path, or `*`; `None`: every service (status only).
    pub target: Option<String>,
    pub color: bool,
    pub json: bool,
    pub wait: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Request),
    Help,
    Version,
}

/// The signal flags (`-1`, `-in`…), the Go tool's: each is the socket's
/// short word for its signal (see [`crate::control`]), whose written word
/// is the name the action carries (`-1` → `USR1`, `-c` → `CONT`).
/// `log` without `-n`: tail's default.
pub const DEFAULT_LINES: usize = 10;

const SIGNAL_FLAGS: &[&str] = &["1", "2", "a", "c", "h", "i", "in", "k", "ou", "q", "s", "t", "w"];

/// The signal name a flag asks for.
fn signal_flag(flag: &str) -> Option<&'static str> {
    if !SIGNAL_FLAGS.contains(&flag) {
        return None;
    }
    match crate::control::from_word(flag)? {
        cmd @ (Command::Signal(_) | Command::Continue) => crate::control::to_word(cmd),
        _ => None,
    }
}

/// immortalctl's verbs. Not the socket's words: the verb `stop` is Down,
/// the socket's `stop` is SIGSTOP (see [`crate::control`]).
fn verb(word: &str) -> Option<Action> {
    Some(match word {
        "status" => Action::Status,
        "history" => Action::History,
        "events" => Action::Events,
        "log" => Action::Log {
            follow: false,
            lines: DEFAULT_LINES,
        },
        "start" | "up" => Action::Verb(Verb::Up),
        "stop" | "down" => Action::Verb(Verb::Down),
        "once" => Action::Verb(Verb::Once),
        "restart" => Action::Verb(Verb::Restart),
        "halt" => Action::Verb(Verb::Halt),
        "exit" => Action::Verb(Verb::Exit),
        _ => return None,
    })
}

pub fn parse(args: &[String]) -> Result<Parsed> {
    let mut action: Option<Action> = None;
    let mut target: Option<String> = None;
    let (mut color, mut json, mut wait) = (true, false, None);
    // `log`'s options, wherever they come.
    let (mut follow, mut lines) = (false, None);
    let set_action = |a: Action, action: &mut Option<Action>| {
        if action.replace(a).is_some() {
            Err(Error::invalid("give one verb or one signal flag"))
        } else {
            Ok(())
        }
    };
    if args == ["-h"] {
        // `-h NAME` is HUP (the Go tool's); `-h` alone asks for help.
        return Ok(Parsed::Help);
    }
    // `wait` has options of its own (`-t` is not TERM there).
    if let Some(at) = args.iter().position(|a| a == "wait") {
        if args[..at].iter().all(|a| a.starts_with('-')) {
            let mut rest = args[..at].to_vec();
            rest.extend_from_slice(&args[at + 1..]);
            return parse_wait(&rest);
        }
    }
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        if arg == "--" {
            continue;
        }
        let flag = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'));
        match flag {
            Some("A") => color = false,
            Some("json") => json = true,
            Some("v") | Some("version") => return Ok(Parsed::Version),
            Some("help") => return Ok(Parsed::Help),
            Some("f") | Some("follow") => follow = true,
            Some("n") => {
                let n = args.get(i).and_then(|n| n.parse().ok());
                lines = Some(n.ok_or_else(|| Error::invalid("-n needs a number of lines"))?);
                i += 1;
            }
            Some(n) if n.strip_prefix('n').is_some_and(|n| n.parse::<usize>().is_ok()) => {
                lines = n[1..].parse().ok();
            }
            Some("w")
                if args.get(i).is_some_and(|n| n.parse::<u64>().is_ok())
                    && args.get(i + 1).and_then(|v| verb(v)).is_some() =>
            {
                wait = args[i].parse().ok();
                i += 1;
            }
            Some(name) if !name.is_empty() => match signal_flag(name) {
                Some(sig) => set_action(Action::Signal(sig), &mut action)?,
                None => return Err(Error::invalid(format!("unknown option: {arg}"))),
            },
            _ => match (verb(arg), action.is_none() && target.is_none()) {
                // A verb comes before the target ("status" may also be a
                // service's name when it comes second).
                (Some(a), true) => set_action(a, &mut action)?,
                _ => {
                    if target.replace(arg.to_string()).is_some() {
                        return Err(Error::invalid(format!("unexpected argument: {arg}")));
                    }
                }
            },
        }
    }
    let action = match action.unwrap_or(Action::Status) {
        Action::Log { .. } => {
            if target.as_deref() == Some("*") {
                return Err(Error::invalid("log takes one service: a NAME or a PATH"));
            }
            Action::Log {
                follow,
                lines: lines.unwrap_or(DEFAULT_LINES),
            }
        }
        _ if follow || lines.is_some() => return Err(Error::invalid("-f and -n N go with log")),
        other => other,
    };
    if action != Action::Status && target.is_none() {
        return Err(Error::invalid("missing service: give a NAME, a PATH or '*'"));
    }
    if wait.is_some() && !matches!(action, Action::Verb(Verb::Up | Verb::Down | Verb::Restart | Verb::Once)) {
        return Err(Error::invalid("-w SECONDS goes with start, stop, restart or once"));
    }
    Ok(Parsed::Run(Request {
        action,
        target,
        color,
        json,
        wait,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Parsed> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn req(args: &[&str]) -> Request {
        match p(args) {
            Ok(Parsed::Run(r)) => r,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn verbs_and_targets() {
        assert_eq!(req(&[]).action, Action::Status);
        assert_eq!(req(&[]).target, None);
        assert_eq!(req(&["status"]).target, None);
        assert_eq!(req(&["status", "web"]).target.as_deref(), Some("web"));
        let r = req(&["halt", "*"]);
        assert_eq!((r.action, r.target.as_deref()), (Action::Verb(Verb::Halt), Some("*")));
        assert_eq!(req(&["stop", "web"]).action, Action::Verb(Verb::Down));
        assert_eq!(req(&["start", "web"]).action, Action::Verb(Verb::Up));
        assert_eq!(req(&["up", "web"]).action, Action::Verb(Verb::Up));
        assert_eq!(req(&["down", "/x/y"]).target.as_deref(), Some("/x/y"));
        assert_eq!(req(&["web"]).action, Action::Status);
        assert_eq!(req(&["web"]).target.as_deref(), Some("web"));
    }

    /// The Go tool's flags and the signals they send.
    const SIGNAL_FLAG_NAMES: &[(&str, &str)] = &[
        ("1", "USR1"),
        ("2", "USR2"),
        ("a", "ALRM"),
        ("c", "CONT"),
        ("h", "HUP"),
        ("i", "INT"),
        ("in", "TTIN"),
        ("k", "KILL"),
        ("ou", "TTOU"),
        ("q", "QUIT"),
        ("s", "STOP"),
        ("t", "TERM"),
        ("w", "WINCH"),
    ];

    #[test]
    fn signal_flags_in_any_order() {
        assert_eq!(SIGNAL_FLAGS.len(), SIGNAL_FLAG_NAMES.len());
        for (flag, sig) in SIGNAL_FLAG_NAMES {
            let r = req(&[&format!("-{flag}"), "web"]);
            assert_eq!((r.action, r.target.as_deref()), (Action::Signal(sig), Some("web")));
            let r = req(&["web", &format!("-{flag}")]);
            assert_eq!(r.action, Action::Signal(sig));
        }
    }

    #[test]
    fn options() {
        let r = req(&["-A", "--json"]);
        assert!(!r.color && r.json);
        let r = req(&["-w", "5", "start", "web"]);
        assert_eq!((r.wait, r.action), (Some(5), Action::Verb(Verb::Up)));
        // -w without a number and a verb is WINCH.
        assert_eq!(req(&["-w", "web"]).action, Action::Signal("WINCH"));
        assert_eq!(p(&["-v"]).ok(), Some(Parsed::Version));
        assert_eq!(p(&["-help"]).ok(), Some(Parsed::Help));
        assert_eq!(p(&["-h"]).ok(), Some(Parsed::Help));
        assert_eq!(req(&["-h", "web"]).action, Action::Signal("HUP"));
    }

    #[test]
    fn wait_and_events() {
        let r = req(&["wait", "-t", "2.5", "ready", "web"]);
        let t = Some(std::time::Duration::from_millis(2500));
        assert_eq!(
            r.action,
            Action::Wait {
                until: Until::Ready,
                timeout: t
            }
        );
        assert_eq!(r.target.as_deref(), Some("web"));
        let r = req(&["wait", "down", "/x/y"]);
        assert_eq!(
            r.action,
            Action::Wait {
                until: Until::Down,
                timeout: None
            }
        );
        assert_eq!(
            req(&["wait", "up", "web", "-t", "1"]).action,
            Action::Wait {
                until: Until::Up,
                timeout: Some(std::time::Duration::from_secs(1))
            }
        );
        assert!(p(&["wait", "web"])
            .unwrap_err()
            .to_string()
            .contains("up, ready or down"));
        assert!(p(&["wait", "up"]).unwrap_err().to_string().contains("missing service"));
        assert!(p(&["wait", "-t", "x", "up", "web"])
            .unwrap_err()
            .to_string()
            .contains("-t needs"));
        assert!(p(&["wait", "up", "*"]).unwrap_err().to_string().contains("one service"));
        // A service named `wait`: its status.
        assert_eq!(req(&["status", "wait"]).target.as_deref(), Some("wait"));
        let r = req(&["events", "*"]);
        assert_eq!((r.action, r.target.as_deref()), (Action::Events, Some("*")));
        assert!(p(&["events"]).unwrap_err().to_string().contains("missing service"));
    }

    #[test]
    fn usage_errors() {
        assert!(p(&["halt"]).unwrap_err().to_string().contains("missing service"));
        assert!(p(&["-x", "web"])
            .unwrap_err()
            .to_string()
            .contains("unknown option: -x"));
        assert!(p(&["-1", "-2", "web"])
            .unwrap_err()
            .to_string()
            .contains("one verb or one signal"));
        assert!(p(&["stop", "a", "b"])
            .unwrap_err()
            .to_string()
            .contains("unexpected argument: b"));
        assert!(p(&["-w", "3", "halt", "web"])
            .unwrap_err()
            .to_string()
            .contains("-w SECONDS"));
    }

    #[test]
    fn log_lines_and_follow() {
        let log = |follow, lines| Action::Log { follow, lines };
        let r = req(&["log", "web"]);
        assert_eq!((r.action, r.target.as_deref()), (log(false, 10), Some("web")));
        assert_eq!(req(&["log", "web", "-f"]).action, log(true, 10));
        assert_eq!(req(&["log", "-f", "web"]).action, log(true, 10));
        assert_eq!(req(&["log", "web", "-n", "3"]).action, log(false, 3));
        assert_eq!(req(&["log", "-n3", "-f", "/x/web"]).action, log(true, 3));
        assert_eq!(req(&["log", "web", "--follow", "-n", "0"]).action, log(true, 0));
        assert_eq!(req(&["-f", "log", "web"]).action, log(true, 10));
        // A service may be called `log`.
        assert_eq!(req(&["log", "log"]).target.as_deref(), Some("log"));
        assert_eq!(req(&["status", "log"]).action, Action::Status);
    }

    #[test]
    fn log_usage_errors() {
        assert!(p(&["log"]).unwrap_err().to_string().contains("missing service"));
        assert!(p(&["log", "-f"]).unwrap_err().to_string().contains("missing service"));
        assert!(p(&["log", "web", "-n"])
            .unwrap_err()
            .to_string()
            .contains("-n needs a number"));
        assert!(p(&["log", "web", "-n", "x"])
            .unwrap_err()
            .to_string()
            .contains("-n needs a number"));
        assert!(p(&["log", "web", "-n", "-3"])
            .unwrap_err()
            .to_string()
            .contains("-n needs a number"));
        assert!(p(&["log", "*"]).unwrap_err().to_string().contains("one service"));
        assert!(p(&["stop", "web", "-f"])
            .unwrap_err()
            .to_string()
            .contains("go with log"));
        assert!(p(&["web", "-n", "3"]).unwrap_err().to_string().contains("go with log"));
        assert!(p(&["log", "a", "b"])
            .unwrap_err()
            .to_string()
            .contains("unexpected argument: b"));
    }
}
