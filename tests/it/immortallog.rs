//! `immortallog`'s guarantees: every line exactly once and in order across
//! rotations at full speed, long lines whole, a final line without newline,
//! binary bytes, a write failure that keeps the data, signals and the lock.

use crate::common::*;
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
    // Rotated: the old file renamed, then a new `current` (two steps).
    wait_for(5.0, "rotated", || {
        fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with('@'))
            && dir.join("current").exists()
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

// ---- The dialects it replaces: multilog scripts, svlogd's options and
// ---- config, Debian's runit log script, and the real programs' output.

use std::process::ExitStatus;
use std::time::Instant;

/// Wait for `child` with a deadline (killing it if it passes).
fn wait_deadline(child: &mut Child, secs: u64, what: &str) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {secs}s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run `prog args` in `cwd` over `input` (stdin closed after it); returns
/// the exit status and stderr (kept in a file: alerts may be large).
fn run_over(prog: &str, args: &[&str], cwd: &Path, input: &[u8]) -> (ExitStatus, String) {
    let err_path = cwd.with_extension(format!("stderr.{}", std::process::id()));
    let err = fs::File::create(&err_path).unwrap();
    let mut child = Command::new(prog)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("{prog}: {e}"));
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
    }
    let st = wait_deadline(&mut child, 60, prog);
    let text = fs::read_to_string(&err_path).unwrap_or_default();
    let _ = fs::remove_file(&err_path);
    (st, text)
}

fn log_over(args: &[&str], cwd: &Path, input: &[u8]) -> (ExitStatus, String) {
    fs::create_dir_all(cwd).unwrap();
    run_over(LOG, args, cwd, input)
}

/// Every byte of a log directory, oldest file first.
fn dir_text(dir: &Path) -> String {
    dir_lines(dir)
        .into_iter()
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .collect()
}

fn rotated(dir: &Path) -> Vec<u64> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('@'))
        .map(|e| (e.file_name(), e.metadata().unwrap().len()))
        .collect();
    names.sort();
    names.into_iter().map(|(_, len)| len).collect()
}

/// Replace leading stamps (TAI64N `@4000…` or svlogd's `-tt`) by `STAMP`.
fn unstamp(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| {
            let b = l.as_bytes();
            let tai = b.len() > 25 && b[0] == b'@' && b[1..25].iter().all(u8::is_ascii_hexdigit) && b[25] == b' ';
            let tt = b.len() > 26
                && b[..25]
                    .iter()
                    .enumerate()
                    .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16 | 19) || c.is_ascii_digit())
                && b[25] == b' ';
            if tai || tt {
                format!("STAMP{}", &l[25..])
            } else {
                l.to_string()
            }
        })
        .collect()
}

#[test]
fn the_issues_multilog_command_line_runs() {
    let sb = Sandbox::new();
    let cwd = sb.path("w");
    let (st, err) = log_over(&["t", "s100000", "n5", "-*", "./a"], &cwd, b"one\ntwo\n");
    assert!(st.success(), "{err}");
    assert_eq!(err, "");
    // '-*' deselects every line.
    assert_eq!(fs::read_to_string(cwd.join("a/current")).unwrap(), "");
}

#[test]
fn multilog_script_selects_for_each_directory_alerts_and_keeps_a_status_file() {
    let sb = Sandbox::new();
    let cwd = sb.path("w");
    // As in multilog(8): the first star matches the stamp (up to its space).
    let input = "boot ok\nfatal: disk\nx: fatal: not this\ndebug: noise\nlast words\n";
    let (st, err) = log_over(
        &[
            "t",
            "-*",
            "+* fatal: *",
            "e",
            "./fatal",
            "+*",
            "-* debug: *",
            "./main",
            "=status",
        ],
        &cwd,
        input.as_bytes(),
    );
    assert!(st.success(), "{err}");
    assert_eq!(unstamp(&dir_text(&cwd.join("fatal"))), "STAMP fatal: disk\n");
    assert_eq!(
        unstamp(&dir_text(&cwd.join("main"))),
        "STAMP boot ok\nSTAMP fatal: disk\nSTAMP x: fatal: not this\nSTAMP last words\n"
    );
    // e: the selected line (stamped) on stderr, at its place in the script.
    assert_eq!(unstamp(&err), "STAMP fatal: disk\n");
    let status = fs::read(cwd.join("status")).unwrap();
    assert_eq!(status.len(), 1001);
    let text = String::from_utf8(status).unwrap();
    assert_eq!(unstamp(text.trim_end_matches('\n')), "STAMP last words");
}

