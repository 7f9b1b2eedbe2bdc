//! immortal: a Unix process supervisor compatible with the Go `immortal`,
//! daemontools and runit.
//!
//! The binaries (`src/bin/`) are thin: option tables and exit codes. Code
//! that only one binary uses is that binary's, under [`cmd`]:
//!
//! - [`cmd::immortal`]: `immortal`'s command line ([`cmd::immortal::Flags`],
//!   [`cmd::immortal::Plan`]) and startup (validate, daemonize, take the
//!   supervise directory);
//! - [`cmd::immortalctl`]: status and control of every service;
//! - [`cmd::immortallog`]: stdin to rotated logs (svlogd, multilog, Go);
//! - [`cmd::immortalsvc`]: one supervisor per service of a directory.
//!
//! The library proper, at the top: what more than one binary needs, and
//! what those parts need in turn. It never uses [`cmd`]. Configuration is
//! layered one way, each module using only those before it: [`config`]
//! (what a `run.yml` says) ← [`service`] (what will run) ← [`listing`]
//! (what a services directory asks for, by the scanner's rules) ←
//! [`check`] (what is wrong):
//!
//! - [`supervise`]: the supervisor's event loop and pure state machine;
//! - [`config`] (`run.yml`) and [`service`] (a validated, ready-to-run
//!   service), [`envdir`], [`envfile`] (`env_file:`), [`user`];
//!   [`listing`]: the entries of a services directory and `-cc`'s
//!   validation; [`check`]: `-check`, every problem of a service, a file
//!   or a services directory at once; [`listen`]: the sockets a supervisor
//!   holds for its service (`listen:`);
//! - [`control`]: the one command set behind control bytes and socket
//!   words, both directions;
//! - [`status`]: runit's status record; [`api`]: the HTTP/JSON socket,
//!   [`client`]: its client;
//! - [`layout`]: every on-disk name (supervise directory, service
//!   directory, log directory) and where supervise directories live;
//! - [`notice`]: the supervisor's own messages (stderr or syslog);
//!   [`logfile`]: a service's rotated log files, [`rotated`]: what
//!   becomes of them (kept, compressed by [`compress`], processed);
//!   [`timefmt`]: their stamps;
//! - [`signal`]: signal names; [`cli`], [`error`];
//! - [`sys`]: the system-call layer, the only `unsafe` code: the crate
//!   denies `unsafe_code` everywhere else, so the compiler keeps it so.

#![deny(unsafe_code)]

pub mod api;
pub mod cgroup;
pub mod check;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod compress;
pub mod config;
pub mod control;
pub mod envdir;
pub mod envfile;
pub mod error;
pub mod events;
pub mod layout;
pub mod limits;
pub mod listen;
pub mod listing;
pub mod logfile;
pub mod metrics;
pub mod notice;
pub mod rotated;
pub mod service;
pub mod signal;
pub mod status;
pub mod supervise;
// The one module allowed `unsafe`; each block says why it is sound.
#[allow(unsafe_code)]
pub mod sys;
pub mod timefmt;
pub mod user;

/// The version printed by `-v`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
