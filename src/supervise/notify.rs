//! The service's own word on its readiness: s6's notification fd (a line on
//! a pipe) and systemd's sd_notify (datagrams on `$NOTIFY_SOCKET`, sender
//! credentials attached by the kernel: `sys::peer`, Linux only).

use super::state::Notice;
use nix::unistd::Pid;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// sd_notify's datagrams are small; systemd reads at most this much too.
const DATAGRAM_MAX: usize = 4096;

/// A datagram's sender, as the kernel vouches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    pub pid: Pid,
    pub uid: u32,
}

/// What one datagram says (`KEY=VALUE` lines).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub notices: Vec<Notice>,
    pub status: Option<String>,
    pub main_pid: Option<Pid>,
}

/// Parse an sd_notify datagram; unknown keys are ignored, as systemd does.
pub fn parse(datagram: &[u8]) -> Message {
    let text = String::from_utf8_lossy(datagram);
    let mut m = Message::default();
    for line in text.split('\n') {
        match line.split_once('=') {
            Some(("READY", "1")) => m.notices.push(Notice::Ready),
            Some(("RELOADING", "1")) => m.notices.push(Notice::Reloading),
            Some(("STOPPING", "1")) => m.notices.push(Notice::Stopping),
            Some(("WATCHDOG", "1")) => m.notices.push(Notice::Watchdog),
            Some(("STATUS", text)) => m.status = Some(text.to_string()),
            Some(("MAINPID", pid)) => m.main_pid = pid.trim().parse::<i32>().ok().filter(|p| *p > 0).map(Pid::from_raw),
            _ => {}
        }
    }
    m
}

/// `$NOTIFY_SOCKET` in the supervise directory.
pub struct NotifySocket {
    sock: UnixDatagram,
    /// What the service gets as `NOTIFY_SOCKET` (a path, or `@name` for
    /// an abstract socket when the path is too long for `sun_path`).
    pub address: String,
    path: Option<PathBuf>,
}

impl NotifySocket {
    /// Bind at `path`; `owner`: the service's user, who must be able to
    /// send to it (a socket file needs write permission).
    pub fn bind(path: &Path, owner: Option<(u32, u32)>) -> std::io::Result<NotifySocket> {
        let (sock, abstract_name) = crate::sys::peer::bind_credentialed(path)?;
        let (address, kept) = match abstract_name {
            Some(name) => (name, None),
            None => {
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
                }
                (path.display().to_string(), Some(path.to_path_buf()))
            }
        };
        Ok(NotifySocket {
            sock,
            address,
            path: kept,
        })
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Every datagram waiting, with its sender (None: no credentials).
    pub fn receive(&self) -> Vec<(Option<Sender>, Vec<u8>)> {
        crate::sys::peer::receive(&self.sock, DATAGRAM_MAX)
            .into_iter()
            .map(|(from, data)| {
                let sender = from.map(|(pid, uid)| Sender {
                    pid: Pid::from_raw(pid),
                    uid,
                });
                (sender, data)
            })
            .collect()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Whether `pid` is `main` or descends from it (at most 64 generations up
/// through the system's process table, read once per datagram, not polled).
pub fn descends_from(pid: Pid, main: Pid) -> bool {
    let mut at = pid;
    for _ in 0..64 {
        if at == main {
            return true;
        }
        match crate::sys::process::info(at).map(|i| i.ppid) {
            Some(parent) if parent > 1 => at = Pid::from_raw(parent),
            _ => return false,
        }
    }
    false
}

/// The read end of s6's notification pipe: ready once a newline arrives.
pub struct ReadyPipe {
    file: std::fs::File,
}

impl ReadyPipe {
    /// A pipe: the read end kept (non-blocking), the write end to pass.
    pub fn new() -> std::io::Result<(ReadyPipe, OwnedFd)> {
        let (read, write) = crate::sys::fs::pipe(true)?;
        Ok((
            ReadyPipe {
                file: std::fs::File::from(read),
            },
            write,
        ))
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Read what is there: `Some(true)` at a newline (ready), `Some(false)`
    /// at EOF without one (it closed the descriptor: never ready this
    /// way), `None` to keep waiting.
    pub fn on_readable(&mut self) -> Option<bool> {
        let mut buf = [0u8; 512];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => return Some(false),
                Ok(n) if buf[..n].contains(&b'\n') => return Some(true),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return Some(false),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_as_systemd_reads_them() {
        let m = parse(b"READY=1\nSTATUS=Ready to accept connections\nMAINPID=4242\nX_OTHER=1");
        assert_eq!(m.notices, vec![Notice::Ready]);
        assert_eq!(m.status.as_deref(), Some("Ready to accept connections"));
        assert_eq!(m.main_pid, Some(Pid::from_raw(4242)));
        let m = parse(b"RELOADING=1\nWATCHDOG=1\nSTOPPING=1\n");
        assert_eq!(m.notices, vec![Notice::Reloading, Notice::Watchdog, Notice::Stopping]);
        assert_eq!(parse(b"READY=0\nMAINPID=x").notices, vec![]);
        assert_eq!(parse(b"\xff\xfe").notices, vec![]);
    }

    #[test]
    fn a_datagram_comes_with_the_senders_credentials() {
        if !crate::sys::system::capabilities().notify_socket {
            return; // not offered here (see sys::peer)
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let sock = NotifySocket::bind(&path, None).unwrap();
        let client = UnixDatagram::unbound().unwrap();
        client.send_to(b"READY=1", &path).unwrap();
        let got = sock.receive();
        assert_eq!(got.len(), 1);
        let (sender, data) = &got[0];
        assert_eq!(data, b"READY=1");
        assert_eq!(sender.map(|s| s.pid.as_raw() as u32), Some(std::process::id()));
        assert!(descends_from(Pid::this(), Pid::this()));
        assert!(!descends_from(Pid::from_raw(1), Pid::this()));
        drop(sock);
        assert!(!path.exists(), "the socket file goes with it");
    }

    #[test]
    fn a_line_on_the_pipe_is_ready_eof_is_not() {
        use std::io::Write;
        let (mut pipe, write) = ReadyPipe::new().unwrap();
        let mut w = std::fs::File::from(write);
        assert_eq!(pipe.on_readable(), None);
        w.write_all(b"almost").unwrap();
        assert_eq!(pipe.on_readable(), None);
        w.write_all(b"\n").unwrap();
        assert_eq!(pipe.on_readable(), Some(true));
        let (mut pipe, write) = ReadyPipe::new().unwrap();
        drop(write);
        assert_eq!(pipe.on_readable(), Some(false));
    }
}
