//! Issue 13, item 4: write-ahead audit. Before a state-changing operation commits, an
//! intent naming its request and the resources it creates or changes is durable in the
//! trail; if the intent cannot be written nothing changes (KMSInternalException); after a
//! crash every key in the store can be found in the trail with the request that made it.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use trent_testkit::process::trent;

use crate::harness::{TestServer, REGION};

/// Every entry of the trail in chain order: (kind, record) of events and intents.
fn entries(data_dir: &Path) -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let (_, body) = line.split_once(' ').unwrap();
            let body: Value = serde_json::from_str(body).unwrap();
            let kind = body["kind"].as_str().unwrap().to_owned();
            if kind != "digest" {
                out.push((kind, body["record"].clone()));
            }
        }
    }
    out
}

fn request_id(resp: &crate::harness::RawResponse) -> String {
    resp.header("x-amzn-requestid").unwrap().to_owned()
}

async fn ok(server: &TestServer, op: &str, body: Value) -> (String, Value) {
    let resp = server.call(op, body).await;
    assert_eq!(resp.status, 200, "{op}: {}", resp.body_text());
    let id = request_id(&resp);
    let v = if resp.body.is_empty() {
        Value::Null
    } else {
        resp.json()
    };
    (id, v)
}

/// (a) Every state-changing operation writes its intent, naming its request, principal and
/// the resources it changes, before its outcome; read-only operations write none.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_state_changing_operation_records_its_intent_first() {
    let server = TestServer::start();
    let mut done: Vec<(&str, String, Vec<String>)> = Vec::new();
    let (id, created) = ok(&server, "CreateKey", json!({})).await;
    let arn = created["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    done.push(("CreateKey", id, vec![arn.clone()]));
    let (id, other) = ok(&server, "CreateKey", json!({})).await;
    let other_arn = other["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    done.push(("CreateKey", id, vec![other_arn.clone()]));
    let alias_arn = format!("arn:aws:kms:{REGION}:111122223333:alias/wal");
    let grantee = "arn:aws:iam::111122223333:user/grantee";
    let steps: Vec<(&str, Value, Vec<String>)> = vec![
        (
            "CreateAlias",
            json!({"AliasName": "alias/wal", "TargetKeyId": key_id}),
            vec![alias_arn.clone()],
        ),
        (
            "UpdateAlias",
            json!({"AliasName": "alias/wal", "TargetKeyId": other_arn}),
            vec![alias_arn.clone()],
        ),
        (
            "DeleteAlias",
            json!({"AliasName": "alias/wal"}),
            vec![alias_arn.clone()],
        ),
        (
            "TagResource",
            json!({"KeyId": key_id, "Tags": [{"TagKey": "a", "TagValue": "b"}]}),
            vec![arn.clone()],
        ),
        (
            "UntagResource",
            json!({"KeyId": key_id, "TagKeys": ["a"]}),
            vec![arn.clone()],
        ),
        (
            "UpdateKeyDescription",
            json!({"KeyId": key_id, "Description": "d"}),
            vec![arn.clone()],
        ),
        (
            "PutKeyPolicy",
            json!({"KeyId": key_id, "PolicyName": "default", "Policy": json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]
            }).to_string()}),
            vec![arn.clone()],
        ),
        (
            "EnableKeyRotation",
            json!({"KeyId": key_id}),
            vec![arn.clone()],
        ),
        (
            "DisableKeyRotation",
            json!({"KeyId": key_id}),
            vec![arn.clone()],
        ),
        (
            "RotateKeyOnDemand",
            json!({"KeyId": key_id}),
            vec![arn.clone()],
        ),
        ("DisableKey", json!({"KeyId": key_id}), vec![arn.clone()]),
        ("EnableKey", json!({"KeyId": key_id}), vec![arn.clone()]),
        (
            "ScheduleKeyDeletion",
            json!({"KeyId": other_arn, "PendingWindowInDays": 7}),
            vec![other_arn.clone()],
        ),
        (
            "CancelKeyDeletion",
            json!({"KeyId": other_arn}),
            vec![other_arn.clone()],
        ),
    ];
    for (op, body, resources) in steps {
        let (id, _) = ok(&server, op, body).await;
        done.push((op, id, resources));
    }
    let (id, grant) = ok(
        &server,
        "CreateGrant",
        json!({"KeyId": key_id, "GranteePrincipal": grantee, "Operations": ["Encrypt"]}),
    )
    .await;
    let grant_id = grant["GrantId"].as_str().unwrap().to_owned();
    done.push(("CreateGrant", id, vec![arn.clone()]));
    let (id, _) = ok(
        &server,
        "RevokeGrant",
        json!({"KeyId": key_id, "GrantId": grant_id}),
    )
    .await;
    done.push(("RevokeGrant", id, vec![arn.clone()]));
    // Read-only and purely cryptographic operations write no intent.
    let (encrypt_id, _) = ok(
        &server,
        "Encrypt",
        json!({"KeyId": key_id, "Plaintext": "aGVsbG8="}),
    )
    .await;
    let (describe_id, _) = ok(&server, "DescribeKey", json!({"KeyId": key_id})).await;

    let trail = entries(server.data_dir());
    for (op, id, resources) in &done {
        let intent = trail
            .iter()
            .position(|(k, r)| k == "intent" && r["requestID"] == id.as_str())
            .unwrap_or_else(|| panic!("{op} {id}: no intent in the trail"));
        let outcome = trail
            .iter()
            .position(|(k, r)| k == "event" && r["requestID"] == id.as_str())
            .unwrap_or_else(|| panic!("{op} {id}: no outcome in the trail"));
        assert!(intent < outcome, "{op}: the intent follows the outcome");
        let record = &trail[intent].1;
        assert_eq!(record["eventName"], *op, "{record}");
        assert_eq!(
            record["userIdentity"]["arn"], "arn:aws:iam::111122223333:user/admin",
            "{record}"
        );
        assert!(record.get("errorCode").is_none(), "{record}");
        let named: Vec<String> = trail
            .iter()
            .filter(|(k, r)| k == "intent" && r["requestID"] == id.as_str())
            .flat_map(|(_, r)| r["resources"].as_array().cloned().unwrap_or_default())
            .filter_map(|x| x["ARN"].as_str().map(str::to_owned))
            .collect();
        for want in resources {
            assert!(named.contains(want), "{op}: {want} not in {named:?}");
        }
    }
    let grant_intent = trail
        .iter()
        .find(|(k, r)| k == "intent" && r["eventName"] == "CreateGrant")
        .unwrap();
    assert_eq!(
        grant_intent.1["additionalEventData"]["writeAhead"]["grantId"], grant_id,
        "the grant id is generated before the intent"
    );
    for id in [encrypt_id, describe_id] {
        assert!(
            !trail
                .iter()
                .any(|(k, r)| k == "intent" && r["requestID"] == id.as_str()),
            "a read-only request wrote an intent"
        );
    }
    let (verified, report) = trent(&[
        "audit",
        "verify",
        "--data-dir",
        server.data_dir().to_str().unwrap(),
    ]);
    assert!(verified, "{report}");
    assert!(!report.contains("has no outcome"), "{report}");
}

