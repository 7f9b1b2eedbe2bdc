//! The table's tests: narratives of whole behaviours (through `step`),
//! and the table itself as rows of (state, event, now) → (state′,
//! actions, events) comparing whole values, with every cell covered.

use super::*;

impl State {
    /// A narrative's step: `step`, keep the new state, and return what the
    /// loop must do — less the events told to `/events` (see [`told`]) and
    /// the log line that says a process ended (the table checks both).
    fn apply(&mut self, event: Event, now: Instant) -> Actions {
        let (next, acts) = self.step(event, now);
        *self = next;
        let ended = |a: &Action| matches!(a, Action::Note(text) if text.contains(" ended: "));
        acts.into_iter()
            .filter(|a| !matches!(a, Action::Tell(_)) && !ended(a))
            .collect()
    }
}

/// The names of the `/events` a step told, in order.
fn told(s: &State, event: Event, now: Instant) -> Vec<&'static str> {
    s.step(event, now)
        .1
        .iter()
        .filter_map(|a| match a {
            Action::Tell(c) => Some(crate::supervise::changes::fields(c).0),
            _ => None,
        })
        .collect()
}

const P: i32 = 4242;

fn pid(n: i32) -> Pid {
    Pid::from_raw(n)
}

pub(crate) fn policy() -> Policy {
    Policy {
        wait: Duration::ZERO,
        retries: -1,
        stop: StopSpec::default(),
        may_exit: true,
        throttle: MIN_RUN,
        role: Role::Service,
        service_dir: false,
        follows_pidfile: false,
        restart: crate::service::RestartSpec::default(),
        essential: false,
        jitter_seed: 42,
        ready: ReadyKind::Up,
        ready_timeout: None,
        ready_interval: secs(1.0),
        health: None,
        watchdog: None,
        has_log: false,
        oneshot: false,
        uid: 0,
    }
}

/// The main process a test starts: pid P in its own group since `since`.
fn proc_(origin: Origin, since: Instant) -> Proc {
    Proc {
        pid: pid(P),
        group: Group {
            pgid: pid(P),
            foreign: origin == Origin::Adopted,
        },
        origin,
        since,
        paused: false,
        signalled: 0,
    }
}

fn group(n: i32) -> Group {
    Group {
        pgid: pid(n),
        foreign: false,
    }
}

const GONE: Event = Event::GroupProbed { alive: false };

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A supervisor whose service has been running since `t0`.
fn running(t0: Instant) -> State {
    let mut s = State::new(policy(), Want::Up, t0);
    assert_eq!(s.apply(Event::Start, t0), vec![Action::Spawn]);
    assert_eq!(s.apply(Event::Spawned { pid: pid(P) }, t0), vec![]);
    s
}

fn term_cont_group() -> Vec<Action> {
    vec![
        Action::Kill(Whom::Service(pid(P)), Signal::SIGTERM),
        Action::Kill(Whom::Service(pid(P)), Signal::SIGCONT),
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
    assert!(matches!(s.apply(adopted, t0)[..], [Action::Note(_)]));
    assert_eq!(
        s.phase,
        Phase::Running {
            main: proc_(Origin::Adopted, since),
            live: Live {
                ready_at: Some(t0),
                ..Live::new()
            },
            term_sent: false
        }
    );
    assert_eq!(s.watched_pid(), Some(pid(P)), "not our child: watched by pidfd");
    assert!(!s.following());
    assert_eq!((s.tally.count, s.changed), (0, since));
    // It is the service: `down` stops its group like any other.
    assert_eq!(s.apply(Event::Command(Command::Down), t0), term_cont_group());
    let exit = Event::Exited {
        pid: pid(P),
        how: Some(ExitHow::Code(0)),
        group_alive: false,
        seen_pgid: None,
        oom_killed: false,
    };
    s.apply(exit, t0 + secs(0.1));
    assert_eq!(s.phase, Phase::Down { note: None });
    assert_eq!(s.watched_pid(), None);
    // A start right after the adoption waits for the throttle.
    assert_eq!(s.apply(Event::Command(Command::Up), t0 + secs(0.2)), vec![]);
    assert_eq!(
        s.phase,
        Phase::Waiting {
            at: t0 + MIN_RUN,
            backoff: None,
            hold: false
        }
    );
    // Only ever at the start: a running service adopts nothing.
    let mut r = running(t0);
    let again = Event::Adopted {
        pid: pid(P + 1),
        pgid: pid(P + 1),
        spawned_pgid: pid(P + 1),
        since,
    };
    assert_eq!(r.apply(again, t0), vec![]);
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
    assert_eq!(s.apply(Event::Start, t0), vec![]);
    assert!(s.deadline().is_some_and(|d| d > t0 + Duration::from_secs(1 << 31)));
    let stop = StopSpec {
        timeout: Some(huge),
        ..StopSpec::default()
    };
    let mut s = running(t0);
    s.policy.stop = stop;
    assert_eq!(s.apply(Event::Command(Command::Down), t0), term_cont_group());
    assert!(s.deadline().is_some_and(|d| d > t0 + Duration::from_secs(1 << 31)));
    assert_eq!(s.apply(Event::Timer, t0 + secs(100.0)), vec![]);
}

#[test]
fn starts_at_once_and_counts() {
    let t0 = Instant::now();
    let s = running(t0);
    assert_eq!(s.tally.count, 1);
    assert_eq!(
        s.phase,
        Phase::Running {
            main: proc_(Origin::Spawned, t0),
            live: Live {
                ready_at: Some(t0),
                ..Live::new()
            },
            term_sent: false
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
    assert_eq!(s.apply(Event::Start, t0), vec![]);
    assert_eq!(
        s.phase,
        Phase::Waiting {
            at: t0 + secs(2.0),
            backoff: None,
            hold: false
        }
    );
    assert_eq!(s.apply(Event::Timer, t0 + secs(1.0)), vec![]);
    assert_eq!(s.apply(Event::Timer, t0 + secs(2.0)), vec![Action::Spawn]);
    s.apply(Event::Spawned { pid: pid(P) }, t0 + secs(2.0));
    let exit = Event::Exited {
        pid: pid(P),
        how: Some(ExitHow::Code(0)),
        group_alive: false,
        seen_pgid: None,
        oom_killed: false,
    };
    assert_eq!(s.apply(exit, t0 + secs(10.0)), vec![Action::PostExit(0)]);
    assert_eq!(s.deadline(), Some(t0 + secs(12.0)));
}

#[test]
fn restart_throttle_is_one_second_between_starts() {
    let t0 = Instant::now();
    let mut s = running(t0);
    let exit = Event::Exited {
        pid: pid(P),
        how: Some(ExitHow::Code(1)),
        group_alive: false,
        seen_pgid: None,
        oom_killed: false,
    };
    // Crashed after 0.2 s: the next start waits until 1 s after the last.
    assert_eq!(s.apply(exit, t0 + secs(0.2)), vec![Action::PostExit(1)]);
    assert_eq!(
        s.phase,
        Phase::Waiting {
            at: t0 + MIN_RUN,
            backoff: None,
            hold: false
        }
    );
    assert_eq!(s.apply(Event::Timer, t0 + MIN_RUN), vec![Action::Spawn]);
    s.apply(Event::Spawned { pid: pid(P + 1) }, t0 + MIN_RUN);
    // Ran for 5 s: restarts at once.
    let exit = Event::Exited {
        pid: pid(P + 1),
        how: Some(ExitHow::Signal(9)),
        group_alive: false,
        seen_pgid: None,
        oom_killed: false,
    };
    assert_eq!(
        s.apply(exit, t0 + secs(6.0)),
        vec![Action::PostExit(137), Action::Spawn]
    );
    assert_eq!(s.last.end.as_ref().and_then(|e| e.how), Some(ExitHow::Signal(9)));
}

#[test]
fn retries_then_exit_for_command_line() {
    let t0 = Instant::now();
    let mut s = State::new(Policy { retries: 1, ..policy() }, Want::Up, t0);
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(1000) }, t0);
    let acts = s.apply(
        Event::Exited {
            pid: pid(1000),
            how: Some(ExitHow::Code(3)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(5.0),
    );
    assert_eq!(acts, vec![Action::PostExit(3), Action::Spawn]);
    s.apply(Event::Spawned { pid: pid(1001) }, t0 + secs(5.0));
    let acts = s.apply(
        Event::Exited {
            pid: pid(1001),
            how: Some(ExitHow::Code(3)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(9.0),
    );
    assert_eq!(acts.len(), 3, "{acts:?}");
    assert_eq!(acts[0], Action::PostExit(3));
    assert_eq!(acts[2], Action::Exit(0));
    assert_eq!(s.tally.count, 2);
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
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Code(0)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(3.0),
    );
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Exit(_) | Action::Spawn)),
        "{acts:?}"
    );
    // Failed for good (SPEC §12): only an operator starts it again.
    assert_eq!(
        (s.want, s.phase.clone()),
        (
            Want::Down,
            Phase::Failed {
                why: Failure::Retries(0)
            }
        )
    );
    assert_eq!(
        s.reason(t0 + secs(3.0)).as_deref(),
        Some("failed: retries (0) exhausted; last: exit 0")
    );
    // `up` starts it again.
    assert_eq!(
        s.apply(Event::Command(Command::Up), t0 + secs(4.0)),
        vec![Action::Spawn]
    );
}

#[test]
fn spawn_failure_counts_and_throttles() {
    let t0 = Instant::now();
    let mut s = State::new(policy(), Want::Up, t0);
    s.apply(Event::Start, t0);
    assert_eq!(
        s.apply(
            Event::SpawnFailed {
                errno: libc::ENOENT,
                why: None
            },
            t0
        ),
        vec![]
    );
    assert_eq!(
        s.reason(t0).as_deref(),
        Some("exec failed: No such file or directory; restarting in 1.0s")
    );
    assert_eq!(s.tally.count, 1);
    assert_eq!(
        s.phase,
        Phase::Waiting {
            at: t0 + MIN_RUN,
            backoff: None,
            hold: false
        }
    );
}

#[test]
fn down_sends_stop_signal_then_kill_at_timeout() {
    let t0 = Instant::now();
    let mut s = running(t0);
    let t1 = t0 + secs(30.0);
    assert_eq!(s.apply(Event::Command(Command::Down), t1), term_cont_group());
    assert_eq!(s.deadline(), Some(t1 + secs(10.0)));
    assert_eq!(s.want, Want::Down);
    let acts = s.apply(Event::Timer, t1 + secs(10.0));
    assert!(
        acts.contains(&Action::Kill(Whom::Service(pid(P)), Signal::SIGKILL)),
        "{acts:?}"
    );
    // Main exits by KILL; its group is gone too: down, no restart.
    let exit = Event::Exited {
        pid: pid(P),
        how: Some(ExitHow::Signal(9)),
        group_alive: false,
        seen_pgid: None,
        oom_killed: false,
    };
    assert_eq!(s.apply(exit, t1 + secs(10.1)), vec![Action::PostExit(137)]);
    assert_eq!(s.phase, Phase::Down { note: None });
    assert_eq!(s.deadline(), None);
}

#[test]
fn down_waits_for_the_whole_group() {
    let t0 = Instant::now();
    let mut s = running(t0);
    s.apply(Event::Command(Command::Down), t0);
    let exit = Event::Exited {
        pid: pid(P),
        how: Some(ExitHow::Signal(15)),
        group_alive: true,
        seen_pgid: None,
        oom_killed: false,
    };
    let acts = s.apply(exit, t0 + secs(0.1));
    assert_eq!(acts[0], Action::PostExit(143));
    assert_eq!(
        &acts[1..],
        term_cont_group().as_slice(),
        "leftover members get the stop signal"
    );
    assert_eq!(s.awaits_group(), Some(group(P)));
    assert!(
        matches!(s.phase, Phase::Stopping { .. }),
        "not down while the group lives"
    );
    assert_eq!(s.apply(GONE, t0 + secs(0.2)), vec![]);
    assert_eq!(s.phase, Phase::Down { note: None });
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
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    let acts = s.apply(Event::Command(Command::Down), t0);
    assert_eq!(
        acts,
        vec![
            Action::Kill(Whom::Process(pid(P)), Signal::SIGQUIT),
            Action::Kill(Whom::Process(pid(P)), Signal::SIGCONT)
        ]
    );
    assert_eq!(s.deadline(), None, "timeout 0 never kills");
}

#[test]
fn killed_group_is_rechecked_until_gone() {
    let t0 = Instant::now();
    let mut s = running(t0);
    s.apply(Event::Command(Command::Down), t0);
    s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Code(0)),
            group_alive: true,
            seen_pgid: None,
            oom_killed: false,
        },
        t0,
    );
    let acts = s.apply(Event::Timer, t0 + secs(10.0));
    assert_eq!(acts[1..], [Action::Kill(Whom::Service(pid(P)), Signal::SIGKILL)]);
    assert_eq!(s.deadline(), Some(t0 + secs(11.0)));
    assert_eq!(s.apply(Event::Timer, t0 + secs(11.0)), vec![]);
    assert_eq!(s.deadline(), Some(t0 + secs(12.0)));
    s.apply(GONE, t0 + secs(11.5));
    assert_eq!(s.phase, Phase::Down { note: None });
}

