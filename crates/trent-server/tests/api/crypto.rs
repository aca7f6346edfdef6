//! Cryptographic operations on symmetric encryption keys: Encrypt, Decrypt, ReEncrypt,
//! GenerateDataKey, GenerateDataKeyWithoutPlaintext, GenerateRandom.

use std::collections::HashMap;

use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, EncryptionAlgorithmSpec};
use aws_sdk_kms::Client;
use base64::Engine as _;
use serde_json::json;

use crate::harness::{
    alias_arn, alias_not_found, create_alias, create_key, decrypt, encrypt, expect_code,
    expect_err, key_arn, ok, random_key_id, TestServer, DEFAULT_ACCOUNT, REGION,
};

fn ctx(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn decrypt_with_context(
    client: &Client,
    blob: &Blob,
    context: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, aws_sdk_kms::error::SdkError<DecryptError>> {
    client
        .decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(context)
        .send()
        .await
        .map(|out| {
            out.plaintext()
                .map(|p| p.as_ref().to_vec())
                .unwrap_or_default()
        })
}

#[tokio::test]
async fn encrypt_decrypt_round_trip() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;

    let out = ok(client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"attack at dawn".to_vec()))
        .send()
        .await);
    // "The Amazon Resource Name (key ARN) of the KMS key that was used to encrypt".
    assert_eq!(out.key_id(), Some(arn.as_str()));
    assert_eq!(
        out.encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );
    let blob = out.ciphertext_blob().unwrap().clone();
    assert!(
        !blob
            .as_ref()
            .windows(b"attack at dawn".len())
            .any(|w| w == b"attack at dawn"),
        "the plaintext appears in the ciphertext"
    );

    // Decrypt needs no KeyId for symmetric ciphertexts.
    let dec = ok(client.decrypt().ciphertext_blob(blob.clone()).send().await);
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"attack at dawn");
    assert_eq!(dec.key_id(), Some(arn.as_str()));
    assert_eq!(
        dec.encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );

    // Two encryptions of the same plaintext differ (random nonce).
    let again = encrypt(&client, &key_id, b"attack at dawn").await;
    assert_ne!(again.as_ref(), blob.as_ref());
    assert_eq!(decrypt(&client, &again).await, b"attack at dawn");
}

/// Encrypt accepts key ID, key ARN, alias name and alias ARN; Decrypt's KeyId too.
#[tokio::test]
async fn every_identifier_form_for_encrypt_and_decrypt() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    create_alias(&client, "alias/crypto", &key_id).await;
    let forms = [
        key_id.clone(),
        arn.clone(),
        "alias/crypto".to_owned(),
        alias_arn(REGION, DEFAULT_ACCOUNT, "alias/crypto"),
    ];
    for enc_form in &forms {
        let out = ok(client
            .encrypt()
            .key_id(enc_form)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await);
        assert_eq!(out.key_id(), Some(arn.as_str()), "Encrypt({enc_form})");
        let blob = out.ciphertext_blob().unwrap().clone();
        for dec_form in &forms {
            let dec = ok(client
                .decrypt()
                .ciphertext_blob(blob.clone())
                .key_id(dec_form)
                .send()
                .await);
            assert_eq!(
                dec.plaintext().unwrap().as_ref(),
                b"x",
                "Decrypt(KeyId={dec_form})"
            );
            assert_eq!(dec.key_id(), Some(arn.as_str()));
        }
    }
}

#[tokio::test]
async fn crypto_with_unknown_keys_is_not_found() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let missing = random_key_id();
    let missing_arn = key_arn(REGION, DEFAULT_ACCOUNT, &missing);
    expect_err(
        client
            .encrypt()
            .key_id(&missing)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "NotFoundException",
        Some(&format!("Key '{missing_arn}' does not exist")),
    );
    let nope = alias_arn(REGION, DEFAULT_ACCOUNT, "alias/nope");
    expect_err(
        client
            .encrypt()
            .key_id("alias/nope")
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "NotFoundException",
        Some(&alias_not_found(&nope)),
    );
    expect_err(
        client
            .generate_data_key()
            .key_id("foo")
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await,
        "NotFoundException",
        Some("Invalid keyId 'foo'"),
    );
}

