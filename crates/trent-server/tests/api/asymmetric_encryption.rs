//! Encrypt, Decrypt and ReEncrypt with RSA and SM2 ENCRYPT_DECRYPT keys: RSAES-OAEP with
//! SHA-1 and SHA-256 and SM2PKE, AWS's plaintext limits and algorithm rules, and
//! ciphertexts made outside Trent with the public key (Python `cryptography`, the OpenSSL
//! CLI for SM2) decrypting inside it:
//! <https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html>.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::types::{DataKeySpec, EncryptionAlgorithmSpec};
use aws_sdk_kms::Client;
use serde_json::json;

use crate::harness::{create_key, expect_code, expect_err, ok, TestServer, REGION};
use crate::interop::{b64, blob, openssl, public_key, python, spki_pem, unb64};
use crate::signing::create;

const PY_OAEP_ENCRYPT: &str = r#"
import sys, json, base64
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
it = json.load(sys.stdin)
pub = serialization.load_der_public_key(base64.b64decode(it['spki']))
h = hashes.SHA1() if it['alg'] == 'RSAES_OAEP_SHA_1' else hashes.SHA256()
ct = pub.encrypt(base64.b64decode(it['plaintext']), padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None))
print(json.dumps(base64.b64encode(ct).decode()))
"#;