#[test]
fn multilog_sizes_counts_and_their_defaults() {
    let sb = Sandbox::new();
    let cwd = sb.path("w");
    let line = format!("{}\n", "m".repeat(99));
    let input = line.repeat(12_000); // 1.2 MB
                                     // multilog's defaults: s99999, n10 (current + 9 old); s100 is raised to
                                     // multilog's minimum 4096, n3 keeps 2 old files. Each directory takes
                                     // the values given before it.
    let (st, err) = log_over(&["+*", "./big", "s100", "n3", "./small"], &cwd, input.as_bytes());
    assert!(st.success(), "{err}");
    let big = rotated(&cwd.join("big"));
    assert_eq!(big.len(), 9, "{big:?}");
    assert!(big.iter().all(|&n| n <= 99_999 && n > 99_000), "{big:?}");
    let small = rotated(&cwd.join("small"));
    assert_eq!(small.len(), 2, "{small:?}");
    assert!(small.iter().all(|&n| n <= 4096 && n > 3900), "{small:?}");
    // Nothing lost in what is kept: the newest lines, whole.
    let cur = fs::read_to_string(cwd.join("small/current")).unwrap();
    assert!(cur.lines().all(|l| l == &line[..99]), "{cur}");
}

#[test]
fn unsupported_syntax_names_itself() {
    let sb = Sandbox::new();
    for (args, want) in [
        (&["t", "x", "./a"][..], "unsupported multilog action: x"),
        (&["s100000", "t", "./a"], "multilog action t must come first"),
        (&["-tt", "s100000", "./a"], "s100000 is a multilog action"),
        (&["-b", "100", "./a"], "-b 100 must be greater than -l 1000"),
    ] {
        let (st, err) = log_over(args, &sb.path("w"), b"");
        assert_eq!(st.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    // In svlogd's config, an unknown line is a warning naming it; the
    // lines are still logged (a processor is one it knows: tests/it/processor.rs).
    let dir = sb.path("w/d");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("config"), "!gzip\nwhat is this\n").unwrap();
    let (st, err) = log_over(&["d"], &sb.path("w"), b"kept\n");
    assert!(st.success(), "{err}");
    assert!(!err.contains("!gzip"), "{err}");
    assert!(err.contains("d/config:2: unknown line ignored: what is this"), "{err}");
    assert_eq!(fs::read_to_string(dir.join("current")).unwrap(), "kept\n");
}

#[test]
fn svlogd_options_several_directories_and_config_patterns() {
    let sb = Sandbox::new();
    let cwd = sb.path("w");
    fs::create_dir_all(cwd.join("a")).unwrap();
    fs::create_dir_all(cwd.join("b")).unwrap();
    // a: only fatal lines, prefixed; debug lines alerted (to stderr).
    fs::write(cwd.join("a/config"), "-*\n+*: fatal: *\ne*debug*\npA: \n").unwrap();
    // b: everything but +-repeated aaa lines, small files, 2 kept.
    fs::write(cwd.join("b/config"), "-+ab\ns300\nn2\n").unwrap();
    let long = format!("x: fatal: {}", "L".repeat(100));
    let mut input = format!("x: fatal: tab\there\nsome debug line\naaab\n{long}\n");
    for i in 0..20 {
        input.push_str(&format!("line {i:02} with: colon\n"));
    }
    let (st, err) = log_over(
        &["-tt", "-b", "2048", "-l", "30", "-r", "?", "-R", ":", "a", "b"],
        &cwd,
        input.as_bytes(),
    );
    assert!(st.success(), "{err}");
    // -r ?: the tab; -R :: colons too, before matching (so '*: fatal: *'
    // matches nothing: colons are gone). -l 30: patterns see 30 bytes,
    // the lines are written whole.
    assert_eq!(unstamp(&dir_text(&cwd.join("a"))), "");
    assert_eq!(unstamp(&err), "STAMP A: some debug line\n");
    let b = unstamp(&dir_text(&cwd.join("b")));
    assert!(!b.contains("aaab"), "{b}");
    assert!(b.ends_with("STAMP line 19 with? colon\n"), "{b}");
    let rot = rotated(&cwd.join("b"));
    assert_eq!(rot.len(), 2, "n2: {rot:?}");
    assert!(rot.iter().all(|&n| n <= 300), "s300: {rot:?}");

    // Without -R the fatal lines are selected; the long one is whole, and
    // its alert (e*fatal*) is cut at -l with "...".
    fs::write(cwd.join("a/config"), "-*\n+*: fatal: *\ne*fatal*\npA: \n").unwrap();
    fs::remove_file(cwd.join("a/current")).unwrap();
    let (st, err) = log_over(&["-tt", "-l", "30", "-r", "?", "a"], &cwd, input.as_bytes());
    assert!(st.success(), "{err}");
    assert_eq!(
        unstamp(&fs::read_to_string(cwd.join("a/current")).unwrap()),
        format!("STAMP A: x: fatal: tab?here\nSTAMP A: {long}\n")
    );
    assert_eq!(
        unstamp(&err),
        format!("STAMP A: x: fatal: tab?here\nSTAMP A: {}...\n", &long[..30])
    );
}

#[test]
fn svlogd_v_is_verbose_not_the_version() {
    let sb = Sandbox::new();
    let (st, err) = log_over(&["-v", "-tt", "d"], &sb.path("w"), b"hello\n");
    assert!(st.success(), "{err}");
    assert_eq!(unstamp(&dir_text(&sb.path("w/d"))), "STAMP hello\n");
}

#[test]
fn several_directories_each_get_every_line() {
    let sb = Sandbox::new();
    let cwd = sb.path("w");
    let input: String = (0..200_000).map(|i| format!("{i}\n")).collect();
    let (st, err) = log_over(&["-s", "65536", "-n", "0", "a", "./b"], &cwd, input.as_bytes());
    assert!(st.success(), "{err}");
    assert_eq!(dir_text(&cwd.join("a")), input);
    assert_eq!(dir_text(&cwd.join("b")), input);
    // One directory, one writer: given twice (by any spelling), refused.
    let (st, err) = log_over(&["a", "./a/"], &cwd, b"");
    assert_eq!(st.code(), Some(1));
    assert!(err.contains("log directory given twice"), "{err}");
}

#[test]
fn sighup_rereads_the_config() {
    let sb = Sandbox::new();
    let dir = sb.path("log");
    let mut child = spawn(&[dir.to_str().unwrap()]);
    let pid = Pid::from_raw(child.id() as i32);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "before").unwrap();
    wait_for(5.0, "the first line", || {
        fs::read_to_string(dir.join("current")).unwrap_or_default() == "before\n"
    });
    // HUP reopens (a moved current comes back) after reading the config.
    let hup = |name: &str| {
        fs::rename(dir.join("current"), dir.join(name)).unwrap();
        kill(pid, Signal::SIGHUP).unwrap();
        wait_for(5.0, "current reopened", || dir.join("current").exists());
    };
    fs::write(dir.join("config"), "-*drop*\npX: \n").unwrap();
    hup("old1");
    writeln!(stdin, "drop me\nkeep me").unwrap();
    stdin.flush().unwrap();
    wait_for(5.0, "the kept line", || {
        fs::read_to_string(dir.join("current")).unwrap_or_default() == "X: keep me\n"
    });
    // A bad config is reported and the one in force stays.
    fs::write(dir.join("config"), "sbig\n").unwrap();
    hup("old2");
    writeln!(stdin, "drop again\nstill prefixed").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(fs::read_to_string(dir.join("current")).unwrap(), "X: still prefixed\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("log/config:1: not a number: sbig (keeping the previous configuration)"),
        "{err}"
    );
}

