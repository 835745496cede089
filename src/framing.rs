//! Message framing over a byte stream: length-prefixed frames and lines.
//!
//! TCP delivers a stream, not messages: one `'data'` chunk may hold half a
//! frame, several frames, or the end of one and the start of the next. The
//! decoders here are fed chunks as they come ([`Decoder::push`]) and hand
//! out whole frames ([`Decoder::next_frame`]), whatever the chunk
//! boundaries were.
//!
//! - [`LengthPrefixed`]: a 4-byte big-endian length, then that many bytes
//!   (the framing of Verb's `MessageProtocol`, and of many binary
//!   protocols), with a maximum frame size.
//! - [`Lines`]: frames ended by `\n` (a `\r` before it is dropped too), with
//!   a maximum line length.
//!
//! # Zero-copy
//!
//! Frames are [`Bytes`]. A frame that lies whole inside one pushed chunk is
//! a slice of that chunk (the same allocation: nodenet's read buffer); only
//! a frame that straddles chunks is assembled, copying each of its bytes
//! once into a `BytesMut` that is then frozen, never re-copied. Once the
//! decoder has been drained it holds no reference to the chunks pushed into
//! it, only the copied start of an unfinished frame.
//!
//! # Errors
//!
//! A frame over the maximum is an error of code `ERR_OUT_OF_RANGE`
//! ([`ErrorCode::ERR_OUT_OF_RANGE`]), returned once by `next_frame` in place of
//! that frame (the frames before it come first). The stream cannot be
//! resynchronised after that, so the decoder fails: it drops what it holds,
//! ignores further input, and `next_frame` returns `None` from then on;
//! [`LengthPrefixed::error`] / [`Lines::error`] keep the error.
//!
//! # Examples
//!
//! A server answering length-prefixed messages, and a client sending two
//! in one write:
//!
//! ```
//! use nodenet::framing::{BytesMut, Decoder, LengthPrefixed};
//! use nodenet::{tcp, Bytes, Server, ServerOptions, Socket};
//!
//! let server = tcp::create_server(ServerOptions::default(), |_: &Server, socket: &Socket| {
//!     // One decoder per connection, owned by its 'data' listener.
//!     let mut frames = LengthPrefixed::new(1024 * 1024);
//!     socket.on("data", move |s: &Socket, chunk: &Bytes| {
//!         for frame in frames.decode(chunk) {
//!             match frame {
//!                 Ok(message) => {
//!                     let reply = [b"got ", &message[..]].concat();
//!                     s.write(LengthPrefixed::encode(reply).unwrap());
//!                 }
//!                 Err(err) => {
//!                     // ERR_OUT_OF_RANGE: the peer announced a frame too big.
//!                     eprintln!("{}: {}", err.code(), err.message());
//!                     s.destroy();
//!                 }
//!             }
//!         }
//!     });
//! });
//! server.listen(0, "127.0.0.1")?;
//! let port = server.address().unwrap().port();
//!
//! let mut replies = LengthPrefixed::new(1024);
//! let mut got = Vec::new();
//! tcp::connect(port, "127.0.0.1", |s: &Socket| {
//!     let mut both = BytesMut::new();
//!     LengthPrefixed::encode_into("one", &mut both).unwrap();
//!     LengthPrefixed::encode_into("two", &mut both).unwrap();
//!     s.write(both);
//! })?
//! .on("data", move |s: &Socket, chunk: &Bytes| {
//!     for reply in replies.decode(chunk) {
//!         got.push(reply.unwrap());
//!     }
//!     if got.len() == 2 {
//!         assert_eq!(got, ["got one", "got two"]);
//!         s.end();
//!         server.close();
//!     }
//! });
//! nodenet::run()?;
//! # Ok::<(), nodenet::Error>(())
//! ```

use std::collections::VecDeque;
use std::fmt;

use bytes::{Buf, BufMut, Bytes};

use crate::error::{Error, ErrorCode};

/// The growable buffer [`LengthPrefixed::encode_into`] appends to
/// (re-exported from `bytes`).
pub use bytes::BytesMut;

/// An incremental decoder: chunks in, frames out.
///
/// Implemented by [`LengthPrefixed`] and [`Lines`]. Bring the trait into
/// scope (`use nodenet::framing::Decoder;`) to call its methods.
pub trait Decoder {
    /// Appends a chunk of the stream. The chunk is kept by reference (a
    /// `Bytes` clone, not a copy) until the frames in it are taken out.
    /// Empty chunks, and any input after the decoder failed, are ignored.
    fn push(&mut self, chunk: &Bytes);

