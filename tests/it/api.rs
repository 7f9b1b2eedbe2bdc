//! The JSON API on `immortal.sock`: Go immortal's fields and formats, every
//! `/signal/NAME`, errors, restart, and a supervisor that bad or slow
//! clients cannot block.

use crate::common::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

const RECORDER: &str = "#!/bin/sh
for s in HUP INT QUIT USR1 USR2 ALRM TERM WINCH TTIN TTOU CONT; do
  trap \"echo $s >> got\" $s
done
echo ready >> ready
while :; do sleep 1 & wait $!; done
";

fn recorder(sb: &Sandbox) -> String {
    let script = sb.script("recorder.sh", RECORDER);
    script.to_str().unwrap().to_string()
}

fn proc_state(pid: i64) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("")
        .to_string()
}

#[test]
fn status_has_go_fields_and_ours() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["-name", "web", "sleep", "100"]);
    let pid = sup.wait_running(None);
    let st = sup.status();
    assert_eq!(st["pid"].as_i64(), Some(pid));
    let up = st["up"].as_str().unwrap();
    assert!(up.ends_with('s') && up.contains('.'), "Go AbsSince format: {up}");
    assert!(st.get("down").is_none());
    assert_eq!(st["cmd"], "sleep 100");
    assert_eq!(st["fpid"], false);
    assert_eq!(st["count"], 1);
    assert_eq!(st["name"], "web");
    assert_eq!(st["state"], "run");
    assert_eq!(st["want"], "up");
    assert_eq!(st["paused"], false);
    assert!(st["exit"].is_null());
    // GET / is the same document; Content-Type is JSON.
    let mut s = UnixStream::connect(sup.sock()).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(raw.contains("Content-Type: application/json\r\n"), "{raw}");
    assert!(raw.contains("\"cmd\":\"sleep 100\""), "{raw}");

    assert_eq!(sup.signal("down"), "");
    let st = sup.wait_state("down");
    assert_eq!(st["pid"].as_i64(), Some(pid), "pid kept while down, as Go does");
    assert!(st.get("up").is_none() && st["down"].as_str().unwrap().ends_with('s'));
    assert_eq!(st["exit"], serde_json::json!({"signal": "TERM"}));
}

#[test]
fn every_signal_name_reaches_the_service() {
    let sb = Sandbox::new();
    let script = recorder(&sb);
    let mut sup = sb.supervise(&["-d", sb.dir.path().to_str().unwrap(), &script]);
    let pid = sup.wait_running(None);
    wait_for(5.0, "traps set", || sb.read("ready") == "ready\n");
    let table: &[(&[&str], &str)] = &[
        (&["a", "alrm", "ALRM"], "ALRM"),
        (&["h", "hup", "HUP"], "HUP"),
        (&["i", "int", "INT"], "INT"),
        (&["in", "ttin", "TTIN"], "TTIN"),
        (&["ou", "ttou", "TTOU"], "TTOU"),
        (&["q", "quit", "QUIT"], "QUIT"),
        (&["t", "term", "TERM"], "TERM"),
        (&["1", "usr1", "USR1"], "USR1"),
        (&["2", "usr2", "USR2"], "USR2"),
        (&["w", "winch", "WINCH"], "WINCH"),
        (&["c", "cont", "CONT"], "CONT"),
    ];
    let mut expected = Vec::new();
    for (words, name) in table {
        for word in *words {
            assert_eq!(sup.signal(word), "", "/signal/{word}");
            expected.push(name.to_string());
            wait_for(5.0, &format!("{word} recorded as {name}"), || {
                lines(&sb.path("got")) == expected
            });
        }
    }
    // s/stop/STOP is SIGSTOP (Go's quirk); p/pause is STOP plus the paused flag.
    for word in ["s", "stop", "STOP", "p", "pause"] {
        assert_eq!(sup.signal(word), "");
        wait_for(5.0, &format!("{word} stops the process"), || proc_state(pid) == "T");
        if word.starts_with('p') {
            assert_eq!(sup.status()["paused"], true);
        }
        assert_eq!(sup.signal("c"), "");
        wait_for(5.0, "continued", || proc_state(pid) != "T");
        assert_eq!(sup.status()["paused"], false);
    }
    assert_eq!(
        sup.status()["pid"].as_i64(),
        Some(pid),
        "no signal above may restart it"
    );
    assert_eq!(sup.status()["count"], 1);
}

