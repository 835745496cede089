//! TLS over the same Socket: nodenet as client and server, with Node's
//! `tls` as the peer, and the cases of `tls-behaviours.md`.
#![cfg(feature = "tls")]

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use nodenet::tls::{self, SecureContextOptions, TlsVersion};
use nodenet::{Bytes, Socket};
use util::certs::{certs, Pair};
use util::{listen_local, run_bounded, Trace, LIMIT};

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

// ---------------------------------------------------------------- Node peers

/// Runs a Node script (with `CERTS` set to the fixture directory) on a
/// thread; its stdout comes back when it exits.
fn node_script(script: &str) -> util::Waking<String> {
    let node = util::node();
    let dir = certs().dir.to_string_lossy().into_owned();
    let script = format!("const fs=require('fs'),tls=require('tls'),net=require('net');const D=process.env.CERTS;const rd=n=>fs.readFileSync(D+'/'+n);setTimeout(()=>{{console.log('TIMEOUT');process.exit(3)}},8000).unref();\n{script}");
    util::spawn_waking(move || {
        let out = std::process::Command::new(node)
            .arg("-e")
            .arg(&script)
            .env("CERTS", dir)
            .output()
            .expect("run node");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "node failed: {stdout}\n{stderr}");
        stdout
    })
}

/// A Node process that prints its port first and runs until killed.
struct NodeServer {
    child: std::process::Child,
    port: u16,
    out: std::thread::JoinHandle<String>,
}

impl NodeServer {
    fn start(script: &str) -> NodeServer {
        use std::io::{BufRead, Read};
        let node = util::node();
        let script = format!("const fs=require('fs'),tls=require('tls'),net=require('net');const D=process.env.CERTS;const rd=n=>fs.readFileSync(D+'/'+n);const log=(...a)=>console.log(a.join(' '));setTimeout(()=>process.exit(3),15000).unref();\n{script}");
        let mut child = std::process::Command::new(node)
            .arg("-e")
            .arg(&script)
            .env("CERTS", &certs().dir)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn node");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let port = first.trim().parse().expect("node printed its port");
        let out = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            rest
        });
        NodeServer { child, port, out }
    }

    /// Stops the server and returns what it printed after its port.
    fn finish(mut self) -> String {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.out, std::thread::spawn(String::new))
            .join()
            .unwrap()
    }
}

fn trace_tls(s: &Socket, t: &Trace, tag: &str) {
    util::trace_socket(s, t, tag);
    let (t2, tag2) = (t.clone(), tag.to_string());
    s.on_secure_connect(move |s| {
        t2.log(format!(
            "{tag2}:secureConnect:{}:{:?}",
            s.authorized(),
            s.authorization_error().map(|e| e.code().to_string())
        ))
    });
}

/// T01, nodenet server: a Node client sees Node's order and our server
/// socket reports Node's properties in 'secureConnection'.
#[test]
fn t01_node_client_to_nodenet_server() {
    for max in ["TLSv1.3", "TLSv1.2"] {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s2 = seen.clone();
        let server = tls::create_server(server_options(&certs().server), move |_, s| {
            s2.borrow_mut().push(format!(
                "secureConnection authorized={} err={:?} sni={:?} alpn={:?} encrypted={} proto={:?}",
                s.authorized(),
                s.authorization_error().map(|e| e.code().to_string()),
                s.servername(),
                s.alpn_protocol(),
                s.encrypted(),
                s.get_protocol().map(|v| v.to_string()),
            ));
            s.end_with("hello");
        })
        .unwrap();
        let port = listen_local(server);
        let client = node_script(&format!(
            "const ev=[];const c=tls.connect({{port:{port},host:'127.0.0.1',ca:rd('ca.pem'),maxVersion:'{max}'}});\
             ['connect','ready','end','finish'].forEach(e=>c.on(e,()=>ev.push(e)));\
             c.on('secureConnect',()=>ev.push('secureConnect:'+c.authorized+':'+c.getProtocol()+':'+c.alpnProtocol+':'+c.servername));\
             c.on('data',d=>ev.push('data:'+d));c.on('error',e=>ev.push('error:'+e.code));\
             c.on('close',h=>{{ev.push('close:'+h);console.log(ev.join(' '))}});"
        ));
        util::run_until(LIMIT, || client.is_done());
        server.close();
        let out = client.join();
        assert_eq!(
            out.trim(),
            format!("connect ready secureConnect:true:{max}:false:false data:hello end finish close:false")
        );
        assert_eq!(
            seen.borrow()[..],
            [format!("secureConnection authorized=false err=None sni=None alpn=None encrypted=true proto=Some(\"{max}\")")]
        );
    }
}

/// T01, nodenet client against Node's tls server: connect, ready,
/// secureConnect, data, end, finish, close(false).
#[test]
fn t01_nodenet_client_to_node_server() {
    let node = NodeServer::start(
        "const s=tls.createServer({key:rd('server.key'),cert:rd('server.pem')},c=>{log('secureConnection',c.servername);c.end('hello')});\
         s.on('tlsClientError',e=>log('tlsClientError',e.code));s.listen(0,'127.0.0.1',()=>console.log(s.address().port));",
    );
    let t = Trace::new();
    let client = tls::connect(trust_ca(node.port), |_| {}).unwrap();
    trace_tls(&client, &t, "c");
    run_bounded(LIMIT);
    let out = node.finish();
    assert_eq!(
        t.entries(),
        [
            "c:connect",
            "c:ready",
            "c:secureConnect:true:None",
            "c:data:hello",
            "c:end",
            "c:finish",
            "c:close:false"
        ]
    );
    assert!(out.contains("secureConnection false"), "{out}");
}

