//! Key rotation through the real server, moving its clock: automatic rotation when the
//! period has elapsed (not a moment before), on demand (with AWS's quota), the
//! ListKeyRotations history, and every old ciphertext still decrypting while new ones use
//! the newest material.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    IncludeKeyMaterial, KeyMaterialState, KeySpec, KeyUsageType, RotationType,
};
use aws_sdk_kms::Client;

use crate::harness::{create_key, encrypt, expect_code, expect_err, ok, TestServer, REGION};
use crate::test_clock::{advance_millis, clock_now, freeze_at, now_ms, server, DAY_MS};

async fn current_material(client: &Client, key_id: &str) -> String {
    ok(client.describe_key().key_id(key_id).send().await)
        .key_metadata()
        .unwrap()
        .current_key_material_id()
        .expect("CurrentKeyMaterialId")
        .to_owned()
}

/// Decrypts and returns (plaintext, the material that decrypted it).
async fn decrypt_with_material(client: &Client, blob: &Blob) -> (Vec<u8>, String) {
    let out = ok(client.decrypt().ciphertext_blob(blob.clone()).send().await);
    (
        out.plaintext().unwrap().as_ref().to_vec(),
        out.key_material_id().expect("KeyMaterialId").to_owned(),
    )
}

async fn rotations(client: &Client, key_id: &str) -> Vec<aws_sdk_kms::types::RotationsListEntry> {
    ok(client.list_key_rotations().key_id(key_id).send().await)
        .rotations()
        .to_vec()
}

fn rotation_events(server: &TestServer, key_arn: &str) -> Vec<serde_json::Value> {
    crate::audit::records(&server.data_dir().join("audit"))
        .into_iter()
        .filter(|r| {
            r["eventName"] == "RotateKey"
                && r["eventType"] == "AwsServiceEvent"
                && r["resources"][0]["ARN"] == key_arn
        })
        .collect()
}

