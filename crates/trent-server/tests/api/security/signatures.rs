//! Issue 13, item 2 (what the signature covers) and item 3's first bullet (no credential
//! echoed into errors or the audit trail): a SigV4 negative matrix through the server.
//!
//! Every header that says what a request is (`Content-Type`, `X-Amz-Target`,
//! `X-Amz-Security-Token`, any `X-Amz-*`) must be among the SignedHeaders, so that a
//! captured request cannot be resent within the skew window as another operation. Each
//! refusal asserts AWS's error type (and message), and that nothing changed.

use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::harness::{Auth, RawRequest, RawResponse, TestServer, REGION};
use crate::identities::{audit_records, start_with_config, ConfigFile, ALICE_ARN, ALICE_KEY};

const JSON_1_1: &str = "application/x-amz-json-1.1";
const ALICE_SECRET: &str = crate::identities::ALICE_SECRET;
const ROLE: &str = "arn:aws:iam::111122223333:role/operator";

/// A fresh symmetric key of the administrator; its id.
async fn new_key(server: &TestServer) -> String {
    let resp = server.call("CreateKey", json!({})).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    resp.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The key's state as DescribeKey (a correctly signed request) reports it.
async fn key_state(server: &TestServer, key_id: &str) -> String {
    let resp = server.call("DescribeKey", json!({ "KeyId": key_id })).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    resp.json()["KeyMetadata"]["KeyState"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn unsigned_message(header: &str) -> String {
    format!("'{header}' must be a 'SignedHeader' in the AWS Authorization.")
}

/// A request signed by `signer` over `signed` (host is added) and `signed_body`, sent
/// with `body` and then the `after` headers (which the signature does not cover).
struct Manual<'a> {
    signer: trent_sigv4::Signer,
    signed: Vec<(&'a str, &'a str)>,
    signed_body: Vec<u8>,
    body: Vec<u8>,
    after: Vec<(&'a str, String)>,
    time: SystemTime,
}

impl<'a> Manual<'a> {
    fn new(
        key: &str,
        secret: &str,
        token: Option<&str>,
        region: &str,
        service: &str,
        body: &[u8],
    ) -> Self {
        Manual {
            signer: trent_sigv4::Signer::new(
                trent_sigv4::Credentials {
                    access_key_id: key.to_owned(),
                    secret_access_key: trent_sigv4::SecretKey::new(secret),
                    session_token: token.map(str::to_owned),
                },
                region,
                service,
            ),
            signed: Vec::new(),
            signed_body: body.to_vec(),
            body: body.to_vec(),
            after: Vec::new(),
            time: SystemTime::now(),
        }
    }

    async fn send(self, server: &TestServer) -> RawResponse {
        let authority = server.endpoint().trim_start_matches("http://").to_owned();
        let mut headers = vec![("host", authority.as_str())];
        headers.extend(self.signed.iter().copied());
        let mut sent: Vec<(String, String)> = self
            .signed
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (k, v) in self
            .signer
            .sign("POST", "/", "", &headers, &self.signed_body, self.time)
        {
            sent.push((k.to_owned(), v));
        }
        sent.extend(self.after.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let raw = RawRequest {
            target: None,
            content_type: None,
            body: self.body,
            auth: Auth::None,
            region: REGION.to_owned(),
            time: self.time,
            signed_headers: Vec::new(),
            extra_headers: sent,
            signed_body: None,
        };
        server.raw(raw).await.unwrap()
    }
}

/// The headline attack: a DescribeKey signed over `host;x-amz-date` only, resent with
/// `X-Amz-Target: TrentService.DisableKey`, disabled the key.
#[tokio::test]
async fn a_retargeted_request_is_refused_and_changes_nothing() {
    let server = TestServer::start();
    let key_id = new_key(&server).await;
    let body = json!({ "KeyId": key_id }).to_string();

    // The operation and the content type outside the signature.
    let mut req = RawRequest::new("DescribeKey", body.clone());
    req.target = None;
    req.content_type = None;
    req.extra_headers = vec![
        ("x-amz-target".into(), "TrentService.DisableKey".into()),
        ("content-type".into(), JSON_1_1.into()),
    ];
    let resp = server.raw(req).await.unwrap();
    resp.assert_error(400, "InvalidSignatureException");
    // Both are unsigned: the first by name is named.
    assert_eq!(resp.message(), Some(unsigned_message("content-type")));
    assert_eq!(key_state(&server, &key_id).await, "Enabled");

    // The content type signed, the operation not.
    let mut req = RawRequest::new("DescribeKey", body.clone());
    req.target = None;
    req.extra_headers = vec![("x-amz-target".into(), "TrentService.DisableKey".into())];
    let resp = server.raw(req).await.unwrap();
    resp.assert_error(400, "InvalidSignatureException");
    assert_eq!(resp.message(), Some(unsigned_message("x-amz-target")));
    assert_eq!(key_state(&server, &key_id).await, "Enabled");

    // The same request with the operation signed works.
    let resp = server.call("DisableKey", json!({ "KeyId": key_id })).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert_eq!(key_state(&server, &key_id).await, "Disabled");
}

/// The negative matrix: each refusal with AWS's error type (and message), each leaving
/// the key Enabled.
#[tokio::test]
async fn the_sigv4_negative_matrix_changes_nothing() {
    let server = TestServer::start();
    let key_id = new_key(&server).await;
    let body = json!({ "KeyId": key_id }).to_string();
    let disable = || RawRequest::new("DisableKey", body.clone());
    let admin = (
        server.access_key_id().to_owned(),
        server.secret_access_key().to_owned(),
    );
    let manual = |region: &str, service: &str| {
        let mut m = Manual::new(&admin.0, &admin.1, None, region, service, body.as_bytes());
        m.signed = vec![
            ("content-type", JSON_1_1),
            ("x-amz-target", "TrentService.DisableKey"),
        ];
        m
    };
    let mut results: Vec<(&str, RawResponse, &str, Option<String>)> = Vec::new();

    // Unsigned content type.
    let mut req = disable();
    req.content_type = None;
    req.extra_headers = vec![("content-type".into(), JSON_1_1.into())];
    results.push((
        "unsigned content type",
        server.raw(req).await.unwrap(),
        "InvalidSignatureException",
        Some(unsigned_message("content-type")),
    ));

    // An unsigned session token next to a signed request (a token Trent did not issue:
    // before, it was judged, and refused as unrecognized).
    let mut req = disable();
    req.extra_headers = vec![("x-amz-security-token".into(), "FwoGZXIvYXdzEBY".into())];
    results.push((
        "unsigned token",
        server.raw(req).await.unwrap(),
        "InvalidSignatureException",
        Some(unsigned_message("x-amz-security-token")),
    ));

    // Any other X-Amz-* header added after signing.
    let mut req = disable();
    req.extra_headers = vec![("x-amz-meta-note".into(), "added".into())];
    results.push((
        "unsigned x-amz-*",
        server.raw(req).await.unwrap(),
        "InvalidSignatureException",
        Some(unsigned_message("x-amz-meta-note")),
    ));

    // Duplicated headers: a second target appended to a signed DescribeKey.
    let mut req = RawRequest::new("DescribeKey", body.clone());
    req.extra_headers = vec![("x-amz-target".into(), "TrentService.DisableKey".into())];
    results.push((
        "duplicated target",
        server.raw(req).await.unwrap(),
        "InvalidSignatureException",
        Some("'x-amz-target' must appear at most once in the request.".into()),
    ));
    let mut m = manual(REGION, "kms");
    m.after = vec![("content-type", "application/json".into())];
    results.push((
        "duplicated content type",
        m.send(&server).await,
        "InvalidSignatureException",
        Some("'content-type' must appear at most once in the request.".into()),
    ));

    // Clock skew, both directions.
    let mut req = disable();
    req.time = SystemTime::now() - Duration::from_secs(10 * 60);
    let resp = server.raw(req).await.unwrap();
    let m = resp.message().unwrap_or_default();
    assert!(m.starts_with("Signature expired: "), "{m}");
    results.push(("expired", resp, "InvalidSignatureException", None));
    let mut req = disable();
    req.time = SystemTime::now() + Duration::from_secs(10 * 60);
    let resp = server.raw(req).await.unwrap();
    let m = resp.message().unwrap_or_default();
    assert!(m.starts_with("Signature not yet current: "), "{m}");
    results.push(("not yet current", resp, "InvalidSignatureException", None));

    // Wrong service.
    results.push((
        "wrong service",
        manual(REGION, "dynamodb").send(&server).await,
        "InvalidSignatureException",
        Some("Credential should be scoped to correct service: 'kms'. ".into()),
    ));

    // Wrong region: not a region name (not quoted back), and another region (where the
    // key does not exist).
    results.push((
        "invalid region",
        manual("US_EAST_1", "kms").send(&server).await,
        "InvalidSignatureException",
        Some("Credential should be scoped to a valid region. ".into()),
    ));
    results.push((
        "other region",
        manual("eu-west-3", "kms").send(&server).await,
        "NotFoundException",
        None,
    ));

    // Body hash mismatch: another body than the one signed, and a signed payload hash
    // that is not the body's.
    let mut req = disable();
    req.signed_body = Some(json!({ "KeyId": "alias/other" }).to_string().into_bytes());
    results.push((
        "body not signed",
        server.raw(req).await.unwrap(),
        "InvalidSignatureException",
        None,
    ));
    let other_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let mut m = manual(REGION, "kms");
    m.signed.push(("x-amz-content-sha256", other_hash));
    results.push((
        "payload hash mismatch",
        m.send(&server).await,
        "InvalidSignatureException",
        None,
    ));

    // Oversized headers: a 60 KB bearer credential, and a 60 KB unsigned x-amz- name.
    // Refused either by the signature check (a short answer, quoting neither) or by the
    // server's header limits (an HTTP error or a closed connection).
    let bearer = format!("Bearer {}", "Q".repeat(60 * 1024));
    let long_name = format!("x-amz-{}", "n".repeat(60 * 1024));
    let mut oversized = Vec::new();
    let mut req = disable();
    req.auth = Auth::None;
    req.extra_headers = vec![("authorization".into(), bearer)];
    oversized.push(("oversized bearer", req));
    let mut req = disable();
    req.extra_headers = vec![(long_name, "v".into())];
    oversized.push(("oversized header name", req));
    for (case, req) in oversized {
        if let Ok(resp) = server.raw(req).await {
            assert!(resp.status >= 400, "{case}: {}", resp.body_text());
            assert!(resp.body.len() < 1024, "{case}: {} bytes", resp.body.len());
            assert!(!resp.body_text().contains(&"Q".repeat(64)), "{case}");
        }
    }

    for (case, resp, code, message) in &results {
        assert_eq!(
            resp.error_type().as_deref(),
            Some(*code),
            "{case}: {}",
            resp.body_text()
        );
        assert_eq!(resp.status, 400, "{case}: {}", resp.body_text());
        if let Some(m) = message {
            assert_eq!(resp.message().as_deref(), Some(m.as_str()), "{case}");
        }
        assert!(resp.body.len() < 1024, "{case}: {} bytes", resp.body.len());
    }
    assert_eq!(key_state(&server, &key_id).await, "Enabled");

    // Nothing of the bearer credential reached an answer or the audit trail.
    let secret_part = "Q".repeat(64);
    for (case, resp, _, _) in &results {
        assert!(!resp.body_text().contains(&secret_part), "{case}");
    }
    for record in audit_records(server.data_dir()) {
        let text = record.to_string();
        assert!(!text.contains(&secret_part), "{text:.300}");
        assert!(!text.contains(&"n".repeat(1024)), "{text:.300}");
    }
}

/// A `Basic`/`Bearer` credential, a malformed credential or date are not echoed into the
/// error message nor the audit trail (AWS's messages quote them; Trent's name the problem).
#[tokio::test]
async fn credentials_are_not_echoed_into_errors_or_the_audit_trail() {
    let server = TestServer::start();
    let signed_shape =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, \
                        SignedHeaders=host;x-amz-date, Signature=00";
    // (Authorization, X-Amz-Date, what must not come back)
    let cases = [
        (
            "Basic dXNlcjpzM2NyZXQtcGFzc3dvcmQ=",
            "20150830T123600Z",
            "dXNlcjpzM2NyZXQtcGFzc3dvcmQ",
        ),
        (
            "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LWJlYXJlci10b2tlbg.sig",
            "20150830T123600Z",
            "c2VjcmV0LWJlYXJlci10b2tlbg",
        ),
        (
            "sk-live-0123456789abcdefSECRET",
            "20150830T123600Z",
            "0123456789abcdefSECRET",
        ),
        (signed_shape, "Token s3cr3tDATEvalue", "s3cr3tDATEvalue"),
    ];
    for (header, date, secret) in cases {
        let mut req = RawRequest::new("ListKeys", "{}");
        req.auth = Auth::None;
        req.extra_headers = vec![
            ("authorization".into(), header.into()),
            ("x-amz-date".into(), date.into()),
        ];
        let resp = server.raw(req).await.unwrap();
        resp.assert_error(400, "IncompleteSignatureException");
        assert!(!resp.body_text().contains(secret), "{}", resp.body_text());
    }
    for record in audit_records(server.data_dir()) {
        let text = record.to_string();
        for (_, _, secret) in cases {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

fn config_text() -> String {
    let kms_and_assume = r#"'''{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","sts:AssumeRole"],"Resource":"*"}]}'''"#;
    format!(
        r#"[[users]]
arn = "{ALICE_ARN}"
access_keys = [{{ id = "{ALICE_KEY}", secret = "{ALICE_SECRET}" }}]
[users.policies]
all = {kms_and_assume}

[[roles]]
arn = "{ROLE}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ALICE_ARN}"}},"Action":"sts:AssumeRole"}}]}}'''
[roles.policies]
kms = {kms_and_assume}
"#
    )
}

/// The text of the first `<tag>` of an XML answer, unescaped.
fn xml(text: &str, tag: &str) -> Option<String> {
    let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + text[start..].find(&format!("</{tag}>"))?;
    Some(
        text[start..end]
            .replace("&apos;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// An STS Query request signed for `sts` over host and content type (`sign_type`), or
/// host only.
async fn sts(server: &TestServer, body: &str, sign_type: bool) -> RawResponse {
    let form = "application/x-www-form-urlencoded; charset=utf-8";
    let mut m = Manual::new(
        ALICE_KEY,
        ALICE_SECRET,
        None,
        REGION,
        "sts",
        body.as_bytes(),
    );
    if sign_type {
        m.signed = vec![("content-type", form)];
    } else {
        m.after = vec![("content-type", form.to_owned())];
    }
    m.send(server).await
}

/// The same rule on STS (answered in its XML envelope) and CloudTrail's LookupEvents; and
/// a real session token left out of the signature is refused before it is honoured.
#[tokio::test]
async fn sts_cloudtrail_and_session_tokens_follow_the_same_rule() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);

    // STS: the content type (which makes it an STS request) unsigned.
    let identity = "Action=GetCallerIdentity&Version=2011-06-15";
    let resp = sts(&server, identity, false).await;
    let text = resp.body_text();
    assert_eq!(resp.status, 403, "{text}");
    assert!(text.starts_with("<ErrorResponse"), "{text}");
    assert_eq!(xml(&text, "Code").as_deref(), Some("SignatureDoesNotMatch"));
    assert_eq!(
        xml(&text, "Message"),
        Some(unsigned_message("content-type"))
    );
    let resp = sts(&server, identity, true).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert_eq!(xml(&resp.body_text(), "Arn").as_deref(), Some(ALICE_ARN));

    // CloudTrail: LookupEvents with its target unsigned.
    let target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
    let lookup = json!({ "MaxResults": 5 }).to_string();
    let mut m = Manual::new(
        ALICE_KEY,
        ALICE_SECRET,
        None,
        REGION,
        "cloudtrail",
        lookup.as_bytes(),
    );
    m.signed = vec![("content-type", JSON_1_1)];
    m.after = vec![("x-amz-target", target.to_owned())];
    let resp = m.send(&server).await;
    resp.assert_error(400, "InvalidSignatureException");
    assert_eq!(resp.message(), Some(unsigned_message("x-amz-target")));

    // A role session whose token is left out of the signature.
    let resp = sts(
        &server,
        &format!(
            "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=s1",
            ROLE.replace(':', "%3A").replace('/', "%2F")
        ),
        true,
    )
    .await;
    let text = resp.body_text();
    assert_eq!(resp.status, 200, "{text}");
    let (key, secret, token) = (
        xml(&text, "AccessKeyId").unwrap(),
        xml(&text, "SecretAccessKey").unwrap(),
        xml(&text, "SessionToken").unwrap(),
    );
    let key_id = new_key(&server).await;
    let body = json!({ "KeyId": key_id }).to_string();
    let session_request = |sign_token: bool| {
        let mut m = Manual::new(
            &key,
            &secret,
            sign_token.then_some(token.as_str()),
            REGION,
            "kms",
            body.as_bytes(),
        );
        m.signed = vec![
            ("content-type", JSON_1_1),
            ("x-amz-target", "TrentService.DisableKey"),
        ];
        if !sign_token {
            m.after = vec![("x-amz-security-token", token.clone())];
        }
        m
    };
    let resp = session_request(false).send(&server).await;
    resp.assert_error(400, "InvalidSignatureException");
    assert_eq!(
        resp.message(),
        Some(unsigned_message("x-amz-security-token"))
    );
    assert_eq!(key_state(&server, &key_id).await, "Enabled");
    // Signed, the session may disable the key.
    let resp = session_request(true).send(&server).await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert_eq!(key_state(&server, &key_id).await, "Disabled");
}
