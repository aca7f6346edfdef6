//! Custom key stores of type AWS_CLOUDHSM on PKCS#11 tokens: each test makes its own
//! SoftHSM2 token directory (its `SOFTHSM2_CONF` passed to the server only) and a
//! `[[pkcs11_clusters]]` config naming its tokens, then drives the six custom key store
//! operations and keys in the store through the AWS SDK, and lists the token with OpenSC's
//! `pkcs11-tool`. Without SoftHSM2 and OpenSC these tests FAIL (`.ci/run` installs them).

use std::path::PathBuf;
use std::process::Command;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{ConnectionErrorCodeType, ConnectionStateType, KeyState, OriginType};
use aws_sdk_kms::Client;
use trent_testkit::sdk::{expect_code, expect_err, ok, REGION};
use trent_testkit::server::TestServer;
use trent_testkit::softhsm;

use crate::harness::DEFAULT_ACCOUNT;
use crate::test_clock::{advance_millis, freeze_at, now_ms, DAY_MS, SWITCH};

const PIN: &str = "kmsuser-pin-41";
const SO_PIN: &str = "so-pin-9999";
const CLUSTER: &str = "cluster-234567abcdefg";
const OTHER_CLUSTER: &str = "cluster-zzzzzzzzzzzz";
const MISSING_TOKEN_CLUSTER: &str = "cluster-abcdefghijkl";
const AUDITOR_KEY: &str = "AKIAAUDITOR000000001";
const AUDITOR_SECRET: &str = "auditor-secret-0123456789abcdefghijklmn";

/// A token directory with the token `ks1` behind [`CLUSTER`], and a config naming it and a
/// cluster whose token does not exist ([`MISSING_TOKEN_CLUSTER`]).
struct Hsm {
    /// Holds the token directory and the config while the test runs.
    _work: tempfile::TempDir,
    conf: PathBuf,
    module: PathBuf,
    config: PathBuf,
    trust_anchor: String,
}

impl Hsm {
    fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        let tokens = softhsm::Tokens::new(work.path());
        tokens.init_token("ks1", SO_PIN, PIN);
        tokens.init_token("ks2", SO_PIN, PIN);
        let anchor = softhsm::trust_anchor(work.path(), "ks1-ca");
        let trust_anchor = std::fs::read_to_string(&anchor).unwrap();
        let config = work.path().join("trent.toml");
        let module = tokens.module.display().to_string();
        let entry = |id: &str, token: &str| {
            format!(
                "[[pkcs11_clusters]]\ncluster_id = \"{id}\"\nmodule = \"{module}\"\ntoken_label = \"{token}\"\ntrust_anchor_file = \"{}\"\n",
                anchor.display()
            )
        };
        std::fs::write(
            &config,
            [
                entry(CLUSTER, "ks1"),
                entry(OTHER_CLUSTER, "ks2"),
                entry(MISSING_TOKEN_CLUSTER, "no-such-token"),
                // A user whose IAM policy allows DescribeCustomKeyStores only.
                crate::identities::user(
                    &format!("arn:aws:iam::{DEFAULT_ACCOUNT}:user/auditor"),
                    AUDITOR_KEY,
                    AUDITOR_SECRET,
                    &[("describe", "kms:DescribeCustomKeyStores")],
                ),
            ]
            .concat(),
        )
        .unwrap();
        Self {
            conf: tokens.conf,
            module: tokens.module,
            _work: work,
            config,
            trust_anchor,
        }
    }

    fn server(&self, extra: &[&str]) -> TestServer {
        let mut args = vec!["--config", self.config.to_str().unwrap()];
        args.extend_from_slice(extra);
        TestServer::start_with(&args, &[("SOFTHSM2_CONF", self.conf.to_str().unwrap())])
    }

    /// `pkcs11-tool --list-objects` of the token `label`, logged in.
    fn list_objects(&self, label: &str) -> String {
        let out = Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", &self.conf)
            .arg("--module")
            .arg(&self.module)
            .args([
                "--token-label",
                label,
                "--login",
                "--pin",
                PIN,
                "--list-objects",
            ])
            .output()
            .expect("pkcs11-tool runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

async fn create_store(client: &Client, hsm: &Hsm, name: &str, password: &str) -> String {
    ok(client
        .create_custom_key_store()
        .custom_key_store_name(name)
        .cloud_hsm_cluster_id(CLUSTER)
        .trust_anchor_certificate(&hsm.trust_anchor)
        .key_store_password(password)
        .send()
        .await)
    .custom_key_store_id
    .unwrap()
}

use trent_testkit::sdk::{
    connect_custom_key_store as connect, describe_custom_key_store as describe,
    settled_custom_key_store as settled,
};

async fn create_token_key(client: &Client, store: &str) -> String {
    let md = ok(client
        .create_key()
        .custom_key_store_id(store)
        .origin(OriginType::AwsCloudhsm)
        .send()
        .await)
    .key_metadata
    .unwrap();
    assert_eq!(md.origin(), Some(&OriginType::AwsCloudhsm));
    assert_eq!(md.custom_key_store_id(), Some(store));
    assert_eq!(md.cloud_hsm_cluster_id(), Some(CLUSTER));
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    md.key_id
}

async fn encrypt(client: &Client, key: &str, plaintext: &[u8]) -> Blob {
    ok(client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(plaintext))
        .encryption_context("purpose", "test")
        .send()
        .await)
    .ciphertext_blob
    .unwrap()
}

async fn decrypt(client: &Client, blob: &Blob) -> Vec<u8> {
    ok(client
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "test")
        .send()
        .await)
    .plaintext
    .unwrap()
    .into_inner()
}

