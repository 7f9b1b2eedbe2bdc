//! `IMMORTAL_PORTABLE=1`: Linux takes the paths of a system without its
//! extras (FreeBSD, NetBSD, macOS) — signals through a self-pipe, no
//! subreaper, and cgroups, `no_new_privs`, sd_notify, another process's
//! descriptors and the Linux-only rlimits missing. These tests set it on
//! the binaries they start, so they run in every suite; scripts/test also
//! runs the whole suite with it set.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::time::{Duration, Instant};

const PORTABLE: (&str, &str) = ("IMMORTAL_PORTABLE", "1");
const SYSTEM: &str = "Linux with IMMORTAL_PORTABLE=1";

/// A foreground supervisor on the portable paths: `-n -ctl SANDBOX/sv ARGS`.
fn supervise(sb: &Sandbox, args: &[&str]) -> Supervisor {
    let dir = sb.path("sv");
    let mut full = vec!["-n", "-ctl", dir.to_str().unwrap()];
    full.extend_from_slice(args);
    let mut cmd = sb.command(&full);
    cmd.env(PORTABLE.0, PORTABLE.1);
    Supervisor::spawn(cmd, dir, sb.path("sv.stderr"))
}

/// `immortal ARGS` to completion on the portable paths: exit code, stderr
/// (one still running after 10 s is killed: a start that was accepted).
fn run(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let mut child = sb
        .command(args)
        .env(PORTABLE.0, PORTABLE.1)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), stderr_of(&out))
}

/// The parent pid of `pid`, from /proc.
fn parent_of(pid: i64) -> i64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0)
}

