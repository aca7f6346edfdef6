//! SigV4 cost on a KMS-shaped request: `cargo bench -p trent-sigv4`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion};
use trent_sigv4::{CredentialLookup, Credentials, SecretKey, Signer, Verifier};

const HEADERS: [(&str, &str); 3] = [
    ("Host", "127.0.0.1:4599"),
    ("Content-Type", "application/x-amz-json-1.1"),
    ("X-Amz-Target", "TrentService.Encrypt"),
];
const BODY: &[u8] = br#"{"KeyId":"alias/bench","Plaintext":"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ="}"#;

struct Keys(HashMap<String, Arc<SecretKey>>);

impl CredentialLookup for Keys {
    type Principal = ();
    fn lookup(&self, access_key_id: &str) -> Option<(Arc<SecretKey>, ())> {
        self.0.get(access_key_id).cloned().map(|s| (s, ()))
    }
}

fn bench(c: &mut Criterion) {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let signer = Signer::new(
        Credentials {
            access_key_id: "AKIABENCHBENCHBENCH0".into(),
            secret_access_key: SecretKey::new("bench-secret"),
            session_token: None,
        },
        "us-east-1",
        "kms",
    );
    let mut builder = http::Request::builder().method("POST").uri("/");
    for (k, v) in HEADERS {
        builder = builder.header(k, v);
    }
    for (k, v) in signer.sign("POST", "/", "", &HEADERS, BODY, now) {
        builder = builder.header(k, v);
    }
    let (parts, ()) = builder
        .body(())
        .map(|r| r.into_parts())
        .unwrap_or_else(|_| unreachable!());
    let mut keys = HashMap::new();
    keys.insert(
        "AKIABENCHBENCHBENCH0".to_owned(),
        Arc::new(SecretKey::new("bench-secret")),
    );
    let verifier = Verifier::new(Keys(keys), "kms", Duration::from_secs(300));
    assert!(verifier.verify(&parts, BODY, now).is_ok());

    c.bench_function("sigv4 verify (KMS Encrypt request)", |b| {
        b.iter(|| verifier.verify(std::hint::black_box(&parts), BODY, now))
    });
    c.bench_function("sigv4 sign (KMS Encrypt request)", |b| {
        b.iter(|| {
            signer.sign(
                "POST",
                "/",
                "",
                &HEADERS,
                BODY,
                std::hint::black_box(SystemTime::now()),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
