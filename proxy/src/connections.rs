//! Several HTTP/2 connections to one upstream, opened as their streams fill up.
//!
//! Once an HTTP/2 connection's stream limit is reached, further requests queue inside h2,
//! where nobody sees the wait and the attempt's timeout runs through it: under load that turned
//! into timeouts and retries of pushes that had not even been sent. Here each connection (a
//! `Link`) has a known number of stream slots: the provider's, or fewer when the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` says so. A request first takes a slot (waiting here,
//! before its attempt clock starts), on the least busy connection; a new connection opens only
//! when every open one is full, up to a bound.
//!
//! When the load falls, a connection beyond the first that has carried nothing for
//! `UpstreamIdleSec` is closed (dropping its client closes it); the first stays, as providers
//! ask for long-lived connections.
//!
//! What it is not: a load balancer across hosts, or a retry layer.

use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, Weak,
    },
    time::{Duration, Instant},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{config::UpstreamLimits as Limits, upstream::Link};

/// Builds one more connection (it connects on its first request).
type Open = Box<dyn Fn() -> Result<Link, String> + Send + Sync>;

pub struct Connections {
    open: Open,
    /// Connections opened at most.
    connections: usize,
    /// Requests in flight on one connection before another opens.
    streams: usize,
    /// The open connections; the first is opened (lazily, by its first request) at start.
    lanes: Arc<Mutex<Vec<Arc<Lane>>>>,
    /// Every slot of every connection that may open: waiting for one is the queue.
    slots: Arc<Semaphore>,
}

struct Lane {
    link: Link,
    /// Requests in flight on this connection.
    busy: AtomicUsize,
    /// When it last had nothing in flight, in milliseconds after `since`.
    quiet_from: AtomicU64,
    since: Instant,
}

impl Lane {
    fn new(link: Link) -> Arc<Lane> {
        Arc::new(Lane {
            link,
            busy: AtomicUsize::new(0),
            quiet_from: AtomicU64::new(0),
            since: Instant::now(),
        })
    }

    fn now(&self) -> u64 {
        self.since.elapsed().as_millis() as u64
    }

    /// Whether it has carried nothing for `idle`.
    fn idle_for(&self, idle: Duration) -> bool {
        self.busy.load(Ordering::Acquire) == 0
            && self.now() - self.quiet_from.load(Ordering::Acquire) >= idle.as_millis() as u64
    }
}

/// A stream slot on one connection: send on `link()`, and keep it until the answer's body is
/// read.
pub struct Stream {
    lane: Arc<Lane>,
    _slot: OwnedSemaphorePermit,
}

impl Stream {
    pub fn link(&self) -> &Link {
        &self.lane.link
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.lane.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.lane
                .quiet_from
                .store(self.lane.now(), Ordering::Release);
        }
    }
}