#[tokio::test]
async fn a_cloudhsm_key_store_on_a_token_holds_keys_that_never_leave_it() {
    let hsm = Hsm::new();
    let mut server = hsm.server(&[]);
    let client = server.client(REGION);
    let listed = ok(client.describe_custom_key_stores().send().await);
    assert!(listed.custom_key_stores().is_empty());
    assert!(!listed.truncated());

    // What CreateCustomKeyStore checks.
    let attempt = |cluster: &'static str, anchor: String| {
        client
            .create_custom_key_store()
            .custom_key_store_name("ks")
            .cloud_hsm_cluster_id(cluster)
            .trust_anchor_certificate(anchor)
            .key_store_password(PIN)
            .send()
    };
    expect_code(
        attempt("cluster-unknownunknown", hsm.trust_anchor.clone()).await,
        "CloudHsmClusterNotFoundException",
    );
    let other_anchor = hsm.trust_anchor.replace("MII", "MIJ");
    expect_code(
        attempt(CLUSTER, other_anchor).await,
        "IncorrectTrustAnchorException",
    );
    let id = create_store(&client, &hsm, "ks", PIN).await;
    assert!(id.starts_with("cks-") && id.len() == 21, "{id}");
    expect_code(
        attempt(OTHER_CLUSTER, hsm.trust_anchor.clone()).await,
        "CustomKeyStoreNameInUseException",
    );
    expect_code(
        client
            .create_custom_key_store()
            .custom_key_store_name("ks-again")
            .cloud_hsm_cluster_id(CLUSTER)
            .trust_anchor_certificate(&hsm.trust_anchor)
            .key_store_password(PIN)
            .send()
            .await,
        "CloudHsmClusterInUseException",
    );
    let entry = describe(&client, &id).await;
    assert_eq!(entry.custom_key_store_name(), Some("ks"));
    assert_eq!(entry.cloud_hsm_cluster_id(), Some(CLUSTER));
    assert_eq!(
        entry.trust_anchor_certificate(),
        Some(hsm.trust_anchor.as_str())
    );
    assert_eq!(
        entry.connection_state(),
        Some(&ConnectionStateType::Disconnected)
    );
    assert!(entry.creation_date().is_some());

    // Keys need a connected store.
    expect_code(
        client
            .create_key()
            .custom_key_store_id(&id)
            .origin(OriginType::AwsCloudhsm)
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );
    let connected = connect(&client, &id).await;
    assert_eq!(
        connected.connection_state(),
        Some(&ConnectionStateType::Connected)
    );
    assert_eq!(connected.connection_error_code(), None);
    // Connecting a connected store changes nothing.
    assert_eq!(connect(&client, &id).await, connected);

    // Only symmetric keys, with Origin AWS_CLOUDHSM.
    expect_code(
        client.create_key().custom_key_store_id(&id).send().await,
        "ValidationException",
    );
    expect_code(
        client
            .create_key()
            .custom_key_store_id(&id)
            .origin(OriginType::AwsCloudhsm)
            .key_spec(aws_sdk_kms::types::KeySpec::Hmac256)
            .key_usage(aws_sdk_kms::types::KeyUsageType::GenerateVerifyMac)
            .send()
            .await,
        "UnsupportedOperationException",
    );
    let key = create_token_key(&client, &id).await;

    // The key is an AES-256 secret key object in the token, labelled with its id,
    // sensitive and not extractable.
    let objects = hsm.list_objects("ks1");
    let object = objects
        .split("Secret Key Object")
        .find(|o| o.contains(&key))
        .unwrap_or_else(|| panic!("no object labelled {key} in:\n{objects}"));
    assert!(object.starts_with("; AES length 32"), "{object}");
    let line = |name: &str| {
        object
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in {object}"))
            .to_owned()
    };
    assert_eq!(line("Usage:"), "encrypt, decrypt");
    let access = line("Access:");
    assert!(
        access.starts_with("sensitive, always sensitive, never extractable"),
        "{access}"
    );

    // Cryptography runs in the token.
    let blob = encrypt(&client, &key, b"held in the token").await;
    assert_eq!(decrypt(&client, &blob).await, b"held in the token");
    let data_key = ok(client
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(32)
        .send()
        .await);
    let plain = ok(client
        .decrypt()
        .ciphertext_blob(data_key.ciphertext_blob.clone().unwrap())
        .send()
        .await)
    .plaintext
    .unwrap();
    assert_eq!(plain, data_key.plaintext.unwrap());
    let local = crate::harness::create_key(&client).await.0;
    let moved = ok(client
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_encryption_context("purpose", "test")
        .destination_key_id(&local)
        .send()
        .await);
    let back = ok(client
        .re_encrypt()
        .ciphertext_blob(moved.ciphertext_blob.unwrap())
        .destination_key_id(&key)
        .destination_encryption_context("purpose", "test")
        .send()
        .await);
    assert_eq!(
        decrypt(&client, &back.ciphertext_blob.unwrap()).await,
        b"held in the token"
    );
    // Tampering and another context are refused.
    let mut tampered = blob.clone().into_inner();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    expect_code(
        client
            .decrypt()
            .ciphertext_blob(Blob::new(tampered))
            .encryption_context("purpose", "test")
            .send()
            .await,
        "InvalidCiphertextException",
    );
    expect_code(
        client.decrypt().ciphertext_blob(blob.clone()).send().await,
        "InvalidCiphertextException",
    );
    let random = ok(client
        .generate_random()
        .custom_key_store_id(&id)
        .number_of_bytes(48)
        .send()
        .await);
    assert_eq!(random.plaintext.unwrap().into_inner().len(), 48);
    expect_code(
        client.enable_key_rotation().key_id(&key).send().await,
        "UnsupportedOperationException",
    );

    // Nothing of the key's material is in the database: its one material row holds the
    // token object's id.
    let db = server.data_dir().join("trent.db");
    let mut conn = {
        use sqlx::Connection;
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display()))
            .await
            .unwrap()
    };
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT sealed FROM key_materials WHERE key_id = ?")
        .bind(&key)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0.len(), b"pkcs11-object-id:".len() + 16);
    assert!(rows[0].0.starts_with(b"pkcs11-object-id:"));
    drop(conn);

    // Renaming is the one update a connected store takes.
    ok(client
        .update_custom_key_store()
        .custom_key_store_id(&id)
        .new_custom_key_store_name("ks-renamed")
        .send()
        .await);
    expect_code(
        client
            .update_custom_key_store()
            .custom_key_store_id(&id)
            .key_store_password("another-pin")
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );
    expect_code(
        client
            .delete_custom_key_store()
            .custom_key_store_id(&id)
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );

    // Disconnected: its keys are Unavailable, managed but not used.
    ok(client
        .disconnect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await);
    let entry = describe(&client, &id).await;
    assert_eq!(
        entry.connection_state(),
        Some(&ConnectionStateType::Disconnected)
    );
    assert_eq!(entry.custom_key_store_name(), Some("ks-renamed"));
    expect_code(
        client
            .disconnect_custom_key_store()
            .custom_key_store_id(&id)
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );
    let md = ok(client.describe_key().key_id(&key).send().await)
        .key_metadata
        .unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Unavailable));
    assert!(!md.enabled());
    let arn = md.arn().unwrap().to_owned();
    expect_err(
        client
            .encrypt()
            .key_id(&key)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&format!("{arn} is unavailable.")),
    );
    expect_err(
        client
            .decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("purpose", "test")
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&format!("{arn} is unavailable.")),
    );
    ok(client
        .tag_resource()
        .key_id(&key)
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("team")
                .tag_value("vault")
                .build()
                .unwrap(),
        )
        .send()
        .await);
    expect_code(
        client
            .delete_custom_key_store()
            .custom_key_store_id(&id)
            .send()
            .await,
        "CustomKeyStoreHasCMKsException",
    );

    // The password (the token's PIN) is nowhere in the data directory: not in the
    // database (sealed), not in the audit trail, not in the log.
    assert!(!server.logs().contains(PIN));
    for file in files_under(server.data_dir()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(PIN.len()).any(|w| w == PIN.as_bytes()),
            "{} holds the key store password",
            file.display()
        );
    }

    // Reconnected, and across a restart (each node logs in on its own).
    assert_eq!(
        connect(&client, &id).await.connection_state(),
        Some(&ConnectionStateType::Connected)
    );
    assert_eq!(decrypt(&client, &blob).await, b"held in the token");
    server.restart();
    let client = server.client(REGION);
    assert_eq!(decrypt(&client, &blob).await, b"held in the token");
    let again = encrypt(&client, &key, b"after a restart").await;
    assert_eq!(decrypt(&client, &again).await, b"after a restart");
}

