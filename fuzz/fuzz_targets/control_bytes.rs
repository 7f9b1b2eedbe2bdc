//! Control bytes (and everything else that happens to a service) driving
//! the supervisor's state machine: any byte sequence from the control
//! FIFO, interleaved with starts, exits, timers and group events in any
//! order the event loop can produce them. Never a panic; a few invariants.
#![no_main]
use immortal::control::{from_byte, Command};
use immortal::service::StopSpec;
use immortal::supervise::state::{Action, Event, ExitHow, Phase, Policy, State, Want, MIN_RUN};
use libfuzzer_sys::fuzz_target;
use nix::unistd::Pid;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let [setup, scale, events @ ..] = data else {
        return;
    };
    let (setup, scale) = (*setup, *scale);
    // Durations as a configuration may give them: small, or absurd.
    let duration = |unit: u8| match scale & unit {
        0 => Duration::from_millis(u64::from(setup & 3) * 700),
        _ => Duration::from_secs(u64::MAX >> (scale >> 4)),
    };
    let policy = Policy {
        wait: duration(1),
        retries: i64::from((setup >> 2) & 3) - 1,
        stop: StopSpec {
            timeout: (setup & 16 != 0).then(|| duration(2).saturating_add(Duration::from_secs(1))),
            ..StopSpec::default()
        },
        may_exit: setup & 32 != 0,
        has_finish: setup & 64 != 0,
        throttle: MIN_RUN,
    };
    let want = if setup & 128 != 0 { Want::Down } else { Want::Up };
    let mut now = Instant::now();
    let mut s = State::new(policy, want, now);
    let mut pending = s.step(Event::Start, now);
    let mut next_pid = 100;
    for pair in events.chunks(2) {
        let (kind, arg) = (pair[0], pair.get(1).copied().unwrap_or(0));
        let spawn_asked = pending.contains(&Action::Spawn);
        let finish_asked = pending.iter().any(|a| matches!(a, Action::SpawnFinish(_)));
        let event = match kind % 8 {
            0 => match from_byte(arg) {
                Some(cmd) => Event::Command(cmd),
                None => continue,
            },
            1 => {
                now += Duration::from_millis(u64::from(arg) * 20);
                if !s.deadline().is_some_and(|d| d <= now) {
                    continue;
                }
                Event::Timer
            }
            2 if spawn_asked => {
                next_pid += 1;
                Event::Spawned {
                    pid: Pid::from_raw(next_pid),
                }
            }
            2 if finish_asked => {
                next_pid += 1;
                Event::FinishSpawned {
                    pid: Pid::from_raw(next_pid),
                }
            }
            3 => {
                let Some(pid) = s.tracked_pid() else { continue };
                let how = if arg & 128 != 0 {
                    ExitHow::Signal(i32::from(arg & 31))
                } else {
                    ExitHow::Code(i32::from(arg))
                };
                Event::Exited {
                    pid,
                    how,
                    group_alive: arg & 64 != 0,
                    follow: None,
                }
            }
            4 if s.awaits_group().is_some() => Event::GroupGone,
            5 if spawn_asked => Event::SpawnFailed { errno: 2 },
            5 if finish_asked => Event::FinishFailed,
            6 => match arg % 4 {
                0 => Event::Leftovers {
                    pgid: Pid::from_raw(99),
                },
                1 => Event::HandOverPending {
                    until: now + Duration::from_secs(3),
                },
                2 => Event::Command(Command::Restart),
                _ => Event::Command(Command::Halt),
            },
            7 => {
                next_pid += 1;
                let pid = Pid::from_raw(next_pid);
                Event::Followed { pid, pgid: pid }
            }
            _ => continue,
        };
        let actions = s.step(event, now);
        if matches!(event, Event::Command(Command::Down)) {
            assert!(!actions.contains(&Action::Spawn), "down started the service");
        }
        if matches!(s.phase, Phase::Running { .. }) {
            assert!(s.main_pid().is_some());
        }
        assert!(s.changed <= now);
        // The status record of every state encodes and decodes.
        let record = s.record(std::time::SystemTime::now());
        let back = immortal::status::decode(&immortal::status::encode(&record)).expect("own record");
        assert_eq!(back.pid, record.pid);
        pending = actions;
    }
});
