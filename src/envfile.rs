//! `env_file:` — environment files, read at every start of the service
//! (a restart picks up a rotated secret), applied before `env:`.
//!
//! One rule, close to what systemd's `EnvironmentFile=` and a shell read
//! (docker's `--env-file` takes every value as written):
//!
//! | line | meaning |
//! |---|---|
//! | blank, or `#…` / `;…` after blanks | ignored (a comment only at the start of a line) |
//! | `NAME=value` | `value` with the blanks around it trimmed, taken as written: `#`, `\`, quotes inside it are part of it |
//! | `NAME="value"` | backslash escapes `\"` `\\` `\$` `` \` ``, and a backslash before a newline joins the lines; any other backslash stays; the value may span lines |
//! | `NAME='value'` | everything up to the next `'`, as written (lines too) |
//! | `export NAME=…` | the same (a file shared with `sh`) |
//! | `NAME=` | the empty value |
//!
//! Blanks around `NAME` and after `=` are ignored; after a closing quote
//! only blanks (or a `#` comment) may follow. `NAME` is non-empty, has no
//! blank, `=`, quote or control character, and does not start with a
//! digit. A name given twice: the last wins (and a later file wins over an
//! earlier one). Values are bytes (not necessarily UTF-8); a NUL byte, a
//! line without `=`, an unterminated quote are errors naming the file and
//! the line: `/etc/app.env:3: missing '='`. A `\r` before a newline is
//! part of the line end.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// An `env_file:` entry: `-PATH` may be missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    pub path: PathBuf,
    /// Written with a leading `-`: a missing file is no error.
    pub optional: bool,
}

impl EnvFile {
    /// `PATH` or `-PATH`, relative to `base` (the `run.yml`'s directory).
    pub fn parse(text: &str, base: &Path) -> EnvFile {
        let (optional, path) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        EnvFile {
            path: base.join(path),
            optional,
        }
    }
}

/// One variable: its name and value.
pub type Var = (String, OsString);

/// What is wrong with a file, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub path: PathBuf,
    /// `None`: the file itself (unreadable), not a line of it.
    pub line: Option<usize>,
    pub text: String,
    /// The OS error of a read that failed (ENOENT…); EINVAL otherwise.
    pub errno: i32,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(n) => write!(f, "env_file {}:{n}: {}", self.path.display(), self.text),
            None => write!(f, "env_file {}: {}", self.path.display(), self.text),
        }
    }
}

/// A problem in the text of a file: (line, what).
pub type LineError = (usize, String);

/// Read every file in order; the variables, the later winning. A missing
/// optional file is skipped; anything else wrong is the first error.
pub fn read_all(files: &[EnvFile]) -> Result<Vec<Var>, Error> {
    let mut vars = Vec::new();
    for f in files {
        if let Some(found) = read(f)? {
            vars.extend(found);
        }
    }
    Ok(vars)
}

/// Read one file (`None`: an optional file that is missing).
pub fn read(file: &EnvFile) -> Result<Option<Vec<Var>>, Error> {
    let data = match crate::sys::fs::read_regular(&file.path, crate::sys::fs::MAX_SMALL_FILE, false) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.optional => return Ok(None),
        Err(e) => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or_default();
            return Err(Error {
                path: file.path.clone(),
                line: None,
                text: format!("unable to read: {text}"),
                errno: e.raw_os_error().unwrap_or(libc::EINVAL),
            });
        }
    };
    parse(&data).map(Some).map_err(|(line, text)| Error {
        path: file.path.clone(),
        line: Some(line),
        text,
        errno: libc::EINVAL,
    })
}

