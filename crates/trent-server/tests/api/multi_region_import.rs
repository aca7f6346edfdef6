//! Imported key material in multi-Region keys through the real server, with one SDK client
//! per region: an EXTERNAL primary and its replicas take the same material, each imported
//! on its own (KMS "does not copy or synchronize the key material from a primary key with
//! imported key material to its replica keys"), and are then interoperable; new material
//! goes into the primary first, waits in PENDING_MULTI_REGION_IMPORT_AND_ROTATION until
//! every replica has it, and RotateKeyOnDemand on the primary makes it current everywhere.
//! <https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-import.html>

use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::operation::import_key_material::{
    ImportKeyMaterialError, ImportKeyMaterialOutput,
};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, ImportState, ImportType, KeyMaterialState, KeySpec,
    KeyState, KeyUsageType, MacAlgorithmSpec, OriginType, SigningAlgorithmSpec, WrappingKeySpec,
};
use aws_sdk_kms::Client;
use serde_json::json;

use crate::harness::{decrypt, encrypt, expect_code, expect_err, ok, TestServer};
use crate::import::{
    all_materials, import, open_blob, parameters, random, state, wrap, PY_KEYPAIR,
};
use crate::interop::{python, unb64};

const US: &str = "us-east-1";
const EU: &str = "eu-west-1";
const AP: &str = "ap-southeast-2";
const WEST: &str = "us-west-2";

type ImportResult = Result<
    ImportKeyMaterialOutput,
    SdkError<ImportKeyMaterialError, aws_sdk_kms::config::http::HttpResponse>,
>;

/// CreateKey with Origin EXTERNAL and MultiRegion: an `mrk-` primary pending import.
async fn external_mrk(client: &Client, spec: KeySpec, usage: Option<KeyUsageType>) -> String {
    let out = ok(client
        .create_key()
        .origin(OriginType::External)
        .multi_region(true)
        .key_spec(spec)
        .set_key_usage(usage)
        .send()
        .await);
    let md = out.key_metadata().unwrap();
    assert!(md.key_id().starts_with("mrk-"), "{}", md.key_id());
    assert_eq!(md.origin(), Some(&OriginType::External));
    assert_eq!(md.key_state(), Some(&KeyState::PendingImport));
    md.key_id().to_owned()
}

async fn replicate(client: &Client, key_id: &str, region: &str) {
    let out = ok(client
        .replicate_key()
        .key_id(key_id)
        .replica_region(region)
        .send()
        .await);
    let md = out.replica_key_metadata().unwrap();
    // "the replica key is created with no key material" (ReplicateKey).
    assert_eq!(md.key_state(), Some(&KeyState::PendingImport));
    assert_eq!(md.origin(), Some(&OriginType::External));
    assert!(!md.enabled());
    assert_eq!(md.key_id(), key_id);
}

/// Parameters, wrap, ImportKeyMaterial with an ImportType, without expiry.
async fn import_as(
    client: &Client,
    key_id: &str,
    material: &[u8],
    import_type: Option<ImportType>,
) -> ImportResult {
    let alg = AlgorithmSpec::RsaAesKeyWrapSha256;
    let (public, token) = parameters(client, key_id, alg.clone(), WrappingKeySpec::Rsa3072).await;
    client
        .import_key_material()
        .key_id(key_id)
        .import_token(token)
        .encrypted_key_material(wrap(&public, &alg, material))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .set_import_type(import_type)
        .send()
        .await
}

/// (material id, state, import state) of every material, in order.
async fn materials(client: &Client, key_id: &str) -> Vec<(String, KeyMaterialState, ImportState)> {
    all_materials(client, key_id)
        .await
        .iter()
        .map(|e| {
            assert_eq!(
                e.key_id(),
                Some(key_id),
                "the public key id in every region"
            );
            (
                e.key_material_id().unwrap().to_owned(),
                e.key_material_state().unwrap().clone(),
                e.import_state().unwrap().clone(),
            )
        })
        .collect()
}

async fn current_material(client: &Client, key_id: &str) -> Option<String> {
    ok(client.describe_key().key_id(key_id).send().await)
        .key_metadata()
        .unwrap()
        .current_key_material_id()
        .map(str::to_owned)
}

fn keypair(kind: &str) -> (Vec<u8>, Vec<u8>) {
    let out = python(PY_KEYPAIR, &json!({"kind": kind}));
    (unb64(&out["pkcs8"]), unb64(&out["spki"]))
}

