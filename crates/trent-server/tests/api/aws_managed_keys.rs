//! AWS managed keys: AWS's predefined `alias/aws/*` aliases, listed without a key until
//! DescribeKey on one makes its key (KeyManager AWS, rotation on, AWS's policy), which
//! nobody may change.

use std::collections::BTreeSet;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyManagerType, Tag};
use aws_sdk_kms::Client;

use crate::harness::{create_alias, create_key, expect_code, ok, TestServer, REGION};

const ADMIN: &str = "arn:aws:iam::111122223333:user/admin";
const PREDEFINED: [&str; 14] = [
    "alias/aws/acm",
    "alias/aws/dynamodb",
    "alias/aws/ebs",
    "alias/aws/elasticfilesystem",
    "alias/aws/es",
    "alias/aws/glue",
    "alias/aws/kinesisvideo",
    "alias/aws/lambda",
    "alias/aws/rds",
    "alias/aws/redshift",
    "alias/aws/s3",
    "alias/aws/secretsmanager",
    "alias/aws/ssm",
    "alias/aws/xray",
];

/// Every alias, page by page (`limit` each): (name, target).
async fn all_aliases(client: &Client, limit: i32) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = ok(client
            .list_aliases()
            .limit(limit)
            .set_marker(marker.clone())
            .send()
            .await);
        assert!(page.aliases().len() <= limit as usize);
        out.extend(page.aliases().iter().map(|a| {
            (
                a.alias_name().unwrap().to_owned(),
                a.target_key_id().map(str::to_owned),
            )
        }));
        if !page.truncated() {
            return out;
        }
        marker = page.next_marker().map(str::to_owned);
    }
}

#[tokio::test]
async fn predefined_aliases_are_listed_without_a_key_until_describe_key_makes_it() {
    let server = TestServer::start();
    let client = server.client(REGION);

    // A fresh account: the fourteen, no key, no dates; with customer aliases around them,
    // every page size lists each alias once, in name order.
    let fresh = ok(client.list_aliases().send().await);
    let names: Vec<&str> = fresh
        .aliases()
        .iter()
        .map(|a| a.alias_name().unwrap())
        .collect();
    assert_eq!(names, PREDEFINED);
    for a in fresh.aliases() {
        assert_eq!(
            a.alias_arn(),
            Some(
                format!(
                    "arn:aws:kms:{REGION}:111122223333:{}",
                    a.alias_name().unwrap()
                )
                .as_str()
            )
        );
        assert!(a.target_key_id().is_none() && a.creation_date().is_none());
    }
    let (key, _) = create_key(&client).await;
    for name in ["alias/a", "alias/aws-not-reserved", "alias/m", "alias/zzz"] {
        create_alias(&client, name, &key).await;
    }
    let mut expected: Vec<String> = PREDEFINED.iter().map(|s| s.to_string()).collect();
    expected
        .extend(["alias/a", "alias/aws-not-reserved", "alias/m", "alias/zzz"].map(String::from));
    expected.sort();
    for limit in [1, 3, 5, 100] {
        let listed: Vec<String> = all_aliases(&client, limit)
            .await
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(listed, expected, "limit {limit}");
    }
    // Filtered by a key: only that key's aliases.
    let of_key = ok(client.list_aliases().key_id(&key).send().await);
    assert_eq!(of_key.aliases().len(), 4);

    // DescribeKey makes the key, once, whatever the form of the alias.
    let made = ok(client.describe_key().key_id("alias/aws/s3").send().await);
    let md = made.key_metadata().unwrap();
    assert_eq!(md.key_manager(), Some(&KeyManagerType::Aws));
    assert_eq!(
        md.description(),
        Some("Default key that protects my S3 objects when no other key is defined")
    );
    assert!(md.enabled());
    assert_eq!(md.key_spec().unwrap().as_str(), "SYMMETRIC_DEFAULT");
    assert_eq!(md.origin().unwrap().as_str(), "AWS_KMS");
    let key_id = md.key_id().to_owned();
    let again = ok(client
        .describe_key()
        .key_id(format!("arn:aws:kms:{REGION}:111122223333:alias/aws/s3"))
        .send()
        .await);
    assert_eq!(again.key_metadata().unwrap().key_id(), key_id);
    let listed = all_aliases(&client, 100).await;
    assert!(listed.contains(&("alias/aws/s3".to_owned(), Some(key_id.clone()))));
    assert_eq!(
        listed.len(),
        expected.len(),
        "listed once, now with its key"
    );
    let keys = ok(client.list_keys().send().await);
    assert_eq!(keys.keys().len(), 2);

    // Rotation every 365 days, on.
    let rotation = ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await);
    assert!(rotation.key_rotation_enabled());
    assert_eq!(rotation.rotation_period_in_days(), Some(365));
    // AWS's policy: use through S3 only, metadata to the account.
    let policy = ok(client.get_key_policy().key_id(&key_id).send().await);
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(
        statements[0]["Condition"]["StringEquals"]["kms:ViaService"],
        format!("s3.{REGION}.amazonaws.com")
    );
    assert_eq!(
        statements[0]["Condition"]["StringEquals"]["kms:CallerAccount"],
        "111122223333"
    );
    assert_eq!(
        statements[1]["Action"],
        serde_json::json!(["kms:Describe*", "kms:Get*", "kms:List*"])
    );
    ok(client.list_resource_tags().key_id(&key_id).send().await);

    // Not a predefined alias: nothing is made.
    expect_code(
        client.describe_key().key_id("alias/aws/sns").send().await,
        "NotFoundException",
    );
}

