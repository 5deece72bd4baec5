//! The one shutdown of pushgate, pushgate-bridge and the plugin: a signal that tells servers to
//! stop taking work, and a tracker of the work already taken, so a drain waits for exactly that
//! and no longer than its limit. Built on tokio-util's `CancellationToken` and `TaskTracker`:
//! nothing here sleeps or polls.

use std::{future::Future, time::Duration};

use tokio::task::JoinHandle;
use tokio_util::{
    sync::{CancellationToken, WaitForCancellationFutureOwned},
    task::{task_tracker::TaskTrackerToken, TaskTracker},
};

#[derive(Clone, Default)]
pub struct Shutdown {
    /// Cancelled when the servers must stop accepting; they then finish what they took.
    stop: CancellationToken,
    /// The servers and requests under way: a drain waits until none is left.
    work: TaskTracker,
}

impl Shutdown {
    /// Resolves once `stop` was called: a server's shutdown future.
    pub fn stopping(&self) -> WaitForCancellationFutureOwned {
        self.stop.clone().cancelled_owned()
    }

    /// Tells every server to stop accepting.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Runs `server` as work a drain waits for.
    pub fn spawn<F>(&self, server: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.work.spawn(server)
    }

    /// Held while one request is under way; a drain waits until it is dropped.
    pub fn guard(&self) -> TaskTrackerToken {
        self.work.token()
    }

    /// Waits until no work is left, at most `limit`; false when the limit ran out first. New
    /// work may still be taken afterwards (a plugin deactivated and activated again).
    pub async fn drained(&self, limit: Duration) -> bool {
        self.work.close();
        let done = tokio::time::timeout(limit, self.work.wait()).await.is_ok();
        self.work.reopen();
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_drain_waits_for_every_guard_and_server_within_its_limit() {
        let shutdown = Shutdown::default();
        assert!(
            shutdown.drained(Duration::from_secs(1)).await,
            "nothing to wait for"
        );

        let guard = shutdown.guard();
        let server = shutdown.spawn(shutdown.stopping());
        assert!(
            !shutdown.drained(Duration::from_secs(1)).await,
            "a request and a running server: the limit runs out"
        );
        shutdown.stop();
        server.await.unwrap();
        let drain = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.drained(Duration::from_secs(60)).await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!drain.is_finished(), "the request is still under way");
        drop(guard);
        assert!(
            drain.await.unwrap(),
            "drained once the last guard is dropped"
        );
        assert!(
            shutdown.drained(Duration::from_secs(1)).await,
            "and stays drained"
        );
    }
}