#[test]
fn kill_down_up_once_restart_words() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "100"]);
    let mut pid = sup.wait_running(None);
    for word in ["k", "kill", "KILL"] {
        assert_eq!(sup.signal(word), "");
        pid = sup.wait_running(Some(pid));
        assert_eq!(sup.status()["exit"], serde_json::json!({"signal": "KILL"}));
    }
    assert_eq!(sup.status()["count"], 4);
    for (down, up) in [("d", "u"), ("down", "up"), ("d", "start")] {
        assert_eq!(sup.signal(down), "");
        assert_eq!(sup.wait_state("down")["want"], "down");
        assert_eq!(sup.signal(up), "");
        pid = sup.wait_running(Some(pid));
        assert_eq!(sup.status()["want"], "up");
    }
    // once: runs, and is not restarted when it ends.
    for word in ["o", "once"] {
        assert_eq!(sup.signal("d"), "");
        sup.wait_state("down");
        assert_eq!(sup.signal(word), "");
        pid = sup.wait_running(Some(pid));
        assert_eq!(sup.status()["want"], "once");
        let count = sup.status()["count"].as_u64().unwrap();
        assert_eq!(sup.signal("k"), "");
        let st = sup.wait_state("down");
        assert_eq!(st["count"].as_u64(), Some(count), "once must not restart");
    }
    // restart: a new process, wanted up.
    assert_eq!(sup.signal("u"), "");
    pid = sup.wait_running(Some(pid));
    assert_eq!(sup.signal("restart"), "");
    sup.wait_running(Some(pid));
    assert_eq!(sup.status()["want"], "up");
}

#[test]
fn errors_unknown_signal_not_running_and_404() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "100"]);
    sup.wait_running(None);
    assert_eq!(sup.signal("bogus"), "unknown signal: bogus");
    let (code, body) = immortal::client::get(&sup.sock(), "/nope").unwrap();
    assert_eq!(code, 404);
    assert!(body.contains("\"Err\""), "{body}");
    assert_eq!(sup.signal("d"), "");
    sup.wait_state("down");
    assert_eq!(sup.signal("hup"), "service not running");
    // POST works as GET for signals; curl's `http:/signal/u` form too.
    let mut s = UnixStream::connect(sup.sock()).unwrap();
    s.write_all(b"POST /u HTTP/1.1\r\nHost: signal\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.ends_with("{\"Err\":\"\"}\n"), "{raw}");
    sup.wait_running(None);
}

#[test]
fn halt_and_exit() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "100"]);
    let pid = sup.wait_running(None);
    assert_eq!(sup.signal("halt"), "");
    assert_eq!(sup.wait_exit(10.0), 0);
    assert!(!alive(pid), "halt must stop the service");

    // exit (command-line supervisor): the supervisor goes, the service stays.
    let mut sup = sb.supervise_in("sv2", &["sleep", "100"]);
    let pid = sup.wait_running(None);
    assert_eq!(sup.signal("exit"), "");
    assert_eq!(sup.wait_exit(10.0), 0);
    assert!(alive(pid), "exit must leave the service running");
}

#[test]
fn restart_rereads_the_config() {
    let sb = Sandbox::new();
    let yml = sb.write("r.yml", "cmd: sleep 100\n");
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    let pid = sup.wait_running(None);
    sb.write("r.yml", "cmd: sleep 200\n");
    assert_eq!(sup.signal("restart"), "");
    let pid2 = sup.wait_running(Some(pid));
    assert_eq!(sup.status()["cmd"], "sleep 200");
    assert!(!alive(pid));
    // A broken file: the answer names the error, the old config is kept.
    sb.write("r.yml", "cmd: sleep 300\nbogus: 1\n");
    let err = sup.signal("restart");
    assert!(err.contains("r.yml:2: unknown field `bogus`"), "{err}");
    sup.wait_running(Some(pid2));
    assert_eq!(sup.status()["cmd"], "sleep 200");
}

#[test]
fn oversized_request_is_answered_400() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "100"]);
    sup.wait_running(None);
    let mut s = UnixStream::connect(sup.sock()).unwrap();
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}", "a".repeat(10_000));
    let _ = s.write_all(big.as_bytes());
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert_eq!(sup.status()["state"], "run");
}

#[test]
fn silent_client_times_out_without_blocking_others() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "100"]);
    sup.wait_running(None);
    let mut silent = UnixStream::connect(sup.sock()).unwrap();
    let mut half = UnixStream::connect(sup.sock()).unwrap();
    half.write_all(b"GET /status HTTP/1.1\r\n").unwrap();
    // Others are served meanwhile, at once.
    for _ in 0..20 {
        assert_eq!(sup.status()["state"], "run");
    }
    silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = String::new();
    let _ = silent.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw:?}");
    half.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = String::new();
    let _ = half.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw:?}");
}

#[test]
fn at_64_clients_the_oldest_idle_one_makes_room() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "100"]);
    sup.wait_running(None);
    // The listen queue is FIFO: these 64 are accepted before the 65th.
    let mut idle: Vec<UnixStream> = (0..64).map(|_| UnixStream::connect(sup.sock()).unwrap()).collect();
    let mut extra = UnixStream::connect(sup.sock()).unwrap();
    extra.write_all(b"GET /status HTTP/1.1\r\n\r\n").unwrap();
    extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut raw = String::new();
    let _ = extra.read_to_string(&mut raw);
    assert!(
        raw.starts_with("HTTP/1.1 200"),
        "a complete request is never refused for idle ones: {raw:?}"
    );
    // The oldest connection without a request was dropped for it.
    let mut oldest = idle.remove(0);
    oldest.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut raw = String::new();
    let _ = oldest.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 503"), "{raw:?}");
    drop(idle);
    wait_for(5.0, "served again", || immortal::client::status(&sup.sock()).is_ok());
    assert_eq!(sup.status()["state"], "run");
}

