//! `framing::Lines` fed a fuzzed stream in fuzzed chunks, checked against a
//! plain, non-streaming split of the whole stream.
//!
//! Properties, whatever the chunking and whenever lines are taken out:
//! - the lines are exactly the reference's: split at `\n`, one `\r` before
//!   it dropped (a lone `\r` is data), then, if a line is longer than the
//!   maximum (or an unterminated tail already must be: more than max + 1
//!   bytes, or max + 1 not ending in `\r`), `ERR_OUT_OF_RANGE` exactly once
//!   and nothing after it; a failed decoder refuses input and holds nothing;
//! - after a full drain, `buffered_len` is exactly the unterminated tail,
//!   so at most max + 1 bytes;
//! - a line whose bytes and `\n` lie in one chunk is a slice of it;
//! - once drained, the decoder holds no reference to any chunk;
//! - `finish` hands out the unterminated tail as it is, once.
#![no_main]

mod common;

use common::{After, Plan};
use libfuzzer_sys::fuzz_target;
use nodenet::framing::{Decoder, Lines};
use nodenet::{Bytes, Error};
use std::ops::Range;

/// The reference: splits `data` as a whole.
#[derive(Debug, PartialEq)]
struct Expected {
    /// Each line's range in `data` (without its terminator) and where its
    /// `\n` is.
    lines: Vec<(Range<usize>, usize)>,
    /// Whether the stream breaks the maximum after those lines.
    too_long: bool,
    /// The unterminated tail (empty after an error).
    tail: Range<usize>,
}

fn reference(data: &[u8], max: usize) -> Expected {
    let mut lines = Vec::new();
    let mut start = 0;
    for (nl, _) in data.iter().enumerate().filter(|(_, &b)| b == b'\n') {
        let end = if nl > start && data[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        if end - start > max {
            return Expected {
                lines,
                too_long: true,
                tail: 0..0,
            };
        }
        lines.push((start..end, nl));
        start = nl + 1;
    }
    let tail = start..data.len();
    // An unterminated tail of max + 1 bytes may still end with "\r\n".
    let too_long = tail.len() > max + 1 || (tail.len() == max + 1 && data[tail.end - 1] != b'\r');
    if too_long {
        return Expected {
            lines,
            too_long,
            tail: 0..0,
        };
    }
    Expected {
        lines,
        too_long,
        tail,
    }
}

#[derive(Default)]
struct Got {
    lines: Vec<Bytes>,
    errors: Vec<Error>,
}

impl Got {
    fn take(&mut self, d: &mut Lines, limit: usize) {
        for _ in 0..limit {
            match d.next_frame() {
                Some(Ok(line)) => {
                    assert!(self.errors.is_empty(), "a line after the error");
                    self.lines.push(line);
                }
                Some(Err(err)) => self.errors.push(err),
                None => return,
            }
        }
    }

    /// Checks a fully drained decoder fed `fed` bytes of `data`.
    fn check_drained(&self, d: &Lines, data: &[u8], fed: usize, max: usize) -> Expected {
        let want = reference(&data[..fed], max);
        let lines: Vec<&[u8]> = want.lines.iter().map(|(r, _)| &data[r.clone()]).collect();
        assert_eq!(self.lines, lines, "lines after {fed} bytes");
        if want.too_long {
            assert_eq!(self.errors.len(), 1, "one error");
            let err = &self.errors[0];
            assert_eq!(err.code(), "ERR_OUT_OF_RANGE");
            assert!(err.message().starts_with("line of "), "{}", err.message());
            assert!(
                err.message()
                    .ends_with(&format!(" bytes exceeds the maximum of {max}")),
                "{}",
                err.message()
            );
            assert_eq!(d.error().map(Error::code), Some("ERR_OUT_OF_RANGE"));
        } else {
            assert!(self.errors.is_empty(), "unexpected {:?}", self.errors);
            assert!(d.error().is_none());
        }
        assert_eq!(
            d.buffered_len(),
            want.tail.len(),
            "buffered after {fed} bytes"
        );
        assert!(d.buffered_len() <= max + 1);
        want
    }
}

fuzz_target!(|input: &[u8]| {
    let Some(plan) = Plan::parse(input) else {
        return;
    };
    let max = usize::from(plan.param & 0x3f);
    let data = plan.data;
    let mut d = Lines::new(max);
    assert_eq!(d.max_line_len(), max);
    let mut got = Got::default();
    let mut chunks: Vec<(Range<usize>, Bytes)> = Vec::new();
    for (range, after) in &plan.chunks {
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
    let want = got.check_drained(&d, data, data.len(), max);
    assert!(d.next_frame().is_none(), "drained stays drained");

    // Zero-copy: a line whose bytes and terminator are in one chunk is a
    // slice of that chunk.
    for (line, (r, nl)) in got.lines.iter().zip(&want.lines) {
        if r.is_empty() {
            continue;
        }
        if let Some((cr, chunk)) = chunks
            .iter()
            .find(|(cr, _)| cr.start <= r.start && *nl < cr.end)
        {
            assert_eq!(
                line.as_ptr(),
                chunk[r.start - cr.start..].as_ptr(),
                "line {r:?} inside chunk {cr:?} was copied"
            );
        }
    }
    // Drained: no chunk is pinned by the decoder.
    drop(got);
    for (r, chunk) in &chunks {
        if !chunk.is_empty() {
            assert!(chunk.is_unique(), "chunk {r:?} still referenced");
        }
    }

    // The end of the stream: the tail as it is, once.
    let last = d.finish();
    match &last {
        Some(rest) => assert_eq!(&rest[..], &data[want.tail.clone()]),
        None => assert!(want.tail.is_empty()),
    }
    assert_eq!(d.buffered_len(), 0);
    assert!(d.finish().is_none());
    assert!(d.next_frame().is_none());
});
