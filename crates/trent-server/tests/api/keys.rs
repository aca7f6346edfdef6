//! Key lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
//! UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion.

use std::collections::BTreeSet;

use aws_sdk_kms::operation::describe_key::DescribeKeyError;
// CustomerMasterKeySpec is deprecated in favour of KeySpec, but AWS still accepts and
// returns it, so the tests check it.
#[allow(deprecated)]
use aws_sdk_kms::types::{
    CustomerMasterKeySpec, EncryptionAlgorithmSpec, KeyManagerType, KeySpec, KeyState,
    KeyUsageType, OriginType, Tag,
};

use crate::harness::{
    alias_arn, alias_not_found, assert_time_near, create_alias, create_key, expect_code,
    expect_err, key_arn, now_secs, ok, random_key_id, TestServer, DEFAULT_ACCOUNT, REGION,
};

const DAY: i64 = 24 * 60 * 60;

/// CreateKey with no parameters returns the KeyMetadata AWS documents for a symmetric
/// encryption key (see the CreateKey example in the service model's examples-1.json).
#[tokio::test]
#[allow(deprecated)]
async fn create_key_returns_aws_default_metadata() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let before = now_secs();
    let out = ok(client.create_key().send().await);
    let after = now_secs();
    let md = out.key_metadata().expect("KeyMetadata");

    let key_id = md.key_id();
    let parsed = uuid::Uuid::parse_str(key_id).expect("KeyId is a UUID");
    assert_eq!(
        parsed.hyphenated().to_string(),
        key_id,
        "lower-case hyphenated UUID"
    );
    assert_eq!(md.aws_account_id(), Some(DEFAULT_ACCOUNT));
    assert_eq!(
        md.arn(),
        Some(key_arn(REGION, DEFAULT_ACCOUNT, key_id).as_str())
    );
    let created = md.creation_date().expect("CreationDate");
    assert!(
        created.secs() >= before - 2 && created.secs() <= after + 2,
        "CreationDate {created} not within the call ({before}..{after})"
    );
    assert!(md.enabled());
    assert_eq!(md.description(), Some(""));
    assert_eq!(md.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    assert_eq!(md.origin(), Some(&OriginType::AwsKms));
    assert_eq!(md.key_manager(), Some(&KeyManagerType::Customer));
    assert_eq!(
        md.customer_master_key_spec(),
        Some(&CustomerMasterKeySpec::SymmetricDefault)
    );
    assert_eq!(md.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(
        md.encryption_algorithms(),
        &[EncryptionAlgorithmSpec::SymmetricDefault]
    );
    assert_eq!(md.multi_region(), Some(false));
    assert!(md.deletion_date().is_none());
    assert!(md.pending_deletion_window_in_days().is_none());
    assert!(md.signing_algorithms().is_empty());
    assert!(md.mac_algorithms().is_empty());

    // DescribeKey returns the same metadata.
    let described = ok(client.describe_key().key_id(key_id).send().await);
    let d = described.key_metadata().expect("KeyMetadata");
    assert_eq!(d.key_id(), md.key_id());
    assert_eq!(d.arn(), md.arn());
    assert_eq!(d.aws_account_id(), md.aws_account_id());
    assert_eq!(d.creation_date(), md.creation_date());
    assert_eq!(d.enabled(), md.enabled());
    assert_eq!(d.description(), md.description());
    assert_eq!(d.key_usage(), md.key_usage());
    assert_eq!(d.key_state(), md.key_state());
    assert_eq!(d.origin(), md.origin());
    assert_eq!(d.key_manager(), md.key_manager());
    assert_eq!(d.key_spec(), md.key_spec());
    assert_eq!(d.customer_master_key_spec(), md.customer_master_key_spec());
    assert_eq!(d.encryption_algorithms(), md.encryption_algorithms());
    assert_eq!(d.multi_region(), md.multi_region());
}

#[tokio::test]
#[allow(deprecated)]
async fn create_key_with_description_tags_and_explicit_defaults() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let out = ok(client
        .create_key()
        .description("payments key")
        .key_usage(KeyUsageType::EncryptDecrypt)
        .key_spec(KeySpec::SymmetricDefault)
        .origin(OriginType::AwsKms)
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("payments")
                .build()
                .unwrap(),
        )
        .tags(
            Tag::builder()
                .tag_key("empty")
                .tag_value("")
                .build()
                .unwrap(),
        )
        .send()
        .await);
    let md = out.key_metadata().unwrap();
    assert_eq!(md.description(), Some("payments key"));
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));

    let tags = ok(client.list_resource_tags().key_id(md.key_id()).send().await);
    let got: BTreeSet<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("empty".to_owned(), String::new()),
        ("team".to_owned(), "payments".to_owned()),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);

    // The deprecated CustomerMasterKeySpec parameter works the same way as KeySpec.
    let out = ok(client
        .create_key()
        .customer_master_key_spec(CustomerMasterKeySpec::SymmetricDefault)
        .send()
        .await);
    assert_eq!(
        out.key_metadata().unwrap().key_spec(),
        Some(&KeySpec::SymmetricDefault)
    );
}

