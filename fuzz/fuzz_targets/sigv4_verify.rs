//! Feed arbitrary requests to the SigV4 verifier: the `Authorization` header, the date,
//! any other headers and a body, parsed from the input as lines (`authorization`, `date`,
//! then `name: value` headers, an empty line, the body). Nothing may panic; the two entry
//! points must agree on what they refuse; and no message may echo the request (messages
//! are bounded whatever the input: they name the problem, not the value).
#![no_main]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use trent_sigv4::{CredentialLookup, SecretKey, Verifier};

/// 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite (and of the seeds).
const NOW: u64 = 1_440_938_160;
/// The longest message: the scope faults, all four, with the server's own values.
const MAX_MESSAGE: usize = 512;

struct One;

impl CredentialLookup for One {
    type Principal = ();
    fn lookup(&self, access_key_id: &str) -> Option<(Arc<SecretKey>, ())> {
        (access_key_id == "AKIDEXAMPLE")
            .then(|| (Arc::new(SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")), ()))
    }
}

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let mut lines = head.split(|b| *b == b'\n');
    let mut builder = http::Request::builder().method("POST").uri("/");
    if let Some(auth) = lines.next().filter(|l| !l.is_empty()) {
        builder = builder.header("authorization", auth);
    }
    if let Some(date) = lines.next().filter(|l| !l.is_empty()) {
        builder = builder.header("x-amz-date", date);
    }
    for line in lines {
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let value = line[colon + 1..].trim_ascii_start();
            builder = builder.header(&line[..colon], value);
        }
    }
    // Invalid header names or values are what `http` itself refuses.
    let Ok(request) = builder.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    let verifier = Verifier::new(One, "kms", Duration::from_secs(300));
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let unsigned = verifier.check_unsigned(&parts, now);
    let verified = verifier.verify(&parts, body, now);
    if let Err(e) = &unsigned {
        assert_eq!(verified.as_ref().err(), Some(e));
    }
    for e in [unsigned.err(), verified.err()].into_iter().flatten() {
        let message = e.message();
        assert!(message.len() <= MAX_MESSAGE, "{} bytes: {message}", message.len());
        assert_eq!(e.http_status(), 400);
        assert!(!e.code().is_empty());
    }
});