async fn encrypt(
    client: &Client,
    key: &str,
    alg: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::encrypt::EncryptError>> {
    client
        .encrypt()
        .key_id(key)
        .encryption_algorithm(EncryptionAlgorithmSpec::from(alg))
        .plaintext(blob(plaintext))
        .send()
        .await
        .map(|o| {
            assert_eq!(o.key_id(), Some(key));
            assert_eq!(o.encryption_algorithm().map(|a| a.as_str()), Some(alg));
            o.ciphertext_blob().unwrap().as_ref().to_vec()
        })
}

async fn decrypt(
    client: &Client,
    key: Option<&str>,
    alg: Option<&str>,
    ciphertext: &[u8],
) -> Result<Vec<u8>, aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::decrypt::DecryptError>> {
    client
        .decrypt()
        .set_key_id(key.map(str::to_owned))
        .set_encryption_algorithm(alg.map(EncryptionAlgorithmSpec::from))
        .ciphertext_blob(blob(ciphertext))
        .send()
        .await
        .map(|o| {
            if let Some(alg) = alg {
                assert_eq!(o.encryption_algorithm().map(|a| a.as_str()), Some(alg));
            }
            // KeyMaterialId is for symmetric keys only.
            assert!(o.key_material_id().is_none());
            o.plaintext().unwrap().as_ref().to_vec()
        })
}

#[tokio::test]
async fn rsa_oaep_round_trips_limits_and_python_ciphertexts() {
    let server = TestServer::start();
    let client = server.client(REGION);
    // AWS's limits (Encrypt's Plaintext documentation).
    let limits = [
        ("RSA_2048", 214usize, 190usize, 256usize),
        ("RSA_3072", 342, 318, 384),
        ("RSA_4096", 470, 446, 512),
    ];
    for (spec, sha1_max, sha256_max, modulus) in limits {
        let key = create(&client, spec, "ENCRYPT_DECRYPT").await;
        let spki = public_key(&client, &key).await;
        for (alg, max) in [
            ("RSAES_OAEP_SHA_1", sha1_max),
            ("RSAES_OAEP_SHA_256", sha256_max),
        ] {
            for plaintext in [vec![0x42u8; 1], vec![0x17u8; max]] {
                let ct = ok(encrypt(&client, &key, alg, &plaintext).await);
                assert_eq!(ct.len(), modulus, "{spec}: raw RSA output");
                assert_eq!(
                    ok(decrypt(&client, Some(&key), Some(alg), &ct).await),
                    plaintext
                );
                // Made outside Trent with the public key, it decrypts inside.
                let outside = unb64(&python(
                    PY_OAEP_ENCRYPT,
                    &json!({"spki": b64(&spki), "alg": alg, "plaintext": b64(&plaintext)}),
                ));
                assert_eq!(
                    ok(decrypt(&client, Some(&key), Some(alg), &outside).await),
                    plaintext
                );
                // The other OAEP hash does not open it.
                let other = if alg == "RSAES_OAEP_SHA_1" {
                    "RSAES_OAEP_SHA_256"
                } else {
                    "RSAES_OAEP_SHA_1"
                };
                let err = expect_code(
                    decrypt(&client, Some(&key), Some(other), &outside).await,
                    "InvalidCiphertextException",
                );
                assert_eq!(err.message(), None);
            }
            expect_err(
                encrypt(&client, &key, alg, &vec![1u8; max + 1]).await,
                "ValidationException",
                Some(&format!(
                    "Algorithm {alg} and key spec {spec} cannot encrypt data larger than {max} bytes."
                )),
            );
        }
    }
}

#[tokio::test]
async fn asymmetric_encryption_error_paths_and_re_encrypt() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let rsa = create(&client, "RSA_2048", "ENCRYPT_DECRYPT").await;
    let rsa_sign = create(&client, "RSA_2048", "SIGN_VERIFY").await;
    let hmac = create(&client, "HMAC_256", "GENERATE_VERIFY_MAC").await;
    let (_, symmetric) = create_key(&client).await;
    let secret = b"the plaintext";

    // The default algorithm, SYMMETRIC_DEFAULT, is not one of an RSA key's.
    expect_err(
        client
            .encrypt()
            .key_id(&rsa)
            .plaintext(blob(secret))
            .send()
            .await,
        "InvalidKeyUsageException",
        Some("Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."),
    );
    expect_err(
        encrypt(&client, &rsa, "SM2PKE", secret).await,
        "InvalidKeyUsageException",
        Some("Algorithm SM2PKE is incompatible with key spec RSA_2048."),
    );
    expect_err(
        encrypt(&client, &symmetric, "RSAES_OAEP_SHA_256", secret).await,
        "InvalidKeyUsageException",
        Some("Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT."),
    );
    // Keys that do not encrypt.
    for (key, usage) in [(&rsa_sign, "SIGN_VERIFY"), (&hmac, "GENERATE_VERIFY_MAC")] {
        expect_err(
            encrypt(&client, key, "RSAES_OAEP_SHA_256", secret).await,
            "InvalidKeyUsageException",
            Some(&format!(
                "{key} key usage is {usage} which is not valid for Encrypt."
            )),
        );
        expect_err(
            client
                .generate_data_key()
                .key_id(key.as_str())
                .key_spec(DataKeySpec::Aes256)
                .send()
                .await,
            "InvalidKeyUsageException",
            Some(&format!(
                "{key} key usage is {usage} which is not valid for GenerateDataKey."
            )),
        );
    }
    // Data keys need a symmetric key.
    let message = Some("You cannot generate a data key with an asymmetric CMK");
    expect_err(
        client
            .generate_data_key()
            .key_id(&rsa)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await,
        "InvalidKeyUsageException",
        message,
    );
    expect_err(
        client
            .generate_data_key_without_plaintext()
            .key_id(&rsa)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await,
        "InvalidKeyUsageException",
        message,
    );

    let ct = ok(encrypt(&client, &rsa, "RSAES_OAEP_SHA_256", secret).await);
    // An asymmetric ciphertext carries no key id: without KeyId, or with the default
    // algorithm, it is not a ciphertext Trent can read.
    for (key, alg) in [
        (None, Some("RSAES_OAEP_SHA_256")),
        (Some(rsa.as_str()), None),
    ] {
        let err = expect_code(
            decrypt(&client, key, alg, &ct).await,
            "InvalidCiphertextException",
        );
        assert_eq!(err.message(), None);
    }
    // Tampered: one flipped bit anywhere.
    for i in [0usize, 100, 255] {
        let mut bad = ct.clone();
        bad[i] ^= 0x01;
        expect_code(
            decrypt(&client, Some(&rsa), Some("RSAES_OAEP_SHA_256"), &bad).await,
            "InvalidCiphertextException",
        );
    }
    expect_code(
        decrypt(&client, Some(&rsa), Some("RSAES_OAEP_SHA_256"), &ct[..255]).await,
        "InvalidCiphertextException",
    );
    // A symmetric ciphertext presented with the RSA key: another key made it.
    let sym_ct = crate::harness::encrypt(&client, &symmetric, secret).await;
    expect_err(
        decrypt(&client, Some(&rsa_sign), None, sym_ct.as_ref()).await,
        "IncorrectKeyException",
        Some("The key ID in the request does not identify a CMK that can perform this operation."),
    );

    // ReEncrypt: symmetric → RSA → RSA (other hash) → symmetric, plaintext intact.
    let to_rsa = ok(client
        .re_encrypt()
        .ciphertext_blob(sym_ct)
        .destination_key_id(&rsa)
        .destination_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await);
    assert_eq!(
        to_rsa.source_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );
    assert_eq!(
        to_rsa.destination_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::RsaesOaepSha256)
    );
    assert!(to_rsa.source_key_material_id().is_some());
    assert!(to_rsa.destination_key_material_id().is_none());
    let rsa_ct = to_rsa.ciphertext_blob().unwrap().as_ref().to_vec();
    assert_eq!(rsa_ct.len(), 256);
    let rsa_to_rsa = ok(client
        .re_encrypt()
        .ciphertext_blob(blob(&rsa_ct))
        .source_key_id(&rsa)
        .source_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .destination_key_id(&rsa)
        .destination_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
        .send()
        .await);
    assert_eq!(rsa_to_rsa.source_key_id(), Some(rsa.as_str()));
    let back = ok(client
        .re_encrypt()
        .ciphertext_blob(rsa_to_rsa.ciphertext_blob().unwrap().clone())
        .source_key_id(&rsa)
        .source_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
        .destination_key_id(&symmetric)
        .send()
        .await);
    assert_eq!(
        back.source_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::RsaesOaepSha1)
    );
    assert!(back.source_key_material_id().is_none());
    assert_eq!(
        crate::harness::decrypt(&client, back.ciphertext_blob().unwrap()).await,
        secret
    );
    // ReEncrypt into an RSA key respects its plaintext limit.
    let big = crate::harness::encrypt(&client, &symmetric, &[9u8; 191]).await;
    expect_err(
        client
            .re_encrypt()
            .ciphertext_blob(big)
            .destination_key_id(&rsa)
            .destination_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await,
        "ValidationException",
        Some("Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than 190 bytes."),
    );
    // ... and the destination's usage.
    expect_err(
        client
            .re_encrypt()
            .ciphertext_blob(blob(&rsa_ct))
            .source_key_id(&rsa)
            .source_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .destination_key_id(&hmac)
            .send()
            .await,
        "InvalidKeyUsageException",
        Some(&format!(
            "{hmac} key usage is GENERATE_VERIFY_MAC which is not valid for ReEncrypt."
        )),
    );

    // DryRun checks everything and decrypts nothing.
    expect_err(
        client
            .decrypt()
            .key_id(&rsa)
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .ciphertext_blob(blob(&ct))
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
        None,
    );
    // A disabled key neither encrypts nor decrypts.
    ok(client.disable_key().key_id(&rsa).send().await);
    expect_err(
        encrypt(&client, &rsa, "RSAES_OAEP_SHA_256", secret).await,
        "DisabledException",
        Some(&format!("{rsa} is disabled.")),
    );
    expect_err(
        decrypt(&client, Some(&rsa), Some("RSAES_OAEP_SHA_256"), &ct).await,
        "DisabledException",
        Some(&format!("{rsa} is disabled.")),
    );
    ok(client.enable_key().key_id(&rsa).send().await);
    assert_eq!(
        ok(decrypt(&client, Some(&rsa), Some("RSAES_OAEP_SHA_256"), &ct).await),
        secret
    );
}

