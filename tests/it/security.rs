//! What a supervisor running as root must refuse: supervise directories
//! and FIFOs that another user controls, pid files reached through a
//! symlink someone planted, files that would block its loop.

use crate::common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

/// nobody's ids from the system's id(1) (the test binary may be static,
/// without NSS of its own).
struct Nobody {
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
}

fn nobody() -> Nobody {
    let id = |flag: &str| -> u32 {
        let out = std::process::Command::new("id")
            .args([flag, "nobody"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    Nobody {
        uid: nix::unistd::Uid::from_raw(id("-u")),
        gid: nix::unistd::Gid::from_raw(id("-g")),
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn a_supervise_dir_owned_by_another_user_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root to give a directory away");
        return;
    }
    let sb = Sandbox::new();
    let theirs = sb.path("theirs");
    fs::create_dir(&theirs).unwrap();
    nix::unistd::chown(&theirs, Some(nobody().uid), Some(nobody().gid)).unwrap();
    let out = sb.run(&["-n", "-ctl", theirs.to_str().unwrap(), "sleep", "100"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("theirs") && err.contains(&format!("belongs to uid {}", nobody().uid)),
        "{err}"
    );
    assert!(!theirs.join("immortal.sock").exists(), "nothing was created in it");

    // Our directory, but a control FIFO someone else made.
    let ours = sb.path("ours");
    fs::create_dir(&ours).unwrap();
    let fifo = ours.join("control");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622)).unwrap();
    nix::unistd::chown(&fifo, Some(nobody().uid), None).unwrap();
    let out = sb.run(&["-n", "-ctl", ours.to_str().unwrap(), "sleep", "100"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("control") && err.contains("belongs to uid"), "{err}");

    // A runit service directory whose supervise/ is someone else's.
    sb.script("svc/run", "#!/bin/sh\nexec sleep 100\n");
    fs::create_dir(sb.path("svc/supervise")).unwrap();
    nix::unistd::chown(&sb.path("svc/supervise"), Some(nobody().uid), None).unwrap();
    let out = sb.run(&[sb.path("svc").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("belongs to uid"), "{}", stderr_of(&out));
}

/// A launcher that leaves a daemon behind and points `PIDFILE` at it
/// through a symlink, then exits.
fn symlinked_pidfile(sb: &Sandbox, dir_mode: u32) -> Supervisor {
    let dir = sb.path("run");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(dir_mode)).unwrap();
    let script = format!(
        "sleep 1000 & echo $! > {d}/real.pid; ln -sf {d}/real.pid {d}/link.pid; exit 0",
        d = dir.display()
    );
    let link = dir.join("link.pid");
    sb.supervise(&["-f", link.to_str().unwrap(), "sh", "-c", &script])
}

#[test]
fn pid_files_are_not_read_through_symlinks_in_world_writable_dirs() {
    let sb = Sandbox::new();
    let mut sup = symlinked_pidfile(&sb, 0o1777);
    sup.wait_for(10.0, "the refusal logged", || sup.log().contains("not following"));
    assert!(sup.log().contains("link.pid"), "{}", sup.log());
    assert_ne!(sup.status()["fpid"], true);
    let daemon: i32 = sb.read("run/real.pid").trim().parse().unwrap();
    sup.pids.push(daemon);

    // The same link in a directory only its owner can write: followed.
    let sb = Sandbox::new();
    let mut sup = symlinked_pidfile(&sb, 0o755);
    sup.wait_for(10.0, "following through the link", || sup.status()["fpid"] == true);
    let daemon: i64 = sb.read("run/real.pid").trim().parse().unwrap();
    sup.pids.push(daemon as i32);
    assert_eq!(sup.status()["pid"].as_i64(), Some(daemon));
}

#[test]
fn a_fifo_in_place_of_a_file_never_hangs_the_supervisor() {
    let sb = Sandbox::new();
    let fifo = |p: &std::path::Path| {
        nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    };
    // As the pid file: refused, the service restarted, status answers.
    let pidfile = sb.path("svc.pid");
    fifo(&pidfile);
    let sup = sb.supervise(&["-f", pidfile.to_str().unwrap(), "sh", "-c", "exit 0"]);
    sup.wait_for(10.0, "the refusal logged", || sup.log().contains("not a regular file"));
    sup.wait_for(10.0, "restarted", || sup.status()["count"].as_u64() >= Some(2));

    // As run.yml on `restart`: the error is answered, the old one kept.
    let yml = sb.write("app.yml", "cmd: sleep 1000\n");
    let mut sup2 = sb.supervise_in("app", &["-c", yml.to_str().unwrap()]);
    let pid = sup2.wait_running(None);
    fs::remove_file(&yml).unwrap();
    fifo(&yml);
    let err = sup2.signal("restart");
    assert!(err.contains("not a regular file") && err.contains("app.yml"), "{err}");
    sup2.wait_running(Some(pid));
}
