//! Independent implementations to check Trent's asymmetric outputs against: Python's
//! `cryptography` package (RSA, ECDSA, Ed25519, ML-DSA, ECDH, PKCS#8) and the OpenSSL CLI
//! (SM2, which `cryptography` lacks). Each call takes and returns JSON, with binary
//! values as base64.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use aws_lc_rs::digest;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use base64::Engine as _;
use serde_json::Value;

use crate::harness::ok;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("a base64 string"))
        .expect("valid base64")
}

/// Runs a Python script with `input` as JSON on stdin; the script prints JSON.
pub fn python(script: &str, input: &Value) -> Value {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Verifies signatures with Python `cryptography`: each item has `spki`, `alg` (AWS's
/// name), `message` and `signature` (base64) and `prehashed` (the message is the
/// digest). Returns one "ok" or error text per item.
pub const PY_VERIFY: &str = r#"
import sys, json, base64
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils, rsa, ed25519, mldsa
items = json.load(sys.stdin)
H = {'256': hashes.SHA256(), '384': hashes.SHA384(), '512': hashes.SHA512()}
out = []
for it in items:
    try:
        pub = serialization.load_der_public_key(base64.b64decode(it['spki']))
        msg = base64.b64decode(it['message']); sig = base64.b64decode(it['signature'])
        alg = it['alg']
        h = H.get(alg[-3:])
        hh = utils.Prehashed(h) if it['prehashed'] and h is not None else h
        if alg.startswith('RSASSA_PSS'):
            assert isinstance(pub, rsa.RSAPublicKey)
            # AWS: MGF1 with the same hash, salt as long as the hash.
            pub.verify(sig, msg, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), hh)
        elif alg.startswith('RSASSA_PKCS1'):
            assert isinstance(pub, rsa.RSAPublicKey)
            pub.verify(sig, msg, padding.PKCS1v15(), hh)
        elif alg.startswith('ECDSA'):
            assert isinstance(pub, ec.EllipticCurvePublicKey)
            pub.verify(sig, msg, ec.ECDSA(hh))
        elif alg == 'ED25519_SHA_512':
            assert isinstance(pub, ed25519.Ed25519PublicKey)
            pub.verify(sig, msg)
        elif alg == 'ML_DSA_SHAKE_256':
            pub.verify(sig, msg)
        else:
            raise Exception('no verifier for ' + alg)
        out.append('ok')
    except Exception as e:
        out.append(repr(e))
print(json.dumps(out))
"#;

/// ML-DSA's external μ for a message (FIPS 204, Algorithm 7 with an empty context):
/// SHAKE256(SHAKE256(pk, 64) || 0x00 || 0x00 || M, 64), `pk` the raw public key.
pub const PY_MU: &str = r#"
import sys, json, base64, hashlib
from cryptography.hazmat.primitives import serialization
it = json.load(sys.stdin)
pub = serialization.load_der_public_key(base64.b64decode(it['spki']))
pk = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
tr = hashlib.shake_256(pk).digest(64)
mu = hashlib.shake_256(tr + b'\x00\x00' + base64.b64decode(it['message'])).digest(64)
print(json.dumps(base64.b64encode(mu).decode()))
"#;

/// SHA-256/384/512 of a message, for MessageType DIGEST.
pub fn sha(bits: u32, message: &[u8]) -> Vec<u8> {
    let alg = match bits {
        256 => &digest::SHA256,
        384 => &digest::SHA384,
        _ => &digest::SHA512,
    };
    digest::digest(alg, message).as_ref().to_vec()
}

/// The public key of a KMS key (DER SubjectPublicKeyInfo).
pub async fn public_key(client: &Client, key_id: &str) -> Vec<u8> {
    let out = ok(client.get_public_key().key_id(key_id).send().await);
    out.public_key().expect("PublicKey").as_ref().to_vec()
}

pub fn blob(bytes: &[u8]) -> Blob {
    Blob::new(bytes.to_vec())
}

/// Runs `openssl` with arguments; panics with its output on failure.
pub fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes an SPKI as PEM (via OpenSSL) into `dir/name` for the CLI.
pub fn spki_pem(spki: &[u8], dir: &Path, name: &str) {
    std::fs::write(dir.join("spki.der"), spki).unwrap();
    openssl(
        &[
            "pkey", "-pubin", "-inform", "DER", "-in", "spki.der", "-out", name,
        ],
        dir,
    );
}

/// AWS's default SM2 distinguishing ID (Verify's documentation).
pub const SM2_DISTID: &str = "distid:1234567812345678";
