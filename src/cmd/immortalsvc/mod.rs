//! `immortalsvc DIR`: one `immortal` per service of a directory, as
//! `svscan`/`runsvdir` do — `NAME.yml` → `immortal -n -c DIR/NAME.yml -ctl
//! NAME`, `NAME/` → `immortal -n DIR/NAME` (its supervise directory linked
//! as `$IMMORTAL_SDIR/NAME`, so `immortalctl` lists it).
//!
//! One event loop, asleep until something happens — an idle immortalsvc
//! never wakes up:
//! - a watch on DIR ([`crate::sys::events`]: inotify, or a kqueue's
//!   `EVFILT_VNODE` on DIR and on each `NAME.yml`): any change of an entry
//!   of DIR (a file written, created, removed, renamed, chmod-ed) rereads
//!   DIR at once. A change *inside* a service directory (`chmod +x
//!   NAME/run`) is no event on DIR: SIGHUP rereads DIR, as does a
//!   lost-events report (inotify's `IN_Q_OVERFLOW`). Without a watch (or
//!   if it is lost), DIR is reread every [`RESCAN`] instead, said so at
//!   start — the only periodic timer.
//! - signals: supervisors are our children, so their deaths arrive as
//!   SIGCHLD. A supervisor that exits for any reason but removal — died,
//!   was halted, refused to start because a `require` is not up yet — is
//!   started again, at most once per [`MIN_RESTART`]; a deadline exists
//!   only while such a start is pending.
//!
//! A `NAME.yml` is validated as `immortal -c FILE -cc` validates it before
//! anything is stopped, and compared by meaning (the effective
//! configuration), not bytes: a comment, reordered keys or spacing restart
//! nothing. One that does not validate leaves the running service alone;
//! its error is printed once per change and written to
//! `$IMMORTAL_SDIR/NAME/config-error` (shown by `immortalctl`), removed
//! once the file is valid again (then the service restarts if its
//! configuration changed) or gone. A new `NAME.yml` that is invalid is not
//! started until it is fixed.
//!
//! SIGTERM/SIGINT stop every service (each supervisor with its own stop
//! timeout), then exit 0. Fit to be PID 1: every process that ends up as
//! its child is reaped.

pub mod hub;
pub mod listing;

use crate::error::{Context, Result};
use crate::layout;
use crate::supervise::state::EXIT_ESSENTIAL_FAILED;
use crate::sys::events::{Changes, Events, Happened, Token};
use crate::sys::process::ExitHow;
use crate::sys::{self};
use listing::{Entry, Listing};
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Without a watch on DIR only: how often DIR is reread.
pub const RESCAN: Duration = Duration::from_secs(5);
/// Two starts of one supervisor are at least this far apart.
pub const MIN_RESTART: Duration = Duration::from_secs(1);

struct Child {
    /// What its supervisor runs (or is started with next): never
    /// [`Entry::Invalid`].
    entry: Entry,
    pid: Option<Pid>,
    last_start: Option<Instant>,
    /// Gone from the directory: halted, then forgotten.
    removed: bool,
    /// Its `require:` list (services that must be ready before it starts).
    requires: Vec<String>,
    /// What it was last said to wait for (logged once per change).
    waiting_for: Vec<String>,
}

/// The `require:` of a valid `NAME.yml`'s effective configuration.
fn requires_of(entry: &Entry) -> Vec<String> {
    match entry {
        Entry::Yml(yaml) => serde_yaml::from_str::<crate::config::RunYml>(yaml)
            .map(|c| c.require)
            .unwrap_or_default(),
        Entry::Invalid(_) | Entry::Dir => Vec::new(),
    }
}

pub struct Scanner {
    dir: PathBuf,
    sdir: PathBuf,
    immortal: PathBuf,
    children: BTreeMap<String, Child>,
    /// `NAME.yml` files that do not validate, with the error reported.
    errors: BTreeMap<String, String>,
    /// Signals and the watches below.
    events: Events,
    /// The watch on DIR.
    watch: Option<Token>,
    /// When to reread DIR: now after an event or SIGHUP; without a watch,
    /// [`RESCAN`] after the last read; else never.
    next_scan: Option<Instant>,
    stopping: bool,
    /// An essential service failed for good (its supervisor exited 3):
    /// everything is stopped and immortalsvc exits 1.
    essential_failed: Option<String>,
    /// Watches `$IMMORTAL_SDIR` and the supervise directories of services
    /// others require: a `ready` file appearing starts those waiting.
    ready_watch: Option<Token>,
    /// `immortalsvc.sock` and `-metrics` (see [`hub`]).
    hub: Option<hub::Hub>,
}

fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "immortalsvc: {msg}");
}

impl Scanner {
    /// Set up (errors are fatal: bad directory, no `immortal` binary).
    /// `metrics`: `-metrics ADDR:PORT`, serving `/metrics` over TCP.
    pub fn new(dir: &Path, metrics: Option<&str>) -> Result<Scanner> {
        let dir = layout::absolute(dir);
        std::fs::read_dir(&dir).ctx("read", &dir)?;
        let exe = std::env::current_exe().ctx("locate", "immortalsvc")?;
        let immortal = exe.with_file_name("immortal");
        if !immortal.is_file() {
            return Err(crate::error::Error::invalid(format!(
                "{} not found beside immortalsvc",
                immortal.display()
            )));
        }
        let sdir = layout::base();
        sys::fs::ensure_dir(&sdir)?;
        // Every supervisor we start resolves `-ctl NAME` and `require` in
        // the same place (set before any thread or child exists).
        std::env::set_var("IMMORTAL_SDIR", &sdir);
        // Asking 1000 supervisors at once, and following their events,
        // takes a descriptor each: raised here, put back by each supervisor.
        sys::process::raise_nofile();
        // Orphans of our services (a supervisor killed with -9 leaves its
        // service behind) stay in our tree and are reaped by us.
        let _ = sys::process::become_subreaper();
        let mut events = Events::new(&[Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])?;
        let watch = match events.dir(&dir, Changes::Entries) {
            Ok(token) => Some(token),
            Err(e) => {
                say(&format!("unable to watch {}: {e}", dir.display()));
                None
            }
        };
        if watch.is_none() {
            say(&format!("changes are seen by a rescan every {} s", RESCAN.as_secs()));
        }
        let hub = match hub::Hub::new(&sdir, metrics) {
            Ok(h) => {
                if let Some(addr) = h.metrics_addr() {
                    say(&format!("serving /metrics on http://{addr}/metrics"));
                }
                Some(h)
            }
            // The services matter more than the socket; -metrics, asked
            // for, does not fail silently.
            Err(e) if metrics.is_some() => return Err(e),
            Err(e) => {
                say(&format!("no immortalsvc.sock: {e}"));
                None
            }
        };
        Ok(Scanner {
            dir,
            sdir,
            immortal,
            children: BTreeMap::new(),
            errors: BTreeMap::new(),
            events,
            watch,
            next_scan: Some(Instant::now()),
            stopping: false,
            essential_failed: None,
            ready_watch: None,
            hub,
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
            if !self.stopping && self.next_scan.is_some_and(|t| t <= now) {
                self.scan();
            }
            self.start_due();
            self.watch_requirements();
            if self.stopping && self.children.values().all(|c| c.pid.is_none()) {
                for name in self.errors.keys() {
                    self.remove_config_error(name);
                }
                if let Some(name) = &self.essential_failed {
                    say(&format!("every service stopped: exiting 1 ({name}, essential, failed)"));
                    return 1;
                }
                say("every service stopped: exiting");
                return 0;
            }
            self.wait();
        }
    }

    /// Whether NAME's supervisor is to be started (now or after
    /// [`MIN_RESTART`]): not running, still wanted, and its file valid (a
    /// supervisor reading an invalid file would only fail every second).
    fn wants_start(&self, name: &str, c: &Child) -> bool {
        !self.stopping
            && c.pid.is_none()
            && !c.removed
            && !self.errors.contains_key(name)
            && self.not_ready(&c.requires).is_empty()
    }

    /// Those of `names` that are not ready: no `ready` file in their
    /// supervise directory, or (ours) no supervisor running.
    fn not_ready(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter(|r| {
                let ours_down = self.children.get(*r).is_some_and(|c| c.pid.is_none());
                ours_down || !self.sdir.join(r).join(layout::READY).exists()
            })
            .cloned()
            .collect()
    }

    /// Say once what each service waits for, and watch where its
    /// requirements' readiness will show (their supervise directories, and
    /// `$IMMORTAL_SDIR` for those not there yet). No timer: a `ready` file
    /// appearing is the event.
    fn watch_requirements(&mut self) {
        let mut waits = Vec::new();
        for (name, c) in &self.children {
            if self.stopping || c.pid.is_some() || c.removed || self.errors.contains_key(name) {
                continue;
            }
            waits.push((name.clone(), self.not_ready(&c.requires)));
        }
        for (name, missing) in waits {
            if missing.is_empty() {
                continue;
            }
            // Cheap (one watch per directory): a directory created since
            // is watched from now on.
            let token = match self.ready_watch {
                Some(token) => self.events.add_dir(token, &self.sdir, Changes::Entries).map(|()| token),
                None => self.events.dir(&self.sdir, Changes::Entries),
            };
            if let Ok(token) = token {
                self.ready_watch = Some(token);
                for r in &missing {
                    let _ = self.events.add_dir(token, &self.sdir.join(r), Changes::Entries);
                }
            }
            if let Some(c) = self.children.get_mut(&name) {
                if c.waiting_for != missing {
                    say(&format!("{name}: waiting for {} to be ready", missing.join(", ")));
                    c.waiting_for = missing;
                }
            }
        }
    }

    /// The services whose supervisors run, for the hub to ask.
    fn running(&self) -> Vec<String> {
        self.children
            .iter()
            .filter(|(_, c)| c.pid.is_some())
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn deadline(&self) -> Option<Instant> {
        let hub = self.hub.as_ref().and_then(|h| h.deadline());
        if self.stopping {
            return hub;
        }
        let now = Instant::now();
        let starts = self
            .children
            .iter()
            .filter(|(n, c)| self.wants_start(n, c))
            .map(|(_, c)| c.last_start.map_or(now, |t| t + MIN_RESTART));
        starts.chain(self.next_scan).chain(hub).min()
    }

    fn wait(&mut self) {
        let timeout = sys::timeout_until(self.deadline());
        let (system, hub_ready) = {
            let sources = self.events.fds();
            let mut fds: Vec<PollFd> = sources
                .iter()
                .map(|(fd, _)| PollFd::new(*fd, PollFlags::POLLIN))
                .collect();
            let hub_at = fds.len();
            let hub_fds = self.hub.as_ref().map(|h| h.fds()).unwrap_or_default();
            fds.extend(hub_fds.iter().map(|(fd, flags, _)| PollFd::new(*fd, *flags)));
            if poll(&mut fds, timeout).is_err() {
                return;
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let system: Vec<sys::events::Key> = sources
                .iter()
                .zip(&fds)
                .filter(|(_, f)| ready(f))
                .map(|((_, key), _)| *key)
                .collect();
            let hub_ready: Vec<hub::Tag> = hub_fds
                .iter()
                .zip(&fds[hub_at..])
                .filter(|(_, f)| ready(f))
                .map(|((_, _, tag), _)| *tag)
                .collect();
            (system, hub_ready)
        };
        let running = self.running();
        if let Some(hub) = &mut self.hub {
            hub.handle(&hub_ready, &running);
        }
        // A change of a `ready` file needs nothing more: the loop then
        // looks at what may start.
        for happened in self.events.take(&system) {
            match happened {
                Happened::Signal(Signal::SIGCHLD) => self.reap(),
                Happened::Signal(Signal::SIGHUP) => {
                    say("SIGHUP: rereading the directory");
                    self.next_scan = Some(Instant::now());
                }
                Happened::Signal(Signal::SIGTERM | Signal::SIGINT) => self.stop_all(),
                Happened::Changed(token, seen) if Some(token) == self.watch => self.dir_changed(seen),
                Happened::Signal(_) | Happened::Changed(..) | Happened::Exited(_) => {}
            }
        }
    }

    /// DIR changed: it is reread (once, whatever the number of changes).
    fn dir_changed(&mut self, seen: sys::events::Seen) {
        if seen.overflow {
            say("changes were lost (the watch's queue overflowed): rereading the directory");
        }
        self.next_scan = Some(Instant::now());
        if seen.gone {
            say(&format!(
                "the watch on {} was removed: changes are seen by a rescan every {} s from now on",
                self.dir.display(),
                RESCAN.as_secs()
            ));
            if let Some(token) = self.watch.take() {
                self.events.forget(token);
            }
        }
    }

    fn scan(&mut self) {
        self.next_scan = self.watch.is_none().then(|| Instant::now() + RESCAN);
        let (listed, clashes) = match listing::read(&self.dir) {
            Ok(found) => found,
            Err(e) => {
                say(&format!("unable to read {}: {e}", self.dir.display()));
                return;
            }
        };
        for name in clashes {
            say(&format!("{name}: both {name}.yml and {name}/ exist; using {name}.yml"));
        }
        // Where the directory's watch does not see its files written (a
        // kqueue), each NAME.yml is watched itself.
        if let Some(token) = self.watch {
            for (name, entry) in &listed {
                if !matches!(entry, Entry::Dir) {
                    let _ = self
                        .events
                        .contents(token, &self.dir.join(format!("{name}{}", layout::YML_SUFFIX)));
                }
            }
        }
        let current: Listing = self
            .children
            .iter()
            .filter(|(_, c)| !c.removed)
            .map(|(n, c)| (n.clone(), c.entry.clone()))
            .collect();
        let plan = listing::plan(&current, &listed);
        self.report_errors(plan.invalid, &listed);
        for name in plan.start {
            let Some(entry) = listed.get(&name).cloned() else {
                continue;
            };
            self.children.insert(
                name,
                Child {
                    requires: requires_of(&entry),
                    entry,
                    pid: None,
                    last_start: None,
                    removed: false,
                    waiting_for: Vec::new(),
                },
            );
        }
        for name in plan.restart {
            if let (Some(c), Some(entry)) = (self.children.get_mut(&name), listed.get(&name)) {
                c.entry = entry.clone();
                c.requires = requires_of(entry);
                if c.pid.is_some() {
                    say(&format!("{name}: changed: restarting"));
                }
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

    /// Report each invalid `NAME.yml` once per change of its error, and
    /// keep `$IMMORTAL_SDIR/NAME/config-error` in step for `immortalctl`.
    fn report_errors(&mut self, invalid: Vec<(String, String)>, listed: &Listing) {
        let now: BTreeMap<String, String> = invalid.into_iter().collect();
        for (name, err) in &now {
            if self.errors.get(name) == Some(err) {
                continue;
            }
            match self.children.get(name).filter(|c| !c.removed) {
                Some(c) if c.pid.is_some() => {
                    say(&format!("{name}: not restarted, the running service is kept: {err}"));
                    self.write_config_error(name, err);
                }
                Some(_) => {
                    say(&format!("{name}: not started again: {err}"));
                    self.write_config_error(name, err);
                }
                None => say(&format!("{name}: not started: {err}")),
            }
        }
        let fixed: Vec<String> = self.errors.keys().filter(|n| !now.contains_key(*n)).cloned().collect();
        for name in fixed {
            if listed.contains_key(&name) {
                say(&format!("{name}: {name}.yml is valid again"));
            }
            self.remove_config_error(&name);
        }
        self.errors = now;
    }

    fn config_error_path(&self, name: &str) -> PathBuf {
        self.sdir.join(name).join(layout::CONFIG_ERROR)
    }

    fn write_config_error(&self, name: &str, err: &str) {
        let path = self.config_error_path(name);
        // Only beside a supervisor's own files: no directory is made here.
        if path.parent().is_some_and(Path::is_dir) {
            if let Err(e) = sys::fs::write_atomic(&path, format!("{err}\n").as_bytes()) {
                say(&format!("{name}: {e}"));
            }
        }
    }

    fn remove_config_error(&self, name: &str) {
        let path = self.config_error_path(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                say(&format!("{name}: unable to remove {}: {e}", path.display()));
            }
            _ => {}
        }
    }

    fn start_due(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .children
            .iter()
            .filter(|(n, c)| self.wants_start(n, c) && c.last_start.is_none_or(|t| t + MIN_RESTART <= now))
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
        let (args, sdir): (Vec<String>, PathBuf) = match child.entry {
            Entry::Dir => {
                let svc = self.dir.join(name);
                link_supervise(&self.sdir.join(name), &svc.join(layout::SUPERVISE));
                (
                    vec!["-n".into(), svc.display().to_string()],
                    svc.join(layout::SUPERVISE),
                )
            }
            _ => {
                let yml = self.dir.join(format!("{name}{}", layout::YML_SUFFIX));
                let args = vec![
                    "-n".into(),
                    "-c".into(),
                    yml.display().to_string(),
                    "-ctl".into(),
                    name.into(),
                ];
                (args, self.sdir.join(name))
            }
        };
        let first_start = child.last_start.is_none();
        child.last_start = Some(Instant::now());
        if first_start {
            take_over_orphan(name, &sdir);
            // Left by an earlier immortalsvc: the file is valid now.
            self.remove_config_error(name);
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
            if how == ExitHow::Code(EXIT_ESSENTIAL_FAILED) && !self.stopping {
                say(&format!(
                    "{name}: essential service failed (its supervisor exited {EXIT_ESSENTIAL_FAILED}): stopping every service"
                ));
                self.essential_failed = Some(name.clone());
            } else if self.errors.contains_key(name) && !child.removed && !self.stopping {
                say(&format!(
                    "{name}: supervisor ended ({how}); not started again until {name}.yml is valid"
                ));
            } else {
                say(&format!("{name}: supervisor ended ({how})"));
            }
        }
        self.children.retain(|_, c| !(c.removed && c.pid.is_none()));
        if self.stopping || self.essential_failed.is_some() {
            // Those whose dependents have now stopped go next.
            self.stop_all();
        }
    }

    /// Stop every service, dependents before what they require: a
    /// supervisor is told to stop once nothing running requires its
    /// service ([`Scanner::reap`] calls this again as each one ends).
    fn stop_all(&mut self) {
        if !self.stopping {
            say("stopping every service");
        }
        self.stopping = true;
        let running: Vec<&String> = self
            .children
            .iter()
            .filter(|(_, c)| c.pid.is_some())
            .map(|(n, _)| n)
            .collect();
        for (name, c) in &self.children {
            let required = running
                .iter()
                .any(|other| *other != name && self.children[*other].requires.contains(name));
            if !required {
                terminate(c.pid);
            }
        }
    }
}

/// A supervisor left running by an earlier immortalsvc that was killed
/// (`kill -9`, a crash) still holds NAME's supervise directory: ours would
/// find the lock taken and retry forever. If that supervisor is an orphan
/// (its parent is not an immortalsvc), end it with KILL — the service stays
/// up, and the supervisor started next adopts it and its output.
fn take_over_orphan(name: &str, sdir: &Path) {
    let lock = sdir.join(layout::LOCK);
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
    let comm = |pid: i32| sys::process::name(Pid::from_raw(pid)).unwrap_or_default();
    let parent = sys::process::info(holder).map(|i| i.ppid);
    let Some(parent) = parent else { return };
    if comm(holder.as_raw()) != "immortal" || comm(parent) == "immortalsvc" {
        say(&format!(
            "{name}: {} is held by pid {holder}: leaving it alone",
            sdir.display()
        ));
        return;
    }
    say(&format!(
        "{name}: orphaned supervisor (pid {holder}) found: replacing it, the service is adopted"
    ));
    // Its own watch (no signals): what it reports is only its end.
    let mut watch = Events::new(&[]).ok();
    let watching = watch.as_mut().is_some_and(|w| w.exit(holder).is_ok());
    let _ = nix::sys::signal::kill(holder, Signal::SIGKILL);
    // Wait (at most a second, once per service at start-up) for it to be
    // gone, so our supervisor finds the lock free.
    if let Some(w) = watch.as_mut().filter(|_| watching) {
        let _ = w.wait(Some(Instant::now() + Duration::from_secs(1)));
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
