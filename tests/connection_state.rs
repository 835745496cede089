//! A connection's state kept with its socket: user data set once and read
//! from any listener (Node's expando properties), dropped with the slot;
//! the way back from a stored id; the handler object reached from its
//! socket, and every socket event routed to a handler.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use nodenet::{tcp, Bytes, ConnectionAttempt, Handler, Lookup, ServerOptions, Socket};
use util::*;

struct DropCount(Rc<Cell<usize>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Per-connection state: `socket.subs = new Set()` in JavaScript. Set in
/// `'connection'`, used by `'data'`, read back in `'end'`, dropped after
/// `'close'` without any map or clean-up code.
#[test]
fn data_set_once_is_read_from_any_listener_and_dropped_with_the_slot() {
    struct Subs {
        topics: HashSet<String>,
        _guard: DropCount,
    }
    let drops = Rc::new(Cell::new(0));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (d, sn) = (drops.clone(), seen.clone());
    let server = tcp::create_server(ServerOptions::default(), move |_, socket| {
        socket.set_data(Subs {
            topics: HashSet::new(),
            _guard: DropCount(d.clone()),
        });
        let sn = sn.clone();
        socket
            .on_data(|s, chunk| {
                for topic in String::from_utf8_lossy(chunk).split_whitespace() {
                    s.with_data(|subs: &mut Subs| subs.topics.insert(topic.to_string()))
                        .expect("the data is there");
                }
            })
            .on_end(move |s| {
                let mut topics: Vec<String> = s
                    .with_data(|subs: &mut Subs| subs.topics.iter().cloned().collect())
                    .unwrap();
                topics.sort();
                sn.borrow_mut().push(topics);
                s.end();
            });
    });
    let port = listen_local(server);
    tcp::connect(port, "127.0.0.1", |s| {
        s.end_with("news sport news");
    })
    .unwrap();
    run_until(LIMIT, || drops.get() == 1);
    server.close();
    run_bounded(LIMIT);
    assert_eq!(*seen.borrow(), [vec!["news".to_string(), "sport".into()]]);
    assert_eq!(drops.get(), 1, "the data went with the slot");
}

/// `with_data` of another type, on a socket without data, nested on the
/// same socket, or on a stale handle gives `None`; `take_data` takes it;
/// `set_data` from inside `with_data` wins.
#[test]
fn data_access_rules() {
    let s = Socket::new(nodenet::SocketOptions::default());
    assert_eq!(s.with_data(|n: &mut u8| *n), None);
    s.set_data(7u8);
    assert_eq!(s.with_data(|n: &mut u16| *n), None);
    assert_eq!(s.data::<u8>(), Some(7));
    let nested = s.with_data(|_: &mut u8| s.with_data(|n: &mut u8| *n));
    assert_eq!(nested, Some(None), "lent out during the outer call");
    s.with_data(|_: &mut u8| {
        s.set_data("replaced".to_string());
    });
    assert_eq!(s.data::<String>().as_deref(), Some("replaced"));
    assert_eq!(s.take_data::<String>().as_deref(), Some("replaced"));
    assert_eq!(s.data::<String>(), None);
    s.set_data(1u8);
    s.destroy();
    run_bounded(LIMIT);
    assert_eq!(s.data::<u8>(), None, "a stale handle has no data");
}

/// A stored id leads back to its socket while it is open, and to nothing
/// after `'close'`.
#[test]
fn from_id_finds_open_sockets_only() {
    let (server, port) = echo_server();
    let client = tcp::connect(port, "127.0.0.1", |_| {}).unwrap();
    let id = client.id();
    assert_eq!(Socket::from_id(id), Some(client));
    assert_eq!(Socket::from_id(id ^ (1 << 40)), None, "another generation");
    client.destroy();
    server.close();
    run_bounded(LIMIT);
    assert_eq!(Socket::from_id(id), None);
}

/// A handler object gets every socket event, and code outside its methods
/// reaches it through its socket.
#[test]
fn a_handler_gets_every_event_and_is_reached_from_its_socket() {
    #[derive(Default)]
    struct Recorder {
        events: Vec<String>,
    }
    impl Handler for Recorder {
        fn on_lookup(&mut self, _: &Socket, lookup: &Lookup) {
            self.events
                .push(format!("lookup:{}", lookup.address.is_some()));
        }
        fn on_connection_attempt(&mut self, _: &Socket, _: &ConnectionAttempt) {
            self.events.push("attempt".into());
        }
        fn on_connect(&mut self, _: &Socket) {
            self.events.push("connect".into());
        }
        fn on_ready(&mut self, s: &Socket) {
            self.events.push("ready".into());
            // Busy inside its own method: with_handler says so.
            assert!(s.with_handler(|_: &mut Recorder| ()).is_none());
            s.end_with("hi");
        }
        fn on_data(&mut self, _: &Socket, data: &Bytes) {
            self.events
                .push(format!("data:{}", String::from_utf8_lossy(data)));
        }
        fn on_finish(&mut self, _: &Socket) {
            self.events.push("finish".into());
        }
        fn on_end(&mut self, _: &Socket) {
            self.events.push("end".into());
        }
        fn on_close(&mut self, _: &Socket, had_error: bool) {
            self.events.push(format!("close:{had_error}"));
        }
    }
    let (server, port) = echo_server();
    let socket = Socket::new(nodenet::SocketOptions::default());
    socket.set_handler(Recorder::default());
    socket.connect(port, "localhost").unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let e = events.clone();
    // Outside the handler's methods: a listener reaches the handler object.
    socket.prepend_listener("close", move |s: &Socket| {
        *e.borrow_mut() = s
            .with_handler(|r: &mut Recorder| r.events.clone())
            .expect("the handler, from its socket");
    });
    run_until(LIMIT, || !events.borrow().is_empty());
    server.close();
    run_bounded(LIMIT);
    let events = events.borrow();
    assert_eq!(events[0], "lookup:true", "{events:?}");
    assert!(events.contains(&"attempt".to_string()), "{events:?}");
    let rest: Vec<&str> = events
        .iter()
        .map(String::as_str)
        .filter(|e| !e.starts_with("lookup") && *e != "attempt")
        .collect();
    assert_eq!(
        rest,
        ["connect", "ready", "finish", "data:hi", "end"],
        "{events:?}"
    );
}