/// "When you use an encryption context to encrypt data, you must specify the same (an exact
/// case-sensitive match) encryption context to decrypt the data."
#[tokio::test]
async fn encryption_context_must_match_exactly() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let context = ctx(&[("purpose", "test"), ("user", "alice")]);

    let blob = ok(client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"secret".to_vec()))
        .set_encryption_context(Some(context.clone()))
        .send()
        .await)
    .ciphertext_blob
    .unwrap();

    assert_eq!(
        ok(decrypt_with_context(&client, &blob, Some(context.clone())).await),
        b"secret"
    );
    // Same pairs in another order: the context is a map.
    let reordered = ctx(&[("user", "alice"), ("purpose", "test")]);
    assert_eq!(
        ok(decrypt_with_context(&client, &blob, Some(reordered)).await),
        b"secret"
    );

    for wrong in [
        None,
        Some(HashMap::new()),
        Some(ctx(&[("purpose", "test")])),
        Some(ctx(&[("purpose", "test"), ("user", "bob")])),
        Some(ctx(&[("purpose", "test"), ("User", "alice")])),
        Some(ctx(&[("purpose", "test"), ("user", "Alice")])),
        Some(ctx(&[
            ("purpose", "test"),
            ("user", "alice"),
            ("extra", ""),
        ])),
    ] {
        expect_code(
            decrypt_with_context(&client, &blob, wrong.clone()).await,
            "InvalidCiphertextException",
        );
    }

    // A ciphertext made without a context does not decrypt with one.
    let plain_blob = encrypt(&client, &key_id, b"no context").await;
    expect_code(
        decrypt_with_context(&client, &plain_blob, Some(ctx(&[("a", "b")]))).await,
        "InvalidCiphertextException",
    );
    assert_eq!(
        ok(decrypt_with_context(&client, &plain_blob, None).await),
        b"no context"
    );
}

/// The canonical encryption context must be unambiguous: {"a":"bc"} and {"ab":"c"} are
/// different contexts even though their concatenations are equal.
#[tokio::test]
async fn encryption_context_serialization_is_unambiguous() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;

    type Pairs<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Pairs, Pairs); 3] = [
        (&[("a", "bc")], &[("ab", "c")]),
        (&[("a", "b"), ("c", "d")], &[("a", "bcd")]),
        (&[("a", "b"), ("cd", "e")], &[("a", "bc"), ("d", "e")]),
    ];
    for (made_with, tried_with) in cases {
        let blob = ok(client
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(b"p".to_vec()))
            .set_encryption_context(Some(ctx(made_with)))
            .send()
            .await)
        .ciphertext_blob
        .unwrap();
        expect_code(
            decrypt_with_context(&client, &blob, Some(ctx(tried_with))).await,
            "InvalidCiphertextException",
        );
        assert_eq!(
            ok(decrypt_with_context(&client, &blob, Some(ctx(made_with))).await),
            b"p"
        );
    }
}

#[tokio::test]
async fn decrypt_with_the_wrong_key_id_is_incorrect_key() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_a, _) = create_key(&client).await;
    let (key_b, arn_b) = create_key(&client).await;
    create_alias(&client, "alias/b", &key_b).await;
    let blob = encrypt(&client, &key_a, b"for a").await;

    for wrong in [key_b.clone(), arn_b, "alias/b".to_owned()] {
        let err = expect_err(
            client
                .decrypt()
                .ciphertext_blob(blob.clone())
                .key_id(&wrong)
                .send()
                .await,
            "IncorrectKeyException",
            Some(
                "The key ID in the request does not identify a CMK that can perform this \
                 operation.",
            ),
        );
        assert!(matches!(err, DecryptError::IncorrectKeyException(_)));
    }
}

