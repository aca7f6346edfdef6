//! Smoke test of imported key material in a multi-Region key with the AWS CLI and OpenSSL,
//! following AWS's own walk-through step by step: the CLI fetches the wrapping key and the
//! import token, OpenSSL wraps the material exactly as "Encrypt key material"
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-encrypt-key-material.html>)
//! shows (`pkeyutl` RSA-OAEP for RSAES_OAEP_SHA_256, `enc -id-aes256-wrap-pad` + `pkeyutl`
//! for RSA_AES_KEY_WRAP_SHA_256), the CLI imports it into the primary and into its replica,
//! and a ciphertext the CLI made in one region decrypts in the other. Neither tool shares
//! code with Trent or with the Python-based interop tests.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::{aws_cli, TestServer};

const PRIMARY: &str = "us-east-1";
const REPLICA: &str = "eu-west-1";

/// `aws kms ...` in `region`, JSON output; panics with the CLI's stderr on failure.
fn kms(server: &TestServer, region: &str, args: &[&str]) -> Value {
    let mut all = vec![
        "kms",
        "--endpoint-url",
        server.endpoint(),
        "--region",
        region,
        "--output",
        "json",
    ];
    all.extend_from_slice(args);
    let (ok, out, err) = aws_cli(server, &all, &[]);
    assert!(ok, "aws {}: {err}", args.join(" "));
    if out.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&out).unwrap()
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn b64_to_file(value: &Value, path: &Path) {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_str().unwrap())
        .unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

/// `openssl pkeyutl` RSA-OAEP with SHA-256 and MGF1-SHA-256 under the wrapping public key
/// (`WrappingPublicKey.bin`, DER), as AWS's walk-through runs it.
fn rsa_oaep_sha256(dir: &Path, input: &str, output: &str) {
    openssl(&[
        "pkeyutl",
        "-encrypt",
        "-in",
        &path(dir, input),
        "-out",
        &path(dir, output),
        "-inkey",
        &path(dir, "WrappingPublicKey.bin"),
        "-keyform",
        "DER",
        "-pubin",
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    ]);
}

/// GetParametersForImport with the CLI: writes the wrapping public key (DER) and the token.
fn parameters(server: &TestServer, region: &str, key_id: &str, alg: &str, dir: &Path) {
    let p = kms(
        server,
        region,
        &[
            "get-parameters-for-import",
            "--key-id",
            key_id,
            "--wrapping-algorithm",
            alg,
            "--wrapping-key-spec",
            "RSA_3072",
        ],
    );
    b64_to_file(&p["PublicKey"], &dir.join("WrappingPublicKey.bin"));
    b64_to_file(&p["ImportToken"], &dir.join("ImportToken.bin"));
}

fn import(server: &TestServer, region: &str, key_id: &str, dir: &Path) -> Value {
    kms(
        server,
        region,
        &[
            "import-key-material",
            "--key-id",
            key_id,
            "--encrypted-key-material",
            &format!("fileb://{}", path(dir, "EncryptedKeyMaterial.bin")),
            "--import-token",
            &format!("fileb://{}", path(dir, "ImportToken.bin")),
            "--expiration-model",
            "KEY_MATERIAL_DOES_NOT_EXPIRE",
        ],
    )
}

fn describe(server: &TestServer, region: &str, key_id: &str) -> Value {
    kms(server, region, &["describe-key", "--key-id", key_id])["KeyMetadata"].clone()
}

