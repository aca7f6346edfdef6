//! Imported key material (BYOK) through the real server: CreateKey with Origin EXTERNAL,
//! GetParametersForImport, ImportKeyMaterial and DeleteImportedKeyMaterial, with material
//! wrapped by Python's `cryptography` exactly as AWS documents
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-encrypt-key-material.html>),
//! proving that the key IS that material (an independent AES-GCM decryption of Trent's
//! blob, an independent HMAC, the public key and a signature checked in Python); expiry at
//! ValidTo on the moved clock, restarts, multiple materials with on-demand rotation, every
//! error path (each changing nothing), and no plaintext material on disk.

use std::path::Path;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, ImportState, ImportType, IncludeKeyMaterial,
    KeyMaterialState, KeySpec, KeyState, KeyUsageType, MacAlgorithmSpec, OriginType, RotationType,
    SigningAlgorithmSpec, WrappingKeySpec,
};
use aws_sdk_kms::Client;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::harness::{encrypt, expect_code, expect_err, ok, TestServer, REGION};
use crate::interop::{b64, python, unb64, PY_VERIFY};
use crate::test_clock::{advance_millis, freeze_at, now_ms, server, DAY_MS};

/// Wraps key material for import as AWS documents it: RSAES_OAEP_* encrypts the material
/// with RSA-OAEP (MGF1 with the same hash, no label); RSA_AES_KEY_WRAP_* encrypts a fresh
/// AES-256 key with RSA-OAEP and appends the material wrapped under it with AES Key Wrap
/// with Padding (RFC 5649). Input: [{public_key, alg, material}] (base64).
pub(crate) const PY_WRAP: &str = r#"
import sys, json, base64, os
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
out = []
for it in json.load(sys.stdin):
    pub = serialization.load_der_public_key(base64.b64decode(it['public_key']))
    m = base64.b64decode(it['material']); alg = it['alg']
    h = hashes.SHA256() if alg.endswith('SHA_256') else hashes.SHA1()
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)
    if alg.startswith('RSA_AES_KEY_WRAP'):
        k = os.urandom(32)
        w = pub.encrypt(k, oaep) + aes_key_wrap_with_padding(k, m)
    else:
        w = pub.encrypt(m, oaep)
    out.append(base64.b64encode(w).decode())
print(json.dumps(out))
"#;

/// Decrypts Trent's ciphertext blob independently. Version 2: header (49 bytes: version,
/// key id, material id) ‖ salt (32) ‖ nonce (12) ‖ ciphertext ‖ tag (16), AES-256-GCM under
/// HKDF-SHA-256(salt, material, "trent symmetric ciphertext key" ‖ header) with AAD =
/// header ‖ salt; version 1: header ‖ nonce ‖ ciphertext ‖ tag, AES-256-GCM under the
/// material with AAD = header (no encryption context). Input {key, blob}; prints the
/// plaintext.
const PY_OPEN_BLOB: &str = r#"
import sys, json, base64
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
it = json.load(sys.stdin)
key = base64.b64decode(it['key']); blob = base64.b64decode(it['blob'])
header = blob[:49]
if blob[0] == 2:
    salt, nonce, rest = blob[49:81], blob[81:93], blob[93:]
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
               info=b'trent symmetric ciphertext key' + header).derive(key)
    aad = header + salt
else:
    assert blob[0] == 1
    nonce, rest, aad = blob[49:61], blob[61:], header
print(json.dumps(base64.b64encode(AESGCM(key).decrypt(nonce, rest, aad)).decode()))
"#;

/// HMAC of a message under a key, by Python's `hmac`. Input {key, message, hash}.
pub(crate) const PY_HMAC: &str = r#"
import sys, json, base64, hmac
it = json.load(sys.stdin)
mac = hmac.new(base64.b64decode(it['key']), base64.b64decode(it['message']), it['hash']).digest()
print(json.dumps(base64.b64encode(mac).decode()))
"#;

/// A fresh private key in Python: {kind: "ec256" | "rsa2048"} → {pkcs8, spki} (DER, base64).
pub(crate) const PY_KEYPAIR: &str = r#"
import sys, json, base64
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
it = json.load(sys.stdin)
k = ec.generate_private_key(ec.SECP256R1()) if it['kind'] == 'ec256' else rsa.generate_private_key(65537, 2048)
print(json.dumps({
  'pkcs8': base64.b64encode(k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())).decode(),
  'spki': base64.b64encode(k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode(),
}))
"#;

pub(crate) fn random(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut out).unwrap();
    out
}

async fn external_key(
    client: &Client,
    spec: KeySpec,
    usage: Option<KeyUsageType>,
) -> (String, String) {
    let out = ok(client
        .create_key()
        .origin(OriginType::External)
        .key_spec(spec)
        .set_key_usage(usage)
        .send()
        .await);
    let md = out.key_metadata().unwrap();
    assert_eq!(md.origin(), Some(&OriginType::External));
    assert_eq!(md.key_state(), Some(&KeyState::PendingImport));
    assert!(!md.enabled());
    assert!(md.current_key_material_id().is_none());
    (md.key_id().to_owned(), md.arn().unwrap().to_owned())
}

/// GetParametersForImport: (public key DER, import token).
pub(crate) async fn parameters(
    client: &Client,
    key_id: &str,
    alg: AlgorithmSpec,
    spec: WrappingKeySpec,
) -> (Vec<u8>, Blob) {
    let out = ok(client
        .get_parameters_for_import()
        .key_id(key_id)
        .wrapping_algorithm(alg)
        .wrapping_key_spec(spec)
        .send()
        .await);
    (
        out.public_key().unwrap().as_ref().to_vec(),
        out.import_token().unwrap().clone(),
    )
}

pub(crate) fn wrap(public_key: &[u8], alg: &AlgorithmSpec, material: &[u8]) -> Blob {
    let out = python(
        PY_WRAP,
        &json!([{"public_key": b64(public_key), "alg": alg.as_str(), "material": b64(material)}]),
    );
    Blob::new(unb64(&out[0]))
}

