//! Timestamps for log lines and rotated file names, without a date crate:
//! RFC 3339 UTC (Go immortal's `timestamp`/`-T`), svlogd's `-tt`
//! (`YYYY-MM-DD_HH:MM:SS.xxxxx`) and `-ttt` (`YYYY-MM-DDTHH:MM:SS.xxxxx`),
//! and TAI64N labels (`@4000…`, multilog's `t`, svlogd's `-t`, rotated names).

use std::time::{SystemTime, UNIX_EPOCH};

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's
/// civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn parts(t: SystemTime) -> (i64, u32, u32, u64, u64, u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, mo, day) = civil((secs / 86_400) as i64);
    let rem = secs % 86_400;
    (y, mo, day, rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_nanos())
}

/// `2026-11-26T22:04:41.123456Z`
pub fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, ns) = parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}Z", ns / 1000)
}

/// svlogd `-tt` (`sep` `_`) or `-ttt` (`sep` `T`): five fractional digits.
pub fn svlogd(t: SystemTime, sep: char) -> String {
    let (y, mo, d, h, mi, s, ns) = parts(t);
    format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}.{:05}", ns / 10_000)
}

/// `@` and 24 hex digits: TAI64 seconds (2^62 + 10 + unix) and nanoseconds.
pub fn tai64n(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "@{:016x}{:08x}",
        crate::status::TAI_EPOCH + d.as_secs(),
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats() {
        let t = UNIX_EPOCH + Duration::new(1_795_726_463, 531_815_500);
        assert_eq!(rfc3339(t), "2026-11-26T20:54:23.531815Z");
        assert_eq!(svlogd(t, '_'), "2026-11-26_20:54:23.53181");
        assert_eq!(svlogd(t, 'T'), "2026-11-26T20:54:23.53181");
        assert_eq!(tai64n(t), "@400000006b089c891fb2dc4c");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        // A leap day.
        assert_eq!(
            svlogd(UNIX_EPOCH + Duration::from_secs(951_782_400), '_'),
            "2000-02-29_00:00:00.00000"
        );
    }
}
