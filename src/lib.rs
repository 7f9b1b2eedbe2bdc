//! immortal: a Unix process supervisor compatible with the Go `immortal`,
//! daemontools and runit.
//!
//! The binaries (`src/bin/`) are thin: option tables and exit codes. The
//! behaviour lives here:
//!
//! - [`launch`]: `immortal`'s startup (validate, daemonize, take the
//!   supervise directory) and [`supervise`]: its event loop and pure state
//!   machine;
//! - [`config`] (`run.yml`) and [`service`] (a validated, ready-to-run
//!   service), [`envdir`], [`user`];
//! - [`control`]: the one command set behind control bytes and socket words;
//! - [`api`]: the HTTP/JSON socket, [`client`]: its client;
//! - [`sdir`]: supervise directory locations and file names;
//! - [`sys`]: the system-call layer, the only `unsafe` code.

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod control;
pub mod ctl;
pub mod envdir;
pub mod error;
pub mod launch;
pub mod log;
pub mod logcmd;
pub mod logfile;
pub mod scan;
pub mod sdir;
pub mod service;
pub mod signal;
pub mod status;
pub mod supervise;
pub mod svcdir;
pub mod sys;
pub mod timefmt;
pub mod user;

/// The version printed by `-v`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