#[test]
fn halt_stops_then_exits() {
    let t0 = Instant::now();
    let mut s = running(t0);
    assert_eq!(s.apply(Event::Command(Command::Halt), t0), term_cont_group());
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Code(0)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0,
    );
    assert_eq!(acts, vec![Action::PostExit(0), Action::Exit(0)]);
    // Halt while down exits at once.
    let mut s = State::new(policy(), Want::Down, t0);
    assert_eq!(s.apply(Event::Command(Command::Halt), t0), vec![Action::Exit(0)]);
}

#[test]
fn socket_exit_leaves_service_or_is_refused() {
    let t0 = Instant::now();
    let mut s = running(t0);
    let acts = s.apply(Event::Command(Command::Exit { stop_service: false }), t0);
    assert_eq!(acts.last(), Some(&Action::Exit(0)));
    assert!(!acts.iter().any(|a| matches!(a, Action::Kill(..))));
    s.policy.may_exit = false;
    let acts = s.apply(Event::Command(Command::Exit { stop_service: false }), t0);
    assert_eq!(
        acts,
        vec![Action::Refuse("set environment variable IMMORTAL_EXIT to exit".into())]
    );
}

#[test]
fn once_runs_without_restart() {
    let t0 = Instant::now();
    let mut s = State::new(policy(), Want::Down, t0);
    assert_eq!(s.apply(Event::Start, t0), vec![]);
    assert_eq!(s.apply(Event::Command(Command::Once), t0), vec![Action::Spawn]);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Code(0)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(5.0),
    );
    assert_eq!(acts, vec![Action::PostExit(0)]);
    assert_eq!(
        (s.want, s.phase.clone()),
        (Want::Down, Phase::Down { note: Some("ran once") })
    );
    assert_eq!(s.reason(t0 + secs(5.0)).as_deref(), Some("exit 0; ran once"));
    // `once` while running up: finish this run, no restart.
    let mut s = running(t0);
    s.apply(Event::Command(Command::Once), t0);
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Code(0)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(5.0),
    );
    assert_eq!(acts, vec![Action::PostExit(0)]);
}

#[test]
fn restart_stops_then_starts() {
    let t0 = Instant::now();
    let mut s = running(t0);
    let mut expected = vec![Action::ReloadConfig];
    expected.extend(term_cont_group());
    assert_eq!(s.apply(Event::Command(Command::Restart), t0 + secs(5.0)), expected);
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Signal(15)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(5.1),
    );
    assert_eq!(acts, vec![Action::PostExit(143), Action::Spawn]);
    assert_eq!(s.want, Want::Up);
    // Restart while down starts at once.
    let mut s = State::new(policy(), Want::Down, t0);
    assert_eq!(
        s.apply(Event::Command(Command::Restart), t0),
        vec![Action::ReloadConfig, Action::Spawn]
    );
}

#[test]
fn up_during_stop_restarts_after() {
    let t0 = Instant::now();
    let mut s = running(t0);
    s.apply(Event::Command(Command::Down), t0 + secs(5.0));
    assert_eq!(s.apply(Event::Command(Command::Up), t0 + secs(5.0)), vec![]);
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Code(0)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
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
    s.apply(Event::Start, t0);
    assert_eq!(s.apply(Event::Command(Command::Down), t0 + secs(1.0)), vec![]);
    assert_eq!((s.phase.clone(), s.deadline()), (Phase::Down { note: None }, None));
}

#[test]
fn signals_go_to_the_main_pid_and_pause_is_tracked() {
    let t0 = Instant::now();
    let mut s = running(t0);
    assert_eq!(
        s.apply(Event::Command(Command::Signal(Signal::SIGHUP)), t0),
        vec![Action::Kill(Whom::Process(pid(P)), Signal::SIGHUP)]
    );
    s.apply(Event::Command(Command::Pause), t0);
    assert!(s.main().is_some_and(|m| m.paused) && s.record(std::time::SystemTime::UNIX_EPOCH).paused);
    s.apply(Event::Command(Command::Continue), t0);
    assert!(!s.main().is_some_and(|m| m.paused));
    let mut s = State::new(policy(), Want::Down, t0);
    assert_eq!(
        s.apply(Event::Command(Command::Signal(Signal::SIGHUP)), t0),
        vec![Action::Refuse("service not running".into())]
    );
}

#[test]
fn stray_exits_are_ignored() {
    let t0 = Instant::now();
    let mut s = running(t0);
    let before = s.clone();
    assert_eq!(
        s.apply(
            Event::Exited {
                pid: pid(1),
                how: Some(ExitHow::Code(0)),
                group_alive: false,
                seen_pgid: None,
                oom_killed: false,
            },
            t0
        ),
        vec![]
    );
    assert_eq!(s, before);
    assert_eq!(s.apply(GONE, t0), vec![]);
    assert_eq!(s, before);
}

#[test]
fn finish_runs_after_each_exit_then_restart() {
    let t0 = Instant::now();
    let mut s = State::new(
        Policy {
            service_dir: true,
            ..policy()
        },
        Want::Up,
        t0,
    );
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Signal(9)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(5.0),
    );
    assert_eq!(
        acts,
        vec![Action::PostExit(137), Action::SpawnFinish { code: -1, signal: 9 }]
    );
    assert_eq!(s.visible(), crate::status::RunState::Finish);
    assert_eq!(s.apply(Event::FinishSpawned { pid: pid(77) }, t0 + secs(5.0)), vec![]);
    assert_eq!(s.tracked_pid(), Some(pid(77)));
    assert_eq!(s.main_pid(), None, "no signals go to ./finish");
    assert_eq!(
        s.apply(Event::Command(Command::Signal(Signal::SIGHUP)), t0),
        vec![Action::Refuse("service not running".into())]
    );
    let acts = s.apply(
        Event::Exited {
            pid: pid(77),
            how: Some(ExitHow::Code(0)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
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
            service_dir: true,
            ..policy()
        },
        Want::Up,
        t0,
    );
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Code(2)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(5.0),
    );
    s.apply(Event::FinishSpawned { pid: pid(77) }, t0 + secs(5.0));
    assert_eq!(s.apply(Event::Command(Command::Down), t0 + secs(5.0)), vec![]);
    assert_eq!(s.deadline(), Some(t0 + secs(15.0)));
    let acts = s.apply(Event::Timer, t0 + secs(15.0));
    assert_eq!(acts[1], Action::Kill(Whom::Group(pid(77)), Signal::SIGKILL));
    let acts = s.apply(
        Event::Exited {
            pid: pid(77),
            how: Some(ExitHow::Signal(9)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(15.0),
    );
    assert_eq!(acts, vec![]);
    assert_eq!((s.phase, s.want), (Phase::Down { note: None }, Want::Down));
}

#[test]
fn stop_runs_finish_before_down_and_exit() {
    let t0 = Instant::now();
    let mut s = State::new(
        Policy {
            service_dir: true,
            ..policy()
        },
        Want::Up,
        t0,
    );
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    s.apply(Event::Command(Command::Halt), t0);
    assert_eq!(s.want, Want::Exit(0));
    assert!(s.record(std::time::SystemTime::UNIX_EPOCH).term_sent);
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Signal(15)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0,
    );
    assert_eq!(
        acts,
        vec![Action::PostExit(143), Action::SpawnFinish { code: -1, signal: 15 }]
    );
    assert!(
        !s.record(std::time::SystemTime::UNIX_EPOCH).term_sent,
        "TERM flag cleared when the process exits"
    );
    assert_eq!(s.apply(Event::FinishFailed, t0), vec![Action::Exit(0)]);
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
    s.apply(Event::Command(Command::Down), t0 + secs(1.0));
    let r = s.record(when);
    assert_eq!((r.state, r.want, r.term_sent), (RunState::Run, Wanted::Down, true));
    assert_eq!(s.changed, t0, "still running: the change time stays");
    s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Code(0)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(2.0),
    );
    let r = s.record(when);
    assert_eq!((r.pid, r.state, r.term_sent), (0, RunState::Down, false));
    assert_eq!(s.changed, t0 + secs(2.0));
    s.apply(Event::Command(Command::Halt), t0 + secs(3.0));
    assert_eq!(s.record(when).want, Wanted::Exit);
}

#[test]
fn once_at_most() {
    let t0 = Instant::now();
    let mut s = running(t0);
    assert_eq!(s.apply(Event::Command(Command::OnceAtMost), t0), vec![]);
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: Some(ExitHow::Code(0)),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
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
    s.apply(Event::Start, t0);
    s.apply(Event::Command(Command::OnceAtMost), t0);
    assert_eq!(
        (s.phase.clone(), s.deadline()),
        (Phase::Down { note: None }, None),
        "waiting start cancelled"
    );
}

/// A pid-file service (`-f`) running since `t0`.
fn following_policy(t0: Instant) -> State {
    let mut s = State::new(
        Policy {
            follows_pidfile: true,
            ..policy()
        },
        Want::Up,
        t0,
    );
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    s
}

fn found(n: i32, pgid: i32) -> Event {
    Event::PidFile {
        found: Ok(Candidate {
            pid: pid(n),
            pgid: pid(pgid),
            our_child: true,
        }),
        descendants: false,
    }
}

fn exit_of(n: i32, how: ExitHow, group_alive: bool) -> Event {
    Event::Exited {
        pid: pid(n),
        how: Some(how),
        group_alive,
        seen_pgid: None,
        oom_killed: false,
    }
}

#[test]
fn follow_hand_over_keeps_count_and_targets_the_followed_group() {
    let t0 = Instant::now();
    let mut s = following_policy(t0);
    // The exit asks for the pid file before anything else.
    let acts = s.apply(exit_of(P, ExitHow::Code(0), false), t0 + secs(0.1));
    assert_eq!(
        acts,
        vec![Action::ReadPidFile {
            exited: pid(P),
            watch: true
        }]
    );
    assert_eq!(s.visible(), crate::status::RunState::Run, "still up while it asks");
    // 901 is neither 900's own group nor the one we made: 900 alone.
    let acts = s.apply(found(900, 901), t0 + secs(0.1));
    assert!(
        matches!(acts.as_slice(), [Action::Note(_)]),
        "no post_exit, no spawn: {acts:?}"
    );
    assert!(s.following());
    assert_eq!(s.tally.count, 1);
    assert_eq!(s.main_pid(), Some(pid(900)));
    assert_eq!(
        s.apply(Event::Command(Command::Signal(Signal::SIGHUP)), t0),
        vec![Action::Kill(Whom::Process(pid(900)), Signal::SIGHUP)]
    );
    // It moved to a group of its own (setsid): signals follow it there.
    s.apply(
        Event::Regrouped {
            pid: pid(900),
            pgid: pid(900),
        },
        t0,
    );
    let acts = s.apply(Event::Command(Command::Down), t0 + secs(1.0));
    assert_eq!(acts[0], Action::Kill(Whom::Service(pid(900)), Signal::SIGTERM));
    let acts = s.apply(exit_of(900, ExitHow::Signal(15), false), t0 + secs(1.1));
    assert_eq!(acts, vec![Action::PostExit(143)]);
    assert!(!s.following());
    assert_eq!(s.phase, Phase::Down { note: None });
}

#[test]
fn followed_at_start_instead_of_spawning() {
    let t0 = Instant::now();
    let mut s = following_policy(t0);
    s.apply(exit_of(P, ExitHow::Code(0), false), t0 + secs(0.1));
    let err = Event::PidFile {
        found: Err("/run/x.pid: empty".into()),
        descendants: false,
    };
    let acts = s.apply(err.clone(), t0 + secs(0.1));
    assert!(matches!(acts[..], [Action::Note(_), Action::PostExit(0)]), "{acts:?}");
    assert!(matches!(s.phase, Phase::Waiting { .. }));
    // The restart looks at the pid file first: its daemon is up.
    assert_eq!(
        s.apply(Event::Timer, t0 + MIN_RUN),
        vec![Action::ReadPidFile {
            exited: pid(P),
            watch: false
        }]
    );
    let acts = s.apply(found(900, 900), t0 + MIN_RUN);
    assert!(matches!(acts.as_slice(), [Action::Note(_)]));
    assert_eq!((s.main_pid(), s.tally.count, s.following()), (Some(pid(900)), 1, true));
    // Ignored while something runs.
    assert_eq!(s.apply(found(5, 5), t0), vec![]);
    // Nobody in the pid file at a restart: then it starts.
    let mut s = following_policy(t0);
    s.apply(exit_of(P, ExitHow::Code(0), false), t0 + secs(5.0));
    let acts = s.apply(err, t0 + secs(5.0));
    assert_eq!(
        acts.last(),
        Some(&Action::ReadPidFile {
            exited: pid(P),
            watch: false
        })
    );
    let acts = s.apply(
        Event::PidFile {
            found: Err("gone".into()),
            descendants: false,
        },
        t0 + secs(5.0),
    );
    assert_eq!(acts, vec![Action::Spawn]);
}

