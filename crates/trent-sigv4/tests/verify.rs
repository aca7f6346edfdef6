//! Sign → verify round trips and the failures AWS reports, through the public
//! API only, on KMS-shaped requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::request::Parts;
use http::Request;
use parking_lot::RwLock;
use trent_sigv4::{
    CredentialLookup, Credentials, SecretKey, SigV4Error, Signer, Verified, Verifier,
};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const HOST: &str = "kms.us-east-1.amazonaws.com";
const BODY: &[u8] = br#"{"KeyId":"alias/test","Plaintext":"aGVsbG8="}"#;
/// 2015-08-30T12:36:00Z
const T0: u64 = 1_440_938_160;
const SKEW: Duration = Duration::from_secs(300);

/// Access keys that can be added, rotated and removed while a verifier runs.
#[derive(Default, Clone)]
struct Keys(Arc<RwLock<HashMap<String, Arc<SecretKey>>>>);

impl Keys {
    fn with(akid: &str, secret: &str) -> Self {
        let k = Self::default();
        k.set(akid, secret);
        k
    }
    fn set(&self, akid: &str, secret: &str) {
        self.0
            .write()
            .insert(akid.to_owned(), Arc::new(SecretKey::new(secret)));
    }
    fn remove(&self, akid: &str) {
        self.0.write().remove(akid);
    }
}

impl CredentialLookup for Keys {
    type Principal = String;
    fn lookup(&self, access_key_id: &str) -> Option<(Arc<SecretKey>, String)> {
        let secret = self.0.read().get(access_key_id).cloned()?;
        Some((secret, format!("principal-of-{access_key_id}")))
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn creds(akid: &str, secret: &str, token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: akid.to_owned(),
        secret_access_key: SecretKey::new(secret),
        session_token: token.map(str::to_owned),
    }
}

fn verifier() -> Verifier<Keys> {
    Verifier::new(Keys::with(AKID, SECRET), "kms", SKEW)
}

/// The headers an AWS SDK sends to KMS, less the signature.
const KMS_HEADERS: [(&str, &str); 3] = [
    ("Host", HOST),
    ("Content-Type", "application/x-amz-json-1.1"),
    ("X-Amz-Target", "TrentService.Encrypt"),
];

/// A KMS `Encrypt` request signed by `signer` at `when`.
fn signed(signer: &Signer, when: SystemTime) -> Parts {
    signed_with(signer, &KMS_HEADERS, BODY, when)
}

fn signed_with(signer: &Signer, headers: &[(&str, &str)], body: &[u8], when: SystemTime) -> Parts {
    let mut b = Request::builder().method("POST").uri("/");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    for (n, v) in signer.sign("POST", "/", "", headers, body, when) {
        b = b.header(n, v);
    }
    b.body(()).unwrap().into_parts().0
}

fn kms_signer() -> Signer {
    Signer::new(creds(AKID, SECRET, None), "us-east-1", "kms")
}

/// An unsigned request with the given `Authorization` and `X-Amz-Date`.
fn raw(authorization: Option<&str>, amz_date: Option<&str>) -> Parts {
    let mut b = Request::builder()
        .method("POST")
        .uri("/")
        .header("host", HOST);
    if let Some(a) = authorization {
        b = b.header("authorization", a);
    }
    if let Some(d) = amz_date {
        b = b.header("x-amz-date", d);
    }
    b.body(()).unwrap().into_parts().0
}

fn err(v: &Verifier<Keys>, req: &Parts, body: &[u8], now: SystemTime) -> SigV4Error {
    v.verify(req, body, now).unwrap_err()
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you \
                        provided. Check your AWS Secret Access Key and signing method. Consult the \
                        service documentation for details.";

#[test]
fn round_trip() {
    let v = verifier();
    let req = signed(&kms_signer(), at(T0));
    let ok: Verified<String> = v.verify(&req, BODY, at(T0)).unwrap();
    assert_eq!(ok.principal, format!("principal-of-{AKID}"));
    assert_eq!(ok.access_key_id, AKID);
    assert_eq!(ok.region, "us-east-1");
    assert_eq!(ok.session_token, None);
    // Verifying again hits the signing-key cache and agrees.
    assert_eq!(v.verify(&req, BODY, at(T0)).unwrap(), ok);
}

#[test]
fn session_token_is_signed_and_returned() {
    let v = verifier();
    let signer = Signer::new(
        creds(AKID, SECRET, Some("FQoGZXIvYXdzEXAMPLE")),
        "eu-west-3",
        "kms",
    );
    let req = signed(&signer, at(T0));
    let authorization = req.headers["authorization"].to_str().unwrap();
    assert!(
        authorization.contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"
        ),
        "{authorization}"
    );
    let ok = v.verify(&req, BODY, at(T0)).unwrap();
    assert_eq!(ok.session_token.as_deref(), Some("FQoGZXIvYXdzEXAMPLE"));
    assert_eq!(ok.region, "eu-west-3");
    // The token is signed: swapping it breaks the signature.
    let mut forged = req.clone();
    forged
        .headers
        .insert("x-amz-security-token", "another-token".parse().unwrap());
    assert_eq!(err(&v, &forged, BODY, at(T0)).message(), MISMATCH);
}

#[test]
fn clock_skew_window_both_ways() {
    let v = verifier();
    let req = signed(&kms_signer(), at(T0));
    // Exactly at the edges: accepted.
    assert!(v.verify(&req, BODY, at(T0 + 300)).is_ok());
    assert!(v.verify(&req, BODY, at(T0 - 300)).is_ok());
    // Sub-second server time does not move the edge.
    assert!(v
        .verify(&req, BODY, at(T0 + 300) + Duration::from_millis(999))
        .is_ok());

    // One second past: the request is too old.
    let e = err(&v, &req, BODY, at(T0 + 301));
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z \
         (20150830T124101Z - 5 min.)"
    );
    // One second before: the request is from the future.
    let e = err(&v, &req, BODY, at(T0 - 301));
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z \
         (20150830T123059Z + 5 min.)"
    );
    // The examples of the AWS documentation.
    assert_eq!(
        err(&v, &req, BODY, at(T0 + 600)).message(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z \
         (20150830T124600Z - 5 min.)"
    );
    let future = signed(&kms_signer(), at(T0 + 1800));
    assert_eq!(
        err(&v, &future, BODY, at(T0 + 900)).message(),
        "Signature not yet current: 20150830T130600Z is still later than 20150830T125600Z \
         (20150830T125100Z + 5 min.)"
    );
    // The skew check comes before the credential lookup.
    let unknown = signed(
        &Signer::new(creds("AKIDUNKNOWN", SECRET, None), "us-east-1", "kms"),
        at(T0),
    );
    assert_eq!(
        err(&v, &unknown, BODY, at(T0 + 301)).code(),
        "InvalidSignatureException"
    );
}

