//! Property-based robustness of SigV4 verification: the stable-toolchain stand-in for
//! fuzz targets. The `Authorization` and date headers are whatever a client sends, so:
//!
//! - `Verifier::verify` and `Verifier::check_unsigned` never panic, on random header
//!   bytes or on near misses of a real header (parameters dropped, reordered, repeated,
//!   mis-separated, mis-cased; credential scopes with elements missing or wrong);
//! - every refusal is one of AWS's four authentication error types, with a message;
//! - `verify` refuses whatever `check_unsigned` refuses, with the same error;
//! - a request signed by `Signer` verifies, and stops verifying as soon as one signed
//!   header's canonical value or the body changes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::request::Parts;
use http::{HeaderName, HeaderValue, Request};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use trent_sigv4::{CredentialLookup, Credentials, SecretKey, SigV4Error, Signer, Verifier};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const HOST: &str = "kms.us-east-1.amazonaws.com";
/// 2015-08-30T12:36:00Z
const T0: u64 = 1_440_938_160;
const DATE: &str = "20150830";
const AMZ_DATE: &str = "20150830T123600Z";
const SKEW: Duration = Duration::from_secs(300);

const CODES: [&str; 4] = [
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "UnrecognizedClientException",
];

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

/// One known access key.
struct Keys(HashMap<String, Arc<SecretKey>>);

impl CredentialLookup for Keys {
    type Principal = String;
    fn lookup(&self, access_key_id: &str) -> Option<(Arc<SecretKey>, String)> {
        let secret = self.0.get(access_key_id).cloned()?;
        Some((secret, format!("principal-of-{access_key_id}")))
    }
}

fn verifier() -> Verifier<Keys> {
    let keys = HashMap::from([(AKID.to_owned(), Arc::new(SecretKey::new(SECRET)))]);
    Verifier::new(Keys(keys), "kms", SKEW)
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

// ---------------------------------------------------------------------------------------
// Header values.

/// Bytes `HeaderValue` accepts: tab, visible ASCII and space, and obs-text (not UTF-8).
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        1 => Just(b'\t'),
        12 => 0x20u8..0x7f,
        2 => 0x80u8..=0xff,
    ]
}

fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(header_byte(), 0..max)
}

fn printable(max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(0x20u8..0x7f, 0..max)
        .prop_map(|b| String::from_utf8(b).unwrap())
        .boxed()
}

/// Visible ASCII without commas: a token AWS's parser keeps whole.
fn token(max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(0x21u8..0x7f, 0..max)
        .prop_map(|b| String::from_utf8(b).unwrap().replace(',', "."))
        .boxed()
}

/// A credential scope element: the right one, a wrong one, or nothing.
fn element(right: &'static str, wrong: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        4 => Just(right.to_owned()),
        2 => select(wrong).prop_map(str::to_owned),
        1 => token(10),
    ]
    .boxed()
}

/// `Credential=` values: five elements in order, or a random subset, permutation or
/// repetition of them, joined by slashes (with stray ones).
fn credential() -> BoxedStrategy<String> {
    let elements = (
        element(AKID, &["AKIDUNKNOWN", "", "akiaiosfodnn7example"]),
        element(DATE, &["20150829", "2015083", "", "99991231", "00000000"]),
        element(
            "us-east-1",
            &["US_EAST_1", "", "-us", "us-", "a", "local", "ü"],
        ),
        element("kms", &["KMS", "dynamodb", ""]),
        element("aws4_request", &["aws4_Request", "aws4", ""]),
    )
        .prop_map(|(a, b, c, d, e)| vec![a, b, c, d, e]);
    prop_oneof![
        3 => elements.clone().prop_map(|e| e.join("/")),
        2 => elements
            .clone()
            .prop_flat_map(|e| prop::sample::subsequence(e, 0..=5))
            .prop_map(|e| e.join("/")),
        2 => elements
            .clone()
            .prop_shuffle()
            .prop_map(|e| e.join("/")),
        1 => (elements, 0usize..4, 0usize..4).prop_map(|(e, lead, trail)| {
            format!("{}{}{}", "/".repeat(lead), e.join("/"), "/".repeat(trail))
        }),
        1 => elements_repeated(),
    ]
    .boxed()
}

