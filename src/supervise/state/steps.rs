//! The steps the table's cells share: entering a phase (and telling
//! `/events` what readers see change), an exit's accounting, the restart
//! policy, stops, readiness and health.

use super::*;

// The cells' shared steps. Each takes the next state being computed and
// appends its actions; the phase changes only through `enter` (which tells
// `/events` what readers see change) or in place within one phase.
impl State {
    /// Enter `phase`: the state-change time moves, and `up`/`down` are
    /// told, only when what readers see (run, down, finish) changes.
    pub(super) fn enter(&mut self, phase: Phase, now: Instant, acts: &mut Actions) {
        use crate::status::RunState;
        let (before, old_main) = (self.visible(), self.main_pid());
        self.phase = phase;
        let after = self.visible();
        if after == before {
            return;
        }
        self.changed = now;
        match after {
            RunState::Down => acts.push(Action::Tell(Change::Down {
                pid: old_main.or(self.last.pid),
            })),
            RunState::Run => acts.push(Action::Tell(Change::Up { pid: self.main_pid() })),
            RunState::Finish => {}
        }
    }

    pub(super) fn running(&self, main: Proc, live: Live) -> Phase {
        Phase::Running {
            main,
            live,
            term_sent: false,
        }
    }

    /// Follow the pid file's (or `MAINPID=`'s) process `c`, running since
    /// `since`.
    pub(super) fn follow(&mut self, c: Candidate, since: Instant, live: Live, now: Instant, acts: &mut Actions) {
        let group = Group {
            pgid: owned_group(c.pid, c.pgid, self.last.spawned_pgid),
            // Someone else reaps it and its group: zombies are not members.
            foreign: !c.our_child,
        };
        self.tally.ever_ran = true;
        self.last.pid = Some(c.pid);
        self.last.group = Some(group);
        let main = Proc {
            pid: c.pid,
            group,
            origin: Origin::Followed,
            since,
            paused: false,
            signalled: 0,
        };
        self.enter(self.running(main, live), now, acts);
    }

    /// `MAINPID=`: followed if it names a live process of the service (its
    /// group or a descendant of the main process), as a pid file's would,
    /// keeping the start time and the readiness of this run.
    pub(super) fn main_pid_named(&mut self, named: Named, now: Instant, acts: &mut Actions) {
        let Phase::Running { main, live, .. } = self.phase.clone() else {
            return;
        };
        let pid = named.pid;
        match named.found {
            None => acts.push(Action::Warn(format!("MAINPID={pid}: no such process, ignored"))),
            Some(c) if c.pgid != main.group.pgid && !named.descends => acts.push(Action::Warn(format!(
                "MAINPID={pid}: not a process of the service, ignored"
            ))),
            Some(_) if pid == main.pid => {}
            Some(c) => {
                acts.push(Action::Note(format!(
                    "MAINPID={}: following it instead of pid {}",
                    c.pid, main.pid
                )));
                self.follow(c, main.since, live, now, acts);
            }
        }
    }

    /// A followed process's group, read again.
    pub(super) fn regroup(&mut self, pid: Pid, pgid: Pid) {
        let owned = owned_group(pid, pgid, self.last.spawned_pgid);
        let regrouped = |m: &mut Proc| {
            let ours = m.pid == pid && m.origin == Origin::Followed;
            if ours {
                m.group.pgid = owned;
            }
            ours
        };
        let changed = match &mut self.phase {
            Phase::Running { main, .. } => regrouped(main),
            Phase::Stopping {
                main: Some(main),
                group,
                ..
            } => {
                let changed = regrouped(main);
                if changed {
                    group.pgid = owned;
                }
                changed
            }
            Phase::Down { .. }
            | Phase::Waiting { .. }
            | Phase::Asked(_)
            | Phase::Stopping { main: None, .. }
            | Phase::Finishing { .. }
            | Phase::Failed { .. }
            | Phase::Done { .. } => false,
        };
        if let (true, Some(g)) = (changed, &mut self.last.group) {
            g.pgid = owned;
        }
    }

