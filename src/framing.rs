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
//! - [`Framed`]: any other protocol (RESP, HTTP, netstrings, ...) as one
//!   [`Parse`] function over the bytes accumulated so far, in the shape of
//!   tokio-util's `decode(&mut BytesMut) -> Result<Option<Frame>, E>`;
//!   `Framed` keeps the unfinished frame between chunks and bounds it.
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
//! A [`Parse`] function can go further and hand out no `Bytes` at all: it
//! [`lend`](ParseBuf::lend)s the frame's bytes, returns where the parts
//! lie in them, and [`Framed::next_in_place`] lends those bytes to the
//! caller beside the frame until its next call. A request that is answered
//! and forgotten (RESP's arguments, an HTTP head) is then read where it
//! lies, with no reference count and no allocation per frame.
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

// ---------------------------------------------------------------------------
// User protocols: one parse function over the accumulated bytes.

/// A protocol of your own: a parse function over the bytes accumulated so
/// far, for [`Framed`] to call.
///
/// The shape is tokio-util's `Decoder::decode(&mut BytesMut)`: look at the
/// bytes at the start of `buf`; if a whole frame is there, take its bytes
/// out ([`ParseBuf::split_to`], [`ParseBuf::advance`]) and return
/// `Ok(Some(frame))`; if more input is needed return `Ok(None)` (consuming
/// what you are done with is allowed, e.g. a body being discarded); if the
/// input breaks the protocol return `Err(..)`. [`Framed`] keeps what was
/// not consumed and presents it again, at the start of `buf` and followed
/// by the new bytes, on the next call; it also enforces the size limit, so
/// a parser never has to think about unbounded input.
///
/// Any `FnMut(&mut ParseBuf) -> Result<Option<T>, E>` is a `Parse` (a
/// function or a closure); implement the trait on a type of your own for a
/// parser that keeps state between calls (where a frame's parse can
/// resume, which part of a message it is in).
///
/// The error type must convert from nodenet's [`Error`]: [`Framed`]'s own
/// limit error is one (`ERR_OUT_OF_RANGE`). `nodenet::Error` itself fits.
///
/// `parse` is only called with at least one byte in `buf`; a call that
/// returns `Ok(Some(..))` must have consumed at least one byte (split it
/// off, advanced past it or [`lend`](ParseBuf::lend)-ed it), or the frame
/// iterator would return the same frame for ever.
///
/// # Examples
///
/// A parser as a type, with state kept between calls (here: how far the
/// search for the end of a line got, so no byte is scanned twice):
///
/// ```
/// use nodenet::framing::{Framed, Parse, ParseBuf};
/// use nodenet::{Bytes, Error};
///
/// #[derive(Default)]
/// struct Lines { scanned: usize }
///
/// impl Parse for Lines {
///     type Frame = Bytes;
///     type Error = Error;
///     fn parse(&mut self, buf: &mut ParseBuf) -> Result<Option<Bytes>, Error> {
///         match buf[self.scanned..].iter().position(|&b| b == b'\n') {
///             Some(i) => {
///                 let line = buf.split_to(self.scanned + i);
///                 buf.advance(1); // the '\n'
///                 self.scanned = 0;
///                 Ok(Some(line))
///             }
///             None => {
///                 self.scanned = buf.len();
///                 Ok(None)
///             }
///         }
///     }
/// }
///
/// let mut framed = Framed::new(64, Lines::default());
/// assert!(framed.decode(&Bytes::from("he")).next().is_none());
/// let got: Vec<Bytes> = framed.decode(&Bytes::from("llo\nworld\n")).map(Result::unwrap).collect();
/// assert_eq!(got, ["hello", "world"]);
/// ```
pub trait Parse {
    /// What a complete frame parses to.
    type Frame;
    /// The protocol's errors; [`Framed`]'s limit error converts into it.
    type Error: From<Error>;

    /// Takes one frame off the start of `buf`, or says that more input is
    /// needed (`Ok(None)`), or that the input is invalid.
    ///
    /// # Errors
    ///
    /// Whatever the protocol calls invalid; [`Framed`] stops after the
    /// first error (the stream cannot be resynchronised).
    fn parse(&mut self, buf: &mut ParseBuf) -> Result<Option<Self::Frame>, Self::Error>;
}

impl<F, T, E> Parse for F
where
    F: FnMut(&mut ParseBuf) -> Result<Option<T>, E>,
    E: From<Error>,
{
    type Frame = T;
    type Error = E;

    fn parse(&mut self, buf: &mut ParseBuf) -> Result<Option<T>, E> {
        self(buf)
    }
}

/// The bytes a [`Parse`] function sees: everything received and not yet
/// consumed, contiguous, as a `[u8]` (it dereferences to one).
///
/// When it holds a single pushed chunk (the usual case: whole frames inside
/// one `'data'` chunk), it *is* that chunk, and
/// [`split_to`](ParseBuf::split_to) hands out slices of it without a copy.
/// Only the unfinished end of a chunk is copied, once, so that the next
/// chunk can be appended to it.
pub struct ParseBuf {
    repr: Repr,
    /// The parser's hint: the frame at the start needs this many bytes.
    need: usize,
    /// The parser's [`lend`](ParseBuf::lend): the frame's bytes, left in
    /// place at the start.
    lent: usize,
}

