//! `immortalsvc DIR`: services appear, change, disappear and die; it stops
//! them all on SIGTERM, and works as PID 1 of a PID namespace.

use crate::common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SVC: &str = env!("CARGO_BIN_EXE_immortalsvc");

struct Scanner {
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl Scanner {
    fn start(sb: &Sandbox, prefix: &[&str]) -> Scanner {
        Scanner::start_with(sb, prefix, &[])
    }

    /// With options for immortalsvc (`-metrics ADDR`).
    fn start_with(sb: &Sandbox, prefix: &[&str], options: &[&str]) -> Scanner {
        fs::create_dir_all(sb.path("services")).unwrap();
        let log = sb.path("immortalsvc.log");
        let mut argv: Vec<&str> = prefix.to_vec();
        argv.push(SVC);
        argv.extend_from_slice(options);
        let services = sb.path("services");
        argv.push(services.to_str().unwrap());
        let child = Command::new(argv[0])
            .args(&argv[1..])
            .env("IMMORTAL_SDIR", sb.path("sdir"))
            .env("HOME", sb.path("home"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Scanner {
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        let mut c = self.child.take()?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(c);
        None
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline && c.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn status(sb: &Sandbox, name: &str) -> serde_json::Value {
    immortal::client::status(&sb.path(&format!("sdir/{name}/immortal.sock"))).unwrap_or_default()
}

fn running_pid(sb: &Sandbox, name: &str) -> i64 {
    let st = status(sb, name);
    if st["state"] == "run" {
        st["pid"].as_i64().unwrap_or(0)
    } else {
        0
    }
}

fn wait_running(sb: &Sandbox, sc: &Scanner, name: &str, not: i64) -> i64 {
    let mut pid = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        pid = running_pid(sb, name);
        if pid > 0 && pid != not {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{name} not running (pid {pid})\n{}", sc.log());
}

#[test]
fn services_come_change_go_and_are_restarted() {
    let sb = Sandbox::new();
    sb.write("services/web.yml", "cmd: sleep 1000\n");
    sb.script("services/db/run", "#!/bin/sh\nexec sleep 2000\n");
    let sc = Scanner::start(&sb, &[]);
    let web = wait_running(&sb, &sc, "web", 0);
    let db = wait_running(&sb, &sc, "db", 0);
    // The service directory's supervisor is listed with the others.
    assert!(sb.path("sdir/db/immortal.sock").exists());
    assert_eq!(status(&sb, "db")["name"], "db");

    // A new service starts at once (inotify).
    let t0 = Instant::now();
    sb.write("services/extra.yml", "cmd: sleep 3000\n");
    wait_running(&sb, &sc, "extra", 0);
    assert!(t0.elapsed() < Duration::from_secs(4), "took {:?}", t0.elapsed());

    // Same content rewritten: nothing happens. New content: restarted.
    sb.write("services/web.yml", "cmd: sleep 1000\n");
    sb.write("services/web.yml", "cmd: sleep 1001\n");
    let web2 = wait_running(&sb, &sc, "web", web);
    assert_eq!(status(&sb, "web")["cmd"], "sleep 1001");
    assert!(!alive(web));

    // A supervisor killed with -9 is started again (its service was left
    // running by the dead supervisor: stop it, as an operator would).
    let sup = fs::read_to_string(sb.path("sdir/extra/lock"))
        .unwrap()
        .trim()
        .parse::<i32>()
        .unwrap();
    let extra = running_pid(&sb, "extra");
    kill(Pid::from_raw(sup), Signal::SIGKILL).unwrap();
    kill(Pid::from_raw(extra as i32), Signal::SIGKILL).unwrap();
    wait_running(&sb, &sc, "extra", extra);

    // Halted through immortalctl: started again.
    let (_, body) = immortal::client::get(&sb.path("sdir/db/immortal.sock"), "/signal/halt").unwrap();
    assert!(body.contains("\"Err\":\"\""), "{body}");
    let db2 = wait_running(&sb, &sc, "db", db);
    assert!(!alive(db));

    // Removed: halted, its service gone, not started again.
    fs::remove_file(sb.path("services/web.yml")).unwrap();
    wait_for(10.0, "web halted", || {
        !alive(web2) && !sb.path("sdir/web/immortal.sock").exists()
    });
    assert!(sc.log().contains("web: removed: halting"), "{}", sc.log());
    assert!(alive(db2));
}

fn lock_holder(sb: &Sandbox, rel: &str) -> i32 {
    fs::read_to_string(sb.path(rel))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn a_new_immortalsvc_takes_over_the_orphans_of_a_killed_one() {
    let sb = Sandbox::new();
    sb.write("services/web.yml", "cmd: sleep 1000\n");
    sb.script("services/db/run", "#!/bin/sh\nexec sleep 2000\n");
    let mut first = Scanner::start(&sb, &[]);
    let web = wait_running(&sb, &first, "web", 0);
    let db = wait_running(&sb, &first, "db", 0);
    let old_sups = [
        lock_holder(&sb, "sdir/web/lock"),
        lock_holder(&sb, "services/db/supervise/lock"),
    ];
    let mut c = first.child.take().unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    let second = Scanner::start(&sb, &[]);
    let _guard = scopeguard([web as i32, db as i32, old_sups[0], old_sups[1]]);
    // New supervisors, children of the new immortalsvc, hold the locks…
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let sups = [
            lock_holder(&sb, "sdir/web/lock"),
            lock_holder(&sb, "services/db/supervise/lock"),
        ];
        if sups
            .iter()
            .all(|&p| p > 0 && !old_sups.contains(&p) && parent_of(p) == Some(second.pid()))
        {
            break;
        }
        assert!(Instant::now() < deadline, "not taken over: {sups:?}\n{}", second.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    // …and supervise the very same service processes: no second copy. (A
    // lock is taken before the socket is bound: wait for it to answer.)
    let deadline = Instant::now() + Duration::from_secs(15);
    while (running_pid(&sb, "web") == 0 || running_pid(&sb, "db") == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(running_pid(&sb, "web"), web, "{}", second.log());
    assert_eq!(running_pid(&sb, "db"), db);
    assert!(old_sups.iter().all(|&p| !alive(p as i64)));
    assert!(second.log().contains("orphaned supervisor"), "{}", second.log());
}

/// Kill these pids when the test ends, however it ends.
fn scopeguard(pids: [i32; 4]) -> impl Drop {
    struct Guard([i32; 4]);
    impl Drop for Guard {
        fn drop(&mut self) {
            for p in self.0 {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
        }
    }
    Guard(pids)
}

#[test]
fn require_waits_for_ready_stops_dependents_first_and_hup_sees_a_new_run() {
    let sb = Sandbox::new();
    let flag = sb.path("base-serves");
    // app takes half a second to stop: base, stopped at the same time,
    // would end first.
    let app = sb.script(
        "app.sh",
        "#!/bin/sh\ntrap 'sleep 0.5; exit 0' TERM\nwhile :; do sleep 1 & wait $!; done\n",
    );
    sb.write(
        "services/app.yml",
        &format!("cmd: {}\nrequire: [base]\n", app.display()),
    );
    sb.write("services/lazy/run", "#!/bin/sh\nexec sleep 1000\n");
    let mut sc = Scanner::start(&sb, &[]);
    wait_for(10.0, "app waits", || {
        sc.log().contains("app: waiting for base to be ready")
    });
    // A chmod inside lazy/ is not an event on the directory: SIGHUP rescans.
    std::fs::set_permissions(
        sb.path("services/lazy/run"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    kill(Pid::from_raw(sc.pid()), Signal::SIGHUP).unwrap();
    wait_running(&sb, &sc, "lazy", 0);
    // The requirement appears, runs, but is not ready: app still waits.
    sb.write(
        "services/base.yml",
        &format!(
            "cmd: sleep 1000\nready:\n  cmd: test -e {}\n  interval: 0.1\n",
            flag.display()
        ),
    );
    wait_running(&sb, &sc, "base", 0);
    assert_eq!(status(&sb, "base")["ready"], false);
    assert_eq!(running_pid(&sb, "app"), 0, "{}", sc.log());
    assert!(!sc.log().contains("app: supervisor started"), "{}", sc.log());
    // Ready: app starts at once (a `ready` file appearing is the event).
    fs::write(&flag, "").unwrap();
    wait_running(&sb, &sc, "app", 0);
    // SIGTERM: app (which requires base) is stopped before base.
    kill(Pid::from_raw(sc.pid()), Signal::SIGTERM).unwrap();
    assert_eq!(sc.wait_exit(20), Some(0), "{}", sc.log());
    let log = sc.log();
    let app = log.find("app: supervisor ended").expect("app ended");
    let base = log.find("base: supervisor ended").expect("base ended");
    assert!(app < base, "dependents first:\n{log}");
}

#[test]
fn sigterm_stops_every_service_with_its_own_timeout() {
    let sb = Sandbox::new();
    sb.write("services/quick.yml", "cmd: sleep 1000\n");
    sb.script(
        "services/stubborn.sh",
        "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.05; done\n",
    );
    let stubborn = sb.path("services/stubborn.sh");
    sb.write(
        "services/slow.yml",
        &format!("cmd: {}\nstop: {{timeout: 1}}\n", stubborn.display()),
    );
    let mut sc = Scanner::start(&sb, &[]);
    let quick = wait_running(&sb, &sc, "quick", 0);
    let slow = wait_running(&sb, &sc, "slow", 0);
    let t0 = Instant::now();
    kill(Pid::from_raw(sc.pid()), Signal::SIGTERM).unwrap();
    assert_eq!(sc.wait_exit(20), Some(0), "{}", sc.log());
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "slow's 1 s timeout was not waited for"
    );
    assert!(!alive(quick) && !alive(slow));
    assert!(group_members(slow).is_empty());
}

/// The pid, outside, of the process that is `inner` in `init`'s namespace.
fn outside_pid(init: i32, inner: i64) -> i32 {
    let ns = fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if fs::read_link(format!("/proc/{p}/ns/pid")).ok().as_ref() != Some(&ns) {
            continue;
        }
        let status = fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
        let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap_or("");
        if nspid.split_whitespace().last() == Some(&inner.to_string()[..]) {
            return p;
        }
    }
    panic!("no process {inner} in the namespace of {init}");
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn as_pid_1_it_reaps_orphans_and_shuts_down_cleanly() {
    if !nix::unistd::geteuid().is_root() {
        panic!("needs root for unshare --pid");
    }
    let sb = Sandbox::new();
    // The supervisor of `orphan` is killed below, so its service (a shell
    // whose child exits soon) becomes PID 1's child; PID 1 must reap it.
    sb.script("services/orphan/run", "#!/bin/sh\nsleep 0.5\nexec sleep 1000\n");
    sb.write("services/web.yml", "cmd: sleep 1000\n");
    let mut sc = Scanner::start(&sb, &["unshare", "--pid", "--fork", "--mount-proc"]);
    wait_running(&sb, &sc, "web", 0);
    let orphan = wait_running(&sb, &sc, "orphan", 0);
    // Outside pids of the namespace's init (unshare's child) and of the
    // orphan's supervisor.
    let init = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|p| {
            fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.split_whitespace().nth(1) == Some(&sc.pid().to_string()[..]))
            })
        })
        .expect("the namespace's PID 1");
    let orphan = outside_pid(init, orphan);
    let sup_outside = parent_of(orphan).unwrap();
    kill(Pid::from_raw(sup_outside), Signal::SIGKILL).unwrap();
    // The orphaned service is now PID 1's child; kill it and check it is
    // reaped (no zombie left with PID 1 as parent).
    wait_for(5.0, "orphan reparented to PID 1", || parent_of(orphan) == Some(init));
    kill(Pid::from_raw(orphan), Signal::SIGKILL).unwrap();
    wait_for(5.0, "orphan reaped", || {
        !std::path::Path::new(&format!("/proc/{orphan}")).exists()
    });
    // SIGTERM to PID 1 (from outside the namespace): clean shutdown.
    kill(Pid::from_raw(init), Signal::SIGTERM).unwrap();
    assert_eq!(sc.wait_exit(20), Some(0), "{}", sc.log());
}

#[test]
fn an_essential_service_failed_for_good_ends_immortalsvc_as_pid_1_with_1() {
    if !nix::unistd::geteuid().is_root() {
        panic!("needs root for unshare --pid");
    }
    let sb = Sandbox::new();
    // `core` fails when the test writes a line into its FIFO; one failure
    // trips its breaker, and it is essential.
    let fifo = sb.path("fail-now");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let script = sb.script(
        "core.sh",
        &format!("#!/bin/sh\nread line < {}\nexit 1\n", fifo.display()),
    );
    sb.write(
        "services/core.yml",
        &format!(
            "cmd: {}\nessential: true\nrestart:\n  limit:\n    count: 1\n    within: 60\n",
            script.display()
        ),
    );
    sb.write("services/web.yml", "cmd: sleep 1000\n");
    let mut sc = Scanner::start(&sb, &["unshare", "--pid", "--fork", "--mount-proc"]);
    wait_running(&sb, &sc, "web", 0);
    wait_running(&sb, &sc, "core", 0);
    fs::write(&fifo, "fail\n").unwrap();
    assert_eq!(sc.wait_exit(20), Some(1), "{}", sc.log());
    let log = sc.log();
    assert!(
        log.contains("core: essential service failed (its supervisor exited 3): stopping every service"),
        "{log}"
    );
    assert!(log.contains("web: supervisor ended"), "{log}");
    assert!(
        log.contains("every service stopped: exiting 1 (core, essential, failed)"),
        "{log}"
    );
}

/// Write `rel` atomically (a dot-file renamed into place): a scan never
/// sees it half-written.
fn put(sb: &Sandbox, rel: &str, text: &str) {
    let path = sb.path(rel);
    let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().unwrap().to_string_lossy()));
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, &path).unwrap();
}

/// Add a service and wait for it to run: proof that immortalsvc has read
/// the directory again since everything done before.
fn probe(sb: &Sandbox, sc: &Scanner, name: &str) -> i64 {
    put(sb, &format!("services/{name}.yml"), "cmd: sleep 1000\n");
    wait_running(sb, sc, name, 0)
}

/// `immortalctl`'s table, for this sandbox's services.
fn ctl_table(sb: &Sandbox) -> String {
    let out = Command::new(CTL)
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .env("HOME", sb.path("home"))
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == name))
        .unwrap_or_else(|| panic!("no row for {name} in\n{table}"))
}

/// Context switches so far: each wake-up of a sleeping process is one.
fn ctx_switches(pid: i32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.starts_with("voluntary_ctxt_switches:") || l.starts_with("nonvoluntary_ctxt_switches:"))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn an_idle_immortalsvc_never_wakes_up_and_sighup_sees_what_inotify_cannot() {
    let sb = Sandbox::new();
    sb.write("services/web.yml", "cmd: sleep 1000\n");
    sb.script("services/db/run", "#!/bin/sh\nexec sleep 2000\n");
    sb.write("services/lazy/run", "#!/bin/sh\nexec sleep 3000\n");
    let sc = Scanner::start(&sb, &[]);
    wait_running(&sb, &sc, "web", 0);
    wait_running(&sb, &sc, "db", 0);
    // A chmod inside lazy/ is no event for a watch on the directory: it
    // must not wake immortalsvc either.
    fs::set_permissions(
        sb.path("services/lazy/run"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let before = ctx_switches(sc.pid());
    // A measurement window (more than the 5 s rescan there used to be),
    // not a synchronisation.
    std::thread::sleep(Duration::from_secs(6));
    let after = ctx_switches(sc.pid());
    assert_eq!(after, before, "immortalsvc woke up {} times while idle", after - before);
    assert!(!sc.log().contains("lazy:"), "{}", sc.log());
    // SIGHUP rereads the directory: lazy/run is executable now.
    kill(Pid::from_raw(sc.pid()), Signal::SIGHUP).unwrap();
    wait_running(&sb, &sc, "lazy", 0);
}

#[test]
fn an_invalid_yml_keeps_the_running_service_and_says_why_once() {
    let sb = Sandbox::new();
    sb.write("services/web.yml", "cmd: sleep 1000\n");
    let sc = Scanner::start(&sb, &[]);
    let web = wait_running(&sb, &sc, "web", 0);
    let yml = sb.path("services/web.yml");
    let want = format!("{}:3: unknown field `cmdd`", yml.display());

    // Saved with a typo: validated before anything is stopped.
    sb.write("services/web.yml", "cmd: sleep 1001\nwait: 1\ncmdd: x\n");
    wait_for(10.0, "the error reported", || sc.log().contains(&want));
    let error_file = sb.path("sdir/web/config-error");
    wait_for(5.0, "config-error written", || {
        sb.read("sdir/web/config-error").starts_with(&want)
    });
    let table = ctl_table(&sb);
    assert!(
        row(&table, "web").contains(&format!(" - config error: {want}")),
        "{table}"
    );
    // A brand-new invalid file: reported, no supervisor started for it.
    sb.write("services/bad.yml", "cmd: sleep 1000\ncwd: /nonexistent-cwd-xyz\n");
    wait_for(10.0, "bad reported", || sc.log().contains("cwd '/nonexistent-cwd-xyz'"));
    // Rereads of the directory (SIGHUP, another change) report nothing new.
    kill(Pid::from_raw(sc.pid()), Signal::SIGHUP).unwrap();
    probe(&sb, &sc, "probe");
    let log = sc.log();
    assert_eq!(log.matches("unknown field `cmdd`").count(), 1, "{log}");
    assert_eq!(log.matches("cwd '/nonexistent-cwd-xyz'").count(), 1, "{log}");
    assert!(!log.contains("bad: supervisor started"), "{log}");
    assert!(!sb.path("sdir/bad/immortal.sock").exists());
    assert!(!log.contains("web: changed"), "{log}");
    assert_eq!(running_pid(&sb, "web"), web, "{log}");

    // Fixed back to what runs: the error goes, nothing restarts.
    sb.write("services/web.yml", "cmd: sleep 1000 # fixed\n");
    wait_for(10.0, "config-error removed", || !error_file.exists());
    assert!(!row(&ctl_table(&sb), "web").contains("config error"));
    probe(&sb, &sc, "probe2");
    assert_eq!(running_pid(&sb, "web"), web, "{}", sc.log());
    // Broken again, then fixed with a real change: restarted with it.
    sb.write("services/web.yml", "cmd: sleep 1002\nwait: 1\ncmdd: x\n");
    wait_for(5.0, "config-error written", || error_file.exists());
    sb.write("services/web.yml", "cmd: sleep 1002\n");
    let web2 = wait_running(&sb, &sc, "web", web);
    assert_eq!(status(&sb, "web")["cmd"], "sleep 1002");
    assert!(!alive(web));
    assert!(!error_file.exists());
    assert_eq!(sc.log().matches("unknown field `cmdd`").count(), 2, "{}", sc.log());
    // The new file fixed: started.
    sb.write("services/bad.yml", "cmd: sleep 1003\n");
    wait_running(&sb, &sc, "bad", 0);
    // Broken and removed: halted, its config-error gone.
    sb.write("services/web.yml", "cmd: [\n");
    wait_for(5.0, "config-error written", || error_file.exists());
    fs::remove_file(&yml).unwrap();
    wait_for(10.0, "web halted", || !alive(web2) && !error_file.exists());
}

#[test]
fn a_yml_rewritten_with_the_same_meaning_restarts_nothing() {
    let sb = Sandbox::new();
    sb.write(
        "services/web.yml",
        "cmd: sleep 1000\nwait: 0\nenv: {A: x, B: y}\nstop: {timeout: 2}\n",
    );
    let sc = Scanner::start(&sb, &[]);
    let web = wait_running(&sb, &sc, "web", 0);
    // A comment, reordered keys (top level and nested), other spacing.
    sb.write(
        "services/web.yml",
        "# the web server\nstop:\n  timeout: 2\nenv:\n  B: y\n  A: x\n\nwait:   0\ncmd:   sleep   1000   # why not\n",
    );
    probe(&sb, &sc, "probe");
    let log = sc.log();
    assert_eq!(running_pid(&sb, "web"), web, "{log}");
    assert!(!log.contains("web: changed"), "{log}");
    assert_eq!(log.matches("web: supervisor started").count(), 1, "{log}");
    // A real change still restarts.
    sb.write(
        "services/web.yml",
        "cmd: sleep 1000\nwait: 0\nenv: {A: x, B: z}\nstop: {timeout: 2}\n",
    );
    wait_running(&sb, &sc, "web", web);
    assert!(
        sc.log()
            .contains("web: changed: restarting the service with the new configuration"),
        "{}",
        sc.log()
    );
}

/// Processes whose argv is exactly `argv`.
fn processes(argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == want) && alive(*p as i64))
        .collect()
}

#[test]
fn a_yml_service_survives_a_kill_9_of_its_supervisor_without_a_second_copy() {
    let sb = Sandbox::new();
    sb.write("services/web.yml", "cmd: sleep 4321\n");
    let sc = Scanner::start(&sb, &[]);
    let web = wait_running(&sb, &sc, "web", 0);
    let sup = lock_holder(&sb, "sdir/web/lock");
    /// However the test ends: immortalsvc continued, every copy killed.
    struct Guard(i32, i64);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = kill(Pid::from_raw(self.0), Signal::SIGCONT);
            let _ = kill(Pid::from_raw(self.1 as i32), Signal::SIGKILL);
            for p in processes(&["sleep", "4321"]) {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
        }
    }
    let _guard = Guard(sc.pid(), web);
    // immortalsvc paused, so that immortalctl runs while web has no
    // supervisor at all (a stale socket, a free lock, a live service).
    kill(Pid::from_raw(sc.pid()), Signal::SIGSTOP).unwrap();
    kill(Pid::from_raw(sup), Signal::SIGKILL).unwrap();
    wait_for(5.0, "the lock released", || {
        !immortal::sys::lock::is_held(&sb.path("sdir/web/lock"))
    });
    let table = ctl_table(&sb);
    kill(Pid::from_raw(sc.pid()), Signal::SIGCONT).unwrap();
    // A new supervisor, immortalsvc's child, adopts the very same process.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = lock_holder(&sb, "sdir/web/lock");
        if now > 0 && now != sup && parent_of(now) == Some(sc.pid()) && running_pid(&sb, "web") > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no new supervisor\n{}", sc.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        running_pid(&sb, "web"),
        web,
        "not adopted (immortalctl showed:\n{table})\n{}",
        sc.log()
    );
    assert_eq!(processes(&["sleep", "4321"]), vec![web as i32], "a second copy");
}

/// Series `name{labels}`'s value in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
}

