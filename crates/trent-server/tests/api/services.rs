//! Keys used through services: a configured service identity (`[[services]]`) calls KMS
//! on its callers' behalf by forwarding the request each caller signed (docs/services.md).
//! Trent authorizes the caller, with `kms:ViaService`, `aws:CalledVia` and
//! `kms:GrantIsForAWSResource`, and records the service as AWS does; the service's own
//! credentials are never enough.
//!
//! The SSE-KMS flow end to end: the AWS CLI's `s3api put-object` and `get-object` against
//! the test kit's S3-like service, which calls Trent exactly as S3 calls KMS.

use std::time::{Duration, SystemTime};

use aws_sdk_kms::error::ProvideErrorMetadata;
use serde_json::{json, Value};
use trent_testkit::aws_cli::{aws_cli_command, AwsCliEnv};
use trent_testkit::services::{forwarded_request, S3Service, FORWARDED_REQUEST};

use crate::harness::{expect_code, ok, Auth, RawRequest, RawResponse, TestServer, REGION};
use crate::identities::{audit_records, refused_at_start, start_with_config, user, ConfigFile};

const ACCOUNT: &str = "111122223333";
const ALICE_ARN: &str = "arn:aws:iam::111122223333:user/alice";
const ALICE_KEY: &str = "AKIAALICE00000000001";
const ALICE_SECRET: &str = "alice-secret-0123456789";
const BOB_ARN: &str = "arn:aws:iam::111122223333:user/bob";
const BOB_KEY: &str = "AKIABOB0000000000001";
const BOB_SECRET: &str = "bob-secret-0123456789";
const S3_ARN: &str = "arn:aws:iam::111122223333:user/s3-service";
const S3_KEY: &str = "AKIAS3SERVICE0000001";
const S3_SECRET: &str = "s3-service-secret-0123456789";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const VIA_S3: &str = "s3.us-east-1.amazonaws.com";

/// Alice may generate data keys and decrypt through S3 only; Bob has no KMS permission;
/// the service's identity has none either: whatever it does for a caller is the caller's.
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/uploader";

