//! pushgate end to end: the real servers and processes against mock providers, one module per
//! concern (each module's first comment says what it drives).
//!
//! One test binary, not one per file: each of the 28 files linked tokio, hyper, tonic and the
//! proxy on its own (≈ 57 MB and a link step each, 1.5 GB in all), which once filled the disk of
//! a CI machine. Nothing here shares state but the process: every test starts its own servers
//! on free loopback ports and sets no environment variables.

mod apns;
mod binary;
mod clients;
mod dashboards;
mod deploy;
mod docs;
mod faults;
mod fcm;
mod grpc_api;
mod health_probe;
mod hms;
mod http_bridge;
mod limits;
mod manifest;
mod mesh;
mod metrics;
mod mpns_answers;
mod newest_pushes;
mod plugin;
mod python_client;
mod receipts;
mod send_api;
mod shared_limit;
mod shared_tokens;
mod tls;
mod traces;
mod upstream_connections;
mod webpush;
