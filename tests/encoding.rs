//! Text decoding of received data: `set_encoding` and `&str` listeners
//! (net-behaviours N46).

mod util;

use std::cell::RefCell;
use std::rc::Rc;

use nodenet::{tcp, Bytes, Encoding, Server, ServerOptions, Socket};
use util::*;

/// A server that sends `parts` one by one, 50 ms apart, then ends.
fn sending_server(parts: Vec<Vec<u8>>) -> u16 {
    let parts = Rc::new(parts);
    let server = tcp::create_server(ServerOptions::default(), move |srv: &Server, s: &Socket| {
        srv.close();
        send_from(*s, parts.clone(), 0);
    });
    listen_local(server)
}

fn send_from(s: Socket, parts: Rc<Vec<Vec<u8>>>, i: usize) {
    if i == parts.len() {
        s.end();
        return;
    }
    s.write(parts[i].clone());
    nodenet::set_timeout(move || send_from(s, parts, i + 1), 50);
}

/// N46: 'あいう' (9 bytes) sent as 4 bytes then 5: with UTF-8 decoding the
/// split character is held back, so the strings are "あ" then "いう"; raw
/// bytes arrive as 4 and 5.
#[test]
fn n46_a_character_split_across_reads_arrives_whole() {
    let text = "あいう".as_bytes().to_vec();
    for decoded in [true, false] {
        let port = sending_server(vec![text[..4].to_vec(), text[4..].to_vec()]);
        let got = Rc::new(RefCell::new(Vec::new()));
        let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
        let g = got.clone();
        if decoded {
            c.set_encoding(Encoding::Utf8)
                .on("data", move |_: &Socket, t: &str| {
                    g.borrow_mut().push(t.to_string())
                });
        } else {
            c.on("data", move |_: &Socket, b: &Bytes| {
                g.borrow_mut().push(b.len().to_string())
            });
        }
        run_bounded(LIMIT);
        if decoded {
            assert_eq!(*got.borrow(), ["あ", "いう"]);
        } else {
            assert_eq!(*got.borrow(), ["4", "5"]);
        }
    }
}

/// N46: a 40 Ki-character string of 'あ' (120 KiB, read in pieces that cut
/// characters) arrives as exactly 40 960 characters, all 'あ'.
#[test]
fn n46_a_large_multibyte_string_arrives_whole() {
    let big = "あ".repeat(40 * 1024).into_bytes();
    // Reads of up to 64 KiB cut characters: 65 536 is not a multiple of 3.
    let port = sending_server(vec![big]);
    let text = Rc::new(RefCell::new(String::new()));
    let t = text.clone();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    // A &str listener alone turns UTF-8 decoding on.
    c.on("data", move |_: &Socket, s: &str| {
        t.borrow_mut().push_str(s)
    });
    assert_eq!(c.readable_encoding(), Some(Encoding::Utf8));
    run_bounded(LIMIT);
    let text = text.borrow();
    assert_eq!(text.chars().count(), 40 * 1024);
    assert!(text.chars().all(|ch| ch == 'あ'));
}

/// N46: latin1 round-trips all 256 byte values.
#[test]
fn n46_latin1_round_trips_every_byte() {
    let all: Vec<u8> = (0..=255).collect();
    let port = sending_server(vec![all[..100].to_vec(), all[100..].to_vec()]);
    let text = Rc::new(RefCell::new(String::new()));
    let t = text.clone();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    c.set_encoding(Encoding::Latin1)
        .on("data", move |_: &Socket, s: &str| {
            t.borrow_mut().push_str(s)
        });
    run_bounded(LIMIT);
    let back: Vec<u8> = text.borrow().chars().map(|ch| ch as u32 as u8).collect();
    assert_eq!(back, all);
}

/// An unfinished character at the peer's FIN is delivered as U+FFFD before
/// `'end'`, as Node's decoder does at the end of the stream.
#[test]
fn an_unfinished_character_at_the_end_becomes_a_replacement_character() {
    let port = sending_server(vec![b"ok\xe3\x81".to_vec()]);
    let trace = Trace::new();
    let t = trace.clone();
    let c = tcp::connect(port, "127.0.0.1", |_: &Socket| {}).unwrap();
    c.set_encoding(Encoding::Utf8)
        .on("data", move |_: &Socket, s: &str| {
            t.log(format!("data:{s}"))
        });
    let t = trace.clone();
    c.on("end", move |_: &Socket| t.log("end"));
    run_bounded(LIMIT);
    assert_eq!(trace.entries(), ["data:ok", "data:\u{fffd}", "end"]);
}

/// Unknown encoding names are refused with Node's code.
#[test]
fn unknown_encoding_names_are_refused() {
    let err = "bogus-enc".parse::<Encoding>().unwrap_err();
    assert_eq!(err.code(), "ERR_UNKNOWN_ENCODING");
    assert_eq!(err.kind(), nodenet::ErrorCode::ERR_UNKNOWN_ENCODING);
    assert_eq!("hex".parse::<Encoding>().unwrap(), Encoding::Hex);
}

/// Issue 11, item 5: `Encoding` parses Node's names with `FromStr` (any
/// case, aliases included) and prints Node's canonical name with
/// `Display`; the two round-trip.
#[test]
fn encodings_parse_and_print_nodes_names() {
    for (name, encoding, canonical) in [
        ("utf8", Encoding::Utf8, "utf8"),
        ("UTF-8", Encoding::Utf8, "utf8"),
        ("binary", Encoding::Latin1, "latin1"),
        ("Latin1", Encoding::Latin1, "latin1"),
        ("ascii", Encoding::Ascii, "ascii"),
        ("HEX", Encoding::Hex, "hex"),
        ("base64", Encoding::Base64, "base64"),
    ] {
        let parsed: Encoding = name.parse().unwrap();
        assert_eq!(parsed, encoding, "{name}");
        assert_eq!(parsed.to_string(), canonical);
        assert_eq!(parsed.as_str(), canonical);
        assert_eq!(canonical.parse::<Encoding>().unwrap(), encoding);
    }
}
