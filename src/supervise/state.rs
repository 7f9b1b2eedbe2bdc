//! The supervisor's behaviour as one pure, total function:
//! [`State::step`]`(&state, event, now) -> (state′, actions)`. No I/O
//! happens here; every fact a decision needs (is the last process group
//! empty? does the pid file name a live process of ours?) is asked for with
//! an [`Action`] whose answer comes back as an [`Event`]. The decision
//! itself is one `match (phase, event)` without a wildcard arm, so a new
//! phase or event makes the compiler list every cell still to decide — the
//! `actions[state][event]` table of s6-supervise, in Rust.
//!
//! Phases: `Down` → (`Waiting` until the start deadline) → (`Asked`: the
//! loop answers a question: spawn, pid file, leftovers) → `Running` →
//! (`Stopping` while the stop signal, then KILL at the deadline, empties the
//! process group) → (`Finishing` while runit's `./finish` runs) → `Down`.
//! The supervisor says `down` only once the whole group is gone. `Failed`
//! is down for good (the circuit breaker, retries used up, `./finish`
//! exiting 125) until an operator's `up`, `once` or `restart`.
//!
//! The restart policy lives here too: which exits are failures, the backoff
//! after consecutive failures (with jitter), the breaker, and the reason
//! the service is not running.
//!
//! The same machine runs the service, runit's `log/run`, and the `logger:`
//! command ([`Role`]).

use crate::control::Command;
use crate::service::{RestartSpec, RestartWhen, StopSpec};
pub use crate::sys::process::{ExitHow, Target};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Two starts are at least this far apart (unless `IMMORTAL_THROTTLE_MS`
/// says otherwise); an exit after this much uptime restarts at once.
pub const MIN_RUN: Duration = Duration::from_secs(1);
/// While a KILLed group has not disappeared yet, look again this often.
pub const GROUP_RECHECK: Duration = Duration::from_secs(1);
/// A pid-file service whose main process exited leaving a descendant
/// behind: the restart waits this long for the pid file to name it.
pub const HAND_OVER_GRACE: Duration = Duration::from_secs(3);
/// Control letters whose signal a `control/<letter>` script exiting 0
/// replaces (runsv's rule).
pub const OVERRIDABLE: &[u8] = b"tkpcahiq12";
/// Exits kept for `GET /history`.
pub const HISTORY: usize = 32;
/// s6's rule: `./finish` exiting with this code means the service failed
/// for good.
pub const FINISH_PERMANENT_FAILURE: i32 = 125;
/// The supervisor's exit status once an essential service has failed.
pub const EXIT_ESSENTIAL_FAILED: i32 = 3;

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
    /// Down, and the supervisor exits (nothing changes this any more).
    Exit,
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

/// What a unit is: it decides which control letters apply and how its
/// exits are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The service (`control/<letter>` scripts, `x` exits the supervisor).
    Service,
    /// runit's `log/run` (ignores `x`, as runsv does).
    Log,
    /// The `logger:` command of `run.yml`, fed by the supervisor.
    Logger,
}

/// How the running process came to be supervised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Started by this supervisor.
    Spawned,
    /// Named by the pid file (`-f`, `pid.follow`).
    Followed,
    /// Started by an earlier supervisor of this directory (killed): not our
    /// child, watched through a pidfd.
    Adopted,
}

/// A process group and whether its members are someone else's children
/// (an adopted service's, a followed daemon's that is not ours): then their
/// zombies are not ours to reap and must not count as members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    pub pgid: Pid,
    pub foreign: bool,
}

/// The service's main process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    /// The process signals go to: the one started, followed or adopted.
    pub pid: Pid,
    /// Its process group (the started pid; a followed one's own group).
    pub group: Group,
    pub origin: Origin,
    pub since: Instant,
    pub paused: bool,
    /// The signals the supervisor sent it (bit n: signal n): an exit by one
    /// of them is not a failure.
    pub signalled: u64,
}

impl Proc {
    fn mark_signalled(&mut self, sig: Signal) {
        self.signalled |= 1u64.checked_shl(sig as u32).unwrap_or(0);
    }

    fn was_signalled(&self, signo: i32) -> bool {
        u32::try_from(signo).is_ok_and(|n| self.signalled & 1u64.checked_shl(n).unwrap_or(0) != 0)
    }
}

/// Why a service is failed: nothing restarts it but an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `restart.limit`: this many failures within this window.
    Breaker { count: u32, within: Duration },
    /// All `retries` starts used.
    Retries(i64),
    /// `./finish` exited 125.
    Finish,
}

/// One exit, for `GET /history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitRecord {
    pub at: Instant,
    /// None: the command never started (exec failed).
    pub pid: Option<Pid>,
    pub uptime: Duration,
    pub how: ExitHow,
    /// `failure`, `success`, `stopped`, or `exec failed: …`.
    pub reason: String,
}

/// A live process the pid file names, as the loop found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub pid: Pid,
    /// Its process group as read (the state decides which group it owns).
    pub pgid: Pid,
    /// A descendant reparented to us (its exit reaches our `waitpid`).
    pub our_child: bool,
}

/// What to do once a stop has emptied the process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterStop {
    Nothing,
    Start,
    ExitSupervisor,
    /// The service failed for good: what it left is gone, now say so.
    Fail(Failure),
    /// Stopped because it failed while running (not ready in time, a
    /// failed health check, a missed watchdog): the exit is a failure and
    /// the restart policy decides what follows.
    Unhealthy,
}

/// What follows a `./finish` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The service ended by itself: restart or not by `want` and retries.
    Policy,
    /// It was stopped: do what the stop was for.
    Stop(AfterStop),
}

/// The question the loop is answering (its answer is the next event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// [`Action::Spawn`]: `Spawned` or `SpawnFailed`.
    Spawn,
    /// A restart of a pid-file service: is its daemon already up?
    PidFile,
    /// Did the last process group outlive its main process? Stop it first,
    /// then do this.
    Leftovers(AfterStop),
    /// The main process of a pid-file service exited: did it hand over to
    /// the pid the pid file names?
    HandOver {
        main: Proc,
        how: ExitHow,
        group_alive: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Down,
    Waiting {
        at: Instant,
    },
    Asked(Ask),
    Running {
        main: Proc,
        /// The stop signal (or TERM) was sent and it has not exited.
        term_sent: bool,
    },
    Stopping {
        /// The main process, until it has been reaped.
        main: Option<Proc>,
        group: Group,
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
    /// Down for good until an operator starts it again.
    Failed {
        why: Failure,
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
    /// The least time between two starts ([`MIN_RUN`]).
    pub throttle: Duration,
    pub role: Role,
    /// A runit service directory: `./finish` after each exit (when there is
    /// one: the loop answers `FinishFailed` otherwise), `control/<letter>`,
    /// the `down` file for `D`/`U`.
    pub service_dir: bool,
    /// `-f`/`pid.follow`: exits and restarts look at the pid file first.
    pub follows_pidfile: bool,
    /// `restart:`; its `delay` is already in `throttle`.
    pub restart: RestartSpec,
    /// Failed for good → the supervisor stops what is left and exits 3.
    pub essential: bool,
    /// Seeds the backoff's jitter (the loop gives each supervisor its own).
    pub jitter_seed: u64,
    /// How readiness is told; `ready.timeout`; between readiness probes.
    pub ready: ReadyKind,
    pub ready_timeout: Option<Duration>,
    pub ready_interval: Duration,
    /// `health:` interval and consecutive failures that restart.
    pub health: Option<(Duration, u32)>,
    /// sd_notify `WATCHDOG=1` at least this often.
    pub watchdog: Option<Duration>,
}

/// How the service tells it is ready (the table's view of `ready:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyKind {
    /// Ready when it runs.
    Up,
    /// It says so: a line on the notification fd, or `READY=1`.
    Told,
    /// A readiness probe succeeds.
    Probe,
}

/// A message from the service (sd_notify, the notification fd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// `READY=1`, or a line on the notification fd.
    Ready,
    /// `RELOADING=1`: not ready until the next `READY=1`.
    Reloading,
    /// `STOPPING=1`.
    Stopping,
    /// `WATCHDOG=1`.
    Watchdog,
}

