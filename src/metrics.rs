//! `GET /metrics`: the Prometheus text format, version 0.0.4 — families
//! with one `# HELP` and one `# TYPE` each, then their samples — and
//! [`merge`], which makes one exposition of many (what `immortalsvc`
//! serves for all its services).

use crate::supervise::state::{Phase, State};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// An exposition being written: families in the order first named.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<Family>,
}

#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    /// `{labels} value` lines, without the name.
    samples: Vec<String>,
}

/// `a="x",b="y"` with values escaped as the format says (`\\`, `\"`, `\n`).
pub fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let escaped = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let _ = write!(out, "{k}=\"{escaped}\"");
    }
    out
}

/// A sample value as the format writes it (integers without a fraction).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Exposition {
    /// One sample of family `name` (declared by its first sample).
    pub fn add(&mut self, name: &'static str, kind: Kind, help: &'static str, labels: &str, value: f64) {
        let sample = if labels.is_empty() {
            format!(" {}", number(value))
        } else {
            format!("{{{labels}}} {}", number(value))
        };
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push(sample),
            None => self.families.push(Family {
                name,
                help,
                kind,
                samples: vec![sample],
            }),
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.families {
            let kind = match f.kind {
                Kind::Gauge => "gauge",
                Kind::Counter => "counter",
            };
            let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
            let _ = writeln!(out, "# TYPE {} {kind}", f.name);
            for s in &f.samples {
                let _ = writeln!(out, "{}{s}", f.name);
            }
        }
        out
    }
}

/// What the supervisor knows of its service besides the table.
pub struct ServiceFacts {
    pub name: String,
    /// What went through the service's output pipes.
    pub log: crate::supervise::output::Counts,
    /// It runs in a cgroup: OOM kills can be told.
    pub confined: bool,
    pub logger_restarts: u64,
}

/// `GET /metrics` of one supervisor: the service's series (SPEC §13) and
/// the supervisor's own process.
pub fn service_text(s: &State, facts: &ServiceFacts, now: Instant) -> String {
    let name = &facts.name;
    let service = labels(&[("service", name)]);
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let running = s.visible() == crate::status::RunState::Run;
    // With a health check, healthy only once one passed; without, ready.
    let healthy = match s.policy.health {
        Some(_) => s.is_healthy(),
        None => s.is_ready(),
    };
    let mut e = Exposition::default();
    e.add(
        "immortal_up",
        Kind::Gauge,
        "Whether the service is running (1) or not (0).",
        &service,
        flag(running),
    );
    e.add(
        "immortal_ready",
        Kind::Gauge,
        "Whether the service is running and ready.",
        &service,
        flag(s.is_ready()),
    );
    e.add(
        "immortal_done",
        Kind::Gauge,
        "Whether the service is a one-shot that ran to completion (oneshot: true).",
        &service,
        flag(matches!(s.phase, Phase::Done { .. })),
    );
    e.add(
        "immortal_healthy",
        Kind::Gauge,
        "Whether the service is ready and its last health check passed (no health check: ready).",
        &service,
        flag(healthy),
    );
    e.add(
        "immortal_starts_total",
        Kind::Counter,
        "Starts of the service's command.",
        &service,
        s.tally.count as f64,
    );
    e.add(
        "immortal_failures_total",
        Kind::Counter,
        "Exits counted as failures by the restart policy.",
        &service,
        s.tally.failures_total as f64,
    );
    for (how, n) in [("code", s.tally.code_exits), ("signal", s.tally.signal_exits)] {
        let l = labels(&[("service", name), ("how", how)]);
        e.add(
            "immortal_exits_total",
            Kind::Counter,
            "Exits of the service's main process, by exit code or by signal.",
            &l,
            n as f64,
        );
    }
    // Only where OOM kills can be told (a cgroup): elsewhere a constant
    // 0 would claim a knowledge the supervisor lacks.
    if facts.confined {
        e.add(
            "immortal_oom_kills_total",
            Kind::Counter,
            "Exits of the service's main process that the kernel's OOM killer caused (in its cgroup).",
            &service,
            s.tally.oom_exits as f64,
        );
    }
    if let Some(how) = s.last.end.as_ref().and_then(|e| e.how) {
        e.add(
            "immortal_last_exit_code",
            Kind::Gauge,
            "The last exit's code (128 + the signal's number when killed by one).",
            &service,
            f64::from(how.code()),
        );
    }
    let uptime = s
        .main()
        .map_or(Duration::ZERO, |m| now.saturating_duration_since(m.since));
    e.add(
        "immortal_uptime_seconds",
        Kind::Gauge,
        "How long the running process has run (0: not running).",
        &service,
        uptime.as_secs_f64(),
    );
    let backoff = match &s.phase {
        Phase::Waiting { at, .. } => at.saturating_duration_since(now),
        Phase::Down { .. }
        | Phase::Asked(_)
        | Phase::Running { .. }
        | Phase::Stopping { .. }
        | Phase::Finishing { .. }
        | Phase::Failed { .. }
        | Phase::Done { .. } => Duration::ZERO,
    };
    e.add(
        "immortal_backoff_seconds",
        Kind::Gauge,
        "Time left before the next start (0: none pending).",
        &service,
        backoff.as_secs_f64(),
    );
    e.add(
        "immortal_log_lines_total",
        Kind::Counter,
        "Lines of output the supervisor read from the service.",
        &service,
        facts.log.lines as f64,
    );
    e.add(
        "immortal_log_bytes_total",
        Kind::Counter,
        "Bytes of output the supervisor read from the service.",
        &service,
        facts.log.bytes as f64,
    );
    e.add(
        "immortal_log_dropped_lines_total",
        Kind::Counter,
        "Lines of output not delivered to every destination (a logger too slow or gone).",
        &service,
        facts.log.dropped_lines as f64,
    );
    e.add(
        "immortal_logger_restarts_total",
        Kind::Counter,
        "Restarts of the service's logger (logger: or log/run).",
        &service,
        facts.logger_restarts as f64,
    );
    add_process(&mut e, &service);
    e.render()
}

