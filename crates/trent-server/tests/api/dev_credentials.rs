//! Credentials: the administrator created at first start, the `credentials` file, the
//! `--account-id` flag, and the `--dev-any-credentials` development switch.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{
    create_key, credentials_path, expect_err, key_arn, ok, read_credentials_file, TestServer,
    DEFAULT_ACCOUNT, REGION,
};

#[tokio::test]
async fn first_start_writes_a_private_credentials_file() {
    let server = TestServer::start();
    let path = credentials_path(server.data_dir());
    let mode = std::fs::metadata(&path)
        .expect("DIR/credentials exists")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "credentials file mode {:o}",
        mode & 0o777
    );
    let (access_key_id, secret) = read_credentials_file(server.data_dir());
    assert!(!access_key_id.is_empty() && !secret.is_empty());
    // The secret never appears in the server's logs.
    assert!(
        !server.logs().contains(&secret),
        "the secret access key is in the server log"
    );

    // Those credentials are the administrator of the default account.
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    assert_eq!(arn, key_arn(REGION, DEFAULT_ACCOUNT, &key_id));
}

#[tokio::test]
async fn administrator_credentials_from_the_environment() {
    let access_key_id = "AKIATRENTTESTADMIN01";
    let secret = "trent-test-secret-0123456789abcdefghijklmnop";
    let mut server = TestServer::start_with(
        &[],
        &[
            ("TRENT_ADMIN_ACCESS_KEY_ID", access_key_id),
            ("TRENT_ADMIN_SECRET_ACCESS_KEY", secret),
        ],
    );
    assert_eq!(
        read_credentials_file(server.data_dir()),
        (access_key_id.to_owned(), secret.to_owned())
    );
    assert_eq!(server.access_key_id(), access_key_id);
    assert_eq!(server.secret_access_key(), secret);
    let client = server.client_as(REGION, access_key_id, secret);
    ok(client.list_keys().send().await);
    assert!(
        !server.logs().contains(secret),
        "the secret is in the server log"
    );

    // Same credentials after a restart.
    server.restart();
    let client = server.client_as(REGION, access_key_id, secret);
    ok(client.list_keys().send().await);
}

#[tokio::test]
async fn account_id_flag_sets_the_default_account() {
    let server = TestServer::start_with(&["--account-id", "444455556666"], &[]);
    let client = server.client(REGION);
    let out = ok(client.create_key().send().await);
    let md = out.key_metadata().unwrap();
    assert_eq!(md.aws_account_id(), Some("444455556666"));
    assert_eq!(
        md.arn(),
        Some(key_arn(REGION, "444455556666", md.key_id()).as_str())
    );
}

/// Without `--dev-any-credentials`, credentials must be real: an unknown access key is
/// UnrecognizedClientException, a known one with the wrong secret InvalidSignatureException.
#[tokio::test]
async fn without_dev_switch_random_credentials_are_rejected() {
    let server = TestServer::start();
    let stranger = server.client_as(REGION, "AKIAIOSFODNN7EXAMPLE", "not-a-real-secret");
    expect_err(
        stranger.list_keys().send().await,
        "UnrecognizedClientException",
        Some("The security token included in the request is invalid."),
    );
    let twelve_digits = server.client_as(REGION, "333333333333", "whatever");
    expect_err(
        twelve_digits.list_keys().send().await,
        "UnrecognizedClientException",
        Some("The security token included in the request is invalid."),
    );
    let wrong_secret = server.client_as(REGION, server.access_key_id(), "wrong-secret");
    expect_err(
        wrong_secret.list_keys().send().await,
        "InvalidSignatureException",
        Some(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        ),
    );
}

/// With `--dev-any-credentials`, any well-formed credentials are accepted: a 12-digit
/// access key id is that account's root, anything else the default account's root.
#[tokio::test]
async fn dev_switch_accepts_any_credentials() {
    let server = TestServer::start_with(&["--dev-any-credentials"], &[]);

    let anyone = server.client_as(REGION, "AKIAIOSFODNN7EXAMPLE", "not-a-real-secret");
    let (key_id, arn) = create_key(&anyone).await;
    assert_eq!(arn, key_arn(REGION, DEFAULT_ACCOUNT, &key_id));

    // Another random identity in the default account sees the same key.
    let other = server.client_as(REGION, "test", "test");
    let md = ok(other.describe_key().key_id(&key_id).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.arn(), Some(arn.as_str()));

    // The real administrator still works, in the same account.
    let admin = server.client(REGION);
    ok(admin.describe_key().key_id(&key_id).send().await);

    let account = server.client_as(REGION, "333333333333", "whatever");
    let (id_3, arn_3) = create_key(&account).await;
    assert_eq!(arn_3, key_arn(REGION, "333333333333", &id_3));
    let md = ok(account.describe_key().key_id(&id_3).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.aws_account_id(), Some("333333333333"));
}
