//! Identities from the config file (`[[accounts]]`, `[[users]]`, `[[roles]]`): configured
//! users call KMS with their own keys and are recorded as themselves; SIGHUP re-reads the
//! file (a valid one replaces the identities, an invalid one is refused and the running
//! configuration stays); a malformed file is refused at start; LookupEvents is governed by
//! identity policies.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use trent_testkit::process::Launch;

use crate::harness::{expect_err, ok, Auth, RawRequest, TestServer, DEFAULT_ACCOUNT, REGION};

pub const ALICE_ARN: &str = "arn:aws:iam::111122223333:user/engineering/alice";
pub const ALICE_KEY: &str = "AKIAALICE00000000001";
pub const ALICE_SECRET: &str = "alice-secret-0123456789";
pub const BOB_ARN: &str = "arn:aws:iam::111122223333:user/bob";
pub const BOB_KEY: &str = "AKIABOB0000000000001";
pub const BOB_SECRET: &str = "bob-secret-0123456789";
pub const AUDITOR_ARN: &str = "arn:aws:iam::111122223333:user/auditor";
pub const AUDITOR_KEY: &str = "AKIAAUDITOR000000001";
pub const AUDITOR_SECRET: &str = "auditor-secret-0123456789";

/// How long a reload may take to show (debug builds on a loaded machine).
const RELOAD_DEADLINE: Duration = Duration::from_secs(60);

pub fn allow(action: &str) -> String {
    format!(
        r#"'''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}'''"#
    )
}

/// A `[[users]]` entry.
pub fn user(arn: &str, key: &str, secret: &str, policies: &[(&str, &str)]) -> String {
    let mut s = format!(
        "[[users]]\narn = \"{arn}\"\naccess_keys = [{{ id = \"{key}\", secret = \"{secret}\" }}]\n"
    );
    if !policies.is_empty() {
        s.push_str("[users.policies]\n");
        for (name, action) in policies {
            s.push_str(&format!("{name} = {}\n", allow(action)));
        }
    }
    s
}

/// A config file in its own temporary directory (kept alive by the returned guard).
pub struct ConfigFile {
    dir: tempfile::TempDir,
}

impl ConfigFile {
    pub fn new(text: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("trent-config-")
            .tempdir()
            .unwrap();
        let c = ConfigFile { dir };
        c.write(text);
        c
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("trent.toml")
    }

    /// Replaces the file atomically (as an editor saving it would, near enough).
    pub fn write(&self, text: &str) {
        let tmp = self.dir.path().join("trent.toml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.path()).unwrap();
    }

    pub fn path_str(&self) -> String {
        self.path().to_str().unwrap().to_owned()
    }
}

pub fn start_with_config(config: &ConfigFile) -> TestServer {
    TestServer::start_with(&["--config", &config.path_str()], &[])
}

pub fn sighup(server: &TestServer) {
    server.signal("HUP");
}

/// Polls the server's log until `needle` has appeared `count` times.
pub fn wait_for_log(server: &TestServer, needle: &str, count: usize) {
    let deadline = Instant::now() + RELOAD_DEADLINE;
    while server.logs().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "{needle:?} did not appear {count} time(s) in the log:\n{}",
            server.logs()
        );
        std::thread::yield_now();
    }
}

/// Every event record in the audit log, in order.
pub fn audit_records(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("audit"))
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

pub fn audit_record(dir: &Path, request_id: &str) -> Value {
    let mut found: Vec<Value> = audit_records(dir)
        .into_iter()
        .filter(|r| r["requestID"] == request_id)
        .collect();
    assert_eq!(found.len(), 1, "events of request {request_id}");
    found.remove(0)
}

