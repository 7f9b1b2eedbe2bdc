//! The supervisor's behaviour as one pure, total function:
//! [`State::step`]`(&state, event, now) -> (state′, actions)`. No I/O
//! happens here; every fact a decision needs (is the last process group
//! empty? does the pid file name a live process of ours? who sent this
//! notify datagram?) arrives as an [`Event`], or is asked for with an
//! [`Action`] whose answer comes back as one. The decision itself is one
//! `match (phase, event)` ([`State::decide`]) with no wildcard in either
//! position, so a new phase or event makes the compiler list every cell
//! still to decide — the `actions[state][event]` table of s6-supervise, in
//! Rust. What `/events` streams comes out of the same step
//! ([`Action::Tell`]).
//!
//! Phases, each carrying its data: `Down` (with why) → (`Waiting` until
//! the start deadline, with the backoff chosen) → (`Asked`: the loop
//! answers a question: spawn, pid file, leftovers, hand-over) → `Running`
//! (the main process, its readiness and health) → (`Stopping` while the
//! stop signal, then KILL at the deadline, empties the process group) →
//! (`Finishing` while runit's `./finish` runs) → `Down`. The supervisor
//! says `down` only once the whole group is gone. `Failed` is down for
//! good (the circuit breaker, retries used up, `./finish` exiting 125)
//! until an operator's `up`, `once` or `restart`.
//!
//! Beside the phase, only what outlives a phase: what is wanted, the
//! configuration, what the last run left ([`Last`]), the counters
//! ([`Tally`]), the history, and runit's `control/<letter>` script, an
//! orthogonal machine of its own ([`Control`]).
//!
//! The same table runs the service, runit's `log/run`, and the `logger:`
//! command ([`Role`]).

use crate::control::Command;
use crate::service::{RestartSpec, RestartWhen, StopSpec};
pub use crate::sys::process::ExitHow;
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
/// The reason of an exit the kernel's OOM killer caused (SPEC §14).
pub const OOM_KILLED: &str = "killed by the OOM killer";
/// The reason of an exit whose status nobody could read: the process was
/// not our child (adopted, followed, `MAINPID`).
pub const EXIT_UNKNOWN: &str = "exit status unknown (not our child)";

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
    /// Run, but do not restart when it ends.
    Once,
    /// Down, and the supervisor exits with this status (nothing changes
    /// this any more).
    Exit(i32),
}

impl Want {
    /// What an operator asks for, unless the supervisor is on its way out.
    fn unless_exiting(self, asked: Want) -> Want {
        match self {
            Want::Exit(code) => Want::Exit(code),
            Want::Up | Want::Down | Want::Once => asked,
        }
    }
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
    /// Named by the pid file (`-f`, `pid.follow`) or by `MAINPID=`.
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
    fn signalled_with(self, sig: Signal) -> Proc {
        Proc {
            signalled: self.signalled | 1u64.checked_shl(sig as u32).unwrap_or(0),
            ..self
        }
    }

    fn was_signalled(&self, signo: i32) -> bool {
        u32::try_from(signo).is_ok_and(|n| self.signalled & 1u64.checked_shl(n).unwrap_or(0) != 0)
    }
}

/// Where a signal goes; the loop sends it, the table chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whom {
    /// This process alone.
    Process(Pid),
    /// This process group — or, when no group has this id (a followed
    /// process that leads none), the process with this id alone.
    Group(Pid),
    /// Every process of the service: the members of its cgroup when it
    /// has one with members, else as [`Whom::Group`].
    Service(Pid),
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
    /// None: not our child, its status is unknown.
    pub how: Option<ExitHow>,
    /// `failure`, `success`, `stopped`, `exec failed: …`.
    pub reason: String,
}

/// A live process the pid file (or `MAINPID=`) names, as the loop found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub pid: Pid,
    /// Its process group as read (the table decides which group it owns).
    pub pgid: Pid,
    /// A descendant reparented to us (its exit reaches our `waitpid`).
    pub our_child: bool,
}

/// The sender of a notify datagram, as the loop found it (the table
/// decides whether it speaks for the service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    pub pid: Pid,
    pub uid: u32,
    /// Still running when the datagram was read.
    pub alive: bool,
    /// Its process group, if it could be read.
    pub pgid: Option<Pid>,
    /// A descendant of the main process.
    pub descends: bool,
}