/// Parameters, wrap, import without expiry; returns the KeyMaterialId.
pub(crate) async fn import(client: &Client, key_id: &str, material: &[u8]) -> String {
    let alg = AlgorithmSpec::RsaAesKeyWrapSha256;
    let (public, token) = parameters(client, key_id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    let out = ok(client
        .import_key_material()
        .key_id(key_id)
        .import_token(token)
        .encrypted_key_material(wrap(&public, &alg, material))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await);
    out.key_material_id().unwrap().to_owned()
}

pub(crate) async fn state(client: &Client, key_id: &str) -> KeyState {
    ok(client.describe_key().key_id(key_id).send().await)
        .key_metadata()
        .unwrap()
        .key_state()
        .unwrap()
        .clone()
}

pub(crate) async fn all_materials(
    client: &Client,
    key_id: &str,
) -> Vec<aws_sdk_kms::types::RotationsListEntry> {
    ok(client
        .list_key_rotations()
        .key_id(key_id)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await)
    .rotations()
    .to_vec()
}

pub(crate) fn open_blob(material: &[u8], blob: &Blob) -> Vec<u8> {
    unb64(&python(
        PY_OPEN_BLOB,
        &json!({"key": b64(material), "blob": b64(blob.as_ref())}),
    ))
}

/// Every wrapping algorithm with RSA_2048 and RSA_4096 wrapping keys (RSA_3072 too for
/// one of them): the symmetric key then encrypts under exactly the imported material (an
/// independent AES-GCM opens its blob), and HMAC keys MAC exactly as Python's `hmac` with
/// the imported key.
#[tokio::test]
async fn material_wrapped_by_python_is_the_key_for_every_wrapping_algorithm() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let algorithms = [
        AlgorithmSpec::RsaesOaepSha1,
        AlgorithmSpec::RsaesOaepSha256,
        AlgorithmSpec::RsaAesKeyWrapSha1,
        AlgorithmSpec::RsaAesKeyWrapSha256,
    ];
    let mut combos: Vec<(AlgorithmSpec, WrappingKeySpec)> = Vec::new();
    for spec in [WrappingKeySpec::Rsa2048, WrappingKeySpec::Rsa4096] {
        for alg in &algorithms {
            combos.push((alg.clone(), spec.clone()));
        }
    }
    combos.push((AlgorithmSpec::RsaesOaepSha256, WrappingKeySpec::Rsa3072));
    for (alg, spec) in combos {
        let (key_id, arn) = external_key(&client, KeySpec::SymmetricDefault, None).await;
        let params = ok(client
            .get_parameters_for_import()
            .key_id(&key_id)
            .wrapping_algorithm(alg.clone())
            .wrapping_key_spec(spec.clone())
            .send()
            .await);
        assert_eq!(params.key_id(), Some(arn.as_str()));
        let public = params.public_key().unwrap().as_ref().to_vec();
        let bits = match spec {
            WrappingKeySpec::Rsa2048 => 2048,
            WrappingKeySpec::Rsa3072 => 3072,
            _ => 4096,
        };
        // An RSA SubjectPublicKeyInfo of the requested size (Python parses it below).
        assert!(public.len() > bits / 8, "{alg:?}/{spec:?}");
        let material = random(32);
        let out = ok(client
            .import_key_material()
            .key_id(&key_id)
            .import_token(params.import_token().unwrap().clone())
            .encrypted_key_material(wrap(&public, &alg, &material))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
            .await);
        assert_eq!(out.key_id(), Some(arn.as_str()));
        let material_id = out.key_material_id().unwrap().to_owned();
        assert_eq!(material_id.len(), 64);
        assert!(material_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let md = ok(client.describe_key().key_id(&key_id).send().await);
        let md = md.key_metadata().unwrap();
        assert_eq!(md.key_state(), Some(&KeyState::Enabled));
        assert!(md.enabled());
        assert_eq!(md.current_key_material_id(), Some(material_id.as_str()));
        assert_eq!(
            md.expiration_model(),
            Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
        );
        assert!(md.valid_to().is_none());
        let blob = encrypt(&client, &key_id, b"imported material at work").await;
        assert_eq!(
            open_blob(&material, &blob),
            b"imported material at work",
            "{alg:?}/{spec:?}"
        );
    }

    // HMAC keys: material of the lengths AWS allows for the spec.
    for (spec, alg_mac, hash, len, alg, wspec) in [
        (
            KeySpec::Hmac256,
            MacAlgorithmSpec::HmacSha256,
            "sha256",
            32,
            AlgorithmSpec::RsaesOaepSha256,
            WrappingKeySpec::Rsa3072,
        ),
        (
            KeySpec::Hmac384,
            MacAlgorithmSpec::HmacSha384,
            "sha384",
            100,
            AlgorithmSpec::RsaAesKeyWrapSha1,
            WrappingKeySpec::Rsa4096,
        ),
        (
            KeySpec::Hmac512,
            MacAlgorithmSpec::HmacSha512,
            "sha512",
            128,
            AlgorithmSpec::RsaAesKeyWrapSha256,
            WrappingKeySpec::Rsa2048,
        ),
    ] {
        let (key_id, _) =
            external_key(&client, spec.clone(), Some(KeyUsageType::GenerateVerifyMac)).await;
        let (public, token) = parameters(&client, &key_id, alg.clone(), wspec).await;
        let material = random(len);
        ok(client
            .import_key_material()
            .key_id(&key_id)
            .import_token(token)
            .encrypted_key_material(wrap(&public, &alg, &material))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
            .await);
        let message = b"a message to MAC".to_vec();
        let mac = ok(client
            .generate_mac()
            .key_id(&key_id)
            .mac_algorithm(alg_mac)
            .message(Blob::new(message.clone()))
            .send()
            .await);
        let expected = unb64(&python(
            PY_HMAC,
            &json!({"key": b64(&material), "message": b64(&message), "hash": hash}),
        ));
        assert_eq!(mac.mac().unwrap().as_ref(), &expected[..], "{spec:?}");
    }
}

/// Asymmetric material is a DER PKCS#8 private key: an ECC_NIST_P256 key (RSAES_OAEP) and
/// an RSA_2048 key (which needs an RSA_AES wrapping algorithm); GetPublicKey returns the
/// imported key's public key and a signature verifies in Python.
#[tokio::test]
async fn imported_key_pairs_sign_as_the_imported_private_key() {
    let server = TestServer::start();
    let client = server.client(REGION);
    for (kind, spec, alg, signing) in [
        (
            "ec256",
            KeySpec::EccNistP256,
            AlgorithmSpec::RsaesOaepSha256,
            SigningAlgorithmSpec::EcdsaSha256,
        ),
        (
            "rsa2048",
            KeySpec::Rsa2048,
            AlgorithmSpec::RsaAesKeyWrapSha1,
            SigningAlgorithmSpec::RsassaPssSha256,
        ),
    ] {
        let pair = python(PY_KEYPAIR, &json!({ "kind": kind }));
        let (pkcs8, spki) = (unb64(&pair["pkcs8"]), unb64(&pair["spki"]));
        let (key_id, _) = external_key(&client, spec.clone(), Some(KeyUsageType::SignVerify)).await;
        if kind == "rsa2048" {
            // "To import an RSA private key, you must use an RSA_AES wrapping algorithm."
            expect_code(
                client
                    .get_parameters_for_import()
                    .key_id(&key_id)
                    .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
                    .wrapping_key_spec(WrappingKeySpec::Rsa4096)
                    .send()
                    .await,
                "ValidationException",
            );
        }
        // No public key while nothing is imported.
        expect_code(
            client.get_public_key().key_id(&key_id).send().await,
            "KMSInvalidStateException",
        );
        let (public, token) =
            parameters(&client, &key_id, alg.clone(), WrappingKeySpec::Rsa2048).await;
        ok(client
            .import_key_material()
            .key_id(&key_id)
            .import_token(token)
            .encrypted_key_material(wrap(&public, &alg, &pkcs8))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
            .await);
        let got = ok(client.get_public_key().key_id(&key_id).send().await);
        assert_eq!(got.public_key().unwrap().as_ref(), &spki[..], "{spec:?}");
        let message = b"signed by the imported key".to_vec();
        let sig = ok(client
            .sign()
            .key_id(&key_id)
            .message(Blob::new(message.clone()))
            .signing_algorithm(signing.clone())
            .send()
            .await);
        let verdict = python(
            PY_VERIFY,
            &json!([{"spki": b64(&spki), "alg": signing.as_str(), "message": b64(&message),
                     "signature": b64(sig.signature().unwrap().as_ref()), "prehashed": false}]),
        );
        assert_eq!(verdict, json!(["ok"]), "{spec:?}");

        // Only the same key pair can be imported again (a new one is refused).
        let other = python(PY_KEYPAIR, &json!({ "kind": kind }));
        let (public, token) =
            parameters(&client, &key_id, alg.clone(), WrappingKeySpec::Rsa2048).await;
        expect_err(
            client
                .import_key_material()
                .key_id(&key_id)
                .import_token(token)
                .encrypted_key_material(wrap(&public, &alg, &unb64(&other["pkcs8"])))
                .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
                .send()
                .await,
            "IncorrectKeyMaterialException",
            None,
        );
        let got = ok(client.get_public_key().key_id(&key_id).send().await);
        assert_eq!(got.public_key().unwrap().as_ref(), &spki[..]);
    }
}

/// Every file of the data directory (database, WAL, audit log, everything else), after
/// importing known symmetric, HMAC and PKCS#8 material, contains none of it: not raw, not
/// as hex in either case, not as base64 (standard or URL-safe, padded or not).
#[tokio::test]
async fn no_imported_material_reaches_the_disk_in_plaintext() {
    let mut server = TestServer::start();
    let client = server.client(REGION);
    let symmetric = random(32);
    let hmac = random(48);
    let pair = python(PY_KEYPAIR, &json!({ "kind": "ec256" }));
    let pkcs8 = unb64(&pair["pkcs8"]);
    let (sym_id, _) = external_key(&client, KeySpec::SymmetricDefault, None).await;
    import(&client, &sym_id, &symmetric).await;
    let (hmac_id, _) = external_key(
        &client,
        KeySpec::Hmac256,
        Some(KeyUsageType::GenerateVerifyMac),
    )
    .await;
    import(&client, &hmac_id, &hmac).await;
    let (ec_id, _) = external_key(
        &client,
        KeySpec::EccNistP256,
        Some(KeyUsageType::SignVerify),
    )
    .await;
    import(&client, &ec_id, &pkcs8).await;
    // The keys work (so the material is somewhere, sealed).
    encrypt(&client, &sym_id, b"x").await;

    let check = |dir: &Path| {
        let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
        for (name, m) in [
            ("symmetric", &symmetric),
            ("hmac", &hmac),
            ("pkcs8", &pkcs8),
        ] {
            let hex: String = m.iter().map(|b| format!("{b:02x}")).collect();
            needles.push((format!("{name} raw"), m.clone()));
            needles.push((format!("{name} hex"), hex.clone().into_bytes()));
            needles.push((format!("{name} HEX"), hex.to_uppercase().into_bytes()));
            for (e, engine) in [
                ("base64", &base64::engine::general_purpose::STANDARD),
                (
                    "base64 unpadded",
                    &base64::engine::general_purpose::STANDARD_NO_PAD,
                ),
                ("base64url", &base64::engine::general_purpose::URL_SAFE),
                (
                    "base64url unpadded",
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                ),
            ] {
                needles.push((format!("{name} {e}"), engine.encode(m).into_bytes()));
            }
        }
        let mut files = 0;
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                files += 1;
                for (what, needle) in &needles {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == &needle[..]),
                        "{} contains the {what} material",
                        path.display()
                    );
                }
            }
        }
        assert!(files >= 3, "only {files} files in the data directory");
    };
    check(server.data_dir());
    // And after a graceful stop (the WAL checkpointed into the database file).
    server.restart_gracefully();
    check(server.data_dir());
}