#[tokio::test]
async fn configured_users_call_kms_as_themselves() {
    let config = ConfigFile::new(&user(
        ALICE_ARN,
        ALICE_KEY,
        ALICE_SECRET,
        &[("all", "kms:*")],
    ));
    let server = start_with_config(&config);
    // The configured secret never reaches the log.
    assert!(!server.logs().contains(ALICE_SECRET));

    let alice = server.client_as(REGION, ALICE_KEY, ALICE_SECRET);
    let out = ok(alice.list_keys().send().await);
    let id = aws_sdk_kms::operation::RequestId::request_id(&out)
        .unwrap()
        .to_owned();
    let event = audit_record(server.data_dir(), &id);
    let who = &event["userIdentity"];
    assert_eq!(who["type"], "IAMUser", "{event}");
    assert_eq!(who["arn"], ALICE_ARN);
    assert_eq!(who["accountId"], DEFAULT_ACCOUNT);
    assert_eq!(who["accessKeyId"], ALICE_KEY);
    assert_eq!(who["userName"], "alice");
    assert!(who["principalId"].as_str().unwrap().starts_with("AIDA"));

    // A wrong secret for a configured key, and an unknown key, are refused as AWS does.
    let wrong = server.client_as(REGION, ALICE_KEY, "not-the-secret");
    let e = wrong.list_keys().send().await;
    expect_err(e, "InvalidSignatureException", None);
    let unknown = server.client_as(REGION, "AKIAUNKNOWN000000001", ALICE_SECRET);
    let e = unknown.list_keys().send().await;
    expect_err(
        e,
        "UnrecognizedClientException",
        Some("The security token included in the request is invalid."),
    );

    // The administrator of the data directory keeps working beside them.
    ok(server.client(REGION).list_keys().send().await);
}

/// ListKeys is authorized by identity policies: the users below may call it.
const LIST_KEYS: &[(&str, &str)] = &[("list", "kms:ListKeys")];

#[tokio::test]
async fn sighup_applies_a_valid_file_and_refuses_an_invalid_one() {
    let config = ConfigFile::new(&user(ALICE_ARN, ALICE_KEY, ALICE_SECRET, LIST_KEYS));
    let mut server = start_with_config(&config);
    ok(server
        .client_as(REGION, ALICE_KEY, ALICE_SECRET)
        .list_keys()
        .send()
        .await
        .map(|_| ()));

    // A valid new file: bob appears, alice is gone.
    config.write(&user(BOB_ARN, BOB_KEY, BOB_SECRET, LIST_KEYS));
    sighup(&server);
    wait_for_log(&server, "SIGHUP: identities reloaded", 1);
    ok(server
        .client_as(REGION, BOB_KEY, BOB_SECRET)
        .list_keys()
        .send()
        .await);
    let e = server
        .client_as(REGION, ALICE_KEY, ALICE_SECRET)
        .list_keys()
        .send()
        .await;
    expect_err(e, "UnrecognizedClientException", None);

    // An invalid file (a malformed policy): refused, named, and bob stays.
    config.write(&format!(
        "{}[users.policies]\nbroken = '{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Perhaps\",\"Action\":\"*\",\"Resource\":\"*\"}}]}}'\n",
        user(ALICE_ARN, ALICE_KEY, ALICE_SECRET, &[])
    ));
    sighup(&server);
    wait_for_log(&server, "SIGHUP: config file refused", 1);
    let logs = server.logs();
    assert!(
        logs.contains("[[users]] entry 1 (\"arn:aws:iam::111122223333:user/engineering/alice\")")
            && logs.contains("policy \"broken\""),
        "{logs}"
    );
    assert!(!logs.contains(ALICE_SECRET) && !logs.contains(BOB_SECRET));
    ok(server
        .client_as(REGION, BOB_KEY, BOB_SECRET)
        .list_keys()
        .send()
        .await);
    let e = server
        .client_as(REGION, ALICE_KEY, ALICE_SECRET)
        .list_keys()
        .send()
        .await;
    expect_err(e, "UnrecognizedClientException", None);

    // A file that is not TOML at all: refused too.
    config.write("[[users]\narn = ");
    sighup(&server);
    wait_for_log(&server, "SIGHUP: config file refused", 2);
    ok(server
        .client_as(REGION, BOB_KEY, BOB_SECRET)
        .list_keys()
        .send()
        .await);

    // A restart applies the file as it is now.
    config.write(&user(ALICE_ARN, ALICE_KEY, ALICE_SECRET, LIST_KEYS));
    server.restart();
    ok(server
        .client_as(REGION, ALICE_KEY, ALICE_SECRET)
        .list_keys()
        .send()
        .await);
    let e = server
        .client_as(REGION, BOB_KEY, BOB_SECRET)
        .list_keys()
        .send()
        .await;
    expect_err(e, "UnrecognizedClientException", None);
}

/// Runs `trent serve` on a config file that must be refused; returns its stderr.
pub fn refused_at_start(config: &ConfigFile) -> String {
    let data = tempfile::tempdir().unwrap();
    Launch::serve()
        .data_dir(data.path())
        .args(["--config", &config.path_str()])
        .start_fails()
        .stderr
}

