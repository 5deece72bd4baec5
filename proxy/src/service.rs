//! The `pushgate.v1.PushProxy` service: one implementation behind the gRPC server and the
//! embedded HTTP bridge alike.

use std::{
    pin::Pin,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use futures::{future::Either, stream::FuturesUnordered, Future, FutureExt, Stream, StreamExt};
use opentelemetry::{trace::SpanKind, KeyValue};
use pushgate::v1::{
    push_proxy_server::PushProxy, DeliveryStatsRequest, DeliveryStatsResponse, PlatformDelivery,
    PushAck, PushNotification, Removal, Result as SendResult, SendAckRequest, SendAckResponse,
    SendPushRequest, SendPushResponse, SendRequest, SendResponse, Status, WatchRemovalsRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Streaming};

use crate::{
    config::ReceiptSettings,
    general,
    health::Health,
    metrics::{type_label, Metrics},
    outcome::Outcome,
    push::{self, check_ack, redact_token, Rejection},
    receipts::{self, AckedRatio, Receipts},
    removals::Removals,
    targets::Targets,
    traces::{in_context, Metadata, Tracer},
};

/// The reason of a push to a target whose credentials failed to load.
const CREDENTIALS_FAILED: &str = "CredentialsNotLoaded";

/// How many pushes of one StreamPush call may be in flight at once; past it the server stops
/// reading the stream, which is the caller's backpressure.
pub const STREAM_WINDOW: usize = 1024;

#[derive(Clone)]
pub struct PushService {
    inner: Arc<Inner>,
}

struct Inner {
    /// Swapped whole on reload; a send keeps the `Live` it started with until it ends.
    live: RwLock<Arc<Live>>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    /// `GrpcStreamIdleTimeoutSec`: a StreamPush quiet this long, with nothing in flight, ends.
    stream_idle: Duration,
    /// Every REMOVE, for `WatchRemovals`.
    removals: Removals,
    /// Send times of pushes with an ack id, for push-to-ack latency and the acked ratio.
    receipts: Arc<Receipts>,
    /// Spans of each push, when `OtlpEndpoint` is set.
    tracer: Tracer,
}

/// What a config reload replaces.
pub struct Live {
    pub targets: Targets,
    /// `SendTimeoutSec`: each push is answered within this, retries included.
    pub send_timeout: Duration,
}

impl PushService {
    pub fn new(
        live: Live,
        health: Arc<Health>,
        metrics: Arc<Metrics>,
        stream_idle: Duration,
        receipts: ReceiptSettings,
        tracer: Tracer,
    ) -> Self {
        let receipts = Arc::new(Receipts::new(receipts));
        for collector in receipts.collectors() {
            metrics.register(collector);
        }
        metrics.register(Box::new(AckedRatio::new(receipts.clone())));
        PushService {
            inner: Arc::new(Inner {
                live: RwLock::new(Arc::new(live)),
                health,
                metrics,
                stream_idle,
                removals: Removals::default(),
                receipts,
                tracer,
            }),
        }
    }

    /// The targets and budget new sends use.
    pub fn live(&self) -> Arc<Live> {
        self.inner
            .live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces targets and budget; sends already under way finish on the old ones.
    pub fn replace(&self, live: Live) {
        *self.inner.live.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(live);
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    fn reject(&self, r: &Rejection) {
        tracing::error!("{}", r.0);
        self.inner.metrics.bad_request.inc();
    }

    pub fn health(&self) -> &Arc<Health> {
        &self.inner.health
    }

    pub fn tracer(&self) -> &Tracer {
        &self.inner.tracer
    }

    /// Validates, routes and sends one push within the send budget.
    ///
    /// Not an `async fn`: one would keep its argument, the 544-byte notification, in its state
    /// beside the prepared push for as long as the push is in flight (10,000 pushes in flight:
    /// 5 MB). The notification is prepared first; the future holds only what comes of it.
    pub fn push(
        &self,
        n: PushNotification,
    ) -> impl Future<Output = Result<Outcome, Rejection>> + Send + '_ {
        let metrics = &self.inner.metrics;
        let timer = metrics.request_duration.start_timer();
        metrics.in_flight.inc();
        let gauge = scopeguard(move || metrics.in_flight.dec());
        let push = match push::prepare(n) {
            Ok(push) => push,
            Err(rejection) => {
                self.reject(&rejection);
                return Either::Left(std::future::ready(Err(rejection)));
            }
        };
        Either::Right(async move {
            let (_timer, _gauge) = (timer, gauge);
            self.send_prepared(&push).await
        })
    }

    async fn send_prepared(&self, push: &push::Push) -> Result<Outcome, Rejection> {
        let metrics = &self.inner.metrics;
        let live = self.live();
        let Some(target) = live.targets.get(&push.platform) else {
            // A configured target whose credentials failed to load: say so, not MPNS's
            // "missing platform property" (docs/deviations.md, 13).
            if let Some(error) = live.targets.failure(&push.platform) {
                tracing::error!(r#type = %push.platform, error = %error, "Push for a target whose credentials failed to load");
                self.inner.metrics.bad_request.inc();
                return Ok(credentials_failed(&push.platform, error));
            }
            let rejection = push::unknown_platform(&push.platform, &push.n.server_id);
            self.reject(&rejection);
            return Err(rejection);
        };
        // Both providers honour the VoIP transport (Android as MPNS pull request 162 does).
        let transport = if push.is_voip() { "voip" } else { "" };
        metrics.sending(
            target.family,
            &target.kind,
            &push.n.r#type,
            transport,
            push.app_version,
        );
        tracing::info!(
            device = %target.kind,
            r#type = %push.n.r#type,
            ack_id = %push.n.ack_id,
            "Sending {} push notification",
            target.family.label()
        );
        let span = self
            .inner
            .tracer
            .span("pushgate.push", SpanKind::Server, || {
                vec![
                    KeyValue::new("pushgate.target", target.kind.clone()),
                    KeyValue::new("pushgate.platform", target.family.label()),
                    KeyValue::new("pushgate.push_type", push.n.r#type.clone()),
                    KeyValue::new(
                        "pushgate.device",
                        redact_token(&push.n.device_id).to_string(),
                    ),
                ]
            });
        let outcome = span
            .run(target.send(push, Instant::now() + live.send_timeout))
            .await;
        span.answer(&self.inner.tracer, &outcome);
        metrics.outcome(
            target.family,
            &push.n.r#type,
            transport,
            &push.n.ack_id,
            &outcome,
        );
        match outcome.status {
            Status::Ok => self.inner.receipts.sent(
                &push.n.ack_id,
                target.family,
                type_label(&push.n.r#type),
                1,
            ),
            Status::Remove => {
                self.inner
                    .removals
                    .publish(&target.kind, &push.n.device_id, &outcome.reason)
            }
            _ => {}
        }
        if outcome.status == Status::Fail {
            tracing::error!(
                sid = %push.n.server_id,
                did = %redact_token(&push.n.device_id),
                error = %outcome.error,
                r#type = %push.n.r#type,
                "Failed to send {} push",
                target.family.label()
            );
        }
        Ok(outcome)
    }

    pub fn ack(&self, ack: &PushAck) -> Result<(), Rejection> {
        let _timer = self.inner.metrics.request_duration.start_timer();
        check_ack(ack).inspect_err(|r| self.reject(r))?;
        tracing::info!(ack_id = %ack.id, "Acknowledged delivery receipt");
        self.inner.metrics.delivered(&ack.platform, &ack.r#type);
        self.inner.receipts.acked(&ack.id);
        Ok(())
    }

    /// Each platform's pushes with an ack id and their acks, over the last hour.
    pub fn delivery_stats_answer(&self) -> DeliveryStatsResponse {
        let duration = |d: Duration| pbjson_types::Duration {
            seconds: d.as_secs() as i64,
            nanos: d.subsec_nanos() as i32,
        };
        DeliveryStatsResponse {
            platforms: self
                .inner
                .receipts
                .last_hour()
                .into_iter()
                .map(|hour| PlatformDelivery {
                    platform: hour.family.label().to_string(),
                    sent: hour.sent,
                    acked: hour.acked,
                    median_push_to_ack: hour.median.map(duration),
                })
                .collect(),
            window: Some(duration(receipts::WINDOW)),
        }
    }

    /// A push answered as the API answers it: a delivery outcome is a response, MPNS's
    /// validation failure is INVALID_ARGUMENT. The gRPC service and the embedded bridge share it.
    ///
    /// Not an `async fn`, for the reason `push` is not: the request is taken apart first.
    pub fn send_push_answer(
        &self,
        req: SendPushRequest,
    ) -> impl Future<Output = Result<SendPushResponse, tonic::Status>> + Send + '_ {
        let SendPushRequest {
            notification,
            request_id,
        } = req;
        // A combinator, not an async block awaiting it: that would hold the future twice.
        self.push(notification.unwrap_or_default())
            .map(move |outcome| {
                let outcome = outcome.map_err(invalid_argument)?;
                Ok(SendPushResponse {
                    request_id,
                    status: outcome.status.into(),
                    error: outcome.error,
                    reason: outcome.reason,
                })
            })
    }

    /// One `Send`: every token of the request to its target at once, within one send budget,
    /// each with its own result in request order.
    pub async fn send_answer(&self, mut req: SendRequest) -> Result<SendResponse, tonic::Status> {
        let general = general::prepare(&mut req).map_err(tonic::Status::invalid_argument)?;
        let live = self.live();
        let kind = general.n.kind();
        let Some(target) = live.targets.get(&req.target) else {
            if let Some(error) = live.targets.failure(&req.target) {
                let failed = credentials_failed(&req.target, error);
                let results = req.tokens.iter().map(|token| {
                    self.inner.metrics.sent(&req.target, kind, failed.status);
                    result(token, failed.clone())
                });
                return Ok(SendResponse {
                    request_id: req.request_id,
                    results: results.collect(),
                });
            }
            return Err(tonic::Status::invalid_argument(format!(
                "target: no configured target has Type {:?}",
                req.target
            )));
        };
        let deadline = Instant::now() + live.send_timeout;
        let span = self
            .inner
            .tracer
            .span("pushgate.send", SpanKind::Server, || {
                vec![
                    KeyValue::new("pushgate.target", target.kind.clone()),
                    KeyValue::new("pushgate.kind", general::kind_label(kind)),
                    KeyValue::new("pushgate.tokens", req.tokens.len() as i64),
                ]
            });
        let sends = req.tokens.iter().map(|token| {
            let (target, general) = (&target, &general);
            async move {
                let outcome = target.send_general(general, token, deadline).await;
                self.inner.metrics.sent(&target.kind, kind, outcome.status);
                match outcome.status {
                    Status::Ok => self.inner.receipts.sent(
                        &general.n.ack_id,
                        target.family,
                        general::kind_label(kind),
                        1,
                    ),
                    Status::Remove => {
                        self.inner
                            .removals
                            .publish(&target.kind, token, &outcome.reason)
                    }
                    _ => {}
                }
                result(token, outcome)
            }
        });
        let results = span.run(futures::future::join_all(sends)).await;
        span.end(false, || {
            let count = |status: Status| {
                let n = results.iter().filter(|r| r.status() == status).count();
                n as i64
            };
            vec![
                KeyValue::new("pushgate.ok", count(Status::Ok)),
                KeyValue::new("pushgate.fail", count(Status::Fail)),
                KeyValue::new("pushgate.remove", count(Status::Remove)),
            ]
        });
        Ok(SendResponse {
            request_id: req.request_id.clone(),
            results,
        })
    }

    pub fn send_ack_answer(&self, ack: &PushAck) -> Result<SendAckResponse, tonic::Status> {
        self.ack(ack).map_err(invalid_argument)?;
        Ok(SendAckResponse {
            status: Status::Ok.into(),
            error: String::new(),
        })
    }

    /// Answers each request of one StreamPush call, up to `STREAM_WINDOW` at once. Shutdown or
    /// the caller's end of the stream stops the reading; every request read so far is still
    /// answered. A message that cannot be read ends the stream, after those answers, with a
    /// status naming it: requests after it were never read, and the caller must learn that.
    async fn serve_stream(
        &self,
        incoming: Streaming<SendPushRequest>,
        tx: mpsc::Sender<Result<SendPushResponse, tonic::Status>>,
    ) {
        let mut incoming = incoming.take_until(Box::pin(self.health().draining()));
        let mut pending = FuturesUnordered::new();
        let mut reading = true;
        let mut read = 0u64;
        let mut broken = None;
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            tokio::select! {
                next = incoming.next(), if reading && pending.len() < STREAM_WINDOW => match next {
                    Some(Ok(req)) => {
                        read += 1;
                        quiet_since = tokio::time::Instant::now();
                        pending.push(self.stream_answer(req));
                    }
                    Some(Err(status)) => {
                        reading = false;
                        broken = Some(tonic::Status::invalid_argument(format!(
                            "StreamPush message {} could not be read, and none after it was: {}",
                            read + 1,
                            status.message()
                        )));
                    }
                    None => reading = false,
                },
                Some(answer) = pending.next(), if !pending.is_empty() => {
                    if tx.send(Ok(answer)).await.is_err() {
                        return; // the caller went away
                    }
                    quiet_since = tokio::time::Instant::now();
                }
                // An idle stream holds memory on both sides; the caller opens one when it has
                // work again.
                _ = tokio::time::sleep_until(quiet_since + self.inner.stream_idle),
                    if reading && pending.is_empty() => {
                    tracing::debug!("StreamPush idle: ended");
                    reading = false;
                }
                else => break,
            }
        }
        if let Some(status) = broken {
            tracing::error!(error = %status.message(), "StreamPush ended on an unreadable message");
            let _ = tx.send(Err(status)).await;
        }
    }

    /// On a stream a rejection cannot be a gRPC error (it would end the stream): it is a FAIL.
    async fn stream_answer(&self, req: SendPushRequest) -> SendPushResponse {
        let request_id = req.request_id.clone();
        self.send_push_answer(req)
            .await
            .unwrap_or_else(|rejected| SendPushResponse {
                request_id,
                status: Status::Fail.into(),
                error: rejected.message().to_string(),
                reason: String::new(),
            })
    }
}

/// The answer for a target whose credentials failed to load (docs/deviations.md, 13).
fn credentials_failed(kind: &str, error: &str) -> Outcome {
    Outcome::fail(
        format!("push notifications for type={kind} are not working: {error}"),
        CREDENTIALS_FAILED,
    )
}

fn result(token: &str, outcome: Outcome) -> SendResult {
    SendResult {
        token: token.to_string(),
        status: outcome.status.into(),
        reason: outcome.reason,
        error: outcome.error,
        provider_id: outcome.provider_id,
    }
}

fn invalid_argument(Rejection(text): Rejection) -> tonic::Status {
    tonic::Status::invalid_argument(text)
}

fn code_of<T>(answer: &Result<T, tonic::Status>) -> tonic::Code {
    answer
        .as_ref()
        .map_or_else(|s| s.code(), |_| tonic::Code::Ok)
}

/// Runs `f` when dropped: the in-flight gauge must fall however the send ends.
fn scopeguard<F: FnMut()>(f: F) -> impl Drop {
    struct Guard<F: FnMut()>(F);
    impl<F: FnMut()> Drop for Guard<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    Guard(f)
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<SendPushResponse, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl PushProxy for PushService {
    async fn send_push(
        &self,
        request: Request<SendPushRequest>,
    ) -> Result<Response<SendPushResponse>, tonic::Status> {
        let parent = self.inner.tracer.parent(&Metadata(request.metadata()));
        let answer = in_context(parent, self.send_push_answer(request.into_inner())).await;
        self.inner.metrics.grpc("SendPush", code_of(&answer));
        answer.map(Response::new)
    }

    async fn send_ack(
        &self,
        request: Request<SendAckRequest>,
    ) -> Result<Response<SendAckResponse>, tonic::Status> {
        let answer = self.send_ack_answer(&request.into_inner().ack.unwrap_or_default());
        self.inner.metrics.grpc("SendAck", code_of(&answer));
        answer.map(Response::new)
    }

    type StreamPushStream = ResponseStream;

    async fn send(
        &self,
        request: Request<SendRequest>,
    ) -> Result<Response<SendResponse>, tonic::Status> {
        let parent = self.inner.tracer.parent(&Metadata(request.metadata()));
        let answer = in_context(parent, self.send_answer(request.into_inner())).await;
        self.inner.metrics.grpc("Send", code_of(&answer));
        answer.map(Response::new)
    }

    type WatchRemovalsStream = Pin<Box<dyn Stream<Item = Result<Removal, tonic::Status>> + Send>>;

    async fn watch_removals(
        &self,
        request: Request<WatchRemovalsRequest>,
    ) -> Result<Response<Self::WatchRemovalsStream>, tonic::Status> {
        self.inner.metrics.grpc("WatchRemovals", tonic::Code::Ok);
        let targets = request.into_inner().targets;
        let removals = self.inner.removals.watch(targets).map(Ok);
        // Shutdown ends the watch, so the connection can close.
        let removals = removals.take_until(self.health().draining());
        Ok(Response::new(Box::pin(removals)))
    }

    async fn delivery_stats(
        &self,
        _request: Request<DeliveryStatsRequest>,
    ) -> Result<Response<DeliveryStatsResponse>, tonic::Status> {
        self.inner.metrics.grpc("DeliveryStats", tonic::Code::Ok);
        Ok(Response::new(self.delivery_stats_answer()))
    }

    async fn stream_push(
        &self,
        request: Request<Streaming<SendPushRequest>>,
    ) -> Result<Response<Self::StreamPushStream>, tonic::Status> {
        self.inner.metrics.grpc("StreamPush", tonic::Code::Ok);
        let parent = self.inner.tracer.parent(&Metadata(request.metadata()));
        let incoming = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_WINDOW);
        let service = self.clone();
        tokio::spawn(in_context(parent, async move {
            service.serve_stream(incoming, tx).await
        }));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
