//! File helpers with the crash-safety the supervise directory needs.

use crate::error::{Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Replace `path` with `data` atomically: write `path.new`, then rename, so
/// a reader sees the old or the new content, never a torn one.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = Path::new(&tmp);
    let mut f = fs::File::create(tmp).ctx("create", tmp)?;
    f.write_all(data).ctx("write", tmp)?;
    drop(f);
    fs::rename(tmp, path).ctx("rename", path)
}

/// Write a pid file: the pid and a newline.
pub fn write_pidfile(path: &Path, pid: u32) -> Result<()> {
    write_atomic(path, format!("{pid}\n").as_bytes())
}

/// Create `dir` (and its parents) with mode 0755 if missing.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .ctx("create directory", dir)
}

/// Refuse a path that belongs to another non-root user: a supervisor must
/// not be steered through files someone else can rewrite.
pub fn check_owner(path: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).ctx("stat", path),
    };
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(crate::error::Error::invalid(format!(
            "{} belongs to uid {}, not to uid {me} or root: refusing to use it",
            path.display(),
            meta.uid()
        )));
    }
    Ok(())
}

pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).ctx("chmod", path)
}

/// Whether this process may create files in `dir` (creating it if needed).
pub fn writable_dir(dir: &Path) -> bool {
    if ensure_dir(dir).is_err() {
        return false;
    }
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!dir.path().join("status.new").exists());
    }
}
