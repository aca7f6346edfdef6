//! STS on Trent's endpoint: `GetCallerIdentity` and `AssumeRole` through the official
//! `aws-sdk-sts` and the AWS CLI (including a profile with `role_arn` + `source_profile`),
//! then KMS with the session credentials (`aws-sdk-kms` with a session token).

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use serde_json::Value;

use crate::harness::{
    assert_time_near, aws_cli, expect_code, expect_err, now_secs, ok, Auth, RawRequest,
    RawResponse, TestServer, DEFAULT_ACCOUNT, REGION,
};
use crate::identities::{
    allow, audit_record, audit_records, start_with_config, user, ConfigFile, ALICE_ARN, ALICE_KEY,
    ALICE_SECRET, BOB_ARN, BOB_KEY, BOB_SECRET,
};

const ROLE: &str = "arn:aws:iam::111122223333:role/app/encryptor";
const DELEGATED: &str = "arn:aws:iam::111122223333:role/delegated";
const PARTNER: &str = "arn:aws:iam::111122223333:role/partner";
const CAROL_ARN: &str = "arn:aws:iam::111122223333:user/carol";
const CAROL_KEY: &str = "AKIACAROL00000000001";
const CAROL_SECRET: &str = "carol-secret-0123456789";

fn config_text() -> String {
    format!(
        r#"{alice}{bob}
[[users]]
arn = "{CAROL_ARN}"
access_keys = [{{ id = "{CAROL_KEY}", secret = "{CAROL_SECRET}" }}]
[users.policies]
assume = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"{DELEGATED}"}}]}}'''

[[roles]]
arn = "{ROLE}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ALICE_ARN}"}},"Action":["sts:AssumeRole","sts:TagSession"]}}]}}'''
tags = {{ team = "red" }}
[roles.policies]
kms = {kms}
chain = {chain}

[[roles]]
arn = "{DELEGATED}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"sts:AssumeRole"}}]}}'''
max_session_duration_seconds = 7200

[[roles]]
arn = "{PARTNER}"
trust_policy = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ALICE_ARN}"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"ext-1234"}}}}}}]}}'''
"#,
        alice = user(ALICE_ARN, ALICE_KEY, ALICE_SECRET, &[("kms", "kms:*")]),
        bob = user(BOB_ARN, BOB_KEY, BOB_SECRET, &[("kms", "kms:*")]),
        kms = allow("kms:*"),
        chain = allow("sts:AssumeRole"),
    )
}

/// Credentials for a raw STS call.
pub struct Creds<'a> {
    pub key: &'a str,
    pub secret: &'a str,
    pub token: Option<&'a str>,
}

pub fn creds<'a>(key: &'a str, secret: &'a str) -> Creds<'a> {
    Creds {
        key,
        secret,
        token: None,
    }
}

fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An STS Query request (`Action`, `Version=2011-06-15` and `params`), SigV4-signed for
/// `sts` as the SDKs sign it.
pub async fn sts_call(
    server: &TestServer,
    c: &Creds<'_>,
    action: &str,
    params: &[(&str, &str)],
) -> RawResponse {
    let mut body = format!("Action={action}&Version=2011-06-15");
    for (k, v) in params {
        body.push_str(&format!("&{}={}", form_encode(k), form_encode(v)));
    }
    let authority = server.endpoint().trim_start_matches("http://").to_owned();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let signer = trent_sigv4::Signer::new(
        trent_sigv4::Credentials {
            access_key_id: c.key.to_owned(),
            secret_access_key: trent_sigv4::SecretKey::new(c.secret),
            session_token: c.token.map(str::to_owned),
        },
        REGION,
        "sts",
    );
    let now = SystemTime::now();
    let headers = [("host", authority.as_str()), ("content-type", content_type)];
    let signed = signer.sign("POST", "/", "", &headers, body.as_bytes(), now);
    let raw = RawRequest {
        target: None,
        content_type: Some(content_type.to_owned()),
        body: body.into_bytes(),
        auth: Auth::None,
        region: REGION.to_owned(),
        time: now,
        signed_headers: Vec::new(),
        extra_headers: signed.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        signed_body: None,
    };
    server.raw(raw).await.unwrap()
}

