//! CreateKey for every KeySpec/KeyUsage pair AWS allows, AWS's refusals of the others,
//! the metadata (algorithm lists, the deprecated CustomerMasterKeySpec) of DescribeKey and
//! GetPublicKey, and GetPublicKey's error paths:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html>,
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html>.

use aws_sdk_kms::error::ProvideErrorMetadata;
// CustomerMasterKeySpec is deprecated in favour of KeySpec; AWS still returns it.
#[allow(deprecated)]
use aws_sdk_kms::types::CustomerMasterKeySpec;
use aws_sdk_kms::types::{KeyMetadata, KeySpec, KeyUsageType};
use serde_json::json;

use crate::harness::{expect_code, expect_err, ok, TestServer, REGION};
use crate::interop::{b64, python};

/// AWS's allowed pairs (CreateKey's KeyUsage documentation).
const ALLOWED: &[(&str, &[&str])] = &[
    ("SYMMETRIC_DEFAULT", &["ENCRYPT_DECRYPT"]),
    ("RSA_2048", &["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
    ("RSA_3072", &["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
    ("RSA_4096", &["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
    ("ECC_NIST_P256", &["SIGN_VERIFY", "KEY_AGREEMENT"]),
    ("ECC_NIST_P384", &["SIGN_VERIFY", "KEY_AGREEMENT"]),
    ("ECC_NIST_P521", &["SIGN_VERIFY", "KEY_AGREEMENT"]),
    ("ECC_SECG_P256K1", &["SIGN_VERIFY"]),
    ("ECC_NIST_EDWARDS25519", &["SIGN_VERIFY"]),
    ("ML_DSA_44", &["SIGN_VERIFY"]),
    ("ML_DSA_65", &["SIGN_VERIFY"]),
    ("ML_DSA_87", &["SIGN_VERIFY"]),
    ("SM2", &["ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"]),
    ("HMAC_224", &["GENERATE_VERIFY_MAC"]),
    ("HMAC_256", &["GENERATE_VERIFY_MAC"]),
    ("HMAC_384", &["GENERATE_VERIFY_MAC"]),
    ("HMAC_512", &["GENERATE_VERIFY_MAC"]),
];

const USAGES: &[&str] = &[
    "ENCRYPT_DECRYPT",
    "SIGN_VERIFY",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
];

fn names<T: AsRef<str>>(v: &[T]) -> Vec<&str> {
    v.iter().map(|x| x.as_ref()).collect()
}

/// The algorithm lists AWS reports for a spec and usage, as (encryption, signing, MAC,
/// key agreement).
fn expected_lists(spec: &str, usage: &str) -> [Vec<&'static str>; 4] {
    let mut lists: [Vec<&'static str>; 4] = Default::default();
    match (spec, usage) {
        ("SYMMETRIC_DEFAULT", _) => lists[0] = vec!["SYMMETRIC_DEFAULT"],
        (s, "ENCRYPT_DECRYPT") if s.starts_with("RSA") => {
            lists[0] = vec!["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
        }
        ("SM2", "ENCRYPT_DECRYPT") => lists[0] = vec!["SM2PKE"],
        (s, "SIGN_VERIFY") => {
            lists[1] = crate::signing::SIGNING_SPECS
                .iter()
                .find(|(name, _)| *name == s)
                .map(|(_, algs)| algs.to_vec())
                .unwrap()
        }
        (s, "GENERATE_VERIFY_MAC") => {
            lists[2] = vec![match s {
                "HMAC_224" => "HMAC_SHA_224",
                "HMAC_256" => "HMAC_SHA_256",
                "HMAC_384" => "HMAC_SHA_384",
                _ => "HMAC_SHA_512",
            }]
        }
        (_, "KEY_AGREEMENT") => lists[3] = vec!["ECDH"],
        _ => unreachable!(),
    }
    lists
}

fn assert_lists(md_lists: [Vec<&str>; 4], spec: &str, usage: &str) {
    assert_eq!(md_lists, expected_lists(spec, usage), "{spec}/{usage}");
}

fn metadata_lists(md: &KeyMetadata) -> [Vec<&str>; 4] {
    [
        names(md.encryption_algorithms()),
        names(md.signing_algorithms()),
        names(md.mac_algorithms()),
        names(md.key_agreement_algorithms()),
    ]
}

#[tokio::test]
#[allow(deprecated)]
async fn every_allowed_pair_creates_a_key_with_aws_metadata() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let mut created = 0;
    let mut spkis = Vec::new();
    for (spec, usages) in ALLOWED {
        for usage in *usages {
            let out = ok(client
                .create_key()
                .key_spec(KeySpec::from(*spec))
                .key_usage(KeyUsageType::from(*usage))
                .description(format!("{spec} {usage}"))
                .send()
                .await);
            let md = out.key_metadata().unwrap();
            assert_eq!(md.key_spec().map(|s| s.as_str()), Some(*spec));
            assert_eq!(md.key_usage().map(|u| u.as_str()), Some(*usage));
            // The deprecated CustomerMasterKeySpec mirrors KeySpec for the specs it has.
            let cmk = CustomerMasterKeySpec::values().contains(spec);
            assert_eq!(
                md.customer_master_key_spec().map(|s| s.as_str()),
                cmk.then_some(*spec),
                "{spec}"
            );
            assert_lists(metadata_lists(md), spec, usage);
            // CurrentKeyMaterialId is for symmetric encryption keys only.
            assert_eq!(
                md.current_key_material_id().is_some(),
                *spec == "SYMMETRIC_DEFAULT",
                "{spec}"
            );
            let id = md.key_id().to_owned();
            let described = ok(client.describe_key().key_id(&id).send().await);
            assert_eq!(described.key_metadata(), Some(md), "{spec}/{usage}");

            let public = client.get_public_key().key_id(&id).send().await;
            if *spec == "SYMMETRIC_DEFAULT" || spec.starts_with("HMAC") {
                // AWS answers without a message.
                let err = expect_code(public, "UnsupportedOperationException");
                assert_eq!(err.message(), None);
            } else {
                let public = ok(public);
                assert_eq!(public.key_id(), md.arn());
                assert_eq!(public.key_spec().map(|s| s.as_str()), Some(*spec));
                assert_eq!(public.key_usage().map(|s| s.as_str()), Some(*usage));
                assert_eq!(
                    public.customer_master_key_spec(),
                    md.customer_master_key_spec()
                );
                let lists = [
                    names(public.encryption_algorithms()),
                    names(public.signing_algorithms()),
                    Vec::new(),
                    names(public.key_agreement_algorithms()),
                ];
                assert_lists(lists, spec, usage);
                spkis.push((*spec, public.public_key().unwrap().as_ref().to_vec()));
            }
            created += 1;
        }
    }
    assert_eq!(created, 25);
    let keys = ok(client.list_keys().send().await);
    assert_eq!(keys.keys().len(), 25);

    // Every SubjectPublicKeyInfo parses outside Trent as a key of its spec (SM2 keys
    // carry the SM2 curve, which Python lacks: OpenSSL names it).
    let items: Vec<_> = spkis
        .iter()
        .filter(|(spec, _)| *spec != "SM2")
        .map(|(spec, der)| json!({"spec": spec, "der": b64(der)}))
        .collect();
    let described = python(
        r#"
import sys, json, base64
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519
out = []
for it in json.load(sys.stdin):
    k = serialization.load_der_public_key(base64.b64decode(it['der']))
    if isinstance(k, rsa.RSAPublicKey): out.append('RSA_%d' % k.key_size)
    elif isinstance(k, ec.EllipticCurvePublicKey): out.append(k.curve.name)
    elif isinstance(k, ed25519.Ed25519PublicKey): out.append('ed25519')
    else: out.append(type(k).__name__)
print(json.dumps(out))
"#,
        &serde_json::Value::Array(items.clone()),
    );
    let expected: Vec<&str> = spkis
        .iter()
        .filter(|(spec, _)| *spec != "SM2")
        .map(|(spec, _)| match *spec {
            "ECC_NIST_P256" => "secp256r1",
            "ECC_NIST_P384" => "secp384r1",
            "ECC_NIST_P521" => "secp521r1",
            "ECC_SECG_P256K1" => "secp256k1",
            "ECC_NIST_EDWARDS25519" => "ed25519",
            "ML_DSA_44" => "MLDSA44PublicKey",
            "ML_DSA_65" => "MLDSA65PublicKey",
            "ML_DSA_87" => "MLDSA87PublicKey",
            rsa => rsa,
        })
        .collect();
    assert_eq!(described, json!(expected));
    let dir = tempfile::tempdir().unwrap();
    for (_, der) in spkis.iter().filter(|(spec, _)| *spec == "SM2") {
        std::fs::write(dir.path().join("k.der"), der).unwrap();
        let text = crate::interop::openssl(
            &[
                "pkey", "-pubin", "-inform", "DER", "-in", "k.der", "-text", "-noout",
            ],
            dir.path(),
        );
        assert!(
            String::from_utf8_lossy(&text).contains("SM2"),
            "{}",
            String::from_utf8_lossy(&text)
        );
    }

    // The keys and their material survive a restart (sealed PKCS#8 / raw HMAC bytes).
    let mut server = server;
    server.restart();
    let client = server.client(REGION);
    for key in ok(client.list_keys().send().await).keys() {
        let id = key.key_id().unwrap();
        let md = ok(client.describe_key().key_id(id).send().await);
        let md = md.key_metadata().unwrap();
        if md.key_usage() == Some(&KeyUsageType::SignVerify) {
            let alg = md.signing_algorithms()[0].clone();
            let sig = ok(client
                .sign()
                .key_id(id)
                .signing_algorithm(alg.clone())
                .message(crate::interop::blob(b"after restart"))
                .send()
                .await);
            let v = ok(client
                .verify()
                .key_id(id)
                .signing_algorithm(alg)
                .message(crate::interop::blob(b"after restart"))
                .signature(sig.signature().unwrap().clone())
                .send()
                .await);
            assert!(v.signature_valid());
        }
    }
}

#[tokio::test]
#[allow(deprecated)]
async fn refused_pairs_and_the_key_usage_default() {
    let server = TestServer::start();
    let client = server.client(REGION);
    for (spec, allowed) in ALLOWED {
        for usage in USAGES.iter().filter(|u| !allowed.contains(u)) {
            expect_err(
                client
                    .create_key()
                    .key_spec(KeySpec::from(*spec))
                    .key_usage(KeyUsageType::from(*usage))
                    .send()
                    .await,
                "ValidationException",
                Some(&format!(
                    "KeyUsage {usage} is not compatible with KeySpec {spec}"
                )),
            );
        }
    }
    // KeyUsage defaults to ENCRYPT_DECRYPT: fine for RSA and SM2, refused for the specs
    // that cannot encrypt; HMAC keys must name their usage.
    for spec in [
        "ECC_NIST_P256",
        "ECC_SECG_P256K1",
        "ECC_NIST_EDWARDS25519",
        "ML_DSA_65",
    ] {
        expect_err(
            client
                .create_key()
                .key_spec(KeySpec::from(spec))
                .send()
                .await,
            "ValidationException",
            Some(&format!(
                "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec {spec}"
            )),
        );
    }
    expect_err(
        client.create_key().key_spec(KeySpec::Hmac256).send().await,
        "ValidationException",
        Some("You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."),
    );
    // Nothing was created by a refused request.
    assert!(ok(client.list_keys().send().await).keys().is_empty());

    let rsa = ok(client.create_key().key_spec(KeySpec::Rsa2048).send().await);
    assert_eq!(
        rsa.key_metadata().unwrap().key_usage(),
        Some(&KeyUsageType::EncryptDecrypt)
    );
    // The deprecated CustomerMasterKeySpec works as KeySpec does.
    let ecc = ok(client
        .create_key()
        .customer_master_key_spec(CustomerMasterKeySpec::EccNistP384)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await);
    let md = ecc.key_metadata().unwrap();
    assert_eq!(md.key_spec(), Some(&KeySpec::EccNistP384));
    assert_eq!(
        md.customer_master_key_spec(),
        Some(&CustomerMasterKeySpec::EccNistP384)
    );
    assert_eq!(names(md.signing_algorithms()), vec!["ECDSA_SHA_384"]);
}

#[tokio::test]
async fn get_public_key_key_states() {
    let server = TestServer::start();
    let client = server.client(REGION);
    let out = ok(client
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await);
    let arn = out.key_metadata().unwrap().arn().unwrap().to_owned();
    let before = ok(client.get_public_key().key_id(&arn).send().await);
    // AWS answers a disabled key's public key.
    ok(client.disable_key().key_id(&arn).send().await);
    let disabled = ok(client.get_public_key().key_id(&arn).send().await);
    assert_eq!(disabled.public_key(), before.public_key());
    ok(client
        .schedule_key_deletion()
        .key_id(&arn)
        .pending_window_in_days(7)
        .send()
        .await);
    expect_err(
        client.get_public_key().key_id(&arn).send().await,
        "KMSInvalidStateException",
        Some(&format!("{arn} is pending deletion.")),
    );
}
