//! Readiness and health (SPEC §10, §11): s6's notification fd, sd_notify
//! (from the service and from a child of it, `systemd-notify`), `tcp`,
//! `http` and `cmd` probes, `ready.timeout`, health checks and the
//! watchdog restarting a service, and `immortalctl -w up` waiting for
//! ready.

use crate::common::*;
use serde_json::Value;
use std::fs;
use std::process::Command;

/// A FIFO the test writes a line into to let a service go on.
fn gate(sb: &Sandbox, name: &str) -> std::path::PathBuf {
    let path = sb.path(name);
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    path
}

fn open_gate(path: &std::path::Path) {
    fs::write(path, "go\n").unwrap();
}

fn supervise(sb: &Sandbox, name: &str, yml: &str) -> Supervisor {
    fs::create_dir_all(sb.path("sdir")).unwrap();
    let file = sb.write(&format!("{name}.yml"), yml);
    sb.supervise_in(&format!("sdir/{name}"), &["-c", file.to_str().unwrap()])
}

fn ctl(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    Command::new(CTL)
        .args(args)
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .env("HOME", sb.path("home"))
        .output()
        .unwrap()
}

fn history(sup: &Supervisor) -> Vec<Value> {
    let (_, body) = immortal::client::get(&sup.sock(), "/history").unwrap();
    serde_json::from_str::<Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// Running, and not ready: the API and the row say so.
fn assert_not_ready(sb: &Sandbox, sup: &Supervisor, name: &str) {
    let st = sup.status();
    assert_eq!(
        (st["state"].as_str(), st["ready"].as_bool()),
        (Some("run"), Some(false)),
        "{st}"
    );
    let row = String::from_utf8_lossy(&ctl(sb, &["-A", name]).stdout).into_owned();
    assert!(row.contains(" - not ready"), "{row}");
}

fn wait_ready(sup: &Supervisor) -> Value {
    let mut st = Value::Null;
    sup.wait_for(15.0, "ready", || {
        st = sup.status();
        st["ready"] == true
    });
    st
}

#[test]
fn s6_notification_fd_in_a_service_directory() {
    let sb = Sandbox::new();
    let go = gate(&sb, "go");
    sb.script(
        "svc/run",
        &format!(
            "#!/bin/sh\nread line < {}\necho ready >&3\nexec sleep 1000\n",
            go.display()
        ),
    );
    sb.write("svc/notification-fd", "3\n");
    let mut sup = supervise_dir(&sb, &sb.path("svc"));
    sup.wait_running(None);
    let st = sup.status();
    assert_eq!(st["ready"], false, "{st}");
    open_gate(&go);
    let st = wait_ready(&sup);
    assert!(st["ready_in"].as_str().is_some(), "{st}");
    assert!(sup.log().contains("ready after "), "{}", sup.log());
}

#[test]
fn ready_fd_in_run_yml_and_immortalctl_w_up_waits_for_it() {
    let sb = Sandbox::new();
    let go = gate(&sb, "go");
    let script = sb.script(
        "web.sh",
        &format!("#!/bin/sh\nread line < {}\necho >&5\nexec sleep 1000\n", go.display()),
    );
    let mut sup = supervise(&sb, "web", &format!("cmd: {}\nready:\n  fd: 5\n", script.display()));
    sup.wait_running(None);
    assert_not_ready(&sb, &sup, "web");
    // `-w 2 up` times out while it is not ready…
    let out = ctl(&sb, &["-w", "2", "up", "web"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // …and returns once it is.
    let opener = std::thread::spawn(move || open_gate(&go));
    let out = ctl(&sb, &["-A", "-w", "10", "up", "web"]);
    opener.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("not ready"));
    assert_eq!(sup.status()["ready"], true);
}

#[test]
fn sd_notify_from_a_child_of_the_service_with_status_and_strangers_ignored() {
    let sb = Sandbox::new();
    let go = gate(&sb, "go");
    // systemd-notify is a child of the shell: credentials must accept it.
    let script = sb.script(
        "db.sh",
        &format!(
            "#!/bin/sh\nread line < {}\nsystemd-notify --ready --status='accepting connections'\nexec sleep 1000\n",
            go.display()
        ),
    );
    let mut sup = supervise(&sb, "db", &format!("cmd: {}\nready: notify\n", script.display()));
    sup.wait_running(None);
    let sock = sup.dir.join("notify");
    assert!(sock.exists(), "NOTIFY_SOCKET in the supervise directory");
    // A process that is not the service's is ignored (and logged).
    let stranger = std::os::unix::net::UnixDatagram::unbound().unwrap();
    stranger.send_to(b"READY=1", &sock).unwrap();
    sup.wait_for(10.0, "the stranger logged", || {
        sup.log().contains("ignored a notify datagram")
    });
    assert_not_ready(&sb, &sup, "db");
    open_gate(&go);
    let st = wait_ready(&sup);
    assert_eq!(st["note"], "accepting connections", "{st}");
    let row = String::from_utf8_lossy(&ctl(&sb, &["-A", "db"]).stdout).into_owned();
    assert!(row.contains(" - accepting connections"), "{row}");
}

#[test]
fn tcp_and_http_probes_make_it_ready_when_it_serves() {
    let sb = Sandbox::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let go = gate(&sb, "go");
    // An HTTP server that starts listening only after the gate opens.
    let script = sb.script(
        "http.sh",
        &format!(
            "#!/bin/sh\nread line < {}\nexec python3 -m http.server --bind 127.0.0.1 {port} --directory {}\n",
            go.display(),
            sb.path("").display()
        ),
    );
    for (name, ready) in [
        ("viatcp", format!("tcp: 127.0.0.1:{port}")),
        ("viahttp", format!("http: http://127.0.0.1:{port}/")),
    ] {
        let mut sup = supervise(
            &sb,
            name,
            &format!("cmd: {}\nready:\n  {ready}\n  interval: 0.1\n", script.display()),
        );
        sup.wait_running(None);
        assert_not_ready(&sb, &sup, name);
        open_gate(&go);
        wait_ready(&sup);
        drop(sup);
        // The next one's gate is the same FIFO.
    }
}

#[test]
fn not_ready_in_time_is_restarted_and_counted_as_a_failure() {
    let sb = Sandbox::new();
    let mut sup = supervise(
        &sb,
        "slow",
        "cmd: sleep 1000\nready:\n  cmd: exit 1\n  interval: 0.1\n  timeout: 0.5\nrestart:\n  delay: 0.1\n",
    );
    let first = sup.wait_running(None);
    sup.wait_running(Some(first));
    let exits = history(&sup);
    assert_eq!(exits[0]["reason"], "not ready within 0.5s", "{exits:?}");
    assert_eq!(exits[0]["signal"], "TERM");
    assert!(
        sup.log().contains("not ready within 0.5s: restarting the service"),
        "{}",
        sup.log()
    );
}

#[test]
fn a_failing_health_check_restarts_it_with_the_probes_output() {
    let sb = Sandbox::new();
    let ok = sb.path("healthy");
    fs::write(&ok, "").unwrap();
    let mut sup = supervise(
        &sb,
        "web",
        &format!(
            "cmd: sleep 1000\nhealth:\n  cmd: test -e {f} || {{ echo no {f}; exit 1; }}\n  interval: 0.1\n  failures: 2\nrestart:\n  delay: 0.1\n",
            f = ok.display()
        ),
    );
    let first = sup.wait_running(None);
    sup.wait_for(10.0, "healthy", || sup.status()["healthy"] == true);
    fs::remove_file(&ok).unwrap();
    let second = sup.wait_running(Some(first));
    assert_ne!(first, second);
    let why = format!("health check failed 2 times: exit code 1: no {}", ok.display());
    assert_eq!(history(&sup)[0]["reason"], why.as_str());
    assert!(sup.log().contains(&why), "{}", sup.log());
}

#[test]
fn a_missed_watchdog_restarts_it() {
    let sb = Sandbox::new();
    // Pings twice (the supervisor waits), then stops pinging.
    let script = sb.script(
        "wd.sh",
        "#!/bin/sh\ntest -n \"$WATCHDOG_USEC\" || exit 9\nsystemd-notify WATCHDOG=1\nexec sleep 1000\n",
    );
    let mut sup = supervise(
        &sb,
        "wd",
        &format!("cmd: {}\nwatchdog: 0.5\nrestart:\n  delay: 0.1\n", script.display()),
    );
    let first = sup.wait_running(None);
    sup.wait_running(Some(first));
    assert_eq!(history(&sup)[0]["reason"], "watchdog: no WATCHDOG=1 within 0.5s");
}
