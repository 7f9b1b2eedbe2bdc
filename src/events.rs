//! `GET /events`: a stream of newline-delimited JSON, one object per change,
//! until the reader closes. A reader never slows the loop: what it has not
//! taken waits in its own buffer, and one that falls [`MAX_BEHIND`] bytes
//! behind is sent `{"event":"overflow"}` (best effort) and closed. At most
//! [`MAX_WATCHERS`] readers per socket; the next is answered 503.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub const MAX_WATCHERS: usize = 16;
/// A reader this far behind (bytes queued for it, beyond what the kernel
/// holds) is cut off.
pub const MAX_BEHIND: usize = 64 * 1024;
/// A reader cut off gets this long to take the overflow notice.
pub const FAREWELL: Duration = Duration::from_secs(5);
/// The kernel's share of a reader's backlog is kept small, so "behind" is
/// mostly ours to see.
const SOCKET_BUFFER: usize = 16 * 1024;

/// The response head: no length, the stream ends when the connection does.
pub const HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";

/// What a reader that fell behind gets last.
pub fn overflow_line(service: &str) -> String {
    let mut v =
        serde_json::json!({ "time": crate::timefmt::rfc3339(std::time::SystemTime::now()), "event": "overflow" });
    if !service.is_empty() {
        v["service"] = service.into();
    }
    v.to_string() + "\n"
}

/// One `/events` reader.
pub struct Watcher {
    pub stream: UnixStream,
    out: VecDeque<u8>,
    /// Names the socket's service in the overflow line.
    service: String,
    /// The last byte sent did not end a line.
    mid_line: bool,
    /// Cut off: only the overflow notice is left to send, until then.
    pub closing: Option<Instant>,
    /// The reader shut its sending side after its request (`nc -N`, an
    /// HTTP/1.0 client): the stream goes on until it hangs up.
    reader_done: bool,
}

/// What became of a watcher after I/O.
#[derive(Debug, PartialEq, Eq)]
pub enum Fate {
    Keep,
    /// Closed by the reader, failed, or cut off: drop it.
    Gone,
}

impl Watcher {
    /// Start streaming on `stream` (non-blocking): the head goes out first.
    pub fn new(stream: UnixStream, service: &str) -> Watcher {
        let _ = nix::sys::socket::setsockopt(&stream, nix::sys::socket::sockopt::SndBuf, &SOCKET_BUFFER);
        let mut w = Watcher {
            stream,
            out: VecDeque::new(),
            service: service.to_string(),
            mid_line: false,
            closing: None,
            reader_done: false,
        };
        w.out.extend(HEAD.as_bytes());
        w
    }

    pub fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    /// What to poll its socket for: room while something waits to be
    /// sent, else what the reader sends; once it has shut its sending side
    /// (which would read as ready forever), nothing: only its hang-up or an
    /// error wakes the loop.
    pub fn interest(&self) -> PollFlags {
        if self.wants_write() {
            PollFlags::POLLOUT
        } else if self.reader_done {
            PollFlags::empty()
        } else {
            PollFlags::POLLIN
        }
    }

    /// Queue one line (it ends with `\n`) and send what the socket takes.
    pub fn push(&mut self, line: &str) -> Fate {
        if self.closing.is_some() {
            return Fate::Keep;
        }
        if self.out.len() + line.len() > MAX_BEHIND && self.flush() == Fate::Keep {
            if self.out.len() + line.len() > MAX_BEHIND {
                self.cut_off();
            } else {
                self.out.extend(line.as_bytes());
            }
        } else {
            self.out.extend(line.as_bytes());
        }
        self.flush()
    }

    /// Too far behind: what waits is dropped (after the rest of a line
    /// half sent), the overflow notice is all that is left to send.
    fn cut_off(&mut self) {
        let keep = if self.mid_line {
            self.out.iter().position(|&b| b == b'\n').map_or(0, |p| p + 1)
        } else {
            0
        };
        self.out.truncate(keep);
        self.out.extend(overflow_line(&self.service).as_bytes());
        self.closing = Some(Instant::now() + FAREWELL);
    }

