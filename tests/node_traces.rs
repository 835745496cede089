//! Differential traces against Node (issue 3, item 3).
//!
//! Each scenario is one small program written twice: `tests/traces/<name>.js`
//! (run with `node`, using only `net` and timers) and a Rust function here
//! doing the same with nodenet. Both print a normalised trace, one line per
//! event (`C connect`, `S data "hello"`, `C write -> false`,
//! `C error ECONNREFUSED connect -111 "connect ECONNREFUSED 127.0.0.1:PORT"`,
//! `S close false`), with no ports or timestamps, and the test asserts that
//! the two traces are identical.
//!
//! The first word of a line names its actor (`C`, `S`, `SRV`, `C2`...).
//! Scenarios whose actors' events interleave nondeterministically (two
//! sockets of one connection, seen from one process) are compared per actor:
//! each actor's lines, in order. The others are compared as one sequence.
//!
//! Errors print as `CODE syscall errno "message"` (`-` for what is absent),
//! with every `:<digits>` of the message replaced by `:PORT`.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nodenet::{
    tcp, Bytes, ConnectOptions, DropInfo, Encoding, Error, ErrorCode, ListenerId, Server,
    ServerOptions, Socket, SocketOptions,
};
use util::{Trace, LIMIT};

/// How long `node` may take for one scenario before it is killed.
const NODE_LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// The whole trace, in order.
    Total,
    /// Each actor's lines in order; actors may interleave freely.
    PerActor,
}
use Compare::{PerActor, Total};

/// A running `node tests/traces/<name>.js`; killed if dropped unfinished
/// (when the Rust side of the scenario panics first).
struct NodeRun {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    started: Instant,
    script: PathBuf,
}

fn read_all(mut from: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = from.read_to_string(&mut s);
        s
    })
}

impl NodeRun {
    fn start(name: &str) -> NodeRun {
        let node = util::node();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/traces")
            .join(format!("{name}.js"));
        assert!(
            script.exists(),
            "missing scenario script {}",
            script.display()
        );
        let mut child = Command::new(node)
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("`node` could not be started: install Node 20 to run these tests");
        NodeRun {
            stdout: child.stdout.take().map(read_all),
            stderr: child.stderr.take().map(read_all),
            child,
            started: Instant::now(),
            script,
        }
    }

    /// Waits for node (killing it after [`NODE_LIMIT`]) and returns its
    /// stdout lines; fails the test if it did not exit cleanly.
    fn lines(mut self) -> Vec<String> {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for node") {
                break Some(status);
            }
            if self.started.elapsed() > NODE_LIMIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = self.stdout.take().unwrap().join().unwrap();
        let err = self.stderr.take().unwrap().join().unwrap();
        match status {
            None => panic!(
                "node {} did not exit within {NODE_LIMIT:?} and was killed\n--- stdout\n{out}--- stderr\n{err}",
                self.script.display()
            ),
            Some(s) if !s.success() => panic!(
                "node {} failed ({s})\n--- stdout\n{out}--- stderr\n{err}",
                self.script.display()
            ),
            Some(_) => out.lines().map(str::to_string).collect(),
        }
    }
}

impl Drop for NodeRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn by_actor(lines: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in lines {
        let actor = l.split(' ').next().unwrap_or("").to_string();
        map.entry(actor).or_default().push(l.clone());
    }
    map
}

