//! `immortalsvc`'s one stdout: every service without a log of its own
//! reaches immortalsvc's stdout (stderr: stderr) as whole lines marked with
//! its name — read here by a slow reader, as a `docker logs` may be, with
//! immortalsvc as PID 1 of a PID namespace and as an ordinary process.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const SVC: &str = env!("CARGO_BIN_EXE_immortalsvc");

/// A reader of immortalsvc's stdout that takes at most `chunk` bytes at a
/// time and sleeps `pause` between reads — a slow reader's behaviour, not
/// synchronisation. While `hold` is set it reads nothing at all.
struct Reader {
    got: Arc<Mutex<Vec<u8>>>,
    hold: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    fn start(mut from: impl Read + Send + 'static, chunk: usize, pause: Duration, held: bool) -> Reader {
        let got = Arc::new(Mutex::new(Vec::new()));
        let hold = Arc::new(AtomicBool::new(held));
        let (g, h) = (got.clone(), hold.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; chunk];
            loop {
                if h.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => g.lock().unwrap().extend_from_slice(&buf[..n]),
                }
                std::thread::sleep(pause);
            }
        });
        Reader {
            got,
            hold,
            thread: Some(thread),
        }
    }

    /// No reader at all: the read end closed at once.
    fn closed(out: std::process::ChildStdout) -> Reader {
        drop(out);
        Reader {
            got: Arc::default(),
            hold: Arc::default(),
            thread: None,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.got.lock().unwrap()).into_owned()
    }
}

/// `immortalsvc [OPTIONS] services/` (under `unshare --pid --fork
/// --mount-proc --kill-child` when `pid1`), its stdout read by a
/// [`Reader`], its stderr in a file. Stopped on drop, and every process
/// whose command line names the sandbox killed.
struct Svc {
    child: Option<Child>,
    /// immortalsvc itself (the namespace's PID 1 when `pid1`).
    init: i32,
    reader: Reader,
    err: PathBuf,
    sandbox: String,
}

