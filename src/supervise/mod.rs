//! The event loop of one supervisor. It only executes: every decision is
//! made by the pure [`state::State::step`]; this module turns what the
//! poll reports into [`state::Event`]s, puts them in one queue, carries out
//! the [`state::Action`]s each step returns, and queues their outcomes as
//! new events — handled right after the event that caused them, never by a
//! re-entrant dispatch.
//!
//! A supervisor runs one or two [`Unit`]s, all under the same state
//! machine: the service and, for a runit service directory with `log/`, its
//! `log/run` (fed by a pipe the supervisor holds open so it outlives
//! restarts of either side), or the `logger:` command of `run.yml` (fed
//! from the output's backlog).
//!
//! One `poll` waits on the system's sources ([`crate::sys::events`]:
//! signals, the end of a followed or adopted process, the hand-over
//! watch — a signalfd, pidfds and inotify on Linux, one kqueue elsewhere),
//! the control FIFOs, the API socket and its clients, the output pipes, with the
//! timeout set from the one next deadline (start, kill, client timeout).
//! With the service running and no client connected there is no deadline
//! at all: the supervisor sleeps until something happens.

pub mod adopt;
pub mod changes;
mod clients;
pub mod fifodir;
pub mod files;
pub mod follow;
pub mod notify;
pub mod output;
mod perform;
pub mod poll;
pub mod probe;
pub mod spawn;
pub mod state;

use crate::api::Client;
use crate::control::{self, Command};
use crate::notice::Log;
use crate::service::ReadyMethod;
use crate::service::Service;
use crate::sys::{self, events::Events, events::Happened, events::Token};
use files::Files;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use poll::{PollSet, Source};
use spawn::{Io, Sink};
use state::{
    Action, Candidate, Event, ExitHow, Group, Named, Phase, Policy, ReadyKind, Role, Sender, State, Want, Whom,
};
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

/// One supervised process: the service, its `log/run`, or its `logger:`.
pub struct Unit {
    /// Names it in log lines: empty for the service, `log` or `logger`.
    pub label: &'static str,
    pub svc: Service,
    /// A configuration re-read by `restart`, applied at the next start.
    pub pending: Option<Service>,
    pub state: State,
    /// Its supervise directory (none for a `logger:`).
    pub files: Option<Files>,
    pub io: Io,
    /// The runit service directory (`./finish`, `control/`, `down`).
    pub service_dir: Option<PathBuf>,
    /// The watch on the end of the followed or adopted process.
    watch: Option<(Pid, Token)>,
    /// Changes in the pid file's directory, while a hand-over is awaited.
    handover: Option<Token>,
    /// Without a subreaper: watches on the members of a group the state
    /// waits for, which are not our children (their ends bring no
    /// SIGCHLD).
    group_watch: Vec<(Pid, Token)>,
    /// The watch set up just before the pid file was read at an exit,
    /// until the state says whether a hand-over is awaited.
    handover_pending: Option<Token>,
    /// `log:`, `stderr:`, `logger:`: the service's output through the loop.
    pub output: Option<output::Output>,
    /// The main process last written to the supervise directory's
    /// `started` record.
    recorded: Option<Pid>,
    /// The readiness or health probe in flight.
    probe: Option<probe::ProbeRun>,
    /// s6's notification pipe of the current run, until a line arrives.
    ready_pipe: Option<notify::ReadyPipe>,
    /// s6's event fifodir of a service directory, and what it last told
    /// (running, ready).
    fifodir: Option<fifodir::Fifodir>,
    told: (bool, bool),
    /// The service's own cgroup (see [`crate::cgroup`]), and its open
    /// `cgroup.events`, in the poll set.
    cgroup: Option<crate::cgroup::Cgroup>,
    cgroup_watch: Option<crate::cgroup::EventsWatch>,
    /// OOM kills in the cgroup when the running process started.
    oom_before: Option<u64>,
    /// The sockets of `listen:`, held across every start.
    pub listen: crate::listen::Sockets,
    /// Those of a configuration re-read by `restart`, from its start on.
    pending_listen: Option<crate::listen::Sockets>,
}

impl Unit {
    pub fn new(
        label: &'static str,
        svc: Service,
        files: Option<Files>,
        io: Io,
        service_dir: Option<PathBuf>,
        want: Want,
        role: Role,
    ) -> Unit {
        let policy = policy(&svc, role, service_dir.is_some());
        Unit::with_policy(label, svc, files, io, service_dir, want, policy)
    }

