//! Issue 13, item 6: every symmetric ciphertext is sealed under a key derived for it alone
//! (blob version 2: HKDF-SHA-256 over the key material with a random 256-bit salt carried
//! in the blob, as AWS KMS derives a key per Encrypt:
//! <https://docs.aws.amazon.com/kms/latest/cryptographic-details/encrypt-operation.html>),
//! on every path that makes one; ciphertexts of version 1 (GCM directly under the
//! material, what Trent wrote before) keep decrypting.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeyPairSpec, DataKeySpec, KeySpec, OriginType};

use crate::harness::{encrypt, expect_code, ok, TestServer, REGION};
use crate::import::{import, open_blob, random};

/// Version 2 blob: header (49) ‖ salt (32) ‖ nonce (12) ‖ ciphertext ‖ tag (16).
const V2_OVERHEAD: usize = 49 + 32 + 12 + 16;

fn assert_v2(blob: &[u8], plaintext_len: usize, what: &str) {
    assert_eq!(blob.first(), Some(&2), "{what}: blob version");
    assert_eq!(
        blob.len(),
        plaintext_len + V2_OVERHEAD,
        "{what}: blob length"
    );
}

/// Trent's canonical encryption-context encoding (AAD): u32 BE count, then per pair
/// sorted by key: u32 BE key length ‖ key ‖ u32 BE value length ‖ value.
fn canonical_context(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut pairs = pairs.to_vec();
    pairs.sort();
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// A version-1 blob exactly as the version-1 code made it: `0x01 ‖ key id ‖ material id ‖
/// nonce ‖ AES-256-GCM(material, nonce, AAD = header ‖ context)`.
fn v1_blob(
    material: &[u8],
    key_id: &str,
    material_id: &str,
    context: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut header = vec![1u8];
    header.extend_from_slice(&hex_decode(&key_id.replace('-', "")));
    header.extend_from_slice(&hex_decode(material_id));
    assert_eq!(header.len(), 49);
    let nonce: [u8; 12] = random(12).try_into().unwrap();
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, material).unwrap());
    let mut in_out = plaintext.to_vec();
    let aad = [&header[..], context].concat();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(&aad[..]),
        &mut in_out,
    )
    .unwrap();
    [&header[..], &nonce[..], &in_out[..]].concat()
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Encrypt, GenerateDataKey(WithoutPlaintext), GenerateDataKeyPair(WithoutPlaintext)'s
/// private-key ciphertext, ReEncrypt, and a multi-Region key: all write version-2 blobs,
/// and each decrypts. On the old main every blob had version byte 1.
#[tokio::test]
async fn every_symmetric_ciphertext_uses_a_per_ciphertext_key() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let key_id = ok(client.create_key().send().await)
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();

    let blob = encrypt(&client, &key_id, b"hot key").await;
    assert_v2(blob.as_ref(), 7, "Encrypt");
    // Same plaintext twice: different salts, so different keys and blobs.
    let again = encrypt(&client, &key_id, b"hot key").await;
    assert_ne!(blob.as_ref()[49..81], again.as_ref()[49..81], "fresh salt");
    let out = ok(client.decrypt().ciphertext_blob(blob.clone()).send().await);
    assert_eq!(out.plaintext().unwrap().as_ref(), b"hot key");

    let dk = ok(client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("purpose", "data key")
        .send()
        .await);
    assert_v2(
        dk.ciphertext_blob().unwrap().as_ref(),
        32,
        "GenerateDataKey",
    );
    let opened = ok(client
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .encryption_context("purpose", "data key")
        .send()
        .await);
    assert_eq!(opened.plaintext(), dk.plaintext());

    let dk = ok(client
        .generate_data_key_without_plaintext()
        .key_id(&key_id)
        .number_of_bytes(17)
        .send()
        .await);
    assert_v2(
        dk.ciphertext_blob().unwrap().as_ref(),
        17,
        "GenerateDataKeyWithoutPlaintext",
    );
    ok(client
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob().unwrap().clone())
        .send()
        .await);

    let pair = ok(client
        .generate_data_key_pair()
        .key_id(&key_id)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await);
    let private = pair.private_key_ciphertext_blob().unwrap();
    assert_v2(
        private.as_ref(),
        pair.private_key_plaintext().unwrap().as_ref().len(),
        "GenerateDataKeyPair",
    );
    let opened = ok(client
        .decrypt()
        .ciphertext_blob(private.clone())
        .send()
        .await);
    assert_eq!(opened.plaintext(), pair.private_key_plaintext());
    let pair = ok(client
        .generate_data_key_pair_without_plaintext()
        .key_id(&key_id)
        .key_pair_spec(DataKeyPairSpec::Rsa2048)
        .send()
        .await);
    assert_eq!(
        pair.private_key_ciphertext_blob().unwrap().as_ref().first(),
        Some(&2),
        "GenerateDataKeyPairWithoutPlaintext"
    );

    let other = ok(client.create_key().send().await)
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let re = ok(client
        .re_encrypt()
        .ciphertext_blob(blob)
        .destination_key_id(&other)
        .send()
        .await);
    assert_v2(re.ciphertext_blob().unwrap().as_ref(), 7, "ReEncrypt");
    let out = ok(client
        .decrypt()
        .ciphertext_blob(re.ciphertext_blob().unwrap().clone())
        .send()
        .await);
    assert_eq!(out.plaintext().unwrap().as_ref(), b"hot key");

    let mrk = ok(client.create_key().multi_region(true).send().await)
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let blob = encrypt(&client, &mrk, b"multi-Region").await;
    assert_v2(blob.as_ref(), 12, "Encrypt (multi-Region key)");
    let out = ok(client.decrypt().ciphertext_blob(blob).send().await);
    assert_eq!(out.plaintext().unwrap().as_ref(), b"multi-Region");
}

