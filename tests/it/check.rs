//! `immortal -check FILE|DIR` and `immortalsvc -check DIR`: each kind of
//! problem is found, named with its file and line, all of them at once;
//! exit 1 with any, 0 with none. Nothing is started: the checks run to
//! completion under a deadline and leave no supervise directory behind.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const IMMORTALSVC: &str = env!("CARGO_BIN_EXE_immortalsvc");

/// The outcome of a check: exit code, stdout, stderr.
struct Checked {
    code: i32,
    stdout: String,
    stderr: String,
    shown: String,
}

impl Checked {
    fn of(out: Output, shown: String) -> Checked {
        Checked {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            shown,
        }
    }

    /// Failed, and a line of stderr starts with `start` and holds `has`.
    fn problem(&self, start: &str, has: &str) -> &Checked {
        assert_eq!(self.code, 1, "{self}");
        assert!(
            self.stderr.lines().any(|l| l.starts_with(start) && l.contains(has)),
            "no problem line '{start}…{has}…' in:\n{self}"
        );
        self
    }

    fn ok(&self) -> &Checked {
        assert!(
            self.code == 0 && self.stdout.starts_with("ok: ") && self.stderr.is_empty(),
            "{self}"
        );
        self
    }

    /// The problem lines (the summary line left out).
    fn problems(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.starts_with("immortal")).collect()
    }
}

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: exit {}\nstdout:\n{}stderr:\n{}",
            self.shown, self.code, self.stdout, self.stderr
        )
    }
}

/// Run `cmd` to its end (20 s at most), in the sandbox.
fn finish(mut cmd: Command) -> Checked {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{shown}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{shown} did not exit: {:?}", child.wait_with_output());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Checked::of(child.wait_with_output().unwrap(), shown)
}

/// `immortal -check TARGET` (relative to the sandbox), in the sandbox.
fn check(sb: &Sandbox, target: &str) -> Checked {
    let checked = finish(sb.command(&["-check", target]));
    assert!(!sb.path("sdir").exists(), "a check made a supervise directory");
    checked
}

/// `immortalsvc -check DIR`, in the sandbox's environment.
fn check_dir(sb: &Sandbox, dir: &str) -> Checked {
    let mut cmd = Command::new(IMMORTALSVC);
    cmd.args(["-check", dir])
        .current_dir(sb.path(""))
        .env("HOME", sb.path("home"))
        .env("IMMORTAL_SDIR", sb.path("sdir"));
    let checked = finish(cmd);
    assert!(!sb.path("sdir").exists(), "a check made a supervise directory");
    checked
}

#[test]
fn a_good_file_and_a_good_services_directory_pass() {
    let sb = Sandbox::new();
    sb.write("logs/.keep", "");
    sb.write(
        "svc/web.yml",
        "cmd: sleep 100\ncwd: /tmp\nlog:\n  file: logs/web.log\nrequire: [queue]\n",
    );
    sb.script("svc/queue/run", "#!/bin/sh\nexec sleep 100\n");
    sb.script("svc/queue/log/run", "#!/bin/sh\nexec cat\n");
    sb.write("svc/queue/notification-fd", "3\n");
    let got = check(&sb, "svc/web.yml");
    got.ok();
    assert_eq!(got.stdout, "ok: svc/web.yml\n");
    check(&sb, "svc/queue").ok();
    let got = check_dir(&sb, "svc");
    assert_eq!(got.ok().stdout, "ok: 2 services in svc\n");
}

#[test]
fn broken_yaml_is_named_with_its_line() {
    let sb = Sandbox::new();
    sb.write("web.yml", "cmd: sleep 1\nenv: {A: 1\nwait: 2\n");
    check(&sb, "web.yml").problem("web.yml:3: ", "");
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let sb = Sandbox::new();
    sb.write("web.yml", "cmd: sleep 1\nwait: 1\ncmdd: nginx\n");
    check(&sb, "web.yml").problem("web.yml:3: ", "unknown field `cmdd`");
}

