//! A cgroup per service: the one way to reach every process a service
//! made, whatever process group or session it moved to.
//!
//! Where: `<the supervisor's own cgroup>/immortal/NAME` in the first
//! writable cgroup v2 hierarchy (`/sys/fs/cgroup` on a pure v2 host,
//! `/sys/fs/cgroup/unified` in the hybrid layout), found through
//! `/proc/self/mountinfo` and `/proc/self/cgroup`. With it:
//!
//! - the child writes itself into `cgroup.procs` before exec, so all it
//!   forks is inside from the first instruction;
//! - the stop signal goes to every pid of `cgroup.procs`; KILL at the
//!   deadline is one write of `1` to `cgroup.kill` (atomic against forks);
//! - "the group is gone" is `populated 0` in `cgroup.events`, whose changes
//!   the loop's poll sees as `POLLPRI` on the open file (no timer, no
//!   inotify instance, and no wake-up while the service runs: the file
//!   changes only when the cgroup empties or fills).
//!
//! `cgroup:` limits use the v2 controllers when the supervisor's cgroup
//! offers them, else the v1 `memory`, `pids`, `cpu` hierarchies (a cgroup
//! of the same name there); one that cannot be applied is an error.
//!
//! The supervise directory's `cgroup` file records the directories made
//! for the service (`KIND PATH` a line, KIND `unified` or a v1
//! controller), so that a supervisor started after a `kill -9` finds the
//! same cgroup again, and so that two services of the same name (two
//! supervise directories) never share one: a name taken by a directory not
//! recorded here gets a suffix (`web.2`). The supervisor removes them when
//! it exits with the service gone; restarts reuse them, so nothing
//! accumulates. A supervisor holds an `flock` on its v2 cgroup for its whole
//! life: one that nobody holds and nothing runs in was left by a supervisor
//! killed for good, and the next supervisor to make a cgroup there removes
//! it once its own start-up is over (a killed supervisor's running service
//! keeps its cgroup populated, so it waits for adoption).

use crate::error::{Context, Error, Result};
use crate::limits::CgroupLimits;
use nix::fcntl::{Flock, FlockArg};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The directory below the supervisor's cgroup that holds its services'.
pub const PARENT: &str = "immortal";
/// v1 controllers that `cgroup:` limits may use.
pub const V1_CONTROLLERS: &[&str] = &["memory", "pids", "cpu"];
/// `cpu.max`'s period, µs: the quota is `cpu × PERIOD`.
const CPU_PERIOD: u64 = 100_000;

/// The cgroup hierarchies this process can create cgroups in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hierarchies {
    /// The supervisor's own cgroup in the writable v2 hierarchy.
    pub v2: Option<PathBuf>,
    /// The controllers that cgroup offers (`cgroup.controllers`).
    pub v2_controllers: Vec<String>,
    /// The supervisor's own cgroup in each writable v1 hierarchy of
    /// [`V1_CONTROLLERS`].
    pub v1: Vec<(&'static str, PathBuf)>,
}

/// The variable through which immortalsvc hands each supervisor it starts
/// the hierarchies it found ([`Hierarchies::to_env`]): they are the
/// scanner's own, and a supervisor it starts is in the scanner's cgroup.
/// Reading `/proc/self/mountinfo` (the kernel writes out every mount) was
/// a tenth of a supervisor's start in a burst of hundreds.
pub const HIERARCHIES_VAR: &str = "IMMORTAL_CGROUP_HIERARCHIES";

/// What [`take_inherited`] took from the environment, for
/// [`Hierarchies::discover`] during start-up ([`forget_inherited`]: later
/// ones look again, and a long-lived supervisor follows what changes).
static INHERITED: std::sync::Mutex<Option<Hierarchies>> = std::sync::Mutex::new(None);

/// Take the hierarchies immortalsvc handed down, if any, and remove the
/// variable from the environment (no service inherits it). Called once,
/// at start, while the process has one thread.
pub fn take_inherited() {
    let value = std::env::var_os(HIERARCHIES_VAR);
    std::env::remove_var(HIERARCHIES_VAR);
    let found = value.and_then(|v| Hierarchies::from_env(&v));
    if let Ok(mut slot) = INHERITED.lock() {
        *slot = found;
    }
}

/// Start-up is over: [`Hierarchies::discover`] looks for itself from now on.
pub fn forget_inherited() {
    if let Ok(mut slot) = INHERITED.lock() {
        *slot = None;
    }
}

impl Hierarchies {
    /// What this system offers: handed down by immortalsvc during start-up
    /// ([`take_inherited`]), else read from `/proc/self` (nothing on a
    /// system without cgroups, see [`crate::sys::system::Capabilities`]).
    pub fn discover() -> Hierarchies {
        if let Some(inherited) = INHERITED.lock().ok().and_then(|slot| slot.clone()) {
            return inherited;
        }
        Hierarchies::look()
    }