/// Nobody changes an AWS managed key, not even an administrator whose IAM policy allows
/// everything: its policy allows no change (AccessDeniedException, as AWS answers), and
/// it is used only through its service.
#[tokio::test]
async fn an_aws_managed_key_cannot_be_changed_or_used_directly() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let key_id = ok(client.describe_key().key_id("alias/aws/ebs").send().await)
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let arn = format!("arn:aws:kms:{REGION}:111122223333:key/{key_id}");
    let denied = |action: &str| {
        format!("User: {ADMIN} is not authorized to perform: kms:{action} on resource: {arn} because no resource-based policy allows the kms:{action} action")
    };
    let check = |action: &'static str| {
        let message = denied(action);
        move |e: Option<&str>| assert_eq!(e, Some(message.as_str()), "{action}")
    };
    macro_rules! refused {
        ($action:literal, $call:expr) => {
            let e = expect_code($call.send().await, "AccessDeniedException");
            check($action)(aws_sdk_kms::error::ProvideErrorMetadata::message(&e));
        };
    }
    refused!(
        "PutKeyPolicy",
        client
            .put_key_policy()
            .key_id(&key_id)
            .policy_name("default")
            .policy(trent_policy::default_key_policy("111122223333"))
    );
    refused!("DisableKey", client.disable_key().key_id(&key_id));
    refused!("EnableKey", client.enable_key().key_id(&key_id));
    refused!(
        "ScheduleKeyDeletion",
        client.schedule_key_deletion().key_id(&key_id)
    );
    refused!(
        "CancelKeyDeletion",
        client.cancel_key_deletion().key_id(&key_id)
    );
    refused!(
        "DisableKeyRotation",
        client.disable_key_rotation().key_id(&key_id)
    );
    refused!(
        "EnableKeyRotation",
        client.enable_key_rotation().key_id(&key_id)
    );
    refused!(
        "RotateKeyOnDemand",
        client.rotate_key_on_demand().key_id(&key_id)
    );
    refused!(
        "TagResource",
        client
            .tag_resource()
            .key_id(&key_id)
            .tags(Tag::builder().tag_key("k").tag_value("v").build().unwrap())
    );
    refused!(
        "UntagResource",
        client.untag_resource().key_id(&key_id).tag_keys("k")
    );
    refused!(
        "UpdateKeyDescription",
        client
            .update_key_description()
            .key_id(&key_id)
            .description("mine")
    );
    refused!(
        "CreateAlias",
        client
            .create_alias()
            .alias_name("alias/mine")
            .target_key_id(&key_id)
    );
    // Used directly (not through EC2): the policy's kms:ViaService condition fails.
    expect_code(
        client
            .encrypt()
            .key_id("alias/aws/ebs")
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "AccessDeniedException",
    );
    // Still as made.
    let md = ok(client.describe_key().key_id(&key_id).send().await);
    assert!(md.key_metadata().unwrap().enabled());
    assert!(ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await)
    .key_rotation_enabled());
    assert!(ok(client.list_resource_tags().key_id(&key_id).send().await)
        .tags()
        .is_empty());
}

/// `alias/aws/` names are AWS's: CreateAlias, UpdateAlias and DeleteAlias answer
/// NotAuthorizedException with no message.
#[tokio::test]
async fn reserved_alias_names_are_refused() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key, _) = create_key(&client).await;
    ok(client.describe_key().key_id("alias/aws/rds").send().await);
    for name in ["alias/aws/mine", "alias/aws/rds", "alias/aws/s3"] {
        let e = expect_code(
            client
                .create_alias()
                .alias_name(name)
                .target_key_id(&key)
                .send()
                .await,
            "NotAuthorizedException",
        );
        assert_eq!(aws_sdk_kms::error::ProvideErrorMetadata::message(&e), None);
        let e = expect_code(
            client
                .update_alias()
                .alias_name(name)
                .target_key_id(&key)
                .send()
                .await,
            "NotAuthorizedException",
        );
        assert_eq!(aws_sdk_kms::error::ProvideErrorMetadata::message(&e), None);
        let e = expect_code(
            client.delete_alias().alias_name(name).send().await,
            "NotAuthorizedException",
        );
        assert_eq!(aws_sdk_kms::error::ProvideErrorMetadata::message(&e), None);
    }
    // The AWS managed key of alias/aws/rds is still its target.
    let listed = ok(client.list_aliases().send().await);
    let rds = listed
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some("alias/aws/rds"))
        .unwrap();
    assert!(rds.target_key_id().is_some());
}

/// Nodes (here: requests) racing to make the same AWS managed key agree on one.
#[tokio::test]
async fn concurrent_first_uses_make_one_key() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                ok(client
                    .describe_key()
                    .key_id("alias/aws/lambda")
                    .send()
                    .await)
                .key_metadata()
                .unwrap()
                .key_id()
                .to_owned()
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let keys = ok(client.list_keys().send().await);
    assert_eq!(keys.keys().len(), 1, "no second key left behind");
}
