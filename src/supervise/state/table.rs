//! The table: every (phase, event) cell of [`State::step`], in one
//! `match` with no wildcard in either position. Each arm computes the
//! next state and appends the loop's actions; what several cells share is
//! in `steps.rs`.

use super::*;

impl State {
    /// The table: every (phase, event) cell. Each arm computes the next
    /// state in `self` and appends the loop's actions.
    pub(super) fn decide(&mut self, event: Event, now: Instant, acts: &mut Actions) {
        use Command as C;
        use Event as E;
        use Phase as P;
        match (self.phase.clone(), event) {
            // ------------------------------------------------ the beginning
            (P::Down { .. }, E::Start) => match self.want {
                Want::Up | Want::Once => self.start(now, "wanted up", acts),
                Want::Down | Want::Exit(_) => {}
            },
            (
                P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Start,
            ) => {}

            (
                P::Down { .. } | P::Waiting { .. },
                E::Adopted {
                    pid,
                    pgid,
                    spawned_pgid,
                    since,
                },
            ) => {
                let group = Group {
                    pgid: owned_group(pid, pgid, Some(spawned_pgid)),
                    foreign: true,
                };
                self.tally.ever_ran = true;
                // Restarts are throttled from now: the start time of a
                // process we did not start says nothing about crash loops.
                self.last.start = Some(now);
                self.last.pid = Some(pid);
                self.last.group = Some(group);
                self.last.spawned_pgid = Some(spawned_pgid);
                acts.push(Action::Note(format!(
                    "pid {pid}, started by an earlier supervisor, is still running: adopting it"
                )));
                let main = Proc {
                    pid,
                    group,
                    origin: Origin::Adopted,
                    since,
                    paused: false,
                    signalled: 0,
                };
                self.enter(self.running(main, Live::new()), now, acts);
                self.changed = since.min(now);
                self.live_taken_over(now, acts);
            }
            (
                P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Adopted { .. },
            ) => {}

            // ------------------------------------------------ commands
            (P::Down { .. } | P::Failed { .. } | P::Done { .. }, E::Command(C::Up)) => {
                self.want = self.want.unless_exiting(Want::Up);
                if self.want == Want::Up {
                    // An operator's start: backoff and breaker begin anew.
                    self.reset_backoff();
                    self.start(now, "wanted up", acts);
                }
            }
            (P::Waiting { .. }, E::Command(C::Up)) => {
                self.want = self.want.unless_exiting(Want::Up);
                if self.want == Want::Up {
                    // A restart was pending: the operator's start is now.
                    self.reset_backoff();
                    acts.push(Action::Tell(Change::Restart {
                        after: Duration::ZERO,
                        backoff: None,
                        reason: "wanted up".into(),
                    }));
                    self.begin_start(now, acts);
                }
            }
            (P::Stopping { .. } | P::Finishing { .. }, E::Command(C::Up)) => {
                self.want = self.want.unless_exiting(Want::Up);
                self.reset_backoff();
                self.redirect_stop(AfterStop::Start);
            }
            (P::Running { .. } | P::Asked(_), E::Command(C::Up)) => {
                self.want = self.want.unless_exiting(Want::Up);
            }

            (P::Down { .. } | P::Failed { .. } | P::Done { .. }, E::Command(C::Once)) => {
                self.want = self.want.unless_exiting(Want::Once);
                if self.want == Want::Once {
                    self.reset_backoff();
                    self.start(now, "wanted once", acts);
                }
            }
            (P::Running { .. } | P::Waiting { .. }, E::Command(C::Once)) => {
                self.want = self.want.unless_exiting(Want::Once);
            }
            (P::Stopping { .. } | P::Finishing { .. } | P::Asked(_), E::Command(C::Once)) => {}

            // s6's `O`: do not restart it when it ends; if it is down, do
            // not even start it.
            (P::Running { .. }, E::Command(C::OnceAtMost)) => {
                self.want = self.want.unless_exiting(Want::Once);
            }
            (P::Waiting { .. }, E::Command(C::OnceAtMost)) => {
                self.want = self.want.unless_exiting(Want::Down);
                self.enter(P::Down { note: None }, now, acts);
            }
            (
                P::Down { .. }
                | P::Asked(_)
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Command(C::OnceAtMost),
            ) => {
                if self.want == Want::Up {
                    self.want = Want::Once;
                }
            }

            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Command(C::Down),
            ) => {
                self.want = self.want.unless_exiting(Want::Down);
                self.stop(AfterStop::Down(None), now, acts);
            }

            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Command(C::Halt | C::Exit { stop_service: true }),
            ) => {
                self.want = self.want.unless_exiting(Want::Exit(0));
                let code = match self.want {
                    Want::Exit(code) => code,
                    Want::Up | Want::Down | Want::Once => 0,
                };
                self.stop(AfterStop::Exit(code), now, acts);
            }

            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Command(C::Exit { stop_service: false }),
            ) => {
                if self.policy.may_exit {
                    acts.push(Action::Note("exit: leaving the service running".into()));
                    acts.push(self.exit_action(0));
                } else {
                    acts.push(Action::Refuse("set environment variable IMMORTAL_EXIT to exit".into()));
                }
            }

            (P::Running { .. }, E::Command(C::Restart)) => {
                self.want = self.want.unless_exiting(Want::Up);
                acts.push(Action::ReloadConfig);
                self.stop(AfterStop::Start, now, acts);
            }
            (P::Stopping { .. } | P::Finishing { .. }, E::Command(C::Restart)) => {
                self.want = self.want.unless_exiting(Want::Up);
                acts.push(Action::ReloadConfig);
                self.redirect_stop(AfterStop::Start);
            }
            (P::Down { .. } | P::Waiting { .. } | P::Failed { .. } | P::Done { .. }, E::Command(C::Restart)) => {
                self.want = self.want.unless_exiting(Want::Up);
                acts.push(Action::ReloadConfig);
                if self.want == Want::Up {
                    self.reset_backoff();
                    acts.push(Action::Tell(Change::Restart {
                        after: Duration::ZERO,
                        backoff: None,
                        reason: "restart".into(),
                    }));
                    self.begin_start(now, acts);
                }
            }
            (P::Asked(_), E::Command(C::Restart)) => {
                self.want = self.want.unless_exiting(Want::Up);
                acts.push(Action::ReloadConfig);
                acts.push(Action::Refuse(BUSY.into()));
            }

            (P::Running { main, live, .. }, E::Command(C::RestartSignal)) => {
                let main = self.stop_signals(main, acts);
                self.phase = P::Running {
                    main,
                    live,
                    term_sent: true,
                };
            }
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Command(C::RestartSignal),
            ) => {}

            (P::Running { .. } | P::Stopping { main: Some(_), .. }, E::Command(C::Pause)) => {
                self.signal_main(Signal::SIGSTOP, Some(true), acts)
            }
            (P::Running { .. } | P::Stopping { main: Some(_), .. }, E::Command(C::Continue)) => {
                self.signal_main(Signal::SIGCONT, Some(false), acts)
            }
            (P::Running { .. } | P::Stopping { main: Some(_), .. }, E::Command(C::Signal(sig))) => {
                self.signal_main(sig, None, acts)
            }
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Stopping { main: None, .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Command(C::Pause | C::Continue | C::Signal(_)),
            ) => acts.push(Action::Refuse(NOT_RUNNING.into())),

            // ------------------------------------------------ control bytes
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Control { byte, cmd },
            ) => self.control_byte(byte, cmd, now, acts),
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::ControlDone { how },
            ) => {
                let Control::Running { byte, cmd, queued } = std::mem::take(&mut self.control) else {
                    return;
                };
                if how == Some(ExitHow::Code(0)) && OVERRIDABLE.contains(&byte) {
                    // The script did the letter's job: no signal, and
                    // nothing says one was sent. runsv still records a
                    // pause or a continue.
                    match cmd {
                        C::Pause => self.mark_paused(true),
                        C::Continue => self.mark_paused(false),
                        C::Up
                        | C::Down
                        | C::Once
                        | C::Restart
                        | C::RestartSignal
                        | C::OnceAtMost
                        | C::Exit { .. }
                        | C::Halt
                        | C::Signal(_) => {}
                    }
                } else {
                    self.decide(E::Command(cmd), now, acts);
                }
                let mut queued = queued;
                while self.control == Control::Idle {
                    let Some((byte, cmd)) = queued.pop_front() else { break };
                    self.control_byte(byte, cmd, now, acts);
                }
                if let Control::Running { queued: rest, .. } = &mut self.control {
                    rest.extend(queued);
                }
            }

            // ------------------------------------------------ the supervisor's own signals
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Signal { sig, detached },
            ) => {
                let name = crate::signal::short_name(sig);
                // A detached supervisor has no terminal: INT and HUP are not
                // an operator's ^C or hang-up.
                let halts = sig == Signal::SIGTERM || (matches!(sig, Signal::SIGINT | Signal::SIGHUP) && !detached);
                if halts {
                    acts.push(Action::Note(format!("got {name}: stopping the service, then exiting")));
                    self.decide(E::Command(C::Halt), now, acts);
                } else {
                    acts.push(Action::Note(format!("ignoring {name}")));
                }
            }

            (P::Running { .. } | P::Stopping { .. }, E::Regrouped { pid, pgid }) => self.regroup(pid, pgid),
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Regrouped { .. },
            ) => {}

            // ------------------------------------------------ deadlines
            (P::Waiting { at, .. }, E::Timer) => {
                if at <= now {
                    self.begin_start(now, acts);
                }
            }
            (
                P::Stopping {
                    main,
                    group,
                    since,
                    sent,
                    kill_at: Some(at),
                    killed,
                    then,
                    ready_at,
                },
                E::Timer,
            ) if at <= now => {
                self.phase = P::Stopping {
                    main,
                    group,
                    since,
                    // The signal said sent is KILL, from now.
                    sent: if killed { sent } else { now },
                    kill_at: Some(now + GROUP_RECHECK),
                    killed: true,
                    then,
                    ready_at,
                };
                if !killed {
                    let pgid = group.pgid;
                    acts.push(Action::Note(format!(
                        "stop timeout: sending KILL to process group {pgid}"
                    )));
                    acts.push(Action::Kill(Whom::Service(pgid), Signal::SIGKILL));
                    if let Some(m) = main.filter(|m| m.pid != pgid) {
                        acts.push(Action::Kill(Whom::Process(m.pid), Signal::SIGKILL));
                    }
                }
                // Already KILLed: the loop looks at the group again.
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
                acts.push(Action::Note(format!(
                    "finish timeout: sending KILL to ./finish (pid {pid})"
                )));
                acts.push(Action::Kill(Whom::Group(pid), Signal::SIGKILL));
            }
            (P::Running { main, live, term_sent }, E::Timer) => self.live_timer(main, live, term_sent, now, acts),
            (
                P::Down { .. }
                | P::Asked(_)
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Timer,
            ) => {}

            // ------------------------------------------------ what the service says
            (P::Running { main, live, term_sent }, E::Notified(notice)) => {
                self.notified(main, live, term_sent, notice, now, acts)
            }
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Notified(_),
            ) => {}

            (P::Running { .. }, E::NotifyClosed) => acts.push(Action::Note(
                "the notification fd was closed without a line: not ready".into(),
            )),
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::NotifyClosed,
            ) => {}

            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Datagram {
                    from,
                    notices,
                    status,
                    main_pid,
                },
            ) => {
                let speaks_for_service = match (from, self.main()) {
                    (Some(from), Some(main)) => {
                        from.pid == main.pid
                            || from.pgid == Some(main.group.pgid)
                            || from.descends
                            || (!from.alive && from.uid == self.policy.uid)
                    }
                    (None, _) | (_, None) => false,
                };
                if !speaks_for_service {
                    if !self.refusal_said {
                        self.refusal_said = true;
                        let who = from.map_or("an unknown sender".to_string(), |s| {
                            format!("pid {} (uid {})", s.pid, s.uid)
                        });
                        acts.push(Action::Warn(format!(
                            "ignored a notify datagram from {who}: not a process of the service (logged once)"
                        )));
                    }
                    return;
                }
                if let (Some(text), P::Running { live, .. }) = (status, &mut self.phase) {
                    live.note = Some(text).filter(|t| !t.is_empty());
                }
                if let Some(named) = main_pid {
                    self.main_pid_named(named, now, acts);
                }
                for notice in notices {
                    self.decide(E::Notified(notice), now, acts);
                }
            }

            (P::Running { main, live, term_sent }, E::Probed { ok, output }) => {
                self.probed(main, live, term_sent, ok, output, now, acts)
            }
            // A probe that was running when the service stopped.
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Probed { .. },
            ) => {}

            // ------------------------------------------------ answers
            (P::Asked(Ask::Spawn), E::Spawned { pid }) => {
                let group = Group {
                    pgid: pid,
                    foreign: false,
                };
                self.tally.count += 1;
                self.tally.ever_ran = true;
                self.last.start = Some(now);
                self.last.pid = Some(pid);
                self.last.group = Some(group);
                self.last.spawned_pgid = Some(pid);
                acts.push(Action::Tell(Change::Start { pid }));
                let main = Proc {
                    pid,
                    group,
                    origin: Origin::Spawned,
                    since: now,
                    paused: false,
                    signalled: 0,
                };
                self.enter(self.running(main, Live::new()), now, acts);
                self.live_begins(now, acts);
            }
            (P::Asked(Ask::Spawn), E::SpawnFailed { errno, why }) => {
                // A start that could not exec counts as a start that exited
                // 127 (the shell's "command not found"), so retries and the
                // restart throttle apply to it too.
                self.tally.count += 1;
                self.last.start = Some(now);
                self.count_failure(Duration::ZERO, now);
                let cause = why.map_or(Cause::ExecFailed(errno), Cause::StartFailed);
                let end = End {
                    how: Some(ExitHow::Code(127)),
                    cause,
                    failed: true,
                };
                let reason = end.text();
                self.record_end(None, Duration::ZERO, end, reason, now, acts);
                self.after_run(Next::Policy { hold: None }, now, acts);
            }
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(Ask::PidFile | Ask::Leftovers(_) | Ask::HandOver { .. })
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Spawned { .. } | E::SpawnFailed { .. },
            ) => {}

            (P::Asked(Ask::PidFile) | P::Waiting { .. }, E::PidFile { found: Ok(c), .. }) => {
                acts.push(Action::Note(format!(
                    "following pid {} from the pid file instead of starting",
                    c.pid
                )));
                self.follow(c, now, Live::new(), now, acts);
                self.live_taken_over(now, acts);
            }
            (P::Asked(Ask::PidFile), E::PidFile { found: Err(_), .. }) => self.spawn_after_leftovers(now, acts),
            (P::Asked(Ask::HandOver { main, live, .. }), E::PidFile { found: Ok(c), .. }) => {
                // It handed over to the pid in the pid file (a daemon that
                // forked, or an upgrade): follow that one, no restart.
                acts.push(Action::Note(format!(
                    "pid {} exited; following pid {} from the pid file",
                    main.pid, c.pid
                )));
                self.follow(c, main.since, live, now, acts);
            }
            (
                P::Asked(Ask::HandOver { main, ending, live }),
                E::PidFile {
                    found: Err(why),
                    descendants,
                },
            ) => {
                acts.push(Action::Note(format!("not following {why}")));
                let hold = descendants.then(|| {
                    // A descendant reparented to us lives on: it may be
                    // taking over (gunicorn writes its pid file only once
                    // promoted). Hold the restart briefly.
                    acts.push(Action::Note(format!(
                        "a descendant lives on: waiting up to {HAND_OVER_GRACE:?} for the pid file to name it"
                    )));
                    later(now, HAND_OVER_GRACE)
                });
                self.main_ended(main, ending, live.ready_at, hold, now, acts);
            }
            (P::Waiting { .. }, E::PidFile { found: Err(_), .. }) => {}
            (
                P::Down { .. }
                | P::Asked(Ask::Spawn | Ask::Leftovers(_))
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::PidFile { .. },
            ) => {}

            (P::Asked(Ask::Leftovers(then)), E::GroupProbed { alive: true }) => match self.last.group {
                Some(group) => self.stop_leftovers(group, then, now, acts),
                None => self.leftovers_gone(then, now, acts),
            },
            (P::Asked(Ask::Leftovers(then)), E::GroupProbed { alive: false }) => self.leftovers_gone(then, now, acts),
            (P::Stopping { main: None, then, .. }, E::GroupProbed { alive: false }) => {
                self.last.group = None;
                self.after_run(Next::Stop(then), now, acts);
            }
            (P::Stopping { main: None, .. }, E::GroupProbed { alive: true }) => {}
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(Ask::Spawn | Ask::PidFile | Ask::HandOver { .. })
                | P::Running { .. }
                | P::Stopping { main: Some(_), .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::GroupProbed { .. },
            ) => {}

            // ------------------------------------------------ exits
            (
                P::Running { main, live, .. },
                E::Exited {
                    pid,
                    how,
                    group_alive,
                    seen_pgid,
                    oom_killed,
                },
            ) if main.pid == pid => {
                self.regroup_seen(pid, seen_pgid);
                let main = self.main().unwrap_or(main);
                let ending = Ending {
                    how,
                    group_alive,
                    oom_killed,
                };
                if self.policy.follows_pidfile {
                    acts.push(self.ended_note(main, how, oom_killed, now));
                    self.phase = P::Asked(Ask::HandOver { main, ending, live });
                    acts.push(Action::ReadPidFile {
                        exited: pid,
                        watch: true,
                    });
                } else {
                    self.main_ended(main, ending, live.ready_at, None, now, acts);
                }
            }
            (
                P::Stopping {
                    main: Some(main),
                    group: _,
                    since,
                    sent,
                    kill_at,
                    killed,
                    then,
                    ready_at,
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
                let main = self.main().unwrap_or(main);
                let group = main.group;
                acts.push(self.ended_note(main, how, oom_killed, now));
                let uptime = now.saturating_duration_since(main.since);
                let ready_for = ready_uptime(ready_at, now);
                let (cause, failed, verdict) = match &then {
                    AfterStop::Unhealthy(why) => (Cause::Unhealthy(why.clone()), true, why.clone()),
                    // Stopped, but the OOM killer got there first.
                    AfterStop::Down(_) | AfterStop::Start | AfterStop::Exit(_) | AfterStop::Fail(_) if oom_killed => {
                        (Cause::OomKilled, true, OOM_KILLED.to_string())
                    }
                    AfterStop::Down(_) | AfterStop::Start | AfterStop::Exit(_) | AfterStop::Fail(_) => {
                        (Cause::Exited, false, "stopped".to_string())
                    }
                };
                if failed {
                    self.count_failure(ready_for, now);
                }
                let end = End { how, cause, failed };
                self.tally_exit(how, oom_killed);
                self.record_end(Some(pid), uptime, end, verdict, now, acts);
                acts.push(Action::PostExit(exit_code(how)));
                if group_alive {
                    // The main process is gone but its group is not: those
                    // members get the stop signal too, and the deadline holds.
                    if self.policy.stop.group {
                        acts.push(Action::Kill(Whom::Service(group.pgid), self.policy.stop.signal));
                        acts.push(Action::Kill(Whom::Service(group.pgid), Signal::SIGCONT));
                    }
                    self.phase = P::Stopping {
                        main: None,
                        group,
                        since,
                        sent,
                        kill_at,
                        killed,
                        then,
                        ready_at,
                    };
                } else {
                    self.last.group = None;
                    self.after_run(Next::Stop(then), now, acts);
                }
            }
            (
                P::Finishing {
                    pid: Some(finish),
                    next,
                    ..
                },
                E::Exited { pid, how, .. },
            ) if finish == pid => {
                let told = how.map_or(EXIT_UNKNOWN.to_string(), |h| h.to_string());
                acts.push(Action::Note(format!("finish pid {pid} ended: {told}")));
                match next {
                    Next::Policy { .. } if how == Some(ExitHow::Code(FINISH_PERMANENT_FAILURE)) => {
                        // s6: the service failed for good; no restart.
                        self.enter(P::Down { note: None }, now, acts);
                        acts.push(Action::Note(format!(
                            "./finish exited {FINISH_PERMANENT_FAILURE}: the service failed for good"
                        )));
                        self.fail(Failure::Finish, now, acts);
                    }
                    Next::Policy { .. } | Next::Stop(_) => self.settle(next, now, acts),
                }
            }
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Exited { .. },
            ) => {}

            (P::Finishing { pid: None, next, .. }, E::FinishSpawned { pid }) => {
                let kill_at = self.policy.stop.timeout.map(|t| later(now, t));
                self.phase = P::Finishing {
                    pid: Some(pid),
                    kill_at,
                    next,
                };
            }
            (P::Finishing { pid: None, next, .. }, E::FinishFailed) => self.settle(next, now, acts),
            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { pid: Some(_), .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::FinishSpawned { .. } | E::FinishFailed,
            ) => {}

            (
                P::Down { .. }
                | P::Waiting { .. }
                | P::Asked(_)
                | P::Running { .. }
                | P::Stopping { .. }
                | P::Finishing { .. }
                | P::Failed { .. }
                | P::Done { .. },
                E::Reconfigured(policy),
            ) => self.next_policy = Some(*policy),

            // ------------------------------------------------ the drain (a log/ unit)
            (P::Down { .. } | P::Waiting { .. } | P::Failed { .. } | P::Done { .. }, E::Drain { code }) => {
                self.want = Want::Exit(code);
                self.enter(P::Down { note: None }, now, acts);
                acts.push(Action::Exit(code));
            }
            // Running: it ends once it has read everything, and then the
            // supervisor exits (`after_exit`).
            (P::Asked(_) | P::Running { .. }, E::Drain { code }) => self.want = Want::Exit(code),
            (P::Stopping { .. } | P::Finishing { .. }, E::Drain { code }) => {
                self.want = Want::Exit(code);
                self.redirect_stop(AfterStop::Exit(code));
            }
        }
    }
}
