//! immortalsvc's decisions, as one pure table:
//! [`plan`]`(Fleet, Event, now) -> (Fleet, Vec<Action>)`. The scanner's
//! loop ([`super::Scanner`]) turns what the system says (a signal, an
//! exit, a change of DIR, a `ready` file, a spawned supervisor) into
//! [`Event`]s, hands each to `plan` and performs the [`Action`]s it
//! returns — it decides nothing.
//!
//! What the table decides, each service being one [`Child`] in a [`Phase`]:
//!
//! | when | then |
//! |---|---|
//! | DIR is due to be read ([`Fleet::next_scan`]) | [`Action::Scan`]; its [`Event::Listed`] is compared with what runs ([`listing::plan`]): new services are `Down`, removed ones are halted and forgotten, invalid files are told once per change (and kept in `config-error`); a changed one whose supervisor runs is asked to `restart` its service ([`Action::Reload`]) when every key that changed is one the supervisor reads again at its service's next start ([`applied_by_restart`]), else its supervisor is stopped to be started again |
//! | the answer to a `restart` asked for | taken: `Up` again (asked once more if the file changed again meanwhile); not taken (supervisor gone, refused, no answer in [`RELOAD_TIMEOUT`]): its supervisor is stopped to be started again, as for any other change |
//! | a `Down` service is wanted: its file valid, every `require` ready ([`Fleet::ready`]; one of ours counts only while its supervisor runs), [`MIN_RESTART`] since its last start | before its first start, who holds its supervise directory ([`Action::Inspect`]): an orphaned supervisor of a killed immortalsvc is killed and waited for (at most [`CLEAR_WAIT`], in the one poll); then [`Action::Start`] |
//! | a supervisor exits | `Down`, started again when wanted; exit 3 (an essential service failed for good) stops everything and immortalsvc exits 1 |
//! | SIGTERM/SIGINT | stop every supervisor, dependents first: each is told once nothing running requires it; when none is left, exit |
//! | SIGHUP, a change of DIR | read DIR now; without inotify, every [`RESCAN`] |
//! | a service is forgotten (removed from DIR, its supervisor gone) | [`Action::CloseOutput`]: its output pipes are read to their end, then closed (until then they outlive every supervisor, so no line is lost across restarts) |
//!
//! After the event's own cell, the same `settle` runs for every event: what
//! has become due (a scan, a start, the next stop, the exit) and what to
//! say once (`waiting for …`). Every `match` on a mode, an event or a phase
//! names each case: a new one makes the compiler list every cell to decide.

use crate::config::{PidYml, RunYml};
use crate::listing::{self, Entry, Listing};
use crate::supervise::state::EXIT_ESSENTIAL_FAILED;
use crate::sys::process::ExitHow;
use nix::unistd::Pid;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Without inotify only: how often DIR is reread.
pub const RESCAN: Duration = Duration::from_secs(5);
/// Two starts of one supervisor are at least this far apart.
pub const MIN_RESTART: Duration = Duration::from_secs(1);
/// How long a first start waits for the orphaned supervisor it killed.
pub const CLEAR_WAIT: Duration = Duration::from_secs(1);
/// How long the loop waits for a supervisor's answer to `restart`
/// ([`Action::Reload`]) before reporting it failed.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything immortalsvc knows and has decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    pub mode: Mode,
    pub children: BTreeMap<String, Child>,
    /// `NAME.yml` files that do not validate, with the error told.
    pub errors: BTreeMap<String, String>,
    /// Of [`Fleet::watched`], those with a `ready` file, as last seen.
    pub ready: BTreeSet<String>,
    /// Every name some service requires: whose readiness the loop watches.
    pub watched: BTreeSet<String>,
    /// When DIR is read next; `None`: at the next change inotify reports.
    pub next_scan: Option<Instant>,
    /// inotify watches DIR (else DIR is reread every [`RESCAN`]).
    pub watching: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Services are started, restarted and stopped as DIR says.
    Running,
    /// Every service is being stopped, then immortalsvc exits: 1 if an
    /// essential service (`failed`) ended it, else 0.
    Stopping { failed: Option<String> },
}

