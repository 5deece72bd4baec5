//! The one delivery loop every provider runs in, and the shape of a provider.
//!
//! A provider (APNs, FCM, a future Web Push) supplies only what differs: how a push becomes its
//! request (`Format`), where a credential comes from, how one attempt goes and what its answer
//! means (`Provider`). This loop owns everything else, once: the send budget, attempts, backoff
//! and `Retry-After` (asking `RetryPolicy`), fresh credentials once after a refusal, the
//! per-attempt metrics, the target's health, and the log lines every provider shares.
//!
//! What it is not: routing (`targets.rs`), validation (`push.rs`), or the answer to the caller
//! (`service.rs`).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use opentelemetry::{trace::SpanKind, KeyValue};
use pushgate::v1::Status;

use crate::{
    general::General,
    health::Health,
    metrics::{AttemptMetrics, AttemptOutcome, RetryMetrics},
    outcome::{Family, Outcome},
    push::{redact_token, Push},
    retry::RetryPolicy,
    traces::Tracer,
};

/// The reason of a push refused before sending because its device token cannot be right.
pub const INVALID_TOKEN: &str = "InvalidDeviceToken";

/// How a push becomes a provider's request. Needs no credentials, so a dry-run target has one.
pub trait Format: Send + Sync + 'static {
    /// Everything an attempt sends, built once per push and reused by every attempt.
    type Request: Send + Sync;

    /// The request for `push`, or the FAIL that answers it without sending (a device token the
    /// provider would refuse, a payload it cannot take): that says nothing of the upstream.
    fn build(&self, push: &Push) -> Result<Self::Request, Outcome>;

    /// The request for a `Send` notification to `token`, or the answer without sending.
    fn build_general(&self, general: &General, token: &str) -> Result<Self::Request, Outcome>;

    /// The request for either kind of message.
    fn build_message(&self, message: Message<'_>) -> Result<Self::Request, Outcome> {
        match message {
            Message::Push(push) => self.build(push),
            Message::General(general, token) => self.build_general(general, token),
        }
    }

    /// The whole request as text (for the dry-run debug line) and its payload size in bytes.
    fn describe(request: &Self::Request) -> (String, usize);
}

/// A provider as the loop drives it.
pub trait Provider: Send + Sync + 'static {
    type Format: Format;

    const FAMILY: Family;

    /// The answer (error text, reason) when the send budget runs out mid-attempt or mid-wait:
    /// what MPNS answers for this provider then.
    const DEADLINE: (&'static str, &'static str);

    /// Logged at info when the provider refused a credential and the loop fetches a fresh one;
    /// `None` logs nothing.
    const REAUTH_LOG: Option<&'static str> = None;

    fn format(&self) -> &Self::Format;

    /// The `authorization` value for the next attempt (`None` when the transport carries the
    /// credential, as a client certificate does). `refused` is the one the provider just
    /// refused: it must not be handed out again. An error is the answer of the attempt.
    fn credential(
        &self,
        refused: Option<&str>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<String>, Answer>> + Send;

    /// One request to the provider, bounded by `timeout`, and what its answer means.
    fn attempt(
        &self,
        request: &<Self::Format as Format>::Request,
        credential: Option<&str>,
        timeout: Duration,
    ) -> impl Future<Output = Answer> + Send;

    /// The text of the shared "Failed to send … push" line for a failed attempt.
    fn log_error(outcome: &Outcome) -> &str {
        &outcome.error
    }
}

/// One attempt's result: the answer the caller gets if it is the last, and what the loop does.
pub struct Answer {
    pub outcome: Outcome,
    pub verdict: Verdict,
    /// The provider's HTTP status, when it answered (for the attempt's trace span).
    pub http_status: Option<u16>,
}

impl Answer {
    pub fn new(outcome: Outcome, verdict: Verdict) -> Self {
        Answer {
            outcome,
            verdict,
            http_status: None,
        }
    }

