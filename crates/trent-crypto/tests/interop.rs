//! Interop: what trent-crypto makes is checked by independent implementations
//! (Python's `cryptography`, the OpenSSL CLI, and RFC 8032 / GB/T 32918 code
//! in `interop.py` for what neither has), and what they make is used here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use aws_lc_rs::digest;
use serde_json::{json, Value};
use trent_crypto::{
    AsymmetricEncryptionAlgorithm as E, AsymmetricKeySpec as K, HmacKey, HmacKeySpec,
    MessageType as M, PrivateKey, SigningAlgorithm as A,
};

/// Runs `interop.py` over `cases`; one result object per case.
fn python(cases: &[Value]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.json");
    std::fs::write(&path, serde_json::to_vec(cases).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "interop.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results.len(), cases.len());
    results
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn digest_for(alg: A, message: &[u8]) -> Vec<u8> {
    let d = match alg.digest_len() {
        Some(32) => &digest::SHA256,
        Some(48) => &digest::SHA384,
        _ => &digest::SHA512,
    };
    digest::digest(d, message).as_ref().to_vec()
}

fn keys() -> Vec<PrivateKey> {
    K::ALL
        .iter()
        .map(|s| PrivateKey::generate(*s).unwrap())
        .collect()
}

/// Every spec × algorithm × message type: the signature verifies outside.
#[test]
fn every_signature_verifies_independently() {
    let message = b"Signed by Trent, checked by someone else.".to_vec();
    let keys = keys();

    // Values only an independent implementation should compute: ML-DSA's μ
    // and SM2's e = SM3(Z_A || M).
    let prep: Vec<Value> = keys
        .iter()
        .filter(|k| matches!(k.spec(), K::MlDsa44 | K::MlDsa65 | K::MlDsa87 | K::Sm2))
        .map(|k| {
            let kind = if k.spec() == K::Sm2 { "sm2_e" } else { "mu" };
            json!({"kind": kind, "spki": hex::encode(k.public_key().der()), "message": hex::encode(&message)})
        })
        .collect();
    let prepared = python(&prep);
    let mut prepared = prepared.iter();

    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for k in &keys {
        let spec = k.spec();
        let extra = if matches!(spec, K::MlDsa44 | K::MlDsa65 | K::MlDsa87 | K::Sm2) {
            prepared.next().cloned()
        } else {
            None
        };
        for &alg in A::for_spec(spec) {
            for mt in M::ALL {
                if !alg.allows_message_type(mt) {
                    continue;
                }
                // (what Trent signs, what the checker verifies against)
                let (signed, checked) = match (alg, mt) {
                    (_, M::Raw) => (message.clone(), message.clone()),
                    // AWS pre-hashes the DIGEST once more: Ed25519ph over the digest.
                    (A::Ed25519PhSha512, M::Digest) => {
                        let d = digest_for(alg, &message);
                        (d.clone(), d)
                    }
                    (A::Sm2Dsa, M::Digest) => {
                        let e = unhex(&extra.as_ref().unwrap()["e"]);
                        (e, message.clone())
                    }
                    (A::MlDsaShake256, M::ExternalMu) => {
                        let mu = unhex(&extra.as_ref().unwrap()["mu"]);
                        (mu, message.clone())
                    }
                    (_, M::Digest) => {
                        let d = digest_for(alg, &message);
                        (d.clone(), d)
                    }
                    (_, M::ExternalMu) => unreachable!(),
                };
                let sig = k.sign(alg, mt, &signed).unwrap();
                let case = |sig: &[u8]| {
                    json!({
                        "kind": "verify", "spec": spec.wire_name(), "alg": alg.wire_name(),
                        "mt": mt.wire_name(), "spki": hex::encode(k.public_key().der()),
                        "message": hex::encode(&checked), "sig": hex::encode(sig),
                    })
                };
                cases.push(case(&sig));
                expected.push((spec, alg, mt, true));
                // The checker must also say no, or its yes proves nothing.
                let mut bad = sig.clone();
                let i = bad.len() / 2;
                bad[i] ^= 0x40;
                cases.push(case(&bad));
                expected.push((spec, alg, mt, false));
            }
        }
    }
    let results = python(&cases);
    let mut checked = 0;
    for (r, (spec, alg, mt, want)) in results.iter().zip(&expected) {
        assert_eq!(
            r["verified"].as_bool(),
            Some(*want),
            "{spec:?} {alg:?} {mt:?}: independent verifier said {r}"
        );
        checked += 1;
    }
    // RSA 3 specs × 6 algorithms × (RAW, DIGEST) = 36, NIST and secp256k1
    // 4 × 2 = 8, Ed25519 (RAW) + Ed25519ph (DIGEST) = 2, ML-DSA 3 × (RAW,
    // EXTERNAL_MU) = 6, SM2 (RAW, DIGEST) = 2: 54 signatures, each also tampered.
    assert_eq!(checked, 2 * 54);
}

/// Private keys from `pkcs8()` load elsewhere and carry the same public key.
#[test]
fn pkcs8_loads_independently() {
    let keys = keys();
    let cases: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({"kind": "pkcs8", "spec": k.spec().wire_name(),
                   "pkcs8": hex::encode(k.pkcs8().expose()), "spki": hex::encode(k.public_key().der())})
        })
        .collect();
    for (r, k) in python(&cases).iter().zip(&keys) {
        assert_eq!(r["matches"].as_bool(), Some(true), "{:?}: {r}", k.spec());
    }
}