#[tokio::test]
async fn automatic_rotation_happens_when_the_period_has_elapsed_and_not_before() {
    let server = server();
    let t0 = freeze_at(&server, now_ms()).await;
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    let first = current_material(&client, &key_id).await;
    assert_eq!(first.len(), 64);
    let old = encrypt(&client, &key_id, b"before rotation").await;

    let status = ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await);
    assert!(!status.key_rotation_enabled());
    assert!(status.rotation_period_in_days().is_none());
    assert!(status.next_rotation_date().is_none());

    ok(client
        .enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(90)
        .send()
        .await);
    let status = ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await);
    assert!(status.key_rotation_enabled());
    assert_eq!(status.key_id(), Some(key_id.as_str()));
    assert_eq!(status.rotation_period_in_days(), Some(90));
    assert_eq!(
        status.next_rotation_date().unwrap().secs() * 1000,
        t0 + 90 * DAY_MS
    );
    assert!(status.on_demand_rotation_start_date().is_none());

    // One millisecond before the period ends: nothing.
    advance_millis(&server, 90 * DAY_MS - 1).await;
    assert!(rotations(&client, &key_id).await.is_empty());
    assert_eq!(current_material(&client, &key_id).await, first);

    // At the end of the period: rotated once (the clock's move ran the job).
    advance_millis(&server, 1).await;
    let list = rotations(&client, &key_id).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let second = current_material(&client, &key_id).await;
    assert_ne!(second, first);
    assert_eq!(list[0].key_id(), Some(key_id.as_str()));
    assert_eq!(list[0].key_material_id(), Some(second.as_str()));
    assert_eq!(list[0].rotation_type(), Some(&RotationType::Automatic));
    assert_eq!(
        list[0].key_material_state(),
        Some(&KeyMaterialState::Current)
    );
    assert_eq!(
        list[0].rotation_date().unwrap().secs() * 1000,
        t0 + 90 * DAY_MS
    );
    let status = ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await);
    assert_eq!(
        status.next_rotation_date().unwrap().secs() * 1000,
        t0 + 180 * DAY_MS
    );
    let events = rotation_events(&server, &arn);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["serviceEventDetails"]["rotationType"],
        "AUTOMATIC"
    );
    assert_eq!(
        events[0]["serviceEventDetails"]["previousKeyMaterialId"],
        first.as_str()
    );
    assert_eq!(
        events[0]["serviceEventDetails"]["currentKeyMaterialId"],
        second.as_str()
    );

    // Old ciphertexts decrypt with the old material, new ones use the new material.
    let new = encrypt(&client, &key_id, b"after rotation").await;
    assert_eq!(
        decrypt_with_material(&client, &old).await,
        (b"before rotation".to_vec(), first.clone())
    );
    assert_eq!(
        decrypt_with_material(&client, &new).await,
        (b"after rotation".to_vec(), second.clone())
    );
    // ReEncrypt to the same key moves a ciphertext to the newest material.
    let re = ok(client
        .re_encrypt()
        .ciphertext_blob(old.clone())
        .destination_key_id(&key_id)
        .send()
        .await);
    assert_eq!(re.source_key_material_id(), Some(first.as_str()));
    assert_eq!(re.destination_key_material_id(), Some(second.as_str()));
    let moved = re.ciphertext_blob().unwrap().clone();
    assert_eq!(
        decrypt_with_material(&client, &moved).await,
        (b"before rotation".to_vec(), second.clone())
    );

    // Every period thereafter.
    advance_millis(&server, 90 * DAY_MS).await;
    assert_eq!(rotations(&client, &key_id).await.len(), 2);
    assert_eq!(
        decrypt_with_material(&client, &old).await.1,
        first,
        "the first material still decrypts"
    );

    // Disabled: no rotation while disabled; on re-enable an overdue key rotates at once.
    ok(client.disable_key().key_id(&key_id).send().await);
    advance_millis(&server, 200 * DAY_MS).await;
    assert_eq!(rotations(&client, &key_id).await.len(), 2);
    ok(client.enable_key().key_id(&key_id).send().await);
    advance_millis(&server, 1).await;
    assert_eq!(rotations(&client, &key_id).await.len(), 3);

    // Rotation disabled: no more automatic rotations.
    ok(client.disable_key_rotation().key_id(&key_id).send().await);
    let status = ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await);
    assert!(!status.key_rotation_enabled());
    assert!(status.next_rotation_date().is_none());
    advance_millis(&server, 1000 * DAY_MS).await;
    assert_eq!(rotations(&client, &key_id).await.len(), 3);
}

