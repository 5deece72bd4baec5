//! MPNS's rate limiter, as it behaves (docs/mpns-contract.md §1.3): every response carries the
//! `X-Ratelimit-*` headers, and nothing is refused unless `ThrottleEnforce` asks for a real
//! fixed-window limit keyed by the `ThrottleVaryByHeader` headers, counted in this process or,
//! with `ThrottleRedisURL`, in Redis for all replicas (`shared_window.rs`).

use std::{
    collections::HashMap,
    num::NonZeroU64,
    sync::Mutex,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use http::HeaderMap;

use crate::shared_window::SharedWindow;

/// `pushgate_throttle_backend_errors_total`, registered in `registry`: requests the shared
/// limit could not ask Redis about. One definition for the `pushgate` and `pushgate-bridge`
/// registries.
pub fn backend_errors_counter(registry: &prometheus::Registry) -> prometheus::IntCounter {
    let counter = prometheus::IntCounter::new(
        "pushgate_throttle_backend_errors_total",
        "Requests the shared rate limit (ThrottleRedisURL) could not ask Redis about; ThrottleRedisOnError decided them.",
    )
    .expect("valid metric");
    registry
        .register(Box::new(counter.clone()))
        .expect("unique metric");
    counter
}

/// `pushgate_throttled_requests_total`, registered in `registry`: requests the enforced limit
/// answered 429, for both binaries' registries.
pub fn throttled_counter(registry: &prometheus::Registry) -> prometheus::IntCounter {
    let counter = prometheus::IntCounter::new(
        "pushgate_throttled_requests_total",
        "Requests answered 429 limit exceeded by the enforced rate limit (ThrottleEnforce).",
    )
    .expect("valid metric");
    registry
        .register(Box::new(counter.clone()))
        .expect("unique metric");
    counter
}

/// What an enforced limit does when its Redis cannot be asked (`ThrottleRedisOnError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisFailure {
    /// Let the request through (the default: a Redis outage must not stop pushes).
    Allow,
    /// Refuse it as over the limit.
    Deny,
}

#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// Requests per one-second window.
    pub per_sec: NonZeroU64,
    /// How many keys to remember; 0 = unbounded.
    pub memory_store_size: usize,
    /// Header names whose lower-cased values form the key.
    pub vary_by: Vec<String>,
    /// Refuse requests over the quota with 429 (MPNS never does).
    pub enforce: bool,
    /// `ThrottleRedisURL`: count the enforced quota in this Redis, shared by every replica;
    /// empty counts in this process.
    pub redis_url: String,
    /// `ThrottleRedisOnError`: `allow` (default) or `deny` when Redis cannot be asked.
    pub on_redis_error: RedisFailure,
}

impl ThrottleSettings {
    /// From MPNS's config keys, with MPNS's reading of them: a `ThrottlePerSec` below 1 is 1,
    /// a negative store size is unbounded, `ThrottleVaryByHeader` is a space-separated list.
    pub fn from_mpns(
        per_sec: i64,
        memory_store_size: i64,
        vary_by_header: &str,
        enforce: bool,
    ) -> Self {
        ThrottleSettings {
            per_sec: NonZeroU64::new(per_sec.max(1) as u64).unwrap_or(NonZeroU64::MIN),
            memory_store_size: memory_store_size.max(0) as usize,
            vary_by: vary_by_header
                .split_whitespace()
                .map(String::from)
                .collect(),
            enforce,
            redis_url: String::new(),
            on_redis_error: RedisFailure::Allow,
        }
    }

    /// Adds `ThrottleRedisURL` and `ThrottleRedisOnError`, refusing a URL Redis's client
    /// cannot read and a failure mode other than `allow` or `deny`.
    pub fn with_redis(mut self, url: &str, on_error: &str) -> Result<Self, String> {
        if !url.is_empty() {
            SharedWindow::new(url)?;
        }
        self.redis_url = url.to_string();
        self.on_redis_error = match on_error {
            "" | "allow" => RedisFailure::Allow,
            "deny" => RedisFailure::Deny,
            other => {
                return Err(format!(
                    "ThrottleRedisOnError is {other:?}: it takes \"allow\" or \"deny\""
                ))
            }
        };
        Ok(self)
    }
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            per_sec: NonZeroU64::new(300).unwrap_or(NonZeroU64::MIN),
            memory_store_size: 50_000,
            vary_by: vec!["X-Forwarded-For".into()],
            enforce: false,
            redis_url: String::new(),
            on_redis_error: RedisFailure::Allow,
        }
    }
}

