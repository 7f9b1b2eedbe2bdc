//! The clocks `/proc` counts in, which the standard library does not offer.

use std::time::Duration;

/// The kernel's clock tick (`_SC_CLK_TCK`): the unit of the times in
/// `/proc/PID/stat`.
pub fn clock_ticks_per_second() -> Option<u64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then_some(hz as u64)
}

/// Time since boot, suspended time included (`CLOCK_BOOTTIME`): the clock
/// a process's start time in `/proc/PID/stat` is read against.
pub fn since_boot() -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_answer() {
        assert!(clock_ticks_per_second().is_some_and(|hz| hz > 0));
        let a = since_boot().unwrap();
        let b = since_boot().unwrap();
        assert!(a > Duration::ZERO && b >= a);
    }
}