    /// Read from `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn look() -> Hierarchies {
        if !crate::sys::system::capabilities().cgroups {
            return Hierarchies::default();
        }
        let (Ok(mounts), Ok(own)) = (
            std::fs::read_to_string("/proc/self/mountinfo"),
            std::fs::read_to_string("/proc/self/cgroup"),
        ) else {
            return Hierarchies::default();
        };
        let writable = |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok();
        let mut found = Hierarchies::default();
        for m in parse_mountinfo(&mounts) {
            if m.fstype == "cgroup2" && found.v2.is_none() {
                let Some(dir) = own_cgroup(&own, None).and_then(|p| m.locate(&p)) else {
                    continue;
                };
                if writable(&dir) {
                    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
                    found.v2_controllers = controllers.split_whitespace().map(String::from).collect();
                    found.v2 = Some(dir);
                }
            } else if m.fstype == "cgroup" {
                for &c in V1_CONTROLLERS {
                    if !m.options.split(',').any(|o| o == c) || found.v1.iter().any(|(k, _)| *k == c) {
                        continue;
                    }
                    if let Some(dir) = own_cgroup(&own, Some(c)).and_then(|p| m.locate(&p)) {
                        if writable(&dir) {
                            found.v1.push((c, dir));
                        }
                    }
                }
            }
        }
        found
    }

    /// A line a hierarchy, `v2 PATH CONTROLLER,…` or `v1 CONTROLLER PATH`,
    /// fields apart by tabs: for [`HIERARCHIES_VAR`]. `None` when a path is
    /// not UTF-8 or holds a tab or a newline (the supervisor then looks
    /// itself).
    pub fn to_env(&self) -> Option<String> {
        let plain = |p: &Path| p.to_str().filter(|t| !t.contains(['\t', '\n'])).map(str::to_string);
        let mut out = String::new();
        if let Some(dir) = &self.v2 {
            out += &format!("v2\t{}\t{}\n", plain(dir)?, self.v2_controllers.join(","));
        }
        for (controller, dir) in &self.v1 {
            out += &format!("v1\t{controller}\t{}\n", plain(dir)?);
        }
        Some(out)
    }

    /// The inverse of [`Hierarchies::to_env`]; `None` for anything else.
    pub fn from_env(text: &std::ffi::OsStr) -> Option<Hierarchies> {
        use std::os::unix::ffi::OsStrExt;
        let path = |b: &[u8]| (!b.is_empty()).then(|| PathBuf::from(std::ffi::OsStr::from_bytes(b)));
        let mut found = Hierarchies::default();
        for line in text.as_bytes().split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let fields: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
            match fields.as_slice() {
                [b"v2", dir, controllers] if found.v2.is_none() => {
                    found.v2 = Some(path(dir)?);
                    found.v2_controllers = std::str::from_utf8(controllers)
                        .ok()?
                        .split(',')
                        .filter(|c| !c.is_empty())
                        .map(String::from)
                        .collect();
                }
                [b"v1", controller, dir] => {
                    let c = *V1_CONTROLLERS.iter().find(|c| c.as_bytes() == *controller)?;
                    if found.v1.iter().any(|(k, _)| *k == c) {
                        return None;
                    }
                    found.v1.push((c, path(dir)?));
                }
                _ => return None,
            }
        }
        Some(found)
    }

    /// For `-cc` and `-check`: which mechanism stops the service.
    pub fn describe(&self) -> String {
        match &self.v2 {
            Some(dir) => format!(
                "a cgroup of its own in {}/{PARENT}/ (stop, KILL and leftovers reach every process)",
                dir.display()
            ),
            None => "its process group (no writable cgroup v2 hierarchy)".into(),
        }
    }

    /// Where each limit would be written: `Err` names one that cannot
    /// (the controller, and why).
    fn plan(&self, limits: &CgroupLimits) -> std::result::Result<Vec<(&'static str, Where)>, (&'static str, String)> {
        let wanted = [
            ("memory", limits.memory.is_some()),
            ("pids", limits.pids.is_some()),
            ("cpu", limits.cpu.is_some()),
        ];
        let mut out = Vec::new();
        for (c, _) in wanted.iter().filter(|(_, w)| *w) {
            if self.v2.is_some() && self.v2_controllers.iter().any(|k| k == c) {
                out.push((*c, Where::V2));
            } else if self.v1.iter().any(|(k, _)| k == c) {
                out.push((*c, Where::V1));
            } else {
                return Err((
                    c,
                    format!("cgroup: {c}: no cgroup v2 {c} controller and no writable v1 {c} hierarchy to apply it"),
                ));
            }
        }
        Ok(out)
    }

    /// Why `limits` cannot be applied here, if so: the controller and
    /// the reason (for a start, `-check` and `-cc`).
    pub fn check(&self, limits: &CgroupLimits) -> Option<(&'static str, String)> {
        self.plan(limits).err()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    V2,
    V1,
}

/// How a child enters the service's cgroups ([`Cgroup::entry_points`]).
#[derive(Debug, Default)]
pub struct Entry {
    /// The v2 cgroup's directory: a child is born there, or (a kernel that
    /// cannot) opens its `cgroup.procs` there and writes itself in.
    pub v2: Option<OwnedFd>,
    /// `cgroup.procs` of each v1 cgroup.
    pub v1: Vec<OwnedFd>,
}

