//! Crashes under load, scripted and repeatable: a node killed with SIGKILL while clients
//! write through it and another node, and the database crashing and coming back. Each
//! scenario counts the requests sent, acknowledged and found afterwards; every
//! acknowledged write must be found.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::Tag;
use aws_sdk_kms::Client;
use tokio::sync::Notify;

use trent_testkit::cluster::{client as sdk_client, Node};
use trent_testkit::postgres::{self, Database, PrivatePostgres};
use trent_testkit::process::http_get;
use trent_testkit::sdk::error_code;

const WORKERS: usize = 6;

/// Every key id the nodes list.
async fn listed_keys(client: &Client) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_keys()
            .limit(1000)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        out.extend(page.keys().iter().map(|k| k.key_id().unwrap().to_owned()));
        match page.next_marker() {
            Some(m) if page.truncated() => marker = Some(m.to_owned()),
            _ => return out,
        }
    }
}

/// Two nodes; workers create keys and tag shared keys, each request through one node and
/// retried through the other when it fails; node A is killed (SIGKILL) once a third of
/// the work is acknowledged. Every acknowledged key and tag exists afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_node_under_load_loses_no_acknowledged_write() {
    const OPS_PER_WORKER: usize = 30;
    let Some(url) = postgres::url("killing_a_node_under_load_loses_no_acknowledged_write") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let mut a = Node::start(Some(&db.url), None, &[]);
    let root = a.data_dir().join("root.key");
    let b = Node::start(Some(&db.url), Some(&root), &[]);
    let endpoints = [a.endpoint().to_owned(), b.endpoint().to_owned()];
    // Two keys tagged by three workers each (through both nodes): at most 45 tags a key,
    // under AWS's quota of 50.
    let mut shared_keys = Vec::new();
    for _ in 0..2 {
        let out = b.client().create_key().send().await.unwrap();
        shared_keys.push(out.key_metadata().unwrap().key_id().to_owned());
    }

    let sent = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let failed_over = Arc::new(AtomicUsize::new(0));
    let kill_now = Arc::new(Notify::new());
    let total = WORKERS * OPS_PER_WORKER;
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let clients: Vec<Client> = endpoints.iter().map(|e| sdk_client(e)).collect();
        let (sent, acked, failed_over, kill_now, shared) = (
            sent.clone(),
            acked.clone(),
            failed_over.clone(),
            kill_now.clone(),
            shared_keys[w % 2].clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut keys = Vec::new();
            let mut tags = Vec::new();
            for i in 0..OPS_PER_WORKER {
                // Alternate nodes; on failure retry through the other one.
                let first = (w + i) % 2;
                let mut done = false;
                let mut last_error = String::new();
                for attempt in 0..20 {
                    let client = &clients[(first + attempt) % 2];
                    sent.fetch_add(1, Ordering::Relaxed);
                    if attempt > 0 {
                        failed_over.fetch_add(1, Ordering::Relaxed);
                    }
                    let ok = if i % 2 == 0 {
                        match client.create_key().send().await {
                            Ok(out) => {
                                keys.push(out.key_metadata().unwrap().key_id().to_owned());
                                true
                            }
                            Err(e) => {
                                last_error = error_code(&e);
                                false
                            }
                        }
                    } else {
                        let tag = format!("w{w}-op{i}");
                        let res = client
                            .tag_resource()
                            .key_id(&shared)
                            .tags(Tag::builder().tag_key(&tag).tag_value("x").build().unwrap())
                            .send()
                            .await;
                        match res {
                            Ok(_) => {
                                tags.push((shared.clone(), tag));
                                true
                            }
                            Err(e) => {
                                last_error = error_code(&e);
                                false
                            }
                        }
                    };
                    if ok {
                        if acked.fetch_add(1, Ordering::Relaxed) + 1 == total / 3 {
                            kill_now.notify_one();
                        }
                        done = true;
                        break;
                    }
                }
                assert!(
                    done,
                    "worker {w} op {i} never succeeded through either node: {last_error}"
                );
            }
            (keys, tags)
        }));
    }
    kill_now.notified().await;
    a.kill();
    let killed_at = acked.load(Ordering::Relaxed);

    let mut acked_keys = BTreeSet::new();
    let mut acked_tags = BTreeSet::new();
    for task in tasks {
        let (keys, tags) = task.await.unwrap();
        acked_keys.extend(keys);
        acked_tags.extend(tags);
    }
    let client = b.client();
    let found_keys = listed_keys(&client).await;
    let mut found_tags = BTreeSet::new();
    for key in &shared_keys {
        let out = client
            .list_resource_tags()
            .key_id(key)
            .limit(1000)
            .send()
            .await
            .unwrap();
        found_tags.extend(
            out.tags()
                .iter()
                .map(|t| (key.clone(), t.tag_key().to_owned())),
        );
    }
    let keys_found = acked_keys
        .iter()
        .filter(|k| found_keys.contains(*k))
        .count();
    let tags_found = acked_tags
        .iter()
        .filter(|t| found_tags.contains(*t))
        .count();
    eprintln!(
        "KILL -9 SCENARIO: node A killed after {killed_at} acknowledgements; requests sent {}, \
         acknowledged {} (CreateKey {}, TagResource {}), retried through the other node {}; \
         found afterwards: keys {keys_found}/{}, tags {tags_found}/{}",
        sent.load(Ordering::Relaxed),
        acked.load(Ordering::Relaxed),
        acked_keys.len(),
        acked_tags.len(),
        failed_over.load(Ordering::Relaxed),
        acked_keys.len(),
        acked_tags.len(),
    );
    assert_eq!(acked.load(Ordering::Relaxed), total);
    assert_eq!(
        keys_found,
        acked_keys.len(),
        "an acknowledged CreateKey was lost"
    );
    assert_eq!(
        tags_found,
        acked_tags.len(),
        "an acknowledged TagResource was lost"
    );
}

