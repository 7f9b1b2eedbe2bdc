//! `immortallog` runs svlogd's and multilog's `!processor` as they do, so
//! a `log/run` with `!gzip` runs unchanged: the same input, with the same
//! rotations (SIGALRM after each batch), through the real `svlogd` and
//! `multilog` and through ours — the same file set (names with their
//! TAI64N labels masked), the same decompressed contents, the same
//! `state` (the processor's fd 5 of each run, given back on fd 4).

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LOG: &str = env!("CARGO_BIN_EXE_immortallog");

/// The processor: the file gzipped, one line more in `state` each time.
const GZIP_COUNTING: &str = "gzip && { cat <&4; echo rotated; } >&5";

fn peer(name: &str) -> Option<String> {
    let found = ["/usr/bin", "/usr/local/bin", "/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| Path::new(p).exists());
    if found.is_none() {
        println!("SKIPPED: comparison with the real {name}: not installed (scripts/install-peers)");
    }
    found
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The names, TAI64N labels masked (`@T.s`).
fn shapes(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .map(|n| {
            if n.starts_with("@4000") && n.len() == 27 {
                format!("@T{}", &n[25..])
            } else {
                n
            }
        })
        .collect()
}

/// What a run left: the file set, each `@….s` decompressed (oldest
/// first), `current`, `state`.
#[derive(Debug, PartialEq)]
struct Outcome {
    shapes: Vec<String>,
    /// The permission bits of each `@….s` (0744: complete).
    modes: Vec<u32>,
    processed: Vec<String>,
    current: String,
    state: String,
}

fn outcome(dir: &Path) -> Outcome {
    let processed = names(dir)
        .into_iter()
        .filter(|n| n.starts_with('@') && n.ends_with(".s"))
        .map(|n| {
            let out = Command::new("gzip").arg("-dc").arg(dir.join(&n)).output().unwrap();
            assert!(out.status.success(), "{n} is no gzip file: {}", stderr_of(&out));
            String::from_utf8(out.stdout).unwrap()
        })
        .collect();
    let modes = names(dir)
        .into_iter()
        .filter(|n| n.starts_with('@') && n.ends_with(".s"))
        .map(|n| {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(dir.join(n)).unwrap().permissions().mode() & 0o777
        })
        .collect();
    Outcome {
        shapes: shapes(dir),
        modes,
        processed,
        current: fs::read_to_string(dir.join("current")).unwrap_or_default(),
        state: fs::read_to_string(dir.join("state")).unwrap_or_default(),
    }
}

/// A logger fed batch by batch, killed by pid on drop.
struct Fed(Child);

impl Drop for Fed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Feed `batches` to `prog args` (in `cwd`, logging to `cwd/main`): after
/// each batch but the last, once `current` holds it, SIGALRM (rotate now),
/// then wait until its processor is done; end of input after the last;
/// wait for the exit.
fn feed(prog: &str, args: &[&str], cwd: &Path, batches: &[String]) -> Outcome {
    let main = cwd.join("main");
    let mut child = Fed(Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{prog}: {e}")));
    let pid = Pid::from_raw(child.0.id() as i32);
    let mut stdin = child.0.stdin.take().unwrap();
    let busy = |n: &String| n.ends_with(".u") || n.ends_with(".t") || n == "previous" || n == "processed";
    for (k, batch) in batches.iter().enumerate() {
        stdin.write_all(batch.as_bytes()).unwrap();
        stdin.flush().unwrap();
        if k + 1 == batches.len() {
            break;
        }
        wait_for(10.0, &format!("{prog}: batch {k} in current"), || {
            fs::read_to_string(main.join("current")).is_ok_and(|c| c == *batch)
        });
        kill(pid, Signal::SIGALRM).unwrap();
        wait_for(10.0, &format!("{prog}: batch {k} processed"), || {
            let n = names(&main);
            n.iter().filter(|n| n.ends_with(".s")).count() == k + 1 && !n.iter().any(busy)
        });
    }
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "{prog} did not exit at the end of its input");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = child.0.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    assert!(status.success(), "{prog} {args:?}: {status}: {err}");
    outcome(&main)
}

fn batches() -> Vec<String> {
    (0..4)
        .map(|k| {
            (0..50)
                .map(|i| format!("batch {k} line {i} {}\n", "x".repeat(i)))
                .collect()
        })
        .collect()
}

#[test]
fn multilog_gzip_processor_as_the_real_multilog() {
    let Some(multilog) = peer("multilog") else { return };
    let sb = Sandbox::new();
    let processor = format!("!{GZIP_COUNTING}");
    let script = ["s16000000", "n50", processor.as_str(), "./main"];
    let (real, ours) = (sb.path("real"), sb.path("ours"));
    fs::create_dir_all(&real).unwrap();
    fs::create_dir_all(&ours).unwrap();
    let want = feed(&multilog, &script, &real, &batches());
    let got = feed(LOG, &script, &ours, &batches());
    assert_eq!(
        want.shapes,
        ["@T.s", "@T.s", "@T.s", "current", "lock", "state"],
        "the real multilog"
    );
    assert_eq!(want.modes, [0o744; 3]);
    assert_eq!(got, want);
    // Each processed file is a whole batch.
    assert_eq!(got.processed, batches()[..3]);
    assert_eq!(got.state, "rotated\nrotated\nrotated\n");
}

#[test]
fn svlogd_gzip_processor_as_the_real_svlogd() {
    let Some(svlogd) = peer("svlogd") else { return };
    let sb = Sandbox::new();
    let (real, ours) = (sb.path("real"), sb.path("ours"));
    for top in [&real, &ours] {
        fs::create_dir_all(top.join("main")).unwrap();
        fs::write(top.join("main/config"), format!("s16000000\nn50\n!{GZIP_COUNTING}\n")).unwrap();
    }
    let want = feed(&svlogd, &["main"], &real, &batches());
    let got = feed(LOG, &["main"], &ours, &batches());
    assert_eq!(
        want.shapes,
        ["@T.s", "@T.s", "@T.s", "config", "current", "lock", "state"],
        "the real svlogd"
    );
    assert_eq!(got, want);
    assert_eq!(got.processed, batches()[..3]);
    assert_eq!(got.state, "rotated\nrotated\nrotated\n");
}

/// A `log/run` as runit and daemontools users write it, unchanged but for
/// the program's name.
#[test]
fn a_log_run_script_with_gzip_runs_unchanged() {
    let sb = Sandbox::new();
    let bin = sb.path("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(LOG, bin.join("multilog")).unwrap();
    let run = sb.script("log/run", "#!/bin/sh\nexec multilog t s4096 n20 '!gzip' ./main\n");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let mut child = Fed(Command::new(&run)
        .current_dir(sb.path("log"))
        .env("PATH", &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap());
    let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    child.0.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the log/run did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let main = sb.path("log/main");
    let o = outcome(&main);
    // Size rotations (4096 bytes), every one gzipped; all lines in order.
    assert!(o.processed.len() >= 3, "{:?}", o.shapes);
    let all: String = o.processed.concat() + &o.current;
    let unstamped: String = all.lines().map(|l| format!("{}\n", &l[26..])).collect();
    assert_eq!(unstamped, text);
}