#[test]
fn unsigned_headers_are_ignored_signed_ones_are_not() {
    let v = verifier();
    let req = signed(&kms_signer(), at(T0));

    let mut extra = req.clone();
    extra
        .headers
        .insert("user-agent", "added-by-a-proxy".parse().unwrap());
    extra
        .headers
        .insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
    assert!(v.verify(&extra, BODY, at(T0)).is_ok());

    let mut modified = req.clone();
    modified
        .headers
        .insert("x-amz-target", "TrentService.Decrypt".parse().unwrap());
    let e = err(&v, &modified, BODY, at(T0));
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(e.message(), MISMATCH);

    // A second value for a single-valued signed header is refused as such.
    let mut doubled = req.clone();
    doubled
        .headers
        .append("content-type", "text/plain".parse().unwrap());
    assert_eq!(
        err(&v, &doubled, BODY, at(T0)).message(),
        "'content-type' must appear at most once in the request."
    );
    // For other headers, it changes their canonical form.
    let mut doubled = signed_with(
        &kms_signer(),
        &[KMS_HEADERS.as_slice(), &[("X-Custom", "v")]].concat(),
        BODY,
        at(T0),
    );
    doubled.headers.append("x-custom", "w".parse().unwrap());
    assert_eq!(err(&v, &doubled, BODY, at(T0)).message(), MISMATCH);

    // Whitespace around a signed value is canonicalized away.
    let mut spaced = req.clone();
    spaced
        .headers
        .insert("x-amz-target", "  TrentService.Encrypt  ".parse().unwrap());
    assert!(v.verify(&spaced, BODY, at(T0)).is_ok());
}

#[test]
fn a_signed_header_missing_from_the_request_fails() {
    let v = verifier();
    let mut headers = KMS_HEADERS.to_vec();
    headers.push(("X-Custom", "v"));
    let req = signed_with(&kms_signer(), &headers, BODY, at(T0));
    assert!(v.verify(&req, BODY, at(T0)).is_ok());
    let mut stripped = req.clone();
    stripped.headers.remove("x-custom");
    assert_eq!(err(&v, &stripped, BODY, at(T0)).message(), MISMATCH);
}

