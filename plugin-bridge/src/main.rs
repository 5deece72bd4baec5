//! `pushgate-bridge`: the MPNS HTTP API on its own, in front of a pushgate gRPC server.
//!
//!     pushgate-bridge --upstream http://127.0.0.1:50051 [--listen :8086] [--send-timeout-secs 30]
//!                     [--auth-token-file FILE] [--throttle-per-sec N [--throttle-enforce]]
//!                     [--throttle-redis-url URL [--throttle-redis-on-error allow|deny]]
//!                     [--enable-metrics]
//!
//! The gRPC auth token comes from `--auth-token-file`, or `PUSHGATE_GRPC_AUTH_TOKEN`; the old
//! `--auth-token TOKEN` still works but shows the secret to anyone who can run `ps`.

use std::{sync::Arc, time::Duration};

use pushgate_bridge::{bind_address, router, GrpcBackend, Settings, ThrottleSettings};

struct Args {
    upstream: String,
    listen: String,
    send_timeout: Duration,
    auth_token: Option<String>,
    /// MPNS's limiter: headers only, or a real limit with `--throttle-enforce`.
    throttle: ThrottleSettings,
    /// `--enable-metrics`: serve `/metrics` (MPNS's `EnableMetrics`).
    metrics: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        upstream: String::new(),
        listen: ":8086".into(),
        send_timeout: Duration::from_secs(30),
        auth_token: std::env::var("PUSHGATE_GRPC_AUTH_TOKEN").ok(),
        throttle: ThrottleSettings::default(),
        metrics: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.clone(), None),
        };
        let name = name.trim_start_matches('-');
        if name == "version" {
            println!("pushgate-bridge {}", pushgate_bridge::build_info::VERSION);
            std::process::exit(0);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match name {
            "upstream" => args.upstream = value()?,
            "listen" => args.listen = value()?,
            "auth-token" => args.auth_token = Some(value()?),
            "auth-token-file" => {
                let path = value()?;
                let token = std::fs::read_to_string(&path)
                    .map_err(|e| format!("--auth-token-file {path}: {e}"))?;
                args.auth_token = Some(token.trim().to_string());
            }
            "throttle-per-sec" => {
                let v = value()?;
                let n: i64 = v
                    .parse()
                    .map_err(|_| format!("--throttle-per-sec: not a number: {v}"))?;
                let previous = args.throttle.clone();
                args.throttle = ThrottleSettings {
                    redis_url: previous.redis_url,
                    on_redis_error: previous.on_redis_error,
                    ..ThrottleSettings::from_mpns(n, 0, "", previous.enforce)
                };
            }
            "throttle-enforce" => args.throttle.enforce = true,
            "throttle-redis-url" => {
                let url = value()?;
                let on_error = redis_on_error(&args.throttle);
                args.throttle = args.throttle.clone().with_redis(&url, on_error)?;
            }
            "throttle-redis-on-error" => {
                let on_error = value()?;
                let url = args.throttle.redis_url.clone();
                args.throttle = args.throttle.clone().with_redis(&url, &on_error)?;
            }
            "enable-metrics" => args.metrics = true,
            "send-timeout-secs" => {
                let v = value()?;
                let secs = v
                    .parse()
                    .map_err(|_| format!("--send-timeout-secs: not a number: {v}"))?;
                args.send_timeout = Duration::from_secs(secs);
            }
            "h" | "help" => {
                println!("usage: pushgate-bridge --upstream http://HOST:PORT [--listen ADDR] [--send-timeout-secs N] [--auth-token-file FILE] [--throttle-per-sec N [--throttle-enforce]] [--throttle-redis-url URL [--throttle-redis-on-error allow|deny]] [--enable-metrics]");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if args.upstream.is_empty() {
        return Err("--upstream http://HOST:PORT is required".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pushgate-bridge: {e}");
            std::process::exit(2);
        }
    };
    let backend = match GrpcBackend::new(
        &args.upstream,
        args.send_timeout,
        args.auth_token.as_deref(),
    ) {
        Ok(b) if args.metrics => b.with_metrics(),
        Ok(b) => b,
        Err(e) => {
            eprintln!("pushgate-bridge: {e}");
            std::process::exit(2);
        }
    };
    let settings = Settings::new(args.throttle.clone(), args.metrics);
    let addr = bind_address(&args.listen);
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("pushgate-bridge: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    tracing::info!("Server is listening on {}", args.listen);
    let app = router(Arc::new(backend), settings);
    // The same limits as pushgate's embedded bridge: half the descriptors for clients, MPNS's
    // 60 s for idle and stalled connections, 10 s for request headers.
    let descriptors = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let slots = listen::Slots::new((descriptors / 2).clamp(1, usize::MAX as u64) as usize);
    let incoming = match listen::Incoming::new(
        listener,
        slots,
        listen::Settings {
            tls: None,
            read_idle: Some(Duration::from_secs(60)),
            write_stall: Some(Duration::from_secs(60)),
        },
    ) {
        Ok(incoming) => incoming,
        Err(e) => {
            eprintln!("pushgate-bridge: {e}");
            std::process::exit(1);
        }
    };
    let http = listen::HttpSettings {
        header_read: Duration::from_secs(10),
    };
    listen::serve_http(incoming, app, http, async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("Stopping Server...");
    })
    .await;
}

/// The failure mode already chosen, as its flag value.
fn redis_on_error(throttle: &ThrottleSettings) -> &'static str {
    match throttle.on_redis_error {
        pushgate_bridge::throttle::RedisFailure::Allow => "allow",
        pushgate_bridge::throttle::RedisFailure::Deny => "deny",
    }
}
