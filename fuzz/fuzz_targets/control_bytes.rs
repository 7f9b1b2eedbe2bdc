//! Control bytes (runit's `sv`, daemontools' `svc`, `s6-svc`) and socket
//! commands driving the supervisor's state machine, interleaved with
//! exits, timers and answers in any order the event loop can produce them,
//! under a few configurations. Never a panic; `down` never starts it.
//!
//! Kept small and on the API the loop itself uses — `State::new`,
//! `State::step`, `Event`, `Action`, `control::from_byte` — so that a
//! rewrite of the state machine's insides does not break it. The policy
//! comes from a `run.yml` text, as the supervisor's does.
#![no_main]
use immortal::control::{from_byte, Command};
use immortal::supervise::state::{Action, Event, ExitHow, Named, Notice, Policy, Role, Sender, State, Want};
use libfuzzer_sys::fuzz_target;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Configurations that take different paths: the defaults, few retries, a
/// stop deadline, backoff and a breaker, readiness told or probed, health
/// and watchdog, absurd durations.
const CONFIGS: [&str; 8] = [
    "cmd: x\n",
    "cmd: x\nwait: 1\nretries: 1\n",
    "cmd: x\nstop: {signal: USR1, group: false, timeout: 2}\n",
    "cmd: x\nrestart: {policy: on-failure, delay: 0.5, max_delay: 8, limit: {count: 3, within: 10}}\nessential: true\n",
    "cmd: x\nready: {fd: 3, timeout: 2}\n",
    "cmd: x\nready: {cmd: x, interval: 0.5}\nhealth: {cmd: x, interval: 1, failures: 2}\n",
    "cmd: x\nready: notify\nwatchdog: 1\n",
    "cmd: x\nwait: 18446744073709551615\nstop: {timeout: 18446744073709551615}\nretries: 9223372036854775807\n",
];

/// Every configuration as a service, a runit `log/run` and a `logger:`,
/// in a service directory or not: made once (YAML is slow to parse).
fn policies() -> &'static [Policy] {
    static ALL: OnceLock<Vec<Policy>> = OnceLock::new();
    ALL.get_or_init(|| {
        let path = Path::new("run.yml");
        let mut all = Vec::new();
        for text in CONFIGS {
            let yml = immortal::config::parse(path, text).expect("a fixed run.yml");
            let svc = immortal::service::from_yml(path, &yml).expect("a fixed service");
            for role in [Role::Service, Role::Log, Role::Logger] {
                for service_dir in [false, true] {
                    all.push(immortal::supervise::policy(&svc, role, service_dir));
                }
            }
        }
        all
    })
}

