//! `listen:` — sockets the supervisor opens and holds for its service
//! (SPEC §17), so that a restart, a crash loop or an upgrade never refuses
//! a connection: while no process serves, connections wait in the
//! kernel's backlog.
//!
//! - [`entries`] checks what `run.yml` says: each entry one of `tcp:`,
//!   `udp:` (an IP address and port: `0.0.0.0:8080`, `"[::]:8080"`) or
//!   `unix:` (an absolute path, with `mode` and `group`), an optional
//!   `name` (its `LISTEN_FDNAMES` entry; by default the address, `_` for
//!   each `:`, which separates the names, and each character a name may
//!   not hold) and `backlog` (default
//!   `SOMAXCONN`); no address twice.
//! - [`Sockets::open`] opens them in order before the first start, as the
//!   supervisor (root, before the service drops to `user:`: port 80 for
//!   an unprivileged service), close-on-exec, `SO_REUSEADDR` for tcp. A
//!   unix socket is created with its mode (the umask while binding: never
//!   a moment with wider permissions) and group; a stale socket file
//!   (nobody accepts on it) is replaced, a live one is "Address already in
//!   use", anything else at the path is refused, never removed. A socket
//!   held by the service an earlier supervisor left running (adopted after
//!   a `kill -9`) is taken from it (`pidfd_getfd`). Any failure is
//!   `listen ADDRESS: why`, and what this call created is removed.
//! - They stay open across every exit, restart, `down`/`up` and backoff.
//!   A `restart` that re-reads the configuration ([`Sockets::reopen`])
//!   keeps each socket whose address is unchanged (its new name, backlog,
//!   mode and group applied to it) and opens the others; the sockets no
//!   longer configured close when the new configuration starts
//!   ([`Sockets::retire`] removes their files).
//! - Each start gets them as descriptors 3, 4, … ([`FIRST_FD`]) in order,
//!   with `LISTEN_FDS` and `LISTEN_FDNAMES` ([`Sockets::env`]) and
//!   `LISTEN_PID`, the service's own pid, set in the child after the fork
//!   (systemd's socket-activation protocol). Each start finds them in
//!   blocking mode, as the first did, whatever an earlier run set.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The descriptor number of the first socket.
pub const FIRST_FD: RawFd = 3;

/// At most this many sockets: the last one is descriptor 1023.
pub const MAX_SOCKETS: usize = 1021;

/// A unix socket's mode when `mode` is not given (systemd's `SocketMode`).
pub const DEFAULT_MODE: u32 = 0o666;

/// The longest unix socket path (`sun_path` holds 108 bytes with the NUL).
const MAX_PATH: usize = 107;

/// One entry of `listen:` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenYml {
    #[serde(default, deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    #[serde(default, deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub unix: Option<String>,
    #[serde(default, deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub udp: Option<String>,
    #[serde(default, deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<u32>,
    /// Octal digits, kept as written (`"0660"`).
    #[serde(default, deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, deserialize_with = "text", skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A scalar as its text: `tcp: 8080` is told it needs an address (not
/// that it is no string), `mode: 0660` keeps its digits.
fn text<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    use serde::de::Error as _;
    match serde_yaml::Value::deserialize(d)? {
        serde_yaml::Value::String(s) => Ok(Some(s)),
        serde_yaml::Value::Number(n) => Ok(Some(n.to_string())),
        serde_yaml::Value::Null => Ok(None),
        _ => Err(D::Error::custom("listen: each value must be a string")),
    }
}

/// Where a socket listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    Tcp(SocketAddr),
    Udp(SocketAddr),
    Unix(PathBuf),
}

impl Address {
    /// `tcp`, `udp` or `unix`.
    pub fn kind(&self) -> &'static str {
        match self {
            Address::Tcp(_) => "tcp",
            Address::Udp(_) => "udp",
            Address::Unix(_) => "unix",
        }
    }

    /// The address of a `kind` entry (`tcp`, `udp`, `unix`) as written.
    pub fn parse(kind: &str, text: &str) -> std::result::Result<Address, String> {
        let bad = |why: &str| format!("listen: bad address '{text}': {why}");
        match kind {
            "tcp" | "udp" => {
                let addr: SocketAddr = text.parse().map_err(|_| {
                    bad("not IP:PORT (0.0.0.0:8080, 127.0.0.1:8080, \"[::]:8080\": an address, not a name)")
                })?;
                Ok(if kind == "tcp" {
                    Address::Tcp(addr)
                } else {
                    Address::Udp(addr)
                })
            }
            _ => {
                let path = Path::new(text);
                if !path.is_absolute() {
                    return Err(bad("a unix socket is an absolute path"));
                }
                if text.len() > MAX_PATH {
                    return Err(bad(&format!("longer than {MAX_PATH} bytes")));
                }
                if text.contains('\0') {
                    return Err(bad("a NUL byte"));
                }
                if text.ends_with('/') {
                    return Err(bad("a directory, not a socket's path"));
                }
                Ok(Address::Unix(path.to_path_buf()))
            }
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(a) | Address::Udp(a) => write!(f, "{a}"),
            Address::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One checked entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub address: Address,
    /// Its `LISTEN_FDNAMES` entry.
    pub name: String,
    /// Given to `listen(2)` (tcp and unix).
    pub backlog: i32,
    /// Of the socket file (unix).
    pub mode: u32,
    /// Owns the socket file (unix).
    pub group: Option<String>,
}

/// The `LISTEN_FDNAMES` entry of an address: its text, with `_` for each
/// `:` (the separator) and each character a name may not hold.
pub fn default_name(address: &Address) -> String {
    address
        .to_string()
        .chars()
        .map(|c| if (' '..='~').contains(&c) && c != ':' { c } else { '_' })
        .collect()
}

/// A `LISTEN_FDNAMES` entry: 1 to 255 printable ASCII characters, no `:`
/// (systemd's rule).
fn valid_name(name: &str) -> bool {
    (1..=255).contains(&name.len()) && name.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b':')
}