/// The service's cgroup(s).
#[derive(Debug)]
pub struct Cgroup {
    /// Its cgroup in the v2 hierarchy: membership, stop, emptiness.
    pub v2: Option<PathBuf>,
    /// Its cgroups in v1 hierarchies, made for limits only.
    v1: Vec<(&'static str, PathBuf)>,
    /// The v2 controllers the limits use.
    v2_limits: Vec<&'static str>,
    hier: Hierarchies,
    record: PathBuf,
    /// The leaf name, shared by every hierarchy.
    leaf: String,
    /// The claim on the v2 cgroup, held while the supervisor lives.
    lock: Option<Flock<std::fs::File>>,
    /// Whether the cgroups abandoned beside it were looked for already.
    swept: bool,
}

impl Cgroup {
    /// The cgroup of the service named `name` supervised from `sdir`:
    /// found again from the record, or made. `None` when there is neither
    /// a writable v2 hierarchy nor a limit to apply. `recorded`: `sdir`
    /// may hold a record (false: it was made just now).
    pub fn setup(
        hier: &Hierarchies,
        sdir: &Path,
        name: &str,
        limits: &CgroupLimits,
        recorded: bool,
    ) -> Result<Option<Cgroup>> {
        let plan = hier.plan(limits).map_err(|(_, e)| Error::invalid(e))?;
        if hier.v2.is_none() && plan.is_empty() {
            return Ok(None);
        }
        let record = sdir.join(crate::layout::CGROUP);
        let recorded = if recorded { read_record(&record) } else { Vec::new() };
        let mut cg = Cgroup {
            v2: None,
            v1: Vec::new(),
            v2_limits: Vec::new(),
            hier: hier.clone(),
            record,
            leaf: String::new(),
            lock: None,
            swept: false,
        };
        // The leaf name: the recorded one (adoption), else the first free
        // one of NAME, NAME.2, … in the v2 hierarchy.
        if let Some(base) = &hier.v2 {
            let parent = base.join(PARENT);
            let mut old = recorded
                .iter()
                .find(|(k, _)| k == "unified")
                .map(|(_, p)| p.clone())
                .filter(|p| p.is_dir() && p.starts_with(base));
            // A new cgroup may be taken for abandoned by another supervisor
            // between its mkdir and its flock: then make another.
            let mut claimed = None;
            for _ in 0..5 {
                let dir = match old.take() {
                    Some(p) => p,
                    None => make_leaf(&parent, &sanitize(name))?,
                };
                if let Some(lock) = claim(&dir) {
                    claimed = Some((dir, lock));
                    break;
                }
            }
            let Some((dir, lock)) = claimed else {
                return Err(Error::invalid(format!(
                    "unable to claim a cgroup for {name} in {}",
                    parent.display()
                )));
            };
            cg.lock = Some(lock);
            cg.leaf = leaf_name(&dir);
            cg.v2 = Some(dir);
            cg.save()?;
        } else {
            // Limits only, in v1 hierarchies: the name is claimed in the
            // first one needed, and shared by the others.
            let old = recorded.first().map(|(_, p)| leaf_name(p));
            let first = plan
                .first()
                .and_then(|(c, _)| hier.v1.iter().find(|(k, _)| k == c))
                .map(|(_, base)| base.join(PARENT));
            cg.leaf = match (old, first) {
                (Some(leaf), _) => leaf,
                (None, Some(parent)) => leaf_name(&make_leaf(&parent, &sanitize(name))?),
                (None, None) => sanitize(name),
            };
        }
        cg.configure(limits)?;
        Ok(Some(cg))
    }

    /// Write `limits` (at setup, and when `restart` read a new
    /// configuration). A limit no longer configured goes back to `max`.
    pub fn configure(&mut self, limits: &CgroupLimits) -> Result<()> {
        let plan = self.hier.plan(limits).map_err(|(_, e)| Error::invalid(e))?;
        let v2_wanted: Vec<&'static str> = plan.iter().filter(|(_, w)| *w == Where::V2).map(|(c, _)| *c).collect();
        if let (Some(base), Some(leaf)) = (&self.hier.v2, &self.v2) {
            for c in &v2_wanted {
                if !self.v2_limits.contains(c) {
                    enable_controller(base, leaf, c)?;
                    self.v2_limits.push(c);
                }
            }
            for c in self.v2_limits.clone() {
                write_v2_limit(leaf, c, limits)?;
            }
        }
        for (c, _) in plan.iter().filter(|(_, w)| *w == Where::V1) {
            if !self.v1.iter().any(|(k, _)| k == c) {
                let Some((_, base)) = self.hier.v1.iter().find(|(k, _)| k == c) else {
                    continue; // plan() found it
                };
                let dir = base.join(PARENT).join(&self.leaf);
                create_dir(&dir)?;
                self.v1.push((c, dir));
                self.save()?;
            }
        }
        for (c, dir) in &self.v1 {
            write_v1_limit(dir, c, limits)?;
        }
        Ok(())
    }

