//! Watching and guarding a supervisor: `/metrics` (checked by the real
//! `promtool`), `/events` (the state table's transitions, a reader that
//! falls behind is cut off), and who may control it (`SO_PEERCRED`, a
//! non-root client through `setpriv`).

use crate::common::*;
use immortal::client::EventStream;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `GET path`, the whole response (head and body).
pub(crate) fn raw_get(sock: &std::path::Path, path: &str) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A metric's value in an exposition: `name{labels} value`.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
}

pub fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is not installed: run scripts/install-peers");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Read events until one satisfies `pred` (at most `secs`); returns it and
/// every line before it.
pub(crate) fn until(events: &mut EventStream, secs: f64, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no event {what} within {secs}s; saw {seen:?}");
        if let Some(line) = events.next_line(Some(left)).unwrap() {
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let hit = pred(&v);
            seen.push(v);
            if hit {
                return seen;
            }
        }
    }
}

pub(crate) fn event_is(name: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["event"] == name
}

#[test]
fn metrics_count_starts_exits_and_log_lines_and_pass_promtool() {
    let sb = Sandbox::new();
    sb.write(
        "run.yml",
        &format!(
            "cmd: [sh, -c, 'echo one; echo two; echo three; exec sleep 60']\nlog:\n  file: {}\n",
            sb.path("out.log").display()
        ),
    );
    let mut sup = sb.supervise(&["-c", sb.path("run.yml").to_str().unwrap(), "-name", "web"]);
    let first = sup.wait_running(None);
    wait_for(10.0, "three lines logged", || sb.read("out.log").lines().count() == 3);
    assert_eq!(sup.signal("k"), "");
    sup.wait_running(Some(first));
    wait_for(10.0, "six lines logged", || sb.read("out.log").lines().count() == 6);

    let (code, text) = immortal::client::get(&sup.sock(), "/metrics").unwrap();
    assert_eq!(code, 200, "{text}");
    let head = raw_get(&sup.sock(), "/metrics");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
    let m = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert_eq!(m("immortal_up{service=\"web\"}"), 1.0);
    assert_eq!(m("immortal_ready{service=\"web\"}"), 1.0);
    assert_eq!(m("immortal_healthy{service=\"web\"}"), 1.0);
    assert_eq!(m("immortal_starts_total{service=\"web\"}"), 2.0);
    assert_eq!(m("immortal_exits_total{service=\"web\",how=\"signal\"}"), 1.0);
    assert_eq!(m("immortal_exits_total{service=\"web\",how=\"code\"}"), 0.0);
    assert_eq!(m("immortal_last_exit_code{service=\"web\"}"), 128.0 + 9.0);
    // The operator's kill is no failure of the service.
    assert_eq!(m("immortal_failures_total{service=\"web\"}"), 0.0);
    assert_eq!(m("immortal_log_lines_total{service=\"web\"}"), 6.0);
    assert_eq!(
        m("immortal_log_bytes_total{service=\"web\"}"),
        2.0 * "one\ntwo\nthree\n".len() as f64
    );
    assert_eq!(m("immortal_log_dropped_lines_total{service=\"web\"}"), 0.0);
    assert_eq!(m("immortal_logger_restarts_total{service=\"web\"}"), 0.0);
    assert_eq!(m("immortal_backoff_seconds{service=\"web\"}"), 0.0);
    assert!(m("immortal_uptime_seconds{service=\"web\"}") < 60.0);
    assert!(m("process_resident_memory_bytes{service=\"web\"}") > 100_000.0);
    assert!(m("process_cpu_seconds_total{service=\"web\"}") >= 0.0);
    promtool_check(&text);

    // Down: up and ready say 0, the uptime too.
    assert_eq!(sup.signal("down"), "");
    sup.wait_state("down");
    let (_, text) = immortal::client::get(&sup.sock(), "/metrics").unwrap();
    assert_eq!(sample(&text, "immortal_up{service=\"web\"}"), Some(0.0));
    assert_eq!(sample(&text, "immortal_ready{service=\"web\"}"), Some(0.0));
    assert_eq!(sample(&text, "immortal_uptime_seconds{service=\"web\"}"), Some(0.0));
    assert_eq!(
        sample(&text, "immortal_exits_total{service=\"web\",how=\"signal\"}"),
        Some(2.0)
    );
}

