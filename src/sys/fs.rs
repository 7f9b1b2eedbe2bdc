//! File helpers with the crash-safety the supervise directory needs.

use crate::error::{Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Replace `path` with `data` atomically: write `path.new`, then rename, so
/// a reader sees the old or the new content, never a torn one.
///
/// On Linux the two names are exchanged (`renameat2(RENAME_EXCHANGE)`)
/// instead: `path.new` keeps the old content and is written over next time,
/// so a supervisor that records every transition neither creates nor frees
/// an inode for it. That matters: a file system without a journal (ext4
/// mounted so) scans past every inode freed in the last half minute at each
/// create, and 200 supervisors starting at once spent a quarter of their
/// time there. Where exchanging is not possible (the first write, another
/// system, a file system without it) it is a plain rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = Path::new(&tmp);
    // Emptied as it is opened (what a spare holds is not known here; the
    // records written again and again go through [`Records`]).
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .ctx("create", tmp)?;
    f.write_all(data).ctx("write", tmp)?;
    drop(f);
    if exchange(tmp, path) {
        return Ok(());
    }
    fs::rename(tmp, path).ctx("rename", path)
}

/// Swap the names `a` and `b` atomically; false if that cannot be done
/// (`b` does not exist yet, or this system or file system cannot).
fn exchange(a: &Path, b: &Path) -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
        renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE).is_ok()
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        let _ = (a, b);
        false
    }
}

/// The small records of one directory (a supervise directory's `status`,
/// `stat`, `pid`, `started`, and its `ready` marker), each replaced whole
/// as [`write_atomic`] does, through a descriptor of the directory held
/// for the writer's life: no path is walked from the root at each write.
/// What each record holds is remembered, so a record written again with
/// the same bytes is left alone, and the spare (`NAME.new`, which an
/// exchange leaves holding the record before last) is cut to length only
/// when it could be longer than what is written over it. A supervisor
/// writes three records at each change of its service, two changes to a
/// stop: this halves the system calls.
pub struct Records {
    dir: std::os::fd::OwnedFd,
    path: std::path::PathBuf,
    known: Vec<(&'static str, Known)>,
    /// The directory was made by this process ([`Records::made_empty`]):
    /// a record it has not written is missing, and so is its spare.
    empty: bool,
}

/// What this process knows of a record and its spare; `None`: not known
/// (another process may have left anything there).
#[derive(Default)]
struct Known {
    content: Option<Vec<u8>>,
    spare_len: Option<usize>,
    /// A marker's presence as this process last made it.
    present: Option<bool>,
}

impl Records {
    /// The records of directory `dir`, which must exist.
    pub fn open(dir: &Path) -> Result<Records> {
        use nix::fcntl::OFlag;
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(dir, flags, nix::sys::stat::Mode::empty()).ctx("open", dir)?;
        Ok(Records {
            dir: fd,
            path: dir.to_path_buf(),
            known: Vec::new(),
            empty: false,
        })
    }

    /// The directory was made just now by this process: nothing is in it
    /// yet, so nothing is looked for before a first write or a clear.
    pub fn made_empty(&mut self) {
        self.empty = true;
    }

    fn known(&mut self, name: &'static str) -> &mut Known {
        let at = match self.known.iter().position(|(n, _)| *n == name) {
            Some(at) => at,
            None => {
                self.known.push((name, Known::default()));
                self.known.len() - 1
            }
        };
        &mut self.known[at].1
    }

    /// Replace record `name` with `data` (nothing done if it holds that
    /// already, as far as this process wrote it).
    pub fn write(&mut self, name: &'static str, data: &[u8]) -> Result<()> {
        if self.known(name).content.as_deref() == Some(data) {
            return Ok(());
        }
        let done = self.replace(name, data);
        let known = self.known(name);
        match done {
            Ok(exchanged) => {
                let before = known.content.replace(data.to_vec());
                // An exchange leaves the record before this one as the
                // spare; a rename leaves none (the next write makes it).
                known.spare_len = if exchanged { before.map(|b| b.len()) } else { Some(0) };
                Ok(())
            }
            Err(e) => {
                *known = Known::default();
                // What a failed write left is not known: nothing is
                // assumed of the directory from now on.
                self.empty = false;
                Err(e)
            }
        }
    }

