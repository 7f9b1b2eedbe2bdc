//! What a supervise directory tells beside the supervisor's answer, for
//! the row: a stop under way (runit's `got TERM` in `status`, the same
//! record `sv status` reads), and the state of the service directory's
//! `log/` service (its `log/supervise/status`), which `sv status` shows as
//! `; down: log: 1s`.
//!
//! Both are added to the status in the API's shape: `stopping` (an object:
//! `signal`, `since`, `kill_in` and `then` when the supervisor says them
//! itself; `{"signal": "TERM"}` for runsv; `{}` when only the record's
//! flag is known) and `log_service` (`state`, `want`, `pid`, `up`/`down`).

use crate::layout;
use crate::status::{self, RunState, Wanted};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Add to `v`, the status of the service whose supervise directory is
/// `sdir`, what that directory shows. `runit`: its supervisor is runsv
/// (or daemontools' supervise), whose stop signal is TERM.
pub fn add(v: &mut Value, sdir: &Path, runit: bool) {
    let running = v.get("state").and_then(Value::as_str) == Some("run");
    if running && v.get("stopping").is_none() {
        if let Ok(st) = status::read(sdir) {
            if st.state == RunState::Run && st.term_sent {
                v["stopping"] = if runit { json!({ "signal": "TERM" }) } else { json!({}) };
            }
        }
    }
    if let Some(log) = log_service(sdir) {
        v["log_service"] = log;
    }
}

/// The state of the `log/` service beside the supervise directory `sdir`.
fn log_service(sdir: &Path) -> Option<Value> {
    let log = service_dir_of(sdir)?.join(layout::LOG_SERVICE);
    if !crate::service::is_service_dir(&log) {
        return None;
    }
    let st = status::read(&log.join(layout::SUPERVISE)).ok()?;
    let age = crate::api::since(SystemTime::now().duration_since(st.since).unwrap_or(Duration::ZERO));
    let (state, age_key) = match st.state {
        RunState::Run => ("run", "up"),
        RunState::Down => ("down", "down"),
        RunState::Finish => ("finish", "down"),
    };
    let mut out = json!({
        "state": state,
        "want": if st.want == Wanted::Up { "up" } else { "down" },
        "pid": st.pid,
    });
    out[age_key] = json!(age);
    Some(out)
}

/// The service directory whose supervise directory is `sdir`: the parent
/// of a `…/supervise` (as given, not resolved: `supervise` may be a link
/// to elsewhere), or of the `…/supervise` that `sdir` links to (the link
/// immortalsvc makes in `$IMMORTAL_SDIR/NAME`). `None` for a `-ctl`
/// directory.
fn service_dir_of(sdir: &Path) -> Option<PathBuf> {
    let is_supervise = |p: &Path| p.file_name().is_some_and(|n| n == layout::SUPERVISE);
    if is_supervise(sdir) {
        return sdir.parent().map(Path::to_path_buf);
    }
    let target = std::fs::read_link(sdir).ok()?;
    let target = if target.is_absolute() {
        target
    } else {
        sdir.parent()?.join(target)
    };
    if is_supervise(&target) {
        target.parent().map(Path::to_path_buf)
    } else {
        None
    }
}

/// What the row says of a stop under way: `stopping: TERM sent 2.1s ago,
/// KILL in 7.9s`, `restarting: TERM sent` (a restart: `then`, or the
/// service still wanted up), `stopping: stop signal sent` when only the
/// flag is known. `None` when no stop is under way.
pub fn stop_note(v: &Value) -> Option<String> {
    let stop = v.get("stopping").filter(|s| s.is_object())?;
    let text = |k: &str| stop.get(k).and_then(Value::as_str);
    let restart = match text("then") {
        Some(then) => then == "restart",
        None => v.get("want").and_then(Value::as_str) == Some("up"),
    };
    let mut note = String::from(if restart { "restarting: " } else { "stopping: " });
    match text("signal") {
        Some(sig) => note += &format!("{sig} sent"),
        None => note += "stop signal sent",
    }
    if let Some(since) = text("since") {
        note += &format!(" {since} ago");
    }
    if let Some(kill_in) = text("kill_in") {
        note += &format!(", KILL in {kill_in}");
    }
    Some(note)
}