/// With imported material (so the test knows it): a blob from Encrypt opens with an
/// independent HKDF-SHA-256 + AES-GCM (Python `cryptography`), and does NOT open with GCM
/// directly under the material; a version-1 blob made as the old code made it decrypts
/// through the server (under its context only) and ReEncrypt upgrades it to version 2.
#[tokio::test]
async fn per_ciphertext_key_is_derived_from_the_material_and_v1_blobs_still_decrypt() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let md = ok(client
        .create_key()
        .origin(OriginType::External)
        .key_spec(KeySpec::SymmetricDefault)
        .send()
        .await);
    let key_id = md.key_metadata().unwrap().key_id().to_owned();
    let material = random(32);
    let material_id = import(&client, &key_id, &material).await;

    let blob = encrypt(&client, &key_id, b"derived").await;
    assert_v2(blob.as_ref(), 7, "Encrypt (imported material)");
    assert_eq!(open_blob(&material, &blob), b"derived");
    // GCM directly under the material (the version-1 construction) does not open it.
    let b = blob.as_ref();
    let direct = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &material).unwrap());
    let mut body = b[93..].to_vec();
    let aad = &b[..81];
    let nonce: [u8; 12] = b[81..93].try_into().unwrap();
    assert!(direct
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut body
        )
        .is_err());

    let context = canonical_context(&[("tenant", "42"), ("purpose", "upgrade")]);
    let old = Blob::new(v1_blob(
        &material,
        &key_id,
        &material_id,
        &context,
        b"sealed before the upgrade",
    ));
    let out = ok(client
        .decrypt()
        .ciphertext_blob(old.clone())
        .encryption_context("purpose", "upgrade")
        .encryption_context("tenant", "42")
        .send()
        .await);
    assert_eq!(
        out.plaintext().unwrap().as_ref(),
        b"sealed before the upgrade"
    );
    assert_eq!(out.key_material_id(), Some(material_id.as_str()));
    // Also with an explicit KeyId.
    ok(client
        .decrypt()
        .key_id(&key_id)
        .ciphertext_blob(old.clone())
        .encryption_context("purpose", "upgrade")
        .encryption_context("tenant", "42")
        .send()
        .await);
    // Its context is still bound.
    expect_code(
        client
            .decrypt()
            .ciphertext_blob(old.clone())
            .encryption_context("tenant", "42")
            .send()
            .await,
        "InvalidCiphertextException",
    );
    // Relabelling a version-2 blob as version 1 is tampering.
    let mut relabelled = blob.as_ref().to_vec();
    relabelled[0] = 1;
    expect_code(
        client
            .decrypt()
            .ciphertext_blob(Blob::new(relabelled))
            .send()
            .await,
        "InvalidCiphertextException",
    );

    let re = ok(client
        .re_encrypt()
        .ciphertext_blob(old)
        .source_encryption_context("purpose", "upgrade")
        .source_encryption_context("tenant", "42")
        .destination_key_id(&key_id)
        .send()
        .await);
    let upgraded = re.ciphertext_blob().unwrap();
    assert_v2(upgraded.as_ref(), 25, "ReEncrypt of a version-1 blob");
    assert_eq!(open_blob(&material, upgraded), b"sealed before the upgrade");
}
