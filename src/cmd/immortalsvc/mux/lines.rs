//! The multiplexer's pure part: whole lines out of a pipe's bytes
//! ([`Lines`]), and each line as it is written to immortalsvc's stdout or
//! stderr ([`Style::render`], by [`Format`]).
//!
//! | bytes from a service | what comes out |
//! |---|---|
//! | `GET / 200\n` | one line: `web    \| GET / 200` (`-o prefix`), `GET / 200` (`-o plain`), `{"time":…,"service":"web","stream":"stdout","line":"GET / 200"}` (`-o json`) |
//! | a line in several reads (`GE`, `T / 200\n`) | one line, once its newline came |
//! | a line longer than [`MAX_LINE`] | pieces of at most [`MAX_LINE`] bytes (cut before a UTF-8 sequence, not inside one), each but the last marked: `web    + …` (`-o prefix`), `"partial":true` (`-o json`); `-o plain` has no mark |
//! | bytes without a newline, then nothing | kept until the next bytes complete the line; [`Lines::finish`] (the pipe's end, immortalsvc's exit) makes them a line |
//! | bytes that are not UTF-8 | as they are (`prefix`, `plain`); `-o json` replaces each invalid sequence with U+FFFD |

use std::fmt;

/// The longest line written whole; longer ones are cut into pieces.
pub const MAX_LINE: usize = 64 * 1024;

/// `immortalsvc -o FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `web    | line`: the service's name, padded to the longest.
    #[default]
    Prefix,
    /// The line as the service wrote it.
    Plain,
    /// `{"time","service","stream","line"}`, one object a line.
    Json,
}

impl Format {
    pub fn parse(word: &str) -> Option<Format> {
        match word {
            "prefix" => Some(Format::Prefix),
            "plain" => Some(Format::Plain),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Prefix => "prefix",
            Format::Plain => "plain",
            Format::Json => "json",
        })
    }
}

/// Which of immortalsvc's own streams a line goes to: a service's stdout
/// to stdout, its stderr (and its supervisor's messages) to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub const ALL: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

/// One piece of output: a whole line (without its newline), or the piece
/// of a long line that the next piece continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    Whole,
    Cut,
}

/// Assembles the lines of one pipe. Holds at most [`MAX_LINE`] bytes
/// between calls.
#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Bytes read from the pipe: `emit` gets every line (or piece of a
    /// long one) they complete, in order; the rest waits for more.
    pub fn push(&mut self, bytes: &[u8], emit: &mut impl FnMut(&[u8], Piece)) {
        let mut rest = bytes;
        while !rest.is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    self.take(&rest[..i], true, emit);
                    rest = &rest[i + 1..];
                }
                None => {
                    self.take(rest, false, emit);
                    break;
                }
            }
        }
    }

    /// The pipe has ended (or immortalsvc exits): what waits is a line.
    pub fn finish(&mut self, emit: &mut impl FnMut(&[u8], Piece)) {
        if !self.partial.is_empty() {
            emit(&self.partial, Piece::Whole);
            self.partial.clear();
        }
    }

    /// Bytes waiting for their newline.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// `part` of a line; `ends`: its newline follows.
    fn take(&mut self, part: &[u8], ends: bool, emit: &mut impl FnMut(&[u8], Piece)) {
        if self.partial.is_empty() {
            // The usual case: the whole line is in this read, no copy.
            let mut part = part;
            while part.len() > MAX_LINE {
                let n = cut_at(part);
                emit(&part[..n], Piece::Cut);
                part = &part[n..];
            }
            if ends {
                emit(part, Piece::Whole);
            } else {
                self.partial.extend_from_slice(part);
            }
            return;
        }
        self.partial.extend_from_slice(part);
        let mut start = 0;
        while self.partial.len() - start > MAX_LINE {
            let n = cut_at(&self.partial[start..]);
            emit(&self.partial[start..start + n], Piece::Cut);
            start += n;
        }
        if ends {
            emit(&self.partial[start..], Piece::Whole);
            self.partial.clear();
        } else {
            self.partial.drain(..start);
        }
    }
}

