//! What a services directory asks for, by the scanner's rules — the one
//! place those rules live, for `immortalsvc` (what to run) and for
//! `-check` (what is wrong with it).
//!
//! - [`find`] lists `NAME.yml` files and `NAME/` service directories (with
//!   an executable `run`), dot-entries ignored, and the near misses;
//! - [`effective`] validates one `NAME.yml` as a start would (what
//!   `immortal -c FILE -cc` prints), including [`require_cycle`] through
//!   the files beside it; [`read`] lists a directory with each `.yml`
//!   validated so;
//! - [`plan`] compares what runs with what the directory says and tells
//!   what to start, stop and restart. Pure, so the rules are tested as
//!   tables.
//!
//! Layering: this module reads files through [`crate::config`] (what a
//! file says) and [`crate::service`] (what would run); [`crate::check`]
//! uses it, never the other way round.

use crate::config::{self, RunYml};
use crate::error::{Error, Result};
use crate::layout;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `NAME.yml`, valid: its effective configuration, as `immortal -c
    /// FILE -cc` prints it. Files that say the same thing (comments, key
    /// order, spacing, `cmd` as a string or a list) are equal, so only a
    /// change of meaning restarts the service.
    Yml(String),
    /// `NAME.yml` that `immortal -c FILE -cc` rejects, with its error
    /// (`FILE:LINE: message`): a running service is kept as it is, a new
    /// one is not started.
    Invalid(String),
    /// `NAME/`, a daemontools/runit service directory.
    Dir,
}

pub type Listing = BTreeMap<String, Entry>;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub start: Vec<String>,
    pub stop: Vec<String>,
    pub restart: Vec<String>,
    /// `NAME.yml` files that do not validate, with the error: left as they
    /// run (if they do), neither started, stopped nor restarted.
    pub invalid: Vec<(String, String)>,
}

/// `old`: what runs (never [`Entry::Invalid`]: a service runs a valid
/// configuration); `new`: what the directory says now.
pub fn plan(old: &Listing, new: &Listing) -> Plan {
    let mut p = Plan::default();
    for (name, entry) in new {
        match (old.get(name), entry) {
            (_, Entry::Invalid(err)) => p.invalid.push((name.clone(), err.clone())),
            (None, _) => p.start.push(name.clone()),
            (Some(before), _) if before != entry => p.restart.push(name.clone()),
            (Some(_), _) => {}
        }
    }
    p.stop = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
    p
}

/// `path` as the supervisor started with `immortal -n -c PATH` would see
/// it: the same validation as `immortal -c PATH -cc` ([`effective`]),
/// giving the effective configuration or the error.
pub fn validate(path: &Path) -> Entry {
    match effective(path) {
        Ok(yaml) => Entry::Yml(yaml),
        Err(e) => Entry::Invalid(e.to_string()),
    }
}

/// What `immortal -c PATH -cc` prints: the effective configuration of the
/// file, after everything a start would check (YAML, unknown keys, types,
/// `cwd` exists, `user` exists, limits can be applied) and what only the
/// files beside it show (a `require` cycle), or the first error found.
pub fn effective(path: &Path) -> Result<String> {
    let yml = config::load(path)?;
    let svc = crate::service::from_yml(path, &yml)?;
    require_cycle(path, &yml)?;
    let how = crate::cgroup::Hierarchies::discover().describe();
    Ok(format!(
        "{}# the service is stopped through {how}\n{}",
        config::to_yaml(&yml),
        crate::listen::summary(&svc.listen)
    ))
}

/// For `immortal -cc`: an error naming the cycle when the service of
/// `path` requires itself through the `NAME.yml` files beside it.
pub fn require_cycle(path: &Path, cfg: &RunYml) -> Result<()> {
    let Some(name) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
        return Ok(());
    };
    let dir = layout::parent_dir(path);
    let mut requires = |n: &str| {
        if n == name {
            return cfg.require.clone();
        }
        // Another file's problems are its own check's: here it only says
        // what it requires (its `require:` may parse when other keys do not).
        let other = dir.join(format!("{n}{}", layout::YML_SUFFIX));
        crate::sys::fs::read_regular_text(&other, crate::sys::fs::MAX_SMALL_FILE)
            .ok()
            .and_then(|text| config::parse_all(&other, &text).0)
            .map(|c| c.require)
            .unwrap_or_default()
    };
    match cycle_through(&name, &mut requires) {
        Some(cycle) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let at = match config::line_of(&text, "require") {
                Some(n) => format!("{}:{n}", path.display()),
                None => path.display().to_string(),
            };
            Err(Error::invalid(format!("{at}: require cycle: {}", cycle.join(" -> "))))
        }
        None => Ok(()),
    }
}

