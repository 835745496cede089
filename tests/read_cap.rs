//! The per-turn read cap: a socket with more waiting than the cap reads the
//! cap's worth, then waits behind the other sockets with data. The cap is
//! lowered for the test (`__bench::set_read_cap_per_turn`) so that a few
//! kernel buffers' worth reach it; the default (16 MiB) binds only while a
//! local peer refills faster than the loop drains.

mod util;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use nodenet::{tcp, Bytes, Error, Server, ServerOptions, Socket};
use util::*;

const CAP: usize = 8 * 1024;
/// Per client: well inside the buffers pinned on both ends (64 KiB each,
/// whatever the kernel's defaults), so the client's write returns while the
/// server reads nothing, and then all of it reaches the server's buffer.
const EACH: usize = 32 * 1024;

#[test]
fn a_socket_over_the_cap_waits_behind_the_others() {
    nodenet::__bench::set_read_cap_per_turn(CAP);
    let sockets: Rc<RefCell<Vec<Socket>>> = Rc::default();
    // (which socket, chunk length), in the order 'data' was emitted.
    let chunks: Rc<RefCell<Vec<(usize, usize)>>> = Rc::default();
    let ended = Rc::new(RefCell::new(0usize));
    let options = ServerOptions {
        // Nothing is read until both clients' bytes are all waiting.
        pause_on_connect: true,
        ..Default::default()
    };
    let (socks, log, ends) = (sockets.clone(), chunks.clone(), ended.clone());
    let server = tcp::create_server(options, move |_: &Server, s: &Socket| {
        let id = socks.borrow().len();
        pin_buffers(s, 64 * 1024);
        socks.borrow_mut().push(*s);
        let log = log.clone();
        let ends = ends.clone();
        s.on("data", move |_: &Socket, chunk: &Bytes| {
            log.borrow_mut().push((id, chunk.len()))
        })
        .on("end", move |_: &Socket| *ends.borrow_mut() += 1)
        .on("error", |_: &Socket, e: &Error| {
            panic!("server socket: {e}")
        });
    });
    let port = listen_local(server);

    let written = Arc::new(AtomicUsize::new(0));
    let wake = nodenet::handle();
    let clients: Vec<_> = (0..2u8)
        .map(|i| {
            let (written, wake) = (written.clone(), wake.clone());
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                socket2::SockRef::from(&c)
                    .set_send_buffer_size(64 * 1024)
                    .expect("SO_SNDBUF");
                c.write_all(&vec![i; EACH]).expect("write");
                c.shutdown(Shutdown::Write).expect("shutdown");
                written.fetch_add(1, Ordering::SeqCst);
                wake.post(|| {}).unwrap();
                // Until the server ends its side too.
                let mut rest = Vec::new();
                let _ = c.read_to_end(&mut rest);
            })
        })
        .collect();

    let (socks, done) = (sockets.clone(), written.clone());
    run_until(LIMIT, move || {
        socks.borrow().len() == 2 && done.load(Ordering::SeqCst) == 2
    });
    assert!(chunks.borrow().is_empty(), "paused sockets read nothing");
    for s in sockets.borrow().iter() {
        s.resume();
    }
    let ends = ended.clone();
    run_until(LIMIT, move || *ends.borrow() == 2);
    for c in clients {
        c.join().expect("client thread");
    }

    let chunks = chunks.borrow();
    for id in 0..2 {
        let got: usize = chunks.iter().filter(|c| c.0 == id).map(|c| c.1).sum();
        assert_eq!(got, EACH, "socket {id} got every byte");
    }
    assert!(
        chunks.iter().all(|&(_, len)| len <= CAP),
        "no read takes more than the cap: {chunks:?}"
    );
    // The first socket to be read did not get all of its bytes before the
    // other one got a turn.
    let first = chunks[0].0;
    let last_of_first = chunks.iter().rposition(|c| c.0 == first).expect("some");
    let first_of_other = chunks.iter().position(|c| c.0 != first).expect("some");
    assert!(
        first_of_other < last_of_first,
        "socket {first} read everything before the other had a turn: {chunks:?}"
    );
}
