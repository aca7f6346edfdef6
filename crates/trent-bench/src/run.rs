//! The load itself: `concurrency` workers, each with its own keep-alive connection,
//! sending requests back-to-back until the run's end. Requests that start during the
//! warmup are sent but not counted. A monitor stops the run early when more than 1% of
//! the requests fail. Every wait is bounded, so the run always ends by itself.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use tokio::time::timeout_at;

use crate::endpoint::Sender;
use crate::kms::{created_key_id, send, Client, RequestTemplate};
use crate::BenchError;

/// Latencies are recorded in microseconds, up to one minute, 3 significant digits.
const HISTOGRAM_MAX_US: u64 = 60_000_000;
/// Requests still in flight this long after the end are abandoned (not counted).
const GRACE: Duration = Duration::from_secs(5);
/// The early-abort check needs this many requests before an error rate means anything.
const ABORT_MIN_REQUESTS: u64 = 100;
const MONITOR_PERIOD: Duration = Duration::from_millis(100);

/// How long and how wide a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub concurrency: u32,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What the workers send.
pub struct Workload {
    /// The request, the same every time unless `keys` is set.
    pub template: RequestTemplate,
    /// Each request on a key picked uniformly at random from these.
    pub keys: Option<RandomKeys>,
    /// Keep the `KeyId` of every CreateKey response (warmup included).
    pub collect_key_ids: bool,
}

/// A key set to pick from, and the request body for a key.
pub struct RandomKeys {
    pub key_ids: Vec<String>,
    pub body: Box<dyn Fn(&str) -> serde_json::Value + Send + Sync>,
}

impl Workload {
    /// One request, sent over and over.
    pub fn fixed(template: RequestTemplate) -> Self {
        Self {
            template,
            keys: None,
            collect_key_ids: false,
        }
    }

    fn next(
        &self,
        rng: &mut SplitMix64,
    ) -> Result<std::borrow::Cow<'_, RequestTemplate>, BenchError> {
        match &self.keys {
            None => Ok(std::borrow::Cow::Borrowed(&self.template)),
            Some(keys) => {
                let len = keys.key_ids.len() as u64;
                let pick = usize::try_from(rng.next() % len.max(1)).unwrap_or(0);
                let body = (keys.body)(&keys.key_ids[pick]);
                Ok(std::borrow::Cow::Owned(self.template.with_body(&body)?))
            }
        }
    }
}

/// A small, fast, non-cryptographic generator (SplitMix64) for picking keys: each
/// worker has its own, seeded apart.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// What a run measured (after the warmup).
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Successful (HTTP 200) requests.
    pub requests: u64,
    /// Failed requests: error responses, transport errors and failed connects.
    pub errors: u64,
    /// Errors by exception name (`__type`) or failure kind, warmup included: this is
    /// diagnosis, so it also explains a run stopped during its warmup.
    pub error_types: BTreeMap<String, u64>,
    /// The first failure's description (an error reply's body, or the transport error),
    /// warmup included.
    pub first_error: Option<String>,
    /// From the end of the warmup to the last counted completion.
    pub elapsed: Duration,
    /// Latency of successful requests, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Set when the run was stopped early for its error rate: the totals (warmup
    /// included) that stopped it.
    pub aborted: Option<Totals>,
    /// Requests abandoned still in flight, [`GRACE`] after the end.
    pub abandoned: u64,
    /// The keys a CreateKey run made (warmup included), when the workload asked for them.
    pub created_key_ids: Vec<String>,
}

/// Request totals over all phases, warmup included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub ok: u64,
    pub errors: u64,
}

impl Measurement {
    /// More than 1% of the counted requests failed.
    pub fn error_rate_exceeded(&self) -> bool {
        exceeds_one_percent(self.errors, self.requests.saturating_add(self.errors))
    }
}

fn exceeds_one_percent(errors: u64, total: u64) -> bool {
    u128::from(errors) * 100 > u128::from(total)
}

fn new_histogram() -> Result<Histogram<u64>, BenchError> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3).map_err(|_| BenchError::Histogram)
}