/// One service of DIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// What its supervisor runs, or is started with next: never
    /// [`Entry::Invalid`].
    pub entry: Entry,
    /// Its `require:` list.
    pub requires: Vec<String>,
    pub phase: Phase,
    /// When its supervisor was last started; `None`: never (the first start
    /// looks for an orphaned supervisor first).
    pub last_start: Option<Instant>,
    /// What it was last said to wait for (told once per change).
    pub waiting_for: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No supervisor: started when wanted.
    Down,
    /// Its first start: who holds its supervise directory was asked.
    Inspecting,
    /// The orphaned supervisor `pid` holding its directory was killed:
    /// started once that one is gone, or at `until`.
    Clearing {
        pid: Pid,
        until: Instant,
    },
    /// Its supervisor is being spawned.
    Starting,
    Up {
        pid: Pid,
    },
    /// Its `NAME.yml` changed in nothing but what the supervisor `pid`
    /// reads again at its service's next start: it was asked to `restart`
    /// ([`Action::Reload`]); `Up` again once it has taken it. `again`: the
    /// file changed again since the request went (the supervisor may have
    /// read it before): asked once more then.
    Reloading {
        pid: Pid,
        again: bool,
    },
    /// Told to stop (SIGTERM): it stops its service and exits. `forget`:
    /// removed from DIR, forgotten once it has.
    Stopping {
        pid: Pid,
        forget: bool,
    },
}

impl Phase {
    /// The pid of its supervisor, while one runs.
    pub fn supervisor(&self) -> Option<Pid> {
        match *self {
            Phase::Up { pid } | Phase::Reloading { pid, .. } | Phase::Stopping { pid, .. } => Some(pid),
            Phase::Down | Phase::Inspecting | Phase::Clearing { .. } | Phase::Starting => None,
        }
    }
}

