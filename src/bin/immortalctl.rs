//! `immortalctl`: status and control of services (Go immortalctl's command
//! line; also drives runit and daemontools services).

// A C `main`: std's start-up (reading /proc/self/maps for the stack
// guard, a signal stack, SIGPIPE ignored) is a third of this tool's run
// time, and a status query is measured against runit's `sv`. SIGPIPE keeps
// its default, as for any Unix filter (`immortalctl | head`).
#![cfg_attr(not(test), no_main)]
// Its test harness (`cargo test --all-targets`) runs no test and must not
// run this `main`: it has none of its own then, and the rest goes unused.
#![cfg_attr(test, allow(dead_code, unused_imports))]
// No `unsafe` here: only the C `main` below needs `no_mangle`.
#![deny(unsafe_code)]

use immortal::cmd::immortalctl::{self, args::Parsed};

const USAGE: &str = "\
usage: immortalctl [-v] [-A] [--json] [-w SECONDS] [VERB] [-SIGNAL] [NAME|PATH|'*']
       immortalctl wait [-t SECONDS] up|ready|down NAME|PATH
       immortalctl log [-f] [-n N] NAME|PATH

  Verbs:
    status    Print the status table (the default).
    start     Start the service (also: up).
    stop      Stop it: stop signal, then KILL at the deadline; no restart (also: down).
    once      Start it if it is not running; do not restart it.
    restart   Stop it, re-read its configuration, start it.
    halt      Stop it and make its supervisor exit.
    exit      Make the supervisor exit, leaving the service running.
    history   Its last 32 exits, newest first: when, pid, uptime, how, why.
    events    Follow its events as they happen (start, ready, exit, down…; --json: as sent).
    wait      Wait until it is up, ready or down (-t SECONDS: exit 1 at the timeout).
    log       The last lines of its log: file (-n N, default 10; -f: follow, across rotations).
  Signals:
    -1 USR1   -2 USR2   -a ALRM   -c CONT   -h HUP    -i INT    -in TTIN
    -k KILL   -ou TTOU  -q QUIT   -s STOP   -t TERM   -w WINCH
  Options:
    -A           no colours (also: NO_COLOR, or stdout not a terminal)
    --json       print the services' status as JSON
    -w SECONDS   with start/stop/restart/once: wait until it is reached
    -v           print the version

  Environment:
    IMMORTAL_SDIR     where services are found (default /var/run/immortal, else
                      $XDG_RUNTIME_DIR/immortal, else ~/.immortal); ~/.immortal too
    XDG_RUNTIME_DIR, HOME   as above
    NO_COLOR          set: no colours
";

#[allow(unsafe_code)] // `no_mangle`: this is the C `main` the C runtime calls.
#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    // From argv: std fills its own arguments without its `main` on glibc
    // only (empty on the BSDs, macOS aside, and musl).
    // SAFETY: argc and argv as the C runtime hands them to `main`.
    let args = unsafe { immortal::sys::cmain::args(argc, argv) };
    let code = match immortalctl::args::parse(&args) {
        Ok(Parsed::Run(req)) => immortalctl::run(&req),
        Ok(Parsed::Help) => {
            immortal::cli::print(USAGE);
            0
        }
        Ok(Parsed::Version) => {
            immortal::cli::print(&format!("{}\n", immortal::VERSION));
            0
        }
        Err(e) => {
            eprint!("immortalctl: {e}\n{USAGE}");
            1
        }
    };
    // libc's exit does not flush std's buffer.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    code
}
