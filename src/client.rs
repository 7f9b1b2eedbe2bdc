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

/// `GET path` on the socket at `sock`; returns the status code and body.
pub fn get(sock: &Path, path: &str) -> Result<(u16, String)> {
    let mut stream = UnixStream::connect(sock).ctx("connect to", sock)?;
    stream.set_read_timeout(Some(TIMEOUT)).ctx("configure", sock)?;
    stream.set_write_timeout(Some(TIMEOUT)).ctx("configure", sock)?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: immortal\r\nConnection: close\r\n\r\n").as_bytes())
        .ctx("write to", sock)?;
    // One read usually takes the whole answer; a socket that never stops
    // talking is cut off.
    let mut raw = Vec::with_capacity(4096);
    stream.take(MAX_RESPONSE).read_to_end(&mut raw).ctx("read from", sock)?;
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

/// The parsed `/status` of the supervisor listening on `sock`.
pub fn status(sock: &Path) -> Result<serde_json::Value> {
    let (code, body) = get(sock, "/status")?;
    if code != 200 {
        return Err(Error::invalid(format!("{}: status answered {code}", sock.display())));
    }
    serde_json::from_str(&body).map_err(|e| Error::invalid(format!("{}: bad status JSON: {e}", sock.display())))
}