impl Svc {
    fn start(
        sb: &Sandbox,
        options: &[&str],
        pid1: bool,
        reader: impl FnOnce(std::process::ChildStdout) -> Reader,
    ) -> Svc {
        fs::create_dir_all(sb.path("services")).unwrap();
        let err = sb.path("immortalsvc.stderr");
        let mut argv: Vec<&str> = Vec::new();
        if pid1 {
            argv.extend(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]);
        }
        argv.push(SVC);
        argv.extend_from_slice(options);
        let services = sb.path("services");
        argv.push(services.to_str().unwrap());
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .env("IMMORTAL_SDIR", sb.path("sdir"))
            .env("HOME", sb.path("home"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut svc = Svc {
            init: child.id() as i32,
            child: Some(child),
            reader: reader(stdout),
            err,
            sandbox: sb.dir.path().display().to_string(),
        };
        if pid1 {
            let unshare = svc.init;
            let mut init = 0;
            wait_for(10.0, "immortalsvc as PID 1 of a new namespace", || {
                let kids = fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).unwrap_or_default();
                init = kids.split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or(0);
                init > 0
            });
            let status = fs::read_to_string(format!("/proc/{init}/status")).unwrap_or_default();
            let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap_or("");
            assert_eq!(nspid.split_whitespace().last(), Some("1"), "PID 1: {nspid}");
            svc.init = init;
        }
        svc
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn stdout(&self) -> String {
        self.reader.text()
    }

    /// SIGTERM to immortalsvc; its exit status, and the reader's end.
    fn stop(&mut self, secs: f64) -> Option<i32> {
        let _ = kill(Pid::from_raw(self.init), Signal::SIGTERM);
        let mut child = self.child.take()?;
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                if let Some(t) = self.reader.thread.take() {
                    let _ = t.join();
                }
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
        None
    }
}

impl Drop for Svc {
    fn drop(&mut self) {
        self.reader.hold.store(false, Ordering::SeqCst);
        if self.child.is_some() && self.stop(15.0).is_none() {
            if let Some(mut c) = self.child.take() {
                let _ = kill(Pid::from_raw(self.init), Signal::SIGKILL);
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        // Whatever of ours is left (after a failed assertion): by pid.
        for pid in processes_naming(&self.sandbox) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Processes whose command line contains `text`, with their command names.
fn processes_naming(text: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if pid != std::process::id() as i32 && String::from_utf8_lossy(&cmdline).contains(text) {
            out.push(pid);
        }
    }
    out
}

/// The payload of line `i` of a service: its length varies from 0 to
/// 8999 bytes (most longer than a pipe's atomic write, written by awk's
/// 4 KiB buffer in pieces), its bytes say where they are.
fn payload(i: u64) -> String {
    let len = (i * 7919 % 9000) as usize;
    "0123456789".repeat(900)[..len].to_string()
}

/// Line `i` of service `name`, as the service writes it.
fn numbered(name: &str, i: u64) -> String {
    let p = payload(i);
    format!("{name} {i} {} {p}", p.len())
}

/// A shell command writing `n` numbered lines (every 100th also one on
/// stderr, each in one write — awk's own /dev/stderr writes a line in
/// pieces, and the supervisor's messages share that pipe: a line written
/// in pieces can be cut by one of them), as fast as awk can, then touching
/// `mark` and sleeping.
fn writer(name: &str, n: u64, mark: &std::path::Path) -> String {
    format!(
        "awk -v n={n} -v name={name} -v mark={mark} 'BEGIN {{ pad = \"\"; for (k = 0; k < 900; k++) pad = pad \"0123456789\"; \
         for (i = 0; i < n; i++) {{ len = (i * 7919) % 9000; print name, i, len, substr(pad, 1, len); \
         if (i % 100 == 0) {{ print name \" \" i \" err\" > \"/proc/self/fd/2\"; close(\"/proc/self/fd/2\") }} }} }}' && touch {mark} && exec sleep 1000",
        mark = mark.display()
    )
}

/// Lines of the services, by name, in the order they came, checked whole:
/// `-o prefix` lines are `NAME<pad> | TEXT`, padded to `width`.
fn by_service_prefixed(out: &str, width: usize) -> BTreeMap<String, Vec<String>> {
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in out.lines() {
        let (label, text) = line
            .split_once(" | ")
            .unwrap_or_else(|| panic!("a line without a prefix: {:.200}", line));
        assert_eq!(label.len(), width, "padded to the longest name: {label:?}");
        let name = label.trim_end();
        seen.entry(name.to_string()).or_default().push(text.to_string());
    }
    seen
}

/// Every service's lines, exactly `n` of them, in order, each whole.
fn check_numbered(seen: &BTreeMap<String, Vec<String>>, names: &[&str], n: u64) {
    for name in names {
        let lines = seen.get(*name).map(Vec::as_slice).unwrap_or_default();
        for (i, line) in lines.iter().enumerate() {
            // The text names its own service: a line of another service
            // mixed in, or two lines run together, fails here.
            assert!(
                *line == numbered(name, i as u64),
                "{name}: line {i} is not line {i} whole: {:.120}…",
                line
            );
        }
        assert_eq!(lines.len() as u64, n, "{name}: every line once");
    }
}

/// awk processes of this sandbox blocked writing to a pipe.
fn blocked_writers(sandbox: &str) -> usize {
    processes_naming(sandbox)
        .into_iter()
        .filter(|p| fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim().ends_with("awk")))
        .filter(|p| fs::read_to_string(format!("/proc/{p}/wchan")).is_ok_and(|w| w.contains("pipe_write")))
        .count()
}

#[test]
fn as_pid_1_a_slow_stdout_gets_every_line_once_whole_and_in_order() {
    if !nix::unistd::geteuid().is_root() {
        panic!("needs root for unshare --pid");
    }
    need("awk");
    let sb = Sandbox::new();
    let n = 1000;
    let names = ["a", "web", "worker-long", "legacy"];
    for name in &names[..3] {
        let cmd = writer(name, n, &sb.path(&format!("{name}.done")));
        sb.write(
            &format!("services/{name}.yml"),
            &format!("cmd: [sh, -c, {}]\n", yaml_quote(&cmd)),
        );
    }
    // A runit service directory (no log/): its output too.
    let cmd = writer("legacy", n, &sb.path("legacy.done"));
    sb.script("services/legacy/run", &format!("#!/bin/sh\n{cmd}\n"));
    // Held at first: nothing is read from immortalsvc's stdout.
    let mut svc = Svc::start(&sb, &[], true, |out| {
        Reader::start(out, 16 * 1024, Duration::from_millis(1), true)
    });
    let sandbox = sb.dir.path().display().to_string();
    // Back-pressure: with nobody reading, each service (4.5 MB to write,
    // far more than every buffer on the way) ends up blocked in write —
    // and none has finished, so nothing was dropped to make room.
    wait_for(30.0, "every writer blocked in write", || {
        blocked_writers(&sandbox) == names.len()
    });
    for name in names {
        assert!(
            !sb.path(&format!("{name}.done")).exists(),
            "{name} finished while nobody read"
        );
    }
    // Read slowly now: every line arrives.
    svc.reader.hold.store(false, Ordering::SeqCst);
    wait_for(120.0, "every service wrote everything", || {
        names.iter().all(|name| sb.path(&format!("{name}.done")).exists())
    });
    let expected = names.len() as u64 * n;
    wait_for(60.0, "every line read", || {
        svc.stdout().lines().count() as u64 >= expected
    });
    assert_eq!(svc.stop(20.0), Some(0), "{}", svc.stderr());
    let width = names.iter().map(|n| n.len()).max().unwrap();
    check_numbered(&by_service_prefixed(&svc.stdout(), width), &names, n);
    // Their stderr, and their supervisors' messages, on stderr, marked the
    // same way; immortalsvc's own lines as they are.
    let err = svc.stderr();
    for name in names {
        let mine: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with(&format!("{name:<width$} | {name} ")))
            .collect();
        let want: Vec<String> = (0..n)
            .step_by(100)
            .map(|i| format!("{name:<width$} | {name} {i} err"))
            .collect();
        assert_eq!(mine, want, "{name}'s stderr\n{err}");
        assert!(err.contains(&format!("{name:<width$} | immortal: ")), "{err}");
    }
    assert!(
        err.lines().last() == Some("immortalsvc: every service stopped: exiting"),
        "{err}"
    );
}

/// `s` as a single-quoted YAML scalar.
fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn need(program: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{program} is needed");
}

/// A reader that takes everything as it comes.
fn fast(out: std::process::ChildStdout) -> Reader {
    Reader::start(out, 64 * 1024, Duration::ZERO, false)
}

#[test]
fn o_json_is_one_object_a_line_and_a_long_line_comes_in_marked_pieces() {
    need("awk");
    let sb = Sandbox::new();
    let n = 300;
    let cmd = writer("web", n, &sb.path("web.done"));
    sb.write("services/web.yml", &format!("cmd: [sh, -c, {}]\n", yaml_quote(&cmd)));
    // A line of 150 001 bytes (cut in three, never inside an 'é'), an
    // empty one, then an unfinished one that only immortalsvc's exit ends.
    let long = sb.script(
        "long.sh",
        "#!/bin/sh\nawk 'BEGIN { printf \"x\"; for (i = 0; i < 75000; i++) printf \"é\"; print \"\"; print \"\" }'\n\
         printf unfinished\nexec sleep 1000\n",
    );
    sb.write("services/long.yml", &format!("cmd: [{}]\n", long.display()));
    // A runit directory with log/: its stdout goes to log/run, its stderr
    // to immortalsvc's stderr.
    sb.script(
        "services/dir/run",
        "#!/bin/sh\necho to-the-log\necho to-stderr >&2\nexec sleep 1000\n",
    );
    sb.script(
        "services/dir/log/run",
        &format!("#!/bin/sh\nexec cat > {}\n", sb.path("dir.log").display()),
    );
    let mut svc = Svc::start(&sb, &["-o", "json"], false, fast);
    wait_for(30.0, "web wrote everything", || sb.path("web.done").exists());
    wait_for(30.0, "every line read", || {
        svc.stdout()
            .lines()
            .filter(|l| l.contains("\"service\":\"web\""))
            .count() as u64
            >= n
    });
    wait_for(10.0, "dir's stderr", || svc.stderr().contains("to-stderr"));
    assert_eq!(svc.stop(20.0), Some(0), "{}", svc.stderr());
    let objects = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:.200}")))
            .collect()
    };
    let mut seen: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for o in objects(&svc.stdout()) {
        let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(
            keys == ["line", "service", "stream", "time"] || keys == ["line", "partial", "service", "stream", "time"],
            "{o}"
        );
        assert_eq!(o["stream"], "stdout");
        let t = o["time"].as_str().unwrap();
        assert!(t.len() == 27 && t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        seen.entry(o["service"].as_str().unwrap().to_string())
            .or_default()
            .push(o);
    }
    let lines = |name: &str| -> Vec<String> {
        seen[name]
            .iter()
            .map(|o| o["line"].as_str().unwrap().to_string())
            .collect()
    };
    let web: BTreeMap<String, Vec<String>> = [("web".to_string(), lines("web"))].into();
    check_numbered(&web, &["web"], n);
    // The long line: pieces of at most 64 KiB, each but the last partial,
    // whole UTF-8 each, the same line once joined.
    let long = &seen["long"];
    let partial: Vec<bool> = long.iter().map(|o| o["partial"] == true).collect();
    assert_eq!(partial, [true, true, false, false, false], "{:?}", lines("long"));
    let joined: String = long[..3].iter().map(|o| o["line"].as_str().unwrap()).collect();
    assert_eq!(joined, format!("x{}", "é".repeat(75_000)));
    let sizes: Vec<usize> = long[..3].iter().map(|o| o["line"].as_str().unwrap().len()).collect();
    assert_eq!(sizes, [65_535, 65_536, 18_930]);
    assert_eq!(lines("long")[3..], ["".to_string(), "unfinished".to_string()]);
    // Nothing of dir's on stdout: its stdout went to its log/run.
    assert!(!seen.contains_key("dir"), "{:?}", seen.keys());
    assert_eq!(sb.read("dir.log"), "to-the-log\n");
    // stderr: JSON too, immortalsvc's own lines with "service": null.
    let err = objects(&svc.stderr());
    assert!(err.iter().all(|o| o["stream"] == "stderr"));
    assert!(err.iter().any(|o| o["service"] == "dir" && o["line"] == "to-stderr"));
    assert!(err.iter().any(|o| o["service"] == "web" && o["line"] == "web 100 err"));
    assert!(err
        .iter()
        .any(|o| o["service"].is_null() && o["line"] == "immortalsvc: every service stopped: exiting"));
}

#[test]
fn o_plain_writes_the_lines_as_they_are() {
    need("awk");
    let sb = Sandbox::new();
    let n = 200;
    for name in ["one", "three"] {
        let cmd = writer(name, n, &sb.path(&format!("{name}.done")));
        sb.write(
            &format!("services/{name}.yml"),
            &format!("cmd: [sh, -c, {}]\n", yaml_quote(&cmd)),
        );
    }
    let mut svc = Svc::start(&sb, &["-o", "plain"], false, fast);
    wait_for(30.0, "every line read", || svc.stdout().lines().count() as u64 >= 2 * n);
    assert_eq!(svc.stop(20.0), Some(0), "{}", svc.stderr());
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in svc.stdout().lines() {
        let name = line.split(' ').next().unwrap();
        seen.entry(name.to_string()).or_default().push(line.to_string());
    }
    check_numbered(&seen, &["one", "three"], n);
    assert!(svc.stderr().lines().any(|l| l == "one 100 err"), "{}", svc.stderr());
}

#[test]
fn a_stdout_nobody_reads_any_more_kills_nothing_and_blocks_nothing() {
    need("awk");
    let sb = Sandbox::new();
    let cmd = writer("web", 2000, &sb.path("web.done"));
    sb.write("services/web.yml", &format!("cmd: [sh, -c, {}]\n", yaml_quote(&cmd)));
    let mut svc = Svc::start(&sb, &[], false, Reader::closed);
    // The service writes its 9 MB (nobody can read them: they are
    // dropped) and goes on; immortalsvc goes on, and says why once.
    wait_for(30.0, "web wrote everything", || sb.path("web.done").exists());
    wait_for(10.0, "web's stderr", || svc.stderr().contains("web | web 1900 err"));
    let said = "immortalsvc: unable to write to stdout: Broken pipe (os error 32): \
                the services' lines for it are dropped from now on";
    assert_eq!(svc.stderr().matches(said).count(), 1, "{}", svc.stderr());
    assert!(
        svc.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "immortalsvc runs"
    );
    assert_eq!(svc.stop(20.0), Some(0), "{}", svc.stderr());
}

#[test]
fn a_removed_service_s_unfinished_line_is_written_once_it_is_gone() {
    let sb = Sandbox::new();
    sb.write(
        "services/web.yml",
        "cmd: [sh, -c, 'echo first; printf bye; exec sleep 1000']\n",
    );
    sb.write("services/db.yml", "cmd: [sleep, '1000']\n");
    let mut svc = Svc::start(&sb, &[], false, fast);
    wait_for(15.0, "web's first line", || svc.stdout().contains("web | first\n"));
    assert!(!svc.stdout().contains("bye"), "no line before its newline");
    fs::remove_file(sb.path("services/web.yml")).unwrap();
    // Halted and forgotten: its pipe's end makes the rest a line, while
    // immortalsvc runs on.
    wait_for(15.0, "web's unfinished line", || svc.stdout().contains("web | bye\n"));
    assert!(
        svc.stderr().contains("immortalsvc: web: supervisor ended"),
        "{}",
        svc.stderr()
    );
    assert!(
        svc.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "immortalsvc runs"
    );
    assert_eq!(svc.stop(20.0), Some(0), "{}", svc.stderr());
    assert_eq!(svc.stdout(), "web | first\nweb | bye\n");
}

#[test]
fn a_supervisor_killed_loses_no_line_of_its_service() {
    let sb = Sandbox::new();
    sb.write(
        "services/tick.yml",
        "cmd: [sh, -c, 'i=0; while :; do echo \"tick $i\"; i=$((i+1)); sleep 0.005; done']\n",
    );
    let mut svc = Svc::start(&sb, &[], false, fast);
    let ticks = |svc: &Svc| svc.stdout().lines().count();
    wait_for(15.0, "ticks", || ticks(&svc) >= 20);
    let sock = sb.path("sdir/tick/immortal.sock");
    let service = immortal::client::status(&sock).unwrap()["pid"].as_i64().unwrap() as i32;
    let stat = fs::read_to_string(format!("/proc/{service}/stat")).unwrap();
    let supervisor: i32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    kill(Pid::from_raw(supervisor), Signal::SIGKILL).unwrap();
    // A new supervisor adopts the same service; the ticks go on.
    wait_for(15.0, "a new supervisor", || {
        svc.stderr().matches("immortalsvc: tick: supervisor started").count() == 2
    });
    wait_for(15.0, "the service adopted", || {
        immortal::client::status(&sock).is_ok_and(|st| st["pid"].as_i64() == Some(i64::from(service)))
    });
    let at_kill = ticks(&svc);
    wait_for(15.0, "more ticks", || ticks(&svc) >= at_kill + 50);
    assert_eq!(svc.stop(20.0), Some(0), "{}", svc.stderr());
    for (i, line) in svc.stdout().lines().enumerate() {
        assert_eq!(line, format!("tick | tick {i}"), "every tick once, in order");
    }
}

#[test]
fn a_supervisor_s_message_never_cuts_a_line_its_service_has_begun() {
    let sb = Sandbox::new();
    let (partial, finished) = (sb.path("partial"), sb.path("finished"));
    let script = format!(
        "trap 'echo \" and done\" >&2; : > {finished}' USR1; printf begun >&2; : > {partial}; \
         while :; do sleep 0.05 & wait $!; done",
        finished = finished.display(),
        partial = partial.display()
    );
    sb.write("services/web.yml", &format!("cmd: [sh, -c, {}]\n", yaml_quote(&script)));
    let mut svc = Svc::start(&sb, &[], false, fast);
    wait_for(15.0, "the service's begun line", || partial.exists());
    // The supervisor says what it was asked (a line of its own on its
    // stderr) while its service's stderr holds an unfinished line.
    let sock = sb.path("sdir/web/immortal.sock");
    immortal::client::get(&sock, "/signal/usr1").unwrap();
    wait_for(15.0, "the service's line finished", || finished.exists());
    wait_for(15.0, "both lines", || {
        svc.stderr().contains("web | begun and done\n") && svc.stderr().contains("usr1 by uid")
    });
    assert_eq!(svc.stop(20.0), Some(0), "{}", svc.stderr());
    let err = svc.stderr();
    let said: Vec<&str> = err.lines().filter(|l| l.contains("usr1 by uid")).collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(said[0].starts_with("web | immortal: "), "{err}");
}

#[test]
fn an_unknown_format_is_refused() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.path("services")).unwrap();
    let out = Command::new(SVC)
        .args(["-o", "xml"])
        .arg(sb.path("services"))
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad arguments") && err.contains("-o FORMAT"), "{err}");
}
