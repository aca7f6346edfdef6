//! The audit log: one writer task per chain, group commit, periodic signed digests.
//!
//! Request tasks serialize their record themselves (that work is parallel) and hand the
//! JSON to the writer with a oneshot to wait on. The writer first lets the request
//! tasks that are ready run (a few yields, while its queue grows, at most 500 µs), then
//! takes everything queued, numbers, links and hashes it, appends it in one write with
//! one fsync, and only then answers every waiter: a response is sent after its event is durable, and many
//! requests share the cost of one fsync. If the append fails, every waiter of the batch
//! gets the error (the request then fails with `KMSInternalException`), and the chain
//! continues from where the store really ends: before its next write the writer reads
//! the chain's end back from the store, since a database may have committed a batch
//! whose acknowledgement was lost with the connection.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::chain::{seal_entry, Kind, SealedEntry, GENESIS};
use crate::record::{event_time, Record};
use crate::signing::{Digest, Signer};
use crate::store::AuditStore;
use crate::AuditError;

/// When the writer signs a digest.
#[derive(Debug, Clone, Copy)]
pub struct DigestPolicy {
    /// After this many entries since the last digest.
    pub every_events: u64,
    /// After this much time, if any entry was written since the last digest.
    pub every: Duration,
}

impl Default for DigestPolicy {
    fn default() -> Self {
        DigestPolicy {
            every_events: 10_000,
            every: Duration::from_secs(300),
        }
    }
}

/// The most entries one batch takes (bounds the memory and latency of one write).
const MAX_BATCH: usize = 8192;

/// The most times the writer lets ready request tasks run before a commit, while they
/// keep adding events to it.
const MAX_YIELDS: usize = 8;

/// The longest the writer waits for more events before a commit (a bound on the latency
/// it adds when many request tasks are ready at once).
const MAX_GATHER: Duration = Duration::from_micros(500);

enum Command {
    Event {
        /// An intent (write-ahead) rather than an outcome.
        intent: bool,
        json: String,
        /// The record's `eventTime`, in Unix seconds.
        time: Option<i64>,
        done: oneshot::Sender<Result<(), AuditError>>,
    },
    /// Write a digest now (if anything is undigested) and answer.
    Digest(oneshot::Sender<Result<(), AuditError>>),
}

/// A handle to the log. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::UnboundedSender<Command>,
    health: Health,
}

/// Whether the last write of the trail succeeded, and why not if it did not.
#[derive(Clone, Default)]
struct Health(Arc<parking_lot::Mutex<Option<String>>>);

