//! Resources and confinement: `limits:`, `nice`, `umask`, `no_new_privs`
//! applied to the service (and not to its logger), and the cgroup per
//! service — `down`, restarts and a new supervisor reach processes that
//! left the process group; `cgroup:` limits hold; an OOM kill is told;
//! nothing accumulates.
//!
//! Tests that need a writable cgroup hierarchy skip (saying so) without
//! one, except as root on a host that has cgroup v2 mounted: there a
//! hierarchy not found is a failure, not a skip (CI runs so).

use crate::common::*;
use immortal::cgroup::Hierarchies;
use std::fs;
use std::path::{Path, PathBuf};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The hierarchies, when they offer what the test needs (`v2`: a
/// writable v2 hierarchy; `controllers`: these limits, by v2 or v1).
fn hierarchies(test: &str, v2: bool, controllers: &[&str]) -> Option<Hierarchies> {
    if lacks(caps().cgroups, "cgroups") {
        return None;
    }
    let h = Hierarchies::discover();
    let has = |c: &str| h.v2_controllers.iter().any(|k| k == c) || h.v1.iter().any(|(k, _)| *k == c);
    let ok = (!v2 || h.v2.is_some()) && controllers.iter().all(|c| has(c));
    if ok {
        return Some(h);
    }
    let mounted = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if is_root() && mounted.contains(" - cgroup2 ") {
        panic!("{test}: root on a host with cgroup v2 mounted, yet no writable hierarchy with {controllers:?}: {h:?}");
    }
    eprintln!("{test}: skipped: no writable cgroup hierarchy (v2: {v2}, controllers {controllers:?})");
    None
}

/// The service's v2 cgroup, as its supervise directory records it.
fn cgroup_of(sup: &Supervisor) -> PathBuf {
    let record = fs::read_to_string(sup.dir.join("cgroup")).unwrap_or_default();
    let line = record
        .lines()
        .find_map(|l| l.strip_prefix("unified "))
        .unwrap_or_else(|| panic!("no v2 cgroup recorded: {record:?}\n{}", sup.log()));
    PathBuf::from(line)
}

/// The inode of a cgroup directory: parallel tests reuse a freed name, so
/// "removed" is "no longer this directory".
fn inode(dir: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(dir).ok().map(|m| m.ino())
}

fn procs(cgroup: &Path) -> Vec<i64> {
    fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

/// Field `n` (0-based after the command name) of /proc/PID/stat.
fn stat_field(pid: i64, n: usize) -> String {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    rest.split_whitespace().nth(n).unwrap_or("").to_string()
}

/// The pid a service wrote to `rel` in the sandbox.
fn pid_in(sb: &Sandbox, sup: &Supervisor, rel: &str) -> i64 {
    let mut pid = 0;
    sup.wait_for(10.0, &format!("{rel} holds a pid"), || {
        pid = sb
            .read(rel)
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0);
        pid > 0
    });
    pid
}

fn escaping_service(sb: &Sandbox, extra: &str) -> PathBuf {
    let cwd = sb.dir.path().display();
    sb.write(
        "run.yml",
        &format!(
            "cmd: [sh, -c, 'setsid sleep 1000 & echo $! > escaped; exec sleep 1001']\ncwd: {cwd}\nstop: {{timeout: 5}}\n{extra}"
        ),
    )
}

#[test]
fn an_escaped_process_is_gone_when_down_completes() {
    if hierarchies("escaped_down", true, &[]).is_none() {
        return;
    }
    let sb = Sandbox::new();
    let yml = escaping_service(&sb, "");
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    let main = sup.wait_running(None);
    let escaped = pid_in(&sb, &sup, "escaped");
    sup.pids.push(escaped as i32);
    // It left the service's session and process group. `$!` is written
    // before the child has run setsid, so wait until it leads a session.
    sup.wait_for(10.0, "the escaped process leads its own session", || {
        stat_field(escaped, 3) == escaped.to_string()
    });
    assert_ne!(stat_field(escaped, 2), main.to_string(), "not escaped: group");
    let cgroup = cgroup_of(&sup);
    assert!(procs(&cgroup).contains(&escaped), "{:?}", procs(&cgroup));
    // cgroup.events is polled as an open file: inotify instances are
    // limited per user (128), and a thousand supervisors each took one.
    let inotify = fs::read_dir(format!("/proc/{}/fd", sup.pid()))
        .unwrap()
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .filter(|l| l.to_string_lossy().contains("inotify"))
        .count();
    assert_eq!(inotify, 0, "a confined supervisor holds an inotify instance");
    assert_eq!(sup.signal("down"), "");
    sup.wait_state("down");
    // Down means gone: no waiting after the state says so.
    assert!(!alive(escaped), "the escaped process survived down");
    assert!(!alive(main));
    assert_eq!(procs(&cgroup), Vec::<i64>::new());
}

#[test]
fn kill_at_the_deadline_reaches_an_escaped_process_ignoring_term() {
    if hierarchies("escaped_kill", true, &[]).is_none() {
        return;
    }
    let sb = Sandbox::new();
    sb.script(
        "stubborn",
        "#!/bin/sh\ntrap '' TERM\necho $$ > stubborn.pid\nwhile :; do sleep 1; done\n",
    );
    let cwd = sb.dir.path().display();
    let yml = sb.write(
        "run.yml",
        &format!("cmd: [sh, -c, 'setsid ./stubborn & exec sleep 1001']\ncwd: {cwd}\nstop: {{timeout: 1}}\n"),
    );
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    sup.wait_running(None);
    let stubborn = pid_in(&sb, &sup, "stubborn.pid");
    sup.pids.push(stubborn as i32);
    let cgroup = cgroup_of(&sup);
    assert_eq!(sup.signal("down"), "");
    sup.wait_state("down");
    assert!(!alive(stubborn), "the TERM-ignoring escaped process survived");
    assert_eq!(procs(&cgroup), Vec::<i64>::new());
    assert!(sup.log().contains("stop timeout: sending KILL"), "{}", sup.log());
}

#[test]
fn leftovers_of_an_exited_service_are_stopped_before_it_starts_again() {
    if hierarchies("leftovers", true, &[]).is_none() {
        return;
    }
    let sb = Sandbox::new();
    let cwd = sb.dir.path().display();
    // The main process ends at once, leaving an escaped child behind.
    let yml = sb.write(
        "run.yml",
        &format!("cmd: [sh, -c, 'setsid sleep 1000 & echo $! >> escaped']\ncwd: {cwd}\n"),
    );
    let sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    pid_in(&sb, &sup, "escaped");
    let first: i64 = sb
        .read("escaped")
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    sup.wait_for(10.0, "a second start", || sb.read("escaped").lines().count() >= 2);
    assert!(!alive(first), "the first run's escaped process outlived the restart");
    assert!(sup.log().contains("outlived its main process"), "{}", sup.log());
    let pids: Vec<i64> = sb.read("escaped").lines().filter_map(|l| l.parse().ok()).collect();
    let mut sup = sup;
    sup.pids.extend(pids.iter().map(|&p| p as i32));
}

#[test]
fn a_new_supervisor_finds_the_cgroup_again_after_kill_9() {
    if hierarchies("adopt", true, &[]).is_none() {
        return;
    }
    let sb = Sandbox::new();
    let yml = escaping_service(&sb, "");
    let mut first = sb.supervise(&["-c", yml.to_str().unwrap()]);
    let main = first.wait_running(None);
    let escaped = pid_in(&sb, &first, "escaped");
    first.pids.push(escaped as i32);
    let cgroup = cgroup_of(&first);
    let made = inode(&cgroup);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.pid()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    first.wait_exit(10.0);
    let mut second = sb.supervise(&["-c", yml.to_str().unwrap()]);
    second.pids.extend([main as i32, escaped as i32]);
    assert_eq!(second.wait_running(None), main, "{}", second.log());
    assert_eq!(cgroup_of(&second), cgroup);
    assert_eq!(second.signal("down"), "");
    second.wait_state("down");
    assert!(
        !alive(escaped),
        "the escaped process survived the adopting supervisor's down"
    );
    assert!(!alive(main));
    assert_eq!(second.signal("halt"), "");
    assert_eq!(second.wait_exit(10.0), 0);
    assert_ne!(inode(&cgroup), made, "the cgroup outlived the supervisor");
    assert!(!second.dir.join("cgroup").exists());
}

#[test]
fn pids_limit_makes_the_sixth_fork_fail() {
    if hierarchies("pids", false, &["pids"]).is_none() {
        return;
    }
    let sb = Sandbox::new();
    // The supervisor's fork of the service is the first; four more
    // succeed, the sixth fails.
    let yml = sb.write(
        "run.yml",
        "cmd: [perl, -e, '$| = 1; for $n (2..6) { $p = fork; if (!defined $p) { print STDERR \"fork $n failed: $!\\n\"; last } if (!$p) { sleep 1000; exit } print STDERR \"fork $n ok\\n\" } sleep 1000']\ncgroup: {pids: 5}\n",
    );
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    let main = sup.wait_running(None);
    sup.wait_for(10.0, "the sixth fork fails", || sup.log().contains("fork 6 failed"));
    let log = sup.log();
    assert!(
        log.contains("fork 5 ok") && log.contains("fork 6 failed: Resource temporarily unavailable"),
        "{log}"
    );
    if Hierarchies::discover().v2.is_some() {
        assert_eq!(procs(&cgroup_of(&sup)).len(), 5, "{main}");
    }
    assert_eq!(sup.signal("down"), "");
    sup.wait_state("down");
}

#[test]
fn memory_limit_oom_kill_is_the_reason() {
    if hierarchies("memory", false, &["memory"]).is_none() {
        return;
    }
    let sb = Sandbox::new();
    let cwd = sb.dir.path().display();
    // It allocates once ./go exists, so the event reader is there first.
    let yml = sb.write(
        "run.yml",
        &format!(
            "cmd: [sh, -c, 'while [ ! -e go ]; do sleep 0.05; done; exec perl -e \"\\$x = q(x) x (100 * 1024 * 1024); sleep 1000\"']\ncwd: {cwd}\ncgroup: {{memory: 32M}}\nretries: 0\n"
        ),
    );
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    sup.wait_running(None);
    let mut events = immortal::client::EventStream::open(&sup.sock()).unwrap();
    sb.write("go", "");
    let seen = crate::observe::until(&mut events, 15.0, "exit", crate::observe::event_is("exit"));
    let exit = seen.last().unwrap();
    assert_eq!(exit["reason"], "killed by the OOM killer", "{exit}");
    assert!(
        sup.log().contains("ended: killed by KILL (killed by the OOM killer)"),
        "{}",
        sup.log()
    );
    // Retries used up: failed, and why.
    let st = sup.wait_state("failed");
    let reason = st["reason"].as_str().unwrap_or_default();
    assert!(reason.ends_with("last: killed by the OOM killer"), "{st}");
    let history = sup.history();
    assert_eq!(history[0]["reason"], "killed by the OOM killer", "{history:?}");
    assert_eq!(history[0]["signal"], "KILL", "{history:?}");
    let metrics = crate::observe::raw_get(&sup.sock(), "/metrics");
    let name = st["name"].as_str().unwrap_or_default().to_string();
    let series = format!("immortal_oom_kills_total{{service=\"{name}\"}}");
    assert_eq!(crate::observe::sample(&metrics, &series), Some(1.0), "{metrics}");
    assert_eq!(sup.signal("halt"), "");
    sup.wait_exit(10.0);
}

#[test]
fn limits_nice_umask_and_no_new_privs_apply_to_the_service_only() {
    if lacks(caps().no_new_privs, "no_new_privs") {
        return;
    }
    let sb = Sandbox::new();
    let yml = sb.write(
        "run.yml",
        "cmd: sleep 1000\nlimits: {nofile: \"1000:2000\", core: 0, stack: \"8388608:unlimited\"}\nnice: 7\numask: \"027\"\nno_new_privs: true\nlog: {file: out.log}\nlogger: exec sleep 1001\n",
    );
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    let pid = sup.wait_running(None);
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let row = |name: &str| -> Vec<String> {
        let line = limits.lines().find(|l| l.starts_with(name)).unwrap_or("");
        line[name.len()..].split_whitespace().map(String::from).collect()
    };
    assert_eq!(row("Max open files")[..2], ["1000", "2000"], "{limits}");
    assert_eq!(row("Max core file size")[..2], ["0", "0"], "{limits}");
    assert_eq!(row("Max stack size")[..2], ["8388608", "unlimited"], "{limits}");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("Umask:\t0027"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert_eq!(stat_field(pid, 16), "7", "nice");
    // The logger is the supervisor's other child (besides the holder of
    // the output pipes): not confined.
    let children = fs::read_to_string(format!("/proc/{0}/task/{0}/children", sup.pid())).unwrap_or_default();
    let holder = |p: i64| fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "immortal-hold");
    let logger: Vec<i64> = children
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|&p| p != pid && !holder(p))
        .collect();
    sup.pids.extend(logger.iter().map(|&p| p as i32));
    assert_eq!(logger.len(), 1, "{children}");
    let logger_status = fs::read_to_string(format!("/proc/{}/status", logger[0])).unwrap();
    assert!(logger_status.contains("NoNewPrivs:\t0"), "{logger_status}");
    assert_ne!(stat_field(logger[0], 16), "7", "the logger got the service's nice");
}

