use super::*;

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
    assert!(matches!(s.apply(adopted, t0)[..], [Action::Note(_)]));
    assert_eq!(
        s.phase,
        Phase::Running {
            main: proc_(Origin::Adopted, since),
            term_sent: false
        }
    );
    assert_eq!(s.watched_pid(), Some(pid(P)), "not our child: watched by pidfd");
    assert!(!s.following());
    assert_eq!((s.count, s.changed), (0, since));
    // It is the service: `down` stops its group like any other.
    assert_eq!(s.apply(Event::Command(Command::Down), t0), term_cont_group());
    let exit = Event::Exited {
        pid: pid(P),
        how: ExitHow::Code(0),
        group_alive: false,
        seen_pgid: None,
        oom_killed: false,
    };
    s.apply(exit, t0 + secs(0.1));
    assert_eq!(s.phase, Phase::Down);
    assert_eq!(s.watched_pid(), None);
    // A start right after the adoption waits for the throttle.
    assert_eq!(s.apply(Event::Command(Command::Up), t0 + secs(0.2)), vec![]);
    assert_eq!(s.phase, Phase::Waiting { at: t0 + MIN_RUN });
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
    assert_eq!(s.count, 1);
    assert_eq!(
        s.phase,
        Phase::Running {
            main: proc_(Origin::Spawned, t0),
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
    assert_eq!(s.phase, Phase::Waiting { at: t0 + secs(2.0) });
    assert_eq!(s.apply(Event::Timer, t0 + secs(1.0)), vec![]);
    assert_eq!(s.apply(Event::Timer, t0 + secs(2.0)), vec![Action::Spawn]);
    s.apply(Event::Spawned { pid: pid(P) }, t0 + secs(2.0));
    let exit = Event::Exited {
        pid: pid(P),
        how: ExitHow::Code(0),
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
        how: ExitHow::Code(1),
        group_alive: false,
        seen_pgid: None,
        oom_killed: false,
    };
    // Crashed after 0.2 s: the next start waits until 1 s after the last.
    assert_eq!(s.apply(exit, t0 + secs(0.2)), vec![Action::PostExit(1)]);
    assert_eq!(s.phase, Phase::Waiting { at: t0 + MIN_RUN });
    assert_eq!(s.apply(Event::Timer, t0 + MIN_RUN), vec![Action::Spawn]);
    s.apply(Event::Spawned { pid: pid(P + 1) }, t0 + MIN_RUN);
    // Ran for 5 s: restarts at once.
    let exit = Event::Exited {
        pid: pid(P + 1),
        how: ExitHow::Signal(9),
        group_alive: false,
        seen_pgid: None,
        oom_killed: false,
    };
    assert_eq!(
        s.apply(exit, t0 + secs(6.0)),
        vec![Action::PostExit(137), Action::Spawn]
    );
    assert_eq!(s.last_exit, Some(ExitHow::Signal(9)));
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
            how: ExitHow::Code(3),
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
            how: ExitHow::Code(3),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
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
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: ExitHow::Code(0),
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
        (s.want, s.phase),
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
    assert_eq!(s.apply(Event::SpawnFailed { errno: libc::ENOENT }, t0), vec![]);
    assert_eq!(
        s.reason(t0).as_deref(),
        Some("exec failed: No such file or directory; restarting in 1.0s")
    );
    assert_eq!(s.count, 1);
    assert_eq!(s.phase, Phase::Waiting { at: t0 + MIN_RUN });
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
        acts.contains(&Action::Kill(Target::Group(pid(P)), Signal::SIGKILL)),
        "{acts:?}"
    );
    // Main exits by KILL; its group is gone too: down, no restart.
    let exit = Event::Exited {
        pid: pid(P),
        how: ExitHow::Signal(9),
        group_alive: false,
        seen_pgid: None,
        oom_killed: false,
    };
    assert_eq!(s.apply(exit, t1 + secs(10.1)), vec![Action::PostExit(137)]);
    assert_eq!(s.phase, Phase::Down);
    assert_eq!(s.deadline(), None);
}

