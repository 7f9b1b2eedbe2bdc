//! `log:`, `stderr:`, `timestamp:` and `logger:` in `immortal`: every line
//! once across rotations, stderr apart, a killed logger restarted with the
//! lines it missed, and a stuck logger never holding anything back.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::path::Path;

/// FILE.N … FILE.0 then FILE: every line, oldest first.
fn numbered_lines(file: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for i in (0..100).rev() {
        let rotated = format!("{}.{i}", file.display());
        if let Ok(text) = fs::read_to_string(&rotated) {
            out.extend(text.lines().map(String::from));
        }
    }
    out.extend(fs::read_to_string(file).unwrap_or_default().lines().map(String::from));
    out
}

#[test]
fn lines_from_a_fast_writer_arrive_once_across_rotations_with_timestamps() {
    let sb = Sandbox::new();
    let gen = sb.script(
        "gen.sh",
        "#!/bin/sh\nseq 1 300000\necho err-line >&2\nexec sleep 1000\n",
    );
    let log = sb.path("out.log");
    let yml = sb.write(
        "svc.yml",
        &format!(
            "cmd: {}\nlog:\n  file: {}\n  size: 1\n  num: 10\n  timestamp: true\n",
            gen.display(),
            log.display()
        ),
    );
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    sup.wait_running(None);
    wait_for(20.0, "all lines logged", || numbered_lines(&log).len() >= 300_001);
    let lines = numbered_lines(&log);
    assert_eq!(lines.len(), 300_001);
    for (i, l) in lines[..300_000].iter().enumerate() {
        let (stamp, text) = l.split_once(' ').unwrap();
        assert!(stamp.ends_with('Z') && stamp.contains('T'), "{l}");
        assert_eq!(text, (i + 1).to_string(), "line {i}");
    }
    assert!(
        lines[300_000].ends_with(" err-line"),
        "stderr joins stdout without `stderr:`"
    );
    assert!(Path::new(&format!("{}.0", log.display())).exists(), "rotated at 1 MiB");
    for i in 0..3 {
        let size = fs::metadata(format!("{}.{i}", log.display()))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size <= 1024 * 1024, "{size}");
    }
}

#[test]
fn stderr_apart_and_l_flag() {
    let sb = Sandbox::new();
    let gen = sb.script(
        "gen.sh",
        "#!/bin/sh\necho to-out\necho to-err >&2\nprintf 'no newline'\nexec sleep 1000\n",
    );
    let yml = sb.write(
        "svc.yml",
        &format!(
            "cmd: {}\nlog:\n  file: {}\nstderr:\n  file: {}\n",
            gen.display(),
            sb.path("out.log").display(),
            sb.path("err.log").display()
        ),
    );
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    sup.wait_running(None);
    // Where the pipe outlives the supervisor (Linux), the unterminated
    // tail is in the file at once, as the service wrote it (a kill -9 of
    // the supervisor would not lose it); elsewhere it waits for its end.
    let out = if caps().reopen_fds {
        "to-out\nno newline"
    } else {
        "to-out\n"
    };
    wait_for(5.0, "both logs", || {
        sb.read("out.log") == out && sb.read("err.log") == "to-err\n"
    });
    // It is ended with a newline when the supervisor exits.
    assert_eq!(sup.signal("halt"), "");
    assert_eq!(sup.wait_exit(10.0), 0);
    assert_eq!(sb.read("out.log"), "to-out\nno newline\n");
}

