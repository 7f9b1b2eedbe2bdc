//! `immortalctl events NAME|'*'` and `immortalctl wait [-t S] up|ready|down
//! NAME`: both follow the supervisors' `GET /events`, so a wait ends the
//! moment the state is reached, with no polling. A runit or daemontools
//! service (no socket) is waited for through inotify on its `status` file.
//!
//! `events '*'` reads `immortalsvc`'s merged stream when one runs, else
//! every supervisor's stream at once.

use super::args::Until;
use super::discover::{explain, Channel, Found};
use crate::client::{self, EventStream};
use crate::layout;
use nix::poll::{poll, PollFd, PollFlags};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Whether status `v` is the state waited for.
pub fn reached(until: Until, v: &Value) -> bool {
    let state = v.get("state").and_then(Value::as_str).unwrap_or("");
    let running = state == "run" && v.get("pid").and_then(Value::as_i64).unwrap_or(0) > 0;
    match until {
        Until::Up => running,
        // No `ready` field (runit, an older supervisor): running is ready.
        // A one-shot that ran to completion is ready, and its process down.
        Until::Ready => (running || state == "done") && v.get("ready").and_then(Value::as_bool) != Some(false),
        Until::Down => matches!(state, "down" | "failed" | "done"),
    }
}

/// One event as a line for people: `TIME SERVICE EVENT key=value…`.
pub fn human(line: &str) -> String {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(line) else {
        return line.to_string();
    };
    let text = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut out = format!("{} {} {}", text("time"), text("service"), text("event"));
    for (k, v) in &map {
        if matches!(k.as_str(), "time" | "service" | "event") {
            continue;
        }
        match v {
            Value::String(s) if s.contains(' ') => out += &format!(" {k}={s:?}"),
            Value::String(s) => out += &format!(" {k}={s}"),
            other => out += &format!(" {k}={other}"),
        }
    }
    out
}

fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "immortalctl: {msg}");
}

/// Follow the events of `services` (or of `immortalsvc`'s socket, `merged`)
/// until every stream has ended; returns the exit status.
pub fn events(services: &[Found], merged: Option<&Path>, json: bool) -> i32 {
    let mut streams: Vec<(String, EventStream)> = Vec::new();
    let mut code = 0;
    if let Some(sock) = merged.filter(|s| s.exists()) {
        match EventStream::open(sock) {
            Ok(s) => streams.push(("immortalsvc".into(), s)),
            Err(e) => say(&format!("{e}: reading each supervisor instead")),
        }
    }
    if streams.is_empty() {
        for f in services {
            match &f.channel {
                Channel::Socket(sock) => match EventStream::open(sock) {
                    Ok(s) => streams.push((f.name.clone(), s)),
                    Err(e) => {
                        say(&format!("{}: {}", f.name, explain(&e)));
                        code = 1;
                    }
                },
                Channel::Denied(why) => {
                    say(&format!("{}: {why}", f.name));
                    code = 1;
                }
                _ => {
                    say(&format!("{}: no events: not an immortal supervisor", f.name));
                    code = 1;
                }
            }
        }
    }
    if streams.is_empty() {
        if services.is_empty() {
            say("no services");
        }
        return 1;
    }
    let mut out = std::io::stdout();
    while !streams.is_empty() {
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = streams
                .iter()
                .map(|(_, s)| PollFd::new(s.fd(), PollFlags::POLLIN))
                .collect();
            if let Err(e) = poll(&mut fds, nix::poll::PollTimeout::NONE) {
                if e == nix::errno::Errno::EINTR {
                    continue;
                }
                say(&format!("poll: {e}"));
                return 1;
            }
            fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect()
        };
        let mut k = streams.len();
        while k > 0 {
            k -= 1;
            if !ready[k] {
                continue;
            }
            // Every complete line that has arrived, without blocking.
            loop {
                match streams[k].1.next_line(Some(Duration::from_millis(1))) {
                    Ok(Some(line)) => {
                        if line.contains("\"event\":\"overflow\"") {
                            // Cut off for falling behind: events were lost.
                            code = 1;
                        }
                        let shown = if json { line } else { human(&line) };
                        if writeln!(out, "{shown}").is_err() {
                            return 0; // the reader went away
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        streams.swap_remove(k);
                        break;
                    }
                }
            }
        }
    }
    code
}

