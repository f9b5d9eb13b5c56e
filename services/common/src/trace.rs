//! W3C trace context across every hop: `traceparent` travels in NATS message
//! headers (and in HTTP headers to receivers), so one trace spans producer →
//! ingest → dispatcher → receiver → status-tracker. With tracing off these are
//! cheap no-ops.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct NatsHeaders<'a>(&'a mut async_nats::HeaderMap);

impl Injector for NatsHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct NatsHeadersRead<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsHeadersRead<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

struct Pairs<'a>(&'a [(&'a str, &'a str)]);

impl Extractor for Pairs<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| *k).collect()
    }
}

/// Makes `span` a child of the context in `headers`, if any, and records its trace
/// id as the `trace_id` field (declared `tracing::field::Empty`) so log lines carry it.
pub fn adopt(span: &Span, headers: Option<&async_nats::HeaderMap>) {
    if let Some(headers) = headers {
        let parent = TraceContextPropagator::new().extract(&NatsHeadersRead(headers));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    record_trace_id(span);
}

/// Like [`adopt`], from name–value pairs (HTTP headers, or a stored `traceparent`).
pub fn adopt_pairs(span: &Span, pairs: &[(&str, &str)]) {
    let parent = TraceContextPropagator::new().extract(&Pairs(pairs));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    record_trace_id(span);
}

fn record_trace_id(span: &Span) {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", span_context.trace_id().to_string());
    }
}

/// Adds `span`'s context to outgoing NATS headers.
pub fn inject(span: &Span, headers: &mut async_nats::HeaderMap) {
    TraceContextPropagator::new().inject_context(&span.context(), &mut NatsHeaders(headers));
}

/// `span`'s context as a `traceparent` value, when it has one.
pub fn traceparent(span: &Span) -> Option<String> {
    let mut headers = async_nats::HeaderMap::new();
    inject(span, &mut headers);
    headers
        .get(herald_proto::names::header::TRACEPARENT)
        .map(|v| v.as_str().to_owned())
}