/// A scope with one element repeated or left empty.
fn elements_repeated() -> impl Strategy<Value = String> {
    (0usize..5, 0usize..3).prop_map(|(which, times)| {
        let mut e = vec![AKID, DATE, "us-east-1", "kms", "aws4_request"];
        for _ in 0..times {
            e.insert(which, e[which]);
        }
        if times == 0 {
            e[which] = "";
        }
        e.join("/")
    })
}

fn signed_headers() -> BoxedStrategy<String> {
    let names = prop::collection::vec(
        prop_oneof![
            4 => select(vec![
                "host",
                "x-amz-date",
                "content-type",
                "x-amz-target",
                "x-amz-content-sha256",
                "x-amz-security-token",
            ])
            .prop_map(str::to_owned),
            1 => select(vec!["Host", ":authority", "HOST", "", "date", "authorization"])
                .prop_map(str::to_owned),
            1 => token(12),
        ],
        0..6,
    );
    // `host` is listed more often than chance would have it, to get past that check.
    (
        names,
        prop_oneof![
            12 => Just(";"),
            1 => select(vec![",", ";;", " "]),
        ],
        any::<Index>(),
        prop::bool::weighted(0.6),
    )
        .prop_map(|(mut n, sep, at, host)| {
            if host {
                n.insert(at.index(n.len() + 1), "host".to_owned());
            }
            n.join(sep)
        })
        .boxed()
}

fn signature() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 32).prop_map(hex::encode),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(hex::encode),
        1 => prop::collection::vec(any::<u8>(), 32)
            .prop_map(|b| hex::encode(b).to_ascii_uppercase()),
        1 => token(70),
    ]
    .boxed()
}

/// `Name=value`, with the name or the equal sign now and then mangled.
fn parameter(name: &'static str, value: BoxedStrategy<String>) -> BoxedStrategy<String> {
    let key = prop_oneof![
        30 => Just(name.to_owned()),
        1 => Just(name.to_ascii_lowercase()),
        1 => Just(format!("{name} ")),
        1 => token(8),
    ];
    let eq = prop_oneof![
        30 => Just("="),
        1 => select(vec!["==", " =", "= ", ""]),
    ];
    (key, eq, value)
        .prop_map(|(k, e, v)| format!("{k}{e}{v}"))
        .boxed()
}

/// One part of the header: a parameter, an unknown one, or junk.
fn part() -> BoxedStrategy<String> {
    prop_oneof![
        4 => parameter("Credential", credential()),
        4 => parameter("SignedHeaders", signed_headers()),
        4 => parameter("Signature", signature()),
        1 => (token(8), token(8)).prop_map(|(k, v)| format!("{k}={v}")),
        1 => printable(16),
    ]
    .boxed()
}

/// A near miss of a real `Authorization` header: an algorithm, then parts in some
/// order, some missing, some repeated, joined by assorted separators.
fn structured_authorization() -> BoxedStrategy<Vec<u8>> {
    let algorithm = prop_oneof![
        6 => Just("AWS4-HMAC-SHA256".to_owned()),
        1 => select(vec!["AWS4-HMAC-SHA512", "aws4-hmac-sha256", "Basic", "AWS", ""])
            .prop_map(str::to_owned),
        1 => printable(20),
    ];
    // Mostly the three parameters, a random subset of them kept, with a few other parts
    // (repeats included); sometimes any parts at all. Then shuffled.
    let three = (
        parameter("Credential", credential()),
        parameter("SignedHeaders", signed_headers()),
        parameter("Signature", signature()),
    )
        .prop_map(|(c, h, s)| vec![c, h, s]);
    let parts = prop_oneof![
        2 => (
            three.prop_flat_map(|v| prop::sample::subsequence(v, 0..=3)),
            prop::collection::vec(part(), 0..3),
        )
            .prop_map(|(mut kept, extra)| {
                kept.extend(extra);
                kept
            }),
        5 => (
            parameter("Credential", credential()),
            parameter("SignedHeaders", signed_headers()),
            parameter("Signature", signature()),
        )
            .prop_map(|(c, h, s)| vec![c, h, s]),
        1 => prop::collection::vec(part(), 0..6),
    ]
    .prop_shuffle();
    let separators = prop::collection::vec(
        prop_oneof![
            16 => select(vec![", ", ","]),
            1 => select(vec![" ", "  ,  ", "\t", ";", ""]),
        ],
        6,
    );
    (
        algorithm,
        prop_oneof![
            8 => Just(" "),
            1 => select(vec!["  ", "\t", ",", ""]),
        ],
        parts,
        separators,
        select(vec!["", "", " ", ",", "\t"]),
    )
        .prop_map(|(algorithm, after, parts, seps, trailing)| {
            let mut h = algorithm;
            h.push_str(after);
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    h.push_str(seps[i % seps.len()]);
                }
                h.push_str(p);
            }
            h.push_str(trailing);
            h.into_bytes()
        })
        .boxed()
}

