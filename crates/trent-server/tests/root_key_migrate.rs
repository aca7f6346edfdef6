//! `trent root-key migrate`, through the real `trent` binary on real data directories
//! and a SoftHSM2 token made for each test: keys of several kinds made by a server, the
//! server stopped, the store re-sealed under another root key (interrupted and resumed),
//! the server started with the new `[root_key]`: every key still opens what it made, and
//! the old root key is refused. Without SoftHSM2 the pkcs11 tests FAIL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, GrantOperation, KeySpec, KeyUsageType, MacAlgorithmSpec,
    MessageType, OriginType, SigningAlgorithmSpec, WrappingKeySpec,
};
use aws_sdk_kms::Client;
use sqlx::Connection;
use trent_testkit::postgres::{self, Database};
use trent_testkit::process::{run, trent_bin, Launch, Trent};
use trent_testkit::sdk::{client, ok, REGION};
use trent_testkit::server::read_credentials_file;
use trent_testkit::softhsm;

const PIN: &str = "pin-5b1e0c9d77";
const SO_PIN: &str = "so-pin-0000";
const TOKEN: &str = "trent-root";
const KEY_LABEL: &str = "trent-root-key";
const PASSPHRASE: &str = "passphrase-4c8a12ef90";
const MAX_BATCHES: &str = "TRENT_TEST_ROOT_KEY_MIGRATE_MAX_BATCHES";

/// A SoftHSM2 token directory of its own with one token, and a `[root_key]` config for it.
struct Hsm {
    conf: PathBuf,
    config: PathBuf,
}

impl Hsm {
    fn new(work: &Path) -> Self {
        let tokens = softhsm::Tokens::new(work);
        tokens.init_token(TOKEN, SO_PIN, PIN);
        let conf = tokens.conf.clone();
        let config = work.join("pkcs11.toml");
        std::fs::write(
            &config,
            format!(
                "[root_key]\nprovider = \"pkcs11\"\nmodule = \"{}\"\ntoken_label = \"{TOKEN}\"\nkey_label = \"{KEY_LABEL}\"\n",
                tokens.module.display()
            ),
        )
        .unwrap();
        Self { conf, config }
    }

    fn env(&self) -> [(&str, &str); 2] {
        [
            ("SOFTHSM2_CONF", self.conf.to_str().unwrap()),
            ("TRENT_PKCS11_PIN", PIN),
        ]
    }
}

/// `trent root-key migrate ARGS` on `data`: whether it succeeded, and its output (which
/// never shows a PIN or passphrase).
fn migrate(data: &Path, args: &[&str], envs: &[(&str, &str)]) -> (bool, String) {
    let mut all = vec![
        "root-key",
        "migrate",
        "--data-dir",
        data.to_str().unwrap(),
        "--batch-size",
        "2",
    ];
    all.extend_from_slice(args);
    let (success, output) = run(&trent_bin(), &all, envs);
    for secret in [PIN, PASSPHRASE] {
        assert!(!output.contains(secret), "a secret in the output: {output}");
    }
    (success, output)
}

/// What a server made before the migration, to check after it.
struct Made {
    symmetric: String,
    ciphertext: Vec<u8>,
    rsa: String,
    signature: Vec<u8>,
    hmac: String,
    mac: Vec<u8>,
    imported: String,
    imported_ciphertext: Vec<u8>,
}

const MESSAGE: &[u8] = b"made before the root key changed";

fn kms(server: &Trent, data: &Path) -> Client {
    let (id, secret) = read_credentials_file(data);
    client(server.endpoint(), REGION, &id, &secret)
}

/// RSAES_OAEP_SHA_256 of `material` under GetParametersForImport's public key.
fn wrap(public_key: &[u8], material: &[u8]) -> Vec<u8> {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
    let key =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_key).unwrap()).unwrap();
    let mut out = vec![0u8; key.ciphertext_size()];
    key.encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .unwrap()
        .to_vec()
}

