//! `immortalctl history NAME|'*'`: the last exits of each service, newest
//! first, from its supervisor's `GET /history`.
//!
//! ```text
//! NAME   TIME                          PID    UPTIME   EXIT             REASON
//! web    2026-12-04T00:40:01.123456Z   1234   0.5s     exit 1           failure
//! ```

use super::discover::{Channel, Found};
use crate::client;
use crate::error::{Error, Result};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

/// One service's history, or why there is none.
fn fetch(f: &Found) -> Result<Vec<Value>> {
    let sock = match &f.channel {
        Channel::Socket(sock) => sock,
        Channel::Denied(why) => return Err(Error::invalid(why.clone())),
        Channel::Fifo(_) | Channel::Orphan { .. } => {
            return Err(Error::invalid(
                "no history: not an immortal supervisor (runit/daemontools supervise, or gone)",
            ))
        }
    };
    let (code, body) = client::get(sock, "/history").map_err(|e| Error::invalid(super::discover::explain(&e)))?;
    if code != 200 {
        return Err(Error::invalid(format!(
            "no history: the supervisor answered {code} (an older version?)"
        )));
    }
    match serde_json::from_str(&body) {
        Ok(Value::Array(entries)) => Ok(entries),
        _ => Err(Error::invalid("no history: the supervisor's answer is not a list")),
    }
}

/// How an entry ended: `exit 1`, `killed by SIGSEGV`.
fn ended(e: &Value) -> String {
    match (
        e.get("code").and_then(Value::as_i64),
        e.get("signal").and_then(Value::as_str),
    ) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("killed by SIG{sig}"),
        (None, None) => String::new(),
    }
}

/// The table of every service's entries (columns as wide as their widest cell).
fn render(entries: &[(String, Value)]) -> String {
    let text = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|(name, e)| {
            let pid = e.get("pid").and_then(Value::as_i64).filter(|p| *p > 0);
            let uptime = e.get("uptime").and_then(Value::as_f64).unwrap_or(0.0);
            [
                name.clone(),
                text(e, "time"),
                pid.map_or("-".into(), |p| p.to_string()),
                crate::api::since(Duration::try_from_secs_f64(uptime).unwrap_or(Duration::ZERO)),
                ended(e),
                text(e, "reason"),
            ]
        })
        .collect();
    let header = ["NAME", "TIME", "PID", "UPTIME", "EXIT", "REASON"].map(String::from);
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |row: &[String; 6]| {
        let mut out = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 5 {
                out += cell;
            } else {
                out += &format!("{cell:<w$}   ", w = widths[i]);
            }
        }
        out.trim_end().to_string() + "\n"
    };
    std::iter::once(&header).chain(&rows).map(line).collect()
}

/// Print the services' histories; returns the exit status (1 when one
/// could not be read).
pub fn show(services: &[Found], as_json: bool) -> i32 {
    let mut code = 0;
    let mut entries = Vec::new();
    for f in services {
        match fetch(f) {
            Ok(list) => entries.extend(list.into_iter().map(|e| (f.name.clone(), e))),
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "immortalctl: {}: {e}", f.name);
                code = 1;
            }
        }
    }
    let out = if as_json {
        let with_names: Vec<Value> = entries
            .into_iter()
            .map(|(name, mut e)| {
                e["name"] = json!(name);
                e
            })
            .collect();
        serde_json::to_string_pretty(&with_names).unwrap_or_default() + "\n"
    } else {
        render(&entries)
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_per_exit_newest_first_as_given() {
        let entries = vec![
            (
                "web".to_string(),
                json!({"time": "2026-12-04T00:40:01.000000Z", "pid": 1234, "uptime": 0.5, "code": 1, "reason": "failure"}),
            ),
            (
                "web".to_string(),
                json!({"time": "2026-12-04T00:40:00.000000Z", "pid": 0, "uptime": 0.0, "code": 127, "reason": "exec failed: No such file or directory"}),
            ),
            (
                "db".to_string(),
                json!({"time": "2026-12-04T00:39:00.000000Z", "pid": 77, "uptime": 61.25, "signal": "SEGV", "reason": "failure"}),
            ),
        ];
        let want = concat!(
            "NAME   TIME                          PID    UPTIME   EXIT                REASON\n",
            "web    2026-12-04T00:40:01.000000Z   1234   0.5s     exit 1              failure\n",
            "web    2026-12-04T00:40:00.000000Z   -      0.0s     exit 127            exec failed: No such file or directory\n",
            "db     2026-12-04T00:39:00.000000Z   77     1m1.3s   killed by SIGSEGV   failure\n",
        );
        assert_eq!(render(&entries), want);
    }
}