#[test]
fn body_is_covered() {
    let v = verifier();
    let req = signed(&kms_signer(), at(T0));
    let e = err(
        &v,
        &req,
        br#"{"KeyId":"alias/other","Plaintext":"aGVsbG8="}"#,
        at(T0),
    );
    assert_eq!(e.message(), MISMATCH);
    assert_eq!(err(&v, &req, b"", at(T0)).message(), MISMATCH);
}

#[test]
fn declared_payload_hash_must_be_the_body_hash() {
    let v = verifier();
    let other_hash = "f8a6f2a3ef4bf7e8f29ddcbea36a4b59b4a0b45ab8fad5d7d45bdc7de6c9a2c0";
    // A correct declaration, signed.
    let real = hex_sha256(BODY);
    let mut headers = KMS_HEADERS.to_vec();
    headers.push(("X-Amz-Content-Sha256", &real));
    let req = signed_with(&kms_signer(), &headers, BODY, at(T0));
    assert!(v.verify(&req, BODY, at(T0)).is_ok());
    // A signed declaration that is not the body's: the signature over the
    // declaration is right, but the body is not what was signed.
    for declared in [other_hash, "UNSIGNED-PAYLOAD"] {
        let mut headers = KMS_HEADERS.to_vec();
        headers.push(("X-Amz-Content-Sha256", declared));
        let req = signed_with(&kms_signer(), &headers, BODY, at(T0));
        assert_eq!(
            err(&v, &req, BODY, at(T0)).message(),
            MISMATCH,
            "{declared}"
        );
    }
}

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

#[test]
fn any_valid_region_is_accepted() {
    let v = verifier();
    for region in ["us-east-1", "eu-central-2", "ap-southeast-4", "local"] {
        let s = Signer::new(creds(AKID, SECRET, None), region, "kms");
        let ok = v.verify(&signed(&s, at(T0)), BODY, at(T0)).unwrap();
        assert_eq!(ok.region, region);
    }
    let s = Signer::new(creds(AKID, SECRET, None), "US_EAST_1", "kms");
    let e = err(&v, &signed(&s, at(T0)), BODY, at(T0));
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "Credential should be scoped to a valid region. "
    );
}

#[test]
fn wrong_service() {
    let v = verifier();
    let s = Signer::new(creds(AKID, SECRET, None), "us-east-1", "dynamodb");
    let e = err(&v, &signed(&s, at(T0)), BODY, at(T0));
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "Credential should be scoped to correct service: 'kms'. "
    );
}

#[test]
fn wrong_secret() {
    let v = verifier();
    let s = Signer::new(
        creds(AKID, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEY", None),
        "us-east-1",
        "kms",
    );
    let e = err(&v, &signed(&s, at(T0)), BODY, at(T0));
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(e.message(), MISMATCH);
}

#[test]
fn unknown_access_key() {
    let v = verifier();
    let s = Signer::new(creds("AKIDNOTKNOWN", SECRET, None), "us-east-1", "kms");
    let e = err(&v, &signed(&s, at(T0)), BODY, at(T0));
    assert_eq!(e.code(), "UnrecognizedClientException");
    assert_eq!(
        e.message(),
        "The security token included in the request is invalid."
    );
    // Even with a garbage signature, the unknown key is what is reported.
    let req = raw(
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDNOTKNOWN/20150830/us-east-1/kms/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=00",
        ),
        Some("20150830T123600Z"),
    );
    assert_eq!(
        err(&v, &req, b"", at(T0)).code(),
        "UnrecognizedClientException"
    );
}

#[test]
fn keys_added_rotated_and_removed_take_effect_at_once() {
    let keys = Keys::default();
    let v = Verifier::new(keys.clone(), "kms", SKEW);
    let req = signed(&kms_signer(), at(T0));
    // Unknown first: refused, and nothing is cached for this scope...
    assert_eq!(
        err(&v, &req, BODY, at(T0)).code(),
        "UnrecognizedClientException"
    );
    // ...so the key works as soon as it exists.
    keys.set(AKID, SECRET);
    assert!(v.verify(&req, BODY, at(T0)).is_ok());
    // Rotation: the old secret's derived key must not be reused.
    keys.set(AKID, "a-brand-new-secret-access-key-000000000000");
    assert_eq!(err(&v, &req, BODY, at(T0)).message(), MISMATCH);
    let rotated = Signer::new(
        creds(AKID, "a-brand-new-secret-access-key-000000000000", None),
        "us-east-1",
        "kms",
    );
    assert!(v.verify(&signed(&rotated, at(T0)), BODY, at(T0)).is_ok());
    // Removal (or deactivation).
    keys.remove(AKID);
    assert_eq!(
        err(&v, &signed(&rotated, at(T0)), BODY, at(T0)).code(),
        "UnrecognizedClientException"
    );
}

