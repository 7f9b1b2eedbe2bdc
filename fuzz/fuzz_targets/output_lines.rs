//! A service's output through immortalsvc's multiplexer: bytes cut into
//! reads anywhere make the same lines, none longer than MAX_LINE, nothing
//! lost or added; every line rendered as JSON parses.
#![no_main]
use immortal::cmd::immortalsvc::mux::lines::{Format, Lines, Origin, Piece, Stream, Style, MAX_LINE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, bytes)) = data.split_first() else {
        return;
    };
    // Small inputs still reach the cuts: lines are made long by repeating.
    let times = 1 + usize::from(step >> 4) * 2000;
    let size = (bytes.len() * times).min(140_000);
    let input: Vec<u8> = bytes.iter().copied().cycle().take(size).collect();
    let mut pieces: Vec<(Vec<u8>, Piece)> = Vec::new();
    let mut lines = Lines::default();
    let mut emit = |t: &[u8], p: Piece| pieces.push((t.to_vec(), p));
    for chunk in input.chunks(usize::from(step & 15) * 997 + 1) {
        lines.push(chunk, &mut emit);
        assert!(lines.pending() <= MAX_LINE);
    }
    lines.finish(&mut emit);
    let mut back = Vec::new();
    for (text, piece) in &pieces {
        assert!(text.len() <= MAX_LINE && !text.contains(&b'\n'));
        back.extend_from_slice(text);
        if *piece == Piece::Whole {
            back.push(b'\n');
        }
    }
    // What came in, with a newline ending an unfinished last line.
    let mut want = input.clone();
    if !want.is_empty() && !want.ends_with(b"\n") {
        want.push(b'\n');
    }
    assert_eq!(back, want);
    let style = Style {
        format: Format::Json,
        width: 3,
    };
    for (text, piece) in pieces.iter().take(4) {
        let mut out = Vec::new();
        style.render(&mut out, Origin::Service("web"), Stream::Stdout, "t", text, *piece);
        assert!(out.ends_with(b"\n") && out.iter().filter(|&&b| b == b'\n').count() == 1);
        let _: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    }
});