/// Send `request`, shut the sending side at once (as `nc -N`, `socat` and
/// HTTP/1.0 clients do), read the whole answer.
pub(crate) fn ask_and_shut(sock: &std::path::Path, request: &str) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn a_request_is_answered_when_the_client_shut_its_sending_side() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "100"]);
    let pid = sup.wait_running(None);
    // The request and the end of input often arrive together: each time.
    for i in 0..20 {
        let out = ask_and_shut(&sup.sock(), "GET /status HTTP/1.0\r\n\r\n");
        assert!(
            out.starts_with("HTTP/1.1 200 OK\r\n") && out.contains(&format!("\"pid\":{pid},")),
            "status request {i}: {out:?}"
        );
    }
    let out = ask_and_shut(&sup.sock(), "GET /signal/d HTTP/1.0\r\n\r\n");
    assert!(out.ends_with("\r\n\r\n{\"Err\":\"\"}\n"), "{out:?}");
    sup.wait_state("down");
    // One that can never complete is told so, and not executed.
    let out = ask_and_shut(&sup.sock(), "GET /signal/u HTTP/1.0\r\n");
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out:?}");
    assert!(out.ends_with("{\"Err\":\"incomplete request\"}\n"), "{out:?}");
    assert_eq!(sup.status()["want"], "down");

    // The event stream goes on after the reader shut its side.
    use std::io::BufRead;
    let mut s = UnixStream::connect(sup.sock()).unwrap();
    s.write_all(b"GET /events HTTP/1.0\r\n\r\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut events = std::io::BufReader::new(s);
    let mut line = String::new();
    while line != "\r\n" {
        line.clear();
        assert!(events.read_line(&mut line).unwrap() > 0, "the head ended early");
    }
    // The head has come: it is a reader now.
    assert_eq!(sup.signal("u"), "");
    line.clear();
    events.read_line(&mut line).unwrap();
    assert!(line.contains("\"event\":"), "the stream ended instead: {line:?}");
    sup.wait_running(Some(pid));
    // Its end of input, ready to read forever, is not polled for: the
    // supervisor does not spin on it (100 ticks a second if it did).
    let ticks = || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", sup.pid())).unwrap();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
        // utime and stime: fields 14 and 15, the 12th and 13th after the name.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = ticks();
    // A measurement window, not a synchronisation.
    std::thread::sleep(Duration::from_secs(1));
    let spent = ticks() - before;
    assert!(
        spent < 10,
        "the supervisor used {spent} ticks in 1 s with a half-closed reader"
    );
}

#[test]
fn a_request_line_over_8_kib_is_400_and_not_echoed() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "100"]);
    sup.wait_running(None);
    let path = "a".repeat(9000);
    let mut s = UnixStream::connect(sup.sock()).unwrap();
    s.write_all(format!("GET /{path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{raw:?}");
    assert!(raw.ends_with("\r\n\r\n{\"Err\":\"request too large\"}\n"), "{raw:?}");
    assert!(!raw.contains(&path));
    assert_eq!(sup.status()["state"], "run");
}

/// Run `argv` with `input` on its stdin (then closed); its stdout. Killed
/// (by pid) if it has not finished within 10 s.
fn pipe_through(argv: &[&str], input: &str) -> String {
    use std::process::{Command, Stdio};
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{argv:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    out
}

fn installed(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

#[test]
fn socat_and_nc_n_get_their_answers() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "100"]);
    let mut pid = sup.wait_running(None);
    let sock = sup.sock();
    let unix = format!("UNIX-CONNECT:{}", sock.display());
    let tools: [(&str, Vec<&str>); 2] = [
        ("socat", vec!["socat", "-t", "5", "-", &unix]),
        // OpenBSD's (Debian's netcat-openbsd): -N shuts the sending side.
        ("nc.openbsd", vec!["nc.openbsd", "-N", "-U", sock.to_str().unwrap()]),
    ];
    for (tool, argv) in tools {
        if !installed(tool) {
            println!("SKIPPED: the real {tool}: not installed (scripts/install-peers)");
            continue;
        }
        for i in 0..10 {
            let out = pipe_through(&argv, "GET /status HTTP/1.0\r\n\r\n");
            assert!(out.contains(&format!("\"pid\":{pid},")), "{tool}, request {i}: {out:?}");
        }
        let out = pipe_through(&argv, "GET /signal/d HTTP/1.0\r\n\r\n");
        assert!(out.ends_with("{\"Err\":\"\"}\n"), "{tool}: {out:?}");
        sup.wait_state("down");
        let out = pipe_through(&argv, "GET /signal/u HTTP/1.0\r\n\r\n");
        assert!(out.ends_with("{\"Err\":\"\"}\n"), "{tool}: {out:?}");
        pid = sup.wait_running(Some(pid));
    }
}
