//! Traces: with an OTLP endpoint configured (`--otlp-endpoint`, or OpenTelemetry's own
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`), every request is
//! a server span (`kms/Encrypt`, ...) with children for what it waited on — the store's
//! round trips and the audit append — exported over OTLP/HTTP (protobuf) by
//! OpenTelemetry's batch span processor. A `traceparent` header (W3C Trace Context)
//! makes the request's span a child of the caller's.
//!
//! Sampling (`OTEL_TRACES_SAMPLER`) is decided here, before a request's span is made: the
//! spans of a request not sampled would otherwise still be built, entered and dropped by
//! the tracing layer (about 20 µs a request, BENCHMARKS.md).
//!
//! Without an endpoint no span is created at all: a span per request cost about 7 µs of
//! CPU under load (BENCHMARKS.md, issue 18), so the spans' target ([`TARGET`]) is enabled
//! only for the exporting layer, and the request span is made only when [`enabled`].
//!
//! Export never holds a request up and never fails one: spans queue in the processor
//! (2,048 by default, `OTEL_BSP_MAX_QUEUE_SIZE`; beyond that they are dropped) and are
//! sent from its own thread through this process's runtime. OpenTelemetry's environment
//! variables for the exporter and the SDK apply (`OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_BSP_*`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The target of the spans this process exports (in every crate of the workspace).
pub const TARGET: &str = "trent_trace";

/// Trent's own head sampling, decided before a request's span is made (so that the spans
/// of a trace not sampled cost nothing), from `OTEL_TRACES_SAMPLER` and
/// `OTEL_TRACES_SAMPLER_ARG` when the exporter starts; set only then (see [`enabled`]).
static SAMPLING: std::sync::OnceLock<Sampling> = std::sync::OnceLock::new();

#[derive(Debug, Clone, Copy, PartialEq)]
struct Sampling {
    /// Root requests are traced when their random number is at most this (`u32::MAX`:
    /// all; `None`: none).
    threshold: Option<u32>,
    /// A caller's sampled flag decides (OpenTelemetry's `parentbased_*` samplers).
    parent_based: bool,
}

impl Sampling {
    /// OpenTelemetry's samplers by name, as its SDK reads them: default
    /// `parentbased_always_on`; a ratio that cannot be read is 1.0.
    fn from_env(sampler: Option<&str>, arg: Option<&str>) -> Sampling {
        let ratio = || {
            arg.and_then(|a| a.trim().parse::<f64>().ok())
                .filter(|r| (0.0..=1.0).contains(r))
                .unwrap_or(1.0)
        };
        let (ratio, parent_based) = match sampler.map(str::trim) {
            Some("always_on") => (1.0, false),
            Some("always_off") => (0.0, false),
            Some("traceidratio") => (ratio(), false),
            Some("parentbased_always_off") => (0.0, true),
            Some("parentbased_traceidratio") => (ratio(), true),
            _ => (1.0, true),
        };
        let threshold = (ratio > 0.0).then(|| (ratio * f64::from(u32::MAX)) as u32);
        Sampling {
            threshold,
            parent_based,
        }
    }

    /// Whether a request is traced: `parent_sampled` is the caller's flag (`None`: no
    /// caller's trace), `random` a random number of the request.
    fn traced(&self, parent_sampled: Option<bool>, random: u32) -> bool {
        match parent_sampled {
            Some(sampled) if self.parent_based => sampled,
            _ => self.threshold.is_some_and(|t| random <= t),
        }
    }
}

/// Whether spans are exported (an OTLP endpoint is configured and the exporter runs).
pub fn enabled() -> bool {
    SAMPLING.get().is_some()
}

/// Where traces go: the resolved OTLP/HTTP traces URL and the CA of an `https` one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The full URL spans are posted to (`.../v1/traces`).
    pub traces_url: String,
    /// PEM certificates trusted for an `https` endpoint besides the public roots.
    pub ca_file: Option<PathBuf>,
}

impl OtlpSettings {
    /// The settings of `otlp_endpoint` (a base URL, `/v1/traces` appended, as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`) and `otlp_ca`, else of OpenTelemetry's variables in
    /// `env`: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the traces URL as given), then
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`; `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` /
    /// `OTEL_EXPORTER_OTLP_CERTIFICATE` for the CA. `None`: no export. A URL that is not
    /// `http://` or `https://` with a host is an error.
    pub fn resolve(
        otlp_endpoint: Option<String>,
        otlp_ca: Option<PathBuf>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpSettings>, String> {
        let non_empty = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let (traces_url, source) = match otlp_endpoint.filter(|e| !e.trim().is_empty()) {
            Some(base) => (with_traces_path(&base), "otlp_endpoint"),
            None => match non_empty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
                Some(url) => (url, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
                None => match non_empty("OTEL_EXPORTER_OTLP_ENDPOINT") {
                    Some(base) => (with_traces_path(&base), "OTEL_EXPORTER_OTLP_ENDPOINT"),
                    None => return Ok(None),
                },
            },
        };
        // Credentials go in headers (`OTEL_EXPORTER_OTLP_HEADERS`), never in the URL, which
        // errors, logs and `Debug` may show.
        let shown = without_userinfo(&traces_url);
        if shown != traces_url {
            return Err(format!(
                "invalid {source} {shown:?}: no user or password in the URL; give the collector's credentials in OTEL_EXPORTER_OTLP_HEADERS"
            ));
        }
        let uri: http::Uri = traces_url
            .parse()
            .map_err(|e| format!("invalid {source} {traces_url:?}: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!(
                "invalid {source} {traces_url:?}: expected an http:// or https:// URL, e.g. http://127.0.0.1:4318"
            ));
        }
        let ca_file = otlp_ca
            .or_else(|| non_empty("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE").map(PathBuf::from))
            .or_else(|| non_empty("OTEL_EXPORTER_OTLP_CERTIFICATE").map(PathBuf::from));
        Ok(Some(OtlpSettings {
            traces_url,
            ca_file,
        }))
    }
}

