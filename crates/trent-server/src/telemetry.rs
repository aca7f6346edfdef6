//! Metrics: the `metrics` facade, recorded where things happen (the stage, the key cache,
//! the audit writer, the background jobs, the listener) and rendered in Prometheus's text
//! format by the admin listener's `/metrics` ([`crate::admin`]).
//!
//! Names follow OpenTelemetry's HTTP semantic conventions where they apply
//! (`http_server_request_duration_seconds`), Trent's own are `trent_*`. Label values are
//! bounded: an operation is one Trent knows (a KMS target it does not know is
//! `UnknownOperation`), an outcome `success` or an error type, a key an ARN among the
//! first [`MAX_TRACKED_KEYS`] keys used since the start.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use parking_lot::RwLock;

/// Request durations: from 100 µs (a cached Encrypt) to 10 s.
const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Audit batch sizes (entries per append).
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0];
/// Keys with a `trent_key_requests_total` series of their own; the requests of further
/// keys count in `trent_key_requests_untracked_total`.
pub const MAX_TRACKED_KEYS: usize = 10_000;
/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's metrics recorder (once; later calls return the same handle) and
/// starts its upkeep. Must run before anything takes metric handles (the key service).
pub fn install() -> Result<PrometheusHandle, String> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let duration = |name: &str| Matcher::Full(name.to_owned());
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            duration("http_server_request_duration_seconds"),
            &DURATION_BUCKETS,
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                duration("trent_audit_commit_duration_seconds"),
                &DURATION_BUCKETS,
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(duration("trent_audit_commit_entries"), &BATCH_BUCKETS)
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                duration("trent_store_operation_duration_seconds"),
                &DURATION_BUCKETS,
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                duration("trent_key_census_duration_seconds"),
                &DURATION_BUCKETS,
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                duration("trent_readiness_check_duration_seconds"),
                &DURATION_BUCKETS,
            )
        })
        .map_err(|e| format!("cannot set up the metrics: {e}"))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    let handle = HANDLE.get_or_init(|| handle).clone();
    describe();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(UPKEEP_EVERY);
        loop {
            ticks.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_histogram!(
        "http_server_request_duration_seconds",
        Unit::Seconds,
        "Duration of requests, by operation and outcome (success or the error type)"
    );
    describe_counter!(
        "trent_key_requests_total",
        "Successful requests that used a key, by key ARN"
    );
    describe_counter!(
        "trent_key_requests_untracked_total",
        "Successful requests on keys beyond the tracked ones"
    );
    describe_counter!(
        "trent_key_cache_lookups_total",
        "Key lookups: hit (cached), revalidated (a version check), miss (read from the store)"
    );
    describe_histogram!(
        "trent_audit_commit_duration_seconds",
        Unit::Seconds,
        "Time to append a batch of audit entries durably"
    );
    describe_histogram!(
        "trent_audit_commit_entries",
        "Audit entries per durable append"
    );
    describe_counter!(
        "trent_audit_commit_failures_total",
        "Audit appends that failed (their requests failed)"
    );
    describe_counter!(
        "trent_background_job_runs_total",
        "Background job passes, by job"
    );
    describe_counter!(
        "trent_background_job_failures_total",
        "Background job passes that failed, by job"
    );
    describe_counter!(
        "trent_background_job_key_failures_total",
        "Keys a background job pass failed on, by job"
    );
    describe_counter!(
        "trent_otlp_exports_total",
        "Span batches sent to the OTLP collector (retries included), by result"
    );
    describe_counter!(
        "trent_tls_handshakes_total",
        "TLS handshakes, by listener and result"
    );
    describe_gauge!(
        "trent_build_info",
        "1, labelled with the version, the cryptographic provider and whether it runs in FIPS mode"
    );
    describe_histogram!(
        "trent_store_operation_duration_seconds",
        Unit::Seconds,
        "Database round trips: read (reader pool), statement (in a write transaction), commit"
    );
    describe_counter!(
        "trent_store_errors_total",
        "Database round trips that failed, by operation"
    );
    describe_gauge!(
        "trent_keys",
        "Keys by state, key spec and key manager (a census of the store, every minute or less often)"
    );
    describe_histogram!(
        "trent_key_census_duration_seconds",
        Unit::Seconds,
        "Time the key census took"
    );
    describe_gauge!(
        "trent_ready",
        "1 when the last readiness check passed, else 0"
    );
    describe_histogram!(
        "trent_readiness_check_duration_seconds",
        Unit::Seconds,
        "Duration of readiness checks, by check"
    );
    let provider = trent_crypto::Provider::current();
    metrics::gauge!(
        "trent_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "crypto_provider" => format!("AWS-LC {} (aws-lc-rs)", provider.version),
        "fips" => if provider.fips { "true" } else { "false" },
    )
    .set(1.0);
}

