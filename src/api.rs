//! The HTTP/1.1 JSON API on `immortal.sock` (Go immortal compatible).
//!
//! | request                      | answer                                  |
//! |------------------------------|-----------------------------------------|
//! | `GET /`, `GET /status`       | 200, [`StatusJson`]                     |
//! | `GET /history`               | 200, the last exits, newest first       |
//! | `GET /metrics`               | 200, Prometheus text ([`crate::metrics`]) |
//! | `GET /events`                | 200, NDJSON stream ([`crate::events`])  |
//! | `GET|POST /signal/NAME`      | 200, `{"Err":""}` or the error text; 403 unless [`may_control`] |
//! | anything else                | 404, `{"Err":"not found: PATH"}`         |
//!
//! Who asks is read from the connection (`SO_PEERCRED`, `getpeereid`): reads are for
//! anyone who can connect (the socket's mode decides), control is for
//! root, the supervisor's own uid and the members of `socket: group:`.
//!
//! Robustness: a request must be complete within [`CLIENT_TIMEOUT`] and fit
//! in [`MAX_REQUEST`] bytes, and at most [`MAX_CLIENTS`] are served at once;
//! the excess is answered 408/400/503 and closed (a request head over 8 KiB
//! is `400`, `{"Err":"request too large"}`, never routed). Every connection
//! is closed after one response. A client that shuts its sending side after
//! its request (`nc -N`, `socat`, HTTP/1.0 clients) is answered all the
//! same: only a connection closed before a complete request is not (an
//! incomplete one is `400`). Clients are non-blocking and driven by the
//! supervisor's poll, so none can stall supervision.

use crate::service::Service;
use crate::supervise::state::{AfterStop, Ask, ExitHow, Phase, State, Want};
use serde::Serialize;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub const MAX_REQUEST: usize = 8 * 1024;
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_CLIENTS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Status,
    /// `GET /history`: the last exits, newest first.
    History,
    Metrics,
    Events,
    Signal(String),
    NotFound(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Headers not complete yet.
    Partial,
    Request(Route),
    Bad,
    /// The request head is over [`MAX_REQUEST`] bytes.
    TooLarge,
}

/// Parse the request head in `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => {
            if buf.len() >= MAX_REQUEST {
                Parsed::TooLarge
            } else {
                Parsed::Partial
            }
        }
        Ok(httparse::Status::Complete(len)) if len > MAX_REQUEST => Parsed::TooLarge,
        Ok(httparse::Status::Complete(_)) => {
            let path = req.path.unwrap_or("/");
            // `curl http:/status` sends `/status`; strip any query string.
            let path = path.split('?').next().unwrap_or(path);
            let host = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("host"))
                .map(|h| String::from_utf8_lossy(h.value).into_owned());
            Parsed::Request(route(req.method.unwrap_or("GET"), path, host.as_deref()))
        }
        Err(_) => Parsed::Bad,
    }
}

/// `curl --unix-socket S http:/signal/down` sends `Host: signal` and the
/// path `/down` (curl reads `http:/x/y` as host `x`): route it as
/// `/signal/down`, so the URLs of the Go immortal's documentation work.
/// Likewise `http:/history`, `http:/metrics`, `http:/events` arrive as
/// `/` with that host.
fn route(method: &str, path: &str, host: Option<&str>) -> Route {
    if host == Some("signal") && !path.starts_with("/signal/") && path.len() > 1 {
        return route(method, &format!("/signal{path}"), None);
    }
    if let (Some(page @ ("history" | "metrics" | "events")), "/") = (host, path) {
        return route(method, &format!("/{page}"), None);
    }
    let readonly = method == "GET" || method == "HEAD";
    if readonly && (path == "/" || path == "/status") {
        return Route::Status;
    }
    if readonly && path == "/history" {
        return Route::History;
    }
    if readonly && path == "/metrics" {
        return Route::Metrics;
    }
    if readonly && path == "/events" {
        return Route::Events;
    }
    if readonly || method == "POST" {
        if let Some(name) = path.strip_prefix("/signal/") {
            if !name.is_empty() && !name.contains('/') {
                return Route::Signal(name.to_string());
            }
        }
    }
    Route::NotFound(path.to_string())
}

/// A complete HTTP response that closes the connection.
pub fn response(code: u16, body: &str) -> Vec<u8> {
    response_typed(code, "application/json", body)
}

