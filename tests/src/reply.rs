//! What a mock provider answers to one request: the same shape for the mock APNs and the mock
//! FCM, each adding what its real service always sends (`apns-id`; FCM's message name).

use std::time::Duration;

use futures::StreamExt;

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Empty on a success means the provider's usual success body.
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
    /// How long the mock waits before answering.
    pub delay: Duration,
    /// How long the body follows the headers (a slow or far provider).
    pub body_delay: Duration,
}

impl Reply {
    /// Success, as the provider answers it.
    pub fn ok() -> Self {
        Reply::status(200, "")
    }

    pub fn status(status: u16, body: &str) -> Self {
        Reply {
            status,
            body: body.to_string(),
            headers: Vec::new(),
            delay: Duration::ZERO,
            body_delay: Duration::ZERO,
        }
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sends the headers at once and the body `delay` later.
    pub fn body_after(mut self, delay: Duration) -> Self {
        self.body_delay = delay;
        self
    }

    /// The body as a stream that starts after `body_delay` (no empty chunk: a stream of empty
    /// DATA frames is what h2 clients treat as a flood attack).
    pub fn body_stream(
        &self,
        body: String,
    ) -> impl futures::Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Send + 'static
    {
        let delay = self.body_delay;
        futures::stream::once(async move {
            tokio::time::sleep(delay).await;
            Ok(bytes::Bytes::from(body))
        })
        .filter(|chunk| std::future::ready(chunk.as_ref().is_ok_and(|c| !c.is_empty())))
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn retry_after(self, secs: u64) -> Self {
        self.header("retry-after", &secs.to_string())
    }
}