/// T02 and T03: a self-signed server certificate.
#[test]
fn t02_t03_self_signed_server() {
    let node = NodeServer::start(
        "const s=tls.createServer({key:rd('self.key'),cert:rd('self.pem')},c=>{log('secureConnection');c.end('hi')});\
         s.on('tlsClientError',e=>log('tlsClientError',e.code,e.message));s.listen(0,'127.0.0.1',()=>console.log(s.address().port));",
    );
    // T02: rejected by default (no ca: the system store).
    let t = Trace::new();
    let c = tls::connect(tls::ConnectOptions::new(node.port, "localhost"), |_| {}).unwrap();
    trace_tls(&c, &t, "c");
    let err = Rc::new(RefCell::new(None));
    let e2 = err.clone();
    c.on_error(move |s, e| {
        *e2.borrow_mut() = Some((e.clone(), s.destroyed()));
    });
    run_bounded(LIMIT);
    assert_eq!(
        t.entries(),
        [
            "c:connect",
            "c:ready",
            "c:error:DEPTH_ZERO_SELF_SIGNED_CERT",
            "c:close:true"
        ]
    );
    let (e, destroyed) = err.borrow().clone().unwrap();
    assert_eq!(e.message(), "self-signed certificate");
    assert!(destroyed);
    // T03 (a): accepted with reject_unauthorized(false), verdict reported.
    let t = Trace::new();
    let c = tls::connect(
        tls::ConnectOptions::new(node.port, "localhost").reject_unauthorized(false),
        |s| {
            s.resume();
        },
    )
    .unwrap();
    trace_tls(&c, &t, "c");
    run_bounded(LIMIT);
    assert!(
        t.contains("c:secureConnect:false:Some(\"DEPTH_ZERO_SELF_SIGNED_CERT\")"),
        "{:?}",
        t.entries()
    );
    assert!(t.contains("c:close:false"), "{:?}", t.entries());
    // T03 (b): trusted through ca.
    let t = Trace::new();
    let c = tls::connect(
        tls::ConnectOptions::new(node.port, "localhost").ca(certs().self_signed.cert.clone()),
        |_| {},
    )
    .unwrap();
    trace_tls(&c, &t, "c");
    run_bounded(LIMIT);
    assert!(t.contains("c:secureConnect:true:None"), "{:?}", t.entries());
    let out = node.finish();
    // Under TLS 1.3 the rejecting client hangs up before its Finished.
    assert!(out.starts_with("tlsClientError ECONNRESET"), "{out}");
}

/// T12: plaintext sent to a TLS server: 'tlsClientError' with OpenSSL's
/// code, the socket already destroyed, and nothing sent back.
#[test]
fn t12_plaintext_client_to_tls_server() {
    for (junk, code) in [
        (&b"blah\nblah\nblah\n"[..], "ERR_SSL_WRONG_VERSION_NUMBER"),
        (
            &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            "ERR_SSL_HTTP_REQUEST",
        ),
        (&[0x2a; 1024][..], "ERR_SSL_WRONG_VERSION_NUMBER"),
    ] {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s2 = seen.clone();
        let server = tls::create_server(server_options(&certs().server), |_, _| {
            panic!("no secureConnection")
        })
        .unwrap();
        server.on_tls_client_error(move |_, e, s| {
            s2.borrow_mut()
                .push(format!("{} {}", e.code(), s.destroyed()))
        });
        let port = listen_local(server);
        let junk = junk.to_vec();
        let client = util::spawn_waking(move || {
            use std::io::{Read, Write};
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(&junk).unwrap();
            let mut got = Vec::new();
            let _ = c.read_to_end(&mut got);
            got
        });
        util::run_until(LIMIT, || client.is_done());
        server.close();
        assert_eq!(client.join(), b"", "the plaintext client gets no bytes");
        assert_eq!(seen.borrow()[..], [format!("{code} true")]);
    }
}

/// T13: a TLS client whose server closes without TLS.
#[test]
fn t13_tls_client_to_plain_server_that_closes() {
    let server = nodenet::tcp::create_server(Default::default(), |_, s| {
        s.end();
    });
    let port = listen_local(server);
    let t = Trace::new();
    let c = tls::connect(trust_ca(port), |_| {}).unwrap();
    trace_tls(&c, &t, "c");
    let msg = Rc::new(RefCell::new(String::new()));
    let m2 = msg.clone();
    c.on_error(move |_, e| *m2.borrow_mut() = e.message().to_string());
    c.on_close(move |_, _| {
        server.close();
    });
    run_bounded(LIMIT);
    assert_eq!(
        t.entries(),
        [
            "c:connect",
            "c:ready",
            "c:end",
            "c:error:ECONNRESET",
            "c:close:true"
        ]
    );
    assert_eq!(
        *msg.borrow(),
        "Client network socket disconnected before secure TLS connection was established"
    );
}

/// T14, deliberately as Node's documentation has it: a silent client is
/// reported and disconnected at the handshake timeout.
#[test]
fn t14_handshake_timeout_reports_and_closes() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = seen.clone();
    let server = tls::create_server(
        server_options(&certs().server).handshake_timeout(200u64),
        |_, _| panic!("no secureConnection"),
    )
    .unwrap();
    server.on_tls_client_error(move |_, e, s| {
        s2.borrow_mut()
            .push(format!("{} {} {}", e.code(), e.message(), s.destroyed()))
    });
    let port = listen_local(server);
    let client = util::spawn_waking(move || {
        use std::io::Read;
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).map(|_| got.len())
    });
    util::run_until(LIMIT, || client.is_done());
    server.close();
    assert_eq!(client.join().unwrap(), 0, "closed by the server, no bytes");
    assert_eq!(
        seen.borrow()[..],
        ["ERR_TLS_HANDSHAKE_TIMEOUT TLS handshake timeout true"]
    );
}

/// T15: writes made before 'secureConnect' are queued in order, and
/// writable_length counts them until the handshake is done.
#[test]
fn t15_writes_before_secure_connect_are_queued() {
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    let server = tls::create_server(server_options(&certs().server), move |_, s| {
        let g = g.clone();
        s.on_data(move |_, d| g.borrow_mut().extend_from_slice(d));
    })
    .unwrap();
    let port = listen_local(server);
    let t = Trace::new();
    let c = tls::connect(trust_ca(port), |_| {}).unwrap();
    let t2 = t.clone();
    assert!(c.write_cb("a", move |_, e| t2
        .log(format!("a:{:?}", e.map(|e| e.code())))));
    assert_eq!(c.writable_length(), 1);
    let t2 = t.clone();
    c.on_connect(move |s| {
        let t3 = t2.clone();
        s.write_cb("b", move |_, e| {
            t3.log(format!("b:{:?}", e.map(|e| e.code())))
        });
        t2.log(format!("connect:{}", s.writable_length()));
    });
    let t2 = t.clone();
    c.on_secure_connect(move |s| {
        t2.log(format!("secureConnect:{}", s.writable_length()));
        let t3 = t2.clone();
        s.write_cb("c", move |_, e| {
            t3.log(format!("c:{:?}", e.map(|e| e.code())))
        });
        s.write("d");
        let t3 = t2.clone();
        s.end_cb(move |_, _| t3.log("end"));
    });
    c.on_close(move |_, _| {
        server.close();
    });
    run_bounded(LIMIT);
    assert_eq!(&got.borrow()[..], b"abcd");
    assert_eq!(
        t.entries(),
        [
            "connect:2",
            "secureConnect:2",
            "a:None",
            "b:None",
            "c:None",
            "end"
        ]
    );
}

