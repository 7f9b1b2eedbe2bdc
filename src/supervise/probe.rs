//! Readiness and health probes, run inside the supervisor's one `poll`: a
//! command is a child in its own process group whose output comes through
//! a pipe; `tcp` and `http` are non-blocking sockets. Each has a deadline
//! the loop includes in its timeout; none needs a thread.

use super::spawn::{self, Io, Sink};
use super::state::{ExitHow, ProbeFor};
use crate::service::{Probe, Service};
use nix::sys::signal::{killpg, Signal};
use nix::sys::socket::{self, sockopt, AddressFamily, SockaddrStorage};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What a probe keeps of its output for the log and the API.
const OUTPUT_KEPT: usize = 4096;
/// The text shown: the last non-empty lines, at most this long.
const OUTPUT_SHOWN: usize = 300;

enum Running {
    /// `sh -c CMD`: done once reaped (`status`) and its output read.
    Cmd {
        pid: Pid,
        out: Option<std::fs::File>,
        status: Option<ExitHow>,
    },
    /// Connecting; done when the socket is writable.
    Tcp { sock: std::net::TcpStream },
    /// Connecting, sending the request, then reading the status line.
    Http {
        sock: std::net::TcpStream,
        request: Vec<u8>,
        sent: usize,
    },
}

/// One probe in flight.
pub struct ProbeRun {
    pub kind: ProbeFor,
    run: Running,
    started: Instant,
    pub deadline: Instant,
    output: Vec<u8>,
}

/// A probe's verdict: passed or not, and what it said.
pub type Verdict = (bool, String);

impl ProbeRun {
    /// Start `probe`; a probe that cannot even start is an immediate failure.
    pub fn start(probe: &Probe, svc: &Service, timeout: Duration, kind: ProbeFor) -> Result<ProbeRun, Verdict> {
        let now = Instant::now();
        let run = match probe {
            Probe::Cmd(cmd) => start_cmd(cmd, svc).map_err(|e| (false, format!("unable to run '{cmd}': {e}")))?,
            Probe::Tcp(addr) => Running::Tcp {
                sock: connect(*addr).map_err(|e| (false, format!("connect {addr}: {e}")))?,
            },
            Probe::Http { addr, host, path } => Running::Http {
                sock: connect(*addr).map_err(|e| (false, format!("connect {addr}: {e}")))?,
                request: format!(
                    "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: immortal-probe\r\nConnection: close\r\n\r\n"
                )
                .into_bytes(),
                sent: 0,
            },
        };
        Ok(ProbeRun {
            kind,
            run,
            started: now,
            deadline: super::state::later(now, timeout),
            output: Vec::new(),
        })
    }

    /// The command probe's pid (reaped by the loop).
    pub fn pid(&self) -> Option<Pid> {
        match &self.run {
            Running::Cmd { pid, status: None, .. } => Some(*pid),
            _ => None,
        }
    }

    /// The descriptor to poll, and whether for writing.
    pub fn poll_fd(&self) -> Option<(BorrowedFd<'_>, bool)> {
        match &self.run {
            Running::Cmd { out, .. } => out.as_ref().map(|f| (f.as_fd(), false)),
            Running::Tcp { sock } => Some((sock.as_fd(), true)),
            Running::Http { sock, request, sent } => Some((sock.as_fd(), *sent < request.len())),
        }
    }

    /// Its descriptor is ready: the verdict, once there is one.
    pub fn on_ready(&mut self) -> Option<Verdict> {
        match &mut self.run {
            Running::Cmd { out, status, .. } => {
                if let Some(f) = out {
                    if drain(f, &mut self.output) {
                        *out = None;
                    }
                }
                let how = (*status)?;
                Some(self.cmd_verdict(how))
            }
            Running::Tcp { sock } => Some(match connected(sock) {
                Ok(()) => (true, String::new()),
                Err(e) => (false, e.to_string()),
            }),
            Running::Http { sock, request, sent } => {
                if *sent < request.len() {
                    if let Err(e) = connected(sock) {
                        return Some((false, e.to_string()));
                    }
                    match sock.write(&request[*sent..]) {
                        Ok(n) => *sent += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => return Some((false, format!("send: {e}"))),
                    }
                    return None;
                }
                let eof = drain(sock, &mut self.output);
                let head = String::from_utf8_lossy(&self.output).into_owned();
                match head.split_once("\r\n").or_else(|| head.split_once('\n')) {
                    Some((line, _)) => Some(http_verdict(line)),
                    None if eof => Some((false, format!("no HTTP status line: '{}'", shown(&self.output)))),
                    None => None,
                }
            }
        }
    }

    /// The command probe was reaped.
    pub fn on_exit(&mut self, how: ExitHow) -> Option<Verdict> {
        if let Running::Cmd { status, out, .. } = &mut self.run {
            *status = Some(how);
            // What it wrote before exiting is in the pipe (a child of it
            // may keep the pipe open: do not wait for EOF).
            if let Some(f) = out {
                drain(f, &mut self.output);
            }
            *out = None;
            return Some(self.cmd_verdict(how));
        }
        None
    }

    /// The deadline passed: a failure (a command's group is killed).
    pub fn expire(&mut self) -> Verdict {
        if let Running::Cmd { pid, status: None, .. } = &self.run {
            let _ = killpg(*pid, Signal::SIGKILL);
        }
        let took = self.deadline.saturating_duration_since(self.started).as_secs_f64();
        let said = shown(&self.output);
        let tail = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        (false, format!("timed out after {took}s{tail}"))
    }

