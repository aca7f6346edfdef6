//! Sign and Verify through the server with every signing key spec, every algorithm AWS
//! lists for it and every message type it takes, each signature checked by an independent
//! implementation (Python `cryptography`; the OpenSSL CLI for SM2), and the error paths
//! with AWS's error types and messages:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html>,
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html>.

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use aws_sdk_kms::Client;
use serde_json::{json, Value};
use trent_crypto::{AsymmetricKeySpec, PublicKey, SigningAlgorithm};

use crate::harness::{expect_code, expect_err, ok, TestServer, REGION};
use crate::interop::{
    b64, blob, openssl, public_key, python, sha, spki_pem, unb64, PY_MU, PY_VERIFY, SM2_DISTID,
};

/// Every key spec that signs, with the signing algorithms AWS lists for it, in AWS's
/// order (the key spec reference of the AWS KMS developer guide).
pub const SIGNING_SPECS: &[(&str, &[&str])] = &[
    ("RSA_2048", RSA_ALGS),
    ("RSA_3072", RSA_ALGS),
    ("RSA_4096", RSA_ALGS),
    ("ECC_NIST_P256", &["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", &["ECDSA_SHA_384"]),
    ("ECC_NIST_P521", &["ECDSA_SHA_512"]),
    ("ECC_SECG_P256K1", &["ECDSA_SHA_256"]),
    (
        "ECC_NIST_EDWARDS25519",
        &["ED25519_SHA_512", "ED25519_PH_SHA_512"],
    ),
    ("ML_DSA_44", &["ML_DSA_SHAKE_256"]),
    ("ML_DSA_65", &["ML_DSA_SHAKE_256"]),
    ("ML_DSA_87", &["ML_DSA_SHAKE_256"]),
    ("SM2", &["SM2DSA"]),
];

const RSA_ALGS: &[&str] = &[
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
];

pub async fn create(client: &Client, spec: &str, usage: &str) -> String {
    let out = ok(client
        .create_key()
        .key_spec(KeySpec::from(spec))
        .key_usage(KeyUsageType::from(usage))
        .send()
        .await);
    out.key_metadata().unwrap().arn().unwrap().to_owned()
}

async fn sign(
    client: &Client,
    key: &str,
    alg: &str,
    message_type: &str,
    message: &[u8],
) -> Vec<u8> {
    let out = ok(client
        .sign()
        .key_id(key)
        .signing_algorithm(SigningAlgorithmSpec::from(alg))
        .message_type(MessageType::from(message_type))
        .message(blob(message))
        .send()
        .await);
    assert_eq!(out.key_id(), Some(key));
    assert_eq!(out.signing_algorithm().map(|a| a.as_str()), Some(alg));
    out.signature().unwrap().as_ref().to_vec()
}

async fn verify(
    client: &Client,
    key: &str,
    alg: &str,
    message_type: &str,
    message: &[u8],
    signature: &[u8],
) {
    let out = ok(client
        .verify()
        .key_id(key)
        .signing_algorithm(SigningAlgorithmSpec::from(alg))
        .message_type(MessageType::from(message_type))
        .message(blob(message))
        .signature(blob(signature))
        .send()
        .await);
    assert!(out.signature_valid());
    assert_eq!(out.key_id(), Some(key));
}

/// The hash size an algorithm name ends in.
fn hash_bits(alg: &str) -> Option<u32> {
    ["256", "384", "512"]
        .iter()
        .find(|b| alg.ends_with(*b) && !alg.starts_with("ML_DSA"))
        .and_then(|b| b.parse().ok())
}

/// One signature to check outside Trent.
struct Made {
    spec: &'static str,
    alg: &'static str,
    spki: Vec<u8>,
    /// The message the signature covers when hashed by the algorithm.
    message: Vec<u8>,
    /// What was sent with MessageType DIGEST (the digest), if that was the type.
    digest: Option<Vec<u8>>,
    signature: Vec<u8>,
}

#[tokio::test]
async fn every_spec_algorithm_and_message_type_signs_and_verifies_outside_trent() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let message = b"Trent signs for Alice and Bob".to_vec();
    let mut made = Vec::new();
    for (spec, algs) in SIGNING_SPECS {
        let key = create(&client, spec, "SIGN_VERIFY").await;
        let md = ok(client.describe_key().key_id(&key).send().await);
        let listed: Vec<&str> = md
            .key_metadata()
            .unwrap()
            .signing_algorithms()
            .iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(&listed, algs, "{spec}: DescribeKey SigningAlgorithms");
        let spki = public_key(&client, &key).await;
        for alg in *algs {
            // RAW: every algorithm but ED25519_PH_SHA_512 (which takes DIGEST only).
            if *alg != "ED25519_PH_SHA_512" {
                let signature = sign(&client, &key, alg, "RAW", &message).await;
                verify(&client, &key, alg, "RAW", &message, &signature).await;
                made.push(Made {
                    spec,
                    alg,
                    spki: spki.clone(),
                    message: message.clone(),
                    digest: None,
                    signature,
                });
            }
            // DIGEST: the hash of the message, signed without hashing again.
            let digest = match *alg {
                "SM2DSA" => Some(sha(256, &message)),
                "ED25519_PH_SHA_512" => Some(sha(512, &message)),
                a => hash_bits(a).map(|bits| sha(bits, &message)),
            };
            if let (Some(digest), false) = (digest, *alg == "ED25519_SHA_512") {
                let signature = sign(&client, &key, alg, "DIGEST", &digest).await;
                verify(&client, &key, alg, "DIGEST", &digest, &signature).await;
                // "A message and its hash digest are considered to be the same message."
                if alg.starts_with("RSA") || alg.starts_with("ECDSA") {
                    verify(&client, &key, alg, "RAW", &message, &signature).await;
                }
                made.push(Made {
                    spec,
                    alg,
                    spki: spki.clone(),
                    message: message.clone(),
                    digest: Some(digest),
                    signature,
                });
            }
            // EXTERNAL_MU: μ computed outside Trent; the signature is an ordinary ML-DSA
            // signature of the message.
            if *alg == "ML_DSA_SHAKE_256" {
                let mu = unb64(&python(
                    PY_MU,
                    &json!({"spki": b64(&spki), "message": b64(&message)}),
                ));
                let signature = sign(&client, &key, alg, "EXTERNAL_MU", &mu).await;
                verify(&client, &key, alg, "EXTERNAL_MU", &mu, &signature).await;
                verify(&client, &key, alg, "RAW", &message, &signature).await;
                made.push(Made {
                    spec,
                    alg,
                    spki: spki.clone(),
                    message: message.clone(),
                    digest: None,
                    signature,
                });
            }
        }
    }
    assert_eq!(made.len(), 3 * 12 + 4 * 2 + 2 + 3 * 2 + 2);

    // Python `cryptography` verifies everything but SM2 (which it lacks) and
    // ED25519_PH_SHA_512 (Ed25519ph, which neither it nor OpenSSL 3.0 offers).
    let python_items: Vec<Value> = made
        .iter()
        .filter(|m| m.spec != "SM2" && m.alg != "ED25519_PH_SHA_512")
        .map(|m| {
            json!({
                "spki": b64(&m.spki),
                "alg": m.alg,
                "message": b64(m.digest.as_deref().unwrap_or(&m.message)),
                "prehashed": m.digest.is_some(),
                "signature": b64(&m.signature),
            })
        })
        .collect();
    let results = python(PY_VERIFY, &Value::Array(python_items.clone()));
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), python_items.len());
    for (item, result) in python_items.iter().zip(results) {
        assert_eq!(result, "ok", "Python rejected {}", item["alg"]);
    }

    // SM2DSA over the raw message with SM3 and AWS's default distinguishing ID, by the
    // OpenSSL CLI; a flipped bit must fail there too.
    let dir = tempfile::tempdir().unwrap();
    for m in made
        .iter()
        .filter(|m| m.spec == "SM2" && m.digest.is_none())
    {
        spki_pem(&m.spki, dir.path(), "sm2.pem");
        std::fs::write(dir.path().join("msg"), &m.message).unwrap();
        std::fs::write(dir.path().join("sig"), &m.signature).unwrap();
        let out = openssl(
            &[
                "pkeyutl", "-verify", "-pubin", "-inkey", "sm2.pem", "-rawin", "-digest", "sm3",
                "-pkeyopt", SM2_DISTID, "-in", "msg", "-sigfile", "sig",
            ],
            dir.path(),
        );
        assert!(String::from_utf8_lossy(&out).contains("Signature Verified Successfully"));
        let mut bad = m.message.clone();
        bad[0] ^= 1;
        std::fs::write(dir.path().join("msg"), &bad).unwrap();
        let status = std::process::Command::new("openssl")
            .args([
                "pkeyutl", "-verify", "-pubin", "-inkey", "sm2.pem", "-rawin", "-digest", "sm3",
                "-pkeyopt", SM2_DISTID, "-in", "msg", "-sigfile", "sig",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!status.status.success(), "OpenSSL accepted a wrong message");
    }

    // What no installed tool verifies (SM2DSA over a caller's digest, Ed25519ph), the
    // crypto crate's public-key verifier checks from the SPKI alone.
    for m in made
        .iter()
        .filter(|m| (m.spec == "SM2" && m.digest.is_some()) || m.alg == "ED25519_PH_SHA_512")
    {
        let spec = AsymmetricKeySpec::from_wire(m.spec).unwrap();
        let public = PublicKey::from_der(spec, &m.spki).unwrap();
        let alg = SigningAlgorithm::from_wire(m.alg).unwrap();
        let digest = m.digest.as_deref().unwrap();
        assert!(public
            .verify(alg, trent_crypto::MessageType::Digest, digest, &m.signature)
            .unwrap());
        let mut other = digest.to_vec();
        other[0] ^= 1;
        assert!(!public
            .verify(alg, trent_crypto::MessageType::Digest, &other, &m.signature)
            .unwrap());
    }
}

