//! The hot path's cryptography: `cargo bench -p trent-crypto`.

use criterion::{criterion_group, criterion_main, Criterion};
use trent_crypto::{canonical_encryption_context, parse_blob, BlobHeader, SymmetricKey};

fn bench(c: &mut Criterion) {
    let Ok((key, _material)) = SymmetricKey::generate() else {
        return;
    };
    let header = BlobHeader {
        key_id: [7; 16],
        material_id: [9; 32],
    };
    let context = canonical_encryption_context([("purpose", "bench"), ("tenant", "acme")]);
    let plaintext = [0x5a_u8; 256];
    let Ok(blob) = key.encrypt(&header, &context, &plaintext) else {
        return;
    };

    c.bench_function("blob encrypt 256 B", |b| {
        b.iter(|| key.encrypt(&header, &context, std::hint::black_box(&plaintext)))
    });
    c.bench_function("blob decrypt 256 B", |b| {
        b.iter(|| parse_blob(std::hint::black_box(&blob)).and_then(|p| key.decrypt(&p, &context)))
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