/// What one request through a node answered while the database came and went.
#[derive(Default)]
struct Tally {
    sent: usize,
    ok: usize,
    errors: BTreeMap<String, usize>,
}

/// The database crashes (immediate stop: no checkpoint, crash recovery at restart) while
/// two nodes are under load, and comes back on the same port. Meanwhile the nodes answer
/// only correct results or AWS's retryable `KMSInternalException` /
/// `DependencyTimeoutException`; afterwards they serve again by themselves, and every
/// acknowledged key exists and every ciphertext they produced decrypts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_crash_under_load_gives_retryable_errors_then_recovers() {
    if postgres::url("database_crash_under_load_gives_retryable_errors_then_recovers").is_none() {
        return;
    }
    let Some(mut pg) = PrivatePostgres::init() else {
        return;
    };
    let url = pg.url();
    let a = Node::start(Some(&url), None, &[]);
    let root = a.data_dir().join("root.key");
    let b = Node::start(Some(&url), Some(&root), &[]);
    let endpoints = [a.endpoint().to_owned(), b.endpoint().to_owned()];
    let key = a
        .client()
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let client = sdk_client(&endpoints[w % 2]);
        let (stop, key) = (stop.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut keys = Vec::new();
            let mut blobs = Vec::new();
            let mut i = 0_usize;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                tally.sent += 1;
                let result: Result<(), String> = match i % 3 {
                    0 => match client.create_key().send().await {
                        Ok(o) => {
                            keys.push(o.key_metadata().unwrap().key_id().to_owned());
                            Ok(())
                        }
                        Err(e) => Err(error_code(&e)),
                    },
                    1 => {
                        let plaintext = format!("w{w} i{i}");
                        match client
                            .encrypt()
                            .key_id(&key)
                            .plaintext(Blob::new(plaintext.clone().into_bytes()))
                            .send()
                            .await
                        {
                            Ok(o) => {
                                blobs.push((plaintext, o.ciphertext_blob().unwrap().clone()));
                                Ok(())
                            }
                            Err(e) => Err(error_code(&e)),
                        }
                    }
                    _ => match client.describe_key().key_id(&key).send().await {
                        Ok(o) => {
                            let meta = o.key_metadata().unwrap();
                            assert_eq!(meta.key_id(), key, "DescribeKey answered another key");
                            assert_eq!(
                                meta.key_state().map(|s| s.as_str()),
                                Some("Enabled"),
                                "DescribeKey answered a wrong state"
                            );
                            Ok(())
                        }
                        Err(e) => Err(error_code(&e)),
                    },
                };
                match result {
                    Ok(()) => tally.ok += 1,
                    Err(code) => *tally.errors.entry(code).or_default() += 1,
                }
            }
            (tally, keys, blobs)
        }));
    }

    // Load before, during and after the outage; the phases are delimited by what the
    // clients observe, not by sleeping.
    let probe = a.client();
    let warm_until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < warm_until {
        probe.describe_key().key_id(&key).send().await.unwrap();
    }
    pg.crash();
    let down_at = Instant::now();
    // While the database is gone, a request that needs it fails with a retryable error.
    let down_answer = probe.create_key().send().await;
    let down_code = match &down_answer {
        Ok(_) => panic!("CreateKey succeeded while the database was down"),
        Err(e) => error_code(e),
    };
    assert!(
        down_code == "KMSInternalException" || down_code == "DependencyTimeoutException",
        "while the database is down: {down_code} ({down_answer:?}); the node's log:\n{}",
        a.logs()
    );
    // Its readiness says so, and why; it is alive all the same.
    let admin = a.admin_endpoint();
    let (status, body) = tokio::task::spawn_blocking({
        let admin = admin.clone();
        move || http_get(&admin, "/readyz")
    })
    .await
    .unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("store: "), "{body}");
    assert!(!body.contains("audit: ") || body.contains("audit: the last audit write failed"));
    let (status, _) = tokio::task::spawn_blocking({
        let admin = admin.clone();
        move || http_get(&admin, "/healthz")
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    pg.start();
    let restarted_after = down_at.elapsed();
    // Both nodes recover by themselves: a write through each succeeds again.
    let recovery_start = Instant::now();
    for node in [&a, &b] {
        let client = node.client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while client.create_key().send().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "a node did not recover within 60 s; its log:\n{}",
                node.logs()
            );
            tokio::task::yield_now().await;
        }
    }
    let recovered_in = recovery_start.elapsed();
    for node in [&a, &b] {
        let admin = node.admin_endpoint();
        let (status, body) = tokio::task::spawn_blocking(move || http_get(&admin, "/readyz"))
            .await
            .unwrap();
        assert_eq!((status, body.as_str()), (200, "ready\n"));
    }
    stop.store(true, Ordering::Relaxed);

    let mut total = Tally::default();
    let mut acked_keys = BTreeSet::new();
    let mut blobs = Vec::new();
    for task in tasks {
        let (tally, keys, b) = task.await.unwrap();
        total.sent += tally.sent;
        total.ok += tally.ok;
        for (code, n) in tally.errors {
            *total.errors.entry(code).or_default() += n;
        }
        acked_keys.extend(keys);
        blobs.extend(b);
    }
    let client = b.client();
    let found = listed_keys(&client).await;
    let keys_found = acked_keys.iter().filter(|k| found.contains(*k)).count();
    for (plaintext, blob) in &blobs {
        let out = client
            .decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(out.plaintext().unwrap().as_ref(), plaintext.as_bytes());
    }
    eprintln!(
        "DATABASE CRASH SCENARIO: database down for {restarted_after:?}, nodes serving writes \
         again {recovered_in:?} after its restart; requests sent {}, answered OK {}, errors \
         {:?}; acknowledged CreateKey found {keys_found}/{}; {} ciphertexts all decrypt",
        total.sent,
        total.ok,
        total.errors,
        acked_keys.len(),
        blobs.len()
    );
    for code in total.errors.keys() {
        assert!(
            code == "KMSInternalException" || code == "DependencyTimeoutException",
            "a node answered {code} during the outage"
        );
    }
    assert_eq!(
        keys_found,
        acked_keys.len(),
        "an acknowledged CreateKey was lost"
    );
}