    /// Once in the supervisor's life, when its start-up is over (its first
    /// quiet moment): remove the cgroups beside its own that supervisors
    /// killed for good left behind ([`remove_abandoned`]). Not at setup:
    /// when a scanner starts hundreds of supervisors at once, each one's
    /// sweep would delay every other's start.
    pub fn sweep_once(&mut self) {
        if std::mem::replace(&mut self.swept, true) {
            return;
        }
        if let Some(base) = &self.hier.v2 {
            remove_abandoned(&base.join(PARENT), &self.hier);
        }
    }

    /// Make again the cgroups someone else removed while nothing ran in
    /// them (an operator's `rmdir`, a cleaning script, another manager),
    /// claimed and configured with `limits` as at setup. `Ok(true)`: the
    /// v2 cgroup was made again, so its `cgroup.events` must be opened
    /// again. Without it every later start would fail for good.
    pub fn restore(&mut self, limits: &CgroupLimits) -> Result<bool> {
        let mut remade = false;
        if let Some(dir) = self.v2.clone().filter(|d| !self.holds(d)) {
            let parent = dir.parent().unwrap_or(Path::new("/")).to_path_buf();
            // Its name, or (another supervisor took it meanwhile) the next
            // free one.
            let (dir, lock) = [Some(dir.clone()), None]
                .into_iter()
                .find_map(|want| {
                    let dir = match want {
                        Some(d) => std::fs::create_dir(&d).ok().map(|()| d),
                        None => make_leaf(&parent, &self.leaf).ok(),
                    }?;
                    claim(&dir).map(|lock| (dir, lock))
                })
                .ok_or_else(|| Error::invalid(format!("unable to make the cgroup {} again", dir.display())))?;
            self.lock = Some(lock);
            self.v2 = Some(dir);
            // A new cgroup has no controller and no limit yet.
            self.v2_limits.clear();
            self.save()?;
            remade = true;
        }
        let mut v1_gone = false;
        for (_, dir) in self.v1.iter().filter(|(_, d)| !d.is_dir()) {
            create_dir(dir)?;
            v1_gone = true;
        }
        if remade || v1_gone {
            self.configure(limits)?;
        }
        Ok(remade)
    }

    /// Whether `dir` is still the directory this supervisor claimed: not
    /// removed, and not made again by another supervisor since.
    fn holds(&self, dir: &Path) -> bool {
        use std::os::unix::fs::MetadataExt;
        let claimed = self.lock.as_ref().and_then(|lock| lock.metadata().ok());
        match (claimed, std::fs::metadata(dir)) {
            (Some(c), Ok(now)) => c.ino() == now.ino() && c.dev() == now.dev(),
            _ => false,
        }
    }

    /// How a child enters its cgroups: born in the v2 one (its directory,
    /// for `clone3`), and `cgroup.procs` of each v1 one, open for writing:
    /// the child writes `0` (itself) to each before exec.
    pub fn entry_points(&self) -> Result<Entry> {
        let procs = |d: &Path| {
            let path = d.join("cgroup.procs");
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map(OwnedFd::from)
                .ctx("open", &path)
        };
        // The directory claimed is open already (a descriptor is all
        // `clone3` needs): another of it, without a lookup.
        let claimed = self
            .lock
            .as_ref()
            .and_then(|lock| lock.try_clone().ok())
            .map(OwnedFd::from);
        let v2 = match (&self.v2, claimed) {
            (Some(_), Some(dir)) => Some(dir),
            (Some(d), None) => {
                let dir = std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                    .open(d)
                    .map(OwnedFd::from)
                    .ctx("open", d)?;
                Some(dir)
            }
            (None, _) => None,
        };
        let v1 = self.v1.iter().map(|(_, d)| procs(d)).collect::<Result<_>>()?;
        Ok(Entry { v2, v1 })
    }

    /// Whether any process is in it (v2 `cgroup.events`); without a v2
    /// cgroup, or when it cannot be read, `false`.
    pub fn populated(&self) -> bool {
        let Some(dir) = &self.v2 else { return false };
        let events = crate::sys::fs::read_small(dir.join("cgroup.events")).unwrap_or_default();
        keyed(&events, "populated") == Some(1)
    }

    /// Its processes now (v2).
    pub fn pids(&self) -> Vec<nix::unistd::Pid> {
        let Some(dir) = &self.v2 else { return Vec::new() };
        crate::sys::fs::read_small(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse::<i32>().ok())
            .filter(|&p| p > 0)
            .map(nix::unistd::Pid::from_raw)
            .collect()
    }

    /// Send `sig` to each of its processes; KILL through `cgroup.kill`
    /// (which also reaches what is forked meanwhile) when the kernel has it.
    /// How many processes were signalled (KILL by `cgroup.kill`: 1 if any).
    pub fn signal(&self, sig: nix::sys::signal::Signal) -> usize {
        if sig == nix::sys::signal::Signal::SIGKILL {
            if let Some(dir) = &self.v2 {
                if write_file(&dir.join("cgroup.kill"), "1").is_ok() {
                    return usize::from(self.populated());
                }
            }
        }
        let pids = self.pids();
        pids.iter().filter(|&&p| nix::sys::signal::kill(p, sig).is_ok()).count()
    }