#[test]
fn a_slow_logger_drops_lines_and_the_metric_counts_them() {
    // The file log gets everything; a logger that never reads loses the
    // oldest lines beyond its 1 MiB backlog, and the metric says how many.
    let sb = Sandbox::new();
    sb.write(
        "run.yml",
        &format!(
            "cmd: [sh, -c, 'i=0; while [ $i -lt 40000 ]; do echo line-$i-padding-padding-padding-padding; i=$((i+1)); done; exec sleep 60']\n\
             log:\n  file: {}\n  size: 0\nlogger: exec sleep 60\n",
            sb.path("out.log").display()
        ),
    );
    let mut sup = sb.supervise(&["-c", sb.path("run.yml").to_str().unwrap(), "-name", "chatty"]);
    sup.wait_running(None);
    wait_for(30.0, "every line in the file", || {
        sb.read("out.log").lines().count() == 40000
    });
    let (_, text) = immortal::client::get(&sup.sock(), "/metrics").unwrap();
    let dropped = sample(&text, "immortal_log_dropped_lines_total{service=\"chatty\"}").unwrap();
    assert_eq!(
        sample(&text, "immortal_log_lines_total{service=\"chatty\"}"),
        Some(40000.0)
    );
    // ~2 MB written, 1 MiB kept plus what the logger's pipe holds.
    assert!(dropped > 5000.0 && dropped < 40000.0, "dropped {dropped}\n{text}");
}

#[test]
fn events_are_the_transitions_and_name_who_asked() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["-name", "ev", "sleep", "60"]);
    let pid = sup.wait_running(None);
    let mut events = EventStream::open(&sup.sock()).unwrap();

    assert_eq!(sup.signal("down"), "");
    let seen = until(&mut events, 10.0, "down", event_is("down"));
    let names: Vec<&str> = seen.iter().filter_map(|v| v["event"].as_str()).collect();
    assert_eq!(names, ["signal", "signal", "exit", "down"], "{seen:?}");
    let term = &seen[0];
    assert_eq!(
        (term["signal"].as_str(), term["pid"].as_i64()),
        (Some("TERM"), Some(pid))
    );
    let by = format!("uid {} (pid ", nix::unistd::geteuid());
    assert!(term["by"].as_str().is_some_and(|b| b.starts_with(&by)), "{term}");
    let exit = &seen[2];
    assert_eq!(
        (exit["pid"].as_i64(), exit["signal"].as_str()),
        (Some(pid), Some("TERM"))
    );
    assert!(exit["time"].as_str().is_some_and(|t| t.ends_with('Z')) && exit["service"] == "ev");
    assert!(sup.log().contains(&format!("down by {by}")), "{}", sup.log());

    assert_eq!(sup.signal("up"), "");
    let seen = until(&mut events, 10.0, "ready", event_is("ready"));
    // Within a second of the last start: first the throttle's wait.
    let names: Vec<&str> = seen.iter().filter_map(|v| v["event"].as_str()).collect();
    assert!(
        names.ends_with(&["start", "up", "ready"]) && names.len() <= 4,
        "{seen:?}"
    );
    let new = seen[seen.len() - 3]["pid"].as_i64().unwrap();
    sup.pids.push(new as i32);

    // A crash: exit with its code, then the restart, with the wait.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(new as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let seen = until(&mut events, 10.0, "restart", event_is("restart"));
    let exit = seen.iter().find(|v| v["event"] == "exit").unwrap();
    assert_eq!((exit["signal"].as_str(), exit["by"].as_str()), (Some("KILL"), None));
    assert!(seen.last().unwrap()["in"].as_f64().is_some_and(|s| s <= 1.0));
    let seen = until(&mut events, 10.0, "start", event_is("start"));
    sup.pids.push(seen.last().unwrap()["pid"].as_i64().unwrap() as i32);
}