/// `url` with whatever comes before an `@` in its authority replaced by `***`.
fn without_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    }
}

/// `base` with OTLP/HTTP's traces path, as the specification builds it from
/// `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn with_traces_path(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// The running exporter: [`Exporter::shutdown`] sends what is queued.
pub struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    /// Sends the spans still queued and stops the processor (blocking: call it where the
    /// runtime still runs, off its worker threads).
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "spans not exported at shutdown");
        }
    }
}

/// The layer exporting [`TARGET`]'s spans to `settings`' endpoint, sending through
/// `runtime`, and the exporter to shut down at the end.
pub fn layer<S>(
    settings: &OtlpSettings,
    runtime: tokio::runtime::Handle,
) -> Result<
    (
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
        Exporter,
    ),
    String,
>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let client = RuntimeClient::new(settings, runtime)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(settings.traces_url.clone())
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
        .map_err(|e| format!("cannot set up the OTLP exporter: {e}"))?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("trent");
    }
    let resource = resource
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let sampling = Sampling::from_env(
        std::env::var("OTEL_TRACES_SAMPLER").ok().as_deref(),
        std::env::var("OTEL_TRACES_SAMPLER_ARG").ok().as_deref(),
    );
    let provider = SdkTracerProvider::builder()
        // Sampled already (`request_span`): every span made is recorded.
        .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOn)
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("trent");
    // From now on requests are sampled and traced.
    let _ = SAMPLING.set(sampling);
    Ok((
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_error_records_to_exceptions(false),
        Exporter { provider },
    ))
}

/// The span of one request of `protocol`, the child of the caller's span when `headers`
/// carry a valid `traceparent` (anything else there is ignored, as W3C Trace Context says:
/// a trace is never a reason to refuse a request). `Span::none()` unless [`enabled`].
pub fn request_span(
    protocol: &'static str,
    request_id: &str,
    headers: &http::HeaderMap,
) -> tracing::Span {
    let Some(sampling) = SAMPLING.get() else {
        return tracing::Span::none();
    };
    let parent =
        TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    let remote = parent.span().span_context().clone();
    let parent_sampled = remote.is_valid().then(|| remote.is_sampled());
    // The request id is a random UUID: its first 8 hex digits are a random number.
    let random = request_id
        .get(..8)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0);
    if !sampling.traced(parent_sampled, random) {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        otel.name = protocol,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "aws-api",
        rpc.service = protocol,
        rpc.method = tracing::field::Empty,
        aws.request_id = request_id,
        http.request.method = "POST",
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    );
    // Without a remote parent the span stays a root; an error here only says so.
    let _ = span.set_parent(parent);
    span
}

/// The span of a phase of the current request (`authenticate`, `handle`: authorization,
/// cryptography and the store). `Span::none()` unless [`enabled`].
pub fn phase_span(phase: &'static str) -> tracing::Span {
    if !enabled() || tracing::Span::current().is_none() {
        return tracing::Span::none();
    }
    tracing::info_span!(target: TARGET, "phase", otel.name = phase)
}

/// Notes a request's outcome on its span (the current one, if it has one): the operation
/// (the span is then named `protocol/operation`), the HTTP status and the error type.
pub fn record_outcome(protocol: &'static str, operation: &str, status: u16, error: Option<&str>) {
    if !enabled() {
        return;
    }
    let span = tracing::Span::current();
    if span.is_none() {
        return;
    }
    // Named once the operation is known (the span has started: renamed through its
    // OpenTelemetry context, as `otel.name` only names a span not yet started).
    span.context()
        .span()
        .update_name(format!("{protocol}/{operation}"));
    span.record("rpc.method", operation);
    span.record("http.response.status_code", status);
    if let Some(error) = error {
        span.record("error.type", error);
        span.record("otel.status_code", "ERROR");
    }
}

/// OpenTelemetry's HTTP client over hyper, running on this process's runtime: the batch
/// processor's thread has no runtime of its own, so each export is spawned onto `runtime`
/// and awaited there.
#[derive(Clone)]
struct RuntimeClient {
    runtime: tokio::runtime::Handle,
    /// The last export failed.
    failing: Arc<AtomicBool>,
    client: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<Bytes>,
    >,
}

impl std::fmt::Debug for RuntimeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RuntimeClient")
    }
}

