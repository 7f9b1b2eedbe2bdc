//! `immortalctl log NAME [-f] [-n N]` against real supervisors: the last
//! lines, across rotated files; `-f` through the supervisor's own
//! rotations, every line once and in order; how `-f` ends; the errors.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

fn ctl_command(sb: &Sandbox, args: &[&str]) -> Command {
    let mut cmd = Command::new(CTL);
    cmd.args(args)
        .env("HOME", sb.path("home"))
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .stdin(Stdio::null());
    cmd
}

fn ctl_run(sb: &Sandbox, args: &[&str]) -> Output {
    ctl_command(sb, args).output().unwrap()
}

/// A supervisor on `$IMMORTAL_SDIR/NAME` running `run.yml` text `yml`.
fn service(sb: &Sandbox, name: &str, yml: &str) -> Supervisor {
    let file = sb.write(&format!("{name}.yml"), yml);
    let args = ["-n", "-ctl", name, "-c", file.to_str().unwrap()];
    let mut sup = Supervisor::spawn(
        sb.command(&args),
        sb.path(&format!("sdir/{name}")),
        sb.path(&format!("{name}.err")),
    );
    sup.wait_running(None);
    sup
}

/// `immortalctl log …` left running, its stdout read line by line by a
/// thread (which lets go of the pipe after `keep` lines); killed by pid on
/// drop.
struct Follower {
    child: Child,
    lines: Receiver<String>,
}

impl Follower {
    fn spawn(sb: &Sandbox, args: &[&str], keep: usize) -> Follower {
        let mut child = ctl_command(sb, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().take(keep) {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// The next line, within `secs`.
    fn next(&mut self, secs: u64) -> String {
        match self.lines.recv_timeout(Duration::from_secs(secs)) {
            Ok(line) => line,
            Err(e) => panic!(
                "no line from immortalctl log within {secs}s ({e}); {}",
                self.stderr_if_done()
            ),
        }
    }

    /// Lines into `seen` until it holds `n`, within `secs`.
    fn read_until(&mut self, seen: &mut Vec<String>, n: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while seen.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "{} of {n} lines followed within {secs}s, the last: {:?}; {}",
                    seen.len(),
                    seen.last(),
                    self.stderr_if_done()
                ),
            }
        }
    }

    fn stderr_if_done(&mut self) -> String {
        match self.child.try_wait() {
            Ok(Some(st)) => {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                format!("it exited ({st}): {err}")
            }
            _ => "it still runs".into(),
        }
    }