impl Health {
    fn note(&self, result: &Result<(), AuditError>) {
        let mut last = self.0.lock();
        match result {
            Ok(()) => *last = None,
            Err(e) => *last = Some(e.to_string()),
        }
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

struct Writer {
    store: Arc<dyn AuditStore>,
    chain: String,
    signer: Signer,
    policy: DigestPolicy,
    now_millis: Box<dyn Fn() -> i64 + Send + Sync>,
    next_seq: u64,
    prev: [u8; 32],
    /// First sequence number not yet covered by a digest.
    undigested_from: u64,
    last_signature: Option<String>,
    /// Set after a failed append: where the chain ends must be read back from the store.
    resync: bool,
    health: Health,
}

impl AuditLog {
    /// Continues `chain` where the store ends and starts the writer task.
    /// `now_millis` is the clock of event and digest times.
    pub async fn open(
        store: Arc<dyn AuditStore>,
        chain: &str,
        signer: Signer,
        policy: DigestPolicy,
        now_millis: Box<dyn Fn() -> i64 + Send + Sync>,
    ) -> Result<(AuditLog, tokio::task::JoinHandle<()>), AuditError> {
        let mut writer = Writer {
            store,
            chain: chain.to_owned(),
            signer,
            policy,
            now_millis,
            next_seq: 1,
            prev: GENESIS,
            undigested_from: 1,
            last_signature: None,
            resync: true,
            health: Health::default(),
        };
        writer.resync().await?;
        let health = writer.health.clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(writer.run(rx));
        Ok((AuditLog { tx, health }, task))
    }

    /// Records an event, within the trail's bounds (see [`Record::bounded`]); returns once
    /// it is durable.
    pub async fn record(&self, record: &Record) -> Result<(), AuditError> {
        self.append(record, false).await
    }

    /// Records the intent of a change (write-ahead: before the change is made); returns
    /// once it is durable. The change's outcome is then recorded with [`AuditLog::record`]
    /// under the same request id (or, for a service event, the same `sharedEventID`).
    pub async fn record_intent(&self, record: &Record) -> Result<(), AuditError> {
        self.append(record, true).await
    }

    async fn append(&self, record: &Record, intent: bool) -> Result<(), AuditError> {
        use tracing::Instrument as _;
        // A child span of a traced request (span export on), else none.
        let span = if tracing::enabled!(target: "trent_trace", tracing::Level::INFO)
            && !tracing::Span::current().is_none()
        {
            tracing::info_span!(target: "trent_trace", "audit.append", audit.intent = intent)
        } else {
            tracing::Span::none()
        };
        self.append_durably(record, intent).instrument(span).await
    }

    async fn append_durably(&self, record: &Record, intent: bool) -> Result<(), AuditError> {
        let json = record.bounded_json().map_err(|_| AuditError::Encode)?;
        let time = crate::record::parse_event_time(&record.event_time);
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Event {
                intent,
                json,
                time,
                done,
            })
            .map_err(|_| AuditError::Closed)?;
        wait.await.map_err(|_| AuditError::Closed)?
    }

    /// Whether events can be written: `Err` with the reason if the writer is gone or its
    /// last write failed (the next write tries again).
    pub fn health(&self) -> Result<(), String> {
        if self.tx.is_closed() {
            return Err("the audit writer has stopped".into());
        }
        match &*self.health.0.lock() {
            None => Ok(()),
            Some(e) => Err(format!("the last audit write failed: {e}")),
        }
    }

    /// Signs a digest of everything not yet covered by one (at shutdown, and on demand).
    pub async fn digest_now(&self) -> Result<(), AuditError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Digest(done))
            .map_err(|_| AuditError::Closed)?;
        wait.await.map_err(|_| AuditError::Closed)?
    }
}

/// The signature of the chain's last digest and the first sequence number after it.
async fn last_digest(
    store: &dyn AuditStore,
    chain: &str,
) -> Result<(Option<String>, u64), AuditError> {
    if let Some(line) = store.last_digest(chain).await? {
        if let Some(body) = crate::chain::parse_line(&line.line).body {
            if let Some(d) = body.digest {
                return Ok((Some(d.signature), body.seq + 1));
            }
        }
    }
    // No digest left in the store: its archive's anchor names the last one.
    if let Some(anchor) = store.anchor(chain).await? {
        return Ok((anchor.digest_signature, anchor.digest_seq + 1));
    }
    Ok((None, 1))
}