/// Who holds a supervise directory's lock, before a first start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    Free,
    /// An `immortal` whose immortalsvc is gone (`kill -9`): replaced, its
    /// service adopted by the supervisor started next.
    Orphan(Pid),
    /// Someone else: left alone.
    Other {
        pid: Pid,
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Time passed (a deadline), or the loop starts.
    Tick,
    /// DIR as read for [`Action::Scan`], and its names that are both
    /// `NAME.yml` and `NAME/`.
    Listed { listing: Listing, clashes: Vec<String> },
    /// DIR could not be read: the message.
    ListFailed(String),
    /// inotify: an entry of DIR changed (`overflow`: events were lost).
    DirChanged { overflow: bool },
    /// The inotify watch on DIR is gone (why): DIR is reread periodically.
    WatchLost(String),
    /// SIGHUP.
    Reread,
    /// SIGTERM or SIGINT.
    Stop,
    /// A child of ours ended (a supervisor, or an orphan we reaped).
    Exited { pid: Pid, how: ExitHow },
    /// The answer to [`Action::Inspect`].
    Held { name: String, holder: Holder },
    /// The orphaned supervisor killed by [`Action::Kill`] is gone.
    Gone { pid: Pid },
    /// The answer to [`Action::Start`]: its supervisor runs.
    Started { name: String, pid: Pid },
    /// The answer to [`Action::Start`]: no supervisor (the message).
    StartFailed { name: String, why: String },
    /// Which of the names of [`Action::WatchReady`] have a `ready` file
    /// now; again whenever that may have changed.
    Ready(BTreeSet<String>),
    /// The answer to [`Action::Reload`]: NAME's supervisor `pid` took the
    /// `restart` (it restarts the service with the file as it is now).
    Reloaded { name: String, pid: Pid },
    /// The answer to [`Action::Reload`]: not taken (why: unable to
    /// connect, the supervisor's refusal, no answer in [`RELOAD_TIMEOUT`]).
    ReloadFailed { name: String, pid: Pid, why: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A line on stderr (`immortalsvc: …`).
    Say(String),
    /// Read DIR (answer: [`Event::Listed`] or [`Event::ListFailed`]).
    Scan,
    /// Who holds NAME's supervise directory (answer: [`Event::Held`]).
    Inspect {
        name: String,
        service_dir: bool,
    },
    /// SIGKILL to an orphaned supervisor (answer: [`Event::Gone`] when it
    /// is, at once if that cannot be watched).
    Kill(Pid),
    /// Start NAME's supervisor: `immortal -n DIR/NAME` for a service
    /// directory, else `immortal -n -c DIR/NAME.yml -ctl NAME` (answer:
    /// [`Event::Started`] or [`Event::StartFailed`]).
    Start {
        name: String,
        service_dir: bool,
    },
    /// SIGTERM to a supervisor: it stops its service (with that service's
    /// stop timeout) and exits.
    Term(Pid),
    /// Ask NAME's supervisor `pid` to `restart` through its socket
    /// (`GET /signal/restart`): it stops the service, reads `NAME.yml`
    /// again and starts the service with it, keeping its `listen:`
    /// sockets (answer: [`Event::Reloaded`] or [`Event::ReloadFailed`],
    /// within [`RELOAD_TIMEOUT`]).
    Reload {
        name: String,
        pid: Pid,
    },
    /// `$IMMORTAL_SDIR/NAME/config-error`, where a supervisor's files are.
    WriteConfigError {
        name: String,
        error: String,
    },
    RemoveConfigError {
        name: String,
    },
    /// NAME is forgotten: close our write ends of its output pipes, read
    /// what is left until its last writer is gone (a partial line ends
    /// there), then close them ([`super::mux`]).
    CloseOutput {
        name: String,
    },
    /// Watch these names' supervise directories for `ready` files (answer:
    /// [`Event::Ready`], then again at each change).
    WatchReady(BTreeSet<String>),
    Exit(i32),
}

fn say(text: impl Into<String>) -> Action {
    Action::Say(text.into())
}

impl Fleet {
    /// Nothing known yet: DIR is read at the first event.
    pub fn new(watching: bool, now: Instant) -> Fleet {
        Fleet {
            mode: Mode::Running,
            children: BTreeMap::new(),
            errors: BTreeMap::new(),
            ready: BTreeSet::new(),
            watched: BTreeSet::new(),
            next_scan: Some(now),
            watching,
        }
    }

    /// The services whose supervisors run (for the hub to ask).
    pub fn running(&self) -> Vec<String> {
        self.children
            .iter()
            .filter(|(_, c)| c.phase.supervisor().is_some())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The loop's one timeout, from the table's side (`None`: none).
    pub fn deadline(&self) -> Option<Instant> {
        match self.mode {
            Mode::Stopping { .. } => None,
            Mode::Running => {
                let starts = self.children.iter().filter_map(|(name, c)| match c.phase {
                    Phase::Down if self.wanted(name, c) => c.last_start.map(|t| t + MIN_RESTART),
                    Phase::Clearing { until, .. } => Some(until),
                    Phase::Down
                    | Phase::Inspecting
                    | Phase::Starting
                    | Phase::Up { .. }
                    | Phase::Reloading { .. }
                    | Phase::Stopping { .. } => None,
                });
                starts.chain(self.next_scan).min()
            }
        }
    }

    /// Whether a `Down` service is to be started (once [`MIN_RESTART`]
    /// allows): its file valid (a supervisor reading an invalid file would
    /// only fail every second) and every requirement ready.
    fn wanted(&self, name: &str, c: &Child) -> bool {
        !self.errors.contains_key(name) && self.not_ready(&c.requires).is_empty()
    }

    /// Those of `names` that are not ready: no `ready` file in their
    /// supervise directory, or (ours) no supervisor running.
    fn not_ready(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .filter(|r| {
                let ours_down = self.children.get(*r).is_some_and(|c| c.phase.supervisor().is_none());
                ours_down || !self.ready.contains(*r)
            })
            .cloned()
            .collect()
    }
}

/// A service of DIR with no supervisor, that will not have one until
/// something changes: for `immortalctl` and `immortalsvc.sock`, which
/// otherwise know services by their supervisors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unstarted {
    pub name: String,
    /// Its command line (none when its file never validated).
    pub cmd: Vec<String>,
    /// `waiting for db, nocmd (invalid: …)`, or `invalid: …`.
    pub why: String,
    /// Waiting for requirements (else its file does not validate).
    pub waiting: bool,
}

impl Fleet {
    /// Every service that waits for a requirement or a valid file, by name.
    /// (One between two starts, or being started, is not: a supervisor is
    /// on its way.)
    pub fn unstarted(&self) -> Vec<Unstarted> {
        if self.mode != Mode::Running {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (name, c) in &self.children {
            match c.phase {
                Phase::Down => {}
                Phase::Inspecting
                | Phase::Clearing { .. }
                | Phase::Starting
                | Phase::Up { .. }
                | Phase::Reloading { .. }
                | Phase::Stopping { .. } => continue,
            }
            let cmd = || run_yml(&c.entry).map(|y| y.cmd).unwrap_or_default();
            if let Some(err) = self.errors.get(name) {
                out.push(Unstarted {
                    name: name.clone(),
                    cmd: cmd(),
                    why: format!("invalid: {err}"),
                    waiting: false,
                });
                continue;
            }
            let missing = self.not_ready(&c.requires);
            if missing.is_empty() {
                continue;
            }
            let named: Vec<String> = missing
                .iter()
                .map(|r| match self.errors.get(r) {
                    Some(err) => format!("{r} (invalid: {err})"),
                    None => r.clone(),
                })
                .collect();
            out.push(Unstarted {
                name: name.clone(),
                cmd: cmd(),
                why: format!("waiting for {}", named.join(", ")),
                waiting: true,
            });
        }
        for (name, err) in self.errors.iter().filter(|(n, _)| !self.children.contains_key(*n)) {
            out.push(Unstarted {
                name: name.clone(),
                cmd: Vec::new(),
                why: format!("invalid: {err}"),
                waiting: false,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

/// The table: what `event` at `now` makes of `fleet`, and what to do. It
/// takes the fleet by value (no copy of every service per event; a caller
/// that wants the old one keeps a clone) and has no other input.
pub fn plan(fleet: Fleet, event: Event, now: Instant) -> (Fleet, Vec<Action>) {
    let mut next = fleet;
    let mut out = Vec::new();
    match (&next.mode.clone(), event) {
        (Mode::Running | Mode::Stopping { .. }, Event::Tick) => {}
        (Mode::Running, Event::Listed { listing, clashes }) => next.listed(&listing, &clashes, &mut out),
        // Nothing starts, restarts or stops by DIR once every service is
        // being stopped.
        (Mode::Stopping { .. }, Event::Listed { .. }) => {}
        (Mode::Running | Mode::Stopping { .. }, Event::ListFailed(why)) => out.push(say(why)),
        (Mode::Running | Mode::Stopping { .. }, Event::DirChanged { overflow }) => {
            if overflow {
                out.push(say("inotify lost events (queue overflow): rereading the directory"));
            }
            next.next_scan = Some(now);
        }
        (Mode::Running | Mode::Stopping { .. }, Event::WatchLost(why)) => {
            out.push(say(format!(
                "{why}: changes are seen by a rescan every {} s from now on",
                RESCAN.as_secs()
            )));
            next.watching = false;
            next.next_scan = Some(now);
        }
        (Mode::Running | Mode::Stopping { .. }, Event::Reread) => {
            out.push(say("SIGHUP: rereading the directory"));
            next.next_scan = Some(now);
        }
        (Mode::Running, Event::Stop) => {
            out.push(say("stopping every service"));
            next.mode = Mode::Stopping { failed: None };
        }
        (Mode::Stopping { .. }, Event::Stop) => {}
        (Mode::Running | Mode::Stopping { .. }, Event::Exited { pid, how }) => next.exited(pid, how, now, &mut out),
        (Mode::Running | Mode::Stopping { .. }, Event::Held { name, holder }) => {
            next.held(&name, holder, now, &mut out)
        }
        (Mode::Running | Mode::Stopping { .. }, Event::Gone { pid }) => next.gone(pid, now, &mut out),
        (Mode::Running | Mode::Stopping { .. }, Event::Started { name, pid }) => {
            match next.children.get_mut(&name) {
                Some(c) if c.phase == Phase::Starting => {
                    c.phase = Phase::Up { pid };
                    out.push(say(format!("{name}: supervisor started (pid {pid})")));
                }
                // Not asked for (its service was removed meanwhile): a
                // supervisor nobody tracks is stopped.
                Some(_) | None => out.push(Action::Term(pid)),
            }
        }
        (Mode::Running | Mode::Stopping { .. }, Event::StartFailed { name, why }) => {
            if let Some(c) = next.children.get_mut(&name).filter(|c| c.phase == Phase::Starting) {
                c.phase = Phase::Down;
            }
            out.push(say(format!("{name}: unable to start {why}")));
        }
        (Mode::Running | Mode::Stopping { .. }, Event::Ready(names)) => next.ready = names,
        (Mode::Running, Event::Reloaded { name, pid }) => next.reloaded(&name, pid, &mut out),
        (Mode::Running, Event::ReloadFailed { name, pid, why }) => next.reload_failed(&name, pid, &why, &mut out),
        // Every supervisor is being stopped (one asked to `restart` as
        // well): what it answers changes nothing.
        (Mode::Stopping { .. }, Event::Reloaded { .. } | Event::ReloadFailed { .. }) => {}
    }
    next.settle(now, &mut out);
    (next, out)
}

impl Fleet {
    /// DIR as read: compared with what runs.
    fn listed(&mut self, listed: &Listing, clashes: &[String], out: &mut Vec<Action>) {
        for name in clashes {
            out.push(say(format!(
                "{name}: both {name}.yml and {name}/ exist; using {name}.yml"
            )));
        }
        let current: Listing = self
            .children
            .iter()
            .filter(|(_, c)| !matches!(c.phase, Phase::Stopping { forget: true, .. }))
            .map(|(n, c)| (n.clone(), c.entry.clone()))
            .collect();
        let plan = listing::plan(&current, listed);
        self.told_errors(plan.invalid, listed, out);
        for name in plan.start {
            let Some(entry) = listed.get(&name).cloned() else {
                continue;
            };
            let requires = requires_of(&entry);
            match self.children.get_mut(&name) {
                // Removed and back while its supervisor stops: started
                // again with what DIR says now.
                Some(c) => {
                    if let Phase::Stopping { pid, .. } = c.phase {
                        c.phase = Phase::Stopping { pid, forget: false };
                    }
                    c.entry = entry;
                    c.requires = requires;
                }
                None => {
                    self.children.insert(
                        name,
                        Child {
                            entry,
                            requires,
                            phase: Phase::Down,
                            last_start: None,
                            waiting_for: Vec::new(),
                        },
                    );
                }
            }
        }
        for name in plan.restart {
            let (Some(c), Some(entry)) = (self.children.get_mut(&name), listed.get(&name)) else {
                continue;
            };
            // Compared with what was last decided for it: every change
            // before was applied by `restart`, or by a new supervisor.
            let by_restart = applied_by_restart(&c.entry, entry);
            c.entry = entry.clone();
            c.requires = requires_of(entry);
            match (c.phase, by_restart) {
                // Its supervisor (and its `listen:` sockets) stays.
                (Phase::Up { pid }, true) => {
                    out.push(say(format!(
                        "{name}: changed: restarting the service with the new configuration"
                    )));
                    out.push(Action::Reload {
                        name: name.clone(),
                        pid,
                    });
                    c.phase = Phase::Reloading { pid, again: false };
                }
                (Phase::Reloading { pid, .. }, true) => {
                    out.push(say(format!(
                        "{name}: changed again: restarting the service once more when its supervisor has answered"
                    )));
                    c.phase = Phase::Reloading { pid, again: true };
                }
                // Started again, with the new configuration, when its
                // supervisor has stopped the service and exited.
                (Phase::Up { pid } | Phase::Reloading { pid, .. }, false) => {
                    out.push(say(format!("{name}: changed: restarting its supervisor")));
                    out.push(Action::Term(pid));
                    c.phase = Phase::Stopping { pid, forget: false };
                }
                (Phase::Stopping { .. }, true | false) => {
                    out.push(say(format!("{name}: changed: restarting its supervisor")))
                }
                (Phase::Down | Phase::Inspecting | Phase::Clearing { .. } | Phase::Starting, true | false) => {}
            }
        }
        for name in plan.stop {
            let Some(c) = self.children.get_mut(&name) else {
                continue;
            };
            out.push(say(format!("{name}: removed: halting")));
            match c.phase {
                Phase::Up { pid } | Phase::Reloading { pid, .. } => {
                    out.push(Action::Term(pid));
                    c.phase = Phase::Stopping { pid, forget: true };
                }
                Phase::Stopping { pid, .. } => c.phase = Phase::Stopping { pid, forget: true },
                Phase::Down | Phase::Inspecting | Phase::Clearing { .. } | Phase::Starting => {
                    self.children.remove(&name);
                    out.push(Action::CloseOutput { name });
                }
            }
        }
    }

    /// Tell each invalid `NAME.yml` once per change of its error, and keep
    /// `$IMMORTAL_SDIR/NAME/config-error` in step for `immortalctl`.
    fn told_errors(&mut self, invalid: Vec<(String, String)>, listed: &Listing, out: &mut Vec<Action>) {
        let now: BTreeMap<String, String> = invalid.into_iter().collect();
        for (name, err) in &now {
            if self.errors.get(name) == Some(err) {
                continue;
            }
            let kept = self
                .children
                .get(name)
                .filter(|c| !matches!(c.phase, Phase::Stopping { forget: true, .. }));
            match kept.map(|c| c.phase.supervisor().is_some()) {
                Some(true) => {
                    out.push(say(format!(
                        "{name}: not restarted, the running service is kept: {err}"
                    )));
                    out.push(Action::WriteConfigError {
                        name: name.clone(),
                        error: err.clone(),
                    });
                }
                Some(false) => {
                    out.push(say(format!("{name}: not started again: {err}")));
                    out.push(Action::WriteConfigError {
                        name: name.clone(),
                        error: err.clone(),
                    });
                }
                None => out.push(say(format!("{name}: not started: {err}"))),
            }
        }
        let fixed: Vec<String> = self.errors.keys().filter(|n| !now.contains_key(*n)).cloned().collect();
        for name in fixed {
            if listed.contains_key(&name) {
                out.push(say(format!("{name}: {name}.yml is valid again")));
            }
            out.push(Action::RemoveConfigError { name });
        }
        self.errors = now;
    }

    /// A child of ours ended: one of our supervisors, or an orphan reaped.
    fn exited(&mut self, pid: Pid, how: ExitHow, now: Instant, out: &mut Vec<Action>) {
        let ours = self.children.iter().find(|(_, c)| c.phase.supervisor() == Some(pid));
        let Some((name, phase)) = ours.map(|(n, c)| (n.clone(), c.phase)) else {
            // An orphaned supervisor we killed may have been our child (we
            // are a subreaper): gone.
            self.gone(pid, now, out);
            return;
        };
        let forget = matches!(phase, Phase::Stopping { forget: true, .. });
        match &self.mode {
            Mode::Running if how == ExitHow::Code(EXIT_ESSENTIAL_FAILED) => {
                out.push(say(format!(
                    "{name}: essential service failed (its supervisor exited {EXIT_ESSENTIAL_FAILED}): stopping every service"
                )));
                out.push(say("stopping every service"));
                self.mode = Mode::Stopping {
                    failed: Some(name.clone()),
                };
            }
            Mode::Running if self.errors.contains_key(&name) && !forget => out.push(say(format!(
                "{name}: supervisor ended ({how}); not started again until {name}.yml is valid"
            ))),
            Mode::Running | Mode::Stopping { .. } => out.push(say(format!("{name}: supervisor ended ({how})"))),
        }
        if forget {
            self.children.remove(&name);
            out.push(Action::CloseOutput { name });
        } else if let Some(c) = self.children.get_mut(&name) {
            c.phase = Phase::Down;
        }
    }

    /// NAME's supervisor `pid` took the `restart`.
    fn reloaded(&mut self, name: &str, pid: Pid, out: &mut Vec<Action>) {
        let Some(c) = self.children.get_mut(name) else {
            return;
        };
        match c.phase {
            Phase::Reloading { pid: p, again } if p == pid => {
                if again {
                    out.push(Action::Reload {
                        name: name.to_string(),
                        pid,
                    });
                    c.phase = Phase::Reloading { pid, again: false };
                } else {
                    c.phase = Phase::Up { pid };
                }
            }
            // Another supervisor's answer, or one stopped meanwhile.
            Phase::Reloading { .. }
            | Phase::Down
            | Phase::Inspecting
            | Phase::Clearing { .. }
            | Phase::Starting
            | Phase::Up { .. }
            | Phase::Stopping { .. } => {}
        }
    }

    /// NAME's supervisor `pid` did not take the `restart`: what today
    /// runs is stopped, to be started again with the new configuration.
    fn reload_failed(&mut self, name: &str, pid: Pid, why: &str, out: &mut Vec<Action>) {
        let Some(c) = self.children.get_mut(name) else {
            return;
        };
        match c.phase {
            Phase::Reloading { pid: p, .. } if p == pid => {
                out.push(say(format!(
                    "{name}: restart not taken ({why}): restarting its supervisor"
                )));
                out.push(Action::Term(pid));
                c.phase = Phase::Stopping { pid, forget: false };
            }
            Phase::Reloading { .. }
            | Phase::Down
            | Phase::Inspecting
            | Phase::Clearing { .. }
            | Phase::Starting
            | Phase::Up { .. }
            | Phase::Stopping { .. } => {}
        }
    }

    /// Who holds NAME's directory, before its first start.
    fn held(&mut self, name: &str, holder: Holder, now: Instant, out: &mut Vec<Action>) {
        let running = self.mode == Mode::Running;
        let Some(c) = self.children.get_mut(name).filter(|c| c.phase == Phase::Inspecting) else {
            return;
        };
        match (running, holder) {
            (false, Holder::Free | Holder::Orphan(_) | Holder::Other { .. }) => c.phase = Phase::Down,
            (true, Holder::Free) => start(name, c, now, out),
            (true, Holder::Other { pid, dir }) => {
                out.push(say(format!(
                    "{name}: {} is held by pid {pid}: leaving it alone",
                    dir.display()
                )));
                start(name, c, now, out);
            }
            (true, Holder::Orphan(pid)) => {
                out.push(say(format!(
                    "{name}: orphaned supervisor (pid {pid}) found: replacing it, the service is adopted"
                )));
                out.push(Action::Kill(pid));
                c.phase = Phase::Clearing {
                    pid,
                    until: now + CLEAR_WAIT,
                };
            }
        }
    }

    /// The orphaned supervisor `pid` is gone: what waited for it starts.
    fn gone(&mut self, pid: Pid, now: Instant, out: &mut Vec<Action>) {
        let running = self.mode == Mode::Running;
        let waiting = self
            .children
            .iter_mut()
            .find(|(_, c)| matches!(c.phase, Phase::Clearing { pid: p, .. } if p == pid));
        match (running, waiting) {
            (true, Some((name, c))) => {
                let name = name.clone();
                start(&name, c, now, out);
            }
            (false, Some((_, c))) => c.phase = Phase::Down,
            (true | false, None) => {}
        }
    }

    /// What has become due, whatever the event was.
    fn settle(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.mode.clone() {
            Mode::Running => {
                if self.next_scan.is_some_and(|t| t <= now) {
                    self.next_scan = (!self.watching).then(|| now + RESCAN);
                    out.push(Action::Scan);
                }
                self.start_due(now, out);
                self.tell_waits(out);
            }
            Mode::Stopping { failed } => {
                self.stop_next(out);
                // A supervisor being spawned is one to stop when it runs.
                let all_down = self.children.values().all(|c| match c.phase {
                    Phase::Down | Phase::Inspecting | Phase::Clearing { .. } => true,
                    Phase::Starting | Phase::Up { .. } | Phase::Reloading { .. } | Phase::Stopping { .. } => false,
                });
                if all_down {
                    for name in self.errors.keys() {
                        out.push(Action::RemoveConfigError { name: name.clone() });
                    }
                    match failed {
                        Some(name) => {
                            out.push(say(format!(
                                "every service stopped: exiting 1 ({name}, essential, failed)"
                            )));
                            out.push(Action::Exit(1));
                        }
                        None => {
                            out.push(say("every service stopped: exiting"));
                            out.push(Action::Exit(0));
                        }
                    }
                }
            }
        }
    }

    fn start_due(&mut self, now: Instant, out: &mut Vec<Action>) {
        // Decided on the fleet as it stands (a start changes nobody's
        // wants: a service being started is no more ready than a down one).
        let due: Vec<String> = self
            .children
            .iter()
            .filter(|(name, c)| match c.phase {
                Phase::Down => self.wanted(name, c) && c.last_start.is_none_or(|t| t + MIN_RESTART <= now),
                Phase::Clearing { until, .. } => until <= now,
                Phase::Inspecting
                | Phase::Starting
                | Phase::Up { .. }
                | Phase::Reloading { .. }
                | Phase::Stopping { .. } => false,
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            let Some(c) = self.children.get_mut(&name) else {
                continue;
            };
            match (c.phase, c.last_start) {
                // Its first start: is an orphaned supervisor (of a killed
                // immortalsvc) holding its directory? And a `config-error`
                // left by that one is stale.
                (Phase::Down, None) => {
                    out.push(Action::Inspect {
                        name: name.clone(),
                        service_dir: c.entry == Entry::Dir,
                    });
                    out.push(Action::RemoveConfigError { name: name.clone() });
                    c.phase = Phase::Inspecting;
                }
                (Phase::Down, Some(_)) | (Phase::Clearing { .. }, _) => start(&name, c, now, out),
                (
                    Phase::Inspecting
                    | Phase::Starting
                    | Phase::Up { .. }
                    | Phase::Reloading { .. }
                    | Phase::Stopping { .. },
                    _,
                ) => {}
            }
        }
    }

    /// Say once what each service waits for, and keep the loop watching
    /// every required service's readiness (no timer: a `ready` file
    /// appearing is the event).
    fn tell_waits(&mut self, out: &mut Vec<Action>) {
        let mut waits = Vec::new();
        for (name, c) in &self.children {
            if c.phase == Phase::Down && !self.errors.contains_key(name) {
                waits.push((name.clone(), self.not_ready(&c.requires)));
            }
        }
        for (name, missing) in waits {
            let Some(c) = self.children.get_mut(&name) else {
                continue;
            };
            if !missing.is_empty() && c.waiting_for != missing {
                out.push(say(format!("{name}: waiting for {} to be ready", missing.join(", "))));
                c.waiting_for = missing;
            }
        }
        let watched: BTreeSet<String> = self.children.values().flat_map(|c| c.requires.clone()).collect();
        if watched != self.watched {
            out.push(Action::WatchReady(watched.clone()));
            self.watched = watched;
        }
    }

    /// Stop every supervisor, dependents before what they require: each is
    /// told once nothing that still runs requires its service.
    fn stop_next(&mut self, out: &mut Vec<Action>) {
        let running: Vec<String> = self.running();
        let required = |name: &str| {
            running
                .iter()
                .any(|other| other != name && self.children[other].requires.iter().any(|r| r == name))
        };
        let to_stop: Vec<(String, Pid)> = self
            .children
            .iter()
            .filter_map(|(name, c)| match c.phase {
                // One asked to `restart` is stopped as well: its answer
                // no longer matters.
                Phase::Up { pid } | Phase::Reloading { pid, .. } if !required(name) => Some((name.clone(), pid)),
                Phase::Up { .. }
                | Phase::Reloading { .. }
                | Phase::Down
                | Phase::Inspecting
                | Phase::Clearing { .. }
                | Phase::Starting
                | Phase::Stopping { .. } => None,
            })
            .collect();
        for (name, pid) in to_stop {
            out.push(Action::Term(pid));
            if let Some(c) = self.children.get_mut(&name) {
                c.phase = Phase::Stopping { pid, forget: false };
            }
        }
    }
}

/// Start NAME's supervisor now.
fn start(name: &str, c: &mut Child, now: Instant, out: &mut Vec<Action>) {
    out.push(Action::Start {
        name: name.to_string(),
        service_dir: c.entry == Entry::Dir,
    });
    c.phase = Phase::Starting;
    c.last_start = Some(now);
}

/// A valid `NAME.yml`'s effective configuration.
fn run_yml(entry: &Entry) -> Option<RunYml> {
    match entry {
        Entry::Yml(yaml) => serde_yaml::from_str(yaml).ok(),
        Entry::Invalid(_) | Entry::Dir => None,
    }
}

/// Its `require:` list.
fn requires_of(entry: &Entry) -> Vec<String> {
    run_yml(entry).map(|c| c.require).unwrap_or_default()
}

/// Whether the supervisor started with (or last restarted into) `old` is
/// brought to `new` by its own `restart`: every key that differs is one it
/// reads again at its service's next start (`read_once`, below). A service
/// directory, or a file that is one no longer, never is.
pub fn applied_by_restart(old: &Entry, new: &Entry) -> bool {
    match (run_yml(old), run_yml(new)) {
        (Some(old), Some(new)) => read_once(&old) == read_once(&new),
        _ => false,
    }
}

/// What of a `NAME.yml` its supervisor reads once, at its own start, and
/// keeps: a change of any of it takes a new supervisor. Every key is named
/// here (no `..`): a new key does not compile until it is placed.
///
/// `restart` (src/supervise: `reload_config`, then `spawn`) reads the file
/// again, replaces the whole service — command, environment, policies,
/// probes, confinement — from its next start, configures its cgroup's
/// limits anew and reopens its `listen:` sockets (an unchanged address
/// keeps its socket). What it cannot change is set up before the first
/// start and kept:
/// - `log:`, `stderr:`, `logger:`: the output's files, pipes and logger
///   process; the logger runs in the `cwd` of that time;
/// - `user:`: the sd_notify socket (`ready: notify`, `watchdog:`) is made
///   once, owned by the user of that time;
/// - `socket:`: the API socket is bound once, with its mode and group;
/// - `pid.parent`: the supervisor's pid file is written once;
/// - `require:`, `require_cmd:`: checked once, before the first start (and
///   `immortalsvc` starts a supervisor only when what it requires is ready).
fn read_once(y: &RunYml) -> impl PartialEq + '_ {
    let RunYml {
        // Read again at each start.
        cmd: _,
        env: _,
        env_file: _,
        wait: _,
        retries: _,
        post_exit: _,
        stop: _,
        restart: _,
        essential: _,
        oneshot: _,
        ready: _,
        health: _,
        watchdog: _,
        limits: _,
        nice: _,
        umask: _,
        no_new_privs: _,
        cgroup: _,
        listen: _,
        // Kept from the supervisor's start.
        cwd,
        log,
        stderr,
        logger,
        user,
        socket,
        require,
        require_cmd,
        pid,
    } = y;
    let PidYml {
        follow: _,
        child: _,
        parent,
    } = pid;
    // The service's own `cwd` is read again; the logger's is not.
    let logger_cwd = logger.as_ref().map(|_| cwd);
    (
        log,
        stderr,
        logger,
        logger_cwd,
        user,
        socket,
        require,
        require_cmd,
        parent,
    )
}

#[cfg(test)]
mod tests;