    /// The socket can take more.
    pub fn flush(&mut self) -> Fate {
        while !self.out.is_empty() {
            let (front, _) = self.out.as_slices();
            match self.stream.write(front) {
                Ok(0) => return Fate::Gone,
                Ok(n) => {
                    self.mid_line = front[n - 1] != b'\n';
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return Fate::Gone,
            }
        }
        if self.closing.is_some() && self.out.is_empty() {
            return Fate::Gone;
        }
        Fate::Keep
    }

    /// A watcher cut off whose reader did not take the notice in time.
    pub fn expired(&self, now: Instant) -> bool {
        self.closing.is_some_and(|at| at <= now)
    }

    /// The reader sent something, shut its sending side, or hung up: what
    /// it sends is ignored, and only a hang-up ends the stream.
    pub fn on_readable(&mut self) -> Fate {
        if self.reader_done {
            // Polled for nothing: a hang-up or an error woke the loop (or
            // the call was meant for another reader: then nothing happened).
            return if hung_up(&self.stream) { Fate::Gone } else { Fate::Keep };
        }
        let mut sink = [0u8; 1024];
        loop {
            match self.stream.read(&mut sink) {
                Ok(0) => {
                    self.reader_done = true;
                    return if hung_up(&self.stream) { Fate::Gone } else { Fate::Keep };
                }
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Fate::Keep,
                Err(_) => return Fate::Gone,
            }
        }
    }
}

/// Whether the other end of `stream` has closed entirely (not just shut
/// its sending side), or the socket failed: asked without waiting.
fn hung_up(stream: &UnixStream) -> bool {
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::empty())];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
        Err(_) => true,
    }
}

/// Send `line` to every watcher, dropping those gone.
pub fn broadcast(watchers: &mut Vec<Watcher>, line: &str) {
    watchers.retain_mut(|w| w.push(line) == Fate::Keep);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Watcher, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        (Watcher::new(a, "web"), b)
    }

    #[test]
    fn a_reader_gets_the_head_then_lines() {
        let (mut w, mut r) = pair();
        assert_eq!(w.push("{\"event\":\"start\"}\n"), Fate::Keep);
        r.set_nonblocking(true).unwrap();
        let mut got = vec![0u8; 4096];
        let n = r.read(&mut got).unwrap();
        let text = String::from_utf8_lossy(&got[..n]);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson"));
        assert!(text.ends_with("\r\n\r\n{\"event\":\"start\"}\n"));
    }

    #[test]
    fn a_reader_that_never_reads_is_cut_off_with_overflow_and_the_writer_never_blocks() {
        let (mut w, mut r) = pair();
        let line = format!("{{\"event\":\"exit\",\"pad\":\"{}\"}}\n", "x".repeat(200));
        let mut pushed = 0;
        while w.closing.is_none() {
            assert_eq!(w.push(&line), Fate::Keep);
            pushed += 1;
            assert!(pushed < 10_000, "never cut off");
        }
        assert!(pushed * line.len() >= MAX_BEHIND);
        // Later events are not queued for it any more.
        assert_eq!(w.push(&line), Fate::Keep);
        // The reader wakes up: it gets whole lines, then the notice, then
        // the end of the stream.
        r.set_nonblocking(true).unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(_) => {
                    if w.flush() == Fate::Gone {
                        break;
                    }
                }
            }
        }
        drop(w);
        r.set_nonblocking(false).unwrap();
        r.read_to_end(&mut all).unwrap();
        let text = String::from_utf8(all).unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        assert_eq!(
            (last["event"].as_str(), last["service"].as_str()),
            (Some("overflow"), Some("web"))
        );
        for l in &lines[..lines.len() - 1] {
            assert_eq!(format!("{l}\n"), line);
        }
        assert!(lines.len() < pushed, "what waited was dropped");
    }

    #[test]
    fn a_closed_reader_is_gone() {
        let (mut w, r) = pair();
        drop(r);
        assert_eq!(w.on_readable(), Fate::Gone);
    }

    #[test]
    fn a_reader_that_shut_its_sending_side_still_gets_the_stream() {
        let (mut w, mut r) = pair();
        assert_eq!(w.flush(), Fate::Keep);
        r.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(w.interest(), PollFlags::POLLIN);
        assert_eq!(w.on_readable(), Fate::Keep);
        // The end of its input would read as ready forever: not polled for.
        assert_eq!(w.interest(), PollFlags::empty());
        assert_eq!(w.on_readable(), Fate::Keep);
        assert_eq!(w.push("{\"event\":\"down\"}\n"), Fate::Keep);
        let mut got = vec![0u8; 4096];
        let n = r.read(&mut got).unwrap();
        assert!(String::from_utf8_lossy(&got[..n]).ends_with("\r\n\r\n{\"event\":\"down\"}\n"));
        // Then it hangs up: the hang-up alone wakes a poll for nothing.
        drop(r);
        let mut fds = [PollFd::new(w.stream.as_fd(), w.interest())];
        assert_eq!(poll(&mut fds, PollTimeout::ZERO).unwrap(), 1);
        assert_eq!(w.on_readable(), Fate::Gone);
    }
}
