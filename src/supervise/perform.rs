//! The supervisor's hands: what carries out each [`Action`] the table
//! returns ([`Supervisor::perform`]) — starting the service, a probe,
//! `./finish` or `control/X`, reading a new configuration, writing the
//! supervise records — each answering with the event its outcome is. No
//! decision is made here: the table has made it.

use super::*;

impl Supervisor {
    /// Carry out one action; its answer, if it has one, is the next event.
    pub(super) fn perform(&mut self, i: usize, action: Action) -> Option<Event> {
        match action {
            Action::Spawn => return Some(self.spawn(i)),
            Action::ReadPidFile { exited, watch } => return Some(self.read_pidfile(i, exited, watch)),
            Action::ProbeGroup(group) => {
                return Some(Event::GroupProbed {
                    alive: self.units[i].group_alive(group),
                })
            }
            Action::Kill(whom, sig) => {
                let (pid, to) = match whom {
                    Whom::Process(p) => (p, "process"),
                    Whom::Group(p) | Whom::Service(p) => (p, "group"),
                };
                let fields =
                    serde_json::json!({ "pid": pid.as_raw(), "signal": crate::signal::short_name(sig), "to": to });
                self.tell(i, "signal", fields);
                if let Err(e) = self.units[i].send(whom, sig) {
                    if e != nix::errno::Errno::ESRCH {
                        let msg = format!("unable to send {} to {whom:?}: {e}", crate::signal::short_name(sig));
                        self.log.warn(&msg);
                        self.refusals.push(msg);
                    }
                }
            }
            Action::PostExit(code) => {
                let unit = &self.units[i];
                if let Some(hook) = &unit.svc.post_exit {
                    if let Err(e) = spawn::hook(hook, code, &unit.svc, &unit.io) {
                        self.log.warn(&format!("unable to run post_exit '{hook}': {e}"));
                    }
                }
            }
            Action::SpawnFinish { code, signal } => return Some(self.spawn_finish(i, code, signal)),
            Action::RunControl { byte, main } => return self.run_control(i, byte, main),
            Action::DownFile(down) => self.down_file(i, down),
            Action::ReloadConfig => return self.reload_config(i),
            Action::Refuse(msg) => self.refusals.push(msg),
            Action::Note(msg) => self.note(self.units[i].label, &msg),
            Action::Warn(msg) => self.log.warn(&msg),
            Action::Exit(code) => self.exit_code = Some(code),
            Action::Drain(code) => self.drain(code),
            Action::Probe(kind) => return self.start_probe(i, kind),
            Action::Tell(change) => {
                let (name, fields) = changes::fields(&change);
                self.tell(i, name, fields);
            }
        }
        None
    }

    /// Start unit `i`'s readiness or health probe; one that cannot start
    /// is answered at once as failed.
    fn start_probe(&mut self, i: usize, kind: state::ProbeFor) -> Option<Event> {
        let unit = &mut self.units[i];
        let spec = match kind {
            state::ProbeFor::Ready => match &unit.svc.ready.method {
                ReadyMethod::Probe(p) => Some((p.clone(), unit.svc.ready.probe_timeout)),
                _ => None,
            },
            state::ProbeFor::Health => unit.svc.health.as_ref().map(|h| (h.probe.clone(), h.timeout)),
        };
        let Some((spec, timeout)) = spec else {
            return Some(Event::Probed {
                ok: false,
                output: "no probe configured".into(),
            });
        };
        match probe::ProbeRun::start(&spec, &unit.svc, timeout, kind) {
            Ok(run) => {
                unit.probe = Some(run);
                None
            }
            Err((ok, output)) => Some(Event::Probed { ok, output }),
        }
    }