    /// Write `data` into the spare and put it in place; `true` when the
    /// names were exchanged (the spare now holds the record's previous
    /// content), `false` when renamed.
    fn replace(&mut self, name: &'static str, data: &[u8]) -> Result<bool> {
        use nix::fcntl::{renameat, OFlag};
        let spare = format!("{name}.new");
        let empty = self.empty;
        let known = self.known(name);
        let (written_before, spare_len) = (known.content.is_some(), known.spare_len.or(empty.then_some(0)));
        let spare_path = || self.path.join(&spare);
        let mut flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC;
        // A spare of unknown length (the first write by this process) is
        // emptied as it is opened: one call less than cutting it after.
        if spare_len.is_none() || (data.is_empty() && spare_len != Some(0)) {
            flags |= OFlag::O_TRUNC;
        }
        let mode = nix::sys::stat::Mode::from_bits_truncate(0o666);
        let fd = nix::fcntl::openat(&self.dir, spare.as_str(), flags, mode).ctx("create", spare_path())?;
        let mut file = fs::File::from(fd);
        // Else written over in place (no truncation first: the same length,
        // as most records are, frees and allocates nothing), then cut to
        // its length if the spare was longer.
        file.write_all(data).ctx("write", spare_path())?;
        if !data.is_empty() && spare_len.is_some_and(|len| len > data.len()) {
            file.set_len(data.len() as u64).ctx("truncate", spare_path())?;
        }
        drop(file);
        // The first write of a record by this process renames (an exchange
        // would fail on a record not made yet); later ones exchange.
        if written_before && self.exchange(&spare, name) {
            return Ok(true);
        }
        renameat(&self.dir, spare.as_str(), &self.dir, name).ctx("rename", self.path.join(name))?;
        Ok(false)
    }

    fn exchange(&self, a: &str, b: &str) -> bool {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            use nix::fcntl::{renameat2, RenameFlags};
            renameat2(&self.dir, a, &self.dir, b, RenameFlags::RENAME_EXCHANGE).is_ok()
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        {
            let _ = (a, b);
            false
        }
    }

    /// Make record `name` empty (as a missing one, it names nothing): a
    /// record never written by this process is looked at first, and one
    /// that is not a file (left by hand) removed.
    pub fn clear(&mut self, name: &'static str) -> Result<()> {
        // In a directory made by this process, a record it never wrote is
        // missing: nothing to look at.
        if self.known(name).content.is_none() && !self.empty {
            use nix::sys::stat::{fstatat, SFlag};
            let found = fstatat(&self.dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW);
            let is_file =
                |st: &nix::sys::stat::FileStat| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
            match found {
                Ok(st) if is_file(&st) && st.st_size == 0 => {}
                Ok(st) if is_file(&st) => return self.write(name, b""),
                Err(nix::errno::Errno::ENOENT) => {}
                _ => {
                    // Not a file (left by hand): removed.
                    use nix::unistd::{unlinkat, UnlinkatFlags};
                    match unlinkat(&self.dir, name, UnlinkatFlags::NoRemoveDir) {
                        Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
                        Err(e) => return Err(std::io::Error::from(e)).ctx("remove", self.path.join(name)),
                    }
                }
            }
        }
        if self.known(name).content.is_none() {
            // Empty or missing: both read as nothing recorded.
            self.known(name).content = Some(Vec::new());
            return Ok(());
        }
        self.write(name, b"")
    }

    /// Make the empty marker `name` exist or not. It is renamed to and
    /// from `NAME.off` rather than created and removed, so that, as with
    /// [`write_atomic`], a service going up and down neither creates nor
    /// frees an inode (only the first time creates it).
    pub fn set_present(&mut self, name: &'static str, present: bool) -> std::io::Result<()> {
        // As far as this process knows: what it made last, and in a
        // directory it made, neither the marker nor its `.off` at first.
        let empty = self.empty;
        let before = self.known(name).present;
        if before == Some(present) {
            return Ok(());
        }
        let done = if before.is_none() && empty {
            if present {
                self.create_marker(name)
            } else {
                Ok(())
            }
        } else {
            self.rename_marker(name, present)
        };
        self.known(name).present = done.is_ok().then_some(present);
        if done.is_err() {
            self.empty = false;
        }
        done
    }