/// Where to cut `bytes` (longer than [`MAX_LINE`]): at [`MAX_LINE`], or
/// up to 3 bytes before so that a UTF-8 sequence stays in one piece.
fn cut_at(bytes: &[u8]) -> usize {
    let continuation = |b: u8| b & 0xC0 == 0x80;
    (MAX_LINE - 3..=MAX_LINE)
        .rev()
        .find(|&n| !continuation(bytes[n]))
        .unwrap_or(MAX_LINE)
}

/// Who wrote a line: a service (by name, from one of its streams), or
/// immortalsvc itself (its own messages, to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    Service(&'a str),
    Own,
}

/// How lines are written: the format, and the longest service name
/// (prefixes are padded to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub format: Format,
    pub width: usize,
}

impl Style {
    /// Append one line to `out`; `time` is the RFC 3339 time of the batch
    /// (only `-o json` uses it).
    pub fn render(&self, out: &mut Vec<u8>, origin: Origin<'_>, stream: Stream, time: &str, text: &[u8], piece: Piece) {
        let Style { format, width } = *self;
        match (format, origin) {
            (Format::Prefix, Origin::Service(name)) => {
                out.extend_from_slice(name.as_bytes());
                let pad = width.saturating_sub(name.chars().count());
                out.resize(out.len() + pad, b' ');
                out.extend_from_slice(match piece {
                    Piece::Whole => b" | ",
                    Piece::Cut => b" + ",
                });
                out.extend_from_slice(text);
            }
            // immortalsvc's own lines say who they are (`immortalsvc: …`).
            (Format::Prefix | Format::Plain, Origin::Own) | (Format::Plain, Origin::Service(_)) => {
                out.extend_from_slice(text)
            }
            (Format::Json, origin) => {
                out.extend_from_slice(b"{\"time\":\"");
                out.extend_from_slice(time.as_bytes());
                out.extend_from_slice(b"\",\"service\":");
                match origin {
                    Origin::Service(name) => json_string(out, name),
                    Origin::Own => out.extend_from_slice(b"null"),
                }
                out.extend_from_slice(b",\"stream\":\"");
                out.extend_from_slice(stream.name().as_bytes());
                out.extend_from_slice(b"\",\"line\":");
                json_string(out, &String::from_utf8_lossy(text));
                if piece == Piece::Cut {
                    out.extend_from_slice(b",\"partial\":true");
                }
                out.push(b'}');
            }
        }
        out.push(b'\n');
    }
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `push`es of `chunks` then `finish` emit.
    fn pieces(chunks: &[&[u8]]) -> Vec<(Vec<u8>, Piece)> {
        let mut got = Vec::new();
        let mut lines = Lines::default();
        let mut emit = |t: &[u8], p: Piece| got.push((t.to_vec(), p));
        for c in chunks {
            lines.push(c, &mut emit);
        }
        lines.finish(&mut emit);
        got
    }

    fn whole(t: &str) -> (Vec<u8>, Piece) {
        (t.as_bytes().to_vec(), Piece::Whole)
    }

    #[test]
    fn lines_are_whole_whatever_the_reads() {
        assert_eq!(pieces(&[b"a\nbb\n"]), vec![whole("a"), whole("bb")]);
        assert_eq!(
            pieces(&[b"GE", b"T / ", b"200\nne", b"xt\n"]),
            vec![whole("GET / 200"), whole("next")]
        );
        assert_eq!(pieces(&[b"\n\n"]), vec![whole(""), whole("")]);
        // A last line without its newline: a line at the end.
        assert_eq!(pieces(&[b"a\nunfinished"]), vec![whole("a"), whole("unfinished")]);
        assert_eq!(pieces(&[]), vec![]);
        // Nothing is emitted before its newline.
        let mut lines = Lines::default();
        let mut n = 0;
        lines.push(b"half", &mut |_, _| n += 1);
        assert_eq!((n, lines.pending()), (0, 4));
    }

