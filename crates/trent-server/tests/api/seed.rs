//! `--seed FILE`: keys with fixed ids, their material, aliases, tags, policy and rotation,
//! made at start, idempotent across restarts; an entry that cannot be applied stops the
//! start, named, without its material.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, MacAlgorithmSpec};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::harness::{decrypt, encrypt, ok, TestServer, REGION};

const SYMMETRIC: &str = "0b5b2c5e-7d5a-4b1e-9c1a-5a0d3f1e2b4c";
const HMAC: &str = "1c6c3d6f-8e6b-4c2f-8d2b-6b1e4f2f3c5d";
const ECC: &str = "2d7d4e70-9f7c-4d30-9e3c-7c2f5a3a4d6e";
const DISABLED: &str = "3e8e5f81-a08d-4e41-af4d-8d3a6b4b5e7f";

fn seed_file(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn audit_holds(server: &TestServer, text: &str) -> bool {
    std::fs::read_dir(server.data_dir().join("audit"))
        .unwrap()
        .any(|e| {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            bytes.windows(text.len()).any(|w| w == text.as_bytes())
        })
}

#[tokio::test]
async fn seeded_keys_are_made_once_with_their_material() {
    let dir = tempfile::tempdir().unwrap();
    let symmetric = [7u8; 32];
    let hmac = [9u8; 32];
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
        .unwrap();
    let ecc = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        B64.encode(pkcs8.as_ref())
    );
    let text = format!(
        r#"
[[keys]]
id = "{SYMMETRIC}"
description = "orders"
material = "{}"
rotation_period_days = 180
aliases = ["alias/orders", "alias/orders-2"]
tags = {{ team = "payments" }}

[[keys]]
id = "{HMAC}"
key_spec = "HMAC_256"
material = "{}"

[[keys]]
id = "{ECC}"
key_spec = "ECC_NIST_P256"
key_usage = "SIGN_VERIFY"
material = """{pem}"""

[[keys]]
id = "{DISABLED}"
enabled = false
"#,
        B64.encode(symmetric),
        B64.encode(hmac)
    );
    let path = seed_file(dir.path(), "seed.toml", &text);
    let mut server = TestServer::start_with(&["--seed", &path], &[]);
    let client = server.client(REGION);

    let md = ok(client.describe_key().key_id("alias/orders").send().await);
    let md = md.key_metadata().unwrap();
    assert_eq!(md.key_id(), SYMMETRIC);
    assert_eq!(md.description(), Some("orders"));
    let rotation = ok(client
        .get_key_rotation_status()
        .key_id(SYMMETRIC)
        .send()
        .await);
    assert!(rotation.key_rotation_enabled());
    assert_eq!(rotation.rotation_period_in_days(), Some(180));
    let tags = ok(client.list_resource_tags().key_id(SYMMETRIC).send().await);
    assert_eq!(tags.tags()[0].tag_key(), "team");
    // The HMAC key's material is the seed's: its MAC is HMAC-SHA-256 under those bytes.
    let mac = ok(client
        .generate_mac()
        .key_id(HMAC)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new("message"))
        .send()
        .await);
    let expected = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &hmac),
        b"message",
    );
    assert_eq!(mac.mac().unwrap().as_ref(), expected.as_ref());
    // The key pair is the seed's: its public key ends with the pair's point.
    let public = ok(client.get_public_key().key_id(ECC).send().await);
    assert!(public
        .public_key()
        .unwrap()
        .as_ref()
        .ends_with(ecc.public_key().as_ref()));
    let disabled = ok(client.describe_key().key_id(DISABLED).send().await);
    assert_eq!(
        disabled.key_metadata().unwrap().key_state(),
        Some(&KeyState::Disabled)
    );
    assert!(audit_holds(&server, "TrentSeed"));

    // The same material in another server: what one encrypts, the other decrypts.
    let other = TestServer::start_with(&["--seed", &path], &[]);
    let blob = encrypt(&client, "alias/orders", b"seeded").await;
    assert_eq!(decrypt(&other.client(REGION), &blob).await, b"seeded");

    // A restart with the same seed changes nothing and makes nothing twice.
    server.restart();
    let client = server.client(REGION);
    assert_eq!(decrypt(&client, &blob).await, b"seeded");
    assert_eq!(ok(client.list_keys().send().await).keys().len(), 4);
    let aliases = ok(client.list_aliases().key_id(SYMMETRIC).send().await);
    assert_eq!(aliases.aliases().len(), 2);
}

#[tokio::test]
async fn a_seed_that_cannot_be_applied_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let short = B64.encode([5u8; 16]);
    for (name, text, wanted) in [
        (
            "short.toml",
            format!("[[keys]]\nid = \"{SYMMETRIC}\"\nmaterial = \"{short}\"\n"),
            format!("seed key 1 ({SYMMETRIC}): the material is not key material of SYMMETRIC_DEFAULT"),
        ),
        (
            "id.json",
            r#"{"keys": [{"id": "not-a-uuid"}]}"#.to_owned(),
            "seed key 1 (not-a-uuid): the id must be a key id".to_owned(),
        ),
        (
            "field.toml",
            format!("[[keys]]\nid = \"{SYMMETRIC}\"\nspec = \"HMAC_256\"\n"),
            "unknown field `spec`".to_owned(),
        ),
        (
            "usage.toml",
            format!("[[keys]]\nid = \"{SYMMETRIC}\"\nkey_spec = \"ECC_NIST_P256\"\n"),
            format!("seed key 1 ({SYMMETRIC}): KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ECC_NIST_P256"),
        ),
        (
            "alias.toml",
            format!("[[keys]]\nid = \"{SYMMETRIC}\"\naliases = [\"alias/aws/mine\"]\n"),
            format!("seed key 1 ({SYMMETRIC}): alias \"alias/aws/mine\""),
        ),
    ] {
        let path = seed_file(dir.path(), name, &text);
        let data = dir.path().join(format!("data-{name}"));
        let out = trent_testkit::process::Launch::serve()
            .data_dir(&data)
            .args(["--seed", path.as_str()])
            .start_fails()
            .output();
        assert!(out.contains(&wanted), "{name}: {out}");
        assert!(!out.contains(&short), "{name}: the material is in the output");
    }

    // A seed that contradicts the store (the key exists with another spec).
    let path = seed_file(
        dir.path(),
        "first.toml",
        &format!("[[keys]]\nid = \"{SYMMETRIC}\"\n"),
    );
    let data = dir.path().join("data-contradicted");
    let mut first = trent_testkit::process::Launch::serve()
        .data_dir(&data)
        .args(["--seed", path.as_str()])
        .start();
    assert!(first.terminate().success());
    let path = seed_file(
        dir.path(),
        "second.toml",
        &format!("[[keys]]\nid = \"{SYMMETRIC}\"\nkey_spec = \"HMAC_256\"\n"),
    );
    let out = trent_testkit::process::Launch::serve()
        .data_dir(&data)
        .args(["--seed", path.as_str()])
        .start_fails()
        .output();
    assert!(
        out.contains(&format!(
            "seed key 1 ({SYMMETRIC}): the store has this key as"
        )),
        "{out}"
    );
}
