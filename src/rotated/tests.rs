//! The rotation protocol after the rename, through a real
//! [`crate::logfile::LogWriter`]: names, pruning, the children (real
//! `gzip`, real `sh` processors), what a crash leaves, failures.

use super::*;
use crate::logfile::{LogWriter, Rotation, Stamp};

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The names with TAI64N labels replaced by `@T`.
fn shapes(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .map(|n| {
            if n.starts_with("@4000") {
                format!("@T{}", &n[25..])
            } else {
                n
            }
        })
        .collect()
}

fn gzip() -> Compressor {
    Compressor::find(Method::Gzip).expect("gzip is installed")
}

/// Wait for the writer's child (if one runs), report its end, flush;
/// until nothing runs and nothing is queued.
fn settle(w: &mut LogWriter) {
    w.resume();
    loop {
        w.flush().unwrap();
        let Some(pid) = w.child() else {
            assert_eq!(w.pending(), 0);
            return;
        };
        let how = match nix::sys::wait::waitpid(pid, None).unwrap() {
            nix::sys::wait::WaitStatus::Exited(_, c) => ExitHow::Code(c),
            nix::sys::wait::WaitStatus::Signaled(_, s, _) => ExitHow::Signal(s as i32),
            other => panic!("{other:?}"),
        };
        assert!(w.child_ended(pid, how));
    }
}

fn numbered(dir: &Path, keep: usize, size: u64, after: After) -> LogWriter {
    let rotation = Rotation { size, age: None, keep };
    LogWriter::open_with(&dir.join("app.log"), Naming::Numbered, rotation, Stamp::None, after).unwrap()
}

/// Every line of the set, oldest first (compressed files decompressed).
fn all_numbered(dir: &Path) -> Vec<String> {
    let mut files: Vec<(i64, PathBuf)> = names(dir)
        .into_iter()
        .filter_map(|n| {
            let rest = n.strip_prefix("app.log")?;
            let k = match rest.trim_start_matches('.').split('.').next() {
                Some("") => -1,
                Some(d) => d.parse().ok()?,
                None => -1,
            };
            Some((k, dir.join(&n)))
        })
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files
        .iter()
        .flat_map(|(_, p)| {
            String::from_utf8(crate::compress::read_any(p).unwrap())
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn compressed_rotation_keeps_every_line_and_num_counts_compressed_files() {
    let d = tempfile::tempdir().unwrap();
    let mut w = numbered(d.path(), 3, 100, After::Compress(gzip()));
    for i in 0..40 {
        w.push(format!("line {i:03}\n").as_bytes());
        settle(&mut w);
    }
    // 9 bytes a line, 11 lines a file: 40 lines are 3 full files, all
    // compressed, and 7 lines; no plain or temporary file left.
    assert_eq!(
        names(d.path()),
        ["app.log", "app.log.0.gz", "app.log.1.gz", "app.log.2.gz"]
    );
    let want: Vec<String> = (0..40).map(|i| format!("line {i:03}")).collect();
    assert_eq!(all_numbered(d.path()), want);
    // One more file: the oldest compressed one goes (num counts them).
    for i in 40..45 {
        w.push(format!("line {i:03}\n").as_bytes());
        settle(&mut w);
    }
    assert_eq!(
        names(d.path()),
        ["app.log", "app.log.0.gz", "app.log.1.gz", "app.log.2.gz"]
    );
    let want: Vec<String> = (11..45).map(|i| format!("line {i:03}")).collect();
    assert_eq!(all_numbered(d.path()), want);
}

/// While a rotated file is compressed, lines go on into `current`, past
/// its size: none waits in memory (where a `kill -9` would lose it); the
/// next rotation comes after the compression.
#[test]
fn while_compressing_lines_go_on_into_current_and_the_rotation_comes_after() {
    let d = tempfile::tempdir().unwrap();
    let mut w = numbered(d.path(), 5, 20, After::Compress(gzip()));
    w.push(b"012345678\n012345678\n");
    w.flush().unwrap();
    // The first file is full and rotated; its child runs (not reaped yet).
    let child = w.child().expect("a compression runs");
    assert!(w.finishing());
    w.push(b"aaaaaaaaa\nbbbbbbbbb\nccccccccc\n");
    w.flush().unwrap();
    assert_eq!(w.pending(), 0);
    assert!(!w.full());
    assert_eq!(
        std::fs::read_to_string(d.path().join("app.log")).unwrap(),
        "aaaaaaaaa\nbbbbbbbbb\nccccccccc\n"
    );
    // Not even a forced rotation happens before the child's end.
    w.rotate().unwrap();
    assert!(d.path().join("app.log.0").exists() && !d.path().join("app.log.1").exists());
    let how = match nix::sys::wait::waitpid(child, None).unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, c) => ExitHow::Code(c),
        other => panic!("{other:?}"),
    };
    assert!(!w.child_ended(Pid::from_raw(1), how));
    assert!(w.child_ended(child, how));
    // The rotation asked for happens at the next flush.
    settle(&mut w);
    assert_eq!(names(d.path()), ["app.log", "app.log.0.gz", "app.log.1.gz"]);
    assert_eq!(std::fs::read(d.path().join("app.log")).unwrap(), b"");
    w.push(b"ddddddddd\n");
    settle(&mut w);
    assert_eq!(
        all_numbered(d.path()),
        [
            "012345678",
            "012345678",
            "aaaaaaaaa",
            "bbbbbbbbb",
            "ccccccccc",
            "ddddddddd"
        ]
    );
}

#[test]
fn what_a_crash_left_is_finished_at_the_next_open() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    let gz = |text: &str| {
        let out = std::process::Command::new(gzip().program)
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        out.stdin.as_ref().unwrap().write_all(text.as_bytes()).unwrap();
        out.wait_with_output().unwrap().stdout
    };
    std::fs::write(p("app.log"), "current\n").unwrap();
    // Compressed and renamed, the plain one not removed yet.
    std::fs::write(p("app.log.0"), "zero\n").unwrap();
    std::fs::write(p("app.log.0.gz"), gz("zero\n")).unwrap();
    // Half compressed: the temporary output goes, the plain one is done again.
    std::fs::write(p("app.log.1"), "one\n").unwrap();
    std::fs::write(p("app.log.1.gz.4242-1.tmp"), b"\x1f\x8bhalf").unwrap();
    // Never started.
    std::fs::write(p("app.log.2"), "two\n").unwrap();
    std::fs::write(p("app.log.3.gz"), gz("three\n")).unwrap();
    std::fs::write(p("other.log.1"), "not ours\n").unwrap();
    let mut w = numbered(d.path(), 9, 0, After::Compress(gzip()));
    settle(&mut w);
    assert_eq!(
        names(d.path()),
        [
            "app.log",
            "app.log.0.gz",
            "app.log.1.gz",
            "app.log.2.gz",
            "app.log.3.gz",
            "other.log.1"
        ]
    );
    std::fs::remove_file(p("other.log.1")).unwrap();
    assert_eq!(all_numbered(d.path()), ["three", "two", "one", "zero", "current"]);
}

