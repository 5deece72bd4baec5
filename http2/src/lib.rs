//! pushgate's HTTP/2 client for one provider origin (APNs, FCM).
//!
//! What it is: one HTTP/2 connection to one `https://host:port`, opened on first use and again
//! after it is lost — TCP, an optional `CONNECT` tunnel through an `http://` proxy, TLS on
//! rustls with ALPN `h2` (extra roots, a client certificate), then h2 streams. The server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` is readable (`Connection::max_streams`) so the caller can
//! open another connection before this one queues; a PING every keep-alive interval finds a
//! dead connection before a push does. Each request is one `http::Request` and a body; the
//! answer is read to its end (a stream dropped unread is reset, and servers that see many
//! resets close the connection) and capped.
//!
//! Written on h2 rather than taken from reqwest or hyper's client: those add a pool, a
//! connector stack and a task per request body around h2, about a fifth of a push's CPU in
//! pushgate's profiles, and queue requests inside h2 where the caller cannot see the wait. A
//! push gateway talks to a handful of fixed origins and needs none of that.
//!
//! What it is not: a general HTTP client. No HTTP/1, no redirects, no cookies, no
//! decompression, no `https://` proxies; several connections to one origin are the caller's
//! (`pushgate-proxy`'s `connections.rs`).

#![forbid(unsafe_code)]

mod connect;
mod connection;
mod tls;

pub use connect::Proxy;
pub use connection::{Answer, Connection, Error, Settings};
pub use tls::{client_config, roots};