/// What the row says of a `log/` service that is not running: `log: down
/// 1.2s` (runit: `down: log: 1s`), `log: finishing`.
pub fn log_note(v: &Value) -> Option<String> {
    let log = v.get("log_service")?;
    match log.get("state").and_then(Value::as_str)? {
        "run" => None,
        "finish" => Some("log: finishing".into()),
        _ => {
            let mut note = String::from("log: down");
            if let Some(age) = log.get("down").and_then(Value::as_str) {
                note += " ";
                note += age;
            }
            if log.get("want").and_then(Value::as_str) == Some("down") {
                note += ", wanted down";
            }
            Some(note)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_is_said_with_what_is_known_of_it() {
        let cases = [
            // What a supervisor would say itself.
            (
                json!({"state": "run", "want": "down", "stopping": {"signal": "TERM", "since": "2.1s", "kill_in": "7.9s", "then": "down"}}),
                Some("stopping: TERM sent 2.1s ago, KILL in 7.9s"),
            ),
            (
                json!({"state": "run", "want": "up", "stopping": {"signal": "QUIT", "since": "0.3s", "then": "restart"}}),
                Some("restarting: QUIT sent 0.3s ago"),
            ),
            (
                json!({"state": "run", "want": "up", "stopping": {"signal": "KILL", "since": "10.0s", "then": "down"}}),
                Some("stopping: KILL sent 10.0s ago"),
            ),
            // runsv's record: TERM; ours without the field: the flag only.
            (
                json!({"state": "run", "want": "down", "stopping": {"signal": "TERM"}}),
                Some("stopping: TERM sent"),
            ),
            (
                json!({"state": "run", "want": "up", "stopping": {}}),
                Some("restarting: stop signal sent"),
            ),
            (json!({"state": "run", "want": "down"}), None),
            (json!({"state": "run", "stopping": true}), None),
        ];
        for (v, want) in cases {
            assert_eq!(stop_note(&v).as_deref(), want, "{v}");
        }
    }

    #[test]
    fn a_log_service_is_said_when_it_does_not_run() {
        let cases = [
            (
                json!({"log_service": {"state": "run", "want": "up", "up": "5.0s"}}),
                None,
            ),
            (
                json!({"log_service": {"state": "down", "want": "up", "down": "0.4s"}}),
                Some("log: down 0.4s"),
            ),
            (
                json!({"log_service": {"state": "down", "want": "down", "down": "12.0s"}}),
                Some("log: down 12.0s, wanted down"),
            ),
            (
                json!({"log_service": {"state": "finish", "want": "up"}}),
                Some("log: finishing"),
            ),
            (json!({}), None),
        ];
        for (v, want) in cases {
            assert_eq!(log_note(&v).as_deref(), want, "{v}");
        }
    }

    /// The status file's flag and the `log/` service's record, as runsv
    /// and our supervisors write them.
    #[test]
    fn read_from_a_service_directory() {
        let d = tempfile::tempdir().unwrap();
        let svc = d.path().join("web");
        let sdir = svc.join(layout::SUPERVISE);
        let log_sdir = svc.join(layout::LOG_SERVICE).join(layout::SUPERVISE);
        std::fs::create_dir_all(&sdir).unwrap();
        std::fs::create_dir_all(&log_sdir).unwrap();
        std::fs::write(svc.join(layout::LOG_SERVICE).join(layout::RUN), "#!/bin/sh\n").unwrap();
        let record = |state, want, term_sent, since| status::Status {
            since,
            pid: if state == RunState::Run { 42 } else { 0 },
            paused: false,
            want,
            term_sent,
            state,
        };
        let now = SystemTime::now();
        status::write(&sdir, &record(RunState::Run, Wanted::Down, true, now)).unwrap();
        status::write(
            &log_sdir,
            &record(RunState::Down, Wanted::Up, false, now - Duration::from_secs(3)),
        )
        .unwrap();
        let mut v = json!({"state": "run", "want": "down"});
        add(&mut v, &sdir, true);
        assert_eq!(stop_note(&v).as_deref(), Some("stopping: TERM sent"));
        assert_eq!(log_note(&v).as_deref(), Some("log: down 3.0s"));
        // Ours: the signal is not in the record.
        let mut v = json!({"state": "run", "want": "down"});
        add(&mut v, &sdir, false);
        assert_eq!(stop_note(&v).as_deref(), Some("stopping: stop signal sent"));
        // What the supervisor said itself is kept.
        let mut v = json!({"state": "run", "want": "down", "stopping": {"signal": "INT"}});
        add(&mut v, &sdir, false);
        assert_eq!(stop_note(&v).as_deref(), Some("stopping: INT sent"));
        // Not stopping: no TERM sent, or not running.
        status::write(&sdir, &record(RunState::Run, Wanted::Up, false, now)).unwrap();
        let mut v = json!({"state": "run", "want": "up"});
        add(&mut v, &sdir, false);
        assert_eq!(stop_note(&v), None);
        // Through the link immortalsvc makes in $IMMORTAL_SDIR/NAME.
        let link = d.path().join("web-link");
        std::os::unix::fs::symlink(&sdir, &link).unwrap();
        assert_eq!(service_dir_of(&link), Some(svc.clone()));
        let rel = d.path().join("rel-link");
        std::os::unix::fs::symlink("web/supervise", &rel).unwrap();
        assert_eq!(service_dir_of(&rel), Some(svc.clone()));
        // A -ctl directory has no service directory.
        assert_eq!(service_dir_of(d.path()), None);
        // No log/run: no log service.
        std::fs::remove_file(svc.join(layout::LOG_SERVICE).join(layout::RUN)).unwrap();
        let mut v = json!({"state": "run"});
        add(&mut v, &sdir, false);
        assert!(v.get("log_service").is_none(), "{v}");
    }
}
