//! The status table, laid out exactly as the Go `immortalctl` does:
//!
//! ```text
//!   PID     Up   Down   Name   CMD
//! 12345   1.2s          web    sleep 100
//! ```
//!
//! `PID`, `Up`, `Down` right-aligned, `Name` left-aligned, three spaces
//! between columns, each column as wide as its widest cell (at least 3, 2,
//! 4, 0). The name is green when up, red when down, yellow when following a
//! pid; a service waiting to start shows `CMD - Starting in N seconds`.
//! The detailed view (one service named) adds lines under its row, from
//! the Name column on: the sockets it holds (`listen: tcp 0.0.0.0:8080 (fd
//! 3)`).

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub pid: i64,
    pub up: String,
    pub down: String,
    pub cmd: String,
    pub fpid: bool,
    /// `Starting in 1.5 seconds` while waiting.
    pub waiting: Option<String>,
    /// Why it is not running (`exec failed: …`), from the API's `reason`.
    pub reason: Option<String>,
    /// The error a command on this service produced.
    pub error: Option<String>,
    /// Why its `NAME.yml` was not applied (immortalsvc's `config-error`).
    pub config_error: Option<String>,
    /// Of a running service: `stopping: …` or `not ready`, `unhealthy:
    /// …`, its STATUS text.
    pub live: Vec<String>,
    /// Lines under the row, from the Name column on (the detailed view of
    /// one service: `listen: tcp 0.0.0.0:8080 (fd 3)`).
    pub details: Vec<String>,
    /// A service directory's `log/` service that does not run: `log: down
    /// 1.2s`.
    pub log_service: Option<String>,
}

const RED: &str = "\x1b[0;31m";
const GREEN: &str = "\x1b[0;32m";
const YELLOW: &str = "\x1b[0;33m";
const RESET: &str = "\x1b[0;00m";

fn paint(text: &str, colour: &str, on: bool) -> String {
    if on {
        format!("{colour}{text}{RESET}")
    } else {
        text.to_string()
    }
}

pub fn render(rows: &[Row], color: bool) -> String {
    let pid_text = |r: &Row| if r.pid > 0 { r.pid.to_string() } else { String::new() };
    let w_pid = rows.iter().map(|r| pid_text(r).len()).max().unwrap_or(0).max(3);
    let w_up = rows.iter().map(|r| r.up.len()).max().unwrap_or(0).max(2);
    let w_down = rows.iter().map(|r| r.down.len()).max().unwrap_or(0).max(4);
    let w_name = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0);
    let mut out = format!(
        "{:>w_pid$}   {:>w_up$}   {:>w_down$}   {:<w_name$}   CMD\n",
        "PID", "Up", "Down", "Name"
    );
    for r in rows {
        let name = format!("{:<w_name$}", r.name);
        if let Some(waiting) = &r.waiting {
            let name = paint(&name, GREEN, color);
            let cmd = paint(&format!("{} - {waiting}", r.cmd), YELLOW, color);
            out += &format!("{:>w_pid$}   {:>w_up$}   {:>w_down$}   {name}   {cmd}", "", "", "");
        } else {
            let colour = if r.fpid {
                YELLOW
            } else if !r.down.is_empty() {
                RED
            } else {
                GREEN
            };
            let name = paint(&name, colour, color);
            out += &format!(
                "{:>w_pid$}   {:>w_up$}   {:>w_down$}   {name}   {}",
                pid_text(r),
                r.up,
                r.down,
                r.cmd
            );
        }
        let reason = r.reason.as_deref().and_then(|why| row_reason(why, r.waiting.is_some()));
        for note in r
            .live
            .iter()
            .chain([&reason, &r.error, &r.log_service].into_iter().flatten())
        {
            out += &paint(&format!(" - {note}"), YELLOW, color);
        }
        if let Some(e) = &r.config_error {
            out += &paint(&format!(" - config error: {e}"), YELLOW, color);
        }
        out.push('\n');
        let indent = w_pid + w_up + w_down + 9;
        for line in &r.details {
            out += &format!("{:indent$}{line}\n", "");
        }
    }
    out
}

/// What the row adds from the API's `reason`: nothing where the row
/// already says it (a red down row needs no `wanted down`, a waiting row
/// shows the Go `Starting in N seconds`), else why it is not running, with
/// the restart time left out of a waiting row (it is in `Starting in`).
fn row_reason(reason: &str, waiting: bool) -> Option<String> {
    if reason == "wanted down" || reason.starts_with("starting in ") {
        return None;
    }
    if !waiting {
        return Some(reason.to_string());
    }
    match reason.split_once("; restarting in ") {
        Some((last, when)) => match when.find(" (") {
            Some(at) => Some(format!("{last}{}", &when[at..])),
            None => Some(last.to_string()),
        },
        None => Some(reason.to_string()),
    }
}

