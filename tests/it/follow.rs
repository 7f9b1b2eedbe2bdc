//! `-f PIDFILE`: following programs that daemonize or hand over to a new
//! process (upgrades), without polling.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// A launcher that daemonizes (new session, reparented to the supervisor),
/// waits for the daemon's pid file, then exits. The daemon records HUPs
/// and, on USR2, starts its successor, which takes over the pid file;
/// TERM makes it exit.
const DAEMON: &str = r#"#!/bin/sh
cd "$(dirname "$0")"
if [ "$1" = daemon ]; then
  trap 'echo HUP >> got' HUP
  trap 'sh ./daemon.sh daemon & while [ "$(cat daemon.pid)" = "$$" ]; do sleep 0.01; done' USR2
  trap 'exit 0' TERM
  echo $$ > daemon.pid.new && mv daemon.pid.new daemon.pid
  while :; do sleep 1 & wait $!; done
fi
rm -f daemon.pid
setsid sh ./daemon.sh daemon &
while [ ! -s daemon.pid ]; do sleep 0.01; done
exit 0
"#;

fn daemon_pid(sb: &Sandbox) -> i64 {
    sb.read("daemon.pid").trim().parse().unwrap_or(0)
}

fn start(sb: &Sandbox) -> Supervisor {
    let script = sb.script("daemon.sh", DAEMON);
    let pidfile = sb.path("daemon.pid");
    sb.supervise(&["-f", pidfile.to_str().unwrap(), "sh", script.to_str().unwrap()])
}

fn wait_following(sup: &Supervisor, not: Option<i64>) -> serde_json::Value {
    let mut st = serde_json::Value::Null;
    wait_for(10.0, "following the daemon", || {
        st = sup.status();
        st["fpid"] == true && st["state"] == "run" && st["pid"].as_i64() != not
    });
    st
}

#[test]
fn follows_a_daemonizing_program_and_restarts_it_when_it_dies() {
    let sb = Sandbox::new();
    let mut sup = start(&sb);
    let st = wait_following(&sup, None);
    let daemon = daemon_pid(&sb);
    sup.pids.push(daemon as i32);
    assert_eq!(st["pid"].as_i64(), Some(daemon));
    assert_eq!(st["count"], 1);
    // Signals go to the followed process.
    assert_eq!(sup.signal("hup"), "");
    wait_for(5.0, "HUP recorded by the daemon", || sb.read("got") == "HUP\n");
    // Its death is seen at once: it was reparented to us (waitpid), or
    // without a subreaper it is watched (pidfd, EVFILT_PROC) and how it
    // ended is not ours to know.
    let t0 = Instant::now();
    kill(Pid::from_raw(daemon as i32), Signal::SIGKILL).unwrap();
    let how = if caps().subreaper {
        "killed by KILL"
    } else {
        "exit status unknown (not our child)"
    };
    wait_for(5.0, "death noticed", || {
        sup.log().contains(&format!("pid {daemon} ended: {how}"))
    });
    let seen = t0.elapsed();
    let st = wait_following(&sup, Some(daemon));
    sup.pids.push(st["pid"].as_i64().unwrap() as i32);
    assert_eq!(st["count"], 2, "restarted once");
    assert!(seen < Duration::from_secs(2), "took {seen:?}");
}

#[test]
fn down_stops_the_followed_process_group() {
    let sb = Sandbox::new();
    let mut sup = start(&sb);
    wait_following(&sup, None);
    let daemon = daemon_pid(&sb);
    sup.pids.push(daemon as i32);
    assert_eq!(sup.signal("down"), "");
    let st = sup.wait_state("down");
    assert_eq!(st["fpid"], false);
    assert!(!alive(daemon));
    assert!(group_members(daemon).is_empty(), "{:?}", group_members(daemon));
}

#[test]
fn upgrade_hand_over_follows_the_new_pid_without_restart() {
    let sb = Sandbox::new();
    let mut sup = start(&sb);
    wait_following(&sup, None);
    let old = daemon_pid(&sb);
    sup.pids.push(old as i32);
    // USR2: the old process starts its successor, which writes the pid file.
    assert_eq!(sup.signal("usr2"), "");
    wait_for(5.0, "successor wrote the pid file", || {
        daemon_pid(&sb) != old && daemon_pid(&sb) > 0
    });
    let new = daemon_pid(&sb);
    sup.pids.push(new as i32);
    assert_eq!(
        sup.status()["pid"].as_i64(),
        Some(old),
        "still the old one until it exits"
    );
    // The old one is told to go (TERM: a background `sh` cannot trap the
    // QUIT it inherits ignored); the supervisor follows the successor.
    assert_eq!(sup.signal("term"), "");
    let st = wait_following(&sup, Some(old));
    assert_eq!(st["pid"].as_i64(), Some(new));
    assert_eq!(st["count"], 1, "no restart");
    assert!(alive(new));
    assert!(sup.log().contains(&format!("following pid {new}")), "{}", sup.log());
    // Exactly one copy runs.
    let copies = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("cmdline")).is_ok_and(|c| c.contains("daemon.sh\0daemon"))
                && std::fs::read_link(e.path().join("cwd")).is_ok_and(|d| d == sb.dir.path())
        })
        .count();
    assert_eq!(copies, 1);
}

