//! `WatchRemovals`: every REMOVE outcome, from any entry path, to every watcher. A broadcast
//! channel with a bounded buffer per watcher: publishing never waits, and a watcher that falls
//! behind loses the oldest events and learns how many on its next one (`dropped`), so a slow
//! watcher never slows delivery.

use std::time::SystemTime;

use pushgate::v1::Removal;
use tokio::sync::broadcast::{self, error::RecvError};

/// Events a watcher may fall behind by before it loses some.
pub const WATCH_BUFFER: usize = 4096;

pub struct Removals {
    sender: broadcast::Sender<Removal>,
}

impl Default for Removals {
    fn default() -> Self {
        Removals {
            sender: broadcast::channel(WATCH_BUFFER).0,
        }
    }
}

impl Removals {
    /// A provider said to forget `token` of `target`. Free when nobody watches.
    pub fn publish(&self, target: &str, token: &str, reason: &str) {
        if self.sender.receiver_count() == 0 {
            return;
        }
        let _ = self.sender.send(Removal {
            target: target.to_string(),
            token: token.to_string(),
            reason: reason.to_string(),
            time: Some(now()),
            dropped: 0,
        });
    }

    /// The removals of `targets` (every target when empty) from now on, as a stream.
    pub fn watch(
        &self,
        targets: Vec<String>,
    ) -> impl futures::Stream<Item = Removal> + Send + 'static {
        let watcher = (self.sender.subscribe(), targets, 0u64);
        futures::stream::unfold(watcher, |(mut receiver, targets, mut dropped)| async move {
            loop {
                match receiver.recv().await {
                    Ok(mut removal) => {
                        if !targets.is_empty() && !targets.contains(&removal.target) {
                            continue;
                        }
                        removal.dropped = std::mem::take(&mut dropped);
                        return Some((removal, (receiver, targets, dropped)));
                    }
                    Err(RecvError::Lagged(missed)) => dropped += missed,
                    Err(RecvError::Closed) => return None,
                }
            }
        })
    }
}

fn now() -> pbjson_types::Timestamp {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    pbjson_types::Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_watcher_sees_its_targets_and_counts_what_it_missed() {
        let removals = Removals::default();
        removals.publish("apple_rn", "nobody-watches", "Unregistered");
        let mut apple = Box::pin(removals.watch(vec!["apple_rn".into()]));
        let mut all = Box::pin(removals.watch(Vec::new()));
        removals.publish("android_rn", "t1", "UNREGISTERED");
        removals.publish("apple_rn", "t2", "BadDeviceToken");
        let first = apple.next().await.unwrap();
        assert_eq!((first.token.as_str(), first.dropped), ("t2", 0));
        assert_eq!(all.next().await.unwrap().token, "t1");
        assert_eq!(all.next().await.unwrap().token, "t2");

        // Falling behind by more than the buffer: the oldest are dropped and counted.
        for i in 0..WATCH_BUFFER + 10 {
            removals.publish("apple_rn", &format!("x{i}"), "Unregistered");
        }
        let next = apple.next().await.unwrap();
        assert_eq!(next.dropped, 10);
        assert_eq!(next.token, "x10");
        assert_eq!(apple.next().await.unwrap().dropped, 0);
    }
}
