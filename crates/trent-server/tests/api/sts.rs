//! STS on Trent's endpoint: `GetCallerIdentity` and `AssumeRole` through the official
//! `aws-sdk-sts` and the AWS CLI (including a profile with `role_arn` + `source_profile`),
//! then KMS with the session credentials (`aws-sdk-kms` with a session token).

use std::process::Command;
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
use serde_json::Value;

use crate::harness::{
    assert_time_near, expect_err, now_secs, ok, TestServer, DEFAULT_ACCOUNT, REGION,
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
    )
}

fn sts_client(
    server: &TestServer,
    key: &str,
    secret: &str,
    token: Option<&str>,
) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(server.endpoint())
        .credentials_provider(Credentials::new(
            key,
            secret,
            token.map(str::to_owned),
            None,
            "trent-itests",
        ))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        )
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

fn kms_client(server: &TestServer, key: &str, secret: &str, token: &str) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new(REGION))
        .endpoint_url(server.endpoint())
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            key,
            secret,
            Some(token.to_owned()),
            None,
            "trent-itests",
        ))
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

#[tokio::test]
async fn get_caller_identity_with_the_sdk() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let out = ok(sts_client(&server, ALICE_KEY, ALICE_SECRET, None)
        .get_caller_identity()
        .send()
        .await);
    assert_eq!(out.arn(), Some(ALICE_ARN));
    assert_eq!(out.account(), Some(DEFAULT_ACCOUNT));
    assert!(out.user_id().unwrap().starts_with("AIDA"), "{out:?}");

    let out = ok(sts_client(
        &server,
        server.access_key_id(),
        server.secret_access_key(),
        None,
    )
    .get_caller_identity()
    .send()
    .await);
    assert_eq!(
        out.arn(),
        Some(format!("arn:aws:iam::{DEFAULT_ACCOUNT}:user/admin").as_str())
    );

    // STS's own error codes for credentials it does not know or a wrong secret.
    let e = sts_client(&server, "AKIAUNKNOWN000000001", "x", None)
        .get_caller_identity()
        .send()
        .await;
    expect_err(
        e,
        "InvalidClientTokenId",
        Some("The security token included in the request is invalid."),
    );
    let e = sts_client(&server, ALICE_KEY, "wrong", None)
        .get_caller_identity()
        .send()
        .await;
    expect_err(e, "SignatureDoesNotMatch", None);
}

