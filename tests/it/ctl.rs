//! `immortalctl` against real supervisors: ours (socket) and the real
//! `runsv` (FIFO), the table layout and colours, verbs, signals, waits,
//! errors and stale directories.

use crate::common::*;
use std::fs;
use std::process::{Command, Output, Stdio};

fn ctl(sb: &Sandbox, args: &[&str]) -> Output {
    Command::new(CTL)
        .args(args)
        .env("HOME", sb.path("home"))
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A supervisor on `$IMMORTAL_SDIR/NAME`.
fn named(sb: &Sandbox, name: &str, args: &[&str]) -> Supervisor {
    let mut full = vec!["-n", "-ctl", name];
    full.extend_from_slice(args);
    Supervisor::spawn(
        sb.command(&full),
        sb.path(&format!("sdir/{name}")),
        sb.path(&format!("{name}.err")),
    )
}

#[test]
fn table_lists_up_down_and_waiting_services() {
    let sb = Sandbox::new();
    let mut web = named(&sb, "web", &["sleep", "1000"]);
    let web_pid = web.wait_running(None);
    let mut db = named(&sb, "database", &["sleep", "2000"]);
    let db_pid = db.wait_running(None);
    let _later = named(&sb, "later", &["-w", "60", "sleep", "3000"]);
    assert_eq!(stdout(&ctl(&sb, &["stop", "database"])).lines().count(), 2);
    db.wait_state("down");
    let out = ctl(&sb, &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    // Widths from the widest cells: pid, up ("N.Ns"), down, name ("database").
    let w_pid = web_pid.to_string().len().max(db_pid.to_string().len());
    let header = format!("{:>w_pid$}   {:>4}   {:>4}   {:<8}   CMD", "PID", "Up", "Down", "Name");
    assert_eq!(lines[0], header, "{text}");
    // Services in name order: database (down), later (waiting), web (up).
    assert!(lines[1].starts_with(&format!("{db_pid:>w_pid$}          ")), "{text}");
    assert!(lines[1].ends_with("   database   sleep 2000"), "{text}");
    assert!(lines[2].starts_with(&" ".repeat(w_pid + 3 + 4 + 3 + 4 + 3)), "{text}");
    assert!(lines[2].contains("later      sleep 3000 - Starting in "), "{text}");
    assert!(lines[2].ends_with(" seconds"), "{text}");
    assert!(lines[3].starts_with(&format!("{web_pid:>w_pid$}   ")), "{text}");
    assert!(lines[3].ends_with("          web        sleep 1000"), "{text}");
    assert!(!text.contains('\x1b'), "no colour when stdout is not a terminal");
}

#[test]
fn colours_only_on_a_terminal_without_a_opt_out() {
    let sb = Sandbox::new();
    let mut web = named(&sb, "web", &["sleep", "1000"]);
    web.wait_running(None);
    // `script` gives immortalctl a terminal as its stdout.
    let in_pty = |args: &str, no_color: bool| {
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &format!("{CTL} {args}"), "/dev/null"])
            .env("HOME", sb.path("home"))
            .env("IMMORTAL_SDIR", sb.path("sdir"))
            .env_remove("NO_COLOR");
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        stdout(&cmd.output().unwrap())
    };
    assert!(
        in_pty("", false).contains("\x1b[0;32mweb\x1b[0;00m"),
        "green when up on a terminal"
    );
    assert!(!in_pty("-A", false).contains('\x1b'), "-A: no colour");
    assert!(!in_pty("", true).contains('\x1b'), "NO_COLOR: no colour");
    assert_eq!(stdout(&ctl(&sb, &["stop", "web"])).lines().count(), 2);
    web.wait_state("down");
    assert!(in_pty("", false).contains("\x1b[0;31mweb\x1b[0;00m"), "red when down");
}

