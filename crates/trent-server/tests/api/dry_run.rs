//! `DryRun`: the request is checked (key resolution, key state) as if it ran, then
//! answered with `DryRunOperationException` instead of doing the work.
//! <https://docs.aws.amazon.com/kms/latest/developerguide/programming-dryrun.html>

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

use crate::harness::{
    create_key, encrypt, expect_err, key_arn, ok, random_key_id, TestServer, DEFAULT_ACCOUNT,
    REGION,
};

const DRY_RUN: &str = "The request would have succeeded, but the DryRun option is set.";

#[tokio::test]
async fn dry_run_of_every_cryptographic_operation() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let (other_id, _) = create_key(&client).await;
    let blob = encrypt(&client, &key_id, b"dry").await;

    let e = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"x".to_vec()))
        .dry_run(true)
        .send()
        .await;
    expect_err(e, "DryRunOperationException", Some(DRY_RUN));
    let e = client
        .decrypt()
        .ciphertext_blob(blob.clone())
        .dry_run(true)
        .send()
        .await;
    expect_err(e, "DryRunOperationException", Some(DRY_RUN));
    let e = client
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .destination_key_id(&other_id)
        .dry_run(true)
        .send()
        .await;
    expect_err(e, "DryRunOperationException", Some(DRY_RUN));
    let e = client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .dry_run(true)
        .send()
        .await;
    expect_err(e, "DryRunOperationException", Some(DRY_RUN));
    let e = client
        .generate_data_key_without_plaintext()
        .key_id(&key_id)
        .number_of_bytes(16)
        .dry_run(true)
        .send()
        .await;
    expect_err(e, "DryRunOperationException", Some(DRY_RUN));

    // DryRun false is an ordinary call.
    let out = ok(client
        .decrypt()
        .ciphertext_blob(blob)
        .dry_run(false)
        .send()
        .await);
    assert_eq!(out.plaintext().unwrap().as_ref(), b"dry");
}

#[tokio::test]
async fn dry_run_still_reports_what_would_fail() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    let blob = encrypt(&client, &key_id, b"dry").await;
    ok(client.disable_key().key_id(&key_id).send().await);

    let e = client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"x".to_vec()))
        .dry_run(true)
        .send()
        .await;
    let disabled = format!("{arn} is disabled.");
    expect_err(e, "DisabledException", Some(&disabled));
    let e = client
        .decrypt()
        .ciphertext_blob(blob)
        .dry_run(true)
        .send()
        .await;
    expect_err(e, "DisabledException", Some(&disabled));

    let missing = random_key_id();
    let e = client
        .generate_data_key()
        .key_id(&missing)
        .number_of_bytes(8)
        .dry_run(true)
        .send()
        .await;
    let not_found = format!(
        "Key '{}' does not exist",
        key_arn(REGION, DEFAULT_ACCOUNT, &missing)
    );
    expect_err(e, "NotFoundException", Some(&not_found));
}