    /// The next whole frame: `None` when more input is needed (or after a
    /// failure was reported), `Some(Ok(frame))` for a frame,
    /// `Some(Err(err))` once when the stream breaks the decoder's limit.
    ///
    /// # Errors
    ///
    /// `ERR_OUT_OF_RANGE` for a frame over the decoder's maximum; see the
    /// [module documentation](self).
    fn next_frame(&mut self) -> Option<Result<Bytes, Error>>;

    /// [`push`](Decoder::push)es `chunk`, then iterates over the frames
    /// now complete: the one call a `'data'` listener needs.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::framing::{Decoder, Lines};
    /// use nodenet::Bytes;
    ///
    /// let mut lines = Lines::new(80);
    /// let got: Vec<Bytes> = lines.decode(&Bytes::from("one\ntw")).map(Result::unwrap).collect();
    /// assert_eq!(got, ["one"]);
    /// let got: Vec<Bytes> = lines.decode(&Bytes::from("o\r\n")).map(Result::unwrap).collect();
    /// assert_eq!(got, ["two"]);
    /// ```
    fn decode(&mut self, chunk: &Bytes) -> Frames<'_, Self>
    where
        Self: Sized,
    {
        self.push(chunk);
        Frames { decoder: self }
    }

    /// Iterates over the frames complete in what was pushed so far.
    fn frames(&mut self) -> Frames<'_, Self>
    where
        Self: Sized,
    {
        Frames { decoder: self }
    }
}

/// The iterator of [`Decoder::decode`] and [`Decoder::frames`]: calls
/// [`Decoder::next_frame`] until it returns `None`. Frames it does not
/// yield (when the loop breaks early) stay in the decoder.
#[derive(Debug)]
pub struct Frames<'a, D> {
    decoder: &'a mut D,
}

impl<D: Decoder> Iterator for Frames<'_, D> {
    type Item = Result<Bytes, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.decoder.next_frame()
    }
}

/// Chunks pushed but not yet consumed, front first; never holds an empty
/// chunk.
#[derive(Default)]
struct Input {
    chunks: VecDeque<Bytes>,
}

impl Input {
    fn push(&mut self, chunk: &Bytes) {
        if !chunk.is_empty() {
            self.chunks.push_back(chunk.clone());
        }
    }

    fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    fn front(&mut self) -> Option<&mut Bytes> {
        self.chunks.front_mut()
    }

    /// Drops the front chunk if it has been consumed.
    fn pop_if_empty(&mut self) {
        if self.chunks.front().is_some_and(Bytes::is_empty) {
            self.chunks.pop_front();
        }
    }

    fn clear(&mut self) {
        self.chunks.clear();
    }
}

/// Length-prefixed frames: a 4-byte big-endian length, then that many bytes
/// of payload. The payload is the frame; the header is not part of it.
///
/// # Examples
///
/// Frames come out whole however the stream was cut:
///
/// ```
/// use nodenet::framing::{Decoder, LengthPrefixed};
/// use nodenet::Bytes;
///
/// let mut stream = Vec::new();
/// stream.extend_from_slice(&LengthPrefixed::encode(b"hello").unwrap());
/// stream.extend_from_slice(&LengthPrefixed::encode(b"").unwrap());
/// stream.extend_from_slice(&LengthPrefixed::encode(b"world").unwrap());
///
/// let mut decoder = LengthPrefixed::new(1024);
/// let mut frames = Vec::new();
/// for piece in stream.chunks(3) {
///     for frame in decoder.decode(&Bytes::copy_from_slice(piece)) {
///         frames.push(frame.unwrap());
///     }
/// }
/// assert_eq!(frames, ["hello", "", "world"]);
/// assert_eq!(decoder.buffered_len(), 0);
/// ```
///
/// A header announcing more than the maximum fails the decoder:
///
/// ```
/// use nodenet::framing::{Decoder, LengthPrefixed};
/// use nodenet::Bytes;
///
/// let mut decoder = LengthPrefixed::new(16);
/// let err = decoder.decode(&Bytes::from_static(&[0, 0, 0, 17])).next().unwrap().unwrap_err();
/// assert_eq!(err.code(), "ERR_OUT_OF_RANGE");
/// assert_eq!(err.message(), "frame of 17 bytes exceeds the maximum of 16");
/// assert!(decoder.decode(&LengthPrefixed::encode(b"ok").unwrap()).next().is_none());
/// ```
pub struct LengthPrefixed {
    max_frame_len: usize,
    input: Input,
    /// The header bytes gathered so far, when it straddles chunks.
    header: [u8; 4],
    header_len: usize,
    /// The payload length announced by the current header, once read.
    want: Option<usize>,
    /// The start of a payload that straddles chunks.
    partial: BytesMut,
    failure: Option<Error>,
}