#[tokio::test]
async fn sm2pke_round_trip_and_openssl_ciphertexts() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let key = create(&client, "SM2", "ENCRYPT_DECRYPT").await;
    let md = ok(client.get_public_key().key_id(&key).send().await);
    assert_eq!(
        md.encryption_algorithms(),
        &[EncryptionAlgorithmSpec::Sm2Pke]
    );
    for plaintext in [vec![1u8], vec![0xabu8; 1024]] {
        let ct = ok(encrypt(&client, &key, "SM2PKE", &plaintext).await);
        assert_eq!(
            ok(decrypt(&client, Some(&key), Some("SM2PKE"), &ct).await),
            plaintext
        );
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        expect_code(
            decrypt(&client, Some(&key), Some("SM2PKE"), &bad).await,
            "InvalidCiphertextException",
        );
    }
    expect_err(
        encrypt(&client, &key, "SM2PKE", &[0u8; 1025]).await,
        "ValidationException",
        Some("Algorithm SM2PKE and key spec SM2 cannot encrypt data larger than 1024 bytes."),
    );
    expect_err(
        encrypt(&client, &key, "RSAES_OAEP_SHA_256", b"x").await,
        "InvalidKeyUsageException",
        Some("Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SM2."),
    );
    // The OpenSSL CLI encrypts with the public key (GB/T 32918.4, DER C1C3C2 with SM3);
    // Trent decrypts.
    let dir = tempfile::tempdir().unwrap();
    spki_pem(&public_key(&client, &key).await, dir.path(), "sm2.pem");
    let plaintext = b"encrypted by OpenSSL".to_vec();
    std::fs::write(dir.path().join("msg"), &plaintext).unwrap();
    openssl(
        &[
            "pkeyutl", "-encrypt", "-pubin", "-inkey", "sm2.pem", "-in", "msg", "-out", "ct",
        ],
        dir.path(),
    );
    let ct = std::fs::read(dir.path().join("ct")).unwrap();
    assert_eq!(
        ok(decrypt(&client, Some(&key), Some("SM2PKE"), &ct).await),
        plaintext
    );
}
