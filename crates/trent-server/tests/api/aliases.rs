//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, and aliases as key
//! identifiers.

use std::collections::BTreeSet;

use aws_sdk_kms::operation::create_alias::CreateAliasError;
use aws_sdk_kms::types::AliasListEntry;
use aws_sdk_kms::Client;

use crate::harness::{
    alias_arn, alias_not_found, create_alias, create_key, decrypt, encrypt, expect_code,
    expect_err, key_arn, ok, random_key_id, TestServer, DEFAULT_ACCOUNT, OTHER_REGION, REGION,
};

/// Every customer alias (AWS also lists its predefined `alias/aws/...` aliases; those are
/// not what these tests are about).
async fn customer_aliases(client: &Client) -> Vec<AliasListEntry> {
    let out = ok(client.list_aliases().send().await);
    assert!(!out.truncated());
    out.aliases()
        .iter()
        .filter(|a| !a.alias_name().unwrap_or_default().starts_with("alias/aws/"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn create_list_update_delete() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_1, arn_1) = create_key(&client).await;
    let (key_2, arn_2) = create_key(&client).await;

    // TargetKeyId may be the key ID or the key ARN.
    create_alias(&client, "alias/app/primary", &key_1).await;
    create_alias(&client, "alias/second_one-2", &arn_1).await;

    let aliases = customer_aliases(&client).await;
    assert_eq!(aliases.len(), 2, "{aliases:?}");
    for entry in &aliases {
        let name = entry.alias_name().unwrap();
        assert_eq!(
            entry.alias_arn(),
            Some(alias_arn(REGION, DEFAULT_ACCOUNT, name).as_str())
        );
        // "String that contains the key identifier": the key ID, not its ARN.
        assert_eq!(entry.target_key_id(), Some(key_1.as_str()), "{name}");
        assert!(
            entry.creation_date().is_some(),
            "{name} has no CreationDate"
        );
    }
    let names: BTreeSet<&str> = aliases.iter().filter_map(|a| a.alias_name()).collect();
    assert_eq!(
        names,
        ["alias/app/primary", "alias/second_one-2"]
            .into_iter()
            .collect()
    );

    // UpdateAlias points the alias at another key.
    ok(client
        .update_alias()
        .alias_name("alias/app/primary")
        .target_key_id(&arn_2)
        .send()
        .await);
    let md = ok(client
        .describe_key()
        .key_id("alias/app/primary")
        .send()
        .await)
    .key_metadata
    .unwrap();
    assert_eq!(md.key_id(), key_2);
    let entry = customer_aliases(&client)
        .await
        .into_iter()
        .find(|a| a.alias_name() == Some("alias/app/primary"))
        .unwrap();
    assert_eq!(entry.target_key_id(), Some(key_2.as_str()));
    assert!(entry.last_updated_date().is_some());
    // Encrypt through the alias now uses key 2.
    let out = ok(client
        .encrypt()
        .key_id("alias/app/primary")
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
        .send()
        .await);
    assert_eq!(out.key_id(), Some(arn_2.as_str()));

    // DeleteAlias.
    ok(client
        .delete_alias()
        .alias_name("alias/app/primary")
        .send()
        .await);
    let names: Vec<String> = customer_aliases(&client)
        .await
        .iter()
        .filter_map(|a| a.alias_name().map(str::to_owned))
        .collect();
    assert_eq!(names, vec!["alias/second_one-2".to_owned()]);
    let gone = alias_arn(REGION, DEFAULT_ACCOUNT, "alias/app/primary");
    expect_err(
        client
            .describe_key()
            .key_id("alias/app/primary")
            .send()
            .await,
        "NotFoundException",
        Some(&alias_not_found(&gone)),
    );
    // The keys are untouched.
    ok(client.describe_key().key_id(&key_2).send().await);
    ok(client.describe_key().key_id(&arn_1).send().await);

    // Deleting it again, or updating it, is NotFound.
    expect_err(
        client
            .delete_alias()
            .alias_name("alias/app/primary")
            .send()
            .await,
        "NotFoundException",
        Some(&alias_not_found(&gone)),
    );
    expect_err(
        client
            .update_alias()
            .alias_name("alias/app/primary")
            .target_key_id(&key_1)
            .send()
            .await,
        "NotFoundException",
        Some(&alias_not_found(&gone)),
    );
    // The name can be reused after deletion.
    create_alias(&client, "alias/app/primary", &key_1).await;
}

/// "The alias must be unique in the account and Region".
#[tokio::test]
async fn duplicate_alias_is_already_exists() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_1, _) = create_key(&client).await;
    let (key_2, _) = create_key(&client).await;
    create_alias(&client, "alias/dup", &key_1).await;

    let expected = format!(
        "An alias with the name {} already exists",
        alias_arn(REGION, DEFAULT_ACCOUNT, "alias/dup")
    );
    for target in [&key_1, &key_2] {
        let err = expect_err(
            client
                .create_alias()
                .alias_name("alias/dup")
                .target_key_id(target)
                .send()
                .await,
            "AlreadyExistsException",
            Some(&expected),
        );
        assert!(matches!(err, CreateAliasError::AlreadyExistsException(_)));
    }
    // Still pointing at key 1.
    let md = ok(client.describe_key().key_id("alias/dup").send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.key_id(), key_1);
}

