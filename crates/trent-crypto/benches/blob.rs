//! The hot path's cryptography: `cargo bench -p trent-crypto`.
//!
//! `blob v2 ...` is what Encrypt/Decrypt run today (a key derived per ciphertext with
//! HKDF-SHA-256, then AES-256-GCM); `blob v1 ...` is the version-1 construction (AES-256-GCM
//! directly under the material, its key schedule prepared once) for the A/B: v1 encrypt
//! is rebuilt here from aws-lc-rs since Trent no longer writes version 1, v1 decrypt is
//! Trent's own (version-1 blobs still decrypt).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use criterion::{criterion_group, criterion_main, Criterion};
use trent_crypto::{
    canonical_encryption_context, parse_blob, BlobHeader, SymmetricKey, BLOB_HEADER_LEN,
    BLOB_VERSION_V1,
};

/// The version-1 seal: `0x01 ‖ key id ‖ material id ‖ nonce ‖ GCM(material)`.
fn v1_encrypt(
    key: &LessSafeKey,
    rng: &SystemRandom,
    header: &BlobHeader,
    context: &[u8],
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    let mut head = header.to_bytes();
    head[0] = BLOB_VERSION_V1;
    let mut nonce = [0u8; 12];
    rng.fill(&mut nonce).ok()?;
    let mut aad = Vec::with_capacity(BLOB_HEADER_LEN + context.len());
    aad.extend_from_slice(&head);
    aad.extend_from_slice(context);
    let mut out = Vec::with_capacity(BLOB_HEADER_LEN + 12 + plaintext.len() + 16);
    out.extend_from_slice(&head);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let mut body = out.split_off(BLOB_HEADER_LEN + 12);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(&aad[..]),
        &mut body,
    )
    .ok()?;
    out.extend_from_slice(&body);
    Some(out)
}

fn bench(c: &mut Criterion) {
    let Ok((key, material)) = SymmetricKey::generate() else {
        return;
    };
    let Ok(unbound) = UnboundKey::new(&AES_256_GCM, material.expose()) else {
        return;
    };
    let v1_key = LessSafeKey::new(unbound);
    let rng = SystemRandom::new();
    let header = BlobHeader {
        key_id: [7; 16],
        material_id: [9; 32],
    };
    let context = canonical_encryption_context([("purpose", "bench"), ("tenant", "acme")]);
    let plaintext = [0x5a_u8; 256];
    let Ok(blob) = key.encrypt(&header, &context, &plaintext) else {
        return;
    };
    let Some(v1_blob) = v1_encrypt(&v1_key, &rng, &header, &context, &plaintext) else {
        return;
    };
    // The v1 emulation is the real format: Trent opens it.
    if parse_blob(&v1_blob)
        .and_then(|p| key.decrypt(&p, &context))
        .is_err()
    {
        return;
    }

    c.bench_function("blob v2 encrypt 256 B", |b| {
        b.iter(|| key.encrypt(&header, &context, std::hint::black_box(&plaintext)))
    });
    c.bench_function("blob v1 encrypt 256 B", |b| {
        b.iter(|| {
            v1_encrypt(
                &v1_key,
                &rng,
                &header,
                &context,
                std::hint::black_box(&plaintext),
            )
        })
    });
    c.bench_function("blob v2 decrypt 256 B", |b| {
        b.iter(|| parse_blob(std::hint::black_box(&blob)).and_then(|p| key.decrypt(&p, &context)))
    });
    c.bench_function("blob v1 decrypt 256 B", |b| {
        b.iter(|| {
            parse_blob(std::hint::black_box(&v1_blob)).and_then(|p| key.decrypt(&p, &context))
        })
    });
    c.bench_function("encryption context encoding (2 pairs)", |b| {
        b.iter(|| {
            canonical_encryption_context(std::hint::black_box([
                ("purpose", "bench"),
                ("tenant", "acme"),
            ]))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
