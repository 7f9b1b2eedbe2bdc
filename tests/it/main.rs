//! The integration tests, one binary (one link instead of one per area):
//! the real `immortal`, `immortalctl`, `immortallog` and `immortalsvc`
//! driven from outside. `cargo test --test it AREA::` runs one area,
//! e.g. `cargo test --test it faults::`.
//!
//! The areas' tests run as threads of this one process: none of them may
//! change process-wide state that another relies on (environment, current
//! directory, umask, signal dispositions, reaping children it did not
//! spawn). Every child gets its environment and directory through its
//! `Command`; `faults` only raises the descriptor limit to its hard limit.

mod common;

mod api;
mod check;
mod cli;
mod compressed;
mod confinement;
mod ctl;
mod ctl_log;
mod ctl_rows;
mod envfile;
mod faults;
mod follow;
mod immortallog;
mod listen;
mod logging;
mod observe;
mod operator_tools;
mod portable;
mod processor;
mod readiness;
mod real_programs;
mod restart;
mod security;
mod service_dir;
mod supervise;
mod svc_output;
mod svcdir;