/// Symmetric, HMAC and signing EXTERNAL multi-Region keys: the replica is PendingImport
/// without material until the primary's material is imported into it too; other material
/// (or material the primary never had) is IncorrectKeyMaterialException and changes
/// nothing; new material into a replica is refused; then what one region makes, the other
/// opens (ciphertexts, MACs, signatures), with one material id in both.
#[tokio::test]
async fn every_key_spec_takes_the_primarys_material_in_its_replicas() {
    let server = TestServer::start();
    let us = server.client(US);
    let eu = server.client(EU);
    let (ec_pkcs8, ec_spki) = keypair("ec256");
    let (other_pkcs8, _) = keypair("ec256");
    let cases = [
        (KeySpec::SymmetricDefault, None, random(32), random(32)),
        (
            KeySpec::Hmac256,
            Some(KeyUsageType::GenerateVerifyMac),
            random(32),
            random(32),
        ),
        (
            KeySpec::EccNistP256,
            Some(KeyUsageType::SignVerify),
            ec_pkcs8,
            other_pkcs8,
        ),
    ];
    for (spec, usage, material, other) in cases {
        let key_id = external_mrk(&us, spec.clone(), usage).await;
        // Replicated before any import: the replica knows no material, and takes none
        // that its primary does not have.
        replicate(&us, &key_id, AP).await;
        let ap = server.client(AP);
        let err = expect_code(
            import_as(&ap, &key_id, &material, None).await,
            "IncorrectKeyMaterialException",
        );
        assert!(
            err.meta()
                .message()
                .unwrap()
                .contains("multi-Region primary key"),
            "{err:?}"
        );
        assert_eq!(state(&ap, &key_id).await, KeyState::PendingImport);

        let id = import(&us, &key_id, &material).await;
        assert_eq!(state(&us, &key_id).await, KeyState::Enabled);
        replicate(&us, &key_id, EU).await;
        if spec == KeySpec::SymmetricDefault {
            assert_eq!(
                materials(&eu, &key_id).await,
                vec![(
                    id.clone(),
                    KeyMaterialState::Current,
                    ImportState::PendingImport
                )]
            );
        }
        // Other material into the replica: refused, nothing changes.
        expect_code(
            import_as(&eu, &key_id, &other, None).await,
            "IncorrectKeyMaterialException",
        );
        assert_eq!(state(&eu, &key_id).await, KeyState::PendingImport);
        // New material goes into the primary only.
        expect_code(
            import_as(&eu, &key_id, &material, Some(ImportType::NewKeyMaterial)).await,
            "UnsupportedOperationException",
        );
        assert_eq!(state(&eu, &key_id).await, KeyState::PendingImport);
        if spec == KeySpec::SymmetricDefault {
            assert_eq!(
                materials(&eu, &key_id).await,
                vec![(
                    id.clone(),
                    KeyMaterialState::Current,
                    ImportState::PendingImport
                )]
            );
            expect_code(
                eu.encrypt()
                    .key_id(&key_id)
                    .plaintext(Blob::new("x"))
                    .send()
                    .await,
                "KMSInvalidStateException",
            );
        }

        // The same material, with the default import type (EXISTING_KEY_MATERIAL once the
        // key has material): the same id, and the replica is enabled.
        let out = ok(import_as(&eu, &key_id, &material, None).await);
        assert_eq!(out.key_material_id(), Some(id.as_str()));
        assert_eq!(
            out.key_id(),
            Some(
                format!(
                    "arn:aws:kms:{EU}:{}:key/{key_id}",
                    crate::harness::DEFAULT_ACCOUNT
                )
                .as_str()
            )
        );
        assert_eq!(state(&eu, &key_id).await, KeyState::Enabled);
        // The AP replica, replicated before the primary had material, takes it now.
        let out = ok(import_as(&ap, &key_id, &material, None).await);
        assert_eq!(out.key_material_id(), Some(id.as_str()));
        assert_eq!(state(&ap, &key_id).await, KeyState::Enabled);

        match spec {
            KeySpec::SymmetricDefault => {
                assert_eq!(
                    current_material(&eu, &key_id).await.as_deref(),
                    Some(id.as_str())
                );
                let from_us = encrypt(&us, &key_id, b"made in us").await;
                assert_eq!(decrypt(&eu, &from_us).await, b"made in us");
                assert_eq!(decrypt(&ap, &from_us).await, b"made in us");
                let from_eu = encrypt(&eu, &key_id, b"made in eu").await;
                assert_eq!(decrypt(&us, &from_eu).await, b"made in eu");
                // The imported material is the key, in every region.
                assert_eq!(open_blob(&material, &from_eu), b"made in eu");
                for client in [&us, &eu, &ap] {
                    assert_eq!(
                        materials(client, &key_id).await,
                        vec![(id.clone(), KeyMaterialState::Current, ImportState::Imported)]
                    );
                }
            }
            KeySpec::Hmac256 => {
                let mac = ok(us
                    .generate_mac()
                    .key_id(&key_id)
                    .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                    .message(Blob::new("message"))
                    .send()
                    .await);
                let verified = ok(eu
                    .verify_mac()
                    .key_id(&key_id)
                    .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                    .message(Blob::new("message"))
                    .mac(mac.mac().unwrap().clone())
                    .send()
                    .await);
                assert!(verified.mac_valid());
            }
            _ => {
                let public = ok(eu.get_public_key().key_id(&key_id).send().await);
                assert_eq!(public.public_key().unwrap().as_ref(), ec_spki.as_slice());
                let sig = ok(eu
                    .sign()
                    .key_id(&key_id)
                    .message(Blob::new("signed in eu"))
                    .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                    .send()
                    .await);
                let verified = ok(us
                    .verify()
                    .key_id(&key_id)
                    .message(Blob::new("signed in eu"))
                    .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                    .signature(sig.signature().unwrap().clone())
                    .send()
                    .await);
                assert!(verified.signature_valid());
            }
        }
    }
}