/// The variables of a file's content, in order (a repeated name appears
/// twice: applied in order, the last wins); the first error otherwise.
pub fn parse(data: &[u8]) -> Result<Vec<Var>, LineError> {
    let mut vars = Vec::new();
    let mut p = Parser { data, pos: 0, line: 1 };
    while p.pos < data.len() {
        let start = p.line;
        if let Some(var) = p.entry().map_err(|why| (start, why))? {
            vars.push(var);
        }
    }
    Ok(vars)
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
    /// The line `pos` is on (1-based).
    line: usize,
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.pos += 1;
        }
    }

    /// At a line end (`\n`, `\r\n`, or the end of the data): step over it.
    fn end_of_line(&mut self) -> bool {
        match self.peek() {
            None => true,
            Some(b'\n') => {
                self.pos += 1;
                self.line += 1;
                true
            }
            Some(b'\r') if self.data.get(self.pos + 1) == Some(&b'\n') => {
                self.pos += 2;
                self.line += 1;
                true
            }
            Some(_) => false,
        }
    }

    /// The rest of the line (without its end), and step over the end.
    fn rest_of_line(&mut self) -> &[u8] {
        let start = self.pos;
        let end = crate::sys::bytes::memchr(b'\n', &self.data[start..]).map_or(self.data.len(), |i| start + i);
        self.pos = end;
        let mut line = &self.data[start..end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        self.end_of_line();
        line
    }

    /// One line (or a quoted value's lines): a variable, or nothing.
    fn entry(&mut self) -> Result<Option<Var>, String> {
        self.skip_blanks();
        if self.end_of_line() {
            return Ok(None);
        }
        if matches!(self.peek(), Some(b'#' | b';')) {
            self.rest_of_line();
            return Ok(None);
        }
        let rest = &self.data[self.pos..];
        if rest.starts_with(b"export") && rest.get(6).copied().is_some_and(is_blank) {
            self.pos += 6;
            self.skip_blanks();
        }
        let name = self.name()?;
        self.pos += 1; // '='
        self.skip_blanks();
        let value = match self.peek() {
            Some(q @ (b'"' | b'\'')) => {
                self.pos += 1;
                let v = self.quoted(q)?;
                self.after_quote()?;
                v
            }
            _ => {
                let line = self.rest_of_line();
                let end = line.iter().rposition(|&b| !is_blank(b)).map_or(0, |i| i + 1);
                let v = line[..end].to_vec();
                if v.contains(&0) {
                    return Err("NUL byte".into());
                }
                v
            }
        };
        Ok(Some((name, OsString::from_vec(value))))
    }

    /// The name before `=`, checked; `pos` is left at the `=`.
    fn name(&mut self) -> Result<String, String> {
        let start = self.pos;
        let line_end = crate::sys::bytes::memchr(b'\n', &self.data[start..]).map_or(self.data.len(), |i| start + i);
        let Some(eq) = crate::sys::bytes::memchr(b'=', &self.data[start..line_end]).map(|i| start + i) else {
            let shown = String::from_utf8_lossy(&self.data[start..line_end]);
            let shown = shown.trim_end();
            return Err(format!("missing '=' (NAME=value): {}", clip(shown)));
        };
        let raw = &self.data[start..eq];
        let end = raw.iter().rposition(|&b| !is_blank(b)).map_or(0, |i| i + 1);
        let raw = &raw[..end];
        self.pos = eq;
        let shown = String::from_utf8_lossy(raw).into_owned();
        let bad = |why: &str| Err(format!("invalid variable name '{}': {why}", clip(&shown)));
        if raw.is_empty() {
            return Err("missing variable name before '='".into());
        }
        if raw[0].is_ascii_digit() {
            return bad("starts with a digit");
        }
        if let Some(&b) = raw.iter().find(|&&b| !b.is_ascii_graphic() || b == b'"' || b == b'\'') {
            return bad(match b {
                b' ' | b'\t' => "contains a blank",
                b'"' | b'\'' => "contains a quote",
                0 => "contains a NUL byte",
                _ if b.is_ascii() => "contains a control character",
                _ => "not ASCII",
            });
        }
        Ok(shown)
    }

    /// A quoted value after its opening quote `q`, up to the closing one.
    fn quoted(&mut self, q: u8) -> Result<Vec<u8>, String> {
        let opened = self.line;
        let mut v = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(format!("missing closing {} (opened on line {opened})", q as char));
            };
            self.pos += 1;
            match b {
                0 => return Err("NUL byte".into()),
                b'\n' => {
                    self.line += 1;
                    v.push(b);
                }
                _ if b == q => return Ok(v),
                b'\\' if q == b'"' => match self.peek() {
                    Some(e @ (b'"' | b'\\' | b'$' | b'`')) => {
                        self.pos += 1;
                        v.push(e);
                    }
                    // A line continuation: both go.
                    Some(b'\n') => {
                        self.pos += 1;
                        self.line += 1;
                    }
                    Some(b'\r') if self.data.get(self.pos + 1) == Some(&b'\n') => {
                        self.pos += 2;
                        self.line += 1;
                    }
                    _ => v.push(b'\\'),
                },
                _ => v.push(b),
            }
        }
    }

    /// After a closing quote: blanks, maybe a comment, the line's end.
    fn after_quote(&mut self) -> Result<(), String> {
        self.skip_blanks();
        if self.peek() == Some(b'#') {
            self.rest_of_line();
            return Ok(());
        }
        if self.end_of_line() {
            return Ok(());
        }
        let shown = String::from_utf8_lossy(self.rest_of_line()).into_owned();
        Err(format!(
            "text after the closing quote: {} (quote the whole value)",
            clip(&shown)
        ))
    }
}