#[test]
fn a_killed_logger_is_restarted_and_gets_what_it_missed() {
    let sb = Sandbox::new();
    // Each USR1 makes the service print the next batch of 20 lines.
    let gen = sb.script(
        "gen.sh",
        "#!/bin/sh\nn=0\ntrap 'i=0; while [ $i -lt 20 ]; do n=$((n+1)); i=$((i+1)); echo line-$n; done' USR1\nwhile :; do sleep 1 & wait $!; done\n",
    );
    let yml = sb.write(
        "svc.yml",
        &format!(
            "cmd: {}\nlog:\n  file: {}\nlogger: cat >> {}\n",
            gen.display(),
            sb.path("file.log").display(),
            sb.path("logger.out").display()
        ),
    );
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    let pid = sup.wait_running(None);
    let logger_pid = || {
        std::process::Command::new("pgrep")
            .args(["-f", &format!("^sh -c cat >> {}", sb.path("logger.out").display())])
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .and_then(|l| l.parse::<i32>().ok())
            })
    };
    wait_for(5.0, "logger up", || logger_pid().is_some());
    kill(Pid::from_raw(pid as i32), Signal::SIGUSR1).unwrap();
    wait_for(5.0, "batch 1 in both", || {
        lines(&sb.path("logger.out")).len() == 20 && lines(&sb.path("file.log")).len() == 20
    });
    // Kill the logger, then produce a batch while it is down.
    let lp = logger_pid().unwrap();
    kill(Pid::from_raw(lp), Signal::SIGKILL).unwrap();
    kill(Pid::from_raw(pid as i32), Signal::SIGUSR1).unwrap();
    wait_for(5.0, "the file log is not held back", || {
        lines(&sb.path("file.log")).len() == 40
    });
    wait_for(5.0, "logger restarted, backlog replayed", || {
        lines(&sb.path("logger.out")).len() == 40
    });
    assert_ne!(logger_pid(), Some(lp));
    let want: Vec<String> = (1..=40).map(|n| format!("line-{n}")).collect();
    assert_eq!(lines(&sb.path("logger.out")), want);
    assert_eq!(lines(&sb.path("file.log")), want);
    assert!(sup.log().contains("logger (pid"), "{}", sup.log());
}

#[test]
fn a_stuck_logger_never_blocks_the_file_log_or_the_supervisor() {
    let sb = Sandbox::new();
    // A logger that never reads; the service writes 5 MB.
    let gen = sb.script("gen.sh", "#!/bin/sh\nseq 1 700000\nexec sleep 1000\n");
    let yml = sb.write(
        "svc.yml",
        &format!(
            "cmd: {}\nlog:\n  file: {}\n  size: 100\nlogger: sleep 1000\n",
            gen.display(),
            sb.path("file.log").display()
        ),
    );
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    sup.wait_running(None);
    wait_for(20.0, "every line in the file", || {
        lines(&sb.path("file.log")).len() == 700_000
    });
    assert_eq!(sup.status()["state"], "run", "status answers");
    // The service and the logger (which outlives its supervisor: it
    // would be reading what is left), each in a group of its own, go by
    // their pids with the supervisor.
    let kids = children_of(sup.pid() as i64);
    assert!(kids.len() >= 2, "the service and the logger: {kids:?}");
    sup.pids.extend(kids.iter().map(|&p| p as i32));
}

#[test]
fn a_final_line_without_newline_is_written_when_the_service_exits() {
    let sb = Sandbox::new();
    let log = sb.path("out.log");
    let got = sb.path("logger.out");
    let yml = sb.write(
        "p.yml",
        &format!(
            "cmd: [printf, 'full\\npartial']\nretries: 0\nlog:\n  file: {}\nlogger: cat > {}\n",
            log.display(),
            got.display()
        ),
    );
    let sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    // The supervisor stays up (a -c supervisor with retries used up):
    // the line must not wait for it to exit.
    sup.wait_for(10.0, "the partial line in the log file", || {
        fs::read_to_string(&log).unwrap_or_default() == "full\npartial\n"
    });
    // The logger gets the bytes as written (no byte added to a stream).
    sup.wait_for(10.0, "the partial line at the logger", || {
        fs::read_to_string(&got).unwrap_or_default() == "full\npartial"
    });
    assert_eq!(sup.status()["state"], "failed", "retries used up");
}
