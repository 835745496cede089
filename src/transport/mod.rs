//! The byte streams and listeners a socket or server runs over, one
//! variant per transport. What differs between transports (addresses,
//! socket options, how a connect completes) is one `match` here per
//! operation, not a `dyn` call per read: the stream state machine
//! (`crate::stream`) never names a transport.

pub(crate) mod tcp;
pub(crate) mod unix;

use std::io::{self, IoSlice, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

/// A connected (or connecting) byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    /// TCP over IPv4 or IPv6.
    Tcp(TcpStream),
    /// A Unix domain stream socket (Node's IPC "pipe").
    Unix(UnixStream),
}

impl Stream {
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        }
    }

    /// The pending socket error (`SO_ERROR`), as a connect completes.
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
        }
    }

    /// The TCP stream, for what only TCP has (addresses, `TCP_NODELAY`,
    /// keep-alive, type of service).
    pub(crate) fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Unix(_) => None,
        }
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// `mio::event::Source` for an enum whose variants each wrap a source:
/// every call goes to the variant's own.
macro_rules! delegate_source {
    ($ty:ident { $($variant:ident($inner:ident) => $source:expr),* $(,)? }) => {
        impl Source for $ty {
            fn register(
                &mut self,
                registry: &Registry,
                token: Token,
                interests: Interest,
            ) -> io::Result<()> {
                match self {
                    $($ty::$variant($inner) => $source.register(registry, token, interests),)*
                }
            }

            fn reregister(
                &mut self,
                registry: &Registry,
                token: Token,
                interests: Interest,
            ) -> io::Result<()> {
                match self {
                    $($ty::$variant($inner) => $source.reregister(registry, token, interests),)*
                }
            }

            fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
                match self {
                    $($ty::$variant($inner) => $source.deregister(registry),)*
                }
            }
        }
    };
}

delegate_source!(Stream {
    Tcp(s) => s,
    Unix(s) => s,
});

/// A listening socket.
#[derive(Debug)]
pub(crate) enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A Unix socket bound to a path (removed when the listener closes) or
    /// an abstract name.
    Unix(unix::BoundListener),
}

/// What an accept gives: the stream and, for TCP, the peer's address.
pub(crate) struct Accepted {
    pub(crate) stream: Stream,
    pub(crate) peer: Option<std::net::SocketAddr>,
}

impl Listener {
    pub(crate) fn accept(&self) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, peer)| Accepted {
                stream: Stream::Tcp(s),
                peer: Some(peer),
            }),
            Listener::Unix(l) => l.listener.accept().map(|(s, _)| Accepted {
                stream: Stream::Unix(s),
                peer: None,
            }),
        }
    }
}

delegate_source!(Listener {
    Tcp(l) => l,
    Unix(l) => l.listener,
});