/// Which probe the loop is asked to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeFor {
    Ready,
    Health,
}

/// Readiness and health of the running process (reset at each start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Live {
    /// When it became ready (None: not yet).
    pub ready_at: Option<Instant>,
    /// The next probe (readiness until ready, then health).
    pub probe_at: Option<Instant>,
    /// A probe runs: its answer is [`Event::Probed`].
    pub probing: bool,
    /// `ready.timeout`: not ready by then is a failure.
    pub ready_by: Option<Instant>,
    /// The watchdog's deadline for the next `WATCHDOG=1`.
    pub watchdog_by: Option<Instant>,
    /// Consecutive failed health probes.
    pub health_failures: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The loop is ready: begin.
    Start,
    /// At the supervisor's start, the process an earlier supervisor of this
    /// directory started is still running: supervise it rather than start
    /// a second copy. `pgid`: the group to signal; `spawned_pgid`: the
    /// group the earlier supervisor created.
    Adopted {
        pid: Pid,
        pgid: Pid,
        spawned_pgid: Pid,
        since: Instant,
    },
    /// From the socket or a signal to the supervisor.
    Command(Command),
    /// A control-FIFO byte (runit's `sv`, daemontools' `svc`, `s6-svc`).
    Control {
        byte: u8,
        cmd: Command,
    },
    /// The `control/<letter>` script ended (`None`: there is none, or it
    /// could not run).
    ControlDone {
        how: Option<ExitHow>,
    },
    /// The main process's group, read again before a command: a followed
    /// daemon may `setsid` after writing its pid file.
    Regrouped {
        pid: Pid,
        pgid: Pid,
    },
    /// The deadline returned by [`State::deadline`] has passed.
    Timer,
    Spawned {
        pid: Pid,
    },
    /// The command could not be started (exec failed with this errno).
    SpawnFailed {
        errno: i32,
    },
    /// The pid file's answer: the live process of ours it names, or why
    /// none (the reason names the file). `descendants`: a process
    /// reparented to us lives on (it may be taking over).
    PidFile {
        found: Result<Candidate, String>,
        descendants: bool,
    },
    /// The answer to [`Action::ProbeGroup`] (and, while a stop waits for
    /// the rest of a group, the loop's look after each reap and timer).
    GroupProbed {
        alive: bool,
    },
    /// A tracked process was reaped (or its pidfd said it ended).
    /// `group_alive`: members of the group [`State::exit_group`] names are
    /// still there; `seen_pgid`: the group it was in at its death.
    Exited {
        pid: Pid,
        how: ExitHow,
        group_alive: bool,
        seen_pgid: Option<Pid>,
        /// The OOM killer killed a process of the service's cgroup since
        /// this process started (the loop reads the cgroup's count).
        oom_killed: bool,
    },
    FinishSpawned {
        pid: Pid,
    },
    /// No `./finish`, or it could not start.
    FinishFailed,
    /// `restart` re-read the configuration: it applies at the next start.
    Reconfigured(Box<Policy>),
    /// The supervisor exits once this logger has read everything and
    /// ended (runsv's `x` with a `log/`): no restart, no signal.
    Drain,
    /// The service said something (sd_notify, the notification fd).
    Notified(Notice),
    /// sd_notify `MAINPID=`: the service's main process is now this one (a
    /// process of the service, checked by the loop).
    MainPid(Candidate),
    /// The answer to [`Action::Probe`]: passed or not, with what it said.
    Probed {
        ok: bool,
        output: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start the command (answer: `Spawned` or `SpawnFailed`).
    Spawn,
    /// Read the pid file (answer: `PidFile`); `watch`: watch its directory
    /// first and keep watching while a hand-over is awaited.
    ReadPidFile {
        exited: Pid,
        watch: bool,
    },
    /// Does this group still have members? (answer: `GroupProbed`)
    ProbeGroup(Group),
    Kill(Target, Signal),
    /// Run the `post_exit` hook with this code.
    PostExit(i32),
    /// Run `./finish` with runit's arguments for this exit (answer:
    /// `FinishSpawned` or `FinishFailed`).
    SpawnFinish(ExitHow),
    /// Run `control/<byte>` with the main pid as argument, if it exists
    /// (answer, now or when it ends: `ControlDone`).
    RunControl {
        byte: u8,
        main: Option<Pid>,
    },
    /// Create (`true`) or remove the service directory's `down` file.
    DownFile(bool),
    /// Re-read the `-c` file (answer: `Reconfigured`, or a refusal).
    ReloadConfig,
    /// Answer the command's sender with this error (the command did nothing).
    Refuse(String),
    /// Tell the operator (log line).
    Note(String),
    /// The supervisor exits with this status.
    Exit(i32),
    /// Run the readiness or health probe (answer: `Probed`).
    Probe(ProbeFor),
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
    /// The last exit came with an OOM kill in the service's cgroup: its
    /// reason is the OOM killer, whatever signal it shows.
    pub last_exit_oom: bool,
    /// The last process group, while it may still have members (its main
    /// process ended and left some): stopped before the next start.
    pub last_group: Option<Group>,
    /// The process group the supervisor created at the last start.
    pub spawned_pgid: Option<Pid>,
    /// When what readers see (run, down, finish) last changed.
    pub changed: Instant,
    /// No start before this (a hand-over to a new pid is in progress).
    pub hold_until: Option<Instant>,
    /// Why the last start failed (an errno), until a start succeeds.
    pub spawn_error: Option<i32>,
    /// Some start of the command ever succeeded (or a process was followed
    /// or adopted): when retries run out without that, the supervisor's
    /// exit status says it failed.
    pub ever_ran: bool,
    /// The `control/<letter>` script running, and the command it decides.
    pub control: Option<(u8, Command)>,
    /// Control bytes that arrived while it ran.
    pub queued: VecDeque<(u8, Command)>,
    pub policy: Policy,
    /// A configuration re-read by `restart`, applied at the next start.
    pub next_policy: Option<Policy>,
    /// The last exit was a failure (by `restart.success` and the signals
    /// the supervisor sent).
    pub last_exit_failed: bool,
    /// Consecutive failures (reset by a run of `restart.reset_after`, a
    /// success, or an operator's start): the backoff's exponent.
    pub failures: u32,
    /// When the recent failures happened, for the breaker's window.
    pub failure_times: VecDeque<Instant>,
    /// Every failure so far (for metrics).
    pub failures_total: u64,
    /// The backoff wait chosen for the pending restart, if any.
    pub backoff: Option<Duration>,
    /// Why an exit was not followed by a start (`restart: never` …).
    pub down_note: Option<&'static str>,
    /// The last [`HISTORY`] exits, newest first.
    pub history: VecDeque<ExitRecord>,
    /// Entries ever added to the history (an event each).
    pub remembered: u64,
    /// Exits of a main process so far, by exit code and by signal.
    pub code_exits: u64,
    pub signal_exits: u64,
    /// Of those, exits the OOM killer caused.
    pub oom_exits: u64,
    /// Readiness and health of the running process.
    pub live: Live,
    /// The last failed health probe's output, until one passes.
    pub health_text: Option<String>,
    /// Why the running service was stopped as failed (not ready in time,
    /// health, watchdog), until the next start.
    pub unhealthy: Option<String>,
    /// xorshift state for the jitter.
    rng: u64,
}

pub type Actions = Vec<Action>;

/// What `"service not running"` and friends refuse with.
const NOT_RUNNING: &str = "service not running";
const BUSY: &str = "the supervisor is starting the service: try again";