#[test]
fn a_limit_that_cannot_be_applied_is_named_at_start() {
    let sb = Sandbox::new();
    let yml = sb.write("run.yml", "cmd: sleep 1000\nlimits: {nofile: unlimited}\n");
    let out = sb.run(&[
        "-n",
        "-ctl",
        sb.path("sv").to_str().unwrap(),
        "-c",
        yml.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("limits: nofile: "), "{}", stderr_of(&out));
    let yml = sb.write("bad.yml", "cmd: sleep 1000\nlimits:\n  nofiles: 10\n");
    let out = sb.run(&["-c", yml.to_str().unwrap(), "-cc"]);
    assert!(
        stderr_of(&out).contains("bad.yml:3: limits: unknown limit 'nofiles'"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn cc_says_how_the_service_is_stopped() {
    let sb = Sandbox::new();
    let yml = sb.write("run.yml", "cmd: sleep 1000\n");
    let out = sb.run(&["-c", yml.to_str().unwrap(), "-cc"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let want = if Hierarchies::discover().v2.is_some() {
        "a cgroup of its own"
    } else {
        "its process group"
    };
    assert!(
        text.contains(&format!("# the service is stopped through {want}")),
        "{text}"
    );
}

#[test]
fn thousands_of_restarts_leave_one_cgroup_and_exit_leaves_none() {
    let Some(h) = hierarchies("restarts", true, &["pids"]) else {
        return;
    };
    let sb = Sandbox::new();
    // With a v1 limit too, so both kinds of cgroup are counted.
    let yml = sb.write("run.yml", "cmd: \"true\"\ncgroup: {pids: 10}\n");
    let mut cmd = sb.command(&[
        "-n",
        "-ctl",
        sb.path("sv").to_str().unwrap(),
        "-c",
        yml.to_str().unwrap(),
    ]);
    cmd.env("IMMORTAL_THROTTLE_MS", "0");
    let mut sup = Supervisor::spawn(cmd, sb.path("sv"), sb.path("sv.stderr"));
    let cgroup = cgroup_of(&sup);
    let made = inode(&cgroup);
    let parent = cgroup.parent().unwrap().to_path_buf();
    // Other tests' services share the parent: a bound, not an exact count.
    let cgroups = |dir: &Path| -> usize {
        fs::read_dir(dir)
            .map(|d| d.flatten().filter(|e| e.path().is_dir()).count())
            .unwrap_or(0)
    };
    let mut last = 0;
    // About 20 s alone on 2 cores (a debug build); room for a loaded
    // machine running the other tests beside it.
    sup.wait_for(240.0, "10000 restarts", || {
        let count = sup.status()["count"].as_u64().unwrap_or(0);
        if count / 1000 > last / 1000 {
            assert!(
                cgroups(&parent) <= 32,
                "{} cgroups after {count} starts",
                cgroups(&parent)
            );
            assert_eq!(cgroup_of(&sup), cgroup, "a new cgroup after {count} starts");
        }
        last = count;
        count >= 10_000
    });
    assert_eq!(sup.signal("halt"), "");
    let v1: Vec<(PathBuf, Option<u64>)> =
        h.v1.iter()
            .map(|(_, dir)| dir.join("immortal").join(cgroup.file_name().unwrap()))
            .map(|d| (d.clone(), inode(&d)))
            .collect();
    assert_eq!(sup.wait_exit(20.0), 0);
    assert_ne!(inode(&cgroup), made, "the cgroup outlived the supervisor");
    for (dir, made) in v1.iter().filter(|(_, made)| made.is_some()) {
        assert_ne!(inode(dir), *made, "{} outlived the supervisor", dir.display());
    }
}

#[test]
fn restart_applies_changed_limits() {
    let Some(h) = hierarchies("restart_limits", false, &["pids"]) else {
        return;
    };
    let sb = Sandbox::new();
    let yml = sb.write("run.yml", "cmd: sleep 1000\ncgroup: {pids: 5}\nlimits: {nofile: 100}\n");
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    let first = sup.wait_running(None);
    let record = fs::read_to_string(sup.dir.join("cgroup")).unwrap();
    // Where pids.max is: the v2 cgroup's with the v2 controller, else v1's.
    let kind = if h.v2_controllers.iter().any(|c| c == "pids") {
        "unified "
    } else {
        "pids "
    };
    let dir = record
        .lines()
        .find_map(|l| l.strip_prefix(kind))
        .unwrap_or_else(|| panic!("{record}"));
    let pids_max = || fs::read_to_string(Path::new(dir).join("pids.max")).unwrap_or_default();
    assert_eq!(pids_max().trim(), "5");
    sb.write(
        "run.yml",
        "cmd: sleep 1000\ncgroup: {pids: 10}\nlimits: {nofile: 200}\n",
    );
    assert_eq!(sup.signal("restart"), "");
    let second = sup.wait_running(Some(first));
    assert_eq!(pids_max().trim(), "10");
    let limits = fs::read_to_string(format!("/proc/{second}/limits")).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.split_whitespace().nth(3) == Some("200")),
        "{limits}"
    );
}

#[test]
fn a_cgroup_abandoned_by_a_supervisor_killed_for_good_is_removed() {
    let Some(h) = hierarchies("abandoned", true, &[]) else {
        return;
    };
    let parent = h.v2.unwrap().join("immortal");
    fs::create_dir_all(&parent).unwrap();
    // Left by a supervisor killed with its service: empty, claimed by none.
    let abandoned = parent.join(format!("abandoned-{}", std::process::id()));
    fs::create_dir(&abandoned).unwrap();
    // One still running a service (its supervisor gone) is kept.
    let kept = parent.join(format!("orphaned-{}", std::process::id()));
    fs::create_dir(&kept).unwrap();
    let mut sleeper = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
    fs::write(kept.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    let sb = Sandbox::new();
    let yml = sb.write("run.yml", "cmd: sleep 1000\n");
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    sup.wait_running(None);
    // Swept once the supervisor's start-up is over (a second after it).
    // (No panic before the sleeper is killed below.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while abandoned.exists() && kept.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let abandoned_gone = !abandoned.exists();
    let kept_there = kept.exists();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let _ = fs::remove_dir(&kept);
    let _ = fs::remove_dir(&abandoned);
    assert!(abandoned_gone, "the abandoned cgroup is still there");
    assert!(kept_there, "a populated cgroup was removed");
}

/// The service is born in its cgroup (`clone3` with `CLONE_INTO_CGROUP`),
/// not moved there by a write to `cgroup.procs`, which waits for the
/// kernel's RCU grace period (9 ms of the 11 ms from an `up` to the exec,
/// measured): seen in an strace of the supervisor.
#[test]
fn the_service_is_born_in_its_cgroup() {
    if hierarchies("born in its cgroup", true, &[]).is_none() {
        return;
    }
    let sb = Sandbox::new();
    let trace = sb.path("strace.out");
    let (mut sup, pid) = in_its_cgroup_under_strace(&sb, &["-e", "trace=clone,clone3,write"]);
    // The supervisor (strace's child) goes by its own halt.
    assert_eq!(sup.signal("halt"), "");
    sup.wait_exit(10.0);
    let text = fs::read_to_string(&trace).unwrap_or_default();
    let born = text
        .lines()
        .find(|l| l.contains("clone3(") && l.contains("CLONE_INTO_CGROUP"));
    assert!(born.is_some_and(|l| l.contains(&format!("= {pid}"))), "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with(&format!("{pid} ")) && l.contains("write(") && l.contains("\"0\", 1")),
        "the child wrote itself into a cgroup:\n{text}"
    );
}

/// A kernel without `clone3` (here: strace makes every `clone3` fail with
/// ENOSYS): the service is forked, and writes itself into its cgroup
/// before exec (it opens `cgroup.procs` in the cgroup's directory).
#[test]
fn without_clone3_the_service_still_enters_its_cgroup() {
    if hierarchies("no clone3", true, &[]).is_none() {
        return;
    }
    let sb = Sandbox::new();
    let (mut sup, _) =
        in_its_cgroup_under_strace(&sb, &["-qq", "-e", "trace=none", "-e", "inject=clone3:error=ENOSYS"]);
    assert_eq!(sup.signal("halt"), "");
    sup.wait_exit(10.0);
}

/// `immortal -n -ctl sv sleep 1000` under `strace -f OPTIONS -o
/// strace.out`, once its service runs, alone in its cgroup: the
/// supervisor and the service's pid.
fn in_its_cgroup_under_strace(sb: &Sandbox, options: &[&str]) -> (Supervisor, i64) {
    let mut cmd = std::process::Command::new("strace");
    cmd.arg("-f")
        .args(options)
        .arg("-o")
        .arg(sb.path("strace.out"))
        .arg(IMMORTAL)
        .args(["-n", "-ctl"])
        .arg(sb.path("sv"))
        .args(["sleep", "1000"])
        .env("IMMORTAL_SDIR", sb.path("sdir"));
    let mut sup = Supervisor::spawn(cmd, sb.path("sv"), sb.path("sv.stderr"));
    let pid = sup.wait_running(None);
    sup.pids.push(pid as i32);
    assert_eq!(procs(&cgroup_of(&sup)), [pid], "{}", sup.log());
    (sup, pid)
}

/// CPU ticks (user + system) a process has used.
fn cpu_ticks(pid: i32) -> u64 {
    (11..13)
        .map(|n| stat_field(pid as i64, n).parse::<u64>().unwrap_or(0))
        .sum()
}

/// Someone else removes the service's cgroup while it is down (an
/// operator's `rmdir`, a cleaning script): the supervisor neither spins
/// on the dead `cgroup.events` (it did, at a third of a CPU) nor fails
/// every later start (`unable to open …`, for good): the next start makes
/// the cgroup again and the service is born in it.
#[test]
fn a_cgroup_removed_by_someone_else_is_made_again_at_the_next_start() {
    let Some(h) = hierarchies("removed cgroup", true, &[]) else {
        return;
    };
    // With a pids limit where there is a controller for it: made again,
    // the cgroup has it again (v2's, or a v1 cgroup removed too).
    let pids = h.v2_controllers.iter().any(|c| c == "pids") || h.v1.iter().any(|(c, _)| *c == "pids");
    let sb = Sandbox::new();
    let limit = if pids { "cgroup: {pids: 7}\n" } else { "" };
    let yml = sb.write("run.yml", &format!("cmd: sleep 1000\n{limit}"));
    let mut sup = sb.supervise(&["-c", yml.to_str().unwrap()]);
    let first = sup.wait_running(None);
    sup.pids.push(first as i32);
    let cgroup = cgroup_of(&sup);
    let record_file = sup.dir.join("cgroup");
    let pids_dir = || {
        let record = fs::read_to_string(&record_file).unwrap_or_default();
        let kind = if h.v2_controllers.iter().any(|c| c == "pids") {
            "unified "
        } else {
            "pids "
        };
        record.lines().find_map(|l| l.strip_prefix(kind)).map(PathBuf::from)
    };
    let v1_pids = pids_dir().filter(|d| *d != cgroup);
    assert_eq!(sup.signal("down"), "");
    sup.wait_state("down");
    sup.wait_for(10.0, "the cgroup empties", || procs(&cgroup).is_empty());
    for dir in std::iter::once(&cgroup).chain(v1_pids.as_ref()) {
        fs::remove_dir(dir).unwrap_or_else(|e| panic!("rmdir {}: {e}", dir.display()));
    }
    // A round trip: the loop has seen the removal.
    sup.status();
    let before = cpu_ticks(sup.pid());
    // A window to measure, not a wait for something to happen.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let spent = cpu_ticks(sup.pid()) - before;
    assert!(
        spent <= 2,
        "the supervisor used {spent} ticks in 0.5 s idle after its cgroup was removed"
    );
    assert_eq!(sup.signal("up"), "");
    let second = sup.wait_running(Some(first));
    sup.pids.push(second as i32);
    let again = cgroup_of(&sup);
    assert_eq!(procs(&again), [second], "{}", sup.log());
    assert!(!sup.log().contains("unable to start"), "{}", sup.log());
    if pids {
        let dir = pids_dir().unwrap_or_else(|| panic!("no pids cgroup recorded\n{}", sup.log()));
        let max = fs::read_to_string(dir.join("pids.max")).unwrap_or_default();
        assert_eq!(max.trim(), "7", "the limit in {}", dir.display());
        assert!(procs(&dir).contains(&second), "{second} not in {}", dir.display());
    }
    assert_eq!(sup.signal("halt"), "");
    assert_eq!(sup.wait_exit(10.0), 0);
    assert!(!again.exists(), "the cgroup made again outlived the supervisor");
}
