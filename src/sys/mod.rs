//! Thin wrappers over the system calls the supervisor needs. The only place
//! with `unsafe`; each block says why it is sound.

pub mod daemon;
pub mod fs;
pub mod lock;
pub mod mem;
pub mod process;
pub mod signals;