/// New material on a symmetric multi-Region key: NEW_KEY_MATERIAL into the primary is
/// PENDING_MULTI_REGION_IMPORT_AND_ROTATION until every replica has imported it, then
/// PENDING_ROTATION; RotateKeyOnDemand on the primary is refused until then, and then
/// makes it current in every region at once. A replica made after that has every material
/// pending import and is PendingImport until it has all of them. Deleting pending material
/// from the primary deletes it from the replicas; deleting from a replica touches only it.
#[tokio::test]
async fn new_material_waits_for_every_replica_then_rotates_everywhere() {
    let server = TestServer::start();
    let (us, eu, ap) = (server.client(US), server.client(EU), server.client(AP));
    let key_id = external_mrk(&us, KeySpec::SymmetricDefault, None).await;
    let (m1, m2, m3) = (random(32), random(32), random(32));
    let id1 = import(&us, &key_id, &m1).await;
    replicate(&us, &key_id, EU).await;
    replicate(&us, &key_id, AP).await;
    import(&eu, &key_id, &m1).await;
    import(&ap, &key_id, &m1).await;
    let b1 = encrypt(&ap, &key_id, b"generation one").await;

    // NEW_KEY_MATERIAL into the primary.
    let id2 = ok(import_as(&us, &key_id, &m2, Some(ImportType::NewKeyMaterial)).await)
        .key_material_id()
        .unwrap()
        .to_owned();
    assert_ne!(id1, id2);
    let waiting = |state: KeyMaterialState| {
        vec![
            (
                id1.clone(),
                KeyMaterialState::Current,
                ImportState::Imported,
            ),
            (id2.clone(), state, ImportState::Imported),
        ]
    };
    assert_eq!(
        materials(&us, &key_id).await,
        waiting(KeyMaterialState::PendingMultiRegionImportAndRotation)
    );
    let refused = |client: Client| {
        let key_id = key_id.clone();
        async move {
            expect_err(
                client.rotate_key_on_demand().key_id(&key_id).send().await,
                "ValidationException",
                None,
            )
        }
    };
    let err = refused(us.clone()).await;
    let message = err.meta().message().unwrap();
    assert!(
        message.contains("PENDING_MULTI_REGION_IMPORT_AND_ROTATION"),
        "{message}"
    );
    assert!(message.contains(EU) && message.contains(AP), "{message}");
    // New material into a replica is refused, changing nothing.
    expect_code(
        import_as(&eu, &key_id, &m3, Some(ImportType::NewKeyMaterial)).await,
        "UnsupportedOperationException",
    );
    assert_eq!(
        materials(&eu, &key_id).await,
        vec![(
            id1.clone(),
            KeyMaterialState::Current,
            ImportState::Imported
        )]
    );

    // EU imports it (EXISTING_KEY_MATERIAL): still waiting for AP, in every region.
    let out = ok(import_as(&eu, &key_id, &m2, Some(ImportType::ExistingKeyMaterial)).await);
    assert_eq!(out.key_material_id(), Some(id2.as_str()));
    assert_eq!(state(&eu, &key_id).await, KeyState::Enabled);
    for client in [&us, &eu] {
        assert_eq!(
            materials(client, &key_id).await,
            waiting(KeyMaterialState::PendingMultiRegionImportAndRotation)
        );
    }
    refused(us.clone()).await;
    // Still the first material for new ciphertexts, everywhere.
    assert_eq!(open_blob(&m1, &encrypt(&eu, &key_id, b"x").await), b"x");

    ok(import_as(&ap, &key_id, &m2, Some(ImportType::ExistingKeyMaterial)).await);
    for client in [&us, &eu, &ap] {
        assert_eq!(
            materials(client, &key_id).await,
            waiting(KeyMaterialState::PendingRotation)
        );
    }
    // Rotation is the primary's.
    expect_code(
        eu.rotate_key_on_demand().key_id(&key_id).send().await,
        "UnsupportedOperationException",
    );
    let out = ok(us.rotate_key_on_demand().key_id(&key_id).send().await);
    // The response names the key by its ARN (the primary's), as AWS does.
    let primary_arn = crate::harness::key_arn(US, crate::harness::DEFAULT_ACCOUNT, &key_id);
    assert_eq!(out.key_id(), Some(primary_arn.as_str()));
    for client in [&us, &eu, &ap] {
        assert_eq!(
            current_material(client, &key_id).await.as_deref(),
            Some(id2.as_str())
        );
        assert_eq!(
            materials(client, &key_id).await,
            vec![
                (
                    id1.clone(),
                    KeyMaterialState::NonCurrent,
                    ImportState::Imported
                ),
                (
                    id2.clone(),
                    KeyMaterialState::Current,
                    ImportState::Imported
                ),
            ]
        );
        let rotations = ok(client.list_key_rotations().key_id(&key_id).send().await);
        assert_eq!(rotations.rotations().len(), 1);
        assert_eq!(
            rotations.rotations()[0].key_material_id(),
            Some(id2.as_str())
        );
    }
    let b2 = encrypt(&eu, &key_id, b"generation two").await;
    assert_eq!(open_blob(&m2, &b2), b"generation two");
    for client in [&us, &eu, &ap] {
        assert_eq!(decrypt(client, &b1).await, b"generation one");
        assert_eq!(decrypt(client, &b2).await, b"generation two");
    }
    let rotate_events: Vec<_> = crate::audit::records(&server.data_dir().join("audit"))
        .into_iter()
        .filter(|r| r["eventName"] == "RotateKey" && r["eventType"] == "AwsServiceEvent")
        .collect();
    assert_eq!(rotate_events.len(), 3, "one per region-key");
    for r in &rotate_events {
        assert_eq!(
            r["serviceEventDetails"]["currentKeyMaterialId"],
            id2.as_str()
        );
    }

    // A replica made now knows both materials, pending import, and waits for both.
    replicate(&us, &key_id, WEST).await;
    let west = server.client(WEST);
    assert_eq!(
        materials(&west, &key_id).await,
        vec![
            (
                id1.clone(),
                KeyMaterialState::NonCurrent,
                ImportState::PendingImport
            ),
            (
                id2.clone(),
                KeyMaterialState::Current,
                ImportState::PendingImport
            ),
        ]
    );
    import(&west, &key_id, &m2).await;
    assert_eq!(state(&west, &key_id).await, KeyState::PendingImport);
    import(&west, &key_id, &m1).await;
    assert_eq!(state(&west, &key_id).await, KeyState::Enabled);
    assert_eq!(decrypt(&west, &b1).await, b"generation one");
    assert_eq!(decrypt(&west, &b2).await, b"generation two");

    // Third material, imported into the primary and EU only; deleting it from the primary
    // deletes it from EU too (and nothing of AP or WEST, which never had it).
    let id3 = ok(import_as(&us, &key_id, &m3, Some(ImportType::NewKeyMaterial)).await)
        .key_material_id()
        .unwrap()
        .to_owned();
    ok(import_as(&eu, &key_id, &m3, None).await);
    assert_eq!(materials(&eu, &key_id).await[2].2, ImportState::Imported);
    let out = ok(us
        .delete_imported_key_material()
        .key_id(&key_id)
        .key_material_id(&id3)
        .send()
        .await);
    assert_eq!(out.key_material_id(), Some(id3.as_str()));
    for client in [&us, &eu] {
        let list = materials(client, &key_id).await;
        assert_eq!(list[2].0, id3);
        assert_eq!(list[2].2, ImportState::PendingImport);
        assert_eq!(list[1].2, ImportState::Imported);
    }
    for client in [&ap, &west] {
        assert_eq!(materials(client, &key_id).await.len(), 2);
        assert_eq!(state(client, &key_id).await, KeyState::Enabled);
    }

    // Deleting a replica's material touches that replica only.
    ok(ap
        .delete_imported_key_material()
        .key_id(&key_id)
        .send()
        .await);
    assert_eq!(state(&ap, &key_id).await, KeyState::PendingImport);
    expect_code(
        ap.decrypt().ciphertext_blob(b2.clone()).send().await,
        "KMSInvalidStateException",
    );
    assert_eq!(state(&west, &key_id).await, KeyState::Enabled);
    assert_eq!(decrypt(&west, &b2).await, b"generation two");
    assert_eq!(materials(&us, &key_id).await[1].2, ImportState::Imported);
    import(&ap, &key_id, &m2).await;
    assert_eq!(state(&ap, &key_id).await, KeyState::Enabled);
}

