//! `immortal`: supervise one command (Go immortal's command line).

// A C `main`: std's start-up (a read of /proc/self/maps for the stack
// guard, a signal stack: some twenty system calls) would be paid by every
// supervisor immortalsvc starts. What it did that matters (closed standard
// descriptors opened on /dev/null, SIGPIPE ignored) is done below.
#![cfg_attr(not(test), no_main)]
// Its test harness (`cargo test --all-targets`) runs no test and must not
// run this `main`: it has none of its own then, and the rest goes unused.
#![cfg_attr(test, allow(dead_code, unused_imports))]
// No `unsafe` here but the C `main`'s `no_mangle` and its reading of argv.
#![deny(unsafe_code)]

use immortal::cli;
use immortal::cmd::{self, immortal::Flags};
use std::path::PathBuf;

const USAGE: &str = "Usage: immortal [-v] [-n] [-cc] [-c run.yml] [-ctl dir] [-name name] [-d dir] [-e dir] \
[-f pidfile] [-l logfile] [-logger logger] [-p child_pidfile] [-P supervisor_pidfile] [-r retries] \
[-u user] [-w seconds] command
       immortal -check run.yml|service_dir";

const ENVIRONMENT: &str = "
Environment:
    IMMORTAL_SDIR         where -ctl NAME and require look (default /var/run/immortal,
                          else $XDG_RUNTIME_DIR/immortal, else ~/.immortal)
    IMMORTAL_EXIT         set: a -c supervisor exits when retries run out, and exit is allowed
    IMMORTAL_SYSLOG       syslog socket of a detached supervisor (default /dev/log);
                          unreachable: messages go to DIR/immortal.log
    IMMORTAL_THROTTLE_MS  least time between two starts (default 1000; for tests)
    XDG_RUNTIME_DIR, HOME where supervise directories go when IMMORTAL_SDIR is not writable
    SHELL                 runs require_cmd and post_exit (default sh)
";

fn options() -> getopts::Options {
    let mut o = cli::go_options();
    o.optopt("c", "", "run.yml configuration file", "run.yml")
        .optflag(
            "",
            "cc",
            "check the config file, print the effective configuration and exit",
        )
        .optopt(
            "",
            "check",
            "check a run.yml or a service directory, list every problem, exit (starts nothing)",
            "file|dir",
        )
        .optopt(
            "",
            "ctl",
            "supervise directory (a bare name: $IMMORTAL_SDIR/name)",
            "dir",
        )
        .optopt("", "name", "name of the service", "name")
        .optopt("d", "", "change to dir before starting the command", "dir")
        .optopt(
            "e",
            "",
            "set environment variables from the files in dir (envdir)",
            "dir",
        )
        .optopt("f", "", "follow the pid in pidfile", "pidfile")
        .optopt("l", "", "write stdout/stderr to logfile", "logfile")
        .optopt("", "logger", "a command to pipe stdout/stderr to", "command")
        .optflag("n", "", "no daemon mode, stay in the foreground")
        .optopt("P", "", "path to write the supervisor pidfile", "pidfile")
        .optopt("p", "", "path to write the child pidfile", "pidfile")
        .optopt("r", "", "number of retries before exiting (-1: forever)", "number")
        .optopt("u", "", "run the command as user", "user")
        .optflag("v", "version", "print the version")
        .optopt("w", "", "seconds to wait before each start", "seconds")
        .optflag("h", "help", "print this help");
    o
}

fn flags(m: &getopts::Matches) -> immortal::error::Result<Flags> {
    Ok(Flags {
        config: m.opt_str("c").map(PathBuf::from),
        check_config: m.opt_present("cc"),
        ctl: m.opt_str("ctl"),
        name: m.opt_str("name"),
        wrkdir: m.opt_str("d"),
        envdir: m.opt_str("e"),
        follow: m.opt_str("f"),
        logfile: m.opt_str("l"),
        logger: m.opt_str("logger"),
        foreground: m.opt_present("n"),
        supervisor_pidfile: m.opt_str("P"),
        child_pidfile: m.opt_str("p"),
        retries: cli::int_opt(m, "r", -1)?,
        user: m.opt_str("u"),
        wait: cli::int_opt(m, "w", 0)?,
        command: m.free.clone(),
    })
}

#[allow(unsafe_code)] // `no_mangle`: this is the C `main` the C runtime calls.
#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    immortal::sys::cmain::start();
    // SAFETY: argc and argv as the C runtime hands them to `main`.
    let args = unsafe { immortal::sys::cmain::args(argc, argv) };
    run(&args);
    // libc's exit does not flush std's buffer.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    0
}

fn run(args: &[String]) {
    let opts = options();
    let parsed = cli::parse(&opts, args, &["cc", "n", "v", "version", "h"]).and_then(|m| Ok((flags(&m)?, m)));
    let (flags, m) = match parsed {
        Ok(ok) => ok,
        Err(e) => {
            eprintln!("immortal: {e}\n{USAGE}");
            std::process::exit(1);
        }
    };
    if m.opt_present("h") {
        cli::print(&(opts.usage(USAGE) + ENVIRONMENT));
        return;
    }
    if m.opt_present("v") {
        cli::print(&format!("{}\n", immortal::VERSION));
        return;
    }
    if let Some(target) = m.opt_str("check") {
        std::process::exit(immortal::check::path(std::path::Path::new(&target)).print("immortal"));
    }
    std::process::exit(cmd::immortal::run(&flags));
}
