//! The table, as rows an operator can read: (fleet, event, at) → (fleet′,
//! actions), each comparing whole values.

use super::*;

fn pid(n: i32) -> Pid {
    Pid::from_raw(n)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn yml(cmd: &str) -> Entry {
    Entry::Yml(format!("cmd:\n- {cmd}\n"))
}

/// A `NAME.yml` that requires `req`.
fn needs(cmd: &str, req: &[&str]) -> Entry {
    let list: String = req.iter().map(|r| format!("- {r}\n")).collect();
    Entry::Yml(format!("cmd:\n- {cmd}\nrequire:\n{list}"))
}

/// A `NAME.yml` with a `log:` file.
fn logged(cmd: &str, file: &str) -> Entry {
    Entry::Yml(format!("cmd:\n- {cmd}\nlog:\n  file: {file}\n"))
}

fn child(entry: Entry, phase: Phase, last_start: Option<Instant>) -> Child {
    Child {
        requires: requires_of(&entry),
        entry,
        phase,
        last_start,
        waiting_for: Vec::new(),
    }
}

/// Running, DIR watched and read, every requirement watched already.
fn fleet(children: Vec<(&str, Child)>) -> Fleet {
    let children: BTreeMap<String, Child> = children.into_iter().map(|(n, c)| (n.to_string(), c)).collect();
    Fleet {
        watched: children.values().flat_map(|c| c.requires.clone()).collect(),
        children,
        ..Fleet::new(true, Instant::now())
    }
    .read()
}

impl Fleet {
    fn read(self) -> Fleet {
        Fleet {
            next_scan: None,
            ..self
        }
    }
    fn with(mut self, name: &str, c: Child) -> Fleet {
        self.children.insert(name.to_string(), c);
        self
    }
    fn without(mut self, name: &str) -> Fleet {
        self.children.remove(name);
        self
    }
    fn phase(mut self, name: &str, phase: Phase) -> Fleet {
        if let Some(c) = self.children.get_mut(name) {
            c.phase = phase;
        }
        self
    }
    fn started(mut self, name: &str, at: Instant) -> Fleet {
        if let Some(c) = self.children.get_mut(name) {
            c.phase = Phase::Starting;
            c.last_start = Some(at);
        }
        self
    }
    fn error(mut self, name: &str, err: &str) -> Fleet {
        self.errors.insert(name.to_string(), err.to_string());
        self
    }
    fn stopping(self, failed: Option<&str>) -> Fleet {
        Fleet {
            mode: Mode::Stopping {
                failed: failed.map(String::from),
            },
            ..self
        }
    }
}

fn says(text: &str) -> Action {
    Action::Say(text.to_string())
}

fn start(name: &str) -> Action {
    Action::Start {
        name: name.to_string(),
        service_dir: false,
    }
}

fn listed(entries: &[(&str, Entry)]) -> Event {
    Event::Listed {
        listing: entries.iter().map(|(n, e)| (n.to_string(), e.clone())).collect(),
        clashes: Vec::new(),
    }
}

struct Row {
    what: &'static str,
    before: Fleet,
    event: Event,
    /// When the event is handled, after `t`.
    at: Duration,
    after: Fleet,
    actions: Vec<Action>,
}

fn check(t: Instant, rows: Vec<Row>) {
    for row in rows {
        let got = plan(row.before, row.event.clone(), t + row.at);
        assert_eq!(got, (row.after, row.actions), "{}: {:?}", row.what, row.event);
    }
}

#[test]
fn dir_is_read_and_services_start() {
    let t = Instant::now();
    let web_down = child(yml("web"), Phase::Down, None);
    check(
        t,
        vec![
            Row {
                what: "the first event reads DIR; with inotify, never again by itself",
                before: Fleet::new(true, t),
                event: Event::Tick,
                at: secs(0.0),
                after: Fleet::new(true, t).read(),
                actions: vec![Action::Scan],
            },
            Row {
                what: "without inotify, DIR is read every RESCAN",
                before: Fleet::new(false, t),
                event: Event::Tick,
                at: secs(0.0),
                after: Fleet {
                    next_scan: Some(t + RESCAN),
                    ..Fleet::new(false, t)
                },
                actions: vec![Action::Scan],
            },
            Row {
                what: "a new service: its directory's holder is asked first",
                before: fleet(vec![]),
                event: listed(&[("web", yml("web"))]),
                at: secs(0.0),
                after: fleet(vec![("web", child(yml("web"), Phase::Inspecting, None))]),
                actions: vec![
                    Action::Inspect {
                        name: "web".into(),
                        service_dir: false,
                    },
                    Action::RemoveConfigError { name: "web".into() },
                ],
            },
            Row {
                what: "nobody holds it: started",
                before: fleet(vec![("web", child(yml("web"), Phase::Inspecting, None))]),
                event: Event::Held {
                    name: "web".into(),
                    holder: Holder::Free,
                },
                at: secs(0.0),
                after: fleet(vec![("web", web_down.clone())]).started("web", t),
                actions: vec![start("web")],
            },
            Row {
                what: "a service directory is started as one",
                before: fleet(vec![("db", child(Entry::Dir, Phase::Inspecting, None))]),
                event: Event::Held {
                    name: "db".into(),
                    holder: Holder::Free,
                },
                at: secs(0.0),
                after: fleet(vec![("db", child(Entry::Dir, Phase::Starting, Some(t)))]),
                actions: vec![Action::Start {
                    name: "db".into(),
                    service_dir: true,
                }],
            },
            Row {
                what: "held by someone else (not an orphan): left alone, started",
                before: fleet(vec![("web", child(yml("web"), Phase::Inspecting, None))]),
                event: Event::Held {
                    name: "web".into(),
                    holder: Holder::Other {
                        pid: pid(50),
                        dir: "/s/web".into(),
                    },
                },
                at: secs(0.0),
                after: fleet(vec![("web", web_down.clone())]).started("web", t),
                actions: vec![says("web: /s/web is held by pid 50: leaving it alone"), start("web")],
            },
            Row {
                what: "an orphaned supervisor: killed, waited for (not in a sleep)",
                before: fleet(vec![("web", child(yml("web"), Phase::Inspecting, None))]),
                event: Event::Held {
                    name: "web".into(),
                    holder: Holder::Orphan(pid(50)),
                },
                at: secs(0.0),
                after: fleet(vec![(
                    "web",
                    child(
                        yml("web"),
                        Phase::Clearing {
                            pid: pid(50),
                            until: t + CLEAR_WAIT,
                        },
                        None,
                    ),
                )]),
                actions: vec![
                    says("web: orphaned supervisor (pid 50) found: replacing it, the service is adopted"),
                    Action::Kill(pid(50)),
                ],
            },
            Row {
                what: "the orphan is gone: started",
                before: fleet(vec![(
                    "web",
                    child(
                        yml("web"),
                        Phase::Clearing {
                            pid: pid(50),
                            until: t + CLEAR_WAIT,
                        },
                        None,
                    ),
                )]),
                event: Event::Gone { pid: pid(50) },
                at: secs(0.2),
                after: fleet(vec![("web", web_down.clone())]).started("web", t + secs(0.2)),
                actions: vec![start("web")],
            },
            Row {
                what: "the orphan reaped by us (a subreaper) is gone too",
                before: fleet(vec![(
                    "web",
                    child(
                        yml("web"),
                        Phase::Clearing {
                            pid: pid(50),
                            until: t + CLEAR_WAIT,
                        },
                        None,
                    ),
                )]),
                event: Event::Exited {
                    pid: pid(50),
                    how: ExitHow::Signal(9),
                },
                at: secs(0.2),
                after: fleet(vec![("web", web_down.clone())]).started("web", t + secs(0.2)),
                actions: vec![start("web")],
            },
            Row {
                what: "the orphan not gone within CLEAR_WAIT: started anyway",
                before: fleet(vec![(
                    "web",
                    child(
                        yml("web"),
                        Phase::Clearing {
                            pid: pid(50),
                            until: t + CLEAR_WAIT,
                        },
                        None,
                    ),
                )]),
                event: Event::Tick,
                at: CLEAR_WAIT,
                after: fleet(vec![("web", web_down.clone())]).started("web", t + CLEAR_WAIT),
                actions: vec![start("web")],
            },
            Row {
                what: "its supervisor runs",
                before: fleet(vec![("web", child(yml("web"), Phase::Starting, Some(t)))]),
                event: Event::Started {
                    name: "web".into(),
                    pid: pid(60),
                },
                at: secs(0.0),
                after: fleet(vec![("web", child(yml("web"), Phase::Up { pid: pid(60) }, Some(t)))]),
                actions: vec![says("web: supervisor started (pid 60)")],
            },
            Row {
                what: "a supervisor nobody asked for is stopped",
                before: fleet(vec![]),
                event: Event::Started {
                    name: "gone".into(),
                    pid: pid(61),
                },
                at: secs(0.0),
                after: fleet(vec![]),
                actions: vec![Action::Term(pid(61))],
            },
            Row {
                what: "spawning failed: tried again after MIN_RESTART",
                before: fleet(vec![("web", child(yml("web"), Phase::Starting, Some(t)))]),
                event: Event::StartFailed {
                    name: "web".into(),
                    why: "/bin/immortal: No such file".into(),
                },
                at: secs(0.0),
                after: fleet(vec![("web", child(yml("web"), Phase::Down, Some(t)))]),
                actions: vec![says("web: unable to start /bin/immortal: No such file")],
            },
            Row {
                what: "MIN_RESTART after the last start: started again",
                before: fleet(vec![("web", child(yml("web"), Phase::Down, Some(t)))]),
                event: Event::Tick,
                at: MIN_RESTART,
                after: fleet(vec![("web", web_down.clone())]).started("web", t + MIN_RESTART),
                actions: vec![start("web")],
            },
            Row {
                what: "before MIN_RESTART: not yet",
                before: fleet(vec![("web", child(yml("web"), Phase::Down, Some(t)))]),
                event: Event::Tick,
                at: secs(0.5),
                after: fleet(vec![("web", child(yml("web"), Phase::Down, Some(t)))]),
                actions: vec![],
            },
        ],
    );
}

#[test]
fn supervisors_that_end() {
    let t = Instant::now();
    let earlier = t - secs(10.0);
    let up = |n: i32| child(yml("web"), Phase::Up { pid: pid(n) }, Some(earlier));
    check(
        t,
        vec![
            Row {
                what: "a supervisor ends (died, halted): started again at once after MIN_RESTART",
                before: fleet(vec![("web", up(60))]),
                event: Event::Exited {
                    pid: pid(60),
                    how: ExitHow::Code(0),
                },
                at: secs(0.0),
                after: fleet(vec![("web", up(60))]).started("web", t),
                actions: vec![says("web: supervisor ended (exit code 0)"), start("web")],
            },
            Row {
                what: "one just started ends: started again MIN_RESTART after its start",
                before: fleet(vec![("web", child(yml("web"), Phase::Up { pid: pid(60) }, Some(t)))]),
                event: Event::Exited {
                    pid: pid(60),
                    how: ExitHow::Code(1),
                },
                at: secs(0.3),
                after: fleet(vec![("web", child(yml("web"), Phase::Down, Some(t)))]),
                actions: vec![says("web: supervisor ended (exit code 1)")],
            },
            Row {
                what: "an orphan we inherited (PID 1, subreaper): reaped, nothing else",
                before: fleet(vec![("web", up(60))]),
                event: Event::Exited {
                    pid: pid(99),
                    how: ExitHow::Code(0),
                },
                at: secs(0.0),
                after: fleet(vec![("web", up(60))]),
                actions: vec![],
            },
            Row {
                what: "its file became invalid: not started again until it is valid",
                before: fleet(vec![("web", up(60))]).error("web", "web.yml:3: bad"),
                event: Event::Exited {
                    pid: pid(60),
                    how: ExitHow::Signal(9),
                },
                at: secs(0.0),
                after: fleet(vec![("web", child(yml("web"), Phase::Down, Some(earlier)))])
                    .error("web", "web.yml:3: bad"),
                actions: vec![says(
                    "web: supervisor ended (killed by KILL); not started again until web.yml is valid",
                )],
            },
            Row {
                what: "an essential service failed for good: every service stops, dependents first",
                before: fleet(vec![
                    ("core", child(yml("core"), Phase::Up { pid: pid(70) }, Some(earlier))),
                    (
                        "web",
                        child(needs("web", &["db"]), Phase::Up { pid: pid(71) }, Some(earlier)),
                    ),
                    ("db", child(yml("db"), Phase::Up { pid: pid(72) }, Some(earlier))),
                ]),
                event: Event::Exited {
                    pid: pid(70),
                    how: ExitHow::Code(EXIT_ESSENTIAL_FAILED),
                },
                at: secs(0.0),
                after: fleet(vec![
                    ("core", child(yml("core"), Phase::Down, Some(earlier))),
                    (
                        "web",
                        child(
                            needs("web", &["db"]),
                            Phase::Stopping {
                                pid: pid(71),
                                forget: false,
                            },
                            Some(earlier),
                        ),
                    ),
                    ("db", child(yml("db"), Phase::Up { pid: pid(72) }, Some(earlier))),
                ])
                .stopping(Some("core")),
                actions: vec![
                    says("core: essential service failed (its supervisor exited 3): stopping every service"),
                    says("stopping every service"),
                    Action::Term(pid(71)),
                ],
            },
        ],
    );
}

#[test]
fn dir_changes() {
    let t = Instant::now();
    let earlier = t - secs(10.0);
    let web_up = child(yml("sleep 1"), Phase::Up { pid: pid(60) }, Some(earlier));
    check(
        t,
        vec![
            Row {
                what: "the same meaning: nothing",
                before: fleet(vec![("web", web_up.clone())]),
                event: listed(&[("web", yml("sleep 1"))]),
                at: secs(0.0),
                after: fleet(vec![("web", web_up.clone())]),
                actions: vec![],
            },
            Row {
                what: "changed (its log): its supervisor stopped, to be started with the new file",
                before: fleet(vec![("web", web_up.clone())]),
                event: listed(&[("web", logged("sleep 1", "/var/log/web"))]),
                at: secs(0.0),
                after: fleet(vec![(
                    "web",
                    child(
                        logged("sleep 1", "/var/log/web"),
                        Phase::Stopping {
                            pid: pid(60),
                            forget: false,
                        },
                        Some(earlier),
                    ),
                )]),
                actions: vec![says("web: changed: restarting its supervisor"), Action::Term(pid(60))],
            },
            Row {
                what: "its supervisor stopped for the change: started at once",
                before: fleet(vec![(
                    "web",
                    child(
                        yml("sleep 2"),
                        Phase::Stopping {
                            pid: pid(60),
                            forget: false,
                        },
                        Some(earlier),
                    ),
                )]),
                event: Event::Exited {
                    pid: pid(60),
                    how: ExitHow::Code(0),
                },
                at: secs(0.0),
                after: fleet(vec![("web", child(yml("sleep 2"), Phase::Starting, Some(t)))]),
                actions: vec![says("web: supervisor ended (exit code 0)"), start("web")],
            },
            Row {
                what: "removed: halted",
                before: fleet(vec![("web", web_up.clone())]),
                event: listed(&[]),
                at: secs(0.0),
                after: fleet(vec![(
                    "web",
                    child(
                        yml("sleep 1"),
                        Phase::Stopping {
                            pid: pid(60),
                            forget: true,
                        },
                        Some(earlier),
                    ),
                )]),
                actions: vec![says("web: removed: halting"), Action::Term(pid(60))],
            },
            Row {
                what: "removed and halted: forgotten, its output pipes closed",
                before: fleet(vec![(
                    "web",
                    child(
                        yml("sleep 1"),
                        Phase::Stopping {
                            pid: pid(60),
                            forget: true,
                        },
                        Some(earlier),
                    ),
                )]),
                event: Event::Exited {
                    pid: pid(60),
                    how: ExitHow::Code(0),
                },
                at: secs(0.0),
                after: fleet(vec![]),
                actions: vec![
                    says("web: supervisor ended (exit code 0)"),
                    Action::CloseOutput { name: "web".into() },
                ],
            },
            Row {
                what: "removed while not running: forgotten at once, its output pipes closed",
                before: fleet(vec![("web", child(yml("sleep 1"), Phase::Down, Some(t)))]),
                event: listed(&[]),
                at: secs(0.0),
                after: fleet(vec![]),
                actions: vec![
                    says("web: removed: halting"),
                    Action::CloseOutput { name: "web".into() },
                ],
            },
            Row {
                what: "removed, then back while its supervisor stops: started again after",
                before: fleet(vec![(
                    "web",
                    child(
                        yml("sleep 1"),
                        Phase::Stopping {
                            pid: pid(60),
                            forget: true,
                        },
                        Some(earlier),
                    ),
                )]),
                event: listed(&[("web", yml("sleep 3"))]),
                at: secs(0.0),
                after: fleet(vec![(
                    "web",
                    child(
                        yml("sleep 3"),
                        Phase::Stopping {
                            pid: pid(60),
                            forget: false,
                        },
                        Some(earlier),
                    ),
                )]),
                actions: vec![],
            },
            Row {
                what: "both NAME.yml and NAME/: said at each read",
                before: fleet(vec![("web", web_up.clone())]),
                event: Event::Listed {
                    listing: [("web".to_string(), yml("sleep 1"))].into(),
                    clashes: vec!["web".into()],
                },
                at: secs(0.0),
                after: fleet(vec![("web", web_up.clone())]),
                actions: vec![says("web: both web.yml and web/ exist; using web.yml")],
            },
            Row {
                what: "DIR unreadable: said",
                before: fleet(vec![("web", web_up.clone())]),
                event: Event::ListFailed("unable to read /d: Permission denied".into()),
                at: secs(0.0),
                after: fleet(vec![("web", web_up.clone())]),
                actions: vec![says("unable to read /d: Permission denied")],
            },
            Row {
                what: "a change of DIR: read now",
                before: fleet(vec![]),
                event: Event::DirChanged { overflow: false },
                at: secs(0.0),
                after: fleet(vec![]),
                actions: vec![Action::Scan],
            },
            Row {
                what: "events lost: said, read now",
                before: fleet(vec![]),
                event: Event::DirChanged { overflow: true },
                at: secs(0.0),
                after: fleet(vec![]),
                actions: vec![
                    says("inotify lost events (queue overflow): rereading the directory"),
                    Action::Scan,
                ],
            },
            Row {
                what: "SIGHUP: read now (a chmod inside NAME/ is no inotify event)",
                before: fleet(vec![]),
                event: Event::Reread,
                at: secs(0.0),
                after: fleet(vec![]),
                actions: vec![says("SIGHUP: rereading the directory"), Action::Scan],
            },
            Row {
                what: "the watch lost: read now, then every RESCAN",
                before: fleet(vec![]),
                event: Event::WatchLost("the inotify watch on /d was removed".into()),
                at: secs(0.0),
                after: Fleet {
                    watching: false,
                    next_scan: Some(t + RESCAN),
                    ..fleet(vec![])
                },
                actions: vec![
                    says("the inotify watch on /d was removed: changes are seen by a rescan every 5 s from now on"),
                    Action::Scan,
                ],
            },
        ],
    );
}

#[test]
fn invalid_files_are_told_once_and_kept_for_immortalctl() {
    let t = Instant::now();
    let earlier = t - secs(10.0);
    let web_up = child(yml("sleep 1"), Phase::Up { pid: pid(60) }, Some(earlier));
    let bad = |e: &str| Entry::Invalid(e.to_string());
    check(
        t,
        vec![
            Row {
                what: "a running service's file breaks: the service is kept",
                before: fleet(vec![("web", web_up.clone())]),
                event: listed(&[("web", bad("web.yml:3: unknown field"))]),
                at: secs(0.0),
                after: fleet(vec![("web", web_up.clone())]).error("web", "web.yml:3: unknown field"),
                actions: vec![
                    says("web: not restarted, the running service is kept: web.yml:3: unknown field"),
                    Action::WriteConfigError {
                        name: "web".into(),
                        error: "web.yml:3: unknown field".into(),
                    },
                ],
            },
            Row {
                what: "the same error again: nothing said",
                before: fleet(vec![("web", web_up.clone())]).error("web", "web.yml:3: unknown field"),
                event: listed(&[("web", bad("web.yml:3: unknown field"))]),
                at: secs(0.0),
                after: fleet(vec![("web", web_up.clone())]).error("web", "web.yml:3: unknown field"),
                actions: vec![],
            },
            Row {
                what: "a new invalid file: not started",
                before: fleet(vec![]),
                event: listed(&[("bad", bad("bad.yml: missing key 'cmd'"))]),
                at: secs(0.0),
                after: fleet(vec![]).error("bad", "bad.yml: missing key 'cmd'"),
                actions: vec![says("bad: not started: bad.yml: missing key 'cmd'")],
            },
            Row {
                what: "one that was down: not started again",
                before: fleet(vec![("web", child(yml("sleep 1"), Phase::Down, Some(t)))]),
                event: listed(&[("web", bad("web.yml:1: x"))]),
                at: secs(0.0),
                after: fleet(vec![("web", child(yml("sleep 1"), Phase::Down, Some(t)))]).error("web", "web.yml:1: x"),
                actions: vec![
                    says("web: not started again: web.yml:1: x"),
                    Action::WriteConfigError {
                        name: "web".into(),
                        error: "web.yml:1: x".into(),
                    },
                ],
            },
            Row {
                what: "fixed back to what runs: the error goes, nothing restarts",
                before: fleet(vec![("web", web_up.clone())]).error("web", "web.yml:3: unknown field"),
                event: listed(&[("web", yml("sleep 1"))]),
                at: secs(0.0),
                after: fleet(vec![("web", web_up.clone())]),
                actions: vec![
                    says("web: web.yml is valid again"),
                    Action::RemoveConfigError { name: "web".into() },
                ],
            },
            Row {
                what: "an invalid file removed: its error goes, unsaid",
                before: fleet(vec![]).error("bad", "bad.yml: x"),
                event: listed(&[]),
                at: secs(0.0),
                after: fleet(vec![]),
                actions: vec![Action::RemoveConfigError { name: "bad".into() }],
            },
        ],
    );
}

#[test]
fn requirements_wait_for_ready() {
    let t = Instant::now();
    let earlier = t - secs(10.0);
    let app = |phase| child(needs("app", &["base"]), phase, Some(earlier));
    let base_up = child(yml("base"), Phase::Up { pid: pid(80) }, Some(earlier));
    let waiting = |f: Fleet| {
        let mut f = f;
        if let Some(c) = f.children.get_mut("app") {
            c.waiting_for = vec!["base".into()];
        }
        f
    };
    let ready = |f: Fleet| Fleet {
        ready: ["base".to_string()].into(),
        ..f
    };
    check(
        t,
        vec![
            Row {
                what: "a requirement not there: said once, its readiness watched",
                before: Fleet {
                    watched: BTreeSet::new(),
                    ..fleet(vec![])
                },
                event: listed(&[("app", needs("app", &["base"]))]),
                at: secs(0.0),
                after: waiting(fleet(vec![("app", child(needs("app", &["base"]), Phase::Down, None))])),
                actions: vec![
                    says("app: waiting for base to be ready"),
                    Action::WatchReady(["base".to_string()].into()),
                ],
            },
            Row {
                what: "said once: nothing more at the next event",
                before: waiting(fleet(vec![("app", app(Phase::Down))])),
                event: Event::Tick,
                at: secs(0.0),
                after: waiting(fleet(vec![("app", app(Phase::Down))])),
                actions: vec![],
            },
            Row {
                what: "ours running but not ready: still waits",
                before: waiting(fleet(vec![("app", app(Phase::Down)), ("base", base_up.clone())])),
                event: Event::Ready(BTreeSet::new()),
                at: secs(0.0),
                after: waiting(fleet(vec![("app", app(Phase::Down)), ("base", base_up.clone())])),
                actions: vec![],
            },
            Row {
                what: "its ready file appears: started at once",
                before: waiting(fleet(vec![("app", app(Phase::Down)), ("base", base_up.clone())])),
                event: Event::Ready(["base".to_string()].into()),
                at: secs(0.0),
                after: ready(waiting(fleet(vec![
                    ("app", app(Phase::Starting)),
                    ("base", base_up.clone()),
                ])))
                .started("app", t),
                actions: vec![start("app")],
            },
            Row {
                what: "a ready file of ours whose supervisor is down does not count",
                before: ready(fleet(vec![
                    ("app", app(Phase::Down)),
                    ("base", child(yml("base"), Phase::Down, Some(t))),
                ])),
                event: Event::Tick,
                at: secs(0.0),
                after: waiting(ready(fleet(vec![
                    ("app", app(Phase::Down)),
                    ("base", child(yml("base"), Phase::Down, Some(t))),
                ]))),
                actions: vec![says("app: waiting for base to be ready")],
            },
        ],
    );
}

#[test]
fn stopping_everything_dependents_first() {
    let t = Instant::now();
    let earlier = t - secs(10.0);
    let app = |phase| child(needs("app", &["base"]), phase, Some(earlier));
    let base = |phase| child(yml("base"), phase, Some(earlier));
    let stopping = |n| Phase::Stopping {
        pid: pid(n),
        forget: false,
    };
    check(
        t,
        vec![
            Row {
                what: "SIGTERM: what nothing requires is stopped first",
                before: fleet(vec![
                    ("app", app(Phase::Up { pid: pid(81) })),
                    ("base", base(Phase::Up { pid: pid(80) })),
                ]),
                event: Event::Stop,
                at: secs(0.0),
                after: fleet(vec![
                    ("app", app(stopping(81))),
                    ("base", base(Phase::Up { pid: pid(80) })),
                ])
                .stopping(None),
                actions: vec![says("stopping every service"), Action::Term(pid(81))],
            },
            Row {
                what: "SIGTERM again: told once",
                before: fleet(vec![
                    ("app", app(stopping(81))),
                    ("base", base(Phase::Up { pid: pid(80) })),
                ])
                .stopping(None),
                event: Event::Stop,
                at: secs(0.0),
                after: fleet(vec![
                    ("app", app(stopping(81))),
                    ("base", base(Phase::Up { pid: pid(80) })),
                ])
                .stopping(None),
                actions: vec![],
            },
            Row {
                what: "its dependent gone: the requirement is stopped",
                before: fleet(vec![
                    ("app", app(stopping(81))),
                    ("base", base(Phase::Up { pid: pid(80) })),
                ])
                .stopping(None),
                event: Event::Exited {
                    pid: pid(81),
                    how: ExitHow::Code(0),
                },
                at: secs(0.0),
                after: fleet(vec![("app", app(Phase::Down)), ("base", base(stopping(80)))]).stopping(None),
                actions: vec![says("app: supervisor ended (exit code 0)"), Action::Term(pid(80))],
            },
            Row {
                what: "the last one gone: errors cleaned up, exit 0",
                before: fleet(vec![("app", app(Phase::Down)), ("base", base(stopping(80)))])
                    .stopping(None)
                    .error("bad", "bad.yml: x"),
                event: Event::Exited {
                    pid: pid(80),
                    how: ExitHow::Code(0),
                },
                at: secs(0.0),
                after: fleet(vec![("app", app(Phase::Down)), ("base", base(Phase::Down))])
                    .stopping(None)
                    .error("bad", "bad.yml: x"),
                actions: vec![
                    says("base: supervisor ended (exit code 0)"),
                    Action::RemoveConfigError { name: "bad".into() },
                    says("every service stopped: exiting"),
                    Action::Exit(0),
                ],
            },
            Row {
                what: "after an essential failure: exit 1",
                before: fleet(vec![("base", base(stopping(80)))]).stopping(Some("core")),
                event: Event::Exited {
                    pid: pid(80),
                    how: ExitHow::Code(0),
                },
                at: secs(0.0),
                after: fleet(vec![("base", base(Phase::Down))]).stopping(Some("core")),
                actions: vec![
                    says("base: supervisor ended (exit code 0)"),
                    says("every service stopped: exiting 1 (core, essential, failed)"),
                    Action::Exit(1),
                ],
            },
            Row {
                what: "an exit 3 while stopping is no essential failure",
                before: fleet(vec![("base", base(stopping(80))), ("x", base(stopping(82)))]).stopping(None),
                event: Event::Exited {
                    pid: pid(80),
                    how: ExitHow::Code(EXIT_ESSENTIAL_FAILED),
                },
                at: secs(0.0),
                after: fleet(vec![("base", base(Phase::Down)), ("x", base(stopping(82)))]).stopping(None),
                actions: vec![says("base: supervisor ended (exit code 3)")],
            },
            Row {
                what: "while stopping, DIR is not acted on",
                before: fleet(vec![("base", base(stopping(80)))]).stopping(None),
                event: listed(&[("new", yml("x"))]),
                at: secs(0.0),
                after: fleet(vec![("base", base(stopping(80)))]).stopping(None),
                actions: vec![],
            },
            Row {
                what: "while stopping, a first start asked for is given up",
                before: fleet(vec![
                    ("base", base(stopping(80))),
                    ("new", child(yml("x"), Phase::Inspecting, None)),
                ])
                .stopping(None),
                event: Event::Held {
                    name: "new".into(),
                    holder: Holder::Orphan(pid(90)),
                },
                at: secs(0.0),
                after: fleet(vec![
                    ("base", base(stopping(80))),
                    ("new", child(yml("x"), Phase::Down, None)),
                ])
                .stopping(None),
                actions: vec![],
            },
            Row {
                what: "a supervisor spawned as the stop began is stopped when it runs",
                before: fleet(vec![("new", child(yml("x"), Phase::Starting, Some(t)))]).stopping(None),
                event: Event::Started {
                    name: "new".into(),
                    pid: pid(91),
                },
                at: secs(0.0),
                after: fleet(vec![("new", child(yml("x"), stopping(91), Some(t)))]).stopping(None),
                actions: vec![says("new: supervisor started (pid 91)"), Action::Term(pid(91))],
            },
        ],
    );
}

#[test]
fn the_one_deadline() {
    let t = Instant::now();
    let earlier = t - secs(10.0);
    // Everything running and watched: no deadline at all.
    let idle = fleet(vec![("web", child(yml("w"), Phase::Up { pid: pid(1) }, Some(earlier)))]);
    assert_eq!(idle.deadline(), None);
    // Without inotify: the next read of DIR.
    let polled = Fleet {
        watching: false,
        next_scan: Some(t + RESCAN),
        ..idle.clone()
    };
    assert_eq!(polled.deadline(), Some(t + RESCAN));
    // A start held back by MIN_RESTART, an orphan being cleared.
    let waiting = idle.clone().with("a", child(yml("a"), Phase::Down, Some(t))).with(
        "b",
        child(
            yml("b"),
            Phase::Clearing {
                pid: pid(5),
                until: t + secs(0.5),
            },
            None,
        ),
    );
    assert_eq!(waiting.deadline(), Some(t + secs(0.5)));
    assert_eq!(waiting.clone().without("b").deadline(), Some(t + MIN_RESTART));
    // A service waiting for a requirement or a valid file has none.
    let blocked = idle
        .clone()
        .with("c", child(needs("c", &["z"]), Phase::Down, Some(t)))
        .with("d", child(yml("d"), Phase::Down, Some(t)))
        .error("d", "d.yml: x");
    assert_eq!(blocked.deadline(), None);
    // Stopping: the supervisors' exits are the events.
    assert_eq!(waiting.phase("a", Phase::Down).stopping(None).deadline(), None);
}

#[test]
fn what_has_no_supervisor_is_shown_with_why() {
    let t = Instant::now();
    let f = fleet(vec![
        ("web", child(needs("sleep 1", &["nocmd", "db"]), Phase::Down, None)),
        ("app", child(needs("app", &["web"]), Phase::Down, None)),
        ("db", child(yml("db"), Phase::Up { pid: pid(5) }, Some(t))),
        ("soon", child(yml("soon"), Phase::Down, Some(t))),
        ("old", child(yml("old"), Phase::Down, Some(t))),
    ])
    .error("nocmd", "nocmd.yml: missing key 'cmd'")
    .error("old", "old.yml:1: x");
    let f = Fleet {
        ready: ["db".to_string()].into(),
        ..f
    };
    let row = |name: &str, cmd: &[&str], why: &str, waiting| Unstarted {
        name: name.into(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        why: why.into(),
        waiting,
    };
    assert_eq!(
        f.unstarted(),
        vec![
            row("app", &["app"], "waiting for web", true),
            row("nocmd", &[], "invalid: nocmd.yml: missing key 'cmd'", false),
            row("old", &["old"], "invalid: old.yml:1: x", false),
            row(
                "web",
                &["sleep 1"],
                "waiting for nocmd (invalid: nocmd.yml: missing key 'cmd')",
                true
            ),
        ]
    );
    // Stopping everything: nothing waits any more.
    assert_eq!(f.stopping(None).unstarted(), vec![]);
}

#[test]
fn a_change_the_supervisor_applies_itself_restarts_only_the_service() {
    let t = Instant::now();
    let earlier = t - secs(10.0);
    let web = |entry: Entry, phase| child(entry, phase, Some(earlier));
    let reloading = |again| Phase::Reloading { pid: pid(60), again };
    let up = Phase::Up { pid: pid(60) };
    let stopping = |forget| Phase::Stopping { pid: pid(60), forget };
    let reload = Action::Reload {
        name: "web".into(),
        pid: pid(60),
    };
    let failed = |p: i32, why: &str| Event::ReloadFailed {
        name: "web".into(),
        pid: pid(p),
        why: why.into(),
    };
    let reloaded = |p: i32| Event::Reloaded {
        name: "web".into(),
        pid: pid(p),
    };
    check(
        t,
        vec![
            Row {
                what: "its command changed: its supervisor is asked to restart the service",
                before: fleet(vec![("web", web(yml("sleep 1"), up))]),
                event: listed(&[("web", yml("sleep 2"))]),
                at: secs(0.0),
                after: fleet(vec![("web", web(yml("sleep 2"), reloading(false)))]),
                actions: vec![
                    says("web: changed: restarting the service with the new configuration"),
                    reload.clone(),
                ],
            },
            Row {
                what: "taken: up again, nothing more to do",
                before: fleet(vec![("web", web(yml("sleep 2"), reloading(false)))]),
                event: reloaded(60),
                at: secs(0.0),
                after: fleet(vec![("web", web(yml("sleep 2"), up))]),
                actions: vec![],
            },
            Row {
                what: "not taken: its supervisor is stopped, to be started with the new file",
                before: fleet(vec![("web", web(yml("sleep 2"), reloading(false)))]),
                event: failed(60, "supervisor not answering: Connection refused"),
                at: secs(0.0),
                after: fleet(vec![("web", web(yml("sleep 2"), stopping(false)))]),
                actions: vec![
                    says("web: restart not taken (supervisor not answering: Connection refused): restarting its supervisor"),
                    Action::Term(pid(60)),
                ],
            },
            Row {
                what: "changed again before the answer: asked once more when it comes",
                before: fleet(vec![("web", web(yml("sleep 2"), reloading(false)))]),
                event: listed(&[("web", yml("sleep 3"))]),
                at: secs(0.0),
                after: fleet(vec![("web", web(yml("sleep 3"), reloading(true)))]),
                actions: vec![says(
                    "web: changed again: restarting the service once more when its supervisor has answered",
                )],
            },
            Row {
                what: "the answer to the first: the second is asked",
                before: fleet(vec![("web", web(yml("sleep 3"), reloading(true)))]),
                event: reloaded(60),
                at: secs(0.0),
                after: fleet(vec![("web", web(yml("sleep 3"), reloading(false)))]),
                actions: vec![reload.clone()],
            },
            Row {
                what: "changed again, in what only a new supervisor reads: stopped at once",
                before: fleet(vec![("web", web(yml("sleep 2"), reloading(false)))]),
                event: listed(&[("web", logged("sleep 2", "/var/log/web"))]),
                at: secs(0.0),
                after: fleet(vec![("web", web(logged("sleep 2", "/var/log/web"), stopping(false)))]),
                actions: vec![says("web: changed: restarting its supervisor"), Action::Term(pid(60))],
            },
            Row {
                what: "the answer of a supervisor stopped meanwhile: nothing",
                before: fleet(vec![("web", web(yml("sleep 2"), stopping(false)))]),
                event: failed(60, "no answer in 5 s"),
                at: secs(0.0),
                after: fleet(vec![("web", web(yml("sleep 2"), stopping(false)))]),
                actions: vec![],
            },
            Row {
                what: "an earlier supervisor's answer: nothing",
                before: fleet(vec![(
                    "web",
                    web(yml("sleep 2"), Phase::Reloading { pid: pid(61), again: false }),
                )]),
                event: reloaded(60),
                at: secs(0.0),
                after: fleet(vec![(
                    "web",
                    web(yml("sleep 2"), Phase::Reloading { pid: pid(61), again: false }),
                )]),
                actions: vec![],
            },
            Row {
                what: "its supervisor ends before answering: started again, the answer then ignored",
                before: fleet(vec![("web", web(yml("sleep 2"), reloading(false)))]),
                event: Event::Exited {
                    pid: pid(60),
                    how: ExitHow::Code(0),
                },
                at: secs(0.0),
                after: fleet(vec![("web", child(yml("sleep 2"), Phase::Starting, Some(t)))]),
                actions: vec![says("web: supervisor ended (exit code 0)"), start("web")],
            },
            Row {
                what: "removed while asked: halted",
                before: fleet(vec![("web", web(yml("sleep 2"), reloading(false)))]),
                event: listed(&[]),
                at: secs(0.0),
                after: fleet(vec![("web", web(yml("sleep 2"), stopping(true)))]),
                actions: vec![says("web: removed: halting"), Action::Term(pid(60))],
            },
            Row {
                what: "SIGTERM while asked: stopped with the others",
                before: fleet(vec![("web", web(yml("sleep 2"), reloading(false)))]),
                event: Event::Stop,
                at: secs(0.0),
                after: fleet(vec![("web", web(yml("sleep 2"), stopping(false)))]).stopping(None),
                actions: vec![says("stopping every service"), Action::Term(pid(60))],
            },
            Row {
                what: "while every service stops, an answer changes nothing",
                before: fleet(vec![("web", web(yml("sleep 2"), stopping(false)))]).stopping(None),
                event: failed(60, "refused"),
                at: secs(0.0),
                after: fleet(vec![("web", web(yml("sleep 2"), stopping(false)))]).stopping(None),
                actions: vec![],
            },
            Row {
                what: "a service directory that became a NAME.yml: a new supervisor",
                before: fleet(vec![("web", web(Entry::Dir, up))]),
                event: listed(&[("web", yml("sleep 2"))]),
                at: secs(0.0),
                after: fleet(vec![("web", web(yml("sleep 2"), stopping(false)))]),
                actions: vec![says("web: changed: restarting its supervisor"), Action::Term(pid(60))],
            },
            Row {
                what: "changed while its supervisor is down: started with the new file, nothing asked",
                before: fleet(vec![("web", child(yml("sleep 1"), Phase::Down, Some(t)))]),
                event: listed(&[("web", yml("sleep 2"))]),
                at: secs(0.0),
                after: fleet(vec![("web", child(yml("sleep 2"), Phase::Down, Some(t)))]),
                actions: vec![],
            },
        ],
    );
}

/// Which changes of a `NAME.yml` its supervisor's `restart` applies, on
/// the effective configurations `immortalsvc` compares (validated from
/// real files, as `immortal -c FILE -cc` prints them).
#[test]
fn what_restart_applies_and_what_takes_a_new_supervisor() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().display().to_string();
    // `sleep 100` in the sandbox, but for what `extra` says; `None`: not
    // available here (no_new_privs and cgroup: with IMMORTAL_PORTABLE=1,
    // cgroup: without a writable hierarchy).
    let available = |extra: &str| {
        let path = dir.path().join("web.yml");
        let cmd = if extra.starts_with("cmd:") {
            ""
        } else {
            "cmd: sleep 100\n"
        };
        let cwd = if extra.starts_with("cwd:") {
            String::new()
        } else {
            format!("cwd: {here}\n")
        };
        std::fs::write(&path, format!("{cmd}{cwd}{extra}")).unwrap();
        match listing::validate(&path) {
            Entry::Yml(y) => Some(Entry::Yml(y)),
            Entry::Invalid(e) if e.contains("not available") || e.contains("cgroup") => None,
            other => panic!("{extra:?}: {other:?}"),
        }
    };
    let entry = |extra: &str| available(extra).unwrap_or_else(|| panic!("{extra:?}: not available"));
    let plain = entry("");
    let by_restart = [
        "cmd: sleep 200\n",
        "env: {A: b}\n",
        "env_file: vars\n",
        "wait: 2\n",
        "retries: 3\n",
        "post_exit: echo done\n",
        "stop: {signal: INT, timeout: 3}\n",
        "restart: {policy: on-failure, delay: 2}\n",
        "essential: true\n",
        "oneshot: true\n",
        "ready: {tcp: '127.0.0.1:9'}\n",
        "health: {tcp: '127.0.0.1:9'}\n",
        "limits: {nofile: 1024}\n",
        "nice: 5\n",
        "umask: '027'\n",
        "no_new_privs: true\n",
        "cgroup: {pids: 100}\n",
        "listen:\n  - tcp: 127.0.0.1:0\n",
        "pid: {follow: /run/web.pid, child: /run/web.child}\n",
    ];
    for extra in by_restart {
        let Some(changed) = available(extra) else {
            continue;
        };
        assert_ne!(changed, plain, "{extra}");
        assert!(applied_by_restart(&plain, &changed), "{extra}");
        assert!(applied_by_restart(&changed, &plain), "{extra}");
    }
    // The service's own directory: read again, unless a logger (started
    // with the supervisor, in that directory) runs.
    assert!(applied_by_restart(&plain, &entry("cwd: /\n")));
    assert!(!applied_by_restart(
        &entry("logger: cat\n"),
        &entry("cwd: /\nlogger: cat\n")
    ));
    let by_supervisor = [
        format!("log: {{file: {here}/out.log}}\n"),
        format!("stderr: {{file: {here}/err.log}}\n"),
        "logger: cat\n".to_string(),
        "user: root\n".to_string(),
        "socket: {mode: '0600'}\n".to_string(),
        "require: [db]\n".to_string(),
        "require_cmd: 'true'\n".to_string(),
        format!("pid: {{parent: {here}/sup.pid}}\n"),
    ];
    for extra in &by_supervisor {
        assert!(!applied_by_restart(&plain, &entry(extra)), "{extra}");
        assert!(!applied_by_restart(&entry(extra), &plain), "{extra}");
    }
    // Never across kinds, nor for what does not parse.
    assert!(!applied_by_restart(&Entry::Dir, &plain));
    assert!(!applied_by_restart(&plain, &Entry::Dir));
    assert!(!applied_by_restart(&Entry::Dir, &Entry::Dir));
}
