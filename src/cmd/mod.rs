//! Each binary's own code, one folder per binary; what two binaries need
//! lives at the top of the crate instead.
//!
//! - [`immortal`]: `immortal`'s startup (validate, daemonize, take the
//!   supervise directory, hand over to [`crate::supervise`]);
//! - [`immortalctl`]: status and control of every service;
//! - [`immortallog`]: stdin to rotated logs, in three dialects;
//! - [`immortalsvc`]: one `immortal` per service of a directory.

pub mod immortal;
pub mod immortalctl;
pub mod immortallog;
pub mod immortalsvc;