#[test]
fn follows_a_process_that_is_not_its_child_with_a_pidfd() {
    let sb = Sandbox::new();
    // Started by the test, not by the supervisor: not its descendant.
    let mut outsider = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
    let pid = outsider.id() as i64;
    sb.write("outsider.pid", &format!("{pid}\n"));
    let sup = sb.supervise(&["-f", sb.path("outsider.pid").to_str().unwrap(), "true"]);
    let st = wait_following(&sup, None);
    assert_eq!(st["pid"].as_i64(), Some(pid));
    let count = st["count"].as_i64().unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let _ = outsider.wait();
    wait_for(5.0, "exit seen through the pidfd", || {
        sup.log().contains(&format!("pid {pid} ended"))
    });
    assert!(sup.log().contains("not our child"), "{}", sup.log());
    // The pid file still names the dead pid: an ordinary restart of `true`.
    wait_for(5.0, "restarted", || sup.status()["count"].as_i64() > Some(count));
    sup.signal("down");
}

#[test]
fn down_of_a_followed_outsider_does_not_wait_for_its_zombie() {
    use std::os::unix::process::CommandExt;
    let sb = Sandbox::new();
    // Leads its own group, and its parent (this test) reaps it late.
    let mut outsider = std::process::Command::new("sleep")
        .arg("1000")
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = outsider.id() as i64;
    sb.write("outsider.pid", &format!("{pid}\n"));
    let sup = sb.supervise(&["-f", sb.path("outsider.pid").to_str().unwrap(), "true"]);
    wait_following(&sup, None);
    sup.signal("down");
    // Dead but not reaped: the supervisor must not wait for the zombie
    // (before: stuck stopping, KILL after 10 s, then waiting forever).
    let r = std::panic::catch_unwind(|| sup.wait_for(3.0, "down", || sup.status()["state"] == "down"));
    let _ = outsider.kill();
    let _ = outsider.wait();
    assert!(r.is_ok());
}

#[test]
fn garbage_or_foreign_pid_files_are_ordinary_exits() {
    let sb = Sandbox::new();
    for (content, why) in [("garbage\n", "not a pid"), ("1\n", "refusing pid 1"), ("", "empty")] {
        sb.write("bad.pid", content);
        let ctl = format!("sv-{}", why.replace(' ', "-"));
        let sup = sb.supervise_in(
            &ctl,
            &["-f", sb.path("bad.pid").to_str().unwrap(), "sh", "-c", "sleep 0.2"],
        );
        wait_for(10.0, "restarted after the exit", || {
            sup.status()["count"].as_i64() >= Some(2)
        });
        assert_eq!(sup.status()["fpid"], false);
        assert!(sup.log().contains(why), "{why}: {}", sup.log());
    }
}

/// redis's way: the launcher exits first, the daemon writes the pid file
/// a moment later — here right after the supervisor has reaped the
/// launcher, i.e. while it looks for the pid file. Followed at once, not
/// after the 3 s hand-over grace.
#[test]
fn a_pid_file_written_just_after_the_launcher_exits_is_followed_at_once() {
    let sb = Sandbox::new();
    let launcher = sb.script(
        "launch.sh",
        r#"#!/bin/sh
cd "$(dirname "$0")"
rm -f late.pid
p=$$
( while kill -0 $p 2>/dev/null; do :; done; sh -c 'echo $$ > late.pid.new && mv late.pid.new late.pid; exec sleep 1000' ) &
exit 0
"#,
    );
    for round in 0..5 {
        let t0 = Instant::now();
        let ctl = format!("sv{round}");
        let mut sup = sb.supervise_in(
            &ctl,
            &["-f", sb.path("late.pid").to_str().unwrap(), launcher.to_str().unwrap()],
        );
        sup.wait_for(10.0, "the daemon is followed", || {
            let st = sup.status();
            st["fpid"] == true && st["pid"].as_i64().is_some_and(|p| p > 0 && alive(p))
        });
        let pid = sup.status()["pid"].as_i64().unwrap();
        sup.pids.push(pid as i32);
        assert!(
            t0.elapsed() < Duration::from_millis(2500),
            "round {round}: followed only after {:?}\n{}",
            t0.elapsed(),
            sup.log()
        );
        assert_eq!(sup.status()["count"], 1, "no second start: {}", sup.log());
        drop(sup);
        wait_for(5.0, "the daemon stopped", || !alive(pid));
    }
}
