//! `ThrottleEnforce`'s one-second window counted in Redis (`ThrottleRedisURL`), so that every
//! replica behind a balancer shares one quota instead of each granting its own.
//!
//! One atomic script per request increments the key's counter for the current second of the
//! Redis server's clock (so replicas with skewed clocks still share windows) and lets it expire
//! soon after. What it is not: a different limit. The window, the key (`ThrottleVaryByHeader`)
//! and the answers are the in-memory limiter's (`throttle.rs`).

use crate::redis_link::RedisLink;

/// Increments this second's counter of KEYS[1] and returns it. The second comes from Redis's
/// own clock; the key lives two seconds.
const COUNT: &str = r"
local second = redis.call('TIME')[1]
local key = KEYS[1] .. ':' .. second
local n = redis.call('INCR', key)
if n == 1 then redis.call('EXPIRE', key, 2) end
return n
";

pub struct SharedWindow {
    link: RedisLink,
    script: redis::Script,
}

impl SharedWindow {
    /// Checks the URL only; connecting waits for the first request.
    pub fn new(url: &str) -> Result<SharedWindow, String> {
        Ok(SharedWindow {
            link: RedisLink::new(url, "ThrottleRedisURL")?,
            script: redis::Script::new(COUNT),
        })
    }

    /// The request count of `key` in the current second, this request included.
    pub async fn count(&self, key: &str) -> Result<u64, String> {
        let key = format!("pushgate:throttle:{key}");
        self.link.run(&self.script, &[&key], &[]).await
    }
}
