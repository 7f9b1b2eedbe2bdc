//! Supervision: restarts, throttle, wait, retries, stop with a kill
//! deadline, process groups, require, post_exit, user, environment,
//! pid files, the lock, daemonizing and SIGTERM.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn restarts_with_one_second_throttle() {
    let sb = Sandbox::new();
    let starts = sb.path("starts");
    let script = format!("date +%s.%N >> {}; exit 3", starts.display());
    let sup = sb.supervise(&["sh", "-c", &script]);
    wait_for(10.0, "three starts", || lines(&starts).len() >= 3);
    let times: Vec<f64> = lines(&starts).iter().map(|l| l.parse().unwrap()).collect();
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= 0.95, "starts closer than 1 s: {times:?}");
    }
    let st = sup.status();
    assert!(st["count"].as_u64().unwrap() >= 3, "{st}");
    assert!(sup.log().contains("exit code 3"), "{}", sup.log());
}

/// The Go immortal's `cmd` (`strings.Fields`): a quote is a character of
/// its word, and the start says how a shell would have read it.
#[test]
fn a_go_users_cmd_runs_as_the_go_immortal_runs_it() {
    let sb = Sandbox::new();
    let out = sb.path("out.log");
    let yml = sb.write(
        "echo.yml",
        &format!(
            "cmd: /bin/echo it's fine  a\\b \"c\"\nretries: 0\nlog:\n  file: {}\n",
            out.display()
        ),
    );
    let sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    sup.wait_for(10.0, "the echo in the log", || {
        fs::read_to_string(&out).unwrap_or_default() == "it's fine a\\b \"c\"\n"
    });
    assert_eq!(sup.status()["cmd"], "/bin/echo it's fine a\\b \"c\"");
    let log = sup.log();
    assert!(
        log.contains("echo.yml:1: warning: cmd is split at blanks only")
            && log.contains("`/bin/echo` `it's` `fine` `a\\b` `\"c\"`, quotes and backslashes kept as written (a shell would refuse"),
        "{log}"
    );
}

#[test]
fn long_running_exit_restarts_at_once() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "100"]);
    let first = sup.wait_running(None);
    wait_for(5.0, "more than 1 s of uptime", || {
        let up = sup.status()["up"].as_str().unwrap_or("0s").to_string();
        up.contains('m') || up.trim_end_matches('s').parse::<f64>().unwrap_or(0.0) >= 1.1
    });
    let t0 = Instant::now();
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    let second = sup.wait_running(Some(first));
    assert_ne!(first, second);
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "uptime > 1 s must restart at once"
    );
    let st = sup.status();
    assert_eq!(st["count"], 2);
    assert_eq!(st["exit"], serde_json::json!({"signal": "KILL"}));
}

#[test]
fn wait_delays_start_and_socket_still_answers() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["-w", "2", "sleep", "100"]);
    let st = sup.status();
    assert_eq!(st["state"], "wait", "{st}");
    let text = st["status"].as_str().unwrap();
    assert!(text.starts_with("Starting in ") && text.ends_with(" seconds"), "{text}");
    assert_eq!(st["count"], 0);
    sup.wait_running(None);
    assert!(sup.status().get("status").is_none());
}

#[test]
fn retries_exhausted_exits_command_line_supervisor() {
    let sb = Sandbox::new();
    let runs = sb.path("runs");
    let script = format!("echo run >> {}; exit 1", runs.display());
    let mut sup = sb.supervise(&["-r", "2", "sh", "-c", &script]);
    assert_eq!(sup.wait_exit(15.0), 0);
    assert_eq!(lines(&runs).len(), 3, "-r 2 means at most 3 starts");
}

