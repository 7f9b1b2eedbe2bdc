//! `immortalsvc`'s own socket, `$IMMORTAL_SDIR/immortalsvc.sock`, and with
//! `-metrics ADDR:PORT` a TCP port serving `/metrics` only:
//!
//! | request        | answer                                                  |
//! |----------------|---------------------------------------------------------|
//! | `GET /`, `/status` | every service's status, a JSON list (`{"name", "Err"}` for one that does not answer), with those that have no supervisor ([`GET /waiting`](Hub::set_unstarted)) |
//! | `GET /waiting` | the services immortalsvc does not run now and why, as statuses (`"reason": "waiting for db (invalid: …)"`): answered at once, no supervisor asked |
//! | `GET /metrics` | every service's series, each family declared once, plus `immortalsvc_services` and `immortalsvc_unreachable` |
//! | `GET /events`  | every service's events, merged (≤ 16 readers, overflow as a supervisor's) |
//!
//! Everything runs in immortalsvc's one poll loop and asks the supervisors
//! through their sockets, non-blocking: a request fans out to every
//! supervisor ([`MAX_IN_FLIGHT`] at a time), each answer is read as it
//! comes, and the reply goes out when the last has arrived or
//! [`api::CLIENT_TIMEOUT`] has passed. While nobody asks, nothing here has
//! a deadline and the supervisors are not woken. The merged event stream
//! holds one `/events` connection per supervisor only while it has readers.

use super::fleet::Unstarted;
use crate::api::{self, Client, HalfClose, Progress, Route};
use crate::error::{Context, Error, Result};
use crate::events::{self, Watcher};
use crate::metrics;
use nix::poll::PollFlags;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Supervisors asked at once by one request (each is a descriptor).
pub const MAX_IN_FLIGHT: usize = 256;
/// A supervisor whose event stream could not be opened yet (just started)
/// is tried again this often, while there are readers.
const UPSTREAM_RETRY: Duration = Duration::from_millis(250);
/// How long a request waits for the supervisors' answers.
const GATHER_TIMEOUT: Duration = Duration::from_secs(4);
/// Largest answer taken from one supervisor.
const MAX_ANSWER: usize = 1 << 20;

/// A client's connection: the Unix socket, or the `-metrics` TCP port.
pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl HalfClose for Conn {
    fn close_write(&self) {
        match self {
            Conn::Unix(s) => s.close_write(),
            Conn::Tcp(s) => s.close_write(),
        }
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Conn::Unix(s) => s.as_fd(),
            Conn::Tcp(s) => s.as_fd(),
        }
    }
}

/// Connect to a supervisor's socket without ever blocking (a stopped
/// supervisor's full backlog is an error, not a wait).
fn connect(path: &Path) -> std::io::Result<UnixStream> {
    use nix::sys::socket::{AddressFamily, UnixAddr};
    let fd = crate::sys::fs::stream_socket(AddressFamily::Unix)?;
    let addr = UnixAddr::new(path)?;
    nix::sys::socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr)?;
    Ok(UnixStream::from(fd))
}

fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: immortalsvc\r\nConnection: close\r\n\r\n").into_bytes()
}

/// One request to one supervisor, read to its end (also how the scanner
/// asks a supervisor to `restart`).
pub(super) struct Fetch {
    name: String,
    stream: UnixStream,
    out: Vec<u8>,
    sent: usize,
    answer: Vec<u8>,
}

pub(super) type Answer = Result<(u16, String)>;

impl Fetch {
    /// Connect to the socket `sock` and send `GET path`, never blocking.
    pub(super) fn start(sock: &Path, name: &str, path: &str) -> Result<Fetch> {
        let stream = connect(sock).map_err(|e| Error::invalid(format!("supervisor not answering: {e}")))?;
        let mut f = Fetch {
            name: name.to_string(),
            stream,
            out: request(path),
            sent: 0,
            answer: Vec::new(),
        };
        match f.write() {
            Some(Err(e)) => Err(e),
            _ => Ok(f),
        }
    }

    /// Send what the socket takes; an error ends the fetch.
    fn write(&mut self) -> Option<Answer> {
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Some(Err(Error::invalid("the supervisor closed the connection"))),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Some(Err(Error::invalid(format!("asking: {e}")))),
            }
        }
        None
    }

    pub(super) fn wants_write(&self) -> bool {
        self.sent < self.out.len()
    }

    /// What to poll, and for what.
    pub(super) fn poll_fd(&self) -> (BorrowedFd<'_>, PollFlags) {
        let flags = if self.wants_write() {
            PollFlags::POLLOUT
        } else {
            PollFlags::POLLIN
        };
        (self.stream.as_fd(), flags)
    }

    /// Progress; the answer once the supervisor has closed.
    pub(super) fn on_ready(&mut self) -> Option<Answer> {
        if self.wants_write() {
            return self.write();
        }
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Some(parse_answer(&self.answer)),
                Ok(n) => {
                    self.answer.extend_from_slice(&buf[..n]);
                    if self.answer.len() > MAX_ANSWER {
                        return Some(Err(Error::invalid("answer too large")));
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(e) => return Some(Err(Error::invalid(format!("reading the answer: {e}")))),
            }
        }
    }
}

