//! A real `redis-server` on a loopback port, stopped when dropped (Debian package redis-server;
//! .ci/run installs it).

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `redis-server` on 127.0.0.1:`port`, without persistence, and waits until it listens;
/// `None` when it cannot be started.
pub fn redis_server(port: u16) -> Option<Redis> {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Redis(child))
}
