//! `immortalsvc DIR`: one `immortal` per service of a directory, as
//! `svscan`/`runsvdir` do — `NAME.yml` → `immortal -n -c DIR/NAME.yml -ctl
//! NAME`, `NAME/` → `immortal -n DIR/NAME` (its supervise directory linked
//! as `$IMMORTAL_SDIR/NAME`, so `immortalctl` lists it).
//!
//! One event loop: a signalfd, an inotify watch on DIR (changes are seen at
//! once) and one deadline (the next start, or the fallback rescan every
//! 5 s). A supervisor that exits for any reason but removal — died, was
//! halted, refused to start because a `require` is not up yet — is started
//! again, at most once a second. SIGTERM/SIGINT stop every service (each
//! supervisor with its own stop timeout), then exit 0; SIGHUP rescans. Fit
//! to be PID 1: every process that ends up as its child is reaped.

use crate::error::{Context, Result};
use crate::scan::{self, Entry, Listing};
use crate::sys::{self, signals::Signals};
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The fallback full rescan, for changes inotify cannot see.
pub const RESCAN: Duration = Duration::from_secs(5);
/// Two starts of one supervisor are at least this far apart.
pub const MIN_RESTART: Duration = Duration::from_secs(1);

struct Child {
    entry: Entry,
    pid: Option<Pid>,
    last_start: Option<Instant>,
    /// Gone from the directory: halted, then forgotten.
    removed: bool,
}

pub struct Scanner {
    dir: PathBuf,
    sdir: PathBuf,
    immortal: PathBuf,
    children: BTreeMap<String, Child>,
    signals: Signals,
    inotify: Option<Inotify>,
    next_scan: Instant,
    stopping: bool,
}

fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "immortalsvc: {msg}");
}

impl Scanner {
    /// Set up (errors are fatal: bad directory, no `immortal` binary).
    pub fn new(dir: &Path) -> Result<Scanner> {
        let dir = crate::sdir::absolute(dir);
        std::fs::read_dir(&dir).ctx("read", &dir)?;
        let exe = std::env::current_exe().ctx("locate", "immortalsvc")?;
        let immortal = exe.with_file_name("immortal");
        if !immortal.is_file() {
            return Err(crate::error::Error::invalid(format!(
                "{} not found beside immortalsvc",
                immortal.display()
            )));
        }
        let sdir = crate::sdir::base();
        sys::fs::ensure_dir(&sdir)?;
        // Every supervisor we start resolves `-ctl NAME` and `require` in
        // the same place (set before any thread or child exists).
        std::env::set_var("IMMORTAL_SDIR", &sdir);
        // Orphans of our services (a supervisor killed with -9 leaves its
        // service behind) stay in our tree and are reaped by us.
        let _ = sys::process::become_subreaper();
        let signals = Signals::block(&[Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])?;
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .ok()
            .filter(|ino| {
                let flags = AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_ATTRIB;
                ino.add_watch(&dir, flags).is_ok()
            });
        if inotify.is_none() {
            say("inotify unavailable: changes are seen by the 5 s rescan");
        }
        Ok(Scanner {
            dir,
            sdir,
            immortal,
            children: BTreeMap::new(),
            signals,
            inotify,
            next_scan: Instant::now(),
            stopping: false,
        })
    }

    pub fn run(mut self) -> i32 {
        say(&format!(
            "supervising {} (supervise directories in {})",
            self.dir.display(),
            self.sdir.display()
        ));
        loop {
            let now = Instant::now();
            if !self.stopping && self.next_scan <= now {
                self.scan();
            }
            self.start_due();
            if self.stopping && self.children.values().all(|c| c.pid.is_none()) {
                say("every service stopped: exiting");
                return 0;
            }
            self.wait();
        }
    }

    fn deadline(&self) -> Option<Instant> {
        if self.stopping {
            return None;
        }
        let starts = self
            .children
            .values()
            .filter(|c| c.pid.is_none() && !c.removed)
            .map(|c| c.last_start.map_or(Instant::now(), |t| t + MIN_RESTART));
        starts.chain([self.next_scan]).min()
    }