#[test]
fn an_unknown_user_is_named() {
    let sb = Sandbox::new();
    sb.write("web.yml", "cmd: sleep 1\nuser: no-such-user-xyz\n");
    check(&sb, "web.yml").problem("web.yml:2: ", "user 'no-such-user-xyz' does not exist");
}

#[test]
fn a_cmd_not_in_the_services_path_is_named_with_that_path() {
    let sb = Sandbox::new();
    sb.write("web.yml", "wait: 1\ncmd: nginxx-no-such-program -g off\n");
    check(&sb, "web.yml").problem("web.yml:2: ", "cmd 'nginxx-no-such-program' not found in PATH (");
    // The service's own PATH is where it is looked for.
    sb.write("web.yml", "cmd: sleep 1\nenv: {PATH: /nonexistent-dir}\n");
    check(&sb, "web.yml").problem("web.yml:1: ", "cmd 'sleep' not found in PATH (/nonexistent-dir)");
    sb.write("web.yml", "cmd: sleep 1\n");
    check(&sb, "web.yml").ok();
}

/// A Go user's `cmd` passes (split at blanks, as the Go immortal splits
/// it); where a shell would split it otherwise, a warning says both.
#[test]
fn a_cmd_with_quotes_passes_with_a_warning_naming_its_line() {
    let sb = Sandbox::new();
    sb.write("web.yml", "wait: 1\ncmd: /bin/echo it's fine\n");
    let got = check(&sb, "web.yml");
    assert!(got.code == 0 && got.stdout == "ok: web.yml\n", "{got}");
    assert_eq!(got.stderr.lines().count(), 1, "{got}");
    assert!(
        got.stderr
            .starts_with("web.yml:2: warning: cmd is split at blanks only")
            && got.stderr.contains("`/bin/echo` `it's` `fine`")
            && got.stderr.contains("a shell would refuse"),
        "{got}"
    );
    sb.write("web.yml", "cmd: sh -c \"sleep 1\"\n");
    let got = check(&sb, "web.yml");
    assert!(got.code == 0, "{got}");
    assert!(
        got.stderr.starts_with("web.yml:1: warning: ")
            && got.stderr.contains("`sh` `-c` `\"sleep` `1\"`")
            && got.stderr.contains("a shell would pass `sh` `-c` `sleep 1`"),
        "{got}"
    );
    // A warning does not hide a problem, nor turn it into one.
    sb.write("web.yml", "cmd: sh -c 'sleep 1'\nuser: no-such-user-xyz\n");
    let got = check(&sb, "web.yml");
    got.problem("web.yml:2: ", "user 'no-such-user-xyz' does not exist");
    assert!(got.stderr.contains("immortal: 1 problem in web.yml"), "{got}");
    assert!(
        got.stderr.lines().any(|l| l.starts_with("web.yml:1: warning: ")),
        "{got}"
    );
    sb.write("web.yml", "cmd: [sh, -c, \"sleep 1\"]\n");
    check(&sb, "web.yml").ok();
}

#[test]
fn a_cmd_that_is_not_executable_is_named() {
    let sb = Sandbox::new();
    sb.write("app/server", "#!/bin/sh\n");
    sb.write("web.yml", "cmd: ./server --port 80\ncwd: app\n");
    check(&sb, "web.yml").problem("web.yml:1: ", "is not executable");
    // Found in PATH but not executable: named with where it was found.
    sb.write("web.yml", "cmd: server\nenv: {PATH: app}\n");
    check(&sb, "web.yml").problem("web.yml:1: ", "app/server is not executable");
    std::fs::set_permissions(sb.path("app/server"), std::fs::Permissions::from_mode(0o755)).unwrap();
    check(&sb, "web.yml").ok();
}

#[test]
fn a_missing_cwd_is_named() {
    let sb = Sandbox::new();
    sb.write("web.yml", "cmd: sleep 1\ncwd: /nonexistent-cwd-xyz\n");
    check(&sb, "web.yml").problem("web.yml:2: ", "cwd '/nonexistent-cwd-xyz' does not exist");
    sb.write("plain", "");
    sb.write("web.yml", "cmd: sleep 1\ncwd: plain\n");
    check(&sb, "web.yml").problem("web.yml:2: ", "cwd 'plain' is not a directory");
}

