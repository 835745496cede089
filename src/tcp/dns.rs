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

/// Resolves `host:port` with the system resolver on another thread;
/// `done(host, addresses)` runs on the loop thread.
pub(crate) fn resolve(
    remote: Arc<Remote>,
    host: String,
    port: u16,
    done: impl FnOnce(String, io::Result<Vec<SocketAddr>>) + Send + 'static,
) {
    resolve_with(
        remote,
        host,
        move |host| (host, port).to_socket_addrs().map(|a| a.collect()),
        done,
    );
}

/// Runs `lookup(host)` on another thread; `done(host, addresses)` runs on
/// the loop thread.
pub(crate) fn resolve_with(
    remote: Arc<Remote>,
    host: String,
    lookup: impl FnOnce(&str) -> io::Result<Vec<SocketAddr>> + Send + 'static,
    done: impl FnOnce(String, io::Result<Vec<SocketAddr>>) + Send + 'static,
) {
    let job = move || {
        // A lookup that panics fails like one that errs (the socket gets
        // 'error' and 'close'), and its panic is re-raised on the loop
        // thread, from run*(), as any callback's is.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lookup(&host))) {
            Ok(result) => {
                if let Err(e) = &result {
                    log::warn!("nodenet: the lookup of {host} failed: {e}");
                }
                // A loop whose thread ended takes nothing: the lookup's
                // socket is gone with it.
                let _ = remote.post(Box::new(move || done(host, result)));
            }
            Err(payload) => {
                let why = panic_message(payload.as_ref());
                let err = io::Error::other(format!("the lookup of {host} panicked: {why}"));
                log::warn!("nodenet: {err}");
                let _ = remote.post(Box::new(move || {
                    done(host, Err(err));
                    std::panic::resume_unwind(payload);
                }));
            }
        }
    };
    // Spawning fails only when the process is out of threads or memory;
    // the lookup then runs here, blocking this once rather than being lost.
    let job = Arc::new(std::sync::Mutex::new(Some(job)));
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

/// The text of a panic's payload (`panic!("...")` gives a `&str` or a
/// `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(a non-string payload)"
    }
}
