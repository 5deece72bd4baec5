//! `ThrottleEnforce`'s one-second window counted in Redis (`ThrottleRedisURL`), so that every
//! replica behind a balancer shares one quota instead of each granting its own.
//!
//! One atomic script per request increments the key's counter for the current second of the
//! Redis server's clock (so replicas with skewed clocks still share windows) and lets it expire
//! soon after. What it is not: a different limit. The window, the key (`ThrottleVaryByHeader`)
//! and the answers are the in-memory limiter's (`throttle.rs`).

use std::time::Duration;

use redis::aio::ConnectionManager;

/// Increments this second's counter of KEYS[1] and returns it. The second comes from Redis's
/// own clock; the key lives two seconds.
const COUNT: &str = r"
local second = redis.call('TIME')[1]
local key = KEYS[1] .. ':' .. second
local n = redis.call('INCR', key)
if n == 1 then redis.call('EXPIRE', key, 2) end
return n
";

/// Longest a request waits for Redis before the failure mode decides.
const TIMEOUT: Duration = Duration::from_millis(250);

pub struct SharedWindow {
    client: redis::Client,
    /// Made on first use (Redis may start after pushgate); it reconnects by itself after.
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    script: redis::Script,
}

impl SharedWindow {
    /// Checks the URL only; connecting waits for the first request.
    pub fn new(url: &str) -> Result<SharedWindow, String> {
        let client = redis::Client::open(url)
            .map_err(|e| format!("ThrottleRedisURL is not a Redis URL: {e}"))?;
        Ok(SharedWindow {
            client,
            connection: tokio::sync::Mutex::new(None),
            script: redis::Script::new(COUNT),
        })
    }

    /// The request count of `key` in the current second, this request included.
    pub async fn count(&self, key: &str) -> Result<u64, String> {
        let mut connection = self.connection().await?;
        let invocation = self.script.key(format!("pushgate:throttle:{key}"));
        let counted = invocation.invoke_async::<u64>(&mut connection);
        match tokio::time::timeout(TIMEOUT, counted).await {
            Ok(Ok(n)) => Ok(n),
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
        let connection = match tokio::time::timeout(TIMEOUT * 2, made).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => return Err(format!("cannot connect to Redis: {e}")),
            Err(_) => return Err("cannot connect to Redis: timed out".into()),
        };
        *slot = Some(connection.clone());
        Ok(connection)
    }
}
