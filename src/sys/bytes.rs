//! Byte search with the C library's vectorised `memchr`/`memrchr`: a log
//! writer looks for newlines in every chunk it is handed.

/// Index of the first `needle` in `haystack`.
pub fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    if haystack.is_empty() {
        return None;
    }
    // SAFETY: memchr reads at most haystack.len() bytes of a valid slice.
    let p = unsafe { libc::memchr(haystack.as_ptr().cast(), needle as i32, haystack.len()) };
    (!p.is_null()).then(|| p as usize - haystack.as_ptr() as usize)
}

/// Index of the last `needle` in `haystack`.
pub fn memrchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    if haystack.is_empty() {
        return None;
    }
    #[cfg(not(target_os = "macos"))]
    {
        // SAFETY: memrchr reads at most haystack.len() bytes of a valid slice.
        let p = unsafe { libc::memrchr(haystack.as_ptr().cast(), needle as i32, haystack.len()) };
        (!p.is_null()).then(|| p as usize - haystack.as_ptr() as usize)
    }
    // macOS's C library has no memrchr.
    #[cfg(target_os = "macos")]
    {
        haystack.iter().rposition(|&b| b == needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last() {
        for (text, first, last) in [
            (&b""[..], None, None),
            (b"abc", None, None),
            (b"\n", Some(0), Some(0)),
            (b"a\nb\nc", Some(1), Some(3)),
            (b"ab\n", Some(2), Some(2)),
        ] {
            assert_eq!(memchr(b'\n', text), first, "{text:?}");
            assert_eq!(memrchr(b'\n', text), last, "{text:?}");
            assert_eq!(memchr(b'\n', text), text.iter().position(|&b| b == b'\n'));
            assert_eq!(memrchr(b'\n', text), text.iter().rposition(|&b| b == b'\n'));
        }
    }
}
