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
//! - a watch on DIR ([`crate::sys::events`]: inotify, or a kqueue's
//!   `EVFILT_VNODE` on DIR and on each `NAME.yml`): any change of an entry
//!   of DIR (a file written, created, removed, renamed, chmod-ed) rereads
//!   DIR at once. A change *inside* a service directory (`chmod +x
//!   NAME/run`) is no event on DIR: SIGHUP rereads DIR, as does a
//!   lost-events report (inotify's `IN_Q_OVERFLOW`). Without a watch (or
//!   if it is lost), DIR is reread every [`fleet::RESCAN`] instead, said so
//!   at start — the only periodic timer.
//! - signals: supervisors are our children, so their deaths arrive as
//!   SIGCHLD. A supervisor that exits for any reason but removal — died,
//!   was halted, refused to start because a `require` is not up yet — is
//!   started again, at most once per [`fleet::MIN_RESTART`]; a deadline
//!   exists only while such a start is pending.
//! - a watch on the supervise directories of required services: a `ready`
//!   file appearing starts what waits for it.
//! - a watch for the end of each orphaned supervisor killed before a first
//!   start (one left by a killed immortalsvc): its end starts ours, never a
//!   blocking wait.
//! - immortalsvc's own socket ([`hub`]).
//! - the services' output pipes and our own stdout and stderr ([`mux`]):
//!   every service without a log of its own writes there, as whole lines
//!   marked with its name (`-o prefix|plain|json`).
//!
//! A `NAME.yml` is validated as `immortal -c FILE -cc` validates it before
//! anything is stopped, and compared by meaning (the effective
//! configuration), not bytes: a comment, reordered keys or spacing restart
//! nothing. A change its supervisor can apply by itself (every key that
//! changed is read again at the service's next start:
//! [`fleet::applied_by_restart`]) is a `restart` asked through the
//! supervisor's socket, its answer read in the one poll: the supervisor and
//! its `listen:` sockets stay. Any other change, or a `restart` not taken,
//! stops the supervisor and starts a new one. One that does not validate leaves the running service alone;
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
use crate::sys::events::{Changes, Events, Happened, Token};
use crate::sys::{self};
use fleet::{Action, Event, Fleet, Holder};
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
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
    /// Signals and the watches below.
    events: Events,
    /// The watch on DIR.
    watch: Option<Token>,
    /// Watches `$IMMORTAL_SDIR` and the supervise directories of services
    /// others require: a `ready` file appearing is an event.
    ready_watch: Option<Token>,
    /// The names of the last [`Action::WatchReady`].
    ready_names: BTreeSet<String>,
    /// Orphaned supervisors killed by [`Action::Kill`], until gone.
    dying: Vec<(Pid, Token)>,
    /// `restart`s asked of supervisors ([`Action::Reload`]), until answered.
    reloads: Vec<Reload>,
    /// Supervisors forked, their exec not confirmed yet: every start the
    /// table decided is forked before any is waited for, so they start
    /// together ([`crate::sys::clone::fork_exec`]).
    forked: Vec<(String, crate::sys::clone::Forked)>,
    /// The cgroup hierarchies of the burst of starts under way, for each
    /// supervisor started ([`crate::cgroup::HIERARCHIES_VAR`]).
    hierarchies: Option<String>,
    /// `immortalsvc.sock` and `-metrics` (see [`hub`]).
    hub: Option<hub::Hub>,
    /// The services' output, and our own messages (see [`mux`]).
    mux: mux::Mux,
}

/// A `restart` asked of NAME's supervisor `pid`: its answer is read in
/// the one poll, and reported ([`Event::Reloaded`], [`Event::ReloadFailed`])
/// when it comes or at `deadline`.
struct Reload {
    name: String,
    pid: Pid,
    fetch: hub::Fetch,
    deadline: Instant,
}

