//! Resolving `-u USER` / `user:` before the first start, so a missing user
//! is an error at startup and the child only makes system calls.
//!
//! We read `/etc/passwd` and `/etc/group` ourselves rather than call
//! getpwnam(3): the release binaries are linked statically (a supervisor's
//! private memory is then a third smaller), and a static glibc's NSS would
//! load shared modules at run time — it crashed on a user missing from the
//! files. A user the files do not know is asked of `getent(1)`, a dynamic
//! program whose NSS (LDAP, systemd's dynamic users …) works as configured.

use crate::error::{Error, Result};
use nix::unistd::{Gid, Uid};
use std::process::{Command, Stdio};

pub const PASSWD: &str = "/etc/passwd";
pub const GROUP: &str = "/etc/group";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    /// Supplementary groups, as initgroups(3) would set them (the primary
    /// group included).
    pub groups: Vec<Gid>,
    pub home: String,
}

/// One `passwd` line's fields that a supervisor needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Account {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// Look `spec` up by name, or by number when it is all digits.
pub fn resolve(spec: &str) -> Result<RunAs> {
    let (account, in_files) = find(spec)?.ok_or_else(|| Error::invalid(format!("user '{spec}' does not exist")))?;
    // The groups come from where the account came from.
    let groups = if in_files {
        let text = std::fs::read_to_string(GROUP).unwrap_or_default();
        groups_in(&text, &account.name, account.gid)
    } else {
        getent_groups(&account.name, account.gid)?
    };
    Ok(RunAs {
        name: account.name,
        uid: Uid::from_raw(account.uid),
        gid: Gid::from_raw(account.gid),
        groups: groups.into_iter().map(Gid::from_raw).collect(),
        home: account.home,
    })
}

/// The home directory of `uid`, if any source knows it.
pub fn home_of(uid: Uid) -> Option<String> {
    find(&uid.as_raw().to_string()).ok().flatten().map(|(a, _)| a.home)
}

/// The account `spec` names, and whether `/etc/passwd` had it (else
/// `getent` did).
fn find(spec: &str) -> Result<Option<(Account, bool)>> {
    let from_files = std::fs::read_to_string(PASSWD)
        .ok()
        .and_then(|text| find_account(&text, &Key::of(spec)));
    match from_files {
        Some(account) => Ok(Some((account, true))),
        None => Ok(getent_account(spec)?.map(|a| (a, false))),
    }
}

/// The number of group `name` (or the number itself when all digits).
pub fn group_id(name: &str) -> Result<Gid> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(Gid::from_raw(n));
    }
    let text = std::fs::read_to_string(GROUP).unwrap_or_default();
    if let Some(gid) = find_group(&text, name) {
        return Ok(Gid::from_raw(gid));
    }
    let line = getent("group", name)?.ok_or_else(|| Error::invalid(format!("group '{name}' does not exist")))?;
    find_group(&line, name)
        .map(Gid::from_raw)
        .ok_or_else(|| Error::invalid(format!("unable to look up group '{name}': getent printed {line:?}")))
}

/// What `spec` names: a user by number or by name.
enum Key<'a> {
    Uid(u32),
    Name(&'a str),
}

impl<'a> Key<'a> {
    fn of(spec: &'a str) -> Key<'a> {
        match spec.parse::<u32>() {
            Ok(n) => Key::Uid(n),
            Err(_) => Key::Name(spec),
        }
    }
}

/// The first `passwd(5)` line matching `key`; malformed lines are skipped,
/// as glibc's files module does.
fn find_account(text: &str, key: &Key) -> Option<Account> {
    text.lines().filter_map(parse_account).find(|a| match key {
        Key::Uid(n) => a.uid == *n,
        Key::Name(name) => a.name == *name,
    })
}

fn parse_account(line: &str) -> Option<Account> {
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < 7 || fields[0].is_empty() || fields[0].starts_with(['+', '-']) {
        return None;
    }
    Some(Account {
        name: fields[0].to_string(),
        uid: fields[2].parse().ok()?,
        gid: fields[3].parse().ok()?,
        home: fields[5].to_string(),
    })
}

fn find_group(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 4 && fields[0] == name)
            .then(|| fields[2].parse().ok())
            .flatten()
    })
}