    pub(super) fn regroup_seen(&mut self, pid: Pid, seen: Option<Pid>) {
        if let Some(pgid) = seen {
            self.regroup(pid, pgid);
        }
    }

    /// `pid 42 ended: exit code 1, up 3.2s`.
    pub(super) fn ended_note(&self, main: Proc, how: Option<ExitHow>, oom_killed: bool, now: Instant) -> Action {
        let up = crate::api::since(now.saturating_duration_since(main.since));
        let told = how.map_or(EXIT_UNKNOWN.to_string(), |h| h.to_string());
        let oom = if oom_killed { " (killed by the OOM killer)" } else { "" };
        let pid = main.pid;
        // A logger is restarted unless the supervisor is on its way out.
        let again = match self.want {
            Want::Exit(_) => "not restarting: the supervisor exits",
            Want::Down | Want::Once => "not restarting",
            Want::Up => "starting it again",
        };
        Action::Note(match self.policy.role {
            Role::Logger => format!("logger (pid {pid}) ended: {told}, up {up}; {again}"),
            Role::Service | Role::Log => format!("pid {pid} ended: {told}{oom}, up {up}"),
        })
    }

    /// The main process ended by itself (no hand-over): count it, then
    /// `post_exit`, `./finish`, and the restart policy.
    pub(super) fn main_ended(
        &mut self,
        main: Proc,
        ending: Ending,
        ready_at: Option<Instant>,
        hold: Option<Instant>,
        now: Instant,
        acts: &mut Actions,
    ) {
        if !self.policy.follows_pidfile {
            acts.push(self.ended_note(main, ending.how, ending.oom_killed, now));
        }
        // Unknown is a failure: nobody asked for this exit.
        let failed = match ending.how {
            _ if ending.oom_killed => true,
            None => true,
            Some(ExitHow::Code(code)) => !self.policy.restart.success.contains(code),
            Some(ExitHow::Signal(sig)) => !main.was_signalled(sig),
        };
        let (cause, verdict) = match ending.how {
            _ if ending.oom_killed => (Cause::OomKilled, OOM_KILLED),
            None => (Cause::Unknown, EXIT_UNKNOWN),
            Some(_) if failed => (Cause::Exited, "failure"),
            Some(ExitHow::Signal(_)) => (Cause::Exited, "signalled by the supervisor"),
            Some(ExitHow::Code(_)) => (Cause::Exited, "success"),
        };
        let ready_for = ready_uptime(ready_at, now);
        if failed {
            self.count_failure(ready_for, now);
        } else {
            self.tally.failures = 0;
        }
        let uptime = now.saturating_duration_since(main.since);
        self.tally_exit(ending.how, ending.oom_killed);
        let end = End {
            how: ending.how,
            cause,
            failed,
        };
        self.record_end(Some(main.pid), uptime, end, verdict.into(), now, acts);
        if !ending.group_alive {
            self.last.group = None;
        }
        acts.push(Action::PostExit(exit_code(ending.how)));
        self.after_run(Next::Policy { hold }, now, acts);
    }

    /// A failure: it adds to the backoff (unless the run was ready for
    /// `reset_after`) and to the breaker's window.
    pub(super) fn count_failure(&mut self, ready_for: Duration, now: Instant) {
        let t = &mut self.tally;
        if ready_for >= self.policy.restart.reset_after {
            t.failures = 0;
        }
        t.failures = t.failures.saturating_add(1);
        t.failures_total += 1;
        t.failure_times.push_back(now);
        let keep = self.policy.restart.limit.map_or(0, |(count, _)| count as usize);
        while t.failure_times.len() > keep {
            t.failure_times.pop_front();
        }
    }

    pub(super) fn tally_exit(&mut self, how: Option<ExitHow>, oom_killed: bool) {
        match how {
            Some(ExitHow::Code(_)) => self.tally.code_exits += 1,
            Some(ExitHow::Signal(_)) => self.tally.signal_exits += 1,
            None => {}
        }
        if oom_killed {
            self.tally.oom_exits += 1;
        }
    }

