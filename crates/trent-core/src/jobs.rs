//! The background jobs: automatic rotation, deletion at the end of the waiting period,
//! expiry of imported key material, and the flush of last-usage records.
//!
//! Rotation and deletion each run under a store lease, so that across a cluster exactly
//! one node runs each at a time; every change they make is a version-checked write, so a
//! node that lost its lease mid-pass can only lose a race, never apply a change twice.
//! They tick every second against the service's clock and also run at once when woken
//! ([`KeyService::wake_jobs`], e.g. after a test moved the clock).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};

use crate::error::internal;
use crate::last_usage::FLUSH_EVERY;
use crate::{KeyService, KmsError};

const ROTATION_LEASE: &str = "trent:job:rotation";
const DELETION_LEASE: &str = "trent:job:deletion";
const IMPORT_EXPIRY_LEASE: &str = "trent:job:import-expiry";
/// A lease outlives a few missed ticks; a node that died holding it delays the job this long.
const LEASE_TTL: Duration = Duration::from_secs(10);
const TICK: Duration = Duration::from_secs(1);

/// Something KMS does by itself, for the audit trail (CloudTrail's `AwsServiceEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceEvent {
    /// A rotation completed (automatic, or on demand).
    RotateKey {
        account_id: String,
        region: String,
        key_arn: String,
        key_id: String,
        key_origin: String,
        rotation_type: &'static str,
        previous_material_id: String,
        current_material_id: String,
        /// Unix milliseconds, by the service's clock.
        at: i64,
    },
    /// Imported key material reached its ValidTo and was deleted (CloudTrail's
    /// `DeleteExpiredKeyMaterial`).
    DeleteExpiredKeyMaterial {
        account_id: String,
        region: String,
        key_arn: String,
        key_material_id: String,
        at: i64,
    },
    /// A key was deleted at the end of its waiting period.
    DeleteKey {
        account_id: String,
        region: String,
        key_arn: String,
        at: i64,
    },
}

impl ServiceEvent {
    /// The rotation of `key` (its record as stored before or after the rotation: only its
    /// names and origin are read) from one material to another, at `at`.
    pub(crate) fn rotated(
        key: &trent_store::KeyRecord,
        rotation_type: &'static str,
        previous_material_id: String,
        current_material_id: String,
        at: i64,
    ) -> Self {
        ServiceEvent::RotateKey {
            account_id: key.account_id.to_string(),
            region: key.region.to_string(),
            key_arn: key.arn.to_string(),
            key_id: crate::keys::public_key_id(key).to_owned(),
            key_origin: key.origin.as_str().to_owned(),
            rotation_type,
            previous_material_id,
            current_material_id,
            at,
        }
    }
}

/// Where service events go (the server's audit trail).
pub trait ServiceEventSink: Send + Sync {
    /// Records what a job did. `job_id` is the id the job's intent was recorded with
    /// (see [`ServiceEventSink::intend`]); `None` for an event of a request (RotateKey of
    /// RotateKeyOnDemand), whose intent names the request.
    fn record(
        &self,
        event: ServiceEvent,
        job_id: Option<String>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;

    /// Records, durably, the intent of a change a job is about to make (write-ahead, see
    /// [`crate::write_ahead`]): `event_name` is the service event it will be recorded as,
    /// `job_id` what ties the intent to that event.
    fn intend<'a>(
        &'a self,
        event_name: &'static str,
        job_id: &'a str,
        intent: &'a crate::Intent,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// The write-ahead hook of one change of a job: its intents go to the sink under one id.
struct JobHook {
    sink: Arc<dyn ServiceEventSink>,
    event_name: &'static str,
    job_id: String,
}

impl crate::WriteAhead for JobHook {
    fn intend<'a>(
        &'a self,
        intent: &'a crate::Intent,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        self.sink.intend(self.event_name, &self.job_id, intent)
    }

    fn job_id(&self) -> Option<&str> {
        Some(&self.job_id)
    }
}

/// The running jobs; [`JobsHandle::shutdown`] stops them and flushes what is pending.
#[derive(Debug)]
pub struct JobsHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    service: Arc<KeyService>,
}

impl JobsHandle {
    /// Stops the jobs (letting a pass in progress finish) and flushes the last-usage
    /// records still in memory.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        if let Err(e) = self.service.flush_key_usage().await {
            tracing::error!(error = %e, "cannot flush key usage at shutdown");
        }
    }
}

