//! The audit trail of a cluster, in its PostgreSQL database: each node writes its own
//! chain there; `trent audit verify --database-url` checks every chain with its node's
//! published key and pinpoints tampering by (chain, seq); a chain id is never shared by
//! two live nodes; a node killed under load loses no acknowledged event; CloudTrail's
//! LookupEvents on any node sees every node's events.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use serde_json::Value;
use sqlx::{Connection, PgConnection};

use trent_testkit::aws_cli::{aws_cli_command, AwsCliEnv};
use trent_testkit::cluster::{client as sdk_client, Node, ADMIN_KEY_ID, ADMIN_SECRET};
use trent_testkit::postgres::{self, Database};
use trent_testkit::process::trent;
use trent_testkit::sdk::REGION;

fn verify(url: &str) -> (bool, String) {
    trent(&["audit", "verify", "--database-url", url])
}

/// Every event record in the database, with its row's chain and seq.
async fn db_records(url: &str) -> Vec<(String, i64, Value)> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT chain, seq, line FROM audit_entries WHERE kind = 'event' ORDER BY chain, seq",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(chain, seq, line)| {
            let body: Value = serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
            (chain, seq, body["record"].clone())
        })
        .collect()
}

/// The chains the database publishes, with their public keys.
async fn db_chains(url: &str) -> Vec<(String, String)> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_as("SELECT chain, public_key FROM audit_chains ORDER BY chain")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

async fn exec(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let done = sqlx::query(sql).execute(&mut conn).await.unwrap();
    assert!(done.rows_affected() >= 1, "{sql} changed nothing");
}

/// `aws cloudtrail lookup-events` through a node, every page.
fn lookup_all(endpoint: &str, args: &[&str]) -> Vec<Value> {
    let mut cmd = aws_cli_command(
        "aws",
        &AwsCliEnv {
            credentials: Some((ADMIN_KEY_ID, ADMIN_SECRET)),
            ..Default::default()
        },
    );
    cmd.args(["cloudtrail", "lookup-events", "--endpoint-url", endpoint])
        .args(["--region", REGION, "--output", "json", "--page-size", "50"])
        .args(args);
    let out = cmd.output().expect("the aws CLI");
    assert!(
        out.status.success(),
        "aws cloudtrail lookup-events: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: Value = serde_json::from_slice(&out.stdout).unwrap();
    page["Events"].as_array().unwrap().clone()
}

fn request_id_of(event: &Value) -> String {
    let t: Value = serde_json::from_str(event["CloudTrailEvent"].as_str().unwrap()).unwrap();
    t["requestID"].as_str().unwrap().to_owned()
}

/// `trent serve` that must refuse to start: its output.
fn refused_start(dir: &std::path::Path, url: &str, args: &[&str]) -> String {
    Node::launch(dir, Some(url), args).start_fails().output()
}

/// Refused starts until the refusal says `expected` (a killed node's connection, and
/// the chain's lock with it, may take a moment to go).
fn refused_until(dir: &std::path::Path, url: &str, args: &[&str], expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = refused_start(dir, url, args);
        if text.contains(expected) || Instant::now() > deadline {
            return text;
        }
    }
}

