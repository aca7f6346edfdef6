//! The audit trail on PostgreSQL, each test in a schema of its own: the chain written
//! through the real writer, verified with every node's published key, one writer per
//! chain, tampering pinpointed by row, `LookupEvents` across chains, recovery after the
//! writer's connection is lost.
//!
//! The database comes from `TRENT_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`) through the test kit's fixture: without it
//! every test here prints that it was skipped and passes (under CI it fails instead).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use trent_audit::lookup::{lookup, AttributeKey, Query};
use trent_audit::signing::parse_public_key_pem;
use trent_audit::{
    verify_chains, Actor, ApiCall, AuditError, AuditLog, AuditStore, DigestPolicy, Location,
    PgAuditStore, Problem, Record, Signer,
};
use trent_testkit::postgres::{self, Schema};

/// The server's URL, or `None` (skipped, with a notice) when none is configured.
fn test_url() -> Option<String> {
    postgres::url("PostgreSQL audit test")
}

/// A schema of its own, dropped when the test ends.
async fn new_schema(url: &str) -> Schema {
    Schema::create(url, "trent_audit_test_").await
}

fn call(n: usize, unix_millis: i64) -> Record {
    Record::api_call(ApiCall {
        event_source: trent_audit::KMS_EVENT_SOURCE,
        event_name: if n.is_multiple_of(2) {
            "Encrypt"
        } else {
            "Decrypt"
        }
        .into(),
        read_only: false,
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
        unix_millis,
    })
}

async fn open_log(store: Arc<PgAuditStore>, chain: &str, signer: Signer, every: u64) -> AuditLog {
    AuditLog::open(
        store,
        chain,
        signer,
        DigestPolicy {
            every_events: every,
            every: Duration::from_secs(3600),
        },
        Box::new(|| 1_700_000_000_000),
    )
    .await
    .unwrap()
    .0
}

/// The published keys of every chain.
async fn keys(store: &PgAuditStore) -> BTreeMap<String, [u8; 32]> {
    store
        .chains()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.chain, parse_public_key_pem(&c.public_key_pem).unwrap()))
        .collect()
}

