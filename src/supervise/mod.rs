//! The event loop of one supervisor. It only dispatches: every decision is
//! made by the pure [`state::State::step`]; this module turns poll events
//! into [`state::Event`]s and carries out the returned [`state::Action`]s.
//!
//! A supervisor runs one or two [`Unit`]s: the service and, for a runit
//! service directory with `log/`, its logger, fed by a pipe that the
//! supervisor holds open so it outlives restarts of either side.
//!
//! One `poll` waits on the signalfd, the control FIFOs, the API socket and
//! its clients, with the timeout set from the one next deadline (start,
//! kill, client timeout). With the service running and no client connected
//! there is no deadline at all: the supervisor sleeps until something
//! happens.

pub mod adopt;
pub mod files;
pub mod follow;
pub mod output;
pub mod spawn;
pub mod state;

use crate::api::{self, Client, Progress, Route};
use crate::control::{self, Command};
use crate::notice::Log;
use crate::service::Service;
use crate::sys::{self, signalfd::Signals};
use files::Files;
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use spawn::{Io, Sink};
use state::{Action, Event, ExitHow, Phase, Policy, State, Want};
use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// The signals the supervisor handles itself.
pub const HANDLED: &[Signal] = &[Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

/// After this long without an event, the pages the last burst of work
/// faulted in are given back (see `sys::mem`): one wake-up per burst, none
/// while idle.
const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// Control letters whose signal a `control/<letter>` script exiting 0
/// replaces (runsv's rule).
const OVERRIDABLE: &[u8] = b"tkpcahiq12";

/// One supervised process: the service, or its `log/run`.
pub struct Unit {
    /// Names it in log lines: empty for the service, `log` for its logger.
    pub label: &'static str,
    pub svc: Service,
    /// A configuration re-read by `restart`, applied at the next start.
    pub pending: Option<Service>,
    pub state: State,
    pub files: Files,
    pub io: Io,
    /// The runit service directory (`./finish`, `control/`, `down`).
    pub service_dir: Option<PathBuf>,
    /// A pidfd on the followed process, in the poll set.
    watch: Option<(Pid, std::os::fd::OwnedFd)>,
    /// Changes in the pid file's directory, while a hand-over is awaited.
    handover: Option<nix::sys::inotify::Inotify>,
    /// `log:`, `stderr:`, `logger:`: the service's output through the loop.
    pub output: Option<output::Output>,
    /// The main process last written to the supervise directory's
    /// `started` record.
    recorded: Option<Pid>,
}

impl Unit {
    pub fn new(
        label: &'static str,
        svc: Service,
        files: Files,
        io: Io,
        service_dir: Option<PathBuf>,
        want: Want,
    ) -> Unit {
        let state = State::new(policy(&svc), want, Instant::now());
        Unit {
            label,
            svc,
            pending: None,
            state,
            files,
            io,
            service_dir,
            watch: None,
            handover: None,
            output: None,
            recorded: None,
        }
    }
}

pub struct Parts {
    /// The service first, then its logger if any.
    pub units: Vec<Unit>,
    /// The supervise directory holding the socket.
    pub dir: PathBuf,
    pub log: Log,
    pub signals: Signals,
    pub listener: UnixListener,
    pub detached: bool,
}

pub fn policy(svc: &Service) -> Policy {
    Policy {
        wait: svc.wait,
        retries: svc.retries,
        stop: svc.stop,
        may_exit: svc.cli || std::env::var_os("IMMORTAL_EXIT").is_some_and(|v| !v.is_empty()),
        has_finish: false,
        throttle: throttle(),
    }
}

/// `IMMORTAL_THROTTLE_MS` overrides the 1 s between two starts: for tests
/// and benchmarks that need thousands of restarts (a production crash loop
/// wants the throttle).
fn throttle() -> Duration {
    std::env::var("IMMORTAL_THROTTLE_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(state::MIN_RUN, Duration::from_millis)
}

/// A `control/<letter>` script running; its verdict decides the command.
struct Custom {
    pid: Pid,
    unit: usize,
    byte: u8,
    cmd: Command,
}

pub struct Supervisor {
    units: Vec<Unit>,
    dir: PathBuf,
    log: Log,
    signals: Signals,
    listener: UnixListener,
    clients: Vec<Client>,
    detached: bool,
    /// Errors of the command being dispatched, for the API's `Err`.
    refusals: Vec<String>,
    custom: Option<Custom>,
    /// Control bytes that arrived while a `control/<letter>` script ran.
    queued: VecDeque<(usize, u8)>,
    /// The service is down and the supervisor exits (with this status) as
    /// soon as the logger has read everything and ended.
    draining: Option<i32>,
    exit_code: Option<i32>,
    /// Maps monotonic instants to wall-clock time for the status files.
    epoch: (Instant, SystemTime),
    /// When to give back the pages touched since the last quiet moment.
    release_at: Option<Instant>,
}

impl Supervisor {
    pub fn new(p: Parts) -> Supervisor {
        Supervisor {
            units: p.units,
            dir: p.dir,
            log: p.log,
            signals: p.signals,
            listener: p.listener,
            clients: Vec::new(),
            detached: p.detached,
            refusals: Vec::new(),
            custom: None,
            queued: VecDeque::new(),
            draining: None,
            exit_code: None,
            epoch: (Instant::now(), SystemTime::now()),
            release_at: Some(Instant::now()),
        }
    }

    /// Run until the supervisor is told to exit; returns the exit status.
    pub fn run(mut self) -> i32 {
        // The logger first, so the pipe has a reader when the service starts.
        // Survivors of a killed supervisor first (the service before its
        // logger: a new logger must get the service's pipe), then the
        // logger before the service, so the pipe has a reader when the
        // service starts.
        let adopted: Vec<bool> = (0..self.units.len())
            .map(|i| {
                self.write_status(i);
                self.adopt_survivor(i)
            })
            .collect();
        for i in (0..self.units.len()).rev() {
            if !adopted[i] {
                self.dispatch(i, Event::Start);
            }
        }
        loop {
            if let Some(code) = self.exit_code {
                self.shutdown();
                return code;
            }
            self.wait_and_handle();
        }
    }

    /// A process that an earlier supervisor of this directory started is
    /// still running (that supervisor was killed): supervise it instead of
    /// starting a second copy.
    fn adopt_survivor(&mut self, i: usize) -> bool {
        let Some(found) = adopt::survivor(&self.units[i].files.dir) else {
            return false;
        };
        let pid = found.pid;
        let pgid = match nix::unistd::getpgid(Some(pid)) {
            Ok(g) if g == pid || g == found.spawned_pgid => g,
            _ => pid,
        };
        let now = Instant::now();
        let since = now.checked_sub(found.uptime).unwrap_or(now);
        self.dispatch(
            i,
            Event::Adopted {
                pid,
                pgid,
                spawned_pgid: found.spawned_pgid,
                since,
            },
        );
        if i == 0 {
            if let Err(e) = self.reattach_output(pid) {
                self.log
                    .warn(&format!("unable to reattach the output of pid {pid}: {e}"));
            }
        }
        true
    }

    /// The adopted service still writes to the pipe(s) the killed
    /// supervisor read: read them again, and keep them for later starts.
    fn reattach_output(&mut self, pid: Pid) -> std::io::Result<()> {
        let has_logger_unit = self.units.len() > 1;
        let unit = &mut self.units[0];
        if let Some(output) = &mut unit.output {
            let streams = output.streams.len();
            for (i, fd) in [(0, 1), (1, 2)].into_iter().take(streams) {
                if let Some((read, write)) = adopt::reopen_pipe(pid, fd, true)? {
                    output.replace_pipe(i, read, write);
                }
            }
            let (out, err) = output.sinks();
            unit.io.stdout = Sink::Fd(out);
            unit.io.stderr = Sink::Fd(err);
        } else if has_logger_unit && matches!(unit.io.stdout, Sink::Fd(_)) {
            // runit's log/: the one pipe between the service and its logger.
            if let Some((read, write)) = adopt::reopen_pipe(pid, 1, false)? {
                unit.io.stdout = Sink::Fd(std::rc::Rc::new(write));
                self.units[1].io.stdin = Sink::Fd(std::rc::Rc::new(read));
            }
        }
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let units = self
            .units
            .iter()
            .flat_map(|u| [u.state.deadline(), u.output.as_ref().and_then(|o| o.deadline())])
            .flatten();
        let clients = self.clients.iter().map(|c| c.deadline);
        units.chain(clients).min()
    }

    fn wait_and_handle(&mut self) {
        if self.release_at.is_some_and(|at| at <= Instant::now()) {
            // Quiet since the last burst of work (or startup): the code it
            // touched need not stay resident until the next event.
            sys::mem::release_startup_pages();
            self.release_at = None;
        }
        let deadline = self.next_deadline().into_iter().chain(self.release_at).min();
        let timeout = sys::timeout_until(deadline);
        let n_units = self.units.len();
        // Which units had a pidfd in this poll (handling events below may
        // start or stop watching).
        let watched: Vec<(usize, Pid)> = (0..n_units)
            .filter_map(|i| self.units[i].watch.as_ref().map(|(p, _)| (i, *p)))
            .collect();
        let awaiting: Vec<usize> = (0..n_units).filter(|&i| self.units[i].handover.is_some()).collect();
        // (unit, stream or logger) of each output descriptor polled.
        let outputs: Vec<(usize, Option<usize>)> = (0..n_units)
            .flat_map(|i| {
                let fds = self.units[i].output.as_ref().map(|o| o.poll_fds()).unwrap_or_default();
                fds.into_iter().map(move |(which, _, _)| (i, which)).collect::<Vec<_>>()
            })
            .collect();
        let ready: Vec<bool> = {
            let mut fds = vec![
                PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
            ];
            for u in &self.units {
                fds.push(PollFd::new(u.files.control_fd(), PollFlags::POLLIN));
            }
            for u in &self.units {
                if let Some((_, fd)) = &u.watch {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                }
            }
            for u in &self.units {
                if let Some(ino) = &u.handover {
                    fds.push(PollFd::new(ino.as_fd(), PollFlags::POLLIN));
                }
            }
            for u in &self.units {
                if let Some(o) = &u.output {
                    for (_, fd, write) in o.poll_fds() {
                        fds.push(PollFd::new(
                            fd,
                            if write { PollFlags::POLLOUT } else { PollFlags::POLLIN },
                        ));
                    }
                }
            }
            for c in &self.clients {
                let flags = if c.wants_write() {
                    PollFlags::POLLOUT
                } else {
                    PollFlags::POLLIN
                };
                fds.push(PollFd::new(c.stream.as_fd(), flags));
            }
            match poll(&mut fds, timeout) {
                // Something happened: more may follow soon (a burst of
                // queries), so the pages stay until it has been quiet a while.
                Ok(n) if n > 0 => self.release_at = Some(Instant::now() + RELEASE_AFTER),
                Ok(_) => {}
                Err(e) => {
                    if e != nix::errno::Errno::EINTR {
                        self.log.warn(&format!("poll: {e}"));
                    }
                    return;
                }
            }
            fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect()
        };
        if ready[0] {
            self.on_signals();
        }
        for i in 0..n_units {
            if ready[2 + i] {
                let bytes = self.units[i].files.drain_control();
                let unknown = bytes.iter().filter(|&&b| control::from_byte(b).is_none()).count();
                if unknown > 0 {
                    self.log.warn(&format!("ignoring {unknown} unknown control byte(s)"));
                }
                for b in bytes {
                    self.control_byte(i, b);
                }
            }
        }
        for (k, &(i, pid)) in watched.iter().enumerate() {
            // Only if it still watches the same process it polled for.
            if ready[2 + n_units + k] && self.units[i].watch.as_ref().is_some_and(|(p, _)| *p == pid) {
                self.followed_exit(i);
            }
        }
        let base = 2 + n_units + watched.len();
        for (k, &i) in awaiting.iter().enumerate() {
            if ready[base + k] && self.units[i].handover.is_some() {
                self.pidfile_changed(i);
            }
        }
        let base = base + awaiting.len();
        for (k, &(i, which)) in outputs.iter().enumerate() {
            if !ready[base + k] {
                continue;
            }
            let Some(o) = &mut self.units[i].output else { continue };
            let errors = match which {
                Some(stream) => o.on_readable(stream),
                None => {
                    o.feed_logger();
                    Vec::new()
                }
            };
            for e in errors {
                self.log.warn(&e);
            }
        }
        // Clients are answered from the last so removals keep indices valid.
        let client_ready = &ready[base + outputs.len()..];
        for i in (0..client_ready.len()).rev() {
            if client_ready[i] {
                self.on_client(i);
            }
        }
        if ready[1] {
            self.accept_clients();
        }
        let now = Instant::now();
        for i in 0..self.units.len() {
            if self.units[i].state.deadline().is_some_and(|at| at <= now) {
                self.dispatch(i, Event::Timer);
            }
            let unit = &mut self.units[i];
            if let Some(o) = &mut unit.output {
                if o.deadline().is_some_and(|at| at <= now) {
                    let mut errors = Vec::new();
                    o.on_timer(&unit.svc, &mut errors);
                    for e in errors {
                        self.log.warn(&e);
                    }
                }
            }
        }
        self.check_groups();
        self.expire_clients(now);
    }

    fn on_signals(&mut self) {
        for sig in self.signals.drain() {
            match sig {
                Signal::SIGCHLD => self.reap(),
                Signal::SIGTERM => {
                    self.log.info("got TERM: stopping the service, then exiting");
                    self.command(0, Command::Halt);
                }
                Signal::SIGINT | Signal::SIGHUP if !self.detached => {
                    let name = crate::signal::short_name(sig);
                    self.log
                        .info(&format!("got {name}: stopping the service, then exiting"));
                    self.command(0, Command::Halt);
                }
                other => self.log.info(&format!("ignoring {}", crate::signal::short_name(other))),
            }
        }
    }

    fn reap(&mut self) {
        for (pid, how, pgid) in sys::process::reap_all() {
            if self.custom.as_ref().is_some_and(|c| c.pid == pid) {
                self.custom_done(how);
                continue;
            }
            if self
                .units
                .iter_mut()
                .any(|u| u.output.as_mut().is_some_and(|o| o.logger_exited(pid)))
            {
                self.log
                    .warn(&format!("logger (pid {pid}) ended; starting it again in a second"));
                continue;
            }
            if let Some(i) = self.units.iter().position(|u| u.state.tracked_pid() == Some(pid)) {
                if let Some(pgid) = pgid.filter(|_| self.units[i].state.following) {
                    let owned = self.units[i].state.owned_group(pid, pgid);
                    self.units[i].state.refresh_pgid(owned);
                }
                self.exited(i, pid, how);
            }
            // Anything else: a hook, or an orphan reparented to us.
        }
        self.check_groups();
    }

    /// The followed process's pidfd is readable: it has exited. Its status
    /// is known only if it was our child.
    fn followed_exit(&mut self, i: usize) {
        let Some((pid, _fd)) = self.units[i].watch.take() else {
            return;
        };
        self.refresh_followed_pgid(i);
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        let how = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => ExitHow::Code(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => ExitHow::Signal(sig as i32),
            _ => {
                let msg = format!("pid {pid} is not our child: its exit status is unknown");
                self.note(self.units[i].label, &msg);
                ExitHow::Code(0)
            }
        };
        if self.units[i].state.tracked_pid() == Some(pid) {
            self.exited(i, pid, how);
        }
        self.check_groups();
    }

    /// Unit `i`'s tracked process `pid` ended.
    fn exited(&mut self, i: usize, pid: Pid, how: ExitHow) {
        let unit = &self.units[i];
        let is_main = unit.state.main_pid() == Some(pid);
        let what = if is_main { "pid" } else { "finish pid" };
        let uptime = match unit.state.phase {
            Phase::Running { since, .. } | Phase::Stopping { since, .. } => since.elapsed(),
            _ => Duration::ZERO,
        };
        let label = unit.label;
        self.note(label, &format!("{what} {pid} ended: {how}, up {}", api::since(uptime)));
        if is_main {
            if let Some(o) = &mut self.units[i].output {
                for e in o.run_ended() {
                    self.log.warn(&e);
                }
            }
        }
        let unit = &self.units[i];
        let group_alive = is_main && unit.state.pgid().is_some_and(|g| self.group_left(i, g));
        let running = matches!(unit.state.phase, Phase::Running { .. });
        // Watch the pid file's directory *before* reading it: a pid file
        // written after the read is then an event, not a 3 s wait.
        let watch = match &unit.svc.follow_pidfile {
            Some(path) if is_main && running => match follow::watch_dir(path) {
                Ok(ino) => Some(ino),
                Err(e) => {
                    self.log.warn(&format!("unable to watch {}: {e}", path.display()));
                    None
                }
            },
            _ => None,
        };
        let follow = if is_main && running {
            self.follow_candidate(i, pid)
        } else {
            None
        };
        if follow.is_none() && is_main {
            self.await_hand_over(i, pid, watch);
        }
        if self.units[i].watch.as_ref().is_some_and(|(w, _)| *w == pid) {
            self.units[i].watch = None;
        }
        self.dispatch(
            i,
            Event::Exited {
                pid,
                how,
                group_alive,
                follow,
            },
        );
        // Not restarting (once, retries exhausted): what the service left
        // in its group goes now, not at some later start.
        if group_alive && self.units[i].state.phase == Phase::Down && self.exit_code.is_none() {
            self.stop_leftovers(i);
        }
    }

    /// The uid a followed process must have (unless it descends from us).
    fn service_uid(&self, i: usize) -> u32 {
        match &self.units[i].svc.user {
            Some(u) => u.uid.as_raw(),
            None => nix::unistd::geteuid().as_raw(),
        }
    }

    /// With a pid file to follow: the live process it names, if any.
    fn follow_candidate(&self, i: usize, exited: Pid) -> Option<(Pid, Pid)> {
        let unit = &self.units[i];
        let path = unit.svc.follow_pidfile.as_ref()?;
        match follow::candidate(path, exited, self.service_uid(i)) {
            Ok((pid, pgid)) => Some((pid, unit.state.owned_group(pid, pgid))),
            Err(why) => {
                self.note(unit.label, &format!("not following {}: {why}", path.display()));
                None
            }
        }
    }

    /// The main process of a pid-file service exited without a valid pid
    /// file, but left a descendant behind (reparented to us): it may be
    /// taking over (gunicorn writes its pid file only once promoted).
    /// Hold the restart briefly and watch the pid file's directory.
    fn await_hand_over(&mut self, i: usize, exited: Pid, watch: Option<nix::sys::inotify::Inotify>) {
        let unit = &self.units[i];
        let Some(path) = unit.svc.follow_pidfile.clone() else {
            return;
        };
        if !matches!(unit.state.phase, Phase::Running { .. }) {
            return;
        }
        let known: Vec<Pid> = self
            .units
            .iter()
            .filter_map(|u| u.state.tracked_pid())
            .chain([exited])
            .collect();
        if follow::adopted(&known).is_empty() {
            return;
        }
        let grace = follow::HAND_OVER_GRACE;
        let msg = format!(
            "a descendant lives on: waiting up to {grace:?} for {} to name it",
            path.display()
        );
        self.note(self.units[i].label, &msg);
        self.dispatch(
            i,
            Event::HandOverPending {
                until: Instant::now() + grace,
            },
        );
        // After the dispatch: the watch lives while the restart is held
        // (sync_watch drops it once the service runs or stays down).
        self.units[i].handover = watch;
    }

    /// The pid file's directory changed during a hand-over: follow the pid
    /// file as soon as it names a live process of ours.
    fn pidfile_changed(&mut self, i: usize) {
        if let Some(ino) = &self.units[i].handover {
            let _ = ino.read_events();
        }
        let last = self.units[i].state.last_pid.unwrap_or(Pid::from_raw(0));
        let Some(path) = self.units[i].svc.follow_pidfile.clone() else {
            return;
        };
        if let Ok((pid, pgid)) = follow::candidate(&path, last, self.service_uid(i)) {
            let pgid = self.units[i].state.owned_group(pid, pgid);
            self.dispatch(i, Event::Followed { pid, pgid });
        }
    }

    /// Keep a pidfd on the followed process (and only on it).
    fn sync_watch(&mut self, i: usize) {
        let unit = &mut self.units[i];
        if !matches!(unit.state.phase, Phase::Waiting { .. }) {
            unit.handover = None;
        }
        let want = if unit.state.following || unit.state.adopted {
            unit.state.main_pid()
        } else {
            None
        };
        if unit.watch.as_ref().map(|(p, _)| *p) == want {
            return;
        }
        unit.watch = None;
        let Some(pid) = want else { return };
        if unit.state.following && !follow::is_our_child(pid) {
            // Someone else reaps it and its group: zombies are not members.
            unit.state.foreign_group = true;
        }
        match follow::pidfd(pid) {
            Ok(fd) => unit.watch = Some((pid, fd)),
            Err(e) => {
                // Gone already. If it was our child, SIGCHLD reports it;
                // otherwise report it now.
                use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
                match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(_, code)) => self.exited(i, pid, ExitHow::Code(code)),
                    Ok(WaitStatus::Signaled(_, sig, _)) => self.exited(i, pid, ExitHow::Signal(sig as i32)),
                    Ok(_) => {} // our child, still being torn down: SIGCHLD follows
                    Err(_) => {
                        self.note(self.units[i].label, &format!("pid {pid} vanished ({e})"));
                        self.exited(i, pid, ExitHow::Code(0));
                    }
                }
            }
        }
    }

    /// Whether process group `pgid` of unit `i` still has members.
    fn group_left(&self, i: usize, pgid: Pid) -> bool {
        if self.units[i].state.foreign_group {
            sys::process::group_has_live_member(pgid)
        } else {
            sys::process::group_alive(pgid)
        }
    }

    /// While a stop waits for the rest of a process group, see whether it
    /// has gone (after each reap and each timer).
    fn check_groups(&mut self) {
        for i in 0..self.units.len() {
            if let Some(pgid) = self.units[i].state.awaits_group() {
                if !self.group_left(i, pgid) {
                    self.dispatch(i, Event::GroupGone);
                }
            }
        }
        if let Some(code) = self.draining {
            if self.units.iter().skip(1).all(|u| u.state.tracked_pid().is_none()) {
                self.exit_code = Some(code);
            }
        }
    }

    fn note(&self, label: &str, msg: &str) {
        if label.is_empty() {
            self.log.info(msg);
        } else {
            self.log.info(&format!("{label}: {msg}"));
        }
    }

    /// One byte from a control FIFO.
    fn control_byte(&mut self, i: usize, b: u8) {
        if self.custom.is_some() {
            self.queued.push_back((i, b));
            return;
        }
        let Some(cmd) = control::from_byte(b) else {
            return; // counted and logged per batch by the caller
        };
        let label = self.units[i].label;
        if i > 0 && b == b'x' {
            return; // runsv: exit is for the service, not its logger
        }
        self.note(label, &format!("control '{}'", b as char));
        if let Some(dir) = self.units[i].service_dir.clone() {
            // s6's D and U also make the choice permanent.
            let down = dir.join("down");
            let result = match b {
                b'D' => std::fs::write(&down, b"").map_err(|e| (e, "create")),
                b'U' => std::fs::remove_file(&down)
                    .or_else(|e| match e.kind() {
                        std::io::ErrorKind::NotFound => Ok(()),
                        _ => Err(e),
                    })
                    .map_err(|e| (e, "remove")),
                _ => Ok(()),
            };
            if let Err((e, op)) = result {
                self.log.warn(&format!("unable to {op} {}: {e}", down.display()));
            }
            if i == 0 {
                let script = dir.join("control").join((b as char).to_string());
                if is_executable(&script) {
                    let arg = self.units[i].state.main_pid().map_or(String::new(), |p| p.to_string());
                    match spawn::program(&script, &[arg], Some(&dir), &self.units[i].io) {
                        Ok(pid) => {
                            let pid = Pid::from_raw(pid as i32);
                            self.custom = Some(Custom {
                                pid,
                                unit: i,
                                byte: b,
                                cmd,
                            });
                            return;
                        }
                        Err(e) => self.log.warn(&format!("unable to run {}: {e}", script.display())),
                    }
                }
            }
        }
        self.command(i, cmd);
    }

    /// A `control/<letter>` script ended: exit 0 replaces the signal.
    fn custom_done(&mut self, how: ExitHow) {
        let Some(c) = self.custom.take() else { return };
        let replaced = how == ExitHow::Code(0) && OVERRIDABLE.contains(&c.byte);
        self.refusals.clear();
        self.dispatch_with(c.unit, Event::Command(c.cmd), replaced);
        while self.custom.is_none() {
            let Some((i, b)) = self.queued.pop_front() else { break };
            self.control_byte(i, b);
        }
    }

    /// The last process group outlived its main process (children that
    /// the service left behind; a followed daemon's workers after `kill -9`
    /// of the master): stop it before a new start, or before saying the
    /// service is down — never two generations at once.
    fn stop_leftovers(&mut self, i: usize) -> bool {
        let unit = &self.units[i];
        let Some(pgid) = unit.state.last_pgid else { return false };
        if !matches!(unit.state.phase, Phase::Down | Phase::Waiting { .. }) || !self.group_left(i, pgid) {
            return false;
        }
        self.dispatch(i, Event::Leftovers { pgid });
        true
    }

    /// Before acting on a followed process's group, read it again (it may
    /// have moved to a session of its own since it was first followed).
    fn refresh_followed_pgid(&mut self, i: usize) {
        let state = &mut self.units[i].state;
        if !state.following {
            return;
        }
        let Some(pid) = state.main_pid() else { return };
        if let Ok(pgid) = nix::unistd::getpgid(Some(pid)) {
            let owned = state.owned_group(pid, pgid);
            state.refresh_pgid(owned);
        }
    }

    /// Run a command on a unit; returns the errors it produced.
    fn command(&mut self, i: usize, cmd: Command) -> Vec<String> {
        self.refusals.clear();
        self.refresh_followed_pgid(i);
        if matches!(
            cmd,
            Command::Down | Command::Halt | Command::Exit { stop_service: true }
        ) {
            self.stop_leftovers(i);
        }
        if cmd == Command::Restart {
            self.reload_config(i);
        }
        self.dispatch(i, Event::Command(cmd));
        std::mem::take(&mut self.refusals)
    }

    /// `restart` re-reads the `-c` file; a bad file keeps the old one.
    fn reload_config(&mut self, i: usize) {
        let Some(path) = self.units[i].svc.config_file.clone() else {
            return;
        };
        match crate::config::load(&path).and_then(|yml| crate::service::from_yml(&path, &yml)) {
            Ok(mut svc) => {
                svc.name.clone_from(&self.units[i].svc.name);
                self.units[i].pending = Some(svc);
            }
            Err(e) => {
                let msg = format!("restart keeps the previous configuration: {e}");
                self.log.warn(&msg);
                self.refusals.push(msg);
            }
        }
    }

    fn dispatch(&mut self, i: usize, event: Event) {
        self.dispatch_with(i, event, false);
    }

    /// Step unit `i`'s state machine and carry out what it decided.
    /// `skip_signals`: a `control/<letter>` script did the signalling.
    fn dispatch_with(&mut self, i: usize, event: Event, skip_signals: bool) {
        if let Some(dir) = &self.units[i].service_dir {
            // runsv looks for ./finish at every exit: so do we.
            self.units[i].state.policy.has_finish = dir.join("finish").exists();
        }
        let actions = self.units[i].state.step(event, Instant::now());
        for action in actions {
            self.perform(i, action, skip_signals);
        }
        self.sync_watch(i);
        self.write_status(i);
    }

    fn write_status(&mut self, i: usize) {
        let unit = &mut self.units[i];
        let main = unit.state.main_pid();
        if main != unit.recorded {
            let dir = &unit.files.dir;
            let result = match main {
                Some(pid) => adopt::save(dir, pid, unit.state.spawned_pgid.unwrap_or(pid)),
                None => adopt::forget(dir),
            };
            unit.recorded = main;
            if let Err(e) = result {
                self.log.warn(&e.to_string());
            }
        }
        let unit = &mut self.units[i];
        // An adopted process started before this supervisor did: its
        // change time lies before the epoch, and must not be clamped to it.
        let (at, epoch_wall) = (unit.state.changed, self.epoch.1);
        let changed = match at.checked_duration_since(self.epoch.0) {
            Some(after) => epoch_wall + after,
            None => epoch_wall - self.epoch.0.saturating_duration_since(at),
        };
        if let Err(e) = unit.files.update(unit.state.record(changed)) {
            self.log.warn(&e.to_string());
        }
    }

    fn perform(&mut self, i: usize, action: Action, skip_signals: bool) {
        match action {
            Action::Spawn => self.spawn(i),
            Action::Kill(target, sig) => {
                if skip_signals {
                    return;
                }
                let mut result = sys::process::send(&target, sig);
                if let (Err(nix::errno::Errno::ESRCH), state::Target::Group(pid)) = (result, &target) {
                    // A followed process that does not lead a group we own
                    // is signalled alone.
                    result = nix::sys::signal::kill(*pid, sig);
                }
                if let Err(e) = result {
                    if e != nix::errno::Errno::ESRCH {
                        let msg = format!("unable to send {} to {target:?}: {e}", crate::signal::short_name(sig));
                        self.log.warn(&msg);
                        self.refusals.push(msg);
                    }
                }
            }
            Action::PostExit(code) => {
                let unit = &self.units[i];
                if let Some(hook) = &unit.svc.post_exit {
                    if let Err(e) = spawn::hook(hook, code, &unit.svc, &unit.io) {
                        self.log.warn(&format!("unable to run post_exit '{hook}': {e}"));
                    }
                }
            }
            Action::SpawnFinish(how) => self.spawn_finish(i, how),
            Action::Refuse(msg) => self.refusals.push(msg),
            Action::Note(msg) => self.note(self.units[i].label, &msg),
            Action::Exit(code) => self.unit_exit(i, code),
        }
    }

    fn spawn(&mut self, i: usize) {
        // Restarting a pid-file service whose daemon is already up (its
        // launcher exited before writing the file): follow it rather than
        // start a second copy.
        if self.units[i].state.count > 0 {
            let last = self.units[i].state.last_pid.unwrap_or(Pid::from_raw(0));
            let path = self.units[i].svc.follow_pidfile.clone();
            let uid = self.service_uid(i);
            if let Some(Ok((pid, pgid))) = path.map(|p| follow::candidate(&p, last, uid)) {
                let pgid = self.units[i].state.owned_group(pid, pgid);
                self.dispatch(i, Event::Followed { pid, pgid });
                return;
            }
            if self.stop_leftovers(i) {
                return;
            }
        }
        let unit = &mut self.units[i];
        if let Some(svc) = unit.pending.take() {
            unit.state.policy = policy(&svc);
            unit.svc = svc;
        }
        match spawn::service(&unit.svc, &unit.io) {
            Ok(pid) => {
                let msg = format!("pid {pid} started: {}", unit.svc.command.join(" "));
                if let Some(path) = &unit.svc.child_pidfile {
                    if let Err(e) = sys::fs::write_pidfile(path, pid) {
                        self.log.warn(&e.to_string());
                    }
                }
                self.note(self.units[i].label, &msg);
                self.dispatch(
                    i,
                    Event::Spawned {
                        pid: Pid::from_raw(pid as i32),
                    },
                );
            }
            Err(e) => {
                self.log
                    .warn(&format!("unable to start {}: {e}", unit.svc.command.join(" ")));
                let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
                self.dispatch(i, Event::SpawnFailed { errno });
            }
        }
    }

    /// runit's `./finish CODE SIGNAL`: CODE is -1 after a signal death.
    fn spawn_finish(&mut self, i: usize, how: ExitHow) {
        let unit = &self.units[i];
        let Some(dir) = unit.service_dir.clone() else {
            self.dispatch(i, Event::FinishFailed);
            return;
        };
        let args = match how {
            ExitHow::Code(c) => [c.to_string(), "0".to_string()],
            ExitHow::Signal(s) => ["-1".to_string(), s.to_string()],
        };
        match spawn::program(std::path::Path::new("./finish"), &args, Some(&dir), &unit.io) {
            Ok(pid) => self.dispatch(
                i,
                Event::FinishSpawned {
                    pid: Pid::from_raw(pid as i32),
                },
            ),
            Err(e) => {
                self.log.warn(&format!("unable to start {}/finish: {e}", dir.display()));
                self.dispatch(i, Event::FinishFailed);
            }
        }
    }

    /// The state machine of unit `i` says the supervisor exits. With a
    /// logger, first let it read everything: close our ends of its pipe and
    /// wait for it to end (runsv's `x`).
    fn unit_exit(&mut self, i: usize, code: i32) {
        if i != 0 || self.units.len() < 2 {
            self.exit_code = Some(code);
            return;
        }
        self.draining = Some(code);
        for u in &mut self.units {
            // Dropping every copy of the pipe's ends closes it: the logger
            // sees end-of-file once it has read what is buffered.
            u.io.stdin = Sink::Null;
            u.io.stdout = Sink::Null;
        }
        for u in self.units.iter_mut().skip(1) {
            u.state.want = Want::Down;
            u.state.exiting = true;
        }
        for j in 1..self.units.len() {
            self.write_status(j);
        }
        self.check_groups();
    }

    fn accept_clients(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.clients.len() >= api::MAX_CLIENTS {
                        self.make_room();
                    }
                    if self.clients.len() >= api::MAX_CLIENTS {
                        // Every slot holds a complete request being answered.
                        api::turn_away(stream, 503, "too many clients");
                        continue;
                    }
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.clients.push(Client::new(stream, Instant::now()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // WouldBlock: all accepted. Anything else (EMFILE…): try
                // again at the next poll rather than spin here.
                Err(_) => break,
            }
        }
    }

    /// At capacity: serve the requests that have arrived, forget peers
    /// that closed, and if every slot is still taken, drop the oldest
    /// connection that has not sent a complete request (slowloris
    /// defence) — never refuse a newcomer because of idle or closed ones.
    fn make_room(&mut self) {
        for i in (0..self.clients.len()).rev() {
            if !self.clients[i].wants_write() {
                self.on_client(i);
            }
        }
        if self.clients.len() < api::MAX_CLIENTS {
            return;
        }
        let oldest = (0..self.clients.len())
            .filter(|&i| self.clients[i].awaiting_request())
            .min_by_key(|&i| self.clients[i].deadline);
        if let Some(i) = oldest {
            let c = self.clients.swap_remove(i);
            api::turn_away(c.stream, 503, "too many clients");
        }
    }

    fn on_client(&mut self, i: usize) {
        let progress = if self.clients[i].wants_write() {
            self.clients[i].on_writable()
        } else {
            self.clients[i].on_readable()
        };
        let progress = match progress {
            Progress::Request(route) => {
                let (code, body) = self.answer(route);
                self.clients[i].reply(code, &body)
            }
            other => other,
        };
        if progress == Progress::Close {
            self.clients.swap_remove(i);
        }
    }

    fn answer(&mut self, route: Route) -> (u16, String) {
        match route {
            Route::Status => {
                let body = serde_json::to_string(&self.status_json()).unwrap_or_default();
                (200, body + "\n")
            }
            Route::Signal(name) => {
                let errors = match control::from_word(&name) {
                    Some(cmd) => {
                        self.log.info(&format!("signal '{name}' from the socket"));
                        self.command(0, cmd)
                    }
                    None => vec![format!("unknown signal: {name}")],
                };
                (200, api::error_body(&errors.join("; ")))
            }
            Route::NotFound(path) => (404, api::error_body(&format!("not found: {path}"))),
        }
    }

    fn expire_clients(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.clients.len() {
            if self.clients[i].deadline <= now {
                let c = self.clients.swap_remove(i);
                if !c.wants_write() {
                    api::turn_away(c.stream, 408, "request timeout");
                }
            } else {
                i += 1;
            }
        }
    }

    pub fn status_json(&self) -> api::StatusJson {
        let now = Instant::now();
        let unit = &self.units[0];
        let s = &unit.state;
        let down_since = Some(api::since(now.saturating_duration_since(s.changed)));
        let (state, up, down, status) = match s.phase {
            Phase::Running { since, .. } | Phase::Stopping { since, .. } => {
                ("run", Some(api::since(now - since)), None, None)
            }
            Phase::Finishing { .. } => ("finish", None, down_since, None),
            Phase::Waiting { at } => {
                let secs = at.saturating_duration_since(now).as_secs_f64();
                ("wait", None, down_since, Some(format!("Starting in {secs:.1} seconds")))
            }
            Phase::Down => ("down", None, down_since, None),
        };
        let dir_name = || self.dir_name();
        api::StatusJson {
            pid: s.tracked_pid().or(s.last_pid).map_or(0, |p| p.as_raw()),
            up,
            down,
            cmd: unit.svc.command.join(" "),
            fpid: s.following,
            count: s.count,
            status,
            name: unit.svc.name.clone().unwrap_or_else(dir_name),
            state,
            want: match s.want {
                Want::Up => "up",
                Want::Down => "down",
                Want::Once => "once",
            },
            paused: s.paused,
            reason: s.reason(),
            exit: s.last_exit.map(|how| match how {
                ExitHow::Code(code) => api::ExitJson::Code { code },
                ExitHow::Signal(sig) => api::ExitJson::Signal {
                    signal: crate::signal::name_of(sig),
                },
            }),
        }
    }

    /// The service's name: its service directory's, else its supervise
    /// directory's.
    fn dir_name(&self) -> String {
        let dir = self.units[0].service_dir.as_ref().unwrap_or(&self.dir);
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn shutdown(&mut self) {
        // Answer whoever is still waiting (e.g. the `halt` request itself).
        for c in &mut self.clients {
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(Duration::from_millis(100)));
            if c.wants_write() {
                c.on_writable();
            }
        }
        for i in 0..self.units.len() {
            if let Some(o) = &mut self.units[i].output {
                for e in o.finish(output::LOGGER_FINISH) {
                    self.log.warn(&e);
                }
            }
        }
        let _ = std::fs::remove_file(self.dir.join(crate::layout::SOCKET));
        self.log.info("supervisor exiting");
    }
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