/// T16: `end()` with the default allow_half_open(false), both versions.
#[test]
fn t16_end_over_tls_default_half_close() {
    for max in [TlsVersion::Tls1_3, TlsVersion::Tls1_2] {
        let t = Trace::new();
        let t2 = t.clone();
        let mut opts = server_options(&certs().server);
        opts.context.max_version = Some(max);
        let server = tls::create_server(opts, move |_, s| {
            util::trace_socket(s, &t2, "S");
            let t3 = t2.clone();
            s.on_end(move |s| t3.log(format!("S:in-end:{}:{}", s.writable(), s.ready_state())));
        })
        .unwrap();
        let port = listen_local(server);
        let c = tls::connect(trust_ca(port), |s| {
            s.end_with("bye");
        })
        .unwrap();
        util::trace_socket(&c, &t, "C");
        c.on_close(move |_, _| {
            server.close();
        });
        run_bounded(LIMIT);
        let e = t.entries();
        let pos = |x: &str| {
            e.iter()
                .position(|y| y == x)
                .unwrap_or_else(|| panic!("{x} in {e:?}"))
        };
        assert!(pos("S:data:bye") < pos("S:end"), "{e:?}");
        assert!(pos("S:in-end:true:writeOnly") > 0);
        assert!(pos("S:finish") < pos("S:close:false"), "{e:?}");
        assert!(
            pos("C:finish") < pos("C:end") && pos("C:end") < pos("C:close:false"),
            "{e:?}"
        );
    }
}

/// T10: request_cert with reject_unauthorized(false) accepts everyone and
/// reports the verdict; with reject_unauthorized(true) a client without a
/// certificate fails the handshake.
#[test]
fn t10_client_certificates() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = seen.clone();
    let mut opts = server_options(&certs().server).request_cert(true, false);
    opts.context.ca = Some(certs().ca.clone().into_bytes());
    let server = tls::create_server(opts, move |_, s| {
        s2.borrow_mut().push(format!(
            "{}:{:?}:{:?}",
            s.authorized(),
            s.authorization_error().map(|e| e.code().to_string()),
            s.get_peer_certificate()
                .and_then(|c| c.subject.get("CN").map(str::to_owned))
        ));
        s.end();
    })
    .unwrap();
    let port = listen_local(server);
    let clients = [None, Some(&certs().client), Some(&certs().bad_client)];
    let left = Rc::new(std::cell::Cell::new(clients.len()));
    for pair in clients {
        let mut o = trust_ca(port);
        if let Some(p) = pair {
            o.context = o.context.cert(p.cert.clone()).key(p.key.clone());
        }
        let left = left.clone();
        let c = tls::connect(o, |s| {
            assert!(s.authorized());
            s.resume();
        })
        .unwrap();
        c.on_close(move |_, _| {
            left.set(left.get() - 1);
            if left.get() == 0 {
                server.close();
            }
        });
    }
    run_bounded(LIMIT);
    seen.borrow_mut().sort();
    assert_eq!(
        seen.borrow()[..],
        [
            "false:Some(\"UNABLE_TO_GET_ISSUER_CERT\"):None",
            "false:Some(\"UNABLE_TO_VERIFY_LEAF_SIGNATURE\"):Some(\"badclient\")",
            "true:None:Some(\"client1\")",
        ]
    );

    // rejectUnauthorized: no certificate, no connection.
    let errors = Rc::new(RefCell::new(Vec::new()));
    let e2 = errors.clone();
    let mut opts = server_options(&certs().server).request_cert(true, true);
    opts.context.ca = Some(certs().ca.clone().into_bytes());
    let server = tls::create_server(opts, |_, _| panic!("no secureConnection")).unwrap();
    server.on_tls_client_error(move |_, e, _| e2.borrow_mut().push(e.code().to_string()));
    let port = listen_local(server);
    let t = Trace::new();
    let c = tls::connect(trust_ca(port), |s| {
        s.resume();
    })
    .unwrap();
    trace_tls(&c, &t, "c");
    c.on_close(move |_, _| {
        server.close();
    });
    run_bounded(LIMIT);
    assert_eq!(
        errors.borrow()[..],
        ["ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"]
    );
    assert!(
        t.contains("c:error:ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"),
        "{:?}",
        t.entries()
    );
}

/// T07 and T08: ALPN follows the server's order; no overlap is refused.
#[test]
fn t07_t08_alpn() {
    for (server_protos, client_protos, expect) in [
        (vec!["a", "b", "c"], vec!["c", "b", "e"], Some("b")),
        (vec!["h2", "http/1.1"], vec!["http/1.1", "h2"], Some("h2")),
        (vec!["a"], vec![], None),
        (vec![], vec!["a"], None),
    ] {
        let seen = Rc::new(RefCell::new(None));
        let s2 = seen.clone();
        let server = tls::create_server(
            server_options(&certs().server).alpn_protocols(&server_protos),
            move |_, s| {
                *s2.borrow_mut() = Some(s.alpn_protocol());
                s.end();
            },
        )
        .unwrap();
        let port = listen_local(server);
        let client_seen = Rc::new(RefCell::new(None));
        let c2 = client_seen.clone();
        let c = tls::connect(trust_ca(port).alpn_protocols(&client_protos), move |s| {
            *c2.borrow_mut() = Some(s.alpn_protocol());
            s.resume();
        })
        .unwrap();
        c.on_close(move |_, _| {
            server.close();
        });
        run_bounded(LIMIT);
        let expect = Some(expect.map(str::to_owned));
        assert_eq!(*seen.borrow(), expect);
        assert_eq!(*client_seen.borrow(), expect);
    }
    // T08: no overlap.
    let errors = Rc::new(RefCell::new(Vec::new()));
    let e2 = errors.clone();
    let server = tls::create_server(
        server_options(&certs().server).alpn_protocols(&["a", "b"]),
        |_, _| panic!("no secureConnection"),
    )
    .unwrap();
    server.on_tls_client_error(move |_, e, _| e2.borrow_mut().push(e.code().to_string()));
    let port = listen_local(server);
    let t = Trace::new();
    let c = tls::connect(trust_ca(port).alpn_protocols(&["x", "y"]), |_| {}).unwrap();
    trace_tls(&c, &t, "c");
    c.on_close(move |_, _| {
        server.close();
    });
    run_bounded(LIMIT);
    assert_eq!(errors.borrow()[..], ["ERR_SSL_NO_APPLICATION_PROTOCOL"]);
    assert_eq!(
        t.entries(),
        [
            "c:connect",
            "c:ready",
            "c:error:ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL",
            "c:close:true"
        ]
    );
}