/// The text of the first `<tag>` of an XML answer, unescaped.
pub fn xml(resp: &RawResponse, tag: &str) -> Option<String> {
    let body = resp.body_text();
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + body[start..].find(&format!("</{tag}>"))?;
    Some(
        body[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Asserts an STS success (200, XML).
#[track_caller]
pub fn sts_ok(resp: &RawResponse) {
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert_eq!(resp.header("content-type"), Some("text/xml"));
}

/// Asserts STS's XML error envelope with this status, code and (if given) message.
#[track_caller]
pub fn sts_err(resp: &RawResponse, status: u16, code: &str, message: Option<&str>) {
    let text = resp.body_text();
    assert_eq!(resp.status, status, "{text}");
    assert!(
        text.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
        "{text}"
    );
    assert_eq!(xml(resp, "Type").as_deref(), Some("Sender"), "{text}");
    assert_eq!(xml(resp, "Code").as_deref(), Some(code), "{text}");
    assert!(xml(resp, "RequestId").is_some(), "{text}");
    if let Some(m) = message {
        assert_eq!(xml(resp, "Message").as_deref(), Some(m), "{text}");
    }
}

pub async fn assume(
    server: &TestServer,
    c: &Creds<'_>,
    role: &str,
    session: &str,
    extra: &[(&str, &str)],
) -> RawResponse {
    let mut params = vec![("RoleArn", role), ("RoleSessionName", session)];
    params.extend_from_slice(extra);
    sts_call(server, c, "AssumeRole", &params).await
}

pub fn kms_client(
    server: &TestServer,
    key: &str,
    secret: &str,
    token: &str,
) -> aws_sdk_kms::Client {
    trent_testkit::sdk::session_client(server.endpoint(), REGION, key, secret, token)
}

#[tokio::test]
async fn get_caller_identity() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let resp = sts_call(
        &server,
        &creds(ALICE_KEY, ALICE_SECRET),
        "GetCallerIdentity",
        &[],
    )
    .await;
    sts_ok(&resp);
    assert!(resp.body_text().starts_with(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    assert_eq!(xml(&resp, "Arn").as_deref(), Some(ALICE_ARN));
    assert_eq!(xml(&resp, "Account").as_deref(), Some(DEFAULT_ACCOUNT));
    assert!(xml(&resp, "UserId").unwrap().starts_with("AIDA"));
    assert_eq!(
        xml(&resp, "RequestId").as_deref(),
        resp.header("x-amzn-requestid")
    );

    let admin = creds(server.access_key_id(), server.secret_access_key());
    let resp = sts_call(&server, &admin, "GetCallerIdentity", &[]).await;
    sts_ok(&resp);
    assert_eq!(
        xml(&resp, "Arn"),
        Some(format!("arn:aws:iam::{DEFAULT_ACCOUNT}:user/admin"))
    );

    // STS's own error codes for credentials it does not know, a wrong secret, a request
    // signed for another service, no signature, and an unknown action.
    let resp = sts_call(
        &server,
        &creds("AKIAUNKNOWN000000001", "x"),
        "GetCallerIdentity",
        &[],
    )
    .await;
    sts_err(
        &resp,
        403,
        "InvalidClientTokenId",
        Some("The security token included in the request is invalid."),
    );
    let resp = sts_call(
        &server,
        &creds(ALICE_KEY, "wrong"),
        "GetCallerIdentity",
        &[],
    )
    .await;
    sts_err(&resp, 403, "SignatureDoesNotMatch", None);
    let resp = sts_call(
        &server,
        &creds(ALICE_KEY, ALICE_SECRET),
        "GetSessionToken",
        &[],
    )
    .await;
    sts_err(
        &resp,
        400,
        "InvalidAction",
        Some("Could not find operation GetSessionToken for version 2011-06-15"),
    );
    let mut unsigned = RawRequest::new("x", "Action=GetCallerIdentity&Version=2011-06-15");
    unsigned.target = None;
    unsigned.content_type = Some("application/x-www-form-urlencoded".to_owned());
    unsigned.auth = Auth::None;
    let resp = server.raw(unsigned).await.unwrap();
    sts_err(&resp, 403, "MissingAuthenticationToken", None);
}

/// A KMS client whose credentials come from the SDK's assume-role provider (the base
/// credentials are alice's), STS and KMS both on Trent.
async fn kms_through_the_sdk_assume_role_provider(server: &TestServer) -> aws_sdk_kms::Client {
    let base = aws_credential_types::Credentials::new(ALICE_KEY, ALICE_SECRET, None, None, "alice");
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(server.endpoint())
        .credentials_provider(base.clone())
        .load()
        .await;
    let provider = aws_config::sts::AssumeRoleProvider::builder(ROLE)
        .session_name("sdk")
        .configure(&sdk_config)
        .build_from_provider(base)
        .await;
    let creds = provider
        .provide_credentials()
        .await
        .expect("assumed credentials");
    assert!(creds.access_key_id().starts_with("ASIA"));
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new(REGION))
        .endpoint_url(server.endpoint())
        .credentials_provider(provider)
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

#[tokio::test]
async fn the_sdk_assume_role_provider_works_against_trent() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let kms = kms_through_the_sdk_assume_role_provider(&server).await;
    let out = ok(kms.list_keys().send().await);
    let id = aws_sdk_kms::operation::RequestId::request_id(&out)
        .unwrap()
        .to_owned();
    let event = audit_record(server.data_dir(), &id);
    assert_eq!(
        event["userIdentity"]["arn"], "arn:aws:sts::111122223333:assumed-role/encryptor/sdk",
        "{event}"
    );
}

#[tokio::test]
async fn assume_role_then_use_kms_as_the_session() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let alice = creds(ALICE_KEY, ALICE_SECRET);
    let resp = assume(
        &server,
        &alice,
        ROLE,
        "s1",
        &[
            ("Tags.member.1.Key", "project"),
            ("Tags.member.1.Value", "alpha"),
        ],
    )
    .await;
    sts_ok(&resp);
    assert!(resp
        .body_text()
        .starts_with("<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"));
    assert_eq!(
        xml(&resp, "Arn").as_deref(),
        Some("arn:aws:sts::111122223333:assumed-role/encryptor/s1")
    );
    let assumed_id = xml(&resp, "AssumedRoleId").unwrap();
    let role_id = assumed_id.strip_suffix(":s1").unwrap().to_owned();
    assert!(
        role_id.starts_with("AROA") && role_id.len() == 21,
        "{role_id}"
    );
    let key = xml(&resp, "AccessKeyId").unwrap();
    let secret = xml(&resp, "SecretAccessKey").unwrap();
    let token = xml(&resp, "SessionToken").unwrap();
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert_eq!(secret.len(), 40);
    let expiration = aws_sdk_kms::primitives::DateTime::from_str(
        &xml(&resp, "Expiration").unwrap(),
        aws_sdk_kms::primitives::DateTimeFormat::DateTime,
    )
    .unwrap();
    assert_time_near(&expiration, now_secs() + 3600, 120);
    assert!(xml(&resp, "PackedPolicySize").is_some());
    // The token carries the secret sealed, never in clear.
    assert!(!token.contains(&secret));

    // Who the session is, to STS; the same role id for a second session.
    let session = Creds {
        key: &key,
        secret: &secret,
        token: Some(&token),
    };
    let me = sts_call(&server, &session, "GetCallerIdentity", &[]).await;
    sts_ok(&me);
    assert_eq!(
        xml(&me, "Arn").as_deref(),
        Some("arn:aws:sts::111122223333:assumed-role/encryptor/s1")
    );
    assert_eq!(xml(&me, "UserId"), Some(format!("{role_id}:s1")));
    let again = assume(&server, &alice, ROLE, "s2", &[]).await;
    assert_eq!(xml(&again, "AssumedRoleId"), Some(format!("{role_id}:s2")));

    // KMS with the session's credentials; the trail records the assumed role.
    let kms = kms_client(&server, &key, &secret, &token);
    let created = ok(kms.create_key().send().await);
    let key_id = created.key_metadata().unwrap().key_id().to_owned();
    let out = ok(kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"hello".to_vec()))
        .send()
        .await);
    let request_id = aws_sdk_kms::operation::RequestId::request_id(&out)
        .unwrap()
        .to_owned();
    let event = audit_record(server.data_dir(), &request_id);
    let who = &event["userIdentity"];
    assert_eq!(who["type"], "AssumedRole", "{event}");
    assert_eq!(
        who["arn"],
        "arn:aws:sts::111122223333:assumed-role/encryptor/s1"
    );
    assert_eq!(who["principalId"], format!("{role_id}:s1"));
    assert_eq!(who["accountId"], DEFAULT_ACCOUNT);
    assert_eq!(who["accessKeyId"], key.as_str());
    let issuer = &who["sessionContext"]["sessionIssuer"];
    assert_eq!(issuer["type"], "Role");
    assert_eq!(issuer["arn"], ROLE);
    assert_eq!(issuer["principalId"], role_id.as_str());
    assert_eq!(issuer["userName"], "encryptor");
    assert_eq!(issuer["accountId"], DEFAULT_ACCOUNT);
    let attributes = &who["sessionContext"]["attributes"];
    assert_eq!(attributes["mfaAuthenticated"], "false");
    assert!(attributes["creationDate"].as_str().unwrap().ends_with('Z'));

    // The AssumeRole call is in the trail as STS's, without secret or token.
    let records = audit_records(server.data_dir());
    let event = records
        .iter()
        .find(|r| r["eventName"] == "AssumeRole" && r["errorCode"].is_null())
        .expect("the AssumeRole event");
    assert_eq!(event["eventSource"], "sts.amazonaws.com");
    assert_eq!(event["requestParameters"]["roleArn"], ROLE);
    assert_eq!(
        event["responseElements"]["credentials"]["accessKeyId"],
        key.as_str()
    );
    let text = serde_json::to_string(&records).unwrap();
    assert!(!text.contains(&secret) && !text.contains(&token));

    // A tampered token: KMS's answer for credentials it does not recognise.
    let mut chars: Vec<char> = token.chars().collect();
    let mid = chars.len() / 2;
    chars[mid] = if chars[mid] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    let e = kms_client(&server, &key, &secret, &tampered)
        .list_keys()
        .send()
        .await;
    expect_err(
        e,
        "UnrecognizedClientException",
        Some("The security token included in the request is invalid."),
    );
    // The token with another temporary access key id.
    let e = kms_client(&server, "ASIAAAAAAAAAAAAAAAAA", &secret, &token)
        .list_keys()
        .send()
        .await;
    expect_err(e, "UnrecognizedClientException", None);
    // The right token signed with another secret.
    let e = kms_client(&server, &key, "not-the-secret", &token)
        .list_keys()
        .send()
        .await;
    expect_err(e, "InvalidSignatureException", None);
}