#[test]
fn a_failed_compression_keeps_the_plain_file_and_says_so() {
    let d = tempfile::tempdir().unwrap();
    let failing = Compressor {
        method: Method::Gzip,
        program: PathBuf::from("/bin/false"),
    };
    let mut w = numbered(d.path(), 3, 10, After::Compress(failing));
    w.push(b"0123456789\nabc\n");
    settle(&mut w);
    let notes = w.take_notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("unable to compress") && notes[0].contains("app.log.0: the program failed"),
        "{notes:?}"
    );
    assert_eq!(names(d.path()), ["app.log", "app.log.0"]);
    // Rotation goes on (the plain file shifts like the others).
    w.push(b"defghijklm\n");
    settle(&mut w);
    assert_eq!(names(d.path()), ["app.log", "app.log.0", "app.log.1"]);
}

fn tai(dir: &Path, keep: usize, style: Style, command: &str) -> LogWriter {
    let rotation = Rotation {
        size: 0,
        age: None,
        keep,
    };
    let after = After::Process(Processor {
        command: command.into(),
        style,
    });
    LogWriter::open_with(&dir.join("current"), Naming::Tai64n, rotation, Stamp::None, after).unwrap()
}

/// A processor that upper-cases the file and counts its runs in `state`.
const COUNTING: &str = "tr a-z A-Z && { cat <&4; echo run; } >&5";

#[test]
fn svlogd_and_multilog_processors_name_the_output_as_they_do() {
    for style in [Style::Svlogd, Style::Multilog] {
        let d = tempfile::tempdir().unwrap();
        let mut w = tai(d.path(), 10, style, COUNTING);
        for batch in ["one\n", "two\n"] {
            w.push(batch.as_bytes());
            w.flush().unwrap();
            w.rotate().unwrap();
            settle(&mut w);
        }
        assert_eq!(shapes(d.path()), ["@T.s", "@T.s", "current", "state"], "{style:?}");
        let done: Vec<String> = names(d.path())
            .into_iter()
            .filter(|n| n.ends_with(".s"))
            .map(|n| std::fs::read_to_string(d.path().join(n)).unwrap())
            .collect();
        assert_eq!(done, ["ONE\n", "TWO\n"], "{style:?}");
        assert_eq!(std::fs::read_to_string(d.path().join("state")).unwrap(), "run\nrun\n");
        let mode = std::fs::metadata(d.path().join(&names(d.path())[0]))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o744, "{style:?}");
        assert!(w.take_notes().is_empty());
    }
}

