//! `Socket`'s public methods: what user code calls.

use super::*;
use crate::tcp::Family;
use crate::IntoDuration;

impl Socket {
    pub(crate) fn from_key(key: Key) -> Socket {
        Socket {
            key,
            _thread: PhantomData,
        }
    }

    #[cfg(feature = "tls")]
    pub(crate) fn key(&self) -> Key {
        self.key
    }

    /// A socket that is not connected yet; call [`connect`](Socket::connect).
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{Socket, SocketOptions};
    /// let s = Socket::new(SocketOptions::default());
    /// assert!(s.pending());
    /// assert!(!s.connecting());
    /// s.destroy();
    /// ```
    pub fn new(options: SocketOptions) -> Socket {
        with(|c| {
            let generation = c.new_generation();
            let index = c.sockets.insert(SocketState::new(generation, &options));
            Socket::from_key(Key::new(index, generation))
        })
    }

    /// Connects to `host:port`. An IP literal is connected at once; a host
    /// name is resolved off the loop thread first (`'lookup'`).
    ///
    /// # Errors
    ///
    /// `ERR_SOCKET_BAD_PORT` for a port outside 0..=65535 (or 0, which no
    /// server listens on); `ERR_SOCKET_CLOSED` if the socket was destroyed;
    /// `ERR_INVALID_ARG_VALUE` if it is already connecting or connected.
    /// Connection failures arrive later as `'error'`.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{Socket, SocketOptions};
    /// # use nodenet::{tcp, ServerOptions};
    /// # let server = tcp::create_server(ServerOptions::default(), |_, s| {
    /// #     s.resume();
    /// # });
    /// # server.listen(0, "127.0.0.1")?;
    /// # let port = server.address().unwrap().port();
    /// let socket = Socket::new(SocketOptions::default());
    /// socket.once_connect(move |s| {
    ///     s.destroy();
    ///     server.close();
    /// });
    /// socket.connect(port, "127.0.0.1")?;
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn connect(&self, port: impl crate::tcp::IntoPort, host: &str) -> Result<Socket, Error> {
        let port = crate::tcp::connect_port(port)?;
        self.connect_plan(Plan::new(port, host))
    }

    pub(crate) fn connect_plan(&self, mut plan: Plan) -> Result<Socket, Error> {
        let key = self.key;
        if plan.host.is_empty() {
            plan.host = "localhost".to_string();
        }
        let to_resolve = with(|c| -> Result<Option<Plan>, Error> {
            let now = c.now_ms;
            let s = sock(c, key)
                .ok_or_else(|| Error::new(ErrorCode::ERR_SOCKET_CLOSED, "Socket is closed"))?;
            if s.destroyed {
                return Err(Error::new(ErrorCode::ERR_SOCKET_CLOSED, "Socket is closed"));
            }
            if s.phase != Phase::Fresh {
                return Err(Error::new(
                    ErrorCode::ERR_INVALID_ARG_VALUE,
                    "the socket is already connecting or connected",
                ));
            }
            s.last_active = now;
            Ok(connect::start(c, key, plan))
        })?;
        if let Some(plan) = to_resolve {
            connect::resolve(key, plan);
        }
        Ok(*self)
    }

    fn get<R>(&self, default: R, f: impl FnOnce(&SocketState) -> R) -> R {
        with(|c| sock_ref(c, self.key).map_or(default, f))
    }

    /// A stable identifier, unique among this loop's handles (Starcounter's
    /// `ToUInt64()`).
    pub fn id(&self) -> u64 {
        self.key.id()
    }

    /// Queues `data` for sending; writes straight to the kernel when nothing
    /// is queued. Returns `writable_length() < high_water_mark`: `false`
    /// asks the producer to wait for `'drain'`.
    ///
    /// After `end()` this fails the socket with `ERR_STREAM_WRITE_AFTER_END`
    /// (`'error'`, then `'close'`), or, once the peer's `'end'` was emitted
    /// on a socket that is not half-open, with `EPIPE` "This socket has been
    /// ended by the other party" (whoever ended first, as in Node); after
    /// `destroy()` it returns `false` and does nothing (the callback gets
    /// `ERR_STREAM_DESTROYED`, or that `EPIPE`). Bytes written before the connection is up are sent, in
    /// order, once it is.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use nodenet::{Bytes, Socket};
    /// # fn f(socket: Socket, chunk: Bytes) {
    /// if !socket.write(chunk) {
    ///     socket.pause();
    ///     socket.once("drain", |s: &Socket| { s.resume(); });
    /// }
    /// # }
    /// ```
    pub fn write(&self, data: impl WriteData) -> bool {
        self.write_inner(data, None)
    }