#[tokio::test]
async fn on_demand_rotation_lists_pages_and_has_aws_quota() {
    let server = server();
    freeze_at(&server, now_ms()).await;
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    let first = current_material(&client, &key_id).await;
    let mut blobs = vec![(encrypt(&client, &key_id, b"0").await, first.clone())];
    for i in 1..=25 {
        advance_millis(&server, 1000).await;
        let out = ok(client.rotate_key_on_demand().key_id(&key_id).send().await);
        // The response's KeyId is the key ARN, as AWS answers.
        assert_eq!(out.key_id(), Some(arn.as_str()));
        let m = current_material(&client, &key_id).await;
        let text = i.to_string();
        blobs.push((encrypt(&client, &key_id, text.as_bytes()).await, m));
    }
    // AWS's quota is 25 (it was 10); AWS's message, as LocalStack records it.
    expect_err(
        client.rotate_key_on_demand().key_id(&key_id).send().await,
        "LimitExceededException",
        Some(&format!(
            "The on-demand rotations limit has been reached for the given keyId. No more \
             on-demand rotations can be performed for this key: {arn}"
        )),
    );
    // Every ciphertext decrypts with the material that made it.
    for (i, (blob, material)) in blobs.iter().enumerate() {
        assert_eq!(
            decrypt_with_material(&client, blob).await,
            (i.to_string().into_bytes(), material.clone())
        );
    }

    // ListKeyRotations pages oldest first; only rotations unless ALL_KEY_MATERIAL.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = ok(client
            .list_key_rotations()
            .key_id(&key_id)
            .limit(10)
            .set_marker(marker.clone())
            .send()
            .await);
        seen.extend(out.rotations().iter().cloned());
        if !out.truncated() {
            assert!(out.next_marker().is_none());
            break;
        }
        marker = out.next_marker().map(str::to_owned);
    }
    assert_eq!(seen.len(), 25);
    let materials: Vec<&str> = seen.iter().filter_map(|r| r.key_material_id()).collect();
    let expected: Vec<&str> = blobs[1..].iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(materials, expected);
    assert!(seen
        .iter()
        .all(|r| r.rotation_type() == Some(&RotationType::OnDemand)));
    assert!(seen[..24]
        .iter()
        .all(|r| r.key_material_state() == Some(&KeyMaterialState::NonCurrent)));
    assert_eq!(
        seen[24].key_material_state(),
        Some(&KeyMaterialState::Current)
    );
    let dates: Vec<i64> = seen
        .iter()
        .map(|r| r.rotation_date().unwrap().secs())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] < w[1]), "{dates:?}");

    let all = ok(client
        .list_key_rotations()
        .key_id(&key_id)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .limit(1)
        .send()
        .await);
    assert!(all.truncated());
    let original = &all.rotations()[0];
    assert_eq!(original.key_material_id(), Some(first.as_str()));
    assert!(original.rotation_date().is_none() && original.rotation_type().is_none());
    assert_eq!(
        original.key_material_state(),
        Some(&KeyMaterialState::NonCurrent)
    );

    expect_code(
        client
            .list_key_rotations()
            .key_id(&key_id)
            .marker("not-a-marker")
            .send()
            .await,
        "InvalidMarkerException",
    );
    // On-demand rotations leave the automatic schedule alone.
    let status = ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await);
    assert!(!status.key_rotation_enabled());
}

