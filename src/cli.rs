//! Command-line glue shared by the binaries: Go `flag`-style parsing on top
//! of getopts (`-ctl DIR`, `--ctl DIR`, `-ctl=DIR`, `-n=false`; parsing
//! stops at the first argument that is not an option).

use crate::error::{Error, Result};
use getopts::{Matches, Options, ParsingStyle};
use std::io::Write;

/// Options that read like Go's `flag` package.
pub fn go_options() -> Options {
    let mut o = Options::new();
    o.long_only(true).parsing_style(ParsingStyle::StopAtFirstFree);
    o
}

/// Parse `args`, accepting Go's explicit boolean forms (`-n=true`,
/// `-n=false`) for the flags named in `bools`.
pub fn parse(opts: &Options, args: &[String], bools: &[&str]) -> Result<Matches> {
    let mut norm = Vec::with_capacity(args.len());
    let mut rest = args.iter();
    for arg in rest.by_ref() {
        if arg == "--" || !arg.starts_with('-') {
            norm.push(arg.clone());
            break;
        }
        let bare = arg.trim_start_matches('-');
        match bare.split_once('=') {
            Some((name, value)) if bools.contains(&name) => match value {
                "true" | "1" | "t" | "T" | "TRUE" | "True" => norm.push(format!("-{name}")),
                "false" | "0" | "f" | "F" | "FALSE" | "False" => {}
                _ => return Err(Error::invalid(format!("invalid boolean value \"{value}\" for -{name}"))),
            },
            _ => norm.push(arg.clone()),
        }
    }
    norm.extend(rest.cloned());
    opts.parse(&norm).map_err(|e| Error::invalid(e.to_string()))
}

/// An integer option's value, or an error naming the option.
pub fn int_opt<T: std::str::FromStr>(m: &Matches, name: &str, default: T) -> Result<T> {
    match m.opt_str(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| Error::invalid(format!("invalid value \"{v}\" for -{name}"))),
    }
}

/// Print to stdout, ignoring a closed pipe (`immortal -h | head`).
pub fn print(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn opts() -> Options {
        let mut o = go_options();
        o.optflag("n", "", "")
            .optopt("c", "", "", "")
            .optflag("", "cc", "")
            .optopt("", "ctl", "", "");
        o
    }

    #[test]
    fn go_forms() {
        let m = parse(&opts(), &args(&["-ctl", "a", "-n", "sh", "-c", "x"]), &["n"]).unwrap();
        assert_eq!(m.opt_str("ctl").as_deref(), Some("a"));
        assert!(m.opt_present("n"));
        assert_eq!(m.free, args(&["sh", "-c", "x"]));
        let m = parse(&opts(), &args(&["--ctl=b", "-cc", "-c", "f.yml"]), &["n"]).unwrap();
        assert_eq!(m.opt_str("ctl").as_deref(), Some("b"));
        assert!(m.opt_present("cc"));
        assert_eq!(m.opt_str("c").as_deref(), Some("f.yml"));
        let m = parse(&opts(), &args(&["-n=false", "x"]), &["n"]).unwrap();
        assert!(!m.opt_present("n"));
        let m = parse(&opts(), &args(&["-n=true", "--", "-n=true"]), &["n"]).unwrap();
        assert!(m.opt_present("n"));
        assert_eq!(m.free, args(&["-n=true"]));
        assert!(parse(&opts(), &args(&["-bogus"]), &["n"]).is_err());
        assert!(parse(&opts(), &args(&["-n=maybe"]), &["n"]).is_err());
    }
}