/// DescribeKey accepts key ID, key ARN, alias name and alias ARN.
#[tokio::test]
async fn describe_key_by_every_identifier_form() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    create_alias(&client, "alias/describe-me", &key_id).await;

    for id in [
        key_id.clone(),
        arn.clone(),
        "alias/describe-me".to_owned(),
        alias_arn(REGION, DEFAULT_ACCOUNT, "alias/describe-me"),
    ] {
        let out = ok(client.describe_key().key_id(&id).send().await);
        let md = out.key_metadata().unwrap();
        assert_eq!(md.key_id(), key_id, "DescribeKey({id})");
        assert_eq!(md.arn(), Some(arn.as_str()), "DescribeKey({id})");
    }
}

#[tokio::test]
async fn describe_key_not_found_messages() {
    let server = TestServer::start();
    let client = server.client(REGION);

    let missing = random_key_id();
    let missing_arn = key_arn(REGION, DEFAULT_ACCOUNT, &missing);
    let err = expect_err(
        client.describe_key().key_id(&missing).send().await,
        "NotFoundException",
        Some(&format!("Key '{missing_arn}' does not exist")),
    );
    assert!(
        matches!(err, DescribeKeyError::NotFoundException(_)),
        "the SDK parses the typed NotFoundException"
    );
    expect_err(
        client.describe_key().key_id(&missing_arn).send().await,
        "NotFoundException",
        Some(&format!("Key '{missing_arn}' does not exist")),
    );
    expect_err(
        client.describe_key().key_id("foo").send().await,
        "NotFoundException",
        Some("Invalid keyId 'foo'"),
    );
    let nope = alias_arn(REGION, DEFAULT_ACCOUNT, "alias/nope");
    expect_err(
        client.describe_key().key_id("alias/nope").send().await,
        "NotFoundException",
        Some(&alias_not_found(&nope)),
    );
    expect_err(
        client.describe_key().key_id(&nope).send().await,
        "NotFoundException",
        Some(&alias_not_found(&nope)),
    );
}

/// ListKeys pages with Limit/Marker: every key exactly once, Truncated and NextMarker
/// consistent. https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html
#[tokio::test]
async fn list_keys_paging() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let mut created = BTreeSet::new();
    for _ in 0..5 {
        let (id, arn) = create_key(&client).await;
        created.insert((id, arn));
    }

    // Without Limit: all five in one page.
    let all = ok(client.list_keys().send().await);
    assert!(!all.truncated());
    assert!(all.next_marker().is_none());
    let one_page: BTreeSet<(String, String)> = all
        .keys()
        .iter()
        .map(|k| {
            (
                k.key_id().unwrap().to_owned(),
                k.key_arn().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(one_page, created);

    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 10, "ListKeys paging does not terminate");
        let out = ok(client
            .list_keys()
            .limit(2)
            .set_marker(marker.clone())
            .send()
            .await);
        assert!(
            out.keys().len() <= 2,
            "Limit 2 returned {}",
            out.keys().len()
        );
        for k in out.keys() {
            let id = k.key_id().unwrap().to_owned();
            assert_eq!(
                k.key_arn(),
                Some(key_arn(REGION, DEFAULT_ACCOUNT, &id).as_str())
            );
            seen.push((id, k.key_arn().unwrap().to_owned()));
        }
        if out.truncated() {
            let next = out.next_marker().expect("Truncated without NextMarker");
            assert!(!next.is_empty());
            marker = Some(next.to_owned());
        } else {
            assert!(out.next_marker().is_none(), "NextMarker on the last page");
            break;
        }
    }
    assert_eq!(pages, 3, "5 keys with Limit 2 is 3 pages");
    let unique: BTreeSet<(String, String)> = seen.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "duplicates across pages: {seen:?}"
    );
    assert_eq!(unique, created);
}