fn config() -> ConfigFile {
    let via_s3 = format!(
        r#"'''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["kms:GenerateDataKey","kms:Decrypt","kms:CreateGrant"],"Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"{VIA_S3}"}}}}}}]}}'''"#
    );
    // A role Alice may assume, with the same permission through S3.
    let role = format!(
        r#"[[roles]]
arn = "{ROLE_ARN}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ALICE_ARN}"}},"Action":"sts:AssumeRole"}}]}}'''
[roles.policies]
via-s3 = {via_s3}
"#
    );
    ConfigFile::new(&format!(
        "{}[users.policies]\nvia-s3 = {via_s3}\n{}{}\n{role}\n[[services]]\nname = \"s3\"\nprincipal = \"{S3_ARN}\"\n",
        user(ALICE_ARN, ALICE_KEY, ALICE_SECRET, &[]),
        user(BOB_ARN, BOB_KEY, BOB_SECRET, &[]),
        user(S3_ARN, S3_KEY, S3_SECRET, &[]),
    ))
}

fn aws_s3(
    dir: &std::path::Path,
    s3: &S3Service,
    credentials: (&str, &str),
    args: &[&str],
) -> std::process::Output {
    let config = dir.join("aws-config");
    std::fs::write(&config, "[default]\ns3 =\n    addressing_style = path\n").unwrap();
    aws_cli_command(
        "aws",
        &AwsCliEnv {
            credentials: Some(credentials),
            region: Some(REGION),
            config_file: Some(&config),
            ..AwsCliEnv::default()
        },
    )
    .args(["--endpoint-url", s3.endpoint(), "--output", "json", "s3api"])
    .args(args)
    .output()
    .expect("running aws")
}

// The AWS CLI runs as a blocking child process: the service's task needs another worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_kms_through_a_service_with_the_aws_cli() {
    let config = config();
    let server = start_with_config(&config);
    let admin = server.client(REGION);
    let s3 = S3Service::start(server.client_as(REGION, S3_KEY, S3_SECRET)).await;
    let dir = tempfile::tempdir().unwrap();
    let object = dir.path().join("object.txt");
    std::fs::write(&object, b"the quarterly figures").unwrap();
    let object_key = "reports/q3 figures+draft.txt";
    let out = dir.path().join("out.txt");
    // `s3api put-object` of `object` with SSE-KMS (under `kms_key`, if named), and
    // `get-object` into `out`, each as `who`.
    let put_object = |who: (&str, &str), key: &str, kms_key: Option<&str>| {
        let mut args = vec![
            "put-object",
            "--bucket",
            "reports",
            "--key",
            key,
            "--body",
            object.to_str().unwrap(),
            "--server-side-encryption",
            "aws:kms",
        ];
        if let Some(k) = kms_key {
            args.extend(["--ssekms-key-id", k]);
        }
        aws_s3(dir.path(), &s3, who, &args)
    };
    let get_object = |who: (&str, &str), key: &str| {
        let args = [
            "get-object",
            "--bucket",
            "reports",
            "--key",
            key,
            out.to_str().unwrap(),
        ];
        aws_s3(dir.path(), &s3, who, &args)
    };

    // PUT with SSE-KMS and no key named: S3's AWS managed key, made on this first use.
    let put = put_object(ALICE, object_key, None);
    assert!(
        put.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&put.stderr),
        server.logs()
    );
    let put: Value = serde_json::from_slice(&put.stdout).unwrap();
    assert_eq!(put["ServerSideEncryption"], "aws:kms");
    let key_arn = put["SSEKMSKeyId"].as_str().unwrap().to_owned();
    let aws_s3_key = ok(admin.describe_key().key_id("alias/aws/s3").send().await);
    let md = aws_s3_key.key_metadata().unwrap();
    assert_eq!(md.arn(), Some(key_arn.as_str()));
    assert_eq!(md.key_manager().unwrap().as_str(), "AWS");
    let aliases = ok(admin.list_aliases().key_id(&key_arn).send().await);
    assert_eq!(aliases.aliases()[0].alias_name(), Some("alias/aws/s3"));

    // GET decrypts through the service.
    let get = get_object(ALICE, object_key);
    assert!(
        get.status.success(),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"the quarterly figures");

    // The audit trail records the caller, invoked by the service, as AWS records FAS calls.
    let records = audit_records(server.data_dir());
    for name in ["GenerateDataKey", "Decrypt"] {
        let r = records
            .iter()
            .find(|r| r["eventName"] == name && r["errorCode"].is_null())
            .unwrap_or_else(|| panic!("no {name} event"));
        assert_eq!(r["userIdentity"]["arn"], ALICE_ARN, "{r}");
        assert_eq!(r["userIdentity"]["accessKeyId"], ALICE_KEY);
        assert_eq!(r["userIdentity"]["invokedBy"], "s3.amazonaws.com");
        assert_eq!(r["sourceIPAddress"], "s3.amazonaws.com");
        assert_eq!(r["userAgent"], "s3.amazonaws.com");
        assert_eq!(
            r["requestParameters"]["encryptionContext"]["aws:s3:arn"],
            format!("arn:aws:s3:::reports/{object_key}")
        );
        assert_eq!(r["resources"][0]["ARN"], key_arn.as_str());
    }

    // Bob has no KMS permission of his own, but the AWS managed key's policy lets every
    // principal of the account use it through S3 (S3's own authorization is what stops
    // him on AWS): his GET decrypts.
    let by_bob = get_object((BOB_KEY, BOB_SECRET), object_key);
    assert!(
        by_bob.status.success(),
        "{}",
        String::from_utf8_lossy(&by_bob.stderr)
    );
    // Alice may not use the key directly: her policy and the key's want kms:ViaService.
    let alice = server.client_as(REGION, ALICE_KEY, ALICE_SECRET);
    expect_code(
        alice
            .generate_data_key()
            .key_id("alias/aws/s3")
            .number_of_bytes(32)
            .send()
            .await,
        "AccessDeniedException",
    );
    // Nor may the service on its own credentials.
    let service = server.client_as(REGION, S3_KEY, S3_SECRET);
    expect_code(
        service
            .generate_data_key()
            .key_id("alias/aws/s3")
            .number_of_bytes(32)
            .send()
            .await,
        "AccessDeniedException",
    );

    // A customer managed key named by alias works the same way.
    let cmk = ok(admin.create_key().send().await);
    let cmk_arn = cmk.key_metadata().unwrap().arn().unwrap().to_owned();
    ok(admin
        .create_alias()
        .alias_name("alias/reports")
        .target_key_id(&cmk_arn)
        .send()
        .await);
    let put = put_object(ALICE, "cmk.txt", Some("alias/reports"));
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let put: Value = serde_json::from_slice(&put.stdout).unwrap();
    assert_eq!(put["SSEKMSKeyId"], cmk_arn.as_str());
    // A customer managed key whose policy leaves it to IAM: Bob's permissions decide, and
    // he has none.
    let denied = get_object((BOB_KEY, BOB_SECRET), "cmk.txt");
    assert!(!denied.status.success());
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("AccessDenied") && stderr.contains(BOB_ARN),
        "{stderr}"
    );
}

/// Alice's request to S3, signed with `secret` for `service` in `region` at `time`.
fn signed_by(
    access_key_id: &str,
    secret: &str,
    service: &str,
    region: &str,
    path: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    signed_with_token(access_key_id, secret, None, service, region, path, time)
}

/// [`signed_by`] with temporary credentials (an STS session token) when `token` is given.
fn signed_with_token(
    access_key_id: &str,
    secret: &str,
    token: Option<&str>,
    service: &str,
    region: &str,
    path: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    let signer = trent_sigv4::Signer::new(
        trent_sigv4::Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: trent_sigv4::SecretKey::new(secret),
            session_token: token.map(str::to_owned),
        },
        region,
        service,
    );
    let mut headers = vec![
        ("host".to_owned(), "s3.example.internal".to_owned()),
        ("x-amz-content-sha256".to_owned(), EMPTY_SHA256.to_owned()),
    ];
    let to_sign: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let added = signer.sign("GET", path, "", &to_sign, b"", time);
    headers.extend(added.into_iter().map(|(k, v)| (k.to_owned(), v)));
    headers
}

/// A forwarded `GET /b/o` signed by `keys` for `service` in `region` at `at`, forwarded
/// as a request for `sent_path`, from `source_ip`.
fn forward(
    keys: (&str, &str),
    service: &str,
    region: &str,
    at: SystemTime,
    sent_path: &str,
    source_ip: Option<&str>,
) -> String {
    let headers = signed_by(keys.0, keys.1, service, region, "/b/o", at);
    forwarded_request("GET", sent_path, "", &headers, None, source_ip)
}

const ALICE: (&str, &str) = (ALICE_KEY, ALICE_SECRET);

/// Alice's own `GET /b/o`, forwarded as it was signed.
fn alice_get() -> String {
    forward(
        ALICE,
        "s3",
        REGION,
        SystemTime::now(),
        "/b/o",
        Some("127.0.0.1"),
    )
}

/// `op` on Trent signed by `by`, forwarding `forwarded` (when given) in a signed header.
async fn call(
    server: &TestServer,
    by: (&str, &str),
    op: &str,
    body: Value,
    forwarded: Option<String>,
) -> RawResponse {
    let mut req = RawRequest::new(op, body.to_string());
    req.auth = Auth::Keys {
        access_key_id: by.0.to_owned(),
        secret_access_key: by.1.to_owned(),
    };
    if let Some(f) = forwarded {
        req.signed_headers.push((FORWARDED_REQUEST.to_owned(), f));
    }
    server.raw(req).await.unwrap()
}

#[track_caller]
fn assert_refused(resp: &RawResponse, status: u16, code: &str, message_start: &str) {
    resp.assert_error(status, code);
    let message = resp.message().unwrap_or_default();
    assert!(
        message.starts_with(message_start),
        "{code}: {message:?} does not start with {message_start:?}"
    );
}

/// A server with [`config`], and a key of the default policy (the account's IAM policies
/// decide).
async fn start_with_a_key() -> (ConfigFile, TestServer, String) {
    let config = config();
    let server = start_with_config(&config);
    let key = ok(server.client(REGION).create_key().send().await)
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    (config, server, key)
}

#[tokio::test]
async fn the_service_credentials_alone_are_never_enough() {
    let (_config, server, key) = start_with_a_key().await;
    let s3 = (S3_KEY, S3_SECRET);
    let gdk = || json!({"KeyId": key, "KeySpec": "AES_256"});

    // The caller's own signed request, forwarded: the call is the caller's.
    let resp = call(&server, s3, "GenerateDataKey", gdk(), Some(alice_get())).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());

    // The service alone: its own (empty) permissions.
    let resp = call(&server, s3, "GenerateDataKey", gdk(), None).await;
    assert_refused(
        &resp,
        400,
        "AccessDeniedException",
        &format!("User: {S3_ARN} is not authorized to perform: kms:GenerateDataKey"),
    );

    // Someone who is not a configured service cannot forward anything.
    let resp = call(
        &server,
        (BOB_KEY, BOB_SECRET),
        "GenerateDataKey",
        gdk(),
        Some(alice_get()),
    )
    .await;
    assert_refused(
        &resp,
        400,
        "AccessDeniedException",
        &format!("User: {BOB_ARN} is not authorized to call on another principal's behalf"),
    );

    // The forwarded request must be signed by the service too (not added on the way).
    let mut req = RawRequest::new("GenerateDataKey", gdk().to_string());
    req.auth = Auth::Keys {
        access_key_id: S3_KEY.to_owned(),
        secret_access_key: S3_SECRET.to_owned(),
    };
    req.extra_headers
        .push((FORWARDED_REQUEST.to_owned(), alice_get()));
    let resp = server.raw(req).await.unwrap();
    assert_eq!(resp.status, 400, "{}", resp.body_text());
    assert!(resp
        .message()
        .unwrap_or_default()
        .contains(FORWARDED_REQUEST));

    // A forwarded request changed on the way: the caller's signature does not verify.
    let tampered = forward(ALICE, "s3", REGION, SystemTime::now(), "/b/other", None);
    let resp = call(&server, s3, "GenerateDataKey", gdk(), Some(tampered)).await;
    assert_refused(
        &resp,
        400,
        "InvalidSignatureException",
        "The forwarded request: ",
    );

    // Signed for KMS, not for the service: a request to KMS is not a request to S3.
    let for_kms = forward(ALICE, "kms", REGION, SystemTime::now(), "/b/o", None);
    let resp = call(&server, s3, "GenerateDataKey", gdk(), Some(for_kms)).await;
    assert_eq!(resp.status, 400, "{}", resp.body_text());
    assert!(resp
        .message()
        .unwrap()
        .starts_with("The forwarded request: "));

    // Older than the clock skew allows.
    let old = forward(
        ALICE,
        "s3",
        REGION,
        SystemTime::now() - Duration::from_secs(600),
        "/b/o",
        None,
    );
    let resp = call(&server, s3, "GenerateDataKey", gdk(), Some(old)).await;
    assert_refused(
        &resp,
        400,
        "InvalidSignatureException",
        "The forwarded request: Signature expired",
    );

    // Another region than the call's.
    let west = forward(ALICE, "s3", "us-west-2", SystemTime::now(), "/b/o", None);
    let resp = call(&server, s3, "GenerateDataKey", gdk(), Some(west)).await;
    assert_refused(
        &resp,
        400,
        "IncompleteSignatureException",
        "X-Trent-Forwarded-Request: the forwarded request is signed for another region",
    );

    // An unknown access key; then not a forwarded request at all.
    let unknown = forward(
        ("AKIANOBODY0000000001", "x"),
        "s3",
        REGION,
        SystemTime::now(),
        "/b/o",
        None,
    );
    let resp = call(&server, s3, "GenerateDataKey", gdk(), Some(unknown)).await;
    assert_refused(
        &resp,
        400,
        "UnrecognizedClientException",
        "The forwarded request: ",
    );
    for garbage in ["not base64!", "e30=" /* {} */] {
        let resp = call(
            &server,
            s3,
            "GenerateDataKey",
            gdk(),
            Some(garbage.to_owned()),
        )
        .await;
        assert_refused(
            &resp,
            400,
            "IncompleteSignatureException",
            "X-Trent-Forwarded-Request: ",
        );
    }
    // Well-formed but not forwardable: each refused with its reason.
    let signed = signed_by(
        ALICE_KEY,
        ALICE_SECRET,
        "s3",
        REGION,
        "/b/o",
        SystemTime::now(),
    );
    let without_hash: Vec<_> = signed
        .iter()
        .filter(|(k, _)| k != "x-amz-content-sha256")
        .cloned()
        .collect();
    let mut nested = signed.clone();
    nested.push((FORWARDED_REQUEST.to_owned(), alice_get()));
    for (forwarded, reason) in [
        (
            forwarded_request("GET", "/b/o", "", &nested, None, None),
            "a forwarded request cannot itself forward one",
        ),
        (
            forwarded_request("GET", "/b/o", "", &without_hash, None, None),
            "neither payloadHash nor x-amz-content-sha256 is given",
        ),
        (
            forwarded_request("GET", "b/o", "", &signed, None, None),
            "the forwarded path must start with /",
        ),
        (
            "A".repeat(16 * 1024 + 4),
            "the forwarded request is too large",
        ),
    ] {
        let resp = call(&server, s3, "GenerateDataKey", gdk(), Some(forwarded)).await;
        assert_refused(
            &resp,
            400,
            "IncompleteSignatureException",
            &format!("X-Trent-Forwarded-Request: {reason}"),
        );
    }

    // None of the refused calls did anything; each was recorded as unauthenticated or as
    // the service, never as Alice.
    let alice_events = audit_records(server.data_dir())
        .into_iter()
        .filter(|r| r["userIdentity"]["arn"] == ALICE_ARN)
        .count();
    assert_eq!(alice_events, 1);
}

#[tokio::test]
async fn condition_keys_of_calls_through_a_service() {
    let config = config();
    let server = start_with_config(&config);
    let admin = server.client(REGION);
    // Alice may create grants on this key only for AWS resources (through a service), and
    // use it only from 127.0.0.0/8 (the address the service saw her at).
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "root", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "grants", "Effect": "Allow", "Principal": {"AWS": ALICE_ARN},
             "Action": "kms:CreateGrant", "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
            {"Sid": "calledvia", "Effect": "Allow", "Principal": {"AWS": ALICE_ARN},
             "Action": "kms:GenerateDataKey", "Resource": "*",
             "Condition": {"ForAnyValue:StringEquals": {"aws:CalledVia": "s3.amazonaws.com"},
                           "Bool": {"aws:ViaAWSService": "true"}}},
            {"Sid": "ip", "Effect": "Deny", "Principal": {"AWS": ALICE_ARN},
             "Action": "kms:*", "Resource": "*",
             "Condition": {"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}
        ]
    });
    let key = ok(admin.create_key().policy(policy.to_string()).send().await)
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let s3 = (S3_KEY, S3_SECRET);
    let grant = json!({"KeyId": key, "GranteePrincipal": BOB_ARN, "Operations": ["Decrypt"]});

    let resp = call(&server, s3, "CreateGrant", grant.clone(), Some(alice_get())).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    let alice = server.client_as(REGION, ALICE_KEY, ALICE_SECRET);
    let direct = alice
        .create_grant()
        .key_id(&key)
        .grantee_principal(BOB_ARN)
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await;
    let err = expect_code(direct, "AccessDeniedException");
    assert!(err.message().unwrap().contains("kms:CreateGrant"));

    // The caller's address as the service forwards it is aws:SourceIp.
    let gdk = json!({"KeyId": key, "KeySpec": "AES_256"});
    // GenerateDataKey through S3 for Alice, seen at `ip`.
    let from = async |ip: &str| {
        let forwarded = forward(ALICE, "s3", REGION, SystemTime::now(), "/b/o", Some(ip));
        call(&server, s3, "GenerateDataKey", gdk.clone(), Some(forwarded)).await
    };
    let resp = from("127.0.0.9").await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    let resp = from("203.0.113.9").await;
    assert_refused(
        &resp,
        400,
        "AccessDeniedException",
        &format!("User: {ALICE_ARN} is not authorized to perform: kms:GenerateDataKey"),
    );
    let resp = from("not-an-ip").await;
    assert_refused(
        &resp,
        400,
        "IncompleteSignatureException",
        "X-Trent-Forwarded-Request: sourceIp is not an IP address",
    );
}

#[test]
fn a_service_must_name_a_configured_user_or_role() {
    let bad = ConfigFile::new(&format!(
        "{}\n[[services]]\nname = \"s3\"\nprincipal = \"arn:aws:iam::{ACCOUNT}:user/ghost\"\n",
        user(S3_ARN, S3_KEY, S3_SECRET, &[]),
    ));
    let err = refused_at_start(&bad);
    assert!(
        err.contains("[[services]] entry 1 (\"s3\")")
            && err.contains("is neither a [[users]] nor a [[roles]] entry"),
        "{err}"
    );
}

#[tokio::test]
async fn a_role_session_calls_through_a_service_with_its_session_token() {
    use crate::sts::{assume, creds, sts_ok, xml};
    let (_config, server, key) = start_with_a_key().await;
    let resp = assume(
        &server,
        &creds(ALICE_KEY, ALICE_SECRET),
        ROLE_ARN,
        "upload-1",
        &[],
    )
    .await;
    sts_ok(&resp);
    let (id, secret, token) = (
        xml(&resp, "AccessKeyId").unwrap(),
        xml(&resp, "SecretAccessKey").unwrap(),
        xml(&resp, "SessionToken").unwrap(),
    );
    let gdk = json!({"KeyId": key, "KeySpec": "AES_256"});
    let forwarded = |token: &str| {
        let headers = signed_with_token(
            &id,
            &secret,
            Some(token),
            "s3",
            REGION,
            "/b/o",
            SystemTime::now(),
        );
        forwarded_request("GET", "/b/o", "", &headers, None, None)
    };
    let s3 = (S3_KEY, S3_SECRET);
    let resp = call(
        &server,
        s3,
        "GenerateDataKey",
        gdk.clone(),
        Some(forwarded(&token)),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    let event = audit_records(server.data_dir())
        .into_iter()
        .find(|r| r["eventName"] == "GenerateDataKey" && r["errorCode"].is_null())
        .unwrap();
    assert_eq!(event["userIdentity"]["type"], "AssumedRole");
    assert_eq!(
        event["userIdentity"]["arn"],
        "arn:aws:sts::111122223333:assumed-role/uploader/upload-1"
    );
    assert_eq!(event["userIdentity"]["accessKeyId"], id.as_str());
    assert_eq!(event["userIdentity"]["invokedBy"], "s3.amazonaws.com");

    // A session token Trent did not seal is no session, forwarded or not.
    let resp = call(
        &server,
        s3,
        "GenerateDataKey",
        gdk,
        Some(forwarded("not-a-token")),
    )
    .await;
    assert_refused(
        &resp,
        400,
        "UnrecognizedClientException",
        "The forwarded request: ",
    );
}
