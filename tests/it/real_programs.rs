//! Following real self-daemonizing programs: nginx (daemonizes, writes its
//! pid file) and a gunicorn USR2 upgrade under load. Both are installed by
//! `scripts/install-peers` (run by `scripts/test`).

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn get(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    if out.starts_with("HTTP/1.") && out.contains(" 200 ") {
        Ok(out)
    } else {
        Err(format!("bad response: {out:?}"))
    }
}

fn nginx() -> String {
    for p in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("nginx is not installed: run scripts/install-peers");
}

#[test]
fn nginx_daemonizing_status_reload_kill_and_down() {
    let sb = Sandbox::new();
    let port = free_port();
    let dir = sb.dir.path().display().to_string();
    std::fs::create_dir_all(sb.path("tmp")).unwrap();
    sb.write(
        "nginx.conf",
        &format!(
            "daemon on;\nmaster_process on;\nworker_processes 2;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\nuser root;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp; \
             uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;\n\
             server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"ok\\n\"; }} }} }}\n"
        ),
    );
    let conf = sb.path("nginx.conf");
    let pidfile = sb.path("nginx.pid");
    let mut sup = sb.supervise(&[
        "-f",
        pidfile.to_str().unwrap(),
        &nginx(),
        "-p",
        &dir,
        "-c",
        conf.to_str().unwrap(),
        "-e",
        sb.path("error.log").to_str().unwrap(),
    ]);
    let read_pid = || sb.read("nginx.pid").trim().parse::<i64>().unwrap_or(0);
    let mut master = 0;
    sup.wait_for(10.0, "following the nginx master", || {
        let st = sup.status();
        master = read_pid();
        st["fpid"] == true && st["pid"].as_i64() == Some(master) && master > 0
    });
    sup.pids.push(master as i32);
    get(port).unwrap();
    assert_eq!(sup.status()["count"], 1);

    // HUP: nginx reloads (new workers), same master, still followed.
    wait_for(5.0, "workers up", || children_of(master).len() == 2);
    let workers = children_of(master);
    assert_eq!(sup.signal("hup"), "");
    sup.wait_for(10.0, "workers replaced", || {
        let now = children_of(master);
        now.len() == 2 && now.iter().all(|w| !workers.contains(w))
    });
    assert_eq!(sup.status()["pid"].as_i64(), Some(master));
    get(port).unwrap();

    // kill -9 of the master: seen at once; its orphaned workers are stopped
    // and nginx is started again, and followed.
    kill(Pid::from_raw(master as i32), Signal::SIGKILL).unwrap();
    let mut new_master = 0;
    sup.wait_for(20.0, "a new master followed", || {
        let st = sup.status();
        new_master = read_pid();
        st["fpid"] == true && new_master != master && st["pid"].as_i64() == Some(new_master)
    });
    sup.pids.push(new_master as i32);
    assert_eq!(sup.status()["count"], 2);
    wait_for(5.0, "serving again", || get(port).is_ok());

    // down: the whole nginx process group is gone.
    assert_eq!(sup.signal("down"), "");
    sup.wait_state("down");
    assert!(!alive(new_master));
    assert!(group_members(new_master).is_empty(), "{:?}", group_members(new_master));
    assert!(get(port).is_err());
}

const APP: &str = "def app(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'ok\\n']\n";

#[test]
fn gunicorn_usr2_upgrade_under_load_loses_no_request() {
    assert!(
        Command::new("python3")
            .args(["-c", "import gunicorn"])
            .status()
            .unwrap()
            .success(),
        "gunicorn is not installed: run scripts/install-peers"
    );
    let sb = Sandbox::new();
    sb.write("app.py", APP);
    let port = free_port();
    let pidfile = sb.path("gunicorn.pid");
    let bind = format!("127.0.0.1:{port}");
    let mut sup = sb.supervise(&[
        "-f",
        pidfile.to_str().unwrap(),
        "python3",
        "-m",
        "gunicorn",
        "--chdir",
        sb.dir.path().to_str().unwrap(),
        "-p",
        pidfile.to_str().unwrap(),
        "-b",
        &bind,
        "-w",
        "2",
        "app:app",
    ]);
    let old = sup.wait_running(None);
    wait_for(20.0, "gunicorn serving", || get(port).is_ok());

    // A client sends requests in a loop for the whole upgrade.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let client = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match get(port) {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    // USR2: the old master starts a new master (its child) beside it.
    assert_eq!(sup.signal("usr2"), "");
    let mut new = 0;
    sup.wait_for(20.0, "new master booted", || {
        new = children_of(old)
            .into_iter()
            .find(|&c| sb.read("gunicorn.pid.2").trim() == c.to_string())
            .unwrap_or(0);
        new > 0 && children_of(new).len() == 2
    });
    sup.pids.push(new as i32);
    // The old master is told to go (gracefully); the supervisor follows the
    // new one once it is promoted and writes the pid file.
    assert_eq!(sup.signal("term"), "");
    sup.wait_for(20.0, "following the new master", || {
        let st = sup.status();
        st["fpid"] == true && st["pid"].as_i64() == Some(new)
    });
    std::thread::sleep(Duration::from_millis(500)); // keep the client going a little (load, not sync)
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("gunicorn upgrade: {ok} requests served, {failed} failed");
    assert!(ok > 100, "the client ran: {ok}");
    assert_eq!(failed, 0, "requests failed during the upgrade");
    let st = sup.status();
    assert_eq!(st["count"], 1, "no restart");
    assert!(!alive(old));
    assert_eq!(sb.read("gunicorn.pid").trim(), new.to_string());
    assert!(sup.log().contains(&format!("following pid {new}")), "{}", sup.log());
    // One master: the new one, and nothing else under the supervisor but
    // it (without a subreaper the new master is init's child, followed
    // through the pid file).
    let ours = if caps().subreaper { vec![new] } else { Vec::new() };
    assert_eq!(children_of(sup.pid() as i64), ours);
    assert_eq!(sup.signal("down"), "");
    sup.wait_state("down");
}

