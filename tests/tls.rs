//! TLS over the same Socket: nodenet as client and server, with Node's
//! `tls` as the peer, and the cases of `tls-behaviours.md`.
#![cfg(feature = "tls")]

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use nodenet::tls::{self, SecureContextOptions, TlsVersion};
use nodenet::{Bytes, Error, Server, Socket};
#[allow(unused_imports)]
use util::Trace;
use util::certs::{certs, Pair};
use util::{listen_local, run_bounded, LIMIT};

fn server_options(pair: &Pair) -> tls::ServerOptions {
    tls::ServerOptions::new(
        SecureContextOptions::new()
            .cert(pair.cert.clone())
            .key(pair.key.clone()),
    )
}

fn trust_ca(port: u16) -> tls::ConnectOptions {
    tls::ConnectOptions::new(port, "127.0.0.1").ca(certs().ca.clone())
}

#[test]
fn echo_between_nodenet_client_and_server() {
    let server = tls::create_server(server_options(&certs().server), |_, s| {
        s.on_data(|s, chunk| {
            s.write(chunk);
        });
        s.on_end(|s| {
            s.end();
        });
    })
    .unwrap();
    let port = listen_local(server);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let client = tls::connect(trust_ca(port), |s| {
        assert!(s.authorized(), "{:?}", s.authorization_error());
        assert!(s.encrypted());
        assert_eq!(s.get_protocol(), Some(TlsVersion::Tls1_3));
        s.write("hello ");
        s.end_with("world");
    })
    .unwrap();
    client.on_data(move |_, chunk| g.borrow_mut().extend_from_slice(chunk));
    client.on_close(move |_, had_error| {
        assert!(!had_error);
        server.close();
    });
    client.on_error(|_, e| panic!("client error {e}"));
    run_bounded(LIMIT);
    assert_eq!(&got.borrow()[..], b"hello world");
}