    #[test]
    fn long_lines_are_cut_into_marked_pieces() {
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let mut with_nl = long.clone();
        with_nl.extend_from_slice(b"\nnext\n");
        let want = vec![
            (vec![b'x'; MAX_LINE], Piece::Cut),
            (vec![b'x'; MAX_LINE], Piece::Cut),
            (vec![b'x'; 10], Piece::Whole),
            whole("next"),
        ];
        // In one read, and one byte at a time.
        assert_eq!(pieces(&[&with_nl]), want);
        let bytes: Vec<&[u8]> = with_nl.chunks(1).collect();
        assert_eq!(pieces(&bytes), want);
        let odd: Vec<&[u8]> = with_nl.chunks(4093).collect();
        assert_eq!(pieces(&odd), want);
        // Exactly MAX_LINE is whole.
        let mut exact = vec![b'y'; MAX_LINE];
        exact.push(b'\n');
        assert_eq!(
            pieces(&[&exact[..10], &exact[10..]]),
            vec![(vec![b'y'; MAX_LINE], Piece::Whole)]
        );
        // The waiting part never holds more than MAX_LINE.
        let mut lines = Lines::default();
        for c in long.chunks(1000) {
            lines.push(c, &mut |_, _| {});
            assert!(lines.pending() <= MAX_LINE);
        }
    }

    #[test]
    fn a_cut_keeps_utf8_sequences_whole() {
        // 'é' is 2 bytes: one straddles MAX_LINE.
        let mut line = vec![b'a'; MAX_LINE - 1];
        line.extend_from_slice("é".as_bytes());
        line.extend_from_slice(b"tail\n");
        let got = pieces(&[&line]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.len(), MAX_LINE - 1);
        assert_eq!(got[1].0, "étail".as_bytes());
        let joined: Vec<u8> = got.iter().flat_map(|(t, _)| t.clone()).collect();
        assert_eq!(joined, line[..line.len() - 1]);
    }

    fn one(format: Format, origin: Origin, stream: Stream, text: &[u8], piece: Piece) -> String {
        let mut out = Vec::new();
        let style = Style { format, width: 6 };
        style.render(&mut out, origin, stream, "2026-01-02T03:04:05.000006Z", text, piece);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn each_format() {
        let web = Origin::Service("web");
        let out = Stream::Stdout;
        assert_eq!(
            one(Format::Prefix, web, out, b"GET / 200", Piece::Whole),
            "web    | GET / 200\n"
        );
        assert_eq!(one(Format::Prefix, web, out, b"GET", Piece::Cut), "web    + GET\n");
        assert_eq!(
            one(Format::Prefix, Origin::Service("worker"), out, b"x", Piece::Whole),
            "worker | x\n"
        );
        assert_eq!(one(Format::Plain, web, out, b"GET / 200", Piece::Whole), "GET / 200\n");
        assert_eq!(
            one(
                Format::Prefix,
                Origin::Own,
                Stream::Stderr,
                b"immortalsvc: hi",
                Piece::Whole
            ),
            "immortalsvc: hi\n"
        );
        assert_eq!(
            one(Format::Json, web, Stream::Stderr, b"say \"hi\"\t\\", Piece::Whole),
            "{\"time\":\"2026-01-02T03:04:05.000006Z\",\"service\":\"web\",\"stream\":\"stderr\",\"line\":\"say \\\"hi\\\"\\t\\\\\"}\n"
        );
        let j: serde_json::Value =
            serde_json::from_str(&one(Format::Json, web, out, b"bad \xff byte", Piece::Cut)).unwrap();
        assert_eq!(j["line"], "bad \u{fffd} byte");
        assert_eq!(j["partial"], true);
        assert_eq!(j["stream"], "stdout");
        let j: serde_json::Value = serde_json::from_str(&one(
            Format::Json,
            Origin::Own,
            Stream::Stderr,
            b"immortalsvc: hi",
            Piece::Whole,
        ))
        .unwrap();
        assert_eq!(j["service"], serde_json::Value::Null);
        assert!(j.get("partial").is_none());
        for f in [Format::Prefix, Format::Plain, Format::Json] {
            assert_eq!(Format::parse(&f.to_string()), Some(f));
        }
        assert_eq!(Format::parse("xml"), None);
    }
}