/// Ciphertexts made outside decrypt here; ciphertexts made here decrypt outside.
#[test]
fn encryption_interoperates() {
    let keys: Vec<PrivateKey> = [K::Rsa2048, K::Rsa3072, K::Rsa4096, K::Sm2]
        .into_iter()
        .map(|s| PrivateKey::generate(s).unwrap())
        .collect();
    let mut outside = Vec::new();
    let mut inside = Vec::new();
    let mut meta = Vec::new();
    for k in &keys {
        for &alg in E::for_spec(k.spec()) {
            let max = alg.max_plaintext_len(k.spec()).unwrap();
            for len in [1, 100, max] {
                let pt: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
                outside.push(json!({"kind": "encrypt", "alg": alg.wire_name(),
                    "spki": hex::encode(k.public_key().der()), "plaintext": hex::encode(&pt)}));
                let ct = k.public_key().encrypt(alg, &pt).unwrap();
                inside.push(json!({"kind": "decrypt", "alg": alg.wire_name(),
                    "pkcs8": hex::encode(k.pkcs8().expose()), "ciphertext": hex::encode(&ct)}));
                meta.push((k, alg, pt));
            }
        }
    }
    for (r, (k, alg, pt)) in python(&outside).iter().zip(&meta) {
        let ct = unhex(&r["ciphertext"]);
        let got = k.decrypt(*alg, &ct).unwrap();
        assert_eq!(got.expose(), pt.as_slice(), "{:?} {alg:?}", k.spec());
    }
    for (r, (k, alg, pt)) in python(&inside).iter().zip(&meta) {
        assert_eq!(
            r["plaintext"],
            json!(hex::encode(pt)),
            "{:?} {alg:?}",
            k.spec()
        );
    }
    assert_eq!(meta.len(), 3 * 2 * 3 + 3);
}

/// DeriveSharedSecret equals the secret the other side computes.
#[test]
fn shared_secrets_match_independent_ecdh() {
    let keys: Vec<PrivateKey> = [K::EccNistP256, K::EccNistP384, K::EccNistP521, K::Sm2]
        .into_iter()
        .map(|s| PrivateKey::generate(s).unwrap())
        .collect();
    let cases: Vec<Value> = keys
        .iter()
        .flat_map(|k| {
            let c = json!({"kind": "ecdh", "spec": k.spec().wire_name(), "spki": hex::encode(k.public_key().der())});
            [c.clone(), c]
        })
        .collect();
    let results = python(&cases);
    for (r, k) in results.iter().zip(keys.iter().flat_map(|k| [k, k])) {
        let secret = k.derive_shared_secret(&unhex(&r["peer"])).unwrap();
        assert_eq!(
            hex::encode(secret.expose()),
            r["shared"].as_str().unwrap(),
            "{:?}",
            k.spec()
        );
    }
}

/// GenerateMac equals Python's `hmac` over the same material, generated or imported.
#[test]
fn macs_match_python_hmac() {
    let message = b"MAC me".to_vec();
    let mut keys = Vec::new();
    for spec in HmacKeySpec::ALL {
        keys.push(HmacKey::generate(spec).unwrap());
        let range = spec.import_len_range();
        for len in [*range.start(), *range.end()] {
            let material: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            keys.push(HmacKey::from_material(spec, &material).unwrap());
        }
    }
    let cases: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({"kind": "hmac", "alg": k.spec().algorithm().wire_name(),
                   "key": hex::encode(k.material().expose()), "message": hex::encode(&message)})
        })
        .collect();
    for (r, k) in python(&cases).iter().zip(&keys) {
        let alg = k.spec().algorithm();
        let mac = k.mac(alg, &message).unwrap();
        assert_eq!(
            hex::encode(&mac),
            r["mac"].as_str().unwrap(),
            "{:?}",
            k.spec()
        );
        assert!(k.verify(alg, &message, &unhex(&r["mac"])).unwrap());
    }
}
