//! What a step of the state table changed, as the events `GET /events`
//! streams: a pure comparison of the state before and after one
//! [`super::state::State::step`], so every event is a transition of the
//! table and none is invented by the loop (the loop adds only `signal`,
//! the [`super::state::Action::Kill`] it carries out).
//!
//! | event     | when                                                    |
//! |-----------|---------------------------------------------------------|
//! | `start`   | a new process of the command was started                |
//! | `up`      | the service is running (started, adopted, followed)     |
//! | `ready`   | it became ready                                         |
//! | `health`  | a health probe's verdict changed                        |
//! | `exit`    | its main process ended (or could not start)             |
//! | `restart` | a start is scheduled, after the throttle or the backoff |
//! | `down`    | it is down: the whole process group gone                |
//! | `failed`  | down for good (breaker, retries, `finish` exiting 125)  |
//!
//! A `logger:` or runit `log/` unit's changes are one `logger` event each,
//! with the inner event as `what`.

use super::state::{ExitHow, Phase, Role, State};
use crate::status::RunState;
use nix::unistd::Pid;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Start {
        pid: Pid,
    },
    Up {
        pid: Option<Pid>,
    },
    Ready {
        pid: Option<Pid>,
        after: Option<Duration>,
    },
    Health {
        healthy: bool,
        output: Option<String>,
    },
    Exit {
        pid: Option<Pid>,
        how: ExitHow,
        uptime: Duration,
        reason: String,
    },
    Restart {
        after: Duration,
        backoff: Option<Duration>,
    },
    Down {
        pid: Option<Pid>,
    },
    Failed {
        reason: Option<String>,
    },
}