/// The process a `MAINPID=` names, as the loop found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Named {
    pub pid: Pid,
    /// None: no such process (or a zombie).
    pub found: Option<Candidate>,
    /// A descendant of the main process.
    pub descends: bool,
}

/// What to do once a stop has emptied the process group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterStop {
    /// Stay down (with why, for the reason).
    Down(Option<&'static str>),
    Start,
    /// The supervisor exits with this status.
    Exit(i32),
    /// The service failed for good: what it left is gone, now say so.
    Fail(Failure),
    /// Stopped because it failed while running (not ready in time, a
    /// failed health check, a missed watchdog): the exit is a failure
    /// with this reason, and the restart policy decides what follows.
    Unhealthy(String),
}

/// What follows a `./finish` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The service ended by itself: the restart policy decides; no start
    /// before `hold` (a hand-over to a new pid may be under way).
    Policy { hold: Option<Instant> },
    /// It was stopped: do what the stop was for.
    Stop(AfterStop),
}

/// How a main process ended, as the loop saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending {
    /// None: it was not our child, its status is unknown.
    pub how: Option<ExitHow>,
    /// Members of its group outlived it.
    pub group_alive: bool,
    /// The OOM killer killed a process of the service's cgroup during
    /// this run.
    pub oom_killed: bool,
}

/// The question the loop is answering (its answer is the next event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// [`Action::Spawn`]: `Spawned` or `SpawnFailed`.
    Spawn,
    /// A restart of a pid-file service: is its daemon already up?
    PidFile,
    /// Did the last process group outlive its main process? Stop it first,
    /// then do this.
    Leftovers(AfterStop),
    /// The main process of a pid-file service ended: did it hand over to
    /// the pid the pid file names?
    HandOver { main: Proc, ending: Ending, live: Live },
}

/// The verdict of the health checks of this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// No check has passed yet: not healthy (SPEC §11).
    Unknown,
    Passing,
    /// `count` checks in a row failed, the last one saying `text`.
    Failing {
        text: String,
        count: u32,
    },
}

/// Readiness and health of the running process (new at each start).
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub health: Health,
    /// sd_notify's `STATUS=` (the API's `note`).
    pub note: Option<String>,
}