    /// Its exit code, within `secs`.
    fn exit_code(&mut self, secs: f64) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            assert!(Instant::now() < deadline, "immortalctl log did not exit within {secs}s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Numbers `from..=to`, one a line.
fn numbers(from: u32, to: u32) -> String {
    (from..=to).map(|i| format!("{i}\n")).collect()
}

/// FILE.N … FILE.0 then FILE: every line, oldest first.
fn all_lines(file: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for i in (0..100).rev() {
        out.extend(lines(Path::new(&format!("{}.{i}", file.display()))));
    }
    out.extend(lines(file));
    out
}

#[test]
fn last_lines_of_the_log_file() {
    let sb = Sandbox::new();
    let gen = sb.script("gen.sh", "#!/bin/sh\nseq 1 20\nexec sleep 1000\n");
    // Relative: the supervisor's directory is the sandbox; the status says
    // where it is.
    let sup = service(&sb, "web", &format!("cmd: {}\nlog:\n  file: out.log\n", gen.display()));
    let log = sb.path("out.log");
    sup.wait_for(10.0, "20 lines logged", || lines(&log).len() == 20);
    assert_eq!(sup.status()["log"], log.to_str().unwrap());

    let out = ctl_run(&sb, &["log", "web", "-n", "3"]);
    assert_eq!(
        (out.status.code(), text(&out), stderr_of(&out)),
        (Some(0), numbers(18, 20), String::new())
    );
    let out = ctl_run(&sb, &["log", "web"]);
    assert_eq!(
        (out.status.code(), text(&out)),
        (Some(0), numbers(11, 20)),
        "10 by default"
    );
    let out = ctl_run(&sb, &["log", "-n", "1000", "web"]);
    assert_eq!(text(&out), numbers(1, 20), "fewer lines than asked: all of them");
    let out = ctl_run(&sb, &["log", "-n0", "web"]);
    assert_eq!((out.status.code(), text(&out)), (Some(0), String::new()));
    // By path, as the other verbs.
    let out = ctl_run(&sb, &["log", sup.dir.to_str().unwrap(), "-n", "2"]);
    assert_eq!(text(&out), numbers(19, 20));
}

#[test]
fn last_lines_span_the_rotated_files() {
    let sb = Sandbox::new();
    // Rotated files as the supervisor names them (FILE.0 newest), then the
    // service appends to FILE.
    sb.write("out.log.1", &numbers(1, 4));
    sb.write("out.log.0", &numbers(5, 8));
    let gen = sb.script("gen.sh", "#!/bin/sh\nseq 9 10\nexec sleep 1000\n");
    let log = sb.path("out.log");
    let sup = service(
        &sb,
        "web",
        &format!("cmd: {}\nlog:\n  file: {}\n", gen.display(), log.display()),
    );
    sup.wait_for(10.0, "2 lines logged", || lines(&log).len() == 2);
    for (n, from) in [(1, 10), (2, 9), (3, 8), (6, 5), (7, 4), (10, 1), (50, 1)] {
        let out = ctl_run(&sb, &["log", "web", "-n", &n.to_string()]);
        assert_eq!((out.status.code(), text(&out)), (Some(0), numbers(from, 10)), "-n {n}");
    }
}

#[test]
fn follow_keeps_every_line_across_rotations() {
    let sb = Sandbox::new();
    // Lines of 105 bytes, rotated at every MiB (10000 lines): 20000 lines
    // while the follower reads, 20000 more while it is stopped. The
    // service waits for the test before each half.
    let (half, total) = (20_000, 40_000);
    let pad = "x".repeat(100);
    let gen = sb.script(
        "gen.sh",
        &format!(
            "#!/bin/sh\necho start\n\
             write() {{ while [ ! -e \"$1\" ]; do sleep 0.01; done; i=$2\n\
               while [ $i -le $3 ]; do echo \"$i {pad}\"; i=$((i+1)); done; }}\n\
             write {go1} 1 {half}\nwrite {go2} {next} {total}\nexec sleep 1000\n",
            go1 = sb.path("go1").display(),
            go2 = sb.path("go2").display(),
            next = half + 1,
        ),
    );
    let log = sb.path("out.log");
    let rotated = || {
        (0..10)
            .filter(|i| Path::new(&format!("{}.{i}", log.display())).exists())
            .count()
    };
    let sup = service(
        &sb,
        "web",
        &format!(
            "cmd: {}\nlog:\n  file: {}\n  size: 1\n  num: 10\n",
            gen.display(),
            log.display()
        ),
    );
    sup.wait_for(10.0, "the first line logged", || lines(&log).len() == 1);
    let mut follower = Follower::spawn(&sb, &["log", "web", "-f"], usize::MAX);
    assert_eq!(follower.next(10), "start");
    let mut seen = Vec::new();
    // New lines appear as they are written, across the rotations.
    fs::write(sb.path("go1"), "").unwrap();
    follower.read_until(&mut seen, half, 30);
    assert!(rotated() >= 2, "rotated {} times while followed", rotated());
    // Rotated twice more while the follower cannot read: it finds its way
    // through the renamed files when it can again.
    let before = rotated();
    follower.signal(Signal::SIGSTOP);
    fs::write(sb.path("go2"), "").unwrap();
    sup.wait_for(30.0, "every line logged", || all_lines(&log).len() == total + 1);
    assert!(rotated() >= before + 2, "rotated {before}, then {}", rotated());
    follower.signal(Signal::SIGCONT);
    follower.read_until(&mut seen, total, 30);
    for (i, line) in seen.iter().enumerate() {
        assert_eq!(line, &format!("{} {pad}", i + 1), "line {}", i + 1);
    }
    // Nothing more than what was written.
    assert!(follower.lines.recv_timeout(Duration::from_millis(200)).is_err());
    follower.signal(Signal::SIGTERM);
    assert_eq!(follower.exit_code(10.0), Some(0), "SIGTERM ends -f with 0");

    // The last lines across the real rotation boundary.
    let n = lines(&log).len() + 5;
    let on_disk = all_lines(&log);
    let out = ctl_run(&sb, &["log", "web", "-n", &n.to_string()]);
    let want: String = on_disk[on_disk.len() - n..].iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out) == want, "-n {n}: the last {n} lines, from FILE.0 then FILE");
}