impl State {
    pub fn new(policy: Policy, want: Want, now: Instant) -> State {
        State {
            want,
            phase: Phase::Down,
            count: 0,
            last_start: None,
            last_pid: None,
            last_exit: None,
            last_exit_oom: false,
            last_group: None,
            spawned_pgid: None,
            changed: now,
            hold_until: None,
            spawn_error: None,
            ever_ran: false,
            control: None,
            queued: VecDeque::new(),
            rng: policy.jitter_seed | 1,
            policy,
            next_policy: None,
            last_exit_failed: false,
            failures: 0,
            failure_times: VecDeque::new(),
            failures_total: 0,
            backoff: None,
            down_note: None,
            history: VecDeque::new(),
            remembered: 0,
            code_exits: 0,
            signal_exits: 0,
            oom_exits: 0,
            live: Live::default(),
            health_text: None,
            unhealthy: None,
        }
    }

    /// The pure transition: the state after `event` at `now`, and what the
    /// loop must do.
    pub fn step(&self, event: Event, now: Instant) -> (State, Actions) {
        let mut next = self.clone();
        let actions = next.apply(event, now);
        (next, actions)
    }

    /// The next moment the loop must wake up for, if any.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Waiting { at } => Some(at),
            Phase::Stopping { kill_at, .. } | Phase::Finishing { kill_at, .. } => kill_at,
            Phase::Running { .. } => {
                let live = self.live;
                let ready_by = live.ready_by.filter(|_| live.ready_at.is_none());
                let probe = live.probe_at.filter(|_| !live.probing);
                [ready_by, live.watchdog_by, probe].into_iter().flatten().min()
            }
            Phase::Down | Phase::Asked(_) | Phase::Failed { .. } => None,
        }
    }

    /// Running and ready (what `require` and `-w … up` wait for).
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Running { .. }) && self.live.ready_at.is_some()
    }

    /// How long the running process took to become ready.
    pub fn ready_in(&self) -> Option<Duration> {
        let main = self.main()?;
        Some(self.live.ready_at?.saturating_duration_since(main.since))
    }

    /// The main process, while there is one.
    pub fn main(&self) -> Option<Proc> {
        match self.phase {
            Phase::Running { main, .. } => Some(main),
            Phase::Stopping { main, .. } => main,
            Phase::Down | Phase::Waiting { .. } | Phase::Asked(_) | Phase::Finishing { .. } | Phase::Failed { .. } => {
                None
            }
        }
    }

    /// The process signals go to, when one runs.
    pub fn main_pid(&self) -> Option<Pid> {
        self.main().map(|m| m.pid)
    }

    /// The process the supervisor waits for: the service, or `./finish`.
    pub fn tracked_pid(&self) -> Option<Pid> {
        match self.phase {
            Phase::Finishing { pid, .. } => pid,
            _ => self.main_pid(),
        }
    }

    /// A process that is not (or may not be) our child: the loop watches it
    /// through a pidfd.
    pub fn watched_pid(&self) -> Option<Pid> {
        self.main()
            .filter(|m| matches!(m.origin, Origin::Followed | Origin::Adopted))
            .map(|m| m.pid)
    }

    /// The running pid is one read from the pid file (the API's `fpid`).
    pub fn following(&self) -> bool {
        self.main().is_some_and(|m| m.origin == Origin::Followed)
    }

    /// A restart is held for a hand-over: the loop keeps watching the pid
    /// file's directory.
    pub fn awaits_hand_over(&self) -> bool {
        matches!(self.phase, Phase::Waiting { .. }) && self.hold_until.is_some()
    }

    /// Stopping, with the main process gone: the loop must report
    /// [`Event::GroupProbed`] when it may have emptied.
    pub fn awaits_group(&self) -> Option<Group> {
        match self.phase {
            Phase::Stopping { main: None, group, .. } => Some(group),
            _ => None,
        }
    }

    /// The group to look at when `pid` has ended, seen in group `seen`:
    /// the main process's group (a followed one's read again).
    pub fn exit_group(&self, pid: Pid, seen: Option<Pid>) -> Option<Group> {
        let main = self.main().filter(|m| m.pid == pid)?;
        let mut group = main.group;
        if let (Origin::Followed, Some(seen)) = (main.origin, seen) {
            group.pgid = self.owned_group(pid, seen);
        }
        Some(group)
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

    /// What `status`/`stat` report: run, down or finish.
    pub fn visible(&self) -> crate::status::RunState {
        use crate::status::RunState;
        match self.phase {
            Phase::Running { .. } | Phase::Stopping { .. } | Phase::Asked(Ask::HandOver { .. }) => RunState::Run,
            Phase::Finishing { .. } => RunState::Finish,
            Phase::Down | Phase::Waiting { .. } | Phase::Asked(_) | Phase::Failed { .. } => RunState::Down,
        }
    }

    /// The status record for this state, the last change dated `since`.
    pub fn record(&self, since: std::time::SystemTime) -> crate::status::Status {
        use crate::status::Wanted;
        let term_sent = match self.phase {
            Phase::Running { term_sent, .. } => term_sent,
            Phase::Stopping { .. } => true,
            Phase::Down | Phase::Waiting { .. } | Phase::Asked(_) | Phase::Finishing { .. } | Phase::Failed { .. } => {
                false
            }
        };
        crate::status::Status {
            since,
            pid: self.tracked_pid().map_or(0, |p| p.as_raw() as u32),
            paused: self.main().is_some_and(|m| m.paused),
            want: match self.want {
                Want::Exit => Wanted::Exit,
                Want::Up => Wanted::Up,
                Want::Down | Want::Once => Wanted::Down,
            },
            term_sent,
            state: self.visible(),
        }
    }

    /// Why the service is not running (None while it runs).
    pub fn reason(&self, now: Instant) -> Option<String> {
        let last = || match (self.spawn_error, &self.unhealthy, self.last_exit) {
            (Some(errno), _, _) => Some(exec_failed(errno)),
            (None, Some(why), _) => Some(why.clone()),
            (None, None, Some(_)) if self.last_exit_oom => Some(OOM_KILLED.into()),
            (None, None, Some(how)) => Some(describe_exit(how)),
            (None, None, None) => None,
        };
        match self.phase {
            Phase::Running { .. } | Phase::Stopping { .. } | Phase::Asked(Ask::HandOver { .. }) => None,
            Phase::Asked(_) => Some("starting".into()),
            Phase::Finishing { .. } => Some("./finish is running".into()),
            Phase::Waiting { at } => {
                let secs = at.saturating_duration_since(now).as_secs_f64();
                let backoff = match self.backoff {
                    Some(_) => format!(" (backoff, {} failures)", self.failures),
                    None => String::new(),
                };
                Some(match last() {
                    Some(last) => format!("{last}; restarting in {secs:.1}s{backoff}"),
                    None => format!("starting in {secs:.1}s"),
                })
            }
            Phase::Failed { why } => {
                let last = last().map(|l| format!("; last: {l}")).unwrap_or_default();
                Some(match why {
                    Failure::Breaker { count, within } => {
                        format!("failed: {count} failures within {}{last}", seconds(within))
                    }
                    Failure::Retries(n) => format!("failed: retries ({n}) exhausted{last}"),
                    Failure::Finish => format!("failed: ./finish exited {FINISH_PERMANENT_FAILURE}{last}"),
                })
            }
            Phase::Down => match (self.want, self.down_note, last()) {
                (Want::Down | Want::Exit, None, _) | (_, _, None) => Some("wanted down".into()),
                (_, Some(note), Some(last)) => Some(format!("{last}; {note}")),
                (Want::Up | Want::Once, None, Some(last)) => Some(last),
            },
        }
    }

    /// Every cell of the table: (phase, event) → the new state (in `self`)
    /// and the actions.
    fn apply(&mut self, event: Event, now: Instant) -> Actions {
        use Event as E;
        use Phase as P;
        match (self.phase, event) {
            (P::Down, E::Start) => match self.want {
                Want::Up | Want::Once => self.schedule_start(now),
                Want::Down | Want::Exit => Vec::new(),
            },
            (
                P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. },
                E::Start,
            ) => Vec::new(),

            (
                P::Down | P::Waiting { .. },
                E::Adopted {
                    pid,
                    pgid,
                    spawned_pgid,
                    since,
                },
            ) => {
                let group = Group { pgid, foreign: true };
                self.ever_ran = true;
                // Restarts are throttled from now: the start time of a
                // process we did not start says nothing about crash loops.
                self.last_start = Some(now);
                self.last_pid = Some(pid);
                self.last_group = Some(group);
                self.spawned_pgid = Some(spawned_pgid);
                self.phase = P::Running {
                    main: Proc {
                        pid,
                        group,
                        origin: Origin::Adopted,
                        since,
                        paused: false,
                        signalled: 0,
                    },
                    term_sent: false,
                };
                self.changed = since.min(now);
                let mut acts = vec![Action::Note(format!(
                    "pid {pid}, started by an earlier supervisor, is still running: adopting it"
                ))];
                acts.extend(self.begin_live_running(now));
                acts
            }
            (
                P::Asked(_) | P::Running { .. } | P::Stopping { .. } | P::Finishing { .. } | P::Failed { .. },
                E::Adopted { .. },
            ) => Vec::new(),

            (_, E::Command(cmd)) => self.command(cmd, now),
            (_, E::Control { byte, cmd }) => self.control_byte(byte, cmd, now),
            (_, E::ControlDone { how }) => self.control_done(how, now),

            (P::Running { .. } | P::Stopping { .. }, E::Regrouped { pid, pgid }) => {
                self.regroup(pid, pgid);
                Vec::new()
            }
            (
                P::Down | P::Waiting { .. } | P::Asked(_) | P::Finishing { .. } | P::Failed { .. },
                E::Regrouped { .. },
            ) => Vec::new(),

            (P::Waiting { at }, E::Timer) => {
                if at <= now {
                    self.begin_start(now)
                } else {
                    Vec::new()
                }
            }
            (
                P::Stopping {
                    main,
                    group,
                    since,
                    kill_at: Some(at),
                    killed,
                    then,
                },
                E::Timer,
            ) if at <= now => {
                self.phase = P::Stopping {
                    main,
                    group,
                    since,
                    kill_at: Some(now + GROUP_RECHECK),
                    killed: true,
                    then,
                };
                if killed {
                    // Already KILLed: the loop looks at the group again.
                    return Vec::new();
                }
                let pgid = group.pgid;
                let mut acts = vec![
                    Action::Note(format!("stop timeout: sending KILL to process group {pgid}")),
                    Action::Kill(Target::Group(pgid), Signal::SIGKILL),
                ];
                if let Some(m) = main.filter(|m| m.pid != pgid) {
                    acts.push(Action::Kill(Target::Pid(m.pid), Signal::SIGKILL));
                }
                acts
            }
            (
                P::Finishing {
                    pid: Some(pid),
                    kill_at: Some(at),
                    next,
                },
                E::Timer,
            ) if at <= now => {
                self.phase = P::Finishing {
                    pid: Some(pid),
                    kill_at: None,
                    next,
                };
                vec![
                    Action::Note(format!("finish timeout: sending KILL to ./finish (pid {pid})")),
                    Action::Kill(Target::Group(pid), Signal::SIGKILL),
                ]
            }
            (P::Running { .. }, E::Timer) => self.live_timer(now),
            (P::Down | P::Asked(_) | P::Stopping { .. } | P::Finishing { .. } | P::Failed { .. }, E::Timer) => {
                Vec::new()
            }

            (P::Running { main, .. }, E::Notified(notice)) => self.notified(main, notice, now),
            (
                P::Down | P::Waiting { .. } | P::Asked(_) | P::Stopping { .. } | P::Finishing { .. } | P::Failed { .. },
                E::Notified(_),
            ) => Vec::new(),

            (P::Running { main, .. }, E::MainPid(c)) if c.pid != main.pid => {
                // As a pid file names it: follow it, keeping the start
                // time and the readiness of this run.
                let live = self.live;
                self.follow(c, main.since, now);
                self.live = live;
                vec![Action::Note(format!(
                    "MAINPID={}: following it instead of pid {}",
                    c.pid, main.pid
                ))]
            }
            (
                P::Down
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. },
                E::MainPid(_),
            ) => Vec::new(),

            (P::Running { main, .. }, E::Probed { ok, output }) => self.probed(main, ok, output, now),
            (
                P::Down | P::Waiting { .. } | P::Asked(_) | P::Stopping { .. } | P::Finishing { .. } | P::Failed { .. },
                E::Probed { .. },
            ) => {
                // A probe that was running when the service stopped.
                self.live.probing = false;
                Vec::new()
            }

            (P::Asked(Ask::Spawn), E::Spawned { pid }) => {
                let group = Group {
                    pgid: pid,
                    foreign: false,
                };
                self.hold_until = None;
                self.count += 1;
                self.last_start = Some(now);
                self.last_pid = Some(pid);
                self.last_group = Some(group);
                self.spawned_pgid = Some(pid);
                self.spawn_error = None;
                self.unhealthy = None;
                self.ever_ran = true;
                let main = Proc {
                    pid,
                    group,
                    origin: Origin::Spawned,
                    since: now,
                    paused: false,
                    signalled: 0,
                };
                self.set_phase(P::Running { main, term_sent: false }, now);
                self.begin_live(now)
            }
            (P::Asked(Ask::Spawn), E::SpawnFailed { errno }) => {
                // A start that could not exec counts as a start that exited
                // 127 (the shell's "command not found"), so retries and the
                // restart throttle apply to it too.
                self.spawn_error = Some(errno);
                self.count += 1;
                self.last_start = Some(now);
                self.last_exit = Some(ExitHow::Code(127));
                self.last_exit_oom = false;
                self.count_run(true, Duration::ZERO, now);
                self.remember(None, Duration::ZERO, ExitHow::Code(127), exec_failed(errno), now);
                self.ended(Next::Policy, now)
            }
            (
                P::Down
                | P::Waiting { .. }
                | P::Asked(Ask::PidFile | Ask::Leftovers(_) | Ask::HandOver { .. })
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. },
                E::Spawned { .. } | E::SpawnFailed { .. },
            ) => Vec::new(),

            (P::Asked(Ask::PidFile) | P::Waiting { .. }, E::PidFile { found: Ok(c), .. }) => {
                let pid = c.pid;
                self.follow(c, now, now);
                let mut acts = vec![Action::Note(format!(
                    "following pid {pid} from the pid file instead of starting"
                ))];
                acts.extend(self.begin_live_running(now));
                acts
            }
            (P::Asked(Ask::PidFile), E::PidFile { found: Err(_), .. }) => self.check_leftovers_then_spawn(now),
            (P::Asked(Ask::HandOver { main, .. }), E::PidFile { found: Ok(c), .. }) => {
                // It handed over to the pid in the pid file (a daemon that
                // forked, or an upgrade): follow that one, no restart.
                self.follow(c, main.since, now);
                vec![Action::Note(format!(
                    "pid {} exited; following pid {} from the pid file",
                    main.pid, c.pid
                ))]
            }
            (
                P::Asked(Ask::HandOver { main, how, group_alive }),
                E::PidFile {
                    found: Err(why),
                    descendants,
                },
            ) => {
                let mut acts = vec![Action::Note(format!("not following {why}"))];
                if descendants {
                    // A descendant reparented to us lives on: it may be
                    // taking over (gunicorn writes its pid file only once
                    // promoted). Hold the restart briefly.
                    self.hold_until = Some(later(now, HAND_OVER_GRACE));
                    acts.push(Action::Note(format!(
                        "a descendant lives on: waiting up to {HAND_OVER_GRACE:?} for the pid file to name it"
                    )));
                }
                acts.extend(self.main_ended(main, how, group_alive, now));
                acts
            }
            (P::Waiting { .. }, E::PidFile { found: Err(_), .. }) => Vec::new(),
            (
                P::Down
                | P::Asked(Ask::Spawn | Ask::Leftovers(_))
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. },
                E::PidFile { .. },
            ) => Vec::new(),

            (P::Asked(Ask::Leftovers(then)), E::GroupProbed { alive: true }) => match self.last_group {
                Some(group) => self.stop_leftovers(group, then, now),
                None => self.leftovers_gone(then, now),
            },
            (P::Asked(Ask::Leftovers(then)), E::GroupProbed { alive: false }) => self.leftovers_gone(then, now),
            (P::Stopping { main: None, then, .. }, E::GroupProbed { alive: false }) => {
                self.last_group = None;
                self.ended(Next::Stop(then), now)
            }
            (P::Stopping { main: None, .. }, E::GroupProbed { alive: true }) => Vec::new(),
            (
                P::Down
                | P::Waiting { .. }
                | P::Asked(Ask::Spawn | Ask::PidFile | Ask::HandOver { .. })
                | P::Running { .. }
                | P::Stopping { main: Some(_), .. }
                | P::Finishing { .. }
                | P::Failed { .. },
                E::GroupProbed { .. },
            ) => Vec::new(),

            (
                P::Running { main, .. },
                E::Exited {
                    pid,
                    how,
                    group_alive,
                    seen_pgid,
                    oom_killed,
                },
            ) if main.pid == pid => {
                self.regroup_seen(pid, seen_pgid);
                self.last_exit_oom = oom_killed;
                let main = self.main().unwrap_or(main);
                if self.policy.follows_pidfile {
                    self.phase = P::Asked(Ask::HandOver { main, how, group_alive });
                    return vec![Action::ReadPidFile {
                        exited: pid,
                        watch: true,
                    }];
                }
                self.main_ended(main, how, group_alive, now)
            }
            (
                P::Stopping {
                    main: Some(main),
                    group,
                    since,
                    kill_at,
                    killed,
                    then,
                },
                E::Exited {
                    pid,
                    how,
                    group_alive,
                    seen_pgid,
                    oom_killed,
                },
            ) if main.pid == pid => {
                self.regroup_seen(pid, seen_pgid);
                let group = self.main().map_or(group, |m| m.group);
                self.last_exit = Some(how);
                self.last_exit_oom = oom_killed;
                let uptime = now.saturating_duration_since(main.since);
                match (then, self.unhealthy.clone()) {
                    (AfterStop::Unhealthy, Some(why)) => {
                        self.count_run(true, self.ready_uptime(now), now);
                        self.remember(Some(pid), uptime, how, why, now);
                    }
                    // Stopped, but the OOM killer got there first.
                    _ if oom_killed => {
                        self.count_run(true, self.ready_uptime(now), now);
                        self.remember(Some(pid), uptime, how, OOM_KILLED.into(), now);
                    }
                    _ => {
                        self.last_exit_failed = false;
                        self.remember(Some(pid), uptime, how, "stopped".into(), now);
                    }
                }
                let mut acts = vec![Action::PostExit(how.code())];
                if group_alive {
                    // The main process is gone but its group is not: those
                    // members get the stop signal too, and the deadline holds.
                    if self.policy.stop.group {
                        acts.push(Action::Kill(Target::Group(group.pgid), self.policy.stop.signal));
                        acts.push(Action::Kill(Target::Group(group.pgid), Signal::SIGCONT));
                    }
                    self.phase = P::Stopping {
                        main: None,
                        group,
                        since,
                        kill_at,
                        killed,
                        then,
                    };
                } else {
                    self.last_group = None;
                    acts.extend(self.ended(Next::Stop(then), now));
                }
                acts
            }
            (
                P::Finishing {
                    pid: Some(finish),
                    next,
                    ..
                },
                E::Exited { pid, how, .. },
            ) if finish == pid => {
                if next == Next::Policy && how == ExitHow::Code(FINISH_PERMANENT_FAILURE) {
                    // s6: the service failed for good; no restart.
                    self.set_phase(P::Down, now);
                    let mut acts = vec![Action::Note(format!(
                        "./finish exited {FINISH_PERMANENT_FAILURE}: the service failed for good"
                    ))];
                    acts.extend(self.fail(Failure::Finish, now));
                    return acts;
                }
                self.finished(next, now)
            }
            (
                P::Down
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. },
                E::Exited { .. },
            ) => Vec::new(),

            (P::Finishing { pid: None, next, .. }, E::FinishSpawned { pid }) => {
                let kill_at = self.policy.stop.timeout.map(|t| later(now, t));
                self.phase = P::Finishing {
                    pid: Some(pid),
                    kill_at,
                    next,
                };
                Vec::new()
            }
            (P::Finishing { pid: None, next, .. }, E::FinishFailed) => self.finished(next, now),
            (
                P::Down
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { pid: Some(_), .. }
                | P::Failed { .. },
                E::FinishSpawned { .. } | E::FinishFailed,
            ) => Vec::new(),

            (_, E::Reconfigured(policy)) => {
                self.next_policy = Some(*policy);
                Vec::new()
            }

            (P::Waiting { .. } | P::Failed { .. }, E::Drain) => {
                self.want = Want::Exit;
                self.set_phase(P::Down, now);
                Vec::new()
            }
            (P::Down | P::Asked(_) | P::Running { .. } | P::Stopping { .. } | P::Finishing { .. }, E::Drain) => {
                self.want = Want::Exit;
                Vec::new()
            }
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

    /// Change what is wanted, unless the supervisor is on its way out.
    fn set_want(&mut self, want: Want) {
        if self.want != Want::Exit {
            self.want = want;
        }
    }

    /// Follow the pid file's process `c` (running since `since`).
    fn follow(&mut self, c: Candidate, since: Instant, now: Instant) {
        let group = Group {
            pgid: self.owned_group(c.pid, c.pgid),
            // Someone else reaps it and its group: zombies are not members.
            foreign: !c.our_child,
        };
        self.hold_until = None;
        self.ever_ran = true;
        self.spawn_error = None;
        self.last_pid = Some(c.pid);
        self.last_group = Some(group);
        let main = Proc {
            pid: c.pid,
            group,
            origin: Origin::Followed,
            since,
            paused: false,
            signalled: 0,
        };
        self.set_phase(Phase::Running { main, term_sent: false }, now);
    }

    /// A followed process's group, read again.
    fn regroup(&mut self, pid: Pid, pgid: Pid) {
        let owned = self.owned_group(pid, pgid);
        let fix = |m: &mut Proc| {
            if m.pid == pid && m.origin == Origin::Followed {
                m.group.pgid = owned;
                true
            } else {
                false
            }
        };
        let changed = match &mut self.phase {
            Phase::Running { main, .. } => fix(main),
            Phase::Stopping {
                main: Some(main),
                group,
                ..
            } => {
                let changed = fix(main);
                if changed {
                    group.pgid = owned;
                }
                changed
            }
            _ => false,
        };
        if changed {
            if let Some(g) = &mut self.last_group {
                g.pgid = owned;
            }
        }
    }

    fn regroup_seen(&mut self, pid: Pid, seen: Option<Pid>) {
        if let Some(pgid) = seen {
            self.regroup(pid, pgid);
        }
    }

    /// The main process ended by itself (no hand-over): post_exit, then
    /// `./finish`, then restart or not.
    fn main_ended(&mut self, main: Proc, how: ExitHow, group_alive: bool, now: Instant) -> Actions {
        self.last_exit = Some(how);
        let failed = match how {
            _ if self.last_exit_oom => true,
            ExitHow::Code(code) => !self.policy.restart.success.contains(code),
            ExitHow::Signal(sig) => !main.was_signalled(sig),
        };
        let uptime = now.saturating_duration_since(main.since);
        self.count_run(failed, self.ready_uptime(now), now);
        let verdict = match how {
            _ if self.last_exit_oom => OOM_KILLED,
            _ if failed => "failure",
            ExitHow::Signal(_) => "signalled by the supervisor",
            ExitHow::Code(_) => "success",
        };
        self.remember(Some(main.pid), uptime, how, verdict.into(), now);
        if !group_alive {
            self.last_group = None;
        }
        let mut acts = vec![Action::PostExit(how.code())];
        acts.extend(self.ended(Next::Policy, now));
        // Not restarting (once, retries exhausted): what the service left
        // in its group goes now, not at some later start.
        let exits = acts.iter().any(|a| matches!(a, Action::Exit(_)));
        if let (Phase::Down, Some(group), false) = (self.phase, self.last_group, exits) {
            acts.extend(self.stop_leftovers(group, AfterStop::Nothing, now));
        }
        acts
    }

    /// How long the run that is ending was ready (`restart.reset_after`
    /// counts ready uptime: a service that never became ready keeps its
    /// backoff however long it ran).
    fn ready_uptime(&self, now: Instant) -> Duration {
        self.live
            .ready_at
            .map_or(Duration::ZERO, |at| now.saturating_duration_since(at))
    }

    /// Count a run that ended by itself: `ready_for` long enough resets the
    /// backoff, a success ends it, a failure adds to it and to the
    /// breaker's window.
    fn count_run(&mut self, failed: bool, ready_for: Duration, now: Instant) {
        self.last_exit_failed = failed;
        if !failed || ready_for >= self.policy.restart.reset_after {
            self.failures = 0;
        }
        if failed {
            self.failures = self.failures.saturating_add(1);
            self.failures_total += 1;
            self.failure_times.push_back(now);
            let keep = self.policy.restart.limit.map_or(0, |(count, _)| count as usize);
            while self.failure_times.len() > keep {
                self.failure_times.pop_front();
            }
        }
    }

    /// Add an exit to the history (newest first, [`HISTORY`] kept).
    fn remember(&mut self, pid: Option<Pid>, uptime: Duration, how: ExitHow, reason: String, now: Instant) {
        self.remembered += 1;
        if pid.is_some() {
            match how {
                ExitHow::Code(_) => self.code_exits += 1,
                ExitHow::Signal(_) => self.signal_exits += 1,
            }
            if self.last_exit_oom {
                self.oom_exits += 1;
            }
        }
        self.history.push_front(ExitRecord {
            at: now,
            pid,
            uptime,
            how,
            reason,
        });
        self.history.truncate(HISTORY);
    }

    /// The breaker's verdict on the failures so far.
    fn breaker(&self, now: Instant) -> Option<Failure> {
        let (count, within) = self.policy.restart.limit?;
        let recent = self
            .failure_times
            .iter()
            .filter(|&&t| now.saturating_duration_since(t) <= within)
            .count();
        (recent >= count as usize).then_some(Failure::Breaker { count, within })
    }

    /// An operator starts it: the backoff and the breaker begin anew.
    fn reset_backoff(&mut self) {
        self.failures = 0;
        self.failure_times.clear();
        self.backoff = None;
        self.down_note = None;
    }

    /// Failed for good. What the last group left goes first; then the
    /// phase says `failed`, and an essential service's supervisor exits.
    fn fail(&mut self, why: Failure, now: Instant) -> Actions {
        if let Some(group) = self.last_group {
            self.set_phase(Phase::Asked(Ask::Leftovers(AfterStop::Fail(why))), now);
            return vec![Action::ProbeGroup(group)];
        }
        self.set_phase(Phase::Failed { why }, now);
        if let Failure::Retries(_) = why {
            self.want = Want::Down;
        }
        let mut acts = Vec::new();
        if self.policy.essential && self.policy.role == Role::Service {
            self.want = Want::Exit;
            acts.push(Action::Note(format!(
                "essential service failed: the supervisor exits {EXIT_ESSENTIAL_FAILED}"
            )));
            acts.push(Action::Exit(EXIT_ESSENTIAL_FAILED));
        } else if let (Failure::Retries(_), true) = (why, self.policy.may_exit) {
            // A command that never ran at all is a failure.
            acts.push(Action::Exit(if self.ever_ran { 0 } else { 1 }));
        }
        acts
    }

    /// The service and its group are gone: run `./finish` if there may be
    /// one, then go on with `next`.
    fn ended(&mut self, next: Next, now: Instant) -> Actions {
        if self.policy.service_dir {
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
        self.backoff = None;
        let at = self.start_at(now);
        self.start_or_wait(at, now)
    }

    /// After a failure, with backoff on (`max_delay` above `delay`): from
    /// the second consecutive failure on, wait delay × factor^(n−1) after
    /// the exit, at most `max_delay`, ±10 % so that many services failing
    /// together do not restart together.
    fn schedule_restart(&mut self, now: Instant) -> Actions {
        let restart = self.policy.restart;
        let base = self.policy.throttle;
        let mut at = self.start_at(now);
        self.backoff = None;
        if let Some(max) = restart.max_delay.filter(|&m| m > base) {
            if self.last_exit_failed && self.failures >= 2 {
                let exponent = i32::try_from(self.failures - 1).unwrap_or(i32::MAX);
                let wait = (base.as_secs_f64() * restart.factor.powi(exponent)).min(max.as_secs_f64());
                let wait = wait * (0.9 + 0.2 * self.random());
                let wait = Duration::try_from_secs_f64(wait).unwrap_or(max);
                self.backoff = Some(wait);
                at = at.max(later(now, wait));
            }
        }
        self.start_or_wait(at, now)
    }

    /// A number in [0, 1) from the state's own generator (xorshift64*).
    fn random(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn start_or_wait(&mut self, at: Instant, now: Instant) -> Actions {
        self.down_note = None;
        if at <= now {
            self.begin_start(now)
        } else {
            self.set_phase(Phase::Waiting { at }, now);
            Vec::new()
        }
    }

    /// A start is due. A restart of a pid-file service looks at the pid
    /// file first (its daemon may be up already: follow it rather than
    /// start a second copy), then at what the last group left behind.
    fn begin_start(&mut self, now: Instant) -> Actions {
        if self.count > 0 && self.policy.follows_pidfile {
            self.set_phase(Phase::Asked(Ask::PidFile), now);
            return vec![Action::ReadPidFile {
                exited: self.last_pid.unwrap_or(Pid::from_raw(0)),
                watch: false,
            }];
        }
        self.check_leftovers_then_spawn(now)
    }

    fn check_leftovers_then_spawn(&mut self, now: Instant) -> Actions {
        match self.last_group {
            Some(group) if self.count > 0 => {
                self.set_phase(Phase::Asked(Ask::Leftovers(AfterStop::Start)), now);
                vec![Action::ProbeGroup(group)]
            }
            _ => {
                if let Some(policy) = self.next_policy.take() {
                    self.policy = policy;
                }
                self.set_phase(Phase::Asked(Ask::Spawn), now);
                vec![Action::Spawn]
            }
        }
    }

    /// The last group had no members left: carry on with `then`.
    fn leftovers_gone(&mut self, then: AfterStop, now: Instant) -> Actions {
        self.last_group = None;
        match then {
            AfterStop::Start => self.check_leftovers_then_spawn(now),
            AfterStop::Nothing | AfterStop::ExitSupervisor | AfterStop::Fail(_) | AfterStop::Unhealthy => {
                self.stopped(then, now)
            }
        }
    }

    /// Members of the last process group outlived its main process
    /// (children the service left behind; a followed daemon's workers after
    /// `kill -9` of the master): stop them before a new start, or before
    /// saying the service is down — never two generations at once.
    fn stop_leftovers(&mut self, group: Group, then: AfterStop, now: Instant) -> Actions {
        let pgid = group.pgid;
        self.phase = Phase::Stopping {
            main: None,
            group,
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

    /// One control-FIFO byte. While a `control/<letter>` script runs, the
    /// next bytes wait for its verdict.
    fn control_byte(&mut self, byte: u8, cmd: Command, now: Instant) -> Actions {
        if self.control.is_some() {
            self.queued.push_back((byte, cmd));
            return Vec::new();
        }
        let role = self.policy.role;
        if byte == b'x' && role != Role::Service {
            return Vec::new(); // runsv: exit is for the service, not its logger
        }
        let mut acts = vec![Action::Note(format!("control '{}'", byte as char))];
        if self.policy.service_dir {
            // s6's D and U also make the choice permanent.
            match byte {
                b'D' => acts.push(Action::DownFile(true)),
                b'U' => acts.push(Action::DownFile(false)),
                _ => {}
            }
            if role == Role::Service {
                self.control = Some((byte, cmd));
                acts.push(Action::RunControl {
                    byte,
                    main: self.main_pid(),
                });
                return acts;
            }
        }
        acts.extend(self.command(cmd, now));
        acts
    }

    /// The `control/<letter>` script ended: exit 0 replaces the signal of
    /// the letters runsv lets it replace; the command's other effects stay.
    fn control_done(&mut self, how: Option<ExitHow>, now: Instant) -> Actions {
        let Some((byte, cmd)) = self.control.take() else {
            return Vec::new();
        };
        let replaced = how == Some(ExitHow::Code(0)) && OVERRIDABLE.contains(&byte);
        let mut acts = self.command(cmd, now);
        if replaced {
            acts.retain(|a| !matches!(a, Action::Kill(..)));
        }
        while self.control.is_none() {
            let Some((byte, cmd)) = self.queued.pop_front() else {
                break;
            };
            acts.extend(self.control_byte(byte, cmd, now));
        }
        acts
    }

    fn command(&mut self, cmd: Command, now: Instant) -> Actions {
        use Phase as P;
        match cmd {
            Command::Up => {
                self.set_want(Want::Up);
                match self.phase {
                    // An operator's start: backoff and breaker begin anew.
                    P::Down | P::Failed { .. } | P::Waiting { .. } if self.want == Want::Up => {
                        self.reset_backoff();
                        self.schedule_start(now)
                    }
                    P::Down | P::Failed { .. } | P::Waiting { .. } => Vec::new(),
                    P::Stopping { .. } | P::Finishing { .. } => {
                        self.reset_backoff();
                        self.redirect_stop(AfterStop::Start);
                        Vec::new()
                    }
                    P::Running { .. } | P::Asked(_) => Vec::new(),
                }
            }
            Command::Once => match self.phase {
                P::Down | P::Failed { .. } => {
                    self.set_want(Want::Once);
                    if self.want == Want::Once {
                        self.reset_backoff();
                        self.schedule_start(now)
                    } else {
                        Vec::new()
                    }
                }
                P::Stopping { .. } | P::Finishing { .. } | P::Asked(_) => Vec::new(),
                P::Running { .. } | P::Waiting { .. } => {
                    self.set_want(Want::Once);
                    Vec::new()
                }
            },
            // s6's `O`: do not restart it when it ends; if it is down, do not
            // even start it.
            Command::OnceAtMost => match self.phase {
                P::Running { .. } => {
                    self.set_want(Want::Once);
                    Vec::new()
                }
                P::Waiting { .. } => {
                    self.set_want(Want::Down);
                    self.set_phase(P::Down, now);
                    Vec::new()
                }
                P::Down | P::Asked(_) | P::Stopping { .. } | P::Finishing { .. } | P::Failed { .. } => {
                    if self.want == Want::Up {
                        self.want = Want::Once;
                    }
                    Vec::new()
                }
            },
            Command::Down => {
                self.set_want(Want::Down);
                self.stop(AfterStop::Nothing, now)
            }
            Command::Halt | Command::Exit { stop_service: true } => {
                self.want = Want::Exit;
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
                self.set_want(Want::Up);
                let mut acts = vec![Action::ReloadConfig];
                match self.phase {
                    P::Running { .. } => acts.extend(self.stop(AfterStop::Start, now)),
                    P::Stopping { .. } | P::Finishing { .. } => self.redirect_stop(AfterStop::Start),
                    P::Down | P::Waiting { .. } | P::Failed { .. } if self.want == Want::Up => {
                        self.reset_backoff();
                        acts.extend(self.begin_start(now))
                    }
                    P::Down | P::Waiting { .. } | P::Failed { .. } => {}
                    P::Asked(_) => acts.push(Action::Refuse(BUSY.into())),
                }
                acts
            }
            Command::RestartSignal => match self.phase {
                P::Running { mut main, .. } => {
                    let acts = self.stop_signals(&mut main);
                    self.phase = P::Running { main, term_sent: true };
                    acts
                }
                P::Down
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. } => Vec::new(),
            },
            Command::Pause => self.signal_main(Signal::SIGSTOP, Some(true)),
            Command::Continue => self.signal_main(Signal::SIGCONT, Some(false)),
            Command::Signal(sig) => self.signal_main(sig, None),
        }
    }

    fn signal_main(&mut self, sig: Signal, paused: Option<bool>) -> Actions {
        let mark = |main: &mut Proc| {
            if let Some(p) = paused {
                main.paused = p;
            }
            main.mark_signalled(sig);
            main.pid
        };
        let pid = match &mut self.phase {
            Phase::Running { main, term_sent } => {
                if sig == Signal::SIGTERM {
                    *term_sent = true;
                }
                mark(main)
            }
            Phase::Stopping { main: Some(main), .. } => mark(main),
            Phase::Down
            | Phase::Waiting { .. }
            | Phase::Asked(_)
            | Phase::Stopping { main: None, .. }
            | Phase::Finishing { .. }
            | Phase::Failed { .. } => return vec![Action::Refuse(NOT_RUNNING.into())],
        };
        vec![Action::Kill(Target::Pid(pid), sig)]
    }

    /// The stop signal then CONT (so a paused process sees it), to the
    /// group or to the main process as configured.
    fn stop_signals(&self, main: &mut Proc) -> Actions {
        main.mark_signalled(self.policy.stop.signal);
        main.mark_signalled(Signal::SIGCONT);
        let target = if self.policy.stop.group {
            Target::Group(main.group.pgid)
        } else {
            Target::Pid(main.pid)
        };
        vec![
            Action::Kill(target, self.policy.stop.signal),
            Action::Kill(target, Signal::SIGCONT),
        ]
    }

    /// A process we started runs: readiness and health begin. Ready at
    /// once without a method; a readiness probe runs at once; the health
    /// probes and the watchdog start with readiness.
    fn begin_live(&mut self, now: Instant) -> Actions {
        self.health_text = None;
        self.live = Live {
            ready_by: self.policy.ready_timeout.map(|t| later(now, t)),
            ..Live::default()
        };
        match self.policy.ready {
            ReadyKind::Up => self.become_ready(now, false),
            ReadyKind::Probe => {
                self.live.probe_at = Some(now);
                Vec::new()
            }
            ReadyKind::Told => Vec::new(),
        }
    }

    /// A process already running when we took it over (adopted after our
    /// own restart, or a daemon the pid file names): it told an earlier
    /// supervisor, or nobody, that it was ready. A readiness probe asks
    /// again; otherwise it is taken as ready.
    fn begin_live_running(&mut self, now: Instant) -> Actions {
        self.health_text = None;
        self.live = Live::default();
        match self.policy.ready {
            ReadyKind::Probe => {
                self.live.probe_at = Some(now);
                Vec::new()
            }
            ReadyKind::Up | ReadyKind::Told => self.become_ready(now, false),
        }
    }

    fn become_ready(&mut self, now: Instant, told: bool) -> Actions {
        self.live.ready_at = Some(now);
        self.live.ready_by = None;
        self.live.probe_at = self.policy.health.map(|(interval, _)| later(now, interval));
        self.live.watchdog_by = self.policy.watchdog.map(|w| later(now, w));
        match (told, self.ready_in()) {
            (true, Some(took)) => vec![Action::Note(format!("ready after {:.3}s", took.as_secs_f64()))],
            _ => Vec::new(),
        }
    }

    /// A deadline of the running service passed: `ready.timeout`, the
    /// watchdog, or the next probe.
    fn live_timer(&mut self, now: Instant) -> Actions {
        let live = self.live;
        if live.ready_at.is_none() && live.ready_by.is_some_and(|at| at <= now) {
            let limit = self.policy.ready_timeout.unwrap_or_default();
            return self.fail_running(format!("not ready within {}", seconds(limit)), now);
        }
        if live.watchdog_by.is_some_and(|at| at <= now) {
            let every = self.policy.watchdog.unwrap_or_default();
            return self.fail_running(format!("watchdog: no WATCHDOG=1 within {}", seconds(every)), now);
        }
        if !live.probing && live.probe_at.is_some_and(|at| at <= now) {
            self.live.probing = true;
            self.live.probe_at = None;
            let which = if live.ready_at.is_some() {
                ProbeFor::Health
            } else {
                ProbeFor::Ready
            };
            return vec![Action::Probe(which)];
        }
        Vec::new()
    }

    fn notified(&mut self, main: Proc, notice: Notice, now: Instant) -> Actions {
        match notice {
            Notice::Ready if self.policy.ready == ReadyKind::Told && self.live.ready_at.is_none() => {
                self.become_ready(now, true)
            }
            Notice::Ready => Vec::new(),
            Notice::Reloading if self.live.ready_at.is_some() && self.policy.ready == ReadyKind::Told => {
                self.live.ready_at = None;
                vec![Action::Note("reloading: not ready until READY=1".into())]
            }
            Notice::Reloading => Vec::new(),
            Notice::Stopping => vec![Action::Note(format!("pid {} says it is stopping", main.pid))],
            Notice::Watchdog => {
                if let Some(w) = self.policy.watchdog {
                    self.live.watchdog_by = Some(later(now, w));
                }
                Vec::new()
            }
        }
    }

    fn probed(&mut self, main: Proc, ok: bool, output: String, now: Instant) -> Actions {
        self.live.probing = false;
        if self.live.ready_at.is_none() {
            // A readiness probe: the first success makes it ready.
            if ok {
                return self.become_ready(now, true);
            }
            self.live.probe_at = Some(later(now, self.policy.ready_interval));
            return Vec::new();
        }
        let Some((interval, limit)) = self.policy.health else {
            return Vec::new();
        };
        self.live.probe_at = Some(later(now, interval));
        if ok {
            self.live.health_failures = 0;
            self.health_text = None;
            return Vec::new();
        }
        self.live.health_failures += 1;
        let n = self.live.health_failures;
        let text = if output.is_empty() {
            "failed".to_string()
        } else {
            output
        };
        self.health_text = Some(text.clone());
        if n >= limit {
            self.live.probe_at = None;
            return self.fail_running(format!("health check failed {n} times: {text}"), now);
        }
        vec![Action::Note(format!(
            "pid {}: health check failed ({n} of {limit}): {text}",
            main.pid
        ))]
    }

    /// The running service failed (not ready in time, unhealthy, watchdog):
    /// stopped as for `down`, then the exit counts as a failure and the
    /// restart policy decides.
    fn fail_running(&mut self, why: String, now: Instant) -> Actions {
        self.live.probe_at = None;
        self.live.watchdog_by = None;
        self.live.ready_by = None;
        let mut acts = vec![Action::Note(format!("{why}: restarting the service"))];
        self.unhealthy = Some(why);
        acts.extend(self.stop(AfterStop::Unhealthy, now));
        acts
    }

    fn stop(&mut self, then: AfterStop, now: Instant) -> Actions {
        match self.phase {
            Phase::Running { mut main, .. } => {
                let acts = self.stop_signals(&mut main);
                self.phase = Phase::Stopping {
                    main: Some(Proc { paused: false, ..main }),
                    group: main.group,
                    since: main.since,
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
            Phase::Waiting { .. } | Phase::Down | Phase::Failed { .. } => {
                self.set_phase(Phase::Down, now);
                self.backoff = None;
                match self.last_group {
                    // What the last run left behind goes before "down".
                    Some(group) => {
                        self.set_phase(Phase::Asked(Ask::Leftovers(then)), now);
                        vec![Action::ProbeGroup(group)]
                    }
                    None => self.stopped(then, now),
                }
            }
            Phase::Asked(_) => vec![Action::Refuse(BUSY.into())],
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
            Phase::Asked(Ask::Leftovers(then)) if *then != AfterStop::ExitSupervisor => *then = next,
            _ => {}
        }
    }

    /// The stop is complete: the group is gone.
    fn stopped(&mut self, then: AfterStop, now: Instant) -> Actions {
        self.set_phase(Phase::Down, now);
        match then {
            AfterStop::Nothing => Vec::new(),
            AfterStop::Start => self.schedule_start(now),
            AfterStop::ExitSupervisor => vec![Action::Exit(0)],
            AfterStop::Fail(why) => self.fail(why, now),
            AfterStop::Unhealthy => self.after_exit(now),
        }
    }

    /// Decide what follows an exit the operator did not ask for.
    fn after_exit(&mut self, now: Instant) -> Actions {
        match self.want {
            Want::Down | Want::Exit => Vec::new(),
            Want::Once => {
                self.want = Want::Down;
                self.down_note = Some("ran once");
                Vec::new()
            }
            Want::Up => {
                let restart = self.policy.restart;
                let no_restart = match restart.when {
                    RestartWhen::Never => Some("restart: never"),
                    RestartWhen::OnFailure if !self.last_exit_failed => Some("a success (restart: on-failure)"),
                    RestartWhen::OnFailure | RestartWhen::Always => None,
                };
                if let Some(note) = no_restart {
                    self.want = Want::Down;
                    self.down_note = Some(note);
                    return vec![Action::Note(format!("not restarting: {note}"))];
                }
                if let Some(why) = self.breaker(now).filter(|_| self.last_exit_failed) {
                    let mut acts = vec![Action::Note(format!(
                        "{} failures within {}: failed, not restarting",
                        self.failure_times.len(),
                        seconds(restart.limit.map_or(Duration::ZERO, |(_, w)| w))
                    ))];
                    acts.extend(self.fail(why, now));
                    return acts;
                }
                let retries = self.policy.retries;
                if retries >= 0 && self.count > retries as u64 {
                    let mut acts = vec![Action::Note(format!(
                        "started {} times, retries ({retries}) exhausted: not restarting",
                        self.count
                    ))];
                    acts.extend(self.fail(Failure::Retries(retries), now));
                    acts
                } else {
                    self.schedule_restart(now)
                }
            }
        }
    }
}

/// `exec failed: No such file or directory`.
fn exec_failed(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    format!("exec failed: {}", text.split(" (os error").next().unwrap_or_default())
}

/// The reason of an exit the kernel's OOM killer caused (SPEC §14).
pub const OOM_KILLED: &str = "killed by the OOM killer";

/// `exit 1`, `killed by SIGSEGV`: how reasons and history tell an exit.
pub fn describe_exit(how: ExitHow) -> String {
    match how {
        ExitHow::Code(c) => format!("exit {c}"),
        ExitHow::Signal(s) => format!("killed by SIG{}", crate::signal::name_of(s)),
    }
}

/// `60s`, `0.5s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
pub(crate) mod tests;