#[test]
fn a_failing_processor_runs_again_and_the_next_rotation_waits() {
    for style in [Style::Svlogd, Style::Multilog] {
        let d = tempfile::tempdir().unwrap();
        // Fails once (leaving half an output), then succeeds.
        let mut w = tai(
            d.path(),
            10,
            style,
            "if [ -e ok ]; then cat; else touch ok; echo half; exit 1; fi",
        );
        w.push(b"one\n");
        w.flush().unwrap();
        w.rotate().unwrap();
        settle(&mut w);
        let notes = w.take_notes();
        assert!(
            notes[0].contains("processor failed in") && notes[0].contains("exit 1"),
            "{notes:?}"
        );
        let waiting = match style {
            Style::Svlogd => vec!["@T.u", "current", "newstate", "ok", "state"],
            Style::Multilog => vec!["current", "newstate", "ok", "previous", "processed", "state"],
        };
        assert_eq!(shapes(d.path()), waiting, "{style:?}");
        assert!(w.finishing() && w.deadline().is_some());
        // The next rotation waits for it.
        w.push(b"two\n");
        w.flush().unwrap();
        w.rotate().unwrap();
        w.flush().unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("current")).unwrap(), "two\n");
        assert!(!w.full(), "nothing waits yet");
        w.on_timer(Instant::now() + RETRY);
        settle(&mut w);
        assert_eq!(
            shapes(d.path()),
            ["@T.s", "@T.s", "current", "ok", "state"],
            "{style:?}"
        );
        let done: Vec<String> = names(d.path())
            .into_iter()
            .filter(|n| n.ends_with(".s"))
            .map(|n| std::fs::read_to_string(d.path().join(n)).unwrap())
            .collect();
        assert_eq!(done, ["one\n", "two\n"], "{style:?}");
    }
}

/// With a processor, lines wait for the rotation as with svlogd and
/// multilog (which block), and the writer says to stop reading at once.
#[test]
fn with_a_processor_lines_wait_for_the_rotation() {
    let d = tempfile::tempdir().unwrap();
    let rotation = Rotation {
        size: 20,
        age: None,
        keep: 10,
    };
    let after = After::Process(Processor {
        command: "cat".into(),
        style: Style::Svlogd,
    });
    let mut w = LogWriter::open_with(&d.path().join("current"), Naming::Tai64n, rotation, Stamp::None, after).unwrap();
    w.push(b"012345678\n012345678\naaaaaaaaa\nbbbbbbbbb\nccccccccc\n");
    w.flush().unwrap();
    assert!(w.child().is_some());
    assert_eq!(
        std::fs::read_to_string(d.path().join("current")).unwrap(),
        "aaaaaaaaa\nbbbbbbbbb\n"
    );
    assert_eq!(w.pending(), 10);
    assert!(w.full(), "the caller stops reading");
    settle(&mut w);
    assert!(!w.full());
    assert_eq!(
        std::fs::read_to_string(d.path().join("current")).unwrap(),
        "ccccccccc\n"
    );
    assert_eq!(shapes(d.path()), ["@T.s", "@T.s", "current", "state"]);
}

#[test]
fn what_a_crashed_svlogd_processor_left_is_finished() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    let a = "@400000006000000000000000";
    let b = "@400000006000000100000000";
    let c = "@400000006000000200000000";
    // a: processed, .u removed, not renamed yet; b: being processed.
    std::fs::write(p(&format!("{a}.t")), "A DONE\n").unwrap();
    std::fs::write(p(&format!("{b}.u")), "b\n").unwrap();
    std::fs::write(p(&format!("{b}.t")), "B HAL").unwrap();
    // c: rotated, not started.
    std::fs::write(p(&format!("{c}.u")), "c\n").unwrap();
    let mut w = tai(d.path(), 10, Style::Svlogd, "tr a-z A-Z");
    settle(&mut w);
    assert_eq!(
        names(d.path()),
        [
            format!("{a}.s"),
            format!("{b}.s"),
            format!("{c}.s"),
            "current".into(),
            "state".into()
        ]
    );
    let read = |n: &str| std::fs::read_to_string(p(n)).unwrap();
    assert_eq!(
        [
            read(&format!("{a}.s")),
            read(&format!("{b}.s")),
            read(&format!("{c}.s"))
        ],
        ["A DONE\n", "B\n", "C\n"]
    );
}

#[test]
fn what_a_crashed_multilog_processor_left_is_finished_as_multilog_does() {
    // A complete (executable) `processed`: it is the old file.
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    std::fs::write(p("previous"), "raw\n").unwrap();
    std::fs::write(p("processed"), "RAW\n").unwrap();
    set_mode(&p("processed"), 0o744).unwrap();
    std::fs::write(p("newstate"), "half").unwrap();
    let mut w = tai(d.path(), 10, Style::Multilog, "tr a-z A-Z");
    settle(&mut w);
    assert_eq!(shapes(d.path()), ["@T.s", "current", "state"]);
    // An incomplete one goes; `previous` becomes an unprocessed `.u`.
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    std::fs::write(p("previous"), "raw\n").unwrap();
    std::fs::write(p("processed"), "RA").unwrap();
    let mut w = tai(d.path(), 10, Style::Multilog, "tr a-z A-Z");
    settle(&mut w);
    assert_eq!(shapes(d.path()), ["@T.u", "current", "state"]);
    let u = names(d.path()).remove(0);
    assert_eq!(std::fs::read_to_string(p(&u)).unwrap(), "raw\n");
}
