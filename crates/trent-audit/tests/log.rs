//! The log end to end at the crate level: group commit, digests, failures, service
//! events, verification of tampered chains.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use trent_audit::{
    verify, Actor, ApiCall, AuditError, AuditLog, AuditStore, DigestPolicy, FileStore, Problem,
    Record, SealedEntry, Signer, StoredLine, Tail,
};

fn call(n: usize) -> Record {
    Record::api_call(ApiCall {
        event_source: trent_audit::KMS_EVENT_SOURCE,
        event_name: "Encrypt".into(),
        read_only: true,
        actor: Actor::Root {
            account_id: "111122223333".into(),
            access_key_id: "AKIAEXAMPLE".into(),
        },
        recipient_account_id: "111122223333".into(),
        region: "us-east-1".into(),
        source_ip: Some("127.0.0.1".into()),
        user_agent: Some("test".into()),
        request_parameters: None,
        response_elements: None,
        error_code: None,
        error_message: None,
        request_id: format!("req-{n}"),
        resources: Vec::new(),
        tls_details: None,
        unix_millis: 1_700_000_000_000,
    })
}

/// A file store that counts appends (each is one write + one fsync).
struct Counting {
    inner: FileStore,
    appends: AtomicUsize,
}

#[async_trait]
impl AuditStore for Counting {
    async fn append(&self, entries: Vec<SealedEntry>) -> Result<(), AuditError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        self.inner.append(entries).await
    }
    async fn tail(&self, chain: &str) -> Result<Option<Tail>, AuditError> {
        self.inner.tail(chain).await
    }
    async fn read_all(&self) -> Result<Vec<StoredLine>, AuditError> {
        self.inner.read_all().await
    }
}

async fn open(store: Arc<dyn AuditStore>, signer: Signer, every_events: u64) -> AuditLog {
    AuditLog::open(
        store,
        "node-1",
        signer,
        DigestPolicy {
            every_events,
            every: Duration::from_secs(3600),
        },
        Box::new(|| 1_700_000_000_000),
    )
    .await
    .unwrap()
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_events_share_fsyncs_and_the_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Counting {
        inner: FileStore::open(dir.path(), 1 << 20).unwrap(),
        appends: AtomicUsize::new(0),
    });
    let (signer, pkcs8) = Signer::generate().unwrap();
    let public = signer.public_key();
    let log = open(store.clone(), signer, 100).await;
    let mut tasks = Vec::new();
    for t in 0..64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                log.record(&call(t * 100 + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    log.digest_now().await.unwrap();
    let appends = store.appends.load(Ordering::SeqCst);
    assert!(
        appends < 1280,
        "{appends} appends for 1280 events: no batching"
    );

    let lines = store.read_all().await.unwrap();
    let report = verify(&lines, &public);
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.events, 1280);
    assert!(report.digests >= 12, "{}", report.digests);
    assert!(report.undigested.is_empty());

    // Reopened, the chain continues (and digests keep linking).
    drop(log);
    let log = open(store.clone(), Signer::from_pkcs8(&pkcs8).unwrap(), 100).await;
    log.record(&call(99_999)).await.unwrap();
    log.digest_now().await.unwrap();
    let lines = store.read_all().await.unwrap();
    let report = verify(&lines, &public);
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.events, 1281);

    // Another key does not verify the digests.
    let (other, _) = Signer::generate().unwrap();
    let report = verify(&lines, &other.public_key());
    assert!(report
        .problems
        .iter()
        .all(|p| matches!(p, Problem::BadSignature { .. })));
    assert_eq!(report.problems.len(), report.digests);
}

/// A store whose appends fail while `failing` is set.
struct Flaky {
    inner: FileStore,
    failing: AtomicBool,
}

#[async_trait]
impl AuditStore for Flaky {
    async fn append(&self, entries: Vec<SealedEntry>) -> Result<(), AuditError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(AuditError::Io("disk full".into()));
        }
        self.inner.append(entries).await
    }
    async fn tail(&self, chain: &str) -> Result<Option<Tail>, AuditError> {
        self.inner.tail(chain).await
    }
    async fn read_all(&self) -> Result<Vec<StoredLine>, AuditError> {
        self.inner.read_all().await
    }
}

#[tokio::test]
async fn a_failed_write_fails_its_requests_and_the_chain_stays_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Flaky {
        inner: FileStore::open(dir.path(), 1 << 20).unwrap(),
        failing: AtomicBool::new(false),
    });
    let (signer, _) = Signer::generate().unwrap();
    let public = signer.public_key();
    let log = open(store.clone(), signer, 1000).await;
    log.record(&call(1)).await.unwrap();
    store.failing.store(true, Ordering::SeqCst);
    assert!(matches!(log.record(&call(2)).await, Err(AuditError::Io(_))));
    store.failing.store(false, Ordering::SeqCst);
    log.record(&call(3)).await.unwrap();
    let lines = store.read_all().await.unwrap();
    let report = verify(&lines, &public);
    assert!(report.ok(), "{:?}", report.problems);
    let ids: Vec<String> = trent_audit::records(&lines)
        .into_iter()
        .map(|(_, r)| r.request_id.unwrap())
        .collect();
    assert_eq!(ids, ["req-1", "req-3"]);
}