    /// The run ended as `end`: remembered for the status, `/history` and
    /// `/events`.
    pub(super) fn record_end(
        &mut self,
        pid: Option<Pid>,
        uptime: Duration,
        end: End,
        reason: String,
        now: Instant,
        acts: &mut Actions,
    ) {
        acts.push(Action::Tell(Change::Exit {
            pid,
            how: end.how,
            uptime,
            reason: reason.clone(),
        }));
        self.history.push_front(ExitRecord {
            at: now,
            pid,
            uptime,
            how: end.how,
            reason,
        });
        self.history.truncate(HISTORY);
        self.last.end = Some(end);
    }

    /// The breaker's verdict on the failures so far.
    pub(super) fn breaker(&self, now: Instant) -> Option<Failure> {
        let (count, within) = self.policy.restart.limit?;
        let recent = self
            .tally
            .failure_times
            .iter()
            .filter(|&&t| now.saturating_duration_since(t) <= within)
            .count();
        (recent >= count as usize).then_some(Failure::Breaker { count, within })
    }

    /// An operator starts it: the backoff and the breaker begin anew.
    pub(super) fn reset_backoff(&mut self) {
        self.tally.failures = 0;
        self.tally.failure_times.clear();
    }

    /// How the supervisor leaves: at once, or once `log/` has read
    /// everything.
    pub(super) fn exit_action(&self, code: i32) -> Action {
        if self.policy.has_log && self.policy.role == Role::Service {
            Action::Drain(code)
        } else {
            Action::Exit(code)
        }
    }

    /// Failed for good. What the last group left goes first; then the
    /// phase says `failed`, and an essential service's supervisor exits.
    pub(super) fn fail(&mut self, why: Failure, now: Instant, acts: &mut Actions) {
        if let Some(group) = self.last.group {
            self.enter(Phase::Asked(Ask::Leftovers(AfterStop::Fail(why))), now, acts);
            acts.push(Action::ProbeGroup(group));
            return;
        }
        self.enter(Phase::Failed { why }, now, acts);
        acts.push(Action::Tell(Change::Failed {
            reason: self.reason(now),
        }));
        if let Failure::Retries(_) = why {
            self.want = self.want.unless_exiting(Want::Down);
        }
        if self.policy.essential && self.policy.role == Role::Service {
            self.want = Want::Exit(EXIT_ESSENTIAL_FAILED);
            acts.push(Action::Note(format!(
                "essential service failed: the supervisor exits {EXIT_ESSENTIAL_FAILED}"
            )));
            acts.push(self.exit_action(EXIT_ESSENTIAL_FAILED));
        } else if let (Failure::Retries(_), true) = (why, self.policy.may_exit) {
            // A command that never ran at all is a failure.
            acts.push(self.exit_action(if self.tally.ever_ran { 0 } else { 1 }));
        }
    }

    /// The main process (and its group, unless leftovers are still being
    /// stopped) is gone: run `./finish` if there may be one, then `next`.
    pub(super) fn after_run(&mut self, next: Next, now: Instant, acts: &mut Actions) {
        if self.policy.service_dir {
            let (code, signal) = match self.last.end.as_ref().and_then(|e| e.how) {
                Some(ExitHow::Code(c)) => (c, 0),
                Some(ExitHow::Signal(s)) => (-1, s),
                None => (-1, 0),
            };
            self.enter(
                Phase::Finishing {
                    pid: None,
                    kill_at: None,
                    next,
                },
                now,
                acts,
            );
            acts.push(Action::SpawnFinish { code, signal });
            return;
        }
        self.settle(next, now, acts);
    }

    /// Down, then what follows: the restart policy, or what the stop was
    /// for.
    pub(super) fn settle(&mut self, next: Next, now: Instant, acts: &mut Actions) {
        self.enter(Phase::Down { note: None }, now, acts);
        match next {
            Next::Policy { hold } => self.after_exit(hold, now, acts),
            Next::Stop(then) => self.stopped(then, now, acts),
        }
    }

