//! A nodenet loop driven from a tokio runtime, and a nodenet event awaited
//! from async code.
//!
//! ```text
//! cargo run --example embed_tokio
//! ```
//!
//! nodenet's loop is one epoll instance ([`nodenet::backend_fd`]) plus
//! timers ([`nodenet::backend_timeout`]). A task on a tokio current-thread
//! runtime waits for whichever comes first, the descriptor turning readable
//! or the timeout, then takes one non-blocking turn
//! ([`nodenet::run_nowait`]). Both loops share the thread, so nodenet's
//! `!Send` handles and tokio's `!Send` tasks (`spawn_local`) live together.
//!
//! The program starts a nodenet echo server, connects to it with tokio's
//! `TcpStream`, and awaits a nodenet `'connection'` through a oneshot
//! channel fulfilled by the listener. Prints what happened, then exits.

use std::os::fd::RawFd;
use std::rc::Rc;

use nodenet::{tcp, ServerOptions};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The nodenet loop's descriptor, for tokio's reactor.
struct Backend(RawFd);

impl std::os::fd::AsRawFd for Backend {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// Runs nodenet's loop inside tokio until nothing keeps it alive or `done`
/// says so.
async fn drive_nodenet(done: impl Fn() -> bool) -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: the descriptor is this thread's nodenet loop's epoll
    // instance, which lives as long as the thread; `backend` is dropped
    // when this function returns, on this thread, so it never outlives it.
    // tokio only waits for readability on it; nodenet alone reads it.
    let backend = unsafe {
        AsyncFd::register_with_interest(
            Backend(nodenet::backend_fd()),
            tokio::io::Interest::READABLE,
        )?
    };
    loop {
        let alive = nodenet::run_nowait()?;
        if !alive || done() {
            return Ok(());
        }
        match nodenet::backend_timeout() {
            Some(t) if t.is_zero() => tokio::task::yield_now().await,
            Some(t) => {
                tokio::select! {
                    ready = backend.readable() => ready?.clear_ready(),
                    () = tokio::time::sleep(t) => {}
                }
            }
            None => backend.readable().await?.clear_ready(),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        // A nodenet echo server; its 'connection' fulfils a oneshot that
        // async code awaits.
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        let tx = Rc::new(std::cell::RefCell::new(Some(tx)));
        let server = tcp::create_server(ServerOptions::default(), move |_, socket| {
            socket.on_data(|s, chunk| {
                s.write(chunk);
            });
            if let Some(tx) = tx.borrow_mut().take() {
                let peer = socket.remote_port().map_or(0, |p| p);
                let _ = tx.send(format!("nodenet accepted a connection from port {peer}"));
            }
        });
        server.listen(0, "127.0.0.1")?;
        let port = server.address().expect("listening").port();
        println!("nodenet listening on 127.0.0.1:{port}");

        let finished = Rc::new(std::cell::Cell::new(false));
        let f = finished.clone();
        let driver = tokio::task::spawn_local(async move {
            drive_nodenet(move || f.get())
                .await
                .map_err(|e| e.to_string())
        });

        // Async code: a tokio client, and the nodenet event awaited.
        let mut client = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        println!("{}", rx.await?);
        client.write_all(b"hello from tokio").await?;
        let mut echo = [0u8; 16];
        client.read_exact(&mut echo).await?;
        println!("echoed: {}", String::from_utf8_lossy(&echo));

        drop(client);
        server.close();
        finished.set(true);
        driver.await??;
        println!("done");
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
