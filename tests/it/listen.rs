//! `listen:` (SPEC §17): the supervisor holds the service's sockets and
//! passes them with systemd's socket-activation protocol. Real programs
//! read them unchanged — a small Python server (`socket.socket(fileno=3)`),
//! gunicorn `--bind fd://3` and uvicorn `--fd 3` (installed by
//! `scripts/install-peers`) — and connections made while no process
//! serves (killed, down, crash loop, restart) are answered, never refused.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A server of the protocol: checks `LISTEN_PID`, serves every socket it
/// is given (HTTP/1.0 on stream sockets, one datagram back on udp) with
/// what it was given as JSON; `argv[1]`: a readiness fd to write to.
const SERVER: &str = r#"import json, os, selectors, socket, sys
def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
fds = [fd for fd in range(1024) if is_open(fd)]
assert os.environ["LISTEN_PID"] == str(os.getpid()), (os.environ["LISTEN_PID"], os.getpid())
n = int(os.environ["LISTEN_FDS"])
socks = [socket.socket(fileno=3 + i) for i in range(n)]
info = json.dumps({
    "pid": os.getpid(),
    "names": os.environ["LISTEN_FDNAMES"].split(":"),
    "sockets": [os.readlink("/proc/self/fd/%d" % (3 + i)) for i in range(n)],
    "uid": os.getuid(),
    "fds": fds,
    "watchdog_pid": os.environ.get("WATCHDOG_PID"),
}).encode()
if len(sys.argv) > 1:
    os.write(int(sys.argv[1]), b"\n")
    os.close(int(sys.argv[1]))
sel = selectors.DefaultSelector()
for s in socks:
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s.type == socket.SOCK_DGRAM:
            _, peer = s.recvfrom(512)
            s.sendto(info, peer)
        else:
            c, _ = s.accept()
            try:
                c.recv(4096)
                c.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + info)
            except OSError:
                pass
            c.close()
"#;

const WSGI_APP: &str = "import os\ndef app(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'%d\\n' % os.getpid()]\n";

const ASGI_APP: &str = "import os\nasync def app(scope, receive, send):\n    if scope['type'] != 'http':\n        return\n    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'text/plain')]})\n    await send({'type': 'http.response.body', 'body': b'%d\\n' % os.getpid()})\n";

/// A request sent; its answer read later.
fn send_tcp(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    s
}

fn send_unix(path: &std::path::Path) -> UnixStream {
    let mut s = UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    s
}

