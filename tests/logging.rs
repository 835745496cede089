//! The loop's notable events go to the `log` facade, and nowhere without
//! a logger: an error that reaches the uncaught-error path, an accept
//! failure, a failed lookup.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

use nodenet::{tcp, ConnectOptions, ServerOptions};
use util::*;

/// Records every log line, with its level.
struct Recorder(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

static RECORDER: Recorder = Recorder(Mutex::new(Vec::new()));

fn lines() -> Vec<(log::Level, String)> {
    RECORDER.0.lock().unwrap().clone()
}

/// One test, so the process-wide logger sees only its own events.
#[test]
fn notable_events_reach_the_log_facade() {
    log::set_logger(&RECORDER).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    // An accepted connection's error with no listener: logged, and the
    // loop goes on.
    let server = tcp::create_server(ServerOptions::default(), |_, socket| {
        socket.on_data(|s, chunk| {
            s.write(chunk);
        });
    });
    let port = listen_local(server);
    let resetter = spawn_waking(move || {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(&[1; 100_000]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let raw = socket2::Socket::from(c);
        raw.set_linger(Some(Duration::ZERO)).unwrap();
    });
    run_until(LIMIT, || {
        lines().iter().any(|(_, l)| l.contains("unhandled 'error'"))
    });
    resetter.join();
    server.close();
    run_bounded(LIMIT);

    // A failed lookup.
    let s = tcp::create_connection(ConnectOptions {
        port: 80,
        host: "nowhere.invalid".into(),
        lookup: Some(tcp::Resolver::new(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such host",
            ))
        })),
        ..ConnectOptions::default()
    })
    .unwrap();
    s.on_error(|_, _| {});
    run_bounded(LIMIT);

    let lines = lines();
    let warned = |needle: &str| {
        lines
            .iter()
            .any(|(level, l)| *level == log::Level::Warn && l.contains(needle))
    };
    assert!(warned("unhandled 'error' on Socket"), "{lines:#?}");
    assert!(warned("the lookup of nowhere.invalid failed"), "{lines:#?}");
}
