//! pushgate's one way to talk to Redis, for the state replicas share (the enforced rate limit's
//! window, APNs provider tokens): a connection made on first use (Redis may start after
//! pushgate) that reconnects by itself, every call bounded, and after a failure one call a
//! second asks again while the others fail at once, so an outage never adds a timeout to every
//! push. What it is not: a cache or a fallback; each user decides what a failure means.

use std::time::{Duration, Instant};

use redis::{aio::ConnectionManager, FromRedisValue, Script};

/// Longest a call waits for Redis.
pub const TIMEOUT: Duration = Duration::from_millis(250);

pub struct RedisLink {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    /// When a call last failed. For a second after, calls do not ask (one a second does).
    failed_at: std::sync::Mutex<Option<Instant>>,
}

impl RedisLink {
    /// Checks the URL only; connecting waits for the first call. `key` names the setting in
    /// errors.
    pub fn new(url: &str, key: &str) -> Result<RedisLink, String> {
        let client =
            redis::Client::open(url).map_err(|e| format!("{key} is not a Redis URL: {e}"))?;
        Ok(RedisLink {
            client,
            connection: tokio::sync::Mutex::new(None),
            failed_at: std::sync::Mutex::new(None),
        })
    }

    /// Runs `script` with `keys` and `args`, atomically on the Redis server.
    pub async fn run<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, String> {
        {
            let mut failed_at = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
            match *failed_at {
                None => {}
                Some(at) if at.elapsed() < Duration::from_secs(1) => {
                    return Err("Redis failed less than a second ago".into())
                }
                // This call asks again; the others keep failing at once until it knows.
                Some(_) => *failed_at = Some(Instant::now()),
            }
        }
        let answer = self.ask(script, keys, args).await;
        *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) = match answer {
            Ok(_) => None,
            Err(_) => Some(Instant::now()),
        };
        answer
    }

    async fn ask<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, String> {
        let mut connection = self.connection().await?;
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let answer = invocation.invoke_async::<T>(&mut connection);
        match tokio::time::timeout(TIMEOUT, answer).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(format!("Redis: {e}")),
            Err(_) => Err(format!("Redis did not answer within {TIMEOUT:?}")),
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, String> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let made = self.client.get_connection_manager_with_config(config);
        match tokio::time::timeout(TIMEOUT * 2, made).await {
            Ok(Ok(connection)) => {
                *slot = Some(connection.clone());
                Ok(connection)
            }
            Ok(Err(e)) => Err(format!("cannot connect to Redis: {e}")),
            Err(_) => Err("cannot connect to Redis: timed out".into()),
        }
    }
}
