//! Imported key material on a cluster: an import token from one node is accepted by
//! another (it is stateless, sealed under the shared root key), and imports and deletions
//! of material made through one node reach a node that had the key cached.

use std::time::Duration;

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, OriginType, WrappingKeySpec};
use aws_sdk_kms::Client;

use trent_testkit::cluster::Node;
use trent_testkit::postgres::{self, Database};
use trent_testkit::sdk::error_code;

use crate::converges;

const NO_TTL: &[&str] = &["--cache-ttl-ms", "3600000"];
const DEADLINE: Duration = Duration::from_secs(10);

/// RSAES_OAEP_SHA_256: the material RSA-OAEP encrypted (MGF1 SHA-256, no label).
fn wrap(public_key: &[u8], material: &[u8]) -> Blob {
    let public =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_key).unwrap()).unwrap();
    let mut out = vec![0u8; public.ciphertext_size()];
    let wrapped = public
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .unwrap();
    Blob::new(wrapped.to_vec())
}

async fn encrypt_on(client: &Client, key: &str) -> Result<Blob, String> {
    client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(b"probe".to_vec()))
        .send()
        .await
        .map(|o| o.ciphertext_blob().unwrap().clone())
        .map_err(|e| error_code(&e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_tokens_and_material_changes_work_across_nodes() {
    let Some(url) = postgres::url("import_tokens_and_material_changes_work_across_nodes") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let a = Node::start(Some(&db.url), None, NO_TTL);
    let root = a.data_dir().join("root.key");
    let b = Node::start(Some(&db.url), Some(&root), NO_TTL);
    let (ca, cb) = (a.client(), b.client());

    let key = ca
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    // B caches the key while it has no material.
    assert_eq!(
        encrypt_on(&cb, &key).await.unwrap_err(),
        "KMSInvalidStateException"
    );

    // Parameters from A, import through B.
    let params = ca
        .get_parameters_for_import()
        .key_id(&key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    let mut material = [0u8; 32];
    aws_lc_rs::rand::fill(&mut material).unwrap();
    cb.import_key_material()
        .key_id(&key)
        .import_token(params.import_token().unwrap().clone())
        .encrypted_key_material(wrap(params.public_key().unwrap().as_ref(), &material))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap();
    // A had the key cached as PendingImport: the change reaches it.
    converges("ImportKeyMaterial", DEADLINE, || async {
        encrypt_on(&ca, &key).await.is_ok()
    })
    .await;
    let blob = encrypt_on(&ca, &key).await.unwrap();
    let out = cb
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(out.plaintext().unwrap().as_ref(), b"probe");

    // Deleted through A: B stops decrypting.
    ca.delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    converges("DeleteImportedKeyMaterial", DEADLINE, || async {
        cb.decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .map_err(|e| error_code(&e))
            .err()
            .as_deref()
            == Some("KMSInvalidStateException")
    })
    .await;
}

async fn import_on(client: &Client, key: &str, material: &[u8], new: bool) -> String {
    let params = client
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    client
        .import_key_material()
        .key_id(key)
        .import_token(params.import_token().unwrap().clone())
        .encrypted_key_material(wrap(params.public_key().unwrap().as_ref(), material))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .set_import_type(new.then_some(aws_sdk_kms::types::ImportType::NewKeyMaterial))
        .send()
        .await
        .unwrap()
        .key_material_id()
        .unwrap()
        .to_owned()
}

/// An EXTERNAL multi-Region key on two nodes: the primary (us-east-1) imported through one
/// node, its replica (eu-west-1) through the other, which had it cached without material;
/// the on-demand rotation of new material on the primary, one transaction over both
/// region-keys, reaches the other node's cached replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multi_region_imports_and_rotation_work_across_nodes() {
    let Some(url) = postgres::url("multi_region_imports_and_rotation_work_across_nodes") else {
        return;
    };
    let db = Database::create(&url, "trent_cluster_").await;
    let a = Node::start(Some(&db.url), None, NO_TTL);
    let root = a.data_dir().join("root.key");
    let b = Node::start(Some(&db.url), Some(&root), NO_TTL);
    let (us, eu) = (a.client_in("us-east-1"), b.client_in("eu-west-1"));

    let key = us
        .create_key()
        .origin(OriginType::External)
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let (mut m1, mut m2) = ([0u8; 32], [0u8; 32]);
    aws_lc_rs::rand::fill(&mut m1).unwrap();
    aws_lc_rs::rand::fill(&mut m2).unwrap();
    let id1 = import_on(&us, &key, &m1, false).await;
    us.replicate_key()
        .key_id(&key)
        .replica_region("eu-west-1")
        .send()
        .await
        .unwrap();
    // B caches the replica while it has no material.
    assert_eq!(
        encrypt_on(&eu, &key).await.unwrap_err(),
        "KMSInvalidStateException"
    );
    assert_eq!(import_on(&eu, &key, &m1, false).await, id1);
    let blob = encrypt_on(&eu, &key).await.unwrap();
    let out = us.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(out.key_material_id(), Some(id1.as_str()));

    let id2 = import_on(&us, &key, &m2, true).await;
    assert_eq!(import_on(&eu, &key, &m2, false).await, id2);
    us.rotate_key_on_demand().key_id(&key).send().await.unwrap();
    // B's cached replica follows: its new ciphertexts use the new material.
    converges(
        "RotateKeyOnDemand of imported material",
        DEADLINE,
        || async {
            let blob = encrypt_on(&eu, &key).await.unwrap();
            let out = us.decrypt().ciphertext_blob(blob).send().await.unwrap();
            out.key_material_id() == Some(id2.as_str())
        },
    )
    .await;
}
