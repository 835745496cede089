//! Two network namespaces joined by a faulty user-space link, for the fault
//! tests (tests/faults.rs).
//!
//! The kernel here has no `tc netem`, so the link is a forwarder thread
//! between two TUN devices, one in each namespace: it reads IP packets from
//! one device and writes them to the other, losing, holding back
//! (reordering), duplicating and corrupting them at seeded random, or
//! dropping everything once the link is switched to a blackhole.
//!
//! Everything lives in namespaces the test makes itself (named after the
//! test and the process id, deleted on drop, also after a panic), so the
//! host's interfaces, routes and TCP metrics are never touched. It needs
//! root, `/dev/net/tun` and iproute2's `ip netns`; [`missing_capability`]
//! says which is missing.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The address of namespace A's end of the link.
pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The address of namespace B's end of the link.
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// The TUN device's name inside each namespace.
const IFNAME: &str = "nnf0";
/// Every namespace made here starts with this, then the pid.
const PREFIX: &str = "nodenet-fault-";
/// A forwarder never runs longer than this, whatever the test does.
const FORWARDER_LIMIT: Duration = Duration::from_secs(180);
/// A held-back packet goes out after this long if no other packet comes to
/// overtake it (so a hold reorders, it does not lose).
const HOLD_LIMIT: Duration = Duration::from_millis(5);

/// `_IOW('T', 202, int)`, not in the libc crate.
const TUNSETIFF: u64 = 0x4004_54ca;

/// Why this machine cannot run the fault tests, or `None` if it can.
pub fn missing_capability() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some(
            "not running as root (network namespaces and TUN devices need CAP_NET_ADMIN)".into(),
        );
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun does not exist (no TUN driver)".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Err(e) => Some(format!("the `ip` command (iproute2) cannot run: {e}")),
        Ok(o) if !o.status.success() => Some(format!(
            "`ip netns list` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// If the machine lacks a capability, says so on the real stderr (past the
/// test harness's capture, so it shows in `cargo test`'s output) and
/// returns `true`: the caller returns at once.
pub fn skip_without_capabilities(test: &str) -> bool {
    match missing_capability() {
        None => false,
        Some(why) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {why}; the fault tests need root, /dev/net/tun and `ip netns`"
            );
            true
        }
    }
}

/// Runs `ip args..`, panicking with its stderr if it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip {}`: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Deletes namespaces left by earlier runs that were killed before their
/// drops ran (their pid is gone).
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// Moves the calling thread into the named namespace: sockets it creates
/// afterwards live there. Other threads are not affected.
pub fn enter(name: &str) {
    let ns = File::open(format!("/run/netns/{name}"))
        .unwrap_or_else(|e| panic!("cannot open namespace {name}: {e}"));
    // SAFETY: a valid descriptor of a network namespace; setns changes only
    // this thread's namespace.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns({name}): {}", std::io::Error::last_os_error());
}

/// A network namespace, deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    fn create(name: String) -> Netns {
        ip(&["netns", "add", &name]);
        Netns { name }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A counter of this namespace's TCP MIB (`/proc/net/snmp`'s `Tcp:`
    /// lines), e.g. `InCsumErrors` or `RetransSegs`.
    pub fn tcp_counter(&self, name: &str) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "cat", "/proc/net/snmp"])
            .output()
            .expect("run `ip netns exec .. cat /proc/net/snmp`");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
        let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
            panic!("no Tcp: lines in the namespace's /proc/net/snmp: {text}");
        };
        let at = names
            .split_whitespace()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no TCP counter {name} in {names}"));
        values
            .split_whitespace()
            .nth(at)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("bad TCP counter line {values}"))
    }

    /// Opens a TUN device (IP packets, no header) inside this namespace,
    /// non-blocking. The device lives as long as the descriptor.
    fn open_tun(&self) -> File {
        let name = self.name.clone();
        std::thread::spawn(move || {
            // A thread of its own, so the caller's namespace stays as it is.
            enter(&name);
            let tun = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open("/dev/net/tun")
                .expect("open /dev/net/tun");
            #[repr(C)]
            struct IfReq {
                name: [u8; libc::IFNAMSIZ],
                flags: libc::c_short,
                _pad: [u8; 22],
            }
            let mut req = IfReq {
                name: [0; libc::IFNAMSIZ],
                flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
                _pad: [0; 22],
            };
            req.name[..IFNAME.len()].copy_from_slice(IFNAME.as_bytes());
            // SAFETY: TUNSETIFF reads and writes a `struct ifreq` (40 bytes,
            // name then flags), which `req` is laid out as.
            let rc = unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETIFF as _, &mut req) };
            assert_eq!(rc, 0, "TUNSETIFF: {}", std::io::Error::last_os_error());
            tun
        })
        .join()
        .expect("the TUN thread panicked")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let out = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not delete network namespace {}: {out:?}",
                self.name
            );
        }
    }
}