#[tokio::test]
async fn sign_and_verify_error_paths() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let p256 = create(&client, "ECC_NIST_P256", "SIGN_VERIFY").await;
    let ed = create(&client, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY").await;
    let ml = create(&client, "ML_DSA_44", "SIGN_VERIFY").await;
    let rsa_enc = create(&client, "RSA_2048", "ENCRYPT_DECRYPT").await;
    let agree = create(&client, "ECC_NIST_P384", "KEY_AGREEMENT").await;
    let hmac = create(&client, "HMAC_256", "GENERATE_VERIFY_MAC").await;
    let symmetric = ok(client.create_key().send().await)
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();

    let try_sign = |key: &str, alg: &str, mt: &str, msg: &[u8]| {
        client
            .sign()
            .key_id(key)
            .signing_algorithm(SigningAlgorithmSpec::from(alg))
            .message_type(MessageType::from(mt))
            .message(blob(msg))
            .send()
    };

    // Wrong key usage, for Sign and Verify alike, named as AWS names it.
    for (key, usage) in [
        (&rsa_enc, "ENCRYPT_DECRYPT"),
        (&agree, "KEY_AGREEMENT"),
        (&hmac, "GENERATE_VERIFY_MAC"),
        (&symmetric, "ENCRYPT_DECRYPT"),
    ] {
        expect_err(
            try_sign(key, "ECDSA_SHA_256", "RAW", b"m").await,
            "InvalidKeyUsageException",
            Some(&format!(
                "{key} key usage is {usage} which is not valid for Sign."
            )),
        );
        expect_err(
            client
                .verify()
                .key_id(key.as_str())
                .signing_algorithm(SigningAlgorithmSpec::from("ECDSA_SHA_256"))
                .message(blob(b"m"))
                .signature(blob(&[0u8; 64]))
                .send()
                .await,
            "InvalidKeyUsageException",
            Some(&format!(
                "{key} key usage is {usage} which is not valid for Verify."
            )),
        );
    }

    // An algorithm of another key spec.
    for (key, alg, spec) in [
        (&p256, "ECDSA_SHA_384", "ECC_NIST_P256"),
        (&p256, "RSASSA_PSS_SHA_256", "ECC_NIST_P256"),
        (&ed, "ECDSA_SHA_512", "ECC_NIST_EDWARDS25519"),
        (&ml, "ED25519_SHA_512", "ML_DSA_44"),
    ] {
        expect_err(
            try_sign(key, alg, "RAW", b"m").await,
            "InvalidKeyUsageException",
            Some(&format!(
                "Algorithm {alg} is incompatible with key spec {spec}."
            )),
        );
    }

    // DIGEST of the wrong length; message types an algorithm does not take.
    for len in [20usize, 31, 33, 48, 64] {
        expect_err(
            try_sign(&p256, "ECDSA_SHA_256", "DIGEST", &vec![7u8; len]).await,
            "ValidationException",
            Some("Digest is invalid length for algorithm ECDSA_SHA_256."),
        );
    }
    expect_err(
        try_sign(&ed, "ED25519_PH_SHA_512", "DIGEST", b"not a sha-512 digest").await,
        "ValidationException",
        Some("Digest is invalid length for algorithm ED25519_PH_SHA_512."),
    );
    expect_err(
        try_sign(&ed, "ED25519_SHA_512", "DIGEST", &[1u8; 64]).await,
        "ValidationException",
        Some("Message type DIGEST is incompatible with algorithm ED25519_SHA_512."),
    );
    expect_err(
        try_sign(&ed, "ED25519_PH_SHA_512", "RAW", b"m").await,
        "ValidationException",
        Some("Message type RAW is incompatible with algorithm ED25519_PH_SHA_512."),
    );
    expect_err(
        try_sign(&ml, "ML_DSA_SHAKE_256", "DIGEST", &[1u8; 32]).await,
        "ValidationException",
        Some("Message type DIGEST is incompatible with key spec ML_DSA_44."),
    );
    expect_err(
        try_sign(&ml, "ML_DSA_SHAKE_256", "EXTERNAL_MU", &[1u8; 32]).await,
        "ValidationException",
        Some("Digest is invalid length for algorithm ML_DSA_SHAKE_256."),
    );
    expect_err(
        try_sign(&p256, "ECDSA_SHA_256", "EXTERNAL_MU", &[1u8; 64]).await,
        "ValidationException",
        Some("Message type EXTERNAL_MU is incompatible with key spec ECC_NIST_P256."),
    );

    // Messages: 1 to 4096 bytes (the model's PlaintextType).
    try_sign(&p256, "ECDSA_SHA_256", "RAW", &vec![1u8; 4096])
        .await
        .unwrap();
    let err = expect_code(
        try_sign(&p256, "ECDSA_SHA_256", "RAW", &vec![1u8; 4097]).await,
        "ValidationException",
    );
    assert_eq!(
        err.message(),
        Some("1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096")
    );

    // Verify failures: KMSInvalidSignatureException, without a message.
    let message = b"the message";
    let signature = sign(&client, &p256, "ECDSA_SHA_256", "RAW", message).await;
    let mut tampered = signature.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    for (msg, sig) in [
        (&b"another message"[..], signature.as_slice()),
        (&message[..], tampered.as_slice()),
        (&message[..], &[0u8; 3][..]),
        (&message[..], &[0xffu8; 6144][..]),
    ] {
        let err = expect_code(
            client
                .verify()
                .key_id(&p256)
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                .message(blob(msg))
                .signature(blob(sig))
                .send()
                .await,
            "KMSInvalidSignatureException",
        );
        assert_eq!(err.message(), None);
    }
    // Signed RAW, verified as a DIGEST of the message itself: hashed once on one side,
    // not at all on the other, so it fails.
    let err = expect_code(
        client
            .verify()
            .key_id(&p256)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .message_type(MessageType::Digest)
            .message(blob(&sha(256, &sha(256, message))))
            .signature(blob(&signature))
            .send()
            .await,
        "KMSInvalidSignatureException",
    );
    assert_eq!(err.message(), None);

    // DryRun: everything checked, nothing signed.
    expect_err(
        client
            .sign()
            .key_id(&p256)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .message(blob(b"m"))
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
        Some("The request would have succeeded, but the DryRun option is set."),
    );
    expect_err(
        client
            .verify()
            .key_id(&p256)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .message(blob(message))
            .signature(blob(&signature))
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
        None,
    );

    // Key states: a disabled key neither signs nor verifies; pending deletion likewise.
    ok(client.disable_key().key_id(&p256).send().await);
    expect_err(
        try_sign(&p256, "ECDSA_SHA_256", "RAW", b"m").await,
        "DisabledException",
        Some(&format!("{p256} is disabled.")),
    );
    expect_err(
        client
            .verify()
            .key_id(&p256)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .message(blob(message))
            .signature(blob(&signature))
            .send()
            .await,
        "DisabledException",
        Some(&format!("{p256} is disabled.")),
    );
    // The usage is checked before the state.
    ok(client.disable_key().key_id(&rsa_enc).send().await);
    expect_err(
        try_sign(&rsa_enc, "RSASSA_PSS_SHA_256", "RAW", b"m").await,
        "InvalidKeyUsageException",
        None,
    );
    ok(client
        .schedule_key_deletion()
        .key_id(&ed)
        .pending_window_in_days(7)
        .send()
        .await);
    expect_err(
        try_sign(&ed, "ED25519_SHA_512", "RAW", b"m").await,
        "KMSInvalidStateException",
        Some(&format!("{ed} is pending deletion.")),
    );
    // Re-enabled, the key signs again and its earlier signature still verifies.
    ok(client.enable_key().key_id(&p256).send().await);
    verify(&client, &p256, "ECDSA_SHA_256", "RAW", message, &signature).await;
}
