//! What unauthenticated traffic may write to the audit trail: repeated failures from one
//! source within an interval become one record with a count.
//!
//! Anyone who can reach the port can send requests that fail before they authenticate,
//! and every request is recorded, durably, before it answers: without a bound, such
//! traffic fills the audit disk at the rate of the network. The rule (documented in the
//! README):
//!
//! - A **source** is the client's address (`sourceIPAddress`), the service called
//!   (`eventSource`) and the error (`errorCode`). Only requests that failed without an
//!   authenticated caller are aggregated; every authenticated request is written on its
//!   own, as before.
//! - The **first** unauthenticated failure of a source is written at once, like any other
//!   event (durable before its response; if it cannot be written the request fails with
//!   an internal error as before). It opens an interval of [`INTERVAL`].
//! - Later failures of that source within the interval are **counted**, not written:
//!   the client gets the same response as ever. The count is written as one record when
//!   the interval ends (a background task looks every interval, so within two), when
//!   the source's next record is written (its next failure after the interval) and at
//!   shutdown. That record is the last counted request's (its time, request id, user
//!   agent...) with `additionalEventData.trentAggregatedCount`, the number of requests
//!   it stands for, and `trentAggregatedFirstEventTime`, the time of the first of them
//!   (CloudTrail has no field for a count of API calls).
//! - A counted failure answers before its count is durable: it changed nothing, so a
//!   crash loses at most the counts of the current interval, never a change or an
//!   authenticated call. A count that cannot be written is kept and retried.
//! - Memory is bounded: at most [`MAX_SOURCES`] sources are tracked; past that, a new
//!   source shares one window per service and error with every other untracked source
//!   (`trentAggregatedAnySource: true` in its count record).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;
use trent_audit::{AuditError, AuditLog, Record};

/// How long the window of a source stays open after its first failure is written.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// The most sources tracked at once (each keeps one bounded record in memory).
pub const MAX_SOURCES: usize = 1024;
/// The `additionalEventData` members of a count record.
pub const COUNT_FIELD: &str = "trentAggregatedCount";
pub const FIRST_TIME_FIELD: &str = "trentAggregatedFirstEventTime";
pub const ANY_SOURCE_FIELD: &str = "trentAggregatedAnySource";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SourceKey {
    source: Option<String>,
    /// Every source not tracked on its own (the table was full); `source` is `None`.
    any_source: bool,
    event_source: String,
    error_code: String,
}

/// The failures of one source not written on their own.
#[derive(Debug, Clone)]
struct Pending {
    count: u64,
    first_time: String,
    /// The last counted request's record (bounded).
    last: Record,
}

struct Window {
    opened: Instant,
    pending: Option<Pending>,
}

/// Aggregates unauthenticated failures in front of the audit log.
pub struct Throttle {
    log: AuditLog,
    interval: Duration,
    max_sources: usize,
    windows: Mutex<HashMap<SourceKey, Window>>,
}

enum Action {
    Write,
    Counted,
}

impl Throttle {
    pub fn new(log: AuditLog) -> Arc<Throttle> {
        Self::with_limits(log, INTERVAL, MAX_SOURCES)
    }

    fn with_limits(log: AuditLog, interval: Duration, max_sources: usize) -> Arc<Throttle> {
        Arc::new(Throttle {
            log,
            interval,
            max_sources,
            windows: Mutex::new(HashMap::new()),
        })
    }