#[test]
fn retries_exhausted_keeps_config_supervisor_up_unless_immortal_exit() {
    let sb = Sandbox::new();
    let runs = sb.path("runs");
    let yml = sb.write(
        "svc.yml",
        &format!("cmd: sh -c 'echo run >> {}'\nretries: 0\n", runs.display()),
    );
    // `sh -c 'echo …'` split on whitespace: write a script instead.
    let script = sb.script(
        "once.sh",
        &format!("#!/bin/sh\necho run >> {}\nexit 2\n", runs.display()),
    );
    fs::write(&yml, format!("cmd: {}\nretries: 0\n", script.display())).unwrap();
    let sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    // Retries used up: `failed` (not restarted until an operator's `up`).
    let st = sup.wait_state("failed");
    assert_eq!(
        (st["count"].as_u64(), st["want"].as_str()),
        (Some(1), Some("down")),
        "{st}"
    );
    assert_eq!(st["exit"], serde_json::json!({"code": 2}));
    assert_eq!(st["reason"], "failed: retries (0) exhausted; last: exit 2", "{st}");
    assert_eq!(sup.signal("x"), "set environment variable IMMORTAL_EXIT to exit");
    assert!(sup.status().is_object(), "still up after the refused exit");
    drop(sup);

    let mut cmd = sb.command(&[
        "-n",
        "-ctl",
        sb.path("sv2").to_str().unwrap(),
        "-c",
        yml.to_str().unwrap(),
    ]);
    cmd.env("IMMORTAL_EXIT", "1");
    let mut sup = Supervisor {
        child: Some(cmd.spawn().unwrap()),
        dir: sb.path("sv2"),
        stderr: sb.path("x"),
        pids: vec![],
    };
    assert_eq!(sup.wait_exit(10.0), 0);
}

#[test]
fn term_ignoring_child_is_killed_after_stop_timeout() {
    let sb = Sandbox::new();
    let script = sb.script(
        "stubborn.sh",
        "#!/bin/sh\ntrap '' TERM\necho ready > ready\nwhile :; do sleep 0.05; done\n",
    );
    let yml = sb.write(
        "s.yml",
        &format!(
            "cmd: {}\ncwd: {}\nstop:\n  timeout: 1\n",
            script.display(),
            sb.dir.path().display()
        ),
    );
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    let pid = sup.wait_running(None);
    wait_for(5.0, "trap installed", || sb.read("ready") == "ready\n");
    let t0 = Instant::now();
    assert_eq!(sup.signal("down"), "");
    // TERM is ignored: still running (and not yet down) right after.
    assert_eq!(sup.status()["state"], "run");
    let st = sup.wait_state("down");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "KILL came before the timeout"
    );
    assert_eq!(st["exit"], serde_json::json!({"signal": "KILL"}));
    assert!(group_members(pid).is_empty(), "group {pid} left behind");
    assert!(sup.log().contains("stop timeout: sending KILL"), "{}", sup.log());
}

#[test]
fn down_leaves_no_process_of_the_group() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sh", "-c", "sleep 1000 & sleep 1000"]);
    let pid = sup.wait_running(None);
    wait_for(5.0, "both sleeps started", || group_members(pid).len() >= 3);
    assert_eq!(sup.signal("d"), "");
    let st = sup.wait_state("down");
    assert_eq!(st["want"], "down");
    assert!(group_members(pid).is_empty(), "left behind: {:?}", group_members(pid));
    // And it stays down.
    assert_eq!(sup.status()["count"], 1);
}

#[test]
fn stop_signal_is_configurable_and_group_false_signals_main_only() {
    let sb = Sandbox::new();
    let script = sb.script(
        "q.sh",
        "#!/bin/sh
(trap 'echo child-USR1 >> got; exit 0' USR1; echo ready >> ready; while :; do sleep 0.05; done) &
trap 'echo USR1 >> got; exit 0' USR1
trap 'echo TERM >> got; exit 0' TERM
echo ready >> ready
while :; do sleep 0.05; done
",
    );
    let yml = sb.write(
        "q.yml",
        &format!(
            "cmd: {}\ncwd: {}\nstop: {{signal: SIGUSR1, group: false, timeout: 1}}\n",
            script.display(),
            sb.dir.path().display()
        ),
    );
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    let pid = sup.wait_running(None);
    wait_for(5.0, "both traps set", || lines(&sb.path("ready")).len() == 2);
    assert_eq!(sup.signal("down"), "");
    let st = sup.wait_state("down");
    // The main process got the configured signal; the other member of its
    // group did not, and was KILLed at the deadline instead.
    assert_eq!(sb.read("got"), "USR1\n");
    assert_eq!(st["exit"], serde_json::json!({"code": 0}));
    assert!(group_members(pid).is_empty());
}

