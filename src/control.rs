//! Every way to command a supervisor maps onto one [`Command`], through
//! two tables defined once here and read both ways: [`from_byte`] and
//! [`from_word`] decode, [`to_byte`] and [`to_word`] encode (what
//! `immortalctl` sends). The first byte or word of an entry is the one
//! written; the others are accepted too.
//!
//! | control byte | socket `/signal/NAME`        | command                     |
//! |--------------|------------------------------|-----------------------------|
//! | `u` `U`      | `up u start`                 | Up                          |
//! | `d` `D`      | `down d`                     | Down                        |
//! | `o`          | `once o`                     | Once                        |
//! | `O`          | —                            | OnceAtMost (s6)             |
//! | `p`          | `pause p`                    | Pause (STOP, paused flag)   |
//! | `c`          | `CONT c cont`                | Continue (CONT, unpause)    |
//! | —            | `restart`                    | Restart                     |
//! | `r`          | —                            | RestartSignal (s6)          |
//! | `x`          | —                            | Exit { stop_service: true } |
//! | —            | `exit x`                     | Exit { stop_service: false }|
//! | —            | `halt`                       | Halt                        |
//! | `h a i q 1 2 t k b y` | `HUP h hup`, `ALRM a alrm`… and `TTIN in`, `TTOU ou`, `STOP s`, `WINCH w` | Signal(sig) |
//!
//! A signal's written word is its name as `kill -l` prints it (and the Go
//! `immortalctl` sends it); so is Continue's, which sends CONT.
//!
//! `D`/`U` (s6) also create/remove the service's `down` file; that is the
//! service-directory layer's job, so they carry the flag here.

use nix::sys::signal::Signal;
use nix::sys::signal::Signal::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Up,
    Down,
    Once,
    Pause,
    Continue,
    /// Stop, re-read the configuration, start again.
    Restart,
    /// s6's `r`: send the stop signal, keep wanting the service up.
    RestartSignal,
    /// s6's `O`: do not restart when it ends; if down, do not start.
    OnceAtMost,
    /// Supervisor exits; with `stop_service` it first takes the service down
    /// (runit's `x`), without it leaves the service running (Go's `exit`).
    Exit {
        stop_service: bool,
    },
    /// Down, then the supervisor exits.
    Halt,
    Signal(Signal),
}

/// The control-FIFO bytes: runit's set plus s6-svc's letters. The first
/// byte of each entry is [`to_byte`]'s.
const BYTES: &[(Command, &[u8])] = &[
    (Command::Up, b"uU"),
    (Command::Down, b"dD"),
    (Command::Once, b"o"),
    (Command::OnceAtMost, b"O"),
    (Command::Pause, b"p"),
    (Command::Continue, b"c"),
    (Command::RestartSignal, b"r"),
    (Command::Exit { stop_service: true }, b"x"),
    (Command::Signal(SIGHUP), b"h"),
    (Command::Signal(SIGALRM), b"a"),
    (Command::Signal(SIGINT), b"i"),
    (Command::Signal(SIGQUIT), b"q"),
    (Command::Signal(SIGUSR1), b"1"),
    (Command::Signal(SIGUSR2), b"2"),
    (Command::Signal(SIGTERM), b"t"),
    (Command::Signal(SIGKILL), b"k"),
    (Command::Signal(SIGABRT), b"b"),
    (Command::Signal(SIGWINCH), b"y"),
];

/// The bytes runit's `runsv` understands (the others are s6's): all a
/// client may write to a supervisor that is not ours.
pub const RUNIT_BYTES: &[u8] = b"udopcxhaiqkt12";

/// The socket's `/signal/NAME` words, as the Go immortal accepts them. The
/// first word of each entry is [`to_word`]'s.
const WORDS: &[(Command, &[&str])] = &[
    (Command::Up, &["up", "u", "start"]),
    (Command::Down, &["down", "d"]),
    (Command::Once, &["once", "o"]),
    (Command::Pause, &["pause", "p"]),
    (Command::Continue, &["CONT", "c", "cont"]),
    (Command::Restart, &["restart"]),
    (Command::Halt, &["halt"]),
    (Command::Exit { stop_service: false }, &["exit", "x"]),
    (Command::Signal(SIGALRM), &["ALRM", "a", "alrm"]),
    (Command::Signal(SIGHUP), &["HUP", "h", "hup"]),
    (Command::Signal(SIGINT), &["INT", "i", "int"]),
    (Command::Signal(SIGTTIN), &["TTIN", "in", "ttin"]),
    (Command::Signal(SIGKILL), &["KILL", "k", "kill"]),
    (Command::Signal(SIGTTOU), &["TTOU", "ou", "out", "ttou"]),
    // Go's quirk, kept: `s`/`stop` is SIGSTOP, not "stop the service".
    (Command::Signal(SIGSTOP), &["STOP", "s", "stop"]),
    (Command::Signal(SIGQUIT), &["QUIT", "q", "quit"]),
    (Command::Signal(SIGTERM), &["TERM", "t", "term"]),
    (Command::Signal(SIGUSR1), &["USR1", "1", "usr1"]),
    (Command::Signal(SIGUSR2), &["USR2", "2", "usr2"]),
    (Command::Signal(SIGWINCH), &["WINCH", "w", "winch"]),
];