/// Any change to a ciphertext blob is detected: every single-byte change, truncation,
/// extension and garbage are InvalidCiphertextException.
#[tokio::test]
async fn tampered_ciphertexts_are_rejected() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;
    let blob = encrypt(&client, &key_id, b"integrity matters").await;
    let bytes = blob.as_ref().to_vec();

    for i in 0..bytes.len() {
        let mut tampered = bytes.clone();
        tampered[i] ^= 0x01;
        let err = decrypt_with_context(&client, &Blob::new(tampered), None).await;
        match err {
            Ok(p) => panic!("byte {i} flipped still decrypts to {p:?}"),
            Err(e) => {
                let code = aws_sdk_kms::error::ProvideErrorMetadata::code(&e);
                assert_eq!(
                    code,
                    Some("InvalidCiphertextException"),
                    "byte {i} of {} flipped",
                    bytes.len()
                );
            }
        }
    }
    let mut truncated = bytes.clone();
    truncated.pop();
    let mut extended = bytes.clone();
    extended.push(0);
    for bad in [
        truncated,
        extended,
        bytes[..bytes.len() / 2].to_vec(),
        b"x".to_vec(),
        vec![0u8; 64],
        vec![0xffu8; 200],
    ] {
        expect_code(
            decrypt_with_context(&client, &Blob::new(bad), None).await,
            "InvalidCiphertextException",
        );
    }
    // The original still decrypts.
    assert_eq!(decrypt(&client, &blob).await, b"integrity matters");
}

/// Plaintext is 1 to 4096 bytes (PlaintextType min 1, max 4096). Plaintext is sensitive, so
/// AWS leaves its value out of the message ("Value at 'plaintext' ...", as in
/// https://github.com/adenot/hiera-eyaml-kms/issues/8).
#[tokio::test]
async fn plaintext_size_limits() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;

    let max = vec![0x5au8; 4096];
    let blob = encrypt(&client, &key_id, &max).await;
    assert_eq!(decrypt(&client, &blob).await, max);
    let one = encrypt(&client, &key_id, b"1").await;
    assert_eq!(decrypt(&client, &one).await, b"1");

    expect_err(
        client
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(vec![0u8; 4097]))
            .send()
            .await,
        "ValidationException",
        Some(
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: \
             Member must have length less than or equal to 4096",
        ),
    );
    expect_err(
        client
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(Vec::new()))
            .send()
            .await,
        "ValidationException",
        Some(
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: \
             Member must have length greater than or equal to 1",
        ),
    );
}

/// "The default value, SYMMETRIC_DEFAULT, is the algorithm used for symmetric encryption
/// KMS keys." Any other algorithm is incompatible with a symmetric key
/// (InvalidKeyUsageException, e.g. "Algorithm SYMMETRIC_DEFAULT is incompatible with key
/// spec RSA_4096." for the reverse case, zalando/spring-cloud-config-aws-kms#82).
#[tokio::test]
async fn encryption_algorithm_must_be_symmetric_default() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;

    let out = ok(client
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"x".to_vec()))
        .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
        .send()
        .await);
    let blob = out.ciphertext_blob().unwrap().clone();
    let dec = ok(client
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
        .send()
        .await);
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"x");

    for alg in [
        EncryptionAlgorithmSpec::RsaesOaepSha256,
        EncryptionAlgorithmSpec::RsaesOaepSha1,
    ] {
        expect_err(
            client
                .encrypt()
                .key_id(&key_id)
                .plaintext(Blob::new(b"x".to_vec()))
                .encryption_algorithm(alg)
                .send()
                .await,
            "InvalidKeyUsageException",
            None,
        );
    }
}