#[test]
fn hand_over_holds_the_restart() {
    let t0 = Instant::now();
    let mut s = following_policy(t0);
    s.apply(exit_of(P, ExitHow::Code(0), false), t0 + secs(5.0));
    let acts = s.apply(
        Event::PidFile {
            found: Err("/run/x.pid: empty".into()),
            descendants: true,
        },
        t0 + secs(5.0),
    );
    assert!(
        matches!(acts[..], [Action::Note(_), Action::Note(_), Action::PostExit(0)]),
        "{acts:?}"
    );
    assert_eq!(
        s.deadline(),
        Some(t0 + secs(5.0) + HAND_OVER_GRACE),
        "restart held for the grace period"
    );
    assert!(s.awaits_hand_over());
    s.apply(found(900, 900), t0 + secs(6.0));
    assert_eq!((s.main_pid(), s.tally.count), (Some(pid(900)), 1));
    assert!(!s.awaits_hand_over());
}

#[test]
fn leftovers_are_stopped_before_a_start_or_a_down() {
    let t0 = Instant::now();
    let mut s = running(t0);
    let exit = exit_of(P, ExitHow::Signal(9), true);
    // Crashed after 0.5 s, its group lives on: the restart waits for the
    // throttle, then asks about the group before starting.
    s.apply(exit.clone(), t0 + secs(0.5));
    assert_eq!(s.last.group, Some(group(P)));
    assert_eq!(s.apply(Event::Timer, t0 + MIN_RUN), vec![Action::ProbeGroup(group(P))]);
    let acts = s.apply(Event::GroupProbed { alive: true }, t0 + MIN_RUN);
    assert_eq!(acts[1], Action::Kill(Whom::Service(pid(P)), Signal::SIGTERM));
    assert_eq!(s.deadline(), Some(t0 + MIN_RUN + secs(10.0)));
    assert_eq!(s.awaits_group(), Some(group(P)));
    // Gone: now it starts.
    assert_eq!(s.apply(GONE, t0 + secs(6.0)), vec![Action::Spawn]);
    // A down while they live: stopped, and it stays down once they are gone.
    let mut s = State::new(policy(), Want::Once, t0);
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    let acts = s.apply(exit.clone(), t0 + secs(5.0));
    assert!(
        matches!(
            acts[..],
            [
                Action::PostExit(137),
                Action::Note(_),
                Action::Kill(..),
                Action::Kill(..)
            ]
        ),
        "not restarting: the leftovers go now: {acts:?}"
    );
    assert_eq!(s.apply(GONE, t0 + secs(6.0)), vec![]);
    assert_eq!(
        (s.phase.clone(), s.want),
        (Phase::Down { note: Some("ran once") }, Want::Down)
    );
    // Down asks first when the last group may have members.
    let mut s = running(t0);
    s.apply(Event::Command(Command::Down), t0);
    s.apply(exit_of(P, ExitHow::Code(0), false), t0);
    assert_eq!(s.last.group, None, "an empty group never fills again");
    assert_eq!(s.apply(Event::Command(Command::Down), t0), vec![]);
    let mut s = running(t0);
    s.apply(Event::Command(Command::Once), t0);
    s.last.group = Some(group(P));
    s.apply(exit_of(P, ExitHow::Code(0), false), t0);
    s.last.group = Some(group(P));
    assert_eq!(
        s.apply(Event::Command(Command::Halt), t0),
        vec![Action::ProbeGroup(group(P))]
    );
    assert_eq!(s.apply(GONE, t0), vec![Action::Exit(0)]);
}

#[test]
fn only_owned_groups_are_signalled() {
    let t0 = Instant::now();
    let spawned = running(t0).last.spawned_pgid;
    assert_eq!(
        owned_group(pid(900), pid(900), spawned),
        pid(900),
        "leads its own group"
    );
    assert_eq!(owned_group(pid(900), pid(P), spawned), pid(P), "the group we created");
    assert_eq!(
        owned_group(pid(900), pid(1), spawned),
        pid(900),
        "someone else's group: the pid alone"
    );
}

// ---------------------------------------------------------------- the table

/// Which cell of the table a state is in.
fn phase_kind(s: &State) -> &'static str {
    match &s.phase {
        Phase::Down { .. } => "down",
        Phase::Waiting { .. } => "waiting",
        Phase::Asked(Ask::Spawn) => "asked spawn",
        Phase::Asked(Ask::PidFile) => "asked pid file",
        Phase::Asked(Ask::Leftovers(_)) => "asked leftovers",
        Phase::Asked(Ask::HandOver { .. }) => "asked hand-over",
        Phase::Running { .. } => "running",
        Phase::Stopping { main: Some(_), .. } => "stopping",
        Phase::Stopping { main: None, .. } => "stopping the rest",
        Phase::Finishing { pid: None, .. } => "finish asked",
        Phase::Finishing { pid: Some(_), .. } => "finishing",
        Phase::Failed { .. } => "failed",
        Phase::Done { .. } => "done",
    }
}

const PHASE_KINDS: [&str; 13] = [
    "down",
    "waiting",
    "asked spawn",
    "asked pid file",
    "asked leftovers",
    "asked hand-over",
    "running",
    "stopping",
    "stopping the rest",
    "finish asked",
    "finishing",
    "failed",
    "done",
];

/// Which column of the table an event is in.
fn event_kind(e: &Event) -> &'static str {
    match e {
        Event::Start => "start",
        Event::Adopted { .. } => "adopted",
        Event::Command(c) => match c {
            Command::Up => "up",
            Command::Down => "down",
            Command::Once => "once",
            Command::OnceAtMost => "once at most",
            Command::Pause => "pause",
            Command::Continue => "continue",
            Command::Restart => "restart",
            Command::RestartSignal => "restart signal",
            Command::Halt => "halt",
            Command::Exit { stop_service: true } => "exit stopping",
            Command::Exit { stop_service: false } => "exit leaving",
            Command::Signal(_) => "signal",
        },
        Event::Control { .. } => "control byte",
        Event::ControlDone { .. } => "control done",
        Event::Signal { .. } => "supervisor signal",
        Event::Regrouped { .. } => "regrouped",
        Event::Timer => "timer",
        Event::Spawned { .. } => "spawned",
        Event::SpawnFailed { .. } => "spawn failed",
        Event::PidFile { .. } => "pid file",
        Event::GroupProbed { .. } => "group probed",
        Event::Exited { .. } => "exited",
        Event::FinishSpawned { .. } => "finish spawned",
        Event::FinishFailed => "finish failed",
        Event::Reconfigured(_) => "reconfigured",
        Event::Drain { .. } => "drain",
        Event::Notified(_) => "notified",
        Event::NotifyClosed => "notify closed",
        Event::Datagram { .. } => "datagram",
        Event::Probed { .. } => "probed",
    }
}

const EVENT_KINDS: usize = 32;

/// One cell: in `given`, `event` at `t0 + at` leads to exactly `then`
/// (the whole state) with exactly `acts` (events told included).
struct Row {
    cell: &'static str,
    given: State,
    event: Event,
    at: f64,
    then: State,
    acts: Vec<Action>,
}

/// A row whose next state is `given` changed by `change`.
fn row(
    cell: &'static str,
    given: &State,
    event: Event,
    at: f64,
    change: impl FnOnce(&mut State),
    acts: Vec<Action>,
) -> Row {
    let mut then = given.clone();
    change(&mut then);
    Row {
        cell,
        given: given.clone(),
        event,
        at,
        then,
        acts,
    }
}

/// Cells where nothing happens: the state stays, the loop does nothing.
fn unchanged(cell: &'static str, givens: &[&State], events: Vec<Event>) -> Vec<Row> {
    let mut rows = Vec::new();
    for g in givens {
        for e in &events {
            rows.push(row(cell, g, e.clone(), 0.5, |_| {}, vec![]));
        }
    }
    rows
}

fn tell(c: Change) -> Action {
    Action::Tell(c)
}

fn cmd(c: Command) -> Event {
    Event::Command(c)
}

/// One sample state for each phase kind.
struct Samples {
    down: State,
    waiting: State,
    spawn: State,
    pidfile: State,
    leftovers: State,
    handover: State,
    run: State,
    stopping: State,
    rest: State,
    finish_asked: State,
    finishing: State,
    failed: State,
    done: State,
}

fn samples(t0: Instant) -> Samples {
    let run = running(t0);
    let mut waiting = run.clone();
    waiting.apply(exit_of(P, ExitHow::Code(1), false), t0 + secs(0.2));
    let mut spawn = State::new(policy(), Want::Up, t0);
    spawn.apply(Event::Start, t0);
    let mut pidfile = following_policy(t0);
    pidfile.apply(exit_of(P, ExitHow::Code(0), false), t0 + secs(5.0));
    let handover = pidfile.clone();
    pidfile.apply(
        Event::PidFile {
            found: Err("none".into()),
            descendants: false,
        },
        t0 + secs(5.0),
    );
    let mut leftovers = run.clone();
    leftovers.apply(exit_of(P, ExitHow::Code(1), true), t0 + secs(0.2));
    leftovers.apply(Event::Timer, t0 + MIN_RUN);
    let mut stopping = run.clone();
    stopping.apply(cmd(Command::Down), t0);
    let mut rest = stopping.clone();
    rest.apply(exit_of(P, ExitHow::Signal(15), true), t0);
    let mut finish_asked = in_dir(running(t0));
    finish_asked.apply(exit_of(P, ExitHow::Code(0), false), t0 + secs(5.0));
    let mut finishing = finish_asked.clone();
    finishing.apply(Event::FinishSpawned { pid: pid(77) }, t0 + secs(5.0));
    let mut failed = State::new(
        Policy {
            retries: 0,
            may_exit: false,
            ..policy()
        },
        Want::Up,
        t0,
    );
    failed.apply(Event::Start, t0);
    failed.apply(Event::Spawned { pid: pid(P) }, t0);
    failed.apply(exit_of(P, ExitHow::Code(1), false), t0 + secs(2.0));
    let mut done = State::new(
        Policy {
            oneshot: true,
            ..policy()
        },
        Want::Up,
        t0,
    );
    done.apply(Event::Start, t0);
    done.apply(Event::Spawned { pid: pid(P) }, t0);
    done.apply(exit_of(P, ExitHow::Code(0), false), t0 + secs(2.0));
    assert!(matches!(done.phase, Phase::Done { .. }), "{:?}", done.phase);
    Samples {
        down: State::new(policy(), Want::Down, t0),
        waiting,
        spawn,
        pidfile,
        leftovers,
        handover,
        run,
        stopping,
        rest,
        finish_asked,
        finishing,
        failed,
        done,
    }
}

fn in_dir(mut s: State) -> State {
    s.policy.service_dir = true;
    s
}

fn as_log(mut s: State) -> State {
    s.policy.role = Role::Log;
    s
}

fn controlling(mut s: State, byte: u8, cmd: Command) -> State {
    s.control = Control::Running {
        byte,
        cmd,
        queued: VecDeque::new(),
    };
    s
}

fn ctl(byte: u8) -> Event {
    Event::Control {
        byte,
        cmd: crate::control::from_byte(byte).unwrap_or(Command::Up),
    }
}

fn note(text: &str) -> Action {
    Action::Note(text.into())
}

const STOP: [Action; 2] = [
    Action::Kill(Whom::Service(Pid::from_raw(P)), Signal::SIGTERM),
    Action::Kill(Whom::Service(Pid::from_raw(P)), Signal::SIGCONT),
];

/// What `down` makes of the running sample at `t0 + at`.
fn stopping_from(run: &State, then: AfterStop, t0: Instant, at: f64) -> Phase {
    let Phase::Running { main, .. } = run.phase.clone() else {
        unreachable!("a running sample")
    };
    Phase::Stopping {
        main: Some(main.signalled_with(Signal::SIGTERM).signalled_with(Signal::SIGCONT)),
        group: main.group,
        since: main.since,
        sent: t0 + secs(at),
        kill_at: Some(t0 + secs(at) + StopSpec::default().timeout.unwrap_or_default()),
        killed: false,
        then,
        ready_at: Some(t0),
    }
}

/// Every event kind, once.
fn every_event(t0: Instant) -> Vec<Event> {
    vec![
        Event::Start,
        Event::Adopted {
            pid: pid(5),
            pgid: pid(5),
            spawned_pgid: pid(5),
            since: t0,
        },
        cmd(Command::Up),
        cmd(Command::Down),
        cmd(Command::Once),
        cmd(Command::OnceAtMost),
        cmd(Command::Pause),
        cmd(Command::Continue),
        cmd(Command::Restart),
        cmd(Command::RestartSignal),
        cmd(Command::Halt),
        cmd(Command::Exit { stop_service: true }),
        cmd(Command::Exit { stop_service: false }),
        cmd(Command::Signal(Signal::SIGUSR1)),
        ctl(b'u'),
        Event::ControlDone { how: None },
        Event::Signal {
            sig: Signal::SIGTERM,
            detached: false,
        },
        Event::Regrouped {
            pid: pid(P),
            pgid: pid(P),
        },
        Event::Timer,
        Event::Spawned { pid: pid(6) },
        Event::SpawnFailed {
            errno: libc::ENOENT,
            why: None,
        },
        found(900, 900),
        Event::GroupProbed { alive: false },
        exit_of(P, ExitHow::Code(0), false),
        Event::FinishSpawned { pid: pid(77) },
        Event::FinishFailed,
        Event::Reconfigured(Box::new(policy())),
        Event::Drain { code: 0 },
        Event::Notified(Notice::Ready),
        Event::NotifyClosed,
        Event::Datagram {
            from: None,
            notices: vec![],
            status: None,
            main_pid: None,
        },
        Event::Probed {
            ok: true,
            output: String::new(),
        },
    ]
}

