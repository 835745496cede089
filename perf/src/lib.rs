//! Shared pieces of the benchmark harness: command-line flags, `/proc`
//! readers for a server's CPU time and memory, and the deterministic byte
//! pattern the streaming test sends and verifies.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};

/// `--name value` flags (and bare `--name` switches), nothing positional.
#[derive(Debug, Default)]
pub struct Flags {
    values: HashMap<String, String>,
}

impl Flags {
    /// Parses `std::env::args()`; `switches` are the flags that take no value.
    pub fn from_env(switches: &[&str]) -> Result<Flags, String> {
        Flags::parse(std::env::args().skip(1), switches)
    }

    /// Parses `args` (without the program name).
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        switches: &[&str],
    ) -> Result<Flags, String> {
        let mut values = HashMap::new();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!(
                    "unexpected argument {arg:?} (flags are --name value)"
                ));
            };
            if switches.contains(&name) {
                values.insert(name.to_string(), "1".to_string());
                continue;
            }
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            values.insert(name.to_string(), value);
        }
        Ok(Flags { values })
    }

    /// Whether the flag was given.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The flag's value as a string, or `default`.
    pub fn str(&self, name: &str, default: &str) -> String {
        self.values
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    /// The flag's value parsed, or `default`.
    pub fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| format!("--{name} {v:?}: {e}")),
        }
    }
}

/// What the load generator and the mio echo need of a mio stream, so that
/// both are generic over TCP and Unix sockets (monomorphised: the TCP path
/// is the code it was, with no per-call branch on the socket family).
pub trait MioStream: io::Read + io::Write + mio::event::Source + Sized {
    /// A pending connect's error (`SO_ERROR`), if any.
    fn take_error(&self) -> io::Result<Option<io::Error>>;
    /// Whether a non-blocking connect has completed (`Err` with
    /// `NotConnected` while it is still under way).
    fn check_connected(&self) -> io::Result<()>;
    /// TCP: `TCP_NODELAY`. Nothing for a Unix socket.
    fn set_nodelay(&self);
    /// Shuts the write side down (sends the FIN / EOF).
    fn shutdown_write(&self) -> io::Result<()>;
    /// Prepares to be dropped without leaving anything behind: TCP closes
    /// with a reset (no `TIME_WAIT`); a Unix socket has nothing to leave.
    fn close_hard(&self);
}

impl MioStream for mio::net::TcpStream {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        mio::net::TcpStream::take_error(self)
    }
    fn check_connected(&self) -> io::Result<()> {
        self.peer_addr().map(|_| ())
    }
    fn set_nodelay(&self) {
        let _ = mio::net::TcpStream::set_nodelay(self, true);
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
    fn close_hard(&self) {
        let _ = socket2::SockRef::from(self).set_linger(Some(std::time::Duration::ZERO));
    }
}

impl MioStream for mio::net::UnixStream {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        mio::net::UnixStream::take_error(self)
    }
    fn check_connected(&self) -> io::Result<()> {
        self.peer_addr().map(|_| ())
    }
    fn set_nodelay(&self) {}
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
    fn close_hard(&self) {}
}

/// Prints `listening on PATH` and flushes: the Unix socket form of
/// [`announce_listening`].
pub fn announce_listening_path(path: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "listening on {path}");
    let _ = out.flush();
}

/// Prints `listening on HOST:PORT` and flushes: the line the harness waits
/// for before it starts the load generator.
pub fn announce_listening(host: &str, port: u16) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "listening on {host}:{port}");
    let _ = out.flush();
}

/// The kernel's clock ticks per second, the unit of `utime` / `stime`.
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a configuration value; it has no
    // preconditions and touches no memory of ours.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// User + system CPU time of process `pid` (all its threads), in seconds,
/// from `/proc/<pid>/stat`.
pub fn process_cpu_secs(pid: u32) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: fields are counted after
    // its closing parenthesis. utime and stime are fields 14 and 15, i.e.
    // the 12th and 13th after the name.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no ')' in stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short stat line"))
    };
    let ticks = field(11)? + field(12)?;
    Ok(ticks as f64 / clock_ticks_per_sec() as f64)
}