/// The body of the answer on `s` (an HTTP/1.0 200), within 20 s.
fn answer(mut s: impl Read + AsRawTimeout) -> String {
    s.timeout(Duration::from_secs(20));
    let mut out = String::new();
    s.read_to_string(&mut out)
        .unwrap_or_else(|e| panic!("reading the answer: {e} (so far {out:?})"));
    assert!(out.starts_with("HTTP/1.") && out.contains(" 200 "), "{out:?}");
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

trait AsRawTimeout {
    fn timeout(&mut self, d: Duration);
}
impl AsRawTimeout for TcpStream {
    fn timeout(&mut self, d: Duration) {
        self.set_read_timeout(Some(d)).unwrap();
    }
}
impl AsRawTimeout for UnixStream {
    fn timeout(&mut self, d: Duration) {
        self.set_read_timeout(Some(d)).unwrap();
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

/// The `ADDRESS` of `KIND ADDRESS (fd N)` in the status's `listen`.
fn held(st: &Value, i: usize) -> String {
    let entry = st["listen"][i]
        .as_str()
        .unwrap_or_else(|| panic!("no listen[{i}]: {st}"));
    entry.split(' ').nth(1).unwrap().to_string()
}

fn write_yml(sb: &Sandbox, name: &str, text: &str) -> String {
    sb.write(name, text).display().to_string()
}

#[test]
fn a_python_server_gets_the_sockets_by_the_protocol_and_none_is_ever_refused() {
    let sb = Sandbox::new();
    sb.write("server.py", SERVER);
    let dir = sb.dir.path().display().to_string();
    let sock = sb.path("app.sock");
    let yml = write_yml(
        &sb,
        "web.yml",
        &format!(
            "cmd: python3 server.py 6\ncwd: {dir}\nwait: 1\n\
             log: {{file: {dir}/out.log}}\nready: {{fd: 6}}\n\
             listen:\n  - tcp: 127.0.0.1:0\n    name: http\n  - unix: {}\n  - udp: 127.0.0.1:0\n",
            sock.display()
        ),
    );
    let mut sup = sb.supervise(&["-c", &yml]);
    let pid = sup.wait_running(None);
    sup.wait_for(10.0, "ready", || sup.status()["ready"] == true);
    let st = sup.status();
    let (tcp, udp) = (held(&st, 0), held(&st, 2));
    assert!(tcp.starts_with("127.0.0.1:") && tcp != "127.0.0.1:0", "{st}");
    assert_eq!(
        st["listen"],
        serde_json::json!([
            format!("tcp {tcp} (fd 3)"),
            format!("unix {} (fd 4)", sock.display()),
            format!("udp {udp} (fd 5)")
        ])
    );
    let info = json(&answer(send_tcp(&tcp)));
    assert_eq!(info["pid"].as_i64(), Some(pid));
    // Only the sockets (3, 4, 5) and the notification fd (6) beside stdio:
    // nothing of the supervisor's (log pipes, signalfd, lock, socket…), nor
    // what it inherited.
    assert_eq!(info["fds"], serde_json::json!([0, 1, 2, 3, 4, 5, 6]), "{}", sup.log());
    assert_eq!(
        info["names"],
        serde_json::json!(["http", sock.display().to_string(), "127.0.0.1_0"])
    );
    assert_eq!(json(&answer(send_unix(&sock)))["pid"].as_i64(), Some(pid));
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    client.send_to(b"?", &udp).unwrap();
    let mut buf = [0u8; 2048];
    let n = client.recv(&mut buf).unwrap();
    assert_eq!(json(&String::from_utf8_lossy(&buf[..n]))["pid"].as_i64(), Some(pid));

    // immortalctl's detailed view of this one service lists them.
    let out = Command::new(CTL)
        .args(["status", sup.dir.to_str().unwrap()])
        .env("HOME", sb.path("home"))
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("   listen: tcp {tcp} (fd 3)\n")), "{text}");
    assert!(text.contains(&format!("   listen: udp {udp} (fd 5)\n")), "{text}");

    // kill -9: while the supervisor waits (wait: 1) to start it again, a
    // client connects; it is answered by the next process.
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    sup.wait_for(10.0, "the exit seen", || sup.status()["state"] == "wait");
    let (waiting_tcp, waiting_unix) = (send_tcp(&tcp), send_unix(&sock));
    client.send_to(b"?", &udp).unwrap();
    let by = json(&answer(waiting_tcp))["pid"].as_i64().unwrap();
    let second = sup.wait_running(Some(pid));
    assert_eq!(by, second);
    assert_eq!(json(&answer(waiting_unix))["pid"].as_i64(), Some(second));
    let n = client.recv(&mut buf).unwrap();
    assert_eq!(json(&String::from_utf8_lossy(&buf[..n]))["pid"].as_i64(), Some(second));

    // down, then up: the connection made while it is down waits.
    assert_eq!(sup.signal("down"), "");
    sup.wait_state("down");
    let waiting = send_tcp(&tcp);
    assert_eq!(sup.status()["state"], "down");
    assert_eq!(sup.signal("up"), "");
    let third = json(&answer(waiting))["pid"].as_i64().unwrap();
    assert_eq!(sup.wait_running(Some(second)), third);
    // Across every start: the same sockets, and still nothing else.
    let last = json(&answer(send_tcp(&tcp)));
    assert_eq!((&last["sockets"], &last["fds"]), (&info["sockets"], &info["fds"]));
    assert_eq!(sup.status()["listen"], st["listen"]);
}

#[test]
fn a_crash_loop_refuses_no_connection() {
    let sb = Sandbox::new();
    sb.write("server.py", SERVER);
    let dir = sb.dir.path().display().to_string();
    // It fails at once, again and again, until `go` exists.
    sb.script(
        "run.sh",
        "#!/bin/sh\nexpr $(cat count 2>/dev/null || echo 0) + 1 > count\n[ -e go ] || exit 1\nexec python3 server.py\n",
    );
    let yml = write_yml(
        &sb,
        "loop.yml",
        &format!("cmd: ./run.sh\ncwd: {dir}\nrestart: {{delay: 0.2}}\nlisten:\n  - tcp: 127.0.0.1:0\n"),
    );
    let sup = sb.supervise(&["-c", &yml]);
    let tcp = held(&sup.status(), 0);
    let count = || sb.read("count").trim().parse::<u32>().unwrap_or(0);
    sup.wait_for(10.0, "a crash loop", || count() >= 2);
    let waiting = send_tcp(&tcp);
    let before = count();
    sup.wait_for(10.0, "more crashes", || count() > before + 1);
    sb.write("go", "");
    let pid = json(&answer(waiting))["pid"].as_i64().unwrap();
    assert_eq!(sup.status()["pid"].as_i64(), Some(pid));
}

#[test]
fn restart_keeps_unchanged_sockets_and_reopens_changed_ones() {
    let sb = Sandbox::new();
    sb.write("server.py", SERVER);
    let dir = sb.dir.path().display().to_string();
    // With the watchdog too (where sd_notify exists): two variables hold
    // the service's own pid.
    let watchdog = if caps().notify_socket { "watchdog: 600\n" } else { "" };
    let head = format!("cmd: python3 server.py\ncwd: {dir}\n{watchdog}listen:\n");
    let yml = write_yml(
        &sb,
        "web.yml",
        &format!("{head}  - tcp: 127.0.0.1:0\n    name: kept\n  - tcp: 127.0.0.2:0\n    name: dropped\n"),
    );
    let mut sup = sb.supervise(&["-c", &yml]);
    let first = sup.wait_running(None);
    let st = sup.status();
    let (kept, dropped) = (held(&st, 0), held(&st, 1));
    let before = json(&answer(send_tcp(&kept)));
    // A changed configuration: one address kept (new name and backlog),
    // one gone, two new.
    let sock = sb.path("new.sock");
    write_yml(
        &sb,
        "web.yml",
        &format!(
            "{head}  - unix: {}\n  - tcp: 127.0.0.1:0\n    name: renamed\n    backlog: 16\n  - tcp: 127.0.0.3:0\n",
            sock.display()
        ),
    );
    assert_eq!(sup.signal("restart"), "");
    let second = sup.wait_running(Some(first));
    let st = sup.status();
    assert_eq!(held(&st, 1), kept, "{st}");
    let added = held(&st, 2);
    assert!(added.starts_with("127.0.0.3:"), "{st}");
    let after = json(&answer(send_unix(&sock)));
    assert_eq!(after["pid"].as_i64(), Some(second));
    if caps().notify_socket {
        assert_eq!(after["watchdog_pid"], serde_json::json!(second.to_string()));
    }
    assert_eq!(
        after["names"],
        serde_json::json!([sock.display().to_string(), "renamed", "127.0.0.3_0"])
    );
    assert_eq!(after["sockets"][1], before["sockets"][0], "the kept socket is the same");
    assert_eq!(json(&answer(send_tcp(&added)))["pid"].as_i64(), Some(second));
    let refused = TcpStream::connect(&dropped).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);

    // A configuration whose new socket cannot be opened is refused as a
    // whole: the service restarts with the sockets it had.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap();
    write_yml(&sb, "web.yml", &format!("{head}  - tcp: {busy_addr}\n"));
    let err = sup.signal("restart");
    assert_eq!(
        err,
        format!("restart keeps the previous configuration: listen {busy_addr}: Address already in use")
    );
    sup.wait_running(Some(second));
    assert_eq!(sup.status()["listen"], st["listen"]);
    json(&answer(send_tcp(&kept)));
}