/// T20: large writes with backpressure; Node's client pumps 64 KiB writes
/// and pauses; every byte arrives, 'data' chunks are at most one record.
#[test]
fn t20_large_writes_to_and_from_node() {
    const TOTAL: usize = 4 << 20;
    let max_chunk = Rc::new(std::cell::Cell::new(0));
    let m2 = max_chunk.clone();
    let server = tls::create_server(server_options(&certs().server), move |_, s| {
        let m3 = m2.clone();
        // Echo with backpressure.
        s.on_data(move |s, d| {
            m3.set(m3.get().max(d.len()));
            if !s.write(d) {
                s.pause();
            }
        });
        s.on_drain(|s| {
            s.resume();
        });
        s.on_end(|s| {
            s.end();
        });
    })
    .unwrap();
    let port = listen_local(server);
    let client = node_script(&format!(
        "const c=tls.connect({{port:{port},host:'127.0.0.1',ca:rd('ca.pem')}},()=>{{\
           const buf=Buffer.alloc(65536);for(let i=0;i<buf.length;i++)buf[i]=i*7&255;let sent=0,got=0,bad=0,drains=0;\
           const pump=()=>{{while(sent<{TOTAL}){{sent+=buf.length;if(!c.write(buf))return;}}c.end();}};\
           c.on('drain',()=>{{drains++;pump()}});\
           c.on('data',d=>{{for(let i=0;i<d.length;i++)if(d[i]!==((got+i)%65536)*7%256)bad++;got+=d.length;}});\
           c.on('end',()=>console.log(got,bad,drains>0));pump();}});"
    ));
    util::run_until(LIMIT, || client.is_done());
    server.close();
    assert_eq!(client.join().trim(), format!("{TOTAL} 0 true"));
    assert!(max_chunk.get() <= 16384, "{}", max_chunk.get());
}

/// P11: TLS over a Unix socket; the certificate is checked against
/// "localhost" by default.
#[test]
fn p11_tls_over_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("nodenet-tls-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let server = tls::create_server(server_options(&certs().server), |_, s| {
        assert_eq!(s.remote_address(), None);
        s.end_with("over a pipe");
    })
    .unwrap();
    server.listen_path(&path).unwrap();
    let got = Rc::new(RefCell::new(String::new()));
    let g = got.clone();
    let c = tls::connect(
        tls::ConnectOptions::path(&path).ca(certs().ca.clone()),
        |s| assert!(s.authorized()),
    )
    .unwrap();
    c.on_data(move |_, d| g.borrow_mut().push_str(&String::from_utf8_lossy(d)));
    c.on_close(move |_, _| {
        server.close();
    });
    // A Node client over the same path.
    run_bounded(LIMIT);
    assert_eq!(*got.borrow(), "over a pipe");
    assert!(!path.exists());
}

/// T25: STARTTLS: a plaintext exchange, then both sides upgrade the same
/// connected socket.
#[test]
fn t25_starttls_upgrade_both_sides() {
    let t = Trace::new();
    let t2 = t.clone();
    let server = nodenet::tcp::create_server(Default::default(), move |_, s| {
        let t3 = t2.clone();
        s.on_data(move |s, d| {
            if &d[..] == b"STARTTLS\n" && !s.encrypted() {
                s.write("GO\n");
                tls::upgrade_server(s, &server_options(&certs().server)).unwrap();
                let t4 = t3.clone();
                s.on_secure(move |s| t4.log(format!("S:secure:{}", s.encrypted())));
            } else {
                t3.log(format!("S:data:{}", String::from_utf8_lossy(d)));
                s.end_with("bye");
            }
        });
    });
    let port = listen_local(server);
    let c = nodenet::tcp::connect(port, "127.0.0.1", |s| {
        s.write("STARTTLS\n");
    })
    .unwrap();
    let t2 = t.clone();
    c.on_data(move |s, d| {
        if !s.encrypted() {
            assert_eq!(&d[..], b"GO\n");
            let t3 = t2.clone();
            tls::connect_socket(s, trust_ca(0).servername("localhost"), move |s| {
                t3.log(format!("C:secureConnect:{}", s.authorized()));
                s.write("secret");
            })
            .unwrap();
        } else {
            t2.log(format!("C:data:{}", String::from_utf8_lossy(d)));
        }
    });
    c.on_close(move |_, _| {
        server.close();
    });
    run_bounded(LIMIT);
    let e = t.entries();
    assert!(e.contains(&"C:secureConnect:true".to_string()), "{e:?}");
    assert!(e.contains(&"S:secure:true".to_string()), "{e:?}");
    assert!(e.contains(&"S:data:secret".to_string()), "{e:?}");
    assert!(e.contains(&"C:data:bye".to_string()), "{e:?}");
}

