//! s6's event fifodir: `SERVICEDIR/event`, a directory where listeners
//! (`s6-svwait`, `s6-notifyoncheck`) each create a FIFO named `ftrig1…`;
//! the supervisor writes one byte per event to every FIFO there — `u`
//! (up), `U` (ready), `d` (down) — and never blocks on a slow reader.
//!
//! Made as s6-supervise makes it: mode 03730, owned by the supervisor's
//! effective group — the owner lists and cleans it, members of that group
//! may subscribe (add a FIFO, which the setgid bit gives the same group),
//! nobody removes another's FIFO (sticky), and no one else may enter it:
//! never a world-writable directory in a service directory. One that
//! exists is used as it is, as s6 does: an operator may have opened it to
//! another group or to everyone (`s6-svperms -E GROUP`, `-e`).

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The directory s6-supervise keeps in a service directory.
pub const EVENT_DIR: &str = "event";

/// s6-supervise's mode for the `event` it creates: setgid, sticky, rwx for
/// its owner, write and search for its group, nothing for others.
pub const MODE: u32 = 0o3730;

pub struct Fifodir {
    dir: PathBuf,
    /// The directory, held open: each event lists it again from its start
    /// (no path walked, no directory stream allocated).
    fd: std::os::fd::OwnedFd,
}

impl Fifodir {
    /// Create `service_dir/event` as s6-supervise does (see the module), or
    /// take the one there as it is; an `event` that is no directory is an
    /// error (no events are sent then).
    pub fn create(service_dir: &Path) -> std::io::Result<Fifodir> {
        let dir = service_dir.join(EVENT_DIR);
        use nix::fcntl::OFlag;
        let open = |dir: &Path| {
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
            nix::fcntl::open(dir, flags, nix::sys::stat::Mode::empty())
        };
        // Made private first: it is opened to the group only once it
        // belongs to the right one (through the descriptor: no path walked
        // again).
        let fd = match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                let fd = open(&dir)?;
                nix::unistd::fchown(&fd, None, Some(nix::unistd::getegid()))?;
                // chmod, unlike mkdir, is not cut by the umask.
                nix::sys::stat::fchmod(&fd, nix::sys::stat::Mode::from_bits_truncate(MODE as _))?;
                fd
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if !std::fs::symlink_metadata(&dir)?.is_dir() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        format!("{} exists and is not a directory", dir.display()),
                    ));
                }
                open(&dir)?
            }
            Err(e) => return Err(e),
        };
        Ok(Fifodir { dir, fd })
    }

    /// Tell every listener `events` (one byte each, in order, in one
    /// write: one look at the directory for a start's `u` and `U`). A FIFO
    /// nobody reads (ENXIO) or whose reader is behind (EAGAIN) is skipped,
    /// as s6 does.
    pub fn send(&self, events: &[u8]) {
        if events.is_empty() {
            return;
        }
        let names = crate::sys::fs::names_in(&self.fd, &self.dir);
        for name in names.iter().filter(|n| n.to_bytes().starts_with(b"ftrig1")) {
            use nix::fcntl::OFlag;
            let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
            if let Ok(fd) = nix::fcntl::openat(&self.fd, name.as_c_str(), flags, nix::sys::stat::Mode::empty()) {
                let _ = std::fs::File::from(fd).write(events);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    #[test]
    fn made_as_s6_supervise_makes_it_and_an_existing_one_is_kept() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        Fifodir::create(d.path()).unwrap();
        let meta = std::fs::metadata(d.path().join(EVENT_DIR)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o3730);
        assert_eq!(meta.gid(), nix::unistd::getegid().as_raw());
        // An operator's choice (s6-svperms -e: 01733) is left alone.
        std::fs::set_permissions(d.path().join(EVENT_DIR), std::fs::Permissions::from_mode(0o1733)).unwrap();
        Fifodir::create(d.path()).unwrap();
        let meta = std::fs::metadata(d.path().join(EVENT_DIR)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o1733);
        // Not a directory: no fifodir.
        let f = tempfile::tempdir().unwrap();
        std::fs::write(f.path().join(EVENT_DIR), "").unwrap();
        assert!(Fifodir::create(f.path()).is_err());
    }

    #[test]
    fn each_listener_gets_the_event_a_missing_reader_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let fd = Fifodir::create(d.path()).unwrap();
        let listener = d.path().join(EVENT_DIR).join("ftrig1abc");
        let orphan = d.path().join(EVENT_DIR).join("ftrig1nobody");
        for p in [&listener, &orphan] {
            nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        }
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&listener)
            .unwrap();
        fd.send(b"uU");
        fd.send(b"");
        let mut got = [0u8; 4];
        assert_eq!(reader.read(&mut got).unwrap(), 2);
        assert_eq!(&got[..2], b"uU");
    }
}