    /// The answer came with this HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    /// The `outcome` label of this attempt's latency.
    fn attempt_outcome(&self) -> AttemptOutcome {
        match self.verdict {
            Verdict::Delivered => AttemptOutcome::Ok,
            Verdict::Final if self.outcome.status == Status::Remove => AttemptOutcome::Remove,
            Verdict::Final => AttemptOutcome::Fail,
            Verdict::Retry(_) => AttemptOutcome::Retry,
            Verdict::Transport(Lost::Timeout) => AttemptOutcome::Timeout,
            Verdict::Transport(Lost::Connection | Lost::Refused) => AttemptOutcome::Connection,
            Verdict::Refused | Verdict::Reauth => AttemptOutcome::Auth,
        }
    }
}

/// What an attempt's answer means for the next step and for the target's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The provider took the push.
    Delivered,
    /// The provider answered and another attempt would get the same answer.
    Final,
    /// The provider answered "not now" (5xx, 429): worth another attempt, after at least the
    /// provider's `Retry-After` when it gave one.
    Retry(Option<Duration>),
    /// No answer (connection, TLS, timeout): worth another attempt; the upstream is failing.
    /// Delivery is at-least-once: a request lost with its connection may have arrived.
    Transport(Lost),
    /// The provider refused our credentials: final, and the target is NOT_SERVING.
    Refused,
    /// The provider refused this credential in a way a fresh one may cure (APNs
    /// `ExpiredProviderToken`, FCM 401): once more with a new credential, else `Refused`.
    Reauth,
}

/// How an attempt got no answer; the `cause` of `pushgate_upstream_retries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The attempt's time ran out.
    Timeout,
    /// Connecting, TLS, or the connection broke.
    Connection,
    /// The provider refused the HTTP/2 stream unread (`REFUSED_STREAM`): the push did not
    /// arrive. Sent again at once, once, without using up an attempt.
    Refused,
}

impl Verdict {
    /// Whether the upstream works as far as this answer shows: feeds the target's health.
    fn upstream_ok(self) -> bool {
        matches!(
            self,
            Verdict::Delivered | Verdict::Final | Verdict::Retry(_)
        )
    }
}

/// What a target sends: a Mattermost push, or a `Send` notification to one token.
#[derive(Clone, Copy)]
pub enum Message<'a> {
    Push(&'a Push),
    General(&'a General, &'a str),
}

impl Message<'_> {
    fn device_id(&self) -> &str {
        match self {
            Message::Push(push) => &push.n.device_id,
            Message::General(_, token) => token,
        }
    }

    /// The `type` of the dry-run log line: the Mattermost type, or the `Send` kind.
    fn kind(&self) -> &str {
        match self {
            Message::Push(push) => &push.n.r#type,
            Message::General(general, _) => general.n.kind().as_str_name(),
        }
    }
}

/// A target's way of sending: the loop around a provider, or a dry run.
pub trait Sender: Send + Sync {
    fn send<'a>(
        &'a self,
        message: Message<'a>,
        deadline: Instant,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;
}

/// A configured target: the config entry's `Type` and how it sends.
pub struct Target {
    /// The config entry's `Type`, e.g. `apple_rn`: what a push's `platform` routes to.
    pub kind: String,
    pub family: Family,
    sender: Box<dyn Sender>,
}

impl Target {
    /// Sends one push; attempts and waits all end by `deadline`.
    pub async fn send(&self, push: &Push, deadline: Instant) -> Outcome {
        self.sender.send(Message::Push(push), deadline).await
    }

    /// Sends a `Send` notification to one token, by `deadline`.
    pub async fn send_general(&self, general: &General, token: &str, deadline: Instant) -> Outcome {
        self.sender
            .send(Message::General(general, token), deadline)
            .await
    }
}

