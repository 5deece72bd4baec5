//! `pushgate-plugin`: pushgate's Mattermost server plugin. The Mattermost server starts this
//! executable and speaks go-plugin's net/rpc protocol to it; the plugin answers the MPNS HTTP API
//! under `<SiteURL>/plugins/com.mattermost.pushgate/<secret>/` and carries each push to pushgate
//! over gRPC (docs/mattermost-plugin.md).
//!
//! Not a program to run by hand: without the server's magic cookie it says so and exits 1.
//!
//! The protocol layers under the hooks come from crates: `goplugin` (handshake, hashicorp-style
//! yamux, go-plugin's control stream and stream broker), `go-netrpc` (Go's net/rpc) and `gobwire`
//! (Go's gob). This crate is the Mattermost layer on top of them and nothing else.

#![forbid(unsafe_code)]

mod api;
mod gate;
#[cfg(test)]
mod golden;
mod hooks;
mod serve_http;
mod settings;
mod status;
mod wire;

use std::{sync::Arc, time::Duration};

use goplugin::{HandshakeConfig, MuxBroker, ServeConfig};

/// Mattermost's handshake (server/public/plugin/api.go): protocol 1 and this cookie.
fn handshake() -> HandshakeConfig {
    HandshakeConfig {
        protocol_version: 1,
        magic_cookie_key: "MATTERMOST_PLUGIN".into(),
        magic_cookie_value: "Securely message teams, anywhere.".into(),
    }
}

// The same allocator as the pushgate binary: glibc's malloc took a fifth of the plugin's CPU
// time under load (bench/plugin).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long the end of a connection and the end of serving may be apart when the server quits
/// the plugin; each wait ends as soon as the other side does.
const QUIT_GRACE: Duration = Duration::from_millis(500);

// One thread: the server's own side of each request costs about twice the plugin's CPU, so a
// second plugin thread buys no throughput, and handing work between threads cost a fifth of the
// plugin's CPU time (bench/plugin).
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let plugin = Arc::new(hooks::Plugin::default());
    // Told when the server's connection ends: the server never reconnects to a plugin
    // process, so then this process is done.
    let closed = Arc::new(tokio::sync::Notify::new());
    let config = ServeConfig::new(handshake()).plugin("hooks", {
        let closed = closed.clone();
        move |broker: MuxBroker| {
            let (session, closed) = (broker.session().clone(), closed.clone());
            tokio::spawn(async move {
                session.closed().await;
                closed.notify_one();
            });
            Ok::<_, String>(hooks::server(plugin.clone(), broker))
        }
    });
    // Registered here, before the handshake line is printed: a SIGTERM right after it must
    // find the handler (a spawned task would register it only once this one yields).
    use tokio::signal::unix::{signal, SignalKind};
    if let Ok(mut term) = signal(SignalKind::terminate()) {
        tokio::spawn(async move {
            term.recv().await;
            std::process::exit(0);
        });
    }
    let serve = goplugin::serve(config);
    tokio::pin!(serve);
    let (served, connection_closed) = tokio::select! {
        served = &mut serve => (served, false),
        // After `Control.Quit` the server closes the connection at once, and `serve` returns
        // (removing the socket file) a moment later; without a Quit it never does.
        () = closed.notified() => match tokio::time::timeout(QUIT_GRACE, &mut serve).await {
            Ok(served) => (served, true),
            Err(_) => std::process::exit(0),
        },
    };
    match served {
        Ok(()) => {
            // `Control.Quit` ended serving: its reply has reached the server once the server,
            // having read it, closes the connection.
            if !connection_closed {
                let _ = tokio::time::timeout(QUIT_GRACE, closed.notified()).await;
            }
            std::process::exit(0);
        }
        Err(e) => {
            // The refusal text for a run without the cookie is already on stderr.
            if !matches!(e, goplugin::ServeError::NotAPlugin) {
                eprintln!("pushgate-plugin: {e}");
            }
            std::process::exit(1);
        }
    }
}