/// What the link does to packets, each in parts per thousand.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Dropped.
    pub loss: u32,
    /// Held back and sent after the next packet in the same direction.
    pub reorder: u32,
    /// Sent twice.
    pub duplicate: u32,
    /// One byte of the TCP payload flipped (the receiver's checksum check
    /// drops the packet). Only packets with a payload.
    pub corrupt: u32,
}

/// Counts of what the forwarder did.
#[derive(Default, Debug)]
pub struct Stats {
    pub packets: AtomicU64,
    pub forwarded: AtomicU64,
    pub lost: AtomicU64,
    pub reordered: AtomicU64,
    pub duplicated: AtomicU64,
    pub corrupted: AtomicU64,
    pub blackholed: AtomicU64,
    pub write_errors: AtomicU64,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        write!(
            f,
            "{} packets: {} lost, {} reordered, {} duplicated, {} corrupted, {} blackholed, {} write errors",
            g(&self.packets),
            g(&self.lost),
            g(&self.reordered),
            g(&self.duplicated),
            g(&self.corrupted),
            g(&self.blackholed),
            g(&self.write_errors)
        )
    }
}

/// Two namespaces, A (`ADDR_A`) and B (`ADDR_B`), joined by a faulty link.
/// Dropping it stops the forwarder, closes the TUN devices and deletes the
/// namespaces.
pub struct Link {
    // Dropped in this order: the forwarder (and the devices) first.
    stop: Arc<AtomicBool>,
    forwarder: Option<JoinHandle<()>>,
    blackhole: Arc<AtomicBool>,
    stats: Arc<Stats>,
    pub a: Netns,
    pub b: Netns,
}

