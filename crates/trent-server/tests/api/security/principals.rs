//! Issue 13, item 1 and three bullets of item 7: principals the policy crate could not
//! parse were taken for their account's root; sessions outlived their role; policies with
//! duplicate JSON keys were enforced last-wins; encryption context keys differing only by
//! case merged into one condition value.

use std::collections::HashMap;

use aws_sdk_kms::primitives::Blob;
use serde_json::json;

use crate::harness::{expect_err, ok, DEFAULT_ACCOUNT, REGION};
use crate::identities::{
    refused_at_start, sighup, start_with_config, user, wait_for_log, ConfigFile, ALICE_ARN,
    ALICE_KEY, ALICE_SECRET,
};
use crate::sts::{assume, creds, kms_client, sts_err, sts_ok, xml};

/// A path IAM allows (`/` + any printable ASCII + `/`) that the policy crate used to
/// refuse.
const TILDE_ARN: &str = "arn:aws:iam::111122223333:user/x~y/alice";
const TILDE_KEY: &str = "AKIATILDE00000000001";
const TILDE_SECRET: &str = "tilde-secret-0123456789";
const TILDE_BOB_ARN: &str = "arn:aws:iam::111122223333:user/x~y/bob";
const TILDE_BOB_KEY: &str = "AKIATILDEBOB00000001";
const TILDE_BOB_SECRET: &str = "tilde-bob-secret-0123456789";
const PLAIN_ARN: &str = "arn:aws:iam::111122223333:user/plain/carol";
const PLAIN_KEY: &str = "AKIAPLAIN00000000001";
const PLAIN_SECRET: &str = "plain-secret-0123456789";
const ROLE: &str = "arn:aws:iam::111122223333:role/app/encryptor";

fn no_identity_policy(arn: &str, action: &str, resource: &str) -> String {
    format!(
        "User: {arn} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action"
    )
}

#[tokio::test]
async fn a_user_with_any_printable_ascii_in_its_path_is_itself_not_its_account_root() {
    let config = ConfigFile::new(&format!(
        "{}{}{}",
        user(TILDE_ARN, TILDE_KEY, TILDE_SECRET, &[]),
        user(
            TILDE_BOB_ARN,
            TILDE_BOB_KEY,
            TILDE_BOB_SECRET,
            &[("all", "kms:*")]
        ),
        user(PLAIN_ARN, PLAIN_KEY, PLAIN_SECRET, &[]),
    ));
    let server = start_with_config(&config);
    let tilde = server.client_as(REGION, TILDE_KEY, TILDE_SECRET);
    let plain = server.client_as(REGION, PLAIN_KEY, PLAIN_SECRET);
    let bob = server.client_as(REGION, TILDE_BOB_KEY, TILDE_BOB_SECRET);

    // No identity policy: denied, as a user with an ordinary path is (before the fix the
    // `~` user was its account's root and created the key).
    for (client, arn) in [(&tilde, TILDE_ARN), (&plain, PLAIN_ARN)] {
        let e = client.create_key().send().await;
        expect_err(
            e,
            "AccessDeniedException",
            Some(&no_identity_policy(arn, "kms:CreateKey", "*")),
        );
        let e = client.list_keys().send().await;
        expect_err(
            e,
            "AccessDeniedException",
            Some(&no_identity_policy(arn, "kms:ListKeys", "*")),
        );
    }

    // A user with such a path and a policy that allows: works, as itself.
    let key = ok(bob.create_key().send().await).key_metadata.unwrap();
    let blob = ok(bob
        .encrypt()
        .key_id(key.key_id())
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await)
    .ciphertext_blob
    .unwrap();
    let e = tilde.decrypt().ciphertext_blob(blob).send().await;
    expect_err(
        e,
        "AccessDeniedException",
        Some(&no_identity_policy(
            TILDE_ARN,
            "kms:Decrypt",
            key.arn().unwrap(),
        )),
    );
    // AWS KMS's model limits grantee and retiring principals to `[\w+=,.@:/-]+`, so a
    // grant cannot name it (as in AWS); a key policy can.
    let e = bob
        .create_grant()
        .key_id(key.key_id())
        .grantee_principal(TILDE_ARN)
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await;
    expect_err(e, "ValidationException", None);
    let e = tilde
        .list_retirable_grants()
        .retiring_principal(PLAIN_ARN)
        .send()
        .await;
    expect_err(
        e,
        "AccessDeniedException",
        Some(&no_identity_policy(
            TILDE_ARN,
            "kms:ListRetirableGrants",
            PLAIN_ARN,
        )),
    );
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": TILDE_ARN},
             "Action": "kms:DescribeKey", "Resource": "*"}
        ]
    });
    ok(bob
        .put_key_policy()
        .key_id(key.key_id())
        .policy(policy.to_string())
        .send()
        .await);
    ok(tilde.describe_key().key_id(key.arn().unwrap()).send().await);
    let e = tilde.disable_key().key_id(key.arn().unwrap()).send().await;
    expect_err(e, "AccessDeniedException", None);
}