    /// [`Unit::new`] with the table's policy given.
    pub fn with_policy(
        label: &'static str,
        svc: Service,
        files: Option<Files>,
        io: Io,
        service_dir: Option<PathBuf>,
        want: Want,
        policy: Policy,
    ) -> Unit {
        let state = State::new(policy, want, Instant::now());
        // A read-only service directory simply has no s6 events.
        let fifodir = service_dir.as_deref().and_then(|d| fifodir::Fifodir::create(d).ok());
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
            group_watch: Vec::new(),
            handover_pending: None,
            output: None,
            recorded: None,
            probe: None,
            ready_pipe: None,
            fifodir,
            told: (false, false),
            cgroup: None,
            cgroup_watch: None,
            oom_before: None,
            listen: crate::listen::Sockets::default(),
            pending_listen: None,
        }
    }

    /// Run the service in `cgroup` from its next start on; its
    /// `cgroup.events` joins the poll set.
    pub fn confine(&mut self, cgroup: crate::cgroup::Cgroup) -> std::io::Result<()> {
        self.cgroup_watch = cgroup.watch().transpose()?;
        self.cgroup = Some(cgroup);
        Ok(())
    }

    /// Whether the members of `g` — and, with a cgroup, any process of
    /// the service, whatever group or session it moved to — still live.
    fn group_alive(&self, g: Group) -> bool {
        let populated = match self.cgroup_watch.as_ref().and_then(|w| w.populated()) {
            Some(populated) => populated,
            None => self.cgroup.as_ref().is_some_and(|c| c.populated()),
        };
        populated || probe(g)
    }

    /// Send `sig` where the table chose. [`Whom::Service`] reaches every
    /// process of the service's cgroup when it has members (whatever group
    /// or session they moved to); a group that does not exist falls back
    /// to the process with its id (a followed process leading none).
    fn send(&self, whom: Whom, sig: Signal) -> nix::Result<()> {
        use crate::sys::process::Target;
        let pgid = match whom {
            Whom::Process(pid) => return sys::process::send(&Target::Pid(pid), sig),
            Whom::Service(pgid) => {
                let cgroup = self.cgroup.as_ref().filter(|c| c.v2.is_some());
                if cgroup.is_some_and(|c| c.signal(sig) > 0) {
                    return Ok(());
                }
                pgid
            }
            Whom::Group(pgid) => pgid,
        };
        match sys::process::send(&Target::Group(pgid), sig) {
            Err(nix::errno::Errno::ESRCH) => nix::sys::signal::kill(pgid, sig),
            other => other,
        }
    }

    /// The `logger:` command as a unit of its own: `sh -c LOGGER` in the
    /// service's directory, reading `input`, restarted at most once a second.
    pub fn logger(svc: &Service, command: &str, input: std::rc::Rc<std::os::fd::OwnedFd>) -> Unit {
        let logger = Service::program(vec!["sh".into(), "-c".into(), command.into()], svc.cwd.clone());
        let io = Io {
            stdin: Sink::Fd(input),
            stdout: Sink::Inherit,
            stderr: Sink::Inherit,
        };
        let policy = Policy {
            throttle: output::LOGGER_RESTART,
            ..policy(&logger, Role::Logger, false)
        };
        Unit::with_policy("logger", logger, None, io, None, Want::Up, policy)
    }
}

pub struct Parts {
    /// The service first, then its logger if any.
    pub units: Vec<Unit>,
    /// The supervise directory holding the socket.
    pub dir: PathBuf,
    pub log: Log,
    pub events: Events,
    pub listener: UnixListener,
    pub detached: bool,
}

pub fn policy(svc: &Service, role: Role, service_dir: bool) -> Policy {
    Policy {
        wait: svc.wait,
        retries: svc.retries,
        stop: svc.stop,
        may_exit: svc.cli || std::env::var_os("IMMORTAL_EXIT").is_some_and(|v| !v.is_empty()),
        throttle: svc.restart.delay.unwrap_or_else(throttle),
        role,
        service_dir,
        has_log: false,
        follows_pidfile: svc.follow_pidfile.is_some(),
        restart: svc.restart,
        essential: svc.essential,
        oneshot: svc.oneshot,
        jitter_seed: jitter_seed(),
        ready: match svc.ready.method {
            ReadyMethod::Up => ReadyKind::Up,
            ReadyMethod::Fd(_) | ReadyMethod::Notify => ReadyKind::Told,
            ReadyMethod::Probe(_) => ReadyKind::Probe,
        },
        ready_timeout: svc.ready.timeout,
        ready_interval: svc.ready.interval,
        health: svc.health.as_ref().map(|h| (h.interval, h.failures)),
        watchdog: svc.watchdog,
        uid: match &svc.user {
            Some(u) => u.uid.as_raw(),
            None => nix::unistd::geteuid().as_raw(),
        },
    }
}

/// A different seed for each supervisor (and each re-read configuration):
/// its pid and the clock's nanoseconds.
fn jitter_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
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

