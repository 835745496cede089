//! Text decoding of a byte stream, as Node's `StringDecoder` does it for
//! `socket.setEncoding()`: a character split across two chunks is held back
//! until it is complete, so every `'data'` string is whole.
//!
//! Pure: bytes in, text out. For UTF-8 the complete part of a chunk is
//! handed out as a `Bytes` slice of the chunk itself (no copy) unless a
//! character straddled the previous chunk's end.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};

use crate::error::{Error, ErrorCode};

/// A text encoding for [`Socket::set_encoding`](crate::Socket::set_encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// UTF-8 (`"utf8"`, `"utf-8"`); invalid bytes become U+FFFD.
    Utf8,
    /// One character per byte, U+0000..=U+00FF (`"latin1"`, `"binary"`).
    Latin1,
    /// 7-bit ASCII: the high bit of each byte is dropped (`"ascii"`).
    Ascii,
    /// Two lowercase hex digits per byte (`"hex"`).
    Hex,
    /// Standard base64 with padding (`"base64"`); groups of three bytes
    /// split across chunks are held back.
    Base64,
}

impl FromStr for Encoding {
    type Err = Error;

    /// Parses Node's encoding names (case-insensitive); `Display` prints
    /// Node's canonical one.
    ///
    /// # Errors
    ///
    /// `ERR_UNKNOWN_ENCODING` for a name Node would refuse or nodenet does
    /// not support.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::Encoding;
    /// assert_eq!("UTF-8".parse::<Encoding>().unwrap(), Encoding::Utf8);
    /// assert_eq!(Encoding::Utf8.to_string(), "utf8");
    /// assert_eq!("bogus".parse::<Encoding>().unwrap_err().code(), "ERR_UNKNOWN_ENCODING");
    /// ```
    fn from_str(name: &str) -> Result<Encoding, Error> {
        match name.to_ascii_lowercase().as_str() {
            "utf8" | "utf-8" => Ok(Encoding::Utf8),
            "latin1" | "binary" => Ok(Encoding::Latin1),
            "ascii" => Ok(Encoding::Ascii),
            "hex" => Ok(Encoding::Hex),
            "base64" => Ok(Encoding::Base64),
            _ => Err(Error::new(
                ErrorCode::ERR_UNKNOWN_ENCODING,
                format!("Unknown encoding: {name}"),
            )),
        }
    }
}

impl Encoding {
    /// Node's name for the encoding.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf8",
            Encoding::Latin1 => "latin1",
            Encoding::Ascii => "ascii",
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded piece of the stream: whole characters' bytes, and their text
/// on demand (borrowed from the bytes for valid UTF-8: no copy).
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) bytes: Bytes,
    encoding: Encoding,
}

impl Decoded {
    pub(crate) fn text(&self) -> Cow<'_, str> {
        text_of(self.encoding, &self.bytes)
    }
}

/// Turns a chunked byte stream into whole-character text.
#[derive(Debug)]
pub(crate) struct TextDecoder {
    encoding: Encoding,
    /// Bytes of an incomplete character (UTF-8) or group (base64).
    pending: BytesMut,
}

