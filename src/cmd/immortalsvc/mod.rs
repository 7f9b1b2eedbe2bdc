//! `immortalsvc DIR`: one `immortal` per service of a directory, as
//! `svscan`/`runsvdir` do — `NAME.yml` → `immortal -n -c DIR/NAME.yml -ctl
//! NAME`, `NAME/` → `immortal -n DIR/NAME` (its supervise directory linked
//! as `$IMMORTAL_SDIR/NAME`, so `immortalctl` lists it).
//!
//! One event loop, asleep until something happens — an idle immortalsvc
//! never wakes up. It decides nothing: every decision (what to start,
//! restart and stop, in which order, when to exit) is one pure table,
//! [`fleet::plan`]; the loop turns what happens into [`fleet::Event`]s,
//! queued, and performs the [`fleet::Action`]s. Its sources:
//! - an inotify watch on DIR: any change of an entry of DIR (a file
//!   written, created, removed, renamed, chmod-ed) rereads DIR at once. A
//!   change *inside* a service directory (`chmod +x NAME/run`) is no event
//!   on DIR: SIGHUP rereads DIR, as does a lost-events report
//!   (`IN_Q_OVERFLOW`). Without inotify (or if the watch is lost), DIR is
//!   reread every [`fleet::RESCAN`] instead, said so at start — the only
//!   periodic timer.
//! - a signalfd: supervisors are our children, so their deaths arrive as
//!   SIGCHLD. A supervisor that exits for any reason but removal — died,
//!   was halted, refused to start because a `require` is not up yet — is
//!   started again, at most once per [`fleet::MIN_RESTART`]; a deadline
//!   exists only while such a start is pending.
//! - an inotify watch on the supervise directories of required services:
//!   a `ready` file appearing starts what waits for it.
//! - a pidfd per orphaned supervisor killed before a first start (one left
//!   by a killed immortalsvc): its end starts ours, never a blocking wait.
//! - immortalsvc's own socket ([`hub`]).
//! - the services' output pipes and our own stdout and stderr ([`mux`]):
//!   every service without a log of its own writes there, as whole lines
//!   marked with its name (`-o prefix|plain|json`).
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

pub mod fleet;
pub mod hub;
pub mod mux;

use crate::error::{Context, Result};
use crate::layout;
use crate::listing;
use crate::sys::{self, signalfd::Signals};
use fleet::{Action, Event, Fleet, Holder};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct Scanner {
    dir: PathBuf,
    sdir: PathBuf,
    immortal: PathBuf,
    /// What the table knows and has decided.
    fleet: Fleet,
    /// Events not handled yet: an action's answer comes after the event
    /// that asked for it, never in a nested call.
    queue: VecDeque<Event>,
    signals: Signals,
    inotify: Option<Inotify>,
    /// Watches `$IMMORTAL_SDIR` and the supervise directories of services
    /// others require: a `ready` file appearing is an event.
    ready_watch: Option<Inotify>,
    /// The names of the last [`Action::WatchReady`].
    ready_names: BTreeSet<String>,
    /// Orphaned supervisors killed by [`Action::Kill`], until gone.
    dying: Vec<(Pid, OwnedFd)>,
    /// `immortalsvc.sock` and `-metrics` (see [`hub`]).
    hub: Option<hub::Hub>,
    /// The services' output, and our own messages (see [`mux`]).
    mux: mux::Mux,
}

/// Before the loop (nothing else is written yet): straight to stderr.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "immortalsvc: {msg}");
}

impl Scanner {
    /// Set up (errors are fatal: bad directory, no `immortal` binary).
    /// `metrics`: `-metrics ADDR:PORT`, serving `/metrics` over TCP;
    /// `format`: `-o`, how the services' lines are written.
    pub fn new(dir: &Path, metrics: Option<&str>, format: mux::lines::Format) -> Result<Scanner> {
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
        let signals = Signals::block(&[Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])?;
        let inotify = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(ino) => {
                let flags = AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_ATTRIB;
                match ino.add_watch(&dir, flags) {
                    Ok(_) => Some(ino),
                    Err(e) => {
                        say(&format!("unable to watch {} with inotify: {e}", dir.display()));
                        None
                    }
                }
            }
            Err(e) => {
                say(&format!("inotify unavailable: {e}"));
                None
            }
        };
        if inotify.is_none() {
            say(&format!(
                "changes are seen by a rescan every {} s",
                fleet::RESCAN.as_secs()
            ));
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
        // Last: what was said above is written already, straight to stderr.
        let mux = mux::Mux::new(format).ctx("set up the output of", "stdout and stderr")?;
        Ok(Scanner {
            fleet: Fleet::new(inotify.is_some(), Instant::now()),
            dir,
            sdir,
            immortal,
            queue: VecDeque::new(),
            signals,
            inotify,
            ready_watch: Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok(),
            ready_names: BTreeSet::new(),
            dying: Vec::new(),
            hub,
            mux,
        })
    }