/// The next segment file the writer will create, once the current one is past the
/// segment size: `CHAIN-SEQ.log` with SEQ the next sequence number.
fn next_segment(data_dir: &Path) -> PathBuf {
    let dir = data_dir.join("audit");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let last = std::fs::read_to_string(files.last().unwrap()).unwrap();
    let line = last.lines().last().unwrap();
    let body: Value = serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
    let seq = body["seq"].as_u64().unwrap() + 1;
    dir.join(format!("node-1-{seq:020}.log"))
}

fn current_segment_len(data_dir: &Path) -> u64 {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    std::fs::metadata(files.last().unwrap()).unwrap().len()
}

/// (b) When the intent cannot be written, the operation fails with KMSInternalException
/// and nothing changed. The trail genuinely fails: its next segment file cannot be
/// created (a directory stands at its path), so every append fails until it is removed.
/// (On the main of before, CreateKey committed the key and then failed on its event: the
/// key stood, unrecorded.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_whose_intent_cannot_be_written_is_not_made() {
    let server = TestServer::start_with(&["--audit-segment-bytes", "4096"], &[]);
    let (_, created) = ok(&server, "CreateKey", json!({})).await;
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    while current_segment_len(server.data_dir()) < 4096 {
        ok(&server, "ListKeys", json!({})).await;
    }
    let blocker = next_segment(server.data_dir());
    std::fs::create_dir(&blocker).unwrap();

    let resp = server.call("CreateKey", json!({})).await;
    resp.assert_error(500, "KMSInternalException");
    let resp = server
        .call(
            "CreateAlias",
            json!({"AliasName": "alias/never", "TargetKeyId": key_id}),
        )
        .await;
    resp.assert_error(500, "KMSInternalException");
    let resp = server.call("DisableKey", json!({"KeyId": key_id})).await;
    resp.assert_error(500, "KMSInternalException");

    std::fs::remove_dir(&blocker).unwrap();
    let (_, keys) = ok(&server, "ListKeys", json!({})).await;
    let ids: Vec<&str> = keys["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![key_id.as_str()],
        "a key was created without its intent"
    );
    let (_, aliases) = ok(&server, "ListAliases", json!({})).await;
    assert!(
        !aliases.to_string().contains("alias/never"),
        "an alias was created without its intent: {aliases}"
    );
    let (_, described) = ok(&server, "DescribeKey", json!({"KeyId": key_id})).await;
    assert_eq!(described["KeyMetadata"]["KeyState"], "Enabled");
}