    /// [`write`](Socket::write), calling `cb` once the bytes reach the
    /// kernel (`None`) or fail (`Some(err)`), always on a later turn.
    ///
    /// # Examples
    ///
    /// ```
    /// # use nodenet::{tcp, ServerOptions};
    /// # let server = tcp::create_server(ServerOptions::default(), |_, s| {
    /// #     s.resume();
    /// # });
    /// # server.listen(0, "127.0.0.1")?;
    /// # let port = server.address().unwrap().port();
    /// tcp::connect(port, "127.0.0.1", move |s| {
    ///     s.write_cb("hello", move |s, err| {
    ///         assert!(err.is_none()); // handed to the kernel
    ///         s.destroy();
    ///         server.close();
    ///     });
    /// })?;
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn write_cb(
        &self,
        data: impl WriteData,
        cb: impl FnOnce(&Socket, Option<&Error>) + 'static,
    ) -> bool {
        self.write_inner(data, Some(Box::new(cb)))
    }

    fn write_inner(&self, data: impl WriteData, cb: Option<WriteCb>) -> bool {
        let key = self.key;
        with(|c| write_to(c, key, data, cb))
    }

    /// Half-closes: sends what is queued, then FIN (`'finish'`). Reading
    /// goes on until the peer ends too.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// // A server that answers a line and ends (Node's `socket.end(data)`).
    /// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
    ///     socket.on_data(|s, _| {
    ///         s.end_with("bye\n");
    ///     });
    /// });
    /// server.listen(0, "127.0.0.1")?;
    /// let port = server.address().unwrap().port();
    /// tcp::connect(port, "127.0.0.1", |s| {
    ///     s.write("hi\n");
    ///     s.end(); // half-close: the reply still arrives
    /// })?
    /// .on_data(move |_, chunk| {
    ///     assert_eq!(&chunk[..], b"bye\n");
    ///     server.close();
    /// });
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn end(&self) -> Socket {
        with(|c| end_socket(c, self.key, None));
        *self
    }

    /// `write(data)`, then [`end`](Socket::end).
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// // A server that answers a line and ends (Node's `socket.end(data)`).
    /// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
    ///     socket.on_data(|s, _| {
    ///         s.end_with("bye\n");
    ///     });
    /// });
    /// server.listen(0, "127.0.0.1")?;
    /// let port = server.address().unwrap().port();
    /// tcp::connect(port, "127.0.0.1", |s| {
    ///     s.write("hi\n");
    ///     s.end(); // half-close: the reply still arrives
    /// })?
    /// .on_data(move |_, chunk| {
    ///     assert_eq!(&chunk[..], b"bye\n");
    ///     server.close();
    /// });
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn end_with(&self, data: impl WriteData) -> Socket {
        self.write(data);
        self.end()
    }

    /// [`end`](Socket::end), calling `cb` when our side has finished
    /// (before `'finish'` listeners), or with the error.
    pub fn end_cb(&self, cb: impl FnOnce(&Socket, Option<&Error>) + 'static) -> Socket {
        with(|c| end_socket(c, self.key, Some(Box::new(cb))));
        *self
    }

    /// Closes the connection now. Queued writes are dropped (their
    /// callbacks get `ERR_STREAM_DESTROYED`, except a write the kernel has
    /// partly taken: in flight for Node, its callback gets no error);
    /// `'close'(false)` follows on a later turn. Idempotent; harmless on a
    /// stale handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{Socket, SocketOptions};
    ///
    /// let socket = Socket::new(SocketOptions::default());
    /// socket.on_close(|s, had_error| {
    ///     assert!(!had_error);
    ///     assert!(s.destroyed());
    /// });
    /// socket.destroy();
    /// socket.destroy(); // idempotent
    /// nodenet::run()?; // 'close' comes on a later turn
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn destroy(&self) -> Socket {
        with(|c| {
            flush_batch(c, self.key);
            destroy(c, self.key, None)
        });
        *self
    }

    /// [`destroy`](Socket::destroy) with an error: `'error'(err)` on the
    /// next tick, then `'close'(true)`. Only the first error is reported.
    /// The callbacks of queued writes get `err` itself, as in Node.
    pub fn destroy_with(&self, err: Error) -> Socket {
        with(|c| {
            flush_batch(c, self.key);
            destroy(c, self.key, Some(err))
        });
        *self
    }