#[test]
fn the_table() {
    let t0 = Instant::now();
    let x = samples(t0);
    let run_phase = x.run.phase.clone();
    let Phase::Running { main, live, .. } = run_phase.clone() else {
        unreachable!()
    };
    let waiting_at = t0 + MIN_RUN;
    #[rustfmt::skip]
    let mut rows = vec![
        // ---- the beginning
        row("down, want up: start spawns", &State::new(policy(), Want::Up, t0), Event::Start, 0.0,
            |s| s.phase = Phase::Asked(Ask::Spawn), vec![Action::Spawn]),
        row("down, want down (./down): start does nothing", &x.down, Event::Start, 0.0, |_| {}, vec![]),
        row("down: a survivor is adopted, ready (it told the last supervisor)", &State::new(policy(), Want::Up, t0),
            Event::Adopted { pid: pid(P), pgid: pid(P), spawned_pgid: pid(P), since: t0 - secs(30.0) }, 0.0,
            |s| {
                s.tally.ever_ran = true;
                s.last = Last { start: Some(t0), pid: Some(pid(P)), group: Some(Group { pgid: pid(P), foreign: true }),
                                spawned_pgid: Some(pid(P)), end: None };
                s.phase = Phase::Running { main: proc_(Origin::Adopted, t0 - secs(30.0)),
                                           live: Live { ready_at: Some(t0), ..Live::new() }, term_sent: false };
                s.changed = t0 - secs(30.0);
            },
            vec![note(&format!("pid {P}, started by an earlier supervisor, is still running: adopting it")),
                 tell(Change::Up { pid: Some(pid(P)) }),
                 tell(Change::Ready { pid: Some(pid(P)), after: Some(secs(30.0)) })]),
        row("spawning: spawned runs, ready at once", &x.spawn, Event::Spawned { pid: pid(P) }, 0.0,
            |s| {
                s.tally.count = 1;
                s.tally.ever_ran = true;
                s.last = Last { start: Some(t0), pid: Some(pid(P)), group: Some(group(P)), spawned_pgid: Some(pid(P)), end: None };
                s.phase = run_phase.clone();
            },
            vec![tell(Change::Start { pid: pid(P) }), tell(Change::Up { pid: Some(pid(P)) }),
                 tell(Change::Ready { pid: Some(pid(P)), after: Some(Duration::ZERO) })]),
        row("spawning: exec failure is an exit 127 and waits for the throttle", &x.spawn,
            Event::SpawnFailed { errno: libc::EACCES, why: None }, 0.0,
            |s| {
                s.tally.count = 1;
                s.tally.failures = 1;
                s.tally.failures_total = 1;
                s.last.start = Some(t0);
                s.last.end = Some(End { how: Some(ExitHow::Code(127)), cause: Cause::ExecFailed(libc::EACCES), failed: true });
                s.history.push_front(ExitRecord { at: t0, pid: None, uptime: Duration::ZERO, how: Some(ExitHow::Code(127)),
                                                  reason: "exec failed: Permission denied".into() });
                s.phase = Phase::Waiting { at: waiting_at, backoff: None, hold: false };
            },
            vec![tell(Change::Exit { pid: None, how: Some(ExitHow::Code(127)), uptime: Duration::ZERO,
                                     reason: "exec failed: Permission denied".into() }),
                 tell(Change::Restart { after: MIN_RUN, backoff: None, reason: "exec failed: Permission denied".into() })]),
        // ---- deadlines
        row("waiting: early timer", &x.waiting, Event::Timer, 0.5, |_| {}, vec![]),
        row("waiting: timer due spawns", &x.waiting, Event::Timer, 1.0,
            |s| s.phase = Phase::Asked(Ask::Spawn), vec![Action::Spawn]),
        row("stopping: KILL to the whole service at the deadline", &x.rest, Event::Timer, 10.0,
            |s| if let Phase::Stopping { kill_at, killed, sent, .. } = &mut s.phase {
                *kill_at = Some(t0 + secs(10.0) + GROUP_RECHECK);
                *killed = true;
                *sent = t0 + secs(10.0);
            },
            vec![note(&format!("stop timeout: sending KILL to process group {P}")),
                 Action::Kill(Whom::Service(pid(P)), Signal::SIGKILL)]),
        row("finishing: ./finish is KILLed at the deadline", &x.finishing, Event::Timer, 15.0,
            |s| if let Phase::Finishing { kill_at, .. } = &mut s.phase { *kill_at = None },
            vec![note("finish timeout: sending KILL to ./finish (pid 77)"), Action::Kill(Whom::Group(pid(77)), Signal::SIGKILL)]),
        // ---- commands
        row("waiting: down cancels", &x.waiting, cmd(Command::Down), 0.5,
            |s| { s.want = Want::Down; s.phase = Phase::Down { note: None }; }, vec![]),
        row("waiting: an operator's up starts at once, the backoff begins anew", &x.waiting, cmd(Command::Up), 0.5,
            |s| { s.phase = Phase::Asked(Ask::Spawn); s.tally.failures = 0; s.tally.failure_times.clear(); },
            vec![tell(Change::Restart { after: Duration::ZERO, backoff: None, reason: "wanted up".into() }), Action::Spawn]),
        row("waiting: restart starts at once", &x.waiting, cmd(Command::Restart), 0.5,
            |s| { s.phase = Phase::Asked(Ask::Spawn); s.tally.failures = 0; s.tally.failure_times.clear(); },
            vec![Action::ReloadConfig,
                 tell(Change::Restart { after: Duration::ZERO, backoff: None, reason: "restart".into() }), Action::Spawn]),
        row("running: down stops the group", &x.run, cmd(Command::Down), 1.0,
            |s| { s.want = Want::Down; s.phase = stopping_from(&x.run, AfterStop::Down(None), t0, 1.0); }, STOP.to_vec()),
        row("running: restart re-reads the file and stops", &x.run, cmd(Command::Restart), 1.0,
            |s| s.phase = stopping_from(&x.run, AfterStop::Start, t0, 1.0),
            [vec![Action::ReloadConfig], STOP.to_vec()].concat()),
        row("running: halt stops, then the supervisor exits", &x.run, cmd(Command::Halt), 1.0,
            |s| { s.want = Want::Exit(0); s.phase = stopping_from(&x.run, AfterStop::Exit(0), t0, 1.0); }, STOP.to_vec()),
        row("running: s6's r sends the stop signal, keeps it wanted up", &x.run, cmd(Command::RestartSignal), 1.0,
            |s| s.phase = Phase::Running { main: main.signalled_with(Signal::SIGTERM).signalled_with(Signal::SIGCONT),
                                           live: live.clone(), term_sent: true },
            STOP.to_vec()),
        row("running: a signal goes to the main process", &x.run, cmd(Command::Signal(Signal::SIGHUP)), 1.0,
            |s| s.phase = Phase::Running { main: main.signalled_with(Signal::SIGHUP), live: live.clone(), term_sent: false },
            vec![Action::Kill(Whom::Process(pid(P)), Signal::SIGHUP)]),
        row("running: pause", &x.run, cmd(Command::Pause), 1.0,
            |s| s.phase = Phase::Running { main: Proc { paused: true, ..main.signalled_with(Signal::SIGSTOP) },
                                           live: live.clone(), term_sent: false },
            vec![Action::Kill(Whom::Process(pid(P)), Signal::SIGSTOP)]),
        row("running: once finishes this run", &x.run, cmd(Command::Once), 1.0, |s| s.want = Want::Once, vec![]),
        row("running: O finishes this run", &x.run, cmd(Command::OnceAtMost), 1.0, |s| s.want = Want::Once, vec![]),
        row("running: exit leaving it running", &x.run, cmd(Command::Exit { stop_service: false }), 1.0, |_| {},
            vec![note("exit: leaving the service running"), Action::Exit(0)]),
        row("down: a signal is refused", &x.down, cmd(Command::Signal(Signal::SIGHUP)), 0.0, |_| {},
            vec![Action::Refuse("service not running".into())]),
        row("down: up starts it", &x.down, cmd(Command::Up), 0.0,
            |s| { s.want = Want::Up; s.phase = Phase::Asked(Ask::Spawn); }, vec![Action::Spawn]),
        row("down: halt exits at once", &x.down, cmd(Command::Halt), 0.0, |s| s.want = Want::Exit(0), vec![Action::Exit(0)]),
        row("failed: up clears the breaker and starts", &x.failed, cmd(Command::Up), 3.0,
            |s| { s.want = Want::Up; s.tally.failures = 0; s.tally.failure_times.clear(); s.phase = Phase::Asked(Ask::Spawn); },
            vec![Action::Spawn]),
        row("stopping: up restarts after", &x.stopping, cmd(Command::Up), 0.5,
            |s| { s.want = Want::Up; if let Phase::Stopping { then, .. } = &mut s.phase { *then = AfterStop::Start } }, vec![]),
        row("asked: a restart is refused (busy)", &x.spawn, cmd(Command::Restart), 0.0, |_| {},
            vec![Action::ReloadConfig, Action::Refuse(BUSY.into())]),
        row("exit wins: up after halt changes nothing", &{ let mut s = x.run.clone(); s.apply(cmd(Command::Halt), t0); s },
            cmd(Command::Up), 1.0, |_| {}, vec![]),
        // ---- control bytes
        row("running: sv's d (no service dir)", &x.run, ctl(b'd'), 1.0,
            |s| { s.want = Want::Down; s.phase = stopping_from(&x.run, AfterStop::Down(None), t0, 1.0); },
            [vec![note("control 'd'")], STOP.to_vec()].concat()),
        row("service dir: a letter asks for control/<letter> first", &in_dir(x.run.clone()), ctl(b'd'), 1.0,
            |s| s.control = Control::Running { byte: b'd', cmd: Command::Down, queued: VecDeque::new() },
            vec![note("control 'd'"), Action::RunControl { byte: b'd', main: Some(pid(P)) }]),
        row("service dir: D also writes ./down", &in_dir(x.run.clone()), ctl(b'D'), 1.0,
            |s| s.control = Control::Running { byte: b'D', cmd: Command::Down, queued: VecDeque::new() },
            vec![note("control 'D'"), Action::DownFile(true), Action::RunControl { byte: b'D', main: Some(pid(P)) }]),
        row("control/d exit 0: d is not replaceable, it stops", &controlling(in_dir(x.run.clone()), b'd', Command::Down),
            Event::ControlDone { how: Some(ExitHow::Code(0)) }, 1.0,
            |s| { s.control = Control::Idle; s.want = Want::Down; s.phase = stopping_from(&x.run, AfterStop::Down(None), t0, 1.0); },
            STOP.to_vec()),
        row("control/t exit 0 replaces TERM: nothing sent, nothing said sent",
            &controlling(in_dir(x.run.clone()), b't', Command::Signal(Signal::SIGTERM)),
            Event::ControlDone { how: Some(ExitHow::Code(0)) }, 1.0, |s| s.control = Control::Idle, vec![]),
        row("control/t exit 1: TERM is sent", &controlling(in_dir(x.run.clone()), b't', Command::Signal(Signal::SIGTERM)),
            Event::ControlDone { how: Some(ExitHow::Code(1)) }, 1.0,
            |s| { s.control = Control::Idle;
                  s.phase = Phase::Running { main: main.signalled_with(Signal::SIGTERM), live: live.clone(), term_sent: true }; },
            vec![Action::Kill(Whom::Process(pid(P)), Signal::SIGTERM)]),
        row("a letter while control/<letter> runs waits", &controlling(in_dir(x.run.clone()), b't', Command::Signal(Signal::SIGTERM)),
            ctl(b'd'), 1.0,
            |s| s.control = Control::Running { byte: b't', cmd: Command::Signal(Signal::SIGTERM),
                                               queued: VecDeque::from([(b'd', Command::Down)]) }, vec![]),
        row("log/run ignores x", &as_log(x.run.clone()), ctl(b'x'), 1.0, |_| {}, vec![]),
        row("no control script running: its answer changes nothing", &x.run, Event::ControlDone { how: None }, 1.0, |_| {}, vec![]),
        // ---- the supervisor's own signals
        row("TERM: halt", &x.down, Event::Signal { sig: Signal::SIGTERM, detached: true }, 0.0, |s| s.want = Want::Exit(0),
            vec![note("got TERM: stopping the service, then exiting"), Action::Exit(0)]),
        row("HUP in the foreground: halt", &x.down, Event::Signal { sig: Signal::SIGHUP, detached: false }, 0.0,
            |s| s.want = Want::Exit(0), vec![note("got HUP: stopping the service, then exiting"), Action::Exit(0)]),
        row("HUP when detached: ignored", &x.run, Event::Signal { sig: Signal::SIGHUP, detached: true }, 0.0, |_| {},
            vec![note("ignoring HUP")]),
        // ---- exits
        row("running: exit 0 after 5 s restarts at once", &x.run, exit_of(P, ExitHow::Code(0), false), 5.0,
            |s| {
                s.last.group = None;
                s.last.end = Some(End { how: Some(ExitHow::Code(0)), cause: Cause::Exited, failed: false });
                s.tally.code_exits = 1;
                s.history.push_front(ExitRecord { at: t0 + secs(5.0), pid: Some(pid(P)), uptime: secs(5.0),
                                                  how: Some(ExitHow::Code(0)), reason: "success".into() });
                s.phase = Phase::Asked(Ask::Spawn);
                s.changed = t0 + secs(5.0);
            },
            vec![note(&format!("pid {P} ended: exit code 0, up 5.0s")),
                 tell(Change::Exit { pid: Some(pid(P)), how: Some(ExitHow::Code(0)), uptime: secs(5.0), reason: "success".into() }),
                 Action::PostExit(0), tell(Change::Down { pid: Some(pid(P)) }),
                 tell(Change::Restart { after: Duration::ZERO, backoff: None, reason: "exit 0".into() }), Action::Spawn]),
        row("running: an unknown exit (not our child) is a failure", &x.run,
            Event::Exited { pid: pid(P), how: None, group_alive: false, seen_pgid: None, oom_killed: false }, 5.0,
            |s| {
                s.last.group = None;
                s.last.end = Some(End { how: None, cause: Cause::Unknown, failed: true });
                s.tally.failures = 1;
                s.tally.failures_total = 1;
                s.history.push_front(ExitRecord { at: t0 + secs(5.0), pid: Some(pid(P)), uptime: secs(5.0),
                                                  how: None, reason: EXIT_UNKNOWN.into() });
                s.phase = Phase::Asked(Ask::Spawn);
                s.changed = t0 + secs(5.0);
            },
            vec![note(&format!("pid {P} ended: {EXIT_UNKNOWN}, up 5.0s")),
                 tell(Change::Exit { pid: Some(pid(P)), how: None, uptime: secs(5.0), reason: EXIT_UNKNOWN.into() }),
                 Action::PostExit(-1), tell(Change::Down { pid: Some(pid(P)) }),
                 tell(Change::Restart { after: Duration::ZERO, backoff: None, reason: EXIT_UNKNOWN.into() }), Action::Spawn]),
        row("running: someone else's exit", &x.run, exit_of(7, ExitHow::Code(0), false), 5.0, |_| {}, vec![]),
        row("stopping the rest: a probe that says alive", &x.rest, Event::GroupProbed { alive: true }, 0.5, |_| {}, vec![]),
        row("stopping the rest: gone, down", &x.rest, GONE, 0.5,
            |s| { s.last.group = None; s.phase = Phase::Down { note: None }; s.changed = t0 + secs(0.5); },
            vec![tell(Change::Down { pid: Some(pid(P)) })]),
        // ---- the drain of runit's log/
        row("log/run running: drain, it ends once it has read everything", &as_log(x.run.clone()), Event::Drain { code: 0 }, 1.0,
            |s| s.want = Want::Exit(0), vec![]),
        row("log/run waiting: drain exits at once", &as_log(x.waiting.clone()), Event::Drain { code: 3 }, 1.0,
            |s| { s.want = Want::Exit(3); s.phase = Phase::Down { note: None }; }, vec![Action::Exit(3)]),
        // ---- readiness
        row("running: the notification fd closed without a line", &x.run, Event::NotifyClosed, 1.0, |_| {},
            vec![note("the notification fd was closed without a line: not ready")]),
        row("running: a datagram with no credentials is refused, said once", &x.run,
            Event::Datagram { from: None, notices: vec![Notice::Ready], status: None, main_pid: None }, 1.0,
            |s| s.refusal_said = true,
            vec![Action::Warn("ignored a notify datagram from an unknown sender: not a process of the service (logged once)".into())]),
        row("running: STATUS= from the main process is its note", &x.run,
            Event::Datagram { from: Some(Sender { pid: pid(P), uid: 0, alive: true, pgid: Some(pid(P)), descends: false }),
                              notices: vec![], status: Some("serving".into()), main_pid: None }, 1.0,
            |s| s.phase = Phase::Running { main, live: Live { note: Some("serving".into()), ..live.clone() }, term_sent: false },
            vec![]),
        row("reconfigured: applies at the next start", &x.run, Event::Reconfigured(Box::new(Policy { wait: secs(3.0), ..policy() })), 1.0,
            |s| s.next_policy = Some(Policy { wait: secs(3.0), ..policy() }), vec![]),
    ];
    rows.extend(more_rows(&x, t0));
    rows.extend(quiet_cells(&x, t0));
    check(rows, t0);
}