/// A group made for one test, removed on drop.
struct TestGroup {
    name: String,
    gid: u32,
}

impl TestGroup {
    fn new(name: &str) -> TestGroup {
        let _ = Command::new("groupdel").arg(name).output();
        let out = Command::new("groupadd").arg(name).output().expect("groupadd");
        assert!(
            out.status.success(),
            "groupadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let gid = immortal::user::group_id(name).unwrap().as_raw();
        TestGroup { name: name.into(), gid }
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

/// Connect to `path` as nobody, with `gid` as supplementary group or none:
/// `ok`, or the error's name.
fn connect_as_nobody(path: &std::path::Path, gid: Option<u32>) -> String {
    let groups = gid.map_or(String::new(), |g| g.to_string());
    let code = format!(
        "import os, socket\nos.setgroups([{groups}])\nos.setgid(65534)\nos.setuid(65534)\n\
         try:\n    socket.socket(socket.AF_UNIX).connect({path:?})\n    print('ok')\n\
         except OSError as e:\n    print(type(e).__name__)\n",
        path = path.display().to_string()
    );
    let out = Command::new("python3").args(["-c", &code]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_unix_socket_owned_by_a_group_lets_that_group_in() {
    let sb = Sandbox::new();
    sb.write("server.py", SERVER);
    let group = TestGroup::new(&format!("imml{}", std::process::id()));
    // A directory nobody may search (the sandbox is 0700).
    let public = tempfile::Builder::new().prefix("immortal-listen-").tempdir().unwrap();
    std::fs::set_permissions(public.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sock = public.path().join("app.sock");
    let dir = sb.dir.path().display().to_string();
    let yml = write_yml(
        &sb,
        "web.yml",
        &format!(
            "cmd: python3 server.py\ncwd: {dir}\nlisten:\n  - unix: {}\n    mode: \"0660\"\n    group: {}\n",
            sock.display(),
            group.name
        ),
    );
    // A stale socket file from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let mut sup = sb.supervise(&["-c", &yml]);
    let pid = sup.wait_running(None);
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!((meta.mode() & 0o7777, meta.gid(), meta.uid()), (0o660, group.gid, 0));
    assert_eq!(connect_as_nobody(&sock, Some(group.gid)), "ok");
    assert_eq!(connect_as_nobody(&sock, None), "PermissionError");
    assert_eq!(json(&answer(send_unix(&sock)))["pid"].as_i64(), Some(pid));
    drop(sup);
}

/// A port below 1024 that nobody listens on now.
fn free_low_port() -> u16 {
    (900..1020)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port below 1024")
}

#[test]
fn an_unprivileged_service_serves_a_privileged_port_the_supervisor_opened() {
    let sb = Sandbox::new();
    let port = free_low_port();
    // As nobody, in /: the code inline (the sandbox is root's, 0700). It
    // answers with its uid and whether it may bind that port itself.
    let code = format!(
        "import os, socket\n\
         try:\n    socket.socket().bind(('127.0.0.1', {port}))\n    own = 'bound'\nexcept PermissionError:\n    own = 'denied'\n\
         s = socket.socket(fileno=3)\n\
         while True:\n    c, _ = s.accept()\n    c.recv(4096)\n    c.sendall(b'HTTP/1.0 200 OK\\r\\n\\r\\n%d %s' % (os.getuid(), own.encode()))\n    c.close()\n"
    );
    let indented: String = code.lines().map(|l| format!("    {l}\n")).collect();
    let yml = write_yml(
        &sb,
        "low.yml",
        &format!(
            "cmd:\n  - python3\n  - -c\n  - |\n{indented}user: nobody\ncwd: /\nlisten:\n  - tcp: 127.0.0.1:{port}\n"
        ),
    );
    let mut sup = sb.supervise(&["-c", &yml]);
    sup.wait_running(None);
    let body = answer(send_tcp(&format!("127.0.0.1:{port}")));
    assert_eq!(body, "65534 denied", "{}", sup.log());
}

#[test]
fn gunicorn_finds_the_socket_by_listen_fds_and_restarts_under_load_lose_nothing() {
    let sb = Sandbox::new();
    let ok = Command::new("python3").args(["-c", "import gunicorn"]).status();
    assert!(
        ok.is_ok_and(|s| s.success()),
        "gunicorn is not installed: run scripts/install-peers"
    );
    sb.write("app.py", WSGI_APP);
    let dir = sb.dir.path().display().to_string();
    let yml = write_yml(
        &sb,
        "gunicorn.yml",
        &format!(
            "cmd: python3 -m gunicorn --workers 2 --graceful-timeout 5 app:app\ncwd: {dir}\n\
             listen:\n  - tcp: 127.0.0.1:0\n    name: http\n"
        ),
    );
    let mut sup = sb.supervise(&["-c", &yml]);
    let mut pid = sup.wait_running(None);
    let addr = held(&sup.status(), 0);
    wait_for(20.0, "gunicorn serving", || {
        TcpStream::connect(&addr).is_ok_and(|s| answer_ok(s).is_ok())
    });
    let load = Load::start(&addr);
    for _ in 0..3 {
        assert_eq!(sup.signal("restart"), "");
        pid = sup.wait_running(Some(pid));
        load.wait_more(5);
    }
    assert_eq!(sup.signal("down"), "");
    sup.wait_state("down");
    assert_eq!(sup.signal("up"), "");
    sup.wait_running(Some(pid));
    load.wait_more(5);
    let (served, failed) = load.stop();
    assert!(
        failed.is_empty(),
        "{} served, failed: {failed:?}\n{}",
        served,
        sup.log()
    );
    assert!(served > 20, "{served}");
}

#[test]
fn uvicorn_on_fd_3_restarted_under_load_refuses_nothing() {
    let sb = Sandbox::new();
    let ok = Command::new("python3").args(["-c", "import uvicorn"]).status();
    assert!(
        ok.is_ok_and(|s| s.success()),
        "uvicorn is not installed: run scripts/install-peers"
    );
    sb.write("app.py", ASGI_APP);
    let dir = sb.dir.path().display().to_string();
    let yml = write_yml(
        &sb,
        "uvicorn.yml",
        &format!("cmd: python3 -m uvicorn --fd 3 --no-access-log app:app\ncwd: {dir}\nlisten:\n  - tcp: 127.0.0.1:0\n"),
    );
    let mut sup = sb.supervise(&["-c", &yml]);
    let mut pid = sup.wait_running(None);
    let addr = held(&sup.status(), 0);
    wait_for(20.0, "uvicorn serving", || {
        TcpStream::connect(&addr).is_ok_and(|s| answer_ok(s).is_ok())
    });
    // Down, a connection meanwhile, up: answered by the new process.
    assert_eq!(sup.signal("down"), "");
    sup.wait_state("down");
    let waiting = send_tcp(&addr);
    assert_eq!(sup.signal("up"), "");
    let by = answer(waiting).trim().parse::<i64>().unwrap();
    pid = sup.wait_running(Some(pid));
    assert!(by != 0);
    let load = Load::start(&addr);
    for _ in 0..3 {
        assert_eq!(sup.signal("restart"), "");
        pid = sup.wait_running(Some(pid));
        load.wait_more(5);
    }
    let (served, failed) = load.stop();
    // Not one refused. uvicorn's own graceful shutdown closes a
    // connection it accepted but had not read yet (at most one a restart
    // here): that is uvicorn's, not the socket's.
    let refused: Vec<&String> = failed.iter().filter(|e| e.starts_with("connect")).collect();
    assert!(
        refused.is_empty() && failed.len() <= 3,
        "{served} served, failed: {failed:?}\n{}",
        sup.log()
    );
    assert!(served > 15, "{served}");
}

/// One request on `s`: its answer is a 200.
pub(crate) fn answer_ok(mut s: TcpStream) -> Result<(), String> {
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| format!("read: {e}"))?;
    if out.starts_with("HTTP/1.") && out.contains(" 200 ") {
        Ok(())
    } else {
        Err(format!("answer: {out:?}"))
    }
}

/// Requests one after the other from a thread until stopped.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    failed: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    pub(crate) fn start(addr: &str) -> Load {
        let (stop, served, failed) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::default(),
        );
        let thread = {
            let (stop, served, failed): (_, _, Arc<Mutex<Vec<String>>>) =
                (stop.clone(), served.clone(), Arc::clone(&failed));
            let addr = addr.to_string();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match TcpStream::connect(&addr)
                        .map_err(|e| format!("connect: {e}"))
                        .and_then(answer_ok)
                    {
                        Ok(()) => {
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => failed.lock().unwrap().push(e),
                    }
                }
            })
        };
        Load {
            stop,
            served,
            failed,
            thread: Some(thread),
        }
    }