    /// Closes with a TCP RST instead of FIN (the peer sees `ECONNRESET`).
    /// While connecting, the reset waits for the connection.
    pub fn reset_and_destroy(&self) -> Socket {
        with(|c| {
            let Some(s) = sock(c, self.key) else { return };
            match s.phase {
                Phase::Fresh => destroy(
                    c,
                    self.key,
                    Some(Error::new(ErrorCode::ERR_SOCKET_CLOSED, "Socket is closed")),
                ),
                Phase::Resolving | Phase::Connecting => s.pending_reset = true,
                Phase::Open => {
                    s.pending_reset = true;
                    destroy(c, self.key, None);
                }
                Phase::Closed => {}
            }
        });
        *self
    }

    /// Stops `'data'`. Reading stops once the buffered bytes reach the
    /// high-water mark, so the kernel's window pushes back on the peer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
    ///     socket.write("sent while the client was paused");
    ///     socket.destroy_soon(); // end, then destroy once sent
    /// });
    /// server.listen(0, "127.0.0.1")?;
    /// let port = server.address().unwrap().port();
    ///
    /// let got = Rc::new(Cell::new(false));
    /// let seen = got.clone();
    /// let client = tcp::connect(port, "127.0.0.1", |_| {})?;
    /// client.pause().on_data(move |_, _| seen.set(true));
    /// let before = got.clone();
    /// nodenet::set_timeout(
    ///     move || {
    ///         assert!(!before.get() && client.is_paused());
    ///         client.resume(); // the buffered bytes come now
    ///         server.close();
    ///     },
    ///     20,
    /// );
    /// nodenet::run()?;
    /// assert!(got.get());
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn pause(&self) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                s.flowing = Some(false);
            }
        });
        *self
    }

    /// Restarts `'data'`, first with what is already buffered or readable
    /// (on a later turn, never inside this call).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
    ///     socket.write("sent while the client was paused");
    ///     socket.destroy_soon(); // end, then destroy once sent
    /// });
    /// server.listen(0, "127.0.0.1")?;
    /// let port = server.address().unwrap().port();
    ///
    /// let got = Rc::new(Cell::new(false));
    /// let seen = got.clone();
    /// let client = tcp::connect(port, "127.0.0.1", |_| {})?;
    /// client.pause().on_data(move |_, _| seen.set(true));
    /// let before = got.clone();
    /// nodenet::set_timeout(
    ///     move || {
    ///         assert!(!before.get() && client.is_paused());
    ///         client.resume(); // the buffered bytes come now
    ///         server.close();
    ///     },
    ///     20,
    /// );
    /// nodenet::run()?;
    /// assert!(got.get());
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn resume(&self) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                s.flowing = Some(true);
                s.read_held = false;
                schedule_read(c, self.key);
            }
        });
        *self
    }

    /// Whether [`pause`](Socket::pause) is in force.
    pub fn is_paused(&self) -> bool {
        self.get(false, |s| s.flowing == Some(false))
    }

    /// Routes this socket's events to the methods of `handler`, which owns
    /// the connection's state (see [`Handler`](crate::Handler)). Listeners
    /// added with `on` keep working beside it.
    pub fn set_handler(&self, handler: impl crate::Handler) -> Socket {
        crate::handler::attach(self, handler);
        *self
    }

    /// Decodes received bytes as `encoding` text: `'data'` listeners that
    /// take `&str` get whole characters, never half of one split across
    /// reads (`&Bytes` listeners get the same bytes, cut at character
    /// boundaries). A `&str` listener on a socket with no encoding set
    /// turns on UTF-8.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{tcp, Encoding, ServerOptions, Socket};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
    ///     socket.write("héllo wörld");
    ///     socket.destroy_soon();
    /// });
    /// server.listen(0, "127.0.0.1")?;
    /// let port = server.address().unwrap().port();
    /// let mut text = String::new();
    /// tcp::connect(port, "127.0.0.1", |_| {})?
    ///     .set_encoding(Encoding::Utf8)
    ///     .on("data", move |_: &Socket, chunk: &str| {
    ///         text.push_str(chunk); // whole characters, never half of one
    ///         if text == "héllo wörld" {
    ///             server.close();
    ///         }
    ///     });
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn set_encoding(&self, encoding: Encoding) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                if s.decoder.as_ref().map(|d| d.encoding()) != Some(encoding) {
                    s.set_decoder(TextDecoder::new(encoding));
                }
            }
        });
        *self
    }

    /// The encoding set by [`set_encoding`](Socket::set_encoding) (Node's
    /// `readableEncoding`).
    pub fn readable_encoding(&self) -> Option<Encoding> {
        self.get(None, |s| s.decoder.as_ref().map(|d| d.encoding()))
    }

    /// Holds writes in the queue until the matching
    /// [`uncork`](Socket::uncork), so that many small writes leave in one
    /// `writev`. Calls nest. Bytes written before `cork()` and still queued
    /// (under backpressure) go on flushing; those written after wait for
    /// the last `uncork()` (or `end()`).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(s: nodenet::Socket) {
    /// s.cork();
    /// s.write("HTTP/1.1 200 OK\r\n");
    /// s.write("content-length: 2\r\n\r\nok");
    /// s.uncork(); // both leave in one system call
    /// # }
    /// ```
    pub fn cork(&self) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                if s.cork_depth == 0 {
                    s.queue.hold();
                }
                s.cork_depth = s.cork_depth.saturating_add(1);
                s.corked = true;
            }
        });
        *self
    }

    /// Undoes one [`cork`](Socket::cork); the last one flushes what was
    /// held (write callbacks and `'drain'` follow on a later turn).
    pub fn uncork(&self) -> Socket {
        let key = self.key;
        with(|c| {
            let Some(s) = sock(c, key) else { return };
            if s.cork_depth == 0 {
                return;
            }
            s.cork_depth -= 1;
            s.corked = s.cork_depth > 0;
            if !s.corked {
                s.queue.release();
            }
            if !s.corked && s.phase == Phase::Open && !s.queue.is_empty() {
                flush_step(c, key);
                c.ticks.push_back(Tick::Socket(key, SocketTick::Flushed));
            }
        });
        *self
    }

    /// `cork()` depth (Node's `writableCorked`).
    pub fn writable_corked(&self) -> u32 {
        self.get(0, |s| s.cork_depth)
    }

    /// Ends our side, then destroys the socket once `'finish'` has been
    /// emitted (at once if it already has). Queued writes are sent first.
    pub fn destroy_soon(&self) {
        let key = self.key;
        with(|c| {
            let Some(s) = sock(c, key) else { return };
            if s.destroyed {
                return;
            }
            s.destroy_soon = true;
            if s.phase == Phase::Fresh || s.finish_emitted {
                destroy(c, key, None);
            } else if s.writable {
                end_socket(c, key, None);
            }
        });
    }

    /// Emits `'timeout'` after `timeout` of inactivity (no read, no write):
    /// milliseconds, as Node, or a `Duration`.
    ///
    /// Inactivity timeouts are second-granular: `timeout` is rounded to the
    /// nearest whole second, at least one; `0` (or `Duration::ZERO`)
    /// disables. Above Node's
    /// `TIMEOUT_MAX` (2^31 - 1 ms, about 24.8 days) it is clamped to
    /// 2147483 s, so `u64::MAX` means "practically never" (Node truncates
    /// it to `TIMEOUT_MAX` too, with a warning). `'timeout'` only
    /// notifies, once per idle period: the listener decides (usually
    /// `destroy()` or `end()`). The timer does not keep the loop alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use nodenet::{Socket, SocketOptions};
    ///
    /// let socket = Socket::new(SocketOptions::default());
    /// socket.on_timeout(|s| {
    ///     s.end(); // or s.destroy(): 'timeout' only notifies
    /// });
    /// socket.set_timeout(1500); // milliseconds, rounded to whole seconds
    /// assert_eq!(socket.timeout(), Some(Duration::from_secs(2)));
    /// socket.set_timeout(Duration::from_secs(30));
    /// assert_eq!(socket.timeout(), Some(Duration::from_secs(30)));
    /// socket.set_timeout(0); // off
    /// assert_eq!(socket.timeout(), None);
    /// # socket.destroy();
    /// ```
    pub fn set_timeout(&self, timeout: impl IntoDuration) -> Socket {
        let ms = crate::duration::ms(timeout);
        with(|c| {
            let now = c.now_ms;
            let Core { sockets, wheel, .. } = c;
            let Some(s) = sockets
                .get_mut(self.key.index())
                .filter(|s| s.generation == self.key.generation)
            else {
                return;
            };
            if s.destroyed {
                return;
            }
            if ms == 0 {
                s.timeout_ms = 0;
                s.wheel_deadline = 0;
                return;
            }
            s.timeout_ms = round_timeout(ms);
            s.last_active = now;
            let deadline = now.saturating_add(s.timeout_ms);
            if s.wheel_deadline == 0 || deadline < s.wheel_deadline {
                s.wheel_deadline = deadline;
                wheel.insert(self.key, deadline);
            }
        });
        *self
    }

    /// [`set_timeout`](Socket::set_timeout) plus `cb` as a once `'timeout'`
    /// listener (not added when `timeout` is 0 or the socket is destroyed).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use nodenet::{Socket, SocketOptions};
    ///
    /// let socket = Socket::new(SocketOptions::default());
    /// socket.set_timeout_cb(30_000, |s: &Socket| {
    ///     s.destroy();
    /// });
    /// assert_eq!(socket.timeout(), Some(Duration::from_secs(30)));
    /// assert_eq!(socket.listener_count("timeout"), 1);
    /// # socket.destroy();
    /// ```
    pub fn set_timeout_cb(
        &self,
        timeout: impl IntoDuration,
        cb: impl FnMut(&Socket) + 'static,
    ) -> Socket {
        let ms = crate::duration::ms(timeout);
        self.set_timeout(ms);
        if ms > 0 && !self.destroyed() {
            self.once_timeout(cb);
        }
        *self
    }

    /// The inactivity timeout in force, after rounding (`None` when off).
    pub fn timeout(&self) -> Option<Duration> {
        self.get(None, |s| {
            (s.timeout_ms > 0).then(|| Duration::from_millis(s.timeout_ms))
        })
    }

    /// Turns Nagle's algorithm off (`true`) or on; remembered until
    /// connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use nodenet::{Socket, SocketOptions};
    ///
    /// // Before connecting: applied once the connection is up.
    /// let socket = Socket::new(SocketOptions::default()).set_no_delay(true);
    /// # socket.destroy();
    /// ```
    pub fn set_no_delay(&self, no_delay: bool) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                if s.no_delay != no_delay {
                    s.no_delay = no_delay;
                    let open = s.phase == Phase::Open;
                    if let Some(stream) = s.stream.as_ref().and_then(Stream::tcp).filter(|_| open) {
                        let _ = stream.set_nodelay(no_delay);
                    }
                }
            }
        });
        *self
    }

    /// Enables TCP keep-alive probes after `initial_delay` idle
    /// (milliseconds or a `Duration`, floored to seconds; 0 keeps the
    /// system default; above the kernel's largest, 32767 s, clamped to it);
    /// remembered until connected.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use nodenet::{Socket, SocketOptions};
    ///
    /// let socket = Socket::new(SocketOptions::default());
    /// socket.set_keep_alive(true, 60_000); // first probe after 60 s idle
    /// socket.set_keep_alive(true, Duration::from_secs(60)); // the same
    /// # socket.destroy();
    /// ```
    pub fn set_keep_alive(&self, enable: bool, initial_delay: impl IntoDuration) -> Socket {
        self.set_keep_alive_probes(enable, initial_delay, 0, 0)
    }

    /// [`set_keep_alive`](Socket::set_keep_alive) with the probe interval
    /// (floored to seconds, at most 32767 s) and count (Node 26's
    /// `setKeepAlive(enable, initialDelay, interval, count)`); 0 keeps
    /// Node 20's fixed 1 s and 10 probes.
    pub fn set_keep_alive_probes(
        &self,
        enable: bool,
        initial_delay: impl IntoDuration,
        interval: impl IntoDuration,
        count: u32,
    ) -> Socket {
        let delay = u32::try_from(initial_delay.into_duration().as_secs()).unwrap_or(u32::MAX);
        let interval = u32::try_from(interval.into_duration().as_secs()).unwrap_or(u32::MAX);
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                let changed = s.keep_alive != enable
                    || (enable
                        && (s.keep_alive_delay_s != delay
                            || s.keep_alive_interval_s != interval
                            || s.keep_alive_count != count));
                if changed {
                    s.keep_alive = enable;
                    s.keep_alive_delay_s = delay;
                    s.keep_alive_interval_s = interval;
                    s.keep_alive_count = count;
                    let open = s.phase == Phase::Open;
                    if let Some(stream) = s.stream.as_ref().and_then(Stream::tcp).filter(|_| open) {
                        transport::tcp::set_keep_alive(stream, &s.keep_alive_params());
                    }
                }
            }
        });
        *self
    }

    /// Sets the IP type of service (IPv6: traffic class), 0..=255; cached
    /// until connected (Node's `setTypeOfService`).
    pub fn set_type_of_service(&self, tos: u8) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                s.tos = Some(tos);
                let open = s.phase == Phase::Open;
                if let Some(stream) = s.stream.as_ref().and_then(Stream::tcp).filter(|_| open) {
                    transport::tcp::set_type_of_service(stream, tos);
                }
            }
        });
        *self
    }

    /// The IP type of service in force (Node's `getTypeOfService`): read
    /// from the connection when there is one, else the cached value.
    pub fn get_type_of_service(&self) -> u8 {
        self.get(0, |s| {
            let from_socket = s
                .stream
                .as_ref()
                .and_then(Stream::tcp)
                .filter(|_| s.phase == Phase::Open)
                .and_then(|st| {
                    let sock = socket2::SockRef::from(st);
                    let v = match st.local_addr() {
                        Ok(a) if a.is_ipv6() => sock.tclass_v6(),
                        _ => sock.tos(),
                    };
                    v.ok().map(|v| v as u8)
                });
            from_socket.or(s.tos).unwrap_or(0)
        })
    }

    /// The descriptor of the connection (of the current attempt while
    /// connecting), or `None` before the first attempt and once destroyed:
    /// Node's `socket._handle.fd`. For socket options nodenet does not wrap
    /// (`SO_SNDBUF`, `SO_RCVBUF`, ...), e.g. through `socket2`. The loop
    /// owns it: do not read, write, or close it.
    #[cfg(unix)]
    pub fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.get(None, |s| s.stream.as_ref().map(|st| st.as_raw_fd()))
    }

    /// Keeps the loop alive while this socket is active (the default):
    /// Node's `ref()`, spelled `r#ref` because `ref` is a Rust keyword.
    pub fn r#ref(&self) -> Socket {
        self.set_ref(true)
    }

    /// Lets the loop finish even while this socket is open.
    pub fn unref(&self) -> Socket {
        self.set_ref(false)
    }

    fn set_ref(&self, refd: bool) -> Socket {
        with(|c| {
            if let Some(s) = sock(c, self.key) {
                s.refd = refd;
            }
        });
        *self
    }

    /// The local address, once connected (Node's `address()`; the same as
    /// [`local_addr`](Socket::local_addr)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
    ///     assert_eq!(socket.remote_address(), Some(Ipv4Addr::LOCALHOST.into()));
    ///     socket.destroy_soon();
    /// });
    /// server.listen(0, "127.0.0.1")?;
    /// let port = server.address().unwrap().port();
    /// tcp::connect(port, "127.0.0.1", move |s| {
    ///     assert_eq!(s.remote_port(), Some(port));
    ///     assert_eq!(s.address().unwrap().ip(), Ipv4Addr::LOCALHOST); // our end
    ///     assert_ne!(s.address().unwrap().port(), port);
    ///     s.destroy();
    ///     server.close();
    /// })?;
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn address(&self) -> Option<SocketAddr> {
        self.get(None, |s| if s.destroyed { None } else { s.local })
    }

    /// The local address, once connected, by std's and tokio's name; the
    /// same as Node's [`address`](Socket::address).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.address()
    }

    /// The peer's address, once connected (kept after destroy, until the
    /// handle goes stale), by std's and tokio's name; Node splits it into
    /// [`remote_address`](Socket::remote_address) and
    /// [`remote_port`](Socket::remote_port).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.get(None, |s| s.remote)
    }

    /// The peer's IP address (Node's `remoteAddress`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
    ///     assert_eq!(socket.remote_address(), Some(Ipv4Addr::LOCALHOST.into()));
    ///     socket.destroy_soon();
    /// });
    /// server.listen(0, "127.0.0.1")?;
    /// let port = server.address().unwrap().port();
    /// tcp::connect(port, "127.0.0.1", move |s| {
    ///     assert_eq!(s.remote_port(), Some(port));
    ///     assert_eq!(s.address().unwrap().ip(), Ipv4Addr::LOCALHOST); // our end
    ///     assert_ne!(s.address().unwrap().port(), port);
    ///     s.destroy();
    ///     server.close();
    /// })?;
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn remote_address(&self) -> Option<IpAddr> {
        self.peer_addr().map(|a| a.ip())
    }

    /// The peer's port (Node's `remotePort`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use nodenet::{tcp, ServerOptions};
    ///
    /// let server = tcp::create_server(ServerOptions::default(), |_, socket| {
    ///     assert_eq!(socket.remote_address(), Some(Ipv4Addr::LOCALHOST.into()));
    ///     socket.destroy_soon();
    /// });
    /// server.listen(0, "127.0.0.1")?;
    /// let port = server.address().unwrap().port();
    /// tcp::connect(port, "127.0.0.1", move |s| {
    ///     assert_eq!(s.remote_port(), Some(port));
    ///     assert_eq!(s.address().unwrap().ip(), Ipv4Addr::LOCALHOST); // our end
    ///     assert_ne!(s.address().unwrap().port(), port);
    ///     s.destroy();
    ///     server.close();
    /// })?;
    /// nodenet::run()?;
    /// # Ok::<(), nodenet::Error>(())
    /// ```
    pub fn remote_port(&self) -> Option<u16> {
        self.peer_addr().map(|a| a.port())
    }

    /// The peer's address family (Node's `remoteFamily`; its `Display` is
    /// Node's `"IPv4"` / `"IPv6"`).
    pub fn remote_family(&self) -> Option<Family> {
        self.peer_addr().map(Family::from)
    }

    /// Our IP address, once connected (Node's `localAddress`).
    pub fn local_address(&self) -> Option<IpAddr> {
        self.address().map(|a| a.ip())
    }

    /// Our port, once connected (Node's `localPort`).
    pub fn local_port(&self) -> Option<u16> {
        self.address().map(|a| a.port())
    }

    /// Our address family (Node's `localFamily`; its `Display` is Node's
    /// `"IPv4"` / `"IPv6"`).
    pub fn local_family(&self) -> Option<Family> {
        self.address().map(Family::from)
    }

    /// Bytes received so far.
    pub fn bytes_read(&self) -> u64 {
        self.get(0, |s| s.bytes_read)
    }

    /// Bytes accepted by `write()` so far, including bytes still queued.
    pub fn bytes_written(&self) -> u64 {
        self.get(0, |s| s.queue.accepted())
    }

    /// Bytes queued in user space, waiting for the kernel.
    pub fn writable_length(&self) -> usize {
        // A batch of this callback's writes is, for Node, in the kernel.
        with(|c| {
            if batching(c, self.key) {
                0
            } else {
                sock_ref(c, self.key).map_or(0, |s| s.queue.len())
            }
        })
    }

    /// The write queue's high-water mark.
    pub fn writable_high_water_mark(&self) -> usize {
        self.get(0, |s| s.write_hwm as usize)
    }

    /// Whether a `write()` returned `false` and `'drain'` is still to come.
    pub fn writable_need_drain(&self) -> bool {
        self.get(false, |s| s.need_drain)
    }

    /// Bytes received but not yet delivered (paused, or no reader yet).
    pub fn readable_length(&self) -> usize {
        self.get(0, |s| s.read_buffered_len)
    }

    /// Node's `readyState`.
    pub fn ready_state(&self) -> ReadyState {
        self.get(ReadyState::Closed, SocketState::ready_state)
    }

    /// `true` until connected, and again once destroyed (Node's `pending`).
    pub fn pending(&self) -> bool {
        self.get(true, |s| s.phase != Phase::Open || s.destroyed)
    }

    /// `true` while resolving or connecting.
    pub fn connecting(&self) -> bool {
        self.get(false, |s| {
            matches!(s.phase, Phase::Resolving | Phase::Connecting)
        })
    }

    /// Node's `destroyed`: `true` from `destroy()` (or a fatal error) on,
    /// and on a stale handle (Starcounter's `IsDead()`).
    pub fn destroyed(&self) -> bool {
        self.get(true, |s| s.destroyed)
    }

    /// Whether the read side is open (Node's `readable`).
    pub fn readable(&self) -> bool {
        self.get(false, |s| s.readable)
    }

    /// Whether `write()` is still allowed (Node's `writable`).
    pub fn writable(&self) -> bool {
        self.get(false, |s| s.writable && !s.destroyed)
    }

    /// Whether `end()` was called (Node's `writableEnded`).
    pub fn writable_ended(&self) -> bool {
        self.get(false, |s| !s.writable && (s.ending || s.shutdown))
    }

    /// Whether `'finish'` has been emitted (Node's `writableFinished`).
    pub fn writable_finished(&self) -> bool {
        self.get(false, |s| s.finish_emitted)
    }

    /// Whether `'end'` has been emitted (Node's `readableEnded`).
    pub fn readable_ended(&self) -> bool {
        self.get(false, |s| s.end_emitted)
    }

    /// Node's `readableFlowing`: `None` before any `'data'` listener,
    /// `resume()` or `pause()`; then whether data flows.
    pub fn readable_flowing(&self) -> Option<bool> {
        self.get(None, |s| s.flowing)
    }

    /// The read buffer's high-water mark: how much is read ahead while
    /// paused or before a reader exists.
    pub fn readable_high_water_mark(&self) -> usize {
        self.get(0, |s| s.read_hwm as usize)
    }

    /// Every error this socket met, oldest first: each failed connection
    /// attempt, then the error it was destroyed with (4D's `errors`).
    /// Available until the handle goes stale after `'close'`.
    pub fn errors(&self) -> Vec<Error> {
        self.get(Vec::new(), |s| s.error_history.clone())
    }

    /// Runs the loop until this socket has closed (its `'close'` listeners
    /// have run), at most `timeout`; returns whether it closed. For code
    /// that waits, like 4D's `wait()`; not for use inside a callback.
    ///
    /// # Errors
    ///
    /// As [`run`](crate::run): an unhandled `'error'`, or a call from inside
    /// a callback.
    pub fn wait_closed(&self, timeout: impl IntoDuration) -> Result<bool, Error> {
        let socket = *self;
        crate::run_until_timeout(timeout.into_duration(), || socket.closed())
    }

    /// The error the socket was destroyed with (Node's `errored`).
    pub fn errored(&self) -> Option<Error> {
        self.get(None, |s| {
            if s.had_error {
                s.error.as_deref().cloned()
            } else {
                None
            }
        })
    }

    /// Whether `'close'` has been emitted (Node's `closed`); a stale handle
    /// also reports `true`.
    pub fn closed(&self) -> bool {
        self.get(true, |s| s.close_emitted)
    }

    /// Whether `allow_half_open` is set.
    pub fn allow_half_open(&self) -> bool {
        self.get(false, |s| s.allow_half_open)
    }

    /// The addresses tried, in order, when happy eyeballs ran (Node's
    /// `autoSelectFamilyAttemptedAddresses`); `None` otherwise.
    pub fn auto_select_family_attempted_addresses(&self) -> Option<Vec<SocketAddr>> {
        self.get(None, |s| s.connect.as_ref()?.attempted.clone())
    }

    /// The server that accepted this socket (`None` for client sockets).
    pub fn server(&self) -> Option<crate::Server> {
        self.get(None, |s| s.server.map(crate::Server::from_key))
    }
}