#[test]
fn svlogd_udp_lines() {
    use std::net::UdpSocket;
    let sb = Sandbox::new();
    let cwd = sb.path("w");
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(Duration::from_secs(5))).unwrap(); // the deadline
    let port = server.local_addr().unwrap().port();
    fs::create_dir_all(cwd.join("both")).unwrap();
    fs::create_dir_all(cwd.join("only")).unwrap();
    fs::write(cwd.join("both/config"), format!("u127.0.0.1:{port}\npB: \n")).unwrap();
    fs::write(cwd.join("only/config"), format!("-*\n+udp*\nU127.0.0.1:{port}\n")).unwrap();
    let (st, err) = log_over(&["-tt", "both", "only"], &cwd, b"udp one\n");
    assert!(st.success(), "{err}");
    let mut got = Vec::new();
    for _ in 0..2 {
        let mut buf = [0u8; 2048];
        let n = server.recv(&mut buf).expect("a datagram within 5 s");
        got.push(unstamp(&String::from_utf8_lossy(&buf[..n])));
    }
    got.sort();
    assert_eq!(got, ["STAMP B: udp one\n", "STAMP udp one\n"]);
    // u: the directory has it too; U: only UDP.
    assert_eq!(unstamp(&dir_text(&cwd.join("both"))), "STAMP B: udp one\n");
    assert_eq!(dir_text(&cwd.join("only")), "");
}