#[tokio::test]
async fn re_encrypt_moves_a_ciphertext_to_another_key_and_context() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_a, arn_a) = create_key(&client).await;
    let (key_b, arn_b) = create_key(&client).await;
    create_alias(&client, "alias/destination", &key_b).await;
    let ctx_a = ctx(&[("stage", "one")]);
    let ctx_b = ctx(&[("stage", "two")]);

    let blob = ok(client
        .encrypt()
        .key_id(&key_a)
        .plaintext(Blob::new(b"moving".to_vec()))
        .set_encryption_context(Some(ctx_a.clone()))
        .send()
        .await)
    .ciphertext_blob
    .unwrap();

    let out = ok(client
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .set_source_encryption_context(Some(ctx_a.clone()))
        .destination_key_id("alias/destination")
        .set_destination_encryption_context(Some(ctx_b.clone()))
        .send()
        .await);
    assert_eq!(out.source_key_id(), Some(arn_a.as_str()));
    assert_eq!(out.key_id(), Some(arn_b.as_str()));
    assert_eq!(
        out.source_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );
    assert_eq!(
        out.destination_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::SymmetricDefault)
    );
    let moved = out.ciphertext_blob().unwrap().clone();

    let dec = ok(client
        .decrypt()
        .ciphertext_blob(moved.clone())
        .set_encryption_context(Some(ctx_b.clone()))
        .send()
        .await);
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"moving");
    assert_eq!(dec.key_id(), Some(arn_b.as_str()));
    expect_code(
        decrypt_with_context(&client, &moved, Some(ctx_a.clone())).await,
        "InvalidCiphertextException",
    );
    expect_err(
        client
            .decrypt()
            .ciphertext_blob(moved.clone())
            .set_encryption_context(Some(ctx_b.clone()))
            .key_id(&key_a)
            .send()
            .await,
        "IncorrectKeyException",
        Some("The key ID in the request does not identify a CMK that can perform this operation."),
    );

    // The source context must match.
    expect_code(
        client
            .re_encrypt()
            .ciphertext_blob(blob.clone())
            .destination_key_id(&key_b)
            .send()
            .await,
        "InvalidCiphertextException",
    );
    // SourceKeyId, when given, must be the key that encrypted the ciphertext, in whatever
    // form it names another key (id, ARN, alias, alias ARN); the wrong source context too.
    let other_alias_arn =
        crate::harness::alias_arn(REGION, crate::harness::DEFAULT_ACCOUNT, "alias/destination");
    for source in [
        key_b.as_str(),
        arn_b.as_str(),
        "alias/destination",
        other_alias_arn.as_str(),
    ] {
        for context in [ctx_a.clone(), ctx_b.clone()] {
            expect_err(
                client
                    .re_encrypt()
                    .ciphertext_blob(blob.clone())
                    .set_source_encryption_context(Some(context))
                    .source_key_id(source)
                    .destination_key_id(&key_b)
                    .send()
                    .await,
                "IncorrectKeyException",
                Some(
                    "The key ID in the request does not identify a CMK that can perform this \
                     operation.",
                ),
            );
        }
    }
    // With the right SourceKeyId, and re-encrypting under the same key, it works.
    let same = ok(client
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .set_source_encryption_context(Some(ctx_a.clone()))
        .source_key_id(&arn_a)
        .destination_key_id(&key_a)
        .send()
        .await);
    assert_eq!(same.key_id(), Some(arn_a.as_str()));
    let dec = ok(client
        .decrypt()
        .ciphertext_blob(same.ciphertext_blob().unwrap().clone())
        .send()
        .await);
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"moving");

    let missing = random_key_id();
    expect_err(
        client
            .re_encrypt()
            .ciphertext_blob(blob)
            .set_source_encryption_context(Some(ctx_a))
            .destination_key_id(&missing)
            .send()
            .await,
        "NotFoundException",
        Some(&format!(
            "Key '{}' does not exist",
            key_arn(REGION, DEFAULT_ACCOUNT, &missing)
        )),
    );
}

#[tokio::test]
async fn generate_data_key_specs_and_sizes() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    let context = ctx(&[("file", "a.txt")]);

    for (spec, len) in [(DataKeySpec::Aes256, 32usize), (DataKeySpec::Aes128, 16)] {
        let out = ok(client
            .generate_data_key()
            .key_id(&key_id)
            .key_spec(spec.clone())
            .set_encryption_context(Some(context.clone()))
            .send()
            .await);
        assert_eq!(out.key_id(), Some(arn.as_str()));
        let plaintext = out.plaintext().expect("Plaintext").as_ref().to_vec();
        assert_eq!(plaintext.len(), len, "{spec:?}");
        let blob = out.ciphertext_blob().unwrap().clone();
        assert_eq!(
            ok(decrypt_with_context(&client, &blob, Some(context.clone())).await),
            plaintext
        );
        expect_code(
            decrypt_with_context(&client, &blob, None).await,
            "InvalidCiphertextException",
        );
    }

    for n in [1, 64, 1024] {
        let out = ok(client
            .generate_data_key()
            .key_id(&key_id)
            .number_of_bytes(n)
            .send()
            .await);
        let plaintext = out.plaintext().unwrap().as_ref().to_vec();
        assert_eq!(plaintext.len(), usize::try_from(n).unwrap());
        assert_eq!(
            decrypt(&client, out.ciphertext_blob().unwrap()).await,
            plaintext
        );
    }

    // Two data keys differ.
    let a = ok(client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await);
    let b = ok(client
        .generate_data_key()
        .key_id(&key_id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await);
    assert_ne!(
        a.plaintext().unwrap().as_ref(),
        b.plaintext().unwrap().as_ref()
    );
}