/// The same change and actions in each of `givens`.
fn each(
    cell: &'static str,
    givens: &[&State],
    event: Event,
    at: f64,
    change: impl Fn(&mut State),
    acts: Vec<Action>,
) -> Vec<Row> {
    givens
        .iter()
        .map(|g| row(cell, g, event.clone(), at, &change, acts.clone()))
        .collect()
}

/// The cells whose behaviour is the same in several phases, and the
/// remaining ones of each phase.
#[rustfmt::skip]
fn more_rows(x: &Samples, t0: Instant) -> Vec<Row> {
    let asked = [&x.spawn, &x.pidfile, &x.leftovers, &x.handover];
    let stops = [&x.stopping, &x.rest];
    let finishes = [&x.finish_asked, &x.finishing];
    let all = [&x.down, &x.waiting, &x.spawn, &x.pidfile, &x.leftovers, &x.handover, &x.run, &x.stopping, &x.rest,
               &x.finish_asked, &x.finishing, &x.failed];
    let busy = Action::Refuse(BUSY.into());
    let refused = Action::Refuse(NOT_RUNNING.into());
    let redirect = |then: AfterStop| move |s: &mut State| match &mut s.phase {
        Phase::Stopping { then: t, .. } => *t = then.clone(),
        Phase::Finishing { next, .. } => *next = Next::Stop(then.clone()),
        _ => unreachable!("a stop"),
    };
    let spawning = |s: &mut State| s.phase = Phase::Asked(Ask::Spawn);
    let t_down = |s: &State, at: f64| if s.visible() == crate::status::RunState::Down { s.changed } else { t0 + secs(at) };
    let mut rows = Vec::new();
    // adopted: only before anything ran
    rows.push(row("waiting: a survivor is adopted", &x.waiting,
        Event::Adopted { pid: pid(5), pgid: pid(5), spawned_pgid: pid(5), since: t0 }, 0.5,
        |s| {
            s.tally.ever_ran = true;
            s.last.start = Some(t0 + secs(0.5));
            s.last.pid = Some(pid(5));
            s.last.group = Some(Group { pgid: pid(5), foreign: true });
            s.last.spawned_pgid = Some(pid(5));
            s.phase = Phase::Running {
                main: Proc { pid: pid(5), group: Group { pgid: pid(5), foreign: true }, origin: Origin::Adopted, since: t0,
                             paused: false, signalled: 0 },
                live: Live { ready_at: Some(t0 + secs(0.5)), ..Live::new() }, term_sent: false };
            s.changed = t0;
        },
        vec![note("pid 5, started by an earlier supervisor, is still running: adopting it"),
             tell(Change::Up { pid: Some(pid(5)) }), tell(Change::Ready { pid: Some(pid(5)), after: Some(secs(0.5)) })]));
    // up
    rows.extend(each("asked, running: up is already wanted", &[&x.spawn, &x.pidfile, &x.leftovers, &x.handover, &x.run],
        cmd(Command::Up), 0.5, |_| {}, vec![]));
    rows.push(row("stopping the rest: up restarts after", &x.rest, cmd(Command::Up), 0.5,
        |s| { s.want = Want::Up; redirect(AfterStop::Start)(s); }, vec![]));
    rows.extend(each("finishing: up restarts after", &finishes, cmd(Command::Up), 0.5, redirect(AfterStop::Start), vec![]));
    // down
    rows.extend(each("asked: down is wanted, the stop refused (busy)", &asked, cmd(Command::Down), 0.5,
        |s| s.want = Want::Down, vec![busy.clone()]));
    rows.extend(each("down, stopping: down is already under way", &[&x.down, &x.stopping, &x.rest], cmd(Command::Down), 0.5, |_| {}, vec![]));
    rows.extend(each("finishing: down, no restart after", &finishes, cmd(Command::Down), 0.5,
        |s| { s.want = Want::Down; redirect(AfterStop::Down(None))(s); }, vec![]));
    rows.push(row("failed: down is down", &x.failed, cmd(Command::Down), 3.0,
        |s| s.phase = Phase::Down { note: None }, vec![]));
    // once
    rows.push(row("down: once starts it", &x.down, cmd(Command::Once), 0.5,
        |s| { s.want = Want::Once; spawning(s); }, vec![Action::Spawn]));
    rows.push(row("failed: once starts it", &x.failed, cmd(Command::Once), 3.0,
        |s| { s.want = Want::Once; s.tally.failures = 0; s.tally.failure_times.clear(); spawning(s); }, vec![Action::Spawn]));
    rows.extend(each("running, waiting: once ends the restarts", &[&x.run, &x.waiting], cmd(Command::Once), 0.5,
        |s| s.want = Want::Once, vec![]));
    rows.extend(each("asked, stopping, finishing: once waits", &[&x.spawn, &x.pidfile, &x.leftovers, &x.handover,
        &x.stopping, &x.rest, &x.finish_asked, &x.finishing], cmd(Command::Once), 0.5, |_| {}, vec![]));
    // once at most
    rows.push(row("waiting: O cancels the start", &x.waiting, cmd(Command::OnceAtMost), 0.5,
        |s| { s.want = Want::Down; s.phase = Phase::Down { note: None }; }, vec![]));
    rows.extend(each("asked, finishing, wanted up: O makes it once", &[&x.spawn, &x.pidfile, &x.leftovers, &x.handover,
        &x.finish_asked, &x.finishing], cmd(Command::OnceAtMost), 0.5, |s| s.want = Want::Once, vec![]));
    rows.extend(each("down, stopping, failed: O, already not up", &[&x.down, &x.stopping, &x.rest, &x.failed],
        cmd(Command::OnceAtMost), 0.5, |_| {}, vec![]));
    // pause, continue, a signal
    for (c, sig, paused) in [(Command::Pause, Signal::SIGSTOP, Some(true)), (Command::Continue, Signal::SIGCONT, Some(false)),
                             (Command::Signal(Signal::SIGUSR1), Signal::SIGUSR1, None)] {
        rows.extend(each("nothing running: a signal is refused", &[&x.down, &x.waiting, &x.spawn, &x.pidfile, &x.leftovers,
            &x.handover, &x.rest, &x.finish_asked, &x.finishing, &x.failed], cmd(c), 0.5, |_| {}, vec![refused.clone()]));
        rows.push(row("stopping: a signal still reaches the main process", &x.stopping, cmd(c), 0.5,
            |s| if let Phase::Stopping { main: Some(m), .. } = &mut s.phase {
                *m = m.signalled_with(sig);
                if let Some(p) = paused { m.paused = p }
            },
            vec![Action::Kill(Whom::Process(pid(P)), sig)]));
    }
    rows.push(row("running: continue", &x.run, cmd(Command::Continue), 0.5,
        |s| if let Phase::Running { main, .. } = &mut s.phase { *main = main.signalled_with(Signal::SIGCONT) },
        vec![Action::Kill(Whom::Process(pid(P)), Signal::SIGCONT)]));
    rows.push(row("running: USR1", &x.run, cmd(Command::Signal(Signal::SIGUSR1)), 0.5,
        |s| if let Phase::Running { main, .. } = &mut s.phase { *main = main.signalled_with(Signal::SIGUSR1) },
        vec![Action::Kill(Whom::Process(pid(P)), Signal::SIGUSR1)]));
    // restart
    rows.extend(each("stopping: restart starts after", &stops, cmd(Command::Restart), 0.5,
        |s| { s.want = Want::Up; redirect(AfterStop::Start)(s); }, vec![Action::ReloadConfig]));
    rows.extend(each("finishing: restart starts after", &finishes, cmd(Command::Restart), 0.5,
        redirect(AfterStop::Start), vec![Action::ReloadConfig]));
    rows.extend(each("asked: restart refused (busy)", &[&x.pidfile, &x.leftovers, &x.handover], cmd(Command::Restart), 0.5,
        |_| {}, vec![Action::ReloadConfig, busy.clone()]));
    rows.extend(each("down, failed: restart starts at once", &[&x.down, &x.failed], cmd(Command::Restart), 3.0,
        |s| { s.want = Want::Up; s.tally.failures = 0; s.tally.failure_times.clear(); spawning(s); },
        vec![Action::ReloadConfig, tell(Change::Restart { after: Duration::ZERO, backoff: None, reason: "restart".into() }),
             Action::Spawn]));
    // s6's r
    rows.extend(each("nothing running: r does nothing", &[&x.down, &x.waiting, &x.spawn, &x.pidfile, &x.leftovers,
        &x.handover, &x.stopping, &x.rest, &x.finish_asked, &x.finishing, &x.failed], cmd(Command::RestartSignal), 0.5,
        |_| {}, vec![]));
    // halt, exit stopping it, TERM to the supervisor
    let term = Event::Signal { sig: Signal::SIGTERM, detached: false };
    for (e, first) in [(cmd(Command::Halt), None), (cmd(Command::Exit { stop_service: true }), None),
                       (term.clone(), Some(note("got TERM: stopping the service, then exiting")))] {
        let with = |acts: Vec<Action>| first.iter().cloned().chain(acts).collect::<Vec<_>>();
        rows.extend(each("stopping, finishing: the stop ends in an exit", &[&x.stopping, &x.rest, &x.finish_asked, &x.finishing],
            e.clone(), 0.5, |s| { s.want = Want::Exit(0); redirect(AfterStop::Exit(0))(s); }, with(vec![])));
        rows.extend(each("asked: the exit is wanted, the stop refused (busy)", &asked, e.clone(), 0.5,
            |s| s.want = Want::Exit(0), with(vec![busy.clone()])));
        rows.extend(each("waiting, failed: down, then the supervisor exits", &[&x.waiting, &x.failed], e.clone(), 0.5,
            |s| { s.want = Want::Exit(0); s.phase = Phase::Down { note: None }; }, with(vec![Action::Exit(0)])));
        rows.push(row("down: the supervisor exits", &x.down, e.clone(), 0.5, |s| s.want = Want::Exit(0), with(vec![Action::Exit(0)])));
        rows.push(row("running: stopped, then the supervisor exits", &x.run, e.clone(), 1.0,
            |s| { s.want = Want::Exit(0); s.phase = stopping_from(&x.run, AfterStop::Exit(0), t0, 1.0); },
            with(STOP.to_vec())));
    }
    // exit leaving the service running
    rows.extend(each("exit: the supervisor leaves, the service runs on", &[&x.down, &x.waiting, &x.spawn, &x.pidfile,
        &x.leftovers, &x.handover, &x.stopping, &x.rest, &x.finish_asked, &x.finishing], cmd(Command::Exit { stop_service: false }),
        0.5, |_| {}, vec![note("exit: leaving the service running"), Action::Exit(0)]));
    rows.push(row("exit refused without IMMORTAL_EXIT", &x.failed, cmd(Command::Exit { stop_service: false }), 3.0, |_| {},
        vec![Action::Refuse("set environment variable IMMORTAL_EXIT to exit".into())]));
    // a control byte ('u'): said, then the command; in a service directory its script first
    rows.extend(each("finishing in a service dir: control/u first", &finishes, ctl(b'u'), 0.5,
        |s| s.control = Control::Running { byte: b'u', cmd: Command::Up, queued: VecDeque::new() },
        vec![note("control 'u'"), Action::RunControl { byte: b'u', main: None }]));
    rows.extend(each("wanted up already: u is said, nothing more", &[&x.spawn, &x.pidfile, &x.leftovers, &x.handover, &x.run],
        ctl(b'u'), 0.5, |_| {}, vec![note("control 'u'")]));
    rows.push(row("down: u starts it", &x.down, ctl(b'u'), 0.5, |s| { s.want = Want::Up; spawning(s); },
        vec![note("control 'u'"), Action::Spawn]));
    rows.push(row("waiting: u starts it at once", &x.waiting, ctl(b'u'), 0.5,
        |s| { spawning(s); s.tally.failures = 0; s.tally.failure_times.clear(); },
        vec![note("control 'u'"), tell(Change::Restart { after: Duration::ZERO, backoff: None, reason: "wanted up".into() }),
             Action::Spawn]));
    rows.extend(each("stopping: u restarts after", &stops, ctl(b'u'), 0.5,
        |s| { s.want = Want::Up; redirect(AfterStop::Start)(s); }, vec![note("control 'u'")]));
    rows.push(row("failed: u starts it", &x.failed, ctl(b'u'), 3.0,
        |s| { s.want = Want::Up; s.tally.failures = 0; s.tally.failure_times.clear(); spawning(s); },
        vec![note("control 'u'"), Action::Spawn]));
    // TERM in the remaining phase kinds is covered above; HUP detached elsewhere.
    // the pid file names a process
    let c900 = Candidate { pid: pid(900), pgid: pid(900), our_child: true };
    let followed = |since: Instant, live: Live| move |s: &mut State| {
        s.tally.ever_ran = true;
        s.last.pid = Some(pid(900));
        s.last.group = Some(Group { pgid: pid(900), foreign: false });
        s.phase = Phase::Running { main: Proc { pid: pid(900), group: Group { pgid: pid(900), foreign: false },
                                                origin: Origin::Followed, since, paused: false, signalled: 0 },
                                   live: live.clone(), term_sent: false };
    };
    rows.push(row("asked the pid file at a restart: its daemon is up, followed", &x.pidfile, found(900, 900), 5.0,
        |s| { followed(t0 + secs(5.0), Live { ready_at: Some(t0 + secs(5.0)), ..Live::new() })(s); s.changed = t0 + secs(5.0); },
        vec![note("following pid 900 from the pid file instead of starting"), tell(Change::Up { pid: Some(pid(900)) }),
             tell(Change::Ready { pid: Some(pid(900)), after: Some(Duration::ZERO) })]));
    rows.push(row("waiting: the pid file names its daemon, followed", &x.waiting, found(900, 900), 0.5,
        |s| { followed(t0 + secs(0.5), Live { ready_at: Some(t0 + secs(0.5)), ..Live::new() })(s); s.changed = t0 + secs(0.5); },
        vec![note("following pid 900 from the pid file instead of starting"), tell(Change::Up { pid: Some(pid(900)) }),
             tell(Change::Ready { pid: Some(pid(900)), after: Some(Duration::ZERO) })]));
    let Phase::Asked(Ask::HandOver { live: handed_live, .. }) = x.handover.phase.clone() else { unreachable!() };
    rows.push(row("hand-over: it handed over to the pid file's process, still ready", &x.handover, found(900, 900), 5.0,
        |s| followed(t0, handed_live.clone())(s),
        vec![note(&format!("pid {P} exited; following pid 900 from the pid file"))]));
    let _ = c900;
    // the group probed
    rows.push(row("asked about leftovers: gone, it starts", &x.leftovers, GONE, 1.0,
        |s| { s.last.group = None; spawning(s); }, vec![Action::Spawn]));
    // exits
    rows.push(row("stopping: the main process exits, down", &x.stopping, exit_of(P, ExitHow::Code(0), false), 0.5,
        |s| {
            s.last.group = None;
            s.last.end = Some(End { how: Some(ExitHow::Code(0)), cause: Cause::Exited, failed: false });
            s.tally.code_exits += 1;
            s.history.push_front(ExitRecord { at: t0 + secs(0.5), pid: Some(pid(P)), uptime: secs(0.5),
                                              how: Some(ExitHow::Code(0)), reason: "stopped".into() });
            s.phase = Phase::Down { note: None };
            s.changed = t0 + secs(0.5);
        },
        vec![note(&format!("pid {P} ended: exit code 0, up 0.5s")),
             tell(Change::Exit { pid: Some(pid(P)), how: Some(ExitHow::Code(0)), uptime: secs(0.5), reason: "stopped".into() }),
             Action::PostExit(0), tell(Change::Down { pid: Some(pid(P)) })]));
    // ./finish
    rows.push(row("finish asked: ./finish started, its deadline set", &x.finish_asked, Event::FinishSpawned { pid: pid(77) }, 5.0,
        |s| s.phase = Phase::Finishing { pid: Some(pid(77)), kill_at: Some(t0 + secs(15.0)), next: Next::Policy { hold: None } },
        vec![]));
    rows.push(row("finish asked: there is none, the restart policy decides", &x.finish_asked, Event::FinishFailed, 5.0,
        |s| { spawning(s); s.changed = t0 + secs(5.0); },
        vec![tell(Change::Down { pid: Some(pid(P)) }),
             tell(Change::Restart { after: Duration::ZERO, backoff: None, reason: "exit 0".into() }), Action::Spawn]));
    // reconfigured: in every phase, for the next start
    rows.extend(each("reconfigured: applies at the next start", &all, Event::Reconfigured(Box::new(policy())), 0.5,
        |s| s.next_policy = Some(policy()), vec![]));
    // the drain
    rows.extend(each("drain: down already, the supervisor exits", &[&x.down, &x.failed], Event::Drain { code: 0 }, 0.5,
        |s| { s.want = Want::Exit(0); s.phase = Phase::Down { note: None }; }, vec![Action::Exit(0)]));
    rows.push(row("drain: a pending start is dropped, the supervisor exits", &x.waiting, Event::Drain { code: 0 }, 0.5,
        |s| { s.want = Want::Exit(0); s.phase = Phase::Down { note: None }; }, vec![Action::Exit(0)]));
    rows.extend(each("drain: asked, running: exits after it ends", &[&x.spawn, &x.pidfile, &x.leftovers, &x.handover, &x.run],
        Event::Drain { code: 0 }, 0.5, |s| s.want = Want::Exit(0), vec![]));
    rows.extend(each("drain: a stop ends in the exit", &[&x.stopping, &x.rest, &x.finish_asked, &x.finishing],
        Event::Drain { code: 0 }, 0.5, |s| { s.want = Want::Exit(0); redirect(AfterStop::Exit(0))(s); }, vec![]));
    // a datagram with no sender: refused, said once
    rows.extend(each("a datagram nobody sent: refused, said once", &all,
        Event::Datagram { from: None, notices: vec![], status: None, main_pid: None }, 0.5,
        |s| s.refusal_said = true,
        vec![Action::Warn("ignored a notify datagram from an unknown sender: not a process of the service (logged once)".into())]));
    // done: a one-shot ran to completion; an operator runs it again
    let again = |s: &mut State| {
        s.tally.failures = 0;
        s.tally.failure_times.clear();
        s.phase = Phase::Asked(Ask::Spawn);
    };
    rows.push(row("done: up runs it again", &x.done, cmd(Command::Up), 3.0, again, vec![Action::Spawn]));
    rows.push(row("done: u runs it again", &x.done, ctl(b'u'), 3.0, again, vec![note("control 'u'"), Action::Spawn]));
    rows.push(row("done: once runs it again, once", &x.done, cmd(Command::Once), 3.0,
        |s| { s.want = Want::Once; again(s); }, vec![Action::Spawn]));
    rows.push(row("done: restart runs it again at once", &x.done, cmd(Command::Restart), 3.0, again,
        vec![Action::ReloadConfig, tell(Change::Restart { after: Duration::ZERO, backoff: None, reason: "restart".into() }),
             Action::Spawn]));
    rows.push(row("done: down is plain down", &x.done, cmd(Command::Down), 3.0,
        |s| { s.want = Want::Down; s.phase = Phase::Down { note: None }; }, vec![]));
    rows.push(row("done: O, not again", &x.done, cmd(Command::OnceAtMost), 3.0, |s| s.want = Want::Once, vec![]));
    for e in [cmd(Command::Halt), cmd(Command::Exit { stop_service: true })] {
        rows.push(row("done: the supervisor exits", &x.done, e, 3.0,
            |s| { s.want = Want::Exit(0); s.phase = Phase::Down { note: None }; }, vec![Action::Exit(0)]));
    }
    rows.push(row("done: TERM, the supervisor exits", &x.done, Event::Signal { sig: Signal::SIGTERM, detached: false }, 3.0,
        |s| { s.want = Want::Exit(0); s.phase = Phase::Down { note: None }; },
        vec![note("got TERM: stopping the service, then exiting"), Action::Exit(0)]));
    rows.push(row("done: exit, nothing runs", &x.done, cmd(Command::Exit { stop_service: false }), 3.0, |_| {},
        vec![note("exit: leaving the service running"), Action::Exit(0)]));
    for c in [Command::Pause, Command::Continue, Command::Signal(Signal::SIGUSR1)] {
        rows.push(row("done: nothing to signal", &x.done, cmd(c), 3.0, |_| {}, vec![refused.clone()]));
    }
    rows.push(row("done: drain exits", &x.done, Event::Drain { code: 0 }, 3.0,
        |s| { s.want = Want::Exit(0); s.phase = Phase::Down { note: None }; }, vec![Action::Exit(0)]));
    rows.extend(each("done: reconfigured", &[&x.done], Event::Reconfigured(Box::new(policy())), 3.0,
        |s| s.next_policy = Some(policy()), vec![]));
    rows.extend(each("done: a datagram nobody sent", &[&x.done],
        Event::Datagram { from: None, notices: vec![], status: None, main_pid: None }, 3.0, |s| s.refusal_said = true,
        vec![Action::Warn("ignored a notify datagram from an unknown sender: not a process of the service (logged once)".into())]));
    rows.push(row("done: r, nothing runs", &x.done, cmd(Command::RestartSignal), 3.0, |_| {}, vec![]));
    let _ = t_down;
    rows
}

