//! The audit trail: one CloudTrail event per request, durable before the response, no
//! secrets in it, complete after kill -9, tamper-evident, readable with
//! `aws cloudtrail lookup-events`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use serde_json::{json, Value};
use trent_testkit::process::trent;
use trent_wire::Operation;

use crate::harness::{aws_cli, Auth, RawRequest, TestServer, DEFAULT_ACCOUNT, REGION};

fn audit_dir(server: &TestServer) -> PathBuf {
    server.data_dir().join("audit")
}

/// Every event record in the log, in order.
pub(crate) fn records(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let (_, body) = line.split_once(' ').unwrap();
            let body: Value = serde_json::from_str(body).unwrap();
            if body["kind"] == "event" {
                out.push(body["record"].clone());
            }
        }
    }
    out
}

fn events_for(dir: &Path, request_id: &str) -> Vec<Value> {
    records(dir)
        .into_iter()
        .filter(|r| r["requestID"] == request_id)
        .collect()
}

fn request_id(resp: &crate::harness::RawResponse) -> String {
    resp.headers
        .get("x-amzn-requestid")
        .expect("a request id")
        .to_str()
        .unwrap()
        .to_owned()
}

fn admin_arn() -> String {
    format!("arn:aws:iam::{DEFAULT_ACCOUNT}:user/admin")
}

/// A body for each operation: the key for operations on a key, the few members some
/// need; whatever is missing makes AWS's validation error, which is recorded too.
fn body_for(op: Operation, key_id: &str, alias: &str) -> Value {
    match op {
        Operation::CreateKey | Operation::ListKeys | Operation::ListAliases => json!({}),
        Operation::GenerateRandom => json!({"NumberOfBytes": 16}),
        Operation::CreateAlias => json!({"AliasName": alias, "TargetKeyId": key_id}),
        Operation::UpdateAlias => json!({"AliasName": alias, "TargetKeyId": key_id}),
        Operation::DeleteAlias => json!({"AliasName": alias}),
        Operation::Encrypt => json!({"KeyId": key_id, "Plaintext": "aGVsbG8="}),
        Operation::GenerateDataKey | Operation::GenerateDataKeyWithoutPlaintext => {
            json!({"KeyId": key_id, "KeySpec": "AES_256"})
        }
        Operation::ScheduleKeyDeletion => json!({"KeyId": key_id, "PendingWindowInDays": 7}),
        Operation::TagResource => {
            json!({"KeyId": key_id, "Tags": [{"TagKey": "a", "TagValue": "b"}]})
        }
        Operation::UntagResource => json!({"KeyId": key_id, "TagKeys": ["a"]}),
        Operation::UpdateKeyDescription => json!({"KeyId": key_id, "Description": "d"}),
        // A symmetric key cannot sign: the request is well-formed and refused on the key.
        Operation::Sign => json!({"KeyId": key_id, "Message": "aGVsbG8=",
                                  "SigningAlgorithm": "ECDSA_SHA_256"}),
        _ => json!({"KeyId": key_id}),
    }
}