    /// `cgroup.events`, open and read once: the kernel flags it (`POLLPRI`)
    /// when it changes. No inotify instance per supervisor: those are
    /// limited per user (128 by default), a thousand services are not.
    pub fn watch(&self) -> Option<std::io::Result<EventsWatch>> {
        let dir = self.v2.as_ref()?;
        let open = || -> std::io::Result<EventsWatch> {
            let file = std::fs::File::open(dir.join("cgroup.events"))?;
            let watch = EventsWatch { file };
            watch.rearm();
            Ok(watch)
        };
        Some(open())
    }

    /// OOM kills inside it so far: v2 `memory.events` `oom_kill` when the
    /// v2 memory controller is used, else v1 `memory.oom_control`
    /// `oom_kill` (kernels before 4.13 lack it: then `memory.failcnt`, the
    /// times the limit was hit, stands in). `None`: no memory accounting.
    pub fn oom_kills(&self) -> Option<u64> {
        let read = |p: PathBuf| std::fs::read_to_string(p).ok();
        if let (Some(dir), true) = (&self.v2, self.v2_limits.contains(&"memory")) {
            return keyed(&read(dir.join("memory.events"))?, "oom_kill");
        }
        let (_, dir) = self.v1.iter().find(|(c, _)| *c == "memory")?;
        match read(dir.join("memory.oom_control")).and_then(|t| keyed(&t, "oom_kill")) {
            Some(n) => Some(n),
            None => read(dir.join("memory.failcnt"))?.trim().parse().ok(),
        }
    }

    /// Remove its cgroups (and the `immortal` parents left empty) and the
    /// record, once nothing runs in them. `Ok(false)`: still populated,
    /// kept (with the record, for a later supervisor).
    pub fn remove(&self) -> Result<bool> {
        let v1_busy = || {
            self.v1
                .iter()
                .any(|(_, d)| crate::sys::fs::read_small(d.join("cgroup.procs")).is_ok_and(|t| !t.trim().is_empty()))
        };
        if self.populated() || v1_busy() {
            return Ok(false);
        }
        for dir in self.v2.iter().chain(self.v1.iter().map(|(_, d)| d)) {
            match std::fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).ctx("remove cgroup", dir),
            }
            // Other supervisors' services may still be there: then it stays.
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        match std::fs::remove_file(&self.record) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).ctx("remove", &self.record),
            _ => Ok(true),
        }
    }

    fn save(&self) -> Result<()> {
        let mut text = String::new();
        for (kind, dir) in self
            .v2
            .iter()
            .map(|d| ("unified", d))
            .chain(self.v1.iter().map(|(c, d)| (*c, d)))
        {
            text.push_str(&format!("{kind} {}\n", dir.display()));
        }
        crate::sys::fs::write_atomic(&self.record, text.as_bytes())
    }
}

/// `KIND PATH` lines of a supervise directory's `cgroup` file.
fn read_record(path: &Path) -> Vec<(String, PathBuf)> {
    let text = crate::sys::fs::read_regular_text(path, 4096).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, p)| p.starts_with('/') && !p.contains("/../"))
        .map(|(k, p)| (k.to_string(), PathBuf::from(p)))
        .collect()
}

/// A cgroup directory's name from a service name: no `/`, no leading dot,
/// never empty.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| if c == '/' || c.is_control() || c == ' ' { '_' } else { c })
        .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        "service".into()
    } else {
        s.to_string()
    }
}

fn leaf_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Make `parent/NAME`, or `NAME.2`, `NAME.3`… if taken. `mkdir` is the
/// claim: a name another supervisor made first is left to it.
fn make_leaf(parent: &Path, name: &str) -> Result<PathBuf> {
    for n in 1..1000 {
        let dir = if n == 1 {
            parent.join(name)
        } else {
            parent.join(format!("{name}.{n}"))
        };
        // The parent is made when missing (the first supervisor, or one
        // after another removed it as empty): most starts find it, and a
        // `mkdir` of a cgroup that exists still costs a lookup.
        for _ in 0..3 {
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(parent).ctx("create cgroup", parent)?;
                }
                Err(e) => return Err(e).ctx("create cgroup", &dir),
            }
        }
    }
    Err(Error::invalid(format!(
        "unable to create a cgroup for {name} in {}: every name is taken",
        parent.display()
    )))
}

/// `flock` cgroup `dir` for this supervisor; `None` when another holds it
/// or it is gone (removed as abandoned before we held it).
fn claim(dir: &Path) -> Option<Flock<std::fs::File>> {
    use std::os::unix::fs::MetadataExt;
    let f = std::fs::File::open(dir).ok()?;
    let lock = Flock::lock(f, FlockArg::LockExclusiveNonblock).ok()?;
    // Still the directory that was opened (not removed, not made again).
    let same = std::fs::metadata(dir).ok()?.ino() == lock.metadata().ok()?.ino();
    same.then_some(lock)
}

/// At most this many cgroups are looked at by one supervisor's start.
const SWEEP_MAX: usize = 16;