/// Every other cell: nothing happens (the state stays, the loop does
/// nothing). A cell missing here and above fails `check`'s coverage.
fn quiet_cells(x: &Samples, t0: Instant) -> Vec<Row> {
    let decided = |kind: &str, keep: &[&str]| {
        every_event(t0)
            .into_iter()
            .filter(|e| !keep.contains(&event_kind(e)))
            .filter(|e| event_kind(e) != kind)
            .collect::<Vec<_>>()
    };
    // The columns decided above for every phase.
    let everywhere = [
        "up",
        "down",
        "once",
        "once at most",
        "pause",
        "continue",
        "restart",
        "restart signal",
        "halt",
        "exit stopping",
        "exit leaving",
        "signal",
        "control byte",
        "supervisor signal",
        "reconfigured",
        "drain",
        "datagram",
    ];
    let quiet = |given: &State, also: &[&str]| {
        let keep: Vec<&str> = everywhere.iter().chain(also).copied().collect();
        unchanged("nothing happens", &[given], decided("", &keep))
    };
    let mut rows = Vec::new();
    rows.extend(quiet(&x.down, &["adopted"]));
    rows.extend(quiet(&x.waiting, &["adopted", "pid file"]));
    rows.extend(quiet(&x.spawn, &["spawned", "spawn failed"]));
    rows.extend(quiet(&x.pidfile, &["pid file"]));
    rows.extend(quiet(&x.leftovers, &["group probed"]));
    rows.extend(quiet(&x.handover, &["pid file"]));
    rows.extend(quiet(&x.run, &["exited", "notify closed"]));
    rows.extend(quiet(&x.stopping, &["exited"]));
    rows.extend(quiet(&x.rest, &["group probed"]));
    rows.extend(quiet(&x.finish_asked, &["finish spawned", "finish failed"]));
    rows.extend(quiet(&x.finishing, &[]));
    rows.extend(quiet(&x.failed, &[]));
    rows.extend(quiet(&x.done, &[]));
    rows
}