/// The supervisor's own `process_resident_memory_bytes` and
/// `process_cpu_seconds_total`, labelled `labels`.
pub fn add_process(exp: &mut Exposition, labels: &str) {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as f64;
    let resident = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|r| r.parse::<f64>().ok()))
        .unwrap_or(0.0);
    exp.add(
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory of the supervisor in bytes.",
        labels,
        resident * page,
    );
    let cpu = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map(|u| {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        })
        .unwrap_or(0.0);
    exp.add(
        "process_cpu_seconds_total",
        Kind::Counter,
        "User and system CPU time of the supervisor in seconds.",
        labels,
        cpu,
    );
}

/// `name{labels} value` or `name value`, the name a metric name.
fn is_sample(line: &str) -> bool {
    let name = line.split(['{', ' ']).next().unwrap_or("");
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(valid)
        && line
            .rsplit(' ')
            .next()
            .is_some_and(|v| v.parse::<f64>().is_ok() || matches!(v, "NaN" | "+Inf" | "-Inf"))
        && line.contains(' ')
}

/// Many expositions as one: each family once, with the `# HELP` and
/// `# TYPE` its first appearance gave, then every sample of it, in order.
/// Lines that belong to no declared family are kept under their own name.
pub fn merge<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    struct Merged<'a> {
        head: Vec<&'a str>,
        samples: Vec<&'a str>,
    }
    let mut families: Vec<Merged<'a>> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for text in texts {
        for line in text.lines() {
            let (name, is_head) = if let Some(rest) = line.strip_prefix("# HELP ").or(line.strip_prefix("# TYPE ")) {
                (rest.split(' ').next().unwrap_or(""), true)
            } else if line.starts_with('#') || !is_sample(line) {
                // A comment, or what is no sample: one bad answer must not
                // spoil the whole exposition.
                continue;
            } else {
                (line.split(['{', ' ']).next().unwrap_or(""), false)
            };
            let k = *index.entry(name).or_insert_with(|| {
                families.push(Merged {
                    head: Vec::new(),
                    samples: Vec::new(),
                });
                families.len() - 1
            });
            let f = &mut families[k];
            if is_head {
                let kind = &line[..6];
                if !f.head.iter().any(|h| h.starts_with(kind)) {
                    f.head.push(line);
                }
            } else {
                f.samples.push(line);
            }
        }
    }
    let mut out = String::new();
    for f in families {
        for h in f.head {
            out.push_str(h);
            out.push('\n');
        }
        for s in f.samples {
            out.push_str(s);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_declared_once_with_escaped_labels() {
        let mut e = Exposition::default();
        e.add(
            "immortal_up",
            Kind::Gauge,
            "Running.",
            &labels(&[("service", "a")]),
            1.0,
        );
        e.add(
            "immortal_starts_total",
            Kind::Counter,
            "Starts.",
            &labels(&[("service", "a")]),
            3.0,
        );
        e.add(
            "immortal_up",
            Kind::Gauge,
            "Running.",
            &labels(&[("service", "b\"\\\n")]),
            0.0,
        );
        e.add("immortal_uptime_seconds", Kind::Gauge, "Up.", "", 1.25);
        assert_eq!(
            e.render(),
            "# HELP immortal_up Running.\n# TYPE immortal_up gauge\nimmortal_up{service=\"a\"} 1\n\
             immortal_up{service=\"b\\\"\\\\\\n\"} 0\n\
             # HELP immortal_starts_total Starts.\n# TYPE immortal_starts_total counter\n\
             immortal_starts_total{service=\"a\"} 3\n\
             # HELP immortal_uptime_seconds Up.\n# TYPE immortal_uptime_seconds gauge\nimmortal_uptime_seconds 1.25\n"
        );
    }

    #[test]
    fn merge_keeps_one_head_per_family_and_every_sample() {
        let a = "# HELP x X.\n# TYPE x gauge\nx{service=\"a\"} 1\n# HELP y_total Y.\n# TYPE y_total counter\ny_total{service=\"a\"} 2\n";
        let b = "# HELP x X.\n# TYPE x gauge\nx{service=\"b\"} 0\n# HELP y_total Y.\n# TYPE y_total counter\ny_total{service=\"b\"} 5\n";
        assert_eq!(
            merge([a, b]),
            "# HELP x X.\n# TYPE x gauge\nx{service=\"a\"} 1\nx{service=\"b\"} 0\n\
             # HELP y_total Y.\n# TYPE y_total counter\ny_total{service=\"a\"} 2\ny_total{service=\"b\"} 5\n"
        );
        assert_eq!(merge(["", "garbage without value\n{x} 1\n9a 1\n"]), "");
    }

    #[test]
    fn process_metrics_are_real() {
        let mut e = Exposition::default();
        add_process(&mut e, "");
        let text = e.render();
        let rss: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(rss > 100_000.0, "{text}");
    }
}