impl Link {
    /// Creates the namespaces `nodenet-fault-<pid>-<tag>-a` / `-b`, a TUN
    /// device in each with `ADDR_A/30` / `ADDR_B/30`, and starts the
    /// forwarder with `faults`, its random choices seeded by `seed`.
    pub fn new(tag: &str, faults: Faults, seed: u64) -> Link {
        sweep_stale();
        let pid = std::process::id();
        let a = Netns::create(format!("{PREFIX}{pid}-{tag}-a"));
        let b = Netns::create(format!("{PREFIX}{pid}-{tag}-b"));
        let tun_a = a.open_tun();
        let tun_b = b.open_tun();
        for (ns, addr) in [(&a, ADDR_A), (&b, ADDR_B)] {
            ip(&[
                "-n",
                ns.name(),
                "addr",
                "add",
                &format!("{addr}/30"),
                "dev",
                IFNAME,
            ]);
            ip(&["-n", ns.name(), "link", "set", IFNAME, "up"]);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let blackhole = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let forwarder = {
            let mut fwd = Forwarder {
                tuns: [tun_a, tun_b],
                held: [None, None],
                rng: seed | 1,
                faults,
                stop: stop.clone(),
                blackhole: blackhole.clone(),
                stats: stats.clone(),
            };
            std::thread::Builder::new()
                .name(format!("forwarder-{tag}"))
                .spawn(move || fwd.run())
                .expect("spawn the forwarder")
        };
        Link {
            stop,
            forwarder: Some(forwarder),
            blackhole,
            stats,
            a,
            b,
        }
    }

    /// From now on, drop every packet in both directions (or stop doing so).
    pub fn set_blackhole(&self, on: bool) {
        self.blackhole.store(on, Ordering::SeqCst);
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(f) = self.forwarder.take() {
            // The forwarder checks `stop` at least every few milliseconds.
            let panicked = f.join().is_err();
            if panicked && !std::thread::panicking() {
                panic!("the forwarder panicked");
            }
        }
        // Then `a` and `b` drop: the namespaces are deleted.
    }
}

/// The forwarder thread's state. Index 0 is A's device, 1 is B's; a packet
/// read from `tuns[i]` is written to `tuns[1 - i]`, and `held[i]` is the
/// packet of that direction being held back.
struct Forwarder {
    tuns: [File; 2],
    held: [Option<(Vec<u8>, Instant)>; 2],
    rng: u64,
    faults: Faults,
    stop: Arc<AtomicBool>,
    blackhole: Arc<AtomicBool>,
    stats: Arc<Stats>,
}

impl Forwarder {
    fn run(&mut self) {
        let start = Instant::now();
        let mut buf = vec![0u8; 65536];
        while !self.stop.load(Ordering::SeqCst) && start.elapsed() < FORWARDER_LIMIT {
            let mut fds = [
                libc::pollfd {
                    fd: self.tuns[0].as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.tuns[1].as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: `fds` is a valid array of two pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 2) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                assert_eq!(e.kind(), ErrorKind::Interrupted, "poll: {e}");
            }
            for from in 0..2 {
                // At most 256 packets per side per wakeup, so one busy
                // direction cannot starve the other.
                for _ in 0..256 {
                    match (&self.tuns[from]).read(&mut buf) {
                        Ok(len) => self.packet(from, &mut buf[..len]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => panic!("read from TUN: {e}"),
                    }
                }
                if let Some((_, since)) = &self.held[from] {
                    if since.elapsed() >= HOLD_LIMIT {
                        let (p, _) = self.held[from].take().unwrap();
                        self.send(1 - from, &p);
                    }
                }
            }
        }
    }

    /// One in a thousand: true with probability `per_mille`/1000.
    fn chance(&mut self, per_mille: u32) -> bool {
        self.next() % 1000 < u64::from(per_mille)
    }

    /// xorshift64*.
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn packet(&mut self, from: usize, p: &mut [u8]) {
        let to = 1 - from;
        self.stats.packets.fetch_add(1, Ordering::Relaxed);
        if self.blackhole.load(Ordering::SeqCst) {
            self.stats.blackholed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.chance(self.faults.loss) {
            self.stats.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.chance(self.faults.corrupt) {
            if let Some(range) = tcp_payload(p) {
                let at = range.start + (self.next() % range.len() as u64) as usize;
                // A non-zero XOR: the byte always changes, and a one-byte
                // change always changes the ones'-complement checksum.
                p[at] ^= 1 + (self.next() % 255) as u8;
                self.stats.corrupted.fetch_add(1, Ordering::Relaxed);
            }
        }
        if self.held[from].is_none() && self.chance(self.faults.reorder) {
            self.held[from] = Some((p.to_vec(), Instant::now()));
            self.stats.reordered.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.send(to, p);
        if self.chance(self.faults.duplicate) {
            self.stats.duplicated.fetch_add(1, Ordering::Relaxed);
            self.send(to, p);
        }
        if let Some((held, _)) = self.held[from].take() {
            self.send(to, &held);
        }
    }

    fn send(&mut self, to: usize, p: &[u8]) {
        // A TUN device takes a whole packet per write, or none of it.
        match (&self.tuns[to]).write(p) {
            Ok(n) if n == p.len() => {
                self.stats.forwarded.fetch_add(1, Ordering::Relaxed);
            }
            // A full or refusing device is one more lost packet.
            _ => {
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The byte range of an IPv4 TCP packet's payload, if it has one.
fn tcp_payload(p: &[u8]) -> Option<std::ops::Range<usize>> {
    if p.len() < 20 || p[0] >> 4 != 4 || p[9] != 6 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
    if total < ihl + 20 {
        return None;
    }
    let doff = usize::from(p[ihl + 12] >> 4) * 4;
    let start = ihl + doff;
    (start < total).then_some(start..total)
}