/// A control-FIFO byte (runit's set plus s6-svc's letters).
pub fn from_byte(b: u8) -> Option<Command> {
    BYTES.iter().find(|(_, bytes)| bytes.contains(&b)).map(|&(cmd, _)| cmd)
}

/// The byte that asks for `cmd` through a control FIFO, if one does.
pub fn to_byte(cmd: Command) -> Option<u8> {
    BYTES
        .iter()
        .find(|&&(c, _)| c == cmd)
        .and_then(|(_, bytes)| bytes.first().copied())
}

/// A socket `/signal/NAME` word, as the Go immortal accepts them.
pub fn from_word(word: &str) -> Option<Command> {
    WORDS
        .iter()
        .find(|(_, words)| words.contains(&word))
        .map(|&(cmd, _)| cmd)
}

/// The word that asks for `cmd` through the socket, if one does.
pub fn to_word(cmd: Command) -> Option<&'static str> {
    WORDS
        .iter()
        .find(|&&(c, _)| c == cmd)
        .and_then(|(_, words)| words.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table() {
        let table: &[(u8, Command)] = &[
            (b'u', Command::Up),
            (b'd', Command::Down),
            (b'o', Command::Once),
            (b'p', Command::Pause),
            (b'c', Command::Continue),
            (b'h', Command::Signal(SIGHUP)),
            (b'a', Command::Signal(SIGALRM)),
            (b'i', Command::Signal(SIGINT)),
            (b'q', Command::Signal(SIGQUIT)),
            (b'1', Command::Signal(SIGUSR1)),
            (b'2', Command::Signal(SIGUSR2)),
            (b't', Command::Signal(SIGTERM)),
            (b'k', Command::Signal(SIGKILL)),
            (b'x', Command::Exit { stop_service: true }),
            (b'b', Command::Signal(SIGABRT)),
            (b'y', Command::Signal(SIGWINCH)),
            (b'r', Command::RestartSignal),
            (b'D', Command::Down),
            (b'U', Command::Up),
            (b'O', Command::OnceAtMost),
        ];
        for (b, cmd) in table {
            assert_eq!(from_byte(*b), Some(*cmd), "byte {}", *b as char);
        }
        assert_eq!(from_byte(b'Z'), None);
        assert_eq!(from_byte(b'\n'), None);
    }

    #[test]
    fn word_table() {
        let table: &[(&[&str], Command)] = &[
            (&["a", "alrm", "ALRM"], Command::Signal(SIGALRM)),
            (&["c", "cont", "CONT"], Command::Continue),
            (&["d", "down"], Command::Down),
            (&["h", "hup", "HUP"], Command::Signal(SIGHUP)),
            (&["halt"], Command::Halt),
            (&["restart"], Command::Restart),
            (&["i", "int", "INT"], Command::Signal(SIGINT)),
            (&["in", "ttin", "TTIN"], Command::Signal(SIGTTIN)),
            (&["k", "kill", "KILL"], Command::Signal(SIGKILL)),
            (&["o", "once"], Command::Once),
            (&["ou", "ttou", "TTOU"], Command::Signal(SIGTTOU)),
            (&["s", "stop", "STOP"], Command::Signal(SIGSTOP)),
            (&["q", "quit", "QUIT"], Command::Signal(SIGQUIT)),
            (&["t", "term", "TERM"], Command::Signal(SIGTERM)),
            (&["u", "up", "start"], Command::Up),
            (&["1", "usr1", "USR1"], Command::Signal(SIGUSR1)),
            (&["2", "usr2", "USR2"], Command::Signal(SIGUSR2)),
            (&["w", "winch", "WINCH"], Command::Signal(SIGWINCH)),
            (&["x", "exit"], Command::Exit { stop_service: false }),
            (&["p", "pause"], Command::Pause),
        ];
        for (words, cmd) in table {
            for w in *words {
                assert_eq!(from_word(w), Some(*cmd), "word {w}");
            }
        }
        assert_eq!(from_word("bogus"), None);
        assert_eq!(from_word(""), None);
    }

    /// Every command there is (each signal nix knows), for the round trips.
    fn every_command() -> Vec<Command> {
        let mut all = vec![
            Command::Up,
            Command::Down,
            Command::Once,
            Command::Pause,
            Command::Continue,
            Command::Restart,
            Command::RestartSignal,
            Command::OnceAtMost,
            Command::Exit { stop_service: true },
            Command::Exit { stop_service: false },
            Command::Halt,
        ];
        all.extend(Signal::iterator().map(Command::Signal));
        all
    }

    #[test]
    fn bytes_round_trip_both_ways() {
        for cmd in every_command() {
            match to_byte(cmd) {
                Some(b) => assert_eq!(from_byte(b), Some(cmd), "{cmd:?} → {}", b as char),
                None => assert!((0..=u8::MAX).all(|b| from_byte(b) != Some(cmd)), "{cmd:?} has a byte"),
            }
        }
        for b in 0..=u8::MAX {
            if let Some(cmd) = from_byte(b) {
                let canonical = to_byte(cmd).unwrap_or_else(|| panic!("{cmd:?}: no byte"));
                assert_eq!(from_byte(canonical), Some(cmd), "{}", b as char);
            }
        }
        let written: Vec<Option<u8>> = [
            Command::Up,
            Command::Down,
            Command::OnceAtMost,
            Command::Exit { stop_service: true },
            Command::Signal(SIGWINCH),
            Command::Restart,
            Command::Halt,
            Command::Exit { stop_service: false },
            Command::Signal(SIGSTOP),
        ]
        .into_iter()
        .map(to_byte)
        .collect();
        assert_eq!(
            written,
            [
                Some(b'u'),
                Some(b'd'),
                Some(b'O'),
                Some(b'x'),
                Some(b'y'),
                None,
                None,
                None,
                None
            ]
        );
        // runit's letters are ours too, and mean the same.
        for &b in RUNIT_BYTES {
            assert!(from_byte(b).is_some_and(|c| to_byte(c) == Some(b)), "{}", b as char);
        }
    }

    #[test]
    fn words_round_trip_both_ways() {
        for cmd in every_command() {
            match to_word(cmd) {
                Some(w) => assert_eq!(from_word(w), Some(cmd), "{cmd:?} → {w}"),
                None => {
                    let accepted = WORDS.iter().flat_map(|(_, w)| w.iter());
                    assert!(
                        accepted.into_iter().all(|w| from_word(w) != Some(cmd)),
                        "{cmd:?} has a word"
                    );
                }
            }
        }
        for (cmd, words) in WORDS {
            for w in *words {
                assert_eq!(from_word(w), Some(*cmd), "{w}");
                let canonical = to_word(*cmd).unwrap_or_else(|| panic!("{cmd:?}: no word"));
                assert_eq!(from_word(canonical), Some(*cmd), "{w}");
            }
        }
        let written: Vec<Option<&str>> = [
            Command::Up,
            Command::Down,
            Command::Once,
            Command::Restart,
            Command::Halt,
            Command::Exit { stop_service: false },
            Command::Continue,
            Command::Signal(SIGUSR1),
            Command::Signal(SIGSTOP),
            Command::Signal(SIGTTIN),
            Command::Exit { stop_service: true },
            Command::RestartSignal,
            Command::Signal(SIGABRT),
        ]
        .into_iter()
        .map(to_word)
        .collect();
        assert_eq!(
            written,
            [
                Some("up"),
                Some("down"),
                Some("once"),
                Some("restart"),
                Some("halt"),
                Some("exit"),
                Some("CONT"),
                Some("USR1"),
                Some("STOP"),
                Some("TTIN"),
                None,
                None,
                None
            ]
        );
    }

    #[test]
    fn no_byte_or_word_means_two_commands() {
        let mut bytes: Vec<u8> = BYTES.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        let n = bytes.len();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), n);
        let mut words: Vec<&str> = WORDS.iter().flat_map(|(_, w)| w.iter().copied()).collect();
        let n = words.len();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), n);
        // One entry per command, so the written byte or word is unique.
        for table in [
            BYTES.iter().map(|e| e.0).collect::<Vec<_>>(),
            WORDS.iter().map(|e| e.0).collect(),
        ] {
            for (i, c) in table.iter().enumerate() {
                assert!(!table[i + 1..].contains(c), "{c:?} twice");
            }
        }
    }
}