pub struct Supervisor {
    units: Vec<Unit>,
    dir: PathBuf,
    log: Log,
    events: Events,
    listener: UnixListener,
    clients: Vec<Client>,
    detached: bool,
    /// Errors of the command being handled, for the API's `Err`.
    refusals: Vec<String>,
    /// The `control/<letter>` script running: its pid and unit.
    control_script: Option<(Pid, usize)>,
    /// Events still to hand to the units' state machines, in order.
    queue: VecDeque<(usize, Event)>,
    /// The table said the supervisor exits, with this status.
    exit_code: Option<i32>,
    /// Maps monotonic instants to wall-clock time for the status files.
    epoch: (Instant, SystemTime),
    /// When to give back the pages touched since the last quiet moment.
    release_at: Option<Instant>,
    /// `$NOTIFY_SOCKET` of the service (unit 0), once one needs it.
    notify: Option<notify::NotifySocket>,
    /// `GET /events` readers.
    watchers: Vec<crate::events::Watcher>,
    /// The holder of the service's output pipes (see [`sys::hold`]).
    holder: Option<Pid>,
    /// Who asked for the command being handled (`uid 1000 (pid 4242)`),
    /// named in the events it causes.
    caller: Option<String>,
}

impl Supervisor {
    pub fn new(mut p: Parts) -> Supervisor {
        // runit's log/: the service's table drains it before exiting.
        if p.units.iter().any(|u| u.state.policy.role == Role::Log) {
            if let Some(service) = p.units.first_mut() {
                let policy = Policy {
                    has_log: true,
                    ..service.state.policy
                };
                service.state = State::new(policy, service.state.want, Instant::now());
            }
        }
        Supervisor {
            units: p.units,
            dir: p.dir,
            log: p.log,
            events: p.events,
            listener: p.listener,
            clients: Vec::new(),
            detached: p.detached,
            refusals: Vec::new(),
            control_script: None,
            queue: VecDeque::new(),
            exit_code: None,
            epoch: (Instant::now(), SystemTime::now()),
            // Start-up is a burst like any other: its pages go back once it
            // has been quiet a while. Not at once: when many supervisors
            // start together (a scanner's first scan), the CPU that trim
            // and the faults after it cost would delay the others' starts.
            release_at: Some(Instant::now() + RELEASE_AFTER),
            notify: None,
            watchers: Vec::new(),
            holder: None,
            caller: None,
        }
    }

    /// Run until the supervisor is told to exit; returns the exit status.
    pub fn run(mut self) -> i32 {
        // Survivors of a killed supervisor first (the service before its
        // logger: a new logger must get the service's pipe), then the
        // logger before the service, so the pipe has a reader when the
        // service starts.
        // (The supervise files are written once the first events are
        // handled, below: the state they would say now lasts no time.)
        let adopted: Vec<bool> = (0..self.units.len()).map(|i| self.adopt_survivor(i)).collect();
        for i in (0..self.units.len()).rev() {
            if !adopted[i] {
                self.queue.push_back((i, Event::Start));
            }
        }
        self.hold_output();
        // SIGCHLD is read from the signalfd now: children may start.
        for i in 0..self.units.len() {
            let Some(o) = self.units[i].output.as_mut() else {
                continue;
            };
            for e in o.resume() {
                self.log.warn(&e);
            }
        }
        self.run_queue();
        // An adopted service may have queued nothing: its files say so too.
        for i in 0..self.units.len() {
            self.write_status(i);
        }
        loop {
            if let Some(code) = self.exit_code {
                self.shutdown();
                return code;
            }
            self.wait_and_handle();
        }
    }

    /// Hand every queued event to its unit's state machine and carry out
    /// the actions; an action's answer is handled next, before anything
    /// queued later. Then the supervise files say what the state is.
    fn run_queue(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        while let Some((i, event)) = self.queue.pop_front() {
            let now = Instant::now();
            let (state, actions) = self.units[i].state.step(event, now);
            self.units[i].state = state;
            let answers: Vec<Event> = actions.into_iter().filter_map(|a| self.perform(i, a)).collect();
            for answer in answers.into_iter().rev() {
                self.queue.push_front((i, answer));
            }
            self.reconcile(i);
        }
        for i in 0..self.units.len() {
            self.write_status(i);
        }
    }

    /// Send an event of unit `i` to every `/events` reader.
    fn tell(&mut self, i: usize, event: &str, fields: serde_json::Value) {
        if self.watchers.is_empty() {
            return;
        }
        let role = self.units[i].state.policy.role;
        let line = changes::line(&self.service_name(), role, event, fields, self.caller.as_deref());
        crate::events::broadcast(&mut self.watchers, &line);
    }