#[tokio::test]
async fn list_keys_rejects_bad_marker_and_limit() {
    let server = TestServer::start();
    let client = server.client(REGION);
    for _ in 0..3 {
        create_key(&client).await;
    }
    expect_code(
        client.list_keys().marker("not-a-marker").send().await,
        "InvalidMarkerException",
    );
    expect_err(
        client.list_keys().limit(0).send().await,
        "ValidationException",
        Some(
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: \
             Member must have value greater than or equal to 1",
        ),
    );
    expect_err(
        client.list_keys().limit(1001).send().await,
        "ValidationException",
        Some(
            "1 validation error detected: Value '1001' at 'limit' failed to satisfy \
             constraint: Member must have value less than or equal to 1000",
        ),
    );
}

#[tokio::test]
async fn enable_and_disable_change_key_state() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;

    ok(client.disable_key().key_id(&key_id).send().await);
    let md = ok(client.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert!(!md.enabled());
    assert_eq!(md.key_state(), Some(&KeyState::Disabled));

    // Disabling a disabled key is allowed (key state table).
    ok(client.disable_key().key_id(&arn).send().await);

    ok(client.enable_key().key_id(&arn).send().await);
    let md = ok(client.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert!(md.enabled());
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    ok(client.enable_key().key_id(&key_id).send().await);

    let missing = random_key_id();
    let missing_arn = key_arn(REGION, DEFAULT_ACCOUNT, &missing);
    expect_err(
        client.enable_key().key_id(&missing).send().await,
        "NotFoundException",
        Some(&format!("Key '{missing_arn}' does not exist")),
    );
    expect_err(
        client.disable_key().key_id(&missing).send().await,
        "NotFoundException",
        Some(&format!("Key '{missing_arn}' does not exist")),
    );
}

/// EnableKey, DisableKey, UpdateKeyDescription and ScheduleKeyDeletion take "the key ID or
/// key ARN" only; an alias is not a key there.
#[tokio::test]
async fn key_only_operations_reject_aliases() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    create_alias(&client, "alias/only-keys", &key_id).await;
    let alias_arn = alias_arn(REGION, DEFAULT_ACCOUNT, "alias/only-keys");

    for id in ["alias/only-keys", alias_arn.as_str()] {
        expect_err(
            client.enable_key().key_id(id).send().await,
            "NotFoundException",
            None,
        );
        expect_err(
            client.disable_key().key_id(id).send().await,
            "NotFoundException",
            None,
        );
        expect_err(
            client
                .update_key_description()
                .key_id(id)
                .description("x")
                .send()
                .await,
            "NotFoundException",
            None,
        );
        expect_err(
            client.schedule_key_deletion().key_id(id).send().await,
            "NotFoundException",
            None,
        );
        expect_err(
            client.cancel_key_deletion().key_id(id).send().await,
            "NotFoundException",
            None,
        );
    }
    // Nothing happened to the key.
    let md = ok(client.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    assert_eq!(md.description(), Some(""));
}

#[tokio::test]
async fn update_key_description() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;

    ok(client
        .update_key_description()
        .key_id(&key_id)
        .description("first")
        .send()
        .await);
    let md = ok(client.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.description(), Some("first"));

    // The key ARN works too, and the maximum length (8192) is accepted.
    let max = "d".repeat(8192);
    ok(client
        .update_key_description()
        .key_id(&arn)
        .description(&max)
        .send()
        .await);
    let md = ok(client.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.description(), Some(max.as_str()));

    // Back to empty.
    ok(client
        .update_key_description()
        .key_id(&key_id)
        .description("")
        .send()
        .await);
    let md = ok(client.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.description(), Some(""));
}