/// What every worker shares, read-only but for the abort flag.
struct Shared {
    client: Arc<Client>,
    workload: Workload,
    measure_start: Instant,
    end: Instant,
    hard_deadline: Instant,
    abort: AtomicBool,
    abort_totals: OnceLock<Totals>,
}

/// One worker's running totals over all phases, read by the monitor. One per worker so
/// that workers never contend on a shared cache line.
#[derive(Default)]
struct Progress {
    ok: AtomicU64,
    errors: AtomicU64,
}

struct WorkerOutcome {
    latency_us: Histogram<u64>,
    requests: u64,
    errors: u64,
    error_types: BTreeMap<String, u64>,
    first_error: Option<String>,
    last_completion: Option<Instant>,
    abandoned: bool,
    created_key_ids: Vec<String>,
}

impl WorkerOutcome {
    fn fail(
        &mut self,
        progress: &Progress,
        measured: bool,
        kind: String,
        detail: impl FnOnce() -> String,
    ) {
        progress.errors.fetch_add(1, Ordering::Relaxed);
        if measured {
            self.errors += 1;
            *self.error_types.entry(kind).or_default() += 1;
            if self.first_error.is_none() {
                self.first_error = Some(detail());
            }
        }
    }
}

/// Runs `template` under load as `plan` says.
pub async fn run(
    client: Arc<Client>,
    workload: Workload,
    plan: Plan,
) -> Result<Measurement, BenchError> {
    let start = Instant::now();
    let measure_start = start + plan.warmup;
    let end = measure_start + plan.duration;
    let shared = Arc::new(Shared {
        client,
        workload,
        measure_start,
        end,
        hard_deadline: end + GRACE,
        abort: AtomicBool::new(false),
        abort_totals: OnceLock::new(),
    });

    let progress: Vec<Arc<Progress>> = (0..plan.concurrency).map(|_| Arc::default()).collect();
    let mut workers = Vec::with_capacity(progress.len());
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    for (i, p) in progress.iter().enumerate() {
        let histogram = new_histogram()?;
        let rng = SplitMix64(seed ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
        workers.push(tokio::spawn(worker(
            Arc::clone(&shared),
            Arc::clone(p),
            histogram,
            rng,
        )));
    }
    let monitor = tokio::spawn(monitor(Arc::clone(&shared), progress));

    let mut total = Measurement {
        requests: 0,
        errors: 0,
        error_types: BTreeMap::new(),
        first_error: None,
        elapsed: Duration::ZERO,
        latency_us: new_histogram()?,
        aborted: None,
        abandoned: 0,
        created_key_ids: Vec::new(),
    };
    let mut last_completion = measure_start;
    for handle in workers {
        let outcome = handle.await.map_err(|_| BenchError::WorkerFailed)?;
        total.requests += outcome.requests;
        total.errors += outcome.errors;
        for (kind, count) in outcome.error_types {
            *total.error_types.entry(kind).or_default() += count;
        }
        if total.first_error.is_none() {
            total.first_error = outcome.first_error;
        }
        total
            .latency_us
            .add(&outcome.latency_us)
            .map_err(|_| BenchError::Histogram)?;
        if let Some(at) = outcome.last_completion {
            last_completion = last_completion.max(at);
        }
        total.abandoned += u64::from(outcome.abandoned);
        total.created_key_ids.extend(outcome.created_key_ids);
    }
    monitor.abort();
    total.aborted = shared.abort_totals.get().copied();
    total.elapsed = last_completion.saturating_duration_since(measure_start);
    Ok(total)
}

async fn worker(
    shared: Arc<Shared>,
    progress: Arc<Progress>,
    latency_us: Histogram<u64>,
    mut rng: SplitMix64,
) -> WorkerOutcome {
    let mut out = WorkerOutcome {
        latency_us,
        requests: 0,
        errors: 0,
        error_types: BTreeMap::new(),
        first_error: None,
        last_completion: None,
        abandoned: false,
        created_key_ids: Vec::new(),
    };
    let deadline = tokio::time::Instant::from_std(shared.hard_deadline);
    let mut connection: Option<Sender> = None;
    loop {
        let now = Instant::now();
        if now >= shared.end || shared.abort.load(Ordering::Relaxed) {
            break;
        }
        let measured = now >= shared.measure_start;
        let sender = match connection.as_mut() {
            Some(sender) => sender,
            None => match timeout_at(deadline, shared.client.connect()).await {
                Err(_) => {
                    out.abandoned = true;
                    break;
                }
                Ok(Err(e)) => {
                    out.fail(&progress, measured, "ConnectError".to_owned(), || {
                        e.to_string()
                    });
                    continue;
                }
                Ok(Ok(sender)) => connection.insert(sender),
            },
        };
        match timeout_at(deadline, sender.ready()).await {
            Err(_) => {
                out.abandoned = true;
                break;
            }
            // The server closed the idle keep-alive connection: not a failed request.
            Ok(Err(_)) => {
                connection = None;
                continue;
            }
            Ok(Ok(())) => {}
        }
        let request = match shared
            .workload
            .next(&mut rng)
            .and_then(|template| shared.client.request(&template, SystemTime::now()))
        {
            Ok(request) => request,
            Err(e) => {
                out.fail(&progress, measured, "RequestError".to_owned(), || {
                    e.to_string()
                });
                continue;
            }
        };
        let started = Instant::now();
        let measured = started >= shared.measure_start;
        match timeout_at(deadline, send(sender, request)).await {
            Err(_) => {
                out.abandoned = true;
                break;
            }
            Ok(Err(e)) => {
                connection = None;
                out.fail(&progress, measured, "TransportError".to_owned(), || {
                    format!("transport error: {e}")
                });
            }
            Ok(Ok(reply)) if reply.is_success() => {
                let finished = Instant::now();
                if shared.workload.collect_key_ids {
                    match created_key_id(&reply.body) {
                        Some(id) => out.created_key_ids.push(id),
                        None => {
                            out.fail(&progress, measured, "UnexpectedResponse".to_owned(), || {
                                "no KeyMetadata.KeyId in a CreateKey response".to_owned()
                            });
                            continue;
                        }
                    }
                }
                progress.ok.fetch_add(1, Ordering::Relaxed);
                if measured {
                    out.requests += 1;
                    let micros = u64::try_from(finished.duration_since(started).as_micros())
                        .unwrap_or(u64::MAX);
                    out.latency_us.saturating_record(micros);
                    out.last_completion = Some(finished);
                }
            }
            Ok(Ok(reply)) => {
                out.fail(&progress, measured, reply.error_type(), || {
                    format!("HTTP {}: {}", reply.status.as_u16(), reply.body_excerpt())
                });
                if measured {
                    out.last_completion = Some(Instant::now());
                }
            }
        }
    }
    out
}

/// Stops the run once more than 1% of all requests so far (warmup included) failed.
async fn monitor(shared: Arc<Shared>, progress: Vec<Arc<Progress>>) {
    let mut tick = tokio::time::interval(MONITOR_PERIOD);
    loop {
        tick.tick().await;
        let (ok, errors) = progress.iter().fold((0u64, 0u64), |(ok, errors), p| {
            (
                ok + p.ok.load(Ordering::Relaxed),
                errors + p.errors.load(Ordering::Relaxed),
            )
        });
        let total = ok + errors;
        if total >= ABORT_MIN_REQUESTS && exceeds_one_percent(errors, total) {
            let _ = shared.abort_totals.set(Totals { ok, errors });
            shared.abort.store(true, Ordering::Relaxed);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_percent_threshold() {
        assert!(!exceeds_one_percent(0, 0));
        assert!(!exceeds_one_percent(1, 100));
        assert!(exceeds_one_percent(2, 100));
        assert!(exceeds_one_percent(1, 1));
        assert!(!exceeds_one_percent(10, 1000));
        assert!(exceeds_one_percent(11, 1000));
        assert!(!exceeds_one_percent(u64::MAX / 100, u64::MAX));
    }
}