    fn rename_marker(&self, name: &'static str, present: bool) -> std::io::Result<()> {
        use nix::fcntl::renameat;
        let off = format!("{name}.off");
        let (from, to) = if present {
            (off.as_str(), name)
        } else {
            (name, off.as_str())
        };
        match renameat(&self.dir, from, &self.dir, to) {
            Ok(()) => Ok(()),
            // Never made, or already so.
            Err(nix::errno::Errno::ENOENT) if present => self.create_marker(name),
            Err(nix::errno::Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn create_marker(&self, name: &'static str) -> std::io::Result<()> {
        use nix::fcntl::OFlag;
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC;
        nix::fcntl::openat(&self.dir, name, flags, nix::sys::stat::Mode::from_bits_truncate(0o666))?;
        Ok(())
    }
}

/// The names in directory `dir` (open; `path` is its path), `.` and `..`
/// left out, read from its start. On Linux straight into a buffer on the
/// stack, no directory stream allocated and no path walked: a supervisor
/// lists its `event` directory at each change of its service.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn names_in(dir: &std::os::fd::OwnedFd, path: &Path) -> Vec<std::ffi::CString> {
    use std::os::fd::AsRawFd;
    let _ = path;
    let mut names = Vec::new();
    // SAFETY: lseek on a descriptor `dir` keeps open.
    if unsafe { libc::lseek(dir.as_raw_fd(), 0, libc::SEEK_SET) } != 0 {
        return names;
    }
    // `struct linux_dirent64` records, 8-byte aligned: inode (8), offset
    // (8), record length (2), type (1), the NUL-ended name.
    let mut buf = [0u64; 256];
    loop {
        // SAFETY: getdents64 writes at most the buffer's size into it.
        let got = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                std::mem::size_of_val(&buf),
            )
        };
        if got <= 0 {
            return names;
        }
        // SAFETY: the `got` bytes the kernel just wrote, read as bytes.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), got as usize) };
        let mut at = 0;
        while at + 19 < bytes.len() {
            let len = usize::from(u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]));
            let Some(record) = bytes.get(at..at + len).filter(|_| len > 19) else {
                return names;
            };
            if let Ok(name) = std::ffi::CStr::from_bytes_until_nul(&record[19..]) {
                if !matches!(name.to_bytes(), b"." | b"..") {
                    names.push(name.to_owned());
                }
            }
            at += len;
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn names_in(dir: &std::os::fd::OwnedFd, path: &Path) -> Vec<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    let _ = dir;
    let Ok(entries) = fs::read_dir(path) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::ffi::CString::new(e.file_name().as_bytes()).ok())
        .collect()
}

/// Read everything non-blocking `fd` holds now, a buffer `buf` at a time,
/// each read's bytes given to `each`. A short read took all there was
/// (what comes later makes the descriptor readable again): no last read
/// only to be told EAGAIN.
pub fn drain(fd: std::os::fd::BorrowedFd<'_>, buf: &mut [u8], mut each: impl FnMut(&[u8])) {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => {
                each(&buf[..n]);
                if n < buf.len() {
                    return;
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return, // EAGAIN: all read
        }
    }
}

/// Start writing `file`'s dirty pages back now, without waiting for them
/// (Linux's `sync_file_range`; a no-op elsewhere): a finished log file
/// reaches the disk soon, at none of an fsync's cost.
pub fn start_writeback(file: &fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on a descriptor `file` keeps open; it
        // touches no memory of ours.
        unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// A small file of the kernel's (`/proc`, cgroupfs) whole, in reads of 4
/// KiB: `read_to_string` asks its size (0 for these) and then reads 32
/// bytes, 32, 64…, eight system calls for a process's `stat` where this
/// takes three. At most 1 MiB.
pub fn read_small(path: impl AsRef<Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = fs::File::open(path)?;
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if text.len() > 1 << 20 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "over 1 MiB"));
        }
    }
    String::from_utf8(text).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))
}

/// `fd` itself when it is above the standard streams, else a
/// close-on-exec copy that is (the original closed): a child then makes
/// it one of its standard streams without overwriting another source.
pub fn above_std(fd: std::os::fd::OwnedFd) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::AsRawFd;
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    dup_above(fd.as_raw_fd(), 3)
}

/// A close-on-exec copy of `fd` at the lowest free number from `min` on.
pub fn dup_above(fd: std::os::fd::RawFd, min: std::os::fd::RawFd) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor, owned here.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if copy < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just made, and nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(copy) })
}