#[tokio::test]
async fn assume_role_is_decided_by_the_trust_policy_and_identity_policies() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let alice = creds(ALICE_KEY, ALICE_SECRET);

    // Bob is not in the encryptor's trust policy.
    let resp = assume(&server, &creds(BOB_KEY, BOB_SECRET), ROLE, "s1", &[]).await;
    sts_err(
        &resp,
        403,
        "AccessDenied",
        Some(&format!(
            "User: {BOB_ARN} is not authorized to perform: sts:AssumeRole on resource: {ROLE}"
        )),
    );
    // A role that does not exist answers the same.
    let missing = "arn:aws:iam::111122223333:role/missing";
    let resp = assume(&server, &alice, missing, "s1", &[]).await;
    sts_err(
        &resp,
        403,
        "AccessDenied",
        Some(&format!(
            "User: {ALICE_ARN} is not authorized to perform: sts:AssumeRole on resource: {missing}"
        )),
    );

    // The delegated role trusts the account: the caller's identity policy decides.
    let resp = assume(
        &server,
        &creds(CAROL_KEY, CAROL_SECRET),
        DELEGATED,
        "carol",
        &[("DurationSeconds", "7200")],
    )
    .await;
    sts_ok(&resp);
    let resp = assume(&server, &alice, DELEGATED, "alice", &[]).await;
    sts_err(&resp, 403, "AccessDenied", None);

    // The partner role wants the right external id.
    let resp = assume(&server, &alice, PARTNER, "partner", &[]).await;
    sts_err(&resp, 403, "AccessDenied", None);
    let resp = assume(
        &server,
        &alice,
        PARTNER,
        "partner",
        &[("ExternalId", "ext-9999")],
    )
    .await;
    sts_err(&resp, 403, "AccessDenied", None);
    let resp = assume(
        &server,
        &alice,
        PARTNER,
        "partner",
        &[("ExternalId", "ext-1234")],
    )
    .await;
    sts_ok(&resp);

    // Session tags need sts:TagSession in the trust policy (the partner's lacks it).
    let resp = assume(
        &server,
        &alice,
        PARTNER,
        "partner",
        &[
            ("ExternalId", "ext-1234"),
            ("Tags.member.1.Key", "k"),
            ("Tags.member.1.Value", "v"),
        ],
    )
    .await;
    sts_err(
        &resp,
        403,
        "AccessDenied",
        Some(&format!(
            "User: {ALICE_ARN} is not authorized to perform: sts:TagSession on resource: {PARTNER}"
        )),
    );

    // Roles may not be assumed with the account root's credentials.
    let root_config = ConfigFile::new(&format!(
        "[[accounts]]\nid = \"{DEFAULT_ACCOUNT}\"\naccess_keys = [{{ id = \"AKIAROOT111122223333\", secret = \"root-secret-1234\" }}]\n{}",
        config_text()
    ));
    let server = start_with_config(&root_config);
    let resp = assume(
        &server,
        &creds("AKIAROOT111122223333", "root-secret-1234"),
        DELEGATED,
        "root",
        &[],
    )
    .await;
    sts_err(
        &resp,
        403,
        "AccessDenied",
        Some("Roles may not be assumed by root accounts."),
    );
}

