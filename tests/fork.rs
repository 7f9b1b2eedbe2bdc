//! The parts of the supervisor that fork without executing (the output
//! holder, the compression filter), each tested in this binary of its own:
//! a fork copies every descriptor the process holds at that moment, and in
//! the unit tests' binary that is every pipe the tests running beside it
//! have open, held by the child until it closes them (a test waiting there
//! for the end of its pipe would wait for it too).
#![cfg(target_os = "linux")]

use immortal::sys::{filter, hold};
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

#[test]
fn a_holder_keeps_a_pipe_readable_and_ends_when_no_writer_is_left() {
    let (r, w) = nix::unistd::pipe().unwrap();
    let holder = hold::spawn(&[r.as_fd()]).unwrap();
    // It names itself once its descriptors are in place.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("/proc/{holder}/comm"))
        .unwrap_or_default()
        .trim()
        != hold::NAME
    {
        assert!(Instant::now() < deadline, "the holder never named itself");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Every read end of ours goes, as a killed supervisor's would: the
    // holder's keeps the pipe, so a write succeeds instead of EPIPE.
    drop(r);
    let mut writer = std::fs::File::from(w);
    writer.write_all(b"kept\n").unwrap();
    // The next supervisor reopens the pipe (here through the holder's
    // descriptor 3) and gets what was written: the holder took none.
    let mut reader = std::fs::File::open(format!("/proc/{holder}/fd/3")).unwrap();
    let mut got = [0u8; 5];
    reader.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"kept\n");
    // The last writer goes: the holder ends by itself.
    drop(writer);
    let status = nix::sys::wait::waitpid(holder, None).unwrap();
    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(holder, 0));
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Run `program args` over `input` into `out` (via `out.tmp`); the
/// child's exit code.
fn run_filter(program: &str, args: &[&str], input: &[u8], dir: &std::path::Path) -> i32 {
    std::fs::write(dir.join("in"), input).unwrap();
    let input = std::fs::File::open(dir.join("in")).unwrap();
    let output = std::fs::File::create(dir.join("out.tmp")).unwrap();
    let d = std::fs::File::open(dir).unwrap();
    let argv: Vec<CString> = std::iter::once(program).chain(args.iter().copied()).map(c).collect();
    let program = c(program);
    let (tmp, name) = (c("out.tmp"), c("out"));
    let pid = filter::spawn(&filter::Job {
        program: &program,
        argv: &argv,
        input: input.as_fd(),
        output: output.as_fd(),
        dir: d.as_fd(),
        tmp: &tmp,
        name: &name,
    })
    .unwrap();
    match nix::sys::wait::waitpid(pid, None).unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, code) => code,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_output_gets_its_name_only_when_the_program_succeeds() {
    let d = tempfile::tempdir().unwrap();
    let code = run_filter("/bin/sh", &["-c", "tr a-z A-Z"], b"hello\n", d.path());
    assert_eq!(filter::outcome(code), Ok(()));
    assert_eq!(std::fs::read(d.path().join("out")).unwrap(), b"HELLO\n");
    assert!(!d.path().join("out.tmp").exists());
    // A failing program: no output under either name.
    std::fs::remove_file(d.path().join("out")).unwrap();
    let code = run_filter("/bin/sh", &["-c", "cat; exit 3"], b"x\n", d.path());
    assert_eq!(
        filter::outcome(code),
        Err("the program failed (or could not be executed)")
    );
    assert!(!d.path().join("out").exists() && !d.path().join("out.tmp").exists());
    // A program that cannot be executed: the same failure.
    let code = run_filter("/nonexistent/gzip", &[], b"x\n", d.path());
    assert_eq!(
        filter::outcome(code),
        Err("the program failed (or could not be executed)")
    );
    assert!(!d.path().join("out.tmp").exists());
}