/// What every live target shares: the retry policy, health to report to, and its metrics.
pub struct Context {
    pub policy: RetryPolicy,
    pub health: Arc<Health>,
    pub attempts: AttemptMetrics,
    pub retries: RetryMetrics,
    /// An attempt's span, when tracing is on.
    pub tracer: Tracer,
}

/// A provider beyond MPNS's two, as `targets.rs` registers it: the config section that holds
/// its entries, and how one entry becomes a target. The module owns all of it: the keys of its
/// section, its request, what its answers mean, its dry run.
pub struct Registration {
    /// The config key of its list of entries, e.g. `HuaweiPushSettings`.
    pub section: &'static str,
    /// The target for one entry of the section (its `Type` is `setup.kind`).
    pub target: fn(&gojson::GoObject, &Setup<'_>) -> Result<Target, String>,
}

/// What a provider's `target` builds from besides its own entry.
pub struct Setup<'a> {
    /// The entry's `Type`.
    pub kind: &'a str,
    pub delivery: &'a crate::config::Delivery,
    pub metrics: &'a crate::metrics::Metrics,
    /// The loop's context for a live target of `family`.
    pub context: &'a dyn Fn(Family) -> Context,
}

/// A target that delivers through `provider`.
pub fn live<P: Provider>(kind: &str, provider: P, context: Context) -> Target {
    Target {
        kind: kind.to_string(),
        family: P::FAMILY,
        sender: Box::new(Delivery {
            kind: kind.to_string(),
            provider,
            context,
        }),
    }
}

/// A target that builds the exact request and answers OK without sending.
pub fn dry_run<F: Format>(kind: &str, family: Family, format: F) -> Target {
    Target {
        kind: kind.to_string(),
        family,
        sender: Box::new(DryRun {
            kind: kind.to_string(),
            format,
        }),
    }
}

struct Delivery<P> {
    kind: String,
    provider: P,
    context: Context,
}

impl<P: Provider> Sender for Delivery<P> {
    fn send<'a>(
        &'a self,
        message: Message<'a>,
        deadline: Instant,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(async move {
            let request = match self.provider.format().build_message(message) {
                Ok(request) => request,
                Err(refused) => return refused,
            };
            let attempts = self.attempts(&request, message.device_id(), deadline);
            // Every attempt and wait ends by the deadline already; this only guards against a
            // provider that ignores its timeout.
            let guard = deadline + Duration::from_millis(100);
            match tokio::time::timeout_at(guard.into(), attempts).await {
                Ok((outcome, upstream_ok)) => {
                    self.context
                        .health
                        .set_target(&self.kind, upstream_ok)
                        .await;
                    outcome
                }
                // The budget ran out mid-attempt or mid-wait: that says nothing of the upstream.
                Err(_) => Outcome::fail(P::DEADLINE.0, P::DEADLINE.1),
            }
        })
    }
}