impl Entry {
    /// Check one entry; an error names the key it is about.
    pub fn from_yml(y: &ListenYml) -> std::result::Result<Entry, (&'static str, String)> {
        let given: Vec<(&'static str, &String)> = [("tcp", &y.tcp), ("unix", &y.unix), ("udp", &y.udp)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
        let (kind, text) = match given.as_slice() {
            [one] => *one,
            [] => return Err(("listen", "listen: each entry needs one of tcp, unix, udp".into())),
            [_, (second, _), ..] => return Err((second, "listen: one of tcp, unix, udp per entry".into())),
        };
        let address = Address::parse(kind, text).map_err(|e| (kind, e))?;
        let unix = matches!(address, Address::Unix(_));
        if !unix {
            for (key, v) in [("mode", &y.mode), ("group", &y.group)] {
                if v.is_some() {
                    return Err((key, format!("listen: {key} is for a unix socket, not {kind}")));
                }
            }
        }
        if kind == "udp" && y.backlog.is_some() {
            return Err(("backlog", "listen: backlog is for tcp and unix, not udp".into()));
        }
        let backlog = match y.backlog {
            None => libc::SOMAXCONN,
            Some(n) => i32::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| ("backlog", format!("listen: backlog must be 1 to {}, not {n}", i32::MAX)))?,
        };
        let mode = match &y.mode {
            None => DEFAULT_MODE,
            Some(m) => u32::from_str_radix(m, 8).ok().filter(|m| *m <= 0o777).ok_or_else(|| {
                (
                    "mode",
                    format!("listen: mode must be octal permissions like 0660, not '{m}'"),
                )
            })?,
        };
        if y.group.as_deref().is_some_and(|g| g.trim().is_empty()) {
            return Err(("group", "listen: group is empty".into()));
        }
        let name = match &y.name {
            Some(n) if !valid_name(n) => {
                return Err((
                    "name",
                    format!(
                        "listen: name '{n}': 1 to 255 printable ASCII characters, no ':' (it separates LISTEN_FDNAMES)"
                    ),
                ))
            }
            Some(n) => n.clone(),
            None => default_name(&address),
        };
        Ok(Entry {
            address,
            name,
            backlog,
            mode,
            group: y.group.clone(),
        })
    }
}

/// An entry with its defaults written in (`-cc`): its name, and its
/// backlog and mode where they apply. One that does not check is kept as
/// it is.
pub fn effective(y: &ListenYml) -> ListenYml {
    let Ok(e) = Entry::from_yml(y) else {
        return y.clone();
    };
    let unix = matches!(e.address, Address::Unix(_));
    ListenYml {
        name: Some(e.name),
        backlog: (!matches!(e.address, Address::Udp(_))).then_some(e.backlog as u32),
        mode: unix.then(|| y.mode.clone().unwrap_or_else(|| format!("{:04o}", e.mode))),
        ..y.clone()
    }
}

/// Every entry checked, in order; an error says which entry (0-based),
/// which of its keys, and what.
pub fn entries(list: &[ListenYml]) -> std::result::Result<Vec<Entry>, (usize, &'static str, String)> {
    if list.len() > MAX_SOCKETS {
        return Err((MAX_SOCKETS, "listen", format!("listen: at most {MAX_SOCKETS} sockets")));
    }
    let mut out: Vec<Entry> = Vec::with_capacity(list.len());
    for (i, y) in list.iter().enumerate() {
        let entry = Entry::from_yml(y).map_err(|(key, msg)| (i, key, msg))?;
        if out.iter().any(|e| e.address == entry.address) {
            let key = entry.address.kind();
            return Err((i, key, format!("listen: {key} {} is given twice", entry.address)));
        }
        out.push(entry);
    }
    Ok(out)
}

/// Why a readiness descriptor (s6's `ready: {fd: N}`) cannot be `fd` with
/// `count` sockets at 3, 4, …
pub fn fd_conflict(count: usize, fd: i32) -> Option<String> {
    let last = FIRST_FD + count as i32 - 1;
    (count > 0 && (FIRST_FD..=last).contains(&fd)).then(|| {
        format!(
            "ready.fd {fd} is taken by listen: (its sockets are descriptors {FIRST_FD} to {last}): use {} or more",
            last + 1
        )
    })
}

