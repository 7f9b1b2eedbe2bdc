//! What a services directory asks for. [`read`] lists `NAME.yml` files
//! (with their content) and `NAME/` service directories (with an
//! executable `run`), dot-entries ignored; [`plan`] compares two listings
//! and says what to start, stop and restart. Pure, so the rules are tested
//! as tables.

use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `NAME.yml`, with its content: a change of content restarts it.
    Yml(Vec<u8>),
    /// `NAME/`, a daemontools/runit service directory.
    Dir,
}

pub type Listing = BTreeMap<String, Entry>;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub start: Vec<String>,
    pub stop: Vec<String>,
    pub restart: Vec<String>,
}

pub fn plan(old: &Listing, new: &Listing) -> Plan {
    let mut p = Plan::default();
    for (name, entry) in new {
        match old.get(name) {
            None => p.start.push(name.clone()),
            Some(before) if before != entry => p.restart.push(name.clone()),
            Some(_) => {}
        }
    }
    p.stop = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
    p
}

/// List the services in `dir`. A name that is both `NAME.yml` and `NAME/`
/// is taken as the `.yml` (reported in the second value).
pub fn read(dir: &Path) -> std::io::Result<(Listing, Vec<String>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Listing::new();
    let mut clashes = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)?.flatten().collect();
    names.sort_by_key(|e| e.file_name());
    for entry in names {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let (name, found) = if let Some(stem) = file_name.strip_suffix(".yml") {
            if !path.is_file() || stem.is_empty() {
                continue;
            }
            match crate::sys::fs::read_regular(&path, crate::sys::fs::MAX_SMALL_FILE, false) {
                Ok(content) => (stem.to_string(), Entry::Yml(content)),
                Err(_) => continue, // unreadable now: the next scan sees it
            }
        } else if path.is_dir() {
            let run = path.join("run");
            let executable = std::fs::metadata(&run).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if !executable {
                continue;
            }
            (file_name, Entry::Dir)
        } else {
            continue;
        };
        match out.get(&name) {
            Some(Entry::Yml(_)) => clashes.push(name),
            Some(Entry::Dir) => {
                clashes.push(name.clone());
                out.insert(name, found);
            }
            None => {
                out.insert(name, found);
            }
        }
    }
    Ok((out, clashes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(entries: &[(&str, Option<&str>)]) -> Listing {
        entries
            .iter()
            .map(|(n, yml)| {
                (
                    n.to_string(),
                    yml.map_or(Entry::Dir, |c| Entry::Yml(c.as_bytes().to_vec())),
                )
            })
            .collect()
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
    fn read_finds_yml_and_service_dirs() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("web.yml"), "cmd: sleep 1\n").unwrap();
        std::fs::write(d.path().join(".hidden.yml"), "cmd: x\n").unwrap();
        std::fs::write(d.path().join("notes.txt"), "x").unwrap();
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
        assert_eq!(l.keys().collect::<Vec<_>>(), vec!["db", "web"]);
        assert_eq!(l["web"], Entry::Yml(b"cmd: sleep 1\n".to_vec()));
        assert_eq!(l["db"], Entry::Dir);
        assert_eq!(clashes, vec!["web"]);
    }
}
