//! HMAC keys (GenerateMac, VerifyMac), key agreement (DeriveSharedSecret) and data key
//! pairs (GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext) through the server,
//! with the shared secrets and the data key pairs checked outside Trent:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html>,
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_DeriveSharedSecret.html>,
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html>.

use std::collections::HashMap;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::types::{DataKeyPairSpec, KeyAgreementAlgorithmSpec, MacAlgorithmSpec};
use serde_json::json;
use trent_crypto::{AsymmetricKeySpec, PrivateKey};

use crate::harness::{create_key, expect_code, expect_err, ok, TestServer, REGION};
use crate::interop::{b64, blob, openssl, public_key, python, unb64};
use crate::signing::create;

/// An unknown MacAlgorithm: AWS lists the values in its own order, not the model's
/// (LocalStack's `_validate_mac_algorithm`, recorded against AWS).
#[tokio::test]
async fn unknown_mac_algorithm_lists_values_in_aws_order() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let key = create(&client, "HMAC_256", "GENERATE_VERIFY_MAC").await;
    let message = "1 validation error detected: Value 'HMAC_SHA_1' at 'macAlgorithm' failed to \
                   satisfy constraint: Member must satisfy enum value set: [HMAC_SHA_384, \
                   HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]";
    expect_err(
        client
            .generate_mac()
            .key_id(&key)
            .mac_algorithm(MacAlgorithmSpec::from("HMAC_SHA_1"))
            .message(blob(b"m"))
            .send()
            .await,
        "ValidationException",
        Some(message),
    );
    expect_err(
        client
            .verify_mac()
            .key_id(&key)
            .mac_algorithm(MacAlgorithmSpec::from("HMAC_SHA_1"))
            .message(blob(b"m"))
            .mac(blob(&[0u8; 32]))
            .send()
            .await,
        "ValidationException",
        Some(message),
    );
}