#[test]
fn follow_ends_at_sigint_and_when_stdout_closes() {
    let sb = Sandbox::new();
    let gen = sb.script("gen.sh", "#!/bin/sh\nseq 1 3\nexec sleep 1000\n");
    let log = sb.path("out.log");
    let sup = service(
        &sb,
        "web",
        &format!("cmd: {}\nlog:\n  file: {}\n", gen.display(), log.display()),
    );
    sup.wait_for(10.0, "3 lines logged", || lines(&log).len() == 3);

    let mut f = Follower::spawn(&sb, &["log", "web", "-f", "-n", "1"], usize::MAX);
    assert_eq!(f.next(10), "3");
    f.signal(Signal::SIGINT);
    assert_eq!(f.exit_code(10.0), Some(0), "SIGINT ends -f with 0");

    // The reader takes one line and closes the pipe; nothing more is
    // written to the log: the follower sees its stdout closed while idle.
    let mut f = Follower::spawn(&sb, &["log", "web", "-f", "-n", "1"], 1);
    assert_eq!(f.next(10), "3");
    assert_eq!(f.exit_code(10.0), Some(0), "a closed stdout ends -f with 0");
}

#[test]
fn no_log_file_and_unknown_service() {
    let sb = Sandbox::new();
    let _sup = service(&sb, "web", "cmd: sleep 1000\n");
    for args in [&["log", "web"][..], &["log", "web", "-f"]] {
        let out = ctl_run(&sb, args);
        assert_eq!(
            (out.status.code(), text(&out), stderr_of(&out)),
            (
                Some(1),
                String::new(),
                "immortalctl: web has no log: file\n".to_string()
            ),
            "{args:?}"
        );
    }
    let out = ctl_run(&sb, &["log", "nope", "-f"]);
    assert_eq!(
        (out.status.code(), stderr_of(&out)),
        (Some(1), "immortalctl: no such service: nope\n".to_string())
    );
    let out = ctl_run(&sb, &["log", "web", "-n", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).starts_with("immortalctl: -n needs a number of lines\n"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_runit_service_directory_with_svlogd_main() {
    let sb = Sandbox::new();
    let d = sb.path("svc");
    sb.script("svc/run", "#!/bin/sh\nseq 1 5\nexec sleep 1000\n");
    sb.script(
        "svc/log/run",
        &format!("#!/bin/sh\nexec {} ./main\n", env!("CARGO_BIN_EXE_immortallog")),
    );
    // An earlier rotated file, as svlogd names them.
    sb.write("svc/log/main/@400000006554a1b22f3e1c04.s", "a\nb\n");
    let mut sup = supervise_dir(&sb, &d);
    sup.wait_running(None);
    let current = d.join("log/main/current");
    sup.wait_for(10.0, "5 lines logged", || lines(&current).len() == 5);
    let out = ctl_run(&sb, &["log", d.to_str().unwrap(), "-n", "6"]);
    assert_eq!(
        (out.status.code(), text(&out), stderr_of(&out)),
        (Some(0), format!("b\n{}", numbers(1, 5)), String::new())
    );
}