fuzz_target!(|data: &[u8]| {
    let [setup, events @ ..] = data else {
        return;
    };
    let policy = policies()[usize::from(setup & 127) % 48];
    let want = if setup & 128 != 0 { Want::Down } else { Want::Up };
    let mut now = Instant::now();
    let mut state = State::new(policy, want, now);
    // Processes started and not yet reaped (and whether each is a
    // `./finish`, which has no group); answers the loop gives later.
    let mut live: Vec<(Pid, bool)> = Vec::new();
    let mut next_pid = 100;
    let (mut control_runs, mut probe_runs) = (false, false);
    let mut queue = vec![Event::Start];
    let mut input = events.chunks(2);
    loop {
        // As the loop does: an event, then the answers to its actions
        // (the immediate ones) before anything else.
        while let Some(event) = queue.pop() {
            let down = matches!(
                event,
                Event::Command(Command::Down) | Event::Control { cmd: Command::Down, .. }
            );
            let (next, actions) = state.step(event, now);
            state = next;
            assert!(!(down && actions.contains(&Action::Spawn)), "down started the service");
            let mut answers = Vec::new();
            for action in actions {
                let pick = input.clone().next().map_or(0, |p| p[0]);
                answers.push(match action {
                    Action::Spawn if pick & 1 == 0 => {
                        next_pid += 1;
                        live.push((Pid::from_raw(next_pid), false));
                        Event::Spawned {
                            pid: Pid::from_raw(next_pid),
                        }
                    }
                    Action::Spawn => Event::SpawnFailed {
                        errno: 2,
                        why: (pick & 32 != 0).then(|| "env_file x:1: missing =".into()),
                    },
                    Action::SpawnFinish { .. } if pick & 2 == 0 => {
                        next_pid += 1;
                        live.push((Pid::from_raw(next_pid), true));
                        Event::FinishSpawned {
                            pid: Pid::from_raw(next_pid),
                        }
                    }
                    Action::SpawnFinish { .. } => Event::FinishFailed,
                    Action::ReadPidFile { .. } => Event::PidFile {
                        found: Err("pid file: none".into()),
                        descendants: pick & 4 != 0,
                    },
                    Action::ProbeGroup(_) => Event::GroupProbed { alive: pick & 8 != 0 },
                    Action::RunControl { .. } if pick & 16 == 0 => Event::ControlDone { how: None },
                    Action::RunControl { .. } => {
                        control_runs = true;
                        continue;
                    }
                    Action::Probe(_) => {
                        probe_runs = true;
                        continue;
                    }
                    Action::ReloadConfig => Event::Reconfigured(Box::new(policy)),
                    Action::Exit(_) | Action::Drain(_) => return,
                    _ => continue,
                });
            }
            queue.extend(answers.into_iter().rev());
        }
        let Some(pair) = input.next() else { return };
        let (kind, arg) = (pair[0] >> 4, pair.get(1).copied().unwrap_or(0));
        // An exit whose status nobody could read (not our child) too.
        let how = match (arg & 128 != 0, arg & 64 != 0) {
            (true, _) => Some(ExitHow::Signal(i32::from(arg & 31))),
            (false, true) => None,
            (false, false) => Some(ExitHow::Code(i32::from(arg & 63))),
        };
        queue.push(match kind {
            0..=3 => match from_byte(arg) {
                Some(cmd) if kind == 0 => Event::Command(cmd),
                Some(cmd) => Event::Control { byte: arg, cmd },
                None => continue,
            },
            4 => Event::Command([Command::Restart, Command::Halt][usize::from(arg & 1)]),
            5..=7 => {
                now += Duration::from_millis(u64::from(arg) * 20);
                Event::Timer
            }
            8..=10 if !live.is_empty() => {
                let (pid, finish) = live.remove(usize::from(arg) % live.len());
                Event::Exited {
                    pid,
                    how,
                    group_alive: kind == 9 && !finish,
                    seen_pgid: Some(pid),
                    oom_killed: kind == 10,
                }
            }
            11 if control_runs => {
                control_runs = false;
                Event::ControlDone { how }
            }
            12 if probe_runs => {
                probe_runs = false;
                Event::Probed {
                    ok: arg & 1 != 0,
                    output: "probe said".into(),
                }
            }
            13 => Event::Notified(
                [Notice::Ready, Notice::Reloading, Notice::Stopping, Notice::Watchdog][usize::from(arg & 3)],
            ),
            14 => Event::Signal {
                sig: [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGUSR1][usize::from(arg & 3)],
                detached: arg & 4 != 0,
            },
            15 => match arg & 3 {
                0 => Event::Drain {
                    code: i32::from(arg >> 2),
                },
                1 => Event::NotifyClosed,
                _ => Event::Datagram {
                    from: (arg & 4 != 0).then(|| Sender {
                        pid: live.first().map_or(Pid::from_raw(7), |(p, _)| *p),
                        uid: 0,
                        alive: arg & 8 != 0,
                        pgid: None,
                        descends: arg & 16 != 0,
                    }),
                    notices: vec![Notice::Ready],
                    status: Some("fuzzed".into()),
                    main_pid: (arg & 32 != 0).then(|| Named {
                        pid: Pid::from_raw(999),
                        found: None,
                        descends: arg & 64 != 0,
                    }),
                },
            },
            _ => continue,
        });
    }
});