#[tokio::test]
async fn role_chaining_is_limited_to_one_hour() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let resp = assume(&server, &creds(ALICE_KEY, ALICE_SECRET), ROLE, "first", &[]).await;
    sts_ok(&resp);
    let (key, secret, token) = (
        xml(&resp, "AccessKeyId").unwrap(),
        xml(&resp, "SecretAccessKey").unwrap(),
        xml(&resp, "SessionToken").unwrap(),
    );
    let session = Creds {
        key: &key,
        secret: &secret,
        token: Some(&token),
    };
    // The delegated role allows 2 hours, but not to a chained session.
    let resp = assume(
        &server,
        &session,
        DELEGATED,
        "second",
        &[("DurationSeconds", "7200")],
    )
    .await;
    sts_err(
        &resp,
        400,
        "ValidationError",
        Some("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."),
    );
    let resp = assume(&server, &session, DELEGATED, "second", &[]).await;
    sts_ok(&resp);
    let chained = Creds {
        key: &xml(&resp, "AccessKeyId").unwrap(),
        secret: &xml(&resp, "SecretAccessKey").unwrap(),
        token: Some(&xml(&resp, "SessionToken").unwrap()),
    };
    let me = sts_call(&server, &chained, "GetCallerIdentity", &[]).await;
    sts_ok(&me);
    assert_eq!(
        xml(&me, "Arn").as_deref(),
        Some("arn:aws:sts::111122223333:assumed-role/delegated/second")
    );
}

