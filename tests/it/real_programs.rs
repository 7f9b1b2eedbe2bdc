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

fn children_of(pid: i64) -> Vec<i64> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i64>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, r)| r.split_whitespace().nth(1) == Some(&pid.to_string()[..]))
                })
                .unwrap_or(false)
        })
        .collect()
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
    // One master: the new one, and nothing else under the supervisor but it.
    assert_eq!(children_of(sup.pid() as i64), vec![new]);
    assert_eq!(sup.signal("down"), "");
    sup.wait_state("down");
}