#[test]
fn down_waits_for_the_whole_group() {
    let t0 = Instant::now();
    let mut s = running(t0);
    s.apply(Event::Command(Command::Down), t0);
    let exit = Event::Exited {
        pid: pid(P),
        how: ExitHow::Signal(15),
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
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    let acts = s.apply(Event::Command(Command::Down), t0);
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
    s.apply(Event::Command(Command::Down), t0);
    s.apply(
        Event::Exited {
            pid: pid(P),
            how: ExitHow::Code(0),
            group_alive: true,
            seen_pgid: None,
            oom_killed: false,
        },
        t0,
    );
    let acts = s.apply(Event::Timer, t0 + secs(10.0));
    assert_eq!(acts[1..], [Action::Kill(Target::Group(pid(P)), Signal::SIGKILL)]);
    assert_eq!(s.deadline(), Some(t0 + secs(11.0)));
    assert_eq!(s.apply(Event::Timer, t0 + secs(11.0)), vec![]);
    assert_eq!(s.deadline(), Some(t0 + secs(12.0)));
    s.apply(GONE, t0 + secs(11.5));
    assert_eq!(s.phase, Phase::Down);
}

#[test]
fn halt_stops_then_exits() {
    let t0 = Instant::now();
    let mut s = running(t0);
    assert_eq!(s.apply(Event::Command(Command::Halt), t0), term_cont_group());
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: ExitHow::Code(0),
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
            how: ExitHow::Code(0),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(5.0),
    );
    assert_eq!(acts, vec![Action::PostExit(0)]);
    assert_eq!((s.want, s.phase), (Want::Down, Phase::Down));
    // `once` while running up: finish this run, no restart.
    let mut s = running(t0);
    s.apply(Event::Command(Command::Once), t0);
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: ExitHow::Code(0),
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
            how: ExitHow::Signal(15),
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
            how: ExitHow::Code(0),
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
    assert_eq!((s.phase, s.deadline()), (Phase::Down, None));
}