/// The 1-based line of `key` in entry `index` of the `listen:` block of
/// `text` (a block sequence); the `listen:` line when it cannot be told
/// (a flow sequence), `None` without one.
pub fn line_of(text: &str, index: usize, key: &str) -> Option<usize> {
    let start = crate::config::line_of(text, "listen")?;
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let is_blank = |l: &str| {
        let t = l.trim_start();
        t.is_empty() || t.starts_with('#')
    };
    // The items: lines starting `-` at the first item's column, up to the
    // first line at or left of that column that is no item (the next key).
    let mut items: Vec<usize> = Vec::new();
    let mut column = None;
    for (at, line) in lines.iter().enumerate().skip(start) {
        if is_blank(line) {
            continue;
        }
        let col = indent(line);
        let item = line.trim_start().starts_with('-');
        match column {
            None if item => column = Some(col),
            None => break,
            Some(c) if col < c || (col == c && !item) => break,
            Some(_) => {}
        }
        if item && Some(col) == column {
            items.push(at);
        }
    }
    let Some(&first) = items.get(index) else {
        return Some(start);
    };
    let end = items.get(index + 1).copied().unwrap_or_else(|| {
        // The entry ends where the block does.
        let c = column.unwrap_or(0);
        (first + 1..lines.len())
            .find(|&at| !is_blank(lines[at]) && indent(lines[at]) <= c && !lines[at].trim_start().starts_with('-'))
            .unwrap_or(lines.len())
    });
    let entry = lines[first..end].join("\n");
    let within = crate::config::line_of(&entry, key).unwrap_or(1);
    Some(first + within)
}

/// What `immortal -cc` adds as comments: each socket's descriptor, name
/// and backlog, as the service will see them.
pub fn summary(entries: &[Entry]) -> String {
    let mut out = String::new();
    for (i, e) in entries.iter().enumerate() {
        let fd = FIRST_FD + i as i32;
        out += &format!(
            "# listen: fd {fd} is {} {}, named {}",
            e.address.kind(),
            e.address,
            e.name
        );
        match e.address {
            Address::Udp(_) => {}
            Address::Tcp(_) => out += &format!(", backlog {}", e.backlog),
            Address::Unix(_) => {
                out += &format!(", backlog {}, mode {:04o}", e.backlog, e.mode);
                if let Some(g) = &e.group {
                    out += &format!(", group {g}");
                }
            }
        }
        out.push('\n');
    }
    out
}

// ------------------------------------------------------------ the sockets

/// A socket file's device and inode.
type FileId = (u64, u64);

/// A socket just opened, where it is bound, and the file it made.
type Opened = (OwnedFd, String, Option<FileId>);

/// An open socket of `listen:`.
#[derive(Debug, Clone)]
pub struct Socket {
    pub entry: Entry,
    fd: Rc<OwnedFd>,
    /// Where it is bound: the port the kernel chose for `:0`.
    pub bound: String,
    /// The socket file it made (device, inode): removed once it is no
    /// longer configured, if it is still that file.
    file: Option<FileId>,
}

/// The sockets of one service, in descriptor order.
#[derive(Debug, Clone, Default)]
pub struct Sockets {
    list: Vec<Socket>,
}

/// An error as `listen ADDRESS: why`.
fn failed(address: &Address, why: &io::Error) -> Error {
    Error::invalid(format!("listen {address}: {}", describe(why)))
}

/// An I/O error's text without std's ` (os error N)`.
fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

