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
    let exits = sup.history();
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
    assert_eq!(sup.history()[0]["reason"], why.as_str());
    assert!(sup.log().contains(&why), "{}", sup.log());
}

#[test]
fn a_missed_watchdog_restarts_it() {
    let sb = Sandbox::new();
    // Pings twice (the supervisor waits), then stops pinging.
    let script = sb.script(
        "wd.sh",
        "#!/bin/sh\ntest \"$WATCHDOG_USEC\" = 500000 || exit 9\ntest \"$WATCHDOG_PID\" = $$ || exit 8\nsystemd-notify WATCHDOG=1\nexec sleep 1000\n",
    );
    let mut sup = supervise(
        &sb,
        "wd",
        &format!("cmd: {}\nwatchdog: 0.5\nrestart:\n  delay: 0.1\n", script.display()),
    );
    let first = sup.wait_running(None);
    sup.wait_running(Some(first));
    // Restarted by the watchdog, not by an exit 8 or 9 of the checks.
    assert_eq!(sup.history()[0]["reason"], "watchdog: no WATCHDOG=1 within 0.5s");
}

// ------------------------------------------------------------ real programs

/// Debian's PostgreSQL binaries (`/usr/lib/postgresql/N/bin`).
fn pg_bin() -> std::path::PathBuf {
    let found = fs::read_dir("/usr/lib/postgresql")
        .expect("postgresql is installed by scripts/install-peers")
        .flatten()
        .map(|e| e.path().join("bin"))
        .find(|b| b.join("postgres").exists());
    found.expect("postgresql's bin directory")
}

/// `immortalsvc DIR` in the sandbox, stopped (SIGTERM, then KILL) on drop.
struct Svc(Option<std::process::Child>, std::path::PathBuf);

impl Svc {
    fn start(sb: &Sandbox) -> Svc {
        let log = sb.path("immortalsvc.log");
        let child = Command::new(env!("CARGO_BIN_EXE_immortalsvc"))
            .arg(sb.path("services"))
            .env("IMMORTAL_SDIR", sb.path("sdir"))
            .env("HOME", sb.path("home"))
            .stdin(std::process::Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Svc(Some(child), log)
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.1).unwrap_or_default()
    }

    fn status(&self, sb: &Sandbox, name: &str) -> Value {
        immortal::client::status(&sb.path(&format!("sdir/{name}/immortal.sock"))).unwrap_or_default()
    }

    fn wait(&self, sb: &Sandbox, name: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            last = self.status(sb, name);
            if cond(&last) {
                return last;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("{name}: timed out waiting for {what}: {last}\n{}", self.log());
    }
}

impl Drop for Svc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while std::time::Instant::now() < deadline && c.try_wait().ok().flatten().is_none() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn postgres_is_ready_by_sd_notify_only_once_it_accepts_and_its_dependent_starts_after() {
    if !nix::unistd::geteuid().is_root() {
        panic!("needs root: postgres runs as the postgres user");
    }
    let sb = Sandbox::new();
    let bin = pg_bin();
    // The sandbox must be reachable by the postgres user.
    std::os::unix::fs::chown(sb.path(""), None, None).unwrap();
    fs::set_permissions(sb.path(""), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let data = sb.path("pgdata");
    fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(101), Some(104)).ok();
    let (uid, gid) = {
        let out = Command::new("id").args(["-u", "postgres"]).output().unwrap();
        let uid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let out = Command::new("id").args(["-g", "postgres"]).output().unwrap();
        let gid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        (uid, gid)
    };
    std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
    let init = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("initdb"))
        .args(["-D", data.to_str().unwrap(), "-A", "trust", "--no-sync"])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "initdb: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let port = free_port();
    let isready = format!("{} -h 127.0.0.1 -p {port}", bin.join("pg_isready").display());
    sb.write(
        "services/db.yml",
        &format!(
            "cmd: {} -D {} -p {port} -k {} -c listen_addresses=127.0.0.1\nuser: postgres\nready: notify\n",
            bin.join("postgres").display(),
            data.display(),
            data.display()
        ),
    );
    // What the dependent sees at its start: postgres accepting.
    let seen = sb.path("seen");
    let app = sb.script(
        "app.sh",
        &format!(
            "#!/bin/sh\n{isready} > {s} 2>&1\necho \"exit $?\" >> {s}\nexec sleep 1000\n",
            s = seen.display()
        ),
    );
    sb.write("services/app.yml", &format!("cmd: {}\nrequire: [db]\n", app.display()));
    // pg_isready as a probe gives the same answer.
    sb.write(
        "services/probe.yml",
        &format!("cmd: sleep 1000\nready:\n  cmd: {isready} -q\n  interval: 0.1\n"),
    );
    let svc = Svc::start(&sb);
    let db = svc.wait(&sb, "db", "ready", |st| st["ready"] == true);
    assert!(db["ready_in"].as_str().is_some(), "{db}");
    svc.wait(&sb, "app", "running", |st| st["state"] == "run");
    let mut text = String::new();
    wait_for(20.0, "the dependent's pg_isready", || {
        text = fs::read_to_string(&seen).unwrap_or_default();
        text.contains("exit")
    });
    assert!(
        text.contains("accepting connections") && text.contains("exit 0"),
        "{text}\n{}",
        svc.log()
    );
    svc.wait(&sb, "probe", "ready by pg_isready", |st| st["ready"] == true);
    drop(svc);
}

