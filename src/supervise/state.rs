//! The supervisor's behaviour as one pure function: [`State::step`] takes an
//! [`Event`] and the current monotonic time and returns the [`Action`]s the
//! event loop must carry out. No I/O happens here, so every transition is
//! unit-tested as a table, without sleeping.
//!
//! Phases: `Down` → (`Waiting` until the start deadline) → `Running` →
//! (`Stopping` while the stop signal, then KILL at the deadline, empties the
//! process group) → (`Finishing` while runit's `./finish` runs, if there is
//! one) → `Down`. The supervisor says `down` only once the whole group is
//! gone.

use crate::control::Command;
use crate::service::StopSpec;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// Two starts are at least this far apart (unless `IMMORTAL_THROTTLE_MS`
/// says otherwise); an exit after this much uptime restarts at once.
pub const MIN_RUN: Duration = Duration::from_secs(1);
/// While a KILLed group has not disappeared yet, look again this often.
pub const GROUP_RECHECK: Duration = Duration::from_secs(1);

/// `at + d`, for durations that come from configuration: one too long for
/// the clock (`wait: 18446744073709551615`) means "not in this lifetime",
/// never a panic.
pub fn later(at: Instant, d: Duration) -> Instant {
    const CENTURIES: Duration = Duration::from_secs(1 << 32);
    at.checked_add(d).or_else(|| at.checked_add(CENTURIES)).unwrap_or(at)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Up,
    Down,
    /// Run, but do not restart when it exits.
    Once,
}

/// How the main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitHow {
    Code(i32),
    Signal(i32),
}

/// `exit code 3`, `killed by TERM`: for log lines.
impl std::fmt::Display for ExitHow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitHow::Code(c) => write!(f, "exit code {c}"),
            ExitHow::Signal(s) => write!(f, "killed by {}", crate::signal::name_of(*s)),
        }
    }
}

impl ExitHow {
    /// The shell's convention: a signal death is 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitHow::Code(c) => c,
            ExitHow::Signal(s) => 128 + s,
        }
    }
}

/// What to do once a stop has emptied the process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterStop {
    Nothing,
    Start,
    ExitSupervisor,
}

/// What follows a `./finish` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The service ended by itself: restart or not by `want` and retries.
    Policy,
    /// It was stopped: do what the stop was for.
    Stop(AfterStop),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Down,
    Waiting {
        at: Instant,
    },
    Running {
        /// The process signals go to: the one started, or the one followed.
        pid: Pid,
        /// Its process group (the started pid; a followed one's own group).
        pgid: Pid,
        since: Instant,
    },
    Stopping {
        /// The main process, until it has been reaped.
        pid: Option<Pid>,
        pgid: Pid,
        since: Instant,
        /// When KILL goes to the whole group (`None`: never).
        kill_at: Option<Instant>,
        /// KILL was sent; `kill_at` is now the next look at the group.
        killed: bool,
        then: AfterStop,
    },
    /// runit's `./finish` runs (`pid` once spawned); KILLed at `kill_at`.
    Finishing {
        pid: Option<Pid>,
        kill_at: Option<Instant>,
        next: Next,
    },
}

/// The parts of the configuration the state machine decides with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub wait: Duration,
    pub retries: i64,
    pub stop: StopSpec,
    /// Command-line supervisor or `IMMORTAL_EXIT` set: the supervisor exits
    /// when retries run out, and `exit` over the socket is allowed.
    pub may_exit: bool,
    /// A service directory with a `./finish` to run after each exit.
    pub has_finish: bool,
    /// The least time between two starts ([`MIN_RUN`]).
    pub throttle: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The loop is ready: begin.
    Start,
    Command(Command),
    /// The deadline returned by [`State::deadline`] has passed.
    Timer,
    Spawned {
        pid: Pid,
    },
    /// The command could not be started (exec failed with this errno).
    SpawnFailed {
        errno: i32,
    },
    /// The main process was reaped. `group_alive`: other members of its
    /// process group are still there. `follow`: the live process (and its
    /// group) that the pid file names instead, when following a pid file.
    Exited {
        pid: Pid,
        how: ExitHow,
        group_alive: bool,
        follow: Option<(Pid, Pid)>,
    },
    /// Members of the last process group outlived its main process (a
    /// followed daemon's workers): stop them before anything else.
    Leftovers {
        pgid: Pid,
    },
    /// The service is handing over to a descendant whose pid is not in the
    /// pid file yet: hold the next start until `until`.
    HandOverPending {
        until: Instant,
    },
    /// At a start, the pid file already names a live process of ours: it
    /// is followed instead of starting a second copy.
    Followed {
        pid: Pid,
        pgid: Pid,
    },
    /// At the supervisor's start, the process an earlier supervisor of this
    /// directory started is still running (see `adopt`): supervise it
    /// rather than start a second copy. `pgid`: the group to signal;
    /// `spawned_pgid`: the group the earlier supervisor created.
    Adopted {
        pid: Pid,
        pgid: Pid,
        spawned_pgid: Pid,
        since: Instant,
    },
    /// While stopping, the process group was seen to be empty.
    GroupGone,
    FinishSpawned {
        pid: Pid,
    },
    FinishFailed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Pid(Pid),
    Group(Pid),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Spawn,
    Kill(Target, Signal),
    /// Run the `post_exit` hook with this code.
    PostExit(i32),
    /// Run `./finish` with runit's arguments for this exit.
    SpawnFinish(ExitHow),
    /// Answer the command's sender with this error (the command did nothing).
    Refuse(String),
    /// Tell the operator (log line).
    Note(String),
    /// The supervisor exits with this status.
    Exit(i32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub want: Want,
    pub phase: Phase,
    /// Starts so far (Go's `count`).
    pub count: u64,
    pub last_start: Option<Instant>,
    pub last_pid: Option<Pid>,
    pub last_exit: Option<ExitHow>,
    /// When the phase last changed.
    pub changed: Instant,
    pub paused: bool,
    /// The stop signal (or TERM) was sent and the process has not exited.
    pub term_sent: bool,
    /// The supervisor exits once the service is down.
    pub exiting: bool,
    /// The running pid is one read from the pid file (`fpid`).
    pub following: bool,
    /// The running pid was started by an earlier supervisor (not our
    /// child: watched through a pidfd).
    pub adopted: bool,
    /// The last process group was made by an earlier supervisor: its
    /// members are not our children, so their zombies are someone else's
    /// to reap and must not count as members.
    pub foreign_group: bool,
    /// No start before this (a hand-over to a new pid is in progress).
    pub hold_until: Option<Instant>,
    /// The process group of the last main process.
    pub last_pgid: Option<Pid>,
    /// The process group the supervisor created at the last start.
    pub spawned_pgid: Option<Pid>,
    /// Why the last start failed (an errno), until a start succeeds.
    pub spawn_error: Option<i32>,
    /// Some start of the command ever succeeded (or a process was followed
    /// or adopted): when retries run out without that, the supervisor's
    /// exit status says it failed.
    pub ever_ran: bool,
    pub policy: Policy,
}

