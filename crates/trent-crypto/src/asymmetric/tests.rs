//! Round trips for every spec × algorithm × message type, and the refusals.
//! Independent implementations check the outputs in `tests/interop.rs`.

use aws_lc_rs::digest;

use super::*;

use AsymmetricKeySpec as K;
use SigningAlgorithm as A;

fn digest_of(alg: SigningAlgorithm, message: &[u8]) -> Vec<u8> {
    let d = match alg.digest_len() {
        Some(32) => &digest::SHA256,
        Some(48) => &digest::SHA384,
        _ => &digest::SHA512,
    };
    digest::digest(d, message).as_ref().to_vec()
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    let i = at % v.len();
    v[i] ^= 0x01;
    v
}

/// One generated key per spec, shared by the tests (RSA-4096 generation is slow).
fn keys() -> &'static Vec<PrivateKey> {
    static KEYS: std::sync::OnceLock<Vec<PrivateKey>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        AsymmetricKeySpec::ALL
            .iter()
            .map(|s| PrivateKey::generate(*s).unwrap())
            .collect()
    })
}

fn key(spec: AsymmetricKeySpec) -> &'static PrivateKey {
    keys().iter().find(|k| k.spec() == spec).unwrap()
}

#[test]
fn private_and_public_keys_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<PrivateKey>();
    check::<PublicKey>();
}

#[test]
fn pkcs8_and_spki_round_trip() {
    for spec in AsymmetricKeySpec::ALL {
        let k = key(spec);
        assert_eq!(k.spec(), spec);
        let again = PrivateKey::from_pkcs8(spec, k.pkcs8().expose()).unwrap();
        assert_eq!(again.public_key(), k.public_key(), "{spec:?}");
        let public = PublicKey::from_der(spec, k.public_key().der()).unwrap();
        assert_eq!(&public, k.public_key(), "{spec:?}");
        assert_eq!(public.spec(), spec);
    }
}

#[test]
fn keys_of_another_spec_are_refused() {
    for spec in AsymmetricKeySpec::ALL {
        for other in AsymmetricKeySpec::ALL {
            if other == spec {
                continue;
            }
            let k = key(other);
            assert!(
                matches!(
                    PrivateKey::from_pkcs8(spec, k.pkcs8().expose()),
                    Err(CryptoError::InvalidKeyMaterial)
                ),
                "{other:?} private key accepted as {spec:?}"
            );
            assert!(
                matches!(
                    PublicKey::from_der(spec, k.public_key().der()),
                    Err(CryptoError::InvalidPublicKey)
                ),
                "{other:?} public key accepted as {spec:?}"
            );
        }
        assert!(PrivateKey::from_pkcs8(spec, b"not a key").is_err());
        assert!(PublicKey::from_der(spec, b"not a key").is_err());
    }
}

#[test]
fn generated_keys_differ() {
    for spec in [K::EccNistP256, K::EccNistEdwards25519, K::MlDsa44, K::Sm2] {
        let a = PrivateKey::generate(spec).unwrap();
        let b = PrivateKey::generate(spec).unwrap();
        assert_ne!(a.public_key(), b.public_key());
        assert_ne!(a.pkcs8(), b.pkcs8());
    }
}

#[test]
fn debug_shows_the_spec_only() {
    for k in keys() {
        let shown = format!("{k:?}");
        assert!(shown.contains(&format!("{:?}", k.spec())));
        let hex_key = hex::encode(k.pkcs8().expose());
        assert!(!shown.contains(&hex_key[hex_key.len() - 16..]));
        assert!(shown.len() < 64, "{shown}");
    }
}

