//! Compressed log files (`log: {compress: gzip|zstd}`): each method is its
//! own program, run as a child — `gzip -c`, `zstd -q -c` to compress,
//! `gzip -dc`, `zstd -q -dc` to read back — found in `PATH` before anything
//! starts (its absence is an error of `-check` and of the start, never a
//! silent plain file). A compressed file is known by its first bytes, so a
//! reader needs no name to tell it (svlogd's `!gzip` keeps `@….s`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Gzip,
    Zstd,
}

impl Method {
    /// `gzip` or `zstd`, as `compress:` says it.
    pub fn parse(text: &str) -> Option<Method> {
        match text {
            "gzip" => Some(Method::Gzip),
            "zstd" => Some(Method::Zstd),
            _ => None,
        }
    }

    /// The program's name (also `compress:`'s word).
    pub fn program(self) -> &'static str {
        match self {
            Method::Gzip => "gzip",
            Method::Zstd => "zstd",
        }
    }

    /// The file name extension, without its dot.
    pub fn extension(self) -> &'static str {
        match self {
            Method::Gzip => "gz",
            Method::Zstd => "zst",
        }
    }

    /// The arguments that compress stdin to stdout.
    pub fn compress_args(self) -> &'static [&'static str] {
        match self {
            Method::Gzip => &["-c"],
            Method::Zstd => &["-q", "-c"],
        }
    }

    /// The arguments that decompress stdin (or a file named after them)
    /// to stdout.
    pub fn decompress_args(self) -> &'static [&'static str] {
        match self {
            Method::Gzip => &["-dc"],
            Method::Zstd => &["-q", "-dc"],
        }
    }

    /// Every method, for readers that accept any.
    pub const ALL: [Method; 2] = [Method::Gzip, Method::Zstd];

    /// The method whose data starts with `head` (gzip's `1f 8b`, zstd's
    /// frame magic `28 b5 2f fd`).
    pub fn of_magic(head: &[u8]) -> Option<Method> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Method::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Method::Zstd)
        } else {
            None
        }
    }

    /// The method whose extension `name` ends with (`.gz`, `.zst`), and
    /// the name without it.
    pub fn of_name(name: &str) -> Option<(Method, &str)> {
        Method::ALL.into_iter().find_map(|m| {
            name.strip_suffix(m.extension())
                .and_then(|rest| rest.strip_suffix('.'))
                .map(|rest| (m, rest))
        })
    }

    /// The program, found as `execvp` would find it in `path` (a `PATH`
    /// value; the supervisor's own when `None`): an executable regular
    /// file. The error says what was looked for and where.
    pub fn find(self, path: Option<&OsStr>) -> Result<PathBuf, String> {
        let name = self.program();
        let path = path
            .map(OsStr::to_os_string)
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
            .ok_or_else(|| {
                format!(
                    "compress: {name}: not found in PATH ({}); install it, or remove compress:",
                    path.to_string_lossy()
                )
            })
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        && nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok()
}

/// A method and the program that does it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressor {
    pub method: Method,
    /// Absolute: found in `PATH` once, before the supervisor starts.
    pub program: PathBuf,
}

impl Compressor {
    /// The method's program, found in the supervisor's `PATH`.
    pub fn find(method: Method) -> Result<Compressor, String> {
        method.find(None).map(|program| Compressor { method, program })
    }
}

/// Decompress `path` (any method, by its first bytes) through a child
/// (`gzip -dc`, `zstd -q -dc`), or read it as it is: the file's bytes.
pub fn read_any(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let Some(method) = Method::of_magic(&head[..got]) else {
        let mut data = head[..got].to_vec();
        file.read_to_end(&mut data)?;
        return Ok(data);
    };
    let program = method.find(None).map_err(std::io::Error::other)?;
    let out = std::process::Command::new(program)
        .args(method.decompress_args())
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "{} {}: {}",
            method.program(),
            method.decompress_args().join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_magic_and_programs() {
        assert_eq!(Method::parse("gzip"), Some(Method::Gzip));
        assert_eq!(Method::parse("zstd"), Some(Method::Zstd));
        assert_eq!(Method::parse("bzip2"), None);
        assert_eq!(Method::of_name("app.log.3.gz"), Some((Method::Gzip, "app.log.3")));
        assert_eq!(Method::of_name("app.log.3.zst"), Some((Method::Zstd, "app.log.3")));
        assert_eq!(Method::of_name("app.log.3"), None);
        assert_eq!(Method::of_magic(&[0x1f, 0x8b, 8, 0]), Some(Method::Gzip));
        assert_eq!(Method::of_magic(&[0x28, 0xb5, 0x2f, 0xfd]), Some(Method::Zstd));
        assert_eq!(Method::of_magic(b"line\n"), None);
        let err = Method::Gzip
            .find(Some(OsStr::new("/nonexistent:/also-not")))
            .unwrap_err();
        assert_eq!(
            err,
            "compress: gzip: not found in PATH (/nonexistent:/also-not); install it, or remove compress:"
        );
    }

    /// Through the real programs, when they are installed.
    #[test]
    fn read_any_decompresses_by_content() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("plain");
        std::fs::write(&plain, b"one\ntwo\n").unwrap();
        assert_eq!(read_any(&plain).unwrap(), b"one\ntwo\n");
        for m in Method::ALL {
            let Ok(program) = m.find(None) else { continue };
            let packed = d.path().join(format!("x.{}", m.extension()));
            let out = std::process::Command::new(program)
                .args(m.compress_args())
                .stdin(std::fs::File::open(&plain).unwrap())
                .output()
                .unwrap();
            std::fs::write(&packed, out.stdout).unwrap();
            assert_eq!(read_any(&packed).unwrap(), b"one\ntwo\n", "{m:?}");
        }
    }
}