fn check(rows: Vec<Row>, t0: Instant) {
    let mut covered = std::collections::HashSet::new();
    for r in rows {
        let before = r.given.clone();
        let (after, acts) = r.given.step(r.event.clone(), t0 + secs(r.at));
        assert_eq!(before, r.given, "{}: step must not change its input", r.cell);
        assert_eq!(acts, r.acts, "{}: actions", r.cell);
        assert_eq!(after, r.then, "{}: the next state", r.cell);
        covered.insert((phase_kind(&r.given), event_kind(&r.event)));
    }
    let events = every_event(t0);
    assert_eq!(events.len(), EVENT_KINDS);
    let mut missing = Vec::new();
    for p in PHASE_KINDS {
        for e in &events {
            if !covered.contains(&(p, event_kind(e))) {
                missing.push(format!("({p}, {})", event_kind(e)));
            }
        }
    }
    assert!(missing.is_empty(), "cells without a row: {}", missing.join(" "));
}
// ---------------------------------------------------------------- readiness

/// Readiness by a probe every second, a 2 s `ready.timeout`, health every
/// 10 s restarting at the 3rd failure in a row.
fn probing_policy() -> Policy {
    Policy {
        ready: ReadyKind::Probe,
        ready_timeout: Some(secs(2.0)),
        health: Some((secs(10.0), 3)),
        ..policy()
    }
}

/// Started at `t0` under `p`.
fn live(p: Policy, t0: Instant) -> State {
    let mut s = State::new(p, Want::Up, t0);
    assert_eq!(s.apply(Event::Start, t0), vec![Action::Spawn]);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    s
}

fn ok_probe() -> Event {
    Event::Probed {
        ok: true,
        output: String::new(),
    }
}

fn failed_probe(why: &str) -> Event {
    Event::Probed {
        ok: false,
        output: why.into(),
    }
}

#[test]
fn without_a_method_running_is_ready_and_nothing_wakes_it() {
    let t0 = Instant::now();
    let s = running(t0);
    assert!(s.is_ready());
    assert_eq!(s.ready_in(), Some(Duration::ZERO));
    assert_eq!(s.deadline(), None, "no probe, no timer: 0 wake-ups");
}

#[test]
fn told_ready_by_a_notice_and_reloading_takes_it_back() {
    let t0 = Instant::now();
    let mut s = live(
        Policy {
            ready: ReadyKind::Told,
            ..policy()
        },
        t0,
    );
    assert!(!s.is_ready());
    assert_eq!(s.deadline(), None, "waiting to be told: no timer");
    let acts = s.apply(Event::Notified(Notice::Ready), t0 + secs(0.25));
    assert_eq!(acts, vec![Action::Note("ready after 0.250s".into())]);
    assert_eq!(s.ready_in(), Some(secs(0.25)));
    assert!(matches!(
        s.apply(Event::Notified(Notice::Reloading), t0 + secs(5.0))[..],
        [Action::Note(_)]
    ));
    assert!(!s.is_ready());
    s.apply(Event::Notified(Notice::Ready), t0 + secs(6.0));
    assert!(s.is_ready());
    // A notice is not a probe's business and vice versa.
    let mut up = running(t0);
    assert_eq!(up.apply(Event::Notified(Notice::Reloading), t0), vec![]);
    assert!(up.is_ready());
}

#[test]
fn a_probe_runs_at_start_then_every_interval_until_one_passes() {
    let t0 = Instant::now();
    let mut s = live(probing_policy(), t0);
    assert!(!s.is_ready());
    assert_eq!(s.deadline(), Some(t0), "the first probe at once");
    assert_eq!(s.apply(Event::Timer, t0), vec![Action::Probe(ProbeFor::Ready)]);
    // While it runs, only ready.timeout is a deadline.
    assert_eq!(s.deadline(), Some(t0 + secs(2.0)));
    assert_eq!(s.apply(failed_probe("refused"), t0 + secs(0.1)), vec![]);
    assert_eq!(s.deadline(), Some(t0 + secs(1.1)));
    assert_eq!(s.apply(Event::Timer, t0 + secs(0.5)), vec![], "not due yet");
    assert_eq!(
        s.apply(Event::Timer, t0 + secs(1.1)),
        vec![Action::Probe(ProbeFor::Ready)]
    );
    assert!(matches!(s.apply(ok_probe(), t0 + secs(1.2))[..], [Action::Note(_)]));
    assert!(s.is_ready());
    // Now the health probe, 10 s later; ready.timeout no longer applies.
    assert_eq!(s.deadline(), Some(t0 + secs(11.2)));
}

#[test]
fn not_ready_in_time_is_a_failure_stopped_as_for_down_then_restarted() {
    let t0 = Instant::now();
    let mut s = live(
        Policy {
            ready: ReadyKind::Told,
            ready_timeout: Some(secs(2.0)),
            ..policy()
        },
        t0,
    );
    assert_eq!(s.deadline(), Some(t0 + secs(2.0)));
    let acts = s.apply(Event::Timer, t0 + secs(2.0));
    assert_eq!(
        acts[0],
        Action::Note("not ready within 2s: restarting the service".into())
    );
    assert_eq!(acts[1..], term_cont_group()[..]);
    let acts = s.apply(exit_of(P, ExitHow::Signal(libc::SIGTERM), false), t0 + secs(2.1));
    assert_eq!(acts, vec![Action::PostExit(128 + libc::SIGTERM), Action::Spawn]);
    assert_eq!(s.tally.failures, 1, "counted as a failure");
    assert_eq!(s.history[0].reason, "not ready within 2s");
    s.apply(Event::Spawned { pid: pid(P + 1) }, t0 + secs(2.1));
    assert_eq!(s.reason(t0 + secs(2.1)), None, "a new run starts clean");
    assert_eq!(
        s.live(),
        Some(&Live {
            ready_by: Some(t0 + secs(4.1)),
            ..Live::new()
        })
    );
}

#[test]
fn health_failures_in_a_row_restart_it_a_pass_resets_the_count() {
    let t0 = Instant::now();
    let mut s = live(probing_policy(), t0);
    s.apply(Event::Timer, t0);
    s.apply(ok_probe(), t0);
    let mut t = t0;
    let mut probe = |s: &mut State, ok: bool| {
        t += secs(10.0);
        assert_eq!(s.apply(Event::Timer, t), vec![Action::Probe(ProbeFor::Health)]);
        s.apply(if ok { ok_probe() } else { failed_probe("PONG missing") }, t)
    };
    assert!(matches!(probe(&mut s, false)[..], [Action::Note(_)]));
    assert_eq!(s.health_text(), Some("PONG missing"));
    probe(&mut s, false);
    assert_eq!(probe(&mut s, true), vec![]);
    assert_eq!(
        (s.live().map(|l| &l.health), s.health_text()),
        (Some(&Health::Passing), None)
    );
    probe(&mut s, false);
    probe(&mut s, false);
    let acts = probe(&mut s, false);
    assert_eq!(
        acts[0],
        Action::Note("health check failed 3 times: PONG missing: restarting the service".into())
    );
    assert_eq!(acts[1..], term_cont_group()[..]);
    assert!(matches!(
        s.phase,
        Phase::Stopping {
            then: AfterStop::Unhealthy(_),
            ..
        }
    ));
    assert_eq!(
        s.deadline(),
        s.policy.stop.timeout.map(|d| t + d),
        "no probe while stopping"
    );
}

#[test]
fn a_missed_watchdog_restarts_it_each_ping_moves_the_deadline() {
    let t0 = Instant::now();
    let mut s = live(
        Policy {
            watchdog: Some(secs(30.0)),
            ..policy()
        },
        t0,
    );
    assert_eq!(s.deadline(), Some(t0 + secs(30.0)));
    s.apply(Event::Notified(Notice::Watchdog), t0 + secs(20.0));
    assert_eq!(s.deadline(), Some(t0 + secs(50.0)));
    assert_eq!(s.apply(Event::Timer, t0 + secs(30.0)), vec![]);
    let acts = s.apply(Event::Timer, t0 + secs(50.0));
    assert_eq!(
        acts[0],
        Action::Note("watchdog: no WATCHDOG=1 within 30s: restarting the service".into())
    );
}

#[test]
fn an_adopted_service_told_ready_before_is_ready_a_probe_asks_again() {
    let t0 = Instant::now();
    let adopted = Event::Adopted {
        pid: pid(P),
        pgid: pid(P),
        spawned_pgid: pid(P),
        since: t0,
    };
    let told = Policy {
        ready: ReadyKind::Told,
        ..policy()
    };
    let mut s = State::new(told, Want::Up, t0);
    s.apply(adopted.clone(), t0);
    assert!(s.is_ready());
    let mut s = State::new(probing_policy(), Want::Up, t0);
    s.apply(adopted, t0);
    assert!(!s.is_ready());
    assert_eq!(s.apply(Event::Timer, t0), vec![Action::Probe(ProbeFor::Ready)]);
}

#[test]
fn mainpid_is_followed_keeping_start_time_and_readiness() {
    let t0 = Instant::now();
    let mut s = live(
        Policy {
            ready: ReadyKind::Told,
            ..policy()
        },
        t0,
    );
    s.apply(Event::Notified(Notice::Ready), t0 + secs(1.0));
    let c = Candidate {
        pid: pid(900),
        pgid: pid(P),
        our_child: false,
    };
    assert!(matches!(
        s.apply(
            Event::Datagram {
                from: Some(Sender {
                    pid: pid(P),
                    uid: 0,
                    alive: true,
                    pgid: Some(pid(P)),
                    descends: false
                }),
                notices: vec![],
                status: None,
                main_pid: Some(Named {
                    pid: c.pid,
                    found: Some(c),
                    descends: true
                }),
            },
            t0 + secs(2.0)
        )[..],
        [Action::Note(_)]
    ));
    let main = s.main().unwrap();
    assert_eq!((main.pid, main.origin, main.since), (pid(900), Origin::Followed, t0));
    assert!(s.is_ready());
    // The old main process's exit is not the service's any more.
    assert_eq!(s.apply(exit_of(P, ExitHow::Code(0), true), t0 + secs(3.0)), vec![]);
    assert_eq!(s.main_pid(), Some(pid(900)));
}

#[test]
fn reset_after_counts_ready_uptime_only() {
    let t0 = Instant::now();
    let told = Policy {
        ready: ReadyKind::Told,
        ..policy()
    };
    // 100 s up but never ready, twice: the failures add up.
    let mut s = live(told, t0);
    s.apply(exit_of(P, ExitHow::Code(1), false), t0 + secs(100.0));
    s.apply(Event::Timer, t0 + secs(101.0));
    s.apply(Event::Spawned { pid: pid(P) }, t0 + secs(101.0));
    s.apply(exit_of(P, ExitHow::Code(1), false), t0 + secs(201.0));
    assert_eq!(s.tally.failures, 2);
    // Ready for 60 s: forgotten.
    s.apply(Event::Timer, t0 + secs(202.0));
    s.apply(Event::Spawned { pid: pid(P) }, t0 + secs(202.0));
    s.apply(Event::Notified(Notice::Ready), t0 + secs(203.0));
    s.apply(exit_of(P, ExitHow::Code(1), false), t0 + secs(263.0));
    assert_eq!(s.tally.failures, 1);
}

fn oom_exit(n: i32, how: ExitHow) -> Event {
    Event::Exited {
        pid: pid(n),
        how: Some(how),
        group_alive: false,
        seen_pgid: None,
        oom_killed: true,
    }
}