/// STARTTLS while the kernel still holds back plaintext: what was written
/// before the upgrade reaches the peer as written, ahead of the handshake
/// (as Node's, whose TLS socket writes behind the plain one's queue).
#[test]
fn starttls_sends_queued_plaintext_first() {
    const PLAIN: usize = 4 << 20;
    // Node reads the plaintext after a pause, checks it, and only then
    // wraps the socket as a TLS server.
    let node = NodeServer::start(&format!(
        "const N={PLAIN};const s=net.createServer(sock=>{{sock.pause();setTimeout(()=>{{let got=0,bad=0;         const on=d=>{{const take=Math.min(d.length,N-got);for(let i=0;i<take;i++)if(d[i]!==0x50)bad++;got+=take;         if(got===N){{sock.removeListener('data',on);sock.pause();if(take<d.length)sock.unshift(d.subarray(take));         log('plain',got,'bad',bad);const t=new tls.TLSSocket(sock,{{isServer:true,key:rd('server.key'),cert:rd('server.pem')}});         t.on('secure',()=>log('secure'));t.on('data',d=>{{log('data',d.toString());t.end('bye')}});t.on('error',e=>log('error',e.code))}}}};         sock.on('data',on);sock.resume()}},300)}});s.listen(0,'127.0.0.1',()=>console.log(s.address().port));"
    ));
    let got = Rc::new(RefCell::new(Vec::new()));
    let queued_at_upgrade = Rc::new(std::cell::Cell::new(0usize));
    let (g, q) = (got.clone(), queued_at_upgrade.clone());
    let c = nodenet::tcp::connect(node.port, "127.0.0.1", move |s| {
        util::pin_buffers(s, 64 * 1024);
        s.write(vec![b'P'; PLAIN]);
        q.set(s.writable_length());
        let g = g.clone();
        tls::connect_socket(s, trust_ca(0).servername("localhost"), move |s| {
            s.write("secret");
        })
        .unwrap()
        .on_data(move |_, d| g.borrow_mut().extend_from_slice(d));
    })
    .unwrap();
    c.on_error(|_, e| panic!("client error: {e}"));
    run_bounded(LIMIT);
    let out = node.finish();
    assert!(
        queued_at_upgrade.get() > PLAIN / 2,
        "the kernel took the plaintext at once ({} left queued): no test",
        queued_at_upgrade.get()
    );
    assert!(out.contains(&format!("plain {PLAIN} bad 0")), "{out}");
    assert!(out.contains("secure"), "{out}");
    assert!(out.contains("data secret"), "{out}");
    assert_eq!(&got.borrow()[..], b"bye");
}

/// T23 (exporter) and T26 (keylog): the keying material equals Node's
/// for the same connection; five key log lines per TLS 1.3 handshake.
#[test]
fn t23_t26_exporter_and_keylog_against_node() {
    let ours = Rc::new(RefCell::new(String::new()));
    let o2 = ours.clone();
    let lines = Rc::new(RefCell::new(Vec::new()));
    let l2 = lines.clone();
    let server = tls::create_server(server_options(&certs().server), move |_, s| {
        let km = s
            .export_keying_material(32, "EXPERIMENTAL-test", None)
            .unwrap();
        *o2.borrow_mut() = km.iter().map(|b| format!("{b:02x}")).collect();
        s.end();
    })
    .unwrap();
    server.on_keylog(move |_, line, _| {
        l2.borrow_mut()
            .push(String::from_utf8_lossy(line).into_owned())
    });
    let port = listen_local(server);
    let client = node_script(&format!(
        "const c=tls.connect({{port:{port},host:'127.0.0.1',ca:rd('ca.pem')}},()=>{{\
           console.log(c.exportKeyingMaterial(32,'EXPERIMENTAL-test').toString('hex'));c.resume();}});"
    ));
    util::run_until(LIMIT, || client.is_done());
    server.close();
    assert_eq!(client.join().trim(), *ours.borrow());
    let lines = lines.borrow();
    assert_eq!(lines.len(), 5, "{lines:?}");
    for label in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(label) && l.ends_with('\n')),
            "{label}"
        );
    }
}

/// Session resumption: a Node client resuming with the ticket our server
/// issued, and our client resuming through a shared context.
#[test]
fn session_resumption_both_directions() {
    let reused = Rc::new(RefCell::new(Vec::new()));
    let r2 = reused.clone();
    let server = tls::create_server(server_options(&certs().server), move |_, s| {
        r2.borrow_mut().push(s.is_session_reused());
        s.end_with("x");
    })
    .unwrap();
    let port = listen_local(server);
    let client = node_script(&format!(
        "let sess;const go=(n)=>{{const c=tls.connect({{port:{port},host:'127.0.0.1',ca:rd('ca.pem'),session:sess}},()=>{{}});\
           c.on('session',s=>sess=s);c.resume();c.on('secureConnect',()=>console.log(c.isSessionReused()));c.on('close',()=>{{if(n)setTimeout(()=>go(n-1),20)}})}};go(1);"
    ));
    util::run_until(LIMIT, || client.is_done());
    assert_eq!(
        client.join().split_whitespace().collect::<Vec<_>>(),
        ["false", "true"]
    );
    // Ours: one context, two connections.
    let ctx =
        tls::create_secure_context(&SecureContextOptions::new().ca(certs().ca.clone())).unwrap();
    for _ in 0..2 {
        let closed = Rc::new(std::cell::Cell::new(false));
        let c2 = closed.clone();
        let c = tls::connect(trust_ca(port).secure_context(&ctx), |s| {
            s.resume();
        })
        .unwrap();
        c.on_error(|_, e| panic!("{e}"));
        c.on_close(move |_, _| c2.set(true));
        util::run_until(LIMIT, || closed.get());
    }
    server.close();
    run_bounded(LIMIT);
    assert_eq!(reused.borrow()[..], [false, true, false, true]);
}

/// T23: cipher and protocol names under TLS 1.2 and 1.3, as Node's.
#[test]
fn t23_cipher_names_match_node() {
    for (max, name, standard) in [
        (
            TlsVersion::Tls1_3,
            "TLS_AES_256_GCM_SHA384",
            "TLS_AES_256_GCM_SHA384",
        ),
        (
            TlsVersion::Tls1_2,
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ),
    ] {
        let seen = Rc::new(RefCell::new(None));
        let s2 = seen.clone();
        let mut opts = server_options(&certs().server);
        opts.context.max_version = Some(max);
        let server = tls::create_server(opts, move |_, s| {
            *s2.borrow_mut() = s.get_cipher();
            s.end();
        })
        .unwrap();
        let port = listen_local(server);
        let client = node_script(&format!(
            "const c=tls.connect({{port:{port},host:'127.0.0.1',ca:rd('ca.pem')}},()=>{{const x=c.getCipher();console.log(x.name,x.standardName,x.version,c.getProtocol());c.resume()}});"
        ));
        util::run_until(LIMIT, || client.is_done());
        server.close();
        let out = client.join();
        let cipher = seen.borrow().clone().unwrap();
        assert_eq!(
            out.trim(),
            format!(
                "{} {} {} {max}",
                cipher.name, cipher.standard_name, cipher.version
            )
        );
        assert_eq!((cipher.name, cipher.standard_name), (name, standard));
    }
}