/// Wait until `f` reaches `until` (at most `timeout`); 0 when reached, 1
/// at the timeout or when it cannot be known.
pub fn wait(f: &Found, until: Until, timeout: Option<Duration>) -> i32 {
    let deadline = timeout.map(|t| crate::supervise::state::later(Instant::now(), t));
    let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let timed_out = || {
        let secs = timeout.map_or(0.0, |t| t.as_secs_f64());
        say(&format!("timeout: {} is not {} after {secs}s", f.name, until.word()));
        1
    };
    match &f.channel {
        Channel::Socket(sock) => {
            // Subscribe first, then look: no change can fall in between.
            let mut events = match EventStream::open(sock) {
                Ok(e) => Some(e),
                Err(e) => {
                    // Gone with its socket: down. Not let in: unknown.
                    if until == Until::Down && !client::denied(e.raw_os_error()) && sock.try_exists().is_ok_and(|x| !x)
                    {
                        return 0;
                    }
                    say(&format!("{}: {}", f.name, explain(&e)));
                    return 1;
                }
            };
            loop {
                match client::status(sock) {
                    Ok(v) if reached(until, &v) => return 0,
                    Ok(_) => {}
                    Err(e) if client::denied(e.raw_os_error()) => {
                        say(&format!("{}: {}", f.name, explain(&e)));
                        return 1;
                    }
                    // The supervisor is gone: its service is down, unless
                    // it left the process running (exit, kill -9).
                    Err(_) => {
                        let orphan = sock.parent().and_then(crate::supervise::adopt::survivor);
                        if until == Until::Down && orphan.is_none() {
                            return 0;
                        }
                        say(&format!("{}: the supervisor is gone", f.name));
                        return 1;
                    }
                }
                let Some(stream) = events.as_mut() else {
                    say(&format!("{}: not {} when its events ended", f.name, until.word()));
                    return 1;
                };
                // Until the next event, or the deadline.
                loop {
                    if left().is_some_and(|l| l.is_zero()) {
                        return timed_out();
                    }
                    match stream.next_line(left()) {
                        Ok(Some(_)) => break,
                        Ok(None) => continue,
                        Err(_) => {
                            // Ended (the supervisor exits) or cut off: look
                            // once more, then say so.
                            events = None;
                            break;
                        }
                    }
                }
            }
        }
        Channel::Fifo(dir) => match wait_fifo(dir, until, deadline) {
            Ok(Some(code)) => code,
            Ok(None) => timed_out(),
            Err(why) => {
                say(&format!("{}: {why}", f.name));
                1
            }
        },
        Channel::Orphan { .. } => {
            say(&format!("{}: the supervisor is gone", f.name));
            1
        }
        Channel::Denied(why) => {
            say(&format!("{}: {why}", f.name));
            1
        }
    }
}

/// What wakes a wait for a service's next change (a verb's effect): its
/// event stream, else (runit, daemontools) a watch on its supervise
/// directory ([`crate::sys::events`]), whose `status` is replaced at every
/// change. Only when neither can be had (16 readers already, no watch) a
/// short pause, growing to 50 ms.
pub enum Changes {
    Events(EventStream),
    Dir(crate::sys::events::Events),
    Pause(Duration),
}

/// A subscription to a service's changes, its answer perhaps not read yet.
pub enum Asked {
    Events(crate::client::AskedEvents),
    Ready(Changes),
}

impl Asked {
    /// The subscription in place (the supervisor's answer read).
    pub fn established(self) -> Changes {
        match self {
            Asked::Events(asked) => asked.opened().map_or(Changes::pause(), Changes::Events),
            Asked::Ready(changes) => changes,
        }
    }
}