    pub fn run(mut self) -> i32 {
        self.say(&format!(
            "supervising {} (supervise directories in {})",
            self.dir.display(),
            self.sdir.display()
        ));
        self.queue.push_back(Event::Tick);
        loop {
            while let Some(event) = self.queue.pop_front() {
                let now = Instant::now();
                let fleet = std::mem::replace(&mut self.fleet, Fleet::new(false, now));
                let (fleet, actions) = fleet::plan(fleet, event, now);
                self.fleet = fleet;
                let longest = self.fleet.children.keys().map(|n| n.chars().count()).max();
                self.mux.set_width(longest.unwrap_or(0));
                for action in actions {
                    if let Some(code) = self.perform(action) {
                        return code;
                    }
                }
            }
            self.wait();
        }
    }

    /// Do what the table decided; an answer is queued as an event. `Some`:
    /// exit with this status.
    fn perform(&mut self, action: Action) -> Option<i32> {
        match action {
            Action::Say(text) => self.say(&text),
            Action::Scan => self.queue.push_back(match listing::read(&self.dir) {
                Ok((listing, clashes)) => Event::Listed { listing, clashes },
                Err(e) => Event::ListFailed(format!("unable to read {}: {e}", self.dir.display())),
            }),
            Action::Inspect { name, service_dir } => {
                let holder = holder(&self.supervise_dir(&name, service_dir));
                self.queue.push_back(Event::Held { name, holder });
            }
            Action::Kill(pid) => {
                // Opened before the kill: the descriptor is of this process.
                let fd = sys::pidfd::open(pid).ok();
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                match fd {
                    Some(fd) => self.dying.push((pid, fd)),
                    None => self.queue.push_back(Event::Gone { pid }),
                }
            }
            Action::Start { name, service_dir } => {
                let event = self.start(&name, service_dir);
                self.queue.push_back(event);
            }
            Action::Term(pid) => {
                let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
            }
            Action::WriteConfigError { name, error } => self.write_config_error(&name, &error),
            Action::RemoveConfigError { name } => self.remove_config_error(&name),
            Action::CloseOutput { name } => self.mux.close(&name),
            Action::WatchReady(names) => {
                self.ready_names = names;
                let ready = self.ready_now();
                self.queue.push_back(Event::Ready(ready));
            }
            Action::Exit(code) => {
                self.mux.finish(mux::FINISH);
                return Some(code);
            }
        }
        None
    }

    /// A line of ours on stderr, in turn with the services' lines.
    fn say(&mut self, msg: &str) {
        self.mux.say(&format!("immortalsvc: {msg}"));
    }

    /// Where NAME's supervisor keeps its files.
    fn supervise_dir(&self, name: &str, service_dir: bool) -> PathBuf {
        if service_dir {
            self.dir.join(name).join(layout::SUPERVISE)
        } else {
            self.sdir.join(name)
        }
    }

    /// Spawn NAME's supervisor: `immortal -n DIR/NAME`, or `immortal -n -c
    /// DIR/NAME.yml -ctl NAME`.
    fn start(&mut self, name: &str, service_dir: bool) -> Event {
        let args: Vec<String> = if service_dir {
            let svc = self.dir.join(name);
            if let Err(why) = link_supervise(&self.sdir.join(name), &svc.join(layout::SUPERVISE)) {
                self.say(&why);
            }
            vec!["-n".into(), svc.display().to_string()]
        } else {
            let yml = self.dir.join(format!("{name}{}", layout::YML_SUFFIX));
            vec![
                "-n".into(),
                "-c".into(),
                yml.display().to_string(),
                "-ctl".into(),
                name.into(),
            ]
        };
        // Its stdout and stderr: its pipes to the multiplexer, the same at
        // every start. It hands them to a service without a log of its own.
        let (stdout, stderr) = match self.mux.sinks(name) {
            Ok(ends) => ends,
            Err(e) => {
                return Event::StartFailed {
                    name: name.to_string(),
                    why: format!("{}: unable to make its output pipes: {e}", self.immortal.display()),
                }
            }
        };
        let io = crate::supervise::spawn::Io {
            stdin: crate::supervise::spawn::Sink::Null,
            stdout: crate::supervise::spawn::Sink::Fd(stdout),
            stderr: crate::supervise::spawn::Sink::Fd(stderr),
        };
        match crate::supervise::spawn::program(&self.immortal, &args, None, &io) {
            Ok(pid) => Event::Started {
                name: name.to_string(),
                pid: Pid::from_raw(pid as i32),
            },
            Err(e) => Event::StartFailed {
                name: name.to_string(),
                why: format!("{}: {e}", self.immortal.display()),
            },
        }
    }