/// Bulk data both ways between nodenet peers, with backpressure.
#[test]
fn bulk_echo_with_backpressure_between_nodenet_peers() {
    const TOTAL: usize = 4 << 20;
    let server = tls::create_server(server_options(&certs().server), |_, s| {
        s.on_data(|s, d| {
            if !s.write(d) {
                s.pause();
            }
        });
        s.on_drain(|s| {
            s.resume();
        });
        s.on_end(|s| {
            s.end();
        });
    })
    .unwrap();
    let port = listen_local(server);
    let data = Bytes::from(util::random_bytes(TOTAL, 7));
    let got = Rc::new(RefCell::new(Vec::with_capacity(TOTAL)));
    let g = got.clone();
    let d2 = data.clone();
    let c = tls::connect(trust_ca(port), move |s| {
        let mut off = 0;
        let d3 = d2.clone();
        let pump = Rc::new(RefCell::new(None::<Box<dyn FnMut(&Socket)>>));
        let p2 = pump.clone();
        *pump.borrow_mut() = Some(Box::new(move |s: &Socket| {
            while off < d3.len() {
                let end = (off + 65536).min(d3.len());
                let more = s.write(d3.slice(off..end));
                off = end;
                if !more {
                    return;
                }
            }
            s.end();
        }));
        s.on_drain(move |s| {
            if let Some(f) = p2.borrow_mut().as_mut() {
                f(s)
            }
        });
        if let Some(f) = pump.borrow_mut().as_mut() {
            f(s)
        };
    })
    .unwrap();
    c.on_data(move |_, d| g.borrow_mut().extend_from_slice(d));
    c.on_close(move |_, _| {
        server.close();
    });
    run_bounded(LIMIT);
    assert_eq!(got.borrow().len(), TOTAL);
    assert!(got.borrow()[..] == data[..]);
}

/// T05: a certificate for other names; Node's message, the custom check,
/// and T02's other verify codes (expired, a chain with an intermediate).
#[test]
fn t05_hostname_mismatch_and_custom_check() {
    let server = tls::create_server(server_options(&certs().other), |_, s| {
        s.end();
    })
    .unwrap();
    let port = listen_local(server);
    let outcome = |options: tls::ConnectOptions| {
        let out = Rc::new(RefCell::new(String::new()));
        let (o1, o2) = (out.clone(), out.clone());
        let c = tls::connect(options, move |s| {
            *o1.borrow_mut() = format!(
                "secure {} {:?}",
                s.authorized(),
                s.authorization_error().map(|e| e.code().to_string())
            );
            s.resume();
        })
        .unwrap();
        c.on_error(move |_, e| *o2.borrow_mut() = format!("error {} {}", e.code(), e.message()));
        let done = Rc::new(std::cell::Cell::new(false));
        let d = done.clone();
        c.on_close(move |_, _| d.set(true));
        util::run_until(LIMIT, || done.get());
        let s = out.borrow().clone();
        s
    };
    assert_eq!(
        outcome(trust_ca(port).servername("localhost")),
        "error ERR_TLS_CERT_ALTNAME_INVALID Hostname/IP does not match certificate's altnames: \
         Host: localhost. is not in the cert's altnames: DNS:example.com, DNS:*.example.com"
    );
    assert!(outcome(trust_ca(port)).starts_with(
        "error ERR_TLS_CERT_ALTNAME_INVALID Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list"
    ));
    assert_eq!(
        outcome(
            trust_ca(port)
                .servername("localhost")
                .reject_unauthorized(false)
        ),
        "secure false Some(\"ERR_TLS_CERT_ALTNAME_INVALID\")"
    );
    assert_eq!(
        outcome(trust_ca(port).servername("a.example.com")),
        "secure true None"
    );
    let calls = Rc::new(RefCell::new(Vec::new()));
    let c2 = calls.clone();
    assert_eq!(
        outcome(
            trust_ca(port)
                .servername("localhost")
                .check_server_identity(move |host, cert| {
                    c2.borrow_mut()
                        .push(format!("{host} {:?}", cert.subject.get("CN")));
                    Ok(())
                })
        ),
        "secure true None"
    );
    assert_eq!(calls.borrow()[..], ["localhost Some(\"example.com\")"]);
    assert_eq!(
        outcome(
            trust_ca(port)
                .servername("localhost")
                .check_server_identity(|_, _| Err(nodenet::Error::msg("nope")))
        ),
        "error  nope"
    );
    server.close();
    // Expired, and a chain through an intermediate the server sends.
    for (pair, expect) in [
        (
            &certs().expired,
            "error CERT_HAS_EXPIRED certificate has expired",
        ),
        (&certs().chained, "secure true None"),
    ] {
        let server = tls::create_server(server_options(pair), |_, s| {
            s.end();
        })
        .unwrap();
        let port = listen_local(server);
        assert_eq!(outcome(trust_ca(port)), expect);
        server.close();
    }
    run_bounded(LIMIT);
}

/// T17: allow_half_open on both ends: after the client's close_notify the
/// server still writes, and its data arrives.
#[test]
fn t17_allow_half_open_over_tls() {
    let t = Trace::new();
    let t2 = t.clone();
    let mut opts = server_options(&certs().server);
    opts.net.socket.allow_half_open = true;
    let server = tls::create_server(opts, move |_, s| {
        let t3 = t2.clone();
        s.on_data(move |_, d| t3.log(format!("S:data:{}", String::from_utf8_lossy(d))));
        let t3 = t2.clone();
        s.on_end(move |s| {
            t3.log(format!("S:end:{}", s.writable()));
            let s = *s;
            let t4 = t3.clone();
            nodenet::set_timeout(
                move || {
                    s.write_cb("late-reply", move |_, e| {
                        t4.log(format!("S:cb:{:?}", e.map(|e| e.code())))
                    });
                    s.end();
                },
                50u64,
            );
        });
    })
    .unwrap();
    let port = listen_local(server);
    let mut o = trust_ca(port);
    o.net.socket.allow_half_open = true;
    let c = tls::connect(o, |s| {
        s.end_with("bye");
    })
    .unwrap();
    let t2 = t.clone();
    c.on_data(move |_, d| t2.log(format!("C:data:{}", String::from_utf8_lossy(d))));
    let t2 = t.clone();
    c.on_close(move |_, h| {
        t2.log(format!("C:close:{h}"));
        server.close();
    });
    run_bounded(LIMIT);
    assert_eq!(
        t.entries(),
        [
            "S:data:bye",
            "S:end:true",
            "S:cb:None",
            "C:data:late-reply",
            "C:close:false"
        ]
    );
}

