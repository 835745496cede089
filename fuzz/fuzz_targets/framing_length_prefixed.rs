//! `framing::LengthPrefixed` fed a fuzzed stream in fuzzed chunks, checked
//! against a plain, non-streaming parse of the whole stream.
//!
//! Properties, whatever the chunking and whenever frames are taken out:
//! - the frames are exactly the reference's, in order, then the reference's
//!   error (an announced length over the maximum) exactly once, with its
//!   code and message, and nothing after it; a failed decoder refuses input
//!   and holds nothing;
//! - after a full drain, `buffered_len` is exactly the unconsumed tail of
//!   the stream (less a header already read), so at most max + 4 bytes: the
//!   decoder never holds more than one unfinished frame;
//! - a frame whose payload lies whole in one chunk is a slice of it;
//! - once drained, the decoder holds no reference to any chunk.
#![no_main]

mod common;

use common::{After, Plan};
use libfuzzer_sys::fuzz_target;
use nodenet::framing::{Decoder, LengthPrefixed, HEADER_LEN};
use nodenet::{Bytes, Error};
use std::ops::Range;

/// The reference: parses `data` as a whole.
#[derive(Debug, PartialEq)]
struct Expected {
    /// The payloads' ranges in `data`.
    frames: Vec<Range<usize>>,
    /// The length announced by the first header over the maximum.
    oversize: Option<u32>,
    /// What a drained decoder still holds: the bytes after the last frame,
    /// less the header if it is whole (0 after an error).
    buffered: usize,
}

fn reference(data: &[u8], max: usize) -> Expected {
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        let rest = data.len() - at;
        if rest < HEADER_LEN {
            return Expected {
                frames,
                oversize: None,
                buffered: rest,
            };
        }
        let len = u32::from_be_bytes(data[at..at + HEADER_LEN].try_into().unwrap());
        if len as usize > max {
            return Expected {
                frames,
                oversize: Some(len),
                buffered: 0,
            };
        }
        let start = at + HEADER_LEN;
        let end = start + len as usize;
        if end > data.len() {
            return Expected {
                frames,
                oversize: None,
                buffered: data.len() - start,
            };
        }
        frames.push(start..end);
        at = end;
    }
}

/// What came out of the decoder so far.
#[derive(Default)]
struct Got {
    frames: Vec<Bytes>,
    errors: Vec<Error>,
}

impl Got {
    fn take(&mut self, d: &mut LengthPrefixed, limit: usize) {
        for _ in 0..limit {
            match d.next_frame() {
                Some(Ok(frame)) => {
                    assert!(self.errors.is_empty(), "a frame after the error");
                    self.frames.push(frame);
                }
                Some(Err(err)) => self.errors.push(err),
                None => return,
            }
        }
    }

    /// Checks a fully drained decoder fed `fed` bytes of `data`.
    fn check_drained(&self, d: &LengthPrefixed, data: &[u8], fed: usize, max: usize) {
        let want = reference(&data[..fed], max);
        let frames: Vec<&[u8]> = want.frames.iter().map(|r| &data[r.clone()]).collect();
        assert_eq!(self.frames, frames, "frames after {fed} bytes");
        match want.oversize {
            Some(len) => {
                assert_eq!(self.errors.len(), 1, "one error");
                let err = &self.errors[0];
                assert_eq!(err.code(), "ERR_OUT_OF_RANGE");
                assert_eq!(
                    err.message(),
                    format!("frame of {len} bytes exceeds the maximum of {max}")
                );
                assert_eq!(d.error().map(Error::code), Some("ERR_OUT_OF_RANGE"));
            }
            None => {
                assert!(self.errors.is_empty(), "unexpected {:?}", self.errors);
                assert!(d.error().is_none());
            }
        }
        assert_eq!(
            d.buffered_len(),
            want.buffered,
            "buffered after {fed} bytes"
        );
        assert!(d.buffered_len() <= max + HEADER_LEN);
    }
}

fuzz_target!(|input: &[u8]| {
    let Some(plan) = Plan::parse(input) else {
        return;
    };
    let max = usize::from(plan.param);
    let data = plan.data;
    let mut d = LengthPrefixed::new(max);
    assert_eq!(d.max_frame_len(), max);
    let mut got = Got::default();
    let mut chunks: Vec<(Range<usize>, Bytes)> = Vec::new();
    for (range, after) in &plan.chunks {
        // Each chunk its own allocation, as reads are.
        let chunk = Bytes::copy_from_slice(&data[range.clone()]);
        let failed = d.error().is_some();
        let before = d.buffered_len();
        d.push(&chunk);
        if failed {
            assert_eq!(d.buffered_len(), 0, "a failed decoder refuses input");
        } else {
            assert_eq!(d.buffered_len(), before + chunk.len());
        }
        chunks.push((range.clone(), chunk));
        match after {
            After::Drain => {
                got.take(&mut d, usize::MAX);
                got.check_drained(&d, data, range.end, max);
            }
            After::Keep => {}
            After::TakeOne => got.take(&mut d, 1),
        }
    }
    got.take(&mut d, usize::MAX);
    got.check_drained(&d, data, data.len(), max);
    assert!(d.next_frame().is_none(), "drained stays drained");

    // Zero-copy: a payload whole inside one chunk is a slice of it.
    let want = reference(data, max);
    for (frame, r) in got.frames.iter().zip(&want.frames) {
        if r.is_empty() {
            continue;
        }
        if let Some((cr, chunk)) = chunks
            .iter()
            .find(|(cr, _)| cr.start <= r.start && r.end <= cr.end)
        {
            assert_eq!(
                frame.as_ptr(),
                chunk[r.start - cr.start..].as_ptr(),
                "frame {r:?} inside chunk {cr:?} was copied"
            );
        }
    }
    // Drained: no chunk is pinned by the decoder.
    drop(got);
    for (r, chunk) in chunks {
        if !chunk.is_empty() {
            assert!(chunk.is_unique(), "chunk {r:?} still referenced");
        }
    }
});
