//! Asymmetric primitives, per core: `cargo bench -p trent-crypto --bench asymmetric`.
//!
//! The figures are the bare cost of the cryptography under Sign, Verify and
//! GenerateDataKeyPair; BENCHMARKS.md sets them beside the server's figures.
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use trent_crypto::{AsymmetricKeySpec as K, MessageType, PrivateKey, SigningAlgorithm as A};

fn sign(c: &mut Criterion) {
    let message = [0x5a_u8; 256];
    let cases = [
        (
            K::EccNistP256,
            A::EcdsaSha256,
            "sign ECC_NIST_P256 ECDSA_SHA_256",
        ),
        (
            K::Rsa2048,
            A::RsassaPssSha256,
            "sign RSA_2048 RSASSA_PSS_SHA_256",
        ),
        (
            K::Rsa2048,
            A::RsassaPkcs1V15Sha256,
            "sign RSA_2048 RSASSA_PKCS1_V1_5_SHA_256",
        ),
        (
            K::MlDsa65,
            A::MlDsaShake256,
            "sign ML_DSA_65 ML_DSA_SHAKE_256",
        ),
        (
            K::EccNistEdwards25519,
            A::Ed25519Sha512,
            "sign ECC_NIST_EDWARDS25519 ED25519_SHA_512",
        ),
    ];
    for (spec, alg, name) in cases {
        let key = PrivateKey::generate(spec).expect("key generation");
        c.bench_function(name, |b| {
            b.iter(|| key.sign(alg, MessageType::Raw, black_box(&message)))
        });
    }

    let key = PrivateKey::generate(K::EccNistP256).expect("key generation");
    let signature = key
        .sign(A::EcdsaSha256, MessageType::Raw, &message)
        .expect("sign");
    let public = key.public_key().clone();
    c.bench_function("verify ECC_NIST_P256 ECDSA_SHA_256", |b| {
        b.iter(|| {
            public.verify(
                A::EcdsaSha256,
                MessageType::Raw,
                black_box(&message),
                &signature,
            )
        })
    });
}

fn generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    // RSA key generation takes tens of milliseconds and varies a lot (prime search).
    group.sample_size(20);
    for spec in [K::Rsa2048, K::EccNistP256] {
        group.bench_function(spec.wire_name(), |b| {
            b.iter(|| PrivateKey::generate(black_box(spec)))
        });
    }
    group.finish();
}

criterion_group!(benches, sign, generate);
criterion_main!(benches);