/// Material imported into the primary, then a restart, then the replica: the import
/// still holds in the primary, the replica takes the same material after the restart and
/// the regions interoperate.
#[tokio::test]
async fn a_restart_between_the_primary_and_the_replica_import() {
    let mut server = TestServer::start();
    let key_id = external_mrk(&server.client(US), KeySpec::SymmetricDefault, None).await;
    let material = random(32);
    let id = import(&server.client(US), &key_id, &material).await;
    replicate(&server.client(US), &key_id, EU).await;
    let blob = encrypt(&server.client(US), &key_id, b"before the restart").await;
    server.restart();
    let (us, eu) = (server.client(US), server.client(EU));
    assert_eq!(state(&us, &key_id).await, KeyState::Enabled);
    assert_eq!(state(&eu, &key_id).await, KeyState::PendingImport);
    expect_code(
        eu.decrypt().ciphertext_blob(blob.clone()).send().await,
        "KMSInvalidStateException",
    );
    assert_eq!(import(&eu, &key_id, &material).await, id);
    assert_eq!(decrypt(&eu, &blob).await, b"before the restart");
    let back = encrypt(&eu, &key_id, b"after").await;
    assert_eq!(decrypt(&us, &back).await, b"after");
}

/// UpdatePrimaryRegion works for an EXTERNAL multi-Region key: new material then goes
/// into the new primary, not the old one, and the replica deletion rules hold.
#[tokio::test]
async fn update_primary_region_moves_where_new_material_goes() {
    let server = TestServer::start();
    let (us, eu) = (server.client(US), server.client(EU));
    let key_id = external_mrk(&us, KeySpec::SymmetricDefault, None).await;
    let (m1, m2) = (random(32), random(32));
    let id1 = import(&us, &key_id, &m1).await;
    replicate(&us, &key_id, EU).await;
    // Both must be enabled: the replica is still pending import.
    expect_code(
        us.update_primary_region()
            .key_id(&key_id)
            .primary_region(EU)
            .send()
            .await,
        "KMSInvalidStateException",
    );
    import(&eu, &key_id, &m1).await;
    ok(us
        .update_primary_region()
        .key_id(&key_id)
        .primary_region(EU)
        .send()
        .await);
    expect_code(
        import_as(&us, &key_id, &m2, Some(ImportType::NewKeyMaterial)).await,
        "UnsupportedOperationException",
    );
    let id2 = ok(import_as(&eu, &key_id, &m2, Some(ImportType::NewKeyMaterial)).await)
        .key_material_id()
        .unwrap()
        .to_owned();
    assert_eq!(
        materials(&eu, &key_id).await[1],
        (
            id2.clone(),
            KeyMaterialState::PendingMultiRegionImportAndRotation,
            ImportState::Imported
        )
    );
    ok(import_as(&us, &key_id, &m2, None).await);
    ok(eu.rotate_key_on_demand().key_id(&key_id).send().await);
    assert_eq!(
        current_material(&us, &key_id).await.as_deref(),
        Some(id2.as_str())
    );
    assert_ne!(id1, id2);
    // The new primary waits for its replica before it is deleted.
    let out = ok(eu
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    assert_eq!(out.key_state(), Some(&KeyState::PendingReplicaDeletion));
}

/// Expiry is per region-key: "if the key material in the primary key expires, its
/// replica keys are unaffected"; each region-key's ValidTo is its own import's.
#[tokio::test]
async fn material_expires_in_one_region_key_only() {
    let server = crate::test_clock::server();
    let t0 = crate::test_clock::freeze_at(&server, crate::test_clock::now_ms()).await;
    let (us, eu) = (server.client(US), server.client(EU));
    let key_id = external_mrk(&us, KeySpec::SymmetricDefault, None).await;
    let material = random(32);
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let (public, token) = parameters(&us, &key_id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    let valid_to = t0 + crate::test_clock::DAY_MS;
    ok(us
        .import_key_material()
        .key_id(&key_id)
        .import_token(token)
        .encrypted_key_material(wrap(&public, &alg, &material))
        .valid_to(aws_sdk_kms::primitives::DateTime::from_millis(valid_to))
        .send()
        .await);
    replicate(&us, &key_id, EU).await;
    import(&eu, &key_id, &material).await;
    let blob = encrypt(&eu, &key_id, b"outlives the primary's material").await;

    crate::test_clock::advance_millis(&server, crate::test_clock::DAY_MS).await;
    assert_eq!(state(&us, &key_id).await, KeyState::PendingImport);
    assert_eq!(
        materials(&us, &key_id).await[0].2,
        ImportState::PendingImport
    );
    assert_eq!(state(&eu, &key_id).await, KeyState::Enabled);
    assert_eq!(
        decrypt(&eu, &blob).await,
        b"outlives the primary's material"
    );
    let expired: Vec<_> = crate::audit::records(&server.data_dir().join("audit"))
        .into_iter()
        .filter(|r| r["eventName"] == "DeleteExpiredKeyMaterial")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        expired[0]["resources"][0]["ARN"],
        format!(
            "arn:aws:kms:{US}:{}:key/{key_id}",
            crate::harness::DEFAULT_ACCOUNT
        )
        .as_str()
    );
    // Back in the primary: the same material, the same id.
    import(&us, &key_id, &material).await;
    assert_eq!(state(&us, &key_id).await, KeyState::Enabled);
}

/// A primary waiting for its replicas' deletion keeps waiting when its material expires
/// (expiry never cancels a deletion schedule); cancelling the deletion then leaves it
/// PendingImport, its material being gone, and re-importing the material enables it.
#[tokio::test]
async fn expiry_keeps_a_primary_waiting_for_its_replicas_deletion() {
    let server = crate::test_clock::server();
    let t0 = crate::test_clock::freeze_at(&server, crate::test_clock::now_ms()).await;
    let (us, eu) = (server.client(US), server.client(EU));
    let key_id = external_mrk(&us, KeySpec::SymmetricDefault, None).await;
    let material = random(32);
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let (public, token) = parameters(&us, &key_id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    ok(us
        .import_key_material()
        .key_id(&key_id)
        .import_token(token)
        .encrypted_key_material(wrap(&public, &alg, &material))
        .valid_to(aws_sdk_kms::primitives::DateTime::from_millis(
            t0 + crate::test_clock::DAY_MS,
        ))
        .send()
        .await);
    replicate(&us, &key_id, EU).await;
    import(&eu, &key_id, &material).await;
    let out = ok(us
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    assert_eq!(out.key_state(), Some(&KeyState::PendingReplicaDeletion));

    crate::test_clock::advance_millis(&server, crate::test_clock::DAY_MS).await;
    assert_eq!(state(&us, &key_id).await, KeyState::PendingReplicaDeletion);
    assert_eq!(
        materials(&us, &key_id).await[0].2,
        ImportState::PendingImport
    );
    assert_eq!(state(&eu, &key_id).await, KeyState::Enabled);

    ok(us.cancel_key_deletion().key_id(&key_id).send().await);
    assert_eq!(state(&us, &key_id).await, KeyState::PendingImport);
    import(&us, &key_id, &material).await;
    assert_eq!(state(&us, &key_id).await, KeyState::Enabled);
}
