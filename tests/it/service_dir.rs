//! `immortal DIR`: runsv's behaviour on a daemontools/runit service
//! directory, and the runit files of every supervise directory.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

fn control(dir: &Path, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new().write(true).open(dir.join("control")).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn finish_gets_runits_arguments_and_state_is_visible() {
    let sb = Sandbox::new();
    let d = sb.path("svc");
    sb.script("svc/run", "#!/bin/sh\nexec sleep 1000\n");
    sb.script("svc/finish", "#!/bin/sh\necho \"$1 $2\" >> args\nexec sleep 0.3\n");
    let mut sup = supervise_dir(&sb, &d);
    let pid = sup.wait_running(None);
    kill(Pid::from_raw(pid as i32), Signal::SIGUSR1).unwrap();
    let st = sup.wait_state("finish");
    assert_ne!(st["pid"].as_i64(), Some(pid), "status shows ./finish's pid");
    assert_eq!(fs::read_to_string(d.join("supervise/stat")).unwrap(), "finish\n");
    let pid2 = sup.wait_running(Some(pid));
    kill(Pid::from_raw(pid2 as i32), Signal::SIGKILL).unwrap();
    wait_for(10.0, "two finish runs", || lines(&d.join("args")).len() == 2);
    assert_eq!(lines(&d.join("args")), ["-1 10", "-1 9"]);
    assert_eq!(sup.status()["name"], "svc");
}

#[test]
fn down_file_starts_down_and_runit_files_exist() {
    let sb = Sandbox::new();
    let d = sb.path("svc");
    sb.script("svc/run", "#!/bin/sh\nexec sleep 1000\n");
    sb.write("svc/down", "");
    let mut sup = supervise_dir(&sb, &d);
    let st = sup.status();
    assert_eq!(
        (st["state"].as_str(), st["want"].as_str(), st["count"].as_u64()),
        (Some("down"), Some("down"), Some(0))
    );
    let sv = d.join("supervise");
    for f in ["lock", "control", "ok", "status", "stat", "pid", "immortal.sock"] {
        assert!(sv.join(f).exists(), "missing supervise/{f}");
    }
    let status = immortal::status::read(&sv).unwrap();
    assert_eq!((status.pid, status.want), (0, immortal::status::Wanted::Down));
    control(&sv, b"u");
    let pid = sup.wait_running(None);
    let status = immortal::status::read(&sv).unwrap();
    assert_eq!(
        (status.pid as i64, status.state),
        (pid, immortal::status::RunState::Run)
    );
    assert_eq!(fs::read_to_string(sv.join("pid")).unwrap(), format!("{pid}\n"));
}

/// The directories `immortal DIR` makes in a service directory (s6's
/// `event/` fifodirs, `supervise/`) are open to no one but their owner and
/// group: `event/` as s6-supervise makes it, 03730 in the supervisor's
/// group. `immortal -check` warns about one anyone may write.
#[test]
fn no_directory_made_in_a_service_directory_is_world_writable() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let sb = Sandbox::new();
    let d = sb.path("svc");
    sb.script("svc/run", "#!/bin/sh\nexec sleep 1000\n");
    sb.script("svc/log/run", "#!/bin/sh\nexec cat > /dev/null\n");
    let mut sup = supervise_dir(&sb, &d);
    sup.wait_running(None);
    wait_for(10.0, "the logger runs", || {
        immortal::status::read(&d.join("log/supervise")).is_ok_and(|s| s.pid > 0)
    });
    fn walk(dir: &Path, out: &mut Vec<(std::path::PathBuf, u32)>) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            if meta.is_dir() {
                out.push((entry.path(), meta.mode() & 0o7777));
                walk(&entry.path(), out);
            }
        }
    }
    let mut dirs = Vec::new();
    walk(&d, &mut dirs);
    assert!(dirs.len() >= 4, "{dirs:?}");
    let open: Vec<_> = dirs.iter().filter(|(_, mode)| mode & 0o002 != 0).collect();
    assert!(open.is_empty(), "world-writable: {open:?}");
    for event in [d.join("event"), d.join("log/event")] {
        let meta = fs::metadata(&event).unwrap();
        assert_eq!(
            (meta.mode() & 0o7777, meta.gid()),
            (0o3730, nix::unistd::getegid().as_raw()),
            "{}",
            event.display()
        );
    }
    let check = sb.run(&["-check", d.to_str().unwrap()]);
    assert!(
        check.status.success() && check.stderr.is_empty(),
        "{}",
        stderr_of(&check)
    );
    // What an earlier immortal made (or s6-svperms -e) is kept, and named.
    fs::set_permissions(d.join("event"), fs::Permissions::from_mode(0o1733)).unwrap();
    let check = sb.run(&["-check", d.to_str().unwrap()]);
    let said = stderr_of(&check);
    assert!(
        check.status.success()
            && said.starts_with(&format!(
                "{}/event: warning: anyone may write this directory (mode 1733)",
                d.display()
            ))
            && said.contains("chmod 3730"),
        "{said}"
    );
}