#[tokio::test]
async fn description_longer_than_8192_is_rejected() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let too_long = "d".repeat(8193);
    let expected = format!(
        "1 validation error detected: Value '{too_long}' at 'description' failed to satisfy \
         constraint: Member must have length less than or equal to 8192"
    );

    expect_err(
        client
            .update_key_description()
            .key_id(&key_id)
            .description(&too_long)
            .send()
            .await,
        "ValidationException",
        Some(&expected),
    );
    expect_err(
        client.create_key().description(&too_long).send().await,
        "ValidationException",
        Some(&expected),
    );
    // No key was created by the rejected CreateKey.
    let keys = ok(client.list_keys().send().await);
    assert_eq!(keys.keys().len(), 1);
}

/// ScheduleKeyDeletion then CancelKeyDeletion, as documented: PendingDeletion with a
/// DeletionDate PendingWindowInDays ahead; cancel leaves the key Disabled.
#[tokio::test]
async fn schedule_and_cancel_key_deletion() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;

    let now = now_secs();
    let out = ok(client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    // "The Amazon Resource Name (key ARN) of the KMS key whose deletion is scheduled."
    assert_eq!(out.key_id(), Some(arn.as_str()));
    assert_eq!(out.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(out.pending_window_in_days(), Some(7));
    let deletion_date = out.deletion_date().expect("DeletionDate").to_owned();
    assert_time_near(&deletion_date, now + 7 * DAY, 120);

    let md = ok(client.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::PendingDeletion));
    assert!(!md.enabled());
    assert_eq!(md.deletion_date(), Some(&deletion_date));
    assert_eq!(md.pending_deletion_window_in_days(), Some(7));

    // Scheduling again is an invalid state transition.
    expect_err(
        client.schedule_key_deletion().key_id(&key_id).send().await,
        "KMSInvalidStateException",
        Some(&format!("{arn} is pending deletion.")),
    );

    let out = ok(client.cancel_key_deletion().key_id(&arn).send().await);
    assert_eq!(out.key_id(), Some(arn.as_str()));
    let md = ok(client.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Disabled));
    assert!(!md.enabled());
    assert!(md.deletion_date().is_none());
    assert!(md.pending_deletion_window_in_days().is_none());

    expect_err(
        client.cancel_key_deletion().key_id(&key_id).send().await,
        "KMSInvalidStateException",
        Some(&format!("{arn} is not pending deletion.")),
    );

    // Enable brings it back to Enabled.
    ok(client.enable_key().key_id(&key_id).send().await);
    let md = ok(client.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
}

#[tokio::test]
async fn schedule_key_deletion_defaults_to_30_days_and_works_on_disabled_keys() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    ok(client.disable_key().key_id(&key_id).send().await);

    let now = now_secs();
    let out = ok(client.schedule_key_deletion().key_id(&arn).send().await);
    assert_eq!(out.pending_window_in_days(), Some(30));
    assert_eq!(out.key_state(), Some(&KeyState::PendingDeletion));
    assert_time_near(out.deletion_date().unwrap(), now + 30 * DAY, 120);

    let (key_30, _) = create_key(&client).await;
    let out = ok(client
        .schedule_key_deletion()
        .key_id(&key_30)
        .pending_window_in_days(30)
        .send()
        .await);
    assert_eq!(out.pending_window_in_days(), Some(30));
}