enum Repr {
    /// A pushed chunk (or what is left of it), shared with whoever else
    /// holds it: no copy.
    Shared(Bytes),
    /// An unfinished frame copied out, with later chunks appended.
    Owned(BytesMut),
}

impl Default for ParseBuf {
    fn default() -> ParseBuf {
        ParseBuf {
            repr: Repr::Shared(Bytes::new()),
            need: 0,
            lent: 0,
        }
    }
}

impl From<Bytes> for ParseBuf {
    /// A buffer holding `bytes`: to test a [`Parse`] function on its own.
    fn from(bytes: Bytes) -> ParseBuf {
        ParseBuf {
            repr: Repr::Shared(bytes),
            need: 0,
            lent: 0,
        }
    }
}

impl std::ops::Deref for ParseBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.repr {
            Repr::Shared(b) => b,
            Repr::Owned(b) => b,
        }
    }
}

impl fmt::Debug for ParseBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseBuf")
            .field("len", &self.len())
            .field("need", &self.need)
            .finish()
    }
}

impl ParseBuf {
    /// Takes the first `n` bytes out, as a `Bytes`: a slice of the pushed
    /// chunk when the frame lay whole inside one (no copy).
    ///
    /// # Panics
    ///
    /// If `n` is more than [`len`](slice::len) (as `Bytes::split_to`).
    #[inline]
    pub fn split_to(&mut self, n: usize) -> Bytes {
        assert!(
            n <= self.len(),
            "split_to({n}) past the end of a ParseBuf of {} bytes",
            self.len()
        );
        self.need = self.need.saturating_sub(n);
        match &mut self.repr {
            Repr::Shared(b) => b.split_to(n),
            Repr::Owned(b) => b.split_to(n).freeze(),
        }
    }

    /// Drops the first `n` bytes (delimiters, a body being discarded).
    ///
    /// # Panics
    ///
    /// If `n` is more than [`len`](slice::len).
    #[inline]
    pub fn advance(&mut self, n: usize) {
        assert!(
            n <= self.len(),
            "advance({n}) past the end of a ParseBuf of {} bytes",
            self.len()
        );
        self.need = self.need.saturating_sub(n);
        match &mut self.repr {
            Repr::Shared(b) => b.advance(n),
            Repr::Owned(b) => b.advance(n),
        }
    }

    /// A hint, given with `Ok(None)`: the frame at the start of the buffer
    /// cannot be complete before the buffer holds `total` bytes (counted
    /// from its current start). [`Framed`] then does not call the parser
    /// again until that many bytes have arrived (a large body arriving in
    /// many chunks is not re-scanned for each), and fails at once, with its
    /// limit error, if `total` is over its maximum.
    #[inline]
    pub fn need(&mut self, total: usize) {
        self.need = total;
    }

    /// Ends the frame at the first `n` bytes *in place*, as the last step
    /// of a parse that returns `Ok(Some(frame))`: those bytes are consumed,
    /// but rather than being split off they stay where they are, and
    /// [`Framed::next_in_place`] lends them to its caller beside the frame
    /// until its next call. A frame that records where its parts lie
    /// (offsets from the start of `buf`, which are offsets into the lent
    /// bytes) is then read with no copy, no reference count and no
    /// allocation: the shape of a parser that answers and forgets, where
    /// [`split_to`](ParseBuf::split_to) suits frames that are kept.
    ///
    /// Through [`Framed::next_frame`] the lent bytes are simply dropped. A
    /// `lend` followed by `Ok(None)` or an error is forgotten (nothing is
    /// consumed by it).
    ///
    /// # Panics
    ///
    /// If `n` is more than [`len`](slice::len).
    ///
    /// # Examples
    ///
    /// Key-value lines (`key=value\n`), handed out as offsets into the
    /// lent line:
    ///
    /// ```
    /// use nodenet::framing::{Framed, ParseBuf};
    /// use nodenet::{Bytes, Error};
    ///
    /// // The frame: where the `=` is, and where the value ends.
    /// fn pair(buf: &mut ParseBuf) -> Result<Option<(usize, usize)>, Error> {
    ///     let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
    ///         return Ok(None);
    ///     };
    ///     let eq = buf[..nl].iter().position(|&b| b == b'=').unwrap_or(nl);
    ///     buf.lend(nl + 1);
    ///     Ok(Some((eq, nl)))
    /// }
    ///
    /// let mut framed = Framed::from_fn(1024, pair);
    /// framed.push(&Bytes::from("a=1\nbb=22\nc"));
    /// let mut seen = Vec::new();
    /// while let Some(next) = framed.next_in_place() {
    ///     let ((eq, end), line) = next?;
    ///     let (key, value) = (&line[..eq], &line[(eq + 1).min(end)..end]);
    ///     seen.push(format!("{}:{}", String::from_utf8_lossy(key), String::from_utf8_lossy(value)));
    /// }
    /// assert_eq!(seen, ["a:1", "bb:22"]);
    /// assert_eq!(framed.buffered_len(), 1); // "c", kept for the next chunk
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn lend(&mut self, n: usize) {
        assert!(
            n <= self.len(),
            "lend({n}) past the end of a ParseBuf of {} bytes",
            self.len()
        );
        self.lent = n;
    }

