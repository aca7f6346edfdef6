//! Isolation: keys and aliases belong to one account and one Region (the Region of the
//! request's SigV4 credential scope).

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;

use crate::harness::{
    alias_not_found, create_alias, create_key, decrypt, encrypt, expect_err, key_arn, ok,
    TestServer, DEFAULT_ACCOUNT, OTHER_REGION, REGION,
};

const ACCOUNT_A: &str = "111111111111";
const ACCOUNT_B: &str = "222222222222";

#[tokio::test]
async fn keys_are_per_region() {
    let server = TestServer::start();
    let east = server.client(REGION);
    let west = server.client(OTHER_REGION);
    let (key_id, arn) = create_key(&east).await;
    assert_eq!(arn, key_arn(REGION, DEFAULT_ACCOUNT, &key_id));
    let blob = encrypt(&east, &key_id, b"east only").await;

    let west_arn = key_arn(OTHER_REGION, DEFAULT_ACCOUNT, &key_id);
    expect_err(
        west.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
        Some(&format!("Key '{west_arn}' does not exist")),
    );
    expect_err(
        west.encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "NotFoundException",
        Some(&format!("Key '{west_arn}' does not exist")),
    );
    expect_err(
        west.disable_key().key_id(&key_id).send().await,
        "NotFoundException",
        Some(&format!("Key '{west_arn}' does not exist")),
    );
    assert!(ok(west.list_keys().send().await).keys().is_empty());

    // A key created in us-west-2 has a us-west-2 ARN and is invisible from us-east-1.
    let (west_key, west_key_arn) = create_key(&west).await;
    assert_eq!(
        west_key_arn,
        key_arn(OTHER_REGION, DEFAULT_ACCOUNT, &west_key)
    );
    let listed = ok(east.list_keys().send().await);
    assert_eq!(listed.keys().len(), 1);
    assert_eq!(listed.keys()[0].key_id(), Some(key_id.as_str()));

    // The us-east-1 ciphertext does not decrypt in us-west-2, and still does in us-east-1.
    let res = west.decrypt().ciphertext_blob(blob.clone()).send().await;
    assert!(
        res.is_err(),
        "a us-east-1 ciphertext decrypted in us-west-2"
    );
    assert_eq!(decrypt(&east, &blob).await, b"east only");
}

/// With `--dev-any-credentials`, a 12-digit access key id acts as that account's root.
/// Account B sees nothing of account A: not its keys by ID, not in ListKeys, not its
/// aliases.
#[tokio::test]
async fn keys_are_per_account() {
    let server = TestServer::start_with(&["--dev-any-credentials"], &[]);
    let a = server.client_as(REGION, ACCOUNT_A, "any-secret-a");
    let b = server.client_as(REGION, ACCOUNT_B, "any-secret-b");

    let out = ok(a.create_key().send().await);
    let md = out.key_metadata().unwrap();
    let key_id = md.key_id().to_owned();
    let arn_a = key_arn(REGION, ACCOUNT_A, &key_id);
    assert_eq!(md.aws_account_id(), Some(ACCOUNT_A));
    assert_eq!(md.arn(), Some(arn_a.as_str()));
    create_alias(&a, "alias/mine", &key_id).await;
    let blob = encrypt(&a, "alias/mine", b"for a only").await;

    expect_err(
        b.describe_key().key_id(&key_id).send().await,
        "NotFoundException",
        Some(&format!(
            "Key '{}' does not exist",
            key_arn(REGION, ACCOUNT_B, &key_id)
        )),
    );
    let b_alias = format!("arn:aws:kms:{REGION}:{ACCOUNT_B}:alias/mine");
    expect_err(
        b.describe_key().key_id("alias/mine").send().await,
        "NotFoundException",
        Some(&alias_not_found(&b_alias)),
    );
    assert!(ok(b.list_keys().send().await).keys().is_empty());
    assert!(ok(b.list_aliases().send().await)
        .aliases()
        .iter()
        .all(|al| al.alias_name() != Some("alias/mine")));

    // Using A's key ARN from B: the default key policy only trusts account A, so AWS
    // refuses (AccessDeniedException); a server that does not reveal the key at all
    // (NotFoundException) is equally safe. Either way nothing is done for B.
    for res in [
        b.describe_key()
            .key_id(&arn_a)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.into_service_error().code().map(str::to_owned)),
        b.disable_key()
            .key_id(&arn_a)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.into_service_error().code().map(str::to_owned)),
        b.encrypt()
            .key_id(&arn_a)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.into_service_error().code().map(str::to_owned)),
        b.decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.into_service_error().code().map(str::to_owned)),
    ] {
        match res {
            Ok(()) => panic!("account B used account A's key"),
            Err(code) => assert!(
                matches!(
                    code.as_deref(),
                    Some("AccessDeniedException" | "NotFoundException")
                ),
                "unexpected error code {code:?}"
            ),
        }
    }

    // B has its own namespace: the same alias name is free there.
    let (b_key, b_arn) = create_key(&b).await;
    assert_eq!(b_arn, key_arn(REGION, ACCOUNT_B, &b_key));
    create_alias(&b, "alias/mine", &b_key).await;

    // A's key is untouched and still works for A.
    let md = ok(a.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert!(md.enabled());
    assert_eq!(decrypt(&a, &blob).await, b"for a only");
    let listed = ok(a.list_keys().send().await);
    assert_eq!(listed.keys().len(), 1);
}
