//! Knowing when every accepted push has been answered, so shutdown can wait for exactly that.
//!
//! The service holds a guard for each push from the moment it takes it until its answer is
//! ready; shutdown waits until no guard is left. The `pushgate_requests_in_flight` gauge shows
//! the same number to operators, but only observes it.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct InFlight {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Pushes taken and not yet answered.
    count: AtomicUsize,
    /// Woken whenever the count drops to zero.
    idle: Notify,
}

/// Held while one push is in flight.
pub struct Guard(Arc<Inner>);

impl InFlight {
    pub fn start(&self) -> Guard {
        self.inner.count.fetch_add(1, Ordering::SeqCst);
        Guard(self.inner.clone())
    }

    pub fn count(&self) -> usize {
        self.inner.count.load(Ordering::SeqCst)
    }

    /// Resolves once nothing is in flight (at once if nothing is).
    pub async fn idle(&self) {
        loop {
            let woken = self.inner.idle.notified();
            tokio::pin!(woken);
            // Registered before the check, so a drop to zero in between is not missed.
            woken.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            woken.await;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_the_last_guard() {
        let in_flight = InFlight::default();
        in_flight.idle().await; // nothing in flight: at once
        let (a, b) = (in_flight.start(), in_flight.start());
        let waiter = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.idle().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "one push is still in flight");
        drop(b);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("idle once the last guard is dropped")
            .unwrap();
    }
}
