//! Test harness: a sandbox directory per test, the real `immortal` binary,
//! deadlines instead of sleeps, and cleanup of every process by pid.

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const IMMORTAL: &str = env!("CARGO_BIN_EXE_immortal");
pub const CTL: &str = env!("CARGO_BIN_EXE_immortalctl");

/// What the system offers the binaries (`IMMORTAL_PORTABLE=1` in the
/// environment switches Linux to the paths other systems take: the suite
/// runs that way too, see scripts/test).
pub fn caps() -> immortal::sys::system::Capabilities {
    immortal::sys::system::capabilities()
}

/// Whether a test that needs `what` skips: the system (or
/// `IMMORTAL_PORTABLE=1`) lacks it. Says so on stderr, and in the file
/// `$IMMORTAL_TEST_SKIPS` names (scripts/test counts them).
pub fn lacks(have: bool, what: &str) -> bool {
    if !have {
        let line = format!("skipped: needs {what}, not available on {}", caps().system);
        eprintln!("{line}");
        if let Some(path) = std::env::var_os("IMMORTAL_TEST_SKIPS") {
            use std::io::Write;
            if let Ok(mut f) = fs::OpenOptions::new().append(true).create(true).open(path) {
                let _ = writeln!(f, "{line}");
            }
        }
    }
    !have
}