/// The primary group, then every `group(5)` entry listing `user` as a
/// member, without repeats: what initgroups(3) sets from the files.
fn groups_in(text: &str, user: &str, primary: u32) -> Vec<u32> {
    let mut groups = vec![primary];
    for line in text.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 || !fields[3].split(',').any(|m| m.trim() == user) {
            continue;
        }
        if let Ok(gid) = fields[2].parse::<u32>() {
            if !groups.contains(&gid) {
                groups.push(gid);
            }
        }
    }
    groups
}

fn getent_account(spec: &str) -> Result<Option<Account>> {
    let Some(line) = getent("passwd", spec)? else {
        return Ok(None);
    };
    match parse_account(line.trim_end()) {
        Some(a) => Ok(Some(a)),
        None => Err(Error::invalid(format!(
            "unable to look up user '{spec}': getent printed {line:?}"
        ))),
    }
}

/// `getent initgroups NAME` prints `NAME gid gid …` (supplementary groups
/// from every NSS source).
fn getent_groups(name: &str, primary: u32) -> Result<Vec<u32>> {
    let mut groups = vec![primary];
    if let Some(line) = getent("initgroups", name)? {
        for gid in line.split_whitespace().skip(1).filter_map(|g| g.parse::<u32>().ok()) {
            if !groups.contains(&gid) {
                groups.push(gid);
            }
        }
    }
    Ok(groups)
}

/// `getent DATABASE KEY`: Some(first line) when found, None when the key is
/// unknown (exit 2).
fn getent(database: &str, key: &str) -> Result<Option<String>> {
    let out = Command::new("getent")
        .args([database, key])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::invalid(format!("unable to look up {database} '{key}': getent: {e}")))?;
    if !out.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD_TEXT: &str = "root:x:0:0:root:/root:/bin/bash\n\
        broken line\n\
        +nisuser::::::\n\
        www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
    const GROUP_TEXT: &str = "root:x:0:\nwww-data:x:33:\nadm:x:4:syslog,www-data\nweb:x:900:alice, www-data\n";

    #[test]
    fn accounts_are_found_by_name_and_by_number() {
        let by_name = find_account(PASSWD_TEXT, &Key::of("www-data")).unwrap();
        assert_eq!((by_name.uid, by_name.gid, by_name.home.as_str()), (33, 33, "/var/www"));
        assert_eq!(find_account(PASSWD_TEXT, &Key::of("65534")).unwrap().name, "nobody");
        assert_eq!(find_account(PASSWD_TEXT, &Key::of("broken line")), None);
        assert_eq!(find_account(PASSWD_TEXT, &Key::of("+nisuser")), None);
        assert_eq!(find_account(PASSWD_TEXT, &Key::of("alice")), None);
    }

    #[test]
    fn groups_are_the_primary_one_and_every_membership() {
        assert_eq!(groups_in(GROUP_TEXT, "www-data", 33), vec![33, 4, 900]);
        assert_eq!(groups_in(GROUP_TEXT, "root", 0), vec![0]);
        assert_eq!(find_group(GROUP_TEXT, "adm"), Some(4));
        assert_eq!(find_group(GROUP_TEXT, "nope"), None);
    }

    #[test]
    fn root_resolves_by_name_and_number() {
        let by_name = resolve("root").unwrap();
        assert_eq!(by_name.uid, Uid::from_raw(0));
        assert!(by_name.groups.contains(&Gid::from_raw(0)));
        assert_eq!(resolve("0").unwrap().name, "root");
        assert_eq!(group_id("root").unwrap(), Gid::from_raw(0));
    }

    #[test]
    fn getent_answers_are_read_as_the_files_are() {
        let root = getent_account("root").unwrap().unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(getent_groups("root", 0).unwrap().contains(&0));
        assert_eq!(getent_account("no-such-user-xyz").unwrap(), None);
    }

    #[test]
    fn missing_user_is_named() {
        let err = resolve("no-such-user-xyz").unwrap_err().to_string();
        assert_eq!(err, "user 'no-such-user-xyz' does not exist");
        let err = group_id("no-such-group-xyz").unwrap_err().to_string();
        assert_eq!(err, "group 'no-such-group-xyz' does not exist");
    }
}
