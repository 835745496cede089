//! The input layout shared by the targets: the fuzz input is a parameter
//! byte, chunking instructions, then the stream itself.
//!
//! ```text
//! [param] [n] [ctrl; n % 16 + 1] [data ...]
//! ```
//!
//! `data` is cut into chunks by cycling through the control bytes: the low
//! six bits of one are the chunk's length (0 pushes an empty chunk, 63
//! takes all the rest), the top two bits what the caller does after
//! pushing it ([`After`]). A run of empty chunks as long as the control
//! bytes ends the cutting (the rest is one last chunk), so every input
//! terminates.

use std::ops::Range;

/// What to do with the decoder after pushing a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Take out every frame now complete.
    Drain,
    /// Take out nothing: chunks queue up in the decoder.
    Keep,
    /// Take out at most one frame (a listener that breaks early).
    TakeOne,
}

/// A fuzz input, decoded.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The target's parameter (a maximum length, an encoding).
    pub param: u8,
    /// The stream.
    pub data: &'a [u8],
    /// Consecutive ranges of `data` covering all of it, in order (empty
    /// ranges are empty chunks), each with what to do after pushing it.
    pub chunks: Vec<(Range<usize>, After)>,
}

impl<'a> Plan<'a> {
    /// `None` for an input too short to hold the header.
    pub fn parse(input: &'a [u8]) -> Option<Plan<'a>> {
        let (&param, rest) = input.split_first()?;
        let (&n, rest) = rest.split_first()?;
        let n = usize::from(n % 16) + 1;
        if rest.len() < n {
            return None;
        }
        let (ctrl, data) = rest.split_at(n);
        let mut chunks = Vec::new();
        let mut at = 0;
        let mut empty_run = 0;
        for &c in ctrl.iter().cycle() {
            if at == data.len() {
                break;
            }
            let after = match c >> 6 {
                1 => After::Keep,
                2 => After::TakeOne,
                _ => After::Drain,
            };
            let end = match usize::from(c & 0x3f) {
                0x3f => data.len(),
                len => (at + len).min(data.len()),
            };
            if end == at {
                empty_run += 1;
                if empty_run > n {
                    chunks.push((at..data.len(), after));
                    break;
                }
            } else {
                empty_run = 0;
            }
            chunks.push((at..end, after));
            at = end;
        }
        Some(Plan {
            param,
            data,
            chunks,
        })
    }
}