/// A well-formed header of the known key, for the right day, with a random signature:
/// it reaches the signature check.
fn well_formed_authorization() -> BoxedStrategy<Vec<u8>> {
    (
        signature(),
        select(vec![
            "host;x-amz-date",
            "host",
            "Host;x-amz-date;x-amz-target",
        ]),
    )
        .prop_map(|(sig, signed)| {
            format!(
                "AWS4-HMAC-SHA256 Credential={AKID}/{DATE}/us-east-1/kms/aws4_request, \
                 SignedHeaders={signed}, Signature={sig}"
            )
            .into_bytes()
        })
        .boxed()
}

fn authorization() -> BoxedStrategy<Option<Vec<u8>>> {
    prop::option::weighted(
        0.95,
        prop_oneof![
            2 => header_bytes(200),
            5 => structured_authorization(),
            1 => well_formed_authorization(),
        ],
    )
    .boxed()
}

/// `X-Amz-Date` values: the request time, times near it, well-shaped nonsense, anything.
fn amz_date() -> BoxedStrategy<Option<Vec<u8>>> {
    prop::option::weighted(
        0.9,
        prop_oneof![
            3 => Just(AMZ_DATE.to_owned()),
            2 => (0u64..2000).prop_map(|d| format_amz(T0 - 1000 + d)),
            2 => "[0-9]{8}T[0-9]{6}Z",
            1 => select(vec![
                "20150230T123600Z",
                "20150830T240000Z",
                "20150830T236000Z",
                "20150830T123660Z",
                "00000101T000000Z",
                "99991231T235959Z",
                "20160229T000000Z",
                "20150830t123600z",
                "2015-08-30T12:36:00Z",
                " 20150830T123600Z",
                "20150830T123600",
                "",
            ])
            .prop_map(str::to_owned),
            1 => printable(20),
        ]
        .prop_map(String::into_bytes)
        .boxed(),
    )
    .boxed()
}

/// `Date` values (used when `X-Amz-Date` is absent).
fn http_date() -> BoxedStrategy<Option<Vec<u8>>> {
    prop::option::weighted(
        0.3,
        prop_oneof![
            2 => Just("Sun, 30 Aug 2015 12:36:00 GMT".to_owned()),
            1 => Just("Xyz, 30 Aug 2015 12:36:00 GMT".to_owned()),
            1 => Just("Sun, 31 Feb 2015 12:36:00 GMT".to_owned()),
            1 => Just("Sun, 30 Aug 2015 12:36:00 GMT  ".to_owned()),
            1 => "[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
            1 => printable(32),
        ]
        .prop_map(String::into_bytes),
    )
    .boxed()
}

/// The server's clock: at the request time, near it, or anywhere (before 1970 and
/// after 9999 included).
fn now() -> impl Strategy<Value = SystemTime> {
    prop_oneof![
        4 => Just(at(T0)),
        2 => (0u64..1400).prop_map(|d| at(T0 - 700 + d)),
        1 => (0u64..600_000_000_000).prop_map(|s| UNIX_EPOCH + Duration::from_secs(s)),
        1 => (0u64..100_000_000_000).prop_map(|s| UNIX_EPOCH - Duration::from_secs(s)),
        1 => (0u32..1_000_000_000).prop_map(|n| at(T0) + Duration::from_nanos(u64::from(n))),
    ]
}

