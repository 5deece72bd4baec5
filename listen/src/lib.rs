//! Accepting connections, for both of pushgate's listeners (gRPC and the MPNS HTTP API) and the
//! standalone bridge.
//!
//! What it is: the part between `TcpListener` and a protocol server that keeps a busy or
//! hostile network from hurting the process. `Incoming` accepts within a cap on open connections
//! (excess clients wait in the kernel's backlog instead of costing descriptors and memory),
//! backs off when `accept` fails (at the descriptor limit it fails at once, forever: retrying at
//! once is a busy loop), sets `TCP_NODELAY`, runs TLS handshakes off the accept loop, and can cut
//! connections that stay silent or stop reading. `serve_http` serves an axum router on it with a
//! deadline for request headers and a graceful shutdown: HTTP/1.1 on connections of its own whose
//! buffers start empty (`http1.rs`), HTTP/2 on hyper's.
//!
//! `bind` listens with the system's backlog (`net.core.somaxconn`), not the standard library's
//! 128, so thousands of clients arriving at once wait in the kernel instead of being dropped.
//!
//! What it is not: what a request means. tonic serves gRPC on `Incoming`; the bridge's router
//! answers HTTP; the HTTP/1.1 connection only reads requests and writes the router's answers.

#![forbid(unsafe_code)]

mod accept;
mod bind;
mod http;
mod http1;

pub use accept::{Conn, Incoming, Settings, Slots};
pub use bind::{backlog, bind};
pub use http::{serve_http, HttpSettings};
#[cfg(feature = "fuzzing")]
pub use http1::read_requests;
