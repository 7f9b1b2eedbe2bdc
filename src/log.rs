//! The supervisor's own messages (starts, exits, commands, warnings): to
//! stderr in the foreground, to syslog (facility daemon, tag `immortal`)
//! once detached.

use std::ffi::CString;
use std::io::Write;

pub struct Log {
    prefix: String,
    syslog: bool,
}

impl Log {
    pub fn stderr(prefix: impl Into<String>) -> Log {
        Log {
            prefix: prefix.into(),
            syslog: false,
        }
    }

    pub fn syslog(prefix: impl Into<String>) -> Log {
        // SAFETY: the ident is a 'static C string, as openlog requires.
        unsafe { libc::openlog(c"immortal".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        Log {
            prefix: prefix.into(),
            syslog: true,
        }
    }

    pub fn info(&self, msg: &str) {
        self.emit(libc::LOG_INFO, msg);
    }

    pub fn warn(&self, msg: &str) {
        self.emit(libc::LOG_WARNING, msg);
    }

    fn emit(&self, level: libc::c_int, msg: &str) {
        if self.syslog {
            let line = format!("{}: {msg}", self.prefix).replace('\0', " ");
            if let Ok(c) = CString::new(line) {
                // SAFETY: "%s" with one valid C string argument.
                unsafe { libc::syslog(level, c"%s".as_ptr(), c.as_ptr()) };
            }
        } else {
            // A closed or broken stderr must not take the supervisor down.
            let _ = writeln!(std::io::stderr(), "immortal: {}: {msg}", self.prefix);
        }
    }
}