#[test]
fn require_refuses_until_the_required_service_is_up() {
    let sb = Sandbox::new();
    let yml = sb.write("app.yml", "cmd: sleep 100\nrequire: [db, cache]\n");
    let out = sb.run(&["-n", "-c", yml.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("require not ready: db, cache"),
        "{}",
        stderr_of(&out)
    );

    // db and cache under $IMMORTAL_SDIR (bare -ctl names).
    let mut db = Supervisor::spawn(
        sb.command(&["-n", "-ctl", "db", "sleep", "100"]),
        sb.path("sdir/db"),
        sb.path("db.err"),
    );
    db.wait_running(None);
    let out = sb.run(&["-n", "-c", yml.to_str().unwrap()]);
    assert!(
        stderr_of(&out).contains("require not ready: cache"),
        "{}",
        stderr_of(&out)
    );
    let mut cache = Supervisor::spawn(
        sb.command(&["-n", "-ctl", "cache", "sleep", "100"]),
        sb.path("sdir/cache"),
        sb.path("cache.err"),
    );
    cache.wait_running(None);
    let mut app = sb.supervise(&["-c", yml.to_str().unwrap()]);
    app.wait_running(None);
}

#[test]
fn require_cmd_failure_names_command_and_status() {
    let sb = Sandbox::new();
    let yml = sb.write("a.yml", "cmd: sleep 100\nrequire_cmd: test -f ok-file\n");
    let out = sb.run(&["-n", "-c", yml.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("require_cmd 'test -f ok-file' failed: exit status 1"),
        "{}",
        stderr_of(&out)
    );
    sb.write("ok-file", "");
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    sup.wait_running(None);
}

#[test]
fn post_exit_runs_with_the_exit_code() {
    let sb = Sandbox::new();
    let hook = sb.script(
        "hook.sh",
        &format!("#!/bin/sh\necho \"$1\" >> {}\n", sb.path("codes").display()),
    );
    let script = sb.script("die.sh", "#!/bin/sh\nsleep 0.2\nexit 7\n");
    let yml = sb.write(
        "p.yml",
        &format!("cmd: {}\npost_exit: {}\nretries: 1\n", script.display(), hook.display()),
    );
    let _sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    wait_for(10.0, "two post_exit runs", || lines(&sb.path("codes")) == ["7", "7"]);
}

#[test]
fn post_exit_gets_128_plus_signal() {
    let sb = Sandbox::new();
    let hook = sb.script(
        "hook.sh",
        &format!("#!/bin/sh\necho \"$1\" >> {}\n", sb.path("codes").display()),
    );
    let yml = sb.write("p.yml", &format!("cmd: sleep 100\npost_exit: {}\n", hook.display()));
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    sup.wait_running(None);
    assert_eq!(sup.signal("down"), "");
    wait_for(10.0, "post_exit ran", || lines(&sb.path("codes")) == ["143"]);
}

#[test]
fn user_sets_ids_groups_and_home() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to switch users");
        return;
    }
    let sb = Sandbox::new();
    let out = sb.path("id");
    fs::set_permissions(sb.dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let script = format!(
        "echo $(id -u) $(id -g) $(id -G) $HOME $USER $LOGNAME > {}; exec sleep 100",
        out.display()
    );
    let mut sup = sb.supervise(&["-u", "nobody", "sh", "-c", &script]);
    sup.wait_running(None);
    wait_for(5.0, "id written", || !sb.read("id").is_empty());
    // The oracle is the system's own id(1) and getent(1) (NSS as configured),
    // not our lookup code.
    let id = |flag: &str| {
        let out = Command::new("id").args([flag, "nobody"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let entry = Command::new("getent").args(["passwd", "nobody"]).output().unwrap();
    let entry = String::from_utf8_lossy(&entry.stdout).trim().to_string();
    let home = entry.split(':').nth(5).unwrap().to_string();
    let (uid, gid, all_groups) = (id("-u"), id("-g"), id("-G"));
    let want_groups: Vec<String> = all_groups.split_whitespace().map(str::to_string).collect();
    let want = format!("{uid} {gid} {all_groups} {home} nobody nobody");
    assert_eq!(sb.read("id").trim(), want);
    // Root's own supplementary groups are gone.
    let pid = sup.status()["pid"].as_i64().unwrap();
    let proc_status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let groups_line = proc_status.lines().find(|l| l.starts_with("Groups:")).unwrap();
    assert!(
        !groups_line.split_whitespace().skip(1).any(|g| g == "0"),
        "{groups_line}"
    );
    // Exactly nobody's groups; real, effective, saved and fs ids all nobody.
    let mut seen: Vec<&str> = groups_line.split_whitespace().skip(1).collect();
    let mut wanted: Vec<&str> = want_groups.iter().map(String::as_str).collect();
    seen.sort_unstable();
    wanted.sort_unstable();
    wanted.dedup();
    assert_eq!(seen, wanted, "{groups_line}");
    for (field, id) in [("Uid:", &uid), ("Gid:", &gid)] {
        let line = proc_status.lines().find(|l| l.starts_with(field)).unwrap();
        let ids: Vec<&str> = line.split_whitespace().skip(1).collect();
        assert_eq!(ids, vec![id.as_str(); 4], "{line}");
    }
}

#[test]
fn envdir_cwd_and_env_are_applied() {
    let sb = Sandbox::new();
    sb.write("env/FOO", "bar  \nignored\n");
    sb.write("env/GONE", "");
    sb.write("work/marker", "");
    let script = format!(
        "echo \"$FOO|${{GONE-unset}}|$(pwd)\" > {}; exec sleep 100",
        sb.path("out").display()
    );
    let mut cmd = sb.command(&[
        "-n",
        "-ctl",
        sb.path("sv").to_str().unwrap(),
        "-e",
        "env",
        "-d",
        "work",
        "sh",
        "-c",
        &script,
    ]);
    cmd.env("GONE", "present");
    let mut sup = Supervisor::spawn(cmd, sb.path("sv"), sb.path("err"));
    sup.wait_running(None);
    wait_for(5.0, "env written", || !sb.read("out").is_empty());
    let work = fs::canonicalize(sb.path("work")).unwrap();
    assert_eq!(sb.read("out"), format!("bar|unset|{}\n", work.display()));

    let script = sb.script(
        "e.sh",
        &format!(
            "#!/bin/sh\necho \"$DEBUG $ENVIRONMENT $(pwd)\" > {}\nexec sleep 100\n",
            sb.path("out2").display()
        ),
    );
    let yml = sb.write(
        "e.yml",
        &format!(
            "cmd: {}\ncwd: {}\nenv:\n  DEBUG: 1\n  ENVIRONMENT: production\n",
            script.display(),
            work.display()
        ),
    );
    let mut sup2 = sb.supervise_in("sv2", &["-c", yml.to_str().unwrap()]);
    sup2.wait_running(None);
    wait_for(5.0, "yml env written", || !sb.read("out2").is_empty());
    assert_eq!(sb.read("out2"), format!("1 production {}\n", work.display()));
}

#[test]
fn pidfiles_and_logfile() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&[
        "-P",
        "super.pid",
        "-p",
        "child.pid",
        "-l",
        "out.log",
        "sh",
        "-c",
        "echo hello; echo oops >&2; exec sleep 100",
    ]);
    let pid = sup.wait_running(None);
    assert_eq!(sb.read("super.pid"), format!("{}\n", sup.pid()));
    assert_eq!(sb.read("child.pid"), format!("{pid}\n"));
    wait_for(5.0, "log written", || sb.read("out.log") == "hello\noops\n");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    let pid2 = sup.wait_running(Some(pid));
    wait_for(5.0, "child pidfile rewritten", || {
        sb.read("child.pid") == format!("{pid2}\n")
    });
    wait_for(5.0, "log appended", || {
        sb.read("out.log") == "hello\noops\nhello\noops\n"
    });
}

#[test]
fn lock_refuses_a_second_supervisor_naming_the_holder() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "100"]);
    sup.wait_running(None);
    for extra in [&["-n"][..], &[]] {
        let mut args = extra.to_vec();
        args.extend_from_slice(&["-ctl", sup.dir.to_str().unwrap(), "sleep", "100"]);
        let out = sb.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr_of(&out);
        assert!(
            err.contains(&format!("is already supervised by pid {}", sup.pid())),
            "{err}"
        );
    }
    assert_eq!(sup.status()["count"], 1, "the first supervisor is untouched");
}