/// A pipe, both ends close-on-exec and, if asked, non-blocking (`pipe2`;
/// macOS has none: `pipe` and `fcntl`, no thread forks meanwhile).
pub fn pipe(nonblocking: bool) -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use nix::fcntl::OFlag;
    #[cfg(not(target_os = "macos"))]
    {
        let flags = if nonblocking {
            OFlag::O_CLOEXEC | OFlag::O_NONBLOCK
        } else {
            OFlag::O_CLOEXEC
        };
        Ok(nix::unistd::pipe2(flags)?)
    }
    #[cfg(target_os = "macos")]
    {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag};
        let (r, w) = nix::unistd::pipe()?;
        for fd in [&r, &w] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
            if nonblocking {
                fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
            }
        }
        Ok((r, w))
    }
}

/// A stream socket of `family`, non-blocking and close-on-exec.
pub fn stream_socket(family: nix::sys::socket::AddressFamily) -> nix::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{socket, SockFlag, SockType};
    #[cfg(not(target_os = "macos"))]
    {
        socket(
            family,
            SockType::Stream,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )
    }
    #[cfg(target_os = "macos")]
    {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
        let fd = socket(family, SockType::Stream, SockFlag::empty(), None)?;
        fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
        fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        Ok(fd)
    }
}

/// Largest configuration-like file read whole (run.yml, envdir values,
/// settings): anything bigger is a mistake, not a configuration.
pub const MAX_SMALL_FILE: u64 = 1 << 20;

/// Read a regular file of at most `max` bytes without ever blocking: a
/// FIFO or a device put in its place is an error, not a hang of the
/// supervisor's loop (the open is non-blocking, the type is checked on the
/// open descriptor). `no_follow`: refuse a symlink as the last component.
pub fn read_regular(path: &Path, max: u64, no_follow: bool) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = libc::O_NONBLOCK | libc::O_CLOEXEC | if no_follow { libc::O_NOFOLLOW } else { 0 };
    let file = fs::OpenOptions::new().read(true).custom_flags(flags).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut data = Vec::new();
    file.take(max + 1).read_to_end(&mut data)?;
    if data.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(data)
}

/// [`read_regular`] as text (invalid UTF-8 is an error).
pub fn read_regular_text(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read_regular(path, max, false)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Whether [`tee`] works here.
pub const TEE: bool = cfg!(target_os = "linux");

/// Copy up to `len` bytes of what pipe `from` holds into pipe `to`
/// without taking them from `from` (Linux's `tee(2)`, non-blocking): the
/// copy is read, used, and only then is as much taken from `from` — what
/// a `kill -9` interrupts in between is still in `from` for the next
/// reader. `Ok(0)`: `from` is empty and has no writer. Elsewhere:
/// `Unsupported` (callers read `from` itself).
pub fn tee(from: std::os::fd::BorrowedFd<'_>, to: std::os::fd::BorrowedFd<'_>, len: usize) -> std::io::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on two descriptors the caller keeps
        // open; it touches no memory of ours.
        let n = unsafe { libc::tee(from.as_raw_fd(), to.as_raw_fd(), len, libc::SPLICE_F_NONBLOCK) };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, to, len);
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

/// Take up to `len` bytes out of pipe `from` into `null` (an open
/// `/dev/null`) without copying them (Linux's `splice(2)`, non-blocking);
/// how many. Elsewhere: `Unsupported`.
pub fn discard(
    from: std::os::fd::BorrowedFd<'_>,
    null: std::os::fd::BorrowedFd<'_>,
    len: usize,
) -> std::io::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on two descriptors the caller keeps
        // open, with null offsets; it touches no memory of ours.
        let n = unsafe {
            libc::splice(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                null.as_raw_fd(),
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_NONBLOCK,
            )
        };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, null, len);
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

/// How many bytes wait to be read in a pipe or socket (0 on error).
pub fn readable_bytes(fd: std::os::fd::BorrowedFd<'_>) -> usize {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the pointer given.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if rc == 0 {
        n.max(0) as usize
    } else {
        0
    }
}

/// Write a pid file: the pid and a newline.
pub fn write_pidfile(path: &Path, pid: u32) -> Result<()> {
    write_atomic(path, format!("{pid}\n").as_bytes())
}