#[tokio::test]
async fn rotation_rules_follow_aws() {
    let server = server();
    let t0 = freeze_at(&server, now_ms()).await;
    let client = server.client(REGION);

    // Period bounds: 90 to 2560 days (the model's constraint).
    let (key_id, arn) = create_key(&client).await;
    for days in [89, 2561] {
        expect_code(
            client
                .enable_key_rotation()
                .key_id(&key_id)
                .rotation_period_in_days(days)
                .send()
                .await,
            "ValidationException",
        );
    }
    // Default period: 365 days.
    ok(client.enable_key_rotation().key_id(&key_id).send().await);
    let status = ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await);
    assert_eq!(status.rotation_period_in_days(), Some(365));
    assert_eq!(
        status.next_rotation_date().unwrap().secs() * 1000,
        t0 + 365 * DAY_MS
    );
    // A new period keeps the anchor (the enable date).
    ok(client
        .enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(100)
        .send()
        .await);
    let status = ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await);
    assert_eq!(status.rotation_period_in_days(), Some(100));
    assert_eq!(
        status.next_rotation_date().unwrap().secs() * 1000,
        t0 + 100 * DAY_MS
    );

    // An automatic rotation due within 20 minutes: on demand is a conflict.
    advance_millis(&server, 100 * DAY_MS - 10 * 60 * 1000).await;
    expect_err(
        client.rotate_key_on_demand().key_id(&key_id).send().await,
        "ConflictException",
        None,
    );

    // Disabled key: DisabledException; pending deletion: KMSInvalidStateException and a
    // status of false, restored when the deletion is cancelled.
    ok(client.disable_key().key_id(&key_id).send().await);
    expect_err(
        client.enable_key_rotation().key_id(&key_id).send().await,
        "DisabledException",
        Some(&format!("{arn} is disabled.")),
    );
    expect_err(
        client.disable_key_rotation().key_id(&key_id).send().await,
        "DisabledException",
        Some(&format!("{arn} is disabled.")),
    );
    expect_err(
        client.rotate_key_on_demand().key_id(&key_id).send().await,
        "DisabledException",
        Some(&format!("{arn} is disabled.")),
    );
    assert!(ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await)
    .key_rotation_enabled());
    ok(client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    let status = ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await);
    assert!(!status.key_rotation_enabled());
    expect_err(
        client.enable_key_rotation().key_id(&key_id).send().await,
        "KMSInvalidStateException",
        Some(&format!("{arn} is pending deletion.")),
    );
    ok(client.cancel_key_deletion().key_id(&key_id).send().await);
    assert!(ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await)
    .key_rotation_enabled());

    // Keys that cannot rotate: asymmetric and HMAC.
    for (spec, usage) in [
        (KeySpec::EccNistP256, KeyUsageType::SignVerify),
        (KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac),
        (KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt),
    ] {
        let out = ok(client
            .create_key()
            .key_spec(spec.clone())
            .key_usage(usage)
            .send()
            .await);
        let id = out.key_metadata().unwrap().key_id().to_owned();
        expect_code(
            client.enable_key_rotation().key_id(&id).send().await,
            "UnsupportedOperationException",
        );
        expect_code(
            client.disable_key_rotation().key_id(&id).send().await,
            "UnsupportedOperationException",
        );
        // RotateKeyOnDemand: AWS answers without a message.
        let err = expect_code(
            client.rotate_key_on_demand().key_id(&id).send().await,
            "UnsupportedOperationException",
        );
        assert_eq!(err.message(), None, "{spec:?}");
        expect_code(
            client.list_key_rotations().key_id(&id).send().await,
            "UnsupportedOperationException",
        );
        let status = ok(client.get_key_rotation_status().key_id(&id).send().await);
        assert!(!status.key_rotation_enabled(), "{spec:?}");
        // Disabled, the key state comes first: DisabledException, whatever the key type.
        let key_arn = out.key_metadata().unwrap().arn().unwrap().to_owned();
        ok(client.disable_key().key_id(&id).send().await);
        expect_err(
            client.rotate_key_on_demand().key_id(&id).send().await,
            "DisabledException",
            Some(&format!("{key_arn} is disabled.")),
        );
    }
    // Unknown keys, aliases where only keys are accepted.
    expect_code(
        client
            .enable_key_rotation()
            .key_id(crate::harness::random_key_id())
            .send()
            .await,
        "NotFoundException",
    );
    expect_code(
        client
            .get_key_rotation_status()
            .key_id("alias/x")
            .send()
            .await,
        "NotFoundException",
    );
}

#[tokio::test]
async fn a_restart_in_the_rotation_period_keeps_the_schedule() {
    let mut server = server();
    let t0 = freeze_at(&server, now_ms()).await;
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let blob = encrypt(&client, &key_id, b"across restarts").await;
    ok(client
        .enable_key_rotation()
        .key_id(&key_id)
        .rotation_period_in_days(90)
        .send()
        .await);
    advance_millis(&server, 45 * DAY_MS).await;

    server.restart();
    assert_eq!(
        clock_now(&server).await["now_unix_millis"],
        t0 + 45 * DAY_MS
    );
    let client = server.client(REGION);
    let status = ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await);
    assert_eq!(
        status.next_rotation_date().unwrap().secs() * 1000,
        t0 + 90 * DAY_MS
    );
    advance_millis(&server, 45 * DAY_MS - 1).await;
    assert!(rotations(&client, &key_id).await.is_empty());
    advance_millis(&server, 1).await;
    assert_eq!(rotations(&client, &key_id).await.len(), 1);

    // The rotated key survives a restart too, old ciphertexts included.
    server.restart();
    let client = server.client(REGION);
    assert_eq!(rotations(&client, &key_id).await.len(), 1);
    let out = ok(client.decrypt().ciphertext_blob(blob).send().await);
    assert_eq!(out.plaintext().unwrap().as_ref(), b"across restarts");
}
