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
    /// The error a command on this service produced.
    pub error: Option<String>,
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
        if let Some(err) = &r.error {
            out += &paint(&format!(" - {err}"), YELLOW, color);
        }
        out.push('\n');
    }
    out
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
    fn minimum_widths_with_no_rows() {
        assert_eq!(render(&[], false), "PID   Up   Down   Name   CMD\n");
    }
}