impl Sockets {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Open every entry, in order. A socket that `survivor` (the service
    /// an earlier supervisor left running) holds is taken from it.
    pub fn open(entries: &[Entry], survivor: Option<nix::unistd::Pid>) -> Result<Sockets> {
        let mut list: Vec<Socket> = Vec::with_capacity(entries.len());
        for entry in entries {
            match Socket::open(entry, survivor) {
                Ok(s) => list.push(s),
                Err(e) => {
                    Sockets { list }.retire(&[]);
                    return Err(e);
                }
            }
        }
        Ok(Sockets { list })
    }

    /// The sockets of a re-read configuration: those of `self` (or of a
    /// configuration re-read earlier and not started yet, `pending`) whose
    /// address is unchanged are kept, with the new entry's name, backlog,
    /// mode and group; the others are opened. On an error, what this call
    /// opened is closed again (and its socket files removed).
    pub fn reopen(&self, entries: &[Entry], pending: Option<&Sockets>) -> Result<Sockets> {
        let held: Vec<&Socket> = self
            .list
            .iter()
            .chain(pending.iter().flat_map(|p| p.list.iter()))
            .collect();
        let mut list: Vec<Socket> = Vec::with_capacity(entries.len());
        let mut opened = Sockets::default();
        for entry in entries {
            let socket = match held.iter().find(|s| s.entry.address == entry.address) {
                Some(kept) => Socket {
                    entry: entry.clone(),
                    ..(*kept).clone()
                },
                None => match Socket::open(entry, None) {
                    Ok(s) => {
                        opened.list.push(s.clone());
                        s
                    }
                    Err(e) => {
                        opened.retire(&[]);
                        return Err(e);
                    }
                },
            };
            list.push(socket);
        }
        for (socket, old) in list
            .iter()
            .filter_map(|s| Some((s, held.iter().find(|h| h.entry.address == s.entry.address)?)))
        {
            if let Err(e) = socket.adjust(&old.entry) {
                opened.retire(&[]);
                return Err(e);
            }
        }
        Ok(Sockets { list })
    }

    /// These sockets are done with (replaced by the sets in `keep`, or
    /// never used): remove the socket files they made and no set in
    /// `keep` holds. Closing is for the last reference to go.
    pub fn retire(&self, keep: &[&Sockets]) {
        for s in &self.list {
            let (Address::Unix(path), Some(made)) = (&s.entry.address, s.file) else {
                continue;
            };
            if keep
                .iter()
                .any(|k| k.list.iter().any(|o| o.entry.address == s.entry.address))
            {
                continue;
            }
            let ours =
                std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket() && (m.dev(), m.ino()) == made);
            if ours {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// `tcp 0.0.0.0:8080 (fd 3)`, one per socket, for the status.
    pub fn describe(&self) -> Vec<String> {
        self.list
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{} {} (fd {})", s.entry.address.kind(), s.bound, FIRST_FD + i as RawFd))
            .collect()
    }

    /// `LISTEN_FDS` and `LISTEN_FDNAMES` (none without sockets);
    /// `LISTEN_PID` is set in the child.
    pub fn env(&self) -> Vec<(String, String)> {
        if self.list.is_empty() {
            return Vec::new();
        }
        let names: Vec<&str> = self.list.iter().map(|s| s.entry.name.as_str()).collect();
        vec![
            ("LISTEN_FDS".to_string(), self.list.len().to_string()),
            ("LISTEN_FDNAMES".to_string(), names.join(":")),
        ]
    }

    /// Each socket and the descriptor number the service gets it as.
    pub fn placement(&self) -> Vec<(BorrowedFd<'_>, RawFd)> {
        self.list
            .iter()
            .enumerate()
            .map(|(i, s)| (s.fd.as_fd(), FIRST_FD + i as RawFd))
            .collect()
    }

    /// Before a start: every socket in blocking mode, as at the first
    /// start (a run may have made its shared file status non-blocking).
    pub fn reset(&self) -> io::Result<()> {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        for s in &self.list {
            let flags = OFlag::from_bits_truncate(fcntl(s.fd.as_fd(), FcntlArg::F_GETFL)?);
            if flags.contains(OFlag::O_NONBLOCK) {
                fcntl(s.fd.as_fd(), FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
            }
        }
        Ok(())
    }
}

impl Socket {
    fn open(entry: &Entry, survivor: Option<nix::unistd::Pid>) -> Result<Socket> {
        // The survivor's own socket first: a `:0` address binds anew
        // without complaint, but the service serves on the one it has.
        if let Some((fd, bound)) = survivor.and_then(|pid| take_over(pid, &entry.address)) {
            let file = match &entry.address {
                Address::Unix(path) => std::fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino())),
                _ => None,
            };
            return Ok(Socket {
                entry: entry.clone(),
                fd: Rc::new(fd),
                bound,
                file,
            });
        }
        let opened = match &entry.address {
            Address::Tcp(addr) => std::net::TcpListener::bind(addr).and_then(|l| {
                let bound = l.local_addr()?.to_string();
                let fd = OwnedFd::from(l);
                crate::sys::socket::listen(fd.as_fd(), entry.backlog)?;
                Ok((fd, bound, None))
            }),
            Address::Udp(addr) => std::net::UdpSocket::bind(addr).and_then(|s| {
                let bound = s.local_addr()?.to_string();
                Ok((OwnedFd::from(s), bound, None))
            }),
            Address::Unix(path) => bind_unix(path, entry),
        };
        let (fd, bound, file) = opened.map_err(|e| failed(&entry.address, &e))?;
        Ok(Socket {
            entry: entry.clone(),
            fd: Rc::new(fd),
            bound,
            file,
        })
    }

    /// Apply this socket's entry where it differs from `old`'s: backlog,
    /// and a unix socket file's mode and group.
    fn adjust(&self, old: &Entry) -> Result<()> {
        let e = &self.entry;
        let fail = |why: io::Error| failed(&e.address, &why);
        if e.backlog != old.backlog && !matches!(e.address, Address::Udp(_)) {
            crate::sys::socket::listen(self.fd.as_fd(), e.backlog).map_err(fail)?;
        }
        let Address::Unix(path) = &e.address else {
            return Ok(());
        };
        // Only the file this socket made (not one put in its place).
        let ours = std::fs::symlink_metadata(path)
            .is_ok_and(|m| m.file_type().is_socket() && Some((m.dev(), m.ino())) == self.file);
        if !ours {
            return Ok(());
        }
        if e.group != old.group {
            if let Some(g) = &e.group {
                let gid =
                    crate::user::group_id(g).map_err(|why| Error::invalid(format!("listen {}: {why}", e.address)))?;
                std::os::unix::fs::lchown(path, None, Some(gid.as_raw())).map_err(fail)?;
            }
        }
        if e.mode != old.mode {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(e.mode)).map_err(fail)?;
        }
        Ok(())
    }
}

/// Bind a unix stream socket at `path` with the entry's mode and group,
/// replacing a stale socket file.
fn bind_unix(path: &Path, entry: &Entry) -> io::Result<Opened> {
    use nix::sys::stat::{umask, Mode};
    let gid = match &entry.group {
        Some(g) => Some(
            crate::user::group_id(g)
                .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))?
                .as_raw(),
        ),
        None => None,
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("directory {} does not exist", dir.display()),
        ));
    }
    clear_stale(path)?;
    // Created with exactly its mode: the umask holds back every other bit
    // while bind makes the file (the supervisor has one thread).
    // (`mode_t` is 16 bits on macOS: the 9 permission bits fit anywhere.)
    let before = umask(Mode::from_bits_truncate((!entry.mode & 0o777) as _));
    let bound = std::os::unix::net::UnixListener::bind(path);
    umask(before);
    let listener = bound?;
    let made = (|| {
        if let Some(gid) = gid {
            // Not through a symbolic link put in its place since.
            std::os::unix::fs::lchown(path, None, Some(gid))?;
        }
        let meta = std::fs::symlink_metadata(path)?;
        let fd = OwnedFd::from(listener);
        crate::sys::socket::listen(fd.as_fd(), entry.backlog)?;
        Ok((fd, Some((meta.dev(), meta.ino()))))
    })();
    match made {
        Ok((fd, file)) => Ok((fd, path.display().to_string(), file)),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}