/// The supervisor opens the log itself: its directory must be writable by
/// whoever runs the supervisor, checked from the mode bits for that user.
/// Root may write a directory of root's with mode 0755, `nobody` may not.
#[test]
fn a_log_directory_the_supervisor_cannot_write_is_named() {
    let sb = Sandbox::new();
    let nobody = immortal::user::resolve("nobody").expect("this test needs the user nobody");
    // nobody reads the sandbox; logs/ stays root's, 0755.
    std::fs::set_permissions(sb.path(""), std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.write("logs/.keep", "");
    std::fs::set_permissions(sb.path("logs"), std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.write(
        "web.yml",
        "cmd: sleep 1\nlog:\n  file: logs/web.log\nstderr: {file: /nonexistent-log-dir/e.log}\n",
    );
    // nobody runs a copy it can reach wherever the checkout is.
    let immortal = reachable_copy(IMMORTAL);
    let as_nobody = |sb: &Sandbox| {
        let mut cmd = sb.command_of(immortal.path(), &["-check", "web.yml"]);
        cmd.uid(nobody.uid.as_raw()).gid(nobody.gid.as_raw());
        finish(cmd)
    };
    let got = as_nobody(&sb);
    got.problem(
        "web.yml:3: ",
        "log: file 'logs/web.log': directory 'logs' is not writable by user 'nobody'",
    )
    .problem("web.yml:4: ", "directory '/nonexistent-log-dir' does not exist");
    // As root only the missing directory is a problem, even for a service
    // run as nobody: the file is the supervisor's to write, not nobody's.
    sb.write(
        "web.yml",
        "cmd: sleep 1\nuser: nobody\nlog:\n  file: logs/web.log\nstderr: {file: /nonexistent-log-dir/e.log}\n",
    );
    let got = check(&sb, "web.yml");
    assert_eq!(got.problems().len(), 1, "{got}");
    got.problem("web.yml:5: ", "/nonexistent-log-dir");
    // And a supervisor that is not root cannot run a service as root.
    sb.write("web.yml", "cmd: sleep 1\nuser: root\n");
    as_nobody(&sb).problem("web.yml:2: ", "only root can run a service as another user");
    // Given to nobody, the directory is fine for nobody too.
    nix::unistd::chown(&sb.path("logs"), Some(nobody.uid), None).unwrap();
    sb.write("web.yml", "cmd: sleep 1\nlog:\n  file: logs/web.log\n");
    as_nobody(&sb).ok();
}

#[test]
fn a_required_service_that_does_not_exist_is_named() {
    let sb = Sandbox::new();
    sb.write("svc/web.yml", "cmd: sleep 1\nrequire:\n  - db\n  - ghost\n");
    sb.write("svc/db.yml", "cmd: sleep 1\n");
    let got = check_dir(&sb, "svc");
    got.problem("svc/web.yml:4: ", "require 'ghost': no such service in svc");
    assert_eq!(got.problems().len(), 1, "{got}");
    // One file: a service beside it, or a supervise directory, exists.
    check(&sb, "svc/web.yml").problem("svc/web.yml:4: ", "require 'ghost'");
    std::fs::create_dir_all(sb.path("sdir-elsewhere/ghost")).unwrap();
    let mut cmd = sb.command(&["-check", "svc/web.yml"]);
    cmd.env("IMMORTAL_SDIR", sb.path("sdir-elsewhere"));
    finish(cmd).ok();
}

#[test]
fn a_require_cycle_is_named() {
    let sb = Sandbox::new();
    sb.write("svc/a.yml", "cmd: sleep 1\nrequire: [b]\n");
    sb.write("svc/b.yml", "cmd: sleep 1\nrequire: [c]\n");
    sb.write("svc/c.yml", "cmd: sleep 1\nwait: 1\nrequire: [a]\n");
    sb.write("svc/d.yml", "cmd: sleep 1\nrequire: [a]\n");
    let got = check_dir(&sb, "svc");
    got.problem("svc/a.yml:2: ", "require cycle: a -> b -> c -> a");
    // Told once, and d (waiting on the cycle, in none) is not in one.
    assert_eq!(got.problems().len(), 1, "{got}");
    check(&sb, "svc/c.yml").problem("svc/c.yml:3: ", "require cycle: c -> a -> b -> c");
    // -cc, which immortalsvc validates each file with, refuses it too.
    let out = sb.run(&["-c", "svc/b.yml", "-cc"]);
    let err = stderr_of(&out);
    assert!(
        out.status.code() == Some(1) && err.contains("svc/b.yml:2: require cycle: b -> c -> a -> b"),
        "{err}"
    );
    let out = sb.run(&["-c", "svc/d.yml", "-cc"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn several_problems_in_one_file_are_all_listed() {
    let sb = Sandbox::new();
    sb.write(
        "web.yml",
        "cmd: nginxx-no-such-program\ncwd: /nonexistent-cwd-xyz\nuser: no-such-user-xyz\ncmdd: 1\nwait: soon\n\
         log:\n  file: /nonexistent-log-dir/web.log\nretries: -5\nstop:\n  signal: BOGUS\n",
    );
    let got = check(&sb, "web.yml");
    for (line, has) in [
        (1, "cmd 'nginxx-no-such-program' not found in PATH"),
        (2, "cwd '/nonexistent-cwd-xyz' does not exist"),
        (3, "user 'no-such-user-xyz' does not exist"),
        (4, "unknown field `cmdd`"),
        (5, "wait"),
        (7, "directory '/nonexistent-log-dir' does not exist"),
        (8, "retries must be -1"),
        (10, "unknown signal 'BOGUS'"),
    ] {
        got.problem(&format!("web.yml:{line}: "), has);
    }
    assert_eq!(got.problems().len(), 8, "{got}");
    assert!(got.stderr.ends_with("immortal: 8 problems in web.yml\n"), "{got}");
}

#[test]
fn a_service_directory_with_a_run_that_is_not_executable_is_named() {
    let sb = Sandbox::new();
    sb.write("queue/run", "#!/bin/sh\nexec sleep 100\n");
    sb.write("queue/finish", "#!/bin/sh\n");
    sb.write("queue/notification-fd", "three\n");
    sb.write("queue/down-signal", "BOGUS\n");
    sb.write("queue/log/run", "#!/bin/sh\nexec cat\n");
    let got = check(&sb, "queue");
    got.problem("queue/run: ", "is not executable")
        .problem("queue/finish: ", "is not executable")
        .problem("queue/notification-fd:1: ", "not a file descriptor number: 'three'")
        .problem("queue/down-signal: ", "unknown signal 'BOGUS'")
        .problem("queue/log/run: ", "is not executable");
    assert_eq!(got.problems().len(), 5, "{got}");
    // immortalsvc would skip it in silence: its check says so.
    sb.write("svc/web.yml", "cmd: sleep 1\n");
    sb.write("svc/lazy/run", "#!/bin/sh\n");
    check_dir(&sb, "svc").problem("svc/lazy/run: ", "not executable: immortalsvc does not start");
    // A directory that is no service directory is told so.
    check(&sb, "svc").problem("svc: ", "not a service directory");
}

#[test]
fn limits_that_cannot_be_applied_are_named_with_their_line() {
    let sb = Sandbox::new();
    // No system lets even root raise nofile beyond fs.nr_open, and no
    // user else above its hard limit.
    sb.write(
        "web.yml",
        "cmd: sleep 100\nlimits:\n  core: 0\n  nofile: unlimited\nnice: 5\numask: \"027\"\n",
    );
    let got = check(&sb, "web.yml");
    got.problem("web.yml:4: ", "limits: nofile: ");
    assert_eq!(got.problems().len(), 1, "{got}");
    // A bad value and an unknown limit: each at its line, with the rest.
    sb.write(
        "bad.yml",
        "cmd: sleep 100\nnice: 40\nlimits:\n  nofiles: 1\ncwd: /nonexistent\n",
    );
    let got = check(&sb, "bad.yml");
    got.problem("bad.yml:2: ", "nice must be -20 to 19")
        .problem("bad.yml:4: ", "limits: unknown limit 'nofiles'")
        .problem("bad.yml:5: ", "cwd '/nonexistent' does not exist");
    // cgroup limits are checked against this host's hierarchies.
    sb.write("cg.yml", "cmd: sleep 100\ncgroup:\n  pids: 10\n");
    let hier = immortal::cgroup::Hierarchies::discover();
    let got = check(&sb, "cg.yml");
    if !caps().cgroups {
        // A system without cgroups says so at the key.
        got.problem("cg.yml:2: ", "cgroup: not available on ");
        return;
    }
    match hier.check(&immortal::limits::CgroupLimits {
        pids: Some(10),
        ..Default::default()
    }) {
        None => {
            got.ok();
        }
        Some(_) => {
            got.problem("cg.yml:3: ", "cgroup: pids: ");
        }
    }
}

#[test]
fn a_socket_mode_or_group_that_cannot_be_applied_is_a_problem_at_its_line() {
    let sb = Sandbox::new();
    sb.write(
        "web.yml",
        "cmd: sleep 1\nsocket:\n  mode: 0999\n  group: no-such-group-xyz\n",
    );
    let c = check(&sb, "web.yml");
    c.problem(
        "web.yml:3: ",
        "socket: mode must be octal permissions like 0660, not '0999'",
    );
    c.problem("web.yml:4: ", "socket: group: group 'no-such-group-xyz' does not exist");
    sb.write("web.yml", "cmd: sleep 1\nsocket:\n  mode: 0666\n  group: daemon\n");
    check(&sb, "web.yml").ok();
}

#[test]
fn a_service_that_requires_one_that_can_never_start_is_named() {
    let sb = Sandbox::new();
    sb.write("svc/nocmd.yml", "wait: 1\n");
    sb.write("svc/app.yml", "cmd: sleep 1\nrequire: [nocmd]\n");
    sb.write("svc/web.yml", "cmd: sleep 1\nrequire:\n  - db\n  - app\n");
    sb.write("svc/db.yml", "cmd: sleep 1\n");
    let got = check_dir(&sb, "svc");
    got.problem("svc/nocmd.yml: ", "missing key 'cmd'")
        .problem(
            "svc/app.yml:2: ",
            "require 'nocmd': nocmd.yml is invalid, so app can never start",
        )
        .problem(
            "svc/web.yml:4: ",
            "require 'app': app can never start (nocmd.yml is invalid), so neither can web",
        );
    assert_eq!(got.problems().len(), 3, "{got}");
}

/// `env_file:`: read as a start reads it; a problem inside one is told at
/// its own file and line, a missing one at the run.yml's line; `-PATH`
/// may be missing.
#[test]
fn env_files_are_read_and_their_problems_named_with_file_and_line() {
    let sb = Sandbox::new();
    sb.write("good.env", "# ok\nexport A=1\nB=\"two words\"\n");
    sb.write("bad.env", "A=1\n\nnot a variable\n");
    sb.write(
        "web.yml",
        "cmd: sleep 1\nenv_file:\n  - good.env\n  - -absent.env\n  - bad.env\n  - gone.env\n",
    );
    let got = check(&sb, "web.yml");
    got.problem("bad.env:3: ", "missing '='")
        .problem("web.yml:6: ", "env_file ")
        .problem("web.yml:6: ", "gone.env: unable to read: No such file");
    assert_eq!(got.problems().len(), 2, "{got}");
    sb.write("web.yml", "cmd: sleep 1\nenv_file: [good.env, -absent.env]\n");
    check(&sb, "web.yml").ok();
}