/// What a supervisor's answer to `restart` is for the table.
fn reload_answer(name: String, pid: Pid, answer: hub::Answer) -> Event {
    let why = match answer {
        Ok((code, body)) => {
            let err = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("Err").and_then(|e| e.as_str()).map(String::from));
            match (code, err) {
                (200, Some(err)) if err.is_empty() => return Event::Reloaded { name, pid },
                (200, Some(err)) => err,
                (code, Some(err)) => format!("answered {code}: {err}"),
                (code, None) => format!("answered {code}: {}", body.trim()),
            }
        }
        Err(e) => e.to_string(),
    };
    Event::ReloadFailed { name, pid, why }
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
        // First: below everything the scanner opens from now on.
        crate::supervise::spawn::reserve_slots();
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
            fleet: Fleet::new(watch.is_some(), Instant::now()),
            dir,
            sdir,
            immortal,
            queue: VecDeque::new(),
            events,
            watch,
            ready_watch: None,
            ready_names: BTreeSet::new(),
            dying: Vec::new(),
            reloads: Vec::new(),
            forked: Vec::new(),
            hierarchies: None,
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
                // Names come with a listing and go with a listing or an
                // exit: the longest is measured then, not at every event
                // of a burst of starts.
                let names_may_change =
                    matches!(event, Event::Listed { .. } | Event::Exited { .. } | Event::Gone { .. });
                let fleet = std::mem::replace(&mut self.fleet, Fleet::new(false, now));
                let (fleet, actions) = fleet::plan(fleet, event, now);
                self.fleet = fleet;
                if actions.iter().any(|a| matches!(a, Action::Exit(_))) {
                    // The services' last output before our last words.
                    self.mux.close_pipes();
                }
                if names_may_change {
                    let longest = self.fleet.children.keys().map(|n| n.chars().count()).max();
                    self.mux.set_width(longest.unwrap_or(0));
                }
                for action in actions {
                    if let Some(code) = self.perform(action) {
                        return code;
                    }
                }
            }
            if !self.forked.is_empty() {
                self.confirm_starts();
                continue;
            }
            self.wait();
        }
    }

    /// Do what the table decided; an answer is queued as an event. `Some`:
    /// exit with this status.
    fn perform(&mut self, action: Action) -> Option<i32> {
        match action {
            Action::Say(text) => self.say(&text),
            Action::Scan => {
                let event = match listing::read(&self.dir) {
                    Ok((listing, clashes)) => {
                        self.watch_files(&listing);
                        Event::Listed { listing, clashes }
                    }
                    Err(e) => Event::ListFailed(format!("unable to read {}: {e}", self.dir.display())),
                };
                self.queue.push_back(event);
            }
            Action::Inspect { name, service_dir } => {
                let holder = holder(&self.supervise_dir(&name, service_dir));
                self.queue.push_back(Event::Held { name, holder });
            }
            Action::Kill(pid) => {
                // Watched before the kill: the watch is of this process.
                let token = self.events.exit(pid).ok();
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                match token {
                    Some(token) => self.dying.push((pid, token)),
                    None => self.queue.push_back(Event::Gone { pid }),
                }
            }
            Action::Start { name, service_dir } => {
                if let Some(failed) = self.start(&name, service_dir) {
                    self.queue.push_back(failed);
                }
            }
            Action::Term(pid) => {
                let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
            }
            Action::Reload { name, pid } => {
                let sock = self.supervise_dir(&name, false).join(layout::SOCKET);
                match hub::Fetch::start(&sock, &name, "/signal/restart") {
                    Ok(fetch) => self.reloads.push(Reload {
                        name,
                        pid,
                        fetch,
                        deadline: Instant::now() + fleet::RELOAD_TIMEOUT,
                    }),
                    Err(e) => self.queue.push_back(Event::ReloadFailed {
                        name,
                        pid,
                        why: e.to_string(),
                    }),
                }
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

    /// Fork NAME's supervisor: `immortal -n DIR/NAME`, or `immortal -n -c
    /// DIR/NAME.yml -ctl NAME` (its exec confirmed by [`Self::confirm_starts`]);
    /// `Some`: it could not even be forked.
    fn start(&mut self, name: &str, service_dir: bool) -> Option<Event> {
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
        // every start. It hands them to a service without a log of its own,
        // and writes its own messages to a third one (a line its service
        // has only begun is never cut by one of them).
        let sinks = match self.mux.sinks(name) {
            Ok(sinks) => sinks,
            Err(e) => {
                return Some(Event::StartFailed {
                    name: name.to_string(),
                    why: format!("{}: unable to make its output pipes: {e}", self.immortal.display()),
                })
            }
        };
        let io = crate::supervise::spawn::Io {
            stdin: crate::supervise::spawn::Sink::Null,
            stdout: crate::supervise::spawn::Sink::Fd(sinks.out),
            stderr: crate::supervise::spawn::Sink::Fd(sinks.err),
        };
        // The cgroup hierarchies, looked at once for a whole burst of
        // starts and handed to each (`cgroup::HIERARCHIES_VAR`).
        if self.forked.is_empty() {
            self.hierarchies = crate::cgroup::Hierarchies::look().to_env();
        }
        let env: Vec<(&str, String)> = self
            .hierarchies
            .iter()
            .map(|h| (crate::cgroup::HIERARCHIES_VAR, h.clone()))
            .collect();
        match crate::supervise::spawn::supervisor(&self.immortal, &args, &env, &io, &sinks.notices) {
            Ok(forked) => {
                self.forked.push((name.to_string(), forked));
                None
            }
            Err(e) => Some(Event::StartFailed {
                name: name.to_string(),
                why: format!("{}: {e}", self.immortal.display()),
            }),
        }
    }

    /// Each supervisor forked has exec'd (`Started`), or could not
    /// (`StartFailed`): by now most have, so this waits for the slowest.
    fn confirm_starts(&mut self) {
        for (name, forked) in std::mem::take(&mut self.forked) {
            let event = match forked.confirm() {
                Ok(pid) => Event::Started {
                    name,
                    pid: Pid::from_raw(pid as i32),
                },
                Err(e) => Event::StartFailed {
                    name,
                    why: format!("{}: {e}", self.immortal.display()),
                },
            };
            self.queue.push_back(event);
        }
    }

    /// Where the directory's watch does not see its files written (a
    /// kqueue), each `NAME.yml` is watched itself.
    fn watch_files(&mut self, listing: &listing::Listing) {
        let Some(token) = self.watch else { return };
        for (name, entry) in listing {
            if !matches!(entry, listing::Entry::Dir) {
                let file = self.dir.join(format!("{name}{}", layout::YML_SUFFIX));
                let _ = self.events.contents(token, &file);
            }
        }
    }

    /// Which of the watched names have a `ready` file, the watches renewed
    /// first (a supervise directory created since is watched from now on;
    /// checked after, so a file made in between is not missed).
    fn ready_now(&mut self) -> BTreeSet<String> {
        if !self.ready_names.is_empty() {
            let dirs: Vec<PathBuf> = std::iter::once(self.sdir.clone())
                .chain(self.ready_names.iter().map(|n| self.sdir.join(n)))
                .collect();
            for dir in dirs {
                let watched = match self.ready_watch {
                    Some(token) => self.events.add_dir(token, &dir, Changes::Entries).map(|()| token),
                    None => self.events.dir(&dir, Changes::Entries),
                };
                if let Ok(token) = watched {
                    self.ready_watch = Some(token);
                }
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
        let reload_deadlines = self.reloads.iter().map(|r| r.deadline);
        let deadline = self
            .fleet
            .deadline()
            .into_iter()
            .chain(hub_deadline)
            .chain(reload_deadlines)
            .min();
        let timeout = sys::timeout_until(deadline);
        let (system, hub_ready, mux_ready, reload_ready) = {
            let sources = self.events.fds();
            let mut fds: Vec<PollFd> = sources
                .iter()
                .map(|(fd, _)| PollFd::new(*fd, PollFlags::POLLIN))
                .collect();
            let hub_at = fds.len();
            let hub_fds = self.hub.as_ref().map(|h| h.fds()).unwrap_or_default();
            fds.extend(hub_fds.iter().map(|(fd, flags, _)| PollFd::new(*fd, *flags)));
            let mux_at = fds.len();
            let mux_fds = self.mux.fds();
            fds.extend(mux_fds.iter().map(|(fd, flags, _)| PollFd::new(*fd, *flags)));
            let reload_at = fds.len();
            fds.extend(self.reloads.iter().map(|r| {
                let (fd, flags) = r.fetch.poll_fd();
                PollFd::new(fd, flags)
            }));
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
            let reload_ready: Vec<usize> = (0..self.reloads.len())
                .filter(|&k| fds.get(reload_at + k).is_some_and(ready))
                .collect();
            let mux_ready: Vec<mux::Tag> = mux_fds
                .iter()
                .zip(&fds[mux_at..reload_at])
                .filter(|(_, f)| ready(f))
                .map(|((_, _, tag), _)| *tag)
                .collect();
            let hub_ready: Vec<hub::Tag> = hub_fds
                .iter()
                .zip(&fds[hub_at..mux_at])
                .filter(|(_, f)| ready(f))
                .map(|((_, _, tag), _)| *tag)
                .collect();
            (system, hub_ready, mux_ready, reload_ready)
        };
        self.mux.handle(&mux_ready);
        self.on_reloads(&reload_ready);
        let running = self.fleet.running();
        if let Some(hub) = &mut self.hub {
            hub.set_unstarted(&self.fleet.unstarted());
            hub.handle(&hub_ready, &running);
        }
        let mut ready_changed = false;
        for happened in self.events.take(&system) {
            match happened {
                Happened::Signal(Signal::SIGCHLD) => {
                    for (pid, how, _) in sys::process::reap_all() {
                        self.queue.push_back(Event::Exited { pid, how });
                    }
                }
                Happened::Signal(Signal::SIGHUP) => self.queue.push_back(Event::Reread),
                Happened::Signal(Signal::SIGTERM | Signal::SIGINT) => self.queue.push_back(Event::Stop),
                Happened::Changed(token, seen) if Some(token) == self.watch => {
                    self.queue.push_back(Event::DirChanged {
                        overflow: seen.overflow,
                    });
                    if seen.gone {
                        self.events.forget(token);
                        self.watch = None;
                        self.queue.push_back(Event::WatchLost(format!(
                            "the watch on {} was removed",
                            self.dir.display()
                        )));
                    }
                }
                Happened::Changed(token, _) if Some(token) == self.ready_watch => ready_changed = true,
                Happened::Exited(token) => {
                    if let Some(i) = self.dying.iter().position(|(_, t)| *t == token) {
                        let (pid, _) = self.dying.swap_remove(i);
                        self.queue.push_back(Event::Gone { pid });
                    }
                }
                Happened::Signal(_) | Happened::Changed(..) => {}
            }
        }
        if ready_changed {
            let ready = self.ready_now();
            self.queue.push_back(Event::Ready(ready));
        }
        if self.queue.is_empty() && deadline.is_some_and(|d| d <= Instant::now()) {
            self.queue.push_back(Event::Tick);
        }
    }

    /// Progress on the `restart`s asked ([`Scanner::reloads`], `ready`:
    /// those the poll reported), each answer or overdue one queued.
    fn on_reloads(&mut self, ready: &[usize]) {
        // Removals from the end keep the other indices valid.
        for &k in ready.iter().rev() {
            if let Some(answer) = self.reloads[k].fetch.on_ready() {
                let r = self.reloads.swap_remove(k);
                self.queue.push_back(reload_answer(r.name, r.pid, answer));
            }
        }
        let now = Instant::now();
        let (late, waiting): (Vec<Reload>, Vec<Reload>) = std::mem::take(&mut self.reloads)
            .into_iter()
            .partition(|r| r.deadline <= now);
        self.reloads = waiting;
        for r in late {
            self.queue.push_back(Event::ReloadFailed {
                name: r.name,
                pid: r.pid,
                why: format!("no answer in {} s", fleet::RELOAD_TIMEOUT.as_secs()),
            });
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
    let comm = |pid: Pid| sys::process::name(pid).unwrap_or_default();
    let Some(parent) = sys::process::info(holder).map(|i| Pid::from_raw(i.ppid)) else {
        return Holder::Free;
    };
    if comm(holder) != "immortal" || comm(parent) == "immortalsvc" {
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
    // Made first (a burst of starts finds none there): whatever is there
    // already (a real directory, an old link) stays.
    match std::os::unix::fs::symlink(target, link) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!(
            "unable to link {} to {}: {e}",
            link.display(),
            target.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The link in the supervise-directory base is made once; whatever is
    /// there already (an old link, a real directory) stays; a base that is
    /// not there is an error naming the link.
    #[test]
    fn a_supervise_link_is_made_once_and_what_is_there_stays() {
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("web");
        link_supervise(&link, Path::new("/srv/web/supervise")).unwrap();
        link_supervise(&link, Path::new("/elsewhere/supervise")).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/srv/web/supervise"));
        let real = d.path().join("db");
        std::fs::create_dir(&real).unwrap();
        link_supervise(&real, Path::new("/srv/db/supervise")).unwrap();
        assert!(std::fs::symlink_metadata(&real).unwrap().is_dir());
        let err = link_supervise(&d.path().join("gone/web"), Path::new("/srv/web/supervise")).unwrap_err();
        assert!(err.contains("gone/web"), "{err}");
    }
}