/// How many bytes at the end of `b` start a UTF-8 sequence that is not
/// complete yet (0 when `b` ends on a character boundary).
fn utf8_incomplete_tail(b: &[u8]) -> usize {
    for back in 1..=b.len().min(3) {
        let byte = b[b.len() - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: look further back
        }
        let needed = match byte {
            0b1100_0000..=0b1101_1111 => 2,
            0b1110_0000..=0b1110_1111 => 3,
            0b1111_0000..=0b1111_0111 => 4,
            _ => 1,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(bytes: &[u8], out: &mut String) {
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

fn text_of(encoding: Encoding, bytes: &[u8]) -> Cow<'_, str> {
    match encoding {
        Encoding::Utf8 => String::from_utf8_lossy(bytes),
        Encoding::Latin1 => Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
        Encoding::Ascii => Cow::Owned(bytes.iter().map(|&b| (b & 0x7f) as char).collect()),
        Encoding::Hex => {
            let mut s = String::with_capacity(bytes.len() * 2);
            for &b in bytes {
                s.push(HEX[usize::from(b >> 4)] as char);
                s.push(HEX[usize::from(b & 15)] as char);
            }
            Cow::Owned(s)
        }
        Encoding::Base64 => {
            let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
            base64(bytes, &mut s);
            Cow::Owned(s)
        }
    }
}

impl TextDecoder {
    pub(crate) fn new(encoding: Encoding) -> TextDecoder {
        TextDecoder {
            encoding,
            pending: BytesMut::new(),
        }
    }

    pub(crate) fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Decodes the next chunk; `None` when everything is held back.
    pub(crate) fn decode(&mut self, chunk: &Bytes) -> Option<Decoded> {
        let encoding = self.encoding;
        if !matches!(encoding, Encoding::Utf8 | Encoding::Base64) {
            return Some(Decoded {
                bytes: chunk.clone(),
                encoding,
            });
        }
        let whole = if self.pending.is_empty() {
            chunk.clone()
        } else {
            self.pending.extend_from_slice(chunk);
            self.pending.split().freeze()
        };
        let keep = match self.encoding {
            Encoding::Utf8 => utf8_incomplete_tail(&whole),
            _ => whole.len() % 3,
        };
        let done = whole.len() - keep;
        self.pending.extend_from_slice(&whole[done..]);
        if done == 0 {
            return None;
        }
        Some(Decoded {
            bytes: whole.slice(..done),
            encoding,
        })
    }

    /// The end of the stream: whatever was held back, decoded as it is
    /// (an incomplete UTF-8 character becomes U+FFFD; a base64 group is
    /// padded).
    pub(crate) fn finish(&mut self) -> Option<Decoded> {
        if self.pending.is_empty() {
            return None;
        }
        Some(Decoded {
            bytes: self.pending.split().freeze(),
            encoding: self.encoding,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(enc: Encoding, chunks: &[&[u8]]) -> Vec<String> {
        let mut d = TextDecoder::new(enc);
        let mut out: Vec<String> = chunks
            .iter()
            .filter_map(|c| d.decode(&Bytes::copy_from_slice(c)))
            .map(|x| x.text().into_owned())
            .collect();
        out.extend(d.finish().map(|x| x.text().into_owned()));
        out
    }

    #[test]
    fn a_split_character_waits_for_its_end() {
        // N46: 'あいう' (9 bytes) split 4 + 5.
        let s = "あいう".as_bytes();
        assert_eq!(feed(Encoding::Utf8, &[&s[..4], &s[4..]]), ["あ", "いう"]);
    }

    #[test]
    fn every_split_point_of_every_width_gives_the_whole_text() {
        let text = "a é € 𝄞 z";
        let b = text.as_bytes();
        for i in 0..=b.len() {
            for j in i..=b.len() {
                let got = feed(Encoding::Utf8, &[&b[..i], &b[i..j], &b[j..]]).concat();
                assert_eq!(got, text, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn complete_chunks_are_not_copied() {
        let mut d = TextDecoder::new(Encoding::Utf8);
        let chunk = Bytes::from("héllo".to_string());
        let out = d.decode(&chunk).unwrap();
        assert_eq!(out.bytes.as_ptr(), chunk.as_ptr());
        assert!(matches!(out.text(), Cow::Borrowed("héllo")));
    }

    #[test]
    fn invalid_and_truncated_utf8_become_replacement_characters() {
        assert_eq!(feed(Encoding::Utf8, &[b"a\xffb"]), ["a\u{fffd}b"]);
        assert_eq!(feed(Encoding::Utf8, &[b"ok\xe3\x81"]), ["ok", "\u{fffd}"]);
    }

    #[test]
    fn latin1_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let text = feed(Encoding::Latin1, &[&all[..100], &all[100..]]).concat();
        let back: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
        assert_eq!(back, all);
        assert_eq!(text.chars().count(), 256);
    }

    #[test]
    fn hex_and_ascii() {
        assert_eq!(feed(Encoding::Hex, &[b"\x00\xff", b"A"]), ["00ff", "41"]);
        assert_eq!(feed(Encoding::Ascii, &[b"A\xc1"]), ["AA"]);
    }

    #[test]
    fn base64_holds_back_partial_groups() {
        assert_eq!(feed(Encoding::Base64, &[b"hell", b"o!"]), ["aGVs", "bG8h"]);
        assert_eq!(feed(Encoding::Base64, &[b"ab"]), ["YWI="]);
    }

    #[test]
    fn names_parse_like_node() {
        for (name, enc) in [
            ("utf8", Encoding::Utf8),
            ("UTF-8", Encoding::Utf8),
            ("binary", Encoding::Latin1),
            ("hex", Encoding::Hex),
        ] {
            assert_eq!(name.parse::<Encoding>().unwrap(), enc);
            assert_eq!(enc.to_string().parse::<Encoding>().unwrap(), enc);
        }
        assert_eq!(
            "bogus-enc".parse::<Encoding>().unwrap_err().code(),
            "ERR_UNKNOWN_ENCODING"
        );
    }
}
