//! `immortalsvc`: supervise every service of a directory, one `immortal`
//! per service (`svscan`/`runsvdir`/Go `immortaldir`).

#![forbid(unsafe_code)]

use immortal::cmd::immortalsvc::{mux::lines::Format, Scanner};

const USAGE: &str = "usage: immortalsvc [-v] [-o prefix|plain|json] [-metrics ADDR:PORT] DIR\n       immortalsvc -check DIR\n\n  DIR         services: NAME.yml (run.yml format) and NAME/ (daemontools/runit service directories)\n  -check DIR  check every service DIR holds, list every problem, exit (starts nothing)\n  -metrics ADDR:PORT  also serve every service's /metrics over HTTP (for Prometheus)\n  -o FORMAT   how the lines of services without a log of their own reach our stdout\n              (their stderr: our stderr): prefix (default, 'web    | line'), plain,\n              json ({\"time\",\"service\",\"stream\",\"line\"} per line)\n\n$IMMORTAL_SDIR/immortalsvc.sock answers GET / (every service's status), /metrics, /events.\n\nChanges to DIR's entries are seen at once; after a change inside NAME/\n(chmod +x NAME/run), send SIGHUP. SIGTERM stops every service.\n\nEnvironment:\n  IMMORTAL_SDIR     the services' supervise directories (default /var/run/immortal,\n                    else $XDG_RUNTIME_DIR/immortal, else ~/.immortal); passed on\n  XDG_RUNTIME_DIR, HOME   as above\n  Each supervisor also reads IMMORTAL_EXIT, IMMORTAL_SYSLOG, IMMORTAL_THROTTLE_MS, SHELL (see immortal -h).\n";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [v] if v == "-v" || v == "--version" => immortal::cli::print(&format!("{}\n", immortal::VERSION)),
        [h] if h == "-h" || h == "--help" || h == "-help" => immortal::cli::print(USAGE),
        [flag, dir] if flag == "-check" || flag == "--check" => check(dir),
        [flag] if flag.starts_with("-check=") || flag.starts_with("--check=") => {
            check(flag.split_once('=').map_or("", |(_, dir)| dir))
        }
        _ => match options(&args) {
            Some((dir, metrics, format)) => supervise(dir, metrics, format),
            None => {
                eprint!("immortalsvc: bad arguments\n{USAGE}");
                std::process::exit(1);
            }
        },
    }
}

/// `[-o FORMAT] [-metrics ADDR:PORT] DIR`, in any order, each once.
fn options(args: &[String]) -> Option<(&str, Option<&str>, Format)> {
    let (mut metrics, mut format, mut dir) = (None, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v)),
            _ => (arg.as_str(), None),
        };
        let mut value = || inline.or_else(|| it.next().map(String::as_str));
        match flag {
            "-metrics" | "--metrics" if metrics.is_none() => metrics = Some(value()?),
            "-o" | "--o" if format.is_none() => format = Some(Format::parse(value()?)?),
            _ if !arg.starts_with('-') && dir.is_none() => dir = Some(arg.as_str()),
            _ => return None,
        }
    }
    Some((dir?, metrics, format.unwrap_or_default()))
}

fn supervise(dir: &str, metrics: Option<&str>, format: Format) {
    match Scanner::new(std::path::Path::new(dir), metrics, format) {
        Ok(scanner) => std::process::exit(scanner.run()),
        Err(e) => {
            eprintln!("immortalsvc: fatal: {e}");
            std::process::exit(1);
        }
    }
}

fn check(dir: &str) {
    let report = immortal::check::services_dir(std::path::Path::new(dir));
    std::process::exit(report.print("immortalsvc"));
}