/// Alias names: `alias/` prefix, then `[a-zA-Z0-9/_-]`, at most 256 characters, and not
/// `alias/aws/` (reserved for AWS managed keys).
///
/// - Missing prefix: real AWS answers ValidationException `Alias must start with the prefix
///   "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html`
///   (aws-controllers-k8s/community#1878, against real AWS).
/// - Characters outside the model pattern or over 256 characters: the standard model
///   validation message.
/// - `alias/aws/...`: NotAuthorizedException (what moto and local-kms reproduce; the type is
///   not in the service model's error shapes).
#[tokio::test]
async fn invalid_alias_names() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;

    expect_err(
        client
            .create_alias()
            .alias_name("foo")
            .target_key_id(&key_id)
            .send()
            .await,
        "ValidationException",
        Some(
            "Alias must start with the prefix \"alias/\". Please see \
             https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        ),
    );

    expect_code(
        client
            .create_alias()
            .alias_name("alias/aws/x")
            .target_key_id(&key_id)
            .send()
            .await,
        "NotAuthorizedException",
    );

    for bad in ["alias/foo bar", "alias/émoji", "alias/a.b", "alias/a*"] {
        expect_err(
            client
                .create_alias()
                .alias_name(bad)
                .target_key_id(&key_id)
                .send()
                .await,
            "ValidationException",
            Some(&format!(
                "1 validation error detected: Value '{bad}' at 'aliasName' failed to satisfy \
                 constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
            )),
        );
    }

    // `:` passes the model pattern but is not allowed in an alias name.
    expect_err(
        client
            .create_alias()
            .alias_name("alias/a:b")
            .target_key_id(&key_id)
            .send()
            .await,
        "ValidationException",
        None,
    );

    // 256 characters are accepted, 257 are not.
    let max = format!("alias/{}", "a".repeat(250));
    assert_eq!(max.len(), 256);
    create_alias(&client, &max, &key_id).await;
    let too_long = format!("alias/{}", "b".repeat(251));
    expect_err(
        client
            .create_alias()
            .alias_name(&too_long)
            .target_key_id(&key_id)
            .send()
            .await,
        "ValidationException",
        Some(&format!(
            "1 validation error detected: Value '{too_long}' at 'aliasName' failed to satisfy \
             constraint: Member must have length less than or equal to 256"
        )),
    );

    // Only the 256-character alias exists.
    let names: Vec<String> = customer_aliases(&client)
        .await
        .iter()
        .filter_map(|a| a.alias_name().map(str::to_owned))
        .collect();
    assert_eq!(names, vec![max]);
}

#[tokio::test]
async fn alias_target_must_be_an_existing_usable_key() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    let (pending, pending_arn) = create_key(&client).await;
    ok(client
        .schedule_key_deletion()
        .key_id(&pending)
        .pending_window_in_days(7)
        .send()
        .await);

    let missing = random_key_id();
    expect_err(
        client
            .create_alias()
            .alias_name("alias/to-nothing")
            .target_key_id(&missing)
            .send()
            .await,
        "NotFoundException",
        Some(&format!(
            "Key '{}' does not exist",
            key_arn(REGION, DEFAULT_ACCOUNT, &missing)
        )),
    );

    // Key states: CreateAlias/UpdateAlias on a key pending deletion is
    // KMSInvalidStateException.
    expect_err(
        client
            .create_alias()
            .alias_name("alias/to-pending")
            .target_key_id(&pending)
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&format!("{pending_arn} is pending deletion.")),
    );
    create_alias(&client, "alias/movable", &key_id).await;
    expect_err(
        client
            .update_alias()
            .alias_name("alias/movable")
            .target_key_id(&pending_arn)
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&format!("{pending_arn} is pending deletion.")),
    );

    // A disabled key can get an alias.
    ok(client.disable_key().key_id(&arn).send().await);
    create_alias(&client, "alias/to-disabled", &key_id).await;

    let names: BTreeSet<String> = customer_aliases(&client)
        .await
        .iter()
        .filter_map(|a| a.alias_name().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        ["alias/movable".to_owned(), "alias/to-disabled".to_owned()]
            .into_iter()
            .collect()
    );
}