/// Keys of several kinds (symmetric, RSA signing, HMAC, imported material) and what
/// each made, and a grant (the sealed grant token key).
async fn make_keys(kms: &Client) -> Made {
    let create = |spec: KeySpec, usage: KeyUsageType| async move {
        ok(kms
            .create_key()
            .key_spec(spec)
            .key_usage(usage)
            .send()
            .await)
        .key_metadata
        .unwrap()
        .key_id
    };
    let symmetric = create(KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt).await;
    let ciphertext = ok(kms
        .encrypt()
        .key_id(&symmetric)
        .plaintext(Blob::new(MESSAGE.to_vec()))
        .send()
        .await)
    .ciphertext_blob
    .unwrap()
    .into_inner();
    let rsa = create(KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let signature = ok(kms
        .sign()
        .key_id(&rsa)
        .message(Blob::new(MESSAGE.to_vec()))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
        .send()
        .await)
    .signature
    .unwrap()
    .into_inner();
    let hmac = create(KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let mac = ok(kms
        .generate_mac()
        .key_id(&hmac)
        .message(Blob::new(MESSAGE.to_vec()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await)
    .mac
    .unwrap()
    .into_inner();
    ok(kms
        .create_grant()
        .key_id(&symmetric)
        .grantee_principal("arn:aws:iam::111122223333:user/nobody")
        .operations(GrantOperation::Decrypt)
        .send()
        .await);

    let imported = ok(kms.create_key().origin(OriginType::External).send().await)
        .key_metadata
        .unwrap()
        .key_id;
    let params = ok(kms
        .get_parameters_for_import()
        .key_id(&imported)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await);
    let material = [0x5a_u8; 32];
    ok(kms
        .import_key_material()
        .key_id(&imported)
        .import_token(params.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrap(
            params.public_key().unwrap().as_ref(),
            &material,
        )))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await);
    let imported_ciphertext = ok(kms
        .encrypt()
        .key_id(&imported)
        .plaintext(Blob::new(MESSAGE.to_vec()))
        .send()
        .await)
    .ciphertext_blob
    .unwrap()
    .into_inner();
    Made {
        symmetric,
        ciphertext,
        rsa,
        signature,
        hmac,
        mac,
        imported,
        imported_ciphertext,
    }
}

/// Every key still opens, verifies and checks what it made before.
async fn check_keys(kms: &Client, made: &Made) {
    for (key, ct) in [
        (&made.symmetric, &made.ciphertext),
        (&made.imported, &made.imported_ciphertext),
    ] {
        let out = ok(kms
            .decrypt()
            .key_id(key)
            .ciphertext_blob(Blob::new(ct.clone()))
            .send()
            .await);
        assert_eq!(out.plaintext.unwrap().as_ref(), MESSAGE);
    }
    let verified = ok(kms
        .verify()
        .key_id(&made.rsa)
        .message(Blob::new(MESSAGE.to_vec()))
        .message_type(MessageType::Raw)
        .signature(Blob::new(made.signature.clone()))
        .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
        .send()
        .await);
    assert!(verified.signature_valid);
    // Signs anew (the private key itself, not only the public one, was re-sealed).
    ok(kms
        .sign()
        .key_id(&made.rsa)
        .message(Blob::new(MESSAGE.to_vec()))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
        .send()
        .await);
    let mac = ok(kms
        .verify_mac()
        .key_id(&made.hmac)
        .message(Blob::new(MESSAGE.to_vec()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .mac(Blob::new(made.mac.clone()))
        .send()
        .await);
    assert!(mac.mac_valid);
    // The grant token key is usable: a new grant is made and listed.
    ok(kms
        .create_grant()
        .key_id(&made.symmetric)
        .grantee_principal("arn:aws:iam::111122223333:user/other")
        .operations(GrantOperation::Encrypt)
        .send()
        .await);
}

/// Every sealed secret of the SQLite store, by table, as stored.
async fn sealed_rows(data: &Path) -> Vec<(String, Vec<u8>)> {
    let url = format!("sqlite://{}?mode=ro", data.join("trent.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mut out = Vec::new();
    for (table, column, filter) in [
        ("key_materials", "sealed", "1 = 1"),
        ("imported_materials", "sealed", "sealed IS NOT NULL"),
        ("access_keys", "sealed_secret", "1 = 1"),
        (
            "meta",
            "value",
            "name IN ('root_key_check', 'grant_token_key', 'import_material_id_key', 'xks_master_key')",
        ),
    ] {
        let rows: Vec<(Vec<u8>,)> = sqlx::query_as(&format!(
            "SELECT {column} FROM {table} WHERE {filter} ORDER BY 1"
        ))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        out.extend(rows.into_iter().map(|(v,)| (table.to_owned(), v)));
    }
    out
}

/// The first byte of every sealed secret of the SQLite store (the sealed format's
/// version: 1 in-process, 2 PKCS#11), by table.
async fn sealed_versions(data: &Path) -> Vec<(String, u8)> {
    sealed_rows(data)
        .await
        .into_iter()
        .map(|(t, v)| (t, v[0]))
        .collect()
}

/// Whether a segment file of the data directory's audit trail holds `text`.
fn audit_holds(data: &Path, text: &str) -> bool {
    std::fs::read_dir(data.join("audit")).unwrap().any(|e| {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        bytes.windows(text.len()).any(|w| w == text.as_bytes())
    })
}

/// The sealed XKS master key of the SQLite store.
async fn master_entry(data: &Path) -> Vec<u8> {
    let url = format!("sqlite://{}?mode=ro", data.join("trent.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (value,): (Vec<u8>,) =
        sqlx::query_as("SELECT value FROM meta WHERE name = 'xks_master_key'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    value
}

fn serve(data: &Path, config: Option<&Path>) -> Launch {
    let launch = Launch::serve().data_dir(data);
    match config {
        Some(c) => launch.args(["--config", c.to_str().unwrap()]),
        None => launch,
    }
}

/// file → pkcs11 (interrupted, then resumed) → file → passphrase, the keys checked after
/// each step; the replaced root key refused after each.
#[tokio::test]
async fn file_to_pkcs11_to_file_to_passphrase() {
    let work = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(work.path());
    let data = work.path().join("data");

    let mut server = serve(&data, None).start();
    let made = make_keys(&kms(&server, &data)).await;
    assert!(server.terminate().success());
    let before = sealed_versions(&data).await;
    assert!(before.iter().all(|(_, v)| *v == 1), "{before:?}");
    assert_eq!(
        before.iter().filter(|(t, _)| t == "key_materials").count(),
        3
    );
    assert_eq!(
        before
            .iter()
            .filter(|(t, _)| t == "imported_materials")
            .count(),
        1
    );
    assert_eq!(before.iter().filter(|(t, _)| t == "meta").count(), 3);

    // Interrupted after one transaction of two records: those are under the token's key,
    // the others and the root key check still under the file.
    let to_pkcs11 = [
        "--to",
        "pkcs11",
        "--to-config",
        hsm.config.to_str().unwrap(),
    ];
    let mut envs = hsm.env().to_vec();
    envs.push((MAX_BATCHES, "1"));
    let (success, output) = migrate(&data, &to_pkcs11, &envs);
    assert!(!success, "{output}");
    assert!(
        output.contains("run the command again to finish"),
        "{output}"
    );
    // Half migrated: no server starts, with either root key.
    let refused = serve(&data, None).start_fails().output();
    assert!(
        refused.contains("a root key migration of this store was interrupted"),
        "{refused}"
    );
    let partial = sealed_versions(&data).await;
    assert_eq!(partial.len(), before.len(), "{partial:?}");
    assert_eq!(
        partial.iter().filter(|(_, v)| *v == 2).count(),
        2,
        "{partial:?}"
    );
    let check = |versions: &[(String, u8)]| {
        versions
            .iter()
            .filter(|(t, _)| t == "meta")
            .map(|(_, v)| *v)
            .collect::<Vec<_>>()
    };
    assert!(check(&partial).iter().all(|v| *v == 1), "{partial:?}");
    let done_first: Vec<(String, Vec<u8>)> = sealed_rows(&data)
        .await
        .into_iter()
        .filter(|(_, v)| v[0] == 2)
        .collect();

    // Resumed: what the first run did is found done, the rest re-sealed.
    let (success, output) = migrate(&data, &to_pkcs11, &hsm.env());
    assert!(success, "{output}");
    assert!(
        output.contains("key material: 1 re-sealed, 2 already"),
        "{output}"
    );
    assert!(output.contains("audit signing key: re-sealed"), "{output}");
    let after = sealed_versions(&data).await;
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|(_, v)| *v == 2), "{after:?}");
    // What the first run re-sealed was kept as it was, not re-sealed twice.
    let rows = sealed_rows(&data).await;
    assert!(done_first.iter().all(|r| rows.contains(r)));
    // Recorded in the audit trail, which still verifies (the signing key is the same,
    // only sealed under the new root key).
    assert!(audit_holds(&data, "TrentMigrateRootKey"));
    assert!(audit_holds(&data, r#""phase":"started""#));
    assert!(audit_holds(&data, r#""phase":"completed""#));
    let (verified, output) = run(
        &trent_bin(),
        &["audit", "verify", "--data-dir", data.to_str().unwrap()],
        &[],
    );
    assert!(verified, "{output}");
    // Run again: nothing left to do.
    let (success, output) = migrate(&data, &to_pkcs11, &hsm.env());
    assert!(success, "{output}");
    assert!(output.contains("done: 0 secrets re-sealed"), "{output}");

    // The old file provider is refused; the token's key serves every key.
    let refused = serve(&data, None).start_fails().output();
    assert!(refused.contains("root key does not match"), "{refused}");
    let server = serve(&data, Some(&hsm.config)).envs(&hsm.env()).start();
    check_keys(&kms(&server, &data), &made).await;
    drop(server);

    // pkcs11 → file: a new key file, root.key.new, moved into place by the operator.
    std::fs::rename(data.join("root.key"), work.path().join("old-root.key")).unwrap();
    let mut envs = hsm.env().to_vec();
    envs.push(("TRENT_CONFIG", hsm.config.to_str().unwrap()));
    let (success, output) = migrate(&data, &["--to", "file"], &envs);
    assert!(success, "{output}");
    assert!(output.contains("move"), "{output}");
    std::fs::rename(data.join("root.key.new"), data.join("root.key")).unwrap();
    let refused = serve(&data, Some(&hsm.config))
        .envs(&hsm.env())
        .start_fails()
        .output();
    assert!(refused.contains("root key does not match"), "{refused}");
    let server = serve(&data, None).start();
    check_keys(&kms(&server, &data), &made).await;
    drop(server);
    assert!(sealed_versions(&data).await.iter().all(|(_, v)| *v == 1));

    // file → passphrase.
    let passphrase = work.path().join("passphrase.toml");
    std::fs::write(&passphrase, "[root_key]\nprovider = \"passphrase\"\n").unwrap();
    let (success, output) = migrate(
        &data,
        &[
            "--to",
            "passphrase",
            "--to-config",
            passphrase.to_str().unwrap(),
        ],
        &[("TRENT_ROOT_KEY_PASSPHRASE", PASSPHRASE)],
    );
    assert!(success, "{output}");
    assert!(data.join("root.key.sealed").exists());
    let refused = serve(&data, None).start_fails().output();
    assert!(refused.contains("root key does not match"), "{refused}");
    let server = serve(&data, Some(&passphrase))
        .env("TRENT_ROOT_KEY_PASSPHRASE", PASSPHRASE)
        .start();
    check_keys(&kms(&server, &data), &made).await;
}

/// The XKS proxy's master key (a `meta` entry) moves with the root key, by value, into
/// the token and out of it: what the XKS proxy encrypted under the file root key
/// decrypts after file → pkcs11 (where the entry is the key wrapped with the token's root
/// key, version 3, and the XKS keys are made and used inside the token) and after
/// pkcs11 → passphrase, and so does what it encrypted in the token; the replaced root key
/// is refused after each step.
#[tokio::test]
async fn the_xks_master_key_moves_with_the_root_key() {
    use trent_testkit::xks::{endpoint, Call};
    const AK: &str = "AKIA4GBY3I6JCE5M2HPM";
    const SK: &str = "1234567890123456789012345678901234567890123=";
    let work = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(work.path());
    let data = work.path().join("data");
    let xks = format!(
        "[xks]\nlisten = \"127.0.0.1:0\"\n[[xks.key_stores]]\nuri_path_prefix = \"/ks\"\ncredentials = [{{ access_key_id = \"{AK}\", secret_access_key = \"{SK}\" }}]\nkeys = [{{ id = \"k\", usage = [\"ENCRYPT\", \"DECRYPT\"] }}]\n"
    );
    let file_config = work.path().join("xks.toml");
    std::fs::write(&file_config, &xks).unwrap();
    let pkcs11_xks = work.path().join("pkcs11-xks.toml");
    std::fs::write(
        &pkcs11_xks,
        format!("{}{xks}", std::fs::read_to_string(&hsm.config).unwrap()),
    )
    .unwrap();
    let passphrase = work.path().join("passphrase.toml");
    std::fs::write(&passphrase, "[root_key]\nprovider = \"passphrase\"\n").unwrap();
    let passphrase_xks = work.path().join("passphrase-xks.toml");
    std::fs::write(
        &passphrase_xks,
        format!("[root_key]\nprovider = \"passphrase\"\n{xks}"),
    )
    .unwrap();
    let metadata = serde_json::json!({
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k",
        "kmsOperation": "Encrypt",
        "kmsRequestId": "r-1",
    });
    let url = |server: &Trent, op: &str| format!("{}/ks/kms/xks/v1/keys/k/{op}", endpoint(server));
    let encrypt = |server: &Trent, plaintext: &str| {
        Call::new(url(server, "encrypt"), AK, SK)
            .post(
                &serde_json::json!({
                    "requestMetadata": metadata,
                    "plaintext": plaintext,
                    "encryptionAlgorithm": "AES_GCM",
                })
                .to_string(),
            )
            .assert_ok()
    };
    let decrypts = |server: &Trent, encrypted: &serde_json::Value, plaintext: &str| {
        let decrypted = Call::new(url(server, "decrypt"), AK, SK)
            .post(
                &serde_json::json!({
                    "requestMetadata": metadata,
                    "ciphertext": encrypted["ciphertext"],
                    "initializationVector": encrypted["initializationVector"],
                    "authenticationTag": encrypted["authenticationTag"],
                    "encryptionAlgorithm": "AES_GCM",
                })
                .to_string(),
            )
            .assert_ok();
        assert_eq!(decrypted["plaintext"], plaintext);
    };
    const BEFORE: &str = "bWFkZSBiZWZvcmUgdGhlIHJvb3Qga2V5IGNoYW5nZWQ=";
    const IN_TOKEN: &str = "bWFkZSBpbiB0aGUgdG9rZW4=";

    let mut server = serve(&data, Some(&file_config)).start();
    let before = encrypt(&server, BEFORE);
    assert!(server.terminate().success());
    let soft = master_entry(&data).await;
    assert_eq!(soft[0], 1);

    // file → pkcs11: the master key is wrapped with the token's root key.
    let to_pkcs11 = [
        "--to",
        "pkcs11",
        "--to-config",
        hsm.config.to_str().unwrap(),
    ];
    let (success, output) = migrate(&data, &to_pkcs11, &hsm.env());
    assert!(success, "{output}");
    let wrapped = master_entry(&data).await;
    assert_eq!(wrapped[0], 3, "wrapped with CKM_AES_KEY_WRAP_PAD");
    let refused = serve(&data, Some(&file_config)).start_fails().output();
    assert!(refused.contains("root key does not match"), "{refused}");
    let mut server = serve(&data, Some(&pkcs11_xks)).envs(&hsm.env()).start();
    decrypts(&server, &before, BEFORE);
    let in_token = encrypt(&server, IN_TOKEN);
    decrypts(&server, &in_token, IN_TOKEN);
    let health = Call::new(format!("{}/ks/kms/xks/v1/health", endpoint(&server)), AK, SK)
        .post(&serde_json::json!({ "requestMetadata": { "kmsRequestId": "r-2", "kmsOperation": "KmsHealthCheck" } }).to_string())
        .assert_ok();
    assert_eq!(
        health["ekmFleetDetails"][0]["healthStatus"], "ACTIVE",
        "{health}"
    );
    assert!(server.terminate().success());
    // Run again: the entry is found done, kept as it is.
    let (success, output) = migrate(&data, &to_pkcs11, &hsm.env());
    assert!(success, "{output}");
    assert_eq!(master_entry(&data).await, wrapped);

    // pkcs11 → passphrase: out of the token, sealed in process again.
    let mut envs = hsm.env().to_vec();
    envs.push(("TRENT_CONFIG", hsm.config.to_str().unwrap()));
    envs.push(("TRENT_ROOT_KEY_PASSPHRASE", PASSPHRASE));
    let (success, output) = migrate(
        &data,
        &[
            "--to",
            "passphrase",
            "--to-config",
            passphrase.to_str().unwrap(),
        ],
        &envs,
    );
    assert!(success, "{output}");
    assert_eq!(master_entry(&data).await[0], 1);
    let refused = serve(&data, Some(&pkcs11_xks))
        .envs(&hsm.env())
        .start_fails()
        .output();
    assert!(refused.contains("root key does not match"), "{refused}");
    let server = serve(&data, Some(&passphrase_xks))
        .env("TRENT_ROOT_KEY_PASSPHRASE", PASSPHRASE)
        .start();
    decrypts(&server, &before, BEFORE);
    decrypts(&server, &in_token, IN_TOKEN);
}

/// A custom key store's secret (an AWS_CLOUDHSM store's password; an external key store's
/// credential is the same column, the same `SealedKind`) is sealed under the root key:
/// re-sealed by the migration, the store connects after it (the password opens under the
/// new root key) and its key decrypts what it encrypted before.
#[tokio::test]
async fn custom_key_store_secrets_move_with_the_root_key() {
    use aws_sdk_kms::types::{ConnectionStateType, OriginType};
    use trent_testkit::sdk::{connect_custom_key_store, describe_custom_key_store};
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let hsm_dir = work.path().join("hsm");
    std::fs::create_dir(&hsm_dir).unwrap();
    let tokens = softhsm::Tokens::new(&hsm_dir);
    tokens.init_token("ks", SO_PIN, PIN);
    let anchor = softhsm::trust_anchor(work.path(), "ks-ca");
    let clusters = format!(
        "[[pkcs11_clusters]]\ncluster_id = \"cluster-234567abcdefg\"\nmodule = \"{}\"\ntoken_label = \"ks\"\ntrust_anchor_file = \"{}\"\n",
        tokens.module.display(),
        anchor.display()
    );
    let file_config = work.path().join("clusters.toml");
    std::fs::write(&file_config, &clusters).unwrap();
    let passphrase = work.path().join("passphrase.toml");
    std::fs::write(&passphrase, "[root_key]\nprovider = \"passphrase\"\n").unwrap();
    let passphrase_clusters = work.path().join("passphrase-clusters.toml");
    std::fs::write(
        &passphrase_clusters,
        format!("[root_key]\nprovider = \"passphrase\"\n{clusters}"),
    )
    .unwrap();
    let conf = tokens.conf.to_str().unwrap().to_owned();

    let mut server = serve(&data, Some(&file_config))
        .env("SOFTHSM2_CONF", &conf)
        .start();
    let kms = kms(&server, &data);
    let store = kms
        .create_custom_key_store()
        .custom_key_store_name("ks")
        .cloud_hsm_cluster_id("cluster-234567abcdefg")
        .trust_anchor_certificate(std::fs::read_to_string(&anchor).unwrap())
        .key_store_password(PIN)
        .send()
        .await
        .unwrap()
        .custom_key_store_id
        .unwrap();
    assert_eq!(
        connect_custom_key_store(&kms, &store)
            .await
            .connection_state(),
        Some(&ConnectionStateType::Connected)
    );
    let key = kms
        .create_key()
        .custom_key_store_id(&store)
        .origin(OriginType::AwsCloudhsm)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let ciphertext = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(MESSAGE))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let to_passphrase = [
        "--to",
        "passphrase",
        "--to-config",
        passphrase.to_str().unwrap(),
    ];
    let envs = [("TRENT_ROOT_KEY_PASSPHRASE", PASSPHRASE)];
    // Not while a server of this data directory runs (SQLite: no database to ask).
    let (success, output) = migrate(&data, &to_passphrase, &envs);
    assert!(!success, "{output}");
    assert!(
        output.contains("is in use by another trent process"),
        "{output}"
    );
    assert!(server.terminate().success());

    let (success, output) = migrate(&data, &to_passphrase, &envs);
    assert!(success, "{output}");
    assert!(
        output.contains("custom key store secret: 1 re-sealed"),
        "{output}"
    );

    let server = serve(&data, Some(&passphrase_clusters))
        .env("TRENT_ROOT_KEY_PASSPHRASE", PASSPHRASE)
        .env("SOFTHSM2_CONF", &conf)
        .start();
    let kms = self::kms(&server, &data);
    // Still CONNECTED in the store: this node logs in with the password it unseals now.
    assert_eq!(
        describe_custom_key_store(&kms, &store)
            .await
            .connection_state(),
        Some(&ConnectionStateType::Connected)
    );
    let plain = kms
        .decrypt()
        .ciphertext_blob(ciphertext)
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    assert_eq!(plain.as_ref(), MESSAGE);
    // And a fresh connection after a disconnection.
    kms.disconnect_custom_key_store()
        .custom_key_store_id(&store)
        .send()
        .await
        .unwrap();
    assert_eq!(
        connect_custom_key_store(&kms, &store)
            .await
            .connection_state(),
        Some(&ConnectionStateType::Connected)
    );
}

/// The target is the source's key, or cannot be opened (a wrong PIN), or the source is
/// not this store's root key: refused, and the store is as it was.
#[tokio::test]
async fn refusals_change_nothing() {
    let work = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(work.path());
    let data = work.path().join("data");
    let mut server = serve(&data, Some(&hsm.config)).envs(&hsm.env()).start();
    let made = make_keys(&kms(&server, &data)).await;
    assert!(server.terminate().success());
    let before = sealed_rows(&data).await;

    // The same key: pkcs11 → the same token key.
    let mut envs = hsm.env().to_vec();
    envs.push(("TRENT_CONFIG", hsm.config.to_str().unwrap()));
    let (success, output) = migrate(
        &data,
        &[
            "--to",
            "pkcs11",
            "--to-config",
            hsm.config.to_str().unwrap(),
        ],
        &envs,
    );
    assert!(!success, "{output}");
    assert!(
        output.contains("the same root key as the source"),
        "{output}"
    );

    // The current key cannot be opened (a wrong PIN); a pkcs11 target without its
    // settings.
    let (success, output) = migrate(
        &data,
        &["--to", "file"],
        &[
            ("SOFTHSM2_CONF", hsm.conf.to_str().unwrap()),
            ("TRENT_PKCS11_PIN", "wrong-pin-1234"),
            ("TRENT_CONFIG", hsm.config.to_str().unwrap()),
        ],
    );
    assert!(!success, "{output}");
    assert!(output.contains("CKR_PIN_INCORRECT"), "{output}");
    assert!(!output.contains("wrong-pin-1234"), "{output}");
    let (success, output) = migrate(&data, &["--to", "pkcs11"], &envs);
    assert!(!success, "{output}");
    assert!(output.contains("provider \"pkcs11\" needs"), "{output}");

    // Its audit trail cannot be written (a file where the directory was): refused before
    // anything changed, as every write of Trent is when it cannot be audited first.
    let audit = data.join("audit");
    let aside = work.path().join("audit-aside");
    std::fs::rename(&audit, &aside).unwrap();
    std::fs::write(&audit, b"not a directory").unwrap();
    let (success, output) = migrate(&data, &["--to", "file"], &envs);
    assert!(!success, "{output}");
    assert!(
        output.contains("the migration did not start (nothing was changed)"),
        "{output}"
    );
    std::fs::remove_file(&audit).unwrap();
    std::fs::rename(&aside, &audit).unwrap();
    assert_eq!(sealed_rows(&data).await, before);
    assert!(!audit_holds(&data, "TrentMigrateRootKey"));

    // The source is not this store's root key: a root.key of another deployment.
    let other = work.path().join("other");
    drop(serve(&other, None).start());
    std::fs::copy(other.join("root.key"), data.join("root.key")).unwrap();
    let (success, output) = migrate(&data, &["--to", "file"], &[]);
    assert!(!success, "{output}");
    assert!(
        output.contains("neither the source nor the target"),
        "{output}"
    );
    assert_eq!(sealed_rows(&data).await, before);

    // Nothing changed: the token's key still serves every key.
    let server = serve(&data, Some(&hsm.config)).envs(&hsm.env()).start();
    check_keys(&kms(&server, &data), &made).await;
}

/// A wrong PIN for the target: refused before anything is written.
#[tokio::test]
async fn a_target_with_a_wrong_pin_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(work.path());
    let data = work.path().join("data");
    let mut server = serve(&data, None).start();
    let made = make_keys(&kms(&server, &data)).await;
    assert!(server.terminate().success());
    let before = sealed_rows(&data).await;
    let (success, output) = migrate(
        &data,
        &[
            "--to",
            "pkcs11",
            "--to-config",
            hsm.config.to_str().unwrap(),
        ],
        &[
            ("SOFTHSM2_CONF", hsm.conf.to_str().unwrap()),
            ("TRENT_PKCS11_PIN", "wrong-pin-1234"),
        ],
    );
    assert!(!success, "{output}");
    assert!(output.contains("CKR_PIN_INCORRECT"), "{output}");
    assert_eq!(sealed_rows(&data).await, before);
    let server = serve(&data, None).start();
    check_keys(&kms(&server, &data), &made).await;
}

/// A cluster's store on PostgreSQL: migrated once from one node's data directory; the
/// other node's data directory (its own audit signing key) by the same command run there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_file_to_pkcs11() {
    let Some(url) = postgres::url("postgres_store_file_to_pkcs11") else {
        return;
    };
    let db = Database::create(&url, "trent_rkmigrate_").await;
    let work = tempfile::tempdir().unwrap();
    let hsm = Hsm::new(work.path());
    let a = work.path().join("a");
    let b = work.path().join("b");
    let node = |dir: &Path| {
        Launch::serve()
            .data_dir(dir)
            .args(["--database-url", db.url.as_str()])
    };
    let mut first = node(&a).start();
    let made = make_keys(&kms(&first, &a)).await;
    assert!(first.terminate().success());
    std::fs::create_dir(&b).unwrap();
    std::fs::copy(a.join("root.key"), b.join("root.key")).unwrap();
    std::fs::copy(a.join("credentials"), b.join("credentials")).unwrap();
    // A node with its audit trail in its own files (no chain in the database) and
    // another data directory: seen all the same, by its presence lock.
    let mut second = node(&b).args(["--audit-store", "files"]).start();

    // A node still running: refused, nothing changed.
    let to_pkcs11 = [
        "--database-url",
        db.url.as_str(),
        "--to",
        "pkcs11",
        "--to-config",
        hsm.config.to_str().unwrap(),
    ];
    let (success, output) = migrate(&a, &to_pkcs11, &hsm.env());
    assert!(!success, "{output}");
    assert!(output.contains("stop every node first"), "{output}");
    assert!(second.terminate().success());

    let mut envs = hsm.env().to_vec();
    envs.push((MAX_BATCHES, "1"));
    let (success, output) = migrate(&a, &to_pkcs11, &envs);
    assert!(!success, "{output}");
    let (success, output) = migrate(&a, &to_pkcs11, &hsm.env());
    assert!(success, "{output}");
    assert!(
        output.contains("key material: 1 re-sealed, 2 already"),
        "{output}"
    );
    let (success, output) = migrate(&b, &to_pkcs11, &hsm.env());
    assert!(success, "{output}");
    assert!(output.contains("already under"), "{output}");
    assert!(output.contains("done: 0 secrets re-sealed"), "{output}");
    assert!(output.contains("audit signing key: re-sealed"), "{output}");

    let refused = node(&a).start_fails().output();
    assert!(refused.contains("root key"), "{refused}");
    let pkcs11_node = |dir: &Path| {
        node(dir)
            .args(["--config", hsm.config.to_str().unwrap()])
            .envs(&hsm.env())
    };
    let first = pkcs11_node(&a).start();
    let second = pkcs11_node(&b).start();
    check_keys(&kms(&first, &a), &made).await;
    check_keys(&kms(&second, &a), &made).await;
}

/// While something holds the database's nodes out (as `trent root-key migrate` does), a
/// node refuses to start, saying why; once it lets go, the node starts.
#[tokio::test]
async fn a_node_does_not_start_while_a_migration_holds_the_database() {
    let Some(url) = postgres::url("a_node_does_not_start_while_a_migration_holds_the_database")
    else {
        return;
    };
    let db = Database::create(&url, "trent_rkmigrate_").await;
    let work = tempfile::tempdir().unwrap();
    let node = || {
        Launch::serve()
            .data_dir(work.path().join("a"))
            .args(["--database-url", db.url.as_str()])
    };
    let mut first = node().start();
    assert!(first.terminate().success());
    let store = trent_store::PostgresStore::connect(&db.url).await.unwrap();
    let held = store.exclude_nodes().await.unwrap().expect("no node runs");
    let refused = node().start_fails().output();
    assert!(
        refused.contains("a root key migration of the database") && refused.contains("is running"),
        "{refused}"
    );
    drop(held);
    // The lock goes with its connection, which the server closes asynchronously.
    let mut started = None;
    for _ in 0..100 {
        if store.exclude_nodes().await.unwrap().is_some() {
            started = Some(node().start());
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(started.is_some(), "the lock was never released");
    store.close().await;
}