    /// Which of the watched names have a `ready` file, the watches renewed
    /// first (a supervise directory created since is watched from now on;
    /// checked after, so a file made in between is not missed).
    fn ready_now(&self) -> BTreeSet<String> {
        if let Some(ino) = &self.ready_watch {
            let dirs = AddWatchFlags::IN_CREATE | AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_TO;
            if !self.ready_names.is_empty() {
                let _ = ino.add_watch(&self.sdir, dirs);
            }
            for name in &self.ready_names {
                let _ = ino.add_watch(&self.sdir.join(name), dirs);
            }
        }
        self.ready_names
            .iter()
            .filter(|name| self.sdir.join(name).join(layout::READY).exists())
            .cloned()
            .collect()
    }

    /// Sleep until something happens (or the one deadline), and queue it.
    fn wait(&mut self) {
        let hub_deadline = self.hub.as_ref().and_then(|h| h.deadline());
        let deadline = self.fleet.deadline().into_iter().chain(hub_deadline).min();
        let timeout = sys::timeout_until(deadline);
        let (sig, deps, changed, gone, hub_ready, mux_ready) = {
            let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            let deps_at = fds.len();
            if let Some(ino) = &self.ready_watch {
                fds.push(PollFd::new(ino.as_fd(), PollFlags::POLLIN));
            }
            let dir_at = fds.len();
            if let Some(ino) = &self.inotify {
                fds.push(PollFd::new(ino.as_fd(), PollFlags::POLLIN));
            }
            let dying_at = fds.len();
            fds.extend(
                self.dying
                    .iter()
                    .map(|(_, fd)| PollFd::new(fd.as_fd(), PollFlags::POLLIN)),
            );
            let hub_at = fds.len();
            let hub_fds = self.hub.as_ref().map(|h| h.fds()).unwrap_or_default();
            fds.extend(hub_fds.iter().map(|(fd, flags, _)| PollFd::new(*fd, *flags)));
            let mux_at = fds.len();
            let mux_fds = self.mux.fds();
            fds.extend(mux_fds.iter().map(|(fd, flags, _)| PollFd::new(*fd, *flags)));
            if poll(&mut fds, timeout).is_err() {
                return;
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let gone: Vec<Pid> = self
                .dying
                .iter()
                .zip(&fds[dying_at..hub_at])
                .filter(|(_, f)| ready(f))
                .map(|((pid, _), _)| *pid)
                .collect();
            let mux_ready: Vec<mux::Tag> = mux_fds
                .iter()
                .zip(&fds[mux_at..])
                .filter(|(_, f)| ready(f))
                .map(|((_, _, tag), _)| *tag)
                .collect();
            let hub_ready: Vec<hub::Tag> = hub_fds
                .iter()
                .zip(&fds[hub_at..mux_at])
                .filter(|(_, f)| ready(f))
                .map(|((_, _, tag), _)| *tag)
                .collect();
            (
                ready(&fds[0]),
                self.ready_watch.is_some() && ready(&fds[deps_at]),
                self.inotify.is_some() && ready(&fds[dir_at]),
                gone,
                hub_ready,
                mux_ready,
            )
        };
        self.mux.handle(&mux_ready);
        let running = self.fleet.running();
        if let Some(hub) = &mut self.hub {
            hub.set_unstarted(&self.fleet.unstarted());
            hub.handle(&hub_ready, &running);
        }
        // Without an inotify instance for them, readiness is looked at
        // whenever something else wakes the loop.
        if deps || (self.ready_watch.is_none() && !self.ready_names.is_empty()) {
            self.read_ready_events();
            let ready = self.ready_now();
            self.queue.push_back(Event::Ready(ready));
        }
        if changed {
            self.read_events();
        }
        for pid in gone {
            self.dying.retain(|(p, _)| *p != pid);
            self.queue.push_back(Event::Gone { pid });
        }
        if sig {
            for s in self.signals.drain() {
                match s {
                    Signal::SIGCHLD => {
                        for (pid, how, _) in sys::process::reap_all() {
                            self.queue.push_back(Event::Exited { pid, how });
                        }
                    }
                    Signal::SIGHUP => self.queue.push_back(Event::Reread),
                    Signal::SIGTERM | Signal::SIGINT => self.queue.push_back(Event::Stop),
                    _ => {}
                }
            }
        }
        if self.queue.is_empty() && deadline.is_some_and(|d| d <= Instant::now()) {
            self.queue.push_back(Event::Tick);
        }
    }

    /// Drain the readiness watch (what changed is read from the files).
    fn read_ready_events(&mut self) {
        if let Some(ino) = &self.ready_watch {
            while let Ok(events) = ino.read_events() {
                if events.is_empty() {
                    break;
                }
            }
        }
    }

    /// Drain the inotify queue on DIR: whatever it says, DIR is reread.
    fn read_events(&mut self) {
        let Some(ino) = &self.inotify else {
            return;
        };
        let mut overflow = false;
        let mut lost_watch = None;
        loop {
            match ino.read_events() {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    for e in events {
                        overflow |= e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW);
                        if e.mask.contains(AddWatchFlags::IN_IGNORED) {
                            lost_watch = Some(format!("the inotify watch on {} was removed", self.dir.display()));
                        }
                    }
                }
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    lost_watch = Some(format!("unable to read inotify events for {}: {e}", self.dir.display()));
                    break;
                }
            }
        }
        self.queue.push_back(Event::DirChanged { overflow });
        if let Some(why) = lost_watch {
            self.inotify = None;
            self.queue.push_back(Event::WatchLost(why));
        }
    }

    fn config_error_path(&self, name: &str) -> PathBuf {
        self.sdir.join(name).join(layout::CONFIG_ERROR)
    }

    fn write_config_error(&mut self, name: &str, err: &str) {
        let path = self.config_error_path(name);
        // Only beside a supervisor's own files: no directory is made here.
        if path.parent().is_some_and(Path::is_dir) {
            if let Err(e) = sys::fs::write_atomic(&path, format!("{err}\n").as_bytes()) {
                self.say(&format!("{name}: {e}"));
            }
        }
    }

    fn remove_config_error(&mut self, name: &str) {
        let path = self.config_error_path(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                self.say(&format!("{name}: unable to remove {}: {e}", path.display()));
            }
            _ => {}
        }
    }
}

