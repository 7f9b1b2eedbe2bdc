//! The event loop of one supervisor. It only dispatches: every decision is
//! made by the pure [`state::State::step`]; this module turns poll events
//! into [`state::Event`]s and carries out the returned [`state::Action`]s.
//!
//! One `poll` waits on the signalfd, the API socket and its clients, with
//! the timeout set from the one next deadline (start, kill, client
//! timeout). With the service running and no client connected there is no
//! deadline at all: the supervisor sleeps until something happens.

pub mod spawn;
pub mod state;

use crate::api::{self, Client, Progress, Route};
use crate::control::{self, Command};
use crate::log::Log;
use crate::service::Service;
use crate::sys::{self, lock::Lock, signals::Signals};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use spawn::Output;
use state::{Action, Event, ExitHow, Phase, Policy, State, Want};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Everything a supervisor owns once startup has succeeded.
pub struct Supervisor {
    svc: Service,
    /// A configuration re-read by `restart`, applied at the next start.
    pending: Option<Service>,
    state: State,
    dir: PathBuf,
    out: Output,
    log: Log,
    signals: Signals,
    listener: UnixListener,
    clients: Vec<Client>,
    detached: bool,
    /// Errors of the command being dispatched, for the API's `Err`.
    refusals: Vec<String>,
    exit_code: Option<i32>,
    _lock: Lock,
}

