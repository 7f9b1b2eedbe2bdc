//! What an `immortalctl` row says while something is going on: a stop
//! under way (runit's `sv status`: `want down, got TERM`), and a service
//! directory's `log/` service that does not run (`down: log: 1s`) — on our
//! supervisors and on the real `runsv`.

use crate::common::*;
use std::fs;
use std::process::{Command, Output, Stdio};

fn ctl(sb: &Sandbox, args: &[&str]) -> Output {
    Command::new(CTL)
        .args(args)
        .env("HOME", sb.path("home"))
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The row of the one service `target` names.
fn row(sb: &Sandbox, target: &str) -> String {
    let out = ctl(sb, &[target]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().nth(1).unwrap_or("").to_string()
}

/// Wait until `pid` runs `comm` (a shell has exec'd into it: its traps are set).
fn wait_comm(pid: i64, comm: &str) {
    wait_for(10.0, &format!("pid {pid} runs {comm}"), || {
        fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
    });
}

/// A service that ignores TERM stays in its stop until the kill deadline:
/// the row says so — not ` - not ready`.
#[test]
fn a_stop_under_way_is_said_in_the_row() {
    let sb = Sandbox::new();
    let yml = sb.write(
        "web.yml",
        "cmd: [sh, -c, \"trap '' TERM; exec sleep 1000\"]\nstop: {timeout: 60}\n",
    );
    let mut sup = Supervisor::spawn(
        sb.command(&["-n", "-ctl", "web", "-c", yml.to_str().unwrap()]),
        sb.path("sdir/web"),
        sb.path("web.err"),
    );
    let pid = sup.wait_running(None);
    wait_comm(pid, "sleep");
    assert!(!row(&sb, "web").contains(" - stopping"), "{}", row(&sb, "web"));
    assert_eq!(sup.signal("down"), "");
    let mut last = String::new();
    sup.wait_for(10.0, "the row says the stop", || {
        last = row(&sb, "web");
        last.contains(" - stopping: ")
    });
    assert!(!last.contains("not ready"), "{last}");
    assert_eq!(sup.status()["state"], "run", "still in its stop");
    // A restart's stop says where it goes.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    sup.wait_state("down");
    assert_eq!(sup.signal("up"), "");
    let pid = sup.wait_running(Some(pid));
    wait_comm(pid, "sleep");
    assert_eq!(sup.signal("restart"), "");
    sup.wait_for(10.0, "the row says the restart", || {
        last = row(&sb, "web");
        last.contains(" - restarting: ")
    });
    assert!(!last.contains("not ready"), "{last}");
    // Gone without a stop (which would wait for the deadline): the
    // supervisor, then its service.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(sup.pid()), nix::sys::signal::Signal::SIGKILL);
    sup.wait_exit(5.0);
}

/// The real runsv: `sv down` on a service that ignores TERM.
#[test]
fn a_stop_under_way_in_a_real_runsv_is_said_in_the_row() {
    let sb = Sandbox::new();
    let d = sb.path("svc");
    sb.script("svc/run", "#!/bin/sh\ntrap '' TERM\nexec sleep 1000\n");
    let mut runsv = Supervisor {
        child: Some(Command::new("runsv").arg(&d).spawn().unwrap()),
        dir: d.clone(),
        stderr: sb.path("x"),
        pids: vec![],
    };
    let mut pid = 0;
    wait_for(5.0, "runsv started the service", || {
        pid = immortal::status::read(&d.join("supervise")).map_or(0, |s| s.pid as i64);
        pid > 0
    });
    runsv.pids.push(pid as i32);
    wait_comm(pid, "sleep");
    let path = d.to_str().unwrap();
    fs::write(d.join("supervise/control"), "d").unwrap();
    let mut last = String::new();
    wait_for(10.0, "the row says the stop", || {
        last = row(&sb, path);
        last.ends_with(" - stopping: TERM sent")
    });
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    fs::write(d.join("supervise/control"), "x").unwrap();
    assert_eq!(runsv.wait_exit(5.0), 0);
}

/// A `log/run` that exits at once leaves the service running: the row
/// says the log service is down (runit: `down: log: 1s`).
#[test]
fn a_crash_looping_log_service_is_said_in_the_row() {
    let sb = Sandbox::new();
    // Ours: `immortal DIR`.
    let d = sb.path("svc");
    sb.script("svc/run", "#!/bin/sh\nexec sleep 1000\n");
    sb.script("svc/log/run", "#!/bin/sh\nexit 1\n");
    let mut sup = supervise_dir(&sb, &d);
    sup.wait_running(None);
    let path = d.to_str().unwrap();
    let mut last = String::new();
    sup.wait_for(10.0, "the row says the log service is down", || {
        last = row(&sb, path);
        last.contains(" - log: down ")
    });
    // A log service that runs is not mentioned.
    let good = sb.path("good");
    sb.script("good/run", "#!/bin/sh\nexec sleep 1000\n");
    sb.script("good/log/run", "#!/bin/sh\nexec cat > /dev/null\n");
    let mut good_sup = supervise_dir(&sb, &good);
    good_sup.wait_running(None);
    wait_for(10.0, "the good logger runs", || {
        immortal::status::read(&good.join("log/supervise")).is_ok_and(|s| s.pid > 0)
    });
    let good_row = row(&sb, good.to_str().unwrap());
    assert!(!good_row.contains(" - log:"), "{good_row}");
    // The real runsv, read through its status files.
    let r = sb.path("rsv");
    sb.script("rsv/run", "#!/bin/sh\nexec sleep 1000\n");
    sb.script("rsv/log/run", "#!/bin/sh\nexit 1\n");
    let mut runsv = Supervisor {
        child: Some(Command::new("runsv").arg(&r).spawn().unwrap()),
        dir: r.clone(),
        stderr: sb.path("x"),
        pids: vec![],
    };
    wait_for(5.0, "runsv started the service", || {
        immortal::status::read(&r.join("supervise")).is_ok_and(|s| s.pid > 0)
    });
    runsv
        .pids
        .push(immortal::status::read(&r.join("supervise")).unwrap().pid as i32);
    wait_for(10.0, "the runsv row says the log service is down", || {
        last = row(&sb, r.to_str().unwrap());
        last.contains(" - log: down ")
    });
    fs::write(r.join("supervise/control"), "dx").unwrap();
    assert_eq!(runsv.wait_exit(5.0), 0);
}