/// Every spec × algorithm × allowed message type: sign, verify, and reject a
/// tampered signature and a tampered message.
#[test]
fn sign_verify_matrix() {
    let message = b"Trent signs what it is given, exactly once.".to_vec();
    for spec in AsymmetricKeySpec::ALL {
        let k = key(spec);
        let public = k.public_key();
        // Another key of the same spec must not verify (RSA-3072/4096 spared: slow to generate).
        let other =
            (!matches!(spec, K::Rsa3072 | K::Rsa4096)).then(|| PrivateKey::generate(spec).unwrap());
        for &alg in SigningAlgorithm::for_spec(spec) {
            for mt in MessageType::ALL {
                let input = match mt {
                    MessageType::Raw => message.clone(),
                    MessageType::Digest => match alg.digest_len() {
                        Some(64) if alg == A::Ed25519PhSha512 => digest_of(alg, &message),
                        Some(_) if alg == A::Sm2Dsa => vec![0x42; 32],
                        Some(_) => digest_of(alg, &message),
                        None => vec![0; 32],
                    },
                    MessageType::ExternalMu => vec![0x17; 64],
                };
                if !alg.allows_message_type(mt) {
                    assert!(
                        matches!(
                            k.sign(alg, mt, &input),
                            Err(CryptoError::IncompatibleAlgorithm)
                        ),
                        "{spec:?} {alg:?} {mt:?} signed"
                    );
                    assert!(matches!(
                        public.verify(alg, mt, &input, &[0; 64]),
                        Err(CryptoError::IncompatibleAlgorithm)
                    ));
                    continue;
                }
                let sig = k.sign(alg, mt, &input).unwrap();
                assert!(
                    public.verify(alg, mt, &input, &sig).unwrap(),
                    "{spec:?} {alg:?} {mt:?}"
                );
                for at in [0, sig.len() / 2, sig.len() - 1] {
                    assert!(
                        !public.verify(alg, mt, &input, &flip(&sig, at)).unwrap(),
                        "{spec:?} {alg:?} {mt:?}: tampered signature verified"
                    );
                }
                assert!(!public
                    .verify(alg, mt, &input, &sig[..sig.len() - 1])
                    .unwrap());
                assert!(!public.verify(alg, mt, &input, b"").unwrap());
                assert!(
                    !public.verify(alg, mt, &flip(&input, 3), &sig).unwrap(),
                    "{spec:?} {alg:?} {mt:?}: tampered message verified"
                );
                if let Some(other) = &other {
                    assert!(!other.public_key().verify(alg, mt, &input, &sig).unwrap());
                }
            }
        }
    }
}

/// DIGEST is the hash of the message and is never hashed again: a signature
/// over DIGEST(H(m)) verifies as RAW m, and the other way round.
#[test]
fn digest_is_not_hashed_again() {
    let message = b"hash me once".to_vec();
    for spec in AsymmetricKeySpec::ALL {
        let k = key(spec);
        for &alg in SigningAlgorithm::for_spec(spec) {
            if !matches!(
                alg,
                A::RsassaPssSha256
                    | A::RsassaPssSha384
                    | A::RsassaPssSha512
                    | A::RsassaPkcs1V15Sha256
                    | A::RsassaPkcs1V15Sha384
                    | A::RsassaPkcs1V15Sha512
                    | A::EcdsaSha256
                    | A::EcdsaSha384
                    | A::EcdsaSha512
            ) {
                continue;
            }
            let d = digest_of(alg, &message);
            let sig = k.sign(alg, MessageType::Digest, &d).unwrap();
            assert!(k
                .public_key()
                .verify(alg, MessageType::Raw, &message, &sig)
                .unwrap());
            let sig = k.sign(alg, MessageType::Raw, &message).unwrap();
            assert!(k
                .public_key()
                .verify(alg, MessageType::Digest, &d, &sig)
                .unwrap());
            // Signing the digest as RAW hashes it again: a different message.
            let sig = k.sign(alg, MessageType::Raw, &d).unwrap();
            assert!(!k
                .public_key()
                .verify(alg, MessageType::Raw, &message, &sig)
                .unwrap());
        }
    }
}

#[test]
fn digest_length_is_checked() {
    for spec in AsymmetricKeySpec::ALL {
        let k = key(spec);
        for &alg in SigningAlgorithm::for_spec(spec) {
            let Some(len) = alg.digest_len() else {
                continue;
            };
            for bad in [0, len - 1, len + 1] {
                match k.sign(alg, MessageType::Digest, &vec![1; bad]) {
                    Err(CryptoError::InvalidDigestLength { expected, actual }) => {
                        assert_eq!((expected, actual), (len, bad));
                    }
                    other => panic!("{spec:?} {alg:?} digest of {bad}: {other:?}"),
                }
                assert!(matches!(
                    k.public_key()
                        .verify(alg, MessageType::Digest, &vec![1; bad], &[0; 64]),
                    Err(CryptoError::InvalidDigestLength { .. })
                ));
            }
        }
    }
    let k = key(K::MlDsa65);
    assert!(matches!(
        k.sign(A::MlDsaShake256, MessageType::ExternalMu, &[0; 63]),
        Err(CryptoError::InvalidDigestLength {
            expected: 64,
            actual: 63
        })
    ));
}