/// Debian's /etc/sv/svlogd/run, the log/run of every runit-services
/// service (tests/fixtures/runit-log/README), with svlogd swapped for
/// immortallog; its paths moved by the script's own ./conf.
#[test]
fn debians_runit_log_script_runs_with_the_program_name_swapped() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/runit-log");
    let original = fs::read_to_string(fixture.join("run")).unwrap();
    match fs::read_to_string("/etc/sv/svlogd/run") {
        Ok(installed) if installed != original => {
            println!("note: /etc/sv/svlogd/run differs from the fixture (another runit version)")
        }
        Ok(_) => {}
        Err(_) => println!("note: /etc/sv/svlogd/run not installed; the fixture copy is used"),
    }
    let exec = "exec chpst -u ${LOGUSER} svlogd -tt -b $BUFFER \"$LOGDIR\"";
    assert_eq!(original.matches(exec).count(), 1, "the fixture's exec line");
    let root = unsafe { libc::geteuid() } == 0;
    let swapped = if root && Path::new("/usr/bin/chpst").exists() {
        exec.replace("svlogd", LOG)
    } else {
        println!("skipped chpst -u (needs root and runit's chpst): immortallog runs as this user");
        exec.replace("chpst -u ${LOGUSER} svlogd", LOG)
    };
    let sb = Sandbox::new();
    let logdir = sb.path("var/log/runit/foo");
    let svlog = sb.path("etc/sv/foo/log");
    fs::create_dir_all(&svlog).unwrap();
    fs::create_dir_all(logdir.parent().unwrap()).unwrap();
    sb.script("etc/sv/foo/log/run", &original.replace(exec, &swapped));
    // The script reads ./conf after computing LOGDIR: conf sets it.
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    fs::write(
        svlog.join("conf"),
        format!("LOGDIR={}\nLOGUSER={}\n", logdir.display(), user.trim()),
    )
    .unwrap();
    // install -o USER -g adm creates LOGDIR as root; else it must exist.
    let adm = Command::new("getent")
        .args(["group", "adm"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !(root && adm) {
        fs::create_dir_all(&logdir).unwrap();
    }
    // The package's example config, installed by the script as LOGDIR/config.
    fs::copy(fixture.join("example-log.config"), svlog.join("log.config")).unwrap();
    let input: String = (0..5000)
        .map(|i| format!("foo[{i:05}]: {}\n", "x".repeat(80)))
        .collect();
    let mut child = Command::new("sh")
        .arg("./run")
        .current_dir(&svlog)
        .env("PWD", &svlog)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let st = wait_deadline(&mut child, 30, "log/run");
    let out = child.wait_with_output().unwrap();
    assert!(st.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        fs::read_to_string(logdir.join("config")).unwrap(),
        fs::read_to_string(fixture.join("example-log.config")).unwrap()
    );
    // example-log.config: s100000, n3.
    let old = rotated(&logdir);
    assert_eq!(old.len(), 3, "{old:?}");
    assert!(old.iter().all(|&n| n <= 100_000 && n > 99_000), "{old:?}");
    // -tt stamps; what is kept is the newest lines, in order, none missing.
    let text = dir_text(&logdir);
    let kept: Vec<&str> = text.lines().collect();
    assert!(kept.iter().all(|l| unstamp(l).starts_with("STAMP foo[")), "{}", kept[0]);
    let bodies: Vec<&str> = kept.iter().map(|l| &l[26..]).collect();
    let want: Vec<&str> = input.lines().collect();
    assert_eq!(bodies, want[want.len() - bodies.len()..]);
}

#[test]
fn help_explains_every_option_of_the_three_dialects() {
    let out = Command::new(LOG).arg("-h").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for word in [
        // svlogd
        "-t ",
        "-tt ",
        "-ttt ",
        "-v ",
        "-r c",
        "-R abc",
        "-l len",
        "-b buflen",
        "-s BYTES",
        "-n NUM",
        "-a SECS",
        // svlogd's config
        "sSIZE",
        "nNUM",
        "NMIN",
        "tSECONDS",
        "+pattern",
        "-pattern",
        "epattern",
        "Epattern",
        "pPREFIX",
        "uIP",
        "UIP",
        "!processor",
        // multilog
        "e ",
        "=file",
        "./DIR",
        "99999",
        "4096..16777215",
        "must be the first action",
        // Go
        "-f FILE",
        "-T ",
        "MiB",
        // the rest
        "HUP",
        "ALRM",
        "TERM",
        "Environment: immortallog reads no environment variables",
    ] {
        assert!(help.contains(word), "-h does not explain {word:?}:\n{help}");
    }
    // -v alone is the version.
    let out = Command::new(LOG).arg("-v").output().unwrap();
    assert!(out.status.success() && !out.stdout.is_empty());
}

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

/// Lines for the comparisons: selections, long lines, a line of 300 bytes
/// (alerts cut at 200), empty lines, odd bytes.
fn comparison_input() -> String {
    let mut s = String::new();
    for i in 0..400 {
        match i % 8 {
            0 => s.push_str(&format!("fatal: disk {i} failed\n")),
            1 => s.push_str(&format!("named[{i}]: Cleaned cache of {i} RRs\n")),
            2 => s.push_str(&format!("debug: noise {i}\n")),
            3 => s.push_str(&format!("long {i} {}\n", "L".repeat(1500))),
            4 => s.push('\n'),
            5 => s.push_str(&format!("STAT load {i} {}\n", "s".repeat(300))),
            6 => s.push_str(&format!("tcpsvd: info: pid {i} from 10.4.1.14\n")),
            _ => s.push_str(&format!("aaab{i} tab\there: {i}\n")),
        }
    }
    s
}

#[test]
fn same_output_as_the_real_multilog() {
    let Some(multilog) = peer("multilog") else { return };
    let sb = Sandbox::new();
    let input = comparison_input();
    let scripts: [&[&str]; 2] = [
        &[
            "-*",
            "+fatal: *",
            "+named[*]: Cleaned cache *",
            "e",
            "./sel",
            "+*",
            "-debug*",
            "s4096",
            "n50",
            "./all",
            "-*",
            "+STAT*",
            "=status",
            "e",
        ],
        // With stamps: patterns see them (stars before the first space).
        &[
            "t",
            "-* debug: *",
            "s4096",
            "n100",
            "./a",
            "+*",
            "-*: info: *",
            "e",
            "./b",
            "=status",
        ],
    ];
    for (k, script) in scripts.iter().enumerate() {
        let real = sb.path(&format!("real{k}"));
        let ours = sb.path(&format!("ours{k}"));
        fs::create_dir_all(&real).unwrap();
        let (st, real_err) = run_over(&multilog, script, &real, input.as_bytes());
        assert!(st.success(), "multilog: {real_err}");
        assert!(!real_err.is_empty(), "the script alerts");
        let (st, our_err) = log_over(script, &ours, input.as_bytes());
        assert!(st.success(), "immortallog: {our_err}");
        assert_eq!(unstamp(&our_err), unstamp(&real_err), "stderr of {script:?}");
        for d in script.iter().filter(|a| a.starts_with("./")) {
            let (r, o) = (dir_text(&real.join(d)), dir_text(&ours.join(d)));
            assert!(!r.is_empty() || k == 0 && *d == "./sel", "{d} is empty");
            assert!(unstamp(&o) == unstamp(&r), "{d} of {script:?} differs");
        }
        let (r, o) = (
            fs::read(real.join("status")).unwrap(),
            fs::read(ours.join("status")).unwrap(),
        );
        assert_eq!(r.len(), 1001);
        assert_eq!(
            unstamp(&String::from_utf8_lossy(&o)),
            unstamp(&String::from_utf8_lossy(&r))
        );
    }
}

#[test]
fn same_output_as_the_real_svlogd() {
    let Some(svlogd) = peer("svlogd") else { return };
    let sb = Sandbox::new();
    // svlogd drops a final line without newline; the input ends with one.
    let input = comparison_input();
    let configs = [
        ("sel", "-*\n+fatal: *\n++a*\ne*: info: *\nE*info: pid 1?? *\npSEL \n"),
        ("all", "s8000\nn100\n-debug*\n-*long*\nefatal*\n"),
        ("plain", ""),
    ];
    for args in [
        &["-tt", "-l", "40", "-b", "4096", "-r", "?", "sel", "all", "plain"][..],
        &["-R", "sx", "sel", "all", "plain"],
    ] {
        let real = sb.path("real");
        let ours = sb.path("ours");
        for top in [&real, &ours] {
            let _ = fs::remove_dir_all(top);
            for (d, config) in configs {
                fs::create_dir_all(top.join(d)).unwrap();
                if !config.is_empty() {
                    fs::write(top.join(d).join("config"), config).unwrap();
                }
            }
        }
        let (st, real_err) = run_over(&svlogd, args, &real, input.as_bytes());
        assert!(st.success(), "svlogd: {real_err}");
        assert!(!real_err.is_empty(), "the config alerts");
        let (st, our_err) = log_over(args, &ours, input.as_bytes());
        assert!(st.success(), "immortallog: {our_err}");
        assert_eq!(unstamp(&our_err), unstamp(&real_err), "stderr of {args:?}");
        for (d, _) in configs {
            let (r, o) = (dir_text(&real.join(d)), dir_text(&ours.join(d)));
            assert!(!r.is_empty(), "{d} is empty");
            assert!(unstamp(&o) == unstamp(&r), "{d} of {args:?} differs");
        }
    }
}