impl Live {
    fn new() -> Live {
        Live {
            ready_at: None,
            probe_at: None,
            probing: false,
            ready_by: None,
            watchdog_by: None,
            health: Health::Unknown,
            note: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not running, nothing pending; `note`: why it was not restarted.
    Down {
        note: Option<&'static str>,
    },
    /// A start is due at `at`; `backoff`: the wait the restart policy
    /// chose; `hold`: held for a hand-over (the loop watches the pid file).
    Waiting {
        at: Instant,
        backoff: Option<Duration>,
        hold: bool,
    },
    Asked(Ask),
    Running {
        main: Proc,
        live: Live,
        /// The stop signal (or TERM) was sent and it has not exited.
        term_sent: bool,
    },
    Stopping {
        /// The main process, until it has been reaped.
        main: Option<Proc>,
        group: Group,
        /// When the process stopped started (the status's uptime).
        since: Instant,
        /// When the stop signal was sent (`immortalctl`'s `TERM sent 2.1s
        /// ago`).
        sent: Instant,
        /// When KILL goes to the whole group (`None`: never).
        kill_at: Option<Instant>,
        /// KILL was sent; `kill_at` is now the next look at the group.
        killed: bool,
        then: AfterStop,
        /// When the stopped run had become ready (`restart.reset_after`).
        ready_at: Option<Instant>,
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
    /// A one-shot service ran to completion (exit 0) at `at`: ready for
    /// what requires it, never restarted but by an operator.
    Done {
        at: Instant,
    },
}

/// The parts of the configuration the table decides with.
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
    /// The service has runit's `log/`: before the supervisor exits, its
    /// logger reads everything ([`Action::Drain`]).
    pub has_log: bool,
    /// `-f`/`pid.follow`: exits and restarts look at the pid file first.
    pub follows_pidfile: bool,
    /// `restart:`; its `delay` is already in `throttle`.
    pub restart: RestartSpec,
    /// Failed for good → the supervisor stops what is left and exits 3.
    pub essential: bool,
    /// `oneshot: true`: a success is `done`, not a restart.
    pub oneshot: bool,
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
    /// The service's uid: a notify datagram from a sender already gone is
    /// taken when it has this uid.
    pub uid: u32,
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

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The loop is ready: begin.
    Start,
    /// At the supervisor's start, the process an earlier supervisor of this
    /// directory started is still running: supervise it rather than start
    /// a second copy. `pgid`: its group as read; `spawned_pgid`: the
    /// group the earlier supervisor created.
    Adopted {
        pid: Pid,
        pgid: Pid,
        spawned_pgid: Pid,
        since: Instant,
    },
    /// From the socket.
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
    /// A signal to the supervisor (TERM, INT, HUP); `detached`: it has no
    /// terminal of its own.
    Signal {
        sig: Signal,
        detached: bool,
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
    /// The command could not be started: exec failed with this errno, or
    /// what comes before it did (`why`: an `env_file:` that cannot be
    /// read, naming file and line).
    SpawnFailed {
        errno: i32,
        why: Option<String>,
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
    /// A tracked process ended: reaped (its status known), or its pidfd
    /// said so (`how: None` when it was not our child). `group_alive`:
    /// members of the group [`State::exit_group`] names are still there;
    /// `seen_pgid`: the group it was in at its death; `oom_killed`: the
    /// OOM killer killed a process of the service's cgroup during the run.
    Exited {
        pid: Pid,
        how: Option<ExitHow>,
        group_alive: bool,
        seen_pgid: Option<Pid>,
        oom_killed: bool,
    },
    FinishSpawned {
        pid: Pid,
    },
    /// No `./finish`, or it could not start.
    FinishFailed,
    /// `restart` re-read the configuration: it applies at the next start.
    Reconfigured(Box<Policy>),
    /// The service is down for good and the supervisor exits with `code`
    /// once this logger has read everything and ended (runsv's `x` with a
    /// `log/`): no restart, no signal.
    Drain {
        code: i32,
    },
    /// A line on the notification fd (s6).
    Notified(Notice),
    /// The notification fd was closed without a line.
    NotifyClosed,
    /// An sd_notify datagram: who sent it (None: no credentials), what
    /// it says, and the process its `MAINPID=` names.
    Datagram {
        from: Option<Sender>,
        notices: Vec<Notice>,
        status: Option<String>,
        main_pid: Option<Named>,
    },
    /// The answer to [`Action::Probe`]: passed or not, with what it said.
    Probed {
        ok: bool,
        output: String,
    },
}

/// What `/events` streams: the table's transitions, as they happen.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new process of the command was started.
    Start {
        pid: Pid,
    },
    /// The service runs (started, adopted, followed).
    Up {
        pid: Option<Pid>,
    },
    Ready {
        pid: Option<Pid>,
        after: Option<Duration>,
    },
    /// A health check's verdict: every failure (`failures`: this many of
    /// the allowed in a row), and a pass after none or a failure.
    Health {
        healthy: bool,
        output: Option<String>,
        failures: Option<(u32, u32)>,
    },
    /// Its main process ended (or could not start).
    Exit {
        pid: Option<Pid>,
        how: Option<ExitHow>,
        uptime: Duration,
        reason: String,
    },
    /// A start is decided: in `after` (0: at once), why.
    Restart {
        after: Duration,
        backoff: Option<Duration>,
        reason: String,
    },
    /// Down: the whole process group is gone.
    Down {
        pid: Option<Pid>,
    },
    /// Down for good.
    Failed {
        reason: Option<String>,
    },
    /// A one-shot service ran to completion.
    Done {
        pid: Option<Pid>,
    },
}

#[derive(Debug, Clone, PartialEq)]
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
    Kill(Whom, Signal),
    /// Run the `post_exit` hook with this code.
    PostExit(i32),
    /// Run `./finish CODE SIGNAL` (runit's arguments; answer:
    /// `FinishSpawned` or `FinishFailed`).
    SpawnFinish {
        code: i32,
        signal: i32,
    },
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
    /// Tell the operator (log line); `Warn`: something is wrong.
    Note(String),
    Warn(String),
    /// The supervisor exits with this status.
    Exit(i32),
    /// The supervisor exits with this status once the `log/` unit has read
    /// everything: close the pipe to it and send it [`Event::Drain`].
    Drain(i32),
    /// Run the readiness or health probe (answer: `Probed`).
    Probe(ProbeFor),
    /// Stream this to `/events`.
    Tell(Change),
}

/// What the last run left: the throttle counts from its start, the status
/// shows its pid while down, its group is stopped before the next start,
/// the adoption record names the group it was started in, and its end is
/// the reason shown while down.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Last {
    pub start: Option<Instant>,
    pub pid: Option<Pid>,
    /// Its process group, while it may still have members.
    pub group: Option<Group>,
    /// The process group the supervisor created at the last start.
    pub spawned_pgid: Option<Pid>,
    pub end: Option<End>,
}

/// How the last run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    pub how: Option<ExitHow>,
    pub cause: Cause,
    /// A failure by the restart policy (`restart.success`, the signals
    /// the supervisor sent, a stop that was asked for).
    pub failed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    Exited,
    ExecFailed(i32),
    /// What comes before the exec failed (`env_file /x:3: missing '='`).
    StartFailed(String),
    OomKilled,
    /// Stopped as failed (not ready in time, health, watchdog).
    Unhealthy(String),
    Unknown,
}