/// T19: destroy during the handshake, from either side.
#[test]
fn t19_destroy_during_the_handshake() {
    let errors = Rc::new(RefCell::new(Vec::new()));
    let e2 = errors.clone();
    let server = tls::create_server(server_options(&certs().server), |_, _| {
        panic!("no secureConnection")
    })
    .unwrap();
    server.on_tls_client_error(move |_, e, _| {
        e2.borrow_mut()
            .push(format!("{} {}", e.code(), e.message()))
    });
    let port = listen_local(server);
    // (a) destroyed in the same tick: the queued write fails, no error.
    let t = Trace::new();
    let c = tls::connect(trust_ca(port), |_| {}).unwrap();
    trace_tls(&c, &t, "a");
    let t2 = t.clone();
    c.write_cb("queued", move |_, e| {
        t2.log(format!("a:cb:{:?}", e.map(|e| e.code())))
    });
    c.destroy();
    // (b) destroyed in 'connect': the server hears a hang-up.
    let c = tls::connect(trust_ca(port), |_| {}).unwrap();
    trace_tls(&c, &t, "b");
    c.on_connect(|s| {
        s.destroy();
    });
    util::run_until(LIMIT, || !errors.borrow().is_empty());
    server.close();
    run_bounded(LIMIT);
    let e = t.entries();
    assert!(
        e.contains(&"a:cb:Some(\"ERR_SOCKET_CLOSED_BEFORE_CONNECTION\")".to_string()),
        "{e:?}"
    );
    assert!(e.contains(&"a:close:false".to_string()), "{e:?}");
    assert!(
        !e.iter()
            .any(|x| x.starts_with("a:error") || x.starts_with("b:error")),
        "{e:?}"
    );
    assert!(e.contains(&"b:close:false".to_string()), "{e:?}");
    // (b)'s hang-up; (a)'s connect may have reached the kernel before its
    // destroy (Node starts it a tick later), then the server hears one too.
    assert!(!errors.borrow().is_empty());
    assert!(errors
        .borrow()
        .iter()
        .all(|e| e == "ECONNRESET socket hang up"));

    // (c) the server destroys the connection in 'connection'.
    let server = tls::create_server(server_options(&certs().server), |_, _| {}).unwrap();
    server.on_connection(|_, s| {
        s.destroy();
    });
    let port = listen_local(server);
    let t = Trace::new();
    let c = tls::connect(trust_ca(port), |_| {}).unwrap();
    trace_tls(&c, &t, "c");
    c.on_close(move |_, _| {
        server.close();
    });
    run_bounded(LIMIT);
    assert_eq!(
        t.entries(),
        [
            "c:connect",
            "c:ready",
            "c:end",
            "c:error:ECONNRESET",
            "c:close:true"
        ]
    );
}

/// pause() stops reading and decrypting: the peer is pushed back (its
/// write queue grows), and nothing is lost once reading resumes.
#[test]
fn pause_pushes_the_peer_back() {
    const TOTAL: usize = 8 << 20;
    let got = Rc::new(std::cell::Cell::new(0usize));
    let buffered_max = Rc::new(std::cell::Cell::new(0usize));
    let (g, bm) = (got.clone(), buffered_max.clone());
    let server = tls::create_server(server_options(&certs().server), move |_, s| {
        util::pin_buffers(s, 64 * 1024);
        s.pause();
        let g = g.clone();
        s.on_data(move |_, d| g.set(g.get() + d.len()));
        let s = *s;
        let bm = bm.clone();
        nodenet::set_timeout(
            move || {
                bm.set(s.readable_length());
                s.resume();
            },
            300u64,
        );
    })
    .unwrap();
    let port = listen_local(server);
    let pushed_back = Rc::new(std::cell::Cell::new(0usize));
    let pb = pushed_back.clone();
    let data = Bytes::from(util::random_bytes(TOTAL, 3));
    let c = tls::connect(trust_ca(port), move |s| {
        util::pin_buffers(s, 64 * 1024);
        // Everything at once: the queue holds what the peer does not take.
        s.write(data.clone());
        s.end();
        let (s, pb) = (*s, pb.clone());
        nodenet::set_timeout(move || pb.set(s.writable_length()), 250u64);
    })
    .unwrap();
    c.on_close(move |_, _| {
        server.close();
    });
    run_bounded(LIMIT);
    assert!(
        pushed_back.get() > TOTAL / 2,
        "the writer was not pushed back: {} queued",
        pushed_back.get()
    );
    assert!(
        buffered_max.get() <= 256 * 1024,
        "a paused socket read ahead {} bytes",
        buffered_max.get()
    );
    assert_eq!(got.get(), TOTAL);
}

/// Inactivity timeouts and connection limits hold over TLS.
#[test]
fn timeout_and_max_connections_over_tls() {
    let server = tls::create_server(server_options(&certs().server), |_, _| {}).unwrap();
    server.set_max_connections(Some(1));
    let drops = Rc::new(std::cell::Cell::new(0));
    let d2 = drops.clone();
    server.on_drop(move |_, _| d2.set(d2.get() + 1));
    let port = listen_local(server);
    let t = Trace::new();
    let first = tls::connect(trust_ca(port), |s| {
        s.set_timeout(150u64);
    })
    .unwrap();
    let t2 = t.clone();
    first.on_timeout(move |s| {
        t2.log(format!("first:timeout:{}", s.destroyed()));
        // Count the server's connections before closing.
        server.get_connections(move |srv, n| {
            assert_eq!(n, 1);
            srv.close();
        });
        s.destroy();
    });
    let t2 = t.clone();
    first.on_secure_connect(move |_| {
        let t3 = t2.clone();
        let second = tls::connect(trust_ca(port), |_| {}).unwrap();
        second.on_error(move |_, e| t3.log(format!("second:error:{}", e.code())));
    });
    run_bounded(LIMIT);
    assert_eq!(drops.get(), 1);
    assert!(t.contains("first:timeout:false"), "{:?}", t.entries());
    assert!(t.contains("second:error:ECONNRESET"), "{:?}", t.entries());
}

