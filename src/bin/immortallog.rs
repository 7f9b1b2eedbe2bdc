//! `immortallog`: stdin to rotated, timestamped logs (svlogd-, multilog-
//! and Go-immortal-style command lines).

const USAGE: &str = "\
usage: immortallog [-t|-tt|-ttt] [-s BYTES] [-n NUM] [-a SECONDS] DIR
       immortallog [t] [sBYTES] [nNUM] ./DIR          (multilog tokens)
       immortallog -f FILE [-s MiB] [-n NUM] [-a SECONDS] [-T]
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), Some("-h" | "--help")) {
        immortal::cli::print(USAGE);
        return;
    }
    if matches!(args.first().map(String::as_str), Some("-v" | "--version")) {
        immortal::cli::print(&format!("{}\n", immortal::VERSION));
        return;
    }
    let opts = match immortal::logcmd::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprint!("immortallog: {e}\n{USAGE}");
            std::process::exit(1);
        }
    };
    match immortal::logcmd::open(opts) {
        Ok((writer, _lock)) => std::process::exit(immortal::logcmd::run(writer)),
        Err(e) => {
            eprintln!("immortallog: fatal: {e}");
            std::process::exit(1);
        }
    }
}
