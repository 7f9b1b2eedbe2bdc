//! The supervisor's own messages (starts, exits, commands, warnings): to
//! stderr in the foreground, to syslog (facility daemon, tag `immortal`)
//! once detached.
//!
//! Each message is one `write(2)` (or one datagram) of one whole line, so
//! the lines of many supervisors sharing a stderr (under `immortalsvc`)
//! never interleave mid-line.
//!
//! Syslog is spoken directly (RFC 3164 datagrams on `/dev/log`, or
//! `$IMMORTAL_SYSLOG`), non-blocking, so a stuck syslog daemon never holds
//! the supervisor. When syslog cannot be reached (no `/dev/log` in a
//! container, a full queue), the message goes to `immortal.log` in the
//! supervise directory instead — never nowhere. That file is capped: past
//! [`FALLBACK_MAX`] it is renamed to `immortal.log.1` (one old file kept).

use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// Where syslog listens, unless `$IMMORTAL_SYSLOG` says otherwise.
pub const SYSLOG_SOCKET: &str = "/dev/log";
/// The fallback file's size limit before it is rotated once.
pub const FALLBACK_MAX: u64 = 1024 * 1024;
/// `LOG_DAEMON`, as in syslog.h.
const FACILITY_DAEMON: u8 = 3 << 3;

pub struct Log {
    prefix: String,
    syslog: Option<Syslog>,
    /// In the foreground, where the messages go instead of stderr (under
    /// immortalsvc: a pipe of their own, see [`crate::sys::exec::take_notice_fd`]).
    to: Option<File>,
}

struct Syslog {
    path: PathBuf,
    socket: RefCell<Option<UnixDatagram>>,
    /// `immortal.log` in the supervise directory.
    fallback: PathBuf,
    file: RefCell<Option<File>>,
}

impl Log {
    /// Messages to `to` when given, else to stderr.
    pub fn to(prefix: impl Into<String>, to: Option<File>) -> Log {
        Log {
            prefix: prefix.into(),
            syslog: None,
            to,
        }
    }

    /// Messages to syslog, or to `fallback` when syslog cannot take them.
    pub fn syslog(prefix: impl Into<String>, fallback: PathBuf) -> Log {
        let path = std::env::var_os("IMMORTAL_SYSLOG")
            .filter(|p| !p.is_empty())
            .map_or_else(|| PathBuf::from(SYSLOG_SOCKET), PathBuf::from);
        let syslog = Syslog {
            socket: RefCell::new(connect(&path)),
            path,
            fallback,
            file: RefCell::new(None),
        };
        Log {
            prefix: prefix.into(),
            syslog: Some(syslog),
            to: None,
        }
    }

    pub fn info(&self, msg: &str) {
        self.emit(libc::LOG_INFO as u8, msg);
    }

    pub fn warn(&self, msg: &str) {
        self.emit(libc::LOG_WARNING as u8, msg);
    }

    fn emit(&self, level: u8, msg: &str) {
        // One line per message, whatever the message holds.
        let text = format!("{}: {msg}", self.prefix).replace(['\n', '\0'], " ");
        match &self.syslog {
            Some(syslog) => syslog.send(level, &text),
            None => {
                // A closed or broken stderr must not take the supervisor down.
                let line = format!("immortal: {text}\n");
                let _ = match &self.to {
                    // `Write` for `&File`: one write of the whole line.
                    Some(to) => (&*to).write_all(line.as_bytes()),
                    None => std::io::stderr().write_all(line.as_bytes()),
                };
            }
        }
    }
}

fn connect(path: &std::path::Path) -> Option<UnixDatagram> {
    let socket = UnixDatagram::unbound().ok()?;
    socket.connect(path).ok()?;
    socket.set_nonblocking(true).ok()?;
    Some(socket)
}

impl Syslog {
    fn send(&self, level: u8, text: &str) {
        let datagram = format!("<{}>immortal[{}]: {text}", FACILITY_DAEMON | level, std::process::id());
        let mut socket = self.socket.borrow_mut();
        for attempt in 0..2 {
            if let Some(s) = socket.as_ref() {
                if s.send(datagram.as_bytes()).is_ok() {
                    return;
                }
            }
            // Not connected, or syslogd restarted (ECONNREFUSED): once more
            // with a new connection; a full queue (EAGAIN) goes to the file.
            if attempt == 0 {
                *socket = connect(&self.path);
            }
        }
        drop(socket);
        self.to_file(text);
    }

    fn to_file(&self, text: &str) {
        let line = format!(
            "{} immortal[{}]: {text}\n",
            crate::timefmt::rfc3339(std::time::SystemTime::now()),
            std::process::id()
        );
        let mut file = self.file.borrow_mut();
        let full = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .is_some_and(|m| m.len() + line.len() as u64 > FALLBACK_MAX);
        if full {
            let mut old = self.fallback.clone().into_os_string();
            old.push(".1");
            let _ = std::fs::rename(&self.fallback, old);
            *file = None;
        }
        if file.is_none() {
            use std::os::unix::fs::OpenOptionsExt;
            *file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o640)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&self.fallback)
                .ok();
        }
        if let Some(f) = file.as_mut() {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_gets_one_datagram_per_message_else_the_file_does() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("log.sock");
        let server = UnixDatagram::bind(&sock).unwrap();
        let syslog = Syslog {
            path: sock.clone(),
            socket: RefCell::new(connect(&sock)),
            fallback: dir.path().join("immortal.log"),
            file: RefCell::new(None),
        };
        let log = Log {
            prefix: "/run/x".into(),
            syslog: Some(syslog),
            to: None,
        };
        log.warn("two\nlines");
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        let want = format!("<28>immortal[{}]: /run/x: two lines", std::process::id());
        assert_eq!(got, want);
        // syslogd gone: the message lands in the file instead.
        drop(server);
        std::fs::remove_file(&sock).unwrap();
        log.info("no syslog");
        let text = std::fs::read_to_string(dir.path().join("immortal.log")).unwrap();
        assert!(
            text.ends_with(&format!("Z immortal[{}]: /run/x: no syslog\n", std::process::id())),
            "{text}"
        );
    }

    #[test]
    fn the_fallback_file_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let fallback = dir.path().join("immortal.log");
        let log = Log {
            prefix: "p".into(),
            syslog: Some(Syslog {
                path: dir.path().join("nothing-listens"),
                socket: RefCell::new(None),
                fallback: fallback.clone(),
                file: RefCell::new(None),
            }),
            to: None,
        };
        let msg = "x".repeat(1000);
        for _ in 0..2500 {
            log.info(&msg);
        }
        let len = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        assert!(len(&fallback) <= FALLBACK_MAX, "{}", len(&fallback));
        let old = dir.path().join("immortal.log.1");
        assert!(len(&old) > FALLBACK_MAX / 2 && len(&old) <= FALLBACK_MAX);
    }
}