#[tokio::test]
async fn a_wrong_password_or_a_missing_token_fails_with_its_error_code() {
    let hsm = Hsm::new();
    let server = hsm.server(&[]);
    let client = server.client(REGION);
    let id = create_store(&client, &hsm, "wrong-pin", "not-the-pin").await;
    let failed = connect(&client, &id).await;
    assert_eq!(
        failed.connection_state(),
        Some(&ConnectionStateType::Failed)
    );
    assert_eq!(
        failed.connection_error_code(),
        Some(&ConnectionErrorCodeType::InvalidCredentials)
    );
    // A FAILED store is disconnected before it connects again.
    expect_code(
        client
            .connect_custom_key_store()
            .custom_key_store_id(&id)
            .send()
            .await,
        "CustomKeyStoreInvalidStateException",
    );
    ok(client
        .disconnect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await);
    ok(client
        .update_custom_key_store()
        .custom_key_store_id(&id)
        .key_store_password(PIN)
        .send()
        .await);
    assert_eq!(
        connect(&client, &id).await.connection_state(),
        Some(&ConnectionStateType::Connected)
    );

    // A cluster whose token is not there.
    let lost = ok(client
        .create_custom_key_store()
        .custom_key_store_name("lost")
        .cloud_hsm_cluster_id(MISSING_TOKEN_CLUSTER)
        .trust_anchor_certificate(&hsm.trust_anchor)
        .key_store_password(PIN)
        .send()
        .await)
    .custom_key_store_id
    .unwrap();
    let failed = connect(&client, &lost).await;
    assert_eq!(
        failed.connection_state(),
        Some(&ConnectionStateType::Failed)
    );
    assert_eq!(
        failed.connection_error_code(),
        Some(&ConnectionErrorCodeType::ClusterNotFound)
    );
    // A store of another account or an unknown id is not found; an empty store is deleted.
    expect_code(
        client
            .describe_custom_key_stores()
            .custom_key_store_id("cks-1234567890abcdef0")
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    expect_code(
        client
            .describe_custom_key_stores()
            .custom_key_store_name("nobody")
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    ok(client
        .disconnect_custom_key_store()
        .custom_key_store_id(&lost)
        .send()
        .await);
    ok(client
        .delete_custom_key_store()
        .custom_key_store_id(&lost)
        .send()
        .await);
    expect_code(
        client
            .delete_custom_key_store()
            .custom_key_store_id(&lost)
            .send()
            .await,
        "CustomKeyStoreNotFoundException",
    );
    // What UpdateCustomKeyStore and CreateCustomKeyStore refuse, changing nothing.
    ok(client
        .disconnect_custom_key_store()
        .custom_key_store_id(&id)
        .send()
        .await);
    expect_err(
        client
            .update_custom_key_store()
            .custom_key_store_id(&id)
            .cloud_hsm_cluster_id("cluster-unknownunknown")
            .send()
            .await,
        "CloudHsmClusterNotFoundException",
        Some("AWS CloudHSM cluster 'cluster-unknownunknown' could not be found."),
    );
    expect_err(
        client
            .update_custom_key_store()
            .custom_key_store_id(&id)
            .cloud_hsm_cluster_id(OTHER_CLUSTER)
            .send()
            .await,
        "CloudHsmClusterNotRelatedException",
        Some(&format!(
            "AWS CloudHSM cluster '{OTHER_CLUSTER}' is not related to the cluster of custom key store '{id}'."
        )),
    );
    expect_err(
        client
            .update_custom_key_store()
            .custom_key_store_id(&id)
            .xks_proxy_uri_path("/kms/xks/v1")
            .send()
            .await,
        "ValidationException",
        Some("XksProxy properties are not valid for a custom key store of type AWS_CLOUDHSM."),
    );
    expect_err(
        client
            .create_custom_key_store()
            .custom_key_store_name("incomplete")
            .cloud_hsm_cluster_id(OTHER_CLUSTER)
            .send()
            .await,
        "ValidationException",
        Some("CloudHsmClusterId, TrustAnchorCertificate and KeyStorePassword are required for a custom key store of type AWS_CLOUDHSM."),
    );
    let entry = describe(&client, &id).await;
    assert_eq!(entry.cloud_hsm_cluster_id(), Some(CLUSTER));
    assert_eq!(
        entry.connection_state(),
        Some(&ConnectionStateType::Disconnected)
    );
    // Paging.
    let page = ok(client.describe_custom_key_stores().limit(1).send().await);
    assert_eq!(page.custom_key_stores().len(), 1);
    assert!(!page.truncated());
    expect_code(
        client
            .describe_custom_key_stores()
            .marker("not-a-marker")
            .send()
            .await,
        "InvalidMarkerException",
    );
}

#[tokio::test]
async fn a_deleted_key_takes_its_token_object_with_it() {
    let hsm = Hsm::new();
    let server = hsm.server(&[SWITCH]);
    freeze_at(&server, now_ms()).await;
    let client = server.client(REGION);
    let id = create_store(&client, &hsm, "ks", PIN).await;
    connect(&client, &id).await;
    let key = create_token_key(&client, &id).await;
    let kept = create_token_key(&client, &id).await;
    assert!(hsm.list_objects("ks1").contains(&key));
    ok(client
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await);
    advance_millis(&server, 7 * DAY_MS).await;
    expect_code(
        client.describe_key().key_id(&key).send().await,
        "NotFoundException",
    );
    let objects = hsm.list_objects("ks1");
    assert!(!objects.contains(&key), "{objects}");
    assert!(objects.contains(&kept), "{objects}");
}

fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Every custom key store operation is authorized by IAM policy (`kms:*CustomKeyStore*`
/// on `*`): a user allowed only DescribeCustomKeyStores describes and is denied the rest,
/// before anything changes.
#[tokio::test]
async fn custom_key_store_operations_are_authorized_by_iam_policy() {
    let hsm = Hsm::new();
    let server = hsm.server(&[]);
    let admin = server.client(REGION);
    let id = create_store(&admin, &hsm, "ks", PIN).await;
    let auditor = server.client_as(REGION, AUDITOR_KEY, AUDITOR_SECRET);
    let entry = ok(auditor.describe_custom_key_stores().send().await);
    assert_eq!(entry.custom_key_stores().len(), 1);
    let denied = |e: &str| assert_eq!(e, "AccessDeniedException");
    denied(&trent_testkit::sdk::error_code(
        &auditor
            .create_custom_key_store()
            .custom_key_store_name("mine")
            .cloud_hsm_cluster_id(OTHER_CLUSTER)
            .trust_anchor_certificate(&hsm.trust_anchor)
            .key_store_password(PIN)
            .send()
            .await
            .unwrap_err(),
    ));
    denied(&trent_testkit::sdk::error_code(
        &auditor
            .connect_custom_key_store()
            .custom_key_store_id(&id)
            .send()
            .await
            .unwrap_err(),
    ));
    denied(&trent_testkit::sdk::error_code(
        &auditor
            .update_custom_key_store()
            .custom_key_store_id(&id)
            .new_custom_key_store_name("x")
            .send()
            .await
            .unwrap_err(),
    ));
    denied(&trent_testkit::sdk::error_code(
        &auditor
            .delete_custom_key_store()
            .custom_key_store_id(&id)
            .send()
            .await
            .unwrap_err(),
    ));
    denied(&trent_testkit::sdk::error_code(
        &auditor
            .disconnect_custom_key_store()
            .custom_key_store_id(&id)
            .send()
            .await
            .unwrap_err(),
    ));
    let entry = describe(&admin, &id).await;
    assert_eq!(entry.custom_key_store_name(), Some("ks"));
    assert_eq!(
        entry.connection_state(),
        Some(&ConnectionStateType::Disconnected)
    );
}

/// The AWS CLI end to end, as an operator would: create the store from the trust anchor
/// file, connect it, create a key in it, and round-trip Encrypt/Decrypt.
#[tokio::test]
async fn the_aws_cli_creates_connects_and_uses_a_cloudhsm_key_store() {
    let hsm = Hsm::new();
    let server = hsm.server(&[]);
    let work = tempfile::tempdir().unwrap();
    let anchor = work.path().join("anchor.pem");
    std::fs::write(&anchor, &hsm.trust_anchor).unwrap();
    let kms = |args: &[&str]| -> serde_json::Value {
        let mut all = vec![
            "kms",
            "--endpoint-url",
            server.endpoint(),
            "--output",
            "json",
        ];
        all.extend_from_slice(args);
        let (ok, out, err) = crate::harness::aws_cli(&server, &all, &[]);
        assert!(ok, "aws {}: {err}", args.join(" "));
        if out.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&out).unwrap()
        }
    };
    let anchor_arg = format!("file://{}", anchor.display());
    let created = kms(&[
        "create-custom-key-store",
        "--custom-key-store-name",
        "cli-store",
        "--cloud-hsm-cluster-id",
        CLUSTER,
        "--trust-anchor-certificate",
        &anchor_arg,
        "--key-store-password",
        PIN,
    ]);
    let id = created["CustomKeyStoreId"].as_str().unwrap().to_owned();
    kms(&["connect-custom-key-store", "--custom-key-store-id", &id]);
    let client = server.client(REGION);
    assert_eq!(
        settled(&client, &id).await.connection_state(),
        Some(&ConnectionStateType::Connected)
    );
    let described = kms(&["describe-custom-key-stores", "--custom-key-store-id", &id]);
    assert_eq!(
        described["CustomKeyStores"][0]["ConnectionState"],
        "CONNECTED"
    );
    let key = kms(&[
        "create-key",
        "--origin",
        "AWS_CLOUDHSM",
        "--custom-key-store-id",
        &id,
    ]);
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    assert_eq!(key["KeyMetadata"]["Origin"], "AWS_CLOUDHSM");
    assert_eq!(key["KeyMetadata"]["CloudHsmClusterId"], CLUSTER);
    assert!(hsm.list_objects("ks1").contains(&key_id));
    let plain = work.path().join("plain.txt");
    std::fs::write(&plain, b"through the AWS CLI").unwrap();
    let encrypted = kms(&[
        "encrypt",
        "--key-id",
        &key_id,
        "--plaintext",
        &format!("fileb://{}", plain.display()),
    ]);
    let blob = work.path().join("blob.bin");
    {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encrypted["CiphertextBlob"].as_str().unwrap())
            .unwrap();
        std::fs::write(&blob, bytes).unwrap();
    }
    let decrypted = kms(&[
        "decrypt",
        "--ciphertext-blob",
        &format!("fileb://{}", blob.display()),
    ]);
    assert_eq!(decrypted["KeyId"], key["KeyMetadata"]["Arn"]);
    let text = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(decrypted["Plaintext"].as_str().unwrap())
            .unwrap()
    };
    assert_eq!(text, b"through the AWS CLI");
}