fn row(chain: &str, seq: u64) -> Location {
    Location {
        source: format!("row (chain {chain}, seq {seq})"),
        offset: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_chains_group_commit_and_verify_with_their_own_keys() {
    let Some(url) = test_url() else { return };
    let schema = new_schema(&url).await;
    let (sa, pkcs8_a) = Signer::generate().unwrap();
    let (sb, _) = Signer::generate().unwrap();
    let a = Arc::new(
        PgAuditStore::open(schema.options(), "node-a", &sa.public_key_pem())
            .await
            .unwrap(),
    );
    let b = Arc::new(
        PgAuditStore::open(schema.options(), "node-b", &sb.public_key_pem())
            .await
            .unwrap(),
    );
    let log_a = open_log(a.clone(), "node-a", sa, 50).await;
    let log_b = open_log(b.clone(), "node-b", sb, 50).await;
    let mut tasks = Vec::new();
    for t in 0..16 {
        let log = if t % 2 == 0 {
            log_a.clone()
        } else {
            log_b.clone()
        };
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                log.record(&call(t * 100 + i, 1_700_000_000_000))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    log_a.digest_now().await.unwrap();
    log_b.digest_now().await.unwrap();

    let reader = PgAuditStore::connect(schema.options()).await.unwrap();
    let keys = keys(&reader).await;
    assert_eq!(keys.len(), 2);
    let lines = reader.read_all().await.unwrap();
    let report = verify_chains(&lines, |c| keys.get(c).copied());
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.chains, ["node-a", "node-b"]);
    assert_eq!(report.events, 320);
    assert!(report.undigested.is_empty(), "{:?}", report.undigested);
    for s in &report.summaries {
        assert_eq!(s.events, 160, "{s:?}");
        assert_eq!(s.digested_to, s.last_seq, "{s:?}");
    }

    // Reopened (same key, same chain) the chain continues where the database ends.
    drop(log_a);
    a.close().await;
    drop(a);
    let signer = Signer::from_pkcs8(&pkcs8_a).unwrap();
    let a = Arc::new(
        PgAuditStore::open(schema.options(), "node-a", &signer.public_key_pem())
            .await
            .unwrap(),
    );
    let log_a = open_log(a.clone(), "node-a", signer, 50).await;
    log_a.record(&call(9999, 1_700_000_000_000)).await.unwrap();
    log_a.digest_now().await.unwrap();
    let lines = reader.read_all().await.unwrap();
    let report = verify_chains(&lines, |c| keys.get(c).copied());
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.events, 321);

    // Another chain's key does not verify this chain's digests.
    let report = verify_chains(&lines, |_| keys.get("node-b").copied());
    assert!(report
        .problems
        .iter()
        .all(|p| matches!(p, Problem::BadSignature { at, .. } if at.source.contains("node-a"))));
    assert!(!report.ok());
    // A chain without a published key is a problem.
    let report = verify_chains(&lines, |c| keys.get(c).copied().filter(|_| c != "node-b"));
    assert!(report.problems.contains(&Problem::NoPublicKey {
        chain: "node-b".into()
    }));
    a.close().await;
    b.close().await;
    reader.close().await;
}

/// The lines as `for_each_line` hands them over, a page of `batch` rows at a time.
async fn paged(store: &PgAuditStore, chain: Option<&str>, batch: i64) -> Vec<(Location, String)> {
    let mut out = Vec::new();
    store
        .for_each_line(chain, batch, |l| {
            out.push((l.location, l.line));
            Ok(())
        })
        .await
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_read_a_page_at_a_time_are_the_lines_read_at_once() {
    let Some(url) = test_url() else { return };
    let schema = new_schema(&url).await;
    let mut logs = Vec::new();
    for chain in ["node-a", "node-b", "node-c"] {
        let (signer, _) = Signer::generate().unwrap();
        let store = Arc::new(
            PgAuditStore::open(schema.options(), chain, &signer.public_key_pem())
                .await
                .unwrap(),
        );
        logs.push((store.clone(), open_log(store, chain, signer, 7).await));
    }
    for i in 0..25 {
        for (_, log) in &logs {
            log.record(&call(i, 1_700_000_000_000)).await.unwrap();
        }
    }
    let reader = PgAuditStore::connect(schema.options()).await.unwrap();
    let keys = keys(&reader).await;
    let at_once: Vec<(Location, String)> = reader
        .read_all()
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.location, l.line))
        .collect();
    assert!(at_once.len() > 75);
    // Pages that end inside a chain, at its end, and one page for everything.
    for batch in [1, 4, 7, 1000] {
        assert_eq!(paged(&reader, None, batch).await, at_once, "batch {batch}");
        let of_b = reader.chain_lines("node-b").await.unwrap();
        let of_b: Vec<(Location, String)> =
            of_b.into_iter().map(|l| (l.location, l.line)).collect();
        assert_eq!(paged(&reader, Some("node-b"), batch).await, of_b);
    }
    assert!(paged(&reader, Some("node-x"), 4).await.is_empty());
    // Verified as they come: the report of the lines read at once.
    let mut verifier = trent_audit::Verifier::new();
    reader
        .for_each_line(None, 5, |l| {
            verifier.push(&l);
            Ok(())
        })
        .await
        .unwrap();
    let streamed = verifier.finish(&[], |c| keys.get(c).copied());
    let lines = reader.read_all().await.unwrap();
    let whole = verify_chains(&lines, |c| keys.get(c).copied());
    assert!(whole.ok(), "{:?}", whole.problems);
    assert_eq!(format!("{streamed:?}"), format!("{whole:?}"));
    // An error of the consumer stops the reading and is returned.
    let mut seen = 0;
    let err = reader
        .for_each_line(None, 4, |_| {
            seen += 1;
            if seen == 6 {
                return Err(AuditError::Io("stop".into()));
            }
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, AuditError::Io(ref m) if m == "stop"), "{err}");
    assert_eq!(seen, 6);
    for (store, log) in logs {
        drop(log);
        store.close().await;
    }
    reader.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_live_writer_per_chain_and_only_with_its_own_key() {
    let Some(url) = test_url() else { return };
    let schema = new_schema(&url).await;
    let (s1, pkcs8) = Signer::generate().unwrap();
    let first = PgAuditStore::open(schema.options(), "node-1", &s1.public_key_pem())
        .await
        .unwrap();
    // The same node (same key) started twice: refused while the first lives.
    let err = PgAuditStore::open(schema.options(), "node-1", &s1.public_key_pem())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuditError::ChainInUse(ref c) if c == "node-1"),
        "{err}"
    );
    assert!(err.to_string().contains("--audit-chain-id"), "{err}");
    // Another node (another key) on the same chain: refused too.
    let (s2, _) = Signer::generate().unwrap();
    let err = PgAuditStore::open(schema.options(), "node-1", &s2.public_key_pem())
        .await
        .unwrap_err();
    assert!(matches!(err, AuditError::ChainInUse(_)), "{err}");
    // Another chain id is fine.
    let second = PgAuditStore::open(schema.options(), "node-2", &s2.public_key_pem())
        .await
        .unwrap();

    // Once the first is gone its chain is free again, for its own key only.
    first.close().await;
    drop(first);
    let err = PgAuditStore::open(schema.options(), "node-1", &s2.public_key_pem())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AuditError::ChainOwner(ref c) if c == "node-1"),
        "{err}"
    );
    let again = PgAuditStore::open(
        schema.options(),
        "node-1",
        &Signer::from_pkcs8(&pkcs8).unwrap().public_key_pem(),
    )
    .await
    .unwrap();

    // A reader only reads.
    let reader = PgAuditStore::connect(schema.options()).await.unwrap();
    let (signer, _) = Signer::generate().unwrap();
    let entry_store: Arc<dyn AuditStore> =
        Arc::new(PgAuditStore::connect(schema.options()).await.unwrap());
    let log = AuditLog::open(
        entry_store,
        "node-3",
        signer,
        DigestPolicy::default(),
        Box::new(|| 1_700_000_000_000),
    )
    .await
    .unwrap()
    .0;
    assert!(log.record(&call(1, 1_700_000_000_000)).await.is_err());
    assert!(reader.read_all().await.unwrap().is_empty());
    again.close().await;
    second.close().await;
    reader.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_rows_are_pinpointed_by_chain_and_seq() {
    let Some(url) = test_url() else { return };
    let schema = new_schema(&url).await;
    let mut logs = Vec::new();
    let mut stores = Vec::new();
    for chain in ["node-a", "node-b"] {
        let (signer, _) = Signer::generate().unwrap();
        let store = Arc::new(
            PgAuditStore::open(schema.options(), chain, &signer.public_key_pem())
                .await
                .unwrap(),
        );
        logs.push(open_log(store.clone(), chain, signer, 4).await);
        stores.push(store);
    }
    for i in 0..10 {
        for log in &logs {
            log.record(&call(i, 1_700_000_000_000)).await.unwrap();
        }
    }
    for log in &logs {
        log.digest_now().await.unwrap();
    }
    // Per chain: 1-4 events, 5 digest, 6-9 events, 10 digest, 11-12 events, 13 digest.
    let reader = PgAuditStore::connect(schema.options()).await.unwrap();
    let keys = keys(&reader).await;
    let check = |lines: &[trent_audit::StoredLine]| verify_chains(lines, |c| keys.get(c).copied());
    assert!(check(&reader.read_all().await.unwrap()).ok());

    let mut conn = schema.conn().await;
    // Changed: one byte of node-b's seq 7.
    sqlx::query(
        "UPDATE audit_entries SET line = replace(line, 'req-', 'rEq-') \
         WHERE chain = 'node-b' AND seq = 7",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let r = check(&reader.read_all().await.unwrap());
    assert_eq!(
        r.problems,
        [Problem::Changed {
            seq: Some(7),
            at: row("node-b", 7)
        }]
    );
    let b = r.summaries.iter().find(|s| s.chain == "node-b").unwrap();
    assert_eq!(b.problems, 1);
    let a = r.summaries.iter().find(|s| s.chain == "node-a").unwrap();
    assert!(a.ok());
    assert_eq!(
        r.problems[0].to_string(),
        "CHANGED: entry seq 7 (row (chain node-b, seq 7)) does not match its hash"
    );
    sqlx::query(
        "UPDATE audit_entries SET line = replace(line, 'rEq-', 'req-') \
         WHERE chain = 'node-b' AND seq = 7",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    // Deleted: node-a's seq 3.
    sqlx::query("DELETE FROM audit_entries WHERE chain = 'node-a' AND seq = 3")
        .execute(&mut conn)
        .await
        .unwrap();
    let r = check(&reader.read_all().await.unwrap());
    assert_eq!(
        r.problems,
        [Problem::Deleted {
            from: 3,
            to: 3,
            after: Some(row("node-a", 4))
        }]
    );

    // Swapped: node-b's seq 7 and 8 exchange their lines.
    sqlx::query(
        "UPDATE audit_entries e SET line = o.line FROM audit_entries o \
         WHERE e.chain = 'node-b' AND o.chain = 'node-b' \
         AND ((e.seq = 7 AND o.seq = 8) OR (e.seq = 8 AND o.seq = 7))",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let r = check(&reader.read_all().await.unwrap());
    let b_problems: Vec<&Problem> = r
        .problems
        .iter()
        .filter(|p| !matches!(p, Problem::Deleted { .. }))
        .collect();
    assert_eq!(
        b_problems,
        [
            &Problem::Reordered {
                seq: 8,
                at: row("node-b", 7),
                position: 7,
                expected: 8
            },
            &Problem::Reordered {
                seq: 7,
                at: row("node-b", 8),
                position: 8,
                expected: 7
            }
        ]
    );
    for s in &stores {
        s.close().await;
    }
    reader.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_reads_every_chain_newest_first_and_pages() {
    let Some(url) = test_url() else { return };
    let schema = new_schema(&url).await;
    let mut logs = Vec::new();
    let mut stores = Vec::new();
    for chain in ["node-a", "node-b"] {
        let (signer, _) = Signer::generate().unwrap();
        let store = Arc::new(
            PgAuditStore::open(schema.options(), chain, &signer.public_key_pem())
                .await
                .unwrap(),
        );
        logs.push(open_log(store.clone(), chain, signer, 1000).await);
        stores.push(store);
    }
    // 600 events per chain, one second apart, interleaved: a's at even seconds, b's odd.
    let base = 1_700_000_000_000_i64;
    for i in 0..600_usize {
        let t = base + 2000 * i as i64;
        logs[0].record(&call(2 * i, t)).await.unwrap();
        logs[1].record(&call(2 * i + 1, t + 1000)).await.unwrap();
    }
    let reader = PgAuditStore::connect(schema.options()).await.unwrap();

    // Every event, newest first, pages of 50: request ids count down across both chains.
    let mut seen = Vec::new();
    let mut from = None;
    loop {
        let (page, next) = lookup(&reader, &Query::default(), |_| true, 50, from)
            .await
            .unwrap();
        assert!(page.len() <= 50);
        seen.extend(page.into_iter().map(|e| e.event_id));
        match next {
            Some(n) => from = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len(), 1200);
    let lines = reader.read_all().await.unwrap();
    let by_id: BTreeMap<String, String> = trent_audit::records(&lines)
        .into_iter()
        .map(|(_, r)| (r.event_id.clone(), r.request_id.clone().unwrap()))
        .collect();
    let requests: Vec<String> = seen.iter().map(|id| by_id[id].clone()).collect();
    let expected: Vec<String> = (0..1200).rev().map(|n| format!("req-{n}")).collect();
    assert_eq!(requests, expected);

    // A filter (only node-a's: Encrypt) and a time window, across batches.
    let query = Query {
        attribute: Some((AttributeKey::EventName, "Encrypt".into())),
        start: Some(1_700_000_000 + 100),
        end: Some(1_700_000_000 + 1099),
    };
    let (page, next) = lookup(&reader, &query, |_| true, 50, None).await.unwrap();
    assert_eq!(page.len(), 50);
    assert_eq!(page[0].event_time, 1_700_000_000 + 1098);
    let (page2, _) = lookup(&reader, &query, |_| true, 50, next).await.unwrap();
    assert_eq!(page2[0].event_time, 1_700_000_000 + 998);
    let mut total = 0;
    let mut from = None;
    loop {
        let (page, next) = lookup(&reader, &query, |_| true, 7, from).await.unwrap();
        total += page.len();
        assert!(page.iter().all(|e| e.event_name == "Encrypt"));
        match next {
            Some(n) => from = Some(n),
            None => break,
        }
    }
    assert_eq!(total, 500);
    for s in &stores {
        s.close().await;
    }
    reader.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_recovers_after_its_connection_is_lost() {
    let Some(url) = test_url() else { return };
    let schema = new_schema(&url).await;
    let (signer, _) = Signer::generate().unwrap();
    let store = Arc::new(
        PgAuditStore::open(schema.options(), "node-1", &signer.public_key_pem())
            .await
            .unwrap(),
    );
    let log = open_log(store.clone(), "node-1", signer, 3).await;
    log.record(&call(1, 1_700_000_000_000)).await.unwrap();
    // Kill the writer's connection (the one holding the chain's lock) from outside.
    let mut conn = schema.conn().await;
    // Only this schema's chain lock: other tests share the database.
    let killed: i64 = sqlx::query_scalar(
        "WITH k AS (SELECT hashtextextended('trent-audit-chain:' || current_schema() || ':node-1', 0) AS key) \
         SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l, k \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
         AND l.classid::bigint = ((k.key >> 32) & 4294967295) \
         AND l.objid::bigint = (k.key & 4294967295)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(killed, 1);
    // The next write may fail (the connection is gone); the one after reconnects.
    let mut ok = 0;
    let mut failed = 0;
    for i in 2..=8 {
        match log.record(&call(i, 1_700_000_000_000)).await {
            Ok(()) => ok += 1,
            Err(e) => {
                assert!(matches!(e, AuditError::Database(_)), "{e}");
                failed += 1;
            }
        }
    }
    assert!(
        failed <= 1,
        "{failed} writes failed after one lost connection"
    );
    log.digest_now().await.unwrap();
    let reader = PgAuditStore::connect(schema.options()).await.unwrap();
    let keys = keys(&reader).await;
    let lines = reader.read_all().await.unwrap();
    let report = verify_chains(&lines, |c| keys.get(c).copied());
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.events, 1 + ok);
    store.close().await;
    reader.close().await;
}

/// Issue 13, item 7: LookupEvents' attributes are indexed. A filter that matches nothing
/// is answered from the index (no event read, no token), rare matches are found across
/// the whole trail, and the planner uses the attribute's index; a database created by an
/// older Trent (without these indexes) gets them when a node opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_attributes_are_answered_through_indexes() {
    let Some(url) = test_url() else { return };
    let schema = new_schema(&url).await;
    // An older database: its tables and time index, not the attribute indexes.
    let old = PgAuditStore::connect(schema.options()).await.unwrap();
    old.close().await;
    let mut conn = schema.conn().await;
    for index in [
        "audit_entries_by_event_name",
        "audit_entries_by_event_id",
        "audit_entries_by_access_key_id",
        "audit_entries_by_resource",
    ] {
        sqlx::query(&format!("DROP INDEX {index}"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let (signer, _) = Signer::generate().unwrap();
    let store = Arc::new(
        PgAuditStore::open(schema.options(), "node-a", &signer.public_key_pem())
            .await
            .unwrap(),
    );
    let log = open_log(store.clone(), "node-a", signer, 100_000).await;
    let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    for i in 0..2000_usize {
        let mut r = call(i, 1_700_000_000_000 + 1000 * i as i64);
        if i % 500 == 7 {
            r.event_name = "ScheduleKeyDeletion".into();
            r.user_identity.access_key_id = Some("AKIARARE".into());
            r.resources = trent_audit::Resource::kms(key).into_iter().collect();
        }
        log.record(&r).await.unwrap();
    }
    let reader = PgAuditStore::connect(schema.options()).await.unwrap();
    let never = |key: AttributeKey| Query {
        attribute: Some((key, "NoSuchValue".into())),
        ..Query::default()
    };
    for key in [
        AttributeKey::EventName,
        AttributeKey::EventId,
        AttributeKey::AccessKeyId,
        AttributeKey::ResourceName,
    ] {
        let (page, next) = lookup(&reader, &never(key), |_| true, 50, None)
            .await
            .unwrap();
        assert!(page.is_empty() && next.is_none(), "{key:?}");
    }
    for (key, value) in [
        (AttributeKey::EventName, "ScheduleKeyDeletion"),
        (AttributeKey::AccessKeyId, "AKIARARE"),
        (AttributeKey::ResourceName, key),
    ] {
        let query = Query {
            attribute: Some((key, value.into())),
            ..Query::default()
        };
        let (page, next) = lookup(&reader, &query, |_| true, 50, None).await.unwrap();
        let times: Vec<i64> = page.iter().map(|e| e.event_time).collect();
        assert_eq!(
            times,
            [1507, 1007, 507, 7].map(|i| 1_700_000_000 + i),
            "{key:?}"
        );
        assert!(next.is_none());
    }
    let (page, _) = lookup(&reader, &never(AttributeKey::EventId), |_| true, 50, None)
        .await
        .unwrap();
    assert!(page.is_empty());

    // The planner's way, with sequential scans made unattractive (the table is small).
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    for (condition, index) in [
        ("trent_audit_record(line) ->> 'eventName' = 'X'", "audit_entries_by_event_name"),
        (
            "trent_audit_record(line) #>> '{userIdentity,accessKeyId}' = 'X'",
            "audit_entries_by_access_key_id",
        ),
        (
            "trent_audit_record(line) -> 'resources' @> jsonb_build_array(jsonb_build_object('ARN', 'X'::text))",
            "audit_entries_by_resource",
        ),
    ] {
        let plan: Vec<String> = sqlx::query_scalar(&format!(
            "EXPLAIN SELECT chain, seq, event_time, line FROM audit_entries \
             WHERE kind = 'event' AND event_time IS NOT NULL AND {condition} \
             ORDER BY event_time DESC, chain DESC, seq DESC LIMIT 500"
        ))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(plan.iter().any(|l| l.contains(index)), "{condition}: {plan:#?}");
    }
    store.close().await;
    reader.close().await;
}