/// At most 40 characters of a piece of input, for a message.
fn clip(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Result<Vec<(String, String)>, LineError> {
        parse(text.as_bytes()).map(|v| {
            v.into_iter()
                .map(|(k, v)| (k, v.to_string_lossy().into_owned()))
                .collect()
        })
    }

    /// Inputs and the variables they give.
    #[test]
    fn lines_to_variables() {
        let table: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("\n\n  \n\t\n", &[]),
            ("# comment\n  # indented\n; systemd's too\n", &[]),
            ("A=1\n", &[("A", "1")]),
            ("A=1", &[("A", "1")]),
            ("A=1\r\nB=2\r\n", &[("A", "1"), ("B", "2")]),
            ("  A  =  spaced out  \n", &[("A", "spaced out")]),
            ("A=\n", &[("A", "")]),
            ("A=\"\"\n", &[("A", "")]),
            ("A=''\n", &[("A", "")]),
            // Unquoted: as written, # and backslashes and quotes included.
            ("PASS=a#b \\n 'c\" d\n", &[("PASS", "a#b \\n 'c\" d")]),
            ("URL=postgres://u:p@h/db?x=1\n", &[("URL", "postgres://u:p@h/db?x=1")]),
            // Double quotes: blanks kept, the four escapes, others kept.
            ("A=\"  two  words \"\n", &[("A", "  two  words ")]),
            (
                "A=\"q\\\" b\\\\ d\\$ t\\` n\\n x\\y\"\n",
                &[("A", "q\" b\\ d$ t` n\\n x\\y")],
            ),
            (
                "A=\"line one\nline two\"\nB=2\n",
                &[("A", "line one\nline two"), ("B", "2")],
            ),
            ("A=\"joined \\\nhere\"\n", &[("A", "joined here")]),
            // Single quotes: everything as written.
            ("A='$HOME \\\" \\'\n", &[("A", "$HOME \\\" \\")]),
            ("A='multi\nline'\n", &[("A", "multi\nline")]),
            ("A=\"x\" # why\n", &[("A", "x")]),
            ("A='x'   \n", &[("A", "x")]),
            ("export A=1\nexport\tB='2'\n", &[("A", "1"), ("B", "2")]),
            // `export` alone as a name, or a prefix of one.
            ("export=1\nexported=2\n", &[("export", "1"), ("exported", "2")]),
            ("A=1\nA=2\n", &[("A", "1"), ("A", "2")]),
            ("A==b=\n", &[("A", "=b=")]),
            ("spring.profiles-active=prod\n", &[("spring.profiles-active", "prod")]),
            ("_X9=ü\n", &[("_X9", "ü")]),
        ];
        for (text, want) in table {
            let want: Vec<(String, String)> = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(vars(text), Ok(want), "{text:?}");
        }
    }

    /// Inputs and the error they give: (line, message start).
    #[test]
    fn errors_name_the_line() {
        let table: &[(&str, usize, &str)] = &[
            (
                "A=1\nB=2\nno equals here\n",
                3,
                "missing '=' (NAME=value): no equals here",
            ),
            ("A=1\n=x\n", 2, "missing variable name before '='"),
            ("1A=x\n", 1, "invalid variable name '1A': starts with a digit"),
            ("MY VAR=x\n", 1, "invalid variable name 'MY VAR': contains a blank"),
            ("export  =x\n", 1, "missing variable name"),
            ("\"A\"=x\n", 1, "invalid variable name '\"A\"': contains a quote"),
            ("A\u{1}=x\n", 1, "invalid variable name"),
            ("É=x\n", 1, "invalid variable name 'É': not ASCII"),
            ("A=\"open\nB=2\n", 1, "missing closing \" (opened on line 1)"),
            ("\n\nA='open\n", 3, "missing closing '"),
            (
                "A='it''s'\n",
                1,
                "text after the closing quote: 's' (quote the whole value)",
            ),
            ("A=\"x\"y\n", 1, "text after the closing quote: y"),
            ("A=a\0b\n", 1, "NUL byte"),
            ("A=\"a\0\"\n", 1, "NUL byte"),
            // After a value spanning lines, the count goes on.
            ("A=\"1\n2\n3\"\nnope\n", 4, "missing '='"),
            ("A=\"1\\\n2\"\nnope\n", 3, "missing '='"),
            ("A=1\r\nB\r\n", 2, "missing '=' (NAME=value): B"),
        ];
        for (text, line, want) in table {
            let (n, msg) = vars(text).expect_err(text);
            assert_eq!(n, *line, "{text:?}: {msg}");
            assert!(msg.starts_with(want), "{text:?}: {msg}");
        }
    }

    #[test]
    fn values_are_bytes() {
        let v = parse(b"A=\xff\xfe\n").unwrap();
        assert_eq!(v[0].1.as_encoded_bytes(), b"\xff\xfe");
    }

    #[test]
    fn files_in_order_optional_and_errors_name_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.env"), "A=1\nB=1\n").unwrap();
        std::fs::write(d.path().join("b.env"), "# later wins\nB=2\n").unwrap();
        std::fs::write(d.path().join("bad.env"), "A=1\n\nbroken\n").unwrap();
        let f = |t: &str| EnvFile::parse(t, d.path());
        let got = read_all(&[f("a.env"), f("-missing.env"), f("b.env")]).unwrap();
        let got: Vec<_> = got.iter().map(|(k, v)| (k.as_str(), v.to_str().unwrap())).collect();
        assert_eq!(got, [("A", "1"), ("B", "1"), ("B", "2")]);
        let e = read_all(&[f("a.env"), f("missing.env")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "env_file {}: unable to read: No such file or directory",
                d.path().join("missing.env").display()
            )
        );
        assert_eq!((e.line, e.errno), (None, libc::ENOENT));
        let e = read_all(&[f("bad.env")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "env_file {}:3: missing '=' (NAME=value): broken",
                d.path().join("bad.env").display()
            )
        );
        assert_eq!(e.errno, libc::EINVAL);
        // A directory is no file, even when optional.
        assert!(read(&f("-.")).is_err());
        assert_eq!(f("/abs.env").path, Path::new("/abs.env"));
        assert!(f("-/abs.env").optional);
    }
}