/// Every record of `trent audit export`, from its gzip'd CloudTrail files.
fn exported(data_dir: &Path) -> Vec<Value> {
    let out = tempfile::tempdir().unwrap();
    let (ok, text) = trent(&[
        "audit",
        "export",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let mut records = Vec::new();
    for file in text.lines().filter(|l| l.ends_with(".json.gz")) {
        let mut json = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap())
            .read_to_string(&mut json)
            .unwrap();
        let v: Value = serde_json::from_str(&json).unwrap();
        records.extend(v["Records"].as_array().unwrap().iter().cloned());
    }
    records
}

/// (c) Crash: CreateKey clients at full speed, `kill -9`, restart. Every key in the store
/// is in the exported trail with the request that made it (its intent, if its outcome was
/// lost), and verify reports intents without an outcome as notes, not problems.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_crash_every_key_is_in_the_trail() {
    let mut server = TestServer::start();
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let client = server.client(REGION);
        let (stop, created) = (stop.clone(), created.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if client.create_key().send().await.is_err() {
                    break;
                }
                created.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Enough keys that requests are in flight at the kill (counted, not timed).
    while created.load(Ordering::Relaxed) < 200 {
        tokio::task::yield_now().await;
    }
    server.signal("KILL");
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    server.restart();

    let client = server.client(REGION);
    let mut keys = Vec::new();
    let mut marker = None;
    loop {
        let page = client
            .list_keys()
            .set_marker(marker.clone())
            .limit(1000)
            .send()
            .await
            .unwrap();
        keys.extend(page.keys().iter().map(|k| k.key_arn().unwrap().to_owned()));
        if !page.truncated() {
            break;
        }
        marker = page.next_marker().map(str::to_owned);
    }
    assert!(keys.len() >= 200, "{}", keys.len());

    let records = exported(server.data_dir());
    let mut made_by: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in &records {
        if r["eventName"] != "CreateKey" || r["requestID"].as_str().is_none() {
            continue;
        }
        for res in r["resources"].as_array().into_iter().flatten() {
            if let Some(arn) = res["ARN"].as_str() {
                made_by.entry(arn.to_owned()).or_default().push(r);
            }
        }
    }
    let missing: Vec<&String> = keys.iter().filter(|k| !made_by.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} keys are not in the exported trail: {missing:?}",
        missing.len(),
        keys.len()
    );
    // An intent without an outcome is shown, marked.
    let unfinished: HashSet<&str> = records
        .iter()
        .filter(|r| r["errorCode"] == "OutcomeUnknown")
        .filter_map(|r| r["requestID"].as_str())
        .collect();
    let (verified, report) = trent(&[
        "audit",
        "verify",
        "--data-dir",
        server.data_dir().to_str().unwrap(),
    ]);
    assert!(verified, "{report}");
    for id in &unfinished {
        assert!(
            report.contains(&format!("(request {id}) has no outcome")),
            "{id} not noted in:\n{report}"
        );
    }
}
