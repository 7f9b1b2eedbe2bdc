//! s6's event fifodir: `SERVICEDIR/event`, a directory where listeners
//! (`s6-svwait`, `s6-notifyoncheck`) each create a FIFO named `ftrig1…`;
//! the supervisor writes one byte per event to every FIFO there — `u`
//! (up), `U` (ready), `d` (down) — and never blocks on a slow reader.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The directory s6-supervise keeps in a service directory.
pub const EVENT_DIR: &str = "event";

pub struct Fifodir {
    dir: PathBuf,
}

impl Fifodir {
    /// Create `service_dir/event` as s6 does (mode 1733: anyone may add a
    /// FIFO, nobody may list or remove another's).
    pub fn create(service_dir: &Path) -> std::io::Result<Fifodir> {
        let dir = service_dir.join(EVENT_DIR);
        match std::fs::DirBuilder::new().mode(0o1733).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        // The umask took some bits away at creation.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1733))?;
        Ok(Fifodir { dir })
    }

    /// Tell every listener `event`. A FIFO nobody reads (ENXIO) or whose
    /// reader is behind (EAGAIN) is skipped, as s6 does.
    pub fn send(&self, event: u8) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_name().to_string_lossy().starts_with("ftrig1") {
                continue;
            }
            let fifo = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(entry.path());
            if let Ok(mut f) = fifo {
                let _ = f.write(&[event]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn each_listener_gets_the_event_a_missing_reader_is_skipped() {
        let d = tempfile::tempdir().unwrap();
        let fd = Fifodir::create(d.path()).unwrap();
        let meta = std::fs::metadata(d.path().join(EVENT_DIR)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o1733);
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
        fd.send(b'U');
        let mut got = [0u8; 4];
        assert_eq!(reader.read(&mut got).unwrap(), 1);
        assert_eq!(got[0], b'U');
    }
}