#[test]
fn what_the_system_lacks_is_an_error_naming_the_key_and_the_system() {
    let sb = Sandbox::new();
    for (yml, want) in [
        (
            "cmd: sleep 100\ncgroup:\n  memory: 64M\n",
            "run.yml:2: cgroup: not available on",
        ),
        (
            "cmd: sleep 100\nno_new_privs: true\n",
            "run.yml:2: no_new_privs: not available on",
        ),
        (
            "cmd: sleep 100\nlimits:\n  nofile: 100\n  rtprio: 0\n",
            "run.yml:4: limits: rtprio: not available on",
        ),
        (
            "cmd: sleep 100\nready: notify\n",
            "run.yml:2: ready: notify: not available on",
        ),
        ("cmd: sleep 100\nwatchdog: 5\n", "run.yml:2: watchdog: not available on"),
    ] {
        let want = format!("{want} {SYSTEM}");
        let yml_path = sb.write("run.yml", yml);
        let yml_path = yml_path.to_str().unwrap();
        // -cc, -check, and a start: the same error, never ignored.
        for args in [
            vec!["-cc", "-c", yml_path],
            vec!["-check", yml_path],
            vec!["-n", "-c", yml_path],
        ] {
            let (code, err) = run(&sb, &args);
            assert_ne!(code, 0, "{args:?} accepted {yml:?}: {err}");
            assert!(err.contains(&want), "{args:?}: no '{want}' in:\n{err}");
        }
    }
    // What every system has is accepted.
    let yml = sb.write("run.yml", "cmd: sleep 100\nlimits:\n  nofile: 100\n");
    let (code, err) = run(&sb, &["-cc", "-c", yml.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn signals_come_through_a_self_pipe_and_children_get_the_dispositions_back() {
    let sb = Sandbox::new();
    let script = sb.script(
        "svc.sh",
        "#!/bin/sh\ngrep -E '^Sig(Blk|Ign|Cgt)' /proc/self/status > sig.$$\nexec sleep 100\n",
    );
    let mut sup = supervise(&sb, &[script.to_str().unwrap()]);
    let pid = sup.wait_running(None);
    // No signalfd: a pipe the handlers write to.
    let fds: Vec<String> = fs::read_dir(format!("/proc/{}/fd", sup.pid()))
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .map(|l| l.display().to_string())
        .collect();
    assert!(!fds.iter().any(|l| l.contains("signalfd")), "{fds:?}");
    let status = fs::read_to_string(format!("/proc/{}/status", sup.pid())).unwrap();
    let caught = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .unwrap_or("")
        .trim();
    // SIGHUP 1, SIGINT 2, SIGCHLD 17, SIGTERM 15 caught by the handler.
    let mask = u64::from_str_radix(caught, 16).unwrap();
    for sig in [1, 2, 15, 17] {
        assert_ne!(mask & (1 << (sig - 1)), 0, "signal {sig} not caught: {caught}");
    }
    // The service: none of the supervisor's signals blocked, caught or
    // ignored (HUP, INT, TERM, CHLD, and XFSZ it ignores itself).
    wait_for(5.0, "the service wrote its signal state", || {
        sb.read(&format!("sig.{pid}")).lines().count() == 3
    });
    let ours: u64 = [1u64, 2, 15, 17, 25].iter().map(|s| 1 << (s - 1)).sum();
    for line in sb.read(&format!("sig.{pid}")).lines() {
        let (name, value) = line.split_once(':').unwrap();
        let mask = u64::from_str_radix(value.trim(), 16).unwrap();
        assert_eq!(mask & ours, 0, "{name} of the service: {value}");
    }
    // SIGCHLD through the pipe: a killed service is restarted.
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let again = sup.wait_running(Some(pid));
    assert_ne!(again, pid);
    // SIGTERM through the pipe: the supervisor stops the service and exits.
    kill(Pid::from_raw(sup.pid()), Signal::SIGTERM).unwrap();
    assert_eq!(sup.wait_exit(10.0), 0);
    assert!(!alive(again));
}

/// A launcher that forks a daemon in a session of its own, waits for its
/// pid file, and exits: the daemon is orphaned.
const DAEMON: &str = r#"#!/bin/sh
cd "$(dirname "$0")"
if [ "$1" = daemon ]; then
  trap 'exit 0' TERM
  echo $$ > daemon.pid.new && mv daemon.pid.new daemon.pid
  while :; do sleep 1 & wait $!; done
fi
rm -f daemon.pid
setsid sh ./daemon.sh daemon &
while [ ! -s daemon.pid ]; do sleep 0.01; done
exit 0
"#;

#[test]
fn without_a_subreaper_a_daemon_is_followed_through_its_pid_file() {
    let sb = Sandbox::new();
    let script = sb.script("daemon.sh", DAEMON);
    let pidfile = sb.path("daemon.pid");
    let mut sup = supervise(&sb, &["-f", pidfile.to_str().unwrap(), "sh", script.to_str().unwrap()]);
    let mut daemon = 0;
    wait_for(10.0, "following the daemon", || {
        let st = sup.status();
        daemon = sb.read("daemon.pid").trim().parse().unwrap_or(0);
        st["fpid"] == true && st["state"] == "run" && st["pid"].as_i64() == Some(daemon)
    });
    sup.pids.push(daemon as i32);
    // Not reparented to the supervisor: no subreaper.
    assert_ne!(parent_of(daemon), sup.pid() as i64);
    // Its end is seen at once (a pidfd here, EVFILT_PROC on the BSDs and
    // macOS); how it ended is its parent's to know, not ours.
    let t0 = Instant::now();
    kill(Pid::from_raw(daemon as i32), Signal::SIGKILL).unwrap();
    sup.wait_for(5.0, "its end noticed", || {
        sup.log()
            .contains(&format!("pid {daemon} ended: exit status unknown (not our child)"))
    });
    assert!(t0.elapsed() < Duration::from_secs(2), "took {:?}", t0.elapsed());
    // Started again, followed again.
    sup.wait_for(10.0, "following the new daemon", || {
        let st = sup.status();
        let now: i64 = sb.read("daemon.pid").trim().parse().unwrap_or(0);
        now != daemon && st["fpid"] == true && st["pid"].as_i64() == Some(now) && st["count"] == 2
    });
    let now: i64 = sb.read("daemon.pid").trim().parse().unwrap_or(0);
    sup.pids.push(now as i32);
}

#[test]
fn without_a_subreaper_what_the_service_leaves_in_its_group_is_waited_for() {
    let sb = Sandbox::new();
    let d = sb.path("svc");
    // On TERM the service exits at once, leaving behind a member of its
    // group that ignores TERM and ends by itself 3 s later (after the one
    // wake-up that gives memory back, a second after the last event): not our
    // child (init's), so its end brings no SIGCHLD; nor does it hold the
    // logger's pipe, whose end would wake the supervisor anyway.
    sb.script(
        "svc/run",
        "#!/bin/sh\ntrap 'echo bye; exit 0' TERM\n(trap '' TERM; exec sleep 3 >/dev/null 2>&1) &\necho $! > left\necho hello\nwhile :; do sleep 100 & wait $!; done\n",
    );
    sb.script("svc/log/run", "#!/bin/sh\nexec cat >> logged\n");
    let mut cmd = sb.command(&[d.to_str().unwrap()]);
    cmd.env(PORTABLE.0, PORTABLE.1);
    let mut sup = Supervisor::spawn(cmd, d.join("supervise"), sb.path("supervisor.err"));
    let pid = sup.wait_running(None);
    wait_for(5.0, "hello logged", || lines(&d.join("log/logged")) == ["hello"]);
    let left: i64 = fs::read_to_string(d.join("left")).unwrap().trim().parse().unwrap();
    sup.pids.push(left as i32);
    kill(Pid::from_raw(sup.pid()), Signal::SIGTERM).unwrap();
    wait_for(5.0, "the service gone", || !alive(pid));
    if alive(left) {
        // Left behind, and not reparented to the supervisor.
        assert_ne!(parent_of(left), sup.pid() as i64);
    }
    // Its end is watched: the supervisor drains the logger and exits.
    assert_eq!(sup.wait_exit(10.0), 0);
    assert!(!alive(left));
    assert_eq!(lines(&d.join("log/logged")), ["hello", "bye"]);
}