/// Remove the cgroups in `parent` that no supervisor holds and nothing runs
/// in, with their v1 twins: what supervisors killed for good left behind.
///
/// Every one when there are few; else [`SWEEP_MAX`] of them, from a place
/// that changes with each supervisor: 1000 supervisors starting at once
/// would otherwise each try the lock of every cgroup the others made (half
/// a million tries), and what is abandoned is still found by the starts
/// that follow.
fn remove_abandoned(parent: &Path, hier: &Hierarchies) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    let dirs: Vec<std::fs::DirEntry> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .collect();
    for i in swept(dirs.len(), sweep_start(dirs.len())) {
        let entry = &dirs[i];
        let dir = entry.path();
        let Some(_held) = claim(&dir) else { continue };
        let events = crate::sys::fs::read_small(dir.join("cgroup.events")).unwrap_or_default();
        if keyed(&events, "populated") != Some(0) {
            continue;
        }
        if std::fs::remove_dir(&dir).is_ok() {
            for (_, base) in &hier.v1 {
                let _ = std::fs::remove_dir(base.join(PARENT).join(entry.file_name()));
            }
        }
    }
}

/// Which of `n` cgroups a sweep looks at: all of them when there are no
/// more than [`SWEEP_MAX`], else that many from `from` on (wrapping).
fn swept(n: usize, from: usize) -> impl Iterator<Item = usize> {
    let from = if n > SWEEP_MAX { from % n } else { 0 };
    (0..n.min(SWEEP_MAX)).map(move |k| (from + k) % n)
}

/// Where a sweep of `n` cgroups starts: this process's id and the clock's
/// nanoseconds mixed, so supervisors starting together look at different
/// ones.
fn sweep_start(n: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    (std::process::id() as usize)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(nanos)
        % n.max(1)
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).ctx("create cgroup", dir)
}

/// `+c` in the `cgroup.subtree_control` of every cgroup from `base` down
/// to the leaf's parent, so the leaf has the controller.
fn enable_controller(base: &Path, leaf: &Path, c: &str) -> Result<()> {
    let mut dir = base.to_path_buf();
    let below = leaf.strip_prefix(base).unwrap_or(Path::new(""));
    let steps: Vec<_> = below.components().collect();
    for step in &steps {
        let control = dir.join("cgroup.subtree_control");
        write_file(&control, &format!("+{c}")).map_err(|e| {
            Error::invalid(format!(
                "cgroup: {c}: unable to enable the {c} controller in {}: {e}",
                control.display()
            ))
        })?;
        dir.push(step);
    }
    Ok(())
}

fn write_v2_limit(dir: &Path, c: &str, limits: &CgroupLimits) -> Result<()> {
    let max = || "max".to_string();
    let (file, value) = match c {
        "memory" => ("memory.max", limits.memory.map_or_else(max, |b| b.to_string())),
        "pids" => ("pids.max", limits.pids.map_or_else(max, |n| n.to_string())),
        _ => (
            "cpu.max",
            match limits.cpu {
                Some(cpus) => format!("{} {CPU_PERIOD}", quota(cpus)),
                None => format!("max {CPU_PERIOD}"),
            },
        ),
    };
    write_limit(c, &dir.join(file), &value)
}

fn write_v1_limit(dir: &Path, c: &str, limits: &CgroupLimits) -> Result<()> {
    match c {
        "memory" => {
            let value = limits.memory.map_or_else(|| "-1".to_string(), |b| b.to_string());
            write_limit(c, &dir.join("memory.limit_in_bytes"), &value)
        }
        "pids" => {
            let value = limits.pids.map_or_else(|| "max".to_string(), |n| n.to_string());
            write_limit(c, &dir.join("pids.max"), &value)
        }
        _ => {
            write_limit(c, &dir.join("cpu.cfs_period_us"), &CPU_PERIOD.to_string())?;
            let value = limits
                .cpu
                .map_or_else(|| "-1".to_string(), |cpus| quota(cpus).to_string());
            write_limit(c, &dir.join("cpu.cfs_quota_us"), &value)
        }
    }
}

/// The quota for `cpus` CPUs per period (the kernel's least is 1 ms).
fn quota(cpus: f64) -> u64 {
    ((cpus * CPU_PERIOD as f64).round() as u64).max(1000)
}

fn write_limit(c: &str, path: &Path, value: &str) -> Result<()> {
    write_file(path, value).map_err(|e| {
        Error::invalid(format!(
            "cgroup: {c}: unable to write {value} to {}: {e}",
            path.display()
        ))
    })
}

