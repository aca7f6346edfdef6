//! Key policies through the real server: CreateKey's `Policy` and the default key policy,
//! PutKeyPolicy (the lockout safety check and `BypassPolicyLockoutSafetyCheck`),
//! GetKeyPolicy, ListKeyPolicies, malformed documents with AWS's messages, the size limits.
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html>

use crate::harness::*;

/// AWS's default key policy, as GetKeyPolicy returns it (KMS's own formatting).
/// <https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html>
fn default_policy(account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:aws:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

fn policy(statements: &str) -> String {
    format!("{{\"Version\":\"2012-10-17\",\"Statement\":[{statements}]}}")
}

/// Allows the account (and so, through IAM, the administrator) everything.
fn account_statement() -> String {
    format!(
        r#"{{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{DEFAULT_ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}"#
    )
}

const LOCKOUT: &str =
    "The new key policy will not allow you to update the key policy in the future.";

#[tokio::test]
async fn a_key_without_a_policy_gets_the_default_key_policy() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    for (key, name) in [(&key_id, None), (&arn, Some("default"))] {
        let out = ok(client
            .get_key_policy()
            .key_id(key)
            .set_policy_name(name.map(str::to_owned))
            .send()
            .await);
        assert_eq!(out.policy(), Some(default_policy(DEFAULT_ACCOUNT).as_str()));
        assert_eq!(out.policy_name(), Some("default"));
    }
    let list = ok(client.list_key_policies().key_id(&key_id).send().await);
    assert_eq!(list.policy_names(), ["default"]);
    assert!(!list.truncated());
    assert_eq!(list.next_marker(), None);
    let list = ok(client
        .list_key_policies()
        .key_id(&arn)
        .limit(1)
        .send()
        .await);
    assert_eq!(list.policy_names(), ["default"]);
}

#[tokio::test]
async fn create_key_stores_the_given_policy_byte_for_byte_and_put_key_policy_replaces_it() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let given = format!(
        "{{\n  \"Version\": \"2012-10-17\",\n  \"Id\": \"my-policy é\",\n  \"Statement\": [\n    {}\n  ]\n}}\n",
        account_statement()
    );
    let out = ok(client.create_key().policy(&given).send().await);
    let key = out.key_metadata().unwrap().key_id().to_owned();
    let got = ok(client.get_key_policy().key_id(&key).send().await);
    assert_eq!(got.policy(), Some(given.as_str()));

    let replaced = policy(&format!(
        "{},{}",
        account_statement(),
        r#"{"Sid":"deny-decrypt","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}"#
    ));
    let blob = encrypt(&client, &key, b"before").await;
    ok(client
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(&replaced)
        .send()
        .await);
    let got = ok(client.get_key_policy().key_id(&key).send().await);
    assert_eq!(got.policy(), Some(replaced.as_str()));
    // In force on the very next request.
    let e = client.decrypt().ciphertext_blob(blob).send().await;
    let arn = key_arn(REGION, DEFAULT_ACCOUNT, &key);
    expect_err(
        e,
        "AccessDeniedException",
        Some(&format!(
            "User: arn:aws:iam::{DEFAULT_ACCOUNT}:user/admin is not authorized to perform: kms:Decrypt on resource: {arn} with an explicit deny in a resource-based policy"
        )),
    );
}

#[tokio::test]
async fn the_lockout_safety_check_and_its_bypass() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let other = policy(
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/someone-else"},"Action":"kms:*","Resource":"*"}"#,
    );
    // CreateKey: refused, and no key is created.
    let before = ok(client.list_keys().send().await).keys().len();
    let e = client.create_key().policy(&other).send().await;
    expect_err(e, "MalformedPolicyDocumentException", Some(LOCKOUT));
    assert_eq!(ok(client.list_keys().send().await).keys().len(), before);

    // PutKeyPolicy: refused, the policy stays.
    let (key, arn) = create_key(&client).await;
    let e = client
        .put_key_policy()
        .key_id(&key)
        .policy(&other)
        .send()
        .await;
    expect_err(e, "MalformedPolicyDocumentException", Some(LOCKOUT));
    let e = client
        .put_key_policy()
        .key_id(&key)
        .policy(&other)
        .bypass_policy_lockout_safety_check(false)
        .send()
        .await;
    expect_err(e, "MalformedPolicyDocumentException", Some(LOCKOUT));
    let got = ok(client.get_key_policy().key_id(&key).send().await);
    assert_eq!(got.policy(), Some(default_policy(DEFAULT_ACCOUNT).as_str()));

    // A Deny of PutKeyPolicy fails the check too.
    let deny_put = policy(&format!(
        "{},{}",
        account_statement(),
        r#"{"Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*"}"#
    ));
    let e = client
        .put_key_policy()
        .key_id(&key)
        .policy(&deny_put)
        .send()
        .await;
    expect_err(e, "MalformedPolicyDocumentException", Some(LOCKOUT));

    // Bypassed: stored, and the administrator is locked out as the check warned.
    ok(client
        .put_key_policy()
        .key_id(&key)
        .policy(&other)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await);
    let e = client.get_key_policy().key_id(&key).send().await;
    expect_err(
        e,
        "AccessDeniedException",
        Some(&format!(
            "User: arn:aws:iam::{DEFAULT_ACCOUNT}:user/admin is not authorized to perform: kms:GetKeyPolicy on resource: {arn} because no resource-based policy allows the kms:GetKeyPolicy action"
        )),
    );
    // CreateKey with the bypass creates the (unmanageable) key.
    let out = ok(client
        .create_key()
        .policy(&other)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await);
    let locked = out.key_metadata().unwrap().key_id().to_owned();
    let e = client.describe_key().key_id(&locked).send().await;
    expect_code(e, "AccessDeniedException");
}

