//! The runit files of one supervise directory: `lock`, the `control` and
//! `ok` FIFOs, and the `status`/`stat`/`pid` records.
//!
//! Both FIFOs are opened for reading and held for the supervisor's life, so
//! `sv`/`svc`/`svstat` (which open them for writing with O_NONBLOCK) see a
//! live supervisor; a writer end of `control` is held too, so poll never
//! reports end-of-file on it. `control` is drained completely at every
//! wake-up, so it never fills and no writer ever blocks.

use crate::error::{Context, Error, Result};
use crate::layout;
use crate::status::{self, Status};
use crate::sys::{self, lock::Lock};
use nix::sys::stat::Mode;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub struct Files {
    pub dir: PathBuf,
    /// `dir` was made by this supervisor: no earlier one left anything in
    /// it (no survivor to adopt, no holder, no cgroup recorded).
    pub made: bool,
    control: File,
    _control_writer: File,
    _ok: File,
    _lock: Lock,
    /// `status`, `stat`, `pid`, `started`, `ready`.
    pub records: sys::fs::Records,
    last: Option<Status>,
}

impl Files {
    /// Take `dir` (created if needed; the lock must be free) and open its
    /// FIFOs.
    pub fn open(dir: &Path) -> Result<Files> {
        let (mut lock, made) = acquire(dir)?;
        lock.record_holder(std::process::id())?;
        Self::with_lock(dir, lock, made)
    }

    /// As [`Files::open`], with the lock already held; `made`: `dir` was
    /// made just now by this process.
    fn with_lock(dir: &Path, lock: Lock, made: bool) -> Result<Files> {
        let control_path = dir.join(layout::CONTROL);
        let ok_path = dir.join(layout::OK);
        make_fifo(&control_path)?;
        make_fifo(&ok_path)?;
        let control = open_fifo_read(&control_path)?;
        let control_writer = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&control_path)
            .ctx("open for writing", &control_path)?;
        let ok = open_fifo_read(&ok_path)?;
        let mut records = sys::fs::Records::open(dir)?;
        if made {
            records.made_empty();
        }
        Ok(Files {
            made,
            dir: dir.to_path_buf(),
            control,
            _control_writer: control_writer,
            _ok: ok,
            _lock: lock,
            records,
            last: None,
        })
    }

    pub fn control_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.control.as_fd()
    }

    /// Every byte written to `control` so far, in order.
    pub fn drain_control(&mut self) -> Vec<u8> {
        use std::os::fd::AsFd;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        sys::fs::drain(self.control.as_fd(), &mut buf, |got| out.extend_from_slice(got));
        out
    }

    /// Write the status files if the record changed since the last write.
    pub fn update(&mut self, record: Status) -> Result<()> {
        if self.last == Some(record) {
            return Ok(());
        }
        status::write_to(&mut self.records, &record)?;
        self.last = Some(record);
        Ok(())
    }
}

/// Create `dir` and take its lock; whether `dir` is new: made now, with
/// its lock file (so no supervisor held it before, even one that raced us
/// between the `mkdir` and the lock).
fn acquire(dir: &Path) -> Result<(Lock, bool)> {
    let made = sys::fs::make_dir(dir)?;
    // One made just now is ours.
    if !made {
        sys::fs::check_owner(dir)?;
    }
    let (lock, created) = Lock::acquire_created(&dir.join(layout::LOCK))?;
    Ok((lock, made && created))
}

/// `supervise -> .` in a supervise directory that is not a service
/// directory's, so `sv status DIR` and `svstat DIR` work on it directly.
pub fn link_self(dir: &Path) -> Result<()> {
    let link = dir.join(layout::SUPERVISE);
    match std::fs::symlink_metadata(&link) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            std::os::unix::fs::symlink(".", &link).ctx("create symlink", &link)
        }
        Err(e) => Err(e).ctx("stat", &link),
    }
}

/// The supervise directory of a service directory: `DIR/supervise`, or the
/// target of that symlink (created if missing, as runsv does).
pub fn of_service_dir(service_dir: &Path) -> Result<PathBuf> {
    let link = service_dir.join(layout::SUPERVISE);
    if let Ok(meta) = std::fs::symlink_metadata(&link) {
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&link).ctx("read link", &link)?;
            let target = if target.is_absolute() {
                target
            } else {
                service_dir.join(target)
            };
            sys::fs::ensure_dir(&target)?;
            return Ok(link);
        }
    }
    Ok(link)
}

fn make_fifo(path: &Path) -> Result<()> {
    // Made first (a new supervise directory has none), looked at when it
    // is there already.
    match nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600)) {
        Ok(()) => return Ok(()),
        Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(std::io::Error::from(e)).ctx("create FIFO", path),
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_fifo() => {
            sys::fs::check_owner(path)?;
            Ok(())
        }
        Ok(_) => Err(Error::invalid(format!("{} exists but is not a FIFO", path.display()))),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600)).ctx("create FIFO", path)
        }
        Err(e) => Err(e).ctx("stat", path),
    }
}

fn open_fifo_read(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ctx("open", path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn fifos_accept_writers_and_drain_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Files::open(dir.path()).unwrap();
        // A writer that does not block even with a huge write.
        let mut w = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(dir.path().join("control"))
            .unwrap();
        w.write_all(b"dux").unwrap();
        assert_eq!(files.drain_control(), b"dux");
        assert_eq!(files.drain_control(), b"");
        // `ok` is held open for reading: a non-blocking writer can open it.
        assert!(OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(dir.path().join("ok"))
            .is_ok());
        let mode = std::fs::metadata(dir.path().join("control")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
    }

    #[test]
    fn second_open_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Files::open(dir.path()).unwrap();
        assert!(Files::open(dir.path()).is_err());
    }

    #[test]
    fn regular_file_in_place_of_fifo_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("control"), "x").unwrap();
        let err = Files::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("is not a FIFO"), "{err}");
    }
}
