//! Scheduled deletion that deletes: at its DeletionDate (by the server's clock, never a
//! moment before) the key, its material and its aliases are gone for good; cancelling
//! before restores it to Disabled; a restart in the window changes nothing.

use aws_sdk_kms::types::KeyState;
use serde_json::Value;

use crate::audit::records;
use crate::harness::{
    alias_arn, alias_not_found, create_alias, create_key, decrypt, encrypt, expect_code,
    expect_err, ok, TestServer, DEFAULT_ACCOUNT, REGION,
};
use crate::test_clock::{advance_millis, clock_now, freeze_at, now_ms, server, DAY_MS};

fn key_gone(arn: &str) -> String {
    format!("Key '{arn}' does not exist")
}

fn service_events(server: &TestServer, name: &str, arn: &str) -> Vec<Value> {
    records(&server.data_dir().join("audit"))
        .into_iter()
        .filter(|r| {
            r["eventName"] == name
                && r["eventType"] == "AwsServiceEvent"
                && r["resources"][0]["ARN"] == arn
        })
        .collect()
}

#[tokio::test]
async fn a_key_is_deleted_exactly_at_the_end_of_its_waiting_period() {
    let server = server();
    let t0 = freeze_at(&server, now_ms()).await;
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    let (other_id, _) = create_key(&client).await;
    create_alias(&client, "alias/doomed", &key_id).await;
    create_alias(&client, "alias/kept", &other_id).await;
    let blob = encrypt(&client, &key_id, b"gone with the key").await;

    let out = ok(client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    let deletion = t0 + 7 * DAY_MS;
    assert_eq!(out.deletion_date().unwrap().secs() * 1000, deletion);

    // One second before the end: still there, pending deletion.
    advance_millis(&server, 7 * DAY_MS - 1000).await;
    let md = ok(client.describe_key().key_id(&key_id).send().await);
    assert_eq!(
        md.key_metadata().unwrap().key_state(),
        Some(&KeyState::PendingDeletion)
    );
    expect_err(
        client.decrypt().ciphertext_blob(blob.clone()).send().await,
        "KMSInvalidStateException",
        Some(&format!("{arn} is pending deletion.")),
    );
    // One millisecond before: still there.
    advance_millis(&server, 999).await;
    ok(client.describe_key().key_id(&key_id).send().await);
    assert!(service_events(&server, "DeleteKey", &arn).is_empty());

    // At the deletion date the clock's move has run the deletion before answering.
    assert_eq!(advance_millis(&server, 1).await, deletion);
    expect_err(
        client.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
        Some(&key_gone(&arn)),
    );
    expect_err(
        client.describe_key().key_id(&arn).send().await,
        "NotFoundException",
        Some(&key_gone(&arn)),
    );
    expect_err(
        client
            .encrypt()
            .key_id(&key_id)
            .plaintext(aws_sdk_kms::primitives::Blob::new(b"x"))
            .send()
            .await,
        "NotFoundException",
        Some(&key_gone(&arn)),
    );
    expect_err(
        client.cancel_key_deletion().key_id(&key_id).send().await,
        "NotFoundException",
        Some(&key_gone(&arn)),
    );
    expect_code(
        client
            .get_key_rotation_status()
            .key_id(&key_id)
            .send()
            .await,
        "NotFoundException",
    );
    // Its alias went with it; the other key and its alias are untouched.
    expect_err(
        client.describe_key().key_id("alias/doomed").send().await,
        "NotFoundException",
        Some(&alias_not_found(&alias_arn(
            REGION,
            DEFAULT_ACCOUNT,
            "alias/doomed",
        ))),
    );
    ok(client.describe_key().key_id("alias/kept").send().await);
    let aliases = ok(client.list_aliases().send().await);
    let names: Vec<_> = aliases
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name())
        .collect();
    assert!(
        !names.contains(&"alias/doomed") && names.contains(&"alias/kept"),
        "{names:?}"
    );
    let keys = ok(client.list_keys().send().await);
    assert!(keys
        .keys()
        .iter()
        .all(|k| k.key_id() != Some(key_id.as_str())));
    // Its ciphertexts can never be decrypted again.
    expect_code(
        client.decrypt().ciphertext_blob(blob.clone()).send().await,
        "InvalidCiphertextException",
    );
    expect_err(
        client
            .decrypt()
            .key_id(&key_id)
            .ciphertext_blob(blob)
            .send()
            .await,
        "NotFoundException",
        Some(&key_gone(&arn)),
    );
    // The audit trail records the deletion as AWS does: a service event.
    let events = service_events(&server, "DeleteKey", &arn);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["userIdentity"]["invokedBy"], "kms.amazonaws.com");
    assert_eq!(events[0]["responseElements"]["keyId"], arn.as_str());

    // Nothing of it on disk: a restart does not bring it back.
    let mut server = server;
    server.restart();
    let client = server.client(REGION);
    expect_code(
        client.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn cancelling_before_the_end_restores_the_key_disabled() {
    let server = server();
    let t0 = freeze_at(&server, now_ms()).await;
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let blob = encrypt(&client, &key_id, b"kept").await;
    ok(client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    advance_millis(&server, 7 * DAY_MS - 1).await;
    ok(client.cancel_key_deletion().key_id(&key_id).send().await);
    let md = ok(client.describe_key().key_id(&key_id).send().await);
    let md = md.key_metadata().unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Disabled));
    assert!(md.deletion_date().is_none());
    // Long past the old date: the key is still there, and usable once enabled.
    advance_millis(&server, 60 * DAY_MS).await;
    assert_eq!(
        clock_now(&server).await["now_unix_millis"],
        t0 + 67 * DAY_MS - 1
    );
    ok(client.enable_key().key_id(&key_id).send().await);
    assert_eq!(decrypt(&client, &blob).await, b"kept");
}

#[tokio::test]
async fn a_restart_in_the_waiting_period_changes_nothing() {
    let mut server = server();
    let t0 = freeze_at(&server, now_ms()).await;
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    let out = ok(client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(10)
        .send()
        .await);
    let date = *out.deletion_date().unwrap();
    advance_millis(&server, 4 * DAY_MS).await;

    server.restart();
    assert_eq!(clock_now(&server).await["now_unix_millis"], t0 + 4 * DAY_MS);
    let client = server.client(REGION);
    let md = ok(client.describe_key().key_id(&key_id).send().await);
    let md = md.key_metadata().unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(md.deletion_date(), Some(&date));
    assert_eq!(md.pending_deletion_window_in_days(), Some(10));

    advance_millis(&server, 6 * DAY_MS - 1).await;
    ok(client.describe_key().key_id(&key_id).send().await);
    advance_millis(&server, 1).await;
    expect_err(
        client.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
        Some(&key_gone(&arn)),
    );
}
