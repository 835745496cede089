//! Unix domain stream sockets (Node's IPC paths): binding with the socket
//! file's mode, Linux abstract names (a leading NUL), removing the socket
//! file when the server closes, and connecting to a path.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use mio::net::{UnixListener, UnixStream};
use socket2::{Domain, SockAddr, Socket, Type};

/// A listening Unix socket; its socket file (not an abstract name) is
/// removed when it is dropped, as Node removes it on `close()`.
#[derive(Debug)]
pub(crate) struct BoundListener {
    pub(crate) listener: UnixListener,
    file: Option<PathBuf>,
}

impl Drop for BoundListener {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Whether `path` is a Linux abstract name (a leading NUL byte).
pub(crate) fn is_abstract(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().first() == Some(&0)
}

/// The socket address of `path`. A path longer than `sun_path` is an
/// error here (Node 20 truncated it silently; newer Node refuses it too).
fn address(path: &Path) -> io::Result<SockAddr> {
    SockAddr::unix(path).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path is longer than a Unix socket address holds (107 bytes, 108 for an abstract name)",
        )
    })
}

/// Binds and listens on `path`; `readable_all` / `writable_all` add the
/// read / write bits for group and others to the socket file's mode.
pub(crate) fn bind(
    path: &Path,
    backlog: u32,
    readable_all: bool,
    writable_all: bool,
) -> io::Result<BoundListener> {
    let addr = address(path)?;
    let raw = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    raw.set_nonblocking(true)?;
    raw.set_cloexec(true)?;
    raw.bind(&addr)?;
    let abstract_name = is_abstract(path);
    // From here the file is ours: removed on drop, also if listen fails.
    let bound = BoundListener {
        listener: UnixListener::from_std(std::os::unix::net::UnixListener::from(
            std::os::fd::OwnedFd::from(raw),
        )),
        file: (!abstract_name).then(|| path.to_path_buf()),
    };
    if readable_all || writable_all {
        let meta = std::fs::metadata(path)?;
        let mut mode = meta.permissions().mode();
        if readable_all {
            mode |= 0o044;
        }
        if writable_all {
            mode |= 0o022;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    let sock = socket2::SockRef::from(&bound.listener);
    sock.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(bound)
}

/// Starts a non-blocking connect to `path`. A Unix connect completes at
/// once or fails at once (`ENOENT`, `ECONNREFUSED`, `EACCES`); `EAGAIN`
/// (the listener's backlog is full) leaves it in progress.
pub(crate) fn connect(path: &Path) -> io::Result<UnixStream> {
    let addr = address(path)?;
    let raw = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    raw.set_nonblocking(true)?;
    raw.set_cloexec(true)?;
    match raw.connect(&addr) {
        Ok(()) => {}
        // EAGAIN: the listener's backlog is full; the connect goes on.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(UnixStream::from_std(std::os::unix::net::UnixStream::from(
        std::os::fd::OwnedFd::from(raw),
    )))
}