#[tokio::test]
async fn hmac_keys_generate_and_verify_macs() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let specs = [
        ("HMAC_224", "HMAC_SHA_224", 28usize),
        ("HMAC_256", "HMAC_SHA_256", 32),
        ("HMAC_384", "HMAC_SHA_384", 48),
        ("HMAC_512", "HMAC_SHA_512", 64),
    ];
    let mut keys = Vec::new();
    for (spec, alg, len) in specs {
        let key = create(&client, spec, "GENERATE_VERIFY_MAC").await;
        let mac = |msg: &'static [u8]| {
            client
                .generate_mac()
                .key_id(&key)
                .mac_algorithm(MacAlgorithmSpec::from(alg))
                .message(blob(msg))
                .send()
        };
        let out = ok(mac(b"message one").await);
        assert_eq!(out.key_id(), Some(key.as_str()));
        assert_eq!(out.mac_algorithm().map(|a| a.as_str()), Some(alg));
        let tag = out.mac().unwrap().as_ref().to_vec();
        assert_eq!(tag.len(), len, "{spec}");
        // Deterministic, and bound to the message.
        assert_eq!(ok(mac(b"message one").await).mac().unwrap().as_ref(), tag);
        assert_ne!(ok(mac(b"message two").await).mac().unwrap().as_ref(), tag);
        let verified = ok(client
            .verify_mac()
            .key_id(&key)
            .mac_algorithm(MacAlgorithmSpec::from(alg))
            .message(blob(b"message one"))
            .mac(blob(&tag))
            .send()
            .await);
        assert!(verified.mac_valid());
        assert_eq!(verified.key_id(), Some(key.as_str()));
        // A wrong MAC, a truncated one, another message: KMSInvalidMacException, no
        // message.
        let mut flipped = tag.clone();
        flipped[0] ^= 1;
        for (msg, mac) in [
            (&b"message one"[..], flipped.as_slice()),
            (&b"message one"[..], &tag[..len - 1]),
            (&b"message two"[..], tag.as_slice()),
        ] {
            let err = expect_code(
                client
                    .verify_mac()
                    .key_id(&key)
                    .mac_algorithm(MacAlgorithmSpec::from(alg))
                    .message(blob(msg))
                    .mac(blob(mac))
                    .send()
                    .await,
                "KMSInvalidMacException",
            );
            assert_eq!(err.message(), None);
        }
        // An algorithm of another HMAC spec.
        let other = if alg == "HMAC_SHA_512" {
            "HMAC_SHA_256"
        } else {
            "HMAC_SHA_512"
        };
        expect_err(
            client
                .generate_mac()
                .key_id(&key)
                .mac_algorithm(MacAlgorithmSpec::from(other))
                .message(blob(b"m"))
                .send()
                .await,
            "InvalidKeyUsageException",
            Some(&format!(
                "Algorithm {other} is incompatible with key spec {spec}."
            )),
        );
        keys.push((key, alg, tag));
    }
    // Two keys of one spec have different material.
    let again = create(&client, "HMAC_256", "GENERATE_VERIFY_MAC").await;
    let out = ok(client
        .generate_mac()
        .key_id(&again)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(blob(b"message one"))
        .send()
        .await);
    assert_ne!(out.mac().unwrap().as_ref(), keys[1].2.as_slice());

    // Keys without GENERATE_VERIFY_MAC usage.
    let (_, symmetric) = create_key(&client).await;
    let rsa = create(&client, "RSA_2048", "SIGN_VERIFY").await;
    for (key, usage) in [(&symmetric, "ENCRYPT_DECRYPT"), (&rsa, "SIGN_VERIFY")] {
        expect_err(
            client
                .generate_mac()
                .key_id(key.as_str())
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .message(blob(b"m"))
                .send()
                .await,
            "InvalidKeyUsageException",
            Some(&format!(
                "{key} key usage is {usage} which is not valid for GenerateMac."
            )),
        );
        expect_err(
            client
                .verify_mac()
                .key_id(key.as_str())
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .message(blob(b"m"))
                .mac(blob(&[0u8; 32]))
                .send()
                .await,
            "InvalidKeyUsageException",
            Some(&format!(
                "{key} key usage is {usage} which is not valid for VerifyMac."
            )),
        );
    }
    let (key, alg, tag) = &keys[1];
    expect_err(
        client
            .verify_mac()
            .key_id(key)
            .mac_algorithm(MacAlgorithmSpec::from(*alg))
            .message(blob(b"message one"))
            .mac(blob(tag))
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
        None,
    );
    ok(client.disable_key().key_id(key).send().await);
    expect_err(
        client
            .generate_mac()
            .key_id(key)
            .mac_algorithm(MacAlgorithmSpec::from(*alg))
            .message(blob(b"m"))
            .send()
            .await,
        "DisabledException",
        Some(&format!("{key} is disabled.")),
    );
    // The material survives a restart: the MAC is the same afterwards.
    ok(client.enable_key().key_id(key).send().await);
    let mut server = server;
    server.restart();
    let client = server.client(REGION);
    let out = ok(client
        .generate_mac()
        .key_id(key)
        .mac_algorithm(MacAlgorithmSpec::from(*alg))
        .message(blob(b"message one"))
        .send()
        .await);
    assert_eq!(out.mac().unwrap().as_ref(), tag.as_slice());
}

/// A peer key pair made by Python, and the ECDH secret it computes with Trent's public key.
const PY_ECDH: &str = r#"
import sys, json, base64
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
it = json.load(sys.stdin)
trent = serialization.load_der_public_key(base64.b64decode(it['spki']))
peer = ec.generate_private_key(trent.curve)
secret = peer.exchange(ec.ECDH(), trent)
spki = peer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
print(json.dumps({'peer': base64.b64encode(spki).decode(), 'secret': base64.b64encode(secret).decode()}))
"#;