#[tokio::test]
async fn assume_role_validates_its_parameters() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let alice = creds(ALICE_KEY, ALICE_SECRET);
    let resp = assume(&server, &alice, ROLE, "s1", &[("DurationSeconds", "899")]).await;
    sts_err(
        &resp,
        400,
        "ValidationError",
        Some("1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"),
    );
    let resp = assume(&server, &alice, ROLE, "s1", &[("DurationSeconds", "7200")]).await;
    sts_err(
        &resp,
        400,
        "ValidationError",
        Some("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."),
    );
    let resp = assume(&server, &alice, ROLE, "bad name", &[]).await;
    sts_err(
        &resp,
        400,
        "ValidationError",
        Some(
            r"1 validation error detected: Value 'bad name' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*",
        ),
    );
    let resp = assume(&server, &alice, ROLE, "x", &[]).await;
    sts_err(
        &resp,
        400,
        "ValidationError",
        Some("1 validation error detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"),
    );
    let resp = sts_call(&server, &alice, "AssumeRole", &[("RoleSessionName", "s1")]).await;
    sts_err(
        &resp,
        400,
        "ValidationError",
        Some("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"),
    );
    // Managed session policies are refused rather than ignored; a malformed or oversized
    // inline one is an error.
    let resp = assume(
        &server,
        &alice,
        ROLE,
        "s1",
        &[(
            "PolicyArns.member.1.arn",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        )],
    )
    .await;
    sts_err(&resp, 400, "InvalidParameterValue", None);
    let resp = assume(
        &server,
        &alice,
        ROLE,
        "s1",
        &[(
            "Policy",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt"}]}"#,
        )],
    )
    .await;
    sts_err(&resp, 400, "MalformedPolicyDocument", None);
    let long = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}]}}"#,
        "a".repeat(2048)
    );
    let resp = assume(&server, &alice, ROLE, "s1", &[("Policy", &long)]).await;
    sts_err(&resp, 400, "ValidationError", None);
    // Nothing was issued for any of them.
    let records = audit_records(server.data_dir());
    assert!(records
        .iter()
        .filter(|r| r["eventName"] == "AssumeRole")
        .all(|r| !r["errorCode"].is_null()));
}