impl Writer {
    /// Continues the chain where the store says it ends.
    async fn resync(&mut self) -> Result<(), AuditError> {
        let tail = self.store.tail(&self.chain).await?;
        let (last_signature, undigested_from) =
            last_digest(self.store.as_ref(), &self.chain).await?;
        let (next_seq, prev) = match tail {
            Some(t) => (t.seq + 1, t.hash),
            None => (1, GENESIS),
        };
        self.next_seq = next_seq;
        self.prev = prev;
        self.undigested_from = undigested_from.min(next_seq);
        self.last_signature = last_signature;
        self.resync = false;
        Ok(())
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut ticker = tokio::time::interval(self.policy.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            let first = tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(c) => c,
                    None => break,
                },
                _ = ticker.tick() => {
                    if let Err(e) = self.write_digest().await {
                        tracing::error!(error = %e, "cannot write the periodic audit digest");
                    }
                    continue;
                }
            };
            // Let the request tasks that are ready run first: those about to record an
            // event join this commit instead of waiting for the next one (fewer, larger
            // commits under load; on an idle server the yield returns at once).
            let mut queued = rx.len();
            let waiting_since = std::time::Instant::now();
            for _ in 0..MAX_YIELDS {
                tokio::task::yield_now().await;
                let now = rx.len();
                if now == queued || now >= MAX_BATCH || waiting_since.elapsed() >= MAX_GATHER {
                    break;
                }
                queued = now;
            }
            let mut commands = vec![first];
            while commands.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(c) => commands.push(c),
                    Err(_) => break,
                }
            }
            self.commit(commands).await;
        }
        // Every handle is gone: sign what is left.
        if let Err(e) = self.write_digest().await {
            tracing::error!(error = %e, "cannot write the final audit digest");
        }
    }

    async fn commit(&mut self, commands: Vec<Command>) {
        if self.resync {
            if let Err(e) = self.resync().await {
                self.health.note(&Err(e.clone()));
                tracing::error!(error = %e, "cannot read where the audit chain ends; requests fail");
                for c in commands {
                    let done = match c {
                        Command::Event { done, .. } | Command::Digest(done) => done,
                    };
                    let _ = done.send(Err(e.clone()));
                }
                return;
            }
        }
        let (start_seq, start_prev) = (self.next_seq, self.prev);
        let mut entries = Vec::with_capacity(commands.len() + 1);
        let mut waiters = Vec::with_capacity(commands.len());
        let mut digest_waiters = Vec::new();
        let saved = (self.undigested_from, self.last_signature.clone());
        for c in commands {
            match c {
                Command::Event {
                    intent,
                    json,
                    time,
                    done,
                } => {
                    let kind = if intent { Kind::Intent } else { Kind::Event };
                    let mut e = seal_entry(&self.chain, self.next_seq, &self.prev, kind, &json);
                    e.event_time = time;
                    self.push(&mut entries, e);
                    waiters.push(done);
                    if self.next_seq - self.undigested_from >= self.policy.every_events {
                        let d = self.digest_entry();
                        if let Some(d) = d {
                            self.push(&mut entries, d);
                        }
                    }
                }
                Command::Digest(done) => {
                    if let Some(d) = self.digest_entry() {
                        self.push(&mut entries, d);
                    }
                    digest_waiters.push(done);
                }
            }
        }
        let events = entries.len();
        let started = std::time::Instant::now();
        let result = self.store.append(entries).await;
        metrics::histogram!("trent_audit_commit_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("trent_audit_commit_entries").record(events as f64);
        self.health.note(&result);
        if let Err(e) = &result {
            metrics::counter!("trent_audit_commit_failures_total").increment(1);
            tracing::error!(error = %e, "cannot write audit events; their requests fail");
            self.next_seq = start_seq;
            self.prev = start_prev;
            (self.undigested_from, self.last_signature) = saved;
            self.resync = true;
        }
        for w in waiters.into_iter().chain(digest_waiters) {
            let _ = w.send(result.clone());
        }
    }

    fn push(&mut self, entries: &mut Vec<SealedEntry>, e: SealedEntry) {
        self.prev = e.hash;
        self.next_seq = e.seq + 1;
        entries.push(e);
    }

    /// A signed digest entry covering `undigested_from ..= next_seq - 1`, if non-empty.
    fn digest_entry(&mut self) -> Option<SealedEntry> {
        let end = self.next_seq.checked_sub(1)?;
        if end < self.undigested_from {
            return None;
        }
        let mut digest = Digest {
            start_seq: self.undigested_from,
            end_seq: end,
            last_hash: hex::encode(self.prev),
            previous_digest_signature: self.last_signature.clone(),
            public_key_fingerprint: String::new(),
            digest_time: event_time((self.now_millis)()),
            signature: String::new(),
        };
        self.signer.sign(&self.chain, &mut digest);
        let json = serde_json::to_string(&digest).ok()?;
        let seq = self.next_seq;
        let entry = seal_entry(&self.chain, seq, &self.prev, Kind::Digest, &json);
        self.last_signature = Some(digest.signature);
        self.undigested_from = seq + 1;
        Some(entry)
    }

    async fn write_digest(&mut self) -> Result<(), AuditError> {
        if self.resync {
            self.resync().await?;
        }
        let (seq, prev) = (self.next_seq, self.prev);
        let saved = (self.undigested_from, self.last_signature.clone());
        let Some(entry) = self.digest_entry() else {
            return Ok(());
        };
        let mut entries = Vec::new();
        self.push(&mut entries, entry);
        if let Err(e) = self.store.append(entries).await {
            self.next_seq = seq;
            self.prev = prev;
            (self.undigested_from, self.last_signature) = saved;
            self.resync = true;
            return Err(e);
        }
        Ok(())
    }
}
