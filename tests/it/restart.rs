//! The restart policy (`restart:`, `essential`): backoff with jitter to a
//! cap, the circuit breaker and `failed`, what counts as a failure, s6's
//! `./finish` 125, `GET /history`, and why it is not running, everywhere.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

/// Seconds since the epoch of an RFC 3339 UTC time (`…T00:40:01.123456Z`).
fn epoch(t: &str) -> f64 {
    let (date, time) = t.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    // Days from the civil date (Howard Hinnant's algorithm).
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let hms: Vec<f64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    days as f64 * 86_400.0 + hms[0] * 3600.0 + hms[1] * 60.0 + hms[2]
}

/// A `-c` supervisor named NAME in the sandbox's `IMMORTAL_SDIR` (where
/// `immortalctl NAME` finds it).
fn supervise(sb: &Sandbox, name: &str, args: &[&str]) -> Supervisor {
    std::fs::create_dir_all(sb.path("sdir")).unwrap();
    sb.supervise_in(&format!("sdir/{name}"), args)
}

fn ctl(sb: &Sandbox, args: &[&str]) -> String {
    let out = Command::new(CTL)
        .args(args)
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .env("HOME", sb.path("home"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn backoff_grows_by_factor_to_the_cap_and_the_reason_says_so() {
    let sb = Sandbox::new();
    let yml = sb.write(
        "svc.yml",
        "cmd: \"false\"\nrestart:\n  delay: 0.1\n  max_delay: 0.4\n  factor: 2\n",
    );
    let sup = supervise(&sb, "svc", &["-c", yml.to_str().unwrap()]);
    // While it waits after the 2nd failure on, the reason tells the backoff.
    let mut waiting = Value::Null;
    sup.wait_for(15.0, "a backoff wait in the reason", || {
        waiting = sup.status();
        waiting["reason"].as_str().is_some_and(|r| r.contains("(backoff, "))
    });
    let reason = waiting["reason"].as_str().unwrap();
    assert!(reason.starts_with("exit 1; restarting in 0."), "{waiting}");
    assert_eq!(waiting["state"], "wait", "{waiting}");
    // immortalctl: the Go `Starting in`, then the exit and the backoff.
    let row = ctl(&sb, &["-A", "svc"]);
    assert!(row.contains("false - "), "{row}");
    sup.wait_for(15.0, "seven exits", || sup.history().len() >= 7);
    let mut exits = sup.history();
    exits.reverse(); // oldest first
    for e in &exits {
        assert_eq!(e["code"], 1, "{e}");
        assert_eq!(e["reason"], "failure", "{e}");
        assert!(e["pid"].as_i64().unwrap() > 0, "{e}");
    }
    // The wait from each exit to the next start, against the n-th failure's
    // delay: 0.1 from the last start (the plain throttle), then 0.2, then
    // the cap 0.4, each ±10 %.
    let mut capped = Vec::new();
    for (n, pair) in exits.windows(2).enumerate().take(6) {
        let failures = n + 1;
        let exited = epoch(pair[0]["time"].as_str().unwrap());
        let started = epoch(pair[1]["time"].as_str().unwrap()) - pair[1]["uptime"].as_f64().unwrap();
        let gap = started - exited;
        let want: f64 = match failures {
            1 => 0.0,
            2 => 0.2,
            _ => 0.4,
        };
        assert!(
            gap >= want * 0.9 - 0.01,
            "failure {failures}: waited {gap:.3}s, want {want}: {exits:?}"
        );
        assert!(
            gap <= want * 1.1 + 0.5,
            "failure {failures}: waited {gap:.3}s, want {want}: {exits:?}"
        );
        if failures >= 3 {
            capped.push(gap);
        }
    }
    assert!(capped.iter().all(|g| *g <= 0.4 * 1.1 + 0.5), "{capped:?}");
}

#[test]
fn the_breaker_makes_it_failed_until_an_operator_says_up() {
    let sb = Sandbox::new();
    let yml = sb.write(
        "svc.yml",
        "cmd: \"false\"\nrestart:\n  delay: 0.05\n  limit:\n    count: 3\n    within: 30\n",
    );
    let sup = supervise(&sb, "svc", &["-c", yml.to_str().unwrap()]);
    let st = sup.wait_state("failed");
    assert_eq!(st["count"], 3, "{st}");
    assert_eq!(st["reason"], "failed: 3 failures within 30s; last: exit 1", "{st}");
    // Nothing restarts it: still 3 starts after ten delays.
    let since = Instant::now();
    sup.wait_for(5.0, "half a second failed", || {
        let st = sup.status();
        assert_eq!(
            (st["state"].as_str(), st["count"].as_u64()),
            (Some("failed"), Some(3)),
            "{st}"
        );
        since.elapsed() > Duration::from_millis(500)
    });
    let row = ctl(&sb, &["-A", "svc"]);
    assert!(row.contains(" - failed: 3 failures within 30s; last: exit 1"), "{row}");
    // `up` clears the breaker: three more starts before it trips again.
    assert_eq!(sup.signal("up"), "");
    sup.wait_for(15.0, "failed again after 3 more starts", || {
        let st = sup.status();
        st["state"] == "failed" && st["count"] == 6
    });
    assert_eq!(sup.history().len(), 6);
    // `down` makes it plain down.
    assert_eq!(sup.signal("down"), "");
    let st = sup.wait_state("down");
    assert_eq!(st["reason"], "wanted down", "{st}");
}

#[test]
fn a_signal_the_supervisor_sent_is_no_failure_one_from_outside_is() {
    let sb = Sandbox::new();
    let yml = sb.write(
        "svc.yml",
        "cmd: sleep 1000\nrestart:\n  delay: 0.05\n  limit:\n    count: 2\n    within: 60\n",
    );
    let mut sup = supervise(&sb, "svc", &["-c", yml.to_str().unwrap()]);
    let mut pid = sup.wait_running(None);
    // Three restarts by the operator: TERM from the supervisor each time.
    for _ in 0..3 {
        assert_eq!(sup.signal("restart"), "");
        pid = sup.wait_running(Some(pid));
    }
    let exits = sup.history();
    assert_eq!(exits.len(), 3, "{exits:?}");
    assert!(exits.iter().all(|e| e["signal"] == "TERM"), "{exits:?}");
    // A crash from outside is a failure; the second trips the breaker.
    kill(Pid::from_raw(pid as i32), Signal::SIGSEGV).unwrap();
    pid = sup.wait_running(Some(pid));
    assert_eq!(sup.history()[0]["reason"], "failure");
    kill(Pid::from_raw(pid as i32), Signal::SIGSEGV).unwrap();
    let st = sup.wait_state("failed");
    assert_eq!(
        st["reason"], "failed: 2 failures within 60s; last: killed by SIGSEGV",
        "{st}"
    );
}

#[test]
fn on_failure_stops_after_a_success_and_never_after_any_exit() {
    let sb = Sandbox::new();
    let marker = sb.path("ran");
    let script = sb.script(
        "flaky.sh",
        &format!(
            "#!/bin/sh\n[ -e {m} ] && exit 3\ntouch {m}\nexit 1\n",
            m = marker.display()
        ),
    );
    // The 2nd run exits 3, listed in `success`: not restarted.
    let yml = sb.write(
        "flaky.yml",
        &format!(
            "cmd: {}\nrestart:\n  policy: on-failure\n  success: [0, 3]\n  delay: 0.05\n",
            script.display()
        ),
    );
    let sup = supervise(&sb, "flaky", &["-c", yml.to_str().unwrap()]);
    sup.wait_for(15.0, "down after the success", || {
        let st = sup.status();
        st["state"] == "down" && st["count"] == 2
    });
    let st = sup.status();
    assert_eq!(st["reason"], "exit 3; a success (restart: on-failure)", "{st}");
    assert_eq!(st["want"], "down", "{st}");
    let exits = sup.history();
    assert_eq!(
        (exits[0]["code"].as_i64(), exits[1]["code"].as_i64()),
        (Some(3), Some(1))
    );
    assert_eq!(
        (&exits[0]["reason"], &exits[1]["reason"]),
        (&"success".into(), &"failure".into())
    );
    drop(sup);

    let yml = sb.write("never.yml", "cmd: \"false\"\nrestart:\n  policy: never\n");
    let sup = supervise(&sb, "never", &["-c", yml.to_str().unwrap()]);
    let st = sup.wait_state("down");
    assert_eq!(
        (st["count"].as_u64(), st["reason"].as_str()),
        (Some(1), Some("exit 1; restart: never"))
    );
    // An operator's `up` still starts it (once more).
    assert_eq!(sup.signal("up"), "");
    sup.wait_for(10.0, "a second run", || sup.status()["count"] == 2);
}

#[test]
fn finish_exiting_125_is_a_permanent_failure_in_a_service_directory() {
    let sb = Sandbox::new();
    let dir = sb.path("svc");
    sb.script("svc/run", "#!/bin/sh\nexit 1\n");
    sb.script("svc/finish", "#!/bin/sh\nexit 125\n");
    let sup = supervise_dir(&sb, &dir);
    let st = sup.wait_state("failed");
    assert_eq!(st["count"], 1, "{st}");
    assert_eq!(st["reason"], "failed: ./finish exited 125; last: exit 1", "{st}");
    assert_eq!(sup.signal("up"), "");
    sup.wait_for(10.0, "started again by up", || sup.status()["count"] == 2);
}

#[test]
fn an_essential_service_failed_for_good_makes_its_supervisor_exit_3() {
    let sb = Sandbox::new();
    let yml = sb.write(
        "core.yml",
        "cmd: \"false\"\nessential: true\nrestart:\n  delay: 0.05\n  limit:\n    count: 2\n    within: 60\n",
    );
    let mut sup = supervise(&sb, "core", &["-c", yml.to_str().unwrap()]);
    assert_eq!(sup.wait_exit(15.0), 3, "{}", sup.log());
    assert!(sup.log().contains("essential service failed"), "{}", sup.log());

    // The same from a file in a service directory, with ./finish 125.
    let dir = sb.path("svc");
    sb.script("svc/run", "#!/bin/sh\nexit 1\n");
    sb.script("svc/finish", "#!/bin/sh\nexit 125\n");
    sb.write("svc/essential", "");
    // It may exit before its socket answers: run it to its end.
    let out = sb.run(&[dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("./finish exited 125"), "{}", stderr_of(&out));
}

#[test]
fn immortalctl_history_lists_the_exits_newest_first() {
    let sb = Sandbox::new();
    let script = sb.script("count.sh", "#!/bin/sh\nexit 7\n");
    let yml = sb.write(
        "svc.yml",
        &format!(
            "cmd: {}\nrestart:\n  delay: 0.05\n  limit:\n    count: 2\n    within: 60\n",
            script.display()
        ),
    );
    let sup = supervise(&sb, "svc", &["-c", yml.to_str().unwrap()]);
    sup.wait_state("failed");
    let text = ctl(&sb, &["history", "svc"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("NAME   TIME "), "{text}");
    for line in &lines[1..] {
        assert!(line.starts_with("svc    "), "{text}");
        assert!(line.contains("   exit 7   failure"), "{text}");
    }
    let json: Value = serde_json::from_str(&ctl(&sb, &["--json", "history", "svc"])).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(2), "{json}");
    assert_eq!(json[0]["name"], "svc");
    assert!(epoch(json[0]["time"].as_str().unwrap()) >= epoch(json[1]["time"].as_str().unwrap()));
    let none = ctl(&sb, &["history", "nosuch"]);
    assert!(none.contains("no such service: nosuch"), "{none}");
}

/// `oneshot: true`: exit 0 is `done` (ready, not restarted, in the status,
/// events, metrics and immortalctl); an operator's `up` runs it again; a
/// failure is retried under `restart:`.
#[test]
fn a_one_shot_is_done_and_runs_again_only_when_asked() {
    let sb = Sandbox::new();
    let runs = sb.path("runs");
    let yml = sb.write(
        "svc.yml",
        &format!(
            "cmd: [sh, -c, 'echo ran >> {}; [ $(wc -l < {}) -ge 2 ]']\noneshot: true\nrestart: {{delay: 0.05}}\n",
            runs.display(),
            runs.display()
        ),
    );
    let sup = supervise(&sb, "svc", &["-c", yml.to_str().unwrap()]);
    // The first run fails (one line so far): retried; the second succeeds.
    let st = sup.wait_state("done");
    assert_eq!(
        (st["ready"].as_bool(), st["count"].as_u64()),
        (Some(true), Some(2)),
        "{st}"
    );
    assert_eq!(st["reason"], "done", "{st}");
    let (_, metrics) = immortal::client::get(&sup.sock(), "/metrics").unwrap();
    assert!(metrics.contains("immortal_done{service=\"svc\"} 1"), "{metrics}");
    assert!(metrics.contains("immortal_ready{service=\"svc\"} 1"), "{metrics}");
    // Not restarted: with a 50 ms throttle a restart would have come long
    // before this (a wait for something that must not happen).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sup.status()["count"], 2);
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 2);
    let row = ctl(&sb, &["svc"]);
    assert!(row.contains(" - done"), "{row}");
    // An operator runs it again.
    let mut events = immortal::client::EventStream::open(&sup.sock()).unwrap();
    assert_eq!(sup.signal("up"), "");
    let mut names = Vec::new();
    while names.last().map(String::as_str) != Some("done") {
        let line = events
            .next_line(Some(Duration::from_secs(10)))
            .unwrap()
            .expect("events");
        let v: Value = serde_json::from_str(&line).unwrap();
        names.push(v["event"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(names, ["start", "up", "exit", "down", "done"], "{names:?}");
    assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 3);
}