    fn push(&mut self, chunk: &Bytes) {
        match &mut self.repr {
            Repr::Shared(b) if b.is_empty() => *b = chunk.clone(),
            Repr::Shared(b) => {
                let mut owned = BytesMut::with_capacity(b.len() + chunk.len());
                owned.extend_from_slice(b);
                owned.extend_from_slice(chunk);
                self.repr = Repr::Owned(owned);
            }
            Repr::Owned(b) => b.extend_from_slice(chunk),
        }
    }

    /// Makes what is held its own: the unfinished end of a shared chunk is
    /// copied (so the chunk, a block of nodenet's read buffer, is not
    /// pinned), and an owned remainder much smaller than its allocation
    /// (the tail after a large frame) is moved to a fitting one.
    fn hold(&mut self) {
        match &mut self.repr {
            Repr::Shared(b) if b.is_empty() => {}
            Repr::Shared(b) => self.repr = Repr::Owned(BytesMut::from(&b[..])),
            Repr::Owned(b) if b.is_empty() => self.repr = Repr::Shared(Bytes::new()),
            Repr::Owned(b) if b.capacity() > 4 * b.len() + 4096 => {
                self.repr = Repr::Owned(BytesMut::from(&b[..]));
            }
            Repr::Owned(_) => {}
        }
    }

    fn clear(&mut self) {
        self.repr = Repr::Shared(Bytes::new());
        self.need = 0;
        self.lent = 0;
    }

    /// Drops `n` bytes (at most `len()`: lent ones) from the front; once
    /// nothing is left, back to taking the next chunk as it is (and the
    /// last one is let go).
    #[inline]
    fn drop_front(&mut self, n: usize) {
        let emptied = match &mut self.repr {
            Repr::Shared(b) => {
                b.advance(n);
                b.is_empty()
            }
            Repr::Owned(b) => {
                b.advance(n);
                b.is_empty()
            }
        };
        if emptied {
            self.clear();
        }
    }

    fn take(&mut self) -> Bytes {
        let repr = std::mem::replace(&mut self.repr, Repr::Shared(Bytes::new()));
        self.need = 0;
        self.lent = 0;
        match repr {
            Repr::Shared(b) => b,
            Repr::Owned(b) => b.freeze(),
        }
    }
}

