//! `log: {compress: gzip|zstd}` in `immortal`: every rotated file
//! compressed by a child (`FILE.N.gz`, `FILE.N.zst`), every line once and
//! in order, `num` counting the compressed files, `immortalctl log` reading
//! them back; a supervisor killed with -9 while a file is compressed loses
//! no line (the next one finishes what it left); a compressor missing from
//! `PATH` refuses the start and fails `-check`.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// (`compress:` word, extension), for each program installed here.
fn methods() -> Vec<(&'static str, &'static str)> {
    let all = [("gzip", "gz"), ("zstd", "zst")];
    all.into_iter()
        .filter(|(p, _)| {
            let found = ["/usr/bin", "/bin", "/usr/local/bin"]
                .iter()
                .any(|d| Path::new(d).join(p).exists());
            if !found {
                println!("SKIPPED: {p} is not installed");
            }
            found
        })
        .collect()
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

/// The rotated files of `out.log`, oldest first, as they are named.
fn rotated(dir: &Path) -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = names(dir)
        .into_iter()
        .filter(|n| !n.ends_with(".tmp"))
        .filter_map(|n| {
            let number = n.strip_prefix("out.log.")?.split('.').next()?.parse().ok()?;
            Some((number, n))
        })
        .collect();
    v.sort_by_key(|f| std::cmp::Reverse(f.0));
    v
}

/// Every line of the set, oldest first, compressed files through `program
/// -dc`; read again when a file went between the listing and its reading
/// (a plain file removed once compressed).
fn all_lines(dir: &Path) -> Vec<String> {
    'again: loop {
        let mut out = Vec::new();
        for (_, name) in rotated(dir) {
            let path = dir.join(&name);
            if !path.exists() {
                continue 'again;
            }
            let data = match name.rsplit('.').next() {
                Some("gz") => Command::new("gzip").arg("-dc").arg(&path).output().unwrap().stdout,
                Some("zst") => {
                    Command::new("zstd")
                        .args(["-q", "-dc"])
                        .arg(&path)
                        .output()
                        .unwrap()
                        .stdout
                }
                _ => match fs::read(&path) {
                    Ok(d) => d,
                    Err(_) => continue 'again,
                },
            };
            out.extend(String::from_utf8(data).unwrap().lines().map(String::from));
        }
        out.extend(lines(&dir.join("out.log")));
        return out;
    }
}

/// Rotated files are all compressed, none half done.
fn settled(dir: &Path, ext: &str) -> bool {
    rotated(dir).iter().all(|(_, n)| n.ends_with(&format!(".{ext}"))) && !names(dir).iter().any(|n| n.ends_with(".tmp"))
}

fn numbers(from: u32, to: u32) -> Vec<String> {
    (from..=to).map(|i| i.to_string()).collect()
}

/// A supervisor on `$IMMORTAL_SDIR/web` for `web.yml`.
fn web(sb: &Sandbox, yml: &str, path: Option<&Path>) -> Supervisor {
    let file = sb.write("web.yml", yml);
    let mut cmd = sb.command(&["-n", "-ctl", "web", "-c", file.to_str().unwrap()]);
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    Supervisor::spawn(cmd, sb.path("sdir/web"), sb.path("web.err"))
}

