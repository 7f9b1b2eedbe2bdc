//! Resolving `-u USER` / `user:` before the first start, so a missing user
//! is an error at startup and the child only makes system calls.

use crate::error::{Error, Result};
use nix::unistd::{Gid, Uid, User};
use std::ffi::CString;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    /// Supplementary groups, as initgroups(3) would set them.
    pub groups: Vec<Gid>,
    pub home: String,
}

/// Look `spec` up by name, or by number when it is all digits.
pub fn resolve(spec: &str) -> Result<RunAs> {
    let looked_up = match spec.parse::<u32>() {
        Ok(n) => User::from_uid(Uid::from_raw(n)),
        Err(_) => User::from_name(spec),
    };
    let user = match looked_up {
        Ok(Some(u)) => u,
        Ok(None) => return Err(Error::invalid(format!("user '{spec}' does not exist"))),
        Err(e) => return Err(Error::invalid(format!("unable to look up user '{spec}': {e}"))),
    };
    let cname = CString::new(user.name.clone())
        .map_err(|_| Error::invalid(format!("user name '{spec}' contains a NUL byte")))?;
    let groups = supplementary_groups(&cname, user.gid)?;
    Ok(RunAs {
        name: user.name,
        uid: user.uid,
        gid: user.gid,
        groups,
        home: user.dir.to_string_lossy().into_owned(),
    })
}

#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
))]
fn supplementary_groups(name: &CString, gid: Gid) -> Result<Vec<Gid>> {
    nix::unistd::getgrouplist(name, gid).map_err(|e| {
        Error::invalid(format!(
            "unable to list the groups of user '{}': {e}",
            name.to_string_lossy()
        ))
    })
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
fn supplementary_groups(_name: &CString, gid: Gid) -> Result<Vec<Gid>> {
    Ok(vec![gid])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves_by_name_and_number() {
        let by_name = resolve("root").unwrap();
        assert_eq!(by_name.uid, Uid::from_raw(0));
        assert!(by_name.groups.contains(&Gid::from_raw(0)));
        assert_eq!(resolve("0").unwrap().name, "root");
    }

    #[test]
    fn missing_user_is_named() {
        let err = resolve("no-such-user-xyz").unwrap_err().to_string();
        assert_eq!(err, "user 'no-such-user-xyz' does not exist");
    }
}
