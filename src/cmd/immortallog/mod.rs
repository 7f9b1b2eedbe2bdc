//! `immortallog`: read stdin, write rotated, timestamped logs (the library's
//! [`crate::logfile::LogWriter`], one per log), in three dialects:
//!
//! ```text
//! immortallog [-t|-tt|-ttt] [-v] [-r c] [-R abc] [-l len] [-b buflen]
//!             [-s BYTES] [-n NUM] [-a SECONDS] DIR...                  # svlogd
//! immortallog t s100000 n5 '-*' '+* fatal: *' ./fatal '+*' e ./main    # multilog
//! immortallog -f FILE [-s MiB] [-n NUM] [-a SECONDS] [-T]              # Go immortal
//! ```
//!
//! Which dialect: a first argument that is an option (`-tt`, `-b 2048`,
//! `-f`…) means svlogd's or Go's; otherwise any multilog action (`t`, `e`,
//! `sSIZE`, `nNUM`, `+…`, `-…` that is no option, `=…`, `!…`) means a
//! multilog script; otherwise (directories only) svlogd's.
//!
//! Directories hold `DIR/current`, rotated to `DIR/@<tai64n>.s`, and
//! `DIR/lock`; svlogd's `DIR/config` is read at start and at SIGHUP (in
//! every dialect). SIGHUP reopens, SIGALRM rotates now, SIGTERM or end of
//! input flushes (a final unterminated line gets its newline) and exits 0.
//!
//! Selection (multilog's `+`/`-`/`e`/`=` actions, svlogd's config patterns
//! and `p` prefix, `-r`/`-R`) happens line by line only when configured;
//! without it the input goes to the writers in whole chunks.
//!
//! One file per job, each with its contract: [`args`] (the three
//! dialects' command lines), [`config`] (svlogd's `DIR/config`),
//! [`pattern`] (multilog's and svlogd's line patterns), [`logger`] (the
//! outputs, line selection and the read loop).

pub mod args;
pub mod config;
pub mod logger;
pub mod pattern;

pub use args::{apply_config, parse, Action, Dialect, Log, Options, Replace};
pub use config::{parse_config, Config, Rule, RuleKind, Udp};
pub use logger::{open, run, Logger};
pub use pattern::{multilog_match, svlogd_match};
