//! The `pushgate` binary: `pushgate [--config FILE]`, also MPNS's `-config FILE` and `-version`.

#![forbid(unsafe_code)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use pushgate_bridge::build_info;
use tracing_appender::non_blocking::{ErrorCounter, WorkerGuard};

use pushgate_proxy::{
    config::{Config, LogFormat},
    server, GIT_HASH, VERSION,
};

// Per-push work is dominated by many small short-lived allocations (HTTP/2 frames, JSON);
// mimalloc serves them with less CPU than glibc's allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_CONFIG_NAME: &str = "mattermost-push-proxy.json";

enum Command {
    Run(Option<PathBuf>),
    Version,
    Help,
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut config = None;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        match flag.trim_start_matches('-') {
            "version" if flag.starts_with('-') => return Ok(Command::Version),
            "h" | "help" if flag.starts_with('-') => return Ok(Command::Help),
            "config" if flag.starts_with('-') => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or("-config needs a file name")?;
                config = Some(PathBuf::from(value));
            }
            _ => return Err(format!("unknown argument {arg} (try --help)")),
        }
    }
    Ok(Command::Run(config))
}

/// MPNS's lookup without its `/tmp` step (docs/deviations.md, 6).
fn find_config(name: &str) -> Option<PathBuf> {
    [
        format!("./config/{name}"),
        format!("../config/{name}"),
        name.to_string(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

fn load(config: Option<PathBuf>) -> Result<(Config, String), String> {
    let path = match config {
        Some(p) => Some(find_config(&p.to_string_lossy()).unwrap_or(p)),
        None => find_config(DEFAULT_CONFIG_NAME),
    };
    match path {
        Some(p) => {
            let shown = std::path::absolute(&p).unwrap_or(p.clone());
            let config = Config::load(Path::new(&p)).map_err(|e| e.to_string())?;
            Ok((config, shown.display().to_string()))
        }
        None => Ok((
            Config::embedded_dry_run(),
            "the embedded dry-run config".to_string(),
        )),
    }
}

/// MPNS's logging keys: console and/or file, plain or json; `RUST_LOG` filters (default info).
/// Lines are written by a thread of their own from a queue of `LogBufferLines`: a slow or stuck
/// console or disk never holds up a push; a full queue drops lines, counted in
/// `pushgate_log_lines_dropped_total`. The guard writes out what is queued when dropped.
fn init_logging(config: &Config) -> Result<(WorkerGuard, ErrorCounter), String> {
    use std::io::IsTerminal;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let file = if config.logging.file {
        let path = if config.logging.file_location.is_empty() {
            // MPNS: ./logs/push_proxy.log, or ./push_proxy.log when ./logs cannot be made.
            match std::fs::create_dir_all("logs") {
                Ok(()) => PathBuf::from("logs/push_proxy.log"),
                Err(_) => PathBuf::from("push_proxy.log"),
            }
        } else {
            PathBuf::from(&config.logging.file_location)
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("LogFileLocation {}: {e}", path.display()))?;
        Some(file)
    } else {
        None
    };
    let ansi = file.is_none() && std::io::stdout().is_terminal();
    let sinks = Sinks {
        console: config.logging.console,
        file,
    };
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(config.logging.buffer_lines)
        .thread_name("pushgate-log")
        .finish(sinks);
    let dropped = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    match config.logging.format {
        LogFormat::Json => builder.event_format(pushgate_proxy::MpnsJson).init(),
        LogFormat::Plain => builder.init(),
    }
    Ok((guard, dropped))
}

/// Where log lines go: the console, the log file, or both (MPNS's keys).
struct Sinks {
    console: bool,
    file: Option<std::fs::File>,
}

impl Write for Sinks {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        if self.console {
            std::io::stdout().write_all(line)?;
        }
        if let Some(file) = &mut self.file {
            file.write_all(line)?;
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(file) = &mut self.file {
            file.flush()?;
        }
        std::io::stdout().flush()
    }
}

/// `pushgate_log_lines_dropped_total`, read from the log writer when scraped.
struct DroppedLogLines {
    source: ErrorCounter,
    counter: prometheus::IntCounter,
    /// What the counter has been told so far.
    reported: AtomicU64,
}

impl DroppedLogLines {
    fn new(source: ErrorCounter) -> Self {
        DroppedLogLines {
            source,
            counter: prometheus::IntCounter::new(
                "pushgate_log_lines_dropped_total",
                "Log lines dropped because the log writer fell behind (its queue of LogBufferLines was full); pushes never wait for the log.",
            )
            .expect("valid metric"),
            reported: AtomicU64::new(0),
        }
    }
}

impl prometheus::core::Collector for DroppedLogLines {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.counter.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let now = self.source.dropped_lines() as u64;
        let before = self.reported.swap(now, Ordering::Relaxed);
        self.counter.inc_by(now.saturating_sub(before));
        self.counter.collect()
    }
}

/// The outbound proxy APNs uses (MPNS logs it at start), without any credentials in it.
fn outbound_proxy() -> Option<String> {
    pushgate_proxy::apns_proxy().map(|url| pushgate_proxy::without_credentials(&url))
}

/// MPNS's eight lines, in its order; `GoVersion` names the Rust compiler, the one that built it.
fn version_table() -> String {
    let stamp = |v: Option<&'static str>| v.unwrap_or("unknown");
    format!(
        "GitVersion:\tv{VERSION}\nBuildHash:\t{GIT_HASH}\nBuildVersion:\t{VERSION}\nGitTreeState:\t{}\nBuildDate:\t{}\nGoVersion:\t{}\nCompiler:\trustc\nPlatform:\t{}/{}\n",
        stamp(build_info::GIT_TREE_STATE),
        stamp(build_info::BUILD_DATE),
        stamp(build_info::RUSTC_VERSION),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

#[tokio::main]
async fn main() {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pushgate: {e}");
            std::process::exit(2);
        }
    };
    let config_arg = match command {
        Command::Version => {
            print!("{}", version_table());
            return;
        }
        Command::Help => {
            println!("usage: pushgate [--config FILE] [--version]\n\nWithout --config, pushgate reads ./config/{DEFAULT_CONFIG_NAME} or ./{DEFAULT_CONFIG_NAME},\nand runs the embedded dry-run config (nothing is delivered) when neither exists.");
            return;
        }
        Command::Run(c) => c,
    };
    let (config, source) = match load(config_arg.clone()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("pushgate: {e}");
            std::process::exit(1);
        }
    };
    let (log_writer, dropped_log_lines) = match init_logging(&config) {
        Ok(logging) => logging,
        Err(e) => {
            eprintln!("pushgate: {e}");
            std::process::exit(1);
        }
    };
    tracing::info!("Loading {source}");
    tracing::info!(
        version = VERSION,
        hash = GIT_HASH,
        "Push proxy server is initializing..."
    );
    if let Some(proxy) = outbound_proxy() {
        tracing::info!(proxyServer = %proxy, "Proxy server detected.");
    }
    if source.starts_with("the embedded") {
        tracing::warn!("No config file found: running the embedded dry-run config; pushes are built but never sent");
    }
    // Each connection costs a descriptor: take all the system allows, and say how many.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(
            descriptor_limit = limit,
            "Descriptor limit raised to its hard limit"
        ),
        Err(e) => tracing::warn!(error = %e, "Cannot raise the descriptor limit"),
    }
    let running = match server::start(&config).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            std::process::exit(1);
        }
    };
    running.register(Box::new(DroppedLogLines::new(dropped_log_lines)));
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    // SIGTERM comes from an orchestrator behind a balancer: drain with the grace. Ctrl-C
    // comes from a person at a terminal: no grace.
    let graceful = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break false,
            _ = term.recv() => break true,
            _ = hup.recv() => match load(config_arg.clone()) {
                Ok((new, _)) => running.reload(&new).await,
                // The old config stays in force.
                Err(e) => tracing::error!(error = %e, "Config reload failed; keeping the running config"),
            },
        }
    };
    tracing::info!("Stopping Server...");
    if graceful {
        running.shutdown().await;
    } else {
        running.shutdown_now().await;
    }
    write_out_log(log_writer);
}

/// Writes out the queued log lines, waiting at most 2 s: a console nobody reads must not keep
/// the process from exiting (the writer's own shutdown would wait on it for ever).
fn write_out_log(writer: WorkerGuard) {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(writer);
        let _ = done.send(());
    });
    let _ = finished.recv_timeout(std::time::Duration::from_secs(2));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn go_and_gnu_flags() {
        for args in [
            &["-config", "x.json"][..],
            &["--config", "x.json"],
            &["-config=x.json"],
            &["--config=x.json"],
        ] {
            match parse(args) {
                Ok(Command::Run(Some(p))) => assert_eq!(p, PathBuf::from("x.json")),
                _ => panic!("{args:?}"),
            }
        }
        assert!(matches!(parse(&["-version"]), Ok(Command::Version)));
        assert!(matches!(parse(&["--version"]), Ok(Command::Version)));
        assert!(matches!(parse(&[]), Ok(Command::Run(None))));
        assert!(parse(&["-config"]).is_err());
        assert!(parse(&["bogus"]).is_err());
    }
}