#[test]
fn log_pipe_outlives_logger_restarts() {
    let sb = Sandbox::new();
    let d = sb.path("svc");
    // Each USR1 writes the next batch of 100 numbered lines.
    sb.script(
        "svc/run",
        "#!/bin/sh\nn=0\ntrap 'i=0; while [ $i -lt 100 ]; do n=$((n+1)); i=$((i+1)); echo line-$n; done' USR1\necho ready > ready\nwhile :; do sleep 1 & wait $!; done\n",
    );
    sb.script("svc/log/run", "#!/bin/sh\nexec cat >> logged\n");
    let mut sup = supervise_dir(&sb, &d);
    let pid = sup.wait_running(None);
    wait_for(5.0, "service ready", || d.join("ready").exists());
    let logged = d.join("log/logged");
    let logger_pid = || {
        fs::read_to_string(d.join("log/supervise/pid"))
            .unwrap_or_default()
            .trim()
            .parse::<i32>()
            .unwrap_or(0)
    };
    for batch in 1..=3 {
        wait_for(5.0, "logger up", || logger_pid() > 0);
        let lp = logger_pid();
        // The logger dies while idle (gone for sure before the batch: a
        // logger killed while reading would take lines with it, whoever
        // supervises it); the next batch waits in the pipe.
        kill(Pid::from_raw(lp), Signal::SIGKILL).unwrap();
        wait_for(5.0, "old logger gone", || !alive(lp as i64));
        kill(Pid::from_raw(pid as i32), Signal::SIGUSR1).unwrap();
        sup.wait_for(10.0, &format!("batch {batch} logged by the restarted logger"), || {
            lines(&logged).len() >= batch * 100
        });
        assert_eq!(lines(&logged).len(), batch * 100, "no line twice");
        assert_ne!(logger_pid(), lp);
    }
    let want: Vec<String> = (1..=300).map(|n| format!("line-{n}")).collect();
    assert_eq!(lines(&logged), want, "every line exactly once, in order");
    assert_eq!(
        sup.status()["pid"].as_i64(),
        Some(pid),
        "the service was never restarted"
    );
}

#[test]
fn sigterm_acts_as_x_and_drains_the_logger() {
    let sb = Sandbox::new();
    let d = sb.path("svc");
    sb.script(
        "svc/run",
        "#!/bin/sh\ntrap 'echo bye; exit 0' TERM\necho hello\nwhile :; do sleep 1 & wait $!; done\n",
    );
    sb.script("svc/log/run", "#!/bin/sh\nexec cat >> logged\n");
    let mut sup = supervise_dir(&sb, &d);
    let pid = sup.wait_running(None);
    wait_for(5.0, "hello logged", || lines(&d.join("log/logged")) == ["hello"]);
    kill(Pid::from_raw(sup.pid()), Signal::SIGTERM).unwrap();
    assert_eq!(sup.wait_exit(10.0), 0);
    assert!(!alive(pid));
    assert_eq!(
        lines(&d.join("log/logged")),
        ["hello", "bye"],
        "the logger read everything before exiting"
    );
    assert_eq!(fs::read_to_string(d.join("supervise/stat")).unwrap(), "down\n");
    assert_eq!(fs::read_to_string(d.join("log/supervise/stat")).unwrap(), "down\n");
}

#[test]
fn control_fifo_never_blocks_a_writer() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "1000"]);
    let pid = sup.wait_running(None);
    let ctl = sup.dir.join("control");
    // 1 MiB of bytes that are not commands, through a blocking writer.
    let writer = std::thread::spawn(move || {
        let mut f = fs::OpenOptions::new().write(true).open(ctl).unwrap();
        let junk = vec![b'Z'; 64 * 1024];
        for _ in 0..16 {
            f.write_all(&junk).unwrap();
        }
    });
    let t0 = Instant::now();
    while !writer.is_finished() {
        assert_eq!(sup.status()["state"], "run", "status answers during the flood");
        assert!(t0.elapsed() < Duration::from_secs(20), "writer blocked");
        std::thread::sleep(Duration::from_millis(10));
    }
    writer.join().unwrap();
    // Several commands in one write run in order.
    control(&sup.dir, b"dZu");
    let pid2 = sup.wait_running(Some(pid));
    assert!(!alive(pid));
    assert_ne!(pid, pid2);
    assert!(sup.log().contains("unknown control byte"), "{}", sup.log());
    assert!(sup.log().lines().count() < 200, "garbage must not flood the log");
}

#[test]
fn ctl_dir_has_runit_files_and_supervise_link() {
    let sb = Sandbox::new();
    let mut sup = sb.supervise(&["sleep", "1000"]);
    let pid = sup.wait_running(None);
    assert_eq!(fs::read_link(sup.dir.join("supervise")).unwrap().to_str(), Some("."));
    let status = immortal::status::read(&sup.dir).unwrap();
    assert_eq!(status.pid as i64, pid);
    let mode = |f: &str| {
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(sup.dir.join(f)).unwrap().permissions()) & 0o777
    };
    assert_eq!((mode("control"), mode("ok")), (0o600, 0o600));
    control(&sup.dir, b"p");
    // `status` is written before `stat` (as runsv does): wait for both.
    wait_for(5.0, "paused in status and stat", || {
        immortal::status::read(&sup.dir).unwrap().paused
            && fs::read_to_string(sup.dir.join("stat")).unwrap_or_default() == "run, paused\n"
    });
    control(&sup.dir, b"cx");
    assert_eq!(sup.wait_exit(10.0), 0);
    assert!(!alive(pid), "x takes the service down first");
}