#[test]
fn a_malformed_file_is_refused_at_start_with_the_entry_named() {
    let duplicate = ConfigFile::new(&format!(
        "{}{}",
        user(ALICE_ARN, ALICE_KEY, ALICE_SECRET, &[]),
        user(BOB_ARN, ALICE_KEY, BOB_SECRET, &[])
    ));
    let err = refused_at_start(&duplicate);
    assert!(
        err.contains("[[users]] entry 2")
            && err.contains("user/bob")
            && err.contains("used more than once"),
        "{err}"
    );
    assert!(
        !err.contains(ALICE_SECRET) && !err.contains(BOB_SECRET),
        "{err}"
    );

    let bad_arn = ConfigFile::new(&user(
        "arn:aws:iam::111122223333:group/alice",
        ALICE_KEY,
        ALICE_SECRET,
        &[],
    ));
    let err = refused_at_start(&bad_arn);
    assert!(
        err.contains("[[users]] entry 1") && err.contains("not an IAM user ARN"),
        "{err}"
    );

    let unknown_field = ConfigFile::new(
        "[[users]]\narn = \"arn:aws:iam::111122223333:user/x\"\npassword = \"x\"\n",
    );
    let err = refused_at_start(&unknown_field);
    assert!(err.contains("unknown field `password`"), "{err}");
}

/// A LookupEvents call signed for CloudTrail's signing name.
pub async fn cloudtrail_call(server: &TestServer, key: &str, secret: &str) -> (u16, Value) {
    let body = json!({ "MaxResults": 5 }).to_string();
    let authority = server.endpoint().trim_start_matches("http://").to_owned();
    let target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
    let signer = trent_sigv4::Signer::new(
        trent_sigv4::Credentials {
            access_key_id: key.to_owned(),
            secret_access_key: trent_sigv4::SecretKey::new(secret),
            session_token: None,
        },
        REGION,
        "cloudtrail",
    );
    let now = std::time::SystemTime::now();
    let headers = [
        ("host", authority.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target),
    ];
    let signed = signer.sign("POST", "/", "", &headers, body.as_bytes(), now);
    let raw = RawRequest {
        target: Some(target.to_owned()),
        content_type: Some("application/x-amz-json-1.1".to_owned()),
        body: body.into_bytes(),
        auth: Auth::None,
        region: REGION.to_owned(),
        time: now,
        signed_headers: Vec::new(),
        extra_headers: signed.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        signed_body: None,
    };
    let resp = server.raw(raw).await.unwrap();
    (resp.status, resp.json())
}

#[tokio::test]
async fn lookup_events_is_governed_by_identity_policies() {
    let config = ConfigFile::new(&format!(
        "{}{}",
        user(BOB_ARN, BOB_KEY, BOB_SECRET, &[("kms", "kms:*")]),
        user(
            AUDITOR_ARN,
            AUDITOR_KEY,
            AUDITOR_SECRET,
            &[("trail", "cloudtrail:LookupEvents")]
        ),
    ));
    let server = start_with_config(&config);
    ok(server
        .client_as(REGION, BOB_KEY, BOB_SECRET)
        .list_keys()
        .send()
        .await);

    // Bob has no policy allowing cloudtrail:LookupEvents.
    let (status, body) = cloudtrail_call(&server, BOB_KEY, BOB_SECRET).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["__type"], "AccessDeniedException", "{body}");
    assert_eq!(
        body["message"],
        format!("User: {BOB_ARN} is not authorized to perform: cloudtrail:LookupEvents because no identity-based policy allows the cloudtrail:LookupEvents action")
    );

    // The auditor's policy allows it; it sees its account's events (bob's ListKeys).
    let (status, body) = cloudtrail_call(&server, AUDITOR_KEY, AUDITOR_SECRET).await;
    assert_eq!(status, 200, "{body}");
    let events = body["Events"].as_array().unwrap();
    assert!(!events.is_empty(), "{body}");

    // So does the administrator (AdministratorAccess).
    let (status, body) =
        cloudtrail_call(&server, server.access_key_id(), server.secret_access_key()).await;
    assert_eq!(status, 200, "{body}");

    // The denied call is itself recorded, as CloudTrail's.
    let records = audit_records(server.data_dir());
    assert!(records.iter().any(|r| r["eventName"] == "LookupEvents"
        && r["errorCode"] == "AccessDeniedException"
        && r["userIdentity"]["arn"] == BOB_ARN));
}
