//! How the state table's transitions ([`Change`], told by
//! [`super::state::State::step`] itself as [`super::state::Action::Tell`])
//! are streamed on `GET /events`: one NDJSON line each. The loop adds
//! only `signal`, for each [`super::state::Action::Kill`] it carries out.
//!
//! | event     | when                                                       |
//! |-----------|------------------------------------------------------------|
//! | `start`   | a new process of the command was started                   |
//! | `up`      | the service is running (started, adopted, followed)        |
//! | `ready`   | it became ready                                            |
//! | `health`  | every failed check (`failures`: `1/2`), a pass after none or a failure |
//! | `exit`    | its main process ended (or could not start)                |
//! | `restart` | a start is decided, at once or after the throttle or backoff, with why |
//! | `down`    | it is down: the whole process group gone                   |
//! | `failed`  | down for good (breaker, retries, `finish` exiting 125)     |
//! | `done`    | a one-shot service ran to completion (exit 0)              |
//!
//! A `logger:` or runit `log/` unit's changes are one `logger` event each,
//! with the inner event as `what`.

pub use super::state::Change;
use super::state::{ExitHow, Role};
use nix::unistd::Pid;
use serde_json::{json, Value};
use std::time::Duration;

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
        Change::Health {
            healthy,
            output,
            failures,
        } => {
            let failures = failures.map(|(n, of)| format!("{n}/{of}"));
            (
                "health",
                json!({ "healthy": healthy, "output": output, "failures": failures }),
            )
        }
        Change::Exit {
            pid,
            how,
            uptime,
            reason,
        } => {
            let mut v = json!({ "pid": pid_of(*pid), "uptime": secs(*uptime), "reason": reason });
            match how {
                Some(ExitHow::Code(c)) => v["code"] = (*c).into(),
                Some(ExitHow::Signal(s)) => v["signal"] = crate::signal::name_of(*s).into(),
                None => {}
            }
            ("exit", v)
        }
        Change::Restart { after, backoff, reason } => (
            "restart",
            json!({ "in": secs(*after), "backoff": backoff.map(secs), "reason": reason }),
        ),
        Change::Down { pid } => ("down", json!({ "pid": pid_of(*pid) })),
        Change::Failed { reason } => ("failed", json!({ "reason": reason })),
        Change::Done { pid } => ("done", json!({ "pid": pid_of(*pid) })),
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
    use super::*;

    #[test]
    fn an_exit_is_a_line_with_its_code_and_who_asked() {
        let exit = Change::Exit {
            pid: Some(Pid::from_raw(10)),
            how: Some(ExitHow::Code(3)),
            uptime: Duration::from_millis(100),
            reason: "failure".into(),
        };
        let (name, fields) = fields(&exit);
        assert_eq!(name, "exit");
        assert_eq!((fields["pid"].as_i64(), fields["code"].as_i64()), (Some(10), Some(3)));
        let line = line("web", Role::Service, name, fields, Some("uid 0 (pid 1)"));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (v["service"].as_str(), v["event"].as_str()),
            (Some("web"), Some("exit"))
        );
        assert_eq!(v["by"].as_str(), Some("uid 0 (pid 1)"));
        assert!(line.ends_with("}\n") && v["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn an_unknown_exit_has_neither_code_nor_signal() {
        let (_, v) = fields(&Change::Exit {
            pid: Some(Pid::from_raw(10)),
            how: None,
            uptime: Duration::ZERO,
            reason: "exit status unknown (not our child)".into(),
        });
        assert!(v.get("code").is_none() && v.get("signal").is_none(), "{v}");
    }

    #[test]
    fn a_failed_check_counts_and_a_restart_says_why() {
        let (_, v) = fields(&Change::Health {
            healthy: false,
            output: Some("PONG?".into()),
            failures: Some((1, 2)),
        });
        assert_eq!(
            (v["failures"].as_str(), v["healthy"].as_bool()),
            (Some("1/2"), Some(false))
        );
        let (_, v) = fields(&Change::Restart {
            after: Duration::ZERO,
            backoff: None,
            reason: "health check failed 2 times: PONG?".into(),
        });
        assert_eq!(
            (v["in"].as_f64(), v["reason"].as_str()),
            (Some(0.0), Some("health check failed 2 times: PONG?"))
        );
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