impl KeyService {
    /// Starts the background jobs. Service events go to `sink` (also those of on-demand
    /// rotations made by requests).
    pub fn start_jobs(self: &Arc<Self>, sink: Arc<dyn ServiceEventSink>) -> JobsHandle {
        let _ = self.events.set(sink);
        let (stop, stopped) = watch::channel(false);
        let holder = self.job_holder.clone();
        let mut tasks = Vec::new();
        for (lease, job) in [
            (ROTATION_LEASE, Job::Rotation),
            (DELETION_LEASE, Job::Deletion),
            (IMPORT_EXPIRY_LEASE, Job::ImportExpiry),
        ] {
            let service = self.clone();
            let holder = holder.clone();
            let stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                service.run_leased(lease, &holder, job, stopped).await;
            }));
        }
        let service = self.clone();
        let mut flush_stopped = stopped;
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(FLUSH_EVERY) => {}
                    _ = flush_stopped.changed() => return,
                }
                let flushed = service.flush_key_usage().await;
                metrics::counter!("trent_background_job_runs_total", "job" => "key-usage-flush")
                    .increment(1);
                if let Err(e) = flushed {
                    metrics::counter!("trent_background_job_failures_total", "job" => "key-usage-flush")
                        .increment(1);
                    tracing::warn!(error = %e, "cannot flush key usage; will retry");
                }
            }
        }));
        JobsHandle {
            stop,
            tasks,
            service: self.clone(),
        }
    }

    async fn run_leased(
        &self,
        lease: &'static str,
        holder: &str,
        job: Job,
        mut stopped: watch::Receiver<bool>,
    ) {
        loop {
            if *stopped.borrow() {
                break;
            }
            match self.store.try_acquire_lease(lease, holder, LEASE_TTL).await {
                Ok(true) => {
                    let started = Instant::now();
                    let result = match job {
                        Job::Rotation => self.rotate_due_keys().await,
                        Job::Deletion => self.delete_due_keys().await,
                        Job::ImportExpiry => self.expire_imported_material().await,
                    };
                    let name = lease.trim_start_matches("trent:job:");
                    metrics::counter!("trent_background_job_runs_total", "job" => name)
                        .increment(1);
                    if result.is_err() {
                        metrics::counter!("trent_background_job_failures_total", "job" => name)
                            .increment(1);
                    }
                    match result {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(
                            job = lease,
                            count = n,
                            micros = started.elapsed().as_micros() as u64,
                            "background job pass"
                        ),
                        Err(e) => {
                            tracing::warn!(job = lease, error = %e, "background job pass failed")
                        }
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(job = lease, error = %e, "cannot take the job's lease"),
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = self.jobs_wake.notified() => {}
                _ = stopped.changed() => break,
            }
        }
        if let Err(e) = self.store.release_lease(lease, holder).await {
            tracing::debug!(job = lease, error = %e, "cannot release the job's lease");
        }
    }

    /// Runs the jobs now (rather than at their next tick), e.g. after the test clock moved.
    pub fn wake_jobs(&self) {
        self.jobs_wake.notify_waiters();
    }

    /// Runs one pass of the expiry, deletion and rotation jobs here and now, under their leases
    /// (this node's, shared with its background jobs). A lease held by another holder (a
    /// node that was killed holding it, or another live node) is waited for up to `wait`;
    /// `false` if it could not be taken by then (the holder runs the job itself).
    pub async fn run_jobs_once(&self, wait: Duration) -> Result<bool, KmsError> {
        let holder = &self.job_holder;
        let deadline = Instant::now() + wait;
        for (lease, job) in [
            (IMPORT_EXPIRY_LEASE, Job::ImportExpiry),
            (DELETION_LEASE, Job::Deletion),
            (ROTATION_LEASE, Job::Rotation),
        ] {
            while !self
                .store
                .try_acquire_lease(lease, holder, LEASE_TTL)
                .await
                .map_err(internal("taking a job lease"))?
            {
                if Instant::now() >= deadline {
                    return Ok(false);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            match job {
                Job::Rotation => self.rotate_due_keys().await?,
                Job::Deletion => self.delete_due_keys().await?,
                Job::ImportExpiry => self.expire_imported_material().await?,
            };
        }
        Ok(true)
    }

    /// How long a lease of a dead holder can block the jobs.
    pub const JOB_LEASE_TTL: Duration = LEASE_TTL;

    /// Runs one change of a job (`event_name`: the service event it is recorded as) with
    /// its write-ahead hook: its writes are refused unless their intent is recorded
    /// first, and without a sink (no audit trail) they are refused.
    pub(crate) async fn as_job<F: Future>(&self, event_name: &'static str, work: F) -> F::Output {
        let Some(sink) = self.events.get() else {
            return work.await;
        };
        let hook = Arc::new(JobHook {
            sink: sink.clone(),
            event_name,
            job_id: uuid::Uuid::new_v4().hyphenated().to_string(),
        });
        crate::write_ahead::scope(hook, work).await
    }

    pub(crate) async fn emit(&self, event: ServiceEvent) {
        if let Some(sink) = self.events.get() {
            if let Err(e) = sink
                .record(event, crate::write_ahead::current_job_id())
                .await
            {
                tracing::error!(error = %e, "cannot record a service event in the audit trail");
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Job {
    Rotation,
    Deletion,
    ImportExpiry,
}

/// The wake-up bell of the jobs.
pub(crate) fn new_wake() -> Notify {
    Notify::new()
}

/// How many due items a job pass lists at a time.
pub(crate) const DUE_BATCH: u32 = 100;

/// One pass of a background job over what is due: lists a batch (`due`), handles each item
/// with `one` (`Ok(true)`: done; `Ok(false)`: skipped, it stays due, e.g. a disabled key's
/// rotation), and lists again until a batch is short or made no progress (what is left
/// waits for the next pass). A failure of one item is logged with its key id (`key_of`)
/// and does not stop the others. Returns how many were done.
pub(crate) async fn drain_due<T, L, O>(
    job: &'static str,
    mut due: impl FnMut() -> L,
    key_of: impl Fn(&T) -> String,
    mut one: impl FnMut(T) -> O,
) -> Result<usize, KmsError>
where
    L: Future<Output = Result<Vec<T>, KmsError>>,
    O: Future<Output = Result<bool, KmsError>>,
{
    let mut done = 0;
    loop {
        let batch = due().await?;
        let full = batch.len() >= DUE_BATCH as usize;
        let mut progressed = false;
        for item in batch {
            let key_id = key_of(&item);
            match one(item).await {
                Ok(true) => {
                    done += 1;
                    progressed = true;
                }
                Ok(false) => {}
                Err(e) => {
                    metrics::counter!("trent_background_job_key_failures_total", "job" => job)
                        .increment(1);
                    tracing::error!(job, %key_id, error = %e, "a background job failed on a key")
                }
            }
        }
        if !full || !progressed {
            return Ok(done);
        }
    }
}