/// `YYYYMMDDTHHMMSSZ` of epoch seconds (years 1970 to 9999).
fn format_amz(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap();
    let sod = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// A request with these (raw) headers.
fn request(
    authorization: Option<&[u8]>,
    amz_date: Option<&[u8]>,
    date: Option<&[u8]>,
    token: Option<&[u8]>,
) -> Parts {
    let mut parts = Request::builder()
        .method("POST")
        .uri("/")
        .header("host", HOST)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "TrentService.Encrypt")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    for (name, value) in [
        ("authorization", authorization),
        ("x-amz-date", amz_date),
        ("date", date),
        ("x-amz-security-token", token),
    ] {
        if let Some(v) = value {
            parts.headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
    }
    parts
}

/// What every refusal must look like.
fn check_error(e: &SigV4Error) -> Result<(), TestCaseError> {
    prop_assert!(CODES.contains(&e.code()), "{:?}", e);
    prop_assert!(!e.message().is_empty(), "{:?}", e);
    prop_assert_eq!(e.message(), e.to_string());
    prop_assert_eq!(e.http_status(), 400);
    Ok(())
}

/// Runs both entry points on `req`; checks every refusal and their agreement.
fn check_request(
    v: &Verifier<Keys>,
    req: &Parts,
    body: &[u8],
    now: SystemTime,
) -> Result<(), TestCaseError> {
    let unsigned = v.check_unsigned(req, now);
    let verified = v.verify(req, body, now);
    if let Err(e) = &unsigned {
        check_error(e)?;
        // Full verification refuses the same request with the same error.
        prop_assert_eq!(verified.as_ref().err(), Some(e));
    }
    match &verified {
        Err(e) => check_error(e)?,
        // No random header carries a valid signature.
        Ok(ok) => prop_assert!(false, "a forged request verified: {:?}", ok),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn arbitrary_authorization_never_panics(
        auth in authorization(),
        amz in amz_date(),
        date in http_date(),
        token in prop::option::weighted(0.2, header_bytes(40)),
        body in prop::collection::vec(any::<u8>(), 0..32),
        now in now(),
    ) {
        let v = verifier();
        let req = request(auth.as_deref(), amz.as_deref(), date.as_deref(), token.as_deref());
        check_request(&v, &req, &body, now)?;
    }

    /// The same near misses at the right time, so that the checks after the date's
    /// (host signed, algorithm, credential scope, access key, signature) are reached.
    #[test]
    fn near_misses_at_the_right_time(
        auth in prop_oneof![4 => structured_authorization(), 1 => well_formed_authorization()],
        body in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let v = verifier();
        let req = request(Some(&auth), Some(AMZ_DATE.as_bytes()), None, None);
        check_request(&v, &req, &body, at(T0))?;
    }

    #[test]
    fn arbitrary_header_bytes_never_panic(
        auth in header_bytes(300),
        amz in header_bytes(24),
        now in now(),
    ) {
        let v = verifier();
        check_request(&v, &request(Some(&auth), Some(&amz), None, None), b"", now)?;
    }
}

// ---------------------------------------------------------------------------------------
// Signed requests.

/// Header names a test request may add: none the signer or verifier treats specially.
fn extra_name() -> impl Strategy<Value = String> {
    "x-[a-z0-9-]{1,12}".prop_filter("not a SigV4 header", |n| {
        !matches!(
            n.as_str(),
            "x-amz-date" | "x-amz-security-token" | "x-amz-content-sha256"
        )
    })
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => printable(24),
        1 => "[ \t]{0,2}[a-z]{0,3}[ \t]{0,3}[a-z]{0,3}[ \t]{0,2}",
    ]
}

/// The SigV4 canonical form of a header value: trimmed, runs of blanks collapsed.
fn trimall(value: &[u8]) -> Vec<u8> {
    value
        .split(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(&b' ')
}

/// The canonical value of every instance of a header, joined as the signature sees them.
fn canonical(req: &Parts, name: &str) -> Vec<u8> {
    req.headers
        .get_all(name)
        .iter()
        .map(|v| trimall(v.as_bytes()))
        .collect::<Vec<_>>()
        .join(&b',')
}

#[derive(Debug, Clone)]
struct Signed {
    parts: Parts,
    body: Vec<u8>,
    when: SystemTime,
    signed_headers: Vec<String>,
}

/// Paths as sent on the wire: `/` (KMS's), or segments with dots and escapes.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("/".to_owned()),
        1 => "(/([A-Za-z0-9_~-]{0,6}|%[0-9A-F]{2}|\\.|\\.\\.)){1,4}/?",
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(String::new()),
        1 => "[A-Za-z0-9._~-]{1,5}(=[A-Za-z0-9._~%-]{0,5})?(&[A-Za-z0-9._~-]{0,5}=[A-Za-z0-9._~-]{0,5}){0,3}",
    ]
}