/// A chain of requirements from `start` back to itself (`[a, b, a]`), if
/// there is one. `requires` gives a service's requirements (none for a
/// service it does not know). Each service is explored once.
pub fn cycle_through(start: &str, requires: &mut dyn FnMut(&str) -> Vec<String>) -> Option<Vec<String>> {
    fn walk(
        node: &str,
        start: &str,
        chain: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
        requires: &mut dyn FnMut(&str) -> Vec<String>,
    ) -> bool {
        for next in requires(node) {
            if next == start {
                chain.push(next);
                return true;
            }
            if seen.insert(next.clone()) {
                chain.push(next.clone());
                if walk(&next, start, chain, seen, requires) {
                    return true;
                }
                chain.pop();
            }
        }
        false
    }
    let mut chain = vec![start.to_string()];
    let mut seen = BTreeSet::from([start.to_string()]);
    walk(start, start, &mut chain, &mut seen, requires).then_some(chain)
}

/// What kind of service an entry of a services directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `NAME.yml`, a `run.yml` file (not validated yet).
    Yml,
    /// `NAME/`, a service directory with an executable `run`.
    Dir,
}

/// The entries of a services directory, by the scanner's rules.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Each service: its name, kind and path, sorted by name.
    pub services: Vec<(String, Kind, std::path::PathBuf)>,
    /// Names that are both `NAME.yml` and `NAME/`: the `.yml` is taken.
    pub clashes: Vec<String>,
    /// Directories with a `run` that is not executable: not services (yet;
    /// `chmod +x` and SIGHUP make them one). Told by `-check`.
    pub not_executable: Vec<std::path::PathBuf>,
}

/// The services in `dir`, not validated: `NAME.yml` files and `NAME/`
/// directories with an executable `run`, dot-entries ignored.
pub fn find(dir: &Path) -> std::io::Result<Found> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Found::default();
    let mut by_name: BTreeMap<String, (Kind, std::path::PathBuf)> = BTreeMap::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let (name, kind) = if let Some(stem) = file_name.strip_suffix(layout::YML_SUFFIX) {
            if !path.is_file() || stem.is_empty() {
                continue;
            }
            (stem.to_string(), Kind::Yml)
        } else if path.is_dir() {
            let run = path.join(layout::RUN);
            match std::fs::metadata(&run) {
                Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {}
                Ok(m) if m.is_file() => {
                    found.not_executable.push(path);
                    continue;
                }
                _ => continue,
            }
            (file_name, Kind::Dir)
        } else {
            continue;
        };
        match by_name.get(&name) {
            Some((Kind::Dir, _)) => {
                found.clashes.push(name.clone());
                by_name.insert(name, (kind, path));
            }
            Some(_) => found.clashes.push(name),
            None => {
                by_name.insert(name, (kind, path));
            }
        }
    }
    found.services = by_name.into_iter().map(|(n, (k, p))| (n, k, p)).collect();
    Ok(found)
}