#[tokio::test]
async fn malformed_policies_are_refused_with_aws_messages() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key, _) = create_key(&client).await;
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "{not json".into(),
            "MalformedPolicyDocumentException",
            "Syntax errors in policy.",
        ),
        (
            r#"{"Version":"2012-10-17","Statment":[]}"#.into(),
            "MalformedPolicyDocumentException",
            "Unknown field Statment",
        ),
        (
            policy(r#"{"Effect":"Allow","Action":"kms:*","Resource":"*"}"#),
            "MalformedPolicyDocumentException",
            "Policy contains a statement with no principal.",
        ),
        (
            policy(
                r#"{"Effect":"Allow","Principal":{"AWS":"not-a-principal"},"Action":"kms:*","Resource":"*"}"#,
            ),
            "MalformedPolicyDocumentException",
            "Policy contains a statement with one or more invalid principals.",
        ),
    ];
    for (document, code, message) in &cases {
        let e = client
            .put_key_policy()
            .key_id(&key)
            .policy(document)
            .send()
            .await;
        expect_err(e, code, Some(message));
        let e = client.create_key().policy(document).send().await;
        expect_err(e, code, Some(message));
    }
    // Over the 32 KiB key policy quota (within the model's 131072 characters).
    let big = policy(&format!(
        r#"{},{{"Sid":"{}","Effect":"Allow","Principal":"*","Action":"kms:DescribeKey","Resource":"*"}}"#,
        account_statement(),
        "x".repeat(33_000)
    ));
    let e = client
        .put_key_policy()
        .key_id(&key)
        .policy(&big)
        .send()
        .await;
    expect_code(e, "LimitExceededException");
    let e = client.create_key().policy(&big).send().await;
    expect_code(e, "LimitExceededException");
    // Outside the model's character set (tab, line breaks, U+0020-U+00FF).
    let e = client
        .put_key_policy()
        .key_id(&key)
        .policy(policy(&account_statement()).replace("Enable", "Enable ✓"))
        .send()
        .await;
    expect_code(e, "ValidationException");
    // Past the model's length constraint: a validation error before anything else.
    let huge = "x".repeat(131_073);
    let e = client
        .put_key_policy()
        .key_id(&key)
        .policy(&huge)
        .send()
        .await;
    expect_code(e, "ValidationException");
    // Only `default` exists.
    let e = client
        .get_key_policy()
        .key_id(&key)
        .policy_name("other")
        .send()
        .await;
    expect_code(e, "NotFoundException");
    let e = client
        .put_key_policy()
        .key_id(&key)
        .policy_name("other")
        .policy(default_policy(DEFAULT_ACCOUNT))
        .send()
        .await;
    expect_code(e, "NotFoundException");
    // Nothing changed.
    let got = ok(client.get_key_policy().key_id(&key).send().await);
    assert_eq!(got.policy(), Some(default_policy(DEFAULT_ACCOUNT).as_str()));
}

#[tokio::test]
async fn key_policy_operations_work_in_every_key_state_and_need_an_existing_key() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key, _) = create_key(&client).await;
    ok(client.disable_key().key_id(&key).send().await);
    ok(client.get_key_policy().key_id(&key).send().await);
    ok(client
        .put_key_policy()
        .key_id(&key)
        .policy(policy(&account_statement()))
        .send()
        .await);
    ok(client
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await);
    ok(client.list_key_policies().key_id(&key).send().await);
    ok(client
        .put_key_policy()
        .key_id(&key)
        .policy(default_policy(DEFAULT_ACCOUNT))
        .send()
        .await);
    let got = ok(client.get_key_policy().key_id(&key).send().await);
    assert_eq!(got.policy(), Some(default_policy(DEFAULT_ACCOUNT).as_str()));

    let missing = random_key_id();
    let message = format!(
        "Key '{}' does not exist",
        key_arn(REGION, DEFAULT_ACCOUNT, &missing)
    );
    let e = client.get_key_policy().key_id(&missing).send().await;
    expect_err(e, "NotFoundException", Some(&message));
    let e = client
        .put_key_policy()
        .key_id(&missing)
        .policy(default_policy(DEFAULT_ACCOUNT))
        .send()
        .await;
    expect_err(e, "NotFoundException", Some(&message));
    let e = client.list_key_policies().key_id(&missing).send().await;
    expect_err(e, "NotFoundException", Some(&message));
    // Key policy operations take a key id or ARN, never an alias.
    let (other, _) = create_key(&client).await;
    create_alias(&client, "alias/kp", &other).await;
    let e = client.get_key_policy().key_id("alias/kp").send().await;
    expect_code(e, "NotFoundException");
}