/// Frames of a protocol of your own: a [`Parse`] function, and the partial
/// frame and size limit kept for it.
///
/// Feed it `'data'` chunks ([`decode`](Framed::decode)) and take out
/// whole frames; it keeps the unfinished part between chunks, hands the
/// parser one contiguous buffer ([`ParseBuf`]), and never holds more than
/// `max_buffered` bytes of an unfinished frame: past that, the frame
/// iterator yields an `ERR_OUT_OF_RANGE` [`Error`] (converted into the
/// parser's error type) and the `Framed` fails. After any error it drops
/// what it holds, ignores further input and yields nothing more
/// ([`is_failed`](Framed::is_failed)).
///
/// The limit bounds memory, not frames: it applies to what is held
/// *between* chunks, so one chunk carrying many complete frames
/// (pipelining) is parsed in place whatever its size, and so is one large
/// frame that arrives whole. A protocol with a rule on frame size (an HTTP
/// head of at most 16 KiB) checks it in its parser. With a
/// [`need`](ParseBuf::need) hint over the limit it fails at once, before
/// anything is buffered. What is pushed while frames are left in it
/// untaken (a loop that broke early to wait for `'drain'`) is kept in
/// full: `pause()` the socket meanwhile, as the examples do.
///
/// # Zero-copy
///
/// A frame inside one pushed chunk is handed to the parser as that chunk,
/// and what it splits off are slices of it. The unfinished end of a chunk
/// is copied once into the `Framed`'s own buffer, and later chunks are
/// appended to it, so every byte of a straddling frame is copied once; once
/// that frame is out the next chunk is zero-copy again. A drained `Framed`
/// holds no reference to the chunks pushed into it.
///
/// # Examples
///
/// Netstrings (`5:hello,`): a text length, then binary bytes, which
/// [`Lines`] cannot carry. The function only parses; the `Framed` keeps the
/// partial frame and the limit:
///
/// ```
/// use nodenet::framing::{Framed, ParseBuf};
/// use nodenet::{Bytes, Error, ErrorCode};
///
/// fn netstring(buf: &mut ParseBuf) -> Result<Option<Bytes>, Error> {
///     let bad = |why: &str| Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, why);
///     let Some(colon) = buf.iter().position(|&b| b == b':') else {
///         return if buf.len() > 9 { Err(bad("length too long")) } else { Ok(None) };
///     };
///     let len: usize = std::str::from_utf8(&buf[..colon])
///         .ok()
///         .filter(|digits| colon <= 9 && digits.bytes().all(|b| b.is_ascii_digit()))
///         .and_then(|digits| digits.parse().ok())
///         .ok_or_else(|| bad("bad length"))?;
///     let total = colon + 1 + len + 1;
///     if buf.len() < total {
///         buf.need(total); // don't call again before; fail now if over the limit
///         return Ok(None);
///     }
///     if buf[total - 1] != b',' {
///         return Err(bad("missing ','"));
///     }
///     buf.advance(colon + 1);
///     let payload = buf.split_to(len); // a slice of the chunk when it was whole in one
///     buf.advance(1);
///     Ok(Some(payload))
/// }
///
/// let mut framed = Framed::new(1024, netstring);
/// let got: Vec<Bytes> = framed.decode(&Bytes::from("5:hello,0:,3:a")).map(Result::unwrap).collect();
/// assert_eq!(got, ["hello", ""]);
/// assert_eq!(framed.buffered_len(), 3); // "3:a", kept for the next chunk
/// let got: Vec<Bytes> = framed.decode(&Bytes::from("bc,")).map(Result::unwrap).collect();
/// assert_eq!(got, ["abc"]);
///
/// // Over the limit: one error, then nothing.
/// let err = framed.decode(&Bytes::from("5000:")).next().unwrap().unwrap_err();
/// assert_eq!(err.code(), "ERR_OUT_OF_RANGE");
/// assert_eq!(err.message(), "frame of 5006 bytes exceeds the maximum of 1024");
/// assert!(framed.is_failed());
/// assert!(framed.decode(&Bytes::from("1:x,")).next().is_none());
/// ```
///
/// In a server, one `Framed` per connection, owned by its `'data'` listener
/// (or kept with [`Socket::set_data`](crate::Socket::set_data)); a closure
/// parser goes through [`from_fn`](Framed::from_fn), which infers its
/// argument's type:
///
/// ```
/// use nodenet::framing::Framed;
/// use nodenet::{tcp, Error, ServerOptions};
///
/// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
///     // Frames of one byte each: the smallest protocol there is.
///     let mut bytes = Framed::from_fn(1, |buf| Ok::<_, Error>(Some(buf.split_to(1))));
///     socket.on_data(move |s, chunk| {
///         for byte in bytes.decode(chunk) {
///             s.write(byte.unwrap());
///         }
///     });
/// });
/// # server.close();
/// ```
pub struct Framed<P> {
    parser: P,
    buf: ParseBuf,
    /// Bytes at the start of `buf` lent out with the last in-place frame
    /// ([`Framed::next_in_place`]): dropped at the next call.
    lent: usize,
    max_buffered: usize,
    /// The parser asked for more and nothing arrived since: don't ask it
    /// again.
    stalled: bool,
    failed: bool,
}

impl<P> fmt::Debug for Framed<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framed")
            .field("max_buffered", &self.max_buffered)
            .field("buffered_len", &self.buffered_len())
            .field("need", &self.buf.need)
            .field("failed", &self.failed)
            .finish()
    }
}

impl<P> Framed<P> {
    /// Bytes pushed and not yet consumed by the parser.
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.lent
    }
}

impl<T, E, F> Framed<F>
where
    F: FnMut(&mut ParseBuf) -> Result<Option<T>, E>,
    E: From<Error>,
{
    /// [`Framed::new`] for a closure: the same, but the closure's argument
    /// type is inferred (`|buf| ..` rather than `|buf: &mut ParseBuf| ..`).
    pub fn from_fn(max_buffered: usize, parse: F) -> Framed<F> {
        Framed::new(max_buffered, parse)
    }
}

impl<P: Parse> Framed<P> {
    /// Frames parsed by `parser`, holding at most `max_buffered` bytes of
    /// an unfinished frame (a frame of exactly `max_buffered` bytes is
    /// accepted however it is cut).
    pub fn new(max_buffered: usize, parser: P) -> Framed<P> {
        Framed {
            parser,
            buf: ParseBuf::default(),
            lent: 0,
            max_buffered,
            stalled: false,
            failed: false,
        }
    }

    /// Appends a chunk of the stream (kept by reference when nothing is
    /// held, else appended to what is). Empty chunks, and any input after
    /// a failure, are ignored.
    pub fn push(&mut self, chunk: &Bytes) {
        if self.failed || chunk.is_empty() {
            return;
        }
        self.return_lent();
        self.buf.push(chunk);
        self.stalled = false;
    }

    /// The next frame: `None` when more input is needed (or after a
    /// failure), `Some(Ok(frame))`, or `Some(Err(err))` once, when the
    /// parser refused the input or an unfinished frame went over the
    /// maximum.
    ///
    /// # Errors
    ///
    /// The parser's error, or `ERR_OUT_OF_RANGE` (converted with
    /// `From<nodenet::Error>`) for a frame over the maximum.
    pub fn next_frame(&mut self) -> Option<Result<P::Frame, P::Error>> {
        let next = self.parse_next();
        if self.buf.lent > 0 {
            // Lent bytes nobody can borrow here: consumed.
            self.lent = std::mem::take(&mut self.buf.lent);
            self.return_lent();
        }
        next
    }

