//! `immortallog`'s guarantees: every line exactly once and in order across
//! rotations at full speed, long lines whole, a final line without newline,
//! binary bytes, a write failure that keeps the data, signals and the lock.

mod common;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LOG: &str = env!("CARGO_BIN_EXE_immortallog");

fn spawn(args: &[&str]) -> Child {
    Command::new(LOG)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Every line in DIR's `current` and `@*.s` files (oldest first).
fn dir_lines(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('@'))
        .collect();
    files.sort();
    files.push("current".into());
    let mut out = Vec::new();
    for f in files {
        let data = fs::read(dir.join(f)).unwrap_or_default();
        out.extend(data.split_inclusive(|&b| b == b'\n').map(|l| l.to_vec()));
    }
    out
}

#[test]
fn a_million_lines_at_full_speed_with_tiny_rotation_arrive_once_in_order() {
    let sb = Sandbox::new();
    let dir = sb.path("log");
    let mut child = spawn(&["-s", "4096", "-n", "100000", dir.to_str().unwrap()]);
    {
        let mut stdin = child.stdin.take().unwrap();
        let mut batch = Vec::with_capacity(1 << 20);
        for i in 0..1_000_000u32 {
            writeln!(batch, "{i}").unwrap();
            if batch.len() > (1 << 20) - 16 {
                stdin.write_all(&batch).unwrap();
                batch.clear();
            }
        }
        stdin.write_all(&batch).unwrap();
    }
    assert!(child.wait().unwrap().success());
    let lines = dir_lines(&dir);
    assert_eq!(lines.len(), 1_000_000);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l, format!("{i}\n").as_bytes(), "line {i}");
    }
    let rotated = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('@'))
        .count();
    assert!(rotated > 1000, "rotated {rotated} times");
}

#[test]
fn long_line_final_line_and_binary_bytes() {
    let sb = Sandbox::new();
    let file = sb.path("app.log");
    let mut child = spawn(&["-f", file.to_str().unwrap(), "-s", "100"]);
    {
        let mut stdin = child.stdin.take().unwrap();
        let mib = vec![b'm'; 1024 * 1024];
        stdin.write_all(&mib).unwrap();
        stdin
            .write_all(b"\n\x00\x01\xfe\xffbinary\nno newline at the end")
            .unwrap();
    }
    assert!(child.wait().unwrap().success());
    let data = fs::read(&file).unwrap();
    let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].len(), 1024 * 1024 + 1, "the 1 MiB line is whole");
    assert_eq!(lines[1], b"\x00\x01\xfe\xffbinary\n");
    assert_eq!(lines[2], b"no newline at the end\n");
}

#[test]
fn a_write_failure_keeps_the_data_and_resumes() {
    let sb = Sandbox::new();
    let file = sb.path("app.log");
    // A 64 KiB (soft) file-size limit: writes fail with EFBIG past it.
    let mut child = Command::new("prlimit")
        .args([
            "--fsize=65536:unlimited",
            LOG,
            "-f",
            file.to_str().unwrap(),
            "-s",
            "100",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..20_000u32 {
        writeln!(stdin, "line {i:06}").unwrap();
    }
    stdin.flush().unwrap();
    wait_for(10.0, "the limit is hit", || {
        fs::metadata(&file).is_ok_and(|m| m.len() >= 60_000)
    });
    std::thread::sleep(Duration::from_millis(300)); // a few failed retries (not synchronisation)
    assert!(child.try_wait().unwrap().is_none(), "still running, retrying");
    // The failure clears: everything arrives.
    let ok = Command::new("prlimit")
        .args(["--pid", &child.id().to_string(), "--fsize=unlimited:unlimited"])
        .status()
        .unwrap();
    assert!(ok.success());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("unable to write").count(), 1, "logged once: {err}");
    let text = fs::read_to_string(&file).unwrap();
    let want: String = (0..20_000).map(|i| format!("line {i:06}\n")).collect();
    assert_eq!(text, want);
}

#[test]
fn stamps_signals_and_lock() {
    let sb = Sandbox::new();
    let dir = sb.path("log");
    let mut child = spawn(&["-tt", dir.to_str().unwrap()]);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "first").unwrap();
    wait_for(5.0, "first line", || {
        fs::read_to_string(dir.join("current"))
            .unwrap_or_default()
            .ends_with(" first\n")
    });
    let line = fs::read_to_string(dir.join("current")).unwrap();
    assert_eq!(line.len(), "2026-11-26_22:07:03.19472 first\n".len(), "{line}");
    assert_eq!(&line[10..11], "_");
    // A second immortallog on the same DIR is refused.
    let second = Command::new(LOG).arg(&dir).stdin(Stdio::null()).output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("already"),
        "{:?}",
        second
    );
    // SIGALRM: rotate now.
    kill(Pid::from_raw(child.id() as i32), Signal::SIGALRM).unwrap();
    wait_for(5.0, "rotated", || {
        fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with('@'))
    });
    // SIGHUP: reopen (after an external move of current).
    fs::rename(dir.join("current"), dir.join("moved")).unwrap();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP).unwrap();
    wait_for(5.0, "reopened", || dir.join("current").exists());
    writeln!(stdin, "second").unwrap();
    stdin.flush().unwrap();
    wait_for(5.0, "second line", || {
        fs::read_to_string(dir.join("current"))
            .unwrap_or_default()
            .ends_with(" second\n")
    });
    // SIGTERM: flush (the unterminated tail too) and exit 0.
    write!(stdin, "tail").unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100)); // let it read the tail (not synchronisation)
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(fs::read_to_string(dir.join("current")).unwrap().ends_with(" tail\n"));
}

#[test]
fn multilog_syntax_and_svlogd_config() {
    let sb = Sandbox::new();
    let dir = sb.path("main");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config"), "s20\n").unwrap();
    let mut child = Command::new(LOG)
        .args(["t", "s1000000", "n3", "./main"])
        .current_dir(sb.dir.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for i in 0..10 {
            writeln!(stdin, "m{i}").unwrap();
        }
    }
    assert!(child.wait().unwrap().success());
    // config's s20 wins over s1000000 (svlogd semantics); n3 keeps 2 old files.
    let rotated = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('@'))
        .count();
    assert_eq!(rotated, 2);
    // Like multilog, a full `current` is rotated at once: the newest line
    // is in the newest file, stamped.
    let lines = dir_lines(&dir);
    let last = String::from_utf8_lossy(lines.last().unwrap()).into_owned();
    assert!(last.starts_with("@4000") && last.ends_with(" m9\n"), "{last}");
}