#[test]
fn at_most_16_event_readers_and_a_reader_that_falls_behind_is_cut_off() {
    let sb = Sandbox::new();
    // `true` every 20 ms: a flood of events (~30 KB/s) that a reader keeps
    // up with even on a loaded machine, and that buries a silent one.
    let mut cmd = sb.command(&["-n", "-ctl", sb.path("sv").to_str().unwrap(), "-name", "flood", "true"]);
    cmd.env("IMMORTAL_THROTTLE_MS", "20");
    let sup = Supervisor::spawn(cmd, sb.path("sv"), sb.path("sv.stderr"));
    let sock = sup.sock();
    // A reader that reads, as fast as it can, in a thread of its own. It
    // says when it has seen enough that a reader taking nothing is surely
    // past its allowance (what the kernel holds, twice the 16 KiB socket
    // buffer, and 64 KiB more): the silent reader below is cut off by then,
    // and is read at once, well within the 5 s it has to take the notice.
    let mut active = EventStream::open(&sock).unwrap();
    let (past_allowance, cut_off) = std::sync::mpsc::channel();
    let reading = std::thread::spawn(move || {
        let (mut starts, mut bytes, t0) = (0, 0, Instant::now());
        while starts < 250 && t0.elapsed() < Duration::from_secs(60) {
            match active.next_line(Some(Duration::from_secs(5))) {
                Ok(Some(line)) => {
                    bytes += line.len() + 1;
                    if bytes >= 128 * 1024 {
                        let _ = past_allowance.send(());
                    }
                    if line.contains("\"event\":\"start\"") {
                        starts += 1;
                    }
                }
                Ok(None) => {}
                Err(e) => panic!("the active reader lost its stream after {starts} starts: {e}"),
            }
        }
        starts
    });
    // A reader that never reads.
    let mut silent = UnixStream::connect(&sock).unwrap();
    silent.write_all(b"GET /events HTTP/1.1\r\n\r\n").unwrap();
    let mut readers: Vec<EventStream> = Vec::new();
    wait_for(10.0, "14 more readers", || {
        if let Ok(r) = EventStream::open(&sock) {
            readers.push(r);
        }
        readers.len() == 14
    });
    // The 17th is refused; status still answers.
    let refused = raw_get(&sock, "/events");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("too many event readers"), "{refused}");
    readers.clear();
    // The silent reader: whole lines, the overflow notice, the end.
    cut_off
        .recv_timeout(Duration::from_secs(60))
        .expect("the active reader saw 128 KiB of events");
    silent.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut all = Vec::new();
    silent.read_to_end(&mut all).unwrap();
    // The reader that reads keeps up: hundreds of restarts flow by.
    assert_eq!(reading.join().unwrap(), 250);
    let t = Instant::now();
    immortal::client::status(&sock).unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "the loop was held up");
    let text = String::from_utf8_lossy(&all);
    let body = text.split_once("\r\n\r\n").unwrap().1;
    let lines: Vec<&str> = body.lines().collect();
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(
        (last["event"].as_str(), last["service"].as_str()),
        (Some("overflow"), Some("flood"))
    );
    for l in &lines {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: a broken line {l}"));
    }
    // Slots are free again.
    EventStream::open(&sock).unwrap();
}

/// Run `args` as nobody (in /, which nobody may enter): stdout, stderr and
/// the exit code.
fn as_nobody(args: &[&str], groups: &str) -> (String, String, i32) {
    let mut cmd = Command::new("setpriv");
    cmd.current_dir("/").args(["--reuid", "nobody", "--regid", "nogroup"]);
    if groups.is_empty() {
        cmd.arg("--clear-groups");
    } else {
        cmd.args(["--groups", groups]);
    }
    let out = cmd.args(args).output().expect("setpriv (util-linux) is missing");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn curl_as_nobody(sock: &std::path::Path, path: &str, groups: &str) -> (u16, String) {
    let (out, _, _) = as_nobody(
        &[
            "curl",
            "-s",
            "-w",
            "\n%{http_code}",
            "--unix-socket",
            sock.to_str().unwrap(),
            &format!("http://x{path}"),
        ],
        groups,
    );
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", ""));
    (code.parse().unwrap_or(0), body.to_string())
}

#[test]
fn a_non_root_client_reads_but_may_not_control_unless_in_the_socket_group() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to switch to nobody");
        return;
    }
    let sb = Sandbox::new();
    std::fs::set_permissions(sb.dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    sb.write("run.yml", "cmd: sleep 60\nsocket:\n  mode: 0666\n  group: daemon\n");
    let mut sup = sb.supervise(&["-c", sb.path("run.yml").to_str().unwrap(), "-name", "guarded"]);
    let pid = sup.wait_running(None);
    let meta = std::fs::metadata(sup.sock()).unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(meta.permissions().mode() & 0o777, 0o666);
    assert_eq!(
        meta.gid(),
        nix::unistd::Group::from_name("daemon").unwrap().unwrap().gid.as_raw()
    );

    let (code, body) = curl_as_nobody(&sup.sock(), "/status", "");
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["pid"].as_i64(), Some(pid));
    let (code, body) = curl_as_nobody(&sup.sock(), "/metrics", "");
    assert_eq!(code, 200, "{body}");
    let (code, body) = curl_as_nobody(&sup.sock(), "/signal/down", "");
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!({"Err": "permission denied"})
    );
    let st = sup.status();
    assert_eq!((st["state"].as_str(), st["pid"].as_i64()), (Some("run"), Some(pid)));
    assert!(
        sup.log().contains("refused 'down' from uid 65534 (pid "),
        "{}",
        sup.log()
    );

    // immortalctl as nobody: the same answer, said as an error — by
    // immortalctl (a copy nobody can reach wherever the checkout is), not
    // by setpriv failing to run it.
    let ctl = reachable_copy(CTL);
    let (out, err, code) = as_nobody(&[ctl.path().to_str().unwrap(), "stop", sup.dir.to_str().unwrap()], "");
    let said = format!("{out}{err}");
    assert_ne!(code, 0, "{said}");
    assert!(
        said.contains("permission denied") && !said.contains("setpriv"),
        "{said}"
    );
    assert_eq!(sup.status()["state"], "run");

    // A member of the socket's group may.
    let (code, body) = curl_as_nobody(&sup.sock(), "/signal/down", "daemon");
    assert_eq!((code, body.trim()), (200, "{\"Err\":\"\"}"));
    sup.wait_state("down");
    assert!(sup.log().contains("down by uid 65534 (pid "), "{}", sup.log());
}