pub struct Limiter {
    settings: ThrottleSettings,
    /// key → (window second, count in it)
    windows: Mutex<HashMap<String, (u64, u64)>>,
    /// The Redis counter of an enforced limit shared by replicas.
    shared: Option<SharedWindow>,
    /// When a Redis failure was last logged: at most one line a minute.
    logged: Mutex<Option<Instant>>,
}

/// What the limiter decided for one request.
pub struct Verdict {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window resets.
    pub reset: u64,
    /// The shared counter could not be asked (`pushgate_throttle_backend_errors_total`).
    pub backend_error: bool,
}

impl Limiter {
    pub fn new(settings: ThrottleSettings) -> Self {
        // `with_redis` checked the URL.
        let shared = (settings.enforce && !settings.redis_url.is_empty())
            .then(|| SharedWindow::new(&settings.redis_url).ok())
            .flatten();
        Limiter {
            settings,
            windows: Mutex::new(HashMap::new()),
            shared,
            logged: Mutex::new(None),
        }
    }

    pub async fn check(&self, headers: &HeaderMap) -> Verdict {
        let limit = self.settings.per_sec.get();
        if !self.settings.enforce {
            // MPNS's limiter resets every window at once, so this is what it always reports.
            return Verdict {
                allowed: true,
                limit,
                remaining: limit - 1,
                reset: 1,
                backend_error: false,
            };
        }
        let key = self.key(headers);
        let Some(shared) = &self.shared else {
            return self.count_here(key, limit);
        };
        // Boxed: a Redis round trip is a large future, and inline it would make every request's
        // future that much larger, also where no shared limit is set.
        match Box::pin(shared.count(&key)).await {
            Ok(n) => Verdict {
                allowed: n <= limit,
                limit,
                remaining: limit.saturating_sub(n),
                reset: 1,
                backend_error: false,
            },
            Err(error) => {
                self.log_once_a_minute(&error);
                let allowed = self.settings.on_redis_error == RedisFailure::Allow;
                Verdict {
                    allowed,
                    limit,
                    remaining: if allowed { limit - 1 } else { 0 },
                    reset: 1,
                    backend_error: true,
                }
            }
        }
    }

    fn log_once_a_minute(&self, error: &str) {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            *logged = Some(Instant::now());
            let mode = match self.settings.on_redis_error {
                RedisFailure::Allow => "allowing",
                RedisFailure::Deny => "refusing",
            };
            tracing::error!(error = %error, "The shared rate limit cannot reach Redis: {mode} requests until it can (logged once a minute; counted in pushgate_throttle_backend_errors_total)");
        }
    }

    fn count_here(&self, key: String, limit: u64) -> Verdict {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let store = self.settings.memory_store_size;
        if store > 0 && windows.len() >= store && !windows.contains_key(&key) {
            // Forget stale windows first; if all are current, forget everything (bounded memory
            // matters more than a precise count for keys we have no room for).
            windows.retain(|_, (second, _)| *second == now);
            if windows.len() >= store {
                windows.clear();
            }
        }
        let entry = windows.entry(key).or_insert((now, 0));
        if entry.0 != now {
            *entry = (now, 0);
        }
        entry.1 += 1;
        Verdict {
            allowed: entry.1 <= limit,
            limit,
            remaining: limit.saturating_sub(entry.1),
            reset: 1,
            backend_error: false,
        }
    }

    fn key(&self, headers: &HeaderMap) -> String {
        let mut key = String::new();
        for name in &self.settings.vary_by {
            if let Some(value) = headers.get(name.as_str()).and_then(|v| v.to_str().ok()) {
                key.push_str(&value.to_lowercase());
            }
            key.push('\n');
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unenforced_never_refuses() {
        let l = Limiter::new(ThrottleSettings {
            per_sec: NonZeroU64::new(2).unwrap(),
            ..Default::default()
        });
        for _ in 0..10 {
            let v = l.check(&HeaderMap::new()).await;
            assert!(v.allowed);
            assert_eq!((v.limit, v.remaining, v.reset), (2, 1, 1));
        }
    }

    #[tokio::test]
    async fn enforced_counts_per_key() {
        let l = Limiter::new(ThrottleSettings {
            per_sec: NonZeroU64::new(2).unwrap(),
            enforce: true,
            ..Default::default()
        });
        let mut a = HeaderMap::new();
        a.insert("x-forwarded-for", "10.0.0.1".parse().unwrap());
        // Three in a row in one second (retry if the second turned over between them).
        for _ in 0..5 {
            let mut r = Vec::new();
            for _ in 0..3 {
                r.push(l.check(&a).await.allowed);
            }
            if r == [true, true, false] {
                assert!(
                    l.check(&HeaderMap::new()).await.allowed,
                    "another key has its own quota"
                );
                return;
            }
        }
        panic!("the third request in one window was never refused");
    }
}