impl End {
    /// `exit 1`, `exec failed: …`, `killed by the OOM killer`.
    pub fn text(&self) -> String {
        match (&self.cause, self.how) {
            (Cause::ExecFailed(errno), _) => exec_failed(*errno),
            (Cause::StartFailed(why), _) => why.clone(),
            (Cause::Unhealthy(why), _) => why.clone(),
            (Cause::OomKilled, _) => OOM_KILLED.into(),
            (Cause::Unknown, _) | (Cause::Exited, None) => EXIT_UNKNOWN.into(),
            (Cause::Exited, Some(how)) => describe_exit(how),
        }
    }
}

/// Counters kept across runs: the backoff's exponent, the breaker's
/// window, and what metrics count.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tally {
    /// Starts so far (Go's `count`).
    pub count: u64,
    /// Some start of the command ever succeeded (or a process was followed
    /// or adopted): when retries run out without that, the supervisor's
    /// exit status says it failed.
    pub ever_ran: bool,
    /// Consecutive failures (reset by a run of `restart.reset_after`, a
    /// success, or an operator's start).
    pub failures: u32,
    /// When the recent failures happened, for the breaker's window.
    pub failure_times: VecDeque<Instant>,
    pub failures_total: u64,
    /// Exits of a main process so far, by exit code and by signal; of
    /// those, exits the OOM killer caused.
    pub code_exits: u64,
    pub signal_exits: u64,
    pub oom_exits: u64,
}