/// Who holds the supervise directory `sdir`: a supervisor left running by
/// an earlier immortalsvc that was killed (`kill -9`, a crash) would make
/// ours find the lock taken and retry forever. An orphan (an `immortal`
/// whose parent is not an immortalsvc) is for the table to replace — the
/// service stays up, and the supervisor started next adopts it and its
/// output; anyone else is left alone.
fn holder(sdir: &Path) -> Holder {
    let lock = sdir.join(layout::LOCK);
    if !sys::lock::is_held(&lock) {
        return Holder::Free;
    }
    let holder = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .filter(|&p| p > 1);
    let Some(holder) = holder.map(Pid::from_raw) else {
        return Holder::Free;
    };
    let comm = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let Some(parent) = sys::process::ProcStat::read(holder).and_then(|st| st.ppid()) else {
        return Holder::Free;
    };
    if comm(holder.as_raw()).trim() != "immortal" || comm(parent).trim() == "immortalsvc" {
        return Holder::Other {
            pid: holder,
            dir: sdir.to_path_buf(),
        };
    }
    Holder::Orphan(holder)
}

/// `$IMMORTAL_SDIR/NAME -> DIR/NAME/supervise`, so `immortalctl` finds a
/// service directory's supervisor with the others (`Err`: what to say).
fn link_supervise(link: &Path, target: &Path) -> std::result::Result<(), String> {
    if std::fs::symlink_metadata(link).is_ok() {
        return Ok(()); // whatever is there (a real directory, an old link) stays
    }
    std::os::unix::fs::symlink(target, link)
        .map_err(|e| format!("unable to link {} to {}: {e}", link.display(), target.display()))
}