/// add_context: per-name certificates chosen by the client's SNI.
#[test]
fn add_context_chooses_the_certificate_by_sni() {
    let server = tls::create_server(server_options(&certs().server), |_, s| {
        s.end();
    })
    .unwrap();
    server
        .add_context(
            "*.example.com",
            &SecureContextOptions::new()
                .cert(certs().other.cert.clone())
                .key(certs().other.key.clone()),
        )
        .unwrap();
    assert_eq!(
        server
            .add_context("", &SecureContextOptions::new())
            .unwrap_err()
            .code(),
        "ERR_TLS_REQUIRED_SERVER_NAME"
    );
    let port = listen_local(server);
    let seen = Rc::new(RefCell::new(Vec::new()));
    for name in ["a.example.com", "localhost"] {
        let s2 = seen.clone();
        let closed = Rc::new(std::cell::Cell::new(false));
        let c2 = closed.clone();
        let c = tls::connect(trust_ca(port).servername(name), move |s| {
            let cn = s
                .get_peer_certificate()
                .and_then(|c| c.subject.get("CN").map(str::to_owned));
            s2.borrow_mut()
                .push(format!("{} {:?} {:?}", s.authorized(), cn, s.servername()));
            s.resume();
        })
        .unwrap();
        c.on_close(move |_, _| c2.set(true));
        util::run_until(LIMIT, || closed.get());
    }
    server.close();
    run_bounded(LIMIT);
    assert_eq!(
        seen.borrow()[..],
        [
            "true Some(\"example.com\") Some(\"a.example.com\")",
            "true Some(\"localhost\") Some(\"localhost\")"
        ]
    );
}

/// Our client presents a certificate to Node's server that requires one;
/// the client's own key log and exporter guard.
#[test]
fn client_certificate_to_node_server_and_client_keylog() {
    let node = NodeServer::start(
        "const s=tls.createServer({key:rd('server.key'),cert:rd('server.pem'),ca:rd('ca.pem'),requestCert:true,rejectUnauthorized:true},c=>{log('secureConnection',c.authorized,c.getPeerCertificate().subject.CN);c.end('ok')});\
         s.on('tlsClientError',e=>log('tlsClientError',e.code));s.listen(0,'127.0.0.1',()=>console.log(s.address().port));",
    );
    let lines = Rc::new(RefCell::new(0));
    let l2 = lines.clone();
    let mut o = trust_ca(node.port);
    o.context = o
        .context
        .cert(certs().client.cert.clone())
        .key(certs().client.key.clone());
    let c = tls::connect(o, |s| {
        assert!(s.authorized());
        s.resume();
    })
    .unwrap();
    assert_eq!(
        c.export_keying_material(32, "x", None).unwrap_err().code(),
        "ERR_TLS_INVALID_STATE"
    );
    c.on_keylog(move |_, line| {
        assert!(line.ends_with(b"\n"));
        *l2.borrow_mut() += 1;
    });
    c.on_error(|_, e| panic!("{e}"));
    run_bounded(LIMIT);
    let out = node.finish();
    assert!(out.contains("secureConnection true client1"), "{out}");
    assert_eq!(*lines.borrow(), 5);
}

/// Hostile peers: random bytes, truncated and corrupted handshakes,
/// hang-ups at every stage. The server never panics, every connection is
/// closed and freed, and a good client is still served afterwards.
#[test]
fn hostile_peers_never_break_a_tls_server() {
    let errors = Rc::new(std::cell::Cell::new(0usize));
    let e2 = errors.clone();
    let server = tls::create_server(
        server_options(&certs().server).handshake_timeout(500u64),
        |_, s| {
            s.on_data(|s, d| {
                s.write(d);
            });
            s.on_error(|_, _| {});
        },
    )
    .unwrap();
    server.on_tls_client_error(move |_, _, s| {
        assert!(s.destroyed());
        e2.set(e2.get() + 1);
    });
    let port = listen_local(server);
    // A real ClientHello to corrupt and truncate, taken from a rustls-free
    // source: a Node client's first flight, recorded by a raw listener.
    let hello = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        let client = node_script(&format!(
            "const c=tls.connect({{port:{p},host:'127.0.0.1',rejectUnauthorized:false}});c.on('error',()=>{{}});c.on('close',()=>{{}});setTimeout(()=>c.destroy(),300);"
        ));
        let (mut sock, _) = l.accept().unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = std::io::Read::read(&mut sock, &mut buf).unwrap();
        buf.truncate(n);
        drop(sock);
        let _ = client;
        buf
    };
    assert!(
        hello.len() > 100 && hello[0] == 0x16,
        "a ClientHello record"
    );
    let peers = util::spawn_waking(move || {
        use std::io::{Read, Write};
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..200 {
            let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            c.set_read_timeout(Some(std::time::Duration::from_millis(200)))
                .unwrap();
            let mut bytes = hello.clone();
            match i % 5 {
                // Random bytes.
                0 => {
                    bytes = (0..(next() % 3000) as usize)
                        .map(|_| next() as u8)
                        .collect()
                }
                // Truncated hello.
                1 => bytes.truncate((next() as usize) % bytes.len()),
                // Corrupted hello.
                2 => {
                    for _ in 0..4 {
                        let at = (next() as usize) % bytes.len();
                        bytes[at] ^= (next() as u8) | 1;
                    }
                }
                // A whole hello, then garbage records.
                3 => bytes.extend((0..(next() % 40_000) as usize).map(|_| next() as u8)),
                // A whole hello, then hang up without reading.
                _ => {}
            }
            let _ = c.write_all(&bytes);
            if next() % 2 == 0 {
                let mut sink = [0u8; 8192];
                let _ = c.read(&mut sink);
            }
            drop(c);
        }
    });
    util::run_until(std::time::Duration::from_secs(30), || peers.is_done());
    peers.join();
    // Let the last handshakes time out, then a good client is served.
    let echoed = Rc::new(RefCell::new(Vec::new()));
    let e3 = echoed.clone();
    let c = tls::connect(trust_ca(port), |s| {
        s.write("still here");
    })
    .unwrap();
    c.on_data(move |s, d| {
        e3.borrow_mut().extend_from_slice(d);
        s.end();
    });
    c.on_close(move |_, _| {
        server.close();
    });
    run_bounded(std::time::Duration::from_secs(20));
    assert_eq!(&echoed.borrow()[..], b"still here");
    assert!(errors.get() > 100, "{} tlsClientErrors", errors.get());
    assert_eq!(nodenet::__bench::live_slots(), (0, 0), "every socket freed");
}
