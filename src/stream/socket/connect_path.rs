//! Connecting a socket to a Unix socket path (Node's `net.connect(path)`):
//! no resolution, no attempts, one descriptor that is connected at once or
//! fails at once.

use std::path::Path;

use super::*;

impl Socket {
    /// Connects to the Unix socket at `path` (Node's
    /// `socket.connect(path)`). Events are TCP's: `'connect'`, `'ready'`,
    /// `'data'`, `'end'`, `'close'`; there is no `'lookup'` and no
    /// connection attempt. A missing path fails with `ENOENT`, a file
    /// nobody listens on with `ECONNREFUSED`, no write permission with
    /// `EACCES`, a path longer than a Unix socket address holds with
    /// `EINVAL`: as `'error'` then `'close'(true)`, on a later turn.
    ///
    /// # Errors
    ///
    /// `ERR_SOCKET_CLOSED` if the socket was destroyed;
    /// `ERR_INVALID_ARG_VALUE` if it is already connecting or connected.
    pub fn connect_path(&self, path: impl AsRef<Path>) -> Result<Socket, Error> {
        let path = path.as_ref();
        let key = self.key;
        with(|c| -> Result<(), Error> {
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
            s.phase = Phase::Connecting;
            s.set_pipe_path(path);
            let shown = path.to_string_lossy().into_owned();
            let opened = crate::transport::unix::connect(path).and_then(|unix| {
                let mut stream = Stream::Unix(unix);
                c.poll.registry().register(
                    &mut stream,
                    Token(key.index()),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                Ok(stream)
            });
            match opened {
                Ok(stream) => {
                    if let Some(s) = sock(c, key) {
                        s.stream = Some(stream);
                    }
                }
                Err(e) => destroy(c, key, Some(Error::from_io_path(e, "connect", &shown))),
            }
            Ok(())
        })?;
        Ok(*self)
    }
}

/// A Unix connect in progress failed (the rare case that did not fail at
/// once).
pub(super) fn pipe_connect_failed(c: &mut Core, key: Key, e: io::Error) {
    let shown = sock(c, key)
        .and_then(|s| s.pipe_path())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    destroy(c, key, Some(Error::from_io_path(e, "connect", &shown)));
}