/// List the services in `dir` ([`find`]), each `.yml` validated. A name
/// that is both `NAME.yml` and `NAME/` is taken as the `.yml` (reported in
/// the second value).
pub fn read(dir: &Path) -> std::io::Result<(Listing, Vec<String>)> {
    let found = find(dir)?;
    let listing = found
        .services
        .iter()
        .map(|(name, kind, path)| {
            let entry = match kind {
                // Unreadable is invalid too: what runs is kept.
                Kind::Yml => validate(path),
                Kind::Dir => Entry::Dir,
            };
            (name.clone(), entry)
        })
        .collect();
    Ok((listing, found.clashes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> impl FnMut(&str) -> Vec<String> {
        let map: BTreeMap<String, Vec<String>> = edges
            .iter()
            .map(|(n, r)| (n.to_string(), r.iter().map(|s| s.to_string()).collect()))
            .collect();
        move |n: &str| map.get(n).cloned().unwrap_or_default()
    }

    #[test]
    fn cycles_are_named_from_their_start() {
        let mut g = graph(&[("a", &["b"]), ("b", &["c", "x"]), ("c", &["a"]), ("d", &["d"])]);
        assert_eq!(cycle_through("a", &mut g).unwrap(), ["a", "b", "c", "a"]);
        assert_eq!(cycle_through("d", &mut g).unwrap(), ["d", "d"]);
        assert_eq!(cycle_through("x", &mut g), None);
        // A cycle reachable from e that does not pass through e is not e's.
        let mut g = graph(&[("e", &["f"]), ("f", &["g"]), ("g", &["f"])]);
        assert_eq!(cycle_through("e", &mut g), None);
        assert_eq!(cycle_through("f", &mut g).unwrap(), ["f", "g", "f"]);
    }

    /// `Some(text)`: a valid `.yml` (its effective configuration);
    /// `Some("!err")`: an invalid one; `None`: a service directory.
    fn listing(entries: &[(&str, Option<&str>)]) -> Listing {
        entries
            .iter()
            .map(|(n, yml)| {
                let entry = match yml {
                    None => Entry::Dir,
                    Some(e) if e.starts_with('!') => Entry::Invalid(e[1..].to_string()),
                    Some(c) => Entry::Yml(c.to_string()),
                };
                (n.to_string(), entry)
            })
            .collect()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plan_table() {
        let old = listing(&[("a", Some("cmd: x")), ("b", Some("cmd: y")), ("c", None), ("d", None)]);
        let new = listing(&[
            ("a", Some("cmd: x")),
            ("b", Some("cmd: y2")),
            ("c", None),
            ("e", Some("cmd: z")),
        ]);
        let p = plan(&old, &new);
        assert_eq!(p.start, vec!["e"]);
        assert_eq!(p.restart, vec!["b"]);
        assert_eq!(p.stop, vec!["d"]);
        assert_eq!(plan(&new, &new), Plan::default());
        // A .yml that became a directory is a different service: restart.
        let p = plan(&listing(&[("a", Some("cmd: x"))]), &listing(&[("a", None)]));
        assert_eq!(p.restart, vec!["a"]);
    }

    #[test]
    fn plan_keeps_what_runs_when_its_yml_turns_invalid() {
        let running = listing(&[("web", Some("cmd: x")), ("db", Some("cmd: y"))]);
        // (running, directory now) → (start, stop, restart, invalid)
        let table: &[(&Listing, Listing, Plan)] = &[
            // A typo in a running service's file: nothing is touched.
            (
                &running,
                listing(&[("web", Some("!web.yml:3: unknown field")), ("db", Some("cmd: y"))]),
                Plan {
                    invalid: vec![("web".into(), "web.yml:3: unknown field".into())],
                    ..Plan::default()
                },
            ),
            // A brand-new invalid file: not started.
            (
                &running,
                listing(&[
                    ("web", Some("cmd: x")),
                    ("db", Some("cmd: y")),
                    ("new", Some("!new.yml: missing key 'cmd'")),
                ]),
                Plan {
                    invalid: vec![("new".into(), "new.yml: missing key 'cmd'".into())],
                    ..Plan::default()
                },
            ),
            // Fixed back to what runs: nothing to do; fixed to something
            // else: restarted (the plan does not remember the error).
            (
                &running,
                listing(&[("web", Some("cmd: x2")), ("db", Some("cmd: y"))]),
                Plan {
                    restart: names(&["web"]),
                    ..Plan::default()
                },
            ),
            // An invalid file removed: its service is stopped.
            (
                &running,
                listing(&[("db", Some("cmd: y"))]),
                Plan {
                    stop: names(&["web"]),
                    ..Plan::default()
                },
            ),
        ];
        for (old, new, want) in table {
            assert_eq!(&plan(old, new), want, "{old:?} → {new:?}");
        }
    }

    #[test]
    fn read_finds_yml_and_service_dirs() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("web.yml"), "cmd: sleep 1\n").unwrap();
        std::fs::write(d.path().join(".hidden.yml"), "cmd: x\n").unwrap();
        std::fs::write(d.path().join("notes.txt"), "x").unwrap();
        std::fs::write(d.path().join("typo.yml"), "cmd: x\nwait: 1\ncmdd: y\n").unwrap();
        std::fs::create_dir_all(d.path().join("db")).unwrap();
        std::fs::write(d.path().join("db/run"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(d.path().join("db/run"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(d.path().join("norun")).unwrap();
        std::fs::create_dir_all(d.path().join("noexec")).unwrap();
        std::fs::write(d.path().join("noexec/run"), "#!/bin/sh\n").unwrap();
        std::fs::create_dir_all(d.path().join("web")).unwrap();
        std::fs::write(d.path().join("web/run"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(d.path().join("web/run"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (l, clashes) = read(d.path()).unwrap();
        assert_eq!(l.keys().collect::<Vec<_>>(), vec!["db", "typo", "web"]);
        let Entry::Yml(web) = &l["web"] else {
            panic!("{:?}", l["web"])
        };
        assert!(web.contains("cmd:\n- sleep\n- '1'\n"), "{web}");
        assert_eq!(l["db"], Entry::Dir);
        let Entry::Invalid(err) = &l["typo"] else {
            panic!("{:?}", l["typo"])
        };
        // Worded by the validator, with the file and line.
        let want = format!("{}:3: unknown field `cmdd`", d.path().join("typo.yml").display());
        assert!(err.starts_with(&want), "{err}");
        assert_eq!(clashes, vec!["web"]);
    }

    /// Validated like `immortal -cc`, compared by meaning rather than bytes.
    #[test]
    fn validate_compares_meaning_not_bytes() {
        let d = tempfile::tempdir().unwrap();
        let at = |text: &str| {
            let path = d.path().join("web.yml");
            std::fs::write(&path, text).unwrap();
            validate(&path)
        };
        let base = at("cmd: sleep 1000\nwait: 1\nenv: {A: x, B: y}\nstop: {timeout: 3}\n");
        assert!(matches!(base, Entry::Yml(_)), "{base:?}");
        for same in [
            "# a comment\ncmd: sleep 1000\nwait: 1\nenv: {A: x, B: y}\nstop: {timeout: 3}\n",
            "stop:\n  timeout: 3\nenv:\n  B: y\n  A: x\nwait: 1\ncmd:   sleep   1000   # why\n",
            "cmd: [sleep, '1000']\nwait: 1\nenv: {B: y, A: x}\nstop: {timeout: 3, signal: TERM}\n\n\n",
        ] {
            assert_eq!(at(same), base, "{same}");
        }
        for different in [
            "cmd: sleep 1001\nwait: 1\nenv: {A: x, B: y}\nstop: {timeout: 3}\n",
            "cmd: sleep 1000\nwait: 2\nenv: {A: x, B: y}\nstop: {timeout: 3}\n",
            "cmd: sleep 1000\nwait: 1\nenv: {A: x, B: z}\nstop: {timeout: 3}\n",
        ] {
            let e = at(different);
            assert!(matches!(e, Entry::Yml(_)) && e != base, "{different}: {e:?}");
        }
        // What -cc checks beyond the YAML: the cwd and the user exist.
        let Entry::Invalid(err) = at("cmd: x\ncwd: /nonexistent-cwd-xyz\n") else {
            panic!()
        };
        assert!(err.contains("cwd '/nonexistent-cwd-xyz'"), "{err}");
        let Entry::Invalid(err) = at("cmd: x\nuser: no-such-user-xyz\n") else {
            panic!()
        };
        assert!(err.contains("user 'no-such-user-xyz'"), "{err}");
        let Entry::Invalid(err) = validate(&d.path().join("absent.yml")) else {
            panic!()
        };
        assert!(err.contains("absent.yml"), "{err}");
    }
}