/// runit's `control/<letter>`: while one runs, the next control bytes
/// wait for its verdict. Orthogonal to the phase: a script may run in any.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Control {
    #[default]
    Idle,
    Running {
        byte: u8,
        cmd: Command,
        queued: VecDeque<(u8, Command)>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub want: Want,
    pub phase: Phase,
    pub policy: Policy,
    /// A configuration re-read by `restart`, applied at the next start
    /// (None: nothing pending).
    pub next_policy: Option<Policy>,
    pub last: Last,
    pub tally: Tally,
    /// The last [`HISTORY`] exits, newest first.
    pub history: VecDeque<ExitRecord>,
    /// When what readers see (run, down, finish) last changed.
    pub changed: Instant,
    pub control: Control,
    /// A datagram from outside the service was refused and said so: once,
    /// not once per datagram (a flood must not flood the log).
    pub refusal_said: bool,
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
            phase: Phase::Down { note: None },
            rng: policy.jitter_seed | 1,
            policy,
            next_policy: None,
            last: Last::default(),
            tally: Tally::default(),
            history: VecDeque::new(),
            changed: now,
            control: Control::Idle,
            refusal_said: false,
        }
    }

    /// The pure transition: the state after `event` at `now`, and what the
    /// loop must do.
    pub fn step(&self, event: Event, now: Instant) -> (State, Actions) {
        let mut next = self.clone();
        let mut acts = Vec::new();
        next.decide(event, now, &mut acts);
        (next, acts)
    }

    /// The next moment the loop must wake up for, if any.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Waiting { at, .. } => Some(*at),
            Phase::Stopping { kill_at, .. } | Phase::Finishing { kill_at, .. } => *kill_at,
            Phase::Running { live, .. } => {
                let ready_by = live.ready_by.filter(|_| live.ready_at.is_none());
                let probe = live.probe_at.filter(|_| !live.probing);
                [ready_by, live.watchdog_by, probe].into_iter().flatten().min()
            }
            Phase::Down { .. } | Phase::Asked(_) | Phase::Failed { .. } | Phase::Done { .. } => None,
        }
    }

    /// Readiness and health of the running process.
    pub fn live(&self) -> Option<&Live> {
        match &self.phase {
            Phase::Running { live, .. } => Some(live),
            Phase::Down { .. }
            | Phase::Waiting { .. }
            | Phase::Asked(_)
            | Phase::Stopping { .. }
            | Phase::Finishing { .. }
            | Phase::Failed { .. }
            | Phase::Done { .. } => None,
        }
    }

    /// Running and ready, or a one-shot done (what `require` and `-w …
    /// up` wait for).
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Done { .. }) || self.live().is_some_and(|l| l.ready_at.is_some())
    }

    /// With health checks: ready and the last check passed.
    pub fn is_healthy(&self) -> bool {
        self.live()
            .is_some_and(|l| l.ready_at.is_some() && l.health == Health::Passing)
    }

    /// The last failed health check's output, while it is the verdict.
    pub fn health_text(&self) -> Option<&str> {
        match self.live().map(|l| &l.health) {
            Some(Health::Failing { text, .. }) => Some(text),
            Some(Health::Unknown | Health::Passing) | None => None,
        }
    }

    /// How long the running process took to become ready.
    pub fn ready_in(&self) -> Option<Duration> {
        let main = self.main()?;
        Some(self.live()?.ready_at?.saturating_duration_since(main.since))
    }

    /// The main process, while there is one.
    pub fn main(&self) -> Option<Proc> {
        match &self.phase {
            Phase::Running { main, .. } => Some(*main),
            Phase::Stopping { main, .. } => *main,
            Phase::Down { .. }
            | Phase::Waiting { .. }
            | Phase::Asked(_)
            | Phase::Finishing { .. }
            | Phase::Failed { .. }
            | Phase::Done { .. } => None,
        }
    }

    /// The process signals go to, when one runs.
    pub fn main_pid(&self) -> Option<Pid> {
        self.main().map(|m| m.pid)
    }

    /// The process the supervisor waits for: the service, or `./finish`.
    pub fn tracked_pid(&self) -> Option<Pid> {
        match &self.phase {
            Phase::Finishing { pid, .. } => *pid,
            Phase::Down { .. }
            | Phase::Waiting { .. }
            | Phase::Asked(_)
            | Phase::Running { .. }
            | Phase::Stopping { .. }
            | Phase::Failed { .. }
            | Phase::Done { .. } => self.main_pid(),
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
        matches!(self.phase, Phase::Waiting { hold: true, .. })
    }

    /// Stopping, with the main process gone: the loop must report
    /// [`Event::GroupProbed`] when it may have emptied.
    pub fn awaits_group(&self) -> Option<Group> {
        match &self.phase {
            Phase::Stopping { main: None, group, .. } => Some(*group),
            Phase::Down { .. }
            | Phase::Waiting { .. }
            | Phase::Asked(_)
            | Phase::Running { .. }
            | Phase::Stopping { main: Some(_), .. }
            | Phase::Finishing { .. }
            | Phase::Failed { .. }
            | Phase::Done { .. } => None,
        }
    }

    /// The group to look at when `pid` has ended, seen in group `seen`:
    /// the main process's group (a followed one's read again).
    pub fn exit_group(&self, pid: Pid, seen: Option<Pid>) -> Option<Group> {
        let main = self.main().filter(|m| m.pid == pid)?;
        let mut group = main.group;
        if let (Origin::Followed, Some(seen)) = (main.origin, seen) {
            group.pgid = owned_group(pid, seen, self.last.spawned_pgid);
        }
        Some(group)
    }

    /// What `status`/`stat` report: run, down or finish.
    pub fn visible(&self) -> crate::status::RunState {
        use crate::status::RunState;
        match &self.phase {
            Phase::Running { .. } | Phase::Stopping { .. } | Phase::Asked(Ask::HandOver { .. }) => RunState::Run,
            Phase::Finishing { .. } => RunState::Finish,
            Phase::Down { .. }
            | Phase::Waiting { .. }
            | Phase::Asked(Ask::Spawn | Ask::PidFile | Ask::Leftovers(_))
            | Phase::Failed { .. }
            | Phase::Done { .. } => RunState::Down,
        }
    }

    /// The status record for this state, the last change dated `since`.
    pub fn record(&self, since: std::time::SystemTime) -> crate::status::Status {
        use crate::status::Wanted;
        let term_sent = match &self.phase {
            Phase::Running { term_sent, .. } => *term_sent,
            Phase::Stopping { .. } => true,
            Phase::Down { .. }
            | Phase::Waiting { .. }
            | Phase::Asked(_)
            | Phase::Finishing { .. }
            | Phase::Failed { .. }
            | Phase::Done { .. } => false,
        };
        crate::status::Status {
            since,
            pid: self.tracked_pid().map_or(0, |p| p.as_raw() as u32),
            paused: self.main().is_some_and(|m| m.paused),
            want: match self.want {
                Want::Exit(_) => Wanted::Exit,
                Want::Up => Wanted::Up,
                Want::Down | Want::Once => Wanted::Down,
            },
            term_sent,
            state: self.visible(),
        }
    }

    /// Why the service is not running (None while it runs).
    pub fn reason(&self, now: Instant) -> Option<String> {
        let last = self.last.end.as_ref().map(End::text);
        match &self.phase {
            Phase::Running { .. } | Phase::Stopping { .. } | Phase::Asked(Ask::HandOver { .. }) => None,
            Phase::Asked(Ask::Spawn | Ask::PidFile | Ask::Leftovers(_)) => Some("starting".into()),
            Phase::Finishing { .. } => Some("./finish is running".into()),
            Phase::Waiting { at, backoff, .. } => {
                let secs = at.saturating_duration_since(now).as_secs_f64();
                let backoff = match backoff {
                    Some(_) => format!(" (backoff, {} failures)", self.tally.failures),
                    None => String::new(),
                };
                Some(match last {
                    Some(last) => format!("{last}; restarting in {secs:.1}s{backoff}"),
                    None => format!("starting in {secs:.1}s"),
                })
            }
            Phase::Failed { why } => {
                let last = last.map(|l| format!("; last: {l}")).unwrap_or_default();
                Some(match why {
                    Failure::Breaker { count, within } => {
                        format!("failed: {count} failures within {}{last}", seconds(*within))
                    }
                    Failure::Retries(n) => format!("failed: retries ({n}) exhausted{last}"),
                    Failure::Finish => format!("failed: ./finish exited {FINISH_PERMANENT_FAILURE}{last}"),
                })
            }
            // Ran to completion (immortalctl's row says ` - done`).
            Phase::Done { .. } => Some("done".into()),
            Phase::Down { note } => Some(match (note, last) {
                (Some(note), Some(last)) => format!("{last}; {note}"),
                (None, Some(last)) if matches!(self.want, Want::Up | Want::Once) => last,
                (None, Some(_)) | (Some(_), None) | (None, None) => "wanted down".into(),
            }),
        }
    }
}

