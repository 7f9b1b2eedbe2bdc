//! Signal names as `kill -l` prints them, with or without `SIG`.

use nix::sys::signal::Signal;
use std::str::FromStr;

/// `TERM`, `SIGTERM`, `term` → SIGTERM; numbers are accepted too.
pub fn parse(name: &str) -> Option<Signal> {
    let name = name.trim();
    if let Ok(n) = name.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).ok()
}

/// `SIGTERM` → `TERM`, the form the JSON API and logs use.
pub fn short_name(sig: Signal) -> &'static str {
    let full = sig.as_str();
    full.strip_prefix("SIG").unwrap_or(full)
}

/// Short name of a raw signal number, or the number itself.
pub fn name_of(raw: i32) -> String {
    match Signal::try_from(raw) {
        Ok(sig) => short_name(sig).to_string(),
        Err(_) => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse("TERM"), Some(Signal::SIGTERM));
        assert_eq!(parse("sigquit"), Some(Signal::SIGQUIT));
        assert_eq!(parse("SIGUSR2"), Some(Signal::SIGUSR2));
        assert_eq!(parse("9"), Some(Signal::SIGKILL));
        assert_eq!(parse("BOGUS"), None);
        assert_eq!(parse(""), None);
        assert_eq!(short_name(Signal::SIGHUP), "HUP");
        assert_eq!(name_of(15), "TERM");
        assert_eq!(name_of(999), "999");
    }
}