/// The console's custom key stores page: the store's state, connecting it, and a key
/// created in it with the create-key form, in headless Chromium.
#[tokio::test]
async fn the_console_connects_a_store_and_creates_a_key_in_it() {
    use trent_testkit::browser::Browser;
    let hsm = Hsm::new();
    let server = hsm.server(&[]);
    let client = server.client(REGION);
    let browser = Browser::start().await;
    let base = server.endpoint().trim_end_matches('/').to_owned();
    browser.goto(&format!("{base}/console/")).await;
    browser.fill("#access_key_id", server.access_key_id()).await;
    browser
        .fill("#secret_access_key", server.secret_access_key())
        .await;
    browser.click_and_wait("#sign-in").await;
    browser
        .goto(&format!("{base}/console/custom-key-stores"))
        .await;
    assert!(browser
        .text("#no-stores")
        .await
        .contains("No custom key stores"));
    // Created from the form, its fields passed to CreateCustomKeyStore as typed.
    browser.select("#store-type", "AWS_CLOUDHSM").await;
    browser.fill("#store-name", "console-store").await;
    browser.fill("#cluster-id", CLUSTER).await;
    browser.fill("#trust-anchor", &hsm.trust_anchor).await;
    browser.fill("#store-password", PIN).await;
    browser.click_and_wait("#create-store").await;
    assert!(
        browser.text(".flash.ok").await.contains("was created"),
        "{}",
        browser.source().await
    );
    let stores = client
        .describe_custom_key_stores()
        .custom_key_store_name("console-store")
        .send()
        .await
        .unwrap();
    let store = stores.custom_key_stores()[0]
        .custom_key_store_id()
        .unwrap()
        .to_owned();
    let table = browser.text("#stores").await;
    assert!(
        table.contains(&store) && table.contains("DISCONNECTED") && table.contains(CLUSTER),
        "{table}"
    );
    browser.click_and_wait("#stores button").await;
    assert!(browser.text(".flash.ok").await.contains("Connecting"));
    let entry = settled(&client, &store).await;
    assert_eq!(
        entry.connection_state(),
        Some(&ConnectionStateType::Connected)
    );
    browser
        .goto(&format!("{base}/console/custom-key-stores"))
        .await;
    assert!(browser.text("#stores").await.contains("CONNECTED"));

    browser.goto(&format!("{base}/console/keys/new")).await;
    browser.select("#origin", "AWS_CLOUDHSM").await;
    browser.fill("#custom_key_store_id", &store).await;
    browser.fill("#alias", "in-the-token").await;
    browser.click_and_wait("#create").await;
    assert_eq!(browser.text("#key-origin").await, "AWS_CLOUDHSM");
    assert_eq!(browser.text("#key-store").await, store);
    let key_id = browser.text("#key-id").await;
    let blob = encrypt(&client, &key_id, b"in the token").await;
    assert_eq!(decrypt(&client, &blob).await, b"in the token");
}