#[test]
fn algorithms_of_other_specs_are_refused() {
    for spec in AsymmetricKeySpec::ALL {
        let k = key(spec);
        for alg in SigningAlgorithm::ALL {
            if SigningAlgorithm::for_spec(spec).contains(&alg) {
                continue;
            }
            assert!(
                matches!(
                    k.sign(alg, MessageType::Raw, b"m"),
                    Err(CryptoError::IncompatibleAlgorithm)
                ),
                "{spec:?} signed with {alg:?}"
            );
        }
        for alg in AsymmetricEncryptionAlgorithm::ALL {
            if AsymmetricEncryptionAlgorithm::for_spec(spec).contains(&alg) {
                continue;
            }
            assert!(matches!(
                k.public_key().encrypt(alg, b"m"),
                Err(CryptoError::IncompatibleAlgorithm)
            ));
            assert!(matches!(
                k.decrypt(alg, &[0; 64]),
                Err(CryptoError::IncompatibleAlgorithm)
            ));
        }
    }
}

#[test]
fn encrypt_decrypt_round_trips_and_limits() {
    for spec in AsymmetricKeySpec::ALL {
        let k = key(spec);
        for &alg in AsymmetricEncryptionAlgorithm::for_spec(spec) {
            let max = alg.max_plaintext_len(spec).unwrap();
            // AWS requires at least one byte of plaintext (the model's min length 1).
            for len in [1, 32, max] {
                let pt: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let ct = k.public_key().encrypt(alg, &pt).unwrap();
                assert_ne!(ct, pt);
                assert_eq!(
                    k.decrypt(alg, &ct).unwrap().expose(),
                    pt.as_slice(),
                    "{spec:?} {alg:?} {len}"
                );
                // Randomized: the same plaintext encrypts differently.
                assert_ne!(k.public_key().encrypt(alg, &pt).unwrap(), ct);
                for at in [0, ct.len() / 2, ct.len() - 1] {
                    assert!(matches!(
                        k.decrypt(alg, &flip(&ct, at)),
                        Err(CryptoError::InvalidCiphertext)
                    ));
                }
                assert!(matches!(
                    k.decrypt(alg, &ct[..ct.len() - 1]),
                    Err(CryptoError::InvalidCiphertext)
                ));
            }
            assert!(matches!(
                k.public_key().encrypt(alg, &vec![0; max + 1]),
                Err(CryptoError::PlaintextTooLarge)
            ));
            assert!(matches!(
                k.decrypt(alg, b""),
                Err(CryptoError::InvalidCiphertext)
            ));
        }
    }
    // OAEP with the other hash does not decrypt.
    let k = key(K::Rsa2048);
    let ct = k
        .public_key()
        .encrypt(AsymmetricEncryptionAlgorithm::RsaesOaepSha1, b"secret")
        .unwrap();
    assert!(matches!(
        k.decrypt(AsymmetricEncryptionAlgorithm::RsaesOaepSha256, &ct),
        Err(CryptoError::InvalidCiphertext)
    ));
}

#[test]
fn ecdh_agrees_and_checks_the_peer() {
    for (spec, len) in [
        (K::EccNistP256, 32),
        (K::EccNistP384, 48),
        (K::EccNistP521, 66),
        (K::Sm2, 32),
    ] {
        let a = key(spec);
        let b = PrivateKey::generate(spec).unwrap();
        let ab = a.derive_shared_secret(b.public_key().der()).unwrap();
        let ba = b.derive_shared_secret(a.public_key().der()).unwrap();
        assert_eq!(ab, ba, "{spec:?}");
        assert_eq!(ab.len(), len);
        let c = PrivateKey::generate(spec).unwrap();
        assert_ne!(a.derive_shared_secret(c.public_key().der()).unwrap(), ab);
        // A peer on another curve, or not a SubjectPublicKeyInfo, is refused.
        for other in [
            K::EccNistP256,
            K::EccNistP384,
            K::Sm2,
            K::Rsa2048,
            K::EccNistEdwards25519,
        ] {
            if other == spec {
                continue;
            }
            assert!(
                matches!(
                    a.derive_shared_secret(key(other).public_key().der()),
                    Err(CryptoError::InvalidPublicKey)
                ),
                "{spec:?} agreed with a {other:?} key"
            );
        }
        assert!(matches!(
            a.derive_shared_secret(b"garbage"),
            Err(CryptoError::InvalidPublicKey)
        ));
        // The bare SEC1 point (the tail of the SPKI) is not accepted either.
        let der = b.public_key().der();
        let point = &der[der.len() - (2 * len + 1)..];
        assert_eq!(point[0], 0x04);
        assert!(matches!(
            a.derive_shared_secret(point),
            Err(CryptoError::InvalidPublicKey)
        ));
    }
    for spec in [
        K::Rsa2048,
        K::EccSecgP256k1,
        K::EccNistEdwards25519,
        K::MlDsa44,
    ] {
        assert!(matches!(
            key(spec).derive_shared_secret(key(K::EccNistP256).public_key().der()),
            Err(CryptoError::IncompatibleAlgorithm)
        ));
    }
}