    fn cmd_verdict(&self, how: ExitHow) -> Verdict {
        let said = shown(&self.output);
        match how {
            ExitHow::Code(0) => (true, said),
            _ if said.is_empty() => (false, how.to_string()),
            _ => (false, format!("{how}: {said}")),
        }
    }
}

impl Drop for ProbeRun {
    /// A probe abandoned (the service stopped) takes its command with it.
    fn drop(&mut self) {
        if let Running::Cmd { pid, status: None, .. } = &self.run {
            let _ = killpg(*pid, Signal::SIGKILL);
        }
    }
}

/// `sh -c CMD` as the service's user, in its directory and environment,
/// in its own process group, stdout and stderr into a pipe.
fn start_cmd(cmd: &str, svc: &Service) -> std::io::Result<Running> {
    let (read, write) = crate::sys::fs::pipe(true)?;
    let write = Rc::new(write);
    let io = Io {
        stdin: Sink::Null,
        stdout: Sink::Fd(write.clone()),
        stderr: Sink::Fd(write),
    };
    // Not the service's limits, umask or cgroup: those are the service's.
    // Its environment is the service's: `env_file:` (read now, as for a
    // start), then `env:`.
    let probe = Service {
        command: vec!["sh".into(), "-c".into(), cmd.into()],
        confine: crate::limits::Confinement::default(),
        ..svc.clone()
    };
    let file_env = crate::envfile::read_all(&svc.env_files).map_err(|e| std::io::Error::other(e.to_string()))?;
    let extra = spawn::Extra {
        file_env,
        ..spawn::Extra::default()
    };
    let pid = spawn::service_with(&probe, &io, &extra)?;
    Ok(Running::Cmd {
        pid: Pid::from_raw(pid as i32),
        out: Some(std::fs::File::from(read)),
        status: None,
    })
}

/// A non-blocking connect under way.
fn connect(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpStream> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd: OwnedFd = crate::sys::fs::stream_socket(family)?;
    let to = SockaddrStorage::from(addr);
    match socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &to) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => Ok(std::net::TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

/// Whether the connect finished well (the socket is writable).
fn connected(sock: &std::net::TcpStream) -> crate::error::Result<()> {
    use crate::error::Error;
    match socket::getsockopt(sock, sockopt::SocketError) {
        Ok(0) => Ok(()),
        Ok(errno) => Err(Error::invalid(
            std::io::Error::from_raw_os_error(errno)
                .to_string()
                .replace(" (os error", " ("),
        )),
        Err(e) => Err(Error::invalid(e.to_string())),
    }
}

/// Read what is there (at most [`OUTPUT_KEPT`] kept); true at EOF or error.
fn drain(from: &mut impl Read, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => {
                let room = OUTPUT_KEPT.saturating_sub(into.len());
                into.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

/// `HTTP/1.1 200 OK`: 2xx and 3xx pass.
fn http_verdict(line: &str) -> Verdict {
    let code = line.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(200..=399) => (true, line.trim().to_string()),
        Some(_) => (false, line.trim().to_string()),
        None => (false, format!("not an HTTP status line: '{}'", line.trim())),
    }
}

/// The last lines of the output, on one line, at most [`OUTPUT_SHOWN`].
fn shown(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut joined = lines.join(" | ");
    if joined.chars().count() > OUTPUT_SHOWN {
        let skip = joined.chars().count() - OUTPUT_SHOWN;
        joined = format!("…{}", joined.chars().skip(skip).collect::<String>());
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_status_lines() {
        assert!(http_verdict("HTTP/1.1 200 OK").0);
        assert!(http_verdict("HTTP/1.0 302 Found").0);
        assert_eq!(
            http_verdict("HTTP/1.1 503 Service Unavailable"),
            (false, "HTTP/1.1 503 Service Unavailable".into())
        );
        assert!(!http_verdict("SSH-2.0-OpenSSH").0);
    }

    #[test]
    fn output_is_the_last_lines_on_one_line() {
        assert_eq!(shown(b"\nno response\n  \nsecond\n"), "no response | second");
        let long = "x".repeat(1000);
        let s = shown(long.as_bytes());
        assert_eq!(s.chars().count(), OUTPUT_SHOWN + 1);
        assert!(s.starts_with('…'));
    }

    #[test]
    fn tcp_probe_against_a_listener_and_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let svc = Service::program(vec!["true".into()], None);
        let mut p = ProbeRun::start(&Probe::Tcp(addr), &svc, Duration::from_secs(5), ProbeFor::Ready).unwrap();
        let verdict = wait(&mut p);
        assert_eq!(verdict, (true, String::new()));
        drop(listener);
        let mut p = ProbeRun::start(&Probe::Tcp(addr), &svc, Duration::from_secs(5), ProbeFor::Ready);
        let verdict = match &mut p {
            Ok(p) => wait(p),
            Err(v) => v.clone(),
        };
        assert!(!verdict.0, "{verdict:?}");
        assert!(verdict.1.contains("refused"), "{verdict:?}");
    }

    /// Poll the probe's descriptor until it has a verdict.
    fn wait(p: &mut ProbeRun) -> Verdict {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        for _ in 0..100 {
            let (fd, write) = p.poll_fd().unwrap();
            let flags = if write { PollFlags::POLLOUT } else { PollFlags::POLLIN };
            let mut fds = [PollFd::new(fd, flags)];
            poll(&mut fds, PollTimeout::from(100u16)).unwrap();
            if let Some(v) = p.on_ready() {
                return v;
            }
        }
        panic!("no verdict");
    }
}