    /// A process that an earlier supervisor of this directory started is
    /// still running (that supervisor was killed): supervise it instead of
    /// starting a second copy.
    fn adopt_survivor(&mut self, i: usize) -> bool {
        // A supervise directory made by this supervisor records nothing.
        let Some(files) = self.units[i].files.as_ref().filter(|f| !f.made) else {
            return false;
        };
        let Some(found) = adopt::survivor(&files.dir) else {
            return false;
        };
        let pid = found.pid;
        // The table decides which group it owns.
        let pgid = nix::unistd::getpgid(Some(pid)).unwrap_or(pid);
        let now = Instant::now();
        let since = now.checked_sub(found.uptime).unwrap_or(now);
        self.queue.push_back((
            i,
            Event::Adopted {
                pid,
                pgid,
                spawned_pgid: found.spawned_pgid,
                since,
            },
        ));
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
        let has_log_unit = self.units.iter().any(|u| u.state.policy.role == Role::Log);
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
        } else if has_log_unit && matches!(unit.io.stdout, Sink::Fd(_)) {
            // runit's log/: the one pipe between the service and its logger.
            if let Some((read, write)) = adopt::reopen_pipe(pid, 1, false)? {
                unit.io.stdout = Sink::Fd(std::rc::Rc::new(write));
                self.units[1].io.stdin = Sink::Fd(std::rc::Rc::new(read));
            }
        }
        Ok(())
    }

    /// Fork a holder of the service's output pipes, so that they outlive
    /// this supervisor (a `kill -9`): the service keeps writing into them
    /// and the next supervisor adopts it with no line lost. The holder an
    /// earlier supervisor left for the same pipes goes first.
    fn hold_output(&mut self) {
        let unit = &mut self.units[0];
        let Some(files) = &mut unit.files else { return };
        let left = if files.made { None } else { adopt::holder(&files.dir) };
        if let Some(old) = left {
            let _ = nix::sys::signal::kill(old, Signal::SIGKILL);
        }
        // The next supervisor reads the held pipes by reopening them through
        // the service's descriptors (`/proc/PID/fd`): where that cannot be
        // done, a holder would only keep a full pipe blocking the service.
        let reopen = crate::sys::system::capabilities().reopen_fds;
        let Some(output) = unit.output.as_ref().filter(|_| reopen) else {
            let _ = adopt::forget_holder(&mut files.records);
            return;
        };
        match sys::hold::spawn(&output.read_ends()) {
            Ok(pid) => {
                self.holder = Some(pid);
                if let Err(e) = adopt::save_holder(&mut files.records, pid) {
                    self.log.warn(&e.to_string());
                }
            }
            Err(e) => self.log.warn(&format!("unable to start the output pipes' holder: {e}")),
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let units = self
            .units
            .iter()
            .flat_map(|u| {
                [
                    u.state.deadline(),
                    u.output.as_ref().and_then(|o| o.deadline()),
                    u.probe.as_ref().map(|p| p.deadline),
                ]
            })
            .flatten();
        let clients = self.clients.iter().map(|c| c.deadline);
        let farewells = self.watchers.iter().filter_map(|w| w.closing);
        units.chain(clients).chain(farewells).min()
    }

    fn wait_and_handle(&mut self) {
        if self.release_at.is_some_and(|at| at <= Instant::now()) {
            // Quiet since the last burst of work (or startup): the code it
            // touched need not stay resident until the next event.
            for cgroup in self.units.iter_mut().filter_map(|u| u.cgroup.as_mut()) {
                cgroup.sweep_once();
            }
            // Start-up is over: a later look at the hierarchies (limits
            // added by a reload) sees the system as it is then.
            crate::cgroup::forget_inherited();
            sys::mem::release_idle_memory();
            self.release_at = None;
        }
        let deadline = self.next_deadline().into_iter().chain(self.release_at).min();
        let ready = {
            let mut set = PollSet::default();
            for (fd, key) in self.events.fds() {
                set.add(fd, false, Source::System(key));
            }
            set.add(self.listener.as_fd(), false, Source::Listener);
            for (i, u) in self.units.iter().enumerate() {
                if let Some(files) = &u.files {
                    set.add(files.control_fd(), false, Source::Control(i));
                }
                if let Some(events) = &u.cgroup_watch {
                    set.add_priority(events.as_fd(), Source::Cgroup(i));
                }
                if let Some(o) = &u.output {
                    for (which, fd, write) in o.poll_fds() {
                        set.add(fd, write, Source::Output(i, which));
                    }
                }
                if let Some((fd, write)) = u.probe.as_ref().and_then(|p| p.poll_fd()) {
                    set.add(fd, write, Source::Probe(i));
                }
                if let Some(pipe) = &u.ready_pipe {
                    set.add(pipe.as_fd(), false, Source::ReadyPipe(i));
                }
            }
            if let Some(n) = &self.notify {
                set.add(n.as_fd(), false, Source::Notify);
            }
            for (k, c) in self.clients.iter().enumerate() {
                set.add(c.stream.as_fd(), c.wants_write(), Source::Client(k));
            }
            for (k, w) in self.watchers.iter().enumerate() {
                set.add_flags(w.stream.as_fd(), w.interest(), Source::Watcher(k));
            }
            match set.wait(sys::timeout_until(deadline)) {
                Ok(ready) => ready,
                Err(e) => {
                    if e != nix::errno::Errno::EINTR {
                        self.log.warn(&format!("poll: {e}"));
                    }
                    return;
                }
            }
        };
        if !ready.is_empty() {
            // Something happened: more may follow soon (a burst of
            // queries), so the pages stay until it has been quiet a while.
            self.release_at = Some(Instant::now() + RELEASE_AFTER);
        }
        let mut clients = Vec::new();
        let mut watchers = Vec::new();
        let mut accept = false;
        let system: Vec<sys::events::Key> = ready
            .iter()
            .filter_map(|s| match s {
                Source::System(key) => Some(*key),
                _ => None,
            })
            .collect();
        if !system.is_empty() {
            self.on_system(&system);
        }
        for source in ready {
            match source {
                Source::System(_) => {}
                Source::Control(i) => self.on_control(i),
                // Rearmed here; check_groups below reads cgroup.events.
                Source::Cgroup(i) => {
                    let unit = &mut self.units[i];
                    // Unreadable: the cgroup was removed under us (its
                    // next start makes it again).
                    if unit.cgroup_watch.as_ref().is_some_and(|events| !events.rearm()) {
                        unit.cgroup_watch = None;
                    }
                }
                Source::Output(i, which) => self.on_output(i, which),
                Source::Probe(i) => self.on_probe(i),
                Source::ReadyPipe(i) => self.on_ready_pipe(i),
                Source::Notify => self.on_notify(),
                Source::Client(k) => clients.push(k),
                Source::Watcher(k) => watchers.push(k),
                Source::Listener => accept = true,
            }
            self.run_queue();
        }
        // Clients are answered from the last so removals keep indices valid.
        for k in clients.into_iter().rev() {
            self.on_client(k);
        }
        // Events sent since the poll may have dropped readers: an index
        // may be past the end now, or name another reader (then the
        // non-blocking flush or read does nothing harmful).
        for k in watchers.into_iter().rev() {
            let Some(w) = self.watchers.get_mut(k) else { continue };
            let fate = if w.wants_write() { w.flush() } else { w.on_readable() };
            if fate == crate::events::Fate::Gone {
                self.watchers.swap_remove(k);
            }
        }
        if accept {
            self.accept_clients();
        }
        let now = Instant::now();
        for i in 0..self.units.len() {
            if self.units[i].state.deadline().is_some_and(|at| at <= now) {
                self.queue.push_back((i, Event::Timer));
            }
            let unit = &mut self.units[i];
            if let Some(p) = unit.probe.as_mut().filter(|p| p.deadline <= now) {
                let (ok, output) = p.expire();
                unit.probe = None;
                self.queue.push_back((i, Event::Probed { ok, output }));
            }
            let unit = &mut self.units[i];
            if let Some(o) = &mut unit.output {
                if o.deadline().is_some_and(|at| at <= now) {
                    for e in o.on_timer() {
                        self.log.warn(&e);
                    }
                }
            }
        }
        self.run_queue();
        self.check_groups();
        self.expire_clients(now);
    }

    fn on_output(&mut self, i: usize, which: Option<usize>) {
        let Some(o) = &mut self.units[i].output else { return };
        let errors = match which {
            Some(stream) => o.on_readable(stream),
            None => {
                o.logger_writable();
                Vec::new()
            }
        };
        for e in errors {
            self.log.warn(&e);
        }
    }

    /// What the system's sources say: signals, the end of a watched
    /// process, a change in the pid file's directory.
    fn on_system(&mut self, ready: &[sys::events::Key]) {
        for happened in self.events.take(ready) {
            match happened {
                Happened::Signal(Signal::SIGCHLD) => self.reap(),
                Happened::Signal(sig) => {
                    self.regroup(0);
                    let detached = self.detached;
                    self.queue.push_back((0, Event::Signal { sig, detached }));
                }
                // Only if it still watches the same process.
                Happened::Exited(token) => {
                    if let Some(i) = self.units.iter().position(|u| u.watch.is_some_and(|(_, t)| t == token)) {
                        self.followed_exit(i);
                    }
                    // A member of an awaited group: check_groups, after
                    // this poll, looks at the group again.
                    for u in &mut self.units {
                        u.group_watch.retain(|(_, t)| *t != token);
                    }
                }
                Happened::Changed(token, _) => {
                    if let Some(i) = self.units.iter().position(|u| u.handover == Some(token)) {
                        self.pidfile_changed(i);
                    }
                }
            }
            self.run_queue();
        }
    }

    fn reap(&mut self) {
        for (pid, how, pgid) in sys::process::reap_all() {
            if self.holder == Some(pid) {
                self.holder = None;
                self.log
                    .warn(&format!("the output pipes' holder (pid {pid}) ended: {how}"));
                continue;
            }
            if let Some((_, unit)) = self.control_script.filter(|(p, _)| *p == pid) {
                self.control_script = None;
                self.queue.push_back((unit, Event::ControlDone { how: Some(how) }));
                continue;
            }
            if let Some(i) = self.units.iter().position(|u| u.state.tracked_pid() == Some(pid)) {
                self.exited(i, pid, Some(how), pgid);
            } else if let Some(i) = self
                .units
                .iter()
                .position(|u| u.probe.as_ref().and_then(|p| p.pid()) == Some(pid))
            {
                if let Some((ok, output)) = self.units[i].probe.as_mut().and_then(|p| p.on_exit(how)) {
                    self.units[i].probe = None;
                    self.queue.push_back((i, Event::Probed { ok, output }));
                }
            } else if let Some(errors) = self
                .units
                .iter_mut()
                .find_map(|u| u.output.as_mut().and_then(|o| o.child_ended(pid, how)))
            {
                // A rotated log file's compression.
                for e in errors {
                    self.log.warn(&e);
                }
            }
            // Anything else: a hook, or an orphan reparented to us.
        }
        self.run_queue();
        self.check_groups();
    }

    /// The followed process has exited (its watch is gone with it). Its
    /// status is known only if it was our child.
    fn followed_exit(&mut self, i: usize) {
        let Some((pid, _)) = self.units[i].watch.take() else {
            return;
        };
        let seen = nix::unistd::getpgid(Some(pid)).ok();
        // Not our child: nobody can read its status (the table decides
        // what an unknown exit means).
        let how = sys::process::try_wait(pid).ok().flatten();
        if self.units[i].state.tracked_pid() == Some(pid) {
            self.exited(i, pid, how, seen);
        }
        self.run_queue();
        self.check_groups();
    }

    /// Unit `i`'s tracked process `pid` ended (in group `seen`): queue the
    /// event with what the state machine needs to know about its group.
    fn exited(&mut self, i: usize, pid: Pid, how: Option<ExitHow>, seen: Option<Pid>) {
        let unit = &self.units[i];
        let is_main = unit.state.main_pid() == Some(pid);
        // The kernel counts the kill before the process dies: by the time
        // it is reaped, the count has risen.
        let oom_killed = is_main
            && unit
                .cgroup
                .as_ref()
                .zip(unit.oom_before)
                .is_some_and(|(cg, before)| cg.oom_kills().is_some_and(|n| n > before));
        let unit = &mut self.units[i];
        let group = unit.state.exit_group(pid, seen);
        if group.is_some() {
            // The main process: what it wrote is all in the pipes now.
            if let Some(o) = &mut unit.output {
                for e in o.run_ended() {
                    self.log.warn(&e);
                }
            }
        }
        if let Some((_, token)) = unit.watch.filter(|(w, _)| *w == pid) {
            unit.watch = None;
            self.events.forget(token);
        }
        let group_alive = group.is_some_and(|g| self.units[i].group_alive(g));
        self.queue.push_back((
            i,
            Event::Exited {
                pid,
                how,
                group_alive,
                seen_pgid: seen,
                oom_killed,
            },
        ));
    }

    /// The uid a followed process must have (unless it descends from us).
    fn service_uid(&self, i: usize) -> u32 {
        match &self.units[i].svc.user {
            Some(u) => u.uid.as_raw(),
            None => nix::unistd::geteuid().as_raw(),
        }
    }

    /// Read the pid file for unit `i` (the process `exited` is not a
    /// candidate). `watch`: watch its directory *before* reading it, so a
    /// pid file written after the read is an event, not a 3 s wait; and
    /// when it names nobody, look whether a descendant lives on.
    fn read_pidfile(&mut self, i: usize, exited: Pid, watch: bool) -> Event {
        let Some(path) = self.units[i].svc.follow_pidfile.clone() else {
            return Event::PidFile {
                found: Err("any pid file: none is configured".into()),
                descendants: false,
            };
        };
        if watch {
            match follow::watch_dir(&mut self.events, &path) {
                Ok(token) => {
                    if let Some(old) = self.units[i].handover_pending.replace(token) {
                        self.events.forget(old);
                    }
                }
                Err(e) => self.log.warn(&format!("unable to watch {}: {e}", path.display())),
            }
        }
        let found = follow::candidate(&path, exited, self.service_uid(i))
            .map(|(pid, pgid)| Candidate {
                pid,
                pgid,
                our_child: follow::is_our_child(pid),
            })
            .map_err(|why| format!("{}: {why}", path.display()));
        let descendants = watch && found.is_err() && {
            let known: Vec<Pid> = self
                .units
                .iter()
                .filter_map(|u| u.state.tracked_pid())
                .chain([exited])
                .collect();
            // Without a subreaper a descendant is not our child: one left
            // in the group we started (gunicorn's new master before it
            // writes the pid file) is the evidence instead.
            let in_group = || {
                self.units[i]
                    .state
                    .last
                    .spawned_pgid
                    .is_some_and(|g| !follow::group_members(g, &known).is_empty())
            };
            !follow::adopted(&known).is_empty() || (!sys::system::capabilities().subreaper && in_group())
        };
        Event::PidFile { found, descendants }
    }

    /// The pid file's directory changed during a hand-over: the state
    /// follows the pid file as soon as it names a live process of ours.
    fn pidfile_changed(&mut self, i: usize) {
        // Where the directory's watch does not see its files written, the
        // pid file is watched itself: a new file under that name now.
        if let (Some(token), Some(path)) = (self.units[i].handover, &self.units[i].svc.follow_pidfile) {
            let _ = self.events.contents(token, path);
        }
        let last = self.units[i].state.last.pid.unwrap_or(Pid::from_raw(0));
        let event = self.read_pidfile(i, last, false);
        self.queue.push_back((i, event));
    }

    /// Keep the resources the state implies: a pidfd on a followed or
    /// adopted process (and only on it), the pid file watch while a
    /// hand-over is awaited.
    fn reconcile(&mut self, i: usize) {
        let unit = &mut self.units[i];
        if !matches!(
            unit.state.phase,
            Phase::Running { .. } | Phase::Asked(state::Ask::Spawn)
        ) {
            // The service stopped: a probe of it goes too (a command's
            // group is killed on drop), and so does its notification pipe.
            unit.probe = None;
            unit.ready_pipe = None;
        }
        if unit.state.awaits_hand_over() {
            if unit.handover.is_none() {
                unit.handover = unit.handover_pending.take();
            }
        } else if !matches!(unit.state.phase, Phase::Asked(_)) {
            for token in [unit.handover.take(), unit.handover_pending.take()]
                .into_iter()
                .flatten()
            {
                self.events.forget(token);
            }
        }
        let unit = &mut self.units[i];
        let want = unit.state.watched_pid();
        if unit.watch.map(|(p, _)| p) == want {
            return;
        }
        if let Some((_, token)) = unit.watch.take() {
            self.events.forget(token);
        }
        let Some(pid) = want else { return };
        match self.events.exit(pid) {
            Ok(token) => self.units[i].watch = Some((pid, token)),
            // Gone already. If it was our child, SIGCHLD reports it;
            // otherwise report it now.
            Err(e) => match sys::process::try_wait(pid) {
                Ok(Some(how)) => self.exited(i, pid, Some(how), None),
                Ok(None) => {} // our child, still being torn down: SIGCHLD follows
                Err(_) => {
                    self.note(self.units[i].label, &format!("pid {pid} vanished ({e})"));
                    self.exited(i, pid, None, None);
                }
            },
        }
    }

    /// While a stop waits for the rest of a process group, see whether it
    /// has gone (after each reap and each timer).
    fn check_groups(&mut self) {
        for i in 0..self.units.len() {
            let awaited = self.units[i].state.awaits_group();
            match awaited.map(|g| (g, self.units[i].group_alive(g))) {
                Some((group, true)) => self.watch_group(i, group),
                gone => {
                    if gone.is_some() {
                        self.queue.push_back((i, Event::GroupProbed { alive: false }));
                    }
                    for (_, token) in std::mem::take(&mut self.units[i].group_watch) {
                        self.events.forget(token);
                    }
                }
            }
        }
        self.run_queue();
    }

    /// Where the system has no subreaper, the members the main process
    /// left in its group were reparented to init, not to us: their ends
    /// bring no SIGCHLD. Each live member is watched for its end instead
    /// (a member it forks meanwhile is found when it ends: the group is
    /// looked at again then).
    fn watch_group(&mut self, i: usize, group: Group) {
        if sys::system::capabilities().subreaper {
            return;
        }
        let members: Vec<Pid> = sys::process::all()
            .into_iter()
            .filter(|&p| sys::process::info(p).is_some_and(|m| m.pgrp == group.pgid.as_raw() && !m.zombie))
            .collect();
        let unit = &mut self.units[i];
        unit.group_watch.retain(|(p, token)| {
            let keep = members.contains(p);
            if !keep {
                self.events.forget(*token);
            }
            keep
        });
        for pid in members {
            if !self.units[i].group_watch.iter().any(|(p, _)| *p == pid) {
                if let Ok(token) = self.events.exit(pid) {
                    self.units[i].group_watch.push((pid, token));
                }
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

    /// Bytes from unit `i`'s control FIFO.
    fn on_control(&mut self, i: usize) {
        let Some(files) = &mut self.units[i].files else { return };
        let bytes = files.drain_control();
        let mut unknown = 0;
        for byte in bytes {
            match control::from_byte(byte) {
                Some(cmd) => {
                    self.regroup(i);
                    self.queue.push_back((i, Event::Control { byte, cmd }));
                }
                None => unknown += 1,
            }
        }
        if unknown > 0 {
            self.log.warn(&format!("ignoring {unknown} unknown control byte(s)"));
        }
    }

    /// Before a command, the state learns the main process's group anew (a
    /// followed daemon may have moved to a session of its own).
    fn regroup(&mut self, i: usize) {
        if let Some(pid) = self.units[i].state.main_pid() {
            if let Ok(pgid) = nix::unistd::getpgid(Some(pid)) {
                self.queue.push_back((i, Event::Regrouped { pid, pgid }));
            }
        }
    }

    /// Run a command on a unit now; returns the errors it produced.
    fn command(&mut self, i: usize, cmd: Command) -> Vec<String> {
        self.run_queue();
        self.refusals.clear();
        self.regroup(i);
        self.queue.push_back((i, Event::Command(cmd)));
        self.run_queue();
        std::mem::take(&mut self.refusals)
    }

    fn on_probe(&mut self, i: usize) {
        let Some(p) = self.units[i].probe.as_mut() else {
            return;
        };
        if let Some((ok, output)) = p.on_ready() {
            self.units[i].probe = None;
            self.queue.push_back((i, Event::Probed { ok, output }));
        }
    }

    fn on_ready_pipe(&mut self, i: usize) {
        let Some(pipe) = self.units[i].ready_pipe.as_mut() else {
            return;
        };
        let event = match pipe.on_readable() {
            Some(true) => Event::Notified(state::Notice::Ready),
            Some(false) => Event::NotifyClosed,
            None => return,
        };
        self.units[i].ready_pipe = None;
        self.queue.push_back((i, event));
    }

    /// sd_notify datagrams, with what the table needs to decide whether
    /// each speaks for the service: its sender (alive? its group? a
    /// descendant of the main process?) and the process a `MAINPID=`
    /// names.
    fn on_notify(&mut self) {
        let Some(sock) = &self.notify else {
            return;
        };
        let datagrams = sock.receive();
        for (sender, data) in datagrams {
            let main = self.units[0].state.main_pid();
            let from = sender.map(|from| Sender {
                pid: from.pid,
                uid: from.uid,
                alive: sys::process::info(from.pid).is_some(),
                pgid: nix::unistd::getpgid(Some(from.pid)).ok(),
                descends: main.is_some_and(|m| notify::descends_from(from.pid, m)),
            });
            let msg = notify::parse(&data);
            let main_pid = msg.main_pid.map(|pid| {
                let info = sys::process::info(pid).filter(|i| !i.zombie);
                Named {
                    pid,
                    found: info.map(|info| Candidate {
                        pid,
                        pgid: Pid::from_raw(info.pgrp),
                        our_child: info.ppid == std::process::id() as i32,
                    }),
                    descends: main.is_some_and(|m| notify::descends_from(pid, m)),
                }
            });
            self.queue.push_back((
                0,
                Event::Datagram {
                    from,
                    notices: msg.notices,
                    status: msg.status,
                    main_pid,
                },
            ));
        }
    }

    /// The table says the supervisor exits with `code` once runit's
    /// `log/` has read everything: close our ends of its pipe, so it sees
    /// end-of-file after what is buffered, and tell its table.
    fn drain(&mut self, code: i32) {
        for u in &mut self.units {
            u.io.stdin = Sink::Null;
            u.io.stdout = Sink::Null;
        }
        for j in 0..self.units.len() {
            if self.units[j].state.policy.role == Role::Log {
                self.queue.push_back((j, Event::Drain { code }));
            }
        }
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
        let logger_alive = self
            .units
            .iter()
            .any(|u| u.state.policy.role == Role::Logger && u.state.tracked_pid().is_some());
        for i in 0..self.units.len() {
            let left_running = self.units[i].state.tracked_pid().is_some();
            if let Some(o) = &mut self.units[i].output {
                for e in o.finish(output::LOGGER_FINISH, logger_alive, left_running) {
                    self.log.warn(&e);
                }
            }
        }
        let _ = std::fs::remove_file(self.dir.join(crate::layout::SOCKET));
        // The holder stays only for a service left running (`exit`): the
        // next supervisor adopts it and its output.
        if let (Some(pid), None) = (self.holder, self.units[0].state.tracked_pid()) {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            if let Some(files) = &mut self.units[0].files {
                let _ = adopt::forget_holder(&mut files.records);
            }
        }
        // The service is gone (unless `exit` left it running): so go its
        // cgroups. Still populated, they stay for the next supervisor.
        for u in &self.units {
            if let Some(cg) = &u.cgroup {
                match cg.remove() {
                    Ok(true) => {}
                    Ok(false) => self.log.info("the service's cgroup still has processes: kept"),
                    Err(e) => self.log.warn(&e.to_string()),
                }
            }
        }
        self.log.info("supervisor exiting");
    }
}

/// Whether group `g` still has members. A foreign group's zombies are
/// someone else's to reap: they do not count.
fn probe(g: Group) -> bool {
    // Without a subreaper, members left behind are init's to reap, not
    // ours: their zombies do not count either.
    if g.foreign || !sys::system::capabilities().subreaper {
        sys::process::group_has_live_member(g.pgid)
    } else {
        sys::process::group_alive(g.pgid)
    }
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