    fn spawn(&mut self, i: usize) -> Event {
        let unit = &mut self.units[i];
        let reconfigured = unit.pending.is_some();
        if let Some(svc) = unit.pending.take() {
            unit.svc = svc;
        }
        if let Some(sockets) = unit.pending_listen.take() {
            // The sockets no longer configured close here.
            unit.listen.retire(&[&sockets]);
            unit.listen = sockets;
        }
        // Read at every start: a restart picks up a changed file.
        let file_env = match crate::envfile::read_all(&unit.svc.env_files) {
            Ok(vars) => vars,
            Err(e) => return start_failed(&self.log, &unit.svc, e.errno, e.to_string(), true),
        };
        let entry = match &mut unit.cgroup {
            Some(cg) => {
                let limits = unit.svc.confine.cgroup;
                let ready = match cg.restore(&limits) {
                    // Made again: its old cgroup.events is dead (a
                    // poll would report it changed forever).
                    Ok(true) => {
                        let watch = cg.watch().transpose();
                        crate::error::Context::ctx(watch, "watch cgroup.events of", &self.dir)
                            .map(|watch| unit.cgroup_watch = watch)
                    }
                    Ok(false) if reconfigured => cg.configure(&limits),
                    Ok(false) => Ok(()),
                    Err(e) => Err(e),
                };
                unit.oom_before = cg.oom_kills();
                ready.and_then(|()| cg.entry_points())
            }
            None => Ok(crate::cgroup::Entry::default()),
        };
        let cgroups = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
                return start_failed(&self.log, &unit.svc, errno, e.to_string(), true);
            }
        };
        unit.ready_pipe = None;
        let mut pass = None;
        if let ReadyMethod::Fd(number) = unit.svc.ready.method {
            match notify::ReadyPipe::new() {
                Ok((pipe, write)) => {
                    unit.ready_pipe = Some(pipe);
                    pass = Some((write, number));
                }
                Err(e) => self.log.warn(&format!("unable to create the notification pipe: {e}")),
            }
        }
        let wants_notify = i == 0 && spawn::wants_notify_socket(&unit.svc);
        if wants_notify && self.notify.is_none() {
            let owner = unit.svc.user.as_ref().map(|u| (u.uid.as_raw(), u.gid.as_raw()));
            match notify::NotifySocket::bind(&self.dir.join(crate::layout::NOTIFY_SOCKET), owner) {
                Ok(sock) => self.notify = Some(sock),
                Err(e) => self.log.warn(&format!("unable to create the notify socket: {e}")),
            }
        }
        let unit = &mut self.units[i];
        let notify_socket = self
            .notify
            .as_ref()
            .filter(|_| wants_notify)
            .map(|s| s.address.as_str());
        let extra = spawn::Extra {
            file_env,
            fd: pass.as_ref().map(|(fd, n)| (fd.as_fd(), *n)),
            cgroups,
            listen: Some(&unit.listen),
            ..spawn::readiness(&unit.svc, notify_socket)
        };
        let spawned = spawn::service_with(&unit.svc, &unit.io, &extra);
        // Our copy of the write end closes: EOF once the service's copies do.
        drop(extra);
        drop(pass);
        match spawned {
            Ok(pid) => {
                let msg = format!("pid {pid} started: {}", unit.svc.command.join(" "));
                if let Some(path) = &unit.svc.child_pidfile {
                    if let Err(e) = sys::fs::write_pidfile(path, pid) {
                        self.log.warn(&e.to_string());
                    }
                }
                self.note(self.units[i].label, &msg);
                Event::Spawned {
                    pid: Pid::from_raw(pid as i32),
                }
            }
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(libc::EINVAL);
                start_failed(&self.log, &unit.svc, errno, e.to_string(), false)
            }
        }
    }

    /// runit's `./finish CODE SIGNAL`: CODE is -1 after a signal death.
    /// runsv looks for it at every exit: so do we.
    fn spawn_finish(&mut self, i: usize, code: i32, signal: i32) -> Event {
        let unit = &self.units[i];
        let Some(dir) = unit.service_dir.clone() else {
            return Event::FinishFailed;
        };
        if !dir.join(crate::layout::FINISH).exists() {
            return Event::FinishFailed;
        }
        let args = [code.to_string(), signal.to_string()];
        let finish = std::path::Path::new(".").join(crate::layout::FINISH);
        match spawn::program(&finish, &args, Some(&dir), &unit.io) {
            Ok(pid) => Event::FinishSpawned {
                pid: Pid::from_raw(pid as i32),
            },
            Err(e) => {
                self.log.warn(&format!("unable to start {}/finish: {e}", dir.display()));
                Event::FinishFailed
            }
        }
    }

    /// `control/<letter>`, if it is there: it runs alone; its exit is the
    /// answer. Without one, the answer is at once.
    fn run_control(&mut self, i: usize, byte: u8, main: Option<Pid>) -> Option<Event> {
        let none = Some(Event::ControlDone { how: None });
        let Some(dir) = self.units[i].service_dir.clone() else {
            return none;
        };
        let script = dir
            .join(crate::layout::CONTROL_SCRIPTS)
            .join((byte as char).to_string());
        if !is_executable(&script) {
            return none;
        }
        let arg = main.map_or(String::new(), |p| p.to_string());
        match spawn::program(&script, &[arg], Some(&dir), &self.units[i].io) {
            Ok(pid) => {
                self.control_script = Some((Pid::from_raw(pid as i32), i));
                None
            }
            Err(e) => {
                self.log.warn(&format!("unable to run {}: {e}", script.display()));
                none
            }
        }
    }

    /// s6's `D`/`U`: the `down` file makes the choice permanent.
    fn down_file(&mut self, i: usize, down: bool) {
        let Some(dir) = &self.units[i].service_dir else { return };
        let path = dir.join(crate::layout::DOWN);
        let result = if down {
            std::fs::write(&path, b"").map_err(|e| (e, "create"))
        } else {
            std::fs::remove_file(&path)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Ok(()),
                    _ => Err(e),
                })
                .map_err(|e| (e, "remove"))
        };
        if let Err((e, op)) = result {
            self.log.warn(&format!("unable to {op} {}: {e}", path.display()));
        }
    }

    /// `restart` re-reads the `-c` file; a bad file keeps the old one.
    fn reload_config(&mut self, i: usize) -> Option<Event> {
        let path = self.units[i].svc.config_file.clone()?;
        let loaded = crate::config::load(&path)
            .and_then(|yml| crate::service::from_yml(&path, &yml))
            .and_then(|svc| self.cgroup_for(i, &svc).map(|()| svc));
        let unit = &self.units[i];
        // Unchanged addresses keep their sockets; new ones open now.
        let loaded = loaded.and_then(|svc| {
            let sockets = unit.listen.reopen(&svc.listen, unit.pending_listen.as_ref())?;
            Ok((svc, sockets))
        });
        match loaded {
            Ok((mut svc, sockets)) => {
                let unit = &mut self.units[i];
                if let Some(earlier) = unit.pending_listen.take() {
                    earlier.retire(&[&unit.listen, &sockets]);
                }
                unit.pending_listen = Some(sockets);
                svc.name.clone_from(&unit.svc.name);
                let policy = policy(&svc, unit.state.policy.role, unit.service_dir.is_some());
                unit.pending = Some(svc);
                Some(Event::Reconfigured(Box::new(policy)))
            }
            Err(e) => {
                let msg = format!("restart keeps the previous configuration: {e}");
                self.log.warn(&msg);
                self.refusals.push(msg);
                None
            }
        }
    }

    /// A configuration that brings `cgroup:` limits to a service started
    /// without a cgroup (no writable v2 hierarchy): its cgroups are made
    /// now, or the configuration is refused — a limit is never ignored.
    fn cgroup_for(&mut self, i: usize, svc: &Service) -> crate::error::Result<()> {
        if self.units[i].cgroup.is_some() || svc.confine.cgroup.is_empty() || i != 0 {
            return Ok(());
        }
        let name = self.units[i].svc.name.clone().unwrap_or_else(|| self.dir_name());
        let hier = crate::cgroup::Hierarchies::discover();
        if let Some(cg) = crate::cgroup::Cgroup::setup(&hier, &self.dir, &name, &svc.confine.cgroup, true)? {
            use crate::error::Context;
            self.units[i].confine(cg).ctx("watch cgroup.events of", &self.dir)?;
        }
        Ok(())
    }

    pub(super) fn write_status(&mut self, i: usize) {
        let unit = &mut self.units[i];
        let Some(files) = &mut unit.files else { return };
        let main = unit.state.main_pid();
        if main != unit.recorded {
            let records = &mut files.records;
            let result = match main {
                Some(pid) => adopt::save(records, pid, unit.state.last.spawned_pgid.unwrap_or(pid)),
                None => adopt::forget(records),
            };
            unit.recorded = main;
            if let Err(e) = result {
                self.log.warn(&e.to_string());
            }
        }
        // An adopted process started before this supervisor did: its
        // change time lies before the epoch, and must not be clamped to it.
        let (at, epoch_wall) = (unit.state.changed, self.epoch.1);
        let changed = match at.checked_duration_since(self.epoch.0) {
            Some(after) => epoch_wall + after,
            None => epoch_wall - self.epoch.0.saturating_duration_since(at),
        };
        if let Err(e) = files.update(unit.state.record(changed)) {
            self.log.warn(&e.to_string());
        }
        let ready = unit.state.is_ready();
        let running = unit.state.visible() == crate::status::RunState::Run;
        if let Some(events) = &unit.fifodir {
            // s6-supervise's events: u up, U ready, d down.
            let mut told = Vec::new();
            if running && !unit.told.0 {
                told.push(b'u');
            }
            if ready && !unit.told.1 {
                told.push(b'U');
            }
            if !running && unit.told.0 {
                told.push(b'd');
            }
            events.send(&told);
            unit.told = (running, ready);
        }
        // The records remember what the marker was last made: nothing is
        // done when it is already so.
        if unit.state.policy.role == Role::Service {
            if let Err(e) = files.records.set_present(crate::layout::READY, ready) {
                let path = files.dir.join(crate::layout::READY);
                self.log.warn(&format!("unable to update {}: {e}", path.display()))
            }
        }
    }
}

/// A start that failed (`errno`, `why`): said, and answered. `shown`: the
/// reason goes into the status too (an exec's failure is shown by its
/// errno alone).
fn start_failed(log: &Log, svc: &Service, errno: i32, why: String, shown: bool) -> Event {
    log.warn(&format!("unable to start {}: {why}", svc.command.join(" ")));
    Event::SpawnFailed {
        errno,
        why: shown.then_some(why),
    }
}