impl Connections {
    /// Builds the first client now, so that a setting that cannot work fails at start.
    /// `streams` is the provider's own limit, used when the config sets none.
    pub fn new(
        limits: Limits,
        streams: usize,
        open: impl Fn() -> Result<Link, String> + Send + Sync + 'static,
    ) -> Result<Connections, String> {
        let connections = limits.connections.max(1);
        let streams = limits.streams.unwrap_or(streams).max(1);
        let first = open()?;
        let lanes = Arc::new(Mutex::new(vec![Lane::new(first)]));
        if connections > 1 {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(close_idle(Arc::downgrade(&lanes), limits.idle));
            }
        }
        Ok(Connections {
            open: Box::new(open),
            connections,
            streams,
            lanes,
            slots: Arc::new(Semaphore::new(connections.saturating_mul(streams))),
        })
    }

    /// Waits for a free stream slot, then picks the connection for it.
    pub async fn stream(&self) -> Stream {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        Stream {
            lane: self.pick(),
            _slot: slot,
        }
    }

    /// The least busy connection, or a new one when all are full and the bound allows, counted
    /// busy before the lock is let go (so that it is not closed as idle in between).
    fn pick(&self) -> Arc<Lane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let chosen = self.choose(&mut lanes);
        chosen.busy.fetch_add(1, Ordering::AcqRel);
        chosen
    }

    fn choose(&self, lanes: &mut Vec<Arc<Lane>>) -> Arc<Lane> {
        let least = lanes
            .iter()
            .min_by_key(|lane| lane.busy.load(Ordering::Relaxed))
            .expect("there is always a first connection")
            .clone();
        let room = least
            .link
            .max_streams()
            .map_or(self.streams, |m| m.min(self.streams));
        if least.busy.load(Ordering::Relaxed) < room || lanes.len() >= self.connections {
            return least;
        }
        // Built under the lock so that two pushes never open two connections for one need;
        // building a link opens no socket, and happens at most `connections` times.
        match (self.open)() {
            Ok(link) => {
                let lane = Lane::new(link);
                lanes.push(lane.clone());
                tracing::debug!(
                    connections = lanes.len(),
                    "Streams full: opening another upstream connection"
                );
                lane
            }
            // The first client was built from the same settings; should this one still fail,
            // the request queues on an open connection rather than failing.
            Err(error) => {
                tracing::warn!(error = %error, "Cannot build another upstream connection");
                least
            }
        }
    }
}

/// Every half `idle`, closes the connections beyond the first that carried nothing for `idle`;
/// ends with its `Connections`.
async fn close_idle(lanes: Weak<Mutex<Vec<Arc<Lane>>>>, idle: Duration) {
    let mut tick = tokio::time::interval((idle / 2).max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(lanes) = lanes.upgrade() else {
            return;
        };
        let mut lanes = lanes.lock().unwrap_or_else(|e| e.into_inner());
        let before = lanes.len();
        let mut first = true;
        lanes.retain(|lane| std::mem::take(&mut first) || !lane.idle_for(idle));
        if lanes.len() < before {
            tracing::debug!(
                closed = before - lanes.len(),
                connections = lanes.len(),
                "Load fell: idle upstream connections closed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connections(limits: Limits) -> (Connections, Arc<AtomicUsize>) {
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let c = Connections::new(limits, 1000, move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(Link::Reqwest(reqwest::Client::new()))
        })
        .unwrap();
        (c, built)
    }

    #[tokio::test]
    async fn opens_a_connection_only_when_every_open_one_is_full() {
        let (c, built) = connections(Limits {
            connections: 3,
            streams: Some(2),
            idle: Duration::from_secs(300),
        });
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(c.stream().await);
        }
        assert_eq!(built.load(Ordering::SeqCst), 1);
        held.push(c.stream().await);
        assert_eq!(built.load(Ordering::SeqCst), 2);
        // A freed slot on the first connection is used before anything new opens.
        held.remove(0);
        held.push(c.stream().await);
        assert_eq!(built.load(Ordering::SeqCst), 2);
        for _ in 0..3 {
            held.push(c.stream().await);
        }
        assert_eq!(built.load(Ordering::SeqCst), 3);
        // Six slots in use: the seventh waits until one is released.
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), c.stream()).await;
        assert!(waiting.is_err());
        held.pop();
        let _next = c.stream().await;
        assert_eq!(built.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn connections_beyond_the_first_close_when_idle() {
        let (c, built) = connections(Limits {
            connections: 3,
            streams: Some(1),
            idle: Duration::from_millis(200),
        });
        let held = vec![c.stream().await, c.stream().await, c.stream().await];
        assert_eq!(built.load(Ordering::SeqCst), 3);
        let open = || c.lanes.lock().unwrap().len();
        // Busy connections stay, however long.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(open(), 3);
        drop(held);
        let until = Instant::now() + Duration::from_secs(5);
        while open() > 1 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(open(), 1, "the first stays");
        // A new peak opens them again.
        let _again = [c.stream().await, c.stream().await];
        assert_eq!(built.load(Ordering::SeqCst), 4);
    }
}