#[tokio::test]
async fn a_principal_iam_would_not_create_is_refused_at_start_and_on_reload() {
    // At start: the entry is named, whatever is wrong with it.
    for (arn, expect) in [
        ("arn:aws:iam::111122223333:user/a b/alice", "path"),
        ("arn:aws:iam::111122223333:user/al~ice", "name"),
        ("arn:aws-x1:iam::111122223333:user/alice", "partition"),
    ] {
        let config = ConfigFile::new(&user(arn, TILDE_KEY, TILDE_SECRET, &[]));
        let err = refused_at_start(&config);
        assert!(
            err.contains(&format!("[[users]] entry 1 ({arn:?})")) && err.contains(expect),
            "{arn}: {err}"
        );
        assert!(!err.contains(TILDE_SECRET), "{err}");
    }
    let long_role = format!("arn:aws:iam::111122223333:role/{}", "r".repeat(65));
    let config = ConfigFile::new(&format!(
        "[[roles]]\narn = \"{long_role}\"\ntrust_policy = '{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::111122223333:root\"}},\"Action\":\"sts:AssumeRole\"}}]}}'\n"
    ));
    let err = refused_at_start(&config);
    assert!(
        err.contains("[[roles]] entry 1") && err.contains("1 to 64"),
        "{err}"
    );

    // On SIGHUP: refused with the entry named in the log; the directory in force stays.
    let config = ConfigFile::new(&user(
        TILDE_ARN,
        TILDE_KEY,
        TILDE_SECRET,
        &[("list", "kms:ListKeys")],
    ));
    let server = start_with_config(&config);
    let tilde = server.client_as(REGION, TILDE_KEY, TILDE_SECRET);
    ok(tilde.list_keys().send().await);
    config.write(&format!(
        "{}{}",
        user(TILDE_ARN, TILDE_KEY, TILDE_SECRET, &[]),
        user(
            "arn:aws:iam::111122223333:user/a b/mallory",
            PLAIN_KEY,
            PLAIN_SECRET,
            &[]
        ),
    ));
    sighup(&server);
    wait_for_log(&server, "SIGHUP: config file refused", 1);
    let logs = server.logs();
    assert!(
        logs.contains("[[users]] entry 2") && logs.contains("path"),
        "{logs}"
    );
    ok(tilde.list_keys().send().await);
    let e = server
        .client_as(REGION, PLAIN_KEY, PLAIN_SECRET)
        .list_keys()
        .send()
        .await;
    expect_err(e, "UnrecognizedClientException", None);
}

fn role_config(role_id: Option<&str>, with_role: bool) -> String {
    let mut text = user(ALICE_ARN, ALICE_KEY, ALICE_SECRET, &[]);
    if with_role {
        text.push_str(&format!("[[roles]]\narn = \"{ROLE}\"\n"));
        if let Some(id) = role_id {
            text.push_str(&format!("id = \"{id}\"\n"));
        }
        text.push_str(&format!(
            "trust_policy = '''{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"{ALICE_ARN}\"}},\"Action\":\"sts:AssumeRole\"}}]}}'''\n"
        ));
    }
    text
}

#[tokio::test]
async fn sessions_of_a_removed_or_recreated_role_are_refused() {
    let config = ConfigFile::new(&role_config(None, true));
    let server = start_with_config(&config);
    let admin = server.client(REGION);
    // The key policy names the role's ARN: its sessions need no identity policy.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": ROLE},
             "Action": "kms:Encrypt", "Resource": "*"}
        ]
    });
    let key = ok(admin.create_key().policy(policy.to_string()).send().await)
        .key_metadata
        .unwrap()
        .key_id;
    let resp = assume(&server, &creds(ALICE_KEY, ALICE_SECRET), ROLE, "s1", &[]).await;
    sts_ok(&resp);
    let session = kms_client(
        &server,
        &xml(&resp, "AccessKeyId").unwrap(),
        &xml(&resp, "SecretAccessKey").unwrap(),
        &xml(&resp, "SessionToken").unwrap(),
    );
    let encrypt = || {
        session
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
    };
    ok(encrypt().await);

    // The role is removed: its session is an invalid token from now on.
    config.write(&role_config(None, false));
    sighup(&server);
    wait_for_log(&server, "SIGHUP: identities reloaded", 1);
    expect_err(
        encrypt().await,
        "UnrecognizedClientException",
        Some("The security token included in the request is invalid."),
    );

    // Created again as a new role (a new unique id, as IAM gives it): still refused.
    config.write(&role_config(Some("AROARECREATED00000001"), true));
    sighup(&server);
    wait_for_log(&server, "SIGHUP: identities reloaded", 2);
    expect_err(
        encrypt().await,
        "UnrecognizedClientException",
        Some("The security token included in the request is invalid."),
    );
    // ...while the new role's own sessions work.
    let resp = assume(&server, &creds(ALICE_KEY, ALICE_SECRET), ROLE, "s2", &[]).await;
    sts_ok(&resp);
    assert!(xml(&resp, "AssumedRoleId")
        .unwrap()
        .starts_with("AROARECREATED00000001:"));
    let fresh = kms_client(
        &server,
        &xml(&resp, "AccessKeyId").unwrap(),
        &xml(&resp, "SecretAccessKey").unwrap(),
        &xml(&resp, "SessionToken").unwrap(),
    );
    ok(fresh
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await);
}