#[test]
fn daemonizes_and_returns_to_the_shell() {
    let sb = Sandbox::new();
    let t0 = Instant::now();
    let out = sb.run(&["-ctl", "bg", "-P", "super.pid", "sleep", "100"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(t0.elapsed() < Duration::from_secs(5));
    let super_pid: i32 = sb.read("super.pid").trim().parse().unwrap();
    let sock = sb.path("sdir/bg/immortal.sock");
    // Clean up by pid whatever happens below.
    struct Reap(i32, i64);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
            if self.1 > 0 {
                let _ = nix::sys::signal::killpg(Pid::from_raw(self.1 as i32), Signal::SIGKILL);
            }
        }
    }
    let mut reap = Reap(super_pid, 0);
    let mut st = serde_json::Value::Null;
    wait_for(5.0, "daemon's service runs", || {
        st = immortal::client::status(&sock).unwrap_or_default();
        st["state"] == "run"
    });
    reap.1 = st["pid"].as_i64().unwrap();
    assert!(alive(super_pid as i64));
    // Detached: its own session, stdio on /dev/null.
    let stat = fs::read_to_string(format!("/proc/{super_pid}/stat")).unwrap();
    let sid: i32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sid, super_pid);
    assert_eq!(
        fs::read_link(format!("/proc/{super_pid}/fd/1")).unwrap().to_str(),
        Some("/dev/null")
    );
    let (_, body) = immortal::client::get(&sock, "/signal/halt").unwrap();
    assert!(body.contains("\"Err\":\"\""), "{body}");
    wait_for(10.0, "daemon exits", || !alive(super_pid as i64));
    assert!(!alive(reap.1));
}

