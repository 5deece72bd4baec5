//! Traces, off by default: OpenTelemetry spans of each push, sent as OTLP over HTTP (protobuf
//! bodies posted to `<OtlpEndpoint>/v1/traces`) by the SDK's batch processor, which drops spans
//! when its queue is full rather than slow a push.
//!
//! A push's span (`pushgate.push`, or `pushgate.send` for a `Send` call) continues the caller's
//! W3C `traceparent` from gRPC metadata or HTTP headers; under it, one `pushgate.attempt` span a
//! provider attempt (target, HTTP status, reason, retry number) and a `pushgate.answer` span
//! (status and reason). Spans carry no message text and no full device token.
//!
//! Off, nothing is built: each call site checks an `Option` and goes on (BENCHMARKS.md).

use std::{future::Future, time::Duration};

use futures::future::Either;
use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::{SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _},
    Context, KeyValue,
};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{SdkTracer, SdkTracerProvider},
    Resource,
};

use crate::outcome::Outcome;

/// How long one export to the collector may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes spans when tracing is on; does nothing, cheaply, when it is off.
#[derive(Clone, Default)]
pub struct Tracer(Option<SdkTracer>);

/// The exporter behind a [`Tracer`]: flushed and stopped at shutdown.
pub struct Exporter(SdkTracerProvider);

impl Tracer {
    /// Tracing to the OTLP/HTTP collector at `endpoint` (a base URL such as
    /// `http://collector:4318`); an empty endpoint is off. Blocks while the exporter's client
    /// starts: call it outside the async runtime's workers.
    pub fn start(endpoint: &str) -> Result<(Tracer, Option<Exporter>), String> {
        if endpoint.is_empty() {
            return Ok((Tracer(None), None));
        }
        let base = endpoint.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "OtlpEndpoint {endpoint:?}: an http:// or https:// base URL is needed, such as http://collector:4318"
            ));
        }
        let client = reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("OtlpEndpoint: {e}"))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(Blocking(client))
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{base}/v1/traces"))
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("OtlpEndpoint: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name("pushgate")
                    .with_attribute(KeyValue::new("service.version", crate::VERSION))
                    .build(),
            )
            .build();
        let tracer = provider.tracer("pushgate");
        Ok((Tracer(Some(tracer)), Some(Exporter(provider))))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// A span under the current context (the caller's, or a push's); `attributes` is only
    /// called when tracing is on.
    pub fn span(
        &self,
        name: &'static str,
        kind: SpanKind,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Span {
        Span(self.0.as_ref().map(|tracer| {
            let parent = Context::current();
            let span = tracer
                .span_builder(name)
                .with_kind(kind)
                .with_attributes(attributes())
                .start_with_context(tracer, &parent);
            parent.with_span(span)
        }))
    }

    /// The caller's trace context from W3C `traceparent`/`tracestate` headers or gRPC
    /// metadata, for [`in_context`]; `None` when tracing is off.
    pub fn parent(&self, carrier: &dyn Extractor) -> Option<Context> {
        self.is_on()
            .then(|| TraceContextPropagator::new().extract(carrier))
    }
}

/// Runs `f` with `cx` as the current trace context (so spans made inside are its children).
pub fn in_context<F: Future>(cx: Option<Context>, f: F) -> impl Future<Output = F::Output> {
    use opentelemetry::context::FutureExt;
    match cx {
        Some(cx) => Either::Left(f.with_context(cx)),
        None => Either::Right(f),
    }
}

/// One span, or nothing when tracing is off.
pub struct Span(Option<Context>);

impl Span {
    /// Runs `f` inside this span.
    pub fn run<F: Future>(&self, f: F) -> impl Future<Output = F::Output> {
        in_context(self.0.clone(), f)
    }

    /// Ends the span with `attributes`, marked as an error when `failed`.
    pub fn end(self, failed: bool, attributes: impl FnOnce() -> Vec<KeyValue>) {
        if let Some(cx) = self.0 {
            let span = cx.span();
            span.set_attributes(attributes());
            if failed {
                span.set_status(Status::error(""));
            }
            span.end();
        }
    }

    /// Ends a push's span with its answer, recorded as a `pushgate.answer` span too.
    pub fn answer(self, tracer: &Tracer, outcome: &Outcome) {
        if self.0.is_none() {
            return;
        }
        let attributes = || {
            vec![
                KeyValue::new("pushgate.status", outcome.status.as_str_name()),
                KeyValue::new("pushgate.reason", outcome.reason.clone()),
            ]
        };
        let failed = outcome.status == pushgate::v1::Status::Fail;
        let cx = self.0.clone();
        in_context_now(cx, || {
            tracer
                .span("pushgate.answer", SpanKind::Internal, attributes)
                .end(failed, Vec::new)
        });
        self.end(failed, attributes);
    }
}

/// Runs `f` at once with `cx` current.
fn in_context_now<T>(cx: Option<Context>, f: impl FnOnce() -> T) -> T {
    match cx {
        Some(cx) => {
            let _guard = cx.attach();
            f()
        }
        None => f(),
    }
}

impl Exporter {
    /// Sends the spans still queued and stops. Blocks: call it outside the runtime's workers.
    pub fn shutdown(self) {
        if let Err(e) = self.0.shutdown() {
            tracing::warn!(error = %e, "Traces: the last spans could not be sent");
        }
    }
}

/// gRPC metadata as a trace-context carrier.
pub struct Metadata<'a>(pub &'a tonic::metadata::MetadataMap);

impl Extractor for Metadata<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                tonic::metadata::KeyRef::Ascii(k) => Some(k.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// HTTP headers as a trace-context carrier.
pub struct Headers<'a>(pub &'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The exporter's HTTP client: the workspace's reqwest (blocking, as the batch processor runs
/// on a thread of its own), so the exporter brings no second HTTP stack.
#[derive(Debug)]
struct Blocking(reqwest::blocking::Client);

#[tonic::async_trait]
impl opentelemetry_http::HttpClient for Blocking {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let response = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send()?;
        let mut answer = http::Response::builder().status(response.status());
        if let Some(headers) = answer.headers_mut() {
            *headers = response.headers().clone();
        }
        Ok(answer.body(response.bytes()?)?)
    }
}