/// [`response`] with another `Content-Type`.
pub fn response_typed(code: u16, content_type: &str, body: &str) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        503 => "Service Unavailable",
        _ => "Error",
    };
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A JSON error body in the Go immortal's shape.
pub fn error_body(msg: &str) -> String {
    serde_json::json!({ "Err": msg }).to_string() + "\n"
}

/// `GET /status`: the Go immortal's fields plus ours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusJson {
    pub pid: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub up: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down: Option<String>,
    pub cmd: String,
    pub fpid: bool,
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub name: String,
    pub state: &'static str,
    pub want: &'static str,
    pub paused: bool,
    pub exit: Option<ExitJson>,
    /// Why the service is not running, when it is not what was asked for
    /// (`exec failed: No such file or directory`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Running and ready (readiness: notification fd, sd_notify, a probe;
    /// without a method, running is ready).
    pub ready: bool,
    /// How long the running process took to become ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_in: Option<String>,
    /// With `health:`: whether the last probe passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// The last failed health probe's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// sd_notify's `STATUS=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The `log:` file, absolute (`immortalctl log` reads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// The sockets held for the service (`listen:`): `tcp 0.0.0.0:8080
    /// (fd 3)`, in descriptor order; filled in by the supervisor, which
    /// holds them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    /// While a stop is under way: what was sent, when, and what follows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopping: Option<StoppingJson>,
}

/// A stop under way: `{"signal": "TERM", "since": "2.1s", "kill_in":
/// "7.9s", "then": "down"}` (`kill_in` only until KILL is sent, and only
/// with a stop timeout).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoppingJson {
    pub signal: String,
    pub since: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill_in: Option<String>,
    /// `down`, `restart` or `exit`.
    pub then: &'static str,
}

/// What the table says of a stop under way.
fn stopping_of(s: &State, now: Instant) -> Option<StoppingJson> {
    let Phase::Stopping {
        sent,
        kill_at,
        killed,
        then,
        ..
    } = &s.phase
    else {
        return None;
    };
    let signal = if *killed {
        "KILL"
    } else {
        crate::signal::short_name(s.policy.stop.signal)
    };
    Some(StoppingJson {
        signal: signal.to_string(),
        since: since(now.saturating_duration_since(*sent)),
        kill_in: kill_at
            .filter(|_| !killed)
            .map(|at| since(at.saturating_duration_since(now))),
        then: match then {
            AfterStop::Down(_) | AfterStop::Fail(_) => "down",
            AfterStop::Start | AfterStop::Unhealthy(_) => "restart",
            AfterStop::Exit(_) => "exit",
        },
    })
}

/// One entry of `GET /history`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryJson {
    /// When it exited, RFC 3339.
    pub time: String,
    /// 0: the command never started.
    pub pid: i32,
    /// How long it ran, seconds.
    pub uptime: f64,
    /// Absent when nobody could read it (not our child).
    #[serde(flatten)]
    pub how: Option<ExitJson>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ExitJson {
    Code { code: i32 },
    Signal { signal: String },
}

/// How an exit is shown: `{"code": 1}` or `{"signal": "TERM"}`.
pub fn exit_json(how: ExitHow) -> ExitJson {
    match how {
        ExitHow::Code(code) => ExitJson::Code { code },
        ExitHow::Signal(sig) => ExitJson::Signal {
            signal: crate::signal::name_of(sig),
        },
    }
}