    /// The next frame with the bytes its parser [`lend`](ParseBuf::lend)s
    /// (empty if it lent none): borrowed from the `Framed` until the next
    /// call, so that a frame can point into them rather than own a copy or
    /// a reference-counted slice. The rest is [`next_frame`]'s: `None`
    /// when more input is needed, one error, then nothing.
    ///
    /// Not an `Iterator` (each frame borrows the `Framed`): loop with
    /// `while let Some(next) = framed.next_in_place()`. See
    /// [`ParseBuf::lend`] for an example.
    ///
    /// # Errors
    ///
    /// As [`next_frame`].
    ///
    /// [`next_frame`]: Framed::next_frame
    pub fn next_in_place(&mut self) -> Option<InPlace<'_, P>> {
        let frame = match self.parse_next()? {
            Ok(frame) => frame,
            Err(err) => return Some(Err(err)),
        };
        self.lent = std::mem::take(&mut self.buf.lent);
        Some(Ok((frame, &self.buf[..self.lent])))
    }

    /// Drops the bytes lent with the last in-place frame.
    #[inline]
    fn return_lent(&mut self) {
        if self.lent > 0 {
            self.buf.drop_front(std::mem::take(&mut self.lent));
        }
    }

    /// One call of the parser, if it is due; the bytes it lends (a frame's,
    /// with `Ok(Some(..))`) are left in `buf.lent`.
    fn parse_next(&mut self) -> Option<Result<P::Frame, P::Error>> {
        self.return_lent();
        if self.failed || self.stalled || self.buf.is_empty() {
            return None;
        }
        if self.buf.len() < self.buf.need {
            self.stalled = true;
            self.buf.hold();
            return None;
        }
        self.buf.need = 0;
        self.buf.lent = 0;
        match self.parser.parse(&mut self.buf) {
            Ok(Some(frame)) => {
                self.buf.need = 0;
                if self.buf.is_empty() {
                    // Back to taking the next chunk as it is.
                    self.buf.clear();
                }
                Some(Ok(frame))
            }
            Ok(None) => {
                self.buf.lent = 0;
                let (need, len) = (self.buf.need, self.buf.len());
                if need > self.max_buffered {
                    return Some(Err(self.too_big(format!(
                        "frame of {need} bytes exceeds the maximum of {}",
                        self.max_buffered
                    ))));
                }
                if len > self.max_buffered {
                    return Some(Err(self.too_big(format!(
                        "unfinished frame of {len} bytes exceeds the maximum of {}",
                        self.max_buffered
                    ))));
                }
                self.stalled = true;
                self.buf.hold();
                None
            }
            Err(err) => {
                self.fail();
                Some(Err(err))
            }
        }
    }

    /// [`push`](Framed::push)es `chunk`, then iterates over the frames now
    /// complete: the one call a `'data'` listener needs. Frames not taken
    /// (the loop broke early, e.g. to wait for `'drain'`) stay in the
    /// `Framed`; [`frames`](Framed::frames) takes them later.
    pub fn decode(&mut self, chunk: &Bytes) -> Parsed<'_, P> {
        self.push(chunk);
        Parsed { framed: self }
    }

    /// Iterates over the frames complete in what was pushed so far.
    pub fn frames(&mut self) -> Parsed<'_, P> {
        Parsed { framed: self }
    }

    /// The most an unfinished frame may hold.
    pub fn max_buffered(&self) -> usize {
        self.max_buffered
    }

    /// Whether the parser or the limit failed the stream.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// The parser (its state between frames).
    pub fn parser(&self) -> &P {
        &self.parser
    }

    /// The parser, to change its state (e.g. a protocol switching mode).
    pub fn parser_mut(&mut self) -> &mut P {
        &mut self.parser
    }

    /// At the end of the stream: the bytes no frame took (`None` if there
    /// are none), taken out of the `Framed`.
    pub fn finish(&mut self) -> Option<Bytes> {
        if self.failed {
            return None;
        }
        self.return_lent();
        self.stalled = false;
        let rest = self.buf.take();
        (!rest.is_empty()).then_some(rest)
    }

    fn fail(&mut self) {
        self.buf.clear();
        self.lent = 0;
        self.failed = true;
    }

    fn too_big(&mut self, message: String) -> P::Error {
        self.fail();
        P::Error::from(Error::new(ErrorCode::ERR_OUT_OF_RANGE, message))
    }
}

/// What [`Framed::next_in_place`] hands out: the frame with the bytes its
/// parser [`lend`](ParseBuf::lend)s, or the protocol's error.
pub type InPlace<'a, P> = Result<(<P as Parse>::Frame, &'a [u8]), <P as Parse>::Error>;

/// The iterator of [`Framed::decode`] and [`Framed::frames`]: calls
/// [`Framed::next_frame`] until it returns `None`.
#[derive(Debug)]
pub struct Parsed<'a, P> {
    framed: &'a mut Framed<P>,
}