/// Every refusal of the import operations, each leaving the key exactly as it was.
#[tokio::test]
async fn import_errors_change_nothing() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = external_key(&client, KeySpec::SymmetricDefault, None).await;
    let (other_id, _) = external_key(&client, KeySpec::SymmetricDefault, None).await;
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let material = random(32);

    // A key whose material KMS made.
    let (kms_id, kms_arn) = crate::harness::create_key(&client).await;
    let not_valid = format!("{kms_arn} origin is AWS_KMS which is not valid for this operation.");
    expect_err(
        client
            .get_parameters_for_import()
            .key_id(&kms_id)
            .wrapping_algorithm(alg.clone())
            .wrapping_key_spec(WrappingKeySpec::Rsa2048)
            .send()
            .await,
        "UnsupportedOperationException",
        Some(&not_valid),
    );
    expect_err(
        client
            .delete_imported_key_material()
            .key_id(&kms_id)
            .send()
            .await,
        "UnsupportedOperationException",
        Some(&not_valid),
    );
    // Automatic rotation stays unsupported for imported key material.
    expect_code(
        client.enable_key_rotation().key_id(&key_id).send().await,
        "UnsupportedOperationException",
    );
    // Wrapping algorithms and specs AWS no longer or not here supports.
    for (a, s) in [
        (AlgorithmSpec::RsaesPkcs1V15, WrappingKeySpec::Rsa2048),
        (AlgorithmSpec::Sm2Pke, WrappingKeySpec::Sm2),
        (AlgorithmSpec::RsaesOaepSha256, WrappingKeySpec::Sm2),
    ] {
        expect_err(
            client
                .get_parameters_for_import()
                .key_id(&key_id)
                .wrapping_algorithm(a)
                .wrapping_key_spec(s)
                .send()
                .await,
            "UnsupportedOperationException",
            None,
        );
    }

    let (public, token) = parameters(&client, &key_id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    let wrapped = wrap(&public, &alg, &material);
    let valid_to = DateTime::from_secs(crate::harness::now_secs() + 30 * 86_400);
    let attempt = |key: String,
                   token: Blob,
                   wrapped: Blob,
                   model: Option<ExpirationModelType>,
                   valid_to: Option<DateTime>| {
        client
            .import_key_material()
            .key_id(key)
            .import_token(token)
            .encrypted_key_material(wrapped)
            .set_expiration_model(model)
            .set_valid_to(valid_to)
            .send()
    };

    // ImportKeyMaterial on the KMS-made key, with a genuine token of another key.
    expect_err(
        attempt(
            kms_id.clone(),
            token.clone(),
            wrapped.clone(),
            None,
            Some(valid_to),
        )
        .await,
        "UnsupportedOperationException",
        Some(&not_valid),
    );
    // KEY_MATERIAL_EXPIRES (the default) without ValidTo: AWS's wording, as LocalStack
    // records it.
    for model in [None, Some(ExpirationModelType::KeyMaterialExpires)] {
        expect_err(
            attempt(key_id.clone(), token.clone(), wrapped.clone(), model, None).await,
            "ValidationException",
            Some("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"),
        );
    }
    // ExpirationModel / ValidTo.
    for (model, to) in [
        (None, None),
        (Some(ExpirationModelType::KeyMaterialExpires), None),
        (
            Some(ExpirationModelType::KeyMaterialDoesNotExpire),
            Some(valid_to),
        ),
        (
            None,
            Some(DateTime::from_secs(crate::harness::now_secs() - 60)),
        ),
        (
            None,
            Some(DateTime::from_secs(
                crate::harness::now_secs() + 366 * 86_400,
            )),
        ),
    ] {
        expect_err(
            attempt(
                key_id.clone(),
                token.clone(),
                wrapped.clone(),
                model.clone(),
                to,
            )
            .await,
            "ValidationException",
            None,
        );
    }
    // Another key's token; a tampered token; a token that is not one.
    let (_, other_token) =
        parameters(&client, &other_id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    let mut tampered = token.as_ref().to_vec();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    for bad in [other_token, Blob::new(tampered), Blob::new(vec![7u8; 64])] {
        expect_err(
            attempt(key_id.clone(), bad, wrapped.clone(), None, Some(valid_to)).await,
            "InvalidImportTokenException",
            Some("The request was rejected because the provided import token is invalid or is associated with a different KMS key."),
        );
    }
    // Material that does not unwrap.
    let mut bad = wrapped.as_ref().to_vec();
    bad[3] ^= 0x40;
    expect_code(
        attempt(
            key_id.clone(),
            token.clone(),
            Blob::new(bad),
            None,
            Some(valid_to),
        )
        .await,
        "InvalidCiphertextException",
    );
    // Material of the wrong size for the key spec.
    expect_err(
        attempt(
            key_id.clone(),
            token.clone(),
            wrap(&public, &alg, &random(16)),
            None,
            Some(valid_to),
        )
        .await,
        "IncorrectKeyMaterialException",
        None,
    );
    // A PendingImport key refuses cryptographic operations and key-state changes.
    let pending = format!("{arn} is pending import.");
    let err = expect_err(
        client
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&pending),
    );
    drop(err);
    expect_err(
        client.enable_key().key_id(&key_id).send().await,
        "KMSInvalidStateException",
        Some(&pending),
    );
    expect_err(
        client
            .delete_imported_key_material()
            .key_id(&key_id)
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&pending),
    );
    // Nothing changed.
    let md = ok(client.describe_key().key_id(&key_id).send().await);
    let md = md.key_metadata().unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::PendingImport));
    assert!(md.current_key_material_id().is_none());
    assert!(all_materials(&client, &key_id).await.is_empty());

    // The genuine import works with that very token...
    let first = ok(attempt(
        key_id.clone(),
        token.clone(),
        wrapped.clone(),
        None,
        Some(valid_to),
    )
    .await)
    .key_material_id()
    .unwrap()
    .to_owned();
    assert_eq!(state(&client, &key_id).await, KeyState::Enabled);
    // ...then other material, a wrong KeyMaterialId, or "new" material that is not new are
    // refused.
    expect_err(
        attempt(
            key_id.clone(),
            token.clone(),
            wrap(&public, &alg, &random(32)),
            None,
            Some(valid_to),
        )
        .await,
        "IncorrectKeyMaterialException",
        None,
    );
    expect_err(
        client
            .import_key_material()
            .key_id(&key_id)
            .import_token(token.clone())
            .encrypted_key_material(wrapped.clone())
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .key_material_id("0".repeat(64))
            .send()
            .await,
        "IncorrectKeyMaterialException",
        None,
    );
    expect_err(
        client
            .import_key_material()
            .key_id(&key_id)
            .import_token(token.clone())
            .encrypted_key_material(wrapped.clone())
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .import_type(ImportType::NewKeyMaterial)
            .send()
            .await,
        "IncorrectKeyMaterialException",
        None,
    );
    let entries = all_materials(&client, &key_id).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].key_material_id(), Some(first.as_str()));
    assert_eq!(
        entries[0].expiration_model(),
        Some(&ExpirationModelType::KeyMaterialExpires)
    );
    assert_eq!(
        entries[0].valid_to().map(|t| t.secs()),
        Some(valid_to.secs())
    );
    let md = ok(client.describe_key().key_id(&key_id).send().await);
    let md = md.key_metadata().unwrap();
    assert_eq!(md.valid_to().map(|t| t.secs()), Some(valid_to.secs()));
    assert_eq!(md.current_key_material_id(), Some(first.as_str()));

    // A key pending deletion takes no import (even with a token it got before).
    let (public, token) =
        parameters(&client, &other_id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    ok(client
        .schedule_key_deletion()
        .key_id(&other_id)
        .pending_window_in_days(7)
        .send()
        .await);
    let other_arn = crate::harness::key_arn(REGION, crate::harness::DEFAULT_ACCOUNT, &other_id);
    let pending_deletion = format!("{other_arn} is pending deletion.");
    expect_err(
        client
            .get_parameters_for_import()
            .key_id(&other_id)
            .wrapping_algorithm(alg.clone())
            .wrapping_key_spec(WrappingKeySpec::Rsa2048)
            .send()
            .await,
        "KMSInvalidStateException",
        Some(&pending_deletion),
    );
    expect_err(
        attempt(
            other_id.clone(),
            token,
            wrap(&public, &alg, &material),
            None,
            Some(valid_to),
        )
        .await,
        "KMSInvalidStateException",
        Some(&pending_deletion),
    );
    assert_eq!(state(&client, &other_id).await, KeyState::PendingDeletion);
    assert!(all_materials(&client, &other_id).await.is_empty());
}

