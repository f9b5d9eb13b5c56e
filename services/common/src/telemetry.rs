//! Logs and traces. Logs are JSON lines on stdout (level from `RUST_LOG`, default
//! `info`); each line inside a span carries the span's fields, `trace_id` included.
//! Traces go to an OTLP collector over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, configured by the standard
//! `OTEL_*` variables (`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, ...); otherwise
//! they are off.
//!
//! The protocol is `http/protobuf` (the collector's port 4318) unless
//! `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL` says
//! `http/json`; `grpc` (port 4317) is refused at start, naming the variable, since
//! every common collector takes OTLP over HTTP too. Export failures are logged at
//! most once per [`FAILURE_REPORT_INTERVAL`], with the number of failed exports
//! since the last warning: the SDK itself reports them nowhere.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

use crate::config::{ConfigError, Env, get};

/// The longest the trace flush after a drain may take; spans it cannot send by
/// then are lost. Part of the pod's grace period (see `crate::shutdown`).
pub const TRACE_FLUSH: Duration = Duration::from_secs(5);

/// At most one warning about failed trace exports per this interval.
pub const FAILURE_REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`: OTLP over HTTP, protobuf bodies (the default).
    HttpProtobuf,
    /// `http/json`: OTLP over HTTP, JSON bodies.
    HttpJson,
}

/// The trace protocol the standard variables ask for: the traces-specific one
/// first, then the general one, else `http/protobuf`.
pub fn protocol(env: &dyn Env) -> Result<Protocol, ConfigError> {
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        let Some(value) = get(env, var) else {
            continue;
        };
        return match value.to_ascii_lowercase().as_str() {
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Ok(Protocol::HttpJson),
            "grpc" => Err(ConfigError::new(
                var,
                "grpc is not supported: Herald exports OTLP over HTTP; use http/protobuf \
                 (the default) and the collector's OTLP/HTTP port (4318)",
            )),
            _ => Err(ConfigError::new(
                var,
                format!("`{value}` is not http/protobuf or http/json"),
            )),
        };
    }
    Ok(Protocol::HttpProtobuf)
}

/// An exporter that reports its failures: the first at once, then at most one
/// warning per [`FAILURE_REPORT_INTERVAL`] with how many exports failed since the
/// last one, so an unreachable collector costs one log line a minute, not one per
/// batch.
#[derive(Debug)]
struct Reporting<E> {
    inner: E,
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    /// Failed exports not reported yet.
    unreported: u64,
    last_warning: Option<Instant>,
}

impl Failures {
    /// Counts one failure; says how many to report if a warning is due now.
    fn failed(&mut self, now: Instant) -> Option<u64> {
        self.unreported += 1;
        let due = self
            .last_warning
            .is_none_or(|at| now.duration_since(at) >= FAILURE_REPORT_INTERVAL);
        due.then(|| {
            self.last_warning = Some(now);
            std::mem::take(&mut self.unreported)
        })
    }
}

impl<E: SpanExporter> SpanExporter for Reporting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        if let Err(err) = &result {
            let due = self
                .failures
                .lock()
                .expect("failures lock")
                .failed(Instant::now());
            if let Some(failed_exports) = due {
                tracing::warn!(
                    failed_exports,
                    spans,
                    error = %err,
                    "cannot export traces to the OTLP collector; spans are dropped (next warning in a minute at the earliest)"
                );
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Flushes and stops the trace exporter when dropped (or on [`Telemetry::shutdown`]).
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered, for at most [`TRACE_FLUSH`]; call after the
    /// drain.
    pub fn shutdown(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown_with_timeout(TRACE_FLUSH)
        {
            eprintln!("herald: cannot flush traces: {err}");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn tracing_wanted() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none")
        || std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.trim() == "true");
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// Installs logging and, when configured, tracing for the process. `service` names
/// the process in traces unless `OTEL_SERVICE_NAME` does. A protocol Herald cannot
/// export with is an error, before anything is installed.
pub fn init(service: &str) -> Result<Telemetry, ConfigError> {
    let wanted = tracing_wanted();
    let protocol = if wanted {
        protocol(&crate::config::SystemEnv)?
    } else {
        Protocol::HttpProtobuf
    };
    let filter = log_filter();
    let fmt = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false);
    let provider = wanted
        .then(|| {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(match protocol {
                    Protocol::HttpProtobuf => opentelemetry_otlp::Protocol::HttpBinary,
                    Protocol::HttpJson => opentelemetry_otlp::Protocol::HttpJson,
                })
                .build()
                .map_err(|e| eprintln!("herald: traces are off: {e}"))
                .ok()?;
            let mut resource = Resource::builder();
            if std::env::var("OTEL_SERVICE_NAME").is_err() {
                resource = resource.with_service_name(format!("herald-{service}"));
            }
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(Reporting {
                        inner: exporter,
                        failures: Mutex::default(),
                    })
                    .with_resource(resource.build())
                    .build(),
            )
        })
        .flatten();
    let otel = provider.as_ref().map(|provider| {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        tracing_opentelemetry::layer().with_tracer(provider.tracer("herald"))
    });
    // Logs follow RUST_LOG; traces keep Herald's spans whatever the log level.
    let otel = otel.map(|layer| layer.with_filter(EnvFilter::new("info")));
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .try_init();
    Ok(Telemetry { provider })
}

/// The log filter of `RUST_LOG`, else of its default.
fn log_filter() -> EnvFilter {
    let setting = crate::config::shared::RUST_LOG;
    EnvFilter::try_from_env(setting.name)
        .unwrap_or_else(|_| EnvFilter::new(setting.default_value().unwrap_or_default()))
}

/// Logging only, for tools and tests. Safe to call more than once.
pub fn init_logging() {
    let filter = log_filter();
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .try_init();
}

/// Installs the process-wide TLS crypto provider (ring) used by outbound HTTPS and
/// NATS TLS. Safe to call more than once.
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn the_protocol_defaults_to_http_protobuf_and_refuses_grpc() {
        assert_eq!(
            protocol(&MapEnv::default()).unwrap(),
            Protocol::HttpProtobuf
        );
        let env = MapEnv::new([("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        assert_eq!(protocol(&env).unwrap(), Protocol::HttpJson);
        // The traces-specific variable wins.
        let env = MapEnv::new([
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
        ]);
        assert_eq!(protocol(&env).unwrap(), Protocol::HttpProtobuf);
        for var in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ] {
            let err = protocol(&MapEnv::new([(var, "grpc")])).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.reason.contains("http/protobuf"), "{}", err.reason);
            assert_eq!(
                protocol(&MapEnv::new([(var, "thrift")])).unwrap_err().var,
                var
            );
        }
    }

    #[test]
    fn failures_are_reported_at_most_once_per_interval_with_their_count() {
        let mut failures = Failures::default();
        let start = Instant::now();
        assert_eq!(failures.failed(start), Some(1), "the first at once");
        for n in 1..=10 {
            assert_eq!(failures.failed(start + Duration::from_secs(n)), None);
        }
        let later = start + FAILURE_REPORT_INTERVAL;
        assert_eq!(failures.failed(later), Some(11), "then with the count");
        assert_eq!(failures.failed(later), None);
    }
}
