//! One error type for the whole crate: what we tried to do, on what, and why.
//!
//! Messages read `unable to {operation} {path}: {cause}` so an operator sees
//! the file at fault without a debugger. Exit status 1 is used for every
//! refused start, as the Go immortal does.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Exit status for a refused start or a usage error.
pub const EXIT_FAILURE: i32 = 1;

#[derive(Debug)]
pub enum Error {
    /// A system call on a path failed.
    Io {
        op: &'static str,
        path: PathBuf,
        cause: io::Error,
    },
    /// Input from outside (flags, files, requests) was rejected; the text
    /// already names what and where.
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Error {
        Error::Invalid(msg.into())
    }

    /// The underlying OS error number, if this error came from a system call.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { cause, .. } => cause.raw_os_error(),
            Error::Invalid(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, path, cause } => {
                write!(f, "unable to {op} {}: {cause}", path.display())
            }
            Error::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

/// Attach an operation and a path to an I/O result in one line:
/// `fs::rename(&tmp, &dst).ctx("rename", &dst)?`.
pub trait Context<T> {
    fn ctx(self, op: &'static str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|cause| Error::Io {
            op,
            path: path.as_ref().to_path_buf(),
            cause,
        })
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx(self, op: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|errno| Error::Io {
            op,
            path: path.as_ref().to_path_buf(),
            cause: io::Error::from_raw_os_error(errno as i32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_operation_path_and_cause() {
        let err = std::fs::read("/nonexistent/run.yml")
            .ctx("read", "/nonexistent/run.yml")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("unable to read /nonexistent/run.yml: "), "{text}");
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    }
}