/// Requests the SDK would not send as they are: a KeyMaterialId with NEW_KEY_MATERIAL
/// (the model allows both, AWS does not), and an empty import token (below the model's
/// minimum length).
#[tokio::test]
async fn raw_requests_the_sdk_would_shape_differently() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = external_key(&client, KeySpec::SymmetricDefault, None).await;
    let alg = AlgorithmSpec::RsaesOaepSha1;
    let (public, token) = parameters(&client, &key_id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    let wrapped = wrap(&public, &alg, &random(32));
    let resp = server
        .call(
            "ImportKeyMaterial",
            json!({
                "KeyId": key_id,
                "ImportToken": b64(token.as_ref()),
                "EncryptedKeyMaterial": b64(wrapped.as_ref()),
                "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
                "ImportType": "NEW_KEY_MATERIAL",
                "KeyMaterialId": "a".repeat(64),
            }),
        )
        .await;
    resp.assert_error(400, "ValidationException");
    assert_eq!(
        resp.message().as_deref(),
        Some("You cannot specify a key material ID with ImportType set to NEW_KEY_MATERIAL.")
    );
    let resp = server
        .call(
            "ImportKeyMaterial",
            json!({
                "KeyId": key_id,
                "ImportToken": "",
                "EncryptedKeyMaterial": b64(wrapped.as_ref()),
                "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
            }),
        )
        .await;
    resp.assert_error(400, "ValidationException");
    // The genuine request still works: nothing was consumed or changed.
    let resp = server
        .call(
            "ImportKeyMaterial",
            json!({
                "KeyId": key_id,
                "ImportToken": b64(token.as_ref()),
                "EncryptedKeyMaterial": b64(wrapped.as_ref()),
                "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
            }),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert_eq!(
        resp.json()["KeyMaterialId"].as_str().map(str::len),
        Some(64)
    );
}

fn expiry_events(server: &TestServer, key_arn: &str) -> Vec<Value> {
    crate::audit::records(&server.data_dir().join("audit"))
        .into_iter()
        .filter(|r| {
            r["eventName"] == "DeleteExpiredKeyMaterial"
                && r["eventType"] == "AwsServiceEvent"
                && r["resources"][0]["ARN"] == key_arn
        })
        .collect()
}

/// The import token lives 24 hours by the service's clock (not a millisecond more); the
/// material lives until its ValidTo: the key is PendingImport exactly then (not a second
/// early), its ciphertexts fail until the same material is imported again.
#[tokio::test]
async fn tokens_and_material_expire_on_the_service_clock() {
    let server = server();
    let t0 = freeze_at(&server, now_ms()).await;
    let client = server.client(REGION);
    let (key_id, arn) = external_key(&client, KeySpec::SymmetricDefault, None).await;
    let alg = AlgorithmSpec::RsaAesKeyWrapSha256;
    let material = random(32);

    let params = ok(client
        .get_parameters_for_import()
        .key_id(&key_id)
        .wrapping_algorithm(alg.clone())
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await);
    assert_eq!(
        params.parameters_valid_to().map(|t| t.to_millis().unwrap()),
        Some(t0 + DAY_MS)
    );
    let public = params.public_key().unwrap().as_ref().to_vec();
    let token = params.import_token().unwrap().clone();
    let wrapped = wrap(&public, &alg, &material);
    advance_millis(&server, DAY_MS).await;
    let expired = |valid_to| {
        client
            .import_key_material()
            .key_id(&key_id)
            .import_token(token.clone())
            .encrypted_key_material(wrapped.clone())
            .valid_to(valid_to)
            .send()
    };
    expect_err(
        expired(DateTime::from_millis(t0 + 3 * DAY_MS)).await,
        "ExpiredImportTokenException",
        Some("The request was rejected because the specified import token is expired. Use GetParametersForImport to get a new import token and public key, use the new public key to encrypt the key material, and then try the request again."),
    );
    assert_eq!(state(&client, &key_id).await, KeyState::PendingImport);

    // A fresh token, used a moment before its end; material valid for two days.
    let t1 = t0 + DAY_MS;
    let (public, token) = parameters(&client, &key_id, alg.clone(), WrappingKeySpec::Rsa2048).await;
    advance_millis(&server, DAY_MS - 1).await;
    let valid_to = t1 + 2 * DAY_MS;
    ok(client
        .import_key_material()
        .key_id(&key_id)
        .import_token(token)
        .encrypted_key_material(wrap(&public, &alg, &material))
        .valid_to(DateTime::from_millis(valid_to))
        .send()
        .await);
    let md = ok(client.describe_key().key_id(&key_id).send().await);
    let md = md.key_metadata().unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        md.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialExpires)
    );
    assert_eq!(
        md.valid_to().map(|t| t.to_millis().unwrap()),
        Some(valid_to)
    );
    let blob = encrypt(&client, &key_id, b"until ValidTo").await;

    // One second before ValidTo: still there.
    let now = advance_millis(&server, valid_to - 1000 - (t1 + DAY_MS - 1)).await;
    assert_eq!(now, valid_to - 1000);
    assert_eq!(state(&client, &key_id).await, KeyState::Enabled);
    ok(client.decrypt().ciphertext_blob(blob.clone()).send().await);
    assert!(expiry_events(&server, &arn).is_empty());

    // At ValidTo: gone.
    advance_millis(&server, 1000).await;
    assert_eq!(state(&client, &key_id).await, KeyState::PendingImport);
    expect_err(
        client.decrypt().ciphertext_blob(blob.clone()).send().await,
        "KMSInvalidStateException",
        Some(&format!("{arn} is pending import.")),
    );
    let entries = all_materials(&client, &key_id).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].import_state(), Some(&ImportState::PendingImport));
    let events = expiry_events(&server, &arn);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["serviceEventDetails"]["keyMaterialId"],
        entries[0].key_material_id().unwrap()
    );

    // The same material again, now without expiry: the old ciphertext decrypts.
    import(&client, &key_id, &material).await;
    let md = ok(client.describe_key().key_id(&key_id).send().await);
    let md = md.key_metadata().unwrap();
    assert_eq!(md.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        md.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
    );
    assert!(md.valid_to().is_none());
    let out = ok(client.decrypt().ciphertext_blob(blob).send().await);
    assert_eq!(out.plaintext().unwrap().as_ref(), b"until ValidTo");
    advance_millis(&server, 400 * DAY_MS).await;
    assert_eq!(state(&client, &key_id).await, KeyState::Enabled);
}