#[tokio::test]
async fn the_aws_cli_gets_the_caller_identity() {
    let server = TestServer::start();
    let (success, out, err) = aws_cli(
        &server,
        &[
            "sts",
            "get-caller-identity",
            "--endpoint-url",
            server.endpoint(),
            "--output",
            "json",
        ],
        &[],
    );
    assert!(success, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["Arn"],
        format!("arn:aws:iam::{DEFAULT_ACCOUNT}:user/admin")
    );
    assert_eq!(v["Account"], DEFAULT_ACCOUNT);
    assert!(v["UserId"].as_str().unwrap().starts_with("AIDA"), "{v}");
}

#[tokio::test]
async fn an_aws_cli_profile_assumes_the_role() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let dir = tempfile::tempdir().unwrap();
    let aws_config = dir.path().join("config");
    let aws_credentials = dir.path().join("credentials");
    // The AWS CLI's assume-role provider makes its own STS call: `--endpoint-url` does
    // not reach it, the profile's `endpoint_url` (or AWS_ENDPOINT_URL[_STS]) does.
    std::fs::write(
        &aws_config,
        format!(
            "[profile base]\nregion = {REGION}\n\n[profile app]\nrole_arn = {ROLE}\nsource_profile = base\nregion = {REGION}\nendpoint_url = {}\n\n[profile app-env]\nrole_arn = {ROLE}\nsource_profile = base\nregion = {REGION}\n",
            server.endpoint()
        ),
    )
    .unwrap();
    std::fs::write(
        &aws_credentials,
        format!(
            "[base]\naws_access_key_id = {ALICE_KEY}\naws_secret_access_key = {ALICE_SECRET}\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str], extra: &[(&str, &str)]| {
        let mut c = trent_testkit::aws_cli::aws_cli_command(
            "aws",
            &trent_testkit::aws_cli::AwsCliEnv {
                config_file: Some(&aws_config),
                credentials_file: Some(&aws_credentials),
                // The CLI caches assumed-role credentials under ~/.aws/cli/cache: a
                // private HOME.
                home: Some(dir.path()),
                ..Default::default()
            },
        );
        c.args(args).envs(extra.iter().copied());
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };

    // endpoint_url in the profile: both the assume-role call and the command go to Trent.
    let me = run(
        &[
            "sts",
            "get-caller-identity",
            "--profile",
            "app",
            "--output",
            "json",
        ],
        &[],
    );
    let arn = me["Arn"].as_str().unwrap();
    assert!(
        arn.starts_with("arn:aws:sts::111122223333:assumed-role/encryptor/"),
        "{me}"
    );
    let keys = run(
        &["kms", "list-keys", "--profile", "app", "--output", "json"],
        &[],
    );
    assert!(keys["Keys"].is_array(), "{keys}");

    // AWS_ENDPOINT_URL_STS for the assume-role call, --endpoint-url for the command.
    let created = run(
        &[
            "kms",
            "create-key",
            "--profile",
            "app-env",
            "--endpoint-url",
            server.endpoint(),
            "--output",
            "json",
        ],
        &[("AWS_ENDPOINT_URL_STS", server.endpoint())],
    );
    assert!(created["KeyMetadata"]["KeyId"].is_string(), "{created}");
    let records = audit_records(server.data_dir());
    let create = records
        .iter()
        .find(|r| r["eventName"] == "CreateKey" && r["errorCode"].is_null())
        .expect("the CreateKey event");
    assert_eq!(create["userIdentity"]["type"], "AssumedRole", "{create}");
    assert_eq!(
        create["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"],
        ROLE
    );
}