fn signed_request() -> impl Strategy<Value = Signed> {
    (
        prop::collection::vec((extra_name(), header_value()), 0..4),
        prop::collection::vec(any::<u8>(), 0..128),
        0u64..100_000_000,
        prop::option::of("[A-Za-z0-9/+=]{1,40}"),
        select(vec!["us-east-1", "eu-west-3", "local"]),
        // A declared payload hash (the body's), signed like any header.
        prop::bool::weighted(0.25),
        (path(), query()),
    )
        .prop_map(
            |(extra, body, offset, token, region, declare_hash, (path, query))| {
                let when = at(T0 + offset);
                let hash =
                    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body));
                let mut headers: Vec<(&str, &str)> = vec![
                    ("Host", HOST),
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("X-Amz-Target", "TrentService.Encrypt"),
                ];
                if declare_hash {
                    headers.push(("X-Amz-Content-Sha256", &hash));
                }
                headers.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
                let signer = Signer::new(
                    Credentials {
                        access_key_id: AKID.to_owned(),
                        secret_access_key: SecretKey::new(SECRET),
                        session_token: token,
                    },
                    region,
                    "kms",
                );
                let uri = if query.is_empty() {
                    path.clone()
                } else {
                    format!("{path}?{query}")
                };
                let mut b = Request::builder().method("POST").uri(uri);
                for (n, v) in &headers {
                    b = b.header(*n, *v);
                }
                for (n, v) in signer.sign("POST", &path, &query, &headers, &body, when) {
                    b = b.header(n, v);
                }
                let parts = b.body(()).unwrap().into_parts().0;
                let auth = parts.headers["authorization"].to_str().unwrap();
                let list = auth
                    .split("SignedHeaders=")
                    .nth(1)
                    .and_then(|rest| rest.split(',').next())
                    .unwrap();
                let signed_headers = list.split(';').map(str::to_owned).collect();
                Signed {
                    parts,
                    body,
                    when,
                    signed_headers,
                }
            },
        )
}

/// How one signed header is changed.
#[derive(Debug, Clone)]
enum HeaderChange {
    Replace(String),
    Remove,
    AppendValue(String),
}

fn header_change() -> impl Strategy<Value = HeaderChange> {
    prop_oneof![
        4 => header_value().prop_map(HeaderChange::Replace),
        1 => Just(HeaderChange::Remove),
        1 => header_value().prop_map(HeaderChange::AppendValue),
    ]
}

/// A body different from `body`, or the same one when the edit cancels out.
#[derive(Debug, Clone)]
enum BodyChange {
    Flip(Index, u8),
    Truncate(Index),
    Extend(Vec<u8>),
    Replace(Vec<u8>),
}