    /// Starts the task that writes the counts of the intervals that ended (it stops when
    /// the throttle is dropped).
    pub fn start_flusher(self: &Arc<Self>) {
        let weak: Weak<Throttle> = Arc::downgrade(self);
        let interval = self.interval;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(throttle) = weak.upgrade() else {
                    break;
                };
                throttle.flush(Some(Instant::now())).await;
            }
        });
    }

    /// Records the event of a request, durably before it returns, unless it is an
    /// `unauthenticated_failure` counted in its source's open window (see the module).
    pub async fn record(
        &self,
        record: &Record,
        unauthenticated_failure: bool,
    ) -> Result<(), AuditError> {
        if !unauthenticated_failure {
            return self.log.record(record).await;
        }
        self.record_failure(record, Instant::now()).await
    }

    async fn record_failure(&self, record: &Record, now: Instant) -> Result<(), AuditError> {
        let mut key = SourceKey {
            source: record.source_ip_address.clone(),
            any_source: false,
            event_source: record.event_source.clone(),
            error_code: record.error_code.clone().unwrap_or_default(),
        };
        let (action, ended) = {
            let mut windows = self.windows.lock();
            let tracked = windows.len() - windows.keys().filter(|k| k.any_source).count();
            if !windows.contains_key(&key) && tracked >= self.max_sources {
                key.source = None;
                key.any_source = true;
            }
            match windows.get_mut(&key) {
                Some(w) if now.saturating_duration_since(w.opened) < self.interval => {
                    let last = record.clone().bounded();
                    match &mut w.pending {
                        Some(p) => {
                            p.count += 1;
                            p.last = last;
                        }
                        None => {
                            w.pending = Some(Pending {
                                count: 1,
                                first_time: record.event_time.clone(),
                                last,
                            })
                        }
                    }
                    (Action::Counted, None)
                }
                Some(w) => {
                    w.opened = now;
                    (Action::Write, w.pending.take())
                }
                None => {
                    windows.insert(
                        key.clone(),
                        Window {
                            opened: now,
                            pending: None,
                        },
                    );
                    (Action::Write, None)
                }
            }
        };
        if let Some(pending) = ended {
            // The previous interval's count first, in order; kept if it cannot be written.
            if let Err(e) = self.log.record(&count_record(&key, &pending)).await {
                tracing::error!(error = %e, "cannot write a count of unauthenticated failures; kept for a retry");
                self.restore(&key, pending, now);
            }
        }
        match action {
            Action::Counted => Ok(()),
            Action::Write => {
                let written = self.log.record(record).await;
                if written.is_err() {
                    // Not written: the source's next failure is written on its own again.
                    let mut windows = self.windows.lock();
                    if windows
                        .get(&key)
                        .is_some_and(|w| w.opened == now && w.pending.is_none())
                    {
                        windows.remove(&key);
                    }
                }
                written
            }
        }
    }

    /// Puts back a count that could not be written (merged with what was counted since).
    fn restore(&self, key: &SourceKey, pending: Pending, now: Instant) {
        let mut windows = self.windows.lock();
        let w = windows.entry(key.clone()).or_insert(Window {
            opened: now,
            pending: None,
        });
        w.pending = Some(match w.pending.take() {
            Some(newer) => Pending {
                count: pending.count + newer.count,
                first_time: pending.first_time,
                last: newer.last,
            },
            None => pending,
        });
    }

    /// Writes the counts of the windows that ended by `now` and forgets those windows;
    /// `None`: every count, ended or not (at shutdown).
    async fn flush(&self, now: Option<Instant>) {
        let ended: Vec<(SourceKey, Pending)> = {
            let mut windows = self.windows.lock();
            let keys: Vec<SourceKey> = windows
                .iter()
                .filter(|(_, w)| {
                    now.is_none_or(|now| now.saturating_duration_since(w.opened) >= self.interval)
                })
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| {
                    let w = windows.remove(&k)?;
                    Some((k, w.pending?))
                })
                .collect()
        };
        let at = now.unwrap_or_else(Instant::now);
        for (key, pending) in ended {
            if let Err(e) = self.log.record(&count_record(&key, &pending)).await {
                tracing::error!(error = %e, "cannot write a count of unauthenticated failures; kept for a retry");
                self.restore(&key, pending, at);
            }
        }
    }

    /// Writes every count not yet written (at shutdown, after the last request).
    pub async fn flush_all(&self) {
        self.flush(None).await;
    }
}