/// `GET /status`: what a supervisor's table says of its service.
pub fn status_of(s: &State, svc: &Service, name: String, now: Instant) -> StatusJson {
    let down_since = Some(since(now.saturating_duration_since(s.changed)));
    let running = |at: Instant| ("run", Some(since(now.saturating_duration_since(at))), None, None);
    let (state, up, down, status) = match &s.phase {
        Phase::Running { main, .. } | Phase::Asked(Ask::HandOver { main, .. }) => running(main.since),
        Phase::Stopping { since, .. } => running(*since),
        Phase::Finishing { .. } => ("finish", None, down_since, None),
        Phase::Waiting { at, .. } => {
            let secs = at.saturating_duration_since(now).as_secs_f64();
            ("wait", None, down_since, Some(format!("Starting in {secs:.1} seconds")))
        }
        Phase::Down { .. } | Phase::Asked(Ask::Spawn | Ask::PidFile | Ask::Leftovers(_)) => {
            ("down", None, down_since, None)
        }
        Phase::Failed { .. } => ("failed", None, down_since, None),
        Phase::Done { .. } => ("done", None, down_since, None),
    };
    StatusJson {
        pid: s.tracked_pid().or(s.last.pid).map_or(0, |p| p.as_raw()),
        up,
        down,
        cmd: svc.command.join(" "),
        fpid: s.following(),
        count: s.tally.count,
        status,
        name,
        state,
        want: match s.want {
            Want::Up => "up",
            Want::Down | Want::Exit(_) => "down",
            Want::Once => "once",
        },
        paused: s.main().is_some_and(|m| m.paused),
        reason: s.reason(now),
        exit: s.last.end.as_ref().and_then(|e| e.how).map(exit_json),
        ready: s.is_ready(),
        ready_in: s.ready_in().map(since),
        // A check that never passed is no pass (SPEC §11).
        healthy: svc.health.as_ref().filter(|_| s.is_ready()).map(|_| s.is_healthy()),
        health: s.health_text().map(str::to_string),
        note: s.live().and_then(|l| l.note.clone()),
        log: svc
            .log
            .as_ref()
            .map(|l| crate::layout::absolute(&l.file).display().to_string()),
        stopping: stopping_of(s, now),
        listen: Vec::new(),
    }
}

/// `GET /history`: the last exits, newest first (`wall` is `now` on the
/// wall clock).
pub fn history_of(s: &State, now: Instant, wall: std::time::SystemTime) -> Vec<HistoryJson> {
    s.history
        .iter()
        .map(|e| HistoryJson {
            time: crate::timefmt::rfc3339(wall.checked_sub(now.saturating_duration_since(e.at)).unwrap_or(wall)),
            pid: e.pid.map_or(0, |p| p.as_raw()),
            uptime: (e.uptime.as_secs_f64() * 1000.0).round() / 1000.0,
            how: e.how.map(exit_json),
            reason: e.reason.clone(),
        })
        .collect()
}

/// The Go immortal's `AbsSince` format: `1d2h3m4.5s`, rounded to tenths,
/// leading zero units left out.
pub fn since(d: Duration) -> String {
    let tenths = (d.as_millis() + 50) / 100;
    let (days, rest) = (tenths / 864_000, tenths % 864_000);
    let (hours, rest) = (rest / 36_000, rest % 36_000);
    let (mins, rest) = (rest / 600, rest % 600);
    let (secs, frac) = (rest / 10, rest % 10);
    let mut out = String::new();
    if days > 0 {
        out += &format!("{days}d");
    }
    if hours > 0 {
        out += &format!("{hours}h");
    }
    if mins > 0 {
        out += &format!("{mins}m");
    }
    out + &format!("{secs}.{frac}s")
}

/// Who is at the other end of a connection, as the kernel vouches
/// ([`crate::sys::peer`]: as it was when it connected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// 0 where the system does not say.
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Peer {
    pub fn of(stream: &UnixStream) -> Option<Peer> {
        use std::os::fd::AsFd;
        let c = crate::sys::peer::of(stream.as_fd())?;
        Some(Peer {
            pid: c.pid,
            uid: c.uid,
            gid: c.gid,
        })
    }

    /// `uid 1000 (pid 4242)`, for the log.
    pub fn describe(peer: Option<Peer>) -> String {
        match peer {
            Some(p) if p.pid > 0 => format!("uid {} (pid {})", p.uid, p.pid),
            Some(p) => format!("uid {}", p.uid),
            None => "an unknown peer".into(),
        }
    }

    /// Its supplementary groups, as the system shows them (empty if it has
    /// gone, or where the system does not show them: then only its primary
    /// group counts). The pid must still be the peer's user (a reused pid
    /// of another user gives nothing).
    pub fn groups(&self) -> Vec<u32> {
        if self.pid <= 0 {
            return Vec::new();
        }
        crate::sys::process::groups_of(nix::unistd::Pid::from_raw(self.pid), self.uid)
    }
}

/// Whether `peer` may send commands: root, the supervisor's own uid, or a
/// member (primary or supplementary, `groups`) of the socket's `group`.
pub fn may_control(peer: Option<Peer>, own_uid: u32, group: Option<u32>, groups: &[u32]) -> bool {
    let Some(p) = peer else { return false };
    p.uid == 0 || p.uid == own_uid || group.is_some_and(|g| p.gid == g || groups.contains(&g))
}