/// A socket file nobody accepts on is removed; one that answers is in use
/// (`EADDRINUSE`); anything that is no socket is never touched.
fn clear_stale(path: &Path) -> io::Result<()> {
    use nix::sys::socket::{connect, AddressFamily, UnixAddr};
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a socket: refusing to replace it",
        ));
    }
    // Non-blocking: a live listener with a full backlog must not stall us.
    let probe = crate::sys::fs::stream_socket(AddressFamily::Unix)?;
    let addr = UnixAddr::new(path)?;
    match connect(probe.as_raw_fd(), &addr) {
        Ok(()) | Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINPROGRESS) => {
            Err(io::Error::from_raw_os_error(libc::EADDRINUSE))
        }
        Err(nix::errno::Errno::ECONNREFUSED) => match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
        // A datagram socket (EPROTOTYPE), or not ours to judge.
        Err(_) => Err(io::Error::from_raw_os_error(libc::EADDRINUSE)),
    }
}

/// The socket bound at `address` that process `pid` holds (the service of
/// a supervisor that was killed): a copy of it, and where it is bound.
fn take_over(pid: nix::unistd::Pid, address: &Address) -> Option<(OwnedFd, String)> {
    crate::sys::socket::copies_held_by(pid)
        .into_iter()
        .find_map(|fd| bound_at(&fd, address).map(|bound| (fd, bound)))
}