/// A session policy narrows the session to what both the role's policies and it allow;
/// an explicit deny in it wins; a key policy that names the session's own ARN is not
/// narrowed by it (IAM: "Session policies": such resource-based permissions are added
/// after the session is created), while one naming the role is.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session>
#[tokio::test]
async fn session_policies_narrow_the_session() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let admin = server.client(REGION);
    let key_arn = ok(admin.create_key().send().await)
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let alice = creds(ALICE_KEY, ALICE_SECRET);
    let session_policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt","kms:DescribeKey"],"Resource":"*"},
        {"Effect":"Deny","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:purpose":"forbidden"}}}]}"#;
    let resp = assume(
        &server,
        &alice,
        ROLE,
        "narrow",
        &[("Policy", session_policy)],
    )
    .await;
    sts_ok(&resp);
    let (key, secret, token) = (
        xml(&resp, "AccessKeyId").unwrap(),
        xml(&resp, "SecretAccessKey").unwrap(),
        xml(&resp, "SessionToken").unwrap(),
    );
    let session_arn = "arn:aws:sts::111122223333:assumed-role/encryptor/narrow";
    let kms = kms_client(&server, &key, &secret, &token);

    // Both the role (kms:*) and the session policy allow these.
    let blob = ok(kms
        .encrypt()
        .key_id(&key_arn)
        .plaintext(Blob::new(b"narrow".to_vec()))
        .send()
        .await)
    .ciphertext_blob()
    .unwrap()
    .clone();
    ok(kms.decrypt().ciphertext_blob(blob).send().await);
    // The role allows CreateKey and GenerateDataKey; the session policy does not.
    expect_err(
        kms.create_key().send().await,
        "AccessDeniedException",
        Some(&format!("User: {session_arn} is not authorized to perform: kms:CreateKey on resource: * because no session policy allows the kms:CreateKey action")),
    );
    let e = expect_code(
        kms.generate_data_key()
            .key_id(&key_arn)
            .number_of_bytes(32)
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(e
        .message()
        .unwrap()
        .ends_with("because no session policy allows the kms:GenerateDataKey action"));
    // An explicit deny in the session policy wins over the role's allow.
    let e = expect_code(
        kms.encrypt()
            .key_id(&key_arn)
            .plaintext(Blob::new(b"x".to_vec()))
            .encryption_context("purpose", "forbidden")
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(e
        .message()
        .unwrap()
        .ends_with("with an explicit deny in a session policy"));

    // A key policy that names the role directly is still narrowed; one that names the
    // session's own ARN is not.
    let policy_naming = |principal: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"kms:GenerateDataKey","Resource":"*"}}]}}"#
        )
    };
    let by_role = ok(admin.create_key().policy(policy_naming(ROLE)).send().await)
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let e = expect_code(
        kms.generate_data_key()
            .key_id(&by_role)
            .number_of_bytes(32)
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(e
        .message()
        .unwrap()
        .ends_with("because no session policy allows the kms:GenerateDataKey action"));
    let by_session = ok(admin
        .create_key()
        .policy(policy_naming(session_arn))
        .send()
        .await)
    .key_metadata()
    .unwrap()
    .arn()
    .unwrap()
    .to_owned();
    ok(kms
        .generate_data_key()
        .key_id(&by_session)
        .number_of_bytes(32)
        .send()
        .await);

    // The same role without a session policy keeps all of the role's permissions.
    let resp = assume(&server, &alice, ROLE, "wide", &[]).await;
    let wide = kms_client(
        &server,
        &xml(&resp, "AccessKeyId").unwrap(),
        &xml(&resp, "SecretAccessKey").unwrap(),
        &xml(&resp, "SessionToken").unwrap(),
    );
    ok(wide.create_key().send().await);
    // And the narrowed session's token survives a restart with its policy.
    drop(kms);
    let mut server = server;
    server.restart();
    let kms = kms_client(&server, &key, &secret, &token);
    expect_code(kms.create_key().send().await, "AccessDeniedException");
}