/// One connection on the socket (or, for `immortalsvc -metrics`, TCP).
pub struct Client<S = UnixStream> {
    pub stream: S,
    pub peer: Option<Peer>,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    pub deadline: Instant,
}

/// What the supervisor must do with a client after an I/O event.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Keep it; nothing to do yet.
    Wait,
    /// A request arrived: answer it with [`Client::reply`].
    Request(Route),
    /// Finished or failed: drop it.
    Close,
}

impl Client {
    /// A client of a Unix socket: who it is comes with it.
    pub fn new(stream: UnixStream, now: Instant) -> Client {
        let peer = Peer::of(&stream);
        Client {
            peer,
            ..Client::of(stream, now)
        }
    }
}

impl<S: Read + Write + HalfClose> Client<S> {
    /// A client on any stream (no peer credentials).
    pub fn of(stream: S, now: Instant) -> Client<S> {
        Client {
            peer: None,
            stream,
            inbuf: Vec::new(),
            out: Vec::new(),
            sent: 0,
            deadline: now + CLIENT_TIMEOUT,
        }
    }

    /// No complete request from it yet (idle, slow, or not arrived).
    pub fn awaiting_request(&self) -> bool {
        self.out.is_empty()
    }

    /// Whether the client is waiting for us to write.
    pub fn wants_write(&self) -> bool {
        self.sent < self.out.len()
    }

    /// Read what is available; report a complete request.
    pub fn on_readable(&mut self) -> Progress {
        if !self.out.is_empty() {
            // Answered already: whatever more it sends is ignored.
            let mut sink = [0u8; 512];
            return match self.stream.read(&mut sink) {
                Ok(0) => Progress::Close,
                _ => Progress::Wait,
            };
        }
        let mut chunk = [0u8; 2048];
        // The client may shut its sending side right after its request
        // (`nc -N`, `socat`, an HTTP/1.0 client): the end of its input is
        // not the end of the connection, and what came before it is
        // answered.
        let mut ended = false;
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => {
                    self.inbuf.extend_from_slice(&chunk[..n]);
                    if self.inbuf.len() > MAX_REQUEST {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Progress::Close,
            }
        }
        match parse(&self.inbuf) {
            // Connected and closed without a word: nothing to answer.
            Parsed::Partial if ended && self.inbuf.is_empty() => Progress::Close,
            Parsed::Partial if ended => self.reply(400, &error_body("incomplete request")),
            Parsed::Partial => Progress::Wait,
            Parsed::Request(route) => Progress::Request(route),
            Parsed::Bad => self.reply(400, &error_body("bad request")),
            Parsed::TooLarge => self.reply(400, &error_body("request too large")),
        }
    }

    /// Queue a response and send as much as the socket takes.
    pub fn reply(&mut self, code: u16, body: &str) -> Progress {
        self.reply_raw(response(code, body))
    }

    /// Queue a complete response.
    pub fn reply_raw(&mut self, out: Vec<u8>) -> Progress {
        self.out = out;
        self.sent = 0;
        self.on_writable()
    }

    pub fn on_writable(&mut self) -> Progress {
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Progress::Close,
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Wait,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return Progress::Close,
            }
        }
        self.stream.close_write();
        Progress::Close
    }
}

/// Streams whose write side can be shut (the response is complete).
pub trait HalfClose {
    fn close_write(&self);
}