    /// The stop is complete: the group is gone.
    pub(super) fn stopped(&mut self, then: AfterStop, now: Instant, acts: &mut Actions) {
        match then {
            AfterStop::Down(note) => self.enter(Phase::Down { note }, now, acts),
            AfterStop::Start => self.start(now, "restart", acts),
            AfterStop::Exit(code) => {
                self.enter(Phase::Down { note: None }, now, acts);
                acts.push(self.exit_action(code));
            }
            AfterStop::Fail(why) => self.fail(why, now, acts),
            AfterStop::Unhealthy(_) => self.after_exit(None, now, acts),
        }
    }

    /// Stay down with `note`; what the last run left in its group goes
    /// now, not at some later start.
    pub(super) fn rest(&mut self, note: Option<&'static str>, now: Instant, acts: &mut Actions) {
        match self.last.group {
            Some(group) => self.stop_leftovers(group, AfterStop::Down(note), now, acts),
            None => self.enter(Phase::Down { note }, now, acts),
        }
    }

    /// Decide what follows an exit the operator did not ask for.
    pub(super) fn after_exit(&mut self, hold: Option<Instant>, now: Instant, acts: &mut Actions) {
        match self.want {
            Want::Down => self.rest(None, now, acts),
            Want::Exit(code) => {
                self.enter(Phase::Down { note: None }, now, acts);
                acts.push(self.exit_action(code));
            }
            Want::Once => {
                self.want = Want::Down;
                self.rest(Some("ran once"), now, acts);
            }
            Want::Up if self.policy.oneshot && self.last.end.as_ref().is_some_and(|e| !e.failed) => {
                // A one-shot ran to completion: done, ready for what
                // requires it. What it left in its group stays until the
                // next start or a `down`.
                let pid = self.last.pid;
                self.enter(Phase::Done { at: now }, now, acts);
                acts.push(Action::Tell(Change::Done { pid }));
                acts.push(Action::Note("ran to completion: done".into()));
            }
            Want::Up => {
                let restart = self.policy.restart;
                let failed = self.last.end.as_ref().is_some_and(|e| e.failed);
                let no_restart = match restart.when {
                    RestartWhen::Never => Some("restart: never"),
                    RestartWhen::OnFailure if !failed => Some("a success (restart: on-failure)"),
                    RestartWhen::OnFailure | RestartWhen::Always => None,
                };
                if let Some(note) = no_restart {
                    self.want = Want::Down;
                    acts.push(Action::Note(format!("not restarting: {note}")));
                    self.rest(Some(note), now, acts);
                    return;
                }
                if let Some(why) = self.breaker(now).filter(|_| failed) {
                    acts.push(Action::Note(format!(
                        "{} failures within {}: failed, not restarting",
                        self.tally.failure_times.len(),
                        seconds(restart.limit.map_or(Duration::ZERO, |(_, w)| w))
                    )));
                    self.fail(why, now, acts);
                    return;
                }
                let retries = self.policy.retries;
                if retries >= 0 && self.tally.count > retries as u64 {
                    acts.push(Action::Note(format!(
                        "started {} times, retries ({retries}) exhausted: not restarting",
                        self.tally.count
                    )));
                    self.fail(Failure::Retries(retries), now, acts);
                    return;
                }
                self.restart_after_failure(hold, now, acts);
            }
        }
    }

    /// When the next start may happen: after `wait`, after `hold`, and at
    /// least the throttle after the previous start.
    pub(super) fn start_at(&self, hold: Option<Instant>, now: Instant) -> Instant {
        let after_wait = later(now, self.policy.wait).max(hold.unwrap_or(now));
        match self.last.start {
            Some(last) => after_wait.max(later(last, self.policy.throttle)),
            None => after_wait,
        }
    }

    /// An operator's (or the first) start: after `wait` and the throttle.
    pub(super) fn start(&mut self, now: Instant, reason: &str, acts: &mut Actions) {
        let at = self.start_at(None, now);
        if at <= now {
            self.begin_start(now, acts);
        } else {
            self.enter(
                Phase::Waiting {
                    at,
                    backoff: None,
                    hold: false,
                },
                now,
                acts,
            );
            acts.push(Action::Tell(Change::Restart {
                after: at.saturating_duration_since(now),
                backoff: None,
                reason: reason.into(),
            }));
        }
    }