impl<P: Parse> Iterator for Parsed<'_, P> {
    type Item = Result<P::Frame, P::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.framed.next_frame()
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

    // --- Framed ---------------------------------------------------------

    /// Netstrings (`3:abc,`), counting the parser's calls.
    #[derive(Default)]
    struct Netstring {
        calls: usize,
    }

    impl Parse for Netstring {
        type Frame = Bytes;
        type Error = Error;
        fn parse(&mut self, buf: &mut ParseBuf) -> Result<Option<Bytes>, Error> {
            self.calls += 1;
            assert!(!buf.is_empty(), "parse is called with at least one byte");
            let bad = |why: &str| Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, why);
            let Some(colon) = buf.iter().position(|&b| b == b':') else {
                return if buf.len() > 9 {
                    Err(bad("length too long"))
                } else {
                    Ok(None)
                };
            };
            let len: usize = std::str::from_utf8(&buf[..colon])
                .ok()
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| bad("bad length"))?;
            let total = colon + 1 + len + 1;
            if buf.len() < total {
                buf.need(total);
                return Ok(None);
            }
            if buf[total - 1] != b',' {
                return Err(bad("missing ','"));
            }
            buf.advance(colon + 1);
            let payload = buf.split_to(len);
            buf.advance(1);
            Ok(Some(payload))
        }
    }

    fn netstrings(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in frames {
            out.extend_from_slice(format!("{}:", f.len()).as_bytes());
            out.extend_from_slice(f);
            out.push(b',');
        }
        out
    }

    fn framed_collect(d: &mut Framed<Netstring>, data: &[u8], cut: usize) -> Vec<Bytes> {
        let mut got = Vec::new();
        for piece in [&data[..cut], &data[cut..]] {
            got.extend(d.decode(&Bytes::copy_from_slice(piece)).map(Result::unwrap));
        }
        got
    }

    #[test]
    fn framed_split_at_every_byte_and_every_chunk_size() {
        let frames: [&[u8]; 5] = [
            b"hello",
            b"",
            b"\r\n\0binary",
            b"x",
            b"a longer frame, 30 bytes long.",
        ];
        let data = netstrings(&frames);
        for cut in 0..=data.len() {
            let mut d = Framed::new(64, Netstring::default());
            assert_eq!(framed_collect(&mut d, &data, cut), frames, "cut at {cut}");
            assert_eq!(d.buffered_len(), 0);
        }
        for size in 1..=data.len() {
            let mut d = Framed::new(64, Netstring::default());
            let mut got = Vec::new();
            for piece in data.chunks(size) {
                got.extend(d.decode(&Bytes::copy_from_slice(piece)).map(Result::unwrap));
            }
            assert_eq!(got, frames, "chunks of {size}");
        }
    }

    #[test]
    fn framed_frames_in_one_chunk_are_slices_of_it() {
        let chunk = Bytes::from(netstrings(&[b"one", b"three"]));
        let mut d = Framed::new(16, Netstring::default());
        let got: Vec<Bytes> = d.decode(&chunk).map(Result::unwrap).collect();
        assert_eq!(got, ["one", "three"]);
        assert_eq!(got[0].as_ptr(), chunk[2..].as_ptr());
        assert_eq!(got[1].as_ptr(), chunk[2 + 3 + 1 + 2..].as_ptr());
    }

    #[test]
    fn framed_drained_releases_the_chunk_and_copies_the_tail_once() {
        let data = netstrings(&[b"whole", b"unfinished"]);
        let chunk = Bytes::from(data[..data.len() - 4].to_vec());
        let mut d = Framed::new(64, Netstring::default());
        let got: Vec<Bytes> = d.decode(&chunk).map(Result::unwrap).collect();
        assert_eq!(got, ["whole"]);
        drop(got);
        assert!(chunk.is_unique(), "the unfinished tail was copied out");
        let tail = Bytes::copy_from_slice(&data[data.len() - 4..]);
        assert_eq!(d.decode(&tail).next().unwrap().unwrap(), "unfinished");
        // Nothing held any more: the next chunk is zero-copy again.
        let next = Bytes::from(netstrings(&[b"again"]));
        let frame = d.decode(&next).next().unwrap().unwrap();
        assert_eq!(frame.as_ptr(), next[2..].as_ptr());
    }

    #[test]
    fn framed_limit_applies_to_the_unfinished_frame_only() {
        // Exactly the maximum (here: 8 bytes held for "5:abcde,") is
        // accepted at any cut.
        let data = netstrings(&[b"abcde"]);
        assert_eq!(data.len(), 8);
        for cut in 0..=data.len() {
            let mut d = Framed::new(8, Netstring::default());
            assert_eq!(framed_collect(&mut d, &data, cut), ["abcde"], "cut {cut}");
        }
        // Many complete frames in one chunk far over the maximum: fine.
        let many: Vec<&[u8]> = vec![b"abcde"; 100];
        let mut d = Framed::new(8, Netstring::default());
        assert_eq!(d.decode(&Bytes::from(netstrings(&many))).count(), 100);
        assert!(!d.is_failed());
    }

    #[test]
    fn framed_over_the_limit_fails_once_and_refuses_input() {
        // No length known: the unfinished bytes themselves go over.
        let bad_parser = |buf: &mut ParseBuf| -> Result<Option<Bytes>, Error> {
            match buf.iter().position(|&b| b == b'.') {
                Some(i) => Ok(Some(buf.split_to(i + 1))),
                None => Ok(None),
            }
        };
        let mut d = Framed::new(4, bad_parser);
        let mut frames = d.decode(&Bytes::from_static(b"ab.cdefg"));
        assert_eq!(frames.next().unwrap().unwrap(), "ab.");
        let err = frames.next().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorCode::ERR_OUT_OF_RANGE);
        assert_eq!(
            err.message(),
            "unfinished frame of 5 bytes exceeds the maximum of 4"
        );
        assert!(frames.next().is_none(), "the error comes once");
        assert!(d.is_failed());
        assert_eq!(d.buffered_len(), 0, "what it held is dropped");
        assert!(d.decode(&Bytes::from_static(b"x.")).next().is_none());
        assert_eq!(d.buffered_len(), 0, "later input is refused");
        assert!(d.finish().is_none());
    }

    #[test]
    fn framed_need_hint_skips_calls_and_fails_early() {
        let mut d = Framed::new(1 << 20, Netstring::default());
        let payload = vec![b'z'; 100_000];
        let data = netstrings(&[&payload]);
        let mut got = Vec::new();
        for piece in data.chunks(1000) {
            got.extend(d.decode(&Bytes::copy_from_slice(piece)).map(Result::unwrap));
        }
        assert_eq!(got, [&payload[..]]);
        // Called once for the header (first chunk holds "100000:" and
        // more), once when the whole frame is there.
        assert_eq!(d.parser().calls, 2);

        // A hint over the maximum fails at once, before the bytes come.
        let mut d = Framed::new(100, Netstring::default());
        let err = d
            .decode(&Bytes::from_static(b"1000000:"))
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(
            err.message(),
            "frame of 1000009 bytes exceeds the maximum of 100"
        );
        assert!(d.is_failed());
    }

    #[test]
    fn framed_parser_errors_come_once_in_the_parsers_type() {
        #[derive(Debug, PartialEq)]
        enum MyError {
            Bad(u8),
            TooBig(String),
        }
        impl From<Error> for MyError {
            fn from(err: Error) -> MyError {
                MyError::TooBig(err.message().to_string())
            }
        }
        let mut d = Framed::from_fn(3, |buf| match buf[0] {
            b'a'..=b'z' => Ok(Some(buf.split_to(1))),
            b'#' if buf.len() < 2 => Ok(None),
            b'#' => Ok(Some(buf.split_to(2))),
            other => Err(MyError::Bad(other)),
        });
        let got: Vec<_> = d.decode(&Bytes::from_static(b"ab#")).collect();
        assert_eq!(got, [Ok(Bytes::from("a")), Ok(Bytes::from("b"))]);
        assert_eq!(d.buffered_len(), 1);
        let got: Vec<_> = d.decode(&Bytes::from_static(b"xc!d")).collect();
        assert_eq!(
            got,
            [
                Ok(Bytes::from("#x")),
                Ok(Bytes::from("c")),
                Err(MyError::Bad(b'!'))
            ]
        );
        assert!(d.is_failed());
        assert!(d.decode(&Bytes::from_static(b"e")).next().is_none());

        let mut d = Framed::from_fn(1, |_buf| Ok::<Option<Bytes>, MyError>(None));
        let got: Vec<_> = d.decode(&Bytes::from_static(b"xy")).collect();
        assert_eq!(
            got,
            [Err(MyError::TooBig(
                "unfinished frame of 2 bytes exceeds the maximum of 1".into()
            ))]
        );
    }

    #[test]
    fn framed_consuming_parser_holds_nothing() {
        // A body being discarded: consumed as it comes, nothing kept.
        struct Discard {
            left: usize,
        }
        impl Parse for Discard {
            type Frame = ();
            type Error = Error;
            fn parse(&mut self, buf: &mut ParseBuf) -> Result<Option<()>, Error> {
                let take = self.left.min(buf.len());
                buf.advance(take);
                self.left -= take;
                Ok((self.left == 0).then_some(()))
            }
        }
        let mut d = Framed::new(10, Discard { left: 1000 });
        for _ in 0..99 {
            assert!(d.decode(&Bytes::from(vec![0u8; 10])).next().is_none());
            assert_eq!(d.buffered_len(), 0);
        }
        assert_eq!(
            d.decode(&Bytes::from(vec![0u8; 15]))
                .next()
                .unwrap()
                .unwrap(),
            ()
        );
        assert_eq!(d.parser().left, 0);
        assert_eq!(d.buffered_len(), 5);
        d.parser_mut().left = 5;
        assert!(d.frames().next().unwrap().is_ok());
    }

    #[test]
    fn framed_breaking_early_keeps_the_rest_and_finish_takes_it() {
        let chunk = Bytes::from(netstrings(&[b"1", b"2", b"3"]));
        let mut d = Framed::new(8, Netstring::default());
        assert_eq!(d.decode(&chunk).next().unwrap().unwrap(), "1");
        let rest: Vec<Bytes> = d.frames().map(Result::unwrap).collect();
        assert_eq!(rest, ["2", "3"]);
        assert!(d.decode(&Bytes::from_static(b"4:ab")).next().is_none());
        assert_eq!(d.finish().unwrap(), "4:ab");
        assert_eq!(d.buffered_len(), 0);
        assert!(d.finish().is_none());
    }

    #[test]
    fn parse_buf_from_bytes_tests_a_parser_alone() {
        let mut buf = ParseBuf::from(Bytes::from_static(b"3:abc,rest"));
        let mut p = Netstring::default();
        assert_eq!(p.parse(&mut buf).unwrap().unwrap(), "abc");
        assert_eq!(&buf[..], b"rest");
    }

    /// Netstrings lent in place: the frame is the payload's offset.
    fn lent_netstring(buf: &mut ParseBuf) -> Result<Option<usize>, Error> {
        let Some(colon) = buf.iter().position(|&b| b == b':') else {
            return Ok(None);
        };
        let len: usize = std::str::from_utf8(&buf[..colon])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, "bad length"))?;
        let total = colon + 1 + len + 1;
        if buf.len() < total {
            buf.need(total);
            return Ok(None);
        }
        buf.lend(total);
        Ok(Some(colon + 1))
    }

    type LentFn = fn(&mut ParseBuf) -> Result<Option<usize>, Error>;

    fn in_place_all(d: &mut Framed<LentFn>) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        while let Some(next) = d.next_in_place() {
            let (at, bytes) = next.expect("a frame");
            got.push(bytes[at..bytes.len() - 1].to_vec());
        }
        got
    }

    #[test]
    fn framed_in_place_frames_at_every_cut() {
        let frames: [&[u8]; 4] = [b"hello", b"", b"\r\n\0binary", b"x"];
        let data = netstrings(&frames);
        for cut in 0..=data.len() {
            let mut d: Framed<LentFn> = Framed::new(64, lent_netstring);
            let mut got = Vec::new();
            for piece in [&data[..cut], &data[cut..]] {
                d.push(&Bytes::copy_from_slice(piece));
                got.extend(in_place_all(&mut d));
            }
            assert_eq!(got, frames, "cut {cut}");
            assert_eq!(d.buffered_len(), 0, "cut {cut}");
            assert!(d.finish().is_none(), "cut {cut}");
        }
    }

    #[test]
    fn framed_in_place_bytes_stay_until_the_next_call() {
        let chunk = Bytes::from(netstrings(&[b"ab", b"cd"]));
        let mut d = Framed::from_fn(64, lent_netstring);
        d.push(&chunk);
        let (at, bytes) = d.next_in_place().unwrap().unwrap();
        assert_eq!((at, bytes), (2, &b"2:ab,"[..]));
        // Lent bytes are no longer buffered, but still there.
        assert_eq!(d.buffered_len(), 5);
        // A push while lent appends after what is left, not after the frame.
        d.push(&Bytes::from_static(b"1:e,"));
        let (at, bytes) = d.next_in_place().unwrap().unwrap();
        assert_eq!(&bytes[at..], b"cd,");
        let (at, bytes) = d.next_in_place().unwrap().unwrap();
        assert_eq!(&bytes[at..], b"e,");
        assert!(d.next_in_place().is_none());
        assert_eq!(d.buffered_len(), 0);
        // The last call gave the chunk back: nothing of it is held.
        assert!(matches!(&d.buf.repr, Repr::Shared(b) if b.is_empty()));

        // finish() after a lent frame: the rest only.
        let mut d = Framed::from_fn(64, lent_netstring);
        d.push(&Bytes::from_static(b"1:a,2:b"));
        assert!(d.next_in_place().unwrap().is_ok());
        assert_eq!(d.finish().unwrap(), "2:b");
    }

    #[test]
    fn framed_lend_through_next_frame_drops_and_is_forgotten_without_a_frame() {
        let mut d = Framed::from_fn(64, lent_netstring);
        d.push(&Bytes::from(netstrings(&[b"one", b"two"])));
        assert_eq!(d.next_frame().unwrap().unwrap(), 2);
        assert_eq!(d.buffered_len(), 6, "the lent frame was consumed");
        assert_eq!(d.next_frame().unwrap().unwrap(), 2);
        assert!(d.next_frame().is_none());

        // lend() then Ok(None), or an error: nothing is consumed by it.
        let mut calls = 0;
        let mut d = Framed::from_fn(64, move |buf: &mut ParseBuf| {
            calls += 1;
            buf.lend(1);
            match calls {
                1 => Ok(None::<()>),
                _ => Err(Error::new(ErrorCode::ERR_INVALID_ARG_VALUE, "no")),
            }
        });
        d.push(&Bytes::from_static(b"ab"));
        assert!(d.next_in_place().is_none());
        assert_eq!(d.buffered_len(), 2);
        d.push(&Bytes::from_static(b"c"));
        assert!(d.next_in_place().unwrap().is_err());
        assert!(d.is_failed());
        assert_eq!(d.buffered_len(), 0);
    }

    #[test]
    #[should_panic(expected = "lend(3) past the end")]
    fn lend_past_the_end_panics() {
        ParseBuf::from(Bytes::from_static(b"ab")).lend(3);
    }
}
