//! Every way to command a supervisor maps onto one [`Command`].
//!
//! | control byte | socket `/signal/NAME`        | command                     |
//! |--------------|------------------------------|-----------------------------|
//! | `u` `U`      | `u up start`                 | Up                          |
//! | `d` `D`      | `d down`                     | Down                        |
//! | `o`          | `o once`                     | Once                        |
//! | `O`          | —                            | OnceAtMost (s6)             |
//! | `p`          | `p pause`                    | Pause (STOP, paused flag)   |
//! | `c`          | `c cont CONT`                | Continue (CONT, unpause)    |
//! | `r`          | `restart`                    | Restart                     |
//! | `x`          | —                            | Exit { stop_service: true } |
//! | —            | `x exit`                     | Exit { stop_service: false }|
//! | —            | `halt`                       | Halt                        |
//! | `h a i q 1 2 t k b y` | `h a i q 1 2 t k w in ou s` and names | Signal(sig) |
//!
//! `D`/`U` (s6) also create/remove the service's `down` file; that is the
//! service-directory layer's job, so they carry the flag here.

use nix::sys::signal::Signal;

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

/// A control-FIFO byte (runit's set plus s6-svc's letters).
pub fn from_byte(b: u8) -> Option<Command> {
    use Signal::*;
    Some(match b {
        b'u' | b'U' => Command::Up,
        b'd' | b'D' => Command::Down,
        b'o' => Command::Once,
        b'O' => Command::OnceAtMost,
        b'p' => Command::Pause,
        b'c' => Command::Continue,
        b'r' => Command::RestartSignal,
        b'x' => Command::Exit { stop_service: true },
        b'h' => Command::Signal(SIGHUP),
        b'a' => Command::Signal(SIGALRM),
        b'i' => Command::Signal(SIGINT),
        b'q' => Command::Signal(SIGQUIT),
        b'1' => Command::Signal(SIGUSR1),
        b'2' => Command::Signal(SIGUSR2),
        b't' => Command::Signal(SIGTERM),
        b'k' => Command::Signal(SIGKILL),
        b'b' => Command::Signal(SIGABRT),
        b'y' => Command::Signal(SIGWINCH),
        _ => return None,
    })
}

/// A socket `/signal/NAME` word, as the Go immortal accepts them.
pub fn from_word(word: &str) -> Option<Command> {
    use Signal::*;
    Some(match word {
        "a" | "alrm" | "ALRM" => Command::Signal(SIGALRM),
        "c" | "cont" | "CONT" => Command::Continue,
        "d" | "down" => Command::Down,
        "h" | "hup" | "HUP" => Command::Signal(SIGHUP),
        "halt" => Command::Halt,
        "restart" => Command::Restart,
        "i" | "int" | "INT" => Command::Signal(SIGINT),
        "in" | "ttin" | "TTIN" => Command::Signal(SIGTTIN),
        "k" | "kill" | "KILL" => Command::Signal(SIGKILL),
        "o" | "once" => Command::Once,
        "ou" | "out" | "ttou" | "TTOU" => Command::Signal(SIGTTOU),
        "p" | "pause" => Command::Pause,
        // Go's quirk, kept: `s`/`stop` is SIGSTOP, not "stop the service".
        "s" | "stop" | "STOP" => Command::Signal(SIGSTOP),
        "q" | "quit" | "QUIT" => Command::Signal(SIGQUIT),
        "t" | "term" | "TERM" => Command::Signal(SIGTERM),
        "u" | "up" | "start" => Command::Up,
        "1" | "usr1" | "USR1" => Command::Signal(SIGUSR1),
        "2" | "usr2" | "USR2" => Command::Signal(SIGUSR2),
        "w" | "winch" | "WINCH" => Command::Signal(SIGWINCH),
        "x" | "exit" => Command::Exit { stop_service: false },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Signal::*;

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
}