impl HalfClose for UnixStream {
    fn close_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl HalfClose for std::net::TcpStream {
    fn close_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

/// Best effort, never blocking: tell a client we cannot serve it.
pub fn turn_away(mut stream: impl Write, code: u16, msg: &str) {
    // Our streams are non-blocking already (accepted so, or set so).
    let _ = stream.write(&response(code, &error_body(msg)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_matches_go_abs_since() {
        assert_eq!(since(Duration::from_millis(0)), "0.0s");
        assert_eq!(since(Duration::from_millis(7940)), "7.9s");
        assert_eq!(since(Duration::from_millis(7960)), "8.0s");
        assert_eq!(since(Duration::from_secs(61)), "1m1.0s");
        assert_eq!(since(Duration::from_secs(3600 + 4)), "1h4.0s");
        assert_eq!(
            since(Duration::from_millis(((24 + 2) * 3600 + 3 * 60 + 4) * 1000 + 500)),
            "1d2h3m4.5s"
        );
    }

    #[test]
    fn routes() {
        let p = |s: &str| parse(s.as_bytes());
        assert_eq!(p("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Parsed::Request(Route::Status));
        assert_eq!(p("GET /status HTTP/1.1\r\n\r\n"), Parsed::Request(Route::Status));
        assert_eq!(p("GET /status?x=1 HTTP/1.0\r\n\r\n"), Parsed::Request(Route::Status));
        assert_eq!(p("GET /history HTTP/1.1\r\n\r\n"), Parsed::Request(Route::History));
        assert_eq!(
            p("POST /history HTTP/1.1\r\n\r\n"),
            Parsed::Request(Route::NotFound("/history".into()))
        );
        assert_eq!(p("GET /metrics HTTP/1.1\r\n\r\n"), Parsed::Request(Route::Metrics));
        assert_eq!(p("GET /events HTTP/1.1\r\n\r\n"), Parsed::Request(Route::Events));
        assert_eq!(
            p("GET /signal/hup HTTP/1.1\r\n\r\n"),
            Parsed::Request(Route::Signal("hup".into()))
        );
        assert_eq!(
            p("POST /signal/u HTTP/1.1\r\n\r\n"),
            Parsed::Request(Route::Signal("u".into()))
        );
        assert_eq!(
            p("GET /down HTTP/1.1\r\nHost: signal\r\n\r\n"),
            Parsed::Request(Route::Signal("down".into()))
        );
        assert_eq!(
            p("GET / HTTP/1.1\r\nHost: status\r\n\r\n"),
            Parsed::Request(Route::Status)
        );
        // curl's `http:/history` and the like.
        assert_eq!(
            p("GET / HTTP/1.1\r\nHost: history\r\n\r\n"),
            Parsed::Request(Route::History)
        );
        assert_eq!(
            p("GET / HTTP/1.1\r\nHost: metrics\r\n\r\n"),
            Parsed::Request(Route::Metrics)
        );
        assert_eq!(
            p("GET / HTTP/1.1\r\nHost: events\r\n\r\n"),
            Parsed::Request(Route::Events)
        );
        assert_eq!(
            p("GET /nope HTTP/1.1\r\n\r\n"),
            Parsed::Request(Route::NotFound("/nope".into()))
        );
        assert_eq!(
            p("DELETE / HTTP/1.1\r\n\r\n"),
            Parsed::Request(Route::NotFound("/".into()))
        );
        assert_eq!(
            p("GET /signal/ HTTP/1.1\r\n\r\n"),
            Parsed::Request(Route::NotFound("/signal/".into()))
        );
        assert_eq!(p("GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Partial);
        assert_eq!(p("\x00\x01garbage\r\n\r\n"), Parsed::Bad);
        let huge = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_REQUEST));
        assert_eq!(parse(huge.as_bytes()), Parsed::TooLarge);
        // Complete, but over the limit: refused, not routed.
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
        assert_eq!(parse(long.as_bytes()), Parsed::TooLarge);
        let head = |path_len: usize| format!("GET /{} HTTP/1.0\r\n\r\n", "a".repeat(path_len));
        let fits = head(MAX_REQUEST - "GET / HTTP/1.0\r\n\r\n".len());
        assert_eq!(fits.len(), MAX_REQUEST);
        assert!(matches!(parse(fits.as_bytes()), Parsed::Request(Route::NotFound(_))));
        let over = head(MAX_REQUEST + 1 - "GET / HTTP/1.0\r\n\r\n".len());
        assert_eq!(parse(over.as_bytes()), Parsed::TooLarge);
    }

    #[test]
    fn status_json_shape() {
        let s = StatusJson {
            pid: 6940,
            up: Some("7.9s".into()),
            down: None,
            cmd: "./stdout".into(),
            fpid: false,
            count: 4,
            status: None,
            name: "web".into(),
            state: "run",
            want: "up",
            paused: false,
            exit: Some(ExitJson::Signal { signal: "TERM".into() }),
            reason: None,
            ready: true,
            ready_in: Some("0.2s".into()),
            healthy: None,
            health: None,
            note: Some("serving".into()),
            log: Some("/var/log/web.log".into()),
            stopping: None,
            listen: Vec::new(),
        };
        let v: serde_json::Value = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"pid":6940,"up":"7.9s","cmd":"./stdout","fpid":false,"count":4,
                "name":"web","state":"run","want":"up","paused":false,"exit":{"signal":"TERM"},
                "ready":true,"ready_in":"0.2s","note":"serving","log":"/var/log/web.log"})
        );
        let none = StatusJson {
            exit: None,
            ..s.clone()
        };
        assert_eq!(serde_json::to_value(&none).unwrap()["exit"], serde_json::Value::Null);
        let held = StatusJson {
            listen: vec!["tcp 0.0.0.0:8080 (fd 3)".into(), "unix /run/app.sock (fd 4)".into()],
            ..s
        };
        assert_eq!(
            serde_json::to_value(&held).unwrap()["listen"],
            serde_json::json!(["tcp 0.0.0.0:8080 (fd 3)", "unix /run/app.sock (fd 4)"])
        );
    }

    #[test]
    fn control_is_for_root_the_owner_and_the_group() {
        let peer = |uid, gid| Some(Peer { pid: 1, uid, gid });
        assert!(may_control(peer(0, 0), 1000, None, &[]));
        assert!(may_control(peer(1000, 1000), 1000, None, &[]));
        assert!(!may_control(peer(1001, 1001), 1000, None, &[]));
        assert!(!may_control(peer(1001, 1001), 1000, Some(50), &[20, 30]));
        assert!(may_control(peer(1001, 50), 1000, Some(50), &[]));
        assert!(may_control(peer(1001, 1001), 1000, Some(50), &[20, 50]));
        assert!(!may_control(None, 1000, Some(50), &[50]));
    }

    /// What a client sent, answered through [`Client`]: the response the
    /// peer reads, or `None` when the connection is closed unanswered.
    fn exchange(request: &[u8], shut: bool) -> (Progress, Option<String>) {
        let (mut peer, ours) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        peer.write_all(request).unwrap();
        if shut {
            peer.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let mut c = Client::new(ours, Instant::now());
        let progress = match c.on_readable() {
            Progress::Request(route) => {
                let p = Progress::Request(route);
                assert_eq!(c.reply(200, "{}"), Progress::Close);
                p
            }
            other => other,
        };
        drop(c);
        let mut out = String::new();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        peer.read_to_string(&mut out).unwrap();
        (progress, Some(out).filter(|o| !o.is_empty()))
    }

    #[test]
    fn a_request_before_the_client_shut_its_side_is_answered() {
        let (p, out) = exchange(b"GET /signal/d HTTP/1.0\r\n\r\n", true);
        assert_eq!(p, Progress::Request(Route::Signal("d".into())));
        assert!(out.unwrap().starts_with("HTTP/1.1 200 OK\r\n"));
        let (p, out) = exchange(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n", true);
        assert_eq!(p, Progress::Request(Route::Status));
        assert!(out.is_some());
        // Incomplete when its side was shut: it will never complete.
        let (p, out) = exchange(b"GET /status HTTP/1.1\r\n", true);
        assert_eq!(p, Progress::Close);
        let out = out.unwrap();
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(out.ends_with("{\"Err\":\"incomplete request\"}\n"), "{out}");
        // Nothing at all: closed unanswered.
        assert_eq!(exchange(b"", true), (Progress::Close, None));
    }

    #[test]
    fn a_request_over_8_kib_is_400_and_not_echoed() {
        let path = "a".repeat(9000);
        let request = format!("GET /{path} HTTP/1.1\r\n\r\n");
        // All at once, and in pieces as a slow socket delivers them.
        for piece in [request.len(), 4096] {
            let (mut peer, ours) = UnixStream::pair().unwrap();
            ours.set_nonblocking(true).unwrap();
            let mut c = Client::new(ours, Instant::now());
            let mut progress = Progress::Wait;
            for bytes in request.as_bytes().chunks(piece) {
                peer.write_all(bytes).unwrap();
                progress = c.on_readable();
                if progress != Progress::Wait {
                    break;
                }
            }
            assert_eq!(progress, Progress::Close);
            drop(c);
            let mut out = String::new();
            peer.read_to_string(&mut out).unwrap();
            assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
            assert!(
                out.ends_with("{\"Err\":\"request too large\"}\n") && !out.contains(&path),
                "{out}"
            );
        }
    }

    #[test]
    fn response_is_complete_http() {
        let r = String::from_utf8(response(200, "{}")).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Length: 2\r\n") && r.ends_with("\r\n\r\n{}"));
        assert_eq!(error_body("x"), "{\"Err\":\"x\"}\n");
    }
}