/// Poll `cond` every 20 ms until it holds or `secs` pass.
pub fn wait_for(secs: f64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {secs}s waiting for: {what}");
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::Builder::new().prefix("immortal-test-").tempdir().unwrap(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, text).unwrap();
        p
    }

    /// Write an executable script.
    pub fn script(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.write(rel, text);
        fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// `immortal` with a clean, sandboxed environment.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(Path::new(IMMORTAL), args)
    }

    /// `program` (an `immortal`, e.g. a [`reachable_copy`]) with the
    /// clean, sandboxed environment of [`Sandbox::command`].
    ///
    /// It starts with SIGINT and SIGQUIT at their defaults, as an init
    /// system would start it: a test run started as a background job of a
    /// script (`.ci/run &`, `cargo test … &`) has both ignored, the
    /// supervisor hands the dispositions it found on to its services (as
    /// runsv does), and a shell service could then not trap them.
    pub fn command_of(&self, program: &Path, args: &[&str]) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.path("home"))
            .env("IMMORTAL_SDIR", self.path("sdir"))
            .env_remove("IMMORTAL_EXIT")
            .stdin(Stdio::null());
        // SAFETY: between fork and exec, only signal(2), which is
        // async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                for sig in [libc::SIGINT, libc::SIGQUIT] {
                    if libc::signal(sig, libc::SIG_DFL) == libc::SIG_ERR {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        cmd
    }

    /// Run `immortal` to completion (for commands that exit by themselves).
    pub fn run(&self, args: &[&str]) -> Output {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if child.try_wait().unwrap().is_some() {
                return child.wait_with_output().unwrap();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("immortal {args:?} did not exit: {:?}", child.wait_with_output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start a foreground supervisor with `-n -ctl SANDBOX/sv` plus `args`.
    pub fn supervise(&self, args: &[&str]) -> Supervisor {
        self.supervise_in("sv", args)
    }

    pub fn supervise_in(&self, ctl: &str, args: &[&str]) -> Supervisor {
        let dir = self.path(ctl);
        let mut full = vec!["-n", "-ctl", dir.to_str().unwrap()];
        full.extend_from_slice(args);
        Supervisor::spawn(self.command(&full), dir, self.path(&format!("{ctl}.stderr")))
    }
}

/// Start `immortal DIR` (foreground, runsv-like) and wait for its socket.
pub fn supervise_dir(sb: &Sandbox, dir: &Path) -> Supervisor {
    let cmd = sb.command(&[dir.to_str().unwrap()]);
    Supervisor::spawn(cmd, dir.join("supervise"), sb.path("supervisor.err"))
}

/// A running supervisor, stopped (with its whole service group) on drop.
pub struct Supervisor {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub stderr: PathBuf,
    pub pids: Vec<i32>,
}

impl Supervisor {
    pub fn spawn(mut cmd: Command, dir: PathBuf, stderr: PathBuf) -> Supervisor {
        let err = fs::File::create(&stderr).unwrap();
        let child = cmd.stdout(Stdio::null()).stderr(err).spawn().unwrap();
        let mut sup = Supervisor {
            child: Some(child),
            dir,
            stderr,
            pids: Vec::new(),
        };
        sup.wait_socket();
        sup
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.join("immortal.sock")
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    fn wait_socket(&mut self) {
        let sock = self.sock();
        let stderr = self.stderr.clone();
        let child = self.child.as_mut().unwrap();
        wait_for(10.0, "the socket answers", || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "immortal exited early ({status}): {}",
                    fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            immortal::client::status(&sock).is_ok()
        });
    }

    pub fn status(&self) -> Value {
        immortal::client::status(&self.sock()).unwrap_or_else(|e| panic!("status: {e}\n{}", self.log()))
    }

    /// `GET /signal/NAME`; returns the `Err` text.
    pub fn signal(&self, name: &str) -> String {
        let (code, body) = immortal::client::get(&self.sock(), &format!("/signal/{name}")).unwrap();
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["Err"].as_str().unwrap().to_string()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// `GET /history`: the last exits, newest first.
    pub fn history(&self) -> Vec<Value> {
        let (code, body) = immortal::client::get(&self.sock(), "/history").unwrap();
        assert_eq!(code, 200, "{body}");
        match serde_json::from_str::<Value>(&body) {
            Ok(Value::Array(entries)) => entries,
            other => panic!("/history: {other:?}"),
        }
    }

    /// Wait for the service to run (with a new pid if `not` is given).
    pub fn wait_running(&mut self, not: Option<i64>) -> i64 {
        let mut pid = 0;
        wait_for(10.0, "the service runs", || {
            let st = self.status();
            pid = st["pid"].as_i64().unwrap_or(0);
            st["state"] == "run" && pid > 0 && Some(pid) != not
        });
        self.pids.push(pid as i32);
        pid
    }

    /// `wait_for`, with this supervisor's log in the failure message.
    pub fn wait_for(&self, secs: f64, what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        while Instant::now() < deadline {
            if cond() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let ps = std::process::Command::new("ps")
            .args(["-eo", "pid,ppid,pgid,stat,wchan:24,cmd"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        panic!(
            "timed out after {secs}s waiting for: {what}\nsupervisor log:\n{}\nprocesses:\n{ps}",
            self.log()
        );
    }

    pub fn wait_state(&self, state: &str) -> Value {
        let mut last = Value::Null;
        wait_for(15.0, &format!("state {state}"), || {
            last = self.status();
            last["state"] == state
        });
        last
    }

    /// Wait for the supervisor process to exit; returns its exit code.
    pub fn wait_exit(&mut self, secs: f64) -> i32 {
        let mut child = self.child.take().expect("supervisor already reaped");
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                self.child = Some(child);
                panic!("supervisor did not exit within {secs}s\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for &p in &self.pids {
            let _ = killpg(Pid::from_raw(p), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
}

/// A copy of one of our binaries that any user may run, for a test that
/// runs it as another user: the checkout (and so `target/`) may sit under
/// a directory only its owner can enter, such as a home directory of mode
/// 0700 or a `mktemp -d`. The copy is in a fresh directory of mode 0755
/// under /tmp, removed when the copy is dropped. It is made by `cp`, not by
/// this process: a file this process had open for writing could be
/// inherited by a child another test thread forks at that moment, and
/// executing the copy would then fail with ETXTBSY.
pub struct ReachableCopy {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl ReachableCopy {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

pub fn reachable_copy(bin: &str) -> ReachableCopy {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("immortal-bin-")
        .tempdir_in("/tmp")
        .unwrap_or_else(|e| panic!("a directory under /tmp for a copy of {bin}: {e}"));
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let name = Path::new(bin)
        .file_name()
        .unwrap_or_else(|| panic!("{bin}: no file name"));
    let path = dir.path().join(name);
    let out = Command::new("cp")
        .arg(bin)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cp {bin} {}: {e}", path.display()));
    assert!(out.status.success(), "cp {bin} {}: {}", path.display(), stderr_of(&out));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    ReachableCopy { _dir: dir, path }
}

/// A TCP port on 127.0.0.1 that nobody listens on (as of now).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Whether a process exists (and is not a zombie).
/// The processes whose parent is `pid`.
pub fn children_of(pid: i64) -> Vec<i64> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i64>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, r)| r.split_whitespace().nth(1) == Some(&pid.to_string()[..]))
                })
                .unwrap_or(false)
        })
        .collect()
}

pub fn alive(pid: i64) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// Processes whose process group is `pgid`.
pub fn group_members(pgid: i64) -> Vec<i64> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
        // fields[0] = state, [1] = ppid, [2] = pgrp
        if fields.get(2).and_then(|g| g.parse::<i64>().ok()) == Some(pgid) && fields[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}