/// Longest an export may take (connect, send, answer), unless the SDK's own timeout
/// (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s by default) ends it first.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest answer read from a collector.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

impl RuntimeClient {
    fn new(settings: &OtlpSettings, runtime: tokio::runtime::Handle) -> Result<Self, String> {
        let tls = crate::tls::client_config(settings.ca_file.as_deref(), "otlp_ca", "")?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        Ok(RuntimeClient {
            runtime,
            failing: Arc::new(AtomicBool::new(false)),
            client,
        })
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for RuntimeClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        let exchange = async move {
            let (parts, body) = request.into_parts();
            let response = client
                .request(http::Request::from_parts(parts, Full::new(body)))
                .await?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await?
                .to_bytes();
            Ok::<_, opentelemetry_http::HttpError>(http::Response::from_parts(parts, body))
        };
        let result = self
            .runtime
            .spawn(async move {
                tokio::time::timeout(EXPORT_TIMEOUT, exchange)
                    .await
                    .map_err(|_| -> opentelemetry_http::HttpError {
                        "OTLP export timed out".into()
                    })?
            })
            .await?;
        let failure = match &result {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("the collector answered {}", response.status())),
            Err(e) => Some(e.to_string()),
        };
        metrics::counter!(
            "trent_otlp_exports_total",
            "result" => if failure.is_none() { "success" } else { "failure" }
        )
        .increment(1);
        // Said once when exports start failing, and once when they work again.
        match failure {
            Some(reason) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%reason, "spans cannot be exported (OTLP); dropping them until the collector answers");
                }
            }
            None => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("spans are exported again (OTLP)");
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_endpoint_comes_from_the_flag_then_opentelemetrys_variables() {
        assert_eq!(OtlpSettings::resolve(None, None, env(&[])).unwrap(), None);
        let flag = OtlpSettings::resolve(
            Some("http://127.0.0.1:4318/".into()),
            None,
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://elsewhere:4318")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(flag.traces_url, "http://127.0.0.1:4318/v1/traces");
        let traces = OtlpSettings::resolve(
            None,
            None,
            env(&[
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://collector/custom",
                ),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://elsewhere:4318"),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(traces.traces_url, "https://collector/custom");
        assert_eq!(traces.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        let base = OtlpSettings::resolve(
            None,
            Some("/mine.pem".into()),
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/otlp")]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(base.traces_url, "http://collector:4318/otlp/v1/traces");
        assert_eq!(base.ca_file, Some(PathBuf::from("/mine.pem")));
    }

    #[test]
    fn sampling_follows_opentelemetrys_samplers() {
        let s = |sampler: Option<&str>, arg: Option<&str>| Sampling::from_env(sampler, arg);
        // Default: parent-based, always on.
        let d = s(None, None);
        assert!(d.traced(None, u32::MAX));
        assert!(!d.traced(Some(false), 0));
        assert!(d.traced(Some(true), u32::MAX));
        assert!(!s(Some("always_off"), None).traced(None, 0));
        assert!(!s(Some("always_off"), None).traced(Some(true), 0));
        assert!(s(Some("always_on"), None).traced(Some(false), u32::MAX));
        assert!(!s(Some("parentbased_always_off"), None).traced(None, 0));
        assert!(s(Some("parentbased_always_off"), None).traced(Some(true), 0));
        let tenth = s(Some("traceidratio"), Some("0.1"));
        assert!(tenth.traced(None, u32::MAX / 20));
        assert!(!tenth.traced(None, u32::MAX / 5));
        assert!(!tenth.traced(Some(true), u32::MAX / 5), "not parent-based");
        let share = (0..10_000u32)
            .filter(|i| tenth.traced(None, i.wrapping_mul(429_497)))
            .count();
        assert!((900..=1100).contains(&share), "{share}");
        let pb = s(Some("parentbased_traceidratio"), Some("0.1"));
        assert!(pb.traced(Some(true), u32::MAX));
        assert!(!pb.traced(Some(false), 0));
        // A ratio that cannot be read is 1.0, as OpenTelemetry's SDK reads it.
        assert!(s(Some("traceidratio"), Some("lots")).traced(None, u32::MAX));
        assert!(s(Some("traceidratio"), Some("0")).threshold.is_none());
    }

    #[test]
    fn an_endpoint_that_is_not_an_http_url_is_refused() {
        for bad in [
            "collector:4318",
            "grpc://collector:4317",
            "http://",
            "not a url",
        ] {
            let e = OtlpSettings::resolve(Some(bad.into()), None, env(&[])).unwrap_err();
            assert!(e.contains("otlp_endpoint"), "{bad}: {e}");
        }
        for with_password in [
            "http://user:s3cr3t@collector:4318",
            "https://s3cr3t@collector",
            "http://u:s3cr3t@bad:port/x",
        ] {
            let e = OtlpSettings::resolve(Some(with_password.into()), None, env(&[])).unwrap_err();
            assert!(e.contains("no user or password"), "{e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
        let e = OtlpSettings::resolve(
            None,
            None,
            env(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x")]),
        )
        .unwrap_err();
        assert!(e.contains("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), "{e}");
    }
}