/// The signals the supervisor handles itself.
pub const HANDLED: &[Signal] = &[Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

pub struct Parts {
    pub svc: Service,
    pub dir: PathBuf,
    pub out: Output,
    pub log: Log,
    pub signals: Signals,
    pub listener: UnixListener,
    pub lock: Lock,
    pub detached: bool,
    pub want: Want,
}

pub fn policy(svc: &Service) -> Policy {
    Policy {
        wait: svc.wait,
        retries: svc.retries,
        stop: svc.stop,
        may_exit: svc.cli || std::env::var_os("IMMORTAL_EXIT").is_some_and(|v| !v.is_empty()),
    }
}

impl Supervisor {
    pub fn new(p: Parts) -> Supervisor {
        let state = State::new(policy(&p.svc), p.want, Instant::now());
        Supervisor {
            svc: p.svc,
            pending: None,
            state,
            dir: p.dir,
            out: p.out,
            log: p.log,
            signals: p.signals,
            listener: p.listener,
            clients: Vec::new(),
            detached: p.detached,
            refusals: Vec::new(),
            exit_code: None,
            _lock: p.lock,
        }
    }

    /// Run until the supervisor is told to exit; returns the exit status.
    pub fn run(mut self) -> i32 {
        self.dispatch(Event::Start);
        loop {
            if let Some(code) = self.exit_code {
                self.shutdown();
                return code;
            }
            self.wait_and_handle();
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let clients = self.clients.iter().map(|c| c.deadline).min();
        match (self.state.deadline(), clients) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn wait_and_handle(&mut self) {
        let timeout = match self.next_deadline() {
            None => {
                // Going to sleep with nothing pending: the code that the
                // last burst of work (or startup) touched need not stay
                // resident until the next event.
                sys::mem::release_startup_pages();
                PollTimeout::NONE
            }
            Some(at) => {
                // Round up so we never wake a hair early and spin.
                let ms = at.saturating_duration_since(Instant::now()).as_micros().div_ceil(1000);
                PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let (sig_ready, listen_ready, client_ready) = {
            let mut fds = vec![
                PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
            ];
            for c in &self.clients {
                let flags = if c.wants_write() {
                    PollFlags::POLLOUT
                } else {
                    PollFlags::POLLIN
                };
                fds.push(PollFd::new(c.stream.as_fd(), flags));
            }
            if let Err(e) = poll(&mut fds, timeout) {
                if e != nix::errno::Errno::EINTR {
                    self.log.warn(&format!("poll: {e}"));
                }
                return;
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let clients: Vec<bool> = fds[2..].iter().map(ready).collect();
            (ready(&fds[0]), ready(&fds[1]), clients)
        };
        if sig_ready {
            self.on_signals();
        }
        // Clients first: accepting may reorder nothing, but indices below
        // refer to the clients polled.
        let mut i = client_ready.len();
        while i > 0 {
            i -= 1;
            if client_ready[i] {
                self.on_client(i);
            }
        }
        if listen_ready {
            self.accept_clients();
        }
        let now = Instant::now();
        if self.state.deadline().is_some_and(|at| at <= now) {
            self.dispatch(Event::Timer);
            self.check_group();
        }
        self.expire_clients(now);
    }

    fn on_signals(&mut self) {
        for sig in self.signals.drain() {
            match sig {
                Signal::SIGCHLD => self.reap(),
                Signal::SIGTERM => {
                    self.log.info("got TERM: stopping the service, then exiting");
                    self.command(Command::Halt);
                }
                Signal::SIGINT | Signal::SIGHUP if !self.detached => {
                    self.log.info(&format!(
                        "got {}: stopping the service, then exiting",
                        crate::signal::short_name(sig)
                    ));
                    self.command(Command::Halt);
                }
                other => self.log.info(&format!("ignoring {}", crate::signal::short_name(other))),
            }
        }
    }

    fn reap(&mut self) {
        for (pid, how) in sys::process::reap_all() {
            if Some(pid) != self.state.main_pid() {
                continue; // a post_exit hook or an orphan reparented to us
            }
            let uptime = match self.state.phase {
                Phase::Running { since, .. } | Phase::Stopping { since, .. } => since.elapsed(),
                _ => Duration::ZERO,
            };
            let how_text = match how {
                ExitHow::Code(c) => format!("exit code {c}"),
                ExitHow::Signal(s) => format!("killed by {}", crate::signal::name_of(s)),
            };
            self.log
                .info(&format!("pid {pid} ended: {how_text}, up {}", api::since(uptime)));
            let group_alive = sys::process::group_alive(pid);
            self.dispatch(Event::Exited { pid, how, group_alive });
        }
        self.check_group();
    }

    /// While a stop waits for the rest of the process group, see whether it
    /// has gone (after each reap and each timer).
    fn check_group(&mut self) {
        if let Some(pgid) = self.state.awaits_group() {
            if !sys::process::group_alive(pgid) {
                self.dispatch(Event::GroupGone);
            }
        }
    }

    /// Run a command from any source; returns the errors it produced.
    fn command(&mut self, cmd: Command) -> Vec<String> {
        self.refusals.clear();
        if cmd == Command::Restart {
            self.reload_config();
        }
        self.dispatch(Event::Command(cmd));
        std::mem::take(&mut self.refusals)
    }

    /// `restart` re-reads the `-c` file; a bad file keeps the old one.
    fn reload_config(&mut self) {
        let Some(path) = self.svc.config_file.clone() else {
            return;
        };
        match crate::config::load(&path).and_then(|yml| crate::service::from_yml(&path, &yml)) {
            Ok(mut svc) => {
                svc.name.clone_from(&self.svc.name);
                self.pending = Some(svc);
            }
            Err(e) => {
                let msg = format!("restart keeps the previous configuration: {e}");
                self.log.warn(&msg);
                self.refusals.push(msg);
            }
        }
    }

    fn dispatch(&mut self, event: Event) {
        let actions = self.state.step(event, Instant::now());
        for action in actions {
            self.perform(action);
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Spawn => self.spawn(),
            Action::Kill(target, sig) => {
                if let Err(e) = sys::process::send(&target, sig) {
                    if e != nix::errno::Errno::ESRCH {
                        let msg = format!("unable to send {} to {target:?}: {e}", crate::signal::short_name(sig));
                        self.log.warn(&msg);
                        self.refusals.push(msg);
                    }
                }
            }
            Action::PostExit(code) => {
                if let Some(hook) = self.svc.post_exit.clone() {
                    if let Err(e) = spawn::hook(&hook, code, &self.svc, &self.out) {
                        self.log.warn(&format!("unable to run post_exit '{hook}': {e}"));
                    }
                }
            }
            Action::Refuse(msg) => self.refusals.push(msg),
            Action::Note(msg) => self.log.info(&msg),
            Action::Exit(code) => self.exit_code = Some(code),
        }
    }

    fn spawn(&mut self) {
        if let Some(svc) = self.pending.take() {
            self.state.policy = policy(&svc);
            self.svc = svc;
        }
        match spawn::service(&self.svc, &self.out) {
            Ok(pid) => {
                self.log
                    .info(&format!("pid {pid} started: {}", self.svc.command.join(" ")));
                if let Some(path) = &self.svc.child_pidfile {
                    if let Err(e) = sys::fs::write_pidfile(path, pid) {
                        self.log.warn(&e.to_string());
                    }
                }
                self.dispatch(Event::Spawned {
                    pid: Pid::from_raw(pid as i32),
                });
            }
            Err(e) => {
                self.log
                    .warn(&format!("unable to start {}: {e}", self.svc.command.join(" ")));
                self.dispatch(Event::SpawnFailed);
            }
        }
    }

    fn accept_clients(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if self.clients.len() >= api::MAX_CLIENTS {
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
                        self.command(cmd)
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
        let s = &self.state;
        let (state, up, down, status) = match s.phase {
            Phase::Running { since, .. } | Phase::Stopping { since, .. } => {
                ("run", Some(api::since(now - since)), None, None)
            }
            Phase::Waiting { at } => {
                let secs = at.saturating_duration_since(now).as_secs_f64();
                (
                    "wait",
                    None,
                    Some(api::since(now - s.changed)),
                    Some(format!("Starting in {secs:.1} seconds")),
                )
            }
            Phase::Down => ("down", None, Some(api::since(now - s.changed)), None),
        };
        api::StatusJson {
            pid: s.main_pid().or(s.last_pid).map_or(0, |p| p.as_raw()),
            up,
            down,
            cmd: self.svc.command.join(" "),
            fpid: false,
            count: s.count,
            status,
            name: self.svc.name.clone().unwrap_or_else(|| {
                self.dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }),
            state,
            want: match s.want {
                Want::Up => "up",
                Want::Down => "down",
                Want::Once => "once",
            },
            paused: s.paused,
            exit: s.last_exit.map(|how| match how {
                ExitHow::Code(code) => api::ExitJson::Code { code },
                ExitHow::Signal(sig) => api::ExitJson::Signal {
                    signal: crate::signal::name_of(sig),
                },
            }),
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
        let _ = std::fs::remove_file(self.dir.join(crate::sdir::SOCKET));
        self.log.info("supervisor exiting");
    }
}