/// A restart (kill -9) inside the token's validity window keeps the token good (it is
/// stateless, sealed under the root key); a restart inside the material's validity keeps
/// the key enabled, and the material still expires at its ValidTo after it.
#[tokio::test]
async fn tokens_and_material_survive_restarts() {
    let mut server = server();
    let t0 = freeze_at(&server, now_ms()).await;
    let client = server.client(REGION);
    let (key_id, _) = external_key(&client, KeySpec::SymmetricDefault, None).await;
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let (public, token) = parameters(&client, &key_id, alg.clone(), WrappingKeySpec::Rsa4096).await;
    advance_millis(&server, DAY_MS / 2).await;
    server.restart();
    let client = server.client(REGION);
    let material = random(32);
    let valid_to = t0 + 10 * DAY_MS;
    ok(client
        .import_key_material()
        .key_id(&key_id)
        .import_token(token)
        .encrypted_key_material(wrap(&public, &alg, &material))
        .valid_to(DateTime::from_millis(valid_to))
        .send()
        .await);
    let blob = encrypt(&client, &key_id, b"across restarts").await;
    assert_eq!(open_blob(&material, &blob), b"across restarts");
    advance_millis(&server, 5 * DAY_MS).await;
    server.restart();
    let client = server.client(REGION);
    assert_eq!(state(&client, &key_id).await, KeyState::Enabled);
    let out = ok(client.decrypt().ciphertext_blob(blob.clone()).send().await);
    assert_eq!(out.plaintext().unwrap().as_ref(), b"across restarts");
    let now = advance_millis(&server, valid_to - (t0 + DAY_MS / 2 + 5 * DAY_MS)).await;
    assert_eq!(now, valid_to);
    assert_eq!(state(&client, &key_id).await, KeyState::PendingImport);
    server.restart();
    let client = server.client(REGION);
    assert_eq!(state(&client, &key_id).await, KeyState::PendingImport);
    expect_code(
        client.decrypt().ciphertext_blob(blob).send().await,
        "KMSInvalidStateException",
    );
}