/// Two nodes on one database, requests to both: the database holds both chains, each
/// published with its node's key; verify passes and lists both; LookupEvents through
/// either node sees both nodes' events; then a changed, a deleted and two swapped rows
/// are each pinpointed by chain and seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_write_their_own_chains_and_verify_checks_and_pinpoints_both() {
    let Some(url) =
        postgres::url("two_nodes_write_their_own_chains_and_verify_checks_and_pinpoints_both")
    else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let a = Node::start(Some(&db.url), None, &["--audit-digest-every-events", "5"]);
    let root = a.data_dir().join("root.key");
    let b = Node::start(
        Some(&db.url),
        Some(&root),
        &["--audit-digest-every-events", "5"],
    );
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
    let mut acked = Vec::new();
    for i in 0..12 {
        for node in [&a, &b] {
            let out = node
                .client()
                .encrypt()
                .key_id(&key)
                .plaintext(Blob::new(format!("message {i}").into_bytes()))
                .send()
                .await
                .unwrap();
            acked.push(out.request_id().unwrap().to_owned());
        }
    }

    // Each node publishes its own key under its own (derived) chain id.
    let chains = db_chains(&db.url).await;
    assert_eq!(chains.len(), 2, "{chains:?}");
    let pem_a = std::fs::read_to_string(a.data_dir().join("audit-signing-key.pub.pem")).unwrap();
    let pem_b = std::fs::read_to_string(b.data_dir().join("audit-signing-key.pub.pem")).unwrap();
    let chain_of = |pem: &str| {
        chains
            .iter()
            .find(|(_, k)| k.trim() == pem.trim())
            .map(|(c, _)| c.clone())
            .expect("the node's key is published")
    };
    let (chain_a, chain_b) = (chain_of(&pem_a), chain_of(&pem_b));
    assert_ne!(chain_a, chain_b);
    assert!(
        chain_a.starts_with("node-") && chain_a.len() == 21,
        "{chain_a}"
    );

    let records = db_records(&db.url).await;
    let recorded: HashSet<String> = records
        .iter()
        .filter_map(|(_, _, r)| r["requestID"].as_str().map(str::to_owned))
        .collect();
    assert!(acked.iter().all(|id| recorded.contains(id)));
    for (chain, n) in [(&chain_a, 13), (&chain_b, 12)] {
        // CreateKey and 12 Encrypts through A, 12 Encrypts through B.
        assert_eq!(
            records.iter().filter(|(c, _, _)| c == chain).count(),
            n,
            "{chain}"
        );
    }

    let (ok, report) = verify(&db.url);
    assert!(ok, "{report}");
    for chain in [&chain_a, &chain_b] {
        assert!(
            report.contains(&format!("chain {chain}: OK: ")),
            "{chain} not reported:\n{report}"
        );
    }
    assert!(report.contains("in 2 chain(s), 0 problem(s)"), "{report}");

    // LookupEvents through either node: both nodes' Encrypt events, newest first.
    for node in [&a, &b] {
        let events = lookup_all(
            node.endpoint(),
            &[
                "--lookup-attributes",
                "AttributeKey=EventName,AttributeValue=Encrypt",
            ],
        );
        let ids: BTreeSet<String> = events.iter().map(request_id_of).collect();
        assert_eq!(ids, acked.iter().cloned().collect::<BTreeSet<_>>());
        let times: Vec<String> = events
            .iter()
            .map(|e| {
                let t: Value =
                    serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
                t["eventTime"].as_str().unwrap().to_owned()
            })
            .collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    }

    // The export reads the database too.
    let out = tempfile::tempdir().unwrap();
    let (ok, text) = trent(&[
        "audit",
        "export",
        "--database-url",
        &db.url,
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(ok && text.contains(".json.gz"), "{text}");

    // Changed: one byte of an event of B's chain.
    let (_, seq_b, _) = records
        .iter()
        .find(|(c, s, _)| *c == chain_b && *s == 4)
        .unwrap()
        .clone();
    exec(
        &db.url,
        &format!(
            "UPDATE audit_entries SET line = replace(line, '\"Encrypt\"', '\"Decrypt\"') \
             WHERE chain = '{chain_b}' AND seq = {seq_b}"
        ),
    )
    .await;
    let (ok, report) = verify(&db.url);
    assert!(!ok, "{report}");
    assert!(
        report.contains(&format!(
            "CHANGED: entry seq {seq_b} (row (chain {chain_b}, seq {seq_b})) does not match its hash"
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!("chain {chain_a}: OK: ")),
        "{report}"
    );
    assert!(
        report.contains(&format!("chain {chain_b}: FAILED: ")),
        "{report}"
    );
    exec(
        &db.url,
        &format!(
            "UPDATE audit_entries SET line = replace(line, '\"Decrypt\"', '\"Encrypt\"') \
             WHERE chain = '{chain_b}' AND seq = {seq_b}"
        ),
    )
    .await;
    let (ok, report) = verify(&db.url);
    assert!(ok, "{report}");

    // Deleted: an event of A's chain.
    exec(
        &db.url,
        &format!("DELETE FROM audit_entries WHERE chain = '{chain_a}' AND seq = 3"),
    )
    .await;
    let (ok, report) = verify(&db.url);
    assert!(!ok, "{report}");
    assert!(
        report.contains(&format!(
            "DELETED: entry seq 3 is missing (before row (chain {chain_a}, seq 4))"
        )),
        "{report}"
    );

    // Swapped: two events of B's chain exchange places.
    exec(
        &db.url,
        &format!(
            "UPDATE audit_entries e SET line = o.line FROM audit_entries o \
             WHERE e.chain = '{chain_b}' AND o.chain = '{chain_b}' \
             AND ((e.seq = 7 AND o.seq = 8) OR (e.seq = 8 AND o.seq = 7))"
        ),
    )
    .await;
    let (ok, report) = verify(&db.url);
    assert!(!ok, "{report}");
    for (seq, row) in [(8, 7), (7, 8)] {
        assert!(
            report.contains(&format!(
                "REORDERED: entry seq {seq} (row (chain {chain_b}, seq {row}))"
            )),
            "{report}"
        );
    }
    // A's deletion is still reported, under A's chain only.
    assert!(report.contains("DELETED: entry seq 3"), "{report}");
    eprintln!("AUDIT VERIFY (tampered):\n{report}");
}

/// A chain id is never shared by two live nodes: a second node given the chain id of a
/// live one is refused; once that one is gone, a node with another signing key is still
/// refused the chain, and the owner itself continues it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_id_is_never_shared_by_two_nodes() {
    let Some(url) = postgres::url("a_chain_id_is_never_shared_by_two_nodes") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let a = Node::start(Some(&db.url), None, &["--audit-chain-id", "shared"]);
    a.client().list_keys().send().await.unwrap();
    let root = a.data_dir().join("root.key");

    let other = tempfile::tempdir().unwrap();
    std::fs::copy(&root, other.path().join("root.key")).unwrap();
    let text = refused_start(other.path(), &db.url, &["--audit-chain-id", "shared"]);
    assert!(
        text.contains("audit chain \"shared\" is being written by another live node"),
        "{text}"
    );
    // The live node still serves.
    a.client().list_keys().send().await.unwrap();

    // The owner gone, another data directory (another signing key) is still refused.
    let dir_a = a.into_dir();
    let text = refused_until(
        other.path(),
        &db.url,
        &["--audit-chain-id", "shared"],
        "belongs to another node",
    );
    assert!(text.contains("belongs to another node"), "{text}");

    // The owner, restarted on its data directory, continues its chain.
    let a = Node::start_in(dir_a, Some(&db.url), &["--audit-chain-id", "shared"]);
    a.client().list_keys().send().await.unwrap();
    let (ok, report) = verify(&db.url);
    assert!(ok, "{report}");
    // ListKeys twice before the kill, once after the restart.
    assert!(
        report.contains("chain shared: OK: 3 entries (3 events, 0 digests)"),
        "{report}"
    );
}

/// Two nodes under load, one killed with SIGKILL mid-way: every request either node
/// acknowledged has its event in the database, and the trail verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_node_under_load_loses_no_acknowledged_event() {
    const TASKS: usize = 8;
    const KILL_AFTER: usize = 300;
    const TOTAL: usize = 900;
    let Some(url) = postgres::url("killing_a_node_under_load_loses_no_acknowledged_event") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let mut a = Node::start(Some(&db.url), None, &["--audit-digest-every-events", "50"]);
    let root = a.data_dir().join("root.key");
    let b = Node::start(
        Some(&db.url),
        Some(&root),
        &["--audit-digest-every-events", "50"],
    );
    let key = b
        .client()
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let endpoints = [a.endpoint().to_owned(), b.endpoint().to_owned()];
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reached = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let client = sdk_client(&endpoints[t % 2]);
        let (key, acknowledged, count, stop, reached) = (
            key.clone(),
            acknowledged.clone(),
            count.clone(),
            stop.clone(),
            reached.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            let mut failures = 0usize;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let r = client
                    .encrypt()
                    .key_id(&key)
                    .plaintext(Blob::new(format!("task {t} message {i}").into_bytes()))
                    .send()
                    .await;
                match r {
                    Ok(out) => {
                        acknowledged
                            .lock()
                            .unwrap()
                            .push(out.request_id().unwrap().to_owned());
                        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                        if n == KILL_AFTER {
                            reached.notify_one();
                        }
                        if n >= TOTAL {
                            break;
                        }
                    }
                    // The killed node's clients stop; the other node's never fail.
                    Err(_) if t % 2 == 0 => break,
                    Err(e) => {
                        failures += 1;
                        assert!(failures < 3, "the surviving node failed: {e:?}");
                    }
                }
            }
        }));
    }
    reached.notified().await;
    a.kill();
    for t in tasks {
        t.await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= KILL_AFTER);

    let (ok, report) = verify(&db.url);
    assert!(ok, "verify failed after kill -9:\n{report}");
    assert!(report.contains("in 2 chain(s), 0 problem(s)"), "{report}");
    let recorded: HashSet<String> = db_records(&db.url)
        .await
        .iter()
        .filter_map(|(_, _, r)| r["requestID"].as_str().map(str::to_owned))
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    eprintln!(
        "AUDIT KILL -9 SCENARIO: {} requests acknowledged by the two nodes, {} events in the database, {} acknowledged without an event",
        acknowledged.len(),
        recorded.len(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged requests without an event: {lost:?}"
    );
    // The killed node's chain is taken up again by the same node at restart.
    let a = Node::start_in(a.into_dir(), Some(&db.url), &[]);
    a.client().list_keys().send().await.unwrap();
    let (ok, report) = verify(&db.url);
    assert!(ok, "{report}");
}