impl fmt::Debug for LengthPrefixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LengthPrefixed")
            .field("max_frame_len", &self.max_frame_len)
            .field("buffered_len", &self.buffered_len())
            .field("want", &self.want)
            .field("error", &self.failure)
            .finish()
    }
}

/// The length of the header of a [`LengthPrefixed`] frame.
pub const HEADER_LEN: usize = 4;

impl LengthPrefixed {
    /// A decoder accepting frames of up to `max_frame_len` bytes of payload
    /// (inclusive; the 4-byte header is not counted).
    pub fn new(max_frame_len: usize) -> LengthPrefixed {
        LengthPrefixed {
            max_frame_len,
            input: Input::default(),
            header: [0; 4],
            header_len: 0,
            want: None,
            partial: BytesMut::new(),
            failure: None,
        }
    }

    /// The largest payload accepted.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Bytes pushed and not yet returned as frames (headers included).
    pub fn buffered_len(&self) -> usize {
        self.input.len() + self.header_len + self.partial.len()
    }

    /// The error that failed the decoder, if one did.
    pub fn error(&self) -> Option<&Error> {
        self.failure.as_ref()
    }

    /// The 4-byte header announcing a payload of `len` bytes, for senders
    /// that write the header and the payload separately (no copy of the
    /// payload: `socket.write(&header[..]); socket.write(payload)`).
    ///
    /// # Errors
    ///
    /// `ERR_OUT_OF_RANGE` if `len` does not fit in 32 bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::framing::LengthPrefixed;
    /// assert_eq!(LengthPrefixed::header(258).unwrap(), [0, 0, 1, 2]);
    /// ```
    pub fn header(len: usize) -> Result<[u8; 4], Error> {
        u32::try_from(len).map(u32::to_be_bytes).map_err(|_| {
            Error::new(
                ErrorCode::ERR_OUT_OF_RANGE,
                format!(
                    "frame of {len} bytes exceeds the maximum of {} of a 32-bit length",
                    u32::MAX
                ),
            )
        })
    }

    /// `payload` with its header, in one buffer ready for `write()`: the
    /// sending side of this framing. Copies the payload once; see
    /// [`header`](LengthPrefixed::header) to avoid that.
    ///
    /// # Errors
    ///
    /// `ERR_OUT_OF_RANGE` if the payload is 4 GiB or more.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::framing::LengthPrefixed;
    /// assert_eq!(&LengthPrefixed::encode(b"hi").unwrap()[..], b"\0\0\0\x02hi");
    /// ```
    pub fn encode(payload: impl AsRef<[u8]>) -> Result<Bytes, Error> {
        let payload = payload.as_ref();
        let mut out = BytesMut::with_capacity(HEADER_LEN + payload.len());
        LengthPrefixed::encode_into(payload, &mut out)?;
        Ok(out.freeze())
    }

    /// Appends `payload` with its header to `out`, to batch several frames
    /// into one write.
    ///
    /// # Errors
    ///
    /// `ERR_OUT_OF_RANGE` if the payload is 4 GiB or more (then `out` is
    /// left as it was).
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::framing::{BytesMut, Decoder, LengthPrefixed};
    ///
    /// let mut batch = BytesMut::new();
    /// LengthPrefixed::encode_into(b"a", &mut batch).unwrap();
    /// LengthPrefixed::encode_into(b"bc", &mut batch).unwrap();
    /// let mut decoder = LengthPrefixed::new(8);
    /// let frames: Vec<_> = decoder.decode(&batch.freeze()).map(Result::unwrap).collect();
    /// assert_eq!(frames, ["a", "bc"]);
    /// ```
    pub fn encode_into(payload: impl AsRef<[u8]>, out: &mut BytesMut) -> Result<(), Error> {
        let payload = payload.as_ref();
        let header = LengthPrefixed::header(payload.len())?;
        out.reserve(HEADER_LEN + payload.len());
        out.put_slice(&header);
        out.put_slice(payload);
        Ok(())
    }