/// An alias of a key scheduled for deletion stays listed, resolves, and the key behind it
/// refuses cryptographic use.
#[tokio::test]
async fn alias_of_a_key_pending_deletion() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    create_alias(&client, "alias/soon-gone", &key_id).await;
    let blob = encrypt(&client, "alias/soon-gone", b"x").await;
    ok(client.schedule_key_deletion().key_id(&key_id).send().await);

    let aliases = customer_aliases(&client).await;
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0].target_key_id(), Some(key_id.as_str()));
    let md = ok(client.describe_key().key_id("alias/soon-gone").send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.arn(), Some(arn.as_str()));
    expect_err(
        client
            .encrypt()
            .key_id("alias/soon-gone")
            .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&format!("{arn} is pending deletion.")),
    );
    // The alias itself can still be deleted.
    ok(client
        .delete_alias()
        .alias_name("alias/soon-gone")
        .send()
        .await);
    assert!(customer_aliases(&client).await.is_empty());
    ok(client.cancel_key_deletion().key_id(&key_id).send().await);
    ok(client.enable_key().key_id(&key_id).send().await);
    assert_eq!(decrypt(&client, &blob).await, b"x");
}

/// ListAliases with KeyId lists only that key's aliases (key ID or key ARN).
#[tokio::test]
async fn list_aliases_key_filter() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_1, arn_1) = create_key(&client).await;
    let (key_2, _) = create_key(&client).await;
    let (key_3, _) = create_key(&client).await;
    create_alias(&client, "alias/one-a", &key_1).await;
    create_alias(&client, "alias/one-b", &key_1).await;
    create_alias(&client, "alias/two", &key_2).await;

    for filter in [&key_1, &arn_1] {
        let out = ok(client.list_aliases().key_id(filter).send().await);
        let names: BTreeSet<&str> = out
            .aliases()
            .iter()
            .filter_map(|a| a.alias_name())
            .collect();
        assert_eq!(
            names,
            ["alias/one-a", "alias/one-b"].into_iter().collect(),
            "KeyId={filter}"
        );
        assert!(out
            .aliases()
            .iter()
            .all(|a| a.target_key_id() == Some(key_1.as_str())));
    }
    let out = ok(client.list_aliases().key_id(&key_3).send().await);
    assert!(out.aliases().is_empty());
    assert!(!out.truncated());

    let missing = random_key_id();
    expect_err(
        client.list_aliases().key_id(&missing).send().await,
        "NotFoundException",
        Some(&format!(
            "Key '{}' does not exist",
            key_arn(REGION, DEFAULT_ACCOUNT, &missing)
        )),
    );
}

#[tokio::test]
async fn list_aliases_paging() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let mut created = BTreeSet::new();
    for i in 0..5 {
        let name = format!("alias/page-{i}");
        create_alias(&client, &name, &key_id).await;
        created.insert(name);
    }

    for filter in [None, Some(key_id.clone())] {
        let mut seen = Vec::new();
        let mut marker: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= 20, "ListAliases paging does not terminate");
            let out = ok(client
                .list_aliases()
                .limit(2)
                .set_key_id(filter.clone())
                .set_marker(marker.clone())
                .send()
                .await);
            assert!(out.aliases().len() <= 2);
            seen.extend(
                out.aliases()
                    .iter()
                    .filter_map(|a| a.alias_name().map(str::to_owned)),
            );
            if out.truncated() {
                marker = Some(
                    out.next_marker()
                        .expect("Truncated without NextMarker")
                        .to_owned(),
                );
            } else {
                assert!(out.next_marker().is_none());
                break;
            }
        }
        let customer: Vec<String> = seen
            .iter()
            .filter(|n| !n.starts_with("alias/aws/"))
            .cloned()
            .collect();
        let unique: BTreeSet<String> = customer.iter().cloned().collect();
        assert_eq!(unique.len(), customer.len(), "duplicates: {seen:?}");
        assert_eq!(unique, created, "KeyId filter {filter:?}");
    }

    expect_code(
        client.list_aliases().marker("bogus-marker").send().await,
        "InvalidMarkerException",
    );
}

/// "The alias must be unique in the account and Region, but you can have aliases with the
/// same name in different Regions."
#[tokio::test]
async fn aliases_are_per_region() {
    let server = TestServer::start();
    let east = server.client(REGION);
    let west = server.client(OTHER_REGION);
    let (east_key, east_arn) = create_key(&east).await;
    create_alias(&east, "alias/regional", &east_key).await;

    let west_alias = alias_arn(OTHER_REGION, DEFAULT_ACCOUNT, "alias/regional");
    expect_err(
        west.describe_key().key_id("alias/regional").send().await,
        "NotFoundException",
        Some(&alias_not_found(&west_alias)),
    );
    assert!(customer_aliases(&west).await.is_empty());

    // The same name in the other region, for a key of that region.
    let (west_key, west_arn) = create_key(&west).await;
    create_alias(&west, "alias/regional", &west_key).await;
    let md = ok(west.describe_key().key_id("alias/regional").send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.arn(), Some(west_arn.as_str()));
    let md = ok(east.describe_key().key_id("alias/regional").send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.arn(), Some(east_arn.as_str()));

    // An alias cannot target a key of another region.
    expect_err(
        west.create_alias()
            .alias_name("alias/cross")
            .target_key_id(&east_key)
            .send()
            .await,
        "NotFoundException",
        Some(&format!(
            "Key '{}' does not exist",
            key_arn(OTHER_REGION, DEFAULT_ACCOUNT, &east_key)
        )),
    );
}