/// The record of `pending`'s requests: the last one's, with the count and the first time.
fn count_record(key: &SourceKey, pending: &Pending) -> Record {
    let mut r = pending.last.clone();
    r.event_id = trent_audit::random_uuid();
    let data = r
        .additional_event_data
        .get_or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !data.is_object() {
        *data = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = data {
        map.insert(COUNT_FIELD.into(), pending.count.into());
        map.insert(FIRST_TIME_FIELD.into(), pending.first_time.clone().into());
        if key.any_source {
            map.insert(ANY_SOURCE_FIELD.into(), true.into());
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_audit::{Actor, ApiCall, AuditStore, DigestPolicy, FileStore, Signer};

    async fn log() -> (tempfile::TempDir, Arc<FileStore>, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileStore::open(dir.path(), 1 << 20).unwrap());
        let (signer, _) = Signer::generate().unwrap();
        let (log, _) = AuditLog::open(
            store.clone(),
            "node-1",
            signer,
            DigestPolicy::default(),
            Box::new(|| 0),
        )
        .await
        .unwrap();
        (dir, store, log)
    }

    fn failure(ip: &str, code: &str, n: usize) -> Record {
        Record::api_call(ApiCall {
            event_source: trent_audit::KMS_EVENT_SOURCE,
            event_name: "Encrypt".into(),
            read_only: false,
            actor: Actor::Unauthenticated {
                access_key_id: None,
            },
            recipient_account_id: "111122223333".into(),
            region: "us-east-1".into(),
            source_ip: Some(ip.into()),
            user_agent: Some(format!("agent-{n}")),
            request_parameters: None,
            response_elements: None,
            error_code: Some(code.into()),
            error_message: None,
            request_id: format!("req-{n}"),
            resources: Vec::new(),
            tls_details: None,
            unix_millis: 1_700_000_000_000 + n as i64 * 1000,
        })
    }

    async fn written(store: &FileStore) -> Vec<Record> {
        let lines = store.read_all().await.unwrap();
        trent_audit::records(&lines)
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    #[tokio::test]
    async fn repeated_failures_of_a_source_become_one_counted_record() {
        let (_dir, store, log) = log().await;
        let t = Throttle::with_limits(log, Duration::from_secs(60), 8);
        let t0 = Instant::now();
        for n in 0..5 {
            let at = t0 + Duration::from_secs(n as u64);
            t.record_failure(
                &failure("10.0.0.1", "MissingAuthenticationTokenException", n),
                at,
            )
            .await
            .unwrap();
        }
        // Another error of the same address is another source.
        t.record_failure(&failure("10.0.0.1", "InvalidSignatureException", 9), t0)
            .await
            .unwrap();
        let w = written(&store).await;
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(w[0].request_id.as_deref(), Some("req-0"));
        assert!(w[0].additional_event_data.is_none());

        // Within the interval, nothing more; when it ends, one record with the count.
        t.flush(Some(t0 + Duration::from_secs(30))).await;
        assert_eq!(written(&store).await.len(), 2);
        t.flush(Some(t0 + Duration::from_secs(61))).await;
        let w = written(&store).await;
        assert_eq!(w.len(), 3);
        let c = &w[2];
        assert_eq!(c.additional_event_data.as_ref().unwrap()[COUNT_FIELD], 4);
        assert_eq!(
            c.additional_event_data.as_ref().unwrap()[FIRST_TIME_FIELD],
            failure("10.0.0.1", "x", 1).event_time
        );
        // The last counted request's details, under an event id of its own.
        assert_eq!(c.request_id.as_deref(), Some("req-4"));
        assert_eq!(c.user_agent.as_deref(), Some("agent-4"));
        assert_ne!(c.event_id, w[0].event_id);

        // The window is gone: the source's next failure is written at once again.
        t.record_failure(
            &failure("10.0.0.1", "MissingAuthenticationTokenException", 20),
            t0 + Duration::from_secs(62),
        )
        .await
        .unwrap();
        assert_eq!(written(&store).await.len(), 4);
    }

    #[tokio::test]
    async fn a_count_is_written_before_the_sources_next_record_and_at_shutdown() {
        let (_dir, store, log) = log().await;
        let t = Throttle::with_limits(log, Duration::from_secs(60), 8);
        let t0 = Instant::now();
        let code = "UnrecognizedClientException";
        for n in 0..3 {
            t.record_failure(&failure("10.0.0.2", code, n), t0)
                .await
                .unwrap();
        }
        // Past the interval (no flush ran): the count first, then the new failure.
        let later = t0 + Duration::from_secs(90);
        t.record_failure(&failure("10.0.0.2", code, 3), later)
            .await
            .unwrap();
        t.record_failure(&failure("10.0.0.2", code, 4), later)
            .await
            .unwrap();
        let w = written(&store).await;
        assert_eq!(w.len(), 3);
        assert_eq!(w[1].additional_event_data.as_ref().unwrap()[COUNT_FIELD], 2);
        assert_eq!(w[2].request_id.as_deref(), Some("req-3"));
        // At shutdown, what is counted is written, ended or not.
        t.flush_all().await;
        let w = written(&store).await;
        assert_eq!(w.len(), 4);
        assert_eq!(w[3].additional_event_data.as_ref().unwrap()[COUNT_FIELD], 1);
        assert_eq!(w[3].request_id.as_deref(), Some("req-4"));
        t.flush_all().await;
        assert_eq!(written(&store).await.len(), 4);
    }

    #[tokio::test]
    async fn many_sources_share_one_window_past_the_table_size() {
        let (_dir, store, log) = log().await;
        let t = Throttle::with_limits(log, Duration::from_secs(60), 4);
        let t0 = Instant::now();
        let code = "IncompleteSignatureException";
        for n in 0..100 {
            t.record_failure(&failure(&format!("10.0.1.{n}"), code, n), t0)
                .await
                .unwrap();
        }
        // Four sources tracked on their own, then one window for every other source.
        assert_eq!(written(&store).await.len(), 5);
        assert_eq!(t.windows.lock().len(), 5);
        t.flush_all().await;
        let w = written(&store).await;
        assert_eq!(w.len(), 6);
        let data = w[5].additional_event_data.as_ref().unwrap();
        assert_eq!(data[COUNT_FIELD], 95);
        assert_eq!(data[ANY_SOURCE_FIELD], true);
    }

    #[tokio::test]
    async fn authenticated_records_and_other_outcomes_are_written_each() {
        let (_dir, store, log) = log().await;
        let t = Throttle::with_limits(log, Duration::from_secs(60), 4);
        for n in 0..3 {
            t.record(&failure("10.0.0.3", "AccessDeniedException", n), false)
                .await
                .unwrap();
        }
        assert_eq!(written(&store).await.len(), 3);
        assert!(t.windows.lock().is_empty());
    }
}