#[tokio::test]
async fn every_operation_yields_exactly_one_event() {
    let server = TestServer::start();
    let dir = audit_dir(&server);
    let created = server.call("CreateKey", json!({})).await;
    let key_arn = created.json()["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let key_id = created.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let alias = "alias/audited";

    // Last: the operations that make the alias or the key unusable for the others.
    let last = [
        Operation::DeleteAlias,
        Operation::DisableKey,
        Operation::ScheduleKeyDeletion,
    ];
    for op in Operation::ALL {
        if !last.contains(op) {
            check_one(&server, &dir, *op, &key_id, &key_arn, alias).await;
        }
    }
    for op in last {
        check_one(&server, &dir, op, &key_id, &key_arn, alias).await;
    }

    // Requests that never reach an operation are recorded as well.
    let raw = |target: Option<&str>, body: &str, auth: Auth| {
        let mut r = RawRequest::new("Encrypt", body.to_owned());
        r.target = target.map(str::to_owned);
        r.auth = auth;
        r
    };
    let cases = [
        (
            "malformed JSON",
            raw(Some("TrentService.Encrypt"), "{not json", Auth::Admin),
            "SerializationException",
            "Encrypt",
            true,
        ),
        (
            "unknown target",
            raw(Some("TrentService.NoSuchOperation"), "{}", Auth::Admin),
            "UnknownOperationException",
            "NoSuchOperation",
            true,
        ),
        (
            "bad signature",
            raw(
                Some("TrentService.ListKeys"),
                "{}",
                Auth::Keys {
                    access_key_id: server.access_key_id().to_owned(),
                    secret_access_key: "wrong-secret".into(),
                },
            ),
            "InvalidSignatureException",
            "ListKeys",
            false,
        ),
        (
            "missing authentication",
            raw(Some("TrentService.ListKeys"), "{}", Auth::None),
            "MissingAuthenticationTokenException",
            "ListKeys",
            false,
        ),
    ];
    for (what, req, code, name, authenticated) in cases {
        let resp = server.raw(req).await.unwrap();
        assert_eq!(resp.json()["__type"], code, "{what}");
        let events = events_for(&dir, &request_id(&resp));
        assert_eq!(events.len(), 1, "{what}: {events:?}");
        let e = &events[0];
        assert_eq!(e["eventName"], name, "{what}");
        assert_eq!(e["errorCode"], code, "{what}");
        assert_eq!(e["eventSource"], "kms.amazonaws.com", "{what}");
        if authenticated {
            assert_eq!(e["userIdentity"]["arn"], admin_arn(), "{what}");
        } else {
            assert_eq!(e["userIdentity"]["type"], "Unknown", "{what}");
            assert!(e["userIdentity"].get("arn").is_none(), "{what}");
        }
        assert_eq!(e["recipientAccountId"], DEFAULT_ACCOUNT, "{what}");
    }
    if let Some(bad) = cases_identity_check(&dir, server.access_key_id()) {
        panic!("{bad}");
    }
}

/// The bad-signature event names the access key id it claimed (not a secret).
fn cases_identity_check(dir: &Path, access_key_id: &str) -> Option<String> {
    let bad = records(dir)
        .into_iter()
        .find(|r| r["errorCode"] == "InvalidSignatureException")?;
    (bad["userIdentity"]["accessKeyId"] != access_key_id)
        .then(|| format!("bad-signature event without its access key id: {bad}"))
}

async fn check_one(
    server: &TestServer,
    dir: &Path,
    op: Operation,
    key_id: &str,
    key_arn: &str,
    alias: &str,
) {
    let resp = server.call(op.name(), body_for(op, key_id, alias)).await;
    let id = request_id(&resp);
    let events = events_for(dir, &id);
    assert_eq!(events.len(), 1, "{}: {events:?}", op.name());
    let e = &events[0];
    let name = op.name();
    assert_eq!(e["eventName"], name);
    assert_eq!(e["eventSource"], "kms.amazonaws.com");
    assert_eq!(e["eventVersion"], "1.11");
    assert_eq!(e["eventType"], "AwsApiCall");
    assert_eq!(e["eventCategory"], "Management");
    assert_eq!(e["managementEvent"], true);
    assert_eq!(e["readOnly"], op.is_read_only(), "{name}");
    assert_eq!(e["awsRegion"], REGION);
    assert_eq!(e["recipientAccountId"], DEFAULT_ACCOUNT);
    assert_eq!(e["sourceIPAddress"], "127.0.0.1");
    assert_eq!(e["userIdentity"]["type"], "IAMUser");
    assert_eq!(e["userIdentity"]["arn"], admin_arn());
    assert_eq!(e["userIdentity"]["userName"], "admin");
    assert_eq!(e["userIdentity"]["accessKeyId"], server.access_key_id());
    assert!(e["eventTime"].as_str().unwrap().ends_with('Z'));
    if resp.status == 200 {
        assert!(e.get("errorCode").is_none(), "{name}: {e}");
    } else {
        let body = resp.json();
        assert_eq!(e["errorCode"], body["__type"], "{name}");
        assert_eq!(
            e.get("errorMessage"),
            body.get("message"),
            "{name}: the event records the message the caller got"
        );
    }
    let resources: Vec<&str> = e["resources"]
        .as_array()
        .map(|a| a.iter().map(|r| r["ARN"].as_str().unwrap()).collect())
        .unwrap_or_default();
    let on_the_key = !matches!(
        op,
        Operation::CreateKey
            | Operation::ListKeys
            | Operation::ListAliases
            | Operation::GenerateRandom
            | Operation::DeleteAlias
            | Operation::CreateCustomKeyStore
            | Operation::DescribeCustomKeyStores
            | Operation::UpdateCustomKeyStore
            | Operation::ConnectCustomKeyStore
            | Operation::DisconnectCustomKeyStore
            | Operation::DeleteCustomKeyStore
    );
    let implemented = resp.status == 200
        || !matches!(
            resp.json()["__type"].as_str(),
            Some("UnsupportedOperationException" | "ValidationException")
        );
    if on_the_key && implemented {
        assert!(
            resources.contains(&key_arn),
            "{name}: resources {resources:?} lack {key_arn}"
        );
        for r in e["resources"].as_array().unwrap() {
            assert_eq!(r["type"], "AWS::KMS::Key");
            assert_eq!(r["accountId"], DEFAULT_ACCOUNT);
        }
    }
    match op {
        Operation::Encrypt => {
            assert_eq!(resp.status, 200);
            assert_eq!(e["requestParameters"]["keyId"], key_id);
            assert!(e["requestParameters"].get("plaintext").is_none());
            assert_eq!(e["responseElements"], Value::Null);
        }
        Operation::CreateKey => {
            let arn = resp.json()["KeyMetadata"]["Arn"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(e["responseElements"]["keyMetadata"]["arn"], arn.as_str());
            assert!(resources.contains(&arn.as_str()));
        }
        Operation::CreateAlias => {
            assert_eq!(resp.status, 200);
            assert_eq!(e["requestParameters"]["aliasName"], alias);
            assert_eq!(e["responseElements"]["keyId"], key_arn);
            let alias_arn = format!("arn:aws:kms:{REGION}:{DEFAULT_ACCOUNT}:{alias}");
            assert!(resources.contains(&alias_arn.as_str()), "{resources:?}");
        }
        Operation::ScheduleKeyDeletion => {
            assert_eq!(resp.status, 200);
            assert_eq!(e["responseElements"]["keyId"], key_arn);
            assert_eq!(e["responseElements"]["keyState"], "PendingDeletion");
        }
        Operation::Sign => {
            assert_eq!(e["errorCode"], "InvalidKeyUsageException");
            assert_eq!(e["requestParameters"]["signingAlgorithm"], "ECDSA_SHA_256");
            assert!(e["requestParameters"].get("message").is_none(), "{e}");
        }
        _ => {}
    }
}

#[tokio::test]
async fn a_key_that_does_not_exist_is_not_a_resource() {
    let server = TestServer::start();
    let missing = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let resp = server.call("DescribeKey", json!({"KeyId": missing})).await;
    assert_eq!(resp.json()["__type"], "NotFoundException");
    let events = events_for(&audit_dir(&server), &request_id(&resp));
    assert_eq!(events.len(), 1);
    assert!(events[0].get("resources").is_none(), "{}", events[0]);
    assert_eq!(events[0]["requestParameters"]["keyId"], missing);
}

#[tokio::test]
async fn no_secret_reaches_the_log() {
    let server = TestServer::start();
    let kms = server.client(REGION);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    kms.create_alias()
        .alias_name("alias/secrets")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for (i, plaintext) in [
        b"correct horse battery staple 0".to_vec(),
        b"the password is swordfish!!!!1".to_vec(),
    ]
    .into_iter()
    .enumerate()
    {
        let enc = kms
            .encrypt()
            .key_id(if i == 0 {
                key_id.as_str()
            } else {
                "alias/secrets"
            })
            .plaintext(Blob::new(plaintext.clone()))
            .encryption_context("purpose", "audit-test")
            .send()
            .await
            .unwrap();
        let blob = enc.ciphertext_blob().unwrap().as_ref().to_vec();
        let dec = kms
            .decrypt()
            .ciphertext_blob(Blob::new(blob.clone()))
            .encryption_context("purpose", "audit-test")
            .send()
            .await
            .unwrap();
        assert_eq!(dec.plaintext().unwrap().as_ref(), plaintext.as_slice());
        needles.push(plaintext.clone());
        needles.push(b64(&plaintext).into_bytes());
        needles.push(blob.clone());
        needles.push(b64(&blob).into_bytes());
    }
    let dk = kms
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    let data_key = dk.plaintext().unwrap().as_ref().to_vec();
    let wrapped = dk.ciphertext_blob().unwrap().as_ref().to_vec();
    needles.push(b64(&data_key).into_bytes());
    needles.push(data_key);
    needles.push(b64(&wrapped).into_bytes());
    needles.push(wrapped);
    let random = kms
        .generate_random()
        .number_of_bytes(64)
        .send()
        .await
        .unwrap();
    needles.push(b64(random.plaintext().unwrap().as_ref()).into_bytes());

    let mut log = Vec::new();
    for entry in std::fs::read_dir(audit_dir(&server)).unwrap() {
        log.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    for n in &needles {
        assert!(
            !log.windows(n.len()).any(|w| w == n.as_slice()),
            "a secret or payload reached the audit log: {:?}",
            String::from_utf8_lossy(n)
        );
    }
    // What AWS does record is there: the context, the key, the algorithm.
    let encrypts: Vec<Value> = records(&audit_dir(&server))
        .into_iter()
        .filter(|r| r["eventName"] == "Encrypt")
        .collect();
    assert_eq!(encrypts.len(), 2);
    assert_eq!(
        encrypts[0]["requestParameters"]["encryptionContext"]["purpose"],
        "audit-test"
    );
    assert_eq!(encrypts[1]["requestParameters"]["keyId"], "alias/secrets");
    let arn = key.key_metadata().unwrap().arn().unwrap();
    assert_eq!(
        encrypts[1]["resources"][0]["ARN"], arn,
        "an alias resolves to its key"
    );
    let decrypts: Vec<Value> = records(&audit_dir(&server))
        .into_iter()
        .filter(|r| r["eventName"] == "Decrypt")
        .collect();
    assert_eq!(decrypts[0]["resources"][0]["ARN"], arn);
    assert_eq!(decrypts[0]["responseElements"], Value::Null);
}

fn verify(data_dir: &Path) -> (bool, String) {
    trent(&["audit", "verify", "--data-dir", data_dir.to_str().unwrap()])
}

/// A copy of a data directory's audit log and public key, to tamper with.
fn copy_trail(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    std::fs::create_dir(to.path().join("audit")).unwrap();
    for e in std::fs::read_dir(from.join("audit")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.path().join("audit").join(p.file_name().unwrap())).unwrap();
    }
    std::fs::copy(
        from.join("audit-signing-key.pub.pem"),
        to.path().join("audit-signing-key.pub.pem"),
    )
    .unwrap();
    to
}

/// The one segment file of a small log, its lines, and each line's offset.
fn segment(dir: &Path) -> (PathBuf, Vec<String>, Vec<usize>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let path = files.pop().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut offsets = Vec::new();
    let mut at = 0;
    for l in &lines {
        offsets.push(at);
        at += l.len() + 1;
    }
    (path, lines, offsets)
}

fn seq_of(line: &str) -> u64 {
    let body: Value = serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
    body["seq"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_no_acknowledged_event_and_tampering_is_pinpointed() {
    // Small digest interval, so that digests are interleaved with events.
    let mut server = TestServer::start_with(&["--audit-digest-every-events", "50"], &[]);
    let kms = server.client(REGION);
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();

    const TASKS: usize = 32;
    const KILL_AFTER: usize = 600;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reached = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let kms = kms.clone();
        let key_id = key_id.clone();
        let acknowledged = acknowledged.clone();
        let count = count.clone();
        let stop = stop.clone();
        let reached = reached.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let r = kms
                    .encrypt()
                    .key_id(&key_id)
                    .plaintext(Blob::new(format!("task {t} message {i}").into_bytes()))
                    .send()
                    .await;
                match r {
                    Ok(out) => {
                        let id = out.request_id().unwrap().to_owned();
                        acknowledged.lock().unwrap().push(id);
                        if count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                            reached.notify_one();
                        }
                    }
                    // The server is gone (killed): stop.
                    Err(_) => break,
                }
            }
        }));
    }
    reached.notified().await;
    // SIGKILL mid-load: requests are in flight on every task.
    server.restart();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= KILL_AFTER);

    let (ok, report) = verify(server.data_dir());
    assert!(ok, "verify failed after kill -9:\n{report}");
    assert!(
        report.starts_with("OK") || report.contains("\nOK:"),
        "{report}"
    );
    let recorded: HashSet<String> = records(&audit_dir(&server))
        .iter()
        .filter_map(|r| r["requestID"].as_str().map(str::to_owned))
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged requests without an event: {lost:?}"
    );

    // The public key is published by the CLI too.
    let (ok, pem) = trent(&[
        "audit",
        "public-key",
        "--data-dir",
        server.data_dir().to_str().unwrap(),
    ]);
    assert!(ok && pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");

    // Tampering: one byte flipped.
    {
        let copy = copy_trail(server.data_dir());
        let (path, lines, offsets) = segment(copy.path());
        let i = (lines.len() / 2..lines.len())
            .find(|&i| lines[i].contains("\"eventName\":\"Encrypt\""))
            .unwrap();
        let seq = seq_of(&lines[i]);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = offsets[i] + lines[i].find("\"eventName\":\"Encrypt\"").unwrap() + 15;
        bytes[at] ^= 0x01; // Encrypt → Dncrypt
        std::fs::write(&path, bytes).unwrap();
        let (ok, report) = verify(copy.path());
        assert!(!ok, "{report}");
        let name = path.file_name().unwrap().to_str().unwrap();
        let expected = format!(
            "CHANGED: entry seq {seq} ({name} at offset {}) does not match its hash",
            offsets[i]
        );
        assert!(
            report.contains(&expected),
            "want {expected:?} in:\n{report}"
        );
    }
    // One event deleted.
    {
        let copy = copy_trail(server.data_dir());
        let (path, mut lines, offsets) = segment(copy.path());
        let i = lines.len() / 3;
        let seq = seq_of(&lines[i]);
        lines.remove(i);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let (ok, report) = verify(copy.path());
        assert!(!ok, "{report}");
        let name = path.file_name().unwrap().to_str().unwrap();
        let expected = format!(
            "DELETED: entry seq {seq} is missing (before {name} at offset {})",
            offsets[i]
        );
        assert!(
            report.contains(&expected),
            "want {expected:?} in:\n{report}"
        );
    }
    // Two events swapped.
    {
        let copy = copy_trail(server.data_dir());
        let (path, mut lines, offsets) = segment(copy.path());
        let i = lines.len() / 4;
        let (a, b) = (seq_of(&lines[i]), seq_of(&lines[i + 1]));
        lines.swap(i, i + 1);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let (ok, report) = verify(copy.path());
        assert!(!ok, "{report}");
        let name = path.file_name().unwrap().to_str().unwrap();
        let second_offset = offsets[i] + lines[i].len() + 1;
        for expected in [
            format!("REORDERED: entry seq {b} ({name} at offset {})", offsets[i]),
            format!("REORDERED: entry seq {a} ({name} at offset {second_offset})"),
        ] {
            assert!(
                report.contains(&expected),
                "want {expected:?} in:\n{report}"
            );
        }
        assert_eq!(report.matches("REORDERED").count(), 2, "{report}");
    }
}