/// Symmetric keys take several materials: NEW_KEY_MATERIAL after the first is
/// PENDING_ROTATION until RotateKeyOnDemand makes it current; every generation decrypts
/// what it encrypted; ListKeyRotations shows each with its states and description;
/// deleting a non-current material makes the key PendingImport until it is back.
#[tokio::test]
async fn several_materials_rotate_on_demand() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, arn) = external_key(&client, KeySpec::SymmetricDefault, None).await;
    let (m1, m2, m3) = (random(32), random(32), random(32));
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let import_with = |material: Vec<u8>,
                       import_type: Option<ImportType>,
                       description: Option<&'static str>,
                       id: Option<String>| {
        let client = client.clone();
        let key_id = key_id.clone();
        let alg = alg.clone();
        async move {
            let (public, token) =
                parameters(&client, &key_id, alg.clone(), WrappingKeySpec::Rsa2048).await;
            client
                .import_key_material()
                .key_id(&key_id)
                .import_token(token)
                .encrypted_key_material(wrap(&public, &alg, &material))
                .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
                .set_import_type(import_type)
                .set_key_material_description(description.map(str::to_owned))
                .set_key_material_id(id)
                .send()
                .await
        }
    };
    // No pending material: nothing to rotate to.
    let id1 = ok(import_with(m1.clone(), None, Some("first"), None).await)
        .key_material_id()
        .unwrap()
        .to_owned();
    expect_err(
        client.rotate_key_on_demand().key_id(&key_id).send().await,
        "KMSInvalidStateException",
        Some(&format!(
            "No available key material pending rotation for the key: {arn}."
        )),
    );
    let b1 = encrypt(&client, &key_id, b"generation one").await;
    let id2 = ok(import_with(
        m2.clone(),
        Some(ImportType::NewKeyMaterial),
        Some("second"),
        None,
    )
    .await)
    .key_material_id()
    .unwrap()
    .to_owned();
    assert_ne!(id1, id2);
    // Only one material waits for rotation at a time: AWS's KMSInvalidStateException,
    // naming the new material and the one pending (its id checked below, once imported).
    let err = expect_code(
        import_with(m3.clone(), Some(ImportType::NewKeyMaterial), None, None).await,
        "KMSInvalidStateException",
    );
    let refused_id = err
        .message()
        .and_then(|m| m.strip_prefix("New key material (id: "))
        .and_then(|m| {
            m.strip_suffix(&format!(
                ") cannot be imported into KMS key {arn}, because another key material \
                 (id: {id2}) is pending rotation."
            ))
        })
        .unwrap_or_else(|| panic!("unexpected message {:?}", err.message()))
        .to_owned();
    assert!(refused_id != id1 && refused_id != id2);
    assert_eq!(refused_id.len(), id1.len());
    assert!(refused_id.bytes().all(|b| b.is_ascii_hexdigit()));
    let entries = all_materials(&client, &key_id).await;
    let summary: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.key_material_id().unwrap().to_owned(),
                e.key_material_state().unwrap().clone(),
                e.import_state().unwrap().clone(),
                e.key_material_description().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                id1.clone(),
                KeyMaterialState::Current,
                ImportState::Imported,
                Some("first".to_owned())
            ),
            (
                id2.clone(),
                KeyMaterialState::PendingRotation,
                ImportState::Imported,
                Some("second".to_owned())
            ),
        ]
    );
    // Still the first material until the rotation.
    assert_eq!(open_blob(&m1, &encrypt(&client, &key_id, b"x").await), b"x");

    ok(client.rotate_key_on_demand().key_id(&key_id).send().await);
    let md = ok(client.describe_key().key_id(&key_id).send().await);
    assert_eq!(
        md.key_metadata().unwrap().current_key_material_id(),
        Some(id2.as_str())
    );
    let b2 = encrypt(&client, &key_id, b"generation two").await;
    assert_eq!(open_blob(&m2, &b2), b"generation two");
    for (blob, text, id) in [(&b1, "generation one", &id1), (&b2, "generation two", &id2)] {
        let out = ok(client.decrypt().ciphertext_blob(blob.clone()).send().await);
        assert_eq!(out.plaintext().unwrap().as_ref(), text.as_bytes());
        assert_eq!(out.key_material_id(), Some(id.as_str()));
    }
    let rotations = ok(client.list_key_rotations().key_id(&key_id).send().await);
    let rotations = rotations.rotations();
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0].key_material_id(), Some(id2.as_str()));
    assert_eq!(rotations[0].rotation_type(), Some(&RotationType::OnDemand));
    assert!(rotations[0].rotation_date().is_some());
    let states: Vec<_> = all_materials(&client, &key_id)
        .await
        .iter()
        .map(|e| e.key_material_state().unwrap().clone())
        .collect();
    assert_eq!(
        states,
        vec![KeyMaterialState::NonCurrent, KeyMaterialState::Current]
    );
    let rotate_events: Vec<_> = crate::audit::records(&server.data_dir().join("audit"))
        .into_iter()
        .filter(|r| r["eventName"] == "RotateKey" && r["eventType"] == "AwsServiceEvent")
        .collect();
    assert_eq!(rotate_events.len(), 1);
    assert_eq!(
        rotate_events[0]["serviceEventDetails"]["currentKeyMaterialId"],
        id2.as_str()
    );

    // Delete the non-current material: the key waits for it.
    let out = ok(client
        .delete_imported_key_material()
        .key_id(&key_id)
        .key_material_id(&id1)
        .send()
        .await);
    assert_eq!(out.key_id(), Some(arn.as_str()));
    assert_eq!(out.key_material_id(), Some(id1.as_str()));
    assert_eq!(state(&client, &key_id).await, KeyState::PendingImport);
    let entries = all_materials(&client, &key_id).await;
    assert_eq!(entries[0].import_state(), Some(&ImportState::PendingImport));
    assert_eq!(entries[1].import_state(), Some(&ImportState::Imported));
    expect_code(
        client.decrypt().ciphertext_blob(b1.clone()).send().await,
        "KMSInvalidStateException",
    );
    // Back with its id named; its description stays.
    ok(import_with(
        m1.clone(),
        Some(ImportType::ExistingKeyMaterial),
        None,
        Some(id1.clone()),
    )
    .await);
    assert_eq!(state(&client, &key_id).await, KeyState::Enabled);
    assert_eq!(
        all_materials(&client, &key_id).await[0].key_material_description(),
        Some("first")
    );
    for (blob, text) in [(&b1, "generation one"), (&b2, "generation two")] {
        let out = ok(client.decrypt().ciphertext_blob(blob.clone()).send().await);
        assert_eq!(out.plaintext().unwrap().as_ref(), text.as_bytes());
    }
    // Without a KeyMaterialId, the current material is deleted.
    let out = ok(client
        .delete_imported_key_material()
        .key_id(&key_id)
        .send()
        .await);
    assert_eq!(out.key_material_id(), Some(id2.as_str()));
    assert_eq!(state(&client, &key_id).await, KeyState::PendingImport);
    expect_code(
        client.rotate_key_on_demand().key_id(&key_id).send().await,
        "KMSInvalidStateException",
    );
}

