//! A minimal client for a supervisor's socket: one request, one response,
//! with a deadline, used by `require` checks and `immortalctl`.

use crate::error::{Context, Error, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read (a status is a few hundred bytes).
const MAX_RESPONSE: u64 = 1 << 20;

/// Whether an error number says we may not reach something (`EACCES`,
/// `EPERM`: a socket's mode, a directory's, a security module). That is
/// not "nobody listens" (`ECONNREFUSED`) nor "not there" (`ENOENT`): the
/// supervisor may well run, and whoever asks must be told they may not see
/// it, never that it is gone. Takes [`Error::raw_os_error`] or
/// [`std::io::Error::raw_os_error`].
pub fn denied(errno: Option<i32>) -> bool {
    matches!(errno, Some(libc::EACCES | libc::EPERM))
}

/// `GET path` on the socket at `sock`; returns the status code and body.
pub fn get(sock: &Path, path: &str) -> Result<(u16, String)> {
    send(sock, path)?.answer()
}

/// A request sent, its answer not read yet: several supervisors can work
/// on theirs at once (`immortalctl down '*'`).
pub struct Pending {
    stream: UnixStream,
    sock: std::path::PathBuf,
}

/// Send `GET path` to the socket at `sock`, without waiting for the answer.
pub fn send(sock: &Path, path: &str) -> Result<Pending> {
    let mut stream = UnixStream::connect(sock).ctx("connect to", sock)?;
    stream.set_read_timeout(Some(TIMEOUT)).ctx("configure", sock)?;
    stream.set_write_timeout(Some(TIMEOUT)).ctx("configure", sock)?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: immortal\r\nConnection: close\r\n\r\n").as_bytes())
        .ctx("write to", sock)?;
    Ok(Pending {
        stream,
        sock: sock.to_path_buf(),
    })
}

impl Pending {
    /// The status code and body of the answer.
    pub fn answer(self) -> Result<(u16, String)> {
        let sock = &self.sock;
        // One read usually takes the whole answer; a socket that never
        // stops talking is cut off.
        let mut raw = Vec::with_capacity(4096);
        self.stream
            .take(MAX_RESPONSE)
            .read_to_end(&mut raw)
            .ctx("read from", sock)?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| Error::invalid(format!("{}: incomplete HTTP response", sock.display())))?;
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| Error::invalid(format!("{}: malformed HTTP status line", sock.display())))?;
        Ok((code, body.to_string()))
    }
}

/// The parsed `/status` of the supervisor listening on `sock`.
pub fn status(sock: &Path) -> Result<serde_json::Value> {
    let (code, body) = get(sock, "/status")?;
    if code != 200 {
        return Err(Error::invalid(format!("{}: status answered {code}", sock.display())));
    }
    serde_json::from_str(&body).map_err(|e| Error::invalid(format!("{}: bad status JSON: {e}", sock.display())))
}

/// An open `GET /events` stream: one JSON object per line.
pub struct EventStream {
    reader: std::io::BufReader<UnixStream>,
    /// Bytes of a line cut by a timeout.
    partial: Vec<u8>,
}

/// An event stream asked for, its answer not read yet.
pub struct AskedEvents {
    stream: UnixStream,
    sock: std::path::PathBuf,
}

impl AskedEvents {
    /// Read the response head: the stream, or an error naming the
    /// supervisor that refused (503: too many readers).
    pub fn opened(self) -> Result<EventStream> {
        use std::io::BufRead;
        let sock = &self.sock;
        self.stream.set_read_timeout(Some(TIMEOUT)).ctx("configure", sock)?;
        let mut reader = std::io::BufReader::new(self.stream);
        let mut status = String::new();
        reader.read_line(&mut status).ctx("read from", sock)?;
        let code = status.split_whitespace().nth(1).unwrap_or("");
        if code != "200" {
            let mut rest = String::new();
            let _ = reader.take(MAX_RESPONSE).read_to_string(&mut rest);
            let why = rest.split_once("\r\n\r\n").map_or("", |(_, b)| b.trim());
            return Err(Error::invalid(format!(
                "{}: /events answered {} {why}",
                sock.display(),
                status.trim()
            )));
        }
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ctx("read from", sock)? == 0 {
                return Err(Error::invalid(format!("{}: incomplete HTTP response", sock.display())));
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
        }
        reader.get_ref().set_read_timeout(None).ctx("configure", sock)?;
        Ok(EventStream {
            reader,
            partial: Vec::new(),
        })
    }
}

impl EventStream {
    /// Connect and read the response head; a supervisor that refuses
    /// (503: too many readers) is an error naming it.
    pub fn open(sock: &Path) -> Result<EventStream> {
        EventStream::ask(sock)?.opened()
    }

    /// Connect and ask for the stream, without waiting for the answer
    /// ([`AskedEvents::opened`] reads it).
    pub fn ask(sock: &Path) -> Result<AskedEvents> {
        let mut stream = UnixStream::connect(sock).ctx("connect to", sock)?;
        stream.set_write_timeout(Some(TIMEOUT)).ctx("configure", sock)?;
        stream
            .write_all(b"GET /events HTTP/1.1\r\nHost: immortal\r\nConnection: close\r\n\r\n")
            .ctx("write to", sock)?;
        Ok(AskedEvents {
            stream,
            sock: sock.to_path_buf(),
        })
    }
    /// The descriptor, to poll several streams at once.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.reader.get_ref().as_fd()
    }

    /// Wait at most `timeout` (`None`: forever) for the next line; `Ok(None)`
    /// at the timeout; an error once the stream has ended.
    pub fn next_line(&mut self, timeout: Option<Duration>) -> std::io::Result<Option<String>> {
        use std::io::BufRead;
        // A zero timeout would mean "block forever" to the socket.
        let t = timeout.map(|t| t.max(Duration::from_millis(1)));
        self.reader.get_ref().set_read_timeout(t)?;
        // A line cut by the timeout (perhaps inside a character) is kept as
        // bytes, and completed by the next call.
        match self.reader.read_until(b'\n', &mut self.partial) {
            Ok(0) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the event stream ended",
            )),
            Ok(_) if self.partial.ends_with(b"\n") => {
                let line = std::mem::take(&mut self.partial);
                Ok(Some(String::from_utf8_lossy(&line).trim_end().to_string()))
            }
            Ok(_) => Ok(None),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_is_not_absence() {
        let dir = tempfile::tempdir().unwrap();
        let gone = get(&dir.path().join("immortal.sock"), "/status").unwrap_err();
        assert!(!denied(gone.raw_os_error()), "{gone}");
        let refused = {
            let path = dir.path().join("stale.sock");
            drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
            get(&path, "/status").unwrap_err()
        };
        assert_eq!(refused.raw_os_error(), Some(libc::ECONNREFUSED));
        assert!(!denied(refused.raw_os_error()));
        assert!(denied(Some(libc::EACCES)) && denied(Some(libc::EPERM)));
        let io = std::io::Error::from_raw_os_error(libc::EACCES);
        assert!(denied(io.raw_os_error()));
    }
}