fn request_ids(page: &Value) -> Vec<String> {
    page["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let t: Value = serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
            t["requestID"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// `aws cloudtrail lookup-events` on the server, JSON output, with `args` added.
fn lookup_events(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let mut all = vec![
        "cloudtrail",
        "lookup-events",
        "--endpoint-url",
        server.endpoint(),
        "--region",
        REGION,
        "--output",
        "json",
    ];
    all.extend_from_slice(args);
    aws_cli(server, &all, &[])
}

#[tokio::test]
async fn the_aws_cli_looks_events_up_and_pages() {
    let server = TestServer::start();
    let kms = server.client(REGION);
    let key = kms.create_key().send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let mut ids = Vec::new();
    for i in 0..5 {
        let out = kms
            .encrypt()
            .key_id(&key_arn)
            .plaintext(Blob::new(vec![i; 8]))
            .send()
            .await
            .unwrap();
        ids.push(out.request_id().unwrap().to_owned());
    }
    kms.describe_key().key_id(&key_arn).send().await.unwrap();

    // One page of two, newest first, with a token.
    let (ok, out, err) = lookup_events(
        &server,
        &[
            "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=Encrypt",
            "--max-results",
            "2",
            "--no-paginate",
        ],
    );
    assert!(ok, "{err}");
    let page: Value = serde_json::from_str(&out).unwrap();
    let events = page["Events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{page}");
    assert!(page["NextToken"].is_string(), "{page}");
    let trail: Value =
        serde_json::from_str(events[0]["CloudTrailEvent"].as_str().unwrap()).unwrap();
    assert_eq!(trail["requestID"], ids[4].as_str(), "newest first");
    assert_eq!(events[0]["EventName"], "Encrypt");
    assert_eq!(events[0]["EventSource"], "kms.amazonaws.com");
    assert_eq!(events[0]["ReadOnly"], "true");
    assert_eq!(events[0]["Username"], "admin");
    assert_eq!(events[0]["AccessKeyId"], server.access_key_id());
    assert_eq!(events[0]["Resources"][0]["ResourceName"], key_arn.as_str());
    assert_eq!(events[0]["Resources"][0]["ResourceType"], "AWS::KMS::Key");

    // Paging by hand: --max-results 2 and each page's NextToken.
    let mut got = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = vec![
            "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=Encrypt",
            "--max-results",
            "2",
            "--no-paginate",
        ];
        if let Some(t) = &token {
            args.extend(["--next-token", t.as_str()]);
        }
        let (ok, out, err) = lookup_events(&server, &args);
        assert!(ok, "{err}");
        let page: Value = serde_json::from_str(&out).unwrap();
        pages += 1;
        got.extend(request_ids(&page));
        match page["NextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(got, expected);
    assert_eq!(pages, 3);
    // The CLI's own pagination (pages of 2) follows the tokens too.
    let (ok, out, err) = lookup_events(
        &server,
        &[
            "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=Encrypt",
            "--page-size",
            "2",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(request_ids(&serde_json::from_str(&out).unwrap()), expected);

    // Other filters.
    let (ok, out, err) = lookup_events(
        &server,
        &[
            "--lookup-attributes",
            &format!("AttributeKey=ResourceName,AttributeValue={key_arn}"),
        ],
    );
    assert!(ok, "{err}");
    let by_resource: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = by_resource["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "DescribeKey",
            "Encrypt",
            "Encrypt",
            "Encrypt",
            "Encrypt",
            "Encrypt",
            "CreateKey"
        ]
    );
    let (ok, out, err) = lookup_events(
        &server,
        &[
            "--lookup-attributes",
            "AttributeKey=ReadOnly,AttributeValue=false",
        ],
    );
    assert!(ok, "{err}");
    let writes: Value = serde_json::from_str(&out).unwrap();
    assert!(writes["Events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["ReadOnly"] == "false"));
    // Lookups are recorded as CloudTrail records them.
    let (ok, out, err) = lookup_events(
        &server,
        &[
            "--lookup-attributes",
            "AttributeKey=EventSource,AttributeValue=cloudtrail.amazonaws.com",
        ],
    );
    assert!(ok, "{err}");
    let lookups: Value = serde_json::from_str(&out).unwrap();
    assert!(
        lookups["Events"].as_array().unwrap().len() >= 4,
        "{lookups}"
    );
    assert_eq!(lookups["Events"][0]["EventName"], "LookupEvents");

    // A time range in the future finds nothing.
    let (ok, out, err) = lookup_events(&server, &["--start-time", "2100-01-01T00:00:00Z"]);
    assert!(ok, "{err}");
    let none: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(none["Events"].as_array().unwrap().len(), 0);

    // CloudTrail's input errors.
    for (args, code) in [
        (
            vec!["--max-results", "51", "--no-paginate"],
            "InvalidMaxResultsException",
        ),
        (
            vec![
                "--start-time",
                "2030-01-02T00:00:00Z",
                "--end-time",
                "2030-01-01T00:00:00Z",
            ],
            "InvalidTimeRangeException",
        ),
        (
            vec![
                "--lookup-attributes",
                "AttributeKey=EventName,AttributeValue=Encrypt",
                "AttributeKey=EventName,AttributeValue=Decrypt",
            ],
            "InvalidLookupAttributesException",
        ),
        (
            vec!["--next-token", "not-a-token", "--no-paginate"],
            "InvalidNextTokenException",
        ),
    ] {
        let (ok, _, err) = lookup_events(&server, &args);
        assert!(!ok, "{args:?}");
        assert!(err.contains(code), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn other_accounts_see_none_of_the_trail() {
    // Development credentials: a 12-digit access key id acts as that account's root.
    let server = TestServer::start_with(&["--dev-any-credentials"], &[]);
    let kms = server.client(REGION);
    kms.create_key().send().await.unwrap();
    let mut cmd = trent_testkit::aws_cli::aws_cli_command(
        "aws",
        &trent_testkit::aws_cli::AwsCliEnv {
            credentials: Some(("444455556666", "anything")),
            ..Default::default()
        },
    );
    cmd.args([
        "cloudtrail",
        "lookup-events",
        "--endpoint-url",
        server.endpoint(),
    ])
    .args(["--region", REGION, "--output", "json"]);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for e in v["Events"].as_array().unwrap() {
        let t: Value = serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
        assert_eq!(t["recipientAccountId"], "444455556666", "{t}");
    }
}

#[tokio::test]
async fn export_writes_cloudtrail_files() {
    let server = TestServer::start();
    let kms = server.client(REGION);
    kms.create_key().send().await.unwrap();
    kms.list_keys().send().await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let (ok, text) = trent(&[
        "audit",
        "export",
        "--data-dir",
        server.data_dir().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let file = PathBuf::from(text.lines().next().unwrap());
    let rel = file
        .strip_prefix(out.path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let parts: Vec<&str> = rel.split('/').collect();
    assert_eq!(
        &parts[..4],
        ["AWSLogs", DEFAULT_ACCOUNT, "CloudTrail", REGION],
        "{rel}"
    );
    assert_eq!(parts.len(), 8, "{rel}");
    let name = parts[7];
    assert!(
        name.starts_with(&format!("{DEFAULT_ACCOUNT}_CloudTrail_{REGION}_"))
            && name.ends_with(".json.gz"),
        "{name}"
    );
    let mut json = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap()),
        &mut json,
    )
    .unwrap();
    let v: Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = v["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert!(names.starts_with(&["CreateKey", "ListKeys"]), "{names:?}");

    // A window in the past exports nothing.
    let empty = tempfile::tempdir().unwrap();
    let (ok, text) = trent(&[
        "audit",
        "export",
        "--data-dir",
        server.data_dir().to_str().unwrap(),
        "--out",
        empty.path().to_str().unwrap(),
        "--end",
        "2000-01-01T00:00:00Z",
    ]);
    assert!(ok && text.trim().is_empty(), "{text}");
}