#[test]
fn verbs_signals_and_star() {
    let sb = Sandbox::new();
    let mut a = named(&sb, "a", &["sleep", "1000"]);
    let mut b = named(&sb, "b", &["sleep", "1000"]);
    let pa = a.wait_running(None);
    let pb = b.wait_running(None);
    let out = ctl(&sb, &["-w", "5", "stop", "*"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(a.status()["state"], "down");
    assert_eq!(b.status()["state"], "down");
    let out = ctl(&sb, &["-w", "5", "start", "a"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(a.status()["state"], "run");
    assert_eq!(b.status()["state"], "down");
    let pa2 = a.wait_running(Some(pa));
    // -k KILLs it; it is restarted (wanted up).
    ctl(&sb, &["-k", "a"]);
    let pa3 = a.wait_running(Some(pa2));
    assert_eq!(a.status()["exit"], serde_json::json!({"signal": "KILL"}));
    let out = ctl(&sb, &["-w", "5", "restart", "a"]);
    assert_eq!(out.status.code(), Some(0));
    a.wait_running(Some(pa3));
    // once: started, not restarted after it ends.
    let out = ctl(&sb, &["-w", "5", "once", "b"]);
    assert_eq!(out.status.code(), Some(0));
    let pb2 = b.wait_running(Some(pb));
    assert_eq!(b.status()["want"], "once");
    ctl(&sb, &["-k", "b"]);
    b.wait_state("down");
    assert!(!alive(pb2));
    // An unknown signal error is shown in the row and makes the exit 1.
    let out = ctl(&sb, &["-in", "b"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains(" - service not running"), "{}", stdout(&out));
    // halt: service stopped and supervisor gone; exit: supervisor gone only.
    let pa4 = a.status()["pid"].as_i64().unwrap();
    ctl(&sb, &["exit", "a"]);
    assert_eq!(a.wait_exit(5.0), 0);
    assert!(alive(pa4));
    a.pids.push(pa4 as i32);
    ctl(&sb, &["halt", "b"]);
    assert_eq!(b.wait_exit(5.0), 0);
}

#[test]
fn controls_and_lists_a_real_runsv_service() {
    let sb = Sandbox::new();
    let d = sb.path("svc");
    sb.script("svc/run", "#!/bin/sh\nexec sleep 1000\n");
    let mut runsv = Supervisor {
        child: Some(Command::new("runsv").arg(&d).spawn().unwrap()),
        dir: d.clone(),
        stderr: sb.path("x"),
        pids: vec![],
    };
    wait_for(5.0, "runsv wrote its status", || {
        immortal::status::read(&d.join("supervise")).is_ok_and(|s| s.pid > 0)
    });
    let pid = immortal::status::read(&d.join("supervise")).unwrap().pid as i64;
    runsv.pids.push(pid as i32);
    let path = d.to_str().unwrap();
    let text = stdout(&ctl(&sb, &["status", path]));
    assert!(text.lines().nth(1).unwrap().starts_with(&format!("{pid}   ")), "{text}");
    assert!(text.contains(&format!("svc   {path}/run")), "{text}");
    let out = ctl(&sb, &["-w", "5", "stop", path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(immortal::status::read(&d.join("supervise")).unwrap().pid, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&ctl(&sb, &["--json", path]))).unwrap();
    assert_eq!(json[0]["state"], "down");
    assert_eq!(json[0]["want"], "down");
    assert!(json[0]["down"].as_str().unwrap().ends_with('s'));
    let out = ctl(&sb, &["-w", "5", "start", path]);
    assert_eq!(out.status.code(), Some(0));
    let new_pid = immortal::status::read(&d.join("supervise")).unwrap().pid as i64;
    runsv.pids.push(new_pid as i32);
    assert_ne!(new_pid, pid);
    // A signal runit has no letter for is an error, named.
    let out = ctl(&sb, &["-w", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("WINCH: no runit control letter"),
        "{}",
        stdout(&out)
    );
    // halt through the FIFO: runsv takes it down and exits.
    ctl(&sb, &["halt", path]);
    assert_eq!(runsv.wait_exit(5.0), 0);
}

#[test]
fn wait_times_out_with_a_message() {
    let sb = Sandbox::new();
    // A command that never runs: `start` is tried at once (SPEC §12) and
    // fails again. (A crash loop would be up, briefly, right after it.)
    let _s = named(&sb, "flaky", &["/nonexistent/flaky"]);
    let out = ctl(&sb, &["-w", "1", "start", "flaky"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("timeout: flaky did not reach the wanted state in 1s"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn unknown_service_usage_errors_and_version() {
    let sb = Sandbox::new();
    let out = ctl(&sb, &["stop", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr_of(&out), "immortalctl: no such service: nope\n");
    for args in [&["halt"][..], &["-x", "web"], &["stop", "a", "b"]] {
        let out = ctl(&sb, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr_of(&out).contains("usage: immortalctl"), "{args:?}");
    }
    let out = ctl(&sb, &["-v"]);
    assert_eq!(stdout(&out).trim(), env!("CARGO_PKG_VERSION"));
}

/// A supervise directory NAME whose supervisor is gone with nothing left
/// running: a socket file nobody listens on, and a free lock.
fn stale_dir(sb: &Sandbox, name: &str) -> std::path::PathBuf {
    let stale = sb.path(&format!("sdir/{name}"));
    fs::create_dir_all(&stale).unwrap();
    drop(std::os::unix::net::UnixListener::bind(stale.join("immortal.sock")).unwrap());
    fs::write(stale.join("lock"), "12345\n").unwrap();
    stale
}

#[test]
fn stale_directories_are_removed() {
    let sb = Sandbox::new();
    let stale = stale_dir(&sb, "ghost");
    let mut live = named(&sb, "live", &["sleep", "1000"]);
    live.wait_running(None);
    let text = stdout(&ctl(&sb, &[]));
    assert!(!text.contains("ghost"), "{text}");
    assert!(!stale.exists(), "stale directory not removed");
    assert!(live.dir.exists());
}

/// A verb for every service is sent to each socket without a look first
/// at whether anyone answers: one that does not, stale, is passed over and
/// removed as the table does, not reported; an orphaned service is said
/// to be one.
#[test]
fn a_verb_for_every_service_passes_over_a_stale_directory_and_names_an_orphan() {
    let sb = Sandbox::new();
    let stale = stale_dir(&sb, "ghost");
    let mut live = named(&sb, "live", &["sleep", "1000"]);
    live.wait_running(None);
    let mut orphaned = named(&sb, "k9", &["sleep", "300"]);
    let pid = orphaned.wait_running(None);
    orphaned.pids.push(pid as i32);
    let mut child = orphaned.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let out = ctl(&sb, &["-w", "5", "stop", "*"]);
    assert_eq!(out.status.code(), Some(1), "the orphan cannot be stopped");
    let (text, errors) = (stdout(&out), stderr_of(&out));
    assert!(!text.contains("ghost") && !errors.contains("ghost"), "{text}{errors}");
    assert!(
        text.contains(&format!("supervisor gone (pid {pid} still runs)")),
        "{text}"
    );
    assert!(!stale.exists(), "stale directory not removed");
    assert_eq!(live.status()["state"], "down");
    assert!(alive(pid) && sb.path("sdir/k9/started").exists());
}

#[test]
fn a_detached_supervisor_that_cannot_exec_says_why_in_its_row_and_its_log_file() {
    let sb = Sandbox::new();
    // No syslog to reach: messages must land in the supervise directory.
    let out = sb
        .command(&["-ctl", "x", "-P", "super.pid", "/no/such/cmd"])
        .env("IMMORTAL_SYSLOG", sb.path("no-syslog-here"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let super_pid: i32 = sb.read("super.pid").trim().parse().unwrap();
    struct Reap(i32);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0), nix::sys::signal::Signal::SIGKILL);
        }
    }
    let _reap = Reap(super_pid);
    let log = sb.path("sdir/x/immortal.log");
    wait_for(10.0, "the fallback log names the failure", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("unable to start /no/such/cmd: No such file"))
    });
    let row = stdout(&ctl(&sb, &["-A", "status", "x"]));
    assert!(row.contains("/no/such/cmd - "), "{row}");
    assert!(row.contains(" - exec failed: No such file or directory"), "{row}");
    let json = stdout(&ctl(&sb, &["--json", "status", "x"]));
    assert!(
        json.contains("\"reason\": \"exec failed: No such file or directory; restarting in "),
        "{json}"
    );
}

#[test]
fn an_orphaned_service_is_shown_not_purged_and_the_next_supervisor_adopts_it() {
    let sb = Sandbox::new();
    let mut first = named(&sb, "k9", &["sleep", "300"]);
    let pid = first.wait_running(None);
    first.pids.push(pid as i32);
    let mut child = first.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // The table and the name both show it, and keep the directory.
    for args in [&[][..], &["status", "k9"]] {
        let out = ctl(&sb, args);
        let text = stdout(&out);
        assert!(
            text.contains(&format!("orphaned: pid {pid}, supervisor gone")) && text.contains("sleep 300"),
            "{args:?}: {text}"
        );
    }
    assert!(sb.path("sdir/k9/started").exists(), "the started record was destroyed");
    // A verb cannot reach it, and says why.
    let out = ctl(&sb, &["stop", "k9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(alive(pid));
    let mut second = named(&sb, "k9", &["sleep", "300"]);
    assert_eq!(second.wait_running(None), pid, "adopted, not a second copy");
    assert!(second.log().contains("adopting"), "{}", second.log());
}

#[test]
fn a_name_whose_supervisor_is_gone_says_so_and_exits_1() {
    let sb = Sandbox::new();
    let mut gone = named(&sb, "gone", &["sleep", "300"]);
    let pid = gone.wait_running(None);
    let mut child = gone.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(5.0, "service gone", || !alive(pid));
    let out = ctl(&sb, &["status", "gone"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr_of(&out).contains("gone: not running"), "{}", stderr_of(&out));
}

#[test]
fn verbs_print_the_table_after_the_action_took_effect() {
    let sb = Sandbox::new();
    // Takes half a second to stop.
    let slow = "trap 'sleep 0.5; exit 0' TERM; while :; do sleep 0.1; done";
    let mut s = named(&sb, "slow", &["sh", "-c", slow]);
    let pid = s.wait_running(None);
    let out = ctl(&sb, &["-A", "stop", "slow"]);
    let row = stdout(&out).lines().nth(1).unwrap_or_default().to_string();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let down_cell = row.split_whitespace().nth(1).unwrap_or_default().to_string();
    assert!(down_cell.ends_with('s') && !row.contains(" - "), "row not down: {row}");
    assert_eq!(s.status()["state"], "down");
    let out = ctl(&sb, &["-A", "start", "slow"]);
    let row = stdout(&out).lines().nth(1).unwrap_or_default().to_string();
    let new_pid: i64 = row.split_whitespace().next().unwrap_or("0").parse().unwrap_or(0);
    assert!(new_pid > 0 && new_pid != pid, "row not up with the new pid: {row}");
    s.pids.push(new_pid as i32);
}

#[test]
fn a_verb_waits_on_events_and_never_sleeps() {
    let sb = Sandbox::new();
    // Its stop takes a second: a sleeping wait would look again and again.
    let mut slow = named(
        &sb,
        "slow",
        &[
            "sh",
            "-c",
            "trap 'sleep 1; exit 0' TERM; while :; do sleep 100 & wait $!; done",
        ],
    );
    slow.wait_running(None);
    let trace = sb.path("ctl.strace");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=nanosleep,clock_nanosleep", "-o"])
        .arg(&trace)
        .args([CTL, "-w", "5", "stop", "slow"])
        .env("HOME", sb.path("home"))
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .stdin(Stdio::null())
        .output()
        .expect("strace is not installed: run scripts/install-peers");
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(slow.status()["state"], "down");
    let sleeps = fs::read_to_string(&trace).unwrap_or_default();
    assert!(
        !sleeps.lines().any(|l| l.contains("nanosleep(")),
        "immortalctl slept while waiting:\n{sleeps}"
    );
}

/// `immortalctl` run as `nobody` (no groups), in the sandbox's environment,
/// from `bin` (a copy it can reach); `(exit code, stdout + stderr)`. Killed
/// by pid if it has not finished within 10 s.
fn ctl_as_nobody(sb: &Sandbox, bin: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new("setpriv")
        .args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"])
        .arg(bin)
        .args(args)
        .env("HOME", sb.path("home"))
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("setpriv (util-linux) is missing");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("immortalctl {args:?} as nobody did not finish");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), stdout(&out) + &stderr_of(&out))
}

#[test]
fn access_denied_is_said_never_taken_for_a_supervisor_gone() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to run immortalctl as nobody against root's service");
        return;
    }
    let sb = Sandbox::new();
    // nobody may look in the supervise directory, not use root's socket.
    fs::set_permissions(sb.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mut http = named(&sb, "http", &["sleep", "1000"]);
    let pid = http.wait_running(None);
    let sock = http.sock();
    assert_eq!(fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o660);
    // The build's binary may sit under a 0700 directory: nobody runs a copy.
    let bin_dir = tempfile::Builder::new()
        .prefix("immortalctl-nobody-")
        .tempdir()
        .unwrap();
    fs::set_permissions(bin_dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bin_dir.path().join("immortalctl");
    fs::copy(CTL, &bin).unwrap();

    let said = format!(
        "immortalctl: http: access denied: unable to connect to {}: Permission denied",
        sock.display()
    );
    let path = sb.path("sdir/http");
    let cases: &[&[&str]] = &[
        &["-A", "http"],
        &["-A"],
        &["-A", "--json"],
        &["-A", path.to_str().unwrap()],
        &["-A", "down", "http"],
        &["-A", "restart", "http"],
        &["-A", "-1", "http"],
        &["history", "http"],
        &["wait", "-t", "1", "down", "http"],
        &["log", "http"],
        &["events", "http"],
    ];
    for args in cases {
        let (code, text) = ctl_as_nobody(&sb, &bin, args);
        assert_eq!(code, Some(1), "{args:?}:\n{text}");
        assert!(text.contains(&said), "{args:?}:\n{text}");
        assert!(!text.contains("gone") && !text.contains("adopt"), "{args:?}:\n{text}");
    }
    // Nothing was done to it, nothing purged.
    let st = http.status();
    assert_eq!(
        (st["state"].as_str(), st["want"].as_str(), st["pid"].as_i64()),
        (Some("run"), Some("up"), Some(pid))
    );

    // A runit service directory, its supervise/ 0700 as runsv makes it.
    let supervise = sb.path("svc/cron/supervise");
    fs::create_dir_all(&supervise).unwrap();
    for fifo in ["control", "ok"] {
        nix::unistd::mkfifo(&supervise.join(fifo), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    }
    fs::write(supervise.join("status"), [0u8; 20]).unwrap();
    fs::set_permissions(&supervise, fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(sb.path("svc"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(sb.path("svc/cron"), fs::Permissions::from_mode(0o755)).unwrap();
    let said = format!(
        "immortalctl: cron: access denied: unable to look in {}: Permission denied",
        supervise.display()
    );
    for verb in ["status", "down"] {
        let (code, text) = ctl_as_nobody(&sb, &bin, &["-A", verb, sb.path("svc/cron").to_str().unwrap()]);
        assert_eq!(code, Some(1), "{verb}:\n{text}");
        assert!(text.contains(&said), "{verb}:\n{text}");
    }
}