fn body_change() -> impl Strategy<Value = BodyChange> {
    prop_oneof![
        3 => (any::<Index>(), 1u8..=255).prop_map(|(i, m)| BodyChange::Flip(i, m)),
        1 => any::<Index>().prop_map(BodyChange::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(BodyChange::Extend),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(BodyChange::Replace),
    ]
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn signed_requests_verify(s in signed_request(), drift in 0u64..600) {
        let v = verifier();
        let now = s.when - SKEW + Duration::from_secs(drift);
        let ok = v.verify(&s.parts, &s.body, now);
        prop_assert!(ok.is_ok(), "{:?}", ok);
        prop_assert!(v.check_unsigned(&s.parts, now).is_ok());
    }

    #[test]
    fn a_changed_signed_header_is_rejected(
        s in signed_request(),
        pick in any::<Index>(),
        change in header_change(),
    ) {
        let v = verifier();
        prop_assert!(v.verify(&s.parts, &s.body, s.when).is_ok());
        let name = s.signed_headers[pick.index(s.signed_headers.len())].clone();
        let header = HeaderName::from_bytes(name.as_bytes()).unwrap();
        let mut changed = s.parts.clone();
        match &change {
            HeaderChange::Replace(value) => {
                changed.headers.insert(header, HeaderValue::from_str(value).unwrap());
            }
            HeaderChange::Remove => {
                changed.headers.remove(&header);
            }
            HeaderChange::AppendValue(value) => {
                changed.headers.append(header, HeaderValue::from_str(value).unwrap());
            }
        }
        let result = v.verify(&changed, &s.body, s.when);
        let same_canonical = canonical(&changed, &name) == canonical(&s.parts, &name)
            && changed.headers.contains_key(&name);
        if name == "x-amz-date" {
            // The date is parsed as sent: only the very same value is sure to pass.
            let same = changed.headers.get_all(&name).iter().eq(s.parts.headers.get_all(&name));
            if same {
                prop_assert!(result.is_ok(), "{:?}", result);
            } else if !same_canonical {
                let e = result.err();
                prop_assert!(e.is_some(), "{} changed to {:?} still verifies", name, change);
                check_error(&e.unwrap())?;
            } else if let Err(e) = &result {
                check_error(e)?;
            }
        } else if matches!(change, HeaderChange::AppendValue(_))
            && (matches!(name.as_str(), "host" | "date" | "content-type") || name.starts_with("x-amz-"))
        {
            // A second value of a single-valued header is refused as such.
            prop_assert_eq!(
                result.err(),
                Some(SigV4Error::DuplicateHeader { name: name.clone() })
            );
        } else if same_canonical {
            // Whitespace only: the signature covers the canonical value.
            prop_assert!(result.is_ok(), "{:?}", result);
        } else {
            prop_assert_eq!(
                result.err(),
                Some(SigV4Error::SignatureMismatch),
                "{} changed to {:?}",
                name,
                change
            );
        }
    }

    #[test]
    fn a_changed_body_is_rejected(s in signed_request(), change in body_change()) {
        let v = verifier();
        prop_assert!(v.verify(&s.parts, &s.body, s.when).is_ok());
        let mut body = s.body.clone();
        match &change {
            BodyChange::Flip(i, mask) => {
                if body.is_empty() {
                    body.push(*mask);
                } else {
                    let at = i.index(body.len());
                    body[at] ^= mask;
                }
            }
            BodyChange::Truncate(i) => {
                let len = i.index(body.len() + 1);
                body.truncate(len);
            }
            BodyChange::Extend(extra) => body.extend_from_slice(extra),
            BodyChange::Replace(other) => body.clone_from(other),
        }
        let result = v.verify(&s.parts, &body, s.when);
        if body == s.body {
            prop_assert!(result.is_ok(), "{:?}", result);
        } else {
            prop_assert_eq!(result.err(), Some(SigV4Error::SignatureMismatch));
        }
    }
}

#[test]
fn the_date_helper_matches_the_signer() {
    assert_eq!(format_amz(T0), AMZ_DATE);
    assert_eq!(format_amz(0), "19700101T000000Z");
    assert_eq!(format_amz(951_782_400), "20000229T000000Z");
    assert_eq!(format_amz(253_402_300_799), "99991231T235959Z");
}