#[test]
fn the_socket_is_0660_and_control_fifo_0600_by_default() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "60"]);
    sup.wait_running(None);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(sup.sock()), 0o660);
    assert_eq!(mode(sup.dir.join("control")), 0o600);
}

#[test]
fn a_bad_socket_block_is_an_error_that_says_where() {
    let sb = Sandbox::new();
    sb.write("run.yml", "cmd: sleep 1\nsocket:\n  mode: 0999\n");
    let out = sb.run(&["-c", sb.path("run.yml").to_str().unwrap(), "-cc"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr_of(&out).contains("socket: mode must be octal"),
        "{}",
        stderr_of(&out)
    );
    sb.write("run.yml", "cmd: sleep 1\nsocket:\n  group: no-such-group-xyz\n");
    let out = sb.run(&["-c", sb.path("run.yml").to_str().unwrap(), "-cc"]);
    assert!(stderr_of(&out).contains("no-such-group-xyz"), "{}", stderr_of(&out));
    sb.write("run.yml", "cmd: sleep 1\nsocket:\n  mod: 0660\n");
    let out = sb.run(&["-c", sb.path("run.yml").to_str().unwrap(), "-cc"]);
    assert!(stderr_of(&out).contains("run.yml:3"), "{}", stderr_of(&out));
}

fn ctl_cmd(sb: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = Command::new(CTL);
    cmd.args(args)
        .env("HOME", sb.path("home"))
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .stdin(Stdio::null());
    cmd
}

/// A supervisor on `$IMMORTAL_SDIR/NAME` running `run.yml` text `yml`.
fn named(sb: &Sandbox, name: &str, yml: &str) -> Supervisor {
    let file = sb.write(&format!("{name}.yml"), yml);
    Supervisor::spawn(
        sb.command(&["-n", "-ctl", name, "-c", file.to_str().unwrap()]),
        sb.path(&format!("sdir/{name}")),
        sb.path(&format!("{name}.err")),
    )
}

#[test]
fn immortalctl_wait_ends_when_the_state_is_reached_or_at_the_timeout() {
    let sb = Sandbox::new();
    let flag = sb.path("serving");
    let mut sup = named(
        &sb,
        "slow",
        &format!(
            "cmd: sleep 60\nready:\n  cmd: test -f {}\n  interval: 0.05\n",
            flag.display()
        ),
    );
    sup.wait_running(None);
    // Not ready: the timeout, exit 1, and a message.
    let t = Instant::now();
    let out = ctl_cmd(&sb, &["wait", "-t", "0.5", "ready", "slow"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(t.elapsed() >= Duration::from_millis(500) && t.elapsed() < Duration::from_secs(5));
    assert!(
        stderr_of(&out).contains("timeout: slow is not ready after 0.5s"),
        "{}",
        stderr_of(&out)
    );
    // `up` is reached already.
    let out = ctl_cmd(&sb, &["wait", "-t", "5", "up", "slow"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    // A waiter started before the service is ready returns once it is.
    let mut waiter = ctl_cmd(&sb, &["wait", "-t", "20", "ready", "slow"]).spawn().unwrap();
    assert!(waiter.try_wait().unwrap().is_none(), "returned before ready");
    std::fs::write(&flag, "").unwrap();
    let t = Instant::now();
    let code = loop {
        if let Some(st) = waiter.try_wait().unwrap() {
            break st.code();
        }
        assert!(t.elapsed() < Duration::from_secs(10), "wait did not return");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(code, Some(0));
    assert_eq!(sup.status()["ready"], true);
    // down, through another client: the waiter sees it.
    let mut waiter = ctl_cmd(&sb, &["wait", "down", "slow"]).spawn().unwrap();
    assert_eq!(sup.signal("down"), "");
    wait_for(10.0, "wait down returns", || waiter.try_wait().unwrap().is_some());
    assert_eq!(waiter.wait().unwrap().code(), Some(0));
    assert_eq!(sup.status()["state"], "down");
}

#[test]
fn immortalctl_events_follows_a_service() {
    let sb = Sandbox::new();
    let mut sup = named(&sb, "ev", "cmd: sleep 60\n");
    sup.wait_running(None);
    let mut child = ctl_cmd(&sb, &["events", "ev", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut human = ctl_cmd(&sb, &["events", "ev"]).stdout(Stdio::piped()).spawn().unwrap();
    let lines_of = |out: std::process::ChildStdout| {
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        rx
    };
    let json = lines_of(child.stdout.take().unwrap());
    let people = lines_of(human.stdout.take().unwrap());
    // Both have subscribed once each has seen a signal (WINCH: sleep
    // ignores it).
    let (mut json_seen, mut people_seen) = (false, false);
    let t0 = Instant::now();
    while !(json_seen && people_seen) {
        assert!(t0.elapsed() < Duration::from_secs(10), "immortalctl events saw nothing");
        assert_eq!(sup.signal("WINCH"), "");
        json_seen |= json.recv_timeout(Duration::from_millis(50)).is_ok();
        if let Ok(line) = people.recv_timeout(Duration::from_millis(50)) {
            assert!(line.contains(" ev signal ") && line.contains("signal=WINCH"), "{line}");
            people_seen = true;
        }
    }
    assert_eq!(sup.signal("down"), "");
    let mut names = Vec::new();
    while names.last().map(String::as_str) != Some("down") {
        let line = json.recv_timeout(Duration::from_secs(10)).expect("events ended");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["service"], "ev");
        names.push(v["event"].as_str().unwrap().to_string());
        if v["signal"] == "WINCH" {
            names.clear(); // a late echo of the subscription's WINCH
        }
    }
    assert_eq!(names, ["signal", "signal", "exit", "down"]);
    // The supervisor goes: the stream ends, and so does immortalctl.
    assert_eq!(sup.signal("halt"), "");
    sup.wait_exit(10.0);
    wait_for(10.0, "immortalctl events ends", || child.try_wait().unwrap().is_some());
    wait_for(10.0, "immortalctl events ends", || human.try_wait().unwrap().is_some());
}

#[test]
fn the_documented_curl_urls_reach_their_pages() {
    // `curl --unix-socket S http:/history` sends `GET /` with `Host:
    // history`: the docs' short URLs must still reach their pages.
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["-name", "curled", "sleep", "60"]);
    sup.wait_running(None);
    let curl_for = |secs: &str, url: &str| {
        let out = Command::new("curl")
            .args(["-s", "-m", secs, "--unix-socket", sup.sock().to_str().unwrap(), url])
            .output()
            .expect("curl is missing: run scripts/install-peers");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let curl = |url: &str| curl_for("5", url);
    assert!(curl("http:/status").contains("\"cmd\""));
    assert!(curl("http:/history").starts_with('['), "{}", curl("http:/history"));
    assert!(curl("http:/metrics").contains("immortal_up{service=\"curled\"} 1"));
    // The stream, not the status: ended by -m 1, nothing changed meanwhile.
    assert!(!curl_for("1", "http:/events").contains("\"cmd\""));
    assert!(curl("http:/signal/down").contains("\"Err\""));
    sup.wait_state("down");
    assert_eq!(sup.signal("halt"), "");
    sup.wait_exit(10.0);
}
