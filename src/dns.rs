//! Name resolution off the loop thread.
//!
//! `getaddrinfo` blocks, so each lookup runs on a short-lived thread and its
//! answer comes back as a closure posted to the loop through its waker. The
//! loop never blocks on DNS, and a lookup in flight keeps the loop alive
//! through the socket or server waiting for it.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use crate::event_loop::Remote;

/// Resolves `host:port` on another thread; `done(host, addresses)` runs on
/// the loop thread.
pub(crate) fn resolve(
    remote: Arc<Remote>,
    host: String,
    port: u16,
    done: impl FnOnce(String, io::Result<Vec<SocketAddr>>) + Send + 'static,
) {
    let job = move || {
        let result = (host.as_str(), port)
            .to_socket_addrs()
            .map(|addrs| addrs.collect::<Vec<_>>());
        remote.post(Box::new(move || done(host, result)));
    };
    // Spawning can fail only when the process is out of threads or memory;
    // the lookup then runs here, blocking this once rather than being lost.
    let job = std::sync::Mutex::new(Some(job));
    let job = Arc::new(job);
    let spawned = {
        let job = job.clone();
        std::thread::Builder::new()
            .name("nodenet-dns".into())
            .spawn(move || {
                if let Some(job) = job.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    job();
                }
            })
    };
    if spawned.is_err() {
        if let Some(job) = job.lock().unwrap_or_else(|p| p.into_inner()).take() {
            job();
        }
    }
}