#[test]
fn redis_under_sd_notify_restarted_when_its_health_check_stops_answering() {
    let sb = Sandbox::new();
    let port = free_port();
    let mut sup = supervise(
        &sb,
        "redis",
        &format!(
            "cmd: [redis-server, --port, '{port}', --bind, 127.0.0.1, --supervised, systemd, --save, '', --appendonly, 'no']\n\
             ready: notify\n\
             health:\n  cmd: redis-cli -p {port} ping\n  interval: 0.2\n  timeout: 0.5\n  failures: 2\n\
             restart:\n  delay: 0.1\n"
        ),
    );
    let first = sup.wait_running(None);
    let st = wait_ready(&sup);
    assert!(st["ready_in"].as_str().is_some(), "{st}");
    sup.wait_for(10.0, "healthy", || sup.status()["healthy"] == true);
    // Paused: alive, but no longer answering.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let second = sup.wait_running(Some(first));
    assert_ne!(first, second);
    let why = sup.history()[0]["reason"].as_str().unwrap_or("").to_string();
    assert!(
        why.starts_with("health check failed 2 times: timed out after 0.5s"),
        "{why}"
    );
    wait_ready(&sup);
}

#[test]
fn s6_notifyoncheck_reports_through_the_notification_fd() {
    let sb = Sandbox::new();
    let flag = sb.path("serving");
    sb.script("svc/run", "#!/bin/sh\nexec s6-notifyoncheck -w 50 -n 0 sleep 1000\n");
    sb.script("svc/data/check", &format!("#!/bin/sh\ntest -e {}\n", flag.display()));
    sb.write("svc/notification-fd", "3\n");
    let mut sup = supervise_dir(&sb, &sb.path("svc"));
    sup.wait_running(None);
    assert_eq!(sup.status()["ready"], false);
    fs::write(&flag, "").unwrap();
    wait_ready(&sup);
    // It subscribed to `event/` (for the `d` that ends its poll), which is
    // s6-supervise's 03730, not writable by others.
    let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(sb.path("svc/event")).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0o3730);
}

#[test]
fn mainpid_from_sd_notify_is_followed() {
    let sb = Sandbox::new();
    let script = sb.script(
        "mp.sh",
        &format!(
            "#!/bin/sh\necho $$ > {}\nsleep 1000 &\nsystemd-notify --ready --pid=$!\nwait\n",
            sb.path("shell").display()
        ),
    );
    let mut sup = supervise(&sb, "mp", &format!("cmd: {}\nready: notify\n", script.display()));
    sup.wait_running(None);
    let mut shell = 0;
    wait_for(10.0, "the shell's pid", || {
        shell = fs::read_to_string(sb.path("shell"))
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0);
        shell > 0
    });
    sup.pids.push(shell as i32);
    let mut st = Value::Null;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !(st["pid"].as_i64().is_some_and(|p| p != shell) && st["ready"] == true) {
        assert!(
            std::time::Instant::now() < deadline,
            "MAINPID not followed: {st}\n{}",
            sup.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        st = sup.status();
    }
    let main = st["pid"].as_i64().unwrap();
    sup.pids.push(main as i32);
    assert_eq!(st["fpid"], true, "{st}");
    assert!(!sup.log().contains("ignored a notify datagram"), "{}", sup.log());
    // The shell that started it ending is not the service ending.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shell as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    sup.wait_for(10.0, "the shell gone", || !alive(shell));
    let st = sup.status();
    assert_eq!(
        (st["state"].as_str(), st["pid"].as_i64()),
        (Some("run"), Some(main)),
        "{st}"
    );
}
