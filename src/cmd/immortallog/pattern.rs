//! Line patterns, matched against a whole line, byte by byte, without
//! backtracking — not globs:
//!
//! | pattern | multilog ([`multilog_match`], daemontools' `match.c`) | svlogd ([`svlogd_match`], runit's `pmatch.c`) |
//! |---|---|---|
//! | `c` | the byte `c` | the byte `c` |
//! | `*` before `c` | the shortest run of bytes up to the next `c` | the same |
//! | `*` at the end | anything | anything |
//! | `+c` | the bytes `+`, `c` | one or more `c` |
//!
//! Multilog patterns see the line with its timestamp; svlogd's see it
//! without (the logger decides which, [`super::logger`]).

/// multilog's pattern match (daemontools' `match.c`): the whole line must
/// match; a `*` before the end matches any string that does not contain
/// the pattern's next character (the shortest: no backtracking); a `*` at
/// the end matches anything. Not a glob: `a*c` does not match `abcc`.
pub fn multilog_match(pattern: &[u8], line: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    loop {
        let Some(&c) = pattern.get(p) else {
            return s == line.len();
        };
        p += 1;
        if c == b'*' {
            let Some(&next) = pattern.get(p) else {
                return true;
            };
            match line[s..].iter().position(|&b| b == next) {
                Some(i) => s += i,
                None => return false,
            }
            continue;
        }
        if line.get(s) != Some(&c) {
            return false;
        }
        s += 1;
    }
}

/// svlogd's pattern match (runit's `pmatch.c`): multilog's, plus `+c`
/// matching one or more `c`. As in svlogd, a line that ends inside a `+`
/// repetition matches whatever follows in the pattern (`a+bc` matches
/// `ab`); a `+` ending the pattern matches nothing.
pub fn svlogd_match(pattern: &[u8], line: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    loop {
        let Some(&c) = pattern.get(p) else {
            return s == line.len();
        };
        p += 1;
        match c {
            b'*' => {
                let Some(&next) = pattern.get(p) else {
                    return true;
                };
                match line[s..].iter().position(|&b| b == next) {
                    Some(i) => s += i,
                    None => return false,
                }
            }
            b'+' => {
                let Some(&rep) = pattern.get(p) else {
                    return false;
                };
                p += 1;
                if line.get(s) != Some(&rep) {
                    return false;
                }
                loop {
                    match line.get(s) {
                        None => return true,
                        Some(&b) if b == rep => s += 1,
                        Some(_) => break,
                    }
                }
            }
            _ => {
                if line.get(s) != Some(&c) {
                    return false;
                }
                s += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multilog_patterns() {
        let table: &[(&str, &str, bool)] = &[
            // From multilog(8).
            ("hello", "hello", true),
            ("hello", "hello world", false),
            (
                "named[*]: Cleaned cache *",
                "named[135]: Cleaned cache of 3121 RRs",
                true,
            ),
            ("*", "", true),
            ("*", "anything at all", true),
            ("* fatal: *", "@400000003b4a39c23294b13c fatal: out of memory", true),
            ("* fatal: *", "@400000003b4a39c23294b13c info: fatal: no", false),
            // A star stops at the first occurrence of the next character.
            ("a*c", "abbc", true),
            ("a*c", "abcc", false),
            ("*pid*", "tcpsvd: info: pid 1977", false),
            ("*: *: pid *", "tcpsvd: info: pid 1977 from 10.4.1.14", true),
            ("", "", true),
            ("", "x", false),
            ("x", "", false),
            ("ab", "a", false),
            // No other special characters.
            ("a+b", "a+b", true),
            ("a+b", "aab", false),
            ("a?c", "abc", false),
            ("[ab]", "a", false),
            // The next character of a star can be a star (taken literally).
            ("**x", "yyx", false),
            ("**x", "y*x", true),
            ("*x", "yyxz", false),
        ];
        for &(pat, line, want) in table {
            assert_eq!(
                multilog_match(pat.as_bytes(), line.as_bytes()),
                want,
                "{pat:?} ~ {line:?}"
            );
        }
    }

    #[test]
    fn svlogd_patterns() {
        let table: &[(&str, &str, bool)] = &[
            // From svlogd(8): the first star stops at the p of tcpsvd.
            ("*pid*", "tcpsvd: info: pid 1977 from 10.4.1.14", false),
            ("*: *: pid *", "tcpsvd: info: pid 1977 from 10.4.1.14", true),
            ("hello", "hello", true),
            ("hello", "hello!", false),
            ("*", "", true),
            // + repeats the next character once or more.
            ("a+b", "abbb", true),
            ("a+bc", "abbbc", true),
            ("a+b", "a", false),
            ("a+bc", "ac", false),
            ("+ab", "aaab", true),
            ("x+y", "xyz", false),
            // svlogd's quirks: a line ending inside a repetition matches;
            // a + that ends the pattern matches nothing.
            ("a+bc", "ab", true),
            ("a+", "a+", false),
            ("+a", "", false),
        ];
        for &(pat, line, want) in table {
            assert_eq!(
                svlogd_match(pat.as_bytes(), line.as_bytes()),
                want,
                "{pat:?} ~ {line:?}"
            );
        }
    }
}