/// "You must specify either the KeySpec or the NumberOfBytes parameter (but not both)".
#[tokio::test]
async fn generate_data_key_parameter_validation() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = create_key(&client).await;

    expect_err(
        client.generate_data_key().key_id(&key_id).send().await,
        "ValidationException",
        None,
    );
    expect_err(
        client
            .generate_data_key()
            .key_id(&key_id)
            .key_spec(DataKeySpec::Aes256)
            .number_of_bytes(32)
            .send()
            .await,
        "ValidationException",
        None,
    );
    expect_err(
        client
            .generate_data_key()
            .key_id(&key_id)
            .number_of_bytes(0)
            .send()
            .await,
        "ValidationException",
        Some(
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy \
             constraint: Member must have value greater than or equal to 1",
        ),
    );
    expect_err(
        client
            .generate_data_key()
            .key_id(&key_id)
            .number_of_bytes(1025)
            .send()
            .await,
        "ValidationException",
        Some(
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy \
             constraint: Member must have value less than or equal to 1024",
        ),
    );
    expect_err(
        client
            .generate_data_key_without_plaintext()
            .key_id(&key_id)
            .send()
            .await,
        "ValidationException",
        None,
    );
    expect_err(
        client
            .generate_data_key_without_plaintext()
            .key_id(&key_id)
            .key_spec(DataKeySpec::Aes128)
            .number_of_bytes(16)
            .send()
            .await,
        "ValidationException",
        None,
    );
}

#[tokio::test]
async fn generate_data_key_without_plaintext() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    create_alias(&client, "alias/dk", &key_id).await;

    let out = ok(client
        .generate_data_key_without_plaintext()
        .key_id("alias/dk")
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await);
    assert_eq!(out.key_id(), Some(arn.as_str()));
    assert_eq!(
        decrypt(&client, out.ciphertext_blob().unwrap()).await.len(),
        32
    );

    let context = ctx(&[("k", "v")]);
    let out = ok(client
        .generate_data_key_without_plaintext()
        .key_id(&key_id)
        .number_of_bytes(64)
        .set_encryption_context(Some(context.clone()))
        .send()
        .await);
    let plaintext =
        ok(decrypt_with_context(&client, out.ciphertext_blob().unwrap(), Some(context)).await);
    assert_eq!(plaintext.len(), 64);

    // On the wire: no Plaintext member at all.
    let resp = server
        .call(
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": key_id, "KeySpec": "AES_128"}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    let body = resp.json();
    assert!(body.get("Plaintext").is_none(), "{body}");
    let blob = body["CiphertextBlob"]
        .as_str()
        .expect("base64 CiphertextBlob");
    let blob = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .expect("CiphertextBlob is standard base64");
    assert_eq!(decrypt(&client, &Blob::new(blob)).await.len(), 16);
}