const DUPLICATE_EFFECT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;
const DUPLICATE_MESSAGE: &str =
    "The policy document has the field Effect more than once in the same JSON object.";

#[tokio::test]
async fn policies_with_duplicate_json_keys_are_refused() {
    let config = ConfigFile::new(&role_config(None, true));
    let server = start_with_config(&config);
    let admin = server.client(REGION);

    // Key policies: CreateKey and PutKeyPolicy; nothing changes.
    let before = ok(admin.list_keys().send().await).keys().len();
    let e = admin.create_key().policy(DUPLICATE_EFFECT).send().await;
    expect_err(
        e,
        "MalformedPolicyDocumentException",
        Some(DUPLICATE_MESSAGE),
    );
    assert_eq!(ok(admin.list_keys().send().await).keys().len(), before);
    let key = ok(admin.create_key().send().await)
        .key_metadata
        .unwrap()
        .key_id;
    let policy_of = || {
        admin
            .get_key_policy()
            .key_id(&key)
            .policy_name("default")
            .send()
    };
    let original = ok(policy_of().await).policy;
    let e = admin
        .put_key_policy()
        .key_id(&key)
        .policy(DUPLICATE_EFFECT)
        .send()
        .await;
    expect_err(
        e,
        "MalformedPolicyDocumentException",
        Some(DUPLICATE_MESSAGE),
    );
    assert_eq!(ok(policy_of().await).policy, original);

    // Session policies in AssumeRole.
    let session_policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Resource":"*"}]}"#;
    let resp = assume(
        &server,
        &creds(ALICE_KEY, ALICE_SECRET),
        ROLE,
        "s1",
        &[("Policy", session_policy)],
    )
    .await;
    sts_err(
        &resp,
        400,
        "MalformedPolicyDocument",
        Some("The policy document has the field Resource more than once in the same JSON object."),
    );

    // Identity policies in the config file: refused at start, with the entry named.
    let config = ConfigFile::new(&format!(
        "[[users]]\narn = \"{TILDE_ARN}\"\n[users.policies]\ntwice = '''{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Deny\",\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}}]}}'''\n"
    ));
    let err = refused_at_start(&config);
    assert!(
        err.contains("[[users]] entry 1")
            && err.contains("policy \"twice\"")
            && err.contains(DUPLICATE_MESSAGE),
        "{err}"
    );
}

#[tokio::test]
async fn encryption_context_keys_differing_only_by_case_hide_no_value() {
    let config = ConfigFile::new(&user(TILDE_ARN, TILDE_KEY, TILDE_SECRET, &[]));
    let server = start_with_config(&config);
    let admin = server.client(REGION);
    // The key policy lets the user encrypt for tenant A only.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root")},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": TILDE_ARN},
             "Action": "kms:Encrypt", "Resource": "*",
             "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "A"}}}
        ]
    });
    let key = ok(admin.create_key().policy(policy.to_string()).send().await)
        .key_metadata
        .unwrap();
    let user = server.client_as(REGION, TILDE_KEY, TILDE_SECRET);
    let encrypt = |context: &[(&str, &str)]| {
        let context: HashMap<String, String> = context
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        user.encrypt()
            .key_id(key.key_id())
            .plaintext(Blob::new(b"x".to_vec()))
            .set_encryption_context(Some(context))
            .send()
    };
    // The context key in the condition key is matched without regard to case...
    ok(encrypt(&[("tenant", "A")]).await);
    ok(encrypt(&[("Tenant", "A")]).await);
    expect_err(
        encrypt(&[("tenant", "B")]).await,
        "AccessDeniedException",
        None,
    );
    // ...so with both `tenant` and `Tenant`, each value must pass: B does not.
    let e = encrypt(&[("tenant", "A"), ("Tenant", "B")]).await;
    let e = expect_err(e, "AccessDeniedException", None);
    let prefix = format!(
        "User: {TILDE_ARN} is not authorized to perform: kms:Encrypt on resource: {}",
        key.arn().unwrap()
    );
    assert!(
        aws_sdk_kms::error::ProvideErrorMetadata::message(&e)
            .is_some_and(|m| m.starts_with(&prefix)),
        "{e:?}"
    );
    ok(encrypt(&[("tenant", "A"), ("Tenant", "A")]).await);
}
