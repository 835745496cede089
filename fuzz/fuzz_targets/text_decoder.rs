//! The `set_encoding` text decoder fed fuzzed bytes in fuzzed chunks, for
//! every `Encoding`, checked against a decoding of the whole input at once.
//!
//! Properties, whatever the chunking:
//! - the pieces' texts, concatenated, are the whole input's text: for UTF-8
//!   `String::from_utf8_lossy` of it (the module's replacement rule: each
//!   maximal invalid subpart becomes one U+FFFD, a truncated character at
//!   the end one U+FFFD), for base64 the standard padded encoding, for
//!   latin1 / ascii / hex byte by byte; and the same as feeding the input
//!   unsplit (chunk-split independence);
//! - the pieces' bytes, concatenated, are the input, in order: nothing lost,
//!   nothing repeated;
//! - every piece but the one `finish` returns is whole characters: UTF-8
//!   ending on a character boundary of the whole input's decoding (after a
//!   character or a maximal invalid subpart), base64 whole 3-byte groups (no
//!   `=`); latin1 / ascii / hex are the chunk itself;
//! - at most 3 bytes (UTF-8) or 2 (base64) are held back, none otherwise;
//!   `decode` returns `None` (all held back) only for those two, and an
//!   empty piece only for an empty chunk;
//! - a piece starting a chunk when nothing was held back is a slice of the
//!   chunk (no copy).
#![no_main]

mod common;

use base64::Engine as _;
use common::Plan;
use libfuzzer_sys::fuzz_target;
use nodenet::__fuzz::TextDecoder;
use nodenet::{Bytes, Encoding};

const ENCODINGS: [Encoding; 5] = [
    Encoding::Utf8,
    Encoding::Latin1,
    Encoding::Ascii,
    Encoding::Hex,
    Encoding::Base64,
];

/// The text of the whole input, decoded at once.
fn reference(encoding: Encoding, data: &[u8]) -> String {
    match encoding {
        Encoding::Utf8 => String::from_utf8_lossy(data).into_owned(),
        Encoding::Latin1 => data.iter().map(|&b| char::from(b)).collect(),
        Encoding::Ascii => data.iter().map(|&b| char::from(b & 0x7f)).collect(),
        Encoding::Hex => data.iter().map(|b| format!("{b:02x}")).collect(),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(data),
    }
}

/// The character boundaries of `data` decoded as a whole: after each
/// character and after each maximal invalid subpart (one U+FFFD each). A
/// piece may end only there: a lead byte at the end of a piece is whole if
/// the stream goes on with something that cannot continue it.
fn utf8_boundaries(data: &[u8]) -> Vec<bool> {
    let mut at = vec![false; data.len() + 1];
    at[0] = true;
    let mut pos = 0;
    for chunk in data.utf8_chunks() {
        for c in chunk.valid().chars() {
            pos += c.len_utf8();
            at[pos] = true;
        }
        if !chunk.invalid().is_empty() {
            pos += chunk.invalid().len();
            at[pos] = true;
        }
    }
    assert_eq!(pos, data.len());
    at
}

fn max_held(encoding: Encoding) -> usize {
    match encoding {
        Encoding::Utf8 => 3,
        Encoding::Base64 => 2,
        _ => 0,
    }
}

fuzz_target!(|input: &[u8]| {
    let Some(plan) = Plan::parse(input) else {
        return;
    };
    let encoding = ENCODINGS[usize::from(plan.param) % ENCODINGS.len()];
    assert_eq!(Encoding::parse(encoding.as_str()).unwrap(), encoding);
    let data = plan.data;
    let boundaries = utf8_boundaries(data);
    let mut d = TextDecoder::new(encoding);
    let mut text = String::new();
    let mut emitted = 0; // bytes handed out in pieces so far
    for (range, _) in &plan.chunks {
        let chunk = Bytes::copy_from_slice(&data[range.clone()]);
        let held = range.start - emitted;
        match d.decode(&chunk) {
            Some((bytes, piece)) => {
                assert_eq!(
                    &bytes[..],
                    &data[emitted..emitted + bytes.len()],
                    "bytes in order"
                );
                assert_eq!(
                    piece,
                    reference(encoding, &bytes),
                    "a piece's text is its bytes'"
                );
                match encoding {
                    Encoding::Utf8 => assert!(
                        boundaries[emitted + bytes.len()],
                        "piece {bytes:?} ends inside a character"
                    ),
                    Encoding::Base64 => {
                        assert_eq!(bytes.len() % 3, 0, "whole base64 groups");
                        assert!(!piece.contains('='));
                    }
                    _ => assert_eq!(bytes.len(), chunk.len(), "the chunk as it is"),
                }
                if bytes.is_empty() {
                    assert!(chunk.is_empty(), "an empty piece of a non-empty chunk");
                } else if held == 0 {
                    assert_eq!(bytes.as_ptr(), chunk.as_ptr(), "copied a chunk's piece");
                }
                emitted += bytes.len();
                text.push_str(&piece);
            }
            None => assert!(
                matches!(encoding, Encoding::Utf8 | Encoding::Base64),
                "only UTF-8 and base64 hold bytes back"
            ),
        }
        assert!(
            range.end - emitted <= max_held(encoding),
            "held back too much"
        );
    }
    let held = data.len() - emitted;
    match d.finish() {
        Some((bytes, piece)) => {
            assert_eq!(&bytes[..], &data[emitted..], "finish: the held-back rest");
            assert_eq!(piece, reference(encoding, &bytes));
            text.push_str(&piece);
        }
        None => assert_eq!(held, 0, "finish dropped held-back bytes"),
    }
    assert!(d.finish().is_none(), "finish hands out the rest once");
    assert_eq!(text, reference(encoding, data), "concatenated text");

    // Chunk-split independence, directly: the input in one chunk.
    let mut whole = TextDecoder::new(encoding);
    let mut unsplit = String::new();
    unsplit.extend(whole.decode(&Bytes::copy_from_slice(data)).map(|(_, t)| t));
    unsplit.extend(whole.finish().map(|(_, t)| t));
    assert_eq!(text, unsplit, "split and unsplit differ");
});