/// Busy time of CPU `cpu` since boot in seconds, from `/proc/stat`:
/// everything but idle and iowait, whoever ran there (the harness pins the
/// server alone to its core; other load on the machine shows up here).
pub fn cpu_core_busy_secs(cpu: u32) -> io::Result<f64> {
    let stat = fs::read_to_string("/proc/stat")?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no {name} in /proc/stat"))
        })?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    if ticks.len() < 5 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "short cpu line"));
    }
    // user nice system idle iowait irq softirq steal (guest time is already
    // inside user); steal is time the hypervisor took, not the core's work.
    let busy: u64 = ticks
        .iter()
        .take(7)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Ok(busy as f64 / clock_ticks_per_sec() as f64)
}

/// Resident set size of process `pid` in KiB (`VmRSS` of
/// `/proc/<pid>/status`): user-space memory only, socket buffers are the
/// kernel's.
pub fn process_rss_kib(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no VmRSS in status"))
}

/// The period of the streaming pattern: a prime, so the pattern does not
/// line up with any power-of-two chunking.
pub const PATTERN_PERIOD: usize = 251;

/// The byte at `pos` of stream `seed`'s pattern.
pub fn pattern_byte(seed: u64, pos: u64) -> u8 {
    ((pos + seed * 17) % PATTERN_PERIOD as u64) as u8
}

/// The deterministic stream pattern as one buffer, so that any window of up
/// to `max_len` bytes at any stream position is a plain slice of it
/// (sending and verifying cost a `memcpy` / `memcmp`, not a loop per byte).
#[derive(Debug, Clone)]
pub struct Pattern {
    buf: Vec<u8>,
}

impl Pattern {
    /// A pattern that serves windows of up to `max_len` bytes.
    pub fn new(max_len: usize) -> Pattern {
        let len = max_len + PATTERN_PERIOD;
        Pattern {
            buf: (0..len as u64).map(|i| pattern_byte(0, i)).collect(),
        }
    }

    /// The `len` bytes of stream `seed` starting at `pos`.
    pub fn window(&self, seed: u64, pos: u64, len: usize) -> &[u8] {
        let start = ((pos + seed * 17) % PATTERN_PERIOD as u64) as usize;
        &self.buf[start..start + len]
    }
}

/// Parses a `RESULT key=value ...` line of the load generator.
pub fn parse_result(line: &str) -> Option<HashMap<String, f64>> {
    let rest = line.strip_prefix("RESULT ")?;
    Some(
        rest.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_windows_match_the_byte_function() {
        let p = Pattern::new(1000);
        for seed in [0u64, 1, 7, 300] {
            for pos in [0u64, 1, 250, 251, 1_000_003] {
                let w = p.window(seed, pos, 1000);
                for (i, b) in w.iter().enumerate() {
                    assert_eq!(*b, pattern_byte(seed, pos + i as u64));
                }
            }
        }
    }

    #[test]
    fn flags_parse_values_and_switches() {
        let f = Flags::parse(
            ["--port", "7", "--quick", "--host", "h"].map(String::from),
            &["quick"],
        )
        .unwrap();
        assert_eq!(f.get("port", 0u16).unwrap(), 7);
        assert!(f.has("quick"));
        assert_eq!(f.str("host", "x"), "h");
        assert_eq!(f.str("other", "x"), "x");
        assert!(Flags::parse(["--port".to_string()], &[]).is_err());
    }

    #[test]
    fn own_process_is_readable() {
        let pid = std::process::id();
        assert!(process_rss_kib(pid).unwrap() > 0);
        assert!(process_cpu_secs(pid).unwrap() >= 0.0);
        assert!(cpu_core_busy_secs(0).unwrap() > 0.0);
    }

    #[test]
    fn result_lines_parse() {
        let r = parse_result("RESULT mode=1 msgs=10 rate=2.5").unwrap();
        assert_eq!(r["msgs"], 10.0);
        assert_eq!(r["rate"], 2.5);
        assert!(parse_result("other").is_none());
    }
}