/// Runs the scenario in Node and in nodenet and compares the traces.
fn check(name: &str, compare: Compare, scenario: impl FnOnce(&Trace)) {
    let node = NodeRun::start(name);
    let trace = Trace::new();
    scenario(&trace);
    let start = Instant::now();
    let result = nodenet::run_for(LIMIT);
    let ours = trace.entries();
    let theirs = node.lines();
    if let Err(e) = result {
        panic!(
            "scenario {name}: nodenet's loop returned an unhandled error: {e}\n--- node\n{}\n--- nodenet\n{}\n",
            theirs.join("\n"),
            ours.join("\n")
        );
    }
    if start.elapsed() >= LIMIT {
        panic!(
            "scenario {name}: nodenet's loop was still busy after {LIMIT:?} (a hang)\n--- node\n{}\n--- nodenet\n{}\n",
            theirs.join("\n"),
            ours.join("\n")
        );
    }
    let same = match compare {
        Total => ours == theirs,
        PerActor => by_actor(&ours) == by_actor(&theirs),
    };
    if !same {
        let how = match compare {
            Total => "in order",
            PerActor => "per actor",
        };
        panic!(
            "scenario {name}: the traces differ ({how})\n--- node\n{}\n--- nodenet\n{}\n",
            theirs.join("\n"),
            ours.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// Formatting, as the JavaScript side does it.

/// `JSON.stringify(String(v))`.
fn q(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

fn qb(chunk: &[u8]) -> String {
    q(&String::from_utf8_lossy(chunk))
}

/// Every `:<digits>` becomes `:PORT`.
fn no_ports(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(ch) = chars.next() {
        out.push(ch);
        if ch == ':' && chars.peek().is_some_and(|c| c.is_ascii_digit()) {
            while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                chars.next();
            }
            out.push_str("PORT");
        }
    }
    out
}

/// `code syscall errno "message"`.
fn fmt_err(e: &Error) -> String {
    format!(
        "{} {} {} {}",
        e.code(),
        e.syscall().unwrap_or("-"),
        e.errno().map_or("-".to_string(), |n| n.to_string()),
        q(&no_ports(e.message()))
    )
}

/// The JavaScript `traceAll(tag, s)`: every event of a socket.
fn trace_all(t: &Trace, tag: &str, s: &Socket) {
    for ev in ["connect", "ready", "end", "finish", "drain", "timeout"] {
        let (t, line) = (t.clone(), format!("{tag} {ev}"));
        s.on(ev, move |_: &Socket| t.log(line.clone()));
    }
    let (t2, tag2) = (t.clone(), tag.to_string());
    s.on("data", move |_: &Socket, d: &Bytes| {
        t2.log(format!("{tag2} data {}", qb(d)))
    });
    let (t2, tag2) = (t.clone(), tag.to_string());
    s.on("error", move |_: &Socket, e: &Error| {
        t2.log(format!("{tag2} error {}", fmt_err(e)))
    });
    let (t2, tag2) = (t.clone(), tag.to_string());
    s.on("close", move |_: &Socket, had_error: bool| {
        t2.log(format!("{tag2} close {had_error}"))
    });
}

fn port_of(srv: &Server) -> u16 {
    srv.address().expect("listening").port()
}

/// The frame most scenarios share: a server whose one connection is traced
/// as "S" and handed to `accepted`, after which the server stops listening;
/// `client` runs once it listens, with its port.
fn one_connection(
    t: &Trace,
    accepted: impl Fn(&Trace, &Socket) + 'static,
    client: impl FnOnce(&Trace, u16) + 'static,
) {
    let t2 = t.clone();
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        trace_all(&t2, "S", s);
        accepted(&t2, s);
        srv.close();
    });
    let t2 = t.clone();
    let mut client = Some(client);
    server.once("listening", move |srv: &Server| {
        if let Some(client) = client.take() {
            client(&t2, port_of(srv));
        }
    });
    server.listen(0, "127.0.0.1").unwrap();
}

fn connect(port: u16) -> Socket {
    tcp::connect(port, "127.0.0.1", |_: &Socket| {}).expect("connect")
}

fn connect_with(port: u16, socket: SocketOptions) -> Socket {
    tcp::create_connection(ConnectOptions {
        port,
        host: "127.0.0.1".into(),
        socket,
        ..Default::default()
    })
    .expect("connect")
}

// ---------------------------------------------------------------------------
// Scenarios.

/// N01: the server writes 'hello' and ends; the full client lifecycle.
#[test]
fn full_lifecycle() {
    check("full_lifecycle", PerActor, |t| {
        let t2 = t.clone();
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                trace_all(&t2, "S", s);
                s.end_with("hello");
                srv.close();
            });
        let t2 = t.clone();
        server.on("close", move |_: &Server| t2.log("SRV close"));
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect(port_of(srv));
            trace_all(&t2, "C", &c);
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N02: the client half-closes first; allowHalfOpen is false on both sides.
#[test]
fn half_open_default_client_first() {
    check("half_open_default_client_first", PerActor, |t| {
        let t2 = t.clone();
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                let t3 = t2.clone();
                s.on("end", move |s: &Socket| {
                    t3.log(format!(
                        "S in-end {} {} {} {}",
                        s.writable(),
                        s.readable(),
                        s.destroyed(),
                        s.ready_state()
                    ))
                });
                trace_all(&t2, "S", s);
                srv.close();
            });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let t3 = t2.clone();
            let c = tcp::connect(port_of(srv), "127.0.0.1", move |c: &Socket| {
                c.end_with("bye");
                t3.log(format!("C after-end {} {}", c.ready_state(), c.writable()));
            })
            .unwrap();
            let t3 = t2.clone();
            c.on("end", move |c: &Socket| {
                t3.log(format!("C in-end {}", c.ready_state()))
            });
            trace_all(&t2, "C", &c);
            let t3 = t2.clone();
            c.on("close", move |c: &Socket, _: bool| {
                t3.log(format!("C in-close {}", c.pending()))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N23: allowHalfOpen on both sides, the client ends first; the server
/// still writes its reply in 'end', then ends.
#[test]
fn half_open_allow_client_first() {
    check("half_open_allow_client_first", PerActor, |t| {
        let t2 = t.clone();
        let options = ServerOptions {
            socket: SocketOptions {
                allow_half_open: true,
                ..SocketOptions::default()
            },
            ..Default::default()
        };
        let server = tcp::create_server(options, move |srv: &Server, s: &Socket| {
            trace_all(&t2, "S", s);
            let t3 = t2.clone();
            s.on("end", move |s: &Socket| {
                t3.log(format!(
                    "S in-end {} {} {}",
                    s.readable(),
                    s.writable(),
                    s.ready_state()
                ));
                t3.log(format!("S write -> {}", s.write("reply")));
                s.end();
                t3.log(format!("S after-end {}", s.ready_state()));
            });
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect_with(
                port_of(srv),
                SocketOptions {
                    allow_half_open: true,
                    ..Default::default()
                },
            );
            let t3 = t2.clone();
            c.once("connect", move |c: &Socket| {
                c.end_with("req");
                t3.log(format!("C after-end {}", c.ready_state()));
            });
            let t3 = t2.clone();
            c.on("end", move |c: &Socket| {
                t3.log(format!("C in-end {}", c.ready_state()))
            });
            trace_all(&t2, "C", &c);
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// The server ends first (default allowHalfOpen); the client, with
/// allowHalfOpen, still writes in 'end', then ends.
#[test]
fn half_open_allow_server_first() {
    check("half_open_allow_server_first", PerActor, |t| {
        one_connection(
            t,
            move |t2: &Trace, s: &Socket| {
                s.end_with("bye");
                t2.log(format!("S after-end {}", s.ready_state()));
            },
            move |t2: &Trace, port: u16| {
                let c = connect_with(
                    port,
                    SocketOptions {
                        allow_half_open: true,
                        ..Default::default()
                    },
                );
                let t3 = t2.clone();
                c.on("end", move |c: &Socket| {
                    t3.log(format!("C in-end {} {}", c.ready_state(), c.writable()));
                    t3.log(format!("C write -> {}", c.write("late")));
                    c.end();
                    t3.log(format!("C after-end {}", c.ready_state()));
                });
                trace_all(t2, "C", &c);
            },
        );
    });
}

/// N22: default allowHalfOpen; writing inside 'end' works, then the
/// automatic end().
#[test]
fn write_in_end() {
    check("write_in_end", PerActor, |t| {
        one_connection(
            t,
            move |_: &Trace, s: &Socket| {
                s.end();
            },
            move |t2: &Trace, port: u16| {
                let c = connect(port);
                let t3 = t2.clone();
                c.on("end", move |c: &Socket| {
                    t3.log(format!(
                        "C in-end {} {} {} {}",
                        c.allow_half_open(),
                        c.writable(),
                        c.writable_ended(),
                        c.destroyed()
                    ));
                    let t4 = t3.clone();
                    let r = c.write_cb("written-in-end", move |_: &Socket, e: Option<&Error>| {
                        t4.log(format!("C write cb {}", e.map_or("ok".into(), fmt_err)))
                    });
                    t3.log(format!("C write -> {r}"));
                });
                trace_all(t2, "C", &c);
            },
        );
    });
}

fn hwm(n: usize) -> SocketOptions {
    SocketOptions {
        high_water_mark: Some(n),
        ..Default::default()
    }
}

fn cb_result(e: Option<&Error>) -> String {
    e.map_or("ok".to_string(), fmt_err)
}

/// N32: end() with 2 MiB of pending writes: callbacks in order, then the
/// end callback and 'finish'; the client gets every byte in order.
#[test]
fn end_with_pending_writes() {
    const CHUNK: usize = 256 * 1024;
    const N: usize = 8;
    check("end_with_pending_writes", PerActor, |t| {
        let t2 = t.clone();
        let options = ServerOptions {
            socket: SocketOptions {
                high_water_mark: Some(16384),
                ..SocketOptions::default()
            },
            ..Default::default()
        };
        let server = tcp::create_server(options, move |srv: &Server, s: &Socket| {
            for i in 0..N {
                let t3 = t2.clone();
                s.write_cb(vec![b'a' + i as u8; CHUNK], move |_: &Socket, e| {
                    t3.log(format!("S write cb {i} {}", cb_result(e)))
                });
            }
            let t3 = t2.clone();
            s.end_cb(move |_: &Socket, e| t3.log(format!("S end cb {}", cb_result(e))));
            t2.log(format!(
                "S after-end {} {} {}",
                s.bytes_written(),
                s.writable_ended(),
                s.writable_finished()
            ));
            let t3 = t2.clone();
            s.on("finish", move |s: &Socket| {
                t3.log(format!("S finish {}", s.writable_length()))
            });
            let t3 = t2.clone();
            s.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("S close {h}"))
            });
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect_with(port_of(srv), hwm(16384));
            let total = Rc::new(Cell::new(0usize));
            let in_order = Rc::new(Cell::new(true));
            let (tot, ok) = (total.clone(), in_order.clone());
            c.on("data", move |_: &Socket, d: &Bytes| {
                for (k, b) in d.iter().enumerate() {
                    if *b != b'a' + ((tot.get() + k) / CHUNK) as u8 {
                        ok.set(false);
                    }
                }
                tot.set(tot.get() + d.len());
            });
            let t3 = t2.clone();
            c.on("end", move |_: &Socket| {
                t3.log(format!("C end {} {}", total.get(), in_order.get()))
            });
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N11: destroy() inside the first of two 'data' listeners.
#[test]
fn destroy_in_data() {
    check("destroy_in_data", PerActor, |t| {
        one_connection(
            t,
            move |_: &Trace, s: &Socket| {
                s.write("hello");
            },
            move |t2: &Trace, port: u16| {
                let c = connect(port);
                let t3 = t2.clone();
                c.on("data", move |c: &Socket, d: &Bytes| {
                    t3.log(format!("C data1 {}", qb(d)));
                    let same = c.destroy() == *c;
                    t3.log(format!("C destroy returns itself {same} {}", c.destroyed()));
                });
                let t3 = t2.clone();
                c.on("data", move |c: &Socket, d: &Bytes| {
                    t3.log(format!("C data2 {} {}", qb(d), c.destroyed()))
                });
                trace_all(t2, "C", &c);
            },
        );
    });
}

/// N25: write after our own end(): ERR_STREAM_WRITE_AFTER_END to the
/// callback and 'error', close(true).
#[test]
fn write_after_end() {
    check("write_after_end", PerActor, |t| {
        one_connection(
            t,
            move |_: &Trace, _: &Socket| {},
            move |t2: &Trace, port: u16| {
                let t3 = t2.clone();
                let c = tcp::connect(port, "127.0.0.1", move |c: &Socket| {
                    c.end();
                    let t4 = t3.clone();
                    let r = c.write_cb("late", move |_: &Socket, e| {
                        t4.log(format!("C write cb {}", cb_result(e)))
                    });
                    t3.log(format!("C write -> {r} {}", c.destroyed()));
                })
                .unwrap();
                trace_all(t2, "C", &c);
            },
        );
    });
}

/// Issue 10, item 9: allowHalfOpen false, we end first, then the peer: a
/// write in our 'end' fails with EPIPE "This socket has been ended by the
/// other party", not ERR_STREAM_WRITE_AFTER_END.
#[test]
fn write_after_peer_end_we_ended_first() {
    check("write_after_peer_end_we_ended_first", PerActor, |t| {
        one_connection(
            t,
            |_: &Trace, s: &Socket| {
                s.on("error", |_: &Socket, _: &Error| {});
                s.on("end", |s: &Socket| {
                    let s = *s;
                    nodenet::set_timeout(
                        move || {
                            s.end();
                        },
                        20,
                    );
                });
            },
            move |t2: &Trace, port: u16| {
                let c = tcp::connect(port, "127.0.0.1", |c: &Socket| {
                    c.end();
                })
                .unwrap();
                let t3 = t2.clone();
                c.on("end", move |c: &Socket| {
                    t3.log(format!("C in-end {}", c.writable_ended()));
                    let t4 = t3.clone();
                    let r = c.write_cb("late", move |_: &Socket, e| {
                        t4.log(format!("C write cb {}", cb_result(e)))
                    });
                    t3.log(format!("C write -> {r} {}", c.destroyed()));
                });
                trace_all(t2, "C", &c);
            },
        );
    });
}

/// Issue 10, item 9: allowHalfOpen false, the peer ends first and we end
/// automatically: a write in 'finish' fails with EPIPE, and so does one
/// made once destroyed (in 'error'), not ERR_STREAM_DESTROYED.
#[test]
fn write_after_peer_end_auto_ended() {
    check("write_after_peer_end_auto_ended", PerActor, |t| {
        one_connection(
            t,
            |_: &Trace, s: &Socket| {
                s.on("error", |_: &Socket, _: &Error| {});
                s.end();
            },
            move |t2: &Trace, port: u16| {
                let c = connect(port);
                let t3 = t2.clone();
                c.on("finish", move |c: &Socket| {
                    let t4 = t3.clone();
                    let r = c.write_cb("f", move |_: &Socket, e| {
                        t4.log(format!("C finish write cb {}", cb_result(e)))
                    });
                    t3.log(format!("C finish write -> {r} {}", c.destroyed()));
                });
                let t3 = t2.clone();
                c.once("error", move |c: &Socket, _: &Error| {
                    let t4 = t3.clone();
                    let r = c.write_cb("g", move |_: &Socket, e| {
                        t4.log(format!("C destroyed write cb {}", cb_result(e)))
                    });
                    t3.log(format!("C destroyed write -> {r} {}", c.destroyed()));
                });
                trace_all(t2, "C", &c);
            },
        );
    });
}

/// Write callbacks in write order, across connect; end(data, cb) before
/// 'finish'.
#[test]
fn write_callbacks_order() {
    check("write_callbacks_order", PerActor, |t| {
        let t2 = t.clone();
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                let got = Rc::new(RefCell::new(Vec::new()));
                let g = got.clone();
                s.on("data", move |_: &Socket, d: &Bytes| {
                    g.borrow_mut().extend_from_slice(d)
                });
                let t3 = t2.clone();
                s.on("end", move |_: &Socket| {
                    t3.log(format!("S got {}", qb(&got.borrow())))
                });
                srv.close();
            });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let t3 = t2.clone();
            let c = tcp::connect(port_of(srv), "127.0.0.1", move |c: &Socket| {
                t3.log(format!("C connect {}", c.writable_length()));
                let t4 = t3.clone();
                let r = c.write_cb("b", move |_: &Socket, _| t4.log("C cb b"));
                t3.log(format!("C write b -> {r}"));
                let t4 = t3.clone();
                let r = c.write_cb("c", move |_: &Socket, _| t4.log("C cb c"));
                t3.log(format!("C write c -> {r}"));
                c.write("d");
                let t4 = t3.clone();
                c.end_cb(move |_: &Socket, _| t4.log("C cb end"));
                t3.log(format!(
                    "C after-end {} {}",
                    c.writable_length(),
                    c.bytes_written()
                ));
            })
            .unwrap();
            let t3 = t2.clone();
            let r = c.write_cb("a", move |_: &Socket, _| t3.log("C cb a"));
            t2.log(format!("C write a -> {r} {}", c.writable_length()));
            let t3 = t2.clone();
            c.on("finish", move |c: &Socket| {
                t3.log(format!("C finish {}", c.writable_length()))
            });
            let t3 = t2.clone();
            c.on("close", move |c: &Socket, h: bool| {
                t3.log(format!("C close {h} {}", c.bytes_written()))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N29: a false write while connecting (highWaterMark 4), one 'drain'
/// before the write's callback, then a true write.
#[test]
fn drain_while_connecting() {
    check("drain_while_connecting", PerActor, |t| {
        let t2 = t.clone();
        let options = ServerOptions {
            socket: SocketOptions {
                high_water_mark: Some(4),
                ..SocketOptions::default()
            },
            ..Default::default()
        };
        let server = tcp::create_server(options, move |srv: &Server, s: &Socket| {
            let got = Rc::new(RefCell::new(Vec::new()));
            let g = got.clone();
            s.on("data", move |_: &Socket, d: &Bytes| {
                g.borrow_mut().extend_from_slice(d)
            });
            let (t3, srv) = (t2.clone(), *srv);
            s.on("end", move |_: &Socket| {
                t3.log(format!("S got {}", qb(&got.borrow())));
                srv.close();
            });
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect_with(port_of(srv), hwm(4));
            let t3 = t2.clone();
            c.on("connect", move |_: &Socket| t3.log("C connect"));
            let t3 = t2.clone();
            let r = c.write_cb("hello world", move |_: &Socket, e| {
                t3.log(format!("C write cb {}", cb_result(e)))
            });
            t2.log(format!(
                "C write -> {r} {} {}",
                c.writable_length(),
                c.writable_need_drain()
            ));
            let t3 = t2.clone();
            c.on("drain", move |c: &Socket| {
                t3.log(format!(
                    "C drain {} {}",
                    c.writable_length(),
                    c.writable_need_drain()
                ));
                let r = c.write("ab");
                t3.log(format!("C write -> {r} {}", c.writable_length()));
                c.end();
            });
            let t3 = t2.clone();
            c.on("finish", move |_: &Socket| t3.log("C finish"));
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N29/N44: connected 256 KiB writes to a client that holds off reading,
/// until one is false (how many that takes is up to the kernel, so it is
/// not logged), then one 'drain' (before the last write's callback), then
/// true.
#[test]
fn drain_connected() {
    const CHUNK: usize = 256 * 1024;
    check("drain_connected", PerActor, |t| {
        let t2 = t.clone();
        let options = ServerOptions {
            socket: SocketOptions {
                high_water_mark: Some(16384),
                ..SocketOptions::default()
            },
            ..Default::default()
        };
        let sent = Rc::new(Cell::new(0usize));
        let sent2 = sent.clone();
        let server = tcp::create_server(options, move |srv: &Server, s: &Socket| {
            let writes = Rc::new(Cell::new(0));
            let mut r = true;
            while r && writes.get() < 4096 {
                writes.set(writes.get() + 1);
                sent2.set(sent2.get() + CHUNK);
                let (t3, n, writes) = (t2.clone(), writes.get(), writes.clone());
                r = s.write_cb(vec![b'x'; CHUNK], move |_: &Socket, e| {
                    if n == writes.get() {
                        t3.log(format!("S write cb {}", cb_result(e)))
                    }
                });
            }
            t2.log(format!(
                "S write -> {r} {} {}",
                s.writable_need_drain(),
                s.writable_length() > 0
            ));
            let t3 = t2.clone();
            s.on("drain", move |s: &Socket| {
                t3.log(format!(
                    "S drain {} {}",
                    s.writable_length(),
                    s.writable_need_drain()
                ));
                t3.log(format!("S write -> {}", s.write("!")));
                s.end();
            });
            let t3 = t2.clone();
            s.on("finish", move |_: &Socket| t3.log("S finish"));
            let t3 = t2.clone();
            s.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("S close {h}"))
            });
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect_with(port_of(srv), hwm(16384));
            c.pause();
            let t3 = t2.clone();
            c.on("connect", move |c: &Socket| {
                t3.log(format!("C connect {}", c.is_paused()));
                let (t4, c) = (t3.clone(), *c);
                nodenet::set_timeout(
                    move || {
                        t4.log("C resume");
                        c.resume();
                    },
                    200,
                );
            });
            let total = Rc::new(Cell::new(0usize));
            let tot = total.clone();
            c.on("data", move |_: &Socket, d: &Bytes| {
                tot.set(tot.get() + d.len())
            });
            let t3 = t2.clone();
            let sent = sent.clone();
            c.on("end", move |_: &Socket| {
                t3.log(format!("C end {}", total.get() == sent.get() + 1))
            });
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// A false write while connecting, then end(): no 'drain' after end().
#[test]
fn write_false_then_end() {
    check("write_false_then_end", PerActor, |t| {
        let t2 = t.clone();
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                let got = Rc::new(RefCell::new(Vec::new()));
                let g = got.clone();
                s.on("data", move |_: &Socket, d: &Bytes| {
                    g.borrow_mut().extend_from_slice(d)
                });
                let t3 = t2.clone();
                s.on("end", move |_: &Socket| {
                    t3.log(format!("S got {}", qb(&got.borrow())))
                });
                srv.close();
            });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect_with(port_of(srv), hwm(4));
            let t3 = t2.clone();
            c.on("connect", move |_: &Socket| t3.log("C connect"));
            let t3 = t2.clone();
            let r = c.write_cb("hello world", move |_: &Socket, e| {
                t3.log(format!("C write cb {}", cb_result(e)))
            });
            t2.log(format!("C write -> {r} {}", c.writable_need_drain()));
            let t3 = t2.clone();
            c.end_cb(move |_: &Socket, e| t3.log(format!("C end cb {}", cb_result(e))));
            for ev in ["drain", "finish"] {
                let t3 = t2.clone();
                c.on(ev, move |_: &Socket| t3.log(format!("C {ev}")));
            }
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N28: highWaterMark 0: false while connecting, one 'drain', then a
/// connected write the kernel takes whole returns true with no 'drain'.
#[test]
fn high_water_mark_zero() {
    check("high_water_mark_zero", PerActor, |t| {
        let t2 = t.clone();
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                let got = Rc::new(RefCell::new(String::new()));
                let g = got.clone();
                s.set_encoding(Encoding::Utf8);
                s.on("data", move |_: &Socket, d: &str| {
                    g.borrow_mut().push_str(d)
                });
                let t3 = t2.clone();
                s.on("end", move |_: &Socket| {
                    t3.log(format!("S got {}", q(&got.borrow())))
                });
                srv.close();
            });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect_with(port_of(srv), hwm(0));
            let t3 = t2.clone();
            c.on("connect", move |c: &Socket| {
                t3.log(format!(
                    "C connect {} {} {}",
                    c.pending(),
                    c.connecting(),
                    c.ready_state()
                ))
            });
            t2.log(format!(
                "C connecting {} {} {}",
                c.pending(),
                c.connecting(),
                c.ready_state()
            ));
            let t3 = t2.clone();
            let r = c.write_cb("L'État, c'est ", move |c: &Socket, e| {
                t3.log(format!(
                    "C write cb 1 {} {}",
                    cb_result(e),
                    c.bytes_written()
                ))
            });
            t2.log(format!(
                "C write -> {r} {} {}",
                c.bytes_written(),
                c.writable_need_drain()
            ));
            let drains = Rc::new(Cell::new(0));
            let t3 = t2.clone();
            c.on("drain", move |c: &Socket| {
                drains.set(drains.get() + 1);
                t3.log(format!("C drain {}", drains.get()));
                if drains.get() > 1 {
                    return;
                }
                let t4 = t3.clone();
                let r2 = c.write_cb("moi", move |c: &Socket, e| {
                    t4.log(format!(
                        "C write cb 2 {} {}",
                        cb_result(e),
                        c.bytes_written()
                    ));
                    c.end();
                });
                t3.log(format!(
                    "C write -> {r2} {} {}",
                    c.bytes_written(),
                    c.writable_need_drain()
                ));
            });
            let t3 = t2.clone();
            c.on("finish", move |_: &Socket| t3.log("C finish"));
            let t3 = t2.clone();
            c.on("close", move |c: &Socket, h: bool| {
                t3.log(format!("C close {h} {}", c.pending()))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N43: pause()/resume() while connecting; explicitly paused clients get
/// no 'data' even with a 'data' listener.
#[test]
fn pause_resume_connecting() {
    type Mode = fn(&Socket);
    let modes: [Mode; 5] = [
        |c| {
            c.resume();
        },
        |c| {
            c.pause();
            c.resume();
        },
        |c| {
            c.pause();
        },
        |c| {
            c.resume();
            c.pause();
            c.resume();
        },
        |c| {
            c.resume();
            c.resume();
            c.pause();
        },
    ];
    check("pause_resume_connecting", PerActor, move |t| {
        let server = tcp::create_server(ServerOptions::default(), |_: &Server, s: &Socket| {
            s.on("error", |_: &Socket, _: &Error| {});
            s.end_with("line\n");
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let port = port_of(srv);
            let srv = *srv;
            let clients: Rc<RefCell<Vec<Socket>>> = Rc::default();
            let closed = Rc::new(Cell::new(0));
            for (i, mode) in modes.iter().enumerate() {
                let tag = format!("C{}", i + 1);
                let c = connect(port);
                clients.borrow_mut().push(c);
                mode(&c);
                t2.log(format!("{tag} paused {}", c.is_paused()));
                let (t3, tg) = (t2.clone(), tag.clone());
                c.on("data", move |_: &Socket, d: &Bytes| {
                    t3.log(format!("{tg} data {}", qb(d)))
                });
                let (t3, tg) = (t2.clone(), tag.clone());
                c.on("end", move |_: &Socket| t3.log(format!("{tg} end")));
                let (t3, tg) = (t2.clone(), tag.clone());
                let (clients, closed) = (clients.clone(), closed.clone());
                c.on("close", move |_: &Socket, h: bool| {
                    t3.log(format!("{tg} close {h}"));
                    closed.set(closed.get() + 1);
                    if closed.get() == 3 {
                        let (t4, clients) = (t3.clone(), clients.clone());
                        nodenet::set_timeout(
                            move || {
                                for i in [2, 4] {
                                    let p = clients.borrow()[i];
                                    t4.log(format!(
                                        "C{} still paused {} {}",
                                        i + 1,
                                        p.is_paused(),
                                        p.destroyed()
                                    ));
                                    p.destroy();
                                }
                                srv.close();
                            },
                            100,
                        );
                    }
                });
            }
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N47: set_timeout(0) disables the idle timer (and keeps the listener).
#[test]
fn set_timeout_zero() {
    check("set_timeout_zero", Total, |t| {
        let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
            s.on("error", |_: &Socket, _: &Error| {});
            s.write("ping");
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let t3 = t2.clone();
            let c = tcp::connect(port_of(srv), "127.0.0.1", move |c: &Socket| {
                let t4 = t3.clone();
                c.set_timeout_cb(1000, move |_: &Socket| t4.log("C timeout cb"));
                t3.log(format!("C returns itself {}", c.set_timeout(0) == *c));
                t3.log(format!(
                    "C timeout listeners {}",
                    c.listener_count("timeout")
                ));
            })
            .unwrap();
            let t3 = t2.clone();
            c.on("timeout", move |_: &Socket| t3.log("C timeout"));
            let t3 = t2.clone();
            c.on("data", move |c: &Socket, d: &Bytes| {
                t3.log(format!("C data {}", qb(d)));
                let (t4, c) = (t3.clone(), *c);
                nodenet::set_timeout(
                    move || {
                        t4.log("C idle 1500 ms");
                        c.end();
                    },
                    1500,
                );
            });
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N49: reads re-arm the idle timer; one 'timeout' after the last one.
#[test]
fn timeout_rearm() {
    check("timeout_rearm", PerActor, |t| {
        let t2 = t.clone();
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                s.on("error", |_: &Socket, _: &Error| {});
                let i = Rc::new(Cell::new(0));
                let timer: Rc<Cell<Option<nodenet::Timer>>> = Rc::default();
                let (s2, tm) = (*s, timer.clone());
                timer.set(Some(nodenet::set_interval(
                    move || {
                        i.set(i.get() + 1);
                        s2.write(i.get().to_string());
                        if i.get() == 4 {
                            nodenet::clear_interval(tm.get().unwrap());
                        }
                    },
                    300,
                )));
                let t3 = t2.clone();
                s.on("end", move |_: &Socket| t3.log("S end"));
                let t3 = t2.clone();
                s.on("close", move |_: &Socket, h: bool| {
                    t3.log(format!("S close {h}"))
                });
                srv.close();
            });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = tcp::connect(port_of(srv), "127.0.0.1", |c: &Socket| {
                c.set_timeout(1000);
            })
            .unwrap();
            let timeouts = Rc::new(Cell::new(0));
            let t3 = t2.clone();
            c.on("timeout", move |c: &Socket| {
                timeouts.set(timeouts.get() + 1);
                t3.log(format!("C timeout {} {}", timeouts.get(), c.destroyed()));
                c.destroy();
            });
            let t3 = t2.clone();
            c.on("data", move |_: &Socket, d: &Bytes| {
                t3.log(format!("C data {}", qb(d)))
            });
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N58: server.close() with live connections.
#[test]
fn server_close_live() {
    check("server_close_live", PerActor, |t| {
        let accepted: Rc<RefCell<Vec<Socket>>> = Rc::default();
        let port = Rc::new(Cell::new(0u16));
        let (t2, acc, p) = (t.clone(), accepted.clone(), port.clone());
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                let tag = format!("S{}", acc.borrow().len());
                acc.borrow_mut().push(*s);
                let (t3, tg) = (t2.clone(), tag.clone());
                s.on("end", move |_: &Socket| t3.log(format!("S {tg} end")));
                let (t3, tg, acc2) = (t2.clone(), tag.clone(), acc.clone());
                s.on("close", move |_: &Socket, h: bool| {
                    t3.log(format!("S {tg} close {h}"));
                    if tg == "S0" {
                        acc2.borrow()[1].end();
                    }
                });
                if acc.borrow().len() == 1 {
                    let c2 = connect(p.get());
                    trace_all(&t2, "C2", &c2);
                } else {
                    let t3 = t2.clone();
                    let r = srv.close_cb(move |_: &Server, e: Option<&Error>| {
                        t3.log(format!("S close cb {}", e.map_or("none".into(), fmt_err)))
                    });
                    t2.log(format!(
                        "S close returns itself {} {} {}",
                        r == *srv,
                        srv.listening(),
                        srv.address().map_or("null".into(), |a| a.to_string())
                    ));
                    let c3 = connect(p.get());
                    let t3 = t2.clone();
                    c3.on("error", move |_: &Socket, e: &Error| {
                        t3.log(format!("C3 error {}", fmt_err(e)))
                    });
                    let (t3, acc2) = (t2.clone(), acc.clone());
                    c3.on("close", move |_: &Socket, h: bool| {
                        t3.log(format!("C3 close {h}"));
                        acc2.borrow()[0].destroy();
                    });
                }
            });
        let t2 = t.clone();
        server.on("close", move |_: &Server| t2.log("S server close"));
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            port.set(port_of(srv));
            let c1 = connect(port.get());
            trace_all(&t2, "C1", &c1);
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N60: get_connections() answers on a later tick with the live count.
#[test]
fn get_connections() {
    check("get_connections", PerActor, |t| {
        let clients: Rc<RefCell<Vec<Socket>>> = Rc::default();
        let port = Rc::new(Cell::new(0u16));
        let connect_next = {
            let (t, clients, port) = (t.clone(), clients.clone(), port.clone());
            Rc::new(move || {
                let tag = format!("C{}", clients.borrow().len() + 1);
                let c = connect(port.get());
                clients.borrow_mut().push(c);
                let (t2, tg) = (t.clone(), tag.clone());
                c.on("end", move |_: &Socket| t2.log(format!("{tg} end")));
                let t2 = t.clone();
                c.on("close", move |_: &Socket, h: bool| {
                    t2.log(format!("{tag} close {h}"))
                });
            })
        };
        let n = Rc::new(Cell::new(0));
        let (t2, cn, cl) = (t.clone(), connect_next.clone(), clients.clone());
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                n.set(n.get() + 1);
                let k = n.get();
                t2.log(format!("S connection {k}"));
                let sync = Rc::new(Cell::new(true));
                let (t3, sy) = (t2.clone(), sync.clone());
                srv.get_connections(move |_: &Server, count: usize| {
                    t3.log(format!("S count {count} async {} null", !sy.get()))
                });
                sync.set(false);
                let (t3, cl2, srv) = (t2.clone(), cl.clone(), *srv);
                s.on("close", move |_: &Socket, _: bool| {
                    t3.log(format!("S close {k}"));
                    let (t4, cl3) = (t3.clone(), cl2.clone());
                    srv.get_connections(move |srv: &Server, count: usize| {
                        t4.log(format!("S count after close {count}"));
                        if count == 2 {
                            let t5 = t4.clone();
                            srv.close_cb(move |_: &Server, _| t5.log("S server close"));
                            cl3.borrow()[1].end();
                        } else if count == 1 {
                            cl3.borrow()[2].end();
                        }
                    });
                });
                if k < 3 {
                    cn();
                } else {
                    cl.borrow()[0].destroy();
                }
            });
        server.once("listening", move |srv: &Server| {
            port.set(port_of(srv));
            connect_next();
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N61: max_connections 1 and 'drop'.
#[test]
fn max_connections_drop() {
    check("max_connections_drop", PerActor, |t| {
        let t2 = t.clone();
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                t2.log(format!(
                    "S connection {}",
                    srv.max_connections()
                        .map_or("null".into(), |n| n.to_string())
                ));
                s.on("error", |_: &Socket, _: &Error| {});
                s.write("hi");
            });
        server.set_max_connections(Some(1));
        let t2 = t.clone();
        server.on("drop", move |srv: &Server, d: &DropInfo| {
            let local = d.local.expect("the local end of a dropped connection");
            let family = |a: &std::net::SocketAddr| if a.is_ipv4() { "IPv4" } else { "IPv6" };
            t2.log(format!(
                "S drop {} {} {} {} {} number",
                local.ip(),
                family(&local),
                Some(local.port()) == srv.address().map(|a| a.port()),
                d.remote.expect("a TCP peer").ip(),
                family(&d.remote.expect("a TCP peer"))
            ));
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let port = port_of(srv);
            let srv = *srv;
            let c1 = connect(port);
            let t3 = t2.clone();
            c1.on("data", move |c1: &Socket, d: &Bytes| {
                t3.log(format!("C1 data {}", qb(d)));
                let c2 = connect(port);
                trace_all(&t3, "C2", &c2);
                let c1 = *c1;
                c2.on("close", move |_: &Socket, _: bool| {
                    c1.end();
                    srv.close();
                });
            });
            let t3 = t2.clone();
            c1.on("end", move |_: &Socket| t3.log("C1 end"));
            let t3 = t2.clone();
            c1.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C1 close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// Ticks run after each callback from the loop: after 'connect' (before
/// the first 'data') and after each 'data' of a burst.
#[test]
fn ticks_between_callbacks() {
    check("ticks_between_callbacks", PerActor, |t| {
        let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
            s.on("error", |_: &Socket, _: &Error| {});
            s.end_with(vec![b'a'; 1 << 20]);
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let t3 = t2.clone();
            let c = tcp::connect(port_of(srv), "127.0.0.1", move |c: &Socket| {
                t3.log("C connect");
                let t4 = t3.clone();
                nodenet::next_tick(move || t4.log("C tick after connect"));
                let t4 = t3.clone();
                c.write_cb("x", move |_: &Socket, e| {
                    t4.log(format!("C write cb {}", cb_result(e)))
                });
            })
            .unwrap();
            let t3 = t2.clone();
            c.on("ready", move |_: &Socket| t3.log("C ready"));
            let chunks = Rc::new(Cell::new(0));
            let pending = Rc::new(Cell::new(0));
            let overlapped = Rc::new(Cell::new(0));
            let (t3, ch, ov) = (t2.clone(), chunks.clone(), overlapped.clone());
            c.on("data", move |_: &Socket, _: &Bytes| {
                ch.set(ch.get() + 1);
                if ch.get() == 1 {
                    t3.log("C first data");
                }
                if pending.get() > 0 {
                    ov.set(ov.get() + 1);
                }
                pending.set(pending.get() + 1);
                let p = pending.clone();
                nodenet::next_tick(move || p.set(p.get() - 1));
            });
            let t3 = t2.clone();
            c.on("end", move |_: &Socket| {
                t3.log(format!("C end {} {}", chunks.get() > 1, overlapped.get()))
            });
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

fn json_addr(a: Option<std::net::SocketAddr>) -> String {
    match a {
        None => "null".into(),
        Some(a) => format!(
            "{{\"address\":\"{}\",\"family\":\"{}\",\"port\":{}}}",
            a.ip(),
            if a.is_ipv4() { "IPv4" } else { "IPv6" },
            a.port()
        ),
    }
}

/// N54: EADDRINUSE, and the listen callback left over from the failure.
#[test]
fn eaddrinuse() {
    check("eaddrinuse", Total, |t| {
        let s1 = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
        let t2 = t.clone();
        s1.on("close", move |_: &Server| t2.log("S1 close"));
        let t2 = t.clone();
        s1.once("listening", move |s1: &Server| {
            let s1 = *s1;
            let s2 = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
            let t3 = t2.clone();
            s2.on("close", move |_: &Server| t3.log("S2 close"));
            let t3 = t2.clone();
            s2.on("error", move |s2: &Server, e: &Error| {
                t3.log(format!("S2 error {}", fmt_err(e)));
                t3.log(format!(
                    "S2 after error {} {} {}",
                    s2.listening(),
                    json_addr(s2.address()),
                    s2.listener_count("listening")
                ));
                let t4 = t3.clone();
                s2.once("listening", move |s2: &Server| {
                    t4.log(format!(
                        "S2 listening cb2 {} {}",
                        s2.listening(),
                        s2.address().unwrap().port() != s1.address().unwrap().port()
                    ));
                    s2.close();
                    s1.close();
                });
                s2.listen(0, "127.0.0.1").unwrap();
            });
            let t3 = t2.clone();
            s2.once("listening", move |_: &Server| t3.log("S2 listening cb1"));
            s2.listen(port_of(&s1), "127.0.0.1").unwrap();
            t2.log("S2 listen returned");
        });
        s1.listen(0, "127.0.0.1").unwrap();
    });
}

/// N13: ECONNREFUSED on a port nobody listens on.
#[test]
fn econnrefused() {
    check("econnrefused", Total, |t| {
        let server = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let port = port_of(srv);
            let t3 = t2.clone();
            srv.close_cb(move |_: &Server, _| {
                let c = connect(port);
                t3.log(format!(
                    "C connecting {} {}",
                    c.connecting(),
                    c.ready_state()
                ));
                let t4 = t3.clone();
                c.on("connect", move |_: &Socket| t4.log("C connect"));
                let t4 = t3.clone();
                c.on("error", move |c: &Socket, e: &Error| {
                    t4.log(format!(
                        "C error {} {} {}",
                        fmt_err(e),
                        e.address().unwrap_or("-"),
                        e.port() == Some(port)
                    ));
                    t4.log(format!(
                        "C in-error {} {} {}",
                        c.connecting(),
                        c.destroyed(),
                        c.ready_state()
                    ));
                });
                let t4 = t3.clone();
                c.on("close", move |_: &Socket, h: bool| {
                    t4.log(format!("C close {h}"))
                });
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N53: listen(0, '127.0.0.1') and address() before, in 'listening' and
/// after close().
#[test]
fn listen_address() {
    check("listen_address", Total, |t| {
        let server = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
        t.log(format!(
            "S before {} {}",
            json_addr(server.address()),
            server.listening()
        ));
        let t2 = t.clone();
        server.on("listening", move |srv: &Server| {
            let a = srv.address().unwrap();
            t2.log(format!(
                "S listening {} {} {} {}",
                a.ip(),
                if a.is_ipv4() { "IPv4" } else { "IPv6" },
                a.port() > 0,
                srv.listening()
            ));
            t2.log(format!("S close returns itself {}", srv.close() == *srv));
            t2.log(format!(
                "S after close {} {}",
                json_addr(srv.address()),
                srv.listening()
            ));
        });
        let t2 = t.clone();
        server.on("close", move |_: &Server| t2.log("S close"));
        let r = server.listen(0, "127.0.0.1").unwrap();
        t.log(format!("S listen returns itself {}", r == server));
    });
}

/// N59: close() on a server that is not listening, and closing twice.
#[test]
fn server_close_not_running() {
    check("server_close_not_running", Total, |t| {
        let idle = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
        let t2 = t.clone();
        idle.on("close", move |_: &Server| t2.log("S1 close event"));
        let t2 = t.clone();
        idle.close_cb(move |_: &Server, e| {
            t2.log(format!("S1 close cb {}", e.map_or("none".into(), fmt_err)));
            let s2 = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
            let t3 = t2.clone();
            s2.once("listening", move |s2: &Server| {
                let t4 = t3.clone();
                s2.close_cb(move |_: &Server, e| {
                    t4.log(format!(
                        "S2 close cb 1 {}",
                        e.map_or("none".into(), fmt_err)
                    ))
                });
                let t4 = t3.clone();
                s2.close_cb(move |_: &Server, e| {
                    t4.log(format!(
                        "S2 close cb 2 {}",
                        e.map_or("none".into(), fmt_err)
                    ))
                });
            });
            s2.listen(0, "127.0.0.1").unwrap();
            let t3 = t2.clone();
            s2.once("close", move |_: &Server| t3.log("S2 close event"));
        });
        t.log("S1 close returned");
    });
}

/// N72 on a socket: once(), removal and addition during an emit, prepend.
#[test]
fn once_and_removal() {
    check("once_and_removal", Total, |t| {
        let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
            s.on("error", |_: &Socket, _: &Error| {});
            s.write("one");
            s.once("data", |s: &Socket, _: &Bytes| {
                s.end_with("two");
            });
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect(port_of(srv));
            let first = Rc::new(Cell::new(true));
            let l3: Rc<Cell<Option<ListenerId>>> = Rc::default();
            let t3 = t2.clone();
            c.once("data", move |_: &Socket, d: &Bytes| {
                t3.log(format!("C L1 once {}", qb(d)))
            });
            let (t3, f, l3b) = (t2.clone(), first.clone(), l3.clone());
            c.on("data", move |c: &Socket, d: &Bytes| {
                t3.log(format!("C L2 {}", qb(d)));
                if f.get() {
                    c.off("data", l3b.get().unwrap());
                }
            });
            let t3 = t2.clone();
            l3.set(Some(
                c.add_listener("data", move |_: &Socket, d: &Bytes| {
                    t3.log(format!("C L3 {}", qb(d)))
                }),
            ));
            let t3 = t2.clone();
            c.on("data", move |c: &Socket, d: &Bytes| {
                t3.log(format!("C L4 {}", qb(d)));
                if first.get() {
                    let t4 = t3.clone();
                    c.on("data", move |_: &Socket, d: &Bytes| {
                        t4.log(format!("C L5 {}", qb(d)))
                    });
                    first.set(false);
                    t3.log(format!("C count {}", c.listener_count("data")));
                    c.write("ack");
                }
            });
            let t3 = t2.clone();
            c.prepend_listener("data", move |_: &Socket, d: &Bytes| {
                t3.log(format!("C L0 {}", qb(d)))
            });
            let t3 = t2.clone();
            c.on("end", move |c: &Socket| {
                t3.log(format!("C end {}", c.listener_count("data")))
            });
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N09: destroy(err): 'error' on the next tick, then a next_tick queued
/// after the call, a set_immediate, and close(true).
#[test]
fn destroy_error_order() {
    check("destroy_error_order", Total, |t| {
        let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
            s.on("error", |_: &Socket, _: &Error| {});
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let t3 = t2.clone();
            let c = tcp::connect(port_of(srv), "127.0.0.1", move |c: &Socket| {
                let r = c.destroy_with(Error::new(ErrorCode::ECONNABORTED, "boom"));
                t3.log(format!(
                    "C destroyed {} {} {}",
                    r == *c,
                    c.destroyed(),
                    c.ready_state()
                ));
                let t4 = t3.clone();
                nodenet::next_tick(move || t4.log("C nextTick"));
                let t4 = t3.clone();
                nodenet::set_immediate(move || t4.log("C setImmediate"));
                t3.log("C returned");
            })
            .unwrap();
            let t3 = t2.clone();
            c.on("error", move |c: &Socket, e: &Error| {
                let same = c
                    .errored()
                    .is_some_and(|x| x.code() == e.code() && x.message() == e.message());
                t3.log(format!("C error {} {} {same}", fmt_err(e), c.destroyed()))
            });
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// Issue 10, item 7: destroy(err) with writes held by cork(): their
/// callbacks get err itself, then 'error', then close(true).
#[test]
fn destroy_error_corked_writes() {
    check("destroy_error_corked_writes", Total, |t| {
        let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
            s.on("error", |_: &Socket, _: &Error| {});
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let t3 = t2.clone();
            let c = tcp::connect(port_of(srv), "127.0.0.1", move |c: &Socket| {
                c.cork();
                for name in ["x", "y"] {
                    let t4 = t3.clone();
                    c.write_cb(name, move |_: &Socket, e| {
                        t4.log(format!("C cb {name} {}", cb_result(e)))
                    });
                }
                c.destroy_with(Error::new(ErrorCode::ECONNABORTED, "boom"));
                t3.log("C destroyed");
            })
            .unwrap();
            let t3 = t2.clone();
            c.on("error", move |_: &Socket, e: &Error| {
                t3.log(format!("C error {}", fmt_err(e)))
            });
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N67: reset_and_destroy(): the peer gets ECONNRESET, we close(false).
#[test]
fn reset_and_destroy() {
    check("reset_and_destroy", PerActor, |t| {
        one_connection(
            t,
            move |_: &Trace, s: &Socket| {
                s.write("hi");
            },
            move |t2: &Trace, port: u16| {
                let c = connect(port);
                let t3 = t2.clone();
                c.on("data", move |c: &Socket, _: &Bytes| {
                    let r = c.reset_and_destroy();
                    t3.log(format!("C reset {} {}", r == *c, c.destroyed()));
                    let t4 = t3.clone();
                    let w = c.write_cb("x", move |_: &Socket, e| {
                        t4.log(format!("C write cb {}", cb_result(e)))
                    });
                    t3.log(format!("C write -> {w}"));
                });
                trace_all(t2, "C", &c);
            },
        );
    });
}

/// N34: end() while connecting: the FIN waits for the connection.
#[test]
fn end_while_connecting() {
    check("end_while_connecting", PerActor, |t| {
        one_connection(
            t,
            move |_: &Trace, _: &Socket| {},
            move |t2: &Trace, port: u16| {
                let c = connect(port);
                c.resume();
                c.end_with("x");
                t2.log(format!(
                    "C after-end {} {} {} {}",
                    c.ready_state(),
                    c.writable(),
                    c.writable_ended(),
                    c.connecting()
                ));
                trace_all(t2, "C", &c);
            },
        );
    });
}

/// N37: cork()/uncork() while connecting and connected, nested.
#[test]
fn cork_uncork() {
    check("cork_uncork", PerActor, |t| {
        let t2 = t.clone();
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                let got = Rc::new(RefCell::new(String::new()));
                let g = got.clone();
                s.set_encoding(Encoding::Utf8);
                s.on("data", move |_: &Socket, d: &str| {
                    g.borrow_mut().push_str(d)
                });
                let t3 = t2.clone();
                s.on("end", move |s: &Socket| {
                    t3.log(format!("S got {} {}", q(&got.borrow()), s.bytes_read()))
                });
                srv.close();
            });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let t3 = t2.clone();
            let c = tcp::connect(port_of(srv), "127.0.0.1", move |c: &Socket| {
                t3.log(format!(
                    "C connect {} {}",
                    c.bytes_written(),
                    c.writable_corked()
                ));
                c.cork();
                c.cork();
                let t4 = t3.clone();
                c.write_cb("a", move |_: &Socket, _| t4.log("C cb a"));
                let t4 = t3.clone();
                c.write_cb("b", move |_: &Socket, _| t4.log("C cb b"));
                t3.log(format!(
                    "C corked {} {}",
                    c.writable_corked(),
                    c.writable_length()
                ));
                c.uncork();
                t3.log(format!(
                    "C uncorked once {} {}",
                    c.writable_corked(),
                    c.writable_length()
                ));
                c.uncork();
                t3.log(format!(
                    "C uncorked twice {} {}",
                    c.writable_corked(),
                    c.bytes_written()
                ));
                let t4 = t3.clone();
                c.end_cb(move |c: &Socket, _| t4.log(format!("C end cb {}", c.bytes_written())));
            })
            .unwrap();
            c.cork();
            c.write("one");
            c.write("twø".as_bytes());
            c.uncork();
            t2.log(format!(
                "C while connecting {} {}",
                c.bytes_written(),
                c.writable_corked()
            ));
            let t3 = t2.clone();
            c.on("finish", move |_: &Socket| t3.log("C finish"));
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N38: destroy_soon() after a 1 MB write.
#[test]
fn destroy_soon() {
    const SIZE: usize = 1_000_000;
    check("destroy_soon", PerActor, |t| {
        let t2 = t.clone();
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                let total = Rc::new(Cell::new(0usize));
                let tot = total.clone();
                s.on("data", move |_: &Socket, d: &Bytes| {
                    tot.set(tot.get() + d.len())
                });
                let t3 = t2.clone();
                s.on("end", move |_: &Socket| {
                    t3.log(format!("S end {}", total.get()))
                });
                let t3 = t2.clone();
                s.on("close", move |_: &Socket, h: bool| {
                    t3.log(format!("S close {h}"))
                });
                srv.close();
            });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let t3 = t2.clone();
            let c = tcp::connect(port_of(srv), "127.0.0.1", move |c: &Socket| {
                let t4 = t3.clone();
                c.write_cb(vec![b'z'; SIZE], move |_: &Socket, _| t4.log("C write cb"));
                c.destroy_soon();
                t3.log(format!(
                    "C after destroySoon {} {}",
                    c.writable_ended(),
                    c.destroyed()
                ));
            })
            .unwrap();
            let t3 = t2.clone();
            c.on("finish", move |c: &Socket| {
                t3.log(format!("C finish {}", c.destroyed()))
            });
            let t3 = t2.clone();
            c.on("close", move |c: &Socket, h: bool| {
                t3.log(format!("C close {h} {}", c.destroyed()))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N46: set_encoding(utf8) keeps a character split across reads whole.
#[test]
fn set_encoding_split() {
    check("set_encoding_split", Total, |t| {
        let bytes = Bytes::from("あいう");
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                s.on("error", |_: &Socket, _: &Error| {});
                s.write(bytes.slice(..4));
                let rest = bytes.slice(4..);
                s.once("data", move |s: &Socket, _: &Bytes| {
                    s.end_with(rest.clone());
                });
                srv.close();
            });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect(port_of(srv));
            c.set_encoding(Encoding::Utf8);
            let t3 = t2.clone();
            c.on("data", move |c: &Socket, d: &str| {
                t3.log(format!(
                    "C data {} string {}",
                    q(d),
                    d.encode_utf16().count()
                ));
                if d == "あ" {
                    c.write("ack");
                }
            });
            let t3 = t2.clone();
            c.on("end", move |c: &Socket| {
                t3.log(format!("C end {}", c.bytes_read()))
            });
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

fn flowing(f: Option<bool>) -> String {
    f.map_or("null".into(), |b| b.to_string())
}

/// N45: pause_on_connect: nothing is read until resume().
#[test]
fn pause_on_connect() {
    check("pause_on_connect", PerActor, |t| {
        let t2 = t.clone();
        let options = ServerOptions {
            pause_on_connect: true,
            ..Default::default()
        };
        let server = tcp::create_server(options, move |srv: &Server, s: &Socket| {
            t2.log(format!(
                "S connection {} {}",
                s.is_paused(),
                flowing(s.readable_flowing())
            ));
            let t3 = t2.clone();
            s.on("data", move |_: &Socket, d: &Bytes| {
                t3.log(format!("S data {}", qb(d)))
            });
            t2.log(format!(
                "S after data listener {} {}",
                s.is_paused(),
                flowing(s.readable_flowing())
            ));
            let t3 = t2.clone();
            s.on("end", move |_: &Socket| t3.log("S end"));
            let t3 = t2.clone();
            s.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("S close {h}"))
            });
            let (t3, s) = (t2.clone(), *s);
            nodenet::set_timeout(
                move || {
                    t3.log(format!(
                        "S before resume {} {}",
                        s.bytes_read(),
                        s.readable_length()
                    ));
                    s.resume();
                },
                200,
            );
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = tcp::connect(port_of(srv), "127.0.0.1", |c: &Socket| {
                c.end_with("test");
            })
            .unwrap();
            let t3 = t2.clone();
            c.on("end", move |_: &Socket| t3.log("C end"));
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N39/N40: bytes_read and bytes_written at every step, and in 'close'.
#[test]
fn bytes_counters() {
    check("bytes_counters", PerActor, |t| {
        let t2 = t.clone();
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                s.write("hello");
                t2.log(format!("S after write {}", s.bytes_written()));
                s.end_with("world!");
                t2.log(format!("S after end {}", s.bytes_written()));
                s.on("data", |_: &Socket, _: &Bytes| {});
                let t3 = t2.clone();
                s.on("end", move |s: &Socket| {
                    t3.log(format!("S end {} {}", s.bytes_read(), s.bytes_written()))
                });
                let t3 = t2.clone();
                s.on("close", move |s: &Socket, _: bool| {
                    t3.log(format!("S close {} {}", s.bytes_read(), s.bytes_written()))
                });
                srv.close();
            });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect(port_of(srv));
            t2.log(format!(
                "C before connect {} {}",
                c.bytes_read(),
                c.bytes_written()
            ));
            c.write("abc");
            t2.log(format!("C after write {}", c.bytes_written()));
            let total = Rc::new(Cell::new(0usize));
            let tot = total.clone();
            c.on("data", move |_: &Socket, d: &Bytes| {
                tot.set(tot.get() + d.len())
            });
            let t3 = t2.clone();
            c.on("end", move |c: &Socket| {
                t3.log(format!(
                    "C end {} {} {}",
                    total.get(),
                    c.bytes_read(),
                    c.bytes_written()
                ))
            });
            let t3 = t2.clone();
            c.on("close", move |c: &Socket, _: bool| {
                t3.log(format!("C close {} {}", c.bytes_read(), c.bytes_written()))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

fn st(s: &Socket) -> String {
    format!("{} {} {}", s.ready_state(), s.pending(), s.connecting())
}

/// N65: ready_state, pending and connecting through a half-open lifecycle.
#[test]
fn ready_state() {
    check("ready_state", PerActor, |t| {
        let fresh = Socket::new(SocketOptions::default());
        t.log(format!("F fresh {}", st(&fresh)));
        fresh.destroy();
        let t2 = t.clone();
        let options = ServerOptions {
            socket: SocketOptions {
                allow_half_open: true,
                ..SocketOptions::default()
            },
            ..Default::default()
        };
        let server = tcp::create_server(options, move |srv: &Server, s: &Socket| {
            t2.log(format!("S connection {}", st(s)));
            let t3 = t2.clone();
            s.on("end", move |s: &Socket| {
                t3.log(format!("S in-end {}", st(s)));
                s.end();
                t3.log(format!("S after-end {}", st(s)));
            });
            let t3 = t2.clone();
            s.on("close", move |s: &Socket, _: bool| {
                t3.log(format!("S close {}", st(s)))
            });
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = Socket::new(SocketOptions {
                allow_half_open: true,
                ..Default::default()
            });
            c.connect(port_of(srv), "127.0.0.1").unwrap();
            t2.log(format!("C after connect() {}", st(&c)));
            let t3 = t2.clone();
            c.on("connect", move |c: &Socket| {
                t3.log(format!("C connect {}", st(c)));
                c.end();
                t3.log(format!("C after-end {}", st(c)));
            });
            c.on("data", |_: &Socket, _: &Bytes| {});
            let t3 = t2.clone();
            c.on("end", move |c: &Socket| t3.log(format!("C end {}", st(c))));
            let t3 = t2.clone();
            c.on("close", move |c: &Socket, _: bool| {
                t3.log(format!("C close {}", st(c)))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N07: destroy() right after connect(), with a write queued.
#[test]
fn destroy_while_connecting() {
    check("destroy_while_connecting", Total, |t| {
        let server = tcp::create_server(ServerOptions::default(), |_: &Server, _: &Socket| {});
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect(port_of(srv));
            let t3 = t2.clone();
            c.write_cb("queued", move |_: &Socket, e| {
                t3.log(format!("C write cb {}", cb_result(e)))
            });
            let r = c.destroy();
            t2.log(format!(
                "C destroyed {} {} {}",
                r == c,
                c.destroyed(),
                c.connecting()
            ));
            let t3 = t2.clone();
            c.on("connect", move |_: &Socket| t3.log("C connect"));
            let t3 = t2.clone();
            c.on("error", move |_: &Socket, e: &Error| {
                t3.log(format!("C error {}", fmt_err(e)))
            });
            let (t3, srv) = (t2.clone(), *srv);
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"));
                srv.close();
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N10: destroy() twice, then a write: ERR_STREAM_DESTROYED to its
/// callback, no 'error'.
#[test]
fn write_after_destroy() {
    check("write_after_destroy", PerActor, |t| {
        one_connection(
            t,
            move |_: &Trace, _: &Socket| {},
            move |t2: &Trace, port: u16| {
                let t3 = t2.clone();
                let c = tcp::connect(port, "127.0.0.1", move |c: &Socket| {
                    t3.log(format!("C destroy twice {}", c.destroy().destroy() == *c));
                    let t4 = t3.clone();
                    let r = c.write_cb("x", move |_: &Socket, e| {
                        t4.log(format!("C write cb {}", cb_result(e)))
                    });
                    t3.log(format!("C write -> {r}"));
                })
                .unwrap();
                trace_all(t2, "C", &c);
            },
        );
    });
}

/// N08: sockets that never connected: destroy(), and a write.
#[test]
fn never_connected() {
    check("never_connected", Total, |t| {
        let a = Socket::new(SocketOptions::default());
        let t2 = t.clone();
        a.on("close", move |_: &Socket, h: bool| {
            t2.log(format!("A close {h}"))
        });
        let r = a.destroy();
        t.log(format!(
            "A destroy returns itself {} {}",
            r == a,
            a.destroyed()
        ));
        let b = Socket::new(SocketOptions::default());
        let t2 = t.clone();
        b.on("error", move |_: &Socket, e: &Error| {
            t2.log(format!("B error {}", fmt_err(e)))
        });
        let t2 = t.clone();
        b.on("close", move |_: &Socket, h: bool| {
            t2.log(format!("B close {h}"))
        });
        let t2 = t.clone();
        let w = b.write_cb("x", move |_: &Socket, e| {
            t2.log(format!("B write cb {}", cb_result(e)))
        });
        t.log(format!("B write -> {w} {}", b.destroyed()));
        t.log("sync done");
    });
}

/// N05: flowing with no 'data' listener drops data.
#[test]
fn flowing_drops_data() {
    check("flowing_drops_data", PerActor, |t| {
        let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
            s.on("error", |_: &Socket, _: &Error| {});
            s.write("early");
            s.once("data", |s: &Socket, _: &Bytes| {
                s.end_with("late");
            });
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect(port_of(srv));
            c.resume();
            let timer: Rc<Cell<Option<nodenet::Timer>>> = Rc::default();
            let (t3, tm) = (t2.clone(), timer.clone());
            timer.set(Some(nodenet::set_interval(
                move || {
                    if c.bytes_read() < 5 {
                        return;
                    }
                    nodenet::clear_interval(tm.get().unwrap());
                    t3.log(format!(
                        "C read without listener {} {}",
                        c.bytes_read(),
                        c.readable_length()
                    ));
                    let t4 = t3.clone();
                    c.on("data", move |_: &Socket, d: &Bytes| {
                        t4.log(format!("C data {}", qb(d)))
                    });
                    c.write("go");
                },
                10,
            )));
            let t3 = t2.clone();
            c.on("end", move |c: &Socket| {
                t3.log(format!("C end {}", c.bytes_read()))
            });
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N03: 'end' waits until the buffered data is consumed.
#[test]
fn end_needs_consumer() {
    check("end_needs_consumer", PerActor, |t| {
        let server = tcp::create_server(ServerOptions::default(), |srv: &Server, s: &Socket| {
            s.on("error", |_: &Socket, _: &Error| {});
            s.end_with("hello");
            srv.close();
        });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = connect(port_of(srv));
            let t3 = t2.clone();
            c.on("end", move |_: &Socket| t3.log("C end"));
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
            let timer: Rc<Cell<Option<nodenet::Timer>>> = Rc::default();
            let (t3, tm) = (t2.clone(), timer.clone());
            timer.set(Some(nodenet::set_interval(
                move || {
                    if c.readable_length() < 5 {
                        return;
                    }
                    nodenet::clear_interval(tm.get().unwrap());
                    let t4 = t3.clone();
                    nodenet::set_timeout(
                        move || {
                            t4.log(format!(
                                "C buffered {} {} {} {} {}",
                                c.readable_length(),
                                c.bytes_read(),
                                c.readable_ended(),
                                c.destroyed(),
                                c.ready_state()
                            ));
                            let t5 = t4.clone();
                            c.on("data", move |_: &Socket, d: &Bytes| {
                                t5.log(format!("C data {}", qb(d)))
                            });
                        },
                        100,
                    );
                },
                10,
            )));
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

fn family(a: Option<std::net::SocketAddr>) -> String {
    match a {
        None => "undefined".into(),
        Some(a) if a.is_ipv4() => "IPv4".into(),
        Some(_) => "IPv6".into(),
    }
}

fn undef<T: ToString>(v: Option<T>) -> String {
    v.map_or("undefined".into(), |v| v.to_string())
}

/// N64: remote and local addresses, while connecting, connected, closed.
#[test]
fn addresses() {
    check("addresses", PerActor, |t| {
        let client_local_port = Rc::new(Cell::new(0u16));
        let port = Rc::new(Cell::new(0u16));
        let (t2, clp, p) = (t.clone(), client_local_port.clone(), port.clone());
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                t2.log(format!(
                    "S connection {} {} {} {} {} number {}",
                    undef(s.remote_address()),
                    family(s.peer_addr()),
                    undef(s.local_address()),
                    family(s.address()),
                    s.local_port() == Some(p.get()),
                    s.server() == Some(*srv)
                ));
                let (t3, clp) = (t2.clone(), clp.clone());
                s.on("close", move |s: &Socket, _: bool| {
                    t3.log(format!(
                        "S close {} {}",
                        undef(s.remote_address()),
                        s.remote_port() == Some(clp.get())
                    ))
                });
                s.end();
                srv.close();
            });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            port.set(port_of(srv));
            let c = connect(port.get());
            t2.log(format!(
                "C connecting {} {} {} {}",
                undef(c.remote_address()),
                undef(c.remote_port()),
                undef(c.local_address()),
                undef(c.local_port())
            ));
            let (t3, p, clp) = (t2.clone(), port.clone(), client_local_port.clone());
            c.on("connect", move |c: &Socket| {
                clp.set(c.local_port().unwrap());
                t3.log(format!(
                    "C connect {} {} {} {} {} number {}",
                    undef(c.remote_address()),
                    family(c.peer_addr()),
                    c.remote_port() == Some(p.get()),
                    undef(c.local_address()),
                    family(c.address()),
                    c.address().map(|a| a.port()) == c.local_port()
                ))
            });
            c.resume();
            let (t3, p) = (t2.clone(), port.clone());
            c.on("close", move |c: &Socket, _: bool| {
                t3.log(format!(
                    "C close {} {}",
                    undef(c.remote_address()),
                    c.remote_port() == Some(p.get())
                ))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// N48: an idle timeout only notifies, once per idle period.
#[test]
fn timeout_once_per_idle() {
    check("timeout_once_per_idle", PerActor, |t| {
        let t2 = t.clone();
        let server =
            tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
                s.on("error", |_: &Socket, _: &Error| {});
                let t3 = t2.clone();
                s.on("data", move |_: &Socket, d: &Bytes| {
                    t3.log(format!("S data {}", qb(d)))
                });
                let t3 = t2.clone();
                s.on("end", move |_: &Socket| t3.log("S end"));
                srv.close();
            });
        let t2 = t.clone();
        server.once("listening", move |srv: &Server| {
            let c = tcp::connect(port_of(srv), "127.0.0.1", |c: &Socket| {
                c.set_timeout(1000);
            })
            .unwrap();
            let n = Rc::new(Cell::new(0));
            let t3 = t2.clone();
            c.on("timeout", move |c: &Socket| {
                n.set(n.get() + 1);
                t3.log(format!(
                    "C timeout {} {} {}",
                    n.get(),
                    c.destroyed(),
                    c.ready_state()
                ));
                if n.get() == 1 {
                    c.write("still here");
                } else {
                    c.end();
                }
            });
            let t3 = t2.clone();
            c.on("close", move |_: &Socket, h: bool| {
                t3.log(format!("C close {h}"))
            });
        });
        server.listen(0, "127.0.0.1").unwrap();
    });
}

/// A socket path in the temp directory, unique to this process and tag.
fn pipe_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("nodenet-trace-{tag}-{}.sock", std::process::id()))
}

/// P01 over a Unix socket path: TCP's lifecycle, no addresses.
#[test]
fn pipe_lifecycle() {
    check("pipe_lifecycle", PerActor, |t| {
        let path = pipe_path("pipe");
        let t2 = t.clone();
        let server = tcp::create_server(ServerOptions::default(), move |srv, s| {
            trace_all(&t2, "S", s);
            t2.log(format!(
                "S remote {}",
                s.remote_address()
                    .map_or("-".to_string(), |a| a.to_string())
            ));
            s.end_with("hello");
            srv.close();
        });
        let t2 = t.clone();
        server.on_close(move |_| t2.log("SRV close"));
        let t2 = t.clone();
        let p = path.clone();
        server.once_listening(move |_| {
            t2.log("SRV listening");
            let c = Socket::new(SocketOptions::default());
            trace_all(&t2, "C", &c);
            let t3 = t2.clone();
            c.on_connect(move |c| {
                t3.log(format!(
                    "C remote {}",
                    c.remote_port().map_or("-".to_string(), |p| p.to_string())
                ))
            });
            c.connect_path(&p).unwrap();
        });
        server.listen_path(&path).unwrap();
    });
}

/// Connecting to a missing path and to a file nobody listens on.
#[test]
fn pipe_connect_errors() {
    check("pipe_connect_errors", PerActor, |t| {
        let missing = pipe_path("missing");
        let file = std::env::temp_dir().join(format!("nodenet-trace-file-{}", std::process::id()));
        std::fs::write(&file, b"x").unwrap();
        for (tag, path) in [("M", missing), ("F", file)] {
            let c = Socket::new(SocketOptions::default());
            let (t2, t3, t4) = (t.clone(), t.clone(), t.clone());
            let shown = path.to_string_lossy().into_owned();
            c.on_connect(move |_| t2.log(format!("{tag} connect")));
            c.on_error(move |_, e| {
                t3.log(format!(
                    "{tag} error {} {} {} {}",
                    e.code(),
                    e.syscall().unwrap_or("-"),
                    e.errno().map_or("-".to_string(), |n| n.to_string()),
                    q(&e.message().replace(&shown, "PATH"))
                ))
            });
            let p = path.clone();
            c.on_close(move |_, had_error| {
                t4.log(format!("{tag} close {had_error}"));
                if tag == "F" {
                    let _ = std::fs::remove_file(&p);
                }
            });
            c.connect_path(&path).unwrap();
        }
    });
}