/// `aws:userid` of an IAM user in KMS requests is its unique id, the `UserId` STS's
/// GetCallerIdentity gives (`AIDA...`), so key policies can condition on it.
#[tokio::test]
async fn kms_sees_an_iam_users_unique_id_as_aws_userid() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let resp = sts_call(
        &server,
        &creds(ALICE_KEY, ALICE_SECRET),
        "GetCallerIdentity",
        &[],
    )
    .await;
    let user_id = xml(&resp, "UserId").unwrap();
    let admin = server.client(REGION);
    // Alice may use the key (her identity policy allows kms:*) unless her aws:userid is
    // not `expected`.
    let key_for = |expected: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111122223333:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Deny","Principal":{{"AWS":"{ALICE_ARN}"}},"Action":"kms:Encrypt","Resource":"*",
              "Condition":{{"StringNotEquals":{{"aws:userid":"{expected}"}}}}}}]}}"#
        )
    };
    let alice = server.client_as(REGION, ALICE_KEY, ALICE_SECRET);
    for (expected, allowed) in [(user_id.as_str(), true), ("AIDANOTALICE0000000", false)] {
        let key = ok(admin.create_key().policy(key_for(expected)).send().await)
            .key_metadata()
            .unwrap()
            .arn()
            .unwrap()
            .to_owned();
        let out = alice
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"who".to_vec()))
            .send()
            .await;
        if allowed {
            ok(out);
        } else {
            expect_code(out, "AccessDeniedException");
        }
    }
}