#[test]
fn missing_authorization() {
    let v = verifier();
    let e = err(&v, &raw(None, Some("20150830T123600Z")), b"", at(T0));
    assert_eq!(e.code(), "MissingAuthenticationTokenException");
    assert_eq!(e.message(), "Missing Authentication Token");
    // A presigned query string is not an alternative.
    let (req, ()) = Request::builder()
        .uri(
            "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fkms%2Faws4_request\
             &X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
        )
        .header("host", HOST)
        .body(())
        .unwrap()
        .into_parts();
    assert_eq!(
        err(&v, &req, b"", at(T0)).code(),
        "MissingAuthenticationTokenException"
    );
}

#[test]
fn missing_header_parts() {
    let v = verifier();
    let cred = "Credential=AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/kms/aws4_request";
    let cases = [
        (
            format!("AWS4-HMAC-SHA256 {cred}"),
            true,
            "Authorization header requires 'Signature' parameter. Authorization header requires \
             'SignedHeaders' parameter.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host;x-amz-date"),
            true,
            "Authorization header requires 'Signature' parameter.",
        ),
        (
            "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abcd".to_owned(),
            true,
            "Authorization header requires 'Credential' parameter.",
        ),
        (
            format!("AWS4-HMAC-SHA256 {cred}, SignedHeaders=host;x-amz-date, Signature=abcd"),
            false,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ),
        (
            "Basic dXNlcjpwYXNzd29yZA==".to_owned(),
            false,
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ),
        (
            String::new(),
            true,
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter.",
        ),
    ];
    for (header, with_date, expected) in cases {
        let req = raw(Some(&header), with_date.then_some("20150830T123600Z"));
        let e = err(&v, &req, b"", at(T0));
        assert_eq!(e.code(), "IncompleteSignatureException", "{header}");
        // AWS appends `Authorization=` and the header as sent: never here, as
        // the header may be another scheme's credential.
        assert_eq!(e.message(), expected);
        assert!(!e.message().contains("dXNlcjpwYXNzd29yZA"));
        // The same from the development switch's check.
        assert_eq!(v.check_unsigned(&req, at(T0)).unwrap_err(), e);
    }

    let header = "AWS4-HMAC-SHA256 Credential= AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=ab";
    let e = err(
        &v,
        &raw(Some(header), Some("20150830T123600Z")),
        b"",
        at(T0),
    );
    assert_eq!(e.code(), "IncompleteSignatureException");
    assert_eq!(
        e.message(),
        "A parameter of the Authorization header is not a valid key=value pair (missing \
         equal-sign)."
    );
    // A bearer token is not answered back.
    let e = err(
        &v,
        &raw(Some("Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0"), None),
        b"",
        at(T0),
    );
    assert_eq!(e.code(), "IncompleteSignatureException");
    assert!(!e.message().contains("eyJhbGciOiJIUzI1NiJ9"), "{e}");
}

#[test]
fn missing_x_amz_date_and_date() {
    let v = verifier();
    let mut req = signed(&kms_signer(), at(T0));
    req.headers.remove("x-amz-date");
    let e = err(&v, &req, BODY, at(T0));
    assert_eq!(e.code(), "IncompleteSignatureException");
    assert_eq!(
        e.message(),
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    );
}

#[test]
fn malformed_date() {
    let v = verifier();
    let header = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab";
    for bad in ["2015-08-30T12:36:00Z", "201", "20150830T123600"] {
        let e = err(&v, &raw(Some(header), Some(bad)), b"", at(T0));
        assert_eq!(e.code(), "IncompleteSignatureException");
        assert_eq!(
            e.message(),
            "Date must be in ISO-8601 'basic format'. See http://en.wikipedia.org/wiki/ISO_8601"
        );
    }
}

#[test]
fn host_must_be_signed() {
    let v = verifier();
    let header = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=x-amz-date, Signature=ab";
    let e = err(
        &v,
        &raw(Some(header), Some("20150830T123600Z")),
        b"",
        at(T0),
    );
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );
    // Case does not matter for that check.
    let header = "AWS4-HMAC-SHA256 Credential=NOPE/20150830/us-east-1/kms/aws4_request, SignedHeaders=Host;x-amz-date, Signature=ab";
    assert_eq!(
        err(
            &v,
            &raw(Some(header), Some("20150830T123600Z")),
            b"",
            at(T0)
        )
        .code(),
        "UnrecognizedClientException"
    );
}

