//! GetKeyLastUsage: the last successful cryptographic use of a key (operation, time, the
//! CloudTrail event and request ids), tracked in memory, flushed in batches, and kept
//! across a graceful restart.

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeyLastUsageTrackingOperation;

use crate::audit::records;
use crate::harness::{create_key, expect_code, ok, REGION};
use crate::test_clock::{advance_millis, freeze_at, now_ms, server, DAY_MS};

#[tokio::test]
async fn last_usage_is_recorded_and_survives_a_graceful_restart() {
    let mut server = server();
    let t0 = freeze_at(&server, now_ms()).await;
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;

    let usage = ok(client.get_key_last_usage().key_id(&key_id).send().await);
    assert_eq!(usage.key_id(), Some(key_id.as_str()));
    assert!(usage.key_last_usage().is_none());
    assert_eq!(usage.key_creation_date().unwrap().secs() * 1000, t0);
    assert_eq!(usage.tracking_start_date().unwrap().secs() * 1000, t0);

    // Management calls are not cryptographic uses.
    ok(client.describe_key().key_id(&key_id).send().await);
    ok(client
        .get_key_rotation_status()
        .key_id(&key_id)
        .send()
        .await);
    assert!(ok(client.get_key_last_usage().key_id(&key_id).send().await)
        .key_last_usage()
        .is_none());

    advance_millis(&server, DAY_MS).await;
    let enc = ok(client
        .encrypt()
        .key_id(&arn)
        .plaintext(Blob::new(b"used"))
        .send()
        .await);
    let enc_request = enc.request_id().expect("a request id").to_owned();
    let usage = ok(client.get_key_last_usage().key_id(&key_id).send().await);
    let last = usage.key_last_usage().expect("KeyLastUsage");
    assert_eq!(
        last.operation(),
        Some(&KeyLastUsageTrackingOperation::Encrypt)
    );
    assert_eq!(last.timestamp().unwrap().secs() * 1000, t0 + DAY_MS);
    assert_eq!(last.kms_request_id(), Some(enc_request.as_str()));
    // The event id is that of the Encrypt's event in the audit trail.
    let event_id = last
        .cloud_trail_event_id()
        .expect("CloudTrailEventId")
        .to_owned();
    let event = records(&server.data_dir().join("audit"))
        .into_iter()
        .find(|r| r["eventID"] == event_id.as_str())
        .expect("the event is in the trail");
    assert_eq!(event["eventName"], "Encrypt");
    assert_eq!(event["requestID"], enc_request.as_str());

    advance_millis(&server, DAY_MS).await;
    let blob = enc.ciphertext_blob().unwrap().clone();
    let dec = ok(client.decrypt().ciphertext_blob(blob).send().await);
    let dec_request = dec.request_id().unwrap().to_owned();
    // A failed use is not a use.
    expect_code(
        client
            .decrypt()
            .key_id(&key_id)
            .ciphertext_blob(Blob::new(vec![1u8; 64]))
            .send()
            .await,
        "InvalidCiphertextException",
    );
    let check = |usage: &aws_sdk_kms::operation::get_key_last_usage::GetKeyLastUsageOutput| {
        let last = usage.key_last_usage().expect("KeyLastUsage");
        assert_eq!(
            last.operation(),
            Some(&KeyLastUsageTrackingOperation::Decrypt)
        );
        assert_eq!(last.timestamp().unwrap().secs() * 1000, t0 + 2 * DAY_MS);
        assert_eq!(last.kms_request_id(), Some(dec_request.as_str()));
    };
    check(&ok(client
        .get_key_last_usage()
        .key_id(&key_id)
        .send()
        .await));

    // A graceful restart flushes what is still in memory.
    server.restart_gracefully();
    let client = server.client(REGION);
    check(&ok(client.get_key_last_usage().key_id(&arn).send().await));

    expect_code(
        client
            .get_key_last_usage()
            .key_id(crate::harness::random_key_id())
            .send()
            .await,
        "NotFoundException",
    );
}