#[test]
fn sigterm_stops_the_service_and_exits_zero() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sh", "-c", "sleep 1000 & exec sleep 1000"]);
    let pid = sup.wait_running(None);
    wait_for(5.0, "group formed", || group_members(pid).len() >= 2);
    kill(Pid::from_raw(sup.pid()), Signal::SIGTERM).unwrap();
    assert_eq!(sup.wait_exit(15.0), 0);
    assert!(
        group_members(pid).is_empty(),
        "service left running: {:?}",
        group_members(pid)
    );
    assert!(!sup.sock().exists(), "socket not removed");
}

#[test]
fn supervise_dir_defaults() {
    let sb = Sandbox::new();
    // -name without -ctl: ~/.immortal/NAME
    let mut a = Supervisor::spawn(
        sb.command(&["-n", "-name", "alpha", "sleep", "100"]),
        sb.path("home/.immortal/alpha"),
        sb.path("a.err"),
    );
    a.wait_running(None);
    // A config file's stem names it.
    let yml = sb.write("beta.yml", "cmd: sleep 100\n");
    let mut b = Supervisor::spawn(
        sb.command(&["-n", "-c", yml.to_str().unwrap()]),
        sb.path("home/.immortal/beta"),
        sb.path("b.err"),
    );
    b.wait_running(None);
    // Nothing: the supervisor's pid.
    let child = sb.command(&["-n", "sleep", "100"]).spawn().unwrap();
    let dir = sb.path(&format!("home/.immortal/{}", child.id()));
    let mut c = Supervisor {
        child: Some(child),
        dir: dir.clone(),
        stderr: sb.path("c.err"),
        pids: vec![],
    };
    wait_for(5.0, "pid-named dir", || dir.join("immortal.sock").exists());
    c.wait_running(None);
    // A bare -ctl name: $IMMORTAL_SDIR/NAME.
    let mut d = Supervisor::spawn(
        sb.command(&["-n", "-ctl", "delta", "sleep", "100"]),
        sb.path("sdir/delta"),
        sb.path("d.err"),
    );
    d.wait_running(None);
    let mode = fs::metadata(d.sock()).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o660
    );
    assert_eq!(
        fs::read_to_string(d.dir.join("lock")).unwrap(),
        format!("{}\n", d.pid())
    );
}

#[test]
fn spawn_failure_is_logged_and_retried() {
    let sb = Sandbox::new();
    let sup = sb.supervise(&["/nonexistent/program"]);
    wait_for(10.0, "two failed starts", || sup.status()["count"].as_u64() >= Some(2));
    assert!(
        sup.log().contains("unable to start /nonexistent/program"),
        "{}",
        sup.log()
    );
    assert_eq!(sup.status()["exit"], serde_json::json!({"code": 127}));
}

/// SIGXFSZ (bit 24), SIGPIPE (bit 12) and glibc's signals 32 and 33 (bits
/// 31, 32: a `posix_spawn` of glibc's, as std's `Command` uses to start
/// the supervisor here, leaves them ignored) in the SigIgn mask that `sh
/// -c` wrote to FILE (`grep SigIgn /proc/$$/status > FILE`).
fn ignored_by(file: &std::path::Path) -> Option<u64> {
    let text = fs::read_to_string(file).ok()?;
    let hex = text.split_whitespace().nth(1)?;
    u64::from_str_radix(hex, 16)
        .ok()
        .map(|m| m & ((1 << 24) | (1 << 12) | (1 << 31) | (1 << 32)))
}