/// Deleting the material of a key pending deletion leaves it pending deletion; cancelling
/// the deletion then returns it to PendingImport (its material is missing), and importing
/// the same material again enables it.
#[tokio::test]
async fn deletion_and_import_states_compose() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let (key_id, _) = external_key(&client, KeySpec::SymmetricDefault, None).await;
    let material = random(32);
    import(&client, &key_id, &material).await;
    ok(client.disable_key().key_id(&key_id).send().await);
    // Re-import into a disabled key keeps it disabled.
    import(&client, &key_id, &material).await;
    assert_eq!(state(&client, &key_id).await, KeyState::Disabled);
    ok(client
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await);
    ok(client
        .delete_imported_key_material()
        .key_id(&key_id)
        .send()
        .await);
    assert_eq!(state(&client, &key_id).await, KeyState::PendingDeletion);
    ok(client.cancel_key_deletion().key_id(&key_id).send().await);
    assert_eq!(state(&client, &key_id).await, KeyState::PendingImport);
    import(&client, &key_id, &material).await;
    assert_eq!(state(&client, &key_id).await, KeyState::Enabled);
}

/// The import operations are authorized with their condition keys: kms:WrappingAlgorithm
/// and kms:WrappingKeySpec (GetParametersForImport), kms:ExpirationModel and kms:ValidTo
/// (ImportKeyMaterial, ValidTo in epoch seconds), and kms:DeleteImportedKeyMaterial.
#[tokio::test]
async fn import_operations_are_authorized_with_their_condition_keys() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let limit = crate::harness::now_secs() + 10 * 86_400;
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "owner", "Effect": "Allow",
             "Principal": {"AWS": format!("arn:aws:iam::{}:root", crate::harness::DEFAULT_ACCOUNT)},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "long wrapping keys only", "Effect": "Deny", "Principal": "*",
             "Action": "kms:GetParametersForImport", "Resource": "*",
             "Condition": {"StringEquals": {"kms:WrappingKeySpec": "RSA_2048"}}},
            {"Sid": "no SHA-1", "Effect": "Deny", "Principal": "*",
             "Action": "kms:GetParametersForImport", "Resource": "*",
             "Condition": {"StringLike": {"kms:WrappingAlgorithm": "*SHA_1"}}},
            {"Sid": "material must expire", "Effect": "Deny", "Principal": "*",
             "Action": "kms:ImportKeyMaterial", "Resource": "*",
             "Condition": {"StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}}},
            {"Sid": "within ten days", "Effect": "Deny", "Principal": "*",
             "Action": "kms:ImportKeyMaterial", "Resource": "*",
             "Condition": {"NumericGreaterThan": {"kms:ValidTo": limit.to_string()}}},
            {"Sid": "keep it", "Effect": "Deny", "Principal": "*",
             "Action": "kms:DeleteImportedKeyMaterial", "Resource": "*"},
        ]
    });
    let out = ok(client
        .create_key()
        .origin(OriginType::External)
        .policy(policy.to_string())
        .send()
        .await);
    let key_id = out.key_metadata().unwrap().key_id().to_owned();
    for (alg, spec) in [
        (AlgorithmSpec::RsaesOaepSha256, WrappingKeySpec::Rsa2048),
        (AlgorithmSpec::RsaesOaepSha1, WrappingKeySpec::Rsa3072),
        (AlgorithmSpec::RsaAesKeyWrapSha1, WrappingKeySpec::Rsa4096),
    ] {
        expect_code(
            client
                .get_parameters_for_import()
                .key_id(&key_id)
                .wrapping_algorithm(alg)
                .wrapping_key_spec(spec)
                .send()
                .await,
            "AccessDeniedException",
        );
    }
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let (public, token) = parameters(&client, &key_id, alg.clone(), WrappingKeySpec::Rsa3072).await;
    let material = random(32);
    let wrapped = wrap(&public, &alg, &material);
    let import = |model: ExpirationModelType, valid_to: Option<DateTime>| {
        client
            .import_key_material()
            .key_id(&key_id)
            .import_token(token.clone())
            .encrypted_key_material(wrapped.clone())
            .expiration_model(model)
            .set_valid_to(valid_to)
            .send()
    };
    expect_code(
        import(ExpirationModelType::KeyMaterialDoesNotExpire, None).await,
        "AccessDeniedException",
    );
    expect_code(
        import(
            ExpirationModelType::KeyMaterialExpires,
            Some(DateTime::from_secs(limit + 1)),
        )
        .await,
        "AccessDeniedException",
    );
    assert_eq!(state(&client, &key_id).await, KeyState::PendingImport);
    ok(import(
        ExpirationModelType::KeyMaterialExpires,
        Some(DateTime::from_secs(limit)),
    )
    .await);
    assert_eq!(state(&client, &key_id).await, KeyState::Enabled);
    expect_code(
        client
            .delete_imported_key_material()
            .key_id(&key_id)
            .send()
            .await,
        "AccessDeniedException",
    );
    assert_eq!(state(&client, &key_id).await, KeyState::Enabled);
}