    /// Checks an announced length against the maximum; fails the decoder
    /// if it is over.
    fn announce(&mut self, len: u32) -> Result<usize, Error> {
        match usize::try_from(len) {
            Ok(n) if n <= self.max_frame_len => Ok(n),
            _ => Err(self.fail(Error::new(
                ErrorCode::ERR_OUT_OF_RANGE,
                format!(
                    "frame of {len} bytes exceeds the maximum of {}",
                    self.max_frame_len
                ),
            ))),
        }
    }

    fn fail(&mut self, err: Error) -> Error {
        self.input.clear();
        self.partial = BytesMut::new();
        self.header_len = 0;
        self.want = None;
        self.failure = Some(err.clone());
        err
    }
}

impl Decoder for LengthPrefixed {
    fn push(&mut self, chunk: &Bytes) {
        if self.failure.is_none() {
            self.input.push(chunk);
        }
    }

    fn next_frame(&mut self) -> Option<Result<Bytes, Error>> {
        if self.failure.is_some() {
            return None;
        }
        loop {
            let Some(len) = self.want else {
                // The header. Fast path: whole in the front chunk.
                if self.header_len == 0 {
                    let front = self.input.front()?;
                    if front.len() >= HEADER_LEN {
                        let announced = front.get_u32();
                        self.input.pop_if_empty();
                        match self.announce(announced) {
                            Ok(n) => self.want = Some(n),
                            Err(e) => return Some(Err(e)),
                        }
                        continue;
                    }
                }
                // Slow path: gather it across chunks.
                let front = self.input.front()?;
                let take = (HEADER_LEN - self.header_len).min(front.len());
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&front[..take]);
                front.advance(take);
                self.header_len += take;
                self.input.pop_if_empty();
                if self.header_len == HEADER_LEN {
                    self.header_len = 0;
                    match self.announce(u32::from_be_bytes(self.header)) {
                        Ok(n) => self.want = Some(n),
                        Err(e) => return Some(Err(e)),
                    }
                }
                continue;
            };
            // The payload.
            if len == 0 {
                self.want = None;
                return Some(Ok(Bytes::new()));
            }
            let front = self.input.front()?;
            if self.partial.is_empty() && front.len() >= len {
                // Whole in one chunk: a slice of it, no copy.
                let frame = front.split_to(len);
                self.input.pop_if_empty();
                self.want = None;
                return Some(Ok(frame));
            }
            if self.partial.is_empty() {
                self.partial.reserve(len);
            }
            let take = (len - self.partial.len()).min(front.len());
            self.partial.extend_from_slice(&front[..take]);
            front.advance(take);
            self.input.pop_if_empty();
            if self.partial.len() == len {
                self.want = None;
                return Some(Ok(self.partial.split_to(len).freeze()));
            }
        }
    }
}

/// Line-delimited frames: each frame ends with `\n`, which is removed along
/// with a `\r` just before it (so `\r\n` works too). Empty lines are empty
/// frames.
///
/// # Examples
///
/// ```
/// use nodenet::framing::{Decoder, Lines};
/// use nodenet::Bytes;
///
/// let mut lines = Lines::new(1024);
/// lines.push(&Bytes::from("GET / HTTP/1.0\r\n\r\nbody without newline"));
/// let got: Vec<Bytes> = lines.frames().map(Result::unwrap).collect();
/// assert_eq!(got, ["GET / HTTP/1.0", ""]);
/// // At the end of the stream, the rest is a last, unterminated line.
/// assert_eq!(lines.finish().unwrap(), "body without newline");
/// ```
pub struct Lines {
    max_line_len: usize,
    input: Input,
    /// The start of a line that straddles chunks (no `\n` in it).
    partial: BytesMut,
    failure: Option<Error>,
}

impl fmt::Debug for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines")
            .field("max_line_len", &self.max_line_len)
            .field("buffered_len", &self.buffered_len())
            .field("error", &self.failure)
            .finish()
    }
}

impl Lines {
    /// A decoder accepting lines of up to `max_line_len` bytes, not
    /// counting the `\n` or `\r\n` that ends them.
    pub fn new(max_line_len: usize) -> Lines {
        Lines {
            max_line_len,
            input: Input::default(),
            partial: BytesMut::new(),
            failure: None,
        }
    }