    /// The restart policy's start after an exit. With backoff on
    /// (`max_delay` above `delay`): from the second consecutive failure
    /// on, wait delay × factor^(n−1) after the exit, at most `max_delay`,
    /// ±10 % so that many services failing together do not restart
    /// together.
    pub(super) fn restart_after_failure(&mut self, hold: Option<Instant>, now: Instant, acts: &mut Actions) {
        let restart = self.policy.restart;
        let base = self.policy.throttle;
        let mut at = self.start_at(hold, now);
        let failed = self.last.end.as_ref().is_some_and(|e| e.failed);
        let mut backoff = None;
        if let Some(max) = restart.max_delay.filter(|&m| m > base) {
            if failed && self.tally.failures >= 2 {
                let exponent = i32::try_from(self.tally.failures - 1).unwrap_or(i32::MAX);
                let wait = (base.as_secs_f64() * restart.factor.powi(exponent)).min(max.as_secs_f64());
                let wait = wait * (0.9 + 0.2 * self.random());
                let wait = Duration::try_from_secs_f64(wait).unwrap_or(max);
                backoff = Some(wait);
                at = at.max(later(now, wait));
            }
        }
        let reason = self.last.end.as_ref().map_or_else(|| "exit".to_string(), End::text);
        if at > now {
            self.enter(
                Phase::Waiting {
                    at,
                    backoff,
                    hold: hold.is_some(),
                },
                now,
                acts,
            );
        }
        acts.push(Action::Tell(Change::Restart {
            after: at.saturating_duration_since(now),
            backoff,
            reason,
        }));
        if at <= now {
            self.begin_start(now, acts);
        }
    }