impl<P: Provider> Delivery<P> {
    /// Attempts until one is final, attempts run out, or the next wait would pass `deadline`.
    /// Returns the answer and whether the upstream works as far as the last attempt showed.
    async fn attempts(
        &self,
        request: &<P::Format as Format>::Request,
        device_id: &str,
        deadline: Instant,
    ) -> (Outcome, bool) {
        let did = redact_token(device_id);
        let policy = &self.context.policy;
        let mut refused: Option<String> = None;
        let mut reauthed = false;
        let mut resent = false;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let timeout = policy.attempt_timeout(deadline);
            let (answer, credential) =
                match self.provider.credential(refused.as_deref(), timeout).await {
                    Err(answer) => (answer, None),
                    Ok(credential) => {
                        let span =
                            self.context
                                .tracer
                                .span("pushgate.attempt", SpanKind::Client, || {
                                    vec![
                                        KeyValue::new("pushgate.target", self.kind.clone()),
                                        KeyValue::new("pushgate.retry", i64::from(attempts - 1)),
                                    ]
                                });
                        let started = Instant::now();
                        let answer = span
                            .run(
                                self.provider
                                    .attempt(request, credential.as_deref(), timeout),
                            )
                            .await;
                        let outcome = answer.attempt_outcome();
                        self.context.attempts.observe(started.elapsed(), outcome);
                        span.end(outcome != AttemptOutcome::Ok, || {
                            let mut attributes = vec![
                                KeyValue::new("pushgate.outcome", outcome.label()),
                                KeyValue::new("pushgate.reason", answer.outcome.reason.clone()),
                            ];
                            if let Some(status) = answer.http_status {
                                attributes.push(KeyValue::new(
                                    "http.response.status_code",
                                    i64::from(status),
                                ));
                            }
                            attributes
                        });
                        (answer, credential)
                    }
                };
            let Answer {
                outcome, verdict, ..
            } = answer;
            if verdict == Verdict::Transport(Lost::Timeout) && Instant::now() >= deadline {
                // The attempt was cut by the send budget, not by its own timeout.
                return (Outcome::fail(P::DEADLINE.0, P::DEADLINE.1), false);
            }
            let retry_after = match verdict {
                Verdict::Reauth if !reauthed && credential.is_some() => {
                    // A fresh credential is not a failed attempt: it does not use one up.
                    reauthed = true;
                    attempts -= 1;
                    refused = credential;
                    if let Some(line) = P::REAUTH_LOG {
                        tracing::info!(did = %did, "{line}");
                    }
                    continue;
                }
                Verdict::Reauth => return (outcome, false),
                Verdict::Transport(Lost::Refused) if !resent => {
                    // Nothing arrived, so this is not a failed attempt (Go's HTTP/2 transport
                    // also sends a refused stream again by itself).
                    resent = true;
                    attempts -= 1;
                    self.context.retries.refused.inc();
                    tracing::debug!(did = %did, "HTTP/2 stream refused unread; sending again");
                    continue;
                }
                Verdict::Retry(after) => after,
                Verdict::Transport(_) => None,
                Verdict::Delivered => {
                    tracing::debug!(
                        did = %did,
                        provider_id = %outcome.provider_id,
                        attempts,
                        "Push delivered to {}",
                        P::FAMILY.label()
                    );
                    return (outcome, true);
                }
                Verdict::Final | Verdict::Refused => return (outcome, verdict.upstream_ok()),
            };
            tracing::error!(
                did = %did,
                retry = attempts,
                error = %P::log_error(&outcome),
                "Failed to send {} push",
                P::FAMILY.label()
            );
            match policy.next_wait(attempts, retry_after, deadline) {
                Some(wait) => {
                    let retries = &self.context.retries;
                    match verdict {
                        Verdict::Transport(Lost::Timeout) => &retries.timeout,
                        Verdict::Transport(Lost::Connection) => &retries.connection,
                        Verdict::Transport(Lost::Refused) => &retries.refused,
                        _ => &retries.answer,
                    }
                    .inc();
                    tokio::time::sleep(wait).await
                }
                None => {
                    tracing::error!(did = %did, "Max retries reached");
                    return (outcome, verdict.upstream_ok());
                }
            }
        }
    }
}

struct DryRun<F> {
    kind: String,
    format: F,
}

impl<F: Format> Sender for DryRun<F> {
    fn send<'a>(
        &'a self,
        message: Message<'a>,
        _deadline: Instant,
    ) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        let request = match self.format.build_message(message) {
            Ok(request) => request,
            Err(refused) => return Box::pin(std::future::ready(refused)),
        };
        let (summary, bytes) = F::describe(&request);
        tracing::info!(
            target_type = %self.kind,
            r#type = %message.kind(),
            did = %redact_token(message.device_id()),
            payload_bytes = bytes,
            "Dry run: push built, not sent"
        );
        tracing::debug!(request = %summary, "Dry run request");
        Box::pin(std::future::ready(Outcome::ok()))
    }
}