/// The metrics in Prometheus's text format, or `None` before [`install`].
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}

/// Records one request: its duration by operation and outcome.
pub fn request(operation: &str, outcome: &'static str, elapsed: Duration) {
    request_histograms().record(operation, outcome, elapsed.as_secs_f64());
}

/// The histograms of [`request`], by outcome then operation: taken from the registry once
/// (building a key with its labels, and looking it up, cost more than recording).
#[derive(Default)]
struct RequestHistograms {
    by_outcome: RwLock<HashMap<&'static str, HashMap<String, metrics::Histogram>>>,
}

impl RequestHistograms {
    fn record(&self, operation: &str, outcome: &'static str, value: f64) {
        if let Some(h) = self
            .by_outcome
            .read()
            .get(outcome)
            .and_then(|ops| ops.get(operation))
        {
            h.record(value);
            return;
        }
        let h = metrics::histogram!(
            "http_server_request_duration_seconds",
            "operation" => operation.to_owned(),
            "outcome" => outcome,
        );
        h.record(value);
        self.by_outcome
            .write()
            .entry(outcome)
            .or_default()
            .insert(operation.to_owned(), h);
    }
}

fn request_histograms() -> &'static RequestHistograms {
    static HISTOGRAMS: OnceLock<RequestHistograms> = OnceLock::new();
    HISTOGRAMS.get_or_init(RequestHistograms::default)
}

/// `trent_key_requests_total` by key ARN, for the first [`MAX_TRACKED_KEYS`] keys used.
#[derive(Default)]
pub struct KeyRequests {
    counters: RwLock<HashMap<String, metrics::Counter>>,
}

impl KeyRequests {
    /// One successful request used the key `arn`.
    pub fn note(&self, arn: &str) {
        if let Some(counter) = self.counters.read().get(arn) {
            counter.increment(1);
            return;
        }
        let mut counters = self.counters.write();
        if let Some(counter) = counters.get(arn) {
            counter.increment(1);
            return;
        }
        if counters.len() >= MAX_TRACKED_KEYS {
            drop(counters);
            metrics::counter!("trent_key_requests_untracked_total").increment(1);
            return;
        }
        let counter = metrics::counter!("trent_key_requests_total", "key_arn" => arn.to_owned());
        counter.increment(1);
        counters.insert(arn.to_owned(), counter);
    }
}

/// The process's [`KeyRequests`].
pub fn key_requests() -> &'static KeyRequests {
    static KEYS: OnceLock<KeyRequests> = OnceLock::new();
    KEYS.get_or_init(KeyRequests::default)
}

/// One TLS handshake on `listener` (`kms`, `xks`) that succeeded or not.
pub fn tls_handshake(listener: &'static str, ok: bool) {
    metrics::counter!(
        "trent_tls_handshakes_total",
        "listener" => listener,
        "result" => if ok { "success" } else { "failure" },
    )
    .increment(1);
}

/// The key census runs at most this often...
const CENSUS_EVERY: Duration = Duration::from_secs(60);
/// ... and waits at least this many times its own duration before the next (counting a
/// million keys takes seconds: at most 1 % of the time goes to it).
const CENSUS_SPACING: u32 = 100;

/// Keeps `trent_keys{state,key_spec,key_manager}` current: a census of the store's keys
/// now, then every [`CENSUS_EVERY`] (or longer, see [`CENSUS_SPACING`]); a combination
/// that no key has any more reads 0.
pub async fn key_census(service: std::sync::Arc<trent_core::KeyService>) {
    let mut seen: std::collections::HashSet<(String, String, String)> = Default::default();
    loop {
        let started = std::time::Instant::now();
        match service.key_census().await {
            Ok(census) => {
                let mut now = std::collections::HashSet::new();
                for line in census {
                    let labels = (line.state, line.key_spec, line.key_manager);
                    metrics::gauge!(
                        "trent_keys",
                        "state" => labels.0.clone(),
                        "key_spec" => labels.1.clone(),
                        "key_manager" => labels.2.clone(),
                    )
                    .set(line.keys as f64);
                    now.insert(labels);
                }
                for gone in seen.difference(&now) {
                    metrics::gauge!(
                        "trent_keys",
                        "state" => gone.0.clone(),
                        "key_spec" => gone.1.clone(),
                        "key_manager" => gone.2.clone(),
                    )
                    .set(0.0);
                }
                seen.extend(now);
            }
            Err(e) => tracing::warn!(error = %e, "key census for the metrics failed"),
        }
        let took = started.elapsed();
        metrics::histogram!("trent_key_census_duration_seconds").record(took.as_secs_f64());
        tokio::time::sleep(CENSUS_EVERY.max(took * CENSUS_SPACING)).await;
    }
}