#[test]
fn unsupported_algorithm() {
    let v = verifier();
    let header = "AWS4-HMAC-SHA512 Credential=AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab";
    let e = err(
        &v,
        &raw(Some(header), Some("20150830T123600Z")),
        b"",
        at(T0),
    );
    assert_eq!(e.code(), "IncompleteSignatureException");
    assert_eq!(
        e.message(),
        "Unsupported AWS 'algorithm' (only AWS4-HMAC-SHA256 for now)."
    );
}

#[test]
fn malformed_credential_and_scope() {
    let v = verifier();
    let with = |credential: &str| {
        format!(
            "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, Signature=ab"
        )
    };
    let e = err(
        &v,
        &raw(
            Some(&with("AKID/20150830/us-east-1/kms")),
            Some("20150830T123600Z"),
        ),
        b"",
        at(T0),
    );
    assert_eq!(e.code(), "IncompleteSignatureException");
    assert_eq!(
        e.message(),
        "Credential must have exactly 5 slash-delimited elements, e.g. \
         keyid/date/region/service/term"
    );

    let e = err(
        &v,
        &raw(
            Some(&with("AKID/20150829/us-east-1/kms/aws4_request")),
            Some("20150830T123600Z"),
        ),
        b"",
        at(T0),
    );
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
         HTTP: '20150830', from '20150830T123600Z'."
    );

    let e = err(
        &v,
        &raw(Some(&with("AKID/b/C/d/e")), Some("20150830T123600Z")),
        b"",
        at(T0),
    );
    assert_eq!(
        e.message(),
        "Credential should be scoped to a valid region. Credential should be scoped to \
         correct service: 'kms'. Credential should be scoped with a valid terminator: \
         'aws4_request'. Date in Credential scope does not match YYYYMMDD from \
         ISO-8601 version of date from HTTP: '20150830', from '20150830T123600Z'."
    );
}

#[test]
fn check_unsigned_parses_without_looking_up() {
    let v = Verifier::new(Keys::default(), "kms", SKEW);
    let signer = Signer::new(
        creds("ANYKEY", "any-secret", Some("tok")),
        "ap-south-2",
        "kms",
    );
    let req = signed(&signer, at(T0));
    let a = v.check_unsigned(&req, at(T0 + 10)).unwrap();
    assert_eq!(a.access_key_id, "ANYKEY");
    assert_eq!(a.date, "20150830");
    assert_eq!(a.region, "ap-south-2");
    assert_eq!(a.service, "kms");
    assert_eq!(
        a.signed_headers,
        [
            "content-type",
            "host",
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-target"
        ]
    );
    assert_eq!(a.signature.len(), 64);
    assert_eq!(a.amz_date, "20150830T123600Z");
    assert_eq!(a.session_token.as_deref(), Some("tok"));
    // The skew window still applies.
    assert_eq!(
        v.check_unsigned(&req, at(T0 + 301)).unwrap_err().code(),
        "InvalidSignatureException"
    );
    // And full verification fails for the unknown key.
    assert_eq!(
        err(&v, &req, BODY, at(T0)).code(),
        "UnrecognizedClientException"
    );
}

#[test]
fn host_from_the_uri_authority_as_in_http2() {
    let v = verifier();
    let signer = kms_signer();
    let headers = [
        ("host", HOST),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    let mut b = Request::builder()
        .method("POST")
        .uri(format!("https://{HOST}/"))
        .header("content-type", "application/x-amz-json-1.1");
    for (n, val) in signer.sign("POST", "/", "", &headers, BODY, at(T0)) {
        b = b.header(n, val);
    }
    let (req, ()) = b.body(()).unwrap().into_parts();
    assert!(req.headers.get("host").is_none());
    assert!(v.verify(&req, BODY, at(T0)).is_ok());
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let v = verifier();
    let signer = kms_signer();
    let _ = v.verify(&signed(&signer, at(T0)), BODY, at(T0)).unwrap();
    for text in [format!("{v:?}"), format!("{signer:?}")] {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains("bPxRfiCY"), "{text}");
    }
}

/// Signer and verifier agree on a declared payload hash with surrounding whitespace
/// (canonical header values are trimmed on both sides); found by the robustness tests.
#[test]
fn a_padded_declared_payload_hash_verifies() {
    let v = verifier();
    let body = b"{}";
    // SHA-256 of "{}".
    let hash = " 44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a ";
    let headers = [("Host", HOST), ("X-Amz-Content-Sha256", hash)];
    let req = signed_with(&kms_signer(), &headers, body, at(T0));
    assert!(v.verify(&req, body, at(T0)).is_ok());
    // The declared hash must still be the body's.
    assert_eq!(err(&v, &req, b"{ }", at(T0)).message(), MISMATCH);
}
