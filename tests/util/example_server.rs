//! Example binaries as child processes: started with their arguments, the
//! port read from their `listening on HOST:PORT` line, killed on drop.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::LIMIT;

/// An example server running as a child process, killed on drop.
pub struct ExampleServer {
    pub child: Child,
    pub port: u16,
    pub name: &'static str,
}

impl ExampleServer {
    /// Starts `target/<profile>/examples/<name>` with `args` and reads the
    /// port from its `listening on HOST:PORT` line.
    pub fn start(name: &'static str, args: &[&str]) -> ExampleServer {
        let exe = example_path(name);
        assert!(
            exe.exists(),
            "{} is missing: `cargo test` builds the examples with the tests \
             (or run `cargo build --examples`)",
            exe.display()
        );
        let mut child = Command::new(&exe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("listening on ") {
                    let port = rest.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(LIMIT)
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("{name} did not print `listening on HOST:PORT`"));
        ExampleServer { child, port, name }
    }

    pub fn connect(&self) -> TcpStream {
        let c = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        c.set_read_timeout(Some(LIMIT)).unwrap();
        c.set_write_timeout(Some(LIMIT)).unwrap();
        c
    }

    /// Three clients each send `partial` (the middle of a message or a
    /// stream), then reset; the server must still be running after them.
    pub fn reset_clients_mid_stream(&mut self, partial: &[u8]) {
        for _ in 0..3 {
            let mut c = self.connect();
            c.write_all(partial).unwrap();
            // Give the server the data (and a chance to answer into a
            // buffer nobody reads), then reset.
            std::thread::sleep(Duration::from_millis(30));
            let raw = socket2::Socket::from(c);
            raw.set_linger(Some(Duration::ZERO)).unwrap();
            drop(raw);
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "{} exited after clients reset",
            self.name
        );
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example binary beside this test binary: `target/<profile>/examples`.
/// Fails if the binary is older than its source or the library's (`cargo
/// test --test X` alone does not rebuild the examples; `cargo test` does).
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir.join("examples").join(name);
    if let Ok(built) = std::fs::metadata(&binary).and_then(|m| m.modified()) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources = vec![root.join("examples").join(format!("{name}.rs"))];
        if let Ok(dir) = std::fs::read_dir(root.join("src")) {
            sources.extend(dir.flatten().map(|e| e.path()));
        }
        for source in sources {
            let changed = std::fs::metadata(&source).and_then(|m| m.modified());
            assert!(
                changed.map_or(true, |c| c <= built),
                "{} is older than {}: run `cargo build --examples` (or the whole `cargo test`)",
                binary.display(),
                source.display()
            );
        }
    }
    binary
}

impl ExampleServer {
    /// The child's resident memory (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the server's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

/// Whether the real client `program` (redis-cli, curl) is on PATH. Without
/// it, under CI (`CI=true`) the test fails; elsewhere it says on stderr
/// which package to install and the caller returns (the test is skipped),
/// so that `cargo test` passes on a fresh machine.
pub fn client_available(program: &str, package: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{program} is not on PATH: install the {package} package (.ci/run does)");
    }
    eprintln!(
        "skipped: {program} is not on PATH; install it to run this test \
         (Debian/Ubuntu: apt-get install {package})"
    );
    false
}