/// The changes from `before` to `after`, in the order they happened.
pub fn between(before: &State, after: &State, now: Instant) -> Vec<Change> {
    let mut out = Vec::new();
    if after.remembered > before.remembered {
        if let Some(e) = after.history.front() {
            out.push(Change::Exit {
                pid: e.pid,
                how: e.how,
                uptime: e.uptime,
                reason: e.reason.clone(),
            });
        }
    }
    let (was, is) = (before.visible(), after.visible());
    if is == RunState::Down && was != RunState::Down {
        out.push(Change::Down {
            pid: before.main_pid().or(after.last_pid),
        });
    }
    // A start that failed counts too, but started nothing: its exit
    // (pid 0, `exec failed`) is the event.
    if after.count > before.count && after.last_pid != before.last_pid && after.spawn_error.is_none() {
        if let Some(pid) = after.last_pid {
            out.push(Change::Start { pid });
        }
    }
    if is == RunState::Run && was != RunState::Run {
        out.push(Change::Up { pid: after.main_pid() });
    }
    if after.is_ready() && !before.is_ready() {
        out.push(Change::Ready {
            pid: after.main_pid(),
            after: after.ready_in(),
        });
    }
    // A verdict that changed, within one run (a new start forgets the
    // last run's verdict: that is no probe passing).
    if after.health_text.is_none() != before.health_text.is_none() && after.count == before.count {
        out.push(Change::Health {
            healthy: after.health_text.is_none(),
            output: after.health_text.clone(),
        });
    }
    match (before.phase, after.phase) {
        (Phase::Waiting { .. }, Phase::Waiting { .. }) => {}
        (_, Phase::Waiting { at }) => out.push(Change::Restart {
            after: at.saturating_duration_since(now),
            backoff: after.backoff,
        }),
        (Phase::Failed { .. }, Phase::Failed { .. }) => {}
        (_, Phase::Failed { .. }) => out.push(Change::Failed {
            reason: after.reason(now),
        }),
        _ => {}
    }
    out
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn pid_of(p: Option<Pid>) -> i32 {
    p.map_or(0, |p| p.as_raw())
}

/// The event's name and fields, without `time` and `service`.
pub fn fields(change: &Change) -> (&'static str, Value) {
    match change {
        Change::Start { pid } => ("start", json!({ "pid": pid.as_raw() })),
        Change::Up { pid } => ("up", json!({ "pid": pid_of(*pid) })),
        Change::Ready { pid, after } => ("ready", json!({ "pid": pid_of(*pid), "ready_in": after.map(secs) })),
        Change::Health { healthy, output } => ("health", json!({ "healthy": healthy, "output": output })),
        Change::Exit {
            pid,
            how,
            uptime,
            reason,
        } => {
            let mut v = json!({ "pid": pid_of(*pid), "uptime": secs(*uptime), "reason": reason });
            match how {
                ExitHow::Code(c) => v["code"] = (*c).into(),
                ExitHow::Signal(s) => v["signal"] = crate::signal::name_of(*s).into(),
            }
            ("exit", v)
        }
        Change::Restart { after, backoff } => ("restart", json!({ "in": secs(*after), "backoff": backoff.map(secs) })),
        Change::Down { pid } => ("down", json!({ "pid": pid_of(*pid) })),
        Change::Failed { reason } => ("failed", json!({ "reason": reason })),
    }
}

/// One NDJSON line: `{"time", "service", "event", …}`; a logger's changes
/// are `logger` events with the inner one as `what`.
pub fn line(service: &str, role: Role, event: &str, mut fields: Value, by: Option<&str>) -> String {
    let time = crate::timefmt::rfc3339(std::time::SystemTime::now());
    let mut v = json!({ "time": time, "service": service });
    match role {
        Role::Service => v["event"] = event.into(),
        Role::Log | Role::Logger => {
            v["event"] = "logger".into();
            v["what"] = event.into();
        }
    }
    if let (Some(obj), Some(extra)) = (v.as_object_mut(), fields.as_object_mut()) {
        for (k, val) in std::mem::take(extra) {
            if !val.is_null() {
                obj.insert(k, val);
            }
        }
    }
    if let Some(by) = by {
        v["by"] = by.into();
    }
    v.to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::super::state::{tests::policy, Event, Want};
    use super::*;

    fn names(changes: &[Change]) -> Vec<&'static str> {
        changes.iter().map(|c| fields(c).0).collect()
    }

    #[test]
    fn a_start_a_crash_and_the_restart_are_events() {
        let t0 = Instant::now();
        let s0 = State::new(policy(), Want::Up, t0);
        let (s1, _) = s0.step(Event::Start, t0);
        let (s2, _) = s1.step(Event::Spawned { pid: Pid::from_raw(10) }, t0);
        assert_eq!(names(&between(&s0, &s1, t0)), Vec::<&str>::new());
        let c = between(&s1, &s2, t0);
        assert_eq!(names(&c), ["start", "up", "ready"]);
        let t1 = t0 + Duration::from_millis(100);
        let (s3, _) = s2.step(
            Event::Exited {
                pid: Pid::from_raw(10),
                how: ExitHow::Code(3),
                group_alive: false,
                seen_pgid: None,
                oom_killed: false,
            },
            t1,
        );
        let c = between(&s2, &s3, t1);
        assert_eq!(names(&c), ["exit", "down", "restart"]);
        let (_, exit) = fields(&c[0]);
        assert_eq!((exit["pid"].as_i64(), exit["code"].as_i64()), (Some(10), Some(3)));
        let line = line("web", Role::Service, "exit", exit, Some("uid 0 (pid 1)"));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (v["service"].as_str(), v["event"].as_str()),
            (Some("web"), Some("exit"))
        );
        assert_eq!(v["by"].as_str(), Some("uid 0 (pid 1)"));
        assert!(line.ends_with("}\n") && v["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn a_start_that_failed_is_an_exit_not_a_start() {
        let t0 = Instant::now();
        let s0 = State::new(policy(), Want::Up, t0);
        let (s1, _) = s0.step(Event::Start, t0);
        let (s2, _) = s1.step(Event::SpawnFailed { errno: libc::ENOENT }, t0);
        let c = between(&s1, &s2, t0);
        assert!(!names(&c).contains(&"start"), "{c:?}");
        assert_eq!(names(&c).first(), Some(&"exit"), "{c:?}");
    }

    #[test]
    fn a_new_run_forgetting_the_last_verdict_is_no_health_event() {
        let t0 = Instant::now();
        let mut before = State::new(policy(), Want::Up, t0);
        before.health_text = Some("PONG? no".into());
        let mut after = before.clone();
        after.health_text = None;
        after.count += 1;
        assert!(!names(&between(&before, &after, t0)).contains(&"health"));
        // Within a run: the verdict changed.
        let mut passed = before.clone();
        passed.health_text = None;
        assert!(names(&between(&before, &passed, t0)).contains(&"health"));
        // Another failing output is no change of verdict.
        let mut other = before.clone();
        other.health_text = Some("timeout".into());
        assert!(!names(&between(&before, &other, t0)).contains(&"health"));
    }

    #[test]
    fn a_logger_says_logger() {
        let v: Value = serde_json::from_str(&line("web", Role::Logger, "start", json!({"pid": 5}), None)).unwrap();
        assert_eq!(
            (v["event"].as_str(), v["what"].as_str()),
            (Some("logger"), Some("start"))
        );
    }
}