    /// The longest line accepted.
    pub fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// Bytes pushed and not yet returned as lines.
    pub fn buffered_len(&self) -> usize {
        self.input.len() + self.partial.len()
    }

    /// The error that failed the decoder, if one did.
    pub fn error(&self) -> Option<&Error> {
        self.failure.as_ref()
    }

    /// At the end of the stream: the bytes after the last `\n`, as a last
    /// line (`None` if there are none), taken out of the decoder. Call it
    /// after the frames have been drained.
    pub fn finish(&mut self) -> Option<Bytes> {
        if self.failure.is_some() {
            return None;
        }
        let mut rest = std::mem::take(&mut self.partial);
        let chunks = std::mem::take(&mut self.input.chunks);
        if rest.is_empty() && chunks.len() == 1 {
            return chunks.into_iter().next();
        }
        for chunk in chunks {
            rest.extend_from_slice(&chunk);
        }
        (!rest.is_empty()).then(|| rest.freeze())
    }

    /// `line` followed by `\n`, ready for `write()`.
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` if `line` contains a `\n` (it would arrive as
    /// two lines).
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::framing::Lines;
    /// assert_eq!(Lines::encode("hello").unwrap(), "hello\n");
    /// assert_eq!(Lines::encode("a\nb").unwrap_err().code(), "ERR_INVALID_ARG_VALUE");
    /// ```
    pub fn encode(line: impl AsRef<[u8]>) -> Result<Bytes, Error> {
        let line = line.as_ref();
        if line.contains(&b'\n') {
            return Err(Error::new(
                ErrorCode::ERR_INVALID_ARG_VALUE,
                "a line must not contain a newline",
            ));
        }
        let mut out = BytesMut::with_capacity(line.len() + 1);
        out.put_slice(line);
        out.put_u8(b'\n');
        Ok(out.freeze())
    }

    fn too_long(&mut self, len: usize) -> Error {
        let err = Error::new(
            ErrorCode::ERR_OUT_OF_RANGE,
            format!(
                "line of {len} bytes exceeds the maximum of {}",
                self.max_line_len
            ),
        );
        self.input.clear();
        self.partial = BytesMut::new();
        self.failure = Some(err.clone());
        err
    }
}

/// Whether an unterminated line of `len` bytes ending with `last` is already
/// known to be longer than `max`: it may still end with `\r\n`, so one byte
/// over is allowed when that byte is `\r`.
fn unterminated_too_long(max: usize, len: usize, last: u8) -> bool {
    len > max.saturating_add(1) || (len == max.saturating_add(1) && last != b'\r')
}

fn strip_cr(mut line: Bytes) -> Bytes {
    if line.last() == Some(&b'\r') {
        line.truncate(line.len() - 1);
    }
    line
}

impl Decoder for Lines {
    fn push(&mut self, chunk: &Bytes) {
        if self.failure.is_none() {
            self.input.push(chunk);
        }
    }