    /// A number in [0, 1) from the state's own generator (xorshift64*).
    pub(super) fn random(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A start is due. A restart of a pid-file service looks at the pid
    /// file first (its daemon may be up already: follow it rather than
    /// start a second copy), then at what the last group left behind.
    pub(super) fn begin_start(&mut self, now: Instant, acts: &mut Actions) {
        if self.tally.count > 0 && self.policy.follows_pidfile {
            self.enter(Phase::Asked(Ask::PidFile), now, acts);
            acts.push(Action::ReadPidFile {
                exited: self.last.pid.unwrap_or(Pid::from_raw(0)),
                watch: false,
            });
            return;
        }
        self.spawn_after_leftovers(now, acts);
    }

    pub(super) fn spawn_after_leftovers(&mut self, now: Instant, acts: &mut Actions) {
        match self.last.group {
            Some(group) if self.tally.count > 0 => {
                self.enter(Phase::Asked(Ask::Leftovers(AfterStop::Start)), now, acts);
                acts.push(Action::ProbeGroup(group));
            }
            Some(_) | None => {
                if let Some(policy) = self.next_policy.take() {
                    self.policy = policy;
                }
                self.enter(Phase::Asked(Ask::Spawn), now, acts);
                acts.push(Action::Spawn);
            }
        }
    }

    /// The last group had no members left: carry on with `then`.
    pub(super) fn leftovers_gone(&mut self, then: AfterStop, now: Instant, acts: &mut Actions) {
        self.last.group = None;
        match then {
            AfterStop::Start => self.spawn_after_leftovers(now, acts),
            AfterStop::Down(_) | AfterStop::Exit(_) | AfterStop::Fail(_) | AfterStop::Unhealthy(_) => {
                self.enter(Phase::Down { note: None }, now, acts);
                self.stopped(then, now, acts);
            }
        }
    }

    /// Members of the last process group outlived its main process
    /// (children the service left behind; a followed daemon's workers after
    /// `kill -9` of the master): stop them before a new start, or before
    /// saying the service is down — never two generations at once.
    pub(super) fn stop_leftovers(&mut self, group: Group, then: AfterStop, now: Instant, acts: &mut Actions) {
        let pgid = group.pgid;
        self.phase = Phase::Stopping {
            main: None,
            group,
            since: now,
            sent: now,
            kill_at: self.policy.stop.timeout.map(|t| later(now, t)),
            killed: false,
            then,
            ready_at: None,
        };
        acts.push(Action::Note(format!(
            "process group {pgid} outlived its main process: stopping it first"
        )));
        acts.push(Action::Kill(Whom::Service(pgid), self.policy.stop.signal));
        acts.push(Action::Kill(Whom::Service(pgid), Signal::SIGCONT));
    }

    /// One control-FIFO byte. While a `control/<letter>` script runs, the
    /// next bytes wait for its verdict.
    pub(super) fn control_byte(&mut self, byte: u8, cmd: Command, now: Instant, acts: &mut Actions) {
        if let Control::Running { queued, .. } = &mut self.control {
            queued.push_back((byte, cmd));
            return;
        }
        let role = self.policy.role;
        if byte == b'x' && role != Role::Service {
            return; // runsv: exit is for the service, not its logger
        }
        acts.push(Action::Note(format!("control '{}'", byte as char)));
        if self.policy.service_dir {
            // s6's D and U also make the choice permanent.
            if let Some(down) = [(b'D', true), (b'U', false)].iter().find(|(b, _)| *b == byte) {
                acts.push(Action::DownFile(down.1));
            }
            if role == Role::Service {
                self.control = Control::Running {
                    byte,
                    cmd,
                    queued: VecDeque::new(),
                };
                acts.push(Action::RunControl {
                    byte,
                    main: self.main_pid(),
                });
                return;
            }
        }
        self.decide(Event::Command(cmd), now, acts);
    }

    /// Send `sig` to the main process; `paused`: what it does to pausing.
    pub(super) fn signal_main(&mut self, sig: Signal, paused: Option<bool>, acts: &mut Actions) {
        let mark = |main: &mut Proc| {
            if let Some(p) = paused {
                main.paused = p;
            }
            *main = main.signalled_with(sig);
            main.pid
        };
        let pid = match &mut self.phase {
            Phase::Running { main, term_sent, .. } => {
                if sig == Signal::SIGTERM {
                    *term_sent = true;
                }
                mark(main)
            }
            Phase::Stopping { main: Some(main), .. } => mark(main),
            Phase::Down { .. }
            | Phase::Waiting { .. }
            | Phase::Asked(_)
            | Phase::Stopping { main: None, .. }
            | Phase::Finishing { .. }
            | Phase::Failed { .. }
            | Phase::Done { .. } => {
                acts.push(Action::Refuse(NOT_RUNNING.into()));
                return;
            }
        };
        acts.push(Action::Kill(Whom::Process(pid), sig));
    }

    /// A `control/p` or `control/c` that did the job: the pause is
    /// recorded all the same.
    pub(super) fn mark_paused(&mut self, paused: bool) {
        match &mut self.phase {
            Phase::Running { main, .. } | Phase::Stopping { main: Some(main), .. } => main.paused = paused,
            Phase::Down { .. }
            | Phase::Waiting { .. }
            | Phase::Asked(_)
            | Phase::Stopping { main: None, .. }
            | Phase::Finishing { .. }
            | Phase::Failed { .. }
            | Phase::Done { .. } => {}
        }
    }

    /// The stop signal then CONT (so a paused process sees it), to the
    /// group or to the main process as configured.
    pub(super) fn stop_signals(&self, main: Proc, acts: &mut Actions) -> Proc {
        let whom = if self.policy.stop.group {
            Whom::Service(main.group.pgid)
        } else {
            Whom::Process(main.pid)
        };
        acts.push(Action::Kill(whom, self.policy.stop.signal));
        acts.push(Action::Kill(whom, Signal::SIGCONT));
        main.signalled_with(self.policy.stop.signal)
            .signalled_with(Signal::SIGCONT)
    }

    pub(super) fn stop(&mut self, then: AfterStop, now: Instant, acts: &mut Actions) {
        match self.phase.clone() {
            Phase::Running { main, live, .. } => {
                let main = self.stop_signals(main, acts);
                self.phase = Phase::Stopping {
                    main: Some(Proc { paused: false, ..main }),
                    group: main.group,
                    since: main.since,
                    sent: now,
                    kill_at: self.policy.stop.timeout.map(|t| later(now, t)),
                    killed: false,
                    then,
                    ready_at: live.ready_at,
                };
            }
            Phase::Stopping { .. } | Phase::Finishing { .. } => self.redirect_stop(then),
            Phase::Waiting { .. } | Phase::Down { .. } | Phase::Failed { .. } | Phase::Done { .. } => {
                match self.last.group {
                    // What the last run left behind goes before "down".
                    Some(group) => {
                        self.enter(Phase::Asked(Ask::Leftovers(then)), now, acts);
                        acts.push(Action::ProbeGroup(group));
                    }
                    None => {
                        self.enter(Phase::Down { note: None }, now, acts);
                        self.stopped(then, now, acts);
                    }
                }
            }
            Phase::Asked(_) => acts.push(Action::Refuse(BUSY.into())),
        }
    }

    /// Change what a stop in progress leads to. An exit wins over anything
    /// else, never the reverse.
    pub(super) fn redirect_stop(&mut self, next: AfterStop) {
        let exiting = |then: &AfterStop| matches!(then, AfterStop::Exit(_));
        match &mut self.phase {
            Phase::Stopping { then, .. } | Phase::Asked(Ask::Leftovers(then)) if !exiting(then) => *then = next,
            Phase::Finishing { next: then, .. } if !matches!(then, Next::Stop(AfterStop::Exit(_))) => {
                *then = Next::Stop(next)
            }
            Phase::Down { .. }
            | Phase::Waiting { .. }
            | Phase::Asked(_)
            | Phase::Running { .. }
            | Phase::Stopping { .. }
            | Phase::Finishing { .. }
            | Phase::Failed { .. }
            | Phase::Done { .. } => {}
        }
    }

    // ------------------------------------------------ readiness and health

    /// A process we started runs: readiness and health begin. Ready at
    /// once without a method; a readiness probe runs at once; the health
    /// probes and the watchdog start with readiness.
    pub(super) fn live_begins(&mut self, now: Instant, acts: &mut Actions) {
        let ready_by = self.policy.ready_timeout.map(|t| later(now, t));
        if self.policy.oneshot {
            // A one-shot is ready when it is done, not while it runs: what
            // requires it waits for its end.
            return;
        }
        match self.policy.ready {
            ReadyKind::Up => self.become_ready(now, false, acts),
            ReadyKind::Probe => self.with_live(|l| {
                l.ready_by = ready_by;
                l.probe_at = Some(now);
            }),
            ReadyKind::Told => self.with_live(|l| l.ready_by = ready_by),
        }
    }

    /// A process already running when we took it over (adopted after our
    /// own restart, or a daemon the pid file names): it told an earlier
    /// supervisor, or nobody, that it was ready. A readiness probe asks
    /// again; otherwise it is taken as ready.
    pub(super) fn live_taken_over(&mut self, now: Instant, acts: &mut Actions) {
        match self.policy.ready {
            ReadyKind::Probe => self.with_live(|l| l.probe_at = Some(now)),
            ReadyKind::Up | ReadyKind::Told => self.become_ready(now, false, acts),
        }
    }

    pub(super) fn with_live(&mut self, f: impl FnOnce(&mut Live)) {
        if let Phase::Running { live, .. } = &mut self.phase {
            f(live);
        }
    }

    pub(super) fn become_ready(&mut self, now: Instant, told: bool, acts: &mut Actions) {
        let health_at = self.policy.health.map(|(interval, _)| later(now, interval));
        let watchdog_by = self.policy.watchdog.map(|w| later(now, w));
        self.with_live(|l| {
            l.ready_at = Some(now);
            l.ready_by = None;
            l.probe_at = health_at;
            l.watchdog_by = watchdog_by;
        });
        let took = self.ready_in();
        acts.push(Action::Tell(Change::Ready {
            pid: self.main_pid(),
            after: took,
        }));
        if let (true, Some(took)) = (told, took) {
            acts.push(Action::Note(format!("ready after {:.3}s", took.as_secs_f64())));
        }
    }

    /// A deadline of the running service passed: `ready.timeout`, the
    /// watchdog, or the next probe.
    pub(super) fn live_timer(&mut self, main: Proc, live: Live, term_sent: bool, now: Instant, acts: &mut Actions) {
        if live.ready_at.is_none() && live.ready_by.is_some_and(|at| at <= now) {
            let limit = self.policy.ready_timeout.unwrap_or_default();
            return self.fail_running(format!("not ready within {}", seconds(limit)), now, acts);
        }
        if live.watchdog_by.is_some_and(|at| at <= now) {
            let every = self.policy.watchdog.unwrap_or_default();
            return self.fail_running(format!("watchdog: no WATCHDOG=1 within {}", seconds(every)), now, acts);
        }
        if !live.probing && live.probe_at.is_some_and(|at| at <= now) {
            let which = if live.ready_at.is_some() {
                ProbeFor::Health
            } else {
                ProbeFor::Ready
            };
            self.phase = Phase::Running {
                main,
                live: Live {
                    probing: true,
                    probe_at: None,
                    ..live
                },
                term_sent,
            };
            acts.push(Action::Probe(which));
        }
    }

    pub(super) fn notified(
        &mut self,
        main: Proc,
        live: Live,
        term_sent: bool,
        notice: Notice,
        now: Instant,
        acts: &mut Actions,
    ) {
        let told = self.policy.ready == ReadyKind::Told;
        match notice {
            Notice::Ready if told && live.ready_at.is_none() => self.become_ready(now, true, acts),
            Notice::Ready => {}
            Notice::Reloading if told && live.ready_at.is_some() => {
                self.phase = Phase::Running {
                    main,
                    live: Live { ready_at: None, ..live },
                    term_sent,
                };
                acts.push(Action::Note("reloading: not ready until READY=1".into()));
            }
            Notice::Reloading => {}
            Notice::Stopping => acts.push(Action::Note(format!("pid {} says it is stopping", main.pid))),
            Notice::Watchdog => {
                if let Some(w) = self.policy.watchdog {
                    self.with_live(|l| l.watchdog_by = Some(later(now, w)));
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn probed(
        &mut self,
        main: Proc,
        live: Live,
        term_sent: bool,
        ok: bool,
        output: String,
        now: Instant,
        acts: &mut Actions,
    ) {
        let mut live = Live { probing: false, ..live };
        if live.ready_at.is_none() {
            // A readiness probe: the first success makes it ready.
            let ready = ok;
            if !ready {
                live.probe_at = Some(later(now, self.policy.ready_interval));
            }
            self.phase = Phase::Running { main, live, term_sent };
            if ready {
                self.become_ready(now, true, acts);
            }
            return;
        }
        let Some((interval, limit)) = self.policy.health else {
            self.phase = Phase::Running { main, live, term_sent };
            return;
        };
        live.probe_at = Some(later(now, interval));
        if ok {
            if live.health != Health::Passing {
                acts.push(Action::Tell(Change::Health {
                    healthy: true,
                    output: None,
                    failures: None,
                }));
            }
            live.health = Health::Passing;
            self.phase = Phase::Running { main, live, term_sent };
            return;
        }
        let count = match &live.health {
            Health::Failing { count, .. } => count + 1,
            Health::Unknown | Health::Passing => 1,
        };
        let text = if output.is_empty() {
            "failed".to_string()
        } else {
            output
        };
        live.health = Health::Failing {
            text: text.clone(),
            count,
        };
        acts.push(Action::Tell(Change::Health {
            healthy: false,
            output: Some(text.clone()),
            failures: Some((count, limit)),
        }));
        self.phase = Phase::Running { main, live, term_sent };
        if count >= limit {
            return self.fail_running(format!("health check failed {count} times: {text}"), now, acts);
        }
        acts.push(Action::Note(format!(
            "pid {}: health check failed ({count} of {limit}): {text}",
            main.pid
        )));
    }

    /// The running service failed (not ready in time, unhealthy, watchdog):
    /// stopped as for `down`, then the exit counts as a failure and the
    /// restart policy decides.
    pub(super) fn fail_running(&mut self, why: String, now: Instant, acts: &mut Actions) {
        acts.push(Action::Note(format!("{why}: restarting the service")));
        self.stop(AfterStop::Unhealthy(why), now, acts);
    }
}