/// PendingWindowInDays must be 7-30 ("If you include a value, it must be between 7 and 30,
/// inclusive."). The model's own constraint is 1-365; values inside it but outside 7-30 get
/// the message real AWS returns ("PendingWindowInDays must be between 7 and 30", seen in
/// https://github.com/Skyscanner/kms-issuer/issues/8); values outside the model constraint
/// get the standard validation message.
#[tokio::test]
async fn pending_window_outside_7_to_30_is_rejected() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;

    for days in [6, 31] {
        expect_err(
            client
                .schedule_key_deletion()
                .key_id(&key_id)
                .pending_window_in_days(days)
                .send()
                .await,
            "ValidationException",
            Some("PendingWindowInDays must be between 7 and 30"),
        );
    }
    expect_err(
        client
            .schedule_key_deletion()
            .key_id(&key_id)
            .pending_window_in_days(0)
            .send()
            .await,
        "ValidationException",
        Some(
            "1 validation error detected: Value '0' at 'pendingWindowInDays' failed to \
             satisfy constraint: Member must have value greater than or equal to 1",
        ),
    );
    expect_err(
        client
            .schedule_key_deletion()
            .key_id(&key_id)
            .pending_window_in_days(366)
            .send()
            .await,
        "ValidationException",
        Some(
            "1 validation error detected: Value '366' at 'pendingWindowInDays' failed to \
             satisfy constraint: Member must have value less than or equal to 365",
        ),
    );
    // None of the rejected calls changed the key.
    let md = ok(client.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
}

/// Key states of KMS keys: a key pending deletion can be described, listed and its
/// deletion canceled, but not enabled, disabled, or have its description changed.
/// https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
#[tokio::test]
async fn pending_deletion_blocks_management_operations() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    ok(client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    let msg = format!("{arn} is pending deletion.");

    expect_err(
        client.enable_key().key_id(&key_id).send().await,
        "KMSInvalidStateException",
        Some(&msg),
    );
    expect_err(
        client.disable_key().key_id(&key_id).send().await,
        "KMSInvalidStateException",
        Some(&msg),
    );
    expect_err(
        client
            .update_key_description()
            .key_id(&key_id)
            .description("nope")
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&msg),
    );
    // Still described and listed.
    let md = ok(client.describe_key().key_id(&arn).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(md.description(), Some(""));
    let keys = ok(client.list_keys().send().await);
    assert!(keys
        .keys()
        .iter()
        .any(|k| k.key_id() == Some(key_id.as_str())));
}

/// Origins AWS_CLOUDHSM and EXTERNAL_KEY_STORE name a custom key store: without a
/// CustomKeyStoreId they are a ValidationException, for every key spec (keys in stores are
/// in `custom_key_stores.rs` and `tests/external_key_stores.rs`). (EXTERNAL, imported key
/// material, is tested in `import.rs`.)
#[tokio::test]
async fn custom_key_store_origins_need_a_store() {
    let server = TestServer::start();
    let client = server.client(REGION);
    for spec in [KeySpec::SymmetricDefault, KeySpec::EccNistP256] {
        let usage = if spec == KeySpec::SymmetricDefault {
            KeyUsageType::EncryptDecrypt
        } else {
            KeyUsageType::SignVerify
        };
        expect_err(
            client
                .create_key()
                .origin(OriginType::AwsCloudhsm)
                .key_spec(spec)
                .key_usage(usage)
                .send()
                .await,
            "ValidationException",
            Some("A CustomKeyStoreId is required to create a KMS key with Origin AWS_CLOUDHSM."),
        );
    }
    expect_err(
        client
            .create_key()
            .origin(OriginType::ExternalKeyStore)
            .send()
            .await,
        "ValidationException",
        Some("A CustomKeyStoreId is required to create a KMS key with Origin EXTERNAL_KEY_STORE."),
    );
    // None of them created a key.
    let keys = ok(client.list_keys().send().await);
    assert!(keys.keys().is_empty(), "{:?}", keys.keys());
}

/// An enum value outside the model's enum is a validation error, not an unsupported one.
#[tokio::test]
async fn unknown_enum_value_is_a_validation_error() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let err = expect_err(
        client
            .create_key()
            .key_spec(KeySpec::from("NOT_A_SPEC"))
            .send()
            .await,
        "ValidationException",
        None,
    );
    let msg = aws_sdk_kms::error::ProvideErrorMetadata::message(&err).unwrap_or_default();
    assert!(
        msg.starts_with(
            "1 validation error detected: Value 'NOT_A_SPEC' at 'keySpec' failed to satisfy \
             constraint: Member must satisfy enum value set: ["
        ),
        "{msg}"
    );
}
