//! Thin wrappers over the system calls the supervisor needs. The only place
//! with `unsafe`; each block says why it is sound (a `// SAFETY:` comment,
//! which clippy requires). Nothing here uses the modules above it: `sys`
//! knows system calls, not supervisors.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod bytes;
pub mod child;
pub mod clone;
pub mod cmain;
pub mod confine;
pub mod daemon;
pub mod events;
pub mod exec;
pub mod filter;
pub mod fs;
pub mod hold;
pub mod lock;
pub mod mem;
pub mod peer;
#[cfg(target_os = "linux")]
pub mod pidfd;
pub mod process;
pub mod rlimit;
pub mod socket;
pub mod spawn;
pub mod system;

/// The `poll` timeout that wakes at `deadline` (never early: rounded up to
/// the millisecond), or never.
pub fn timeout_until(deadline: Option<std::time::Instant>) -> nix::poll::PollTimeout {
    use nix::poll::PollTimeout;
    match deadline {
        None => PollTimeout::NONE,
        Some(at) => {
            let ms = at
                .saturating_duration_since(std::time::Instant::now())
                .as_micros()
                .div_ceil(1000);
            PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
        }
    }
}