#[tokio::test]
async fn service_events_are_recorded_like_calls() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn AuditStore> = Arc::new(FileStore::open(dir.path(), 1 << 20).unwrap());
    let (signer, _) = Signer::generate().unwrap();
    let public = signer.public_key();
    let log = open(store.clone(), signer, 1000).await;
    let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    log.record(&Record::service_event(
        "DeleteKey",
        "111122223333",
        "us-east-1",
        arn,
        None,
        1_700_000_000_000,
    ))
    .await
    .unwrap();
    let lines = store.read_all().await.unwrap();
    assert!(verify(&lines, &public).ok());
    let records = trent_audit::records(&lines);
    let r = &records[0].1;
    assert_eq!(r.event_type, "AwsServiceEvent");
    assert_eq!(
        r.user_identity.invoked_by.as_deref(),
        Some("kms.amazonaws.com")
    );
    assert_eq!(r.resources[0].arn, arn);
    assert_eq!(r.username().as_deref(), Some("kms.amazonaws.com"));
}

async fn small_chain() -> (tempfile::TempDir, [u8; 32], Vec<StoredLine>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn AuditStore> = Arc::new(FileStore::open(dir.path(), 1 << 20).unwrap());
    let (signer, _) = Signer::generate().unwrap();
    let public = signer.public_key();
    let log = open(store.clone(), signer, 4).await;
    for i in 0..10 {
        log.record(&call(i)).await.unwrap();
    }
    log.digest_now().await.unwrap();
    let lines = store.read_all().await.unwrap();
    assert!(verify(&lines, &public).ok());
    (dir, public, lines)
}

#[tokio::test]
async fn verification_pinpoints_each_kind_of_tampering() {
    let (_dir, public, lines) = small_chain().await;
    // seqs: 1-4 events, 5 digest, 6-9 events, 10 digest, 11-12 events, 13 digest.
    assert_eq!(lines.len(), 13);

    let mut changed = lines.clone();
    changed[6].line = changed[6].line.replace("req-", "rEq-");
    let r = verify(&changed, &public);
    assert_eq!(
        r.problems,
        [Problem::Changed {
            seq: Some(7),
            at: lines[6].location.clone()
        }]
    );

    let mut deleted = lines.clone();
    deleted.remove(2);
    let r = verify(&deleted, &public);
    assert_eq!(
        r.problems,
        [Problem::Deleted {
            from: 3,
            to: 3,
            after: Some(lines[3].location.clone())
        }]
    );

    let mut swapped = lines.clone();
    swapped.swap(6, 7);
    let r = verify(&swapped, &public);
    assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    assert!(matches!(
        r.problems[0],
        Problem::Reordered {
            seq: 8,
            position: 7,
            expected: 8,
            ..
        }
    ));
    assert!(matches!(
        r.problems[1],
        Problem::Reordered {
            seq: 7,
            position: 8,
            expected: 7,
            ..
        }
    ));

    let mut inserted = lines.clone();
    inserted.insert(4, lines[1].clone());
    let r = verify(&inserted, &public);
    assert!(
        r.problems
            .iter()
            .any(|p| matches!(p, Problem::Inserted { seq: 2, .. })),
        "{:?}",
        r.problems
    );

    // A forged entry with a valid hash of its own breaks the link of its successor.
    let mut forged = lines.clone();
    let (_, body) = forged[7].line.split_once(' ').unwrap();
    let body = body.replace("req-", "forged-");
    forged[7].line = format!(
        "{} {body}",
        hex::encode(trent_audit::sha256(body.as_bytes()))
    );
    let r = verify(&forged, &public);
    assert!(
        r.problems
            .iter()
            .any(|p| matches!(p, Problem::BrokenLink { seq: 9, .. })),
        "{:?}",
        r.problems
    );
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);

    // Re-chaining the successor too only moves the break to the signed digest.
    let new_hash = forged[7].line.split_once(' ').unwrap().0.to_owned();
    let (_, body9) = forged[8].line.split_once(' ').unwrap();
    let old_prev = hex::encode(trent_audit::sha256(
        lines[7].line.split_once(' ').unwrap().1.as_bytes(),
    ));
    let body9 = body9.replace(&old_prev, &new_hash);
    forged[8].line = format!(
        "{} {body9}",
        hex::encode(trent_audit::sha256(body9.as_bytes()))
    );
    let r = verify(&forged, &public);
    assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    assert!(matches!(r.problems[0], Problem::BrokenLink { seq: 10, .. }));
    assert!(
        matches!(&r.problems[1], Problem::DigestMismatch { seq: 10, detail, .. } if detail.contains("hash of seq 9")),
        "{:?}",
        r.problems
    );
}