#[test]
fn every_kind_of_child_starts_with_default_signal_dispositions() {
    let sb = Sandbox::new();
    let probe = |name: &str| {
        format!(
            "grep SigIgn /proc/$$/status > {}",
            sb.path(&format!("{name}.sigign")).display()
        )
    };
    // A command-line service.
    let mut cli = sb.supervise_in("cli", &["sh", "-c", &format!("{}; exec sleep 100", probe("cli"))]);
    cli.wait_running(None);
    cli.wait_for(5.0, "cli probe", || ignored_by(&sb.path("cli.sigign")).is_some());
    // A -c service with a logger, post_exit and require_cmd.
    let post = sb.script("post", &format!("#!/bin/sh\n{}\n", probe("post_exit")));
    let yml = format!(
        "cmd: [sh, -c, '{}; sleep 0.2; exit 1']\nlogger: sh -c '{}; exec cat'\npost_exit: {}\nrequire_cmd: sh -c '{}'\nretries: 0\n",
        probe("yml"),
        probe("logger"),
        post.display(),
        probe("require_cmd")
    );
    let cfg = sb.write("svc.yml", &yml);
    let yml_sup = sb.supervise_in("yml", &["-c", cfg.to_str().unwrap()]);
    // A service directory with ./finish and control/t.
    let dir = sb.path("svcdir");
    sb.script("svcdir/run", &format!("#!/bin/sh\n{}\nexec sleep 100\n", probe("run")));
    sb.script("svcdir/finish", &format!("#!/bin/sh\n{}\n", probe("finish")));
    sb.script(
        "svcdir/control/t",
        &format!("#!/bin/sh\n{}\nexit 1\n", probe("control")),
    );
    let mut runsv = supervise_dir(&sb, &dir);
    let pid = runsv.wait_running(None);
    fs::OpenOptions::new()
        .write(true)
        .open(dir.join("supervise/control"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"t"))
        .unwrap();
    runsv.wait_for(10.0, "run, control/t and finish probes", || {
        ["run", "control", "finish"]
            .iter()
            .all(|n| ignored_by(&sb.path(&format!("{n}.sigign"))).is_some())
    });
    runsv.wait_running(Some(pid));
    for name in [
        "cli",
        "yml",
        "logger",
        "post_exit",
        "require_cmd",
        "run",
        "control",
        "finish",
    ] {
        let file = sb.path(&format!("{name}.sigign"));
        yml_sup.wait_for(10.0, &format!("{name} probe"), || ignored_by(&file).is_some());
        assert_eq!(
            ignored_by(&file),
            Some(0),
            "{name}: SIGXFSZ, SIGPIPE or glibc's 32/33 ignored: {}",
            sb.read(&format!("{name}.sigign"))
        );
    }
}

#[test]
fn retries_exhausted_by_a_command_that_never_ran_exit_non_zero() {
    let sb = Sandbox::new();
    let out = sb.run(&["-n", "-ctl", "never", "-r", "1", "/no/such/cmd"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("retries (1) exhausted"), "{}", stderr_of(&out));
    // A command that did run and failed is an ordinary end: 0, as Go.
    let out = sb.run(&["-n", "-ctl", "ran", "-r", "0", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
}

#[test]
fn a_log_file_that_cannot_be_opened_is_named_and_leaves_no_socket() {
    let sb = Sandbox::new();
    let yml = sb.write("bad.yml", "cmd: sleep 100\nlog:\n  file: /nonexistent/dir/x.log\n");
    let out = sb.run(&["-n", "-c", yml.to_str().unwrap(), "-ctl", "bad"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("/nonexistent/dir/x.log: No such file or directory"),
        "{err}"
    );
    assert!(
        !sb.path("sdir/bad/immortal.sock").exists(),
        "a dead socket was left behind"
    );
}

#[test]
fn each_supervisor_message_is_one_write_of_one_whole_line() {
    // A datagram socket as stderr keeps write boundaries: one write(2),
    // one datagram.
    let sb = Sandbox::new();
    let (ours, theirs) = std::os::unix::net::UnixDatagram::pair().unwrap();
    ours.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let dir = sb.path("sv");
    let mut child = sb
        .command(&["-n", "-ctl", dir.to_str().unwrap(), "sh", "-c", "exit 3"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .spawn()
        .unwrap();
    let mut messages = Vec::new();
    let mut buf = [0u8; 4096];
    while messages.iter().filter(|m: &&String| m.contains("ended")).count() < 2 {
        let n = ours.recv(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(messages.len() >= 4, "{messages:?}");
    for m in &messages {
        assert!(
            m.starts_with("immortal: ") && m.ends_with('\n') && m.matches('\n').count() == 1,
            "not one whole line per write: {m:?}"
        );
    }
}