impl Changes {
    /// Subscribe to `f`'s changes; the first look after it sees any change
    /// made before, the stream tells each one after.
    pub fn watch(f: &Found) -> Changes {
        Changes::ask(f).established()
    }

    /// As [`Changes::watch`], the supervisor's answer read later
    /// ([`Asked::established`]): many services are asked at once.
    pub fn ask(f: &Found) -> Asked {
        match &f.channel {
            Channel::Socket(sock) => EventStream::ask(sock).map_or(Asked::Ready(Changes::pause()), Asked::Events),
            Channel::Fifo(dir) => Asked::Ready(Changes::dir(dir)),
            Channel::Orphan { .. } | Channel::Denied(_) => Asked::Ready(Changes::pause()),
        }
    }

    /// Changes of the `status` file in supervise directory `dir`.
    fn dir(dir: &Path) -> Changes {
        use crate::sys::events::{Changes as What, Events};
        // A watch of its own, with no signals.
        let Ok(mut events) = Events::new(&[]) else {
            return Changes::pause();
        };
        match events.dir(dir, What::Entries) {
            Ok(_) => Changes::Dir(events),
            Err(_) => Changes::pause(),
        }
    }

    fn pause() -> Changes {
        Changes::Pause(Duration::from_millis(2))
    }

    /// Block until something may have changed, or until `deadline`.
    pub fn next(&mut self, deadline: Option<Instant>) {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match self {
            Changes::Events(stream) => {
                // Ended (the supervisor exits) or cut off: pauses from now.
                if stream.next_line(left).is_err() {
                    *self = Changes::pause();
                }
            }
            Changes::Dir(events) => {
                let _ = events.wait(deadline);
            }
            Changes::Pause(pause) => {
                std::thread::sleep(left.map_or(*pause, |l| (*pause).min(l)));
                *pause = (*pause * 2).min(Duration::from_millis(50));
            }
        }
    }
}

/// runit or daemontools: the `status` file is rewritten at every change;
/// a watch on its directory says when. `Ok(None)` at the deadline; `Err`
/// when we may not read it (access denied: it would never be seen).
fn wait_fifo(dir: &Path, until: Until, deadline: Option<Instant>) -> Result<Option<i32>, String> {
    let mut changes = Changes::dir(dir);
    loop {
        match crate::status::read(dir) {
            Ok(st) => {
                let state = match st.state {
                    crate::status::RunState::Run => "run",
                    _ => "down",
                };
                let v = serde_json::json!({ "state": state, "pid": st.pid });
                if reached(until, &v) {
                    return Ok(Some(0));
                }
            }
            Err(e) if client::denied(e.raw_os_error()) => return Err(explain(&e)),
            // Not there yet, or being replaced: the next change tells.
            Err(_) => {}
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Ok(None);
        }
        changes.next(deadline);
    }
}

/// `immortalsvc`'s socket in the usual place.
pub fn immortalsvc_socket() -> std::path::PathBuf {
    layout::base().join(layout::IMMORTALSVC_SOCKET)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_each_wait_accepts() {
        let run = json!({"state": "run", "pid": 5, "ready": false});
        let ready = json!({"state": "run", "pid": 5, "ready": true});
        let runit = json!({"state": "run", "pid": 5});
        let down = json!({"state": "down", "pid": 0});
        let failed = json!({"state": "failed", "pid": 7});
        assert!(reached(Until::Up, &run) && !reached(Until::Ready, &run));
        assert!(reached(Until::Ready, &ready) && reached(Until::Ready, &runit));
        assert!(reached(Until::Down, &down) && reached(Until::Down, &failed) && !reached(Until::Down, &run));
        assert!(!reached(Until::Up, &down));
    }

    #[test]
    fn events_for_people() {
        let line = r#"{"time":"2026-12-04T06:30:43.861672Z","service":"web","event":"exit","pid":12,"code":1,"reason":"exit status 1"}"#;
        assert_eq!(
            human(line),
            "2026-12-04T06:30:43.861672Z web exit code=1 pid=12 reason=\"exit status 1\""
        );
        assert_eq!(human("not json"), "not json");
    }
}