#[test]
fn its_socket_lists_every_service_merges_metrics_and_events_and_stays_idle() {
    let sb = Sandbox::new();
    sb.write("services/web.yml", "cmd: sleep 1000\n");
    sb.script("services/db/run", "#!/bin/sh\nexec sleep 2000\n");
    let sc = Scanner::start(&sb, &[]);
    let web = wait_running(&sb, &sc, "web", 0);
    wait_running(&sb, &sc, "db", 0);
    let hub = sb.path("sdir/immortalsvc.sock");
    wait_for(10.0, "immortalsvc.sock", || hub.exists());

    let (code, body) = immortal::client::get(&hub, "/").unwrap();
    assert_eq!(code, 200, "{body}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = list.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["db", "web"], "{body}");
    assert_eq!(list[1]["pid"].as_i64(), Some(web));

    let (code, text) = immortal::client::get(&hub, "/metrics").unwrap();
    assert_eq!(code, 200, "{text}");
    assert_eq!(text.matches("# HELP immortal_up ").count(), 1, "{text}");
    assert_eq!(
        text.matches("# TYPE immortal_starts_total counter").count(),
        1,
        "{text}"
    );
    assert_eq!(sample(&text, "immortal_up{service=\"web\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "immortal_up{service=\"db\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "immortalsvc_services"), Some(2.0), "{text}");
    assert_eq!(sample(&text, "immortalsvc_unreachable"), Some(0.0), "{text}");
    crate::observe::promtool_check(&text);
    let (code, _) = immortal::client::get(&hub, "/signal/down").unwrap();
    assert_eq!(code, 404);
    assert_eq!(running_pid(&sb, "web"), web);

    // Between scrapes, neither immortalsvc nor a supervisor wakes up
    // (a supervisor gives back the pages a burst of work touched once,
    // a second after it: then nothing).
    let web_sup = lock_holder(&sb, "sdir/web/lock");
    std::thread::sleep(Duration::from_millis(1500));
    let before = (ctx_switches(sc.pid()), ctx_switches(web_sup));
    // A measurement window, not a synchronisation.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        (ctx_switches(sc.pid()), ctx_switches(web_sup)),
        before,
        "woke up while idle"
    );

    // The merged stream: both services' events, each named.
    let mut events = immortal::client::EventStream::open(&hub).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    // The hub opens the supervisors' streams as it gets its reader: ask
    // for a harmless WINCH until each one's shows.
    while !(seen.contains(&"web".to_string()) && seen.contains(&"db".to_string())) {
        assert!(Instant::now() < deadline, "merged events seen: {seen:?}\n{}", sc.log());
        for name in ["web", "db"] {
            if !seen.contains(&name.to_string()) {
                let sock = sb.path(&format!("sdir/{name}/immortal.sock"));
                immortal::client::get(&sock, "/signal/WINCH").unwrap();
            }
        }
        while let Some(line) = events.next_line(Some(Duration::from_millis(100))).unwrap() {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["event"], "signal", "{line}");
            seen.push(v["service"].as_str().unwrap().to_string());
        }
    }
    let sock = sb.path("sdir/web/immortal.sock");
    immortal::client::get(&sock, "/signal/down").unwrap();
    let t = Instant::now();
    loop {
        assert!(t.elapsed() < Duration::from_secs(10), "no down event for web");
        if let Some(line) = events.next_line(Some(Duration::from_secs(5))).unwrap() {
            if line.contains("\"event\":\"down\"") && line.contains("\"service\":\"web\"") {
                break;
            }
        }
    }
    let (_, text) = immortal::client::get(&hub, "/metrics").unwrap();
    assert_eq!(sample(&text, "immortal_up{service=\"web\"}"), Some(0.0), "{text}");
}

/// `GET path` over TCP; the body.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// Ask Prometheus for `immortal_up{service="NAME"}`: the value, if it has one.
fn prometheus_up(port: u16, name: &str) -> Option<String> {
    let body = http_get(
        port,
        &format!("/api/v1/query?query=immortal_up%7Bservice%3D%22{name}%22%7D"),
    )?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str().map(String::from)
}

#[test]
fn a_real_prometheus_scrapes_immortalsvc_metrics_over_tcp() {
    let sb = Sandbox::new();
    sb.write("services/web.yml", "cmd: sleep 1000\n");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let sc = Scanner::start_with(&sb, &[], &["-metrics", &addr]);
    wait_running(&sb, &sc, "web", 0);
    wait_for(10.0, "/metrics over TCP", || {
        http_get(port, "/metrics").is_some_and(|b| b.contains("immortal_up"))
    });
    assert!(
        http_get(port, "/").is_some_and(|b| b.contains("not found")),
        "TCP serves /metrics only"
    );

    let prom_port = free_port();
    sb.write(
        "prometheus.yml",
        &format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: immortal\n    static_configs:\n      - targets: ['{addr}']\n"),
    );
    let prom = Command::new("prometheus")
        .arg(format!("--config.file={}", sb.path("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", sb.path("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(sb.path("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus is not installed: run scripts/install-peers");
    struct Reap(Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prom = Reap(prom);
    let plog = || fs::read_to_string(sb.path("prometheus.log")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while prometheus_up(prom_port, "web").as_deref() != Some("1") {
        assert!(
            Instant::now() < deadline,
            "Prometheus never read immortal_up 1\n{}",
            plog()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    immortal::client::get(&sb.path("sdir/web/immortal.sock"), "/signal/down").unwrap();
    while prometheus_up(prom_port, "web").as_deref() != Some("0") {
        assert!(
            Instant::now() < deadline,
            "Prometheus never read immortal_up 0\n{}",
            plog()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn immortalctl_events_star_reads_the_merged_stream() {
    let sb = Sandbox::new();
    sb.write("services/a.yml", "cmd: sleep 1000\n");
    sb.write("services/b.yml", "cmd: sleep 1000\n");
    let sc = Scanner::start(&sb, &[]);
    wait_running(&sb, &sc, "a", 0);
    wait_running(&sb, &sc, "b", 0);
    wait_for(10.0, "immortalsvc.sock", || sb.path("sdir/immortalsvc.sock").exists());
    let mut ctl = Command::new(CTL)
        .args(["events", "--json", "*"])
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .env("HOME", sb.path("home"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = ctl.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = std::collections::BTreeSet::new();
    let t0 = Instant::now();
    while seen.len() < 2 {
        assert!(t0.elapsed() < Duration::from_secs(15), "seen {seen:?}\n{}", sc.log());
        for name in ["a", "b"] {
            if !seen.contains(name) {
                immortal::client::get(&sb.path(&format!("sdir/{name}/immortal.sock")), "/signal/WINCH").unwrap();
            }
        }
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            seen.insert(v["service"].as_str().unwrap().to_string());
        }
    }
    // One connection, to immortalsvc: not one per supervisor.
    let sockets: Vec<String> = fs::read_dir(format!("/proc/{}/fd", ctl.id()))
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .map(|l| l.display().to_string())
        .filter(|l| l.starts_with("socket:"))
        .collect();
    let _ = ctl.kill();
    let _ = ctl.wait();
    assert_eq!(sockets.len(), 1, "immortalctl holds {sockets:?}");
}

/// The soft and hard descriptor limits of a process.
fn nofile(pid: i32) -> (String, String) {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let v: Vec<&str> = line.split_whitespace().collect();
    (v[3].to_string(), v[4].to_string())
}

#[test]
fn immortalsvc_raises_its_descriptor_limit_and_services_keep_theirs() {
    let sb = Sandbox::new();
    let out = sb.path("ulimit");
    sb.write(
        "services/web.yml",
        &format!("cmd: [sh, -c, 'ulimit -n > {}; exec sleep 1000']\n", out.display()),
    );
    let sc = Scanner::start(&sb, &["prlimit", "--nofile=256:4096"]);
    wait_running(&sb, &sc, "web", 0);
    wait_for(10.0, "the service wrote its limit", || {
        sb.read("ulimit").ends_with('\n')
    });
    assert_eq!(sb.read("ulimit").trim(), "256");
    // prlimit executes immortalsvc: same pid.
    assert_eq!(nofile(sc.pid()), ("4096".into(), "4096".into()));
    let sup = lock_holder(&sb, "sdir/web/lock");
    assert_eq!(nofile(sup), ("256".into(), "4096".into()));
}

#[test]
fn its_socket_answers_a_client_that_shut_its_sending_side() {
    use std::io::{BufRead, Write};
    let sb = Sandbox::new();
    sb.write("services/web.yml", "cmd: sleep 1000\n");
    let sc = Scanner::start(&sb, &[]);
    let web = wait_running(&sb, &sc, "web", 0);
    let hub = sb.path("sdir/immortalsvc.sock");
    wait_for(10.0, "immortalsvc.sock", || hub.exists());
    for i in 0..10 {
        let out = crate::api::ask_and_shut(&hub, "GET / HTTP/1.0\r\n\r\n");
        assert!(out.contains(&format!("\"pid\":{web},")), "request {i}: {out:?}");
    }
    // The merged event stream goes on after the reader shut its side.
    let mut s = std::os::unix::net::UnixStream::connect(&hub).unwrap();
    s.write_all(b"GET /events HTTP/1.0\r\n\r\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut events = std::io::BufReader::new(s);
    let mut line = String::new();
    while line != "\r\n" {
        line.clear();
        assert!(events.read_line(&mut line).unwrap() > 0, "the head ended early");
    }
    // immortalsvc opens web's stream as it gets its reader: a harmless
    // WINCH until something arrives (a whole line: it sends no less).
    let sock = sb.path("sdir/web/immortal.sock");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(Instant::now() < deadline, "no event\n{}", sc.log());
        immortal::client::get(&sock, "/signal/WINCH").unwrap();
        let fd = std::os::fd::AsFd::as_fd(events.get_ref());
        let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u16)).unwrap() > 0 {
            break;
        }
    }
    line.clear();
    events.read_line(&mut line).unwrap();
    assert!(
        line.contains("\"service\":\"web\""),
        "the stream ended instead: {line:?}"
    );
}

/// Database migrations before the application: `web` requires the
/// one-shot `migrate`, and starts once it is done; `migrate` is shown
/// `done`, and runs again when its `.yml` changes.
#[test]
fn a_service_requiring_a_one_shot_starts_once_it_is_done() {
    let sb = Sandbox::new();
    let runs = sb.path("migrations");
    let migrate = |tag: &str| {
        format!(
            "cmd: [sh, -c, 'sleep 0.3; echo {tag} >> {}']\noneshot: true\n",
            runs.display()
        )
    };
    sb.write("services/migrate.yml", &migrate("first"));
    sb.write("services/web.yml", "cmd: sleep 1000\nrequire: [migrate]\n");
    let sc = Scanner::start(&sb, &[]);
    wait_running(&sb, &sc, "web", 0);
    // It started after the migration, not before.
    assert_eq!(sb.read("migrations"), "first\n");
    let st = status(&sb, "migrate");
    assert_eq!(
        (st["state"].as_str(), st["ready"].as_bool()),
        (Some("done"), Some(true)),
        "{st}"
    );
    let table = ctl_table(&sb);
    assert!(
        table.lines().any(|l| l.contains("migrate") && l.ends_with(" - done")),
        "{table}"
    );
    // A changed migrate.yml runs it again (web keeps running).
    let web = running_pid(&sb, "web");
    sb.write("services/migrate.yml", &migrate("second"));
    wait_for(15.0, "the migration ran again", || {
        sb.read("migrations") == "first\nsecond\n"
    });
    sc_wait_done(&sb);
    assert_eq!(running_pid(&sb, "web"), web, "{}", sc.log());
}

fn sc_wait_done(sb: &Sandbox) {
    wait_for(15.0, "migrate done again", || status(sb, "migrate")["state"] == "done");
}

/// `immortalctl ARGS` for this sandbox's services: exit code, stdout,
/// stderr.
fn ctl(sb: &Sandbox, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(CTL)
        .args(args)
        .env("IMMORTAL_SDIR", sb.path("sdir"))
        .env("HOME", sb.path("home"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn a_service_that_never_started_is_shown_with_why_and_check_says_it_never_will() {
    let sb = Sandbox::new();
    // nocmd is invalid (no cmd): never started, so web, which requires
    // it, never is either.
    sb.write("services/nocmd.yml", "wait: 1\n");
    sb.write("services/web.yml", "cmd: sleep 1000\nrequire: [nocmd]\n");
    sb.write("services/db.yml", "cmd: sleep 1001\n");
    let sc = Scanner::start(&sb, &[]);
    wait_running(&sb, &sc, "db", 0);
    wait_for(10.0, "web waits", || {
        sc.log().contains("web: waiting for nocmd to be ready")
    });
    let hub = sb.path("sdir/immortalsvc.sock");
    wait_for(10.0, "immortalsvc.sock", || hub.exists());
    let invalid = format!(
        "(invalid: {}: missing key 'cmd')",
        sb.path("services/nocmd.yml").display()
    );

    // immortalctl's table: every service, each with why it does not run.
    let table = ctl_table(&sb);
    let web = row(&table, "web");
    assert!(
        web.contains(&format!("sleep 1000 - waiting for nocmd {invalid}")),
        "{table}"
    );
    assert!(row(&table, "nocmd").contains("- invalid: "), "{table}");
    assert!(row(&table, "db").contains("sleep 1001"), "{table}");
    let names: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().find(|w| ["db", "nocmd", "web"].contains(w)))
        .collect();
    assert_eq!(names, ["db", "nocmd", "web"], "{table}");
    // By name too; a verb says why there is nothing to act on.
    let (code, out, err) = ctl(&sb, &["web"]);
    assert_eq!(code, 0, "{err}");
    assert!(row(&out, "web").contains("waiting for nocmd (invalid: "), "{out}");
    let (code, _, err) = ctl(&sb, &["stop", "web"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("web: no supervisor yet: waiting for nocmd (invalid: "),
        "{err}"
    );
    let (_, out, _) = ctl(&sb, &["--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let web = list.iter().find(|v| v["name"] == "web").expect("web listed");
    assert_eq!(
        (&web["state"], &web["pid"]),
        (&serde_json::json!("wait"), &serde_json::json!(0))
    );

    // immortalsvc.sock's GET /: the same, in its place by name.
    let (code, body) = immortal::client::get(&hub, "/").unwrap();
    assert_eq!(code, 200, "{body}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = list.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["db", "nocmd", "web"], "{body}");
    let reason = list[2]["reason"].as_str().unwrap_or("");
    assert_eq!(reason, format!("waiting for nocmd {invalid}"), "{body}");
    assert_eq!(list[2]["cmd"], "sleep 1000", "{body}");

    // -check: web can never start.
    let out = Command::new(SVC)
        .args(["-check", sb.path("services").to_str().unwrap()])
        .env("IMMORTAL_SDIR", sb.path("sdir-check"))
        .env("HOME", sb.path("home"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "{}:2: require 'nocmd': nocmd.yml is invalid, so web can never start",
        sb.path("services/web.yml").display()
    );
    assert!(err.lines().any(|l| l == want), "{err}");

    // Fixed: web starts, and nothing is left waiting.
    put(&sb, "services/nocmd.yml", "cmd: sleep 1002\n");
    wait_running(&sb, &sc, "web", 0);
    let (_, body) = immortal::client::get(&hub, "/waiting").unwrap();
    assert_eq!(body.trim(), "[]", "{}", sc.log());
    assert!(!ctl_table(&sb).contains("waiting for"), "{}", sc.log());
}

/// A server of `listen:`'s descriptor 3 that answers each request with its
/// pid and the value of `$V`. SIGTERM ends it between two connections
/// (never with one accepted and not answered): what waits in the backlog
/// is the next process's.
const ENV_SERVER: &str = r#"import os, select, signal, socket
s = socket.socket(fileno=3)
me = ("%d %s" % (os.getpid(), os.environ.get("V", ""))).encode()
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
signal.signal(signal.SIGTERM, lambda *_: None)
while True:
    ready, _, _ = select.select([r, s], [], [])
    if r in ready:
        break
    c, _ = s.accept()
    try:
        c.recv(4096)
        c.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + me)
    except OSError:
        pass
    c.close()
"#;

/// `web.yml`: [`ENV_SERVER`] on 127.0.0.1:`port`, with `V` set to `v`.
fn env_server_yml(sb: &Sandbox, port: u16, v: &str, extra: &str) -> String {
    format!(
        "cmd: python3 server.py\ncwd: {}\nenv: {{V: {v}}}\nlisten:\n  - tcp: 127.0.0.1:{port}\n{extra}",
        sb.dir.path().display()
    )
}

/// Who answers at `addr`, and with which `$V`.
fn served_by(addr: &str) -> Option<(i64, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (_, body) = out.split_once("\r\n\r\n")?;
    let (pid, v) = body.split_once(' ')?;
    Some((pid.parse().ok()?, v.to_string()))
}

/// Processes killed (SIGKILL, by pid) when the test ends, however it ends:
/// declared before the [`Scanner`], so that it stops them first.
#[derive(Default)]
struct KillAtEnd(Vec<i32>);

impl Drop for KillAtEnd {
    fn drop(&mut self) {
        for &p in self.0.iter().filter(|&&p| p > 0) {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
}

/// `web.yml` serving on a held port under immortalsvc, `V=one`: the
/// scanner, the address, its supervisor's pid and its service's.
fn env_server_up(sb: &Sandbox, end: &mut KillAtEnd) -> (Scanner, String, u16, i32, i64) {
    sb.write("server.py", ENV_SERVER);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    fs::create_dir_all(sb.path("services")).unwrap();
    put(sb, "services/web.yml", &env_server_yml(sb, port, "one", ""));
    let sc = Scanner::start(sb, &[]);
    let first = wait_running(sb, &sc, "web", 0);
    let sup = lock_holder(sb, "sdir/web/lock");
    end.0.extend([first as i32, sup]);
    wait_for(20.0, "web serving V=one", || {
        served_by(&addr).is_some_and(|(p, v)| p == first && v == "one")
    });
    (sc, addr, port, sup, first)
}

#[test]
fn a_yml_changed_in_what_restart_reads_restarts_only_the_service_and_refuses_nothing() {
    let sb = Sandbox::new();
    let mut end = KillAtEnd::default();
    let (sc, addr, port, sup, first) = env_server_up(&sb, &mut end);
    let load = crate::listen::Load::start(&addr);
    load.wait_more(5);
    put(&sb, "services/web.yml", &env_server_yml(&sb, port, "two", ""));
    let mut second = 0;
    wait_for(20.0, "web serving V=two", || {
        served_by(&addr).is_some_and(|(p, v)| {
            second = p;
            v == "two"
        })
    });
    end.0.push(second as i32);
    load.wait_more(5);
    let (served, failed) = load.stop();
    let log = sc.log();
    let refused = failed.iter().filter(|e| e.starts_with("connect")).count();
    assert!(
        failed.is_empty(),
        "{served} served, {} failed ({refused} refused), first: {:?}\n{log}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    // The same supervisor, a new service with the new environment.
    assert_eq!(lock_holder(&sb, "sdir/web/lock"), sup, "{log}");
    assert!(alive(sup as i64));
    assert_ne!(second, first);
    assert!(!alive(first));
    assert_eq!(running_pid(&sb, "web"), second);
    let environ = fs::read(format!("/proc/{second}/environ")).unwrap();
    assert!(environ.split(|&b| b == 0).any(|v| v == b"V=two"), "{log}");
    assert!(
        log.contains("web: changed: restarting the service with the new configuration"),
        "{log}"
    );
    assert!(!log.contains("restarting its supervisor"), "{log}");
    assert_eq!(log.matches("web: supervisor started").count(), 1, "{log}");
}

#[test]
fn a_yml_changed_in_what_only_a_new_supervisor_reads_restarts_the_supervisor() {
    let sb = Sandbox::new();
    let mut end = KillAtEnd::default();
    let (sc, addr, port, sup, first) = env_server_up(&sb, &mut end);
    // `pid.parent`: written by a supervisor once, at its start.
    let pidfile = sb.path("supervisor.pid");
    let extra = format!("pid: {{parent: {}}}\n", pidfile.display());
    put(&sb, "services/web.yml", &env_server_yml(&sb, port, "two", &extra));
    let mut next = 0;
    wait_for(20.0, "a new supervisor", || {
        next = lock_holder(&sb, "sdir/web/lock");
        next > 0 && next != sup
    });
    end.0.push(next);
    let mut second = 0;
    wait_for(20.0, "web serving V=two", || {
        served_by(&addr).is_some_and(|(p, v)| {
            second = p;
            v == "two"
        })
    });
    end.0.push(second as i32);
    let log = sc.log();
    assert!(!alive(sup as i64), "{log}");
    assert!(!alive(first), "{log}");
    assert_eq!(fs::read_to_string(&pidfile).unwrap().trim(), next.to_string());
    assert!(log.contains("web: changed: restarting its supervisor"), "{log}");
    assert!(
        !log.contains("restarting the service with the new configuration"),
        "{log}"
    );
}

#[test]
fn a_restart_the_supervisor_refuses_falls_back_to_a_new_supervisor() {
    let sb = Sandbox::new();
    let mut end = KillAtEnd::default();
    let (sc, _, _, sup, _) = env_server_up(&sb, &mut end);
    // A valid file whose new socket the supervisor cannot open: its
    // `restart` refuses it, and a new supervisor is started (which waits,
    // failing, until the port is free).
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    put(&sb, "services/web.yml", &env_server_yml(&sb, port, "two", ""));
    let said = format!(
        "web: restart not taken (restart keeps the previous configuration: listen 127.0.0.1:{port}: Address already in use): restarting its supervisor"
    );
    wait_for(20.0, "the refusal told", || sc.log().contains(&said));
    drop(busy);
    let addr = format!("127.0.0.1:{port}");
    wait_for(20.0, "web serving V=two on the new port", || {
        served_by(&addr).is_some_and(|(_, v)| v == "two")
    });
    let next = lock_holder(&sb, "sdir/web/lock");
    end.0.extend([next, running_pid(&sb, "web") as i32]);
    assert!(next > 0 && next != sup, "{}", sc.log());
    assert!(!alive(sup as i64), "{}", sc.log());
}

/// A supervisor immortalsvc starts (with `posix_spawn`: nothing of the
/// scanner is copied) is in a process group of its own, reads /dev/null,
/// and hands its service a clean start: no signal ignored or blocked, and
/// nothing of the scanner's plumbing (the notice descriptor's variable) in
/// its environment.
#[test]
fn a_supervisor_started_by_immortalsvc_and_its_service_start_clean() {
    let sb = Sandbox::new();
    let out = sb.path("probe");
    sb.script(
        "services/clean/run",
        &format!(
            // Read with the shell's own `read`: a child (grep) could see
            // the mask dash blocks everything with while it vforks one.
            "#!/bin/sh\nwhile read -r key value; do case $key in SigIgn:|SigBlk:) echo \"$key $value\";; esac; done < /proc/$$/status > {0}.sig\nenv > {0}.env\nexec sleep 1000\n",
            out.display()
        ),
    );
    let sc = Scanner::start(&sb, &[]);
    wait_running(&sb, &sc, "clean", 0);
    wait_for(10.0, "the probe written", || {
        sb.read("probe.sig").lines().count() == 2 && sb.read("probe.env").contains("PATH=")
    });
    for line in sb.read("probe.sig").lines() {
        let mask = line.split_whitespace().nth(1).unwrap_or("?");
        assert!(mask.chars().all(|c| c == '0'), "the service starts with {line}");
    }
    for var in [immortal::sys::exec::NOTICE_FD_VAR, immortal::cgroup::HIERARCHIES_VAR] {
        assert!(!sb.read("probe.env").contains(var), "{var}: {}", sb.read("probe.env"));
    }
    let sup = lock_holder(&sb, "sdir/clean/lock");
    assert_eq!(nix::unistd::getpgid(Some(Pid::from_raw(sup))), Ok(Pid::from_raw(sup)));
    assert_eq!(
        fs::read_link(format!("/proc/{sup}/fd/0")).unwrap(),
        std::path::PathBuf::from("/dev/null")
    );
}

/// A supervisor started with its standard descriptors closed (by a
/// careless init script, `<&- >&- 2>&-`) opens them on /dev/null before
/// anything else, as every Rust program's start-up does: its lock file or
/// control FIFO must not land on 0, 1 or 2 (its own messages would then go
/// into the FIFO it reads orders from, and the service would inherit them).
#[test]
fn a_supervisor_started_with_its_standard_descriptors_closed_opens_them_on_dev_null() {
    let sb = Sandbox::new();
    let dir = sb.path("svc");
    sb.script(
        "svc/run",
        &format!(
            // Expanded before the redirection is made: the shell's own.
            "#!/bin/sh\necho \"$(readlink /proc/$$/fd/0) $(readlink /proc/$$/fd/1) $(readlink /proc/$$/fd/2)\" > {}\nexec sleep 1000\n",
            sb.path("probe").display()
        ),
    );
    let cmd = sb.command_of(
        std::path::Path::new("/bin/sh"),
        &["-c", "exec \"$0\" \"$@\" <&- >&- 2>&-", IMMORTAL, dir.to_str().unwrap()],
    );
    let mut sup = Supervisor::spawn(cmd, dir.join("supervise"), sb.path("supervisor.err"));
    sup.wait_running(None);
    let pid = sup.pid();
    for fd in 0..3 {
        let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(
            target,
            std::path::PathBuf::from("/dev/null"),
            "the supervisor's descriptor {fd}"
        );
    }
    wait_for(10.0, "the probe written", || sb.read("probe").ends_with('\n'));
    assert_eq!(
        sb.read("probe"),
        "/dev/null /dev/null /dev/null\n",
        "the service's 0, 1, 2"
    );
    // And it ignores SIGPIPE, as std's start-up made it: a reader gone is
    // an EPIPE to it, not its end.
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ignored = status.lines().find_map(|l| l.strip_prefix("SigIgn:")).unwrap().trim();
    let ignored = u64::from_str_radix(ignored, 16).unwrap();
    assert_ne!(
        ignored & (1 << (libc::SIGPIPE - 1)),
        0,
        "the supervisor's SigIgn {ignored:x}"
    );
    // Orders still reach it through its FIFO.
    fs::write(dir.join("supervise/control"), "d").unwrap();
    wait_for(10.0, "the service is down", || sup.status()["state"] == "down");
}

/// A supervisor started with SIGPIPE ignored (systemd's default,
/// `IgnoreSIGPIPE=yes`) starts its service with SIGPIPE at its default, as
/// every Rust program's start-up made it for the programs it starts.
#[test]
fn a_supervisor_started_with_sigpipe_ignored_gives_its_service_the_default() {
    let sb = Sandbox::new();
    let dir = sb.path("svc");
    sb.script(
        "svc/run",
        &format!(
            // The shell's own `read`: no child of it looks.
            "#!/bin/sh\nwhile read -r key value; do case $key in SigIgn:) echo \"$value\";; esac; done < /proc/$$/status > {}\nexec sleep 1000\n",
            sb.path("probe").display()
        ),
    );
    let cmd = sb.command_of(
        std::path::Path::new("/bin/sh"),
        &[
            "-c",
            "trap '' PIPE; exec \"$0\" \"$@\"",
            IMMORTAL,
            dir.to_str().unwrap(),
        ],
    );
    let mut sup = Supervisor::spawn(cmd, dir.join("supervise"), sb.path("supervisor.err"));
    sup.wait_running(None);
    wait_for(10.0, "the probe written", || sb.read("probe").ends_with('\n'));
    let line = sb.read("probe");
    let mask = u64::from_str_radix(line.trim(), 16).unwrap_or_else(|_| panic!("{line}"));
    assert_eq!(
        mask & (1 << (libc::SIGPIPE - 1)),
        0,
        "the service starts with SigIgn {mask:x}"
    );
}

/// A signal immortalsvc was started with ignored (`nohup`'s SIGHUP; here
/// SIGURG) stays ignored for the supervisors and their services, as after a
/// fork and exec; SIGPIPE, which Rust's runtime ignores in the scanner
/// itself, does not.
#[test]
fn a_signal_the_scanner_inherited_ignored_stays_ignored_for_its_services() {
    let sb = Sandbox::new();
    let out = sb.path("probe");
    sb.script(
        "services/urg/run",
        &format!(
            "#!/bin/sh\ngrep -E '^SigIgn' /proc/$$/status > {}.sig\nexec sleep 1000\n",
            out.display()
        ),
    );
    let sc = Scanner::start(&sb, &["sh", "-c", "trap '' URG; exec \"$0\" \"$@\""]);
    wait_running(&sb, &sc, "urg", 0);
    wait_for(10.0, "the probe written", || sb.read("probe.sig").lines().count() == 1);
    let line = sb.read("probe.sig");
    let mask = line
        .split_whitespace()
        .nth(1)
        .and_then(|m| u64::from_str_radix(m, 16).ok())
        .unwrap_or_else(|| panic!("{line}"));
    let bit = |sig: i32| 1u64 << (sig - 1);
    assert_eq!(
        mask & bit(libc::SIGURG),
        bit(libc::SIGURG),
        "the service starts with {line}"
    );
    assert_eq!(mask & bit(libc::SIGPIPE), 0, "the service starts with {line}");
}