/// Create `dir` (and its parents) with mode 0755 if missing.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    make_dir(dir).map(|_| ())
}

/// As [`ensure_dir`]; `true` when this call made `dir` (so it is this
/// process's own, and nothing is in it yet).
pub fn make_dir(dir: &Path) -> Result<bool> {
    // Made first and looked at only when that fails: a new supervise
    // directory costs one call.
    let make = || match fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => Ok(Some(true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(Some(false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).ctx("create directory", dir),
    };
    if let Some(made) = make()? {
        return Ok(made);
    }
    // Its parents first; then the directory itself, to know whether this
    // call made it (another process may have, meanwhile).
    if let Some(parent) = dir.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .ctx("create directory", parent)?;
    }
    make()?.ok_or_else(|| {
        crate::error::Error::invalid(format!(
            "unable to create directory {}: its parent went away",
            dir.display()
        ))
    })
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
    fn read_small_reads_a_kernel_file_and_one_of_many_reads_whole() {
        let dir = tempfile::tempdir().unwrap();
        let long = "0123456789abcdef\n".repeat(1000);
        std::fs::write(dir.path().join("long"), &long).unwrap();
        assert_eq!(read_small(dir.path().join("long")).unwrap(), long);
        if Path::new("/proc/self/stat").exists() {
            let stat = read_small("/proc/self/stat").unwrap();
            assert!(stat.starts_with(&format!("{} (", std::process::id())), "{stat}");
        }
        std::fs::write(dir.path().join("bytes"), [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_small(dir.path().join("bytes")).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
        assert!(read_small(dir.path().join("missing")).is_err());
    }

    #[test]
    fn read_regular_refuses_fifos_links_and_huge_files_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let err = read_regular(&fifo, 10, false).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        let f = d.path().join("f");
        fs::write(&f, "12345").unwrap();
        assert_eq!(read_regular(&f, 5, false).unwrap(), b"12345");
        assert!(read_regular(&f, 4, false)
            .unwrap_err()
            .to_string()
            .contains("larger than 4"));
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(read_regular(&link, 10, true).is_err());
        assert_eq!(read_regular_text(&link, 10).unwrap(), "12345");
        assert!(read_regular(Path::new("/dev/zero"), 10, false).is_err());
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        // Shorter, then longer than what the spare file held.
        write_atomic(&p, b"3").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"3");
        write_atomic(&p, b"four four").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"four four");
    }

    /// Every name, however many (more than one buffer's worth), each
    /// time from the start.
    #[test]
    fn the_names_in_an_open_directory() {
        let dir = tempfile::tempdir().unwrap();
        let fd: std::os::fd::OwnedFd = fs::File::open(dir.path()).unwrap().into();
        assert!(names_in(&fd, dir.path()).is_empty());
        let mut made: Vec<String> = (0..150).map(|i| format!("ftrig1{i:0>40}")).collect();
        for name in &made {
            fs::write(dir.path().join(name), "").unwrap();
        }
        for _ in 0..2 {
            let mut got: Vec<String> = names_in(&fd, dir.path())
                .into_iter()
                .map(|n| n.into_string().unwrap())
                .collect();
            got.sort();
            made.sort();
            assert_eq!(got, made);
        }
    }

    #[test]
    fn a_marker_comes_and_goes_on_one_inode() {
        let dir = tempfile::tempdir().unwrap();
        let mut records = Records::open(dir.path()).unwrap();
        let p = dir.path().join("ready");
        // Not there, told not to be: nothing is made.
        records.set_present("ready", false).unwrap();
        assert!(!p.exists() && !dir.path().join("ready.off").exists());
        records.set_present("ready", true).unwrap();
        let inode = fs::metadata(&p).unwrap().ino();
        records.set_present("ready", true).unwrap();
        for _ in 0..3 {
            records.set_present("ready", false).unwrap();
            assert!(!p.exists());
            records.set_present("ready", false).unwrap();
            records.set_present("ready", true).unwrap();
            assert_eq!(fs::metadata(&p).unwrap().ino(), inode);
        }
    }

    /// In a directory made just now nothing is looked for, and everything
    /// comes out as in any other: records, a cleared one, a marker.
    #[test]
    fn records_of_a_directory_made_just_now() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("supervise");
        assert!(make_dir(&dir).unwrap());
        assert!(!make_dir(&dir).unwrap());
        let mut records = Records::open(&dir).unwrap();
        records.made_empty();
        records.clear("holder").unwrap();
        assert!(!dir.join("holder").exists());
        records.write("pid", b"123\n").unwrap();
        records.write("pid", b"45\n").unwrap();
        assert_eq!(fs::read(dir.join("pid")).unwrap(), b"45\n");
        records.set_present("ready", false).unwrap();
        assert!(!dir.join("ready").exists() && !dir.join("ready.off").exists());
        records.set_present("ready", true).unwrap();
        assert!(dir.join("ready").exists());
        records.set_present("ready", false).unwrap();
        assert!(!dir.join("ready").exists() && dir.join("ready.off").exists());
        records.clear("pid").unwrap();
        assert_eq!(fs::read(dir.join("pid")).unwrap(), b"");
    }

    /// After a change that failed, nothing is assumed of a directory made
    /// just now: the next one looks at what is there.
    #[test]
    fn a_new_directory_s_records_after_a_failure() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("a/b/supervise");
        assert!(make_dir(&dir).unwrap());
        let mut records = Records::open(&dir).unwrap();
        records.made_empty();
        records.set_present("ready", true).unwrap();
        // `ready.off` a directory with something in it: the rename fails.
        fs::create_dir_all(dir.join("ready.off/x")).unwrap();
        assert!(records.set_present("ready", false).is_err());
        fs::remove_dir_all(dir.join("ready.off")).unwrap();
        records.set_present("ready", false).unwrap();
        assert!(!dir.join("ready").exists() && dir.join("ready.off").exists());
    }

    /// Records replace their content whole, whatever the spare held: left
    /// longer by an earlier process, shorter or longer than what is
    /// written over it since.
    #[test]
    fn records_replace_their_content_whatever_the_spare_held() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status");
        fs::write(dir.path().join("status.new"), "an earlier supervisor's longer spare").unwrap();
        let mut records = Records::open(dir.path()).unwrap();
        for text in [&b"one"[..], b"two", b"3", b"four four", b"", b"5", b"", b"", b"six"] {
            records.write("status", text).unwrap();
            assert_eq!(fs::read(&p).unwrap(), text);
        }
        records.clear("status").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"");
        // A record this process never wrote: looked at before it is
        // cleared; missing, it stays missing.
        fs::write(dir.path().join("started"), "12 34").unwrap();
        records.clear("started").unwrap();
        assert_eq!(fs::read(dir.path().join("started")).unwrap(), b"");
        records.clear("pid").unwrap();
        assert!(!dir.path().join("pid").exists());
        records.write("pid", b"7\n").unwrap();
        assert_eq!(fs::read(dir.path().join("pid")).unwrap(), b"7\n");
    }

    /// The same bytes again: nothing is written (the record keeps its
    /// inode and its time, the spare is left alone).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_record_written_again_unchanged_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut records = Records::open(dir.path()).unwrap();
        records.write("pid", b"1\n").unwrap();
        records.write("pid", b"2\n").unwrap();
        let inode = fs::metadata(dir.path().join("pid")).unwrap().ino();
        records.write("pid", b"2\n").unwrap();
        assert_eq!(fs::metadata(dir.path().join("pid")).unwrap().ino(), inode);
        assert_eq!(fs::read(dir.path().join("pid.new")).unwrap(), b"1\n");
    }

    /// Once both names exist, a write allocates no inode: the two are
    /// exchanged (Linux), so `status` and `status.new` keep their inodes.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn atomic_write_reuses_its_two_inodes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status");
        let spare = dir.path().join("status.new");
        let mut records = Records::open(dir.path()).unwrap();
        records.write("status", b"one").unwrap();
        records.write("status", b"two").unwrap();
        let inodes = |paths: [&Path; 2]| paths.map(|q| fs::metadata(q).unwrap().ino());
        let mut seen = inodes([&p, &spare]);
        seen.sort();
        for text in [&b"three"[..], b"4", b"five"] {
            records.write("status", text).unwrap();
            assert_eq!(fs::read(&p).unwrap(), text);
            let mut now = inodes([&p, &spare]);
            now.sort();
            assert_eq!(now, seen);
        }
    }
}