#[test]
fn an_oom_kill_is_the_exit_s_reason_in_history_and_status() {
    let t0 = Instant::now();
    let mut s = running(t0);
    // A shell whose child the OOM killer took exits 137, or 0: either way
    // the kernel's kill is the reason, and it is a failure.
    s.apply(oom_exit(P, ExitHow::Code(0)), t0 + secs(0.5));
    assert_eq!(s.history[0].reason, OOM_KILLED);
    assert_eq!(s.tally.failures_total, 1);
    assert_eq!(
        s.reason(t0 + secs(0.5)).as_deref(),
        Some("killed by the OOM killer; restarting in 0.5s")
    );
    // The next run's ordinary exit says nothing of the OOM killer.
    assert_eq!(
        s.apply(Event::Command(Command::Up), t0 + secs(1.0)),
        vec![Action::Spawn]
    );
    s.apply(Event::Spawned { pid: pid(P + 1) }, t0 + secs(1.0));
    s.apply(exit_of(P + 1, ExitHow::Code(1), false), t0 + secs(1.5));
    assert_eq!(s.history[0].reason, "failure");
    assert_eq!(s.reason(t0 + secs(1.5)).as_deref(), Some("exit 1; restarting in 0.5s"));
}

#[test]
fn an_oom_kill_during_a_stop_is_no_plain_stop() {
    let t0 = Instant::now();
    let mut s = running(t0);
    s.apply(Event::Command(Command::Down), t0 + secs(1.0));
    s.apply(oom_exit(P, ExitHow::Signal(libc::SIGKILL)), t0 + secs(1.1));
    assert_eq!(s.history[0].reason, OOM_KILLED);
    assert_eq!(s.tally.failures_total, 1, "a failure, not the stop it was asked for");
}

// ---------------------------------------------------------------- bugs that lived in the seams

/// `control/t` exiting 0 did the letter's job: no TERM was sent, so the
/// status must not say one was (it did: the flag was set before the
/// script's verdict, the signal deleted after).
#[test]
fn a_control_script_that_replaces_term_leaves_no_term_sent_flag() {
    let t0 = Instant::now();
    let mut s = in_dir(running(t0));
    assert_eq!(
        s.apply(ctl(b't'), t0),
        vec![
            note("control 't'"),
            Action::RunControl {
                byte: b't',
                main: Some(pid(P))
            }
        ]
    );
    assert_eq!(
        s.apply(
            Event::ControlDone {
                how: Some(ExitHow::Code(0))
            },
            t0
        ),
        vec![]
    );
    assert!(!s.record(std::time::SystemTime::UNIX_EPOCH).term_sent);
    assert_eq!(s.control, Control::Idle);
}

/// A process that is not our child (adopted, followed, `MAINPID`) ends
/// with a status nobody can read: that is a failure unless a stop was
/// asked for — `restart: on-failure` restarts it (it was recorded as exit
/// 0, a success, and left down).
#[test]
fn an_unknown_exit_is_a_failure_unless_a_stop_was_asked() {
    let t0 = Instant::now();
    let on_failure = Policy {
        restart: RestartSpec {
            when: RestartWhen::OnFailure,
            ..RestartSpec::default()
        },
        ..policy()
    };
    let mut s = State::new(on_failure, Want::Up, t0);
    s.apply(
        Event::Adopted {
            pid: pid(P),
            pgid: pid(P),
            spawned_pgid: pid(P),
            since: t0,
        },
        t0,
    );
    let unknown = Event::Exited {
        pid: pid(P),
        how: None,
        group_alive: false,
        seen_pgid: None,
        oom_killed: false,
    };
    let acts = s.apply(unknown.clone(), t0 + secs(5.0));
    assert_eq!(acts, vec![Action::PostExit(-1), Action::Spawn], "restarted");
    assert_eq!((s.tally.failures_total, s.history[0].how), (1, None));
    assert_eq!(s.history[0].reason, EXIT_UNKNOWN);
    // Asked to stop: the unknown end of a stop is no failure.
    let mut s = State::new(on_failure, Want::Up, t0);
    s.apply(
        Event::Adopted {
            pid: pid(P),
            pgid: pid(P),
            spawned_pgid: pid(P),
            since: t0,
        },
        t0,
    );
    s.apply(cmd(Command::Down), t0 + secs(1.0));
    assert_eq!(s.apply(unknown, t0 + secs(1.5)), vec![Action::PostExit(-1)]);
    assert_eq!(
        (s.tally.failures_total, s.phase.clone()),
        (0, Phase::Down { note: None })
    );
    assert_eq!(s.reason(t0 + secs(2.0)).as_deref(), Some("wanted down"));
}

/// The logger ending during runsv's `x` drain is not started again, and
/// its log line must not say it is.
#[test]
fn a_logger_ending_during_a_drain_is_not_starting_again() {
    let t0 = Instant::now();
    let logger = Policy {
        role: Role::Logger,
        ..policy()
    };
    let mut s = State::new(logger, Want::Up, t0);
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    let (_, acts) = s.step(exit_of(P, ExitHow::Code(0), false), t0 + secs(5.0));
    assert_eq!(
        acts[0],
        note(&format!(
            "logger (pid {P}) ended: exit code 0, up 5.0s; starting it again"
        ))
    );
    assert_eq!(s.apply(Event::Drain { code: 0 }, t0 + secs(5.0)), vec![]);
    let (_, acts) = s.step(exit_of(P, ExitHow::Code(0), false), t0 + secs(5.0));
    assert_eq!(
        acts.first(),
        Some(&note(&format!(
            "logger (pid {P}) ended: exit code 0, up 5.0s; not restarting: the supervisor exits"
        )))
    );
    assert_eq!(acts.last(), Some(&Action::Exit(0)));
}

/// SPEC §12: an operator's `up` while a restart is pending starts at once,
/// with a plain `restart: {delay: 6}` too (it said "Starting in 3.7
/// seconds").
#[test]
fn up_while_a_restart_is_pending_starts_at_once() {
    let t0 = Instant::now();
    let mut s = State::new(
        Policy {
            throttle: secs(6.0),
            ..policy()
        },
        Want::Up,
        t0,
    );
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    s.apply(exit_of(P, ExitHow::Code(1), false), t0 + secs(2.0));
    assert!(matches!(s.phase, Phase::Waiting { .. }), "{:?}", s.phase);
    assert_eq!(s.apply(cmd(Command::Up), t0 + secs(2.3)), vec![Action::Spawn]);
    assert_eq!(
        told(&s, Event::Spawned { pid: pid(P + 1) }, t0 + secs(2.3)),
        ["start", "up", "ready"]
    );
}

/// A health check that never passed is not healthy (it read healthy on
/// every poll, across every health restart).
#[test]
fn health_that_never_passed_is_not_healthy() {
    let t0 = Instant::now();
    let mut s = live(
        Policy {
            health: Some((secs(5.0), 1)),
            ..policy()
        },
        t0,
    );
    assert!(s.is_ready() && !s.is_healthy(), "no check has passed yet");
    s.apply(Event::Timer, t0 + secs(5.0));
    s.apply(failed_probe(""), t0 + secs(5.0));
    assert!(!s.is_healthy());
    s.apply(exit_of(P, ExitHow::Signal(libc::SIGTERM), false), t0 + secs(5.1));
    s.apply(Event::Spawned { pid: pid(P + 1) }, t0 + secs(5.1));
    assert!(s.is_ready() && !s.is_healthy(), "a health restart is no pass");
    s.apply(Event::Timer, t0 + secs(10.1));
    s.apply(ok_probe(), t0 + secs(10.1));
    assert!(s.is_healthy());
}

/// Every failed check is a `health` event with its count, and the restart
/// a health failure decides is a `restart` event with its reason (it was
/// one `health` event for two failed checks, and no `restart`).
#[test]
fn every_failed_check_and_the_restart_are_events() {
    let t0 = Instant::now();
    let mut s = live(
        Policy {
            health: Some((secs(5.0), 2)),
            ..policy()
        },
        t0,
    );
    let mut seen = Vec::new();
    let mut step = |s: &mut State, e: Event, at: f64| {
        let (next, acts) = s.step(e, t0 + secs(at));
        *s = next;
        for a in acts {
            if let Action::Tell(c) = a {
                seen.push(c);
            }
        }
    };
    step(&mut s, Event::Timer, 5.0);
    step(&mut s, failed_probe("PONG?"), 5.0);
    step(&mut s, Event::Timer, 10.0);
    step(&mut s, failed_probe("PONG?"), 10.0);
    step(&mut s, exit_of(P, ExitHow::Signal(libc::SIGTERM), false), 10.1);
    let names: Vec<&str> = seen.iter().map(|c| crate::supervise::changes::fields(c).0).collect();
    assert_eq!(names, ["health", "health", "exit", "down", "restart"]);
    assert_eq!(
        seen[1],
        Change::Health {
            healthy: false,
            output: Some("PONG?".into()),
            failures: Some((2, 2))
        }
    );
    assert_eq!(
        seen[4],
        Change::Restart {
            after: Duration::ZERO,
            backoff: None,
            reason: "health check failed 2 times: PONG?".into()
        }
    );
}

/// `oneshot: true`: exit 0 is `done` — ready (what requires it starts),
/// never restarted; a failure follows `restart:`; an operator's `up` runs
/// it again.
#[test]
fn a_one_shot_is_done_after_a_success_and_retried_after_a_failure() {
    let t0 = Instant::now();
    let oneshot = Policy {
        oneshot: true,
        restart: RestartSpec {
            max_delay: Some(secs(8.0)),
            ..RestartSpec::default()
        },
        ..policy()
    };
    let mut s = live(oneshot, t0);
    assert!(!s.is_ready(), "running is not done: what requires it waits");
    // A failure: restarted (after the throttle), like any service.
    s.apply(exit_of(P, ExitHow::Code(1), false), t0 + secs(0.5));
    assert!(matches!(s.phase, Phase::Waiting { .. }));
    assert!(!s.is_ready());
    s.apply(Event::Timer, t0 + secs(1.0));
    s.apply(Event::Spawned { pid: pid(P + 1) }, t0 + secs(1.0));
    // A success: done, ready, no deadline, nothing restarts it.
    assert_eq!(
        told(&s, exit_of(P + 1, ExitHow::Code(0), false), t0 + secs(3.0)),
        ["exit", "down", "done"]
    );
    let acts = s.apply(exit_of(P + 1, ExitHow::Code(0), false), t0 + secs(3.0));
    assert_eq!(acts, vec![Action::PostExit(0), note("ran to completion: done")]);
    assert_eq!(s.phase, Phase::Done { at: t0 + secs(3.0) });
    assert!(s.is_ready(), "what requires it may start");
    assert_eq!(
        (s.deadline(), s.reason(t0 + secs(9.0)).as_deref()),
        (None, Some("done"))
    );
    assert_eq!(
        s.record(std::time::SystemTime::UNIX_EPOCH).state,
        crate::status::RunState::Down
    );
    assert_eq!(s.apply(Event::Timer, t0 + secs(100.0)), vec![]);
    // An operator runs it again.
    assert_eq!(s.apply(cmd(Command::Up), t0 + secs(100.0)), vec![Action::Spawn]);
}

/// `immortalctl`'s row during a stop: what was sent, how long ago, when
/// KILL comes, and what follows.
#[test]
fn a_stop_under_way_is_told_in_the_status() {
    let t0 = Instant::now();
    let mut s = running(t0);
    s.apply(cmd(Command::Restart), t0 + secs(1.0));
    let svc = crate::service::Service::program(vec!["sleep".into()], None);
    let st = crate::api::status_of(&s, &svc, "web".into(), t0 + secs(3.1));
    let v = serde_json::to_value(&st).unwrap();
    assert_eq!(
        v["stopping"],
        serde_json::json!({"signal": "TERM", "since": "2.1s", "kill_in": "7.9s", "then": "restart"})
    );
    s.apply(Event::Timer, t0 + secs(11.0));
    let v = serde_json::to_value(crate::api::status_of(&s, &svc, "web".into(), t0 + secs(11.5))).unwrap();
    assert_eq!(
        v["stopping"],
        serde_json::json!({"signal": "KILL", "since": "0.5s", "then": "restart"})
    );
    let v = serde_json::to_value(crate::api::status_of(&running(t0), &svc, "web".into(), t0)).unwrap();
    assert!(v.get("stopping").is_none());
}

/// A start that fails before its exec (an `env_file:` that cannot be read)
/// is told in its own words by the table — reason, history and event —
/// not as an `exec failed: …` the loop would have to rewrite.
#[test]
fn a_start_failing_before_the_exec_says_why() {
    let t0 = Instant::now();
    let mut s = State::new(policy(), Want::Up, t0);
    s.apply(Event::Start, t0);
    let why = "env_file /etc/app.env:3: missing '=' (NAME=value): DEBUG";
    let failed = Event::SpawnFailed {
        errno: libc::EINVAL,
        why: Some(why.into()),
    };
    let (_, acts) = s.step(failed.clone(), t0);
    assert!(acts.contains(&Action::Tell(Change::Exit {
        pid: None,
        how: Some(ExitHow::Code(127)),
        uptime: Duration::ZERO,
        reason: why.into()
    })));
    s.apply(failed, t0);
    assert_eq!(s.history[0].reason, why);
    assert_eq!(
        s.reason(t0).as_deref(),
        Some(format!("{why}; restarting in 1.0s").as_str())
    );
}