#[tokio::test]
async fn derive_shared_secret_matches_python_ecdh() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let mut spkis = HashMap::new();
    for (spec, len) in [
        ("ECC_NIST_P256", 32usize),
        ("ECC_NIST_P384", 48),
        ("ECC_NIST_P521", 66),
    ] {
        let key = create(&client, spec, "KEY_AGREEMENT").await;
        let spki = public_key(&client, &key).await;
        let py = python(PY_ECDH, &json!({"spki": b64(&spki)}));
        let out = ok(client
            .derive_shared_secret()
            .key_id(&key)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(blob(&unb64(&py["peer"])))
            .send()
            .await);
        assert_eq!(out.key_id(), Some(key.as_str()));
        assert_eq!(
            out.key_agreement_algorithm(),
            Some(&KeyAgreementAlgorithmSpec::Ecdh)
        );
        assert_eq!(
            out.key_origin(),
            Some(&aws_sdk_kms::types::OriginType::AwsKms)
        );
        let secret = out.shared_secret().unwrap().as_ref().to_vec();
        assert_eq!(secret.len(), len, "{spec}: the raw x-coordinate");
        assert_eq!(secret, unb64(&py["secret"]), "{spec}");
        spkis.insert(spec, (key, spki));
    }

    // The peer's key on another curve, or not a public key at all: ValidationException,
    // without a message, as AWS answers.
    let (p256, p256_spki) = &spkis["ECC_NIST_P256"];
    let (_, p384_spki) = &spkis["ECC_NIST_P384"];
    let rsa = create(&client, "RSA_2048", "SIGN_VERIFY").await;
    let rsa_spki = public_key(&client, &rsa).await;
    for peer in [
        p384_spki.clone(),
        rsa_spki,
        b"not a public key".to_vec(),
        p256_spki[..p256_spki.len() - 1].to_vec(),
    ] {
        let err = expect_code(
            client
                .derive_shared_secret()
                .key_id(p256)
                .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                .public_key(blob(&peer))
                .send()
                .await,
            "ValidationException",
        );
        assert_eq!(err.message(), None);
    }
    // On the wire: the error type alone, no `message` member (as Trent sends every error
    // AWS sends without a message).
    let resp = server
        .call(
            "DeriveSharedSecret",
            json!({"KeyId": p256, "KeyAgreementAlgorithm": "ECDH", "PublicKey": b64(p384_spki)}),
        )
        .await;
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json(), json!({"__type": "ValidationException"}));
    // Its own public key is a valid peer key.
    ok(client
        .derive_shared_secret()
        .key_id(p256)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(blob(p256_spki))
        .send()
        .await);

    // SM2 key agreement: neither Python nor OpenSSL 3.0 derives on the SM2 curve, so the
    // peer is a key pair made with the crypto crate; both sides must agree.
    let sm2 = create(&client, "SM2", "KEY_AGREEMENT").await;
    let sm2_spki = public_key(&client, &sm2).await;
    let peer = PrivateKey::generate(AsymmetricKeySpec::Sm2).unwrap();
    let out = ok(client
        .derive_shared_secret()
        .key_id(&sm2)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(blob(peer.public_key().der()))
        .send()
        .await);
    let ours = peer.derive_shared_secret(&sm2_spki).unwrap();
    assert_eq!(out.shared_secret().unwrap().as_ref(), ours.expose());
    assert_eq!(ours.len(), 32);

    // Keys that do not agree keys; key states; DryRun.
    let signing = create(&client, "ECC_NIST_P256", "SIGN_VERIFY").await;
    expect_err(
        client
            .derive_shared_secret()
            .key_id(&signing)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(blob(p256_spki))
            .send()
            .await,
        "InvalidKeyUsageException",
        Some(&format!(
            "{signing} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret."
        )),
    );
    expect_err(
        client
            .derive_shared_secret()
            .key_id(p256)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(blob(p256_spki))
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
        None,
    );
    ok(client.disable_key().key_id(p256).send().await);
    expect_err(
        client
            .derive_shared_secret()
            .key_id(p256)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(blob(p256_spki))
            .send()
            .await,
        "DisabledException",
        Some(&format!("{p256} is disabled.")),
    );
    // Signing keys refuse Sign-less use the other way too: a KEY_AGREEMENT key's
    // GetPublicKey lists ECDH only.
    let public = ok(client.get_public_key().key_id(p256).send().await);
    assert_eq!(
        public.key_agreement_algorithms(),
        &[KeyAgreementAlgorithmSpec::Ecdh]
    );
    assert!(public.signing_algorithms().is_empty());
}