/// Where `fd` listens, if it is a socket of `address`'s kind bound there
/// (any port for a configured port 0).
fn bound_at(fd: &OwnedFd, address: &Address) -> Option<String> {
    use nix::sys::socket::{getsockname, getsockopt, sockopt, SockType, SockaddrLike, SockaddrStorage};
    let kind = getsockopt(fd, sockopt::SockType).ok()?;
    let name: SockaddrStorage = getsockname(fd.as_raw_fd()).ok()?;
    let listening = || getsockopt(fd, sockopt::AcceptConn).unwrap_or(false);
    let ip = || -> Option<SocketAddr> {
        match name.family()? {
            nix::sys::socket::AddressFamily::Inet => Some(SocketAddr::V4((*name.as_sockaddr_in()?).into())),
            nix::sys::socket::AddressFamily::Inet6 => Some(SocketAddr::V6((*name.as_sockaddr_in6()?).into())),
            _ => None,
        }
    };
    let same_ip =
        |want: &SocketAddr, got: &SocketAddr| want.ip() == got.ip() && (want.port() == got.port() || want.port() == 0);
    match address {
        Address::Tcp(want) if kind == SockType::Stream && listening() => {
            let got = ip()?;
            same_ip(want, &got).then(|| got.to_string())
        }
        Address::Udp(want) if kind == SockType::Datagram => {
            let got = ip()?;
            same_ip(want, &got).then(|| got.to_string())
        }
        Address::Unix(path) if kind == SockType::Stream && listening() => {
            (name.as_unix_addr()?.path()? == path.as_path()).then(|| path.display().to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yml(text: &str) -> Vec<ListenYml> {
        serde_yaml::from_str(text).unwrap()
    }

    fn one(text: &str) -> std::result::Result<Entry, (usize, &'static str, String)> {
        entries(&yml(text)).map(|mut v| v.remove(0))
    }

    #[test]
    fn entries_as_written_and_their_defaults() {
        let list = entries(&yml(
            "- tcp: 0.0.0.0:8080\n  name: http\n  backlog: 1024\n- unix: /run/app/app.sock\n  mode: \"0660\"\n  group: www\n- udp: 127.0.0.1:5353\n- tcp: \"[::]:8080\"\n",
        ))
        .unwrap();
        assert_eq!(list[0].address, Address::Tcp("0.0.0.0:8080".parse().unwrap()));
        assert_eq!((list[0].name.as_str(), list[0].backlog), ("http", 1024));
        assert_eq!(list[1].address, Address::Unix("/run/app/app.sock".into()));
        assert_eq!(
            (list[1].name.as_str(), list[1].mode, list[1].group.as_deref()),
            ("/run/app/app.sock", 0o660, Some("www"))
        );
        assert_eq!(
            (list[2].name.as_str(), list[2].address.kind()),
            ("127.0.0.1_5353", "udp")
        );
        assert_eq!((list[3].name.as_str(), list[3].backlog), ("[__]_8080", libc::SOMAXCONN));
        assert_eq!(list[3].address.to_string(), "[::]:8080");
        // A mode written as a YAML number keeps its digits.
        assert_eq!(one("- unix: /x.sock\n  mode: 0600\n").unwrap().mode, 0o600);
        assert_eq!(one("- unix: /x.sock\n").unwrap().mode, DEFAULT_MODE);
        // A default name is always one LISTEN_FDNAMES can hold.
        assert_eq!(one("- unix: \"/run/é:x.sock\"\n").unwrap().name, "/run/__x.sock");
    }

    #[test]
    fn bad_entries_say_which_key_and_why() {
        for (text, key, want) in [
            (
                "- tcp: 0.0.0.0:99999\n",
                "tcp",
                "listen: bad address '0.0.0.0:99999': not IP:PORT",
            ),
            ("- tcp: localhost:80\n", "tcp", "listen: bad address 'localhost:80'"),
            ("- tcp: 8080\n", "tcp", "listen: bad address '8080'"),
            ("- udp: '::1:53'\n", "udp", "listen: bad address '::1:53'"),
            ("- unix: run/app.sock\n", "unix", "a unix socket is an absolute path"),
            ("- unix: /run/\n", "unix", "a directory"),
            (
                "- name: x\n",
                "listen",
                "listen: each entry needs one of tcp, unix, udp",
            ),
            (
                "- tcp: 1.2.3.4:5\n  udp: 1.2.3.4:5\n",
                "udp",
                "one of tcp, unix, udp per entry",
            ),
            (
                "- tcp: 1.2.3.4:5\n  mode: \"0600\"\n",
                "mode",
                "listen: mode is for a unix socket, not tcp",
            ),
            (
                "- udp: 1.2.3.4:5\n  group: www\n",
                "group",
                "listen: group is for a unix socket",
            ),
            (
                "- udp: 1.2.3.4:5\n  backlog: 5\n",
                "backlog",
                "backlog is for tcp and unix",
            ),
            (
                "- tcp: 1.2.3.4:5\n  backlog: 0\n",
                "backlog",
                "listen: backlog must be 1 to",
            ),
            ("- unix: /x\n  mode: \"0999\"\n", "mode", "listen: mode must be octal"),
            ("- unix: /x\n  mode: \"01777\"\n", "mode", "listen: mode must be octal"),
            ("- tcp: 1.2.3.4:5\n  name: a:b\n", "name", "listen: name 'a:b'"),
            ("- tcp: 1.2.3.4:5\n  name: ''\n", "name", "listen: name ''"),
            ("- tcp: 1.2.3.4:5\n  name: \"é\"\n", "name", "printable ASCII"),
        ] {
            let (i, k, msg) = one(text).unwrap_err();
            assert_eq!((i, k), (0, key), "{text}: {msg}");
            assert!(msg.starts_with(want) || msg.contains(want), "{text}: {msg}");
        }
        let long = format!("- unix: /{}\n", "a".repeat(107));
        assert!(one(&long).unwrap_err().2.contains("longer than 107 bytes"));
        let twice = entries(&yml("- tcp: 127.0.0.1:80\n- unix: /a\n- tcp: 127.0.0.1:80\n")).unwrap_err();
        assert_eq!(twice, (2, "tcp", "listen: tcp 127.0.0.1:80 is given twice".into()));
        // The same port for tcp and udp is two sockets.
        assert!(entries(&yml("- tcp: 127.0.0.1:53\n- udp: 127.0.0.1:53\n")).is_ok());
        // Without the brackets, YAML reads [::] as a list: no string.
        assert!(serde_yaml::from_str::<Vec<ListenYml>>("- tcp: [::]:8080\n").is_err());
    }

    #[test]
    fn the_readiness_fd_must_not_be_a_socket() {
        assert_eq!(fd_conflict(0, 3), None);
        assert_eq!(fd_conflict(2, 5), None);
        assert_eq!(
            fd_conflict(2, 4).unwrap(),
            "ready.fd 4 is taken by listen: (its sockets are descriptors 3 to 4): use 5 or more"
        );
    }

    #[test]
    fn lines_of_entries_and_keys() {
        let text = "cmd: x\nlisten:\n  # web\n  - tcp: 0.0.0.0:8080\n    name: http\n\n  - unix: /a.sock\n    mode: \"0660\"\n    group: www\n  - udp: 1.2.3.4:5\nwait: 1\n";
        assert_eq!(line_of(text, 0, "tcp"), Some(4));
        assert_eq!(line_of(text, 0, "name"), Some(5));
        assert_eq!(line_of(text, 1, "unix"), Some(7));
        assert_eq!(line_of(text, 1, "group"), Some(9));
        assert_eq!(line_of(text, 2, "udp"), Some(10));
        // A key the entry lacks: its first line; an entry past the end:
        // the block's.
        assert_eq!(line_of(text, 2, "backlog"), Some(10));
        assert_eq!(line_of(text, 7, "tcp"), Some(2));
        // Items at the key's column, and a flow sequence.
        let text = "listen:\n- tcp: 1.2.3.4:5\n- tcp: 1.2.3.4:6\n  backlog: 0\ncmd: x\n";
        assert_eq!(line_of(text, 1, "backlog"), Some(4));
        assert_eq!(line_of("cmd: x\nlisten: [{tcp: 1}, {udp: 2}]\n", 1, "udp"), Some(2));
        assert_eq!(line_of("cmd: x\n", 0, "tcp"), None);
    }

    #[test]
    fn run_yml_errors_name_the_file_and_line() {
        let parse = |text: &str| crate::config::parse(Path::new("run.yml"), text).map_err(|e| e.to_string());
        let text = "cmd: x\nwait: 1\nlisten:\n  - tcp: 0.0.0.0:8080\n    name: http\n  - unix: /run/app.sock\n  - tcp: 0.0.0.0:99999\n";
        let err = parse(text).unwrap_err();
        assert!(
            err.starts_with("run.yml:7: listen: bad address '0.0.0.0:99999'"),
            "{err}"
        );
        let err = parse("cmd: x\nlisten:\n  - unix: /a.sock\n    group: www\n    mode: \"0888\"\n").unwrap_err();
        assert!(err.starts_with("run.yml:5: listen: mode must be octal"), "{err}");
        let err = parse("cmd: x\nlisten:\n  - tcp: 0.0.0.0:80\n    bogus: 1\n").unwrap_err();
        assert!(
            err.starts_with("run.yml:3: listen[0]: unknown field `bogus`") || err.starts_with("run.yml:4:"),
            "{err}"
        );
        // s6's notification fd may not be one of the sockets' numbers.
        let err = parse("cmd: x\nlisten:\n  - tcp: 0.0.0.0:80\n  - udp: 0.0.0.0:53\nready:\n  fd: 4\n").unwrap_err();
        assert_eq!(
            err,
            "run.yml:6: ready.fd 4 is taken by listen: (its sockets are descriptors 3 to 4): use 5 or more"
        );
        assert!(parse("cmd: x\nlisten:\n  - tcp: 0.0.0.0:80\nready: {fd: 4}\n").is_ok());
        // -cc prints the entries with their defaults, and what it prints
        // parses back to the same effective configuration.
        let cfg = crate::config::parse(Path::new("run.yml"), text.replace("99999", "9999").as_str()).unwrap();
        let printed = crate::config::to_yaml(&cfg);
        let backlog = libc::SOMAXCONN;
        let want = format!(
            "listen:\n- tcp: 0.0.0.0:8080\n  name: http\n  backlog: {backlog}\n- unix: /run/app.sock\n  name: /run/app.sock\n  backlog: {backlog}\n  mode: '0666'\n- tcp: 0.0.0.0:9999\n  name: 0.0.0.0_9999\n  backlog: {backlog}\n"
        );
        assert!(printed.contains(&want), "{printed}");
        let effective = crate::config::effective(&cfg);
        assert_eq!(crate::config::parse(Path::new("run.yml"), &printed).unwrap(), effective);
        assert_eq!(crate::config::effective(&effective), effective);
        let none = crate::config::to_yaml(&parse("cmd: x\n").unwrap());
        assert!(none.contains("\nlisten: []  # no socket held"), "{none}");
    }

    #[test]
    fn summary_for_cc() {
        let list = entries(&yml(
            "- tcp: 127.0.0.1:80\n  backlog: 5\n- unix: /a.sock\n  group: www\n- udp: 1.2.3.4:5\n  name: dns\n",
        ))
        .unwrap();
        assert_eq!(
            summary(&list),
            "# listen: fd 3 is tcp 127.0.0.1:80, named 127.0.0.1_80, backlog 5\n\
             # listen: fd 4 is unix /a.sock, named /a.sock, backlog 4096, mode 0666, group www\n\
             # listen: fd 5 is udp 1.2.3.4:5, named dns\n"
                .replace("4096", &libc::SOMAXCONN.to_string())
        );
    }

    fn entry(text: &str) -> Entry {
        one(text).unwrap()
    }

    #[test]
    fn open_tcp_udp_unix_and_describe_them() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("app.sock");
        let list = vec![
            entry("- tcp: 127.0.0.1:0\n  name: http\n"),
            entry(&format!("- unix: {}\n  mode: \"0640\"\n", sock.display())),
            entry("- udp: 127.0.0.1:0\n"),
        ];
        let sockets = Sockets::open(&list, None).unwrap();
        let shown = sockets.describe();
        assert!(
            shown[0].starts_with("tcp 127.0.0.1:") && shown[0].ends_with(" (fd 3)"),
            "{shown:?}"
        );
        assert!(!shown[0].contains(":0 "), "the chosen port: {shown:?}");
        assert_eq!(shown[1], format!("unix {} (fd 4)", sock.display()));
        assert!(shown[2].starts_with("udp 127.0.0.1:") && shown[2].ends_with(" (fd 5)"));
        let meta = std::fs::symlink_metadata(&sock).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.mode() & 0o777, 0o640);
        let env = sockets.env();
        assert_eq!(env[0], ("LISTEN_FDS".to_string(), "3".to_string()));
        assert_eq!(
            env[1],
            (
                "LISTEN_FDNAMES".to_string(),
                format!("http:{}:127.0.0.1_0", sock.display())
            )
        );
        // Connections are queued by the kernel with nobody accepting.
        let port = shown[0].split([':', ' ']).nth(2).unwrap();
        let _queued = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        let _queued = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        // Each socket is close-on-exec in the supervisor; tcp reuses its
        // address (a restart never meets TIME_WAIT).
        for (fd, _) in sockets.placement() {
            let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
            assert!(flags & libc::FD_CLOEXEC != 0);
        }
        let (tcp, _) = sockets.placement()[0];
        assert!(nix::sys::socket::getsockopt(&tcp, nix::sys::socket::sockopt::ReuseAddr).unwrap());
    }

    #[test]
    fn open_errors_name_the_socket_and_undo_what_was_made() {
        let dir = tempfile::tempdir().unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let made = dir.path().join("first.sock");
        let list = vec![
            entry(&format!("- unix: {}\n", made.display())),
            entry(&format!("- tcp: {addr}\n")),
        ];
        let err = Sockets::open(&list, None).unwrap_err().to_string();
        assert_eq!(err, format!("listen {addr}: Address already in use"));
        assert!(!made.exists(), "the first socket's file is removed");
        let missing = entry("- unix: /nonexistent-dir/x.sock\n");
        let err = Sockets::open(&[missing], None).unwrap_err().to_string();
        assert_eq!(
            err,
            "listen /nonexistent-dir/x.sock: directory /nonexistent-dir does not exist"
        );
        let group = entry(&format!(
            "- unix: {}\n  group: no-such-group-xyz\n",
            dir.path().join("g.sock").display()
        ));
        let err = Sockets::open(&[group], None).unwrap_err().to_string();
        assert!(err.contains("listen ") && err.contains("no-such-group-xyz"), "{err}");
    }

    #[test]
    fn a_stale_socket_file_is_replaced_a_live_one_or_a_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        let e = entry(&format!("- unix: {}\n", path.display()));
        // Stale: bound once, its listener gone — in every process: another
        // test of this binary forking at that moment (sys::hold's) holds a
        // copy of it until its child has closed what it does not keep.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&path).is_ok() {
            assert!(std::time::Instant::now() < deadline, "the listener never went");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let sockets = Sockets::open(std::slice::from_ref(&e), None).unwrap();
        // Live: ours now.
        let err = Sockets::open(std::slice::from_ref(&e), None).unwrap_err().to_string();
        assert_eq!(err, format!("listen {}: Address already in use", path.display()));
        assert!(path.exists());
        drop(sockets);
        let file = dir.path().join("file.sock");
        std::fs::write(&file, "data").unwrap();
        let e = entry(&format!("- unix: {}\n", file.display()));
        let err = Sockets::open(&[e], None).unwrap_err().to_string();
        assert!(
            err.ends_with("exists and is not a socket: refusing to replace it"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "data");
    }

    #[test]
    fn reopen_keeps_unchanged_addresses_and_opens_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.sock");
        let b = dir.path().join("b.sock");
        let first = vec![
            entry("- tcp: 127.0.0.1:0\n  name: web\n"),
            entry(&format!("- unix: {}\n", a.display())),
        ];
        let old = Sockets::open(&first, None).unwrap();
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        let a_ino = ino(&a);
        let second = vec![
            entry(&format!("- unix: {}\n  mode: \"0600\"\n", a.display())),
            entry(&format!("- unix: {}\n", b.display())),
            entry("- tcp: 127.0.0.1:0\n  name: api\n  backlog: 7\n"),
        ];
        let new = old.reopen(&second, None).unwrap();
        let raw = |s: &Sockets, i: usize| s.list[i].fd.as_raw_fd();
        assert_eq!(raw(&new, 0), raw(&old, 1), "the unix socket is kept");
        assert_eq!(raw(&new, 2), raw(&old, 0), "the tcp socket is kept");
        assert_eq!(new.list[2].bound, old.list[0].bound);
        assert_eq!(ino(&a), a_ino);
        assert_eq!(std::fs::metadata(&a).unwrap().mode() & 0o777, 0o600);
        assert_eq!(new.env()[1].1, format!("{}:{}:api", a.display(), b.display()));
        // A failed reopen changes nothing and leaves no file.
        let c = dir.path().join("c.sock");
        let bad = vec![
            entry(&format!("- unix: {}\n", c.display())),
            entry("- unix: /nonexistent-dir/x.sock\n"),
        ];
        assert!(new.reopen(&bad, None).is_err());
        assert!(!c.exists());
        // Retired, the old set removes no file the new one holds.
        old.retire(&[&new]);
        assert!(a.exists() && b.exists());
        new.retire(&[]);
        assert!(!a.exists() && !b.exists());
    }

    #[test]
    fn a_socket_held_by_a_survivor_is_taken_over() {
        // The "service" holds the socket as fd 3; no supervisor holds it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let e = entry(&format!("- unix: {}\n", path.display()));
        let held = Sockets::open(std::slice::from_ref(&e), None).unwrap();
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("30");
        crate::sys::exec::place_fds(&mut cmd, vec![(held.list[0].fd.as_raw_fd(), 3)]);
        let mut child = cmd.spawn().unwrap();
        drop(held);
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let err = Sockets::open(std::slice::from_ref(&e), None).unwrap_err().to_string();
        assert!(err.ends_with("Address already in use"), "{err}");
        let taken = Sockets::open(std::slice::from_ref(&e), Some(pid));
        let _ = child.kill();
        let _ = child.wait();
        let taken = taken.unwrap();
        assert_eq!(taken.describe(), [format!("unix {} (fd 3)", path.display())]);
        // Still the same socket: a client connects after the holder died.
        let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    }

    #[test]
    fn reset_makes_the_sockets_blocking_again() {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let sockets = Sockets::open(&[entry("- tcp: 127.0.0.1:0\n")], None).unwrap();
        let (fd, _) = sockets.placement()[0];
        fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        sockets.reset().unwrap();
        let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL).unwrap());
        assert!(!flags.contains(OFlag::O_NONBLOCK));
    }
}