#[tokio::test]
async fn imported_material_in_a_multi_region_key_with_the_aws_cli_and_openssl() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let created = kms(
        &server,
        PRIMARY,
        &["create-key", "--origin", "EXTERNAL", "--multi-region"],
    );
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    assert!(key_id.starts_with("mrk-"), "{key_id}");
    assert_eq!(created["KeyMetadata"]["KeyState"], "PendingImport");

    // The material, and its wrapping for the primary: RSAES_OAEP_SHA_256 with OpenSSL.
    openssl(&["rand", "-out", &path(d, "PlaintextKeyMaterial.bin"), "32"]);
    parameters(&server, PRIMARY, &key_id, "RSAES_OAEP_SHA_256", d);
    rsa_oaep_sha256(d, "PlaintextKeyMaterial.bin", "EncryptedKeyMaterial.bin");
    let imported = import(&server, PRIMARY, &key_id, d);
    let material_id = imported["KeyMaterialId"].as_str().unwrap().to_owned();
    assert_eq!(describe(&server, PRIMARY, &key_id)["KeyState"], "Enabled");

    // A ciphertext made in the primary's region, before the replica exists.
    std::fs::write(d.join("message.txt"), b"made in us-east-1").unwrap();
    let encrypted = kms(
        &server,
        PRIMARY,
        &[
            "encrypt",
            "--key-id",
            &key_id,
            "--plaintext",
            &format!("fileb://{}", path(d, "message.txt")),
        ],
    );
    b64_to_file(&encrypted["CiphertextBlob"], &d.join("ciphertext.bin"));

    // The replica starts without material.
    let replica = kms(
        &server,
        PRIMARY,
        &[
            "replicate-key",
            "--key-id",
            &key_id,
            "--replica-region",
            REPLICA,
        ],
    );
    let meta = &replica["ReplicaKeyMetadata"];
    assert_eq!(meta["KeyId"], key_id.as_str());
    assert_eq!(meta["Origin"], "EXTERNAL");
    assert_eq!(meta["KeyState"], "PendingImport");
    assert_eq!(
        meta["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );

    // The same material into the replica, this time RSA_AES_KEY_WRAP_SHA_256: an ephemeral
    // AES key wraps the material (RFC 5649, OpenSSL's id-aes256-wrap-pad with AWS's IV),
    // RSA-OAEP wraps the AES key, and the two are concatenated (RSA part first).
    parameters(&server, REPLICA, &key_id, "RSA_AES_KEY_WRAP_SHA_256", d);
    openssl(&["rand", "-out", &path(d, "aes-key.bin"), "32"]);
    let aes_hex: String = std::fs::read(d.join("aes-key.bin"))
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    openssl(&[
        "enc",
        "-id-aes256-wrap-pad",
        "-K",
        &aes_hex,
        "-iv",
        "A65959A6",
        "-in",
        &path(d, "PlaintextKeyMaterial.bin"),
        "-out",
        &path(d, "key-material-wrapped.bin"),
    ]);
    rsa_oaep_sha256(d, "aes-key.bin", "aes-key-wrapped.bin");
    let mut wrapped = std::fs::read(d.join("aes-key-wrapped.bin")).unwrap();
    wrapped.extend(std::fs::read(d.join("key-material-wrapped.bin")).unwrap());
    std::fs::write(d.join("EncryptedKeyMaterial.bin"), wrapped).unwrap();
    let imported = import(&server, REPLICA, &key_id, d);
    assert_eq!(imported["KeyMaterialId"], material_id.as_str());

    let replica_meta = describe(&server, REPLICA, &key_id);
    assert_eq!(replica_meta["KeyState"], "Enabled");
    assert_eq!(replica_meta["CurrentKeyMaterialId"], material_id.as_str());
    assert_eq!(
        replica_meta["MultiRegionConfiguration"]["PrimaryKey"]["Region"],
        PRIMARY
    );

    // The primary's ciphertext decrypts in the replica's region, without a KeyId.
    let decrypted = kms(
        &server,
        REPLICA,
        &[
            "decrypt",
            "--ciphertext-blob",
            &format!("fileb://{}", path(d, "ciphertext.bin")),
        ],
    );
    b64_to_file(&decrypted["Plaintext"], &d.join("decrypted.txt"));
    assert_eq!(
        std::fs::read(d.join("decrypted.txt")).unwrap(),
        b"made in us-east-1"
    );
    assert_eq!(
        decrypted["KeyId"],
        format!(
            "arn:aws:kms:{REPLICA}:{}:key/{key_id}",
            crate::harness::DEFAULT_ACCOUNT
        )
        .as_str()
    );
}