/// Loads a PKCS#8 private key in Python and returns its public key as SPKI DER.
const PY_PKCS8_PUBLIC: &str = r#"
import sys, json, base64
from cryptography.hazmat.primitives import serialization
out = []
for der in json.load(sys.stdin):
    k = serialization.load_der_private_key(base64.b64decode(der), password=None)
    out.append(base64.b64encode(k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode())
print(json.dumps(out))
"#;

#[tokio::test]
async fn data_key_pairs_of_every_spec() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    let context = HashMap::from([("purpose".to_owned(), "data key pairs".to_owned())]);
    let mut python_pairs = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    // The model's DataKeyPairSpec values (the SDK knows newer ones the model lacks).
    for spec in &[
        "RSA_2048",
        "RSA_3072",
        "RSA_4096",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "SM2",
        "ECC_NIST_EDWARDS25519",
    ] {
        let out = ok(client
            .generate_data_key_pair()
            .key_id(&key_id)
            .key_pair_spec(DataKeyPairSpec::from(*spec))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await);
        assert_eq!(out.key_id(), Some(arn.as_str()));
        assert_eq!(out.key_pair_spec().map(|s| s.as_str()), Some(*spec));
        assert!(out.key_material_id().is_some());
        let private = out.private_key_plaintext().unwrap().as_ref().to_vec();
        let public = out.public_key().unwrap().as_ref().to_vec();
        // The encrypted private key is an ordinary ciphertext: Decrypt opens it, with the
        // same encryption context only.
        let opened = ok(client
            .decrypt()
            .ciphertext_blob(out.private_key_ciphertext_blob().unwrap().clone())
            .set_encryption_context(Some(context.clone()))
            .send()
            .await);
        assert_eq!(opened.plaintext().unwrap().as_ref(), private.as_slice());
        expect_code(
            client
                .decrypt()
                .ciphertext_blob(out.private_key_ciphertext_blob().unwrap().clone())
                .send()
                .await,
            "InvalidCiphertextException",
        );
        if *spec == "SM2" {
            // The SM2 curve is OpenSSL's, not Python's.
            std::fs::write(dir.path().join("k.der"), &private).unwrap();
            openssl(
                &[
                    "pkey", "-inform", "DER", "-in", "k.der", "-pubout", "-outform", "DER", "-out",
                    "pub.der",
                ],
                dir.path(),
            );
            assert_eq!(std::fs::read(dir.path().join("pub.der")).unwrap(), public);
        } else {
            python_pairs.push((*spec, private, public));
        }

        // Without the plaintext: the public key and the encrypted private key only.
        let without = ok(client
            .generate_data_key_pair_without_plaintext()
            .key_id(&key_id)
            .key_pair_spec(DataKeyPairSpec::from(*spec))
            .send()
            .await);
        assert_eq!(without.key_id(), Some(arn.as_str()));
        let opened =
            crate::harness::decrypt(&client, without.private_key_ciphertext_blob().unwrap()).await;
        let spec_c = AsymmetricKeySpec::from_wire(spec).unwrap();
        let loaded = PrivateKey::from_pkcs8(spec_c, &opened).unwrap();
        assert_eq!(
            loaded.public_key().der(),
            without.public_key().unwrap().as_ref()
        );
    }
    assert_eq!(python_pairs.len(), 8);
    let publics = python(
        PY_PKCS8_PUBLIC,
        &json!(python_pairs
            .iter()
            .map(|(_, private, _)| b64(private))
            .collect::<Vec<_>>()),
    );
    for ((spec, _, public), derived) in python_pairs.iter().zip(publics.as_array().unwrap()) {
        assert_eq!(&unb64(derived), public, "{spec}");
    }

    // Only symmetric encryption keys wrap data key pairs.
    let rsa = create(&client, "RSA_2048", "ENCRYPT_DECRYPT").await;
    expect_err(
        client
            .generate_data_key_pair()
            .key_id(&rsa)
            .key_pair_spec(DataKeyPairSpec::EccNistP256)
            .send()
            .await,
        "InvalidKeyUsageException",
        Some("You cannot generate a data key with an asymmetric CMK"),
    );
    let hmac = create(&client, "HMAC_256", "GENERATE_VERIFY_MAC").await;
    expect_err(
        client
            .generate_data_key_pair_without_plaintext()
            .key_id(&hmac)
            .key_pair_spec(DataKeyPairSpec::EccNistP256)
            .send()
            .await,
        "InvalidKeyUsageException",
        Some(&format!(
            "{hmac} key usage is GENERATE_VERIFY_MAC which is not valid for GenerateDataKeyPairWithoutPlaintext."
        )),
    );
    expect_err(
        client
            .generate_data_key_pair()
            .key_id(&key_id)
            .key_pair_spec(DataKeyPairSpec::Rsa2048)
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
        None,
    );
    ok(client.disable_key().key_id(&key_id).send().await);
    expect_err(
        client
            .generate_data_key_pair()
            .key_id(&key_id)
            .key_pair_spec(DataKeyPairSpec::Rsa2048)
            .send()
            .await,
        "DisabledException",
        Some(&format!("{arn} is disabled.")),
    );
}