/// One `write` of the whole value, as the cgroup files want.
fn write_file(path: &Path, value: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// `KEY N` in a flat-keyed file (`cgroup.events`, `memory.events`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// One line of `/proc/self/mountinfo` that matters here.
#[derive(Debug, PartialEq)]
struct Mount {
    /// The directory of the hierarchy mounted (`/` unless a namespace or
    /// bind mount shows a part of it).
    root: String,
    point: PathBuf,
    fstype: String,
    options: String,
}

impl Mount {
    /// The directory of cgroup `path` (as `/proc/self/cgroup` gives it)
    /// under this mount.
    fn locate(&self, path: &str) -> Option<PathBuf> {
        let rel = if self.root == "/" {
            path
        } else {
            path.strip_prefix(self.root.as_str())?
        };
        let rel = rel.trim_start_matches('/');
        if rel.split('/').any(|c| c == "..") {
            return None;
        }
        Some(if rel.is_empty() {
            self.point.clone()
        } else {
            self.point.join(rel)
        })
    }
}

/// The cgroup mounts: `ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS…] - TYPE
/// SOURCE SUPEROPTS`.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let _source = right.next()?;
            let options = right.next().unwrap_or("");
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            Some(Mount {
                root: unescape(left.get(3)?),
                point: PathBuf::from(unescape(left.get(4)?)),
                fstype: fstype.to_string(),
                options: options.to_string(),
            })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4).and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(b) => {
                out.push(b as char);
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out + rest
}

/// The process's cgroup in the v2 hierarchy (`None`) or the v1 hierarchy
/// of `controller`, from `/proc/self/cgroup` (`ID:CONTROLLERS:PATH`).
fn own_cgroup(text: &str, controller: Option<&str>) -> Option<String> {
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = match controller {
            None => id == "0" && controllers.is_empty(),
            Some(c) => controllers.split(',').any(|k| k == c),
        };
        hit.then(|| path.to_string())
    })
}

/// An open `cgroup.events`, polled for `POLLPRI` (kernfs raises it, with
/// `POLLERR`, when the file's content changes; it is always "readable", so
/// never poll it for `POLLIN`).
pub struct EventsWatch {
    file: std::fs::File,
}

impl EventsWatch {
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.file.as_fd()
    }

    /// Read it from the start: that is what clears the pending change, so
    /// the next poll waits for the next one. `false`: it cannot be read
    /// (`ENODEV`: the cgroup was removed) and will never change again.
    pub fn rearm(&self) -> bool {
        self.read().is_some()
    }

    /// Whether any process is in the cgroup now, read through the open
    /// file (no path walked, no file opened); `None` when it cannot be
    /// read. Reading it clears the pending change too: what it told of is
    /// in what was read, and the next change is flagged anew.
    pub fn populated(&self) -> Option<bool> {
        let text = self.read()?;
        keyed(&text, "populated").map(|n| n == 1)
    }

    fn read(&self) -> Option<String> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 256];
        let n = self.file.read_at(&mut buf, 0).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct
36 30 0:32 /scope /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
";

    const CGROUP: &str = "\
4:memory:/scope/job
2:cpu,cpuacct:/
0::/user.slice/session-1.scope
";

    #[test]
    fn mounts_and_own_cgroups_make_directories() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 3);
        let v2 = &mounts[0];
        assert_eq!(
            (v2.fstype.as_str(), v2.point.as_path()),
            ("cgroup2", Path::new("/sys/fs/cgroup/unified"))
        );
        let own = own_cgroup(CGROUP, None).unwrap();
        assert_eq!(
            v2.locate(&own),
            Some(PathBuf::from("/sys/fs/cgroup/unified/user.slice/session-1.scope"))
        );
        let cpu = &mounts[1];
        assert!(cpu.options.split(',').any(|o| o == "cpu"));
        assert_eq!(
            cpu.locate(&own_cgroup(CGROUP, Some("cpu")).unwrap()),
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"))
        );
        // A mount of a part of the hierarchy: paths are relative to it.
        let mem = &mounts[2];
        assert_eq!(
            mem.locate(&own_cgroup(CGROUP, Some("memory")).unwrap()),
            Some(PathBuf::from("/sys/fs/cgroup/memory/job"))
        );
        assert_eq!(mem.locate("/elsewhere"), None);
        assert_eq!(own_cgroup(CGROUP, Some("pids")), None);
        assert_eq!(unescape("/a\\040b\\\\"), "/a b\\\\");
    }

    #[test]
    fn hierarchies_handed_down_read_back_the_same_and_nothing_else() {
        let hier = Hierarchies {
            v2: Some(PathBuf::from("/sys/fs/cgroup/unified/a b")),
            v2_controllers: vec!["memory".into(), "pids".into()],
            v1: vec![
                ("pids", PathBuf::from("/sys/fs/cgroup/pids/x")),
                ("cpu", PathBuf::from("/c")),
            ],
        };
        let text = hier.to_env().unwrap();
        assert_eq!(Hierarchies::from_env(text.as_ref()), Some(hier));
        // None found is something found: the supervisor makes no cgroup.
        let none = Hierarchies::default().to_env().unwrap();
        assert_eq!(none, "");
        assert_eq!(Hierarchies::from_env(none.as_ref()), Some(Hierarchies::default()));
        // v2 without controllers.
        let bare = Hierarchies {
            v2: Some(PathBuf::from("/sys/fs/cgroup")),
            ..Hierarchies::default()
        };
        assert_eq!(Hierarchies::from_env(bare.to_env().unwrap().as_ref()), Some(bare));
        // A path the format cannot carry: not handed down at all.
        let odd = Hierarchies {
            v2: Some(PathBuf::from("/sys/fs/cgroup/a\tb")),
            ..Hierarchies::default()
        };
        assert_eq!(odd.to_env(), None);
        for bad in [
            "v2\t/x\n",
            "v3\t/x\tmemory\n",
            "v1\tblkio\t/x\n",
            "v1\tpids\t\n",
            "v1\tpids\t/a\nv1\tpids\t/b\n",
            "junk",
        ] {
            assert_eq!(Hierarchies::from_env(bad.as_ref()), None, "{bad:?}");
        }
    }

    #[test]
    fn a_cgroup_is_claimed_once_found_again_and_removed() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("v2");
        let hier = Hierarchies {
            v2: Some(base.clone()),
            ..Hierarchies::default()
        };
        let (one, two) = (root.path().join("one"), root.path().join("two"));
        std::fs::create_dir_all(&one).unwrap();
        std::fs::create_dir_all(&two).unwrap();
        let none = CgroupLimits::default();
        // Directories in a tempdir stand for cgroups (removing abandoned
        // ones needs cgroupfs: tests/it/confinement.rs).
        let a = Cgroup::setup(&hier, &one, "web", &none, true).unwrap().unwrap();
        assert_eq!(a.v2.as_deref(), Some(base.join("immortal/web").as_path()));
        // Another supervise directory, the same name: a cgroup of its own.
        let b = Cgroup::setup(&hier, &two, "web", &none, true).unwrap().unwrap();
        assert_eq!(b.v2.as_deref(), Some(base.join("immortal/web.2").as_path()));
        // A later supervisor of the first directory (the first one gone)
        // finds its cgroup again.
        let first = a.v2.clone();
        drop(a);
        let again = Cgroup::setup(&hier, &one, "web", &none, true).unwrap().unwrap();
        assert_eq!(again.v2, first);
        assert!(!again.populated());
        assert!(again.remove().unwrap());
        assert!(!base.join("immortal/web").exists() && !one.join(crate::layout::CGROUP).exists());
        // The parent stays while another service's cgroup is in it.
        assert!(base.join("immortal/web.2").exists());
        assert!(b.remove().unwrap());
        assert!(!base.join("immortal").exists());
        // No hierarchy, no limits: no cgroup; limits without one: an error.
        let nothing = Hierarchies::default();
        assert!(Cgroup::setup(&nothing, &one, "web", &none, true).unwrap().is_none());
        let pids = CgroupLimits { pids: Some(3), ..none };
        let err = Cgroup::setup(&nothing, &one, "web", &pids, true)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cgroup: pids: "), "{err}");
    }

    #[test]
    fn a_sweep_looks_at_every_cgroup_when_few_else_at_a_bounded_window() {
        let all = |n, from| swept(n, from).collect::<Vec<_>>();
        assert_eq!(all(0, 3), Vec::<usize>::new());
        assert_eq!(all(5, 3), vec![0, 1, 2, 3, 4]);
        assert_eq!(all(SWEEP_MAX, 7), (0..SWEEP_MAX).collect::<Vec<_>>());
        let window = all(40, 30);
        assert_eq!(window.len(), SWEEP_MAX);
        assert_eq!(window[..10], (30..40).collect::<Vec<_>>()[..]);
        assert_eq!(window[10..], (0..6).collect::<Vec<_>>()[..]);
        // Starts spread over every place: each cgroup is looked at.
        let mut seen = std::collections::BTreeSet::new();
        for from in (0..1000).step_by(SWEEP_MAX) {
            seen.extend(swept(1000, from));
        }
        assert_eq!(seen.len(), 1000);
        assert!(sweep_start(7) < 7 && sweep_start(1) == 0);
    }

    #[test]
    fn keyed_files_names_and_limits() {
        assert_eq!(keyed("populated 1\nfrozen 0\n", "populated"), Some(1));
        assert_eq!(keyed("oom 3\noom_kill 2\n", "oom_kill"), Some(2));
        assert_eq!(keyed("frozen 0\n", "populated"), None);
        assert_eq!(sanitize("web"), "web");
        assert_eq!(sanitize("../a b"), "_a_b");
        assert_eq!(sanitize("..."), "service");
        assert_eq!(quota(0.5), 50_000);
        assert_eq!(quota(0.0001), 1000);
        let none = Hierarchies::default();
        assert!(none.describe().contains("process group"));
        let err = none
            .check(&CgroupLimits {
                pids: Some(5),
                ..CgroupLimits::default()
            })
            .unwrap();
        assert!(err.0 == "pids" && err.1.starts_with("cgroup: pids: "), "{err:?}");
        assert_eq!(none.check(&CgroupLimits::default()), None);
        let v1 = Hierarchies {
            v1: vec![("pids", PathBuf::from("/x"))],
            ..Hierarchies::default()
        };
        let plan = v1
            .plan(&CgroupLimits {
                pids: Some(5),
                ..CgroupLimits::default()
            })
            .unwrap();
        assert_eq!(plan, vec![("pids", Where::V1)]);
    }
}
