//! What only TCP has: `TCP_NODELAY`, keep-alive probes, the IP type of
//! service.

use std::time::Duration;

use mio::net::TcpStream;

/// Keep-alive as a socket asks for it: delay and interval in seconds (0
/// keeps Node 20's 1 s interval and 10 probes).
pub(crate) struct KeepAlive {
    pub(crate) enable: bool,
    pub(crate) delay_s: u64,
    pub(crate) interval_s: u32,
    pub(crate) count: u32,
}

/// The longest keep-alive delay or interval Linux takes (seconds).
const KEEPALIVE_MAX_S: u64 = 32_767;

pub(crate) fn set_keep_alive(stream: &TcpStream, ka: &KeepAlive) {
    let sock = socket2::SockRef::from(stream);
    if !ka.enable {
        let _ = sock.set_keepalive(false);
        return;
    }
    let interval = if ka.interval_s > 0 {
        u64::from(ka.interval_s).min(KEEPALIVE_MAX_S)
    } else {
        1
    };
    let mut params = socket2::TcpKeepalive::new().with_interval(Duration::from_secs(interval));
    if ka.delay_s > 0 {
        params = params.with_time(Duration::from_secs(ka.delay_s.min(KEEPALIVE_MAX_S)));
    }
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        let count = if ka.count > 0 { ka.count } else { 10 };
        params = params.with_retries(count);
    }
    let _ = sock.set_tcp_keepalive(&params);
    let _ = sock.set_keepalive(true);
}

pub(crate) fn set_type_of_service(stream: &TcpStream, tos: u8) {
    let sock = socket2::SockRef::from(stream);
    match stream.local_addr() {
        Ok(a) if a.is_ipv6() => {
            let _ = sock.set_tclass_v6(tos.into());
        }
        _ => {
            let _ = sock.set_tos(tos.into());
        }
    }
}
