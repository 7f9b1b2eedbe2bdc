//! `immortallog`: read stdin, write rotated, timestamped logs (the library's
//! [`crate::logfile::LogWriter`]), in three dialects:
//!
//! ```text
//! immortallog [-t|-tt|-ttt] [-s BYTES] [-n NUM] [-a SECONDS] DIR   # svlogd-like
//! immortallog t s1000000 n10 ./main                                # multilog-like
//! immortallog -f FILE [-s MiB] [-n NUM] [-a SECONDS] [-T]          # Go-immortal-like
//! ```
//!
//! DIR modes write `DIR/current`, rotate to `DIR/@<tai64n>.s`, hold
//! `DIR/lock`, and read svlogd's `DIR/config` (`sSIZE`, `nNUM`, `NNUM`,
//! `tSECONDS`). SIGHUP reopens, SIGALRM rotates now, SIGTERM or end of input
//! flushes (a final unterminated line gets its newline) and exits 0.

use crate::logfile::{LogWriter, Naming, Rotation, Stamp};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub target: PathBuf,
    pub naming: Naming,
    pub rotation: Rotation,
    pub stamp: Stamp,
}

const SVLOGD_SIZE: u64 = 1_000_000;
const SVLOGD_KEEP: usize = 10;
const MULTILOG_SIZE: u64 = 99_999;
const MULTILOG_FILES: usize = 10;

fn number<T: std::str::FromStr>(what: &str, v: Option<&String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{what} needs a value"))?;
    v.parse().map_err(|_| format!("{what}: not a number: '{v}'"))
}

/// Parse the command line (without the program name).
pub fn parse(args: &[String]) -> Result<Options, String> {
    if args.is_empty() {
        return Err("missing DIR (or -f FILE)".into());
    }
    // A lone DIR, or any flag: svlogd's or Go's syntax; else multilog's.
    if args.len() == 1 || args.iter().any(|a| a.starts_with('-')) {
        parse_flags(args)
    } else {
        parse_multilog(args)
    }
}

fn parse_flags(args: &[String]) -> Result<Options, String> {
    let (mut file, mut dir) = (None, None);
    let (mut size, mut keep, mut age, mut stamp) = (None, None, None, Stamp::None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-t" => stamp = Stamp::Tai64n,
            "-tt" => stamp = Stamp::Svlogd,
            "-ttt" => stamp = Stamp::SvlogdT,
            "-T" => stamp = Stamp::Rfc3339,
            "-f" => file = Some(PathBuf::from(it.next().ok_or("-f needs a FILE")?)),
            "-s" => size = Some(number::<u64>("-s", it.next())?),
            "-n" => keep = Some(number::<usize>("-n", it.next())?),
            "-a" => age = Some(number::<u64>("-a", it.next())?),
            s if s.starts_with('-') => return Err(format!("unknown option: {s}")),
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument: {a}")),
        }
    }
    let age = age.filter(|&a| a > 0).map(Duration::from_secs);
    match (file, dir) {
        (Some(f), None) => Ok(Options {
            target: f,
            naming: Naming::Numbered,
            // Go immortal: sizes in MiB, default 1 MiB.
            rotation: Rotation {
                size: size.unwrap_or(1).saturating_mul(1024 * 1024),
                age,
                keep: keep.unwrap_or(1),
            },
            stamp,
        }),
        (None, Some(d)) => Ok(Options {
            target: d,
            naming: Naming::Tai64n,
            rotation: Rotation {
                size: size.unwrap_or(SVLOGD_SIZE),
                age,
                keep: keep.unwrap_or(SVLOGD_KEEP),
            },
            stamp,
        }),
        (Some(_), Some(d)) => Err(format!("give -f FILE or DIR, not both (DIR: {})", d.display())),
        (None, None) => Err("missing DIR (or -f FILE)".into()),
    }
}