/// The first line of the `config-error` file immortalsvc keeps in a
/// supervise directory while the service's `NAME.yml` does not validate.
pub fn config_error(supervise_dir: &std::path::Path) -> Option<String> {
    let path = supervise_dir.join(crate::layout::CONFIG_ERROR);
    let bytes = crate::sys::fs::read_regular(&path, 64 * 1024, true).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    Some(text.lines().next()?.trim().to_string()).filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        vec![
            Row {
                name: "web".into(),
                pid: 12345,
                up: "1h2m3.4s".into(),
                cmd: "sleep 100".into(),
                ..Row::default()
            },
            Row {
                name: "db".into(),
                pid: 77,
                down: "5.0s".into(),
                cmd: "postgres -D /x".into(),
                ..Row::default()
            },
            Row {
                name: "nginx".into(),
                pid: 4242,
                up: "10.0s".into(),
                cmd: "nginx".into(),
                fpid: true,
                ..Row::default()
            },
            Row {
                name: "later".into(),
                cmd: "sleep 1".into(),
                waiting: Some("Starting in 2.0 seconds".into()),
                ..Row::default()
            },
        ]
    }

    #[test]
    fn details_go_under_the_row_from_the_name_column() {
        let mut rows = rows();
        rows[0].details = vec![
            "listen: tcp 0.0.0.0:8080 (fd 3)".into(),
            "listen: unix /a.sock (fd 4)".into(),
        ];
        let want = concat!(
            "  PID         Up   Down   Name    CMD\n",
            "12345   1h2m3.4s          web     sleep 100\n",
            "                          listen: tcp 0.0.0.0:8080 (fd 3)\n",
            "                          listen: unix /a.sock (fd 4)\n",
            "   77              5.0s   db      postgres -D /x\n",
        );
        assert!(render(&rows, false).starts_with(want), "{}", render(&rows, false));
    }

    /// The Go tool's layout, byte for byte (format
    /// `%+5v   %+8s   %+4s   %-5s   %s`).
    #[test]
    fn golden_plain() {
        let want = concat!(
            "  PID         Up   Down   Name    CMD\n",
            "12345   1h2m3.4s          web     sleep 100\n",
            "   77              5.0s   db      postgres -D /x\n",
            " 4242      10.0s          nginx   nginx\n",
            "                          later   sleep 1 - Starting in 2.0 seconds\n",
        );
        assert_eq!(render(&rows(), false), want);
    }

    #[test]
    fn golden_colour_and_errors() {
        let mut rows = rows();
        rows[0].error = Some("unknown signal: x".into());
        let text = render(&rows, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "12345   1h2m3.4s          \x1b[0;32mweb  \x1b[0;00m   sleep 100\x1b[0;33m - unknown signal: x\x1b[0;00m"
        );
        assert!(lines[2].contains("\x1b[0;31mdb   \x1b[0;00m"), "{}", lines[2]);
        assert!(lines[3].contains("\x1b[0;33mnginx\x1b[0;00m"), "{}", lines[3]);
        assert!(
            lines[4].ends_with("\x1b[0;32mlater\x1b[0;00m   \x1b[0;33msleep 1 - Starting in 2.0 seconds\x1b[0;00m"),
            "{}",
            lines[4]
        );
    }

    #[test]
    fn config_error_is_the_last_note() {
        let mut rows = rows();
        rows[0].error = Some("unknown signal: x".into());
        rows[0].config_error = Some("web.yml:3: unknown field `cmdd`".into());
        let text = render(&rows[..1], false);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .ends_with("sleep 100 - unknown signal: x - config error: web.yml:3: unknown field `cmdd`"),
            "{text}"
        );
        let d = tempfile::tempdir().unwrap();
        assert_eq!(config_error(d.path()), None);
        let file = d.path().join(crate::layout::CONFIG_ERROR);
        std::fs::write(&file, "web.yml:3: unknown field `cmdd`\nmore\n").unwrap();
        assert_eq!(
            config_error(d.path()).as_deref(),
            Some("web.yml:3: unknown field `cmdd`")
        );
        std::fs::write(&file, "\n").unwrap();
        assert_eq!(config_error(d.path()), None);
    }

    #[test]
    fn the_reason_follows_the_row_unless_the_row_says_it() {
        assert_eq!(row_reason("wanted down", false), None);
        assert_eq!(row_reason("starting in 2.0s", true), None);
        assert_eq!(
            row_reason("exit 1; restarting in 4.0s (backoff, 3 failures)", true).as_deref(),
            Some("exit 1 (backoff, 3 failures)")
        );
        assert_eq!(
            row_reason("exec failed: No such file or directory; restarting in 0.9s", true).as_deref(),
            Some("exec failed: No such file or directory")
        );
        let failed = "failed: 5 failures within 60s; last: killed by SIGSEGV";
        assert_eq!(row_reason(failed, false).as_deref(), Some(failed));
        let mut rows = rows();
        rows[1].reason = Some(failed.into());
        rows[3].reason = Some("exit 1; restarting in 2.0s".into());
        let text = render(&rows, false);
        assert!(text.contains("postgres -D /x - failed: 5 failures"), "{text}");
        assert!(text.contains("sleep 1 - Starting in 2.0 seconds - exit 1\n"), "{text}");
    }

    /// A stop under way and a `log/` service that does not run, in the
    /// row after what the row says of the service itself.
    #[test]
    fn a_stop_and_a_down_log_service_are_in_the_row() {
        let mut rows = rows();
        rows[0].live = vec!["stopping: TERM sent 2.1s ago".into()];
        rows[1].log_service = Some("log: down 0.4s".into());
        rows[1].reason = Some("exit 1".into());
        let text = render(&rows[..2], false);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].ends_with("sleep 100 - stopping: TERM sent 2.1s ago"), "{text}");
        assert!(lines[2].ends_with("postgres -D /x - exit 1 - log: down 0.4s"), "{text}");
    }

    #[test]
    fn minimum_widths_with_no_rows() {
        assert_eq!(render(&[], false), "PID   Up   Down   Name   CMD\n");
    }
}