    fn wait(&mut self) {
        let timeout = sys::timeout_until(self.deadline());
        let (sig, changed) = {
            let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            if let Some(ino) = &self.inotify {
                fds.push(PollFd::new(ino.as_fd(), PollFlags::POLLIN));
            }
            if poll(&mut fds, timeout).is_err() {
                return;
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), fds.get(1).is_some_and(ready))
        };
        if changed {
            if let Some(ino) = &self.inotify {
                let _ = ino.read_events();
            }
            self.next_scan = Instant::now();
        }
        if sig {
            for s in self.signals.drain() {
                match s {
                    Signal::SIGCHLD => self.reap(),
                    Signal::SIGHUP => self.next_scan = Instant::now(),
                    Signal::SIGTERM | Signal::SIGINT => self.stop_all(),
                    _ => {}
                }
            }
        }
    }

    fn scan(&mut self) {
        self.next_scan = Instant::now() + RESCAN;
        let (listing, clashes) = match scan::read(&self.dir) {
            Ok(found) => found,
            Err(e) => {
                say(&format!("unable to read {}: {e}", self.dir.display()));
                return;
            }
        };
        for name in clashes {
            say(&format!("{name}: both {name}.yml and {name}/ exist; using {name}.yml"));
        }
        let current: Listing = self
            .children
            .iter()
            .filter(|(_, c)| !c.removed)
            .map(|(n, c)| (n.clone(), c.entry.clone()))
            .collect();
        let plan = scan::plan(&current, &listing);
        for name in plan.start {
            let Some(entry) = listing.get(&name).cloned() else {
                continue;
            };
            self.children.insert(
                name,
                Child {
                    entry,
                    pid: None,
                    last_start: None,
                    removed: false,
                },
            );
        }
        for name in plan.restart {
            if let (Some(c), Some(entry)) = (self.children.get_mut(&name), listing.get(&name)) {
                c.entry = entry.clone();
                say(&format!("{name}: changed: restarting"));
                // It is started again, with the new configuration, when its
                // supervisor has stopped the service and exited.
                terminate(c.pid);
            }
        }
        for name in plan.stop {
            if let Some(c) = self.children.get_mut(&name) {
                say(&format!("{name}: removed: halting"));
                c.removed = true;
                terminate(c.pid);
            }
        }
        self.children.retain(|_, c| !(c.removed && c.pid.is_none()));
    }

    fn start_due(&mut self) {
        if self.stopping {
            return;
        }
        let now = Instant::now();
        let due: Vec<String> = self
            .children
            .iter()
            .filter(|(_, c)| c.pid.is_none() && !c.removed && c.last_start.is_none_or(|t| t + MIN_RESTART <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            self.start(&name);
        }
    }

    fn start(&mut self, name: &str) {
        let Some(child) = self.children.get_mut(name) else {
            return;
        };
        let args: Vec<String> = match child.entry {
            Entry::Yml(_) => {
                let yml = self.dir.join(format!("{name}.yml"));
                vec![
                    "-n".into(),
                    "-c".into(),
                    yml.display().to_string(),
                    "-ctl".into(),
                    name.into(),
                ]
            }
            Entry::Dir => {
                let svc = self.dir.join(name);
                link_supervise(&self.sdir.join(name), &svc.join("supervise"));
                vec!["-n".into(), svc.display().to_string()]
            }
        };
        let first_start = child.last_start.is_none();
        child.last_start = Some(Instant::now());
        if first_start {
            let sdir = match child.entry {
                Entry::Yml(_) => self.sdir.join(name),
                Entry::Dir => self.dir.join(name).join("supervise"),
            };
            take_over_orphan(name, &sdir);
        }
        let Some(child) = self.children.get_mut(name) else {
            return;
        };
        let io = crate::supervise::spawn::Io {
            stdin: crate::supervise::spawn::Sink::Null,
            stdout: crate::supervise::spawn::Sink::Inherit,
            stderr: crate::supervise::spawn::Sink::Inherit,
        };
        match crate::supervise::spawn::program(&self.immortal, &args, None, &io) {
            Ok(pid) => {
                child.pid = Some(Pid::from_raw(pid as i32));
                say(&format!("{name}: supervisor started (pid {pid})"));
            }
            Err(e) => say(&format!("{name}: unable to start {}: {e}", self.immortal.display())),
        }
    }

    fn reap(&mut self) {
        for (pid, how, _) in sys::process::reap_all() {
            let Some((name, child)) = self.children.iter_mut().find(|(_, c)| c.pid == Some(pid)) else {
                continue; // an orphan we inherited (as PID 1 or subreaper): reaped
            };
            child.pid = None;
            say(&format!("{name}: supervisor ended ({how})"));
        }
        self.children.retain(|_, c| !(c.removed && c.pid.is_none()));
    }

    fn stop_all(&mut self) {
        if !self.stopping {
            say("stopping every service");
        }
        self.stopping = true;
        for c in self.children.values() {
            terminate(c.pid);
        }
    }
}

/// A supervisor left running by an earlier immortalsvc that was killed
/// (`kill -9`, a crash) still holds NAME's supervise directory: ours would
/// find the lock taken and retry forever. If that supervisor is an orphan
/// (its parent is not an immortalsvc), end it with KILL — the service stays
/// up, and the supervisor started next adopts it and its output.
fn take_over_orphan(name: &str, sdir: &Path) {
    let lock = sdir.join(crate::sdir::LOCK);
    if !sys::lock::is_held(&lock) {
        return;
    }
    let holder = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .filter(|&p| p > 1);
    let Some(holder) = holder.map(Pid::from_raw) else {
        return;
    };
    let comm = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let parent = sys::process::ProcStat::read(holder).and_then(|st| st.ppid());
    let Some(parent) = parent else { return };
    if comm(holder.as_raw()).trim() != "immortal" || comm(parent).trim() == "immortalsvc" {
        say(&format!(
            "{name}: {} is held by pid {holder}: leaving it alone",
            sdir.display()
        ));
        return;
    }
    say(&format!(
        "{name}: orphaned supervisor (pid {holder}) found: replacing it, the service is adopted"
    ));
    let fd = crate::supervise::follow::pidfd(holder).ok();
    let _ = nix::sys::signal::kill(holder, Signal::SIGKILL);
    // Wait (at most a second, once per service at start-up) for it to be
    // gone, so our supervisor finds the lock free.
    if let Some(fd) = fd {
        use std::os::fd::AsFd;
        let mut fds = [nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN)];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(1000u16));
    }
}

/// SIGTERM to a supervisor: it stops its service (with that service's stop
/// timeout) and exits.
fn terminate(pid: Option<Pid>) {
    if let Some(pid) = pid {
        let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
    }
}

/// `$IMMORTAL_SDIR/NAME -> DIR/NAME/supervise`, so `immortalctl` finds a
/// service directory's supervisor with the others.
fn link_supervise(link: &Path, target: &Path) {
    if std::fs::symlink_metadata(link).is_ok() {
        return; // whatever is there (a real directory, an old link) stays
    }
    if let Err(e) = std::os::unix::fs::symlink(target, link) {
        say(&format!(
            "unable to link {} to {}: {e}",
            link.display(),
            target.display()
        ));
    }
}