/// Inactivity timeouts are whole seconds: nearest, at least one, at most
/// the whole seconds of `TIMEOUT_MAX`.
pub(crate) fn round_timeout(ms: u64) -> u64 {
    (ms.min(TIMEOUT_MAX).saturating_add(500) / 1000).clamp(1, TIMEOUT_MAX / 1000) * 1000
}

/// `write!(socket, ..)`, `serde_json::to_writer(&socket, ..)` and any other
/// `io::Write` user: each `write` queues the bytes, as
/// [`Socket::write`] does, and returns `Ok(buf.len())` while the socket is
/// writable. It never blocks and ignores backpressure (check
/// [`writable_need_drain`](Socket::writable_need_drain) and wait for
/// `'drain'` to pace a producer). After `end()` it returns a `BrokenPipe`
/// `io::Error` wrapping `ERR_STREAM_WRITE_AFTER_END`, after `destroy()` one
/// wrapping `ERR_STREAM_DESTROYED`, and leaves the socket as it is (unlike
/// [`Socket::write`], it does not fail the socket). `flush` returns at
/// once: the loop sends the queue when the kernel takes it.
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// # fn f(socket: nodenet::Socket) -> std::io::Result<()> {
/// write!(&socket, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", 2)?;
/// (&socket).write_all(b"ok")?;
/// # Ok(())
/// # }
/// ```
impl io::Write for &Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let state = self.get(None, |s| Some((s.writable, s.destroyed)));
        match state {
            Some((true, false)) => {
                Socket::write(self, buf);
                Ok(buf.len())
            }
            Some((_, false)) => Err(Error::write_after_end().into()),
            _ => Err(Error::destroyed("write").into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// As for `&Socket` (a `Socket` is a `Copy` handle).
impl io::Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut &*self, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
