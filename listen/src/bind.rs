//! Binding a listener with the backlog the system allows (`net.core.somaxconn`, 4,096 on
//! current Linux) instead of the 128 that the standard library, mio and so tokio use: past 128
//! waiting connections the kernel drops new ones (`ListenOverflows`), and clients retry only
//! after 1 s, then 3 s. Go's listeners (MPNS, gorush) read somaxconn the same way.

use std::{io, net::SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// Used where somaxconn cannot be read (not Linux, or no /proc).
const FALLBACK_BACKLOG: i32 = 4096;

/// Binds `addr` (`host:port`; a name may resolve to several addresses, the first that binds
/// wins) with the system's largest backlog.
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    let backlog = backlog();
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        match bind_one(addr, backlog) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
}

fn bind_one(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As std and mio do on Unix: a restarted process can bind while old connections linger.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

/// The listen backlog: `net.core.somaxconn` (the kernel caps any larger request at it anyway).
pub fn backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(FALLBACK_BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_loopback_and_a_free_port() {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        assert!(bind(&addr.to_string()).await.is_err(), "the port is taken");
    }
}
