//! `pushgate-bridge`: the MPNS HTTP API on its own, in front of a pushgate gRPC server
//! (`pushgate-bridge --help` lists the flags).
//!
//! The gRPC auth token comes from `--auth-token-file`, or `PUSHGATE_GRPC_AUTH_TOKEN`; the old
//! `--auth-token TOKEN` still works but shows the secret to anyone who can run `ps`.

#![forbid(unsafe_code)]

use std::{path::PathBuf, sync::Arc, time::Duration};

use clap::Parser;
use pushgate_bridge::{bind_address, router, GrpcBackend, Settings, Shutdown, ThrottleSettings};

/// The MPNS HTTP API (/api/v1/send_push, /api/v1/ack) in front of a pushgate gRPC server.
#[derive(Parser, Debug)]
#[command(name = "pushgate-bridge", version = pushgate_bridge::build_info::VERSION)]
struct Args {
    /// The pushgate gRPC server, e.g. http://127.0.0.1:50051 (https:// for TLS).
    #[arg(long, value_name = "URL")]
    upstream: String,

    /// Where the MPNS API listens (MPNS's ListenAddress form: `:8086` or `host:port`).
    #[arg(long, value_name = "ADDR", default_value = ":8086")]
    listen: String,

    /// Each push is answered within this many seconds (MPNS's SendTimeoutSec).
    #[arg(long, value_name = "N", default_value_t = 30)]
    send_timeout_secs: u64,

    /// The gRPC auth token (pushgate's GrpcAuthToken). Prefer --auth-token-file: `ps` shows this.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PUSHGATE_GRPC_AUTH_TOKEN",
        hide_env_values = true
    )]
    auth_token: Option<String>,

    /// A file holding the gRPC auth token; it wins over --auth-token and the environment.
    #[arg(long, value_name = "FILE")]
    auth_token_file: Option<PathBuf>,

    /// Requests per second per client (MPNS's ThrottlePerSec; default 300).
    #[arg(long, value_name = "N")]
    throttle_per_sec: Option<i64>,

    /// Headers whose values tell clients apart, space-separated (MPNS's ThrottleVaryByHeader).
    #[arg(long, value_name = "HEADERS", default_value = "X-Forwarded-For")]
    throttle_vary_by_header: String,

    /// Refuse requests over the limit with 429 (MPNS only writes the X-Ratelimit headers).
    #[arg(long)]
    throttle_enforce: bool,

    /// Count the enforced limit in this Redis, shared by every replica.
    #[arg(long, value_name = "URL")]
    throttle_redis_url: Option<String>,

    /// What to do when Redis cannot be asked.
    #[arg(long, value_name = "MODE", value_parser = ["allow", "deny"], default_value = "allow")]
    throttle_redis_on_error: String,

    /// Serve MPNS's Prometheus metrics on /metrics (MPNS's EnableMetrics).
    #[arg(long)]
    enable_metrics: bool,
}

impl Args {
    /// The token from the file, the flag or the environment, in that order.
    fn auth_token(&self) -> Result<Option<String>, String> {
        match &self.auth_token_file {
            Some(path) => std::fs::read_to_string(path)
                .map(|t| Some(t.trim().to_string()))
                .map_err(|e| format!("--auth-token-file {}: {e}", path.display())),
            None => Ok(self.auth_token.clone()),
        }
    }

    /// MPNS's limiter with MPNS's reading of its keys: one bucket per client, keyed by
    /// `--throttle-vary-by-header` (default `X-Forwarded-For`), as the config file gives it.
    fn throttle(&self) -> Result<ThrottleSettings, String> {
        let defaults = ThrottleSettings::default();
        let per_sec = self
            .throttle_per_sec
            .unwrap_or(defaults.per_sec.get() as i64);
        ThrottleSettings::from_mpns(
            per_sec,
            defaults.memory_store_size as i64,
            &self.throttle_vary_by_header,
            self.throttle_enforce,
        )
        .with_redis(
            self.throttle_redis_url.as_deref().unwrap_or(""),
            &self.throttle_redis_on_error,
        )
        .map_err(|e| e.replace("ThrottleRedisOnError", "--throttle-redis-on-error"))
    }
}

/// Prints `error` as clap prints its own, and exits 2 (a usage error).
fn usage_error(error: String) -> ! {
    eprintln!("pushgate-bridge: {error}");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let auth_token = args.auth_token().unwrap_or_else(|e| usage_error(e));
    let throttle = args.throttle().unwrap_or_else(|e| usage_error(e));
    let send_timeout = Duration::from_secs(args.send_timeout_secs);
    let backend = match GrpcBackend::new(&args.upstream, send_timeout, auth_token.as_deref()) {
        Ok(b) if args.enable_metrics => b.with_metrics(),
        Ok(b) => b,
        Err(e) => usage_error(e),
    };
    let settings = Settings {
        // `/api/v2/send` wants the token the bridge itself presents to pushgate.
        api_token: auth_token.clone(),
        ..Settings::new(throttle, args.enable_metrics)
    };
    let addr = bind_address(&args.listen);
    let listener = match listen::bind(&addr).await {
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
    let shutdown = Shutdown::default();
    shutdown.spawn(listen::serve_http(incoming, app, http, shutdown.stopping()));
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("Stopping Server...");
    shutdown.stop();
    // Every request taken is answered within the send budget.
    if !shutdown
        .drained(send_timeout + Duration::from_secs(1))
        .await
    {
        tracing::warn!("Drain time ran out; closing the remaining connections");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(["pushgate-bridge"].iter().chain(args))
    }

    #[test]
    fn a_throttle_limit_keeps_the_per_client_key() {
        let args = parse(&["--upstream", "http://u", "--throttle-per-sec", "7"]).unwrap();
        let throttle = args.throttle().unwrap();
        assert_eq!(throttle.per_sec.get(), 7);
        assert_eq!(throttle.vary_by, ["X-Forwarded-For"]);
        assert_eq!(
            throttle.memory_store_size,
            ThrottleSettings::default().memory_store_size
        );
        let args = parse(&[
            "--upstream=http://u",
            "--throttle-vary-by-header",
            "X-Real-Ip X-Forwarded-For",
            "--throttle-redis-on-error",
            "deny",
        ])
        .unwrap();
        assert_eq!(args.throttle().unwrap().vary_by.len(), 2);
        assert!(parse(&["--upstream=u", "--throttle-redis-on-error", "maybe"]).is_err());
        assert!(parse(&["--upstream=u", "--send-timeout-secs", "x"]).is_err());
        assert!(parse(&[]).is_err(), "--upstream is required");
    }
}
