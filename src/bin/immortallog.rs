//! `immortallog`: stdin to rotated, timestamped logs (svlogd-, multilog-
//! and Go-immortal-style command lines). The logic is in
//! `immortal::cmd::immortallog`.

#![forbid(unsafe_code)]

use immortal::cmd::immortallog;

const USAGE: &str = "\
usage: immortallog [-t|-tt|-ttt] [-v] [-r c] [-R abc] [-l len] [-b buflen]
                   [-s BYTES] [-n NUM] [-a SECONDS] DIR...         (svlogd)
       immortallog ACTION...                                        (multilog script)
       immortallog -f FILE [-s MiB] [-n NUM] [-a SECONDS] [-T]      (Go immortal)

Reads stdin and writes every line, exactly once, to rotated logs. A log
directory holds current, rotated files @<tai64n>.s and lock (one writer).

Dialect: a first argument that is an option means svlogd's (or Go's with -f);
else any multilog action (t, e, sSIZE, nNUM, +..., =..., !..., or -... that is
no option) means a multilog script; else (directories only) svlogd's.

svlogd:
  -t        prefix lines with a TAI64N stamp (@4000...)
  -tt       prefix with YYYY-MM-DD_HH:MM:SS.xxxxx (UTC)
  -ttt      prefix with YYYY-MM-DDTHH:MM:SS.xxxxx (UTC)
  -v        verbose: accepted (only warnings and errors are printed)
  -r c      replace non-printable bytes (not 32..126) with c
  -R abc    replace the bytes in abc too (with -r's c, default _)
  -l len    patterns and alerts see the first len bytes (default 1000, max 2 MiB);
            lines are written whole
  -b buflen read buffer; must be greater than -l (default 1024); immortallog
            reads at least 256 KiB at a time
  -s BYTES  rotate before current would exceed BYTES (default 1000000; 0: never)
  -n NUM    keep NUM rotated files (default 10; 0: keep all)
  -a SECS   rotate when current is older than SECS
  DIR...    one or more log directories (created if missing), each with its
            own DIR/config, read at start and at SIGHUP:
    sSIZE     rotate at SIZE bytes (suffix k, m; 0: never)
    nNUM      keep NUM rotated files (0: keep all)
    NMIN      accepted, not acted on (a full disk pauses writing, deletes nothing)
    tSECONDS  rotate when current is older (suffix m, h; 0: never)
    +pattern  select matching lines     -pattern  deselect them
    epattern  matching lines to stderr  Epattern  not to stderr
    pPREFIX   prefix lines written (after the stamp), to stderr and UDP
    uIP[:PORT] also send selected lines by UDP (default port 514)
    UIP[:PORT] send them by UDP only (not to the directory)
    !processor feed each rotated file through the shell command processor (svlogd:
              @T.u -> @T.t -> @T.s; fd 4 state, fd 5 newstate); the next
              rotation and the reading wait until it exits 0
    # or empty: ignored; other lines: ignored with a warning
  Patterns see the line without stamp or prefix: * matches any string not
  containing the pattern's next character (at the end: anything), +c one or
  more c, anything else itself; the whole line must match; the last matching
  +/- line decides.

multilog (actions in order, for each line; each line starts selected):
  t         TAI64N stamp (@4000... ); must be the first action; patterns see it
  -pattern  deselect the line if pattern matches
  +pattern  select the line if pattern matches (* as above; + is itself)
  e         print (the first 200 bytes of) the selected line to stderr
  =file     rewrite file with the selected line, padded with newlines to 1001 bytes
  sSIZE     size for the directories that follow (default 99999; 4096..16777215)
  nNUM      files for the directories that follow, current included
            (default 10, at least 2: NUM-1 rotated files are kept)
  ./DIR /DIR  append the lines selected at this point to DIR
  !processor  for the directories that follow: each rotated file through
              the shell command processor (multilog: previous -> processed -> @T.s;
              fd 4 state, fd 5 newstate), reading waits until it exits 0
  Patterns see the first 1000 bytes, the stamp included. DIR/config is read
  as in svlogd's dialect.

Go immortal:
  -f FILE   log to FILE, rotated to FILE.0 (newest) ... FILE.N-1
  -s MiB    rotate at MiB mebibytes (default 1)   -n NUM  files kept (default 1)
  -a SECS   rotate when older                     -T      RFC 3339 stamps

Signals: HUP rereads DIR/config and reopens; ALRM rotates now; TERM or end of
input writes everything (a final unterminated line gets a newline), waits for
the processors at work, exit 0.
Exit 1: usage error, or a log that cannot be opened (named).

Environment: immortallog reads no environment variables.
";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), Some("-h" | "--help")) {
        immortal::cli::print(USAGE);
        return;
    }
    // -v alone: the version; -v with directories is svlogd's verbose.
    if matches!(args.as_slice(), [a] if a == "-v" || a == "-V" || a == "--version") {
        immortal::cli::print(&format!("{}\n", immortal::VERSION));
        return;
    }
    let opts = match immortallog::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprint!("immortallog: {e}\n(immortallog -h explains every option)\n");
            std::process::exit(1);
        }
    };
    match immortallog::open(opts) {
        Ok(logger) => std::process::exit(immortallog::run(logger)),
        Err(e) => {
            eprintln!("immortallog: fatal: {e}");
            std::process::exit(1);
        }
    }
}
