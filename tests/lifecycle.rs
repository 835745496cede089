//! Lifecycle and event order (net-behaviours section A).

mod util;

use nodenet::{tcp, Server, ServerOptions, Socket};
use util::*;

/// N01: the server writes then ends; the client sees the full lifecycle.
#[test]
fn n01_full_client_lifecycle_when_server_writes_then_ends() {
    let trace = Trace::new();
    let t = trace.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        trace_socket(s, &t, "S");
        s.end_with("hello");
        srv.close();
    });
    let port = listen_local(server);
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    trace_socket(&c, &trace, "C");
    run_bounded(LIMIT);
    assert_eq!(
        trace.with_prefix("C:"),
        ["C:connect", "C:ready", "C:data:hello", "C:end", "C:finish", "C:close:false"]
    );
    assert_eq!(trace.with_prefix("S:"), ["S:finish", "S:end", "S:close:false"]);
}
