//! One loop per core: the same server on N threads, each with its own
//! loop, all listening on one port with `SO_REUSEPORT` so that the kernel
//! spreads connections (Node's `cluster`, without the IPC).

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, ErrorCode};
use crate::tcp::{self, ListenOptions, ServerOptions};
use crate::{LoopHandle, Server, Socket};

/// The threads and loops started by [`spawn_servers`].
#[derive(Debug)]
pub struct Cluster {
    port: u16,
    handles: Vec<LoopHandle>,
    threads: Vec<JoinHandle<Result<(), Error>>>,
}

/// Starts `threads` loops, each on its own thread with a server made from
/// `options` listening on `listen` with `SO_REUSEPORT`, whose
/// `'connection'` listener is `make_listener(index)` (called on that
/// loop's thread, so it may capture thread-local state such as `Rc`).
/// With port 0 the first loop picks the port and the others join it.
///
/// # Errors
///
/// The first loop's listen error (e.g. `EADDRINUSE`); the loops already
/// started are shut down. `ERR_INVALID_ARG_VALUE` for zero threads.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nodenet::{cluster, Bytes, ListenOptions, Server, ServerOptions, Socket};
///
/// let echo = cluster::spawn_servers(2, ServerOptions::default(), ListenOptions::new(0).host("127.0.0.1"), |_loop| {
///     |_: &Server, s: &Socket| {
///         s.on("data", |s: &Socket, chunk: &Bytes| {
///             s.write(chunk);
///         });
///     }
/// })?;
/// let reply = nodenet::tcp::request(echo.port(), "127.0.0.1", "hi", Duration::from_millis(200))?;
/// assert_eq!(&reply[..], b"hi");
/// echo.shutdown(Duration::from_millis(100));
/// echo.join()?;
/// # Ok::<(), nodenet::Error>(())
/// ```
pub fn spawn_servers<F, L>(
    threads: usize,
    options: ServerOptions,
    listen: ListenOptions,
    make_listener: F,
) -> Result<Cluster, Error>
where
    F: Fn(usize) -> L + Send + Sync + 'static,
    L: FnMut(&Server, &Socket) + 'static,
{
    if threads == 0 {
        return Err(Error::new(
            ErrorCode::ERR_INVALID_ARG_VALUE,
            "a cluster needs at least one loop",
        ));
    }
    let make_listener = Arc::new(make_listener);
    let mut cluster = Cluster {
        port: listen.port,
        handles: Vec::with_capacity(threads),
        threads: Vec::with_capacity(threads),
    };
    for index in 0..threads {
        let (tx, rx) = mpsc::channel::<Result<(LoopHandle, u16), Error>>();
        let make_listener = make_listener.clone();
        let options = options.clone();
        let listen = ListenOptions {
            port: cluster.port,
            ..listen.clone()
        }
        .reuse_port(true);
        let thread = std::thread::Builder::new()
            .name(format!("nodenet-loop-{index}"))
            .spawn(move || {
                let server = tcp::create_server(options, make_listener(index));
                // Bind errors arrive as 'error': report the first one back.
                let started = server.listen_with(listen).and_then(|s| {
                    let failed = std::rc::Rc::new(std::cell::RefCell::new(None));
                    let f = failed.clone();
                    s.once("error", move |_: &Server, e: &Error| {
                        *f.borrow_mut() = Some(e.clone())
                    });
                    crate::run_until(|| s.listening() || failed.borrow().is_some())?;
                    let err = failed.borrow_mut().take();
                    match err {
                        Some(e) => Err(e),
                        None => Ok(s.address().map_or(0, |a| a.port())),
                    }
                });
                match started {
                    Ok(port) => {
                        let _ = tx.send(Ok((crate::handle(), port)));
                        crate::run()
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.clone()));
                        Err(e)
                    }
                }
            })
            .map_err(|e| Error::from_io(e, "spawn", None))?;
        cluster.threads.push(thread);
        match rx.recv() {
            Ok(Ok((handle, port))) => {
                cluster.port = port;
                cluster.handles.push(handle);
            }
            Ok(Err(e)) => {
                cluster.shutdown(Duration::ZERO);
                let _ = cluster.join();
                return Err(e);
            }
            Err(_) => {
                cluster.shutdown(Duration::ZERO);
                let _ = cluster.join();
                return Err(Error::new(
                    ErrorCode::ERR_INVALID_ARG_VALUE,
                    format!("loop {index} ended before it was listening"),
                ));
            }
        }
    }
    Ok(cluster)
}

impl Cluster {
    /// The port every loop listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The loops' handles, to post work into them.
    pub fn handles(&self) -> &[LoopHandle] {
        &self.handles
    }

    /// [`LoopHandle::shutdown`] on every loop (`grace`: milliseconds or a
    /// `Duration`).
    pub fn shutdown(&self, grace: impl crate::IntoDuration) {
        let grace = grace.into_duration();
        for handle in &self.handles {
            handle.shutdown(grace);
        }
    }

    /// Waits for every loop's thread; the first loop error, if any.
    ///
    /// # Errors
    ///
    /// What a loop's `run()` returned (an unhandled `'error'`).
    pub fn join(self) -> Result<(), Error> {
        let mut first = Ok(());
        for thread in self.threads {
            let result = thread.join().unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorCode::ERR_INVALID_ARG_VALUE,
                    "a loop's thread panicked",
                ))
            });
            if first.is_ok() {
                first = result;
            }
        }
        first
    }
}