/// A raw HTTP request over TCP; the whole response (empty: not listening).
fn http(port: u16, request: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn nginx_serves_the_status_read_only_from_the_example() {
    let sb = Sandbox::new();
    std::fs::set_permissions(sb.dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let example = |f: &str| std::fs::read_to_string(format!("{root}/examples/nginx-status/{f}")).unwrap();
    // The example's service, with its socket block, as `web`.
    let web_port = free_port();
    let yml = example("web.yml").replace("8000", &web_port.to_string());
    assert!(yml.contains("mode: 0666"));
    let web_yml = sb.write("web.yml", &yml);
    let sdir = sb.path("sdir");
    let mut web = Supervisor::spawn(
        sb.command(&["-n", "-ctl", "web", "-c", web_yml.to_str().unwrap()]),
        sdir.join("web"),
        sb.path("web.err"),
    );
    let pid = web.wait_running(None);
    // The example's nginx.conf, pointed at this test's socket and ports.
    let port = free_port();
    let dir = sb.dir.path().display().to_string();
    std::fs::create_dir_all(sb.path("tmp")).unwrap();
    let conf = example("nginx.conf")
        .replace(
            "/var/run/immortal/web/immortal.sock",
            sdir.join("web/immortal.sock").to_str().unwrap(),
        )
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("/run/nginx-immortal-status.pid", &format!("{dir}/nginx.pid"))
        .replace(
            "access_log off;",
            &format!(
                "access_log off; client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; \
                 fastcgi_temp_path {dir}/tmp; uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;"
            ),
        );
    let conf_path = sb.write("nginx.conf", &conf);
    // nginx itself under a supervisor (`daemon off;`).
    let mut front = sb.supervise_in(
        "front",
        &[
            &nginx(),
            "-p",
            &dir,
            "-e",
            sb.path("error.log").to_str().unwrap(),
            "-c",
            conf_path.to_str().unwrap(),
        ],
    );
    front.wait_running(None);
    let get = |path: &str| {
        http(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    };
    let mut status = String::new();
    front.wait_for(10.0, "nginx answers /status", || {
        status = get("/status");
        status.starts_with("HTTP/1.1 200")
    });
    let body = status.split_once("\r\n\r\n").unwrap().1;
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {status}"));
    assert_eq!((v["pid"].as_i64(), v["name"].as_str()), (Some(pid), Some("web")));
    let metrics = get("/metrics");
    assert!(metrics.contains("immortal_up{service=\"web\"} 1"), "{metrics}");
    assert!(get("/history").starts_with("HTTP/1.1 200"));
    // Control is not passed on: not by path, not by method.
    assert!(get("/signal/down").starts_with("HTTP/1.1 404"));
    let post = http(
        port,
        "POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(post.starts_with("HTTP/1.1 403"), "{post}");
    assert_eq!(web.status()["pid"].as_i64(), Some(pid));
    assert_eq!(web.status()["state"], "run");

    // Events stream through nginx as they happen.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    stream.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    let t0 = std::time::Instant::now();
    // WINCH (ignored by the service) until the stream shows it: nginx has
    // connected upstream by then.
    while !got.contains("\"signal\":\"WINCH\"") {
        assert!(t0.elapsed() < Duration::from_secs(10), "no events through nginx: {got}");
        web.signal("WINCH");
        if let Ok(n) = stream.read(&mut buf) {
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert_eq!(web.signal("down"), "");
    while !got.contains("\"event\":\"down\"") {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no down event through nginx: {got}"
        );
        if let Ok(n) = stream.read(&mut buf) {
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}