fn aws_cli(server: &TestServer, args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new("aws");
    cmd.args(args);
    for var in [
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_KMS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", server.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", server.secret_access_key());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
async fn assume_role_then_use_kms_as_the_session() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let alice = sts_client(&server, ALICE_KEY, ALICE_SECRET, None);
    let out = ok(alice
        .assume_role()
        .role_arn(ROLE)
        .role_session_name("s1")
        .tags(
            aws_sdk_sts::types::Tag::builder()
                .key("project")
                .value("alpha")
                .build()
                .unwrap(),
        )
        .send()
        .await);
    let user = out.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        "arn:aws:sts::111122223333:assumed-role/encryptor/s1"
    );
    let role_id = user.assumed_role_id().strip_suffix(":s1").unwrap();
    assert!(
        role_id.starts_with("AROA") && role_id.len() == 21,
        "{role_id}"
    );
    let creds = out.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert_eq!(creds.secret_access_key().len(), 40);
    assert_time_near(creds.expiration(), now_secs() + 3600, 120);
    assert!(out.packed_policy_size().is_some());
    let (key, secret, token) = (
        creds.access_key_id().to_owned(),
        creds.secret_access_key().to_owned(),
        creds.session_token().to_owned(),
    );
    // The token carries the secret sealed, never in clear.
    assert!(!token.contains(&secret));

    // Who the session is, to STS.
    let me = ok(sts_client(&server, &key, &secret, Some(&token))
        .get_caller_identity()
        .send()
        .await);
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::111122223333:assumed-role/encryptor/s1")
    );
    assert_eq!(me.user_id(), Some(format!("{role_id}:s1").as_str()));

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
    assert_eq!(who["accessKeyId"], key);
    let issuer = &who["sessionContext"]["sessionIssuer"];
    assert_eq!(issuer["type"], "Role");
    assert_eq!(issuer["arn"], ROLE);
    assert_eq!(issuer["principalId"], role_id);
    assert_eq!(issuer["userName"], "encryptor");
    assert_eq!(issuer["accountId"], DEFAULT_ACCOUNT);
    let attributes = &who["sessionContext"]["attributes"];
    assert_eq!(attributes["mfaAuthenticated"], "false");
    assert!(attributes["creationDate"].as_str().unwrap().ends_with('Z'));

    // The AssumeRole call is in the trail as STS's, without secret or token.
    let records = audit_records(server.data_dir());
    let assume = records
        .iter()
        .find(|r| r["eventName"] == "AssumeRole" && r["errorCode"].is_null())
        .expect("the AssumeRole event");
    assert_eq!(assume["eventSource"], "sts.amazonaws.com");
    assert_eq!(assume["requestParameters"]["roleArn"], ROLE);
    assert_eq!(
        assume["responseElements"]["credentials"]["accessKeyId"],
        key
    );
    let text = assume.to_string();
    assert!(!text.contains(&secret) && !text.contains(&token), "{text}");

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

    // Bob is not in the encryptor's trust policy.
    let e = sts_client(&server, BOB_KEY, BOB_SECRET, None)
        .assume_role()
        .role_arn(ROLE)
        .role_session_name("s1")
        .send()
        .await;
    expect_err(
        e,
        "AccessDenied",
        Some(&format!(
            "User: {BOB_ARN} is not authorized to perform: sts:AssumeRole on resource: {ROLE}"
        )),
    );
    // A role that does not exist answers the same.
    let missing = "arn:aws:iam::111122223333:role/missing";
    let e = sts_client(&server, ALICE_KEY, ALICE_SECRET, None)
        .assume_role()
        .role_arn(missing)
        .role_session_name("s1")
        .send()
        .await;
    expect_err(
        e,
        "AccessDenied",
        Some(&format!(
            "User: {ALICE_ARN} is not authorized to perform: sts:AssumeRole on resource: {missing}"
        )),
    );

    // The delegated role trusts the account: the caller's identity policy decides.
    ok(sts_client(&server, CAROL_KEY, CAROL_SECRET, None)
        .assume_role()
        .role_arn(DELEGATED)
        .role_session_name("carol")
        .duration_seconds(7200)
        .send()
        .await);
    let e = sts_client(&server, ALICE_KEY, ALICE_SECRET, None)
        .assume_role()
        .role_arn(DELEGATED)
        .role_session_name("alice")
        .send()
        .await;
    expect_err(e, "AccessDenied", None);

    // The partner role wants the right external id.
    let alice = sts_client(&server, ALICE_KEY, ALICE_SECRET, None);
    let e = alice
        .assume_role()
        .role_arn(PARTNER)
        .role_session_name("p")
        .send()
        .await;
    expect_err(e, "AccessDenied", None);
    let e = alice
        .assume_role()
        .role_arn(PARTNER)
        .role_session_name("p")
        .external_id("ext-9999")
        .send()
        .await;
    expect_err(e, "AccessDenied", None);
    ok(alice
        .assume_role()
        .role_arn(PARTNER)
        .role_session_name("p")
        .external_id("ext-1234")
        .send()
        .await);

    // Session tags need sts:TagSession in the trust policy (the partner's lacks it).
    let e = alice
        .assume_role()
        .role_arn(PARTNER)
        .role_session_name("p")
        .external_id("ext-1234")
        .tags(
            aws_sdk_sts::types::Tag::builder()
                .key("k")
                .value("v")
                .build()
                .unwrap(),
        )
        .send()
        .await;
    expect_err(
        e,
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
    let e = sts_client(&server, "AKIAROOT111122223333", "root-secret-1234", None)
        .assume_role()
        .role_arn(DELEGATED)
        .role_session_name("root")
        .send()
        .await;
    expect_err(
        e,
        "AccessDenied",
        Some("Roles may not be assumed by root accounts."),
    );
}

#[tokio::test]
async fn assume_role_validates_its_parameters() {
    let config = ConfigFile::new(&config_text());
    let server = start_with_config(&config);
    let alice = sts_client(&server, ALICE_KEY, ALICE_SECRET, None);
    let e = alice
        .assume_role()
        .role_arn(ROLE)
        .role_session_name("s1")
        .duration_seconds(899)
        .send()
        .await;
    expect_err(
        e,
        "ValidationError",
        Some("1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"),
    );
    let e = alice
        .assume_role()
        .role_arn(ROLE)
        .role_session_name("s1")
        .duration_seconds(7200)
        .send()
        .await;
    expect_err(
        e,
        "ValidationError",
        Some("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."),
    );
    let e = alice
        .assume_role()
        .role_arn(ROLE)
        .role_session_name("bad name")
        .send()
        .await;
    expect_err(
        e,
        "ValidationError",
        Some(
            r"1 validation error detected: Value 'bad name' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*",
        ),
    );
    let e = alice
        .assume_role()
        .role_arn(ROLE)
        .role_session_name("x")
        .send()
        .await;
    expect_err(
        e,
        "ValidationError",
        Some("1 validation error detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"),
    );
    // Nothing was issued for any of them.
    let records = audit_records(server.data_dir());
    assert!(records
        .iter()
        .filter(|r| r["eventName"] == "AssumeRole")
        .all(|r| r["errorCode"] == "ValidationError"));
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
    let files = [
        ("AWS_CONFIG_FILE", aws_config.to_str().unwrap()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            aws_credentials.to_str().unwrap(),
        ),
    ];
    let run = |args: &[&str], extra: &[(&str, &str)]| {
        let mut envs = files.to_vec();
        envs.extend_from_slice(extra);
        let mut c = Command::new("aws");
        c.args(args);
        for var in [
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_STS",
            "AWS_ENDPOINT_URL_KMS",
        ] {
            c.env_remove(var);
        }
        for (k, v) in envs {
            c.env(k, v);
        }
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
