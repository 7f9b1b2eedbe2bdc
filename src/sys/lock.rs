//! The supervise directory's `lock`: one supervisor per directory.
//!
//! The file is `flock`ed exclusively for the supervisor's whole life (the
//! lock survives the daemonizing fork: it belongs to the open file
//! description). The holder writes its pid into it, so a second supervisor
//! can say who holds it.

use crate::error::{Context, Error, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;

pub struct Lock {
    file: Flock<File>,
}

impl Lock {
    /// Take the lock at `path`, or fail naming the holder's pid.
    pub fn acquire(path: &Path) -> Result<Lock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .ctx("open", path)?;
        Self::take(file, path)
    }

    /// As [`Lock::acquire`]; `true` when this call created the file: no
    /// process held this lock before, so none wrote anything beside it.
    pub fn acquire_created(path: &Path) -> Result<(Lock, bool)> {
        let mut open = OpenOptions::new();
        open.read(true).write(true);
        let (file, created) = match open.clone().create_new(true).open(path) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => (open.open(path).ctx("open", path)?, false),
            Err(e) => return Err(e).ctx("open", path),
        };
        Ok((Self::take(file, path)?, created))
    }

    fn take(file: File, path: &Path) -> Result<Lock> {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(file) => Ok(Lock { file }),
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = text.trim();
                let dir = path.parent().unwrap_or(path).display();
                Err(Error::invalid(if holder.is_empty() {
                    format!("{dir} is already supervised")
                } else {
                    format!("{dir} is already supervised by pid {holder}")
                }))
            }
            Err((_, errno)) => Err(errno).ctx("lock", path),
        }
    }

    /// Record `pid` as the holder (after a daemonizing fork, the new pid),
    /// and take s6's lock too: s6 tools (`s6-notifyoncheck`, `s6-svok`)
    /// ask whether a supervisor runs with `fcntl(F_GETLK)`, which sees
    /// POSIX locks, not `flock`. A POSIX lock belongs to the process (not
    /// inherited by a fork), hence taken here, by the process that stays.
    pub fn record_holder(&mut self, pid: u32) -> Result<()> {
        // SAFETY: `struct flock` is plain data (its fields differ per
        // system: FreeBSD adds l_sysid): zeroed, then the ones that matter
        // set — start 0, length 0: the whole file.
        let mut whole_file: libc::flock = unsafe { std::mem::zeroed() };
        whole_file.l_type = libc::F_WRLCK as libc::c_short;
        whole_file.l_whence = libc::SEEK_SET as libc::c_short;
        nix::fcntl::fcntl(&*self.file, nix::fcntl::FcntlArg::F_SETLK(&whole_file)).ctx("lock (fcntl)", "lock")?;
        // Written at the start, then cut to its length: a reader never
        // finds it empty.
        use std::os::unix::fs::FileExt;
        let text = format!("{pid}\n");
        let f: &File = &self.file;
        f.write_all_at(text.as_bytes(), 0).ctx("write", "lock")?;
        f.set_len(text.len() as u64).ctx("truncate", "lock")
    }
}

/// Whether some process holds the lock at `path` now.
pub fn is_held(path: &Path) -> bool {
    match OpenOptions::new().read(true).open(path) {
        Ok(f) => Flock::lock(f, FlockArg::LockSharedNonblock).is_err(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let mut first = Lock::acquire(&p).unwrap();
        first.record_holder(1234).unwrap();
        assert!(is_held(&p));
        let err = Lock::acquire(&p).err().unwrap().to_string();
        assert!(err.ends_with("is already supervised by pid 1234"), "{err}");
        drop(first);
        assert!(!is_held(&p));
        assert!(Lock::acquire(&p).is_ok());
    }
}