    /// Until `n` more requests have been served.
    pub(crate) fn wait_more(&self, n: u64) {
        let start = self.served.load(Ordering::Relaxed);
        wait_for(30.0, "requests served", || {
            self.served.load(Ordering::Relaxed) >= start + n
        });
    }

    pub(crate) fn stop(mut self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (self.served.load(Ordering::Relaxed), self.failed.lock().unwrap().clone())
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn a_socket_that_cannot_be_opened_refuses_the_start_and_check_tells_it() {
    let sb = Sandbox::new();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let dir = sb.dir.path().display().to_string();
    let made = sb.path("first.sock");
    let yml = write_yml(
        &sb,
        "busy.yml",
        &format!(
            "cmd: touch {dir}/started\nlisten:\n  - unix: {}\n  - tcp: {addr}\n",
            made.display()
        ),
    );
    let ctl = sb.path("sv").display().to_string();
    // In the foreground and daemonizing alike: exit 1, nothing started,
    // nothing left behind.
    for args in [
        vec!["-n", "-ctl", ctl.as_str(), "-c", &yml],
        vec!["-ctl", ctl.as_str(), "-c", &yml],
    ] {
        let out = sb.run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr_of(&out),
            format!("immortal: listen {addr}: Address already in use\n")
        );
    }
    assert!(!sb.path("started").exists());
    assert!(!made.exists());

    // s6's notification fd on a socket's number is refused at load.
    let clash = write_yml(
        &sb,
        "clash.yml",
        "cmd: x\nlisten:\n  - tcp: 127.0.0.1:0\nready: {fd: 3}\n",
    );
    let out = sb.run(&["-n", "-ctl", &ctl, "-c", &clash]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains(
            "clash.yml:4: ready.fd 3 is taken by listen: (its sockets are descriptors 3 to 3): use 4 or more"
        ),
        "{}",
        stderr_of(&out)
    );

    // -check: every problem, at its line.
    let bad = write_yml(
        &sb,
        "bad.yml",
        &format!(
            "cmd: sleep 1\nlisten:\n  - tcp: 0.0.0.0:99999\n  - unix: /nonexistent-dir/app.sock\n  - unix: {dir}/g.sock\n    group: no-such-group-xyz\n  - unix: {yml}\n"
        ),
    );
    let out = sb.run(&["-check", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("{bad}:3: listen: bad address '0.0.0.0:99999'")),
        "{err}"
    );
    let good = write_yml(
        &sb,
        "good.yml",
        &format!(
            "cmd: sleep 1\nlisten:\n  - tcp: 0.0.0.0:8080\n  - unix: /nonexistent-dir/app.sock\n  - unix: {dir}/g.sock\n    group: no-such-group-xyz\n  - unix: {yml}\n"
        ),
    );
    let out = sb.run(&["-check", &good]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_of(&out),
        format!(
            "{good}:4: listen: unix '/nonexistent-dir/app.sock': directory '/nonexistent-dir' does not exist\n\
             {good}:6: listen: group: group 'no-such-group-xyz' does not exist\n\
             {good}:7: listen: unix '{yml}': exists and is not a socket\n\
             immortal: 3 problems in {good}\n"
        )
    );

    // -cc prints the entries, and each descriptor as the service sees it.
    let cc = write_yml(
        &sb,
        "cc.yml",
        "cmd: x\nlisten:\n  - tcp: \"[::]:8080\"\n    name: http\n  - udp: 127.0.0.1:53\n",
    );
    let out = sb.run(&["-c", &cc, "-cc"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("listen:\n- tcp: '[::]:8080'\n  name: http\n  backlog: ")
            && text.contains("\n- udp: 127.0.0.1:53\n  name: 127.0.0.1_53\n"),
        "{text}"
    );
    assert!(
        text.contains("# listen: fd 3 is tcp [::]:8080, named http, backlog "),
        "{text}"
    );
    assert!(
        text.contains("# listen: fd 4 is udp 127.0.0.1:53, named 127.0.0.1_53\n"),
        "{text}"
    );
}

#[test]
fn a_new_supervisor_takes_the_sockets_from_the_service_it_adopts() {
    let sb = Sandbox::new();
    sb.write("server.py", SERVER);
    let dir = sb.dir.path().display().to_string();
    let sock = sb.path("app.sock");
    let yml = write_yml(
        &sb,
        "web.yml",
        &format!(
            "cmd: python3 server.py\ncwd: {dir}\nwait: 1\nlisten:\n  - tcp: 127.0.0.1:0\n  - unix: {}\n",
            sock.display()
        ),
    );
    let mut first = sb.supervise(&["-c", &yml]);
    let pid = first.wait_running(None);
    let listen = first.status()["listen"].clone();
    let tcp = held(&first.status(), 0);
    // kill -9 of the supervisor: the service serves on.
    let mut child = first.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(json(&answer(send_tcp(&tcp)))["pid"].as_i64(), Some(pid));
    // The next supervisor adopts it, and its sockets: the same ones.
    let mut second = sb.supervise(&["-c", &yml]);
    second.pids.push(pid as i32);
    assert!(second.log().contains("adopting"), "{}", second.log());
    assert_eq!(second.status()["listen"], listen);
    // So the service's next run gets them, and a connection made while it
    // is gone is answered.
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    second.wait_for(10.0, "the exit seen", || second.status()["state"] == "wait");
    let (waiting_tcp, waiting_unix) = (send_tcp(&tcp), send_unix(&sock));
    let next = json(&answer(waiting_tcp))["pid"].as_i64().unwrap();
    assert_eq!(second.wait_running(Some(pid)), next);
    assert_eq!(json(&answer(waiting_unix))["pid"].as_i64(), Some(next));
}