fn parse_multilog(args: &[String]) -> Result<Options, String> {
    let (mut size, mut files, mut stamp, mut dir) = (MULTILOG_SIZE, MULTILOG_FILES, Stamp::None, None);
    for a in args {
        match a.as_bytes().first() {
            Some(b't') if a == "t" => stamp = Stamp::Tai64n,
            Some(b's') => size = a[1..].parse().map_err(|_| format!("bad size token: {a}"))?,
            Some(b'n') => files = a[1..].parse().map_err(|_| format!("bad count token: {a}"))?,
            Some(b'.') | Some(b'/') if dir.is_none() => dir = Some(PathBuf::from(a)),
            Some(b'.') | Some(b'/') => return Err(format!("only one log directory is supported: {a}")),
            _ => return Err(format!("unsupported multilog token: {a}")),
        }
    }
    let dir = dir.ok_or("missing log directory (starting with . or /)")?;
    // multilog's nNUM counts `current` too.
    Ok(Options {
        target: dir,
        naming: Naming::Tai64n,
        rotation: Rotation {
            size,
            age: None,
            keep: files.saturating_sub(1).max(1),
        },
        stamp,
    })
}

/// svlogd's `DIR/config`: `sSIZE`, `nNUM`, `NNUM` (minimum kept: accepted),
/// `tSECONDS` (rotate when older). Other lines are ignored.
pub fn apply_config(opts: &mut Options, text: &str) -> Result<(), String> {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        let bad = || format!("config:{}: bad line: {line}", i + 1);
        match line.as_bytes().first() {
            Some(b's') => opts.rotation.size = line[1..].parse().map_err(|_| bad())?,
            Some(b'n') => opts.rotation.keep = line[1..].parse::<usize>().map_err(|_| bad())?.max(1),
            Some(b'N') => {
                line[1..].parse::<usize>().map_err(|_| bad())?;
            }
            Some(b't') => {
                let secs: u64 = line[1..].parse().map_err(|_| bad())?;
                opts.rotation.age = (secs > 0).then(|| Duration::from_secs(secs));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Open the writer for `opts` (taking `DIR/lock` in DIR modes).
pub fn open(mut opts: Options) -> crate::error::Result<(LogWriter, Option<crate::sys::lock::Lock>)> {
    use crate::error::{Context, Error};
    let (current, lock) = match opts.naming {
        Naming::Tai64n => {
            crate::sys::fs::ensure_dir(&opts.target)?;
            let mut lock = crate::sys::lock::Lock::acquire(&opts.target.join("lock"))
                .map_err(|e| Error::invalid(format!("{}: already running? {e}", opts.target.display())))?;
            lock.record_holder(std::process::id())?;
            let config = opts.target.join("config");
            if let Ok(text) = crate::sys::fs::read_regular_text(&config, crate::sys::fs::MAX_SMALL_FILE) {
                apply_config(&mut opts, &text).map_err(|e| Error::invalid(format!("{}/{e}", opts.target.display())))?;
            }
            (opts.target.join("current"), Some(lock))
        }
        Naming::Numbered => (opts.target.clone(), None),
    };
    let w = LogWriter::open(&current, opts.naming, opts.rotation, opts.stamp).ctx("open", &current)?;
    Ok((w, lock))
}

/// Copy stdin into `w` until end of input or SIGTERM; returns the exit code.
pub fn run(mut w: LogWriter) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::Signal;
    use std::io::Read;
    use std::os::fd::AsFd;
    let mut signals = match crate::sys::signals::Signals::block(&[
        Signal::SIGHUP,
        Signal::SIGALRM,
        Signal::SIGTERM,
        Signal::SIGINT,
    ]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("immortallog: fatal: {e}");
            return 1;
        }
    };
    crate::sys::process::ignore_file_size_signal();
    let stdin = std::io::stdin();
    let _ = nix::fcntl::fcntl(&stdin, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK));
    let mut buf = vec![0u8; 256 * 1024];
    let mut eof = false;
    let mut retry;
    loop {
        if eof {
            w.finish();
        }
        match w.flush() {
            Ok(()) => retry = false,
            Err(_) => {
                if let Some(e) = w.take_error() {
                    eprintln!("immortallog: {e} (retrying every second)");
                }
                retry = true;
            }
        }
        if eof && w.pending() == 0 {
            return 0;
        }
        let (sig_ready, in_ready) = {
            let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            // Back-pressure: while the disk fails, stop reading.
            let reading = !eof && !w.full();
            if reading {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            let timeout = if retry {
                PollTimeout::from(1000u16)
            } else {
                PollTimeout::NONE
            };
            if poll(&mut fds, timeout).is_err() {
                continue;
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), reading && ready(&fds[1]))
        };
        if sig_ready {
            for s in signals.drain() {
                match s {
                    Signal::SIGHUP => {
                        if let Err(e) = w.reopen() {
                            eprintln!("immortallog: unable to reopen: {e}");
                        }
                    }
                    Signal::SIGALRM => {
                        if let Err(e) = w.rotate() {
                            eprintln!("immortallog: unable to rotate: {e}");
                        }
                    }
                    _ => eof = true, // TERM/INT: flush what we have and exit
                }
            }
        }
        if in_ready {
            // Read what is there (bounded, so the disk sees large writes).
            for _ in 0..16 {
                match (&stdin).read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => w.push(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break, // WouldBlock
                }
                if w.full() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn three_dialects() {
        let o = p(&["-tt", "-s", "5000", "-n", "3", "/var/log/x"]).unwrap();
        assert_eq!(
            (o.naming, o.stamp, o.rotation.size, o.rotation.keep),
            (Naming::Tai64n, Stamp::Svlogd, 5000, 3)
        );
        let o = p(&["/var/log/x"]).unwrap();
        assert_eq!(
            (o.rotation.size, o.rotation.keep, o.stamp),
            (SVLOGD_SIZE, SVLOGD_KEEP, Stamp::None)
        );
        assert_eq!(p(&["-t", "./d"]).unwrap().stamp, Stamp::Tai64n);
        assert_eq!(p(&["-ttt", "./d"]).unwrap().stamp, Stamp::SvlogdT);
        let o = p(&["t", "s1000000", "n10", "./main"]).unwrap();
        assert_eq!(
            (o.stamp, o.rotation.size, o.rotation.keep),
            (Stamp::Tai64n, 1_000_000, 9)
        );
        assert_eq!(o.target, PathBuf::from("./main"));
        let o = p(&["-f", "/tmp/a.log", "-s", "2", "-n", "7", "-a", "60", "-T"]).unwrap();
        assert_eq!(o.naming, Naming::Numbered);
        assert_eq!(
            (o.rotation.size, o.rotation.keep, o.rotation.age),
            (2 << 20, 7, Some(Duration::from_secs(60)))
        );
        assert_eq!(o.stamp, Stamp::Rfc3339);
    }

    #[test]
    fn errors() {
        assert!(p(&[]).is_err());
        assert!(p(&["-s", "big", "d"]).unwrap_err().contains("not a number"));
        assert!(p(&["-x", "d"]).unwrap_err().contains("unknown option"));
        assert!(p(&["-f", "a", "dir"]).unwrap_err().contains("not both"));
        assert!(p(&["t", "sbig", "./d"]).unwrap_err().contains("bad size"));
        assert!(p(&["t", "n10"]).unwrap_err().contains("missing log directory"));
        assert!(p(&["e", "./d"]).unwrap_err().contains("unsupported"));
    }

    #[test]
    fn svlogd_config() {
        let mut o = p(&["./d"]).unwrap();
        apply_config(&mut o, "s4096\nn5\nN2\nt3600\n!ignored\n").unwrap();
        assert_eq!(
            (o.rotation.size, o.rotation.keep, o.rotation.age),
            (4096, 5, Some(Duration::from_secs(3600)))
        );
        assert!(apply_config(&mut o, "sx\n").unwrap_err().contains("config:1"));
    }
}