#[test]
fn every_line_once_in_compressed_files_and_immortalctl_reads_them() {
    for (method, ext) in methods() {
        let sb = Sandbox::new();
        let logs = sb.path("logs");
        fs::create_dir_all(&logs).unwrap();
        let yml = format!(
            "cmd: [sh, -c, 'seq 1 400000; exec sleep 1000']\nlog:\n  file: {}\n  size: 1\n  num: 5\n  compress: {method}\n",
            logs.join("out.log").display()
        );
        let mut sup = web(&sb, &yml, None);
        sup.wait_running(None);
        sup.wait_for(30.0, "every line logged and the rotated files compressed", || {
            all_lines(&logs).len() == 400_000 && settled(&logs, ext)
        });
        assert_eq!(all_lines(&logs), numbers(1, 400_000), "{method}");
        // ~2.7 MB at 1 MiB a file: two rotations — or one, when the lines
        // went on into `current` while the first file was compressed.
        let files = rotated(&logs);
        assert!((1..=2).contains(&files.len()), "{method}: {files:?}");
        assert_eq!(files.last().unwrap().1, format!("out.log.0.{ext}"));
        // Compressed: each file under 60% of what it holds (a file
        // holds more than 1 MiB when the lines went on while the one before
        // was compressed, so its size alone says nothing).
        for (_, name) in &files {
            let path = logs.join(name);
            let size = fs::metadata(&path).unwrap().len();
            let program: &[&str] = if ext == "gz" {
                &["gzip", "-dc"]
            } else {
                &["zstd", "-q", "-dc"]
            };
            let plain = Command::new(program[0])
                .args(&program[1..])
                .arg(&path)
                .output()
                .unwrap()
                .stdout
                .len();
            assert!(
                plain > 0 && size * 5 < plain as u64 * 3,
                "{name}: {size} bytes for {plain}"
            );
        }
        // immortalctl log reads back across them.
        let out = Command::new(CTL)
            .args(["log", "web", "-n", "300000"])
            .env("HOME", sb.path("home"))
            .env("IMMORTAL_SDIR", sb.path("sdir"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        let got: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert!(got == numbers(100_001, 400_000), "{method}: immortalctl log -n 300000");
        assert!(!sup.log().contains("unable"), "{}", sup.log());
    }
}

#[test]
fn num_counts_the_compressed_files() {
    let Some((method, ext)) = methods().into_iter().next() else {
        return;
    };
    let sb = Sandbox::new();
    let logs = sb.path("logs");
    fs::create_dir_all(&logs).unwrap();
    // ~4.7 MB in bursts (each compression has the time to end): four
    // rotations at 1 MiB, two compressed files kept.
    let yml = format!(
        "cmd: [sh, -c, 'for k in 0 1 2 3 4 5 6; do seq $((k*100000+1)) $((k*100000+100000)); sleep 0.3; done; exec sleep 1000']\nlog:\n  file: {}\n  size: 1\n  num: 2\n  compress: {method}\n",
        logs.join("out.log").display()
    );
    let mut sup = web(&sb, &yml, None);
    sup.wait_running(None);
    sup.wait_for(30.0, "the last line logged and the rotated files compressed", || {
        lines(&logs.join("out.log")).last().map(String::as_str) == Some("700000") && settled(&logs, ext)
    });
    assert_eq!(
        names(&logs),
        [
            "out.log".to_string(),
            format!("out.log.0.{ext}"),
            format!("out.log.1.{ext}")
        ]
    );
    let all = all_lines(&logs);
    let first: u32 = all[0].parse().unwrap();
    assert!(first > 100_000, "the oldest compressed files went: {first}");
    assert_eq!(all, numbers(first, 700_000));
}

/// A `gzip` that takes its time, first in `PATH`.
fn slow_gzip(sb: &Sandbox) -> PathBuf {
    let bin = sb.path("slowbin");
    sb.script("slowbin/gzip", "#!/bin/sh\nsleep 3\nexec /usr/bin/gzip \"$@\"\n");
    bin
}

#[test]
fn a_supervisor_killed_while_compressing_loses_no_line() {
    if !methods().iter().any(|(m, _)| *m == "gzip") {
        return;
    }
    let sb = Sandbox::new();
    let logs = sb.path("logs");
    fs::create_dir_all(&logs).unwrap();
    let path = format!("{}:/usr/bin:/bin", slow_gzip(&sb).display());
    let yml = format!(
        "cmd: [sh, -c, 'seq 1 250000; exec sleep 1000']\nlog:\n  file: {}\n  size: 1\n  num: 5\n  compress: gzip\n",
        logs.join("out.log").display()
    );
    let mut sup = web(&sb, &yml, Some(Path::new(&path)));
    let service = sup.wait_running(None);
    // Every line written, the first rotated file being compressed (the
    // slow gzip sleeps): the supervisor is killed. (Lines it had read and
    // not written yet would be lost with it, compressing or not.)
    sup.wait_for(10.0, "every line written, a compression under way", || {
        all_lines(&logs).len() == 250_000 && names(&logs).iter().any(|n| n.ends_with(".tmp"))
    });
    assert!(logs.join("out.log.0").exists());
    kill(Pid::from_raw(sup.pid()), Signal::SIGKILL).unwrap();
    sup.wait_exit(5.0);
    // The next supervisor finishes it: every line in a complete file.
    let mut sup = web(&sb, &yml, Some(Path::new(&path)));
    sup.pids.push(service as i32);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(all_lines(&logs).len() == 250_000 && settled(&logs, "gz")) {
        assert!(
            std::time::Instant::now() < deadline,
            "not every line in compressed files after 30s: {:?}, {} lines\n{}",
            names(&logs),
            all_lines(&logs).len(),
            sup.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(all_lines(&logs), numbers(1, 250_000));
    assert_eq!(rotated(&logs).len(), 1, "{:?}", names(&logs));
}

#[test]
fn a_compressor_missing_from_path_refuses_the_start_and_fails_the_check() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.path("empty")).unwrap();
    let yml = sb.write(
        "web.yml",
        "cmd: [/bin/sleep, '100']\nlog:\n  file: out.log\n  compress: zstd\n",
    );
    let empty = sb.path("empty");
    let out = sb
        .command(&["-n", "-c", yml.to_str().unwrap()])
        .env("PATH", &empty)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("web.yml: log: compress: zstd: not found in PATH") && err.contains(empty.to_str().unwrap()),
        "{err}"
    );
    let out = sb.command(&["-check", "web.yml"]).env("PATH", &empty).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("web.yml:4: log: compress: zstd: not found in PATH"),
        "{err}"
    );
}