    fn next_frame(&mut self) -> Option<Result<Bytes, Error>> {
        if self.failure.is_some() {
            return None;
        }
        loop {
            let front = self.input.front()?;
            match front.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    // The line's length without its terminator, checked
                    // before anything is copied.
                    let cr = match i {
                        0 => self.partial.last() == Some(&b'\r'),
                        _ => front[i - 1] == b'\r',
                    };
                    let len = self.partial.len() + i - usize::from(cr);
                    if len > self.max_line_len {
                        return Some(Err(self.too_long(len)));
                    }
                    let line = if self.partial.is_empty() {
                        // Whole in one chunk: a slice of it, no copy.
                        let mut line = front.split_to(i + 1);
                        line.truncate(i);
                        line
                    } else {
                        self.partial.extend_from_slice(&front[..i]);
                        front.advance(i + 1);
                        let len = self.partial.len();
                        self.partial.split_to(len).freeze()
                    };
                    self.input.pop_if_empty();
                    return Some(Ok(strip_cr(line)));
                }
                None => {
                    let len = self.partial.len() + front.len();
                    let last = front[front.len() - 1];
                    if unterminated_too_long(self.max_line_len, len, last) {
                        return Some(Err(self.too_long(len)));
                    }
                    self.partial.extend_from_slice(front);
                    self.input.chunks.pop_front();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(d: &mut impl Decoder) -> Vec<Bytes> {
        d.frames().map(|f| f.expect("a frame")).collect()
    }

    fn stream(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for f in frames {
            LengthPrefixed::encode_into(f, &mut out).unwrap();
        }
        out.to_vec()
    }

    /// Feeds `data` cut at `cut` (two pieces), collecting frames after each.
    fn decode_split(d: &mut impl Decoder, data: &[u8], cut: usize) -> Vec<Bytes> {
        let mut got = Vec::new();
        for piece in [&data[..cut], &data[cut..]] {
            got.extend(d.decode(&Bytes::copy_from_slice(piece)).map(Result::unwrap));
        }
        got
    }

    #[test]
    fn length_prefixed_split_at_every_byte() {
        let frames: [&[u8]; 4] = [b"hello", b"", b"x", b"a longer frame, with more bytes"];
        let data = stream(&frames);
        for cut in 0..=data.len() {
            let mut d = LengthPrefixed::new(64);
            assert_eq!(decode_split(&mut d, &data, cut), frames, "cut at {cut}");
            assert_eq!(d.buffered_len(), 0);
        }
        // And one byte per chunk.
        let mut d = LengthPrefixed::new(64);
        let mut got = Vec::new();
        for b in &data {
            got.extend(d.decode(&Bytes::copy_from_slice(&[*b])).map(Result::unwrap));
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn length_prefixed_every_chunk_size() {
        let frames: Vec<Vec<u8>> = (0..20).map(|i| vec![i as u8; i * 7]).collect();
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let data = stream(&refs);
        for size in 1..=data.len() {
            let mut d = LengthPrefixed::new(1000);
            let mut got = Vec::new();
            for piece in data.chunks(size) {
                got.extend(d.decode(&Bytes::copy_from_slice(piece)).map(Result::unwrap));
            }
            assert_eq!(got, refs, "chunks of {size}");
        }
    }

    #[test]
    fn length_prefixed_several_frames_in_one_chunk_are_slices_of_it() {
        let chunk = Bytes::from(stream(&[b"one", b"", b"three"]));
        let mut d = LengthPrefixed::new(16);
        let got = d.decode(&chunk).map(Result::unwrap).collect::<Vec<_>>();
        assert_eq!(got, [&b"one"[..], b"", b"three"]);
        // Zero-copy: the frames point into the chunk.
        assert_eq!(got[0].as_ptr(), chunk[4..].as_ptr());
        assert_eq!(got[2].as_ptr(), chunk[4 + 3 + 4 + 4..].as_ptr());
        assert_eq!(d.buffered_len(), 0);
    }

    #[test]
    fn length_prefixed_payload_after_split_header_is_a_slice() {
        // The header straddles two chunks, the payload is whole in the
        // second: still no copy of the payload.
        let data = stream(&[b"payload"]);
        let first = Bytes::copy_from_slice(&data[..2]);
        let second = Bytes::copy_from_slice(&data[2..]);
        let mut d = LengthPrefixed::new(16);
        assert!(d.decode(&first).next().is_none());
        assert_eq!(d.buffered_len(), 2);
        let frame = d.decode(&second).next().unwrap().unwrap();
        assert_eq!(frame, "payload");
        assert_eq!(frame.as_ptr(), second[2..].as_ptr());
    }

    #[test]
    fn length_prefixed_straddling_frame_is_assembled_and_rest_sliced() {
        let data = stream(&[b"abcdef", b"gh"]);
        let first = Bytes::copy_from_slice(&data[..7]); // header + "abc"
        let second = Bytes::copy_from_slice(&data[7..]); // "def" + frame 2
        let mut d = LengthPrefixed::new(16);
        assert!(d.decode(&first).next().is_none());
        let got = d.decode(&second).map(Result::unwrap).collect::<Vec<_>>();
        assert_eq!(got, ["abcdef", "gh"]);
        // The second frame lies whole in the second chunk: a slice of it.
        assert_eq!(got[1].as_ptr(), second[3 + 4..].as_ptr());
    }

    #[test]
    fn length_prefixed_empty_frames() {
        let mut d = LengthPrefixed::new(0);
        d.push(&Bytes::from(stream(&[b"", b"", b""])));
        let got = collect(&mut d);
        assert_eq!(got, ["", "", ""]);
        // A header alone, with nothing after it, is an empty frame.
        assert_eq!(
            d.decode(&Bytes::from_static(&[0, 0, 0, 0]))
                .next()
                .unwrap()
                .unwrap(),
            ""
        );
        assert!(d.next_frame().is_none());
    }

    #[test]
    fn length_prefixed_exact_maximum_is_accepted() {
        let payload = vec![7u8; 100];
        let data = stream(&[&payload]);
        for cut in [0, 2, 4, 50, 104] {
            let mut d = LengthPrefixed::new(100);
            assert_eq!(decode_split(&mut d, &data, cut), [&payload[..]]);
        }
    }

    #[test]
    fn length_prefixed_oversize_fails_once_and_refuses_input() {
        let mut data = stream(&[b"ok"]);
        data.extend_from_slice(&[0, 0, 0, 101]);
        data.extend_from_slice(&[1; 101]);
        let mut d = LengthPrefixed::new(100);
        let mut frames = d.decode(&Bytes::from(data));
        // The frame before the bad header still comes out, first.
        assert_eq!(frames.next().unwrap().unwrap(), "ok");
        let err = frames.next().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorCode::ERR_OUT_OF_RANGE);
        assert_eq!(err.code(), "ERR_OUT_OF_RANGE");
        assert_eq!(
            err.message(),
            "frame of 101 bytes exceeds the maximum of 100"
        );
        assert!(frames.next().is_none(), "the error comes once");
        assert_eq!(d.buffered_len(), 0, "what it held is dropped");
        assert!(d.decode(&Bytes::from(stream(&[b"later"]))).next().is_none());
        assert_eq!(d.buffered_len(), 0, "later input is refused");
        assert_eq!(d.error().unwrap().code(), "ERR_OUT_OF_RANGE");
    }

    #[test]
    fn length_prefixed_oversize_header_split_across_chunks() {
        let mut d = LengthPrefixed::new(1 << 20);
        assert!(d.decode(&Bytes::from_static(&[0, 0x10])).next().is_none());
        let err = d
            .decode(&Bytes::from_static(&[0, 1]))
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(
            err.message(),
            "frame of 1048577 bytes exceeds the maximum of 1048576"
        );
        // The full 32-bit range is reported as is.
        let mut d = LengthPrefixed::new(0);
        let err = d
            .decode(&Bytes::from_static(&[0xff; 4]))
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(
            err.message(),
            "frame of 4294967295 bytes exceeds the maximum of 0"
        );
    }

    #[test]
    fn length_prefixed_pushes_without_draining_queue_up() {
        let data = stream(&[b"ab", b"cde"]);
        let mut d = LengthPrefixed::new(8);
        for b in &data {
            d.push(&Bytes::copy_from_slice(&[*b]));
        }
        d.push(&Bytes::new());
        assert_eq!(d.buffered_len(), data.len());
        assert_eq!(collect(&mut d), ["ab", "cde"]);
    }

    #[test]
    fn length_prefixed_breaking_early_keeps_the_rest() {
        let chunk = Bytes::from(stream(&[b"1", b"2", b"3"]));
        let mut d = LengthPrefixed::new(8);
        assert_eq!(d.decode(&chunk).next().unwrap().unwrap(), "1");
        assert_eq!(collect(&mut d), ["2", "3"]);
    }

    #[test]
    fn drained_decoders_release_the_chunks() {
        // The unfinished frame at the end of a chunk is copied out, so the
        // chunk (nodenet's read buffer) is not pinned by the decoder.
        let data = stream(&[b"whole", b"unfinished frame"]);
        let chunk = Bytes::from(data[..data.len() - 3].to_vec());
        let mut d = LengthPrefixed::new(64);
        let got: Vec<Bytes> = d.decode(&chunk).map(Result::unwrap).collect();
        assert_eq!(got, ["whole"]);
        drop(got);
        assert!(chunk.is_unique());
        let tail = Bytes::copy_from_slice(&data[data.len() - 3..]);
        assert_eq!(d.decode(&tail).next().unwrap().unwrap(), "unfinished frame");

        let chunk = Bytes::from(b"line\nunfinished".to_vec());
        let mut d = Lines::new(64);
        let got: Vec<Bytes> = d.decode(&chunk).map(Result::unwrap).collect();
        assert_eq!(got, ["line"]);
        drop(got);
        assert!(chunk.is_unique());
        assert_eq!(
            d.decode(&Bytes::from_static(b" line\n"))
                .next()
                .unwrap()
                .unwrap(),
            "unfinished line"
        );
    }

    #[test]
    fn encode_and_header() {
        assert_eq!(&LengthPrefixed::encode("").unwrap()[..], &[0, 0, 0, 0]);
        assert_eq!(
            &LengthPrefixed::encode(vec![9u8; 300]).unwrap()[..6],
            &[0, 0, 1, 44, 9, 9]
        );
        assert_eq!(LengthPrefixed::header(0x0102_0304).unwrap(), [1, 2, 3, 4]);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(
            LengthPrefixed::header(1 << 32).unwrap_err().code(),
            "ERR_OUT_OF_RANGE"
        );
    }

    fn lines_of(d: &mut Lines, data: &[u8], cut: usize) -> Vec<Bytes> {
        decode_split(d, data, cut)
    }

    #[test]
    fn lines_split_at_every_byte() {
        let data = b"first\r\n\nsecond line\nthird\r\n\r\n";
        let want = ["first", "", "second line", "third", ""];
        for cut in 0..=data.len() {
            let mut d = Lines::new(32);
            assert_eq!(lines_of(&mut d, data, cut), want, "cut at {cut}");
            assert_eq!(d.buffered_len(), 0);
        }
        let mut d = Lines::new(32);
        let mut got = Vec::new();
        for b in data {
            got.extend(d.decode(&Bytes::copy_from_slice(&[*b])).map(Result::unwrap));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn lines_in_one_chunk_are_slices_of_it() {
        let chunk = Bytes::from_static(b"ab\r\ncd\n\nrest");
        let mut d = Lines::new(8);
        let got = d.decode(&chunk).map(Result::unwrap).collect::<Vec<_>>();
        assert_eq!(got, ["ab", "cd", ""]);
        assert_eq!(got[0].as_ptr(), chunk.as_ptr());
        assert_eq!(got[1].as_ptr(), chunk[4..].as_ptr());
        assert_eq!(d.buffered_len(), 4);
        assert_eq!(d.finish().unwrap(), "rest");
        assert_eq!(d.buffered_len(), 0);
        assert!(d.finish().is_none());
    }

    #[test]
    fn lines_a_lone_cr_is_data() {
        let mut d = Lines::new(8);
        d.push(&Bytes::from_static(b"a\rb\n\r\r\n"));
        let got = collect(&mut d);
        assert_eq!(got, ["a\rb", "\r"]);
    }

    #[test]
    fn lines_exact_maximum_is_accepted_at_any_cut() {
        let data = b"12345\r\n12345\n";
        for cut in 0..=data.len() {
            let mut d = Lines::new(5);
            assert_eq!(lines_of(&mut d, data, cut), ["12345", "12345"], "cut {cut}");
        }
    }

    #[test]
    fn lines_too_long_fails_at_any_cut() {
        for data in [&b"ok\n123456\n"[..], b"ok\n123456\r\n", b"ok\n123456"] {
            for cut in 0..=data.len() {
                let mut d = Lines::new(5);
                let mut got = Vec::new();
                let mut errors = Vec::new();
                for piece in [&data[..cut], &data[cut..]] {
                    for f in d.decode(&Bytes::copy_from_slice(piece)) {
                        match f {
                            Ok(l) => got.push(l),
                            Err(e) => errors.push(e),
                        }
                    }
                }
                assert_eq!(got, ["ok"], "{data:?} cut {cut}");
                assert_eq!(errors.len(), 1, "{data:?} cut {cut}");
                assert_eq!(errors[0].code(), "ERR_OUT_OF_RANGE");
                assert!(
                    errors[0].message().ends_with("exceeds the maximum of 5"),
                    "{}",
                    errors[0].message()
                );
                assert!(d.decode(&Bytes::from_static(b"x\n")).next().is_none());
                assert!(d.error().is_some());
                assert!(d.finish().is_none());
            }
        }
    }

    #[test]
    fn lines_unterminated_cr_at_the_limit_waits() {
        // "12345\r" may still become "12345\r\n": not an error yet.
        let mut d = Lines::new(5);
        assert!(d.decode(&Bytes::from_static(b"12345\r")).next().is_none());
        assert!(d.error().is_none());
        assert_eq!(
            d.decode(&Bytes::from_static(b"\n"))
                .next()
                .unwrap()
                .unwrap(),
            "12345"
        );
    }

    #[test]
    fn lines_encode() {
        assert_eq!(Lines::encode(b"").unwrap(), "\n");
        assert_eq!(Lines::encode("x\r").unwrap(), "x\r\n");
        assert!(Lines::encode("\n").is_err());
    }
}
