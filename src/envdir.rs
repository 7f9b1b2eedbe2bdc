//! daemontools `envdir` semantics, shared by `-e DIR` and service directories.
//!
//! Each regular file NAME in DIR sets the variable NAME to the file's first
//! line with trailing spaces and tabs removed and NUL bytes turned into
//! newlines; an empty (0-byte) file removes NAME. Names starting with `.` are
//! skipped, as daemontools does; a name containing `=` is an error.

use crate::error::{Context, Error, Result};
use std::fs;
use std::path::Path;

/// One envdir entry: `Some(value)` sets the variable, `None` removes it.
pub type EnvChange = (String, Option<String>);

/// Read every entry of `dir`, sorted by name so the result is stable.
pub fn read(dir: &Path) -> Result<Vec<EnvChange>> {
    let entries = fs::read_dir(dir).ctx("read envdir", dir)?;
    let mut changes = Vec::new();
    for entry in entries {
        let entry = entry.ctx("read envdir", dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follow symlinks as envdir does: a link to a regular file counts.
        let meta = fs::metadata(&path).ctx("stat", &path)?;
        if !meta.is_file() {
            continue;
        }
        if name.contains('=') {
            return Err(Error::invalid(format!(
                "{}: invalid variable name (contains '=')",
                path.display()
            )));
        }
        let content = crate::sys::fs::read_regular(&path, crate::sys::fs::MAX_SMALL_FILE, false).ctx("read", &path)?;
        changes.push((name, decode(&content)));
    }
    changes.sort();
    Ok(changes)
}

/// The value an envdir file holds: `None` for an empty file (remove).
pub fn decode(content: &[u8]) -> Option<String> {
    if content.is_empty() {
        return None;
    }
    let first = content.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let end = first
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    let value: Vec<u8> = first[..end].iter().map(|&b| if b == 0 { b'\n' } else { b }).collect();
    Some(String::from_utf8_lossy(&value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_follows_daemontools() {
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"\n"), Some(String::new()));
        assert_eq!(decode(b"value  \t\nsecond line\n"), Some("value".into()));
        assert_eq!(decode(b"a\0b"), Some("a\nb".into()));
        assert_eq!(decode(b"no newline"), Some("no newline".into()));
    }

    #[test]
    fn read_dir_sets_removes_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("FOO"), "bar\n").unwrap();
        fs::write(dir.path().join("EMPTY"), "").unwrap();
        fs::write(dir.path().join(".hidden"), "x").unwrap();
        fs::create_dir(dir.path().join("SUBDIR")).unwrap();
        let changes = read(dir.path()).unwrap();
        assert_eq!(
            changes,
            vec![("EMPTY".into(), None), ("FOO".into(), Some("bar".into()))]
        );
    }

    #[test]
    fn name_with_equals_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("A=B"), "x").unwrap();
        let err = read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("A=B"), "{err}");
    }

    #[test]
    fn missing_dir_names_it() {
        let err = read(Path::new("/nonexistent-envdir")).unwrap_err().to_string();
        assert!(err.contains("/nonexistent-envdir"), "{err}");
    }
}