/// Python ML-DSA private keys (PKCS #8) of a parameter set: {level} → {pkcs8, spki}.
const PY_MLDSA: &str = r#"
import sys, json, base64
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa
level = json.load(sys.stdin)['level']
k = getattr(mldsa, 'MLDSA%sPrivateKey' % level).generate()
print(json.dumps({
  'pkcs8': base64.b64encode(k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())).decode(),
  'spki': base64.b64encode(k.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode(),
}))
"#;

/// Every key spec can be created with Origin EXTERNAL (PendingImport, no material), and
/// every asymmetric spec takes a PKCS #8 private key of its own: key pairs from
/// GenerateDataKeyPair (RSA, NIST and secp256k1 curves, SM2, Ed25519) and ML-DSA keys
/// from Python. The imported key then has that key's public key and signs with it.
#[tokio::test]
async fn every_key_spec_takes_its_imported_material() {
    use aws_sdk_kms::types::DataKeyPairSpec;

    let server = TestServer::start();
    let client = server.client(REGION);
    // The service model's KeySpec and DataKeyPairSpec values (the SDK knows newer ones).
    const KEY_SPECS: &[&str] = &[
        "RSA_2048",
        "RSA_3072",
        "RSA_4096",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "SYMMETRIC_DEFAULT",
        "HMAC_224",
        "HMAC_256",
        "HMAC_384",
        "HMAC_512",
        "SM2",
        "ML_DSA_44",
        "ML_DSA_65",
        "ML_DSA_87",
        "ECC_NIST_EDWARDS25519",
    ];
    for spec in KEY_SPECS {
        let spec = KeySpec::from(*spec);
        let usage = match spec {
            KeySpec::SymmetricDefault => None,
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                Some(KeyUsageType::GenerateVerifyMac)
            }
            _ => Some(KeyUsageType::SignVerify),
        };
        external_key(&client, spec, usage).await;
    }

    let (data_key, _) = crate::harness::create_key(&client).await;
    let mut cases: Vec<(KeySpec, Vec<u8>, Vec<u8>)> = Vec::new();
    for pair_spec in KEY_SPECS.iter().filter(|s| {
        !s.starts_with("HMAC") && !s.starts_with("ML_DSA") && **s != "SYMMETRIC_DEFAULT"
    }) {
        let out = ok(client
            .generate_data_key_pair()
            .key_id(&data_key)
            .key_pair_spec(DataKeyPairSpec::from(*pair_spec))
            .send()
            .await);
        cases.push((
            KeySpec::from(*pair_spec),
            out.private_key_plaintext().unwrap().as_ref().to_vec(),
            out.public_key().unwrap().as_ref().to_vec(),
        ));
    }
    for level in ["44", "65", "87"] {
        let pair = python(PY_MLDSA, &json!({ "level": level }));
        cases.push((
            KeySpec::from(format!("ML_DSA_{level}").as_str()),
            unb64(&pair["pkcs8"]),
            unb64(&pair["spki"]),
        ));
    }
    for (spec, pkcs8, spki) in cases {
        let (key_id, _) = external_key(&client, spec.clone(), Some(KeyUsageType::SignVerify)).await;
        import(&client, &key_id, &pkcs8).await;
        let got = ok(client.get_public_key().key_id(&key_id).send().await);
        assert_eq!(got.public_key().unwrap().as_ref(), &spki[..], "{spec:?}");
        let alg = got
            .signing_algorithms()
            .iter()
            .find(|a| !a.as_str().contains("_PH_"))
            .unwrap()
            .clone();
        let message = Blob::new(b"signed with imported material".to_vec());
        let sig = ok(client
            .sign()
            .key_id(&key_id)
            .message(message.clone())
            .signing_algorithm(alg.clone())
            .send()
            .await);
        let verified = ok(client
            .verify()
            .key_id(&key_id)
            .message(message)
            .signature(sig.signature().unwrap().clone())
            .signing_algorithm(alg)
            .send()
            .await);
        assert!(verified.signature_valid(), "{spec:?}");
    }
}

/// A KeyMaterialId is derived from the key id and the material only: the same material
/// gets the same id on a key (across deletion and a restart), another id on another key,
/// and another material another id on the same kind of key.
#[tokio::test]
async fn key_material_ids_depend_on_the_key_and_the_material() {
    let mut server = TestServer::start();
    let client = server.client(REGION);
    let material = random(32);
    let (a, _) = external_key(&client, KeySpec::SymmetricDefault, None).await;
    let (b, _) = external_key(&client, KeySpec::SymmetricDefault, None).await;
    let (c, _) = external_key(&client, KeySpec::SymmetricDefault, None).await;
    let id_a = import(&client, &a, &material).await;
    let id_b = import(&client, &b, &material).await;
    let id_c = import(&client, &c, &random(32)).await;
    assert_ne!(id_a, id_b);
    assert_ne!(id_a, id_c);
    ok(client
        .delete_imported_key_material()
        .key_id(&a)
        .send()
        .await);
    server.restart();
    let client = server.client(REGION);
    assert_eq!(import(&client, &a, &material).await, id_a);
    let md = ok(client.describe_key().key_id(&a).send().await);
    assert_eq!(
        md.key_metadata().unwrap().current_key_material_id(),
        Some(id_a.as_str())
    );
}