type Actions = Vec<Action>;

impl State {
    pub fn new(policy: Policy, want: Want, now: Instant) -> State {
        State {
            want,
            phase: Phase::Down,
            count: 0,
            last_start: None,
            last_pid: None,
            last_exit: None,
            changed: now,
            paused: false,
            term_sent: false,
            exiting: false,
            following: false,
            adopted: false,
            foreign_group: false,
            hold_until: None,
            last_pgid: None,
            spawned_pgid: None,
            spawn_error: None,
            ever_ran: false,
            policy,
        }
    }

    /// The next moment the loop must wake up for, if any.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Waiting { at } => Some(at),
            Phase::Stopping { kill_at, .. } | Phase::Finishing { kill_at, .. } => kill_at,
            Phase::Down | Phase::Running { .. } => None,
        }
    }

    /// The process signals go to, when one runs.
    pub fn main_pid(&self) -> Option<Pid> {
        match self.phase {
            Phase::Running { pid, .. } => Some(pid),
            Phase::Stopping { pid, .. } => pid,
            _ => None,
        }
    }

    /// The followed process's group, read again: a daemon may `setsid`
    /// after writing its pid file, so the group seen when it was first
    /// followed can be stale.
    pub fn refresh_pgid(&mut self, new: Pid) {
        if let Phase::Running { pgid, .. } | Phase::Stopping { pgid, .. } = &mut self.phase {
            *pgid = new;
        }
        self.last_pgid = Some(new);
    }

    /// The group to signal for a followed process `pid` found in group
    /// `pgid`: that group only if the supervisor may own it — the process
    /// leads it (a daemon's `setsid`) or it is the group created at the
    /// last start; otherwise the process alone (a group of `pid` that does
    /// not exist falls back to the pid itself).
    pub fn owned_group(&self, pid: Pid, pgid: Pid) -> Pid {
        if pgid == pid || Some(pgid) == self.spawned_pgid {
            pgid
        } else {
            pid
        }
    }

    /// The process group of the service's main process.
    pub fn pgid(&self) -> Option<Pid> {
        match self.phase {
            Phase::Running { pgid, .. } | Phase::Stopping { pgid, .. } => Some(pgid),
            _ => None,
        }
    }

    /// The process the supervisor waits for: the service, or `./finish`.
    pub fn tracked_pid(&self) -> Option<Pid> {
        match self.phase {
            Phase::Finishing { pid, .. } => pid,
            _ => self.main_pid(),
        }
    }

    /// What `status`/`stat` report: run, down or finish.
    pub fn visible(&self) -> crate::status::RunState {
        use crate::status::RunState;
        match self.phase {
            Phase::Running { .. } | Phase::Stopping { .. } => RunState::Run,
            Phase::Finishing { .. } => RunState::Finish,
            Phase::Down | Phase::Waiting { .. } => RunState::Down,
        }
    }

    /// The status record for this state, the last change dated `since`.
    pub fn record(&self, since: std::time::SystemTime) -> crate::status::Status {
        use crate::status::Wanted;
        crate::status::Status {
            since,
            pid: self.tracked_pid().map_or(0, |p| p.as_raw() as u32),
            paused: self.paused,
            want: match self.want {
                _ if self.exiting => Wanted::Exit,
                Want::Up => Wanted::Up,
                Want::Down | Want::Once => Wanted::Down,
            },
            term_sent: self.term_sent,
            state: self.visible(),
        }
    }

    /// Why the service is not running, when that is not simply what was
    /// asked for.
    pub fn reason(&self) -> Option<String> {
        match (self.phase, self.spawn_error) {
            (Phase::Down | Phase::Waiting { .. }, Some(errno)) => Some(format!(
                "exec failed: {}",
                std::io::Error::from_raw_os_error(errno)
                    .to_string()
                    .split(" (os error")
                    .next()
                    .unwrap_or_default()
            )),
            _ => None,
        }
    }

    /// Stopping, with the main process gone: the loop must report
    /// [`Event::GroupGone`] when the group empties.
    pub fn awaits_group(&self) -> Option<Pid> {
        match self.phase {
            Phase::Stopping { pid: None, pgid, .. } => Some(pgid),
            _ => None,
        }
    }

    pub fn step(&mut self, event: Event, now: Instant) -> Actions {
        match event {
            Event::Start => self.on_start(now),
            Event::Command(cmd) => self.on_command(cmd, now),
            Event::Timer => self.on_timer(now),
            Event::Spawned { pid } => {
                self.hold_until = None;
                self.count += 1;
                self.last_start = Some(now);
                self.last_pid = Some(pid);
                self.paused = false;
                self.following = false;
                self.adopted = false;
                self.foreign_group = false;
                self.last_pgid = Some(pid);
                self.spawned_pgid = Some(pid);
                self.spawn_error = None;
                self.ever_ran = true;
                self.set_phase(
                    Phase::Running {
                        pid,
                        pgid: pid,
                        since: now,
                    },
                    now,
                );
                Vec::new()
            }
            Event::SpawnFailed { errno } => {
                // A start that could not exec counts as a start that exited
                // 127 (the shell's "command not found"), so retries and the
                // restart throttle apply to it too.
                self.spawn_error = Some(errno);
                self.count += 1;
                self.last_start = Some(now);
                self.last_exit = Some(ExitHow::Code(127));
                self.ended(Next::Policy, now)
            }
            Event::Exited {
                pid,
                how,
                group_alive,
                follow,
            } => self.on_exited(pid, how, group_alive, follow, now),
            Event::Leftovers { pgid } => match self.phase {
                Phase::Down | Phase::Waiting { .. } => {
                    let then = if self.want == Want::Down {
                        AfterStop::Nothing
                    } else {
                        AfterStop::Start
                    };
                    self.term_sent = true;
                    self.phase = Phase::Stopping {
                        pid: None,
                        pgid,
                        since: now,
                        kill_at: self.policy.stop.timeout.map(|t| later(now, t)),
                        killed: false,
                        then,
                    };
                    vec![
                        Action::Note(format!(
                            "process group {pgid} outlived its main process: stopping it first"
                        )),
                        Action::Kill(Target::Group(pgid), self.policy.stop.signal),
                        Action::Kill(Target::Group(pgid), Signal::SIGCONT),
                    ]
                }
                _ => Vec::new(),
            },
            Event::HandOverPending { until } => {
                self.hold_until = Some(until);
                Vec::new()
            }
            Event::Followed { pid, pgid } => match self.phase {
                Phase::Down | Phase::Waiting { .. } => {
                    self.hold_until = None;
                    self.ever_ran = true;
                    self.spawn_error = None;
                    self.following = true;
                    self.last_pid = Some(pid);
                    self.last_pgid = Some(pgid);
                    self.set_phase(Phase::Running { pid, pgid, since: now }, now);
                    vec![Action::Note(format!(
                        "following pid {pid} from the pid file instead of starting"
                    ))]
                }
                _ => Vec::new(),
            },
            Event::Adopted {
                pid,
                pgid,
                spawned_pgid,
                since,
            } => match self.phase {
                Phase::Down | Phase::Waiting { .. } => {
                    self.adopted = true;
                    self.ever_ran = true;
                    self.foreign_group = true;
                    // Restarts are throttled from now: the start time of a
                    // process we did not start says nothing about crash loops.
                    self.last_start = Some(now);
                    self.last_pid = Some(pid);
                    self.last_pgid = Some(pgid);
                    self.spawned_pgid = Some(spawned_pgid);
                    self.phase = Phase::Running { pid, pgid, since };
                    self.changed = since.min(now);
                    vec![Action::Note(format!(
                        "pid {pid}, started by an earlier supervisor, is still running: adopting it"
                    ))]
                }
                _ => Vec::new(),
            },
            Event::GroupGone => match self.phase {
                Phase::Stopping { pid: None, then, .. } => self.ended(Next::Stop(then), now),
                _ => Vec::new(),
            },
            Event::FinishSpawned { pid } => {
                if let Phase::Finishing { next, .. } = self.phase {
                    let kill_at = self.policy.stop.timeout.map(|t| later(now, t));
                    self.phase = Phase::Finishing {
                        pid: Some(pid),
                        kill_at,
                        next,
                    };
                }
                Vec::new()
            }
            Event::FinishFailed => match self.phase {
                Phase::Finishing { next, .. } => self.finished(next, now),
                _ => Vec::new(),
            },
        }
    }

    /// Change phase; the state-change time moves only when what readers
    /// see (run, down, finish) changes.
    fn set_phase(&mut self, phase: Phase, now: Instant) {
        let before = self.visible();
        self.phase = phase;
        if self.visible() != before {
            self.changed = now;
        }
    }

    /// The service and its group are gone: run `./finish` if there is one,
    /// then go on with `next`.
    fn ended(&mut self, next: Next, now: Instant) -> Actions {
        self.term_sent = false;
        self.following = false;
        self.adopted = false;
        self.paused = false;
        if self.policy.has_finish {
            let how = self.last_exit.unwrap_or(ExitHow::Code(0));
            self.set_phase(
                Phase::Finishing {
                    pid: None,
                    kill_at: None,
                    next,
                },
                now,
            );
            return vec![Action::SpawnFinish(how)];
        }
        self.finished(next, now)
    }

    fn finished(&mut self, next: Next, now: Instant) -> Actions {
        self.set_phase(Phase::Down, now);
        match next {
            Next::Policy => self.after_exit(now),
            Next::Stop(then) => self.stopped(then, now),
        }
    }

    /// When the next start may happen: after `wait`, and at least the
    /// throttle after the previous start.
    fn start_at(&self, now: Instant) -> Instant {
        let after_wait = later(now, self.policy.wait).max(self.hold_until.unwrap_or(now));
        match self.last_start {
            Some(last) => after_wait.max(later(last, self.policy.throttle)),
            None => after_wait,
        }
    }

    fn schedule_start(&mut self, now: Instant) -> Actions {
        let at = self.start_at(now);
        if at <= now {
            vec![Action::Spawn]
        } else {
            self.set_phase(Phase::Waiting { at }, now);
            Vec::new()
        }
    }

    fn on_start(&mut self, now: Instant) -> Actions {
        match self.want {
            Want::Up | Want::Once => self.schedule_start(now),
            Want::Down => Vec::new(),
        }
    }

    fn on_timer(&mut self, now: Instant) -> Actions {
        match self.phase {
            Phase::Waiting { at } if at <= now => vec![Action::Spawn],
            Phase::Stopping {
                pid,
                pgid,
                since,
                kill_at: Some(at),
                killed,
                then,
            } if at <= now => {
                self.phase = Phase::Stopping {
                    pid,
                    pgid,
                    since,
                    kill_at: Some(now + GROUP_RECHECK),
                    killed: true,
                    then,
                };
                if killed {
                    // Already KILLed: the loop looks at the group again.
                    return Vec::new();
                }
                let mut acts = vec![Action::Note(format!(
                    "stop timeout: sending KILL to process group {pgid}"
                ))];
                acts.push(Action::Kill(Target::Group(pgid), Signal::SIGKILL));
                if let Some(pid) = pid {
                    if pid != pgid {
                        acts.push(Action::Kill(Target::Pid(pid), Signal::SIGKILL));
                    }
                }
                acts
            }
            Phase::Finishing {
                pid: Some(pid),
                kill_at: Some(at),
                next,
            } if at <= now => {
                self.phase = Phase::Finishing {
                    pid: Some(pid),
                    kill_at: None,
                    next,
                };
                vec![
                    Action::Note(format!("finish timeout: sending KILL to ./finish (pid {pid})")),
                    Action::Kill(Target::Group(pid), Signal::SIGKILL),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn on_command(&mut self, cmd: Command, now: Instant) -> Actions {
        match cmd {
            Command::Up => {
                self.want = Want::Up;
                match self.phase {
                    Phase::Down => self.schedule_start(now),
                    Phase::Stopping { .. } | Phase::Finishing { .. } => {
                        self.redirect_stop(AfterStop::Start);
                        Vec::new()
                    }
                    Phase::Running { .. } | Phase::Waiting { .. } => Vec::new(),
                }
            }
            Command::Once => match self.phase {
                Phase::Down => {
                    self.want = Want::Once;
                    self.schedule_start(now)
                }
                Phase::Stopping { .. } | Phase::Finishing { .. } => Vec::new(),
                Phase::Running { .. } | Phase::Waiting { .. } => {
                    self.want = Want::Once;
                    Vec::new()
                }
            },
            // s6's `O`: do not restart it when it ends; if it is down, do not
            // even start it.
            Command::OnceAtMost => match self.phase {
                Phase::Running { .. } => {
                    self.want = Want::Once;
                    Vec::new()
                }
                Phase::Waiting { .. } => {
                    self.want = Want::Down;
                    self.set_phase(Phase::Down, now);
                    Vec::new()
                }
                _ => {
                    if self.want == Want::Up {
                        self.want = Want::Once;
                    }
                    Vec::new()
                }
            },
            Command::Down => {
                self.want = Want::Down;
                self.stop(AfterStop::Nothing, now)
            }
            Command::Halt | Command::Exit { stop_service: true } => {
                self.want = Want::Down;
                self.exiting = true;
                self.stop(AfterStop::ExitSupervisor, now)
            }
            Command::Exit { stop_service: false } => {
                if self.policy.may_exit {
                    vec![
                        Action::Note("exit: leaving the service running".into()),
                        Action::Exit(0),
                    ]
                } else {
                    vec![Action::Refuse("set environment variable IMMORTAL_EXIT to exit".into())]
                }
            }
            Command::Restart => {
                self.want = Want::Up;
                match self.phase {
                    Phase::Running { .. } => self.stop(AfterStop::Start, now),
                    Phase::Stopping { .. } | Phase::Finishing { .. } => {
                        self.redirect_stop(AfterStop::Start);
                        Vec::new()
                    }
                    Phase::Down | Phase::Waiting { .. } => vec![Action::Spawn],
                }
            }
            Command::RestartSignal => match self.phase {
                Phase::Running { pid, pgid, .. } => {
                    self.term_sent = true;
                    self.stop_signals(pid, pgid)
                }
                _ => Vec::new(),
            },
            Command::Pause => self.signal_main(Signal::SIGSTOP, Some(true)),
            Command::Continue => self.signal_main(Signal::SIGCONT, Some(false)),
            Command::Signal(sig) => self.signal_main(sig, None),
        }
    }

    fn signal_main(&mut self, sig: Signal, paused: Option<bool>) -> Actions {
        match self.main_pid() {
            Some(pid) => {
                if let Some(p) = paused {
                    self.paused = p;
                }
                if sig == Signal::SIGTERM {
                    self.term_sent = true;
                }
                vec![Action::Kill(Target::Pid(pid), sig)]
            }
            None => vec![Action::Refuse("service not running".into())],
        }
    }

    /// The stop signal then CONT (so a paused process sees it), to the
    /// group or to the main process as configured.
    fn stop_signals(&self, pid: Pid, pgid: Pid) -> Actions {
        let target = if self.policy.stop.group {
            Target::Group(pgid)
        } else {
            Target::Pid(pid)
        };
        vec![
            Action::Kill(target.clone(), self.policy.stop.signal),
            Action::Kill(target, Signal::SIGCONT),
        ]
    }

    fn stop(&mut self, then: AfterStop, now: Instant) -> Actions {
        match self.phase {
            Phase::Running { pid, pgid, since } => {
                let acts = self.stop_signals(pid, pgid);
                self.paused = false;
                self.term_sent = true;
                self.phase = Phase::Stopping {
                    pid: Some(pid),
                    pgid,
                    since,
                    kill_at: self.policy.stop.timeout.map(|t| later(now, t)),
                    killed: false,
                    then,
                };
                acts
            }
            Phase::Stopping { .. } | Phase::Finishing { .. } => {
                self.redirect_stop(then);
                Vec::new()
            }
            Phase::Waiting { .. } | Phase::Down => {
                if matches!(self.phase, Phase::Waiting { .. }) {
                    self.set_phase(Phase::Down, now);
                }
                self.stopped(then, now)
            }
        }
    }

    /// Change what a stop in progress leads to. An exit request wins over
    /// anything else, never the reverse.
    fn redirect_stop(&mut self, next: AfterStop) {
        match &mut self.phase {
            Phase::Stopping { then, .. } if *then != AfterStop::ExitSupervisor => *then = next,
            Phase::Finishing { next: then, .. } if *then != Next::Stop(AfterStop::ExitSupervisor) => {
                *then = Next::Stop(next)
            }
            _ => {}
        }
    }

    /// The stop is complete: the group is gone.
    fn stopped(&mut self, then: AfterStop, now: Instant) -> Actions {
        if !matches!(self.phase, Phase::Down) {
            self.set_phase(Phase::Down, now);
        }
        match then {
            AfterStop::Nothing => Vec::new(),
            AfterStop::Start => self.schedule_start(now),
            AfterStop::ExitSupervisor => vec![Action::Exit(0)],
        }
    }

    fn on_exited(
        &mut self,
        pid: Pid,
        how: ExitHow,
        group_alive: bool,
        follow: Option<(Pid, Pid)>,
        now: Instant,
    ) -> Actions {
        match self.phase {
            Phase::Running { pid: main, since, .. } if main == pid => {
                if let Some((fpid, fpgid)) = follow {
                    // It handed over to the pid in the pid file (a daemon that
                    // forked, or an upgrade): follow that one, no restart.
                    self.following = true;
                    self.adopted = false;
                    self.last_pid = Some(fpid);
                    self.last_pgid = Some(fpgid);
                    self.phase = Phase::Running {
                        pid: fpid,
                        pgid: fpgid,
                        since,
                    };
                    return vec![Action::Note(format!(
                        "pid {pid} exited; following pid {fpid} from the pid file"
                    ))];
                }
                self.last_exit = Some(how);
                let mut acts = vec![Action::PostExit(how.code())];
                acts.extend(self.ended(Next::Policy, now));
                acts
            }
            Phase::Stopping {
                pid: Some(main),
                pgid,
                since,
                kill_at,
                killed,
                then,
            } if main == pid => {
                self.last_exit = Some(how);
                let mut acts = vec![Action::PostExit(how.code())];
                if group_alive {
                    // The main process is gone but its group is not: those
                    // members get the stop signal too, and the deadline holds.
                    if self.policy.stop.group {
                        acts.push(Action::Kill(Target::Group(pgid), self.policy.stop.signal));
                        acts.push(Action::Kill(Target::Group(pgid), Signal::SIGCONT));
                    }
                    self.phase = Phase::Stopping {
                        pid: None,
                        pgid,
                        since,
                        kill_at,
                        killed,
                        then,
                    };
                } else {
                    acts.extend(self.ended(Next::Stop(then), now));
                }
                acts
            }
            Phase::Finishing {
                pid: Some(finish),
                next,
                ..
            } if finish == pid => self.finished(next, now),
            _ => Vec::new(),
        }
    }

    /// Decide what follows an exit the operator did not ask for.
    fn after_exit(&mut self, now: Instant) -> Actions {
        match self.want {
            Want::Down => Vec::new(),
            Want::Once => {
                self.want = Want::Down;
                Vec::new()
            }
            Want::Up => {
                let retries = self.policy.retries;
                if retries >= 0 && self.count > retries as u64 {
                    self.want = Want::Down;
                    let mut acts = vec![Action::Note(format!(
                        "started {} times, retries ({retries}) exhausted: not restarting",
                        self.count
                    ))];
                    if self.policy.may_exit {
                        // A command that never ran at all is a failure.
                        acts.push(Action::Exit(if self.ever_ran { 0 } else { 1 }));
                    }
                    acts
                } else {
                    self.schedule_start(now)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: i32 = 4242;

    fn pid(n: i32) -> Pid {
        Pid::from_raw(n)
    }

    fn policy() -> Policy {
        Policy {
            wait: Duration::ZERO,
            retries: -1,
            stop: StopSpec::default(),
            may_exit: true,
            has_finish: false,
            throttle: MIN_RUN,
        }
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// A supervisor whose service has been running since `t0`.
    fn running(t0: Instant) -> State {
        let mut s = State::new(policy(), Want::Up, t0);
        assert_eq!(s.step(Event::Start, t0), vec![Action::Spawn]);
        assert_eq!(s.step(Event::Spawned { pid: pid(P) }, t0), vec![]);
        s
    }

    fn term_cont_group() -> Vec<Action> {
        vec![
            Action::Kill(Target::Group(pid(P)), Signal::SIGTERM),
            Action::Kill(Target::Group(pid(P)), Signal::SIGCONT),
        ]
    }

    #[test]
    fn adopts_a_survivor_then_stops_it_and_restarts_throttled() {
        let t0 = Instant::now();
        let since = t0 - secs(30.0);
        let mut s = State::new(policy(), Want::Up, t0);
        let adopted = Event::Adopted {
            pid: pid(P),
            pgid: pid(P),
            spawned_pgid: pid(P),
            since,
        };
        assert!(matches!(s.step(adopted, t0)[..], [Action::Note(_)]));
        assert_eq!(
            s.phase,
            Phase::Running {
                pid: pid(P),
                pgid: pid(P),
                since
            }
        );
        assert!(s.adopted && !s.following);
        assert_eq!((s.count, s.changed), (0, since));
        // It is the service: `down` stops its group like any other.
        assert_eq!(s.step(Event::Command(Command::Down), t0), term_cont_group());
        let exit = Event::Exited {
            pid: pid(P),
            how: ExitHow::Code(0),
            group_alive: false,
            follow: None,
        };
        s.step(exit, t0 + secs(0.1));
        assert_eq!(s.phase, Phase::Down);
        assert!(!s.adopted);
        // A start right after the adoption waits for the throttle.
        assert_eq!(s.step(Event::Command(Command::Up), t0 + secs(0.2)), vec![]);
        assert_eq!(s.phase, Phase::Waiting { at: t0 + MIN_RUN });
        // Only ever at the start: a running service adopts nothing.
        let mut r = running(t0);
        let again = Event::Adopted {
            pid: pid(P + 1),
            pgid: pid(P + 1),
            spawned_pgid: pid(P + 1),
            since,
        };
        assert_eq!(r.step(again, t0), vec![]);
        assert_eq!(r.main_pid(), Some(pid(P)));
    }

    /// Found in the panic audit (and now in the control_bytes fuzz
    /// target's input): `wait` or `stop.timeout` of u64::MAX seconds
    /// overflowed `Instant` and panicked the supervisor at its start or at
    /// `down` — leaving the service unsupervised.
    #[test]
    fn huge_durations_mean_never_not_a_panic() {
        let t0 = Instant::now();
        let huge = Duration::from_secs(u64::MAX);
        let mut s = State::new(Policy { wait: huge, ..policy() }, Want::Up, t0);
        assert_eq!(s.step(Event::Start, t0), vec![]);
        assert!(s.deadline().is_some_and(|d| d > t0 + Duration::from_secs(1 << 31)));
        let stop = StopSpec {
            timeout: Some(huge),
            ..StopSpec::default()
        };
        let mut s = running(t0);
        s.policy.stop = stop;
        assert_eq!(s.step(Event::Command(Command::Down), t0), term_cont_group());
        assert!(s.deadline().is_some_and(|d| d > t0 + Duration::from_secs(1 << 31)));
        assert_eq!(s.step(Event::Timer, t0 + secs(100.0)), vec![]);
    }

    #[test]
    fn starts_at_once_and_counts() {
        let t0 = Instant::now();
        let s = running(t0);
        assert_eq!(s.count, 1);
        assert_eq!(
            s.phase,
            Phase::Running {
                pid: pid(P),
                pgid: pid(P),
                since: t0
            }
        );
        assert_eq!(s.deadline(), None, "no timer while running: zero idle wake-ups");
    }

    #[test]
    fn wait_delays_every_start() {
        let t0 = Instant::now();
        let mut s = State::new(
            Policy {
                wait: secs(2.0),
                ..policy()
            },
            Want::Up,
            t0,
        );
        assert_eq!(s.step(Event::Start, t0), vec![]);
        assert_eq!(s.phase, Phase::Waiting { at: t0 + secs(2.0) });
        assert_eq!(s.step(Event::Timer, t0 + secs(1.0)), vec![]);
        assert_eq!(s.step(Event::Timer, t0 + secs(2.0)), vec![Action::Spawn]);
        s.step(Event::Spawned { pid: pid(P) }, t0 + secs(2.0));
        let exit = Event::Exited {
            pid: pid(P),
            how: ExitHow::Code(0),
            group_alive: false,
            follow: None,
        };
        assert_eq!(s.step(exit, t0 + secs(10.0)), vec![Action::PostExit(0)]);
        assert_eq!(s.deadline(), Some(t0 + secs(12.0)));
    }

    #[test]
    fn restart_throttle_is_one_second_between_starts() {
        let t0 = Instant::now();
        let mut s = running(t0);
        let exit = Event::Exited {
            pid: pid(P),
            how: ExitHow::Code(1),
            group_alive: false,
            follow: None,
        };
        // Crashed after 0.2 s: the next start waits until 1 s after the last.
        assert_eq!(s.step(exit, t0 + secs(0.2)), vec![Action::PostExit(1)]);
        assert_eq!(s.phase, Phase::Waiting { at: t0 + MIN_RUN });
        assert_eq!(s.step(Event::Timer, t0 + MIN_RUN), vec![Action::Spawn]);
        s.step(Event::Spawned { pid: pid(P + 1) }, t0 + MIN_RUN);
        // Ran for 5 s: restarts at once.
        let exit = Event::Exited {
            pid: pid(P + 1),
            how: ExitHow::Signal(9),
            group_alive: false,
            follow: None,
        };
        assert_eq!(s.step(exit, t0 + secs(6.0)), vec![Action::PostExit(137), Action::Spawn]);
        assert_eq!(s.last_exit, Some(ExitHow::Signal(9)));
    }

    #[test]
    fn retries_then_exit_for_command_line() {
        let t0 = Instant::now();
        let mut s = State::new(Policy { retries: 1, ..policy() }, Want::Up, t0);
        s.step(Event::Start, t0);
        s.step(Event::Spawned { pid: pid(1000) }, t0);
        let acts = s.step(
            Event::Exited {
                pid: pid(1000),
                how: ExitHow::Code(3),
                group_alive: false,
                follow: None,
            },
            t0 + secs(5.0),
        );
        assert_eq!(acts, vec![Action::PostExit(3), Action::Spawn]);
        s.step(Event::Spawned { pid: pid(1001) }, t0 + secs(5.0));
        let acts = s.step(
            Event::Exited {
                pid: pid(1001),
                how: ExitHow::Code(3),
                group_alive: false,
                follow: None,
            },
            t0 + secs(9.0),
        );
        assert_eq!(acts.len(), 3, "{acts:?}");
        assert_eq!(acts[0], Action::PostExit(3));
        assert_eq!(acts[2], Action::Exit(0));
        assert_eq!(s.count, 2);
        assert_eq!(s.want, Want::Down);
    }

    #[test]
    fn retries_exhausted_keeps_config_supervisor_up() {
        let t0 = Instant::now();
        let mut s = State::new(
            Policy {
                retries: 0,
                may_exit: false,
                ..policy()
            },
            Want::Up,
            t0,
        );
        s.step(Event::Start, t0);
        s.step(Event::Spawned { pid: pid(P) }, t0);
        let acts = s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Code(0),
                group_alive: false,
                follow: None,
            },
            t0 + secs(3.0),
        );
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Exit(_) | Action::Spawn)),
            "{acts:?}"
        );
        assert_eq!((s.want, s.phase), (Want::Down, Phase::Down));
        // `up` starts it again.
        assert_eq!(s.step(Event::Command(Command::Up), t0 + secs(4.0)), vec![Action::Spawn]);
    }

    #[test]
    fn spawn_failure_counts_and_throttles() {
        let t0 = Instant::now();
        let mut s = State::new(policy(), Want::Up, t0);
        s.step(Event::Start, t0);
        assert_eq!(s.step(Event::SpawnFailed { errno: libc::ENOENT }, t0), vec![]);
        assert_eq!(s.reason().as_deref(), Some("exec failed: No such file or directory"));
        assert_eq!(s.count, 1);
        assert_eq!(s.phase, Phase::Waiting { at: t0 + MIN_RUN });
    }

    #[test]
    fn down_sends_stop_signal_then_kill_at_timeout() {
        let t0 = Instant::now();
        let mut s = running(t0);
        let t1 = t0 + secs(30.0);
        assert_eq!(s.step(Event::Command(Command::Down), t1), term_cont_group());
        assert_eq!(s.deadline(), Some(t1 + secs(10.0)));
        assert_eq!(s.want, Want::Down);
        let acts = s.step(Event::Timer, t1 + secs(10.0));
        assert!(
            acts.contains(&Action::Kill(Target::Group(pid(P)), Signal::SIGKILL)),
            "{acts:?}"
        );
        // Main exits by KILL; its group is gone too: down, no restart.
        let exit = Event::Exited {
            pid: pid(P),
            how: ExitHow::Signal(9),
            group_alive: false,
            follow: None,
        };
        assert_eq!(s.step(exit, t1 + secs(10.1)), vec![Action::PostExit(137)]);
        assert_eq!(s.phase, Phase::Down);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn down_waits_for_the_whole_group() {
        let t0 = Instant::now();
        let mut s = running(t0);
        s.step(Event::Command(Command::Down), t0);
        let exit = Event::Exited {
            pid: pid(P),
            how: ExitHow::Signal(15),
            group_alive: true,
            follow: None,
        };
        let acts = s.step(exit, t0 + secs(0.1));
        assert_eq!(acts[0], Action::PostExit(143));
        assert_eq!(
            &acts[1..],
            term_cont_group().as_slice(),
            "leftover members get the stop signal"
        );
        assert_eq!(s.awaits_group(), Some(pid(P)));
        assert!(
            matches!(s.phase, Phase::Stopping { .. }),
            "not down while the group lives"
        );
        assert_eq!(s.step(Event::GroupGone, t0 + secs(0.2)), vec![]);
        assert_eq!(s.phase, Phase::Down);
    }

    #[test]
    fn stop_without_group_signals_main_only() {
        let t0 = Instant::now();
        let stop = StopSpec {
            signal: Signal::SIGQUIT,
            group: false,
            timeout: None,
        };
        let mut s = State::new(Policy { stop, ..policy() }, Want::Up, t0);
        s.step(Event::Start, t0);
        s.step(Event::Spawned { pid: pid(P) }, t0);
        let acts = s.step(Event::Command(Command::Down), t0);
        assert_eq!(
            acts,
            vec![
                Action::Kill(Target::Pid(pid(P)), Signal::SIGQUIT),
                Action::Kill(Target::Pid(pid(P)), Signal::SIGCONT)
            ]
        );
        assert_eq!(s.deadline(), None, "timeout 0 never kills");
    }

    #[test]
    fn killed_group_is_rechecked_until_gone() {
        let t0 = Instant::now();
        let mut s = running(t0);
        s.step(Event::Command(Command::Down), t0);
        s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Code(0),
                group_alive: true,
                follow: None,
            },
            t0,
        );
        let acts = s.step(Event::Timer, t0 + secs(10.0));
        assert_eq!(acts[1..], [Action::Kill(Target::Group(pid(P)), Signal::SIGKILL)]);
        assert_eq!(s.deadline(), Some(t0 + secs(11.0)));
        assert_eq!(s.step(Event::Timer, t0 + secs(11.0)), vec![]);
        assert_eq!(s.deadline(), Some(t0 + secs(12.0)));
        s.step(Event::GroupGone, t0 + secs(11.5));
        assert_eq!(s.phase, Phase::Down);
    }

    #[test]
    fn halt_stops_then_exits() {
        let t0 = Instant::now();
        let mut s = running(t0);
        assert_eq!(s.step(Event::Command(Command::Halt), t0), term_cont_group());
        let acts = s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Code(0),
                group_alive: false,
                follow: None,
            },
            t0,
        );
        assert_eq!(acts, vec![Action::PostExit(0), Action::Exit(0)]);
        // Halt while down exits at once.
        let mut s = State::new(policy(), Want::Down, t0);
        assert_eq!(s.step(Event::Command(Command::Halt), t0), vec![Action::Exit(0)]);
    }

    #[test]
    fn socket_exit_leaves_service_or_is_refused() {
        let t0 = Instant::now();
        let mut s = running(t0);
        let acts = s.step(Event::Command(Command::Exit { stop_service: false }), t0);
        assert_eq!(acts.last(), Some(&Action::Exit(0)));
        assert!(!acts.iter().any(|a| matches!(a, Action::Kill(..))));
        s.policy.may_exit = false;
        let acts = s.step(Event::Command(Command::Exit { stop_service: false }), t0);
        assert_eq!(
            acts,
            vec![Action::Refuse("set environment variable IMMORTAL_EXIT to exit".into())]
        );
    }

    #[test]
    fn once_runs_without_restart() {
        let t0 = Instant::now();
        let mut s = State::new(policy(), Want::Down, t0);
        assert_eq!(s.step(Event::Start, t0), vec![]);
        assert_eq!(s.step(Event::Command(Command::Once), t0), vec![Action::Spawn]);
        s.step(Event::Spawned { pid: pid(P) }, t0);
        let acts = s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Code(0),
                group_alive: false,
                follow: None,
            },
            t0 + secs(5.0),
        );
        assert_eq!(acts, vec![Action::PostExit(0)]);
        assert_eq!((s.want, s.phase), (Want::Down, Phase::Down));
        // `once` while running up: finish this run, no restart.
        let mut s = running(t0);
        s.step(Event::Command(Command::Once), t0);
        let acts = s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Code(0),
                group_alive: false,
                follow: None,
            },
            t0 + secs(5.0),
        );
        assert_eq!(acts, vec![Action::PostExit(0)]);
    }

    #[test]
    fn restart_stops_then_starts() {
        let t0 = Instant::now();
        let mut s = running(t0);
        assert_eq!(
            s.step(Event::Command(Command::Restart), t0 + secs(5.0)),
            term_cont_group()
        );
        let acts = s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Signal(15),
                group_alive: false,
                follow: None,
            },
            t0 + secs(5.1),
        );
        assert_eq!(acts, vec![Action::PostExit(143), Action::Spawn]);
        assert_eq!(s.want, Want::Up);
        // Restart while down starts at once.
        let mut s = State::new(policy(), Want::Down, t0);
        assert_eq!(s.step(Event::Command(Command::Restart), t0), vec![Action::Spawn]);
    }

    #[test]
    fn up_during_stop_restarts_after() {
        let t0 = Instant::now();
        let mut s = running(t0);
        s.step(Event::Command(Command::Down), t0 + secs(5.0));
        assert_eq!(s.step(Event::Command(Command::Up), t0 + secs(5.0)), vec![]);
        let acts = s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Code(0),
                group_alive: false,
                follow: None,
            },
            t0 + secs(5.1),
        );
        assert_eq!(acts, vec![Action::PostExit(0), Action::Spawn]);
    }

    #[test]
    fn down_while_waiting_cancels_the_start() {
        let t0 = Instant::now();
        let mut s = State::new(
            Policy {
                wait: secs(5.0),
                ..policy()
            },
            Want::Up,
            t0,
        );
        s.step(Event::Start, t0);
        assert_eq!(s.step(Event::Command(Command::Down), t0 + secs(1.0)), vec![]);
        assert_eq!((s.phase, s.deadline()), (Phase::Down, None));
    }

    #[test]
    fn signals_go_to_the_main_pid_and_pause_is_tracked() {
        let t0 = Instant::now();
        let mut s = running(t0);
        assert_eq!(
            s.step(Event::Command(Command::Signal(Signal::SIGHUP)), t0),
            vec![Action::Kill(Target::Pid(pid(P)), Signal::SIGHUP)]
        );
        s.step(Event::Command(Command::Pause), t0);
        assert!(s.paused);
        s.step(Event::Command(Command::Continue), t0);
        assert!(!s.paused);
        let mut s = State::new(policy(), Want::Down, t0);
        assert_eq!(
            s.step(Event::Command(Command::Signal(Signal::SIGHUP)), t0),
            vec![Action::Refuse("service not running".into())]
        );
    }

    #[test]
    fn stray_exits_are_ignored() {
        let t0 = Instant::now();
        let mut s = running(t0);
        let before = s.clone();
        assert_eq!(
            s.step(
                Event::Exited {
                    pid: pid(1),
                    how: ExitHow::Code(0),
                    group_alive: false,
                    follow: None
                },
                t0
            ),
            vec![]
        );
        assert_eq!(s, before);
        assert_eq!(s.step(Event::GroupGone, t0), vec![]);
        assert_eq!(s, before);
    }

    #[test]
    fn finish_runs_after_each_exit_then_restart() {
        let t0 = Instant::now();
        let mut s = State::new(
            Policy {
                has_finish: true,
                ..policy()
            },
            Want::Up,
            t0,
        );
        s.step(Event::Start, t0);
        s.step(Event::Spawned { pid: pid(P) }, t0);
        let acts = s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Signal(9),
                group_alive: false,
                follow: None,
            },
            t0 + secs(5.0),
        );
        assert_eq!(
            acts,
            vec![Action::PostExit(137), Action::SpawnFinish(ExitHow::Signal(9))]
        );
        assert_eq!(s.visible(), crate::status::RunState::Finish);
        assert_eq!(s.step(Event::FinishSpawned { pid: pid(77) }, t0 + secs(5.0)), vec![]);
        assert_eq!(s.tracked_pid(), Some(pid(77)));
        assert_eq!(s.main_pid(), None, "no signals go to ./finish");
        assert_eq!(
            s.step(Event::Command(Command::Signal(Signal::SIGHUP)), t0),
            vec![Action::Refuse("service not running".into())]
        );
        let acts = s.step(
            Event::Exited {
                pid: pid(77),
                how: ExitHow::Code(0),
                group_alive: false,
                follow: None,
            },
            t0 + secs(5.1),
        );
        assert_eq!(acts, vec![Action::Spawn]);
    }

    #[test]
    fn down_during_finish_means_no_restart_and_finish_is_killed_at_timeout() {
        let t0 = Instant::now();
        let mut s = State::new(
            Policy {
                has_finish: true,
                ..policy()
            },
            Want::Up,
            t0,
        );
        s.step(Event::Start, t0);
        s.step(Event::Spawned { pid: pid(P) }, t0);
        s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Code(2),
                group_alive: false,
                follow: None,
            },
            t0 + secs(5.0),
        );
        s.step(Event::FinishSpawned { pid: pid(77) }, t0 + secs(5.0));
        assert_eq!(s.step(Event::Command(Command::Down), t0 + secs(5.0)), vec![]);
        assert_eq!(s.deadline(), Some(t0 + secs(15.0)));
        let acts = s.step(Event::Timer, t0 + secs(15.0));
        assert_eq!(acts[1], Action::Kill(Target::Group(pid(77)), Signal::SIGKILL));
        let acts = s.step(
            Event::Exited {
                pid: pid(77),
                how: ExitHow::Signal(9),
                group_alive: false,
                follow: None,
            },
            t0 + secs(15.0),
        );
        assert_eq!(acts, vec![]);
        assert_eq!((s.phase, s.want), (Phase::Down, Want::Down));
    }

    #[test]
    fn stop_runs_finish_before_down_and_exit() {
        let t0 = Instant::now();
        let mut s = State::new(
            Policy {
                has_finish: true,
                ..policy()
            },
            Want::Up,
            t0,
        );
        s.step(Event::Start, t0);
        s.step(Event::Spawned { pid: pid(P) }, t0);
        s.step(Event::Command(Command::Halt), t0);
        assert!(s.exiting && s.term_sent);
        let acts = s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Signal(15),
                group_alive: false,
                follow: None,
            },
            t0,
        );
        assert_eq!(
            acts,
            vec![Action::PostExit(143), Action::SpawnFinish(ExitHow::Signal(15))]
        );
        assert!(!s.term_sent, "TERM flag cleared when the process exits");
        assert_eq!(s.step(Event::FinishFailed, t0), vec![Action::Exit(0)]);
    }

    #[test]
    fn status_record_follows_runsv() {
        use crate::status::{RunState, Wanted};
        let t0 = Instant::now();
        let mut s = running(t0);
        let when = std::time::SystemTime::UNIX_EPOCH;
        let r = s.record(when);
        assert_eq!(
            (r.pid, r.state, r.want, r.term_sent),
            (P as u32, RunState::Run, Wanted::Up, false)
        );
        s.step(Event::Command(Command::Down), t0 + secs(1.0));
        let r = s.record(when);
        assert_eq!((r.state, r.want, r.term_sent), (RunState::Run, Wanted::Down, true));
        assert_eq!(s.changed, t0, "still running: the change time stays");
        s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Code(0),
                group_alive: false,
                follow: None,
            },
            t0 + secs(2.0),
        );
        let r = s.record(when);
        assert_eq!((r.pid, r.state, r.term_sent), (0, RunState::Down, false));
        assert_eq!(s.changed, t0 + secs(2.0));
        s.step(Event::Command(Command::Halt), t0 + secs(3.0));
        assert_eq!(s.record(when).want, Wanted::Exit);
    }

    #[test]
    fn once_at_most() {
        let t0 = Instant::now();
        let mut s = running(t0);
        assert_eq!(s.step(Event::Command(Command::OnceAtMost), t0), vec![]);
        let acts = s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Code(0),
                group_alive: false,
                follow: None,
            },
            t0 + secs(5.0),
        );
        assert_eq!(acts, vec![Action::PostExit(0)]);
        let mut s = State::new(
            Policy {
                wait: secs(3.0),
                ..policy()
            },
            Want::Up,
            t0,
        );
        s.step(Event::Start, t0);
        s.step(Event::Command(Command::OnceAtMost), t0);
        assert_eq!((s.phase, s.deadline()), (Phase::Down, None), "waiting start cancelled");
    }

    #[test]
    fn follow_hand_over_keeps_count_and_targets_the_followed_group() {
        let t0 = Instant::now();
        let mut s = running(t0);
        let exit = Event::Exited {
            pid: pid(P),
            how: ExitHow::Code(0),
            group_alive: false,
            follow: Some((pid(900), pid(901))),
        };
        let acts = s.step(exit, t0 + secs(0.1));
        assert!(
            matches!(acts.as_slice(), [Action::Note(_)]),
            "no post_exit, no spawn: {acts:?}"
        );
        assert!(s.following);
        assert_eq!(s.count, 1);
        assert_eq!(s.main_pid(), Some(pid(900)));
        assert_eq!(
            s.step(Event::Command(Command::Signal(Signal::SIGHUP)), t0),
            vec![Action::Kill(Target::Pid(pid(900)), Signal::SIGHUP)]
        );
        let acts = s.step(Event::Command(Command::Down), t0 + secs(1.0));
        assert_eq!(acts[0], Action::Kill(Target::Group(pid(901)), Signal::SIGTERM));
        let acts = s.step(
            Event::Exited {
                pid: pid(900),
                how: ExitHow::Signal(15),
                group_alive: false,
                follow: None,
            },
            t0 + secs(1.1),
        );
        assert_eq!(acts, vec![Action::PostExit(143)]);
        assert!(!s.following);
        assert_eq!(s.phase, Phase::Down);
    }

    #[test]
    fn followed_at_start_instead_of_spawning() {
        let t0 = Instant::now();
        let mut s = running(t0);
        s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Code(0),
                group_alive: false,
                follow: None,
            },
            t0 + secs(0.1),
        );
        assert!(matches!(s.phase, Phase::Waiting { .. }));
        let acts = s.step(
            Event::Followed {
                pid: pid(900),
                pgid: pid(900),
            },
            t0 + MIN_RUN,
        );
        assert!(matches!(acts.as_slice(), [Action::Note(_)]));
        assert_eq!((s.main_pid(), s.count, s.following), (Some(pid(900)), 1, true));
        // Ignored while something runs.
        assert_eq!(
            s.step(
                Event::Followed {
                    pid: pid(5),
                    pgid: pid(5)
                },
                t0
            ),
            vec![]
        );
    }

    #[test]
    fn hand_over_holds_the_restart() {
        let t0 = Instant::now();
        let mut s = running(t0);
        s.step(Event::HandOverPending { until: t0 + secs(8.0) }, t0 + secs(5.0));
        let acts = s.step(
            Event::Exited {
                pid: pid(P),
                how: ExitHow::Code(0),
                group_alive: false,
                follow: None,
            },
            t0 + secs(5.0),
        );
        assert_eq!(acts, vec![Action::PostExit(0)]);
        assert_eq!(s.deadline(), Some(t0 + secs(8.0)), "restart held for the grace period");
        s.step(
            Event::Followed {
                pid: pid(900),
                pgid: pid(900),
            },
            t0 + secs(6.0),
        );
        assert_eq!((s.main_pid(), s.count, s.hold_until), (Some(pid(900)), 1, None));
    }

    #[test]
    fn leftovers_are_stopped_before_a_start_or_a_down() {
        let t0 = Instant::now();
        let mut s = running(t0);
        let exit = Event::Exited {
            pid: pid(P),
            how: ExitHow::Signal(9),
            group_alive: true,
            follow: None,
        };
        s.step(exit, t0 + secs(5.0));
        assert_eq!(s.last_pgid, Some(pid(P)));
        let acts = s.step(Event::Leftovers { pgid: pid(P) }, t0 + secs(5.0));
        assert_eq!(acts[1], Action::Kill(Target::Group(pid(P)), Signal::SIGTERM));
        assert_eq!(s.deadline(), Some(t0 + secs(15.0)));
        assert_eq!(s.awaits_group(), Some(pid(P)));
        // Gone: now it starts.
        assert_eq!(s.step(Event::GroupGone, t0 + secs(6.0)), vec![Action::Spawn]);
        // With a down pending, it stays down once they are gone.
        let mut s = running(t0);
        s.step(exit, t0 + secs(5.0));
        s.step(Event::Leftovers { pgid: pid(P) }, t0 + secs(5.0));
        s.step(Event::Command(Command::Down), t0 + secs(5.0));
        assert_eq!(s.step(Event::GroupGone, t0 + secs(6.0)), vec![]);
        assert_eq!((s.phase, s.want), (Phase::Down, Want::Down));
    }

    #[test]
    fn only_owned_groups_are_signalled() {
        let t0 = Instant::now();
        let s = running(t0);
        assert_eq!(s.owned_group(pid(900), pid(900)), pid(900), "leads its own group");
        assert_eq!(s.owned_group(pid(900), pid(P)), pid(P), "the group we created");
        assert_eq!(
            s.owned_group(pid(900), pid(1)),
            pid(900),
            "someone else's group: the pid alone"
        );
    }
}