#[test]
fn signals_go_to_the_main_pid_and_pause_is_tracked() {
    let t0 = Instant::now();
    let mut s = running(t0);
    assert_eq!(
        s.apply(Event::Command(Command::Signal(Signal::SIGHUP)), t0),
        vec![Action::Kill(Target::Pid(pid(P)), Signal::SIGHUP)]
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
                how: ExitHow::Code(0),
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
            how: ExitHow::Signal(9),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0 + secs(5.0),
    );
    assert_eq!(
        acts,
        vec![Action::PostExit(137), Action::SpawnFinish(ExitHow::Signal(9))]
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
            how: ExitHow::Code(0),
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
            how: ExitHow::Code(2),
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
    assert_eq!(acts[1], Action::Kill(Target::Group(pid(77)), Signal::SIGKILL));
    let acts = s.apply(
        Event::Exited {
            pid: pid(77),
            how: ExitHow::Signal(9),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
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
            service_dir: true,
            ..policy()
        },
        Want::Up,
        t0,
    );
    s.apply(Event::Start, t0);
    s.apply(Event::Spawned { pid: pid(P) }, t0);
    s.apply(Event::Command(Command::Halt), t0);
    assert_eq!(s.want, Want::Exit);
    assert!(s.record(std::time::SystemTime::UNIX_EPOCH).term_sent);
    let acts = s.apply(
        Event::Exited {
            pid: pid(P),
            how: ExitHow::Signal(15),
            group_alive: false,
            seen_pgid: None,
            oom_killed: false,
        },
        t0,
    );
    assert_eq!(
        acts,
        vec![Action::PostExit(143), Action::SpawnFinish(ExitHow::Signal(15))]
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
            how: ExitHow::Code(0),
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
            how: ExitHow::Code(0),
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
    assert_eq!((s.phase, s.deadline()), (Phase::Down, None), "waiting start cancelled");
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
        how,
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
    assert_eq!(s.count, 1);
    assert_eq!(s.main_pid(), Some(pid(900)));
    assert_eq!(
        s.apply(Event::Command(Command::Signal(Signal::SIGHUP)), t0),
        vec![Action::Kill(Target::Pid(pid(900)), Signal::SIGHUP)]
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
    assert_eq!(acts[0], Action::Kill(Target::Group(pid(900)), Signal::SIGTERM));
    let acts = s.apply(exit_of(900, ExitHow::Signal(15), false), t0 + secs(1.1));
    assert_eq!(acts, vec![Action::PostExit(143)]);
    assert!(!s.following());
    assert_eq!(s.phase, Phase::Down);
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
    assert_eq!((s.main_pid(), s.count, s.following()), (Some(pid(900)), 1, true));
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
    assert_eq!((s.main_pid(), s.count, s.hold_until), (Some(pid(900)), 1, None));
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
    assert_eq!(s.last_group, Some(group(P)));
    assert_eq!(s.apply(Event::Timer, t0 + MIN_RUN), vec![Action::ProbeGroup(group(P))]);
    let acts = s.apply(Event::GroupProbed { alive: true }, t0 + MIN_RUN);
    assert_eq!(acts[1], Action::Kill(Target::Group(pid(P)), Signal::SIGTERM));
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
    assert_eq!((s.phase, s.want), (Phase::Down, Want::Down));
    // Down asks first when the last group may have members.
    let mut s = running(t0);
    s.apply(Event::Command(Command::Down), t0);
    s.apply(exit_of(P, ExitHow::Code(0), false), t0);
    assert_eq!(s.last_group, None, "an empty group never fills again");
    assert_eq!(s.apply(Event::Command(Command::Down), t0), vec![]);
    let mut s = running(t0);
    s.apply(Event::Command(Command::Once), t0);
    s.last_group = Some(group(P));
    s.apply(exit_of(P, ExitHow::Code(0), false), t0);
    s.last_group = Some(group(P));
    assert_eq!(
        s.apply(Event::Command(Command::Halt), t0),
        vec![Action::ProbeGroup(group(P))]
    );
    assert_eq!(s.apply(GONE, t0), vec![Action::Exit(0)]);
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

/// One cell of the transition table: in `given`, `event` at `t` leads to
/// a state whose phase is `phase` and whose want is `want`, with `actions`.
struct Row {
    cell: &'static str,
    given: State,
    event: Event,
    at: f64,
    phase: fn(&Phase) -> bool,
    want: Want,
    actions: Vec<Action>,
}

fn check(rows: Vec<Row>, t0: Instant) {
    for row in rows {
        let before = row.given.clone();
        let (after, actions) = row.given.step(row.event.clone(), t0 + secs(row.at));
        assert_eq!(before, row.given, "{}: step must not change its input", row.cell);
        assert_eq!(actions, row.actions, "{}: actions", row.cell);
        assert!((row.phase)(&after.phase), "{}: phase {:?}", row.cell, after.phase);
        assert_eq!(after.want, row.want, "{}: want", row.cell);
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
    s.control = Some((byte, cmd));
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
    Action::Kill(Target::Group(Pid::from_raw(P)), Signal::SIGTERM),
    Action::Kill(Target::Group(Pid::from_raw(P)), Signal::SIGCONT),
];

#[test]
fn transition_table() {
    let t0 = Instant::now();
    let up = State::new(policy(), Want::Up, t0);
    let down = State::new(policy(), Want::Down, t0);
    let run = running(t0);
    let mut stopping_rest = running(t0);
    stopping_rest.apply(Event::Command(Command::Down), t0);
    stopping_rest.apply(exit_of(P, ExitHow::Code(0), true), t0);
    let mut waiting = running(t0);
    waiting.apply(exit_of(P, ExitHow::Code(1), false), t0 + secs(0.2));
    let mut spawning = State::new(policy(), Want::Up, t0);
    spawning.apply(Event::Start, t0);
    let is_down = |p: &Phase| *p == Phase::Down;
    let is_running = |p: &Phase| matches!(p, Phase::Running { .. });
    let is_stopping = |p: &Phase| matches!(p, Phase::Stopping { .. });
    let is_waiting = |p: &Phase| matches!(p, Phase::Waiting { .. });
    let is_spawning = |p: &Phase| *p == Phase::Asked(Ask::Spawn);
    #[rustfmt::skip]
    let rows = vec![
        Row { cell: "down, want up: start spawns", given: up.clone(), event: Event::Start, at: 0.0,
              phase: is_spawning, want: Want::Up, actions: vec![Action::Spawn] },
        Row { cell: "down, want down (./down): start does nothing", given: down.clone(), event: Event::Start, at: 0.0,
              phase: is_down, want: Want::Down, actions: vec![] },
        Row { cell: "spawning: spawned runs", given: spawning.clone(), event: Event::Spawned { pid: pid(P) }, at: 0.0,
              phase: is_running, want: Want::Up, actions: vec![] },
        Row { cell: "spawning: exec failure waits for the throttle", given: spawning.clone(),
              event: Event::SpawnFailed { errno: libc::EACCES }, at: 0.0,
              phase: is_waiting, want: Want::Up, actions: vec![] },
        Row { cell: "running: a stray spawn answer changes nothing", given: run.clone(), event: Event::Spawned { pid: pid(9) },
              at: 0.0, phase: is_running, want: Want::Up, actions: vec![] },
        Row { cell: "waiting: early timer", given: waiting.clone(), event: Event::Timer, at: 0.5,
              phase: is_waiting, want: Want::Up, actions: vec![] },
        Row { cell: "waiting: timer due spawns", given: waiting.clone(), event: Event::Timer, at: 1.0,
              phase: is_spawning, want: Want::Up, actions: vec![Action::Spawn] },
        Row { cell: "waiting: down cancels", given: waiting.clone(), event: Event::Command(Command::Down), at: 0.5,
              phase: is_down, want: Want::Down, actions: vec![] },
        Row { cell: "running: down stops the group", given: run.clone(), event: Event::Command(Command::Down), at: 1.0,
              phase: is_stopping, want: Want::Down, actions: STOP.to_vec() },
        Row { cell: "running: sv's d (no service dir)", given: run.clone(), event: ctl(b'd'), at: 1.0,
              phase: is_stopping, want: Want::Down, actions: [vec![note("control 'd'")], STOP.to_vec()].concat() },
        Row { cell: "service dir: a letter asks for control/<letter> first", given: in_dir(run.clone()), event: ctl(b'd'), at: 1.0,
              phase: is_running, want: Want::Up,
              actions: vec![note("control 'd'"), Action::RunControl { byte: b'd', main: Some(pid(P)) }] },
        Row { cell: "service dir: D also writes ./down", given: in_dir(run.clone()), event: ctl(b'D'), at: 1.0,
              phase: is_running, want: Want::Up,
              actions: vec![note("control 'D'"), Action::DownFile(true), Action::RunControl { byte: b'D', main: Some(pid(P)) }] },
        Row { cell: "control/d exit 0: d is not replaceable, it stops", given: controlling(in_dir(run.clone()), b'd', Command::Down),
              event: Event::ControlDone { how: Some(ExitHow::Code(0)) }, at: 1.0,
              phase: is_stopping, want: Want::Down, actions: STOP.to_vec() },
        Row { cell: "control/t exit 0 replaces TERM", given: controlling(in_dir(run.clone()), b't', Command::Signal(Signal::SIGTERM)),
              event: Event::ControlDone { how: Some(ExitHow::Code(0)) }, at: 1.0,
              phase: is_running, want: Want::Up, actions: vec![] },
        Row { cell: "control/t exit 1: TERM is sent", given: controlling(in_dir(run.clone()), b't', Command::Signal(Signal::SIGTERM)),
              event: Event::ControlDone { how: Some(ExitHow::Code(1)) }, at: 1.0,
              phase: is_running, want: Want::Up, actions: vec![Action::Kill(Target::Pid(pid(P)), Signal::SIGTERM)] },
        Row { cell: "a letter while control/<letter> runs waits", given: controlling(in_dir(run.clone()), b't', Command::Signal(Signal::SIGTERM)),
              event: ctl(b'd'), at: 1.0, phase: is_running, want: Want::Up, actions: vec![] },
        Row { cell: "log/run ignores x", given: as_log(run.clone()), event: ctl(b'x'), at: 1.0,
              phase: is_running, want: Want::Up, actions: vec![] },
        Row { cell: "running: exit 0 after 5 s restarts at once", given: run.clone(), event: exit_of(P, ExitHow::Code(0), false), at: 5.0,
              phase: is_spawning, want: Want::Up, actions: vec![Action::PostExit(0), Action::Spawn] },
        Row { cell: "running: someone else's exit", given: run.clone(), event: exit_of(7, ExitHow::Code(0), false), at: 5.0,
              phase: is_running, want: Want::Up, actions: vec![] },
        Row { cell: "stopping, rest of the group alive: a probe that says alive", given: stopping_rest.clone(),
              event: Event::GroupProbed { alive: true }, at: 0.5, phase: is_stopping, want: Want::Down, actions: vec![] },
        Row { cell: "stopping, rest of the group gone: down", given: stopping_rest.clone(), event: GONE, at: 0.5,
              phase: is_down, want: Want::Down, actions: vec![] },
        Row { cell: "stopping: KILL at the deadline", given: stopping_rest.clone(), event: Event::Timer, at: 10.0,
              phase: is_stopping, want: Want::Down,
              actions: vec![note(&format!("stop timeout: sending KILL to process group {P}")), Action::Kill(Target::Group(pid(P)), Signal::SIGKILL)] },
        Row { cell: "log/run, the service exits: drain (no restart, no signal)", given: as_log(run.clone()), event: Event::Drain, at: 1.0,
              phase: is_running, want: Want::Exit, actions: vec![] },
        Row { cell: "exit wins: up after halt changes nothing", given: { let mut s = run.clone(); s.apply(Event::Command(Command::Halt), t0); s },
              event: Event::Command(Command::Up), at: 1.0, phase: is_stopping, want: Want::Exit, actions: vec![] },
        Row { cell: "down: a signal is refused", given: down.clone(), event: Event::Command(Command::Signal(Signal::SIGHUP)), at: 0.0,
              phase: is_down, want: Want::Down, actions: vec![Action::Refuse("service not running".into())] },
    ];
    check(rows, t0);
}

/// Every event in every phase: a decision, never a panic, and `step`
/// leaves its input alone.
#[test]
fn every_cell_is_decided() {
    let t0 = Instant::now();
    let mut phases = vec![State::new(policy(), Want::Up, t0), running(t0)];
    let mut s = running(t0);
    s.apply(Event::Command(Command::Down), t0);
    phases.push(s.clone());
    s.apply(exit_of(P, ExitHow::Code(0), true), t0);
    phases.push(s);
    let mut s = in_dir(running(t0));
    s.apply(exit_of(P, ExitHow::Code(0), false), t0);
    phases.push(s.clone());
    s.apply(Event::FinishSpawned { pid: pid(77) }, t0);
    phases.push(s);
    let mut s = following_policy(t0);
    s.apply(exit_of(P, ExitHow::Code(0), false), t0);
    phases.push(s);
    let mut s = State::new(policy(), Want::Up, t0);
    s.apply(Event::Start, t0);
    phases.push(s);
    let mut s = running(t0);
    s.apply(exit_of(P, ExitHow::Code(0), false), t0 + secs(0.1));
    phases.push(s);
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
    s.apply(exit_of(P, ExitHow::Code(1), false), t0 + secs(2.0));
    assert!(matches!(s.phase, Phase::Failed { .. }), "{:?}", s.phase);
    phases.push(s);
    // Running, not ready yet, a probe in flight; and ready with health.
    let mut s = live(probing_policy(), t0);
    s.apply(Event::Timer, t0);
    phases.push(s.clone());
    s.apply(ok_probe(), t0);
    phases.push(s);
    let events = vec![
        Event::Start,
        Event::Adopted {
            pid: pid(5),
            pgid: pid(5),
            spawned_pgid: pid(5),
            since: t0,
        },
        Event::Timer,
        Event::Spawned { pid: pid(6) },
        Event::SpawnFailed { errno: libc::ENOENT },
        found(900, 900),
        Event::PidFile {
            found: Err("x".into()),
            descendants: true,
        },
        Event::GroupProbed { alive: true },
        GONE,
        exit_of(P, ExitHow::Signal(9), true),
        exit_of(77, ExitHow::Code(0), false),
        Event::FinishSpawned { pid: pid(77) },
        Event::FinishFailed,
        Event::Regrouped {
            pid: pid(P),
            pgid: pid(P),
        },
        Event::Reconfigured(Box::new(policy())),
        Event::Drain,
        Event::ControlDone { how: None },
        Event::Notified(Notice::Ready),
        Event::Notified(Notice::Reloading),
        Event::Notified(Notice::Stopping),
        Event::Notified(Notice::Watchdog),
        Event::MainPid(Candidate {
            pid: pid(900),
            pgid: pid(P),
            our_child: false,
        }),
        Event::Probed {
            ok: true,
            output: String::new(),
        },
        Event::Probed {
            ok: false,
            output: "refused".into(),
        },
    ]
    .into_iter()
    .chain(b"udoOpcrxhaiq12tkbyUD".iter().map(|&b| ctl(b)))
    .chain(
        [
            Command::Up,
            Command::Down,
            Command::Once,
            Command::OnceAtMost,
            Command::Pause,
            Command::Continue,
            Command::Restart,
            Command::RestartSignal,
            Command::Halt,
            Command::Exit { stop_service: false },
            Command::Exit { stop_service: true },
            Command::Signal(Signal::SIGUSR1),
        ]
        .map(Event::Command),
    );
    let events: Vec<Event> = events.collect();
    let mut seen = std::collections::HashSet::new();
    for given in &phases {
        seen.insert(std::mem::discriminant(&given.phase));
        for event in &events {
            for dt in [0.0, 0.5, 20.0] {
                let before = given.clone();
                let (after, _) = given.step(event.clone(), t0 + secs(dt));
                assert_eq!(&before, given);
                // The main process is always one the state can name.
                if let Some(main) = after.main() {
                    assert!(main.pid.as_raw() > 0);
                }
            }
        }
    }
    assert_eq!(seen.len(), 7, "every phase is covered");
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
    assert_eq!(s.failures, 1, "counted as a failure");
    assert_eq!(s.history[0].reason, "not ready within 2s");
    s.apply(Event::Spawned { pid: pid(P + 1) }, t0 + secs(2.1));
    assert_eq!(s.unhealthy, None, "a new run starts clean");
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
    assert_eq!(s.health_text.as_deref(), Some("PONG missing"));
    probe(&mut s, false);
    assert_eq!(probe(&mut s, true), vec![]);
    assert_eq!((s.live.health_failures, s.health_text.as_deref()), (0, None));
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
            then: AfterStop::Unhealthy,
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
        s.apply(Event::MainPid(c), t0 + secs(2.0))[..],
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
    assert_eq!(s.failures, 2);
    // Ready for 60 s: forgotten.
    s.apply(Event::Timer, t0 + secs(202.0));
    s.apply(Event::Spawned { pid: pid(P) }, t0 + secs(202.0));
    s.apply(Event::Notified(Notice::Ready), t0 + secs(203.0));
    s.apply(exit_of(P, ExitHow::Code(1), false), t0 + secs(263.0));
    assert_eq!(s.failures, 1);
}

fn oom_exit(n: i32, how: ExitHow) -> Event {
    Event::Exited {
        pid: pid(n),
        how,
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
    assert_eq!(s.failures_total, 1);
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
    assert_eq!(s.failures_total, 1, "a failure, not the stop it was asked for");
}