#[tokio::test]
async fn generate_random() {
    let server = TestServer::start();
    let client = server.client(REGION);
    for n in [1, 32, 1024] {
        let out = ok(client.generate_random().number_of_bytes(n).send().await);
        assert_eq!(
            out.plaintext().unwrap().as_ref().len(),
            usize::try_from(n).unwrap()
        );
    }
    let a = ok(client.generate_random().number_of_bytes(32).send().await);
    let b = ok(client.generate_random().number_of_bytes(32).send().await);
    assert_ne!(
        a.plaintext().unwrap().as_ref(),
        b.plaintext().unwrap().as_ref()
    );
    assert_ne!(a.plaintext().unwrap().as_ref(), &[0u8; 32]);

    expect_err(
        client.generate_random().number_of_bytes(0).send().await,
        "ValidationException",
        Some(
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy \
             constraint: Member must have value greater than or equal to 1",
        ),
    );
    expect_err(
        client.generate_random().number_of_bytes(1025).send().await,
        "ValidationException",
        Some(
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy \
             constraint: Member must have value less than or equal to 1024",
        ),
    );
    // Without NumberOfBytes (optional in the model): AWS's own message, not a model
    // constraint's.
    expect_err(
        client.generate_random().send().await,
        "ValidationException",
        Some("NumberOfBytes is required."),
    );
}

/// A disabled key cannot be used in cryptographic operations: DisabledException,
/// "<key ARN> is disabled."
#[tokio::test]
async fn disabled_key_refuses_crypto() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    let (other, _) = create_key(&client).await;
    let blob = encrypt(&client, &key_id, b"before").await;
    let other_blob = encrypt(&client, &other, b"other").await;
    ok(client.disable_key().key_id(&key_id).send().await);
    let msg = format!("{arn} is disabled.");

    expect_err(
        client
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "DisabledException",
        Some(&msg),
    );
    expect_err(
        client.decrypt().ciphertext_blob(blob.clone()).send().await,
        "DisabledException",
        Some(&msg),
    );
    expect_err(
        client
            .generate_data_key()
            .key_id(&key_id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await,
        "DisabledException",
        Some(&msg),
    );
    expect_err(
        client
            .generate_data_key_without_plaintext()
            .key_id(&key_id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await,
        "DisabledException",
        Some(&msg),
    );
    // ReEncrypt from the disabled key, and to it.
    expect_err(
        client
            .re_encrypt()
            .ciphertext_blob(blob.clone())
            .destination_key_id(&other)
            .send()
            .await,
        "DisabledException",
        Some(&msg),
    );
    expect_err(
        client
            .re_encrypt()
            .ciphertext_blob(other_blob)
            .destination_key_id(&key_id)
            .send()
            .await,
        "DisabledException",
        Some(&msg),
    );

    // Enabled again, the old ciphertext decrypts.
    ok(client.enable_key().key_id(&key_id).send().await);
    assert_eq!(decrypt(&client, &blob).await, b"before");
}

/// A key pending deletion cannot be used: KMSInvalidStateException,
/// "<key ARN> is pending deletion."
#[tokio::test]
async fn pending_deletion_key_refuses_crypto() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = create_key(&client).await;
    create_alias(&client, "alias/doomed", &key_id).await;
    let blob = encrypt(&client, &key_id, b"before").await;
    ok(client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    let msg = format!("{arn} is pending deletion.");

    for id in [key_id.as_str(), "alias/doomed"] {
        expect_err(
            client
                .encrypt()
                .key_id(id)
                .plaintext(Blob::new(b"x".to_vec()))
                .send()
                .await,
            "KMSInvalidStateException",
            Some(&msg),
        );
        expect_err(
            client
                .generate_data_key()
                .key_id(id)
                .number_of_bytes(16)
                .send()
                .await,
            "KMSInvalidStateException",
            Some(&msg),
        );
    }
    expect_err(
        client.decrypt().ciphertext_blob(blob.clone()).send().await,
        "KMSInvalidStateException",
        Some(&msg),
    );
    expect_err(
        client
            .generate_data_key_without_plaintext()
            .key_id(&key_id)
            .key_spec(DataKeySpec::Aes128)
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&msg),
    );

    // Canceled (→ Disabled) and enabled again, the ciphertext decrypts.
    ok(client.cancel_key_deletion().key_id(&key_id).send().await);
    expect_err(
        client.decrypt().ciphertext_blob(blob.clone()).send().await,
        "DisabledException",
        Some(&format!("{arn} is disabled.")),
    );
    ok(client.enable_key().key_id(&key_id).send().await);
    assert_eq!(decrypt(&client, &blob).await, b"before");
}