fn parse_answer(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| Error::invalid("incomplete answer"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Error::invalid("malformed answer"))?;
    Ok((code, body.to_string()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Status,
    Metrics,
}

/// A request being answered from every supervisor's answer.
struct Gather {
    client: Client<Conn>,
    ask: Ask,
    /// Services not asked yet.
    waiting: Vec<String>,
    in_flight: Vec<Fetch>,
    answers: Vec<(String, Answer)>,
    deadline: Instant,
}

/// A supervisor's event stream, while immortalsvc has readers.
struct Upstream {
    name: String,
    stream: UnixStream,
    buf: Vec<u8>,
    head_done: bool,
}

/// What a polled descriptor of the hub is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Listener,
    Tcp,
    Client(usize),
    Fetch(usize, usize),
    Watcher(usize),
    Upstream(usize),
}

pub struct Hub {
    sdir: PathBuf,
    /// The socket file and its inode, removed at exit if still ours.
    path: PathBuf,
    inode: u64,
    listener: UnixListener,
    tcp: Option<TcpListener>,
    clients: Vec<Client<Conn>>,
    gathers: Vec<Gather>,
    watchers: Vec<Watcher>,
    upstreams: Vec<Upstream>,
    /// When to try again to open the event streams of supervisors that
    /// had none yet.
    retry_at: Option<Instant>,
    /// Out of descriptors (accept failed): the listeners are not polled
    /// until then, rather than spin on them.
    accept_paused: Option<Instant>,
    /// The statuses of services with no supervisor ([`Hub::set_unstarted`]).
    unstarted: Vec<serde_json::Value>,
}

/// A service with no supervisor, as a status in the API's shape.
fn unstarted_status(u: &Unstarted) -> serde_json::Value {
    serde_json::json!({
        "name": u.name,
        "pid": 0,
        "cmd": u.cmd.join(" "),
        "state": if u.waiting { "wait" } else { "down" },
        "want": "up",
        "reason": u.why,
    })
}

impl Hub {
    /// Bind `$IMMORTAL_SDIR/immortalsvc.sock` (mode 0660) and the
    /// `-metrics` address if given.
    pub fn new(sdir: &Path, metrics_addr: Option<&str>) -> Result<Hub> {
        let path = sdir.join(crate::layout::IMMORTALSVC_SOCKET);
        crate::sys::fs::check_owner(&path)?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).ctx("remove stale", &path),
        }
        let listener = UnixListener::bind(&path).ctx("bind", &path)?;
        listener.set_nonblocking(true).ctx("configure", &path)?;
        crate::sys::fs::set_mode(&path, 0o660)?;
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).ctx("stat", &path)?);
        let tcp = match metrics_addr {
            Some(addr) => {
                let l = TcpListener::bind(addr).map_err(|e| Error::invalid(format!("-metrics {addr}: {e}")))?;
                l.set_nonblocking(true)
                    .map_err(|e| Error::invalid(format!("-metrics {addr}: {e}")))?;
                Some(l)
            }
            None => None,
        };
        Ok(Hub {
            sdir: sdir.to_path_buf(),
            path,
            inode,
            listener,
            tcp,
            clients: Vec::new(),
            gathers: Vec::new(),
            watchers: Vec::new(),
            upstreams: Vec::new(),
            retry_at: None,
            accept_paused: None,
            unstarted: Vec::new(),
        })
    }

    /// The services that have no supervisor, and why: shown by `GET /`
    /// beside the others, and by `GET /waiting` (what `immortalctl` asks).
    pub fn set_unstarted(&mut self, unstarted: &[Unstarted]) {
        self.unstarted = unstarted.iter().map(unstarted_status).collect();
    }

    /// The address `-metrics` is bound to (port 0 picks one).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags, Tag)> {
        let (r, w) = (PollFlags::POLLIN, PollFlags::POLLOUT);
        let mut v = Vec::new();
        if self.accept_paused.is_none() {
            v.push((self.listener.as_fd(), r, Tag::Listener));
            if let Some(l) = &self.tcp {
                v.push((l.as_fd(), r, Tag::Tcp));
            }
        }
        for (k, c) in self.clients.iter().enumerate() {
            v.push((c.stream.as_fd(), if c.wants_write() { w } else { r }, Tag::Client(k)));
        }
        for (g, gather) in self.gathers.iter().enumerate() {
            for (f, fetch) in gather.in_flight.iter().enumerate() {
                v.push((
                    fetch.stream.as_fd(),
                    if fetch.wants_write() { w } else { r },
                    Tag::Fetch(g, f),
                ));
            }
        }
        for (k, wt) in self.watchers.iter().enumerate() {
            v.push((wt.stream.as_fd(), wt.interest(), Tag::Watcher(k)));
        }
        for (k, u) in self.upstreams.iter().enumerate() {
            v.push((u.stream.as_fd(), r, Tag::Upstream(k)));
        }
        v
    }

    /// The next moment the hub must act (none while nobody asks).
    pub fn deadline(&self) -> Option<Instant> {
        let clients = self.clients.iter().map(|c| c.deadline);
        let gathers = self.gathers.iter().map(|g| g.deadline);
        let farewells = self.watchers.iter().filter_map(|w| w.closing);
        clients
            .chain(gathers)
            .chain(farewells)
            .chain(self.retry_at)
            .chain(self.accept_paused)
            .min()
    }

    /// Handle what the poll reported; `services` are the names of the
    /// services whose supervisors run.
    pub fn handle(&mut self, ready: &[Tag], services: &[String]) {
        let mut accept = (false, false);
        let mut clients = Vec::new();
        let mut fetches = Vec::new();
        let mut watchers = Vec::new();
        let mut upstreams = Vec::new();
        for tag in ready {
            match *tag {
                Tag::Listener => accept.0 = true,
                Tag::Tcp => accept.1 = true,
                Tag::Client(k) => clients.push(k),
                Tag::Fetch(g, f) => fetches.push((g, f)),
                Tag::Watcher(k) => watchers.push(k),
                Tag::Upstream(k) => upstreams.push(k),
            }
        }
        // Removals from the end keep the other indices valid.
        for &k in upstreams.iter().rev() {
            self.on_upstream(k);
        }
        // on_upstream's broadcasts may have dropped readers: an index may
        // be past the end, or name another reader (harmless: non-blocking).
        for &k in watchers.iter().rev() {
            let Some(w) = self.watchers.get_mut(k) else { continue };
            let fate = if w.wants_write() { w.flush() } else { w.on_readable() };
            if fate == events::Fate::Gone {
                self.watchers.swap_remove(k);
            }
        }
        fetches.sort_unstable();
        for &(g, f) in fetches.iter().rev() {
            if let Some(answer) = self.gathers[g].in_flight[f].on_ready() {
                let fetch = self.gathers[g].in_flight.swap_remove(f);
                self.gathers[g].answers.push((fetch.name, answer));
            }
        }
        for &k in clients.iter().rev() {
            self.on_client(k, services);
        }
        let mut failed = false;
        if accept.0 {
            let (accepted, error) = accept_all(|| self.listener.accept().map(|(s, _)| s));
            failed |= error;
            for s in accepted {
                self.add_client(Conn::Unix(s));
            }
        }
        if let (true, Some(l)) = (accept.1, &self.tcp) {
            let (accepted, error) = accept_all(|| l.accept().map(|(s, _)| s));
            failed |= error;
            for s in accepted {
                self.add_client(Conn::Tcp(s));
            }
        }
        if failed {
            self.accept_paused = Some(Instant::now() + Duration::from_millis(100));
        }
        self.tick(services);
    }

    /// Timers and progress: launch what may be launched, answer what is
    /// complete or overdue, keep the event streams open.
    pub fn tick(&mut self, services: &[String]) {
        let now = Instant::now();
        if self.accept_paused.is_some_and(|at| at <= now) {
            self.accept_paused = None;
        }
        for g in (0..self.gathers.len()).rev() {
            self.launch(g);
            let gather = &mut self.gathers[g];
            if now >= gather.deadline {
                for f in gather.in_flight.drain(..) {
                    gather.answers.push((f.name, Err(Error::invalid("no answer in time"))));
                }
                for name in gather.waiting.drain(..) {
                    gather.answers.push((name, Err(Error::invalid("not asked in time"))));
                }
            }
            if gather.in_flight.is_empty() && gather.waiting.is_empty() {
                let gather = self.gathers.swap_remove(g);
                self.reply(gather);
            }
        }
        self.clients.retain(|c| c.deadline > now);
        self.watchers.retain(|w| !w.expired(now));
        if self.watchers.is_empty() {
            self.upstreams.clear();
            self.retry_at = None;
        } else if self.retry_at.is_none_or(|at| at <= now) {
            self.open_upstreams(services);
        }
    }

    fn add_client(&mut self, conn: Conn) {
        let ok = match &conn {
            Conn::Unix(s) => s.set_nonblocking(true).is_ok(),
            Conn::Tcp(s) => s.set_nonblocking(true).is_ok(),
        };
        if !ok {
            return;
        }
        if self.clients.len() + self.gathers.len() >= api::MAX_CLIENTS {
            api::turn_away(conn, 503, "too many clients");
            return;
        }
        self.clients.push(Client::of(conn, Instant::now()));
    }

    fn on_client(&mut self, k: usize, services: &[String]) {
        let c = &mut self.clients[k];
        let progress = if c.wants_write() {
            c.on_writable()
        } else {
            c.on_readable()
        };
        let tcp = matches!(c.stream, Conn::Tcp(_));
        let progress = match progress {
            Progress::Request(route) => match (route, tcp) {
                (Route::Metrics, _) => return self.gather(k, Ask::Metrics, services),
                (Route::Status, false) => return self.gather(k, Ask::Status, services),
                (Route::Events, false) => {
                    let c = self.clients.swap_remove(k);
                    let Conn::Unix(stream) = c.stream else { return };
                    if self.watchers.len() >= events::MAX_WATCHERS {
                        api::turn_away(&stream, 503, "too many event readers");
                        return;
                    }
                    let mut w = Watcher::new(stream, "");
                    if w.flush() == events::Fate::Keep {
                        self.watchers.push(w);
                    }
                    return;
                }
                (Route::Signal(_), false) => self.clients[k].reply(
                    404,
                    &api::error_body("immortalsvc takes no commands: use the service's own socket"),
                ),
                (Route::NotFound(path), false) if path == crate::layout::IMMORTALSVC_WAITING => {
                    let list = serde_json::Value::Array(self.unstarted.clone());
                    self.clients[k].reply(200, &(list.to_string() + "\n"))
                }
                (route, _) => {
                    let path = match route {
                        Route::NotFound(p) => p,
                        Route::History => "/history".into(),
                        _ => "this path".into(),
                    };
                    self.clients[k].reply(404, &api::error_body(&format!("not found: {path}")))
                }
            },
            other => other,
        };
        if progress == Progress::Close {
            self.clients.swap_remove(k);
        }
    }

    /// Ask every service for `ask` on behalf of client `k`.
    fn gather(&mut self, k: usize, ask: Ask, services: &[String]) {
        let client = self.clients.swap_remove(k);
        self.gathers.push(Gather {
            client,
            ask,
            waiting: services.iter().rev().cloned().collect(),
            in_flight: Vec::new(),
            answers: Vec::new(),
            deadline: Instant::now() + GATHER_TIMEOUT,
        });
        let g = self.gathers.len() - 1;
        self.launch(g);
    }

    /// Start fetches of gather `g` up to the in-flight limit (shared by all
    /// requests: it bounds immortalsvc's descriptors).
    fn launch(&mut self, g: usize) {
        let path = match self.gathers[g].ask {
            Ask::Status => "/status",
            Ask::Metrics => "/metrics",
        };
        loop {
            let busy: usize = self.gathers.iter().map(|x| x.in_flight.len()).sum();
            if busy >= MAX_IN_FLIGHT {
                return;
            }
            let Some(name) = self.gathers[g].waiting.pop() else {
                return;
            };
            let sock = self.sdir.join(&name).join(crate::layout::SOCKET);
            match Fetch::start(&sock, &name, path) {
                Ok(f) => self.gathers[g].in_flight.push(f),
                Err(e) => self.gathers[g].answers.push((name, Err(e))),
            }
        }
    }

    fn reply(&mut self, mut gather: Gather) {
        gather.answers.sort_by(|a, b| a.0.cmp(&b.0));
        let out = match gather.ask {
            Ask::Status => {
                let mut list: Vec<(String, serde_json::Value)> = gather
                    .answers
                    .iter()
                    .map(|(name, answer)| {
                        let v = match answer {
                            Ok((200, body)) => serde_json::from_str(body)
                                .unwrap_or_else(|_| serde_json::json!({ "name": name, "Err": "bad status JSON" })),
                            Ok((code, _)) => serde_json::json!({ "name": name, "Err": format!("answered {code}") }),
                            Err(e) => serde_json::json!({ "name": name, "Err": e.to_string() }),
                        };
                        (name.clone(), v)
                    })
                    .collect();
                // Those with no supervisor, in their place by name.
                let asked: Vec<String> = gather.answers.iter().map(|(n, _)| n.clone()).collect();
                list.extend(
                    self.unstarted
                        .iter()
                        .map(|v| (v["name"].as_str().unwrap_or("").to_string(), v.clone()))
                        .filter(|(n, _)| !asked.contains(n)),
                );
                list.sort_by(|a, b| a.0.cmp(&b.0));
                let list: Vec<serde_json::Value> = list.into_iter().map(|(_, v)| v).collect();
                api::response(200, &(serde_json::to_string(&list).unwrap_or_default() + "\n"))
            }
            Ask::Metrics => {
                let texts: Vec<&str> = gather
                    .answers
                    .iter()
                    .filter_map(|(_, a)| match a {
                        Ok((200, body)) => Some(body.as_str()),
                        _ => None,
                    })
                    .collect();
                let unreachable = gather.answers.len() - texts.len();
                let mut own = metrics::Exposition::default();
                own.add(
                    "immortalsvc_services",
                    metrics::Kind::Gauge,
                    "Services with a supervisor, asked for this scrape.",
                    "",
                    gather.answers.len() as f64,
                );
                own.add(
                    "immortalsvc_unreachable",
                    metrics::Kind::Gauge,
                    "Services whose supervisor did not answer this scrape.",
                    "",
                    unreachable as f64,
                );
                let own = own.render();
                let body = metrics::merge(texts.into_iter().chain([own.as_str()]));
                api::response_typed(200, metrics::CONTENT_TYPE, &body)
            }
        };
        let mut client = gather.client;
        // Its time to take the answer starts now.
        client.deadline = Instant::now() + api::CLIENT_TIMEOUT;
        if client.reply_raw(out) == Progress::Wait {
            self.clients.push(client);
        }
    }

    /// Open the event stream of every running supervisor that has none.
    fn open_upstreams(&mut self, services: &[String]) {
        self.retry_at = None;
        self.upstreams.retain(|u| services.contains(&u.name));
        for name in services {
            if self.upstreams.iter().any(|u| &u.name == name) {
                continue;
            }
            let sock = self.sdir.join(name).join(crate::layout::SOCKET);
            let opened = connect(&sock).and_then(|mut s| {
                s.write_all(&request("/events"))?;
                Ok(s)
            });
            match opened {
                Ok(stream) => self.upstreams.push(Upstream {
                    name: name.clone(),
                    stream,
                    buf: Vec::new(),
                    head_done: false,
                }),
                // Just started, not listening yet: soon.
                Err(_) => self.retry_at = Some(Instant::now() + UPSTREAM_RETRY),
            }
        }
    }

    /// Lines from a supervisor's stream go to every reader.
    fn on_upstream(&mut self, k: usize) {
        let mut buf = [0u8; 16 * 1024];
        let u = &mut self.upstreams[k];
        let ended = loop {
            match u.stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => u.buf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(_) => break true,
            }
        };
        if !u.head_done {
            if let Some(end) = u.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                // Refused (16 readers already): no stream from it.
                let ok = u.buf.starts_with(b"HTTP/1.1 200");
                u.buf.drain(..end + 4);
                u.head_done = true;
                if !ok {
                    u.buf.clear();
                }
            }
        }
        if u.head_done {
            if let Some(last) = u.buf.iter().rposition(|&b| b == b'\n') {
                let lines: Vec<u8> = u.buf.drain(..=last).collect();
                let text = String::from_utf8_lossy(&lines).into_owned();
                for line in text.split_inclusive('\n') {
                    events::broadcast(&mut self.watchers, line);
                }
            }
        }
        if ended || self.upstreams[k].buf.len() > MAX_ANSWER {
            self.upstreams.swap_remove(k);
            // Its supervisor may be restarting: try again soon.
            self.retry_at = Some(Instant::now() + UPSTREAM_RETRY);
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let ours =
            std::fs::symlink_metadata(&self.path).is_ok_and(|m| std::os::unix::fs::MetadataExt::ino(&m) == self.inode);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Every connection waiting on a listener; `true` with them when accepting
/// failed for another reason than "none left" (out of descriptors).
fn accept_all<S>(mut accept: impl FnMut() -> std::io::Result<S>) -> (Vec<S>, bool) {
    let mut accepted = Vec::new();
    loop {
        match accept() {
            Ok(s) => accepted.push(s),
            Err(e) => {
                return (
                    accepted,
                    !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed() {
        assert_eq!(
            parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").ok(),
            Some((200, "{}".into()))
        );
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_answer(b"garbage\r\n\r\n").is_err());
    }
}