/// The group to signal for a process `pid` found in group `pgid`: that
/// group only if the supervisor may own it — the process leads it (a
/// daemon's `setsid`) or it is the group created at the last start;
/// otherwise the process alone (a group of `pid` that does not exist falls
/// back to the pid itself: see [`Whom::Group`]).
pub fn owned_group(pid: Pid, pgid: Pid, spawned: Option<Pid>) -> Pid {
    if pgid == pid || Some(pgid) == spawned {
        pgid
    } else {
        pid
    }
}

/// How long the run that is ending was ready (`restart.reset_after`
/// counts ready uptime: a service that never became ready keeps its
/// backoff however long it ran).
fn ready_uptime(ready_at: Option<Instant>, now: Instant) -> Duration {
    ready_at.map_or(Duration::ZERO, |at| now.saturating_duration_since(at))
}

/// The code `post_exit` gets: the exit code, 128 + a signal, -1 unknown.
fn exit_code(how: Option<ExitHow>) -> i32 {
    how.map_or(-1, ExitHow::code)
}

/// `exec failed: No such file or directory`.
fn exec_failed(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    format!("exec failed: {}", text.split(" (os error").next().unwrap_or_default())
}

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

mod steps;
mod table;

#[cfg(test)]
pub(crate) mod tests;
