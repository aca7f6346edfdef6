//! Server side: verifying a signed request.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::hmac;
use http::header::{AUTHORIZATION, DATE};
use http::request::Parts;
use http::HeaderValue;
use parking_lot::RwLock;
use subtle::ConstantTimeEq;

use crate::amzdate::{format_amz_date, parse_amz_date, parse_http_date, unix_seconds, AmzDate};
use crate::auth::{is_valid_region, parse_params, split_credential};
use crate::canonical::{write_canonical_path, write_canonical_query, write_header_value};
use crate::key::{
    derive_signing_key, sha256_hex, signature_hex, write_string_to_sign, ALGORITHM, TERMINATOR,
};
use crate::{ScopeFaults, SecretKey, SigV4Error};

/// Derived signing keys kept at most; when full, one entry makes room for the
/// next. A key lives one day per (access key, region, service), so this bounds
/// memory without bookkeeping, and re-deriving costs five HMACs. Only a
/// request whose signature verified adds an entry: unknown access keys and bad
/// signatures (forged scopes, say) never take the write lock nor evict a good
/// entry.
const CACHE_LIMIT: usize = 10_000;

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Where the verifier finds the secret of an access key.
pub trait CredentialLookup: Send + Sync {
    /// Whatever the caller wants back for an authenticated request.
    type Principal: Clone + Send + Sync;

    /// The secret and the principal for an access key id; `None` if unknown
    /// (or inactive).
    fn lookup(&self, access_key_id: &str) -> Option<(Arc<SecretKey>, Self::Principal)>;
}

/// The parsed `Authorization` header of a well-formed, timely request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD`, the credential scope's date.
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    /// Lower-case hex, as sent.
    pub signature: String,
    /// The request time, `YYYYMMDD'T'HHMMSS'Z'` (from `X-Amz-Date`, or `Date`
    /// converted).
    pub amz_date: String,
    /// `X-Amz-Security-Token`, when sent.
    pub session_token: Option<String>,
}

/// A request whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<P> {
    pub principal: P,
    pub access_key_id: String,
    /// The region of the credential scope: the one the client addressed.
    pub region: String,
    /// `X-Amz-Security-Token`, when sent; judging it is the caller's business.
    pub session_token: Option<String>,
}

/// Verifies SigV4 `Authorization` headers for one service.
///
/// Safe to share between threads; the signing-key cache is internal.
pub struct Verifier<L: CredentialLookup> {
    lookup: L,
    service: String,
    skew: Duration,
    skew_secs: i64,
    /// Whether a `Content-Type` header must be signed (see [`must_be_signed`]).
    sign_content_type: bool,
    /// S3's canonical URI: the path as sent, neither normalized nor encoded again.
    s3_paths: bool,
    cache: RwLock<HashMap<Box<str>, CachedKey>>,
}

struct CachedKey {
    /// The secret the key was derived from.
    secret: Arc<SecretKey>,
    key: Arc<hmac::Key>,
}

impl CachedKey {
    fn derived_from(&self, secret: &Arc<SecretKey>) -> bool {
        // A rotated secret for the same access key must not reuse the key.
        Arc::ptr_eq(&self.secret, secret) || *self.secret == **secret
    }
}

/// What [`Verifier::check`] established, borrowed from the request.
struct Checked<'a> {
    access_key_id: &'a str,
    key_scope: &'a str,
    date: &'a str,
    region: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
    amz_date: AmzDate,
    session_token: Option<&'a HeaderValue>,
}

impl<L: CredentialLookup> Verifier<L> {
    /// `service` is the signing name (`kms`); `skew` the clock difference
    /// allowed both ways (AWS: 5 minutes).
    pub fn new(lookup: L, service: &str, skew: Duration) -> Self {
        Self {
            lookup,
            service: service.to_owned(),
            skew,
            skew_secs: i64::try_from(skew.as_secs()).unwrap_or(i64::MAX),
            sign_content_type: true,
            s3_paths: false,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Accepts an unsigned `Content-Type` header (every `X-Amz-*` header must still be
    /// signed). For the AWS KMS External Key Store proxy API, whose caller (AWS KMS)
    /// signs `host;x-amz-date` only: there the path names the operation and the signed
    /// payload hash covers the body, so the content type decides nothing.
    pub fn with_unsigned_content_type(mut self) -> Self {
        self.sign_content_type = false;
        self
    }

    /// S3's canonical URI (for the signing name `s3`): the path exactly as sent, neither
    /// normalized nor percent-encoded a second time, as S3 computes it
    /// (<https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>).
    pub fn with_s3_paths(mut self) -> Self {
        self.s3_paths = true;
        self
    }

    /// The credential lookup this verifier was built with.
    pub fn lookup(&self) -> &L {
        &self.lookup
    }

    /// Full verification: everything [`Verifier::check_unsigned`] does, then
    /// the access key and the signature over method, path, query, the signed
    /// headers and `body`.
    ///
    /// An unknown access key is answered `UnrecognizedClientException` at
    /// once, as AWS answers it (a known key with a wrong signature gets
    /// `InvalidSignatureException`): the error tells whether an access key id
    /// exists, as AWS's does, so hashing for unknown keys would hide nothing.
    /// Access key ids are identifiers, not secrets.
    pub fn verify(
        &self,
        req: &Parts,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified<L::Principal>, SigV4Error> {
        self.verify_payload(req, Payload::Body(body), now)
    }

    /// As [`Verifier::verify`], for a request whose body is not at hand: `payload_hash`
    /// (lower-case hex SHA-256, or a literal such as `UNSIGNED-PAYLOAD`) stands for it in
    /// the canonical request. A signed `x-amz-content-sha256` must say the same. Whoever
    /// holds the body checks that it hashes to `payload_hash`; this proves only that the
    /// signer signed a request with that payload hash.
    pub fn verify_prehashed(
        &self,
        req: &Parts,
        payload_hash: &str,
        now: SystemTime,
    ) -> Result<Verified<L::Principal>, SigV4Error> {
        self.verify_payload(req, Payload::Hash(payload_hash), now)
    }

    /// [`Verifier::verify`] or [`Verifier::verify_prehashed`], as `payload` says.
    pub fn verify_payload(
        &self,
        req: &Parts,
        payload: Payload<'_>,
        now: SystemTime,
    ) -> Result<Verified<L::Principal>, SigV4Error> {
        let header = authorization_header(req)?;
        let c = self.check(req, &header, now)?;

        let (secret, principal) = self
            .lookup
            .lookup(c.access_key_id)
            .ok_or(SigV4Error::UnrecognizedClient)?;

        let mut buf = Vec::with_capacity(512);
        let complete =
            write_canonical_request(&mut buf, req, c.signed_headers, payload, self.s3_paths);
        let creq_hash = sha256_hex(&buf);
        buf.clear();
        write_string_to_sign(
            &mut buf,
            c.amz_date.as_str(),
            c.date,
            c.region,
            &self.service,
            &creq_hash,
        );
        let (key, cached) = self.signing_key(&c, &secret);
        let expected = signature_hex(&key, &buf);
        let signature_ok: bool = expected[..].ct_eq(c.signature.as_bytes()).into();
        if !(signature_ok && complete) {
            return Err(SigV4Error::SignatureMismatch);
        }
        if !cached {
            self.remember(&c, secret, key);
        }
        Ok(Verified {
            principal,
            access_key_id: c.access_key_id.to_owned(),
            region: c.region.to_owned(),
            session_token: c.session_token.map(header_string),
        })
    }

    /// Everything but the credential lookup and the signature: the
    /// `Authorization` header is well-formed, the scope's service, region and
    /// date are right, and the request time is within the skew window.
    pub fn check_unsigned(
        &self,
        req: &Parts,
        now: SystemTime,
    ) -> Result<Authorization, SigV4Error> {
        let header = authorization_header(req)?;
        let c = self.check(req, &header, now)?;
        Ok(Authorization {
            access_key_id: c.access_key_id.to_owned(),
            date: c.date.to_owned(),
            region: c.region.to_owned(),
            service: self.service.clone(),
            signed_headers: c.signed_headers.split(';').map(str::to_owned).collect(),
            signature: c.signature.to_owned(),
            amz_date: c.amz_date.as_str().to_owned(),
            session_token: c.session_token.map(header_string),
        })
    }

    /// The checks in the order AWS makes them, so that a request with several
    /// faults gets the error AWS would give.
    fn check<'a>(
        &self,
        req: &'a Parts,
        header: &'a str,
        now: SystemTime,
    ) -> Result<Checked<'a>, SigV4Error> {
        let params = parse_params(header)?;
        let date_header = match req.headers.get(X_AMZ_DATE) {
            Some(v) => Some((v, true)),
            None => req.headers.get(DATE).map(|v| (v, false)),
        };
        let (Some(credential), Some(signed_headers), Some(signature), Some((date_value, is_amz))) = (
            params.credential,
            params.signed_headers,
            params.signature,
            date_header,
        ) else {
            return Err(SigV4Error::MissingParameters {
                credential: params.credential.is_none(),
                signature: params.signature.is_none(),
                signed_headers: params.signed_headers.is_none(),
                date: date_header.is_none(),
            });
        };

        let date_text = String::from_utf8_lossy(date_value.as_bytes());
        let parsed = if is_amz {
            parse_amz_date(&date_text)
        } else {
            parse_http_date(&date_text)
        };
        let request_secs = parsed.ok_or(SigV4Error::InvalidDate {})?;
        let amz_date = format_amz_date(request_secs);

        let now_secs = unix_seconds(now);
        let earliest = now_secs.saturating_sub(self.skew_secs);
        let latest = now_secs.saturating_add(self.skew_secs);
        if request_secs < earliest {
            return Err(SigV4Error::SignatureExpired {
                request_time: amz_date.to_string(),
                earliest: format_amz_date(earliest).to_string(),
                server_time: format_amz_date(now_secs).to_string(),
                skew: self.skew,
            });
        }
        if request_secs > latest {
            return Err(SigV4Error::SignatureNotYetCurrent {
                request_time: amz_date.to_string(),
                latest: format_amz_date(latest).to_string(),
                server_time: format_amz_date(now_secs).to_string(),
                skew: self.skew,
            });
        }

        if !signed_headers
            .split(';')
            .any(|h| h.eq_ignore_ascii_case("host") || h == ":authority")
        {
            return Err(SigV4Error::HostNotSigned);
        }
        check_headers(req, signed_headers, self.sign_content_type)?;

        if params.algorithm != ALGORITHM {
            return Err(SigV4Error::UnsupportedAlgorithm {});
        }

        let parts = split_credential(credential)?;
        let bad_region = !is_valid_region(parts.region);
        let bad_service = parts.service != self.service;
        let bad_terminator = parts.terminator != TERMINATOR;
        let bad_date = parts.date != amz_date.date();
        if bad_region || bad_service || bad_terminator || bad_date {
            return Err(SigV4Error::InvalidScope(Box::new(ScopeFaults {
                region: bad_region,
                service: bad_service.then(|| self.service.clone()),
                terminator: bad_terminator,
                date: bad_date.then(|| (amz_date.date().to_owned(), amz_date.as_str().to_owned())),
            })));
        }

        Ok(Checked {
            access_key_id: parts.access_key_id,
            key_scope: parts.key_scope,
            date: parts.date,
            region: parts.region,
            signed_headers,
            signature,
            amz_date,
            session_token: req.headers.get(X_AMZ_SECURITY_TOKEN),
        })
    }

    /// The derived key for the request's scope, and whether it came from the
    /// cache (it does when it was derived from the same secret). A key derived
    /// here is not cached: see [`Verifier::remember`].
    fn signing_key(&self, c: &Checked<'_>, secret: &Arc<SecretKey>) -> (Arc<hmac::Key>, bool) {
        if let Some(entry) = self.cache.read().get(c.key_scope) {
            if entry.derived_from(secret) {
                return (Arc::clone(&entry.key), true);
            }
        }
        let key = Arc::new(derive_signing_key(secret, c.date, c.region, &self.service));
        (key, false)
    }

    /// Caches the signing key of a request whose signature verified. When the
    /// cache is full, one arbitrary entry makes room: the others stay.
    fn remember(&self, c: &Checked<'_>, secret: Arc<SecretKey>, key: Arc<hmac::Key>) {
        let mut cache = self.cache.write();
        if cache.len() >= CACHE_LIMIT && !cache.contains_key(c.key_scope) {
            if let Some(victim) = cache.keys().next().cloned() {
                cache.remove(&victim);
            }
        }
        cache.insert(c.key_scope.into(), CachedKey { secret, key });
    }
}

impl<L: CredentialLookup> fmt::Debug for Verifier<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("service", &self.service)
            .field("skew", &self.skew)
            .field("cached_keys", &self.cache.read().len())
            .finish_non_exhaustive()
    }
}

fn authorization_header(req: &Parts) -> Result<Cow<'_, str>, SigV4Error> {
    // Query-string (presigned) authentication is not offered: the AWS JSON
    // protocol KMS speaks signs headers only.
    let value = req
        .headers
        .get(AUTHORIZATION)
        .ok_or(SigV4Error::MissingAuthenticationToken)?;
    Ok(String::from_utf8_lossy(value.as_bytes()))
}

/// Whether a header present in the request must be among `SignedHeaders`:
/// `Content-Type`, every `X-Amz-*` header and every `X-Trent-*` header (Trent's own, such
/// as a service's forwarded request). They say what the request is (the
/// operation in `X-Amz-Target`, the session in `X-Amz-Security-Token`, the
/// payload hash, the protocol in `Content-Type`); unsigned, a captured request
/// could be resent within the skew window as another operation. The AWS SDKs
/// sign every header but a few hop-by-hop and tracing ones (`User-Agent`,
/// `X-Amzn-Trace-Id`, `Transfer-Encoding`, `Expect`), none of which is here.
fn must_be_signed(name: &str, sign_content_type: bool) -> bool {
    (sign_content_type && name == "content-type")
        || name.starts_with("x-amz-")
        || name.starts_with("x-trent-")
}

/// Whether a header may appear only once: those the signature check or the
/// protocol reads as one value.
fn must_be_single(name: &str) -> bool {
    matches!(name, "authorization" | "host" | "date" | "content-type") || must_be_signed(name, true)
}

/// Refuses a request with a header that must be signed and is not, or a
/// single-valued header given twice. When several headers are at fault, the
/// first by name is reported, so that the answer does not depend on the order
/// of the map.
fn check_headers(
    req: &Parts,
    signed_headers: &str,
    sign_content_type: bool,
) -> Result<(), SigV4Error> {
    let mut duplicate: Option<&str> = None;
    let mut unsigned: Option<&str> = None;
    // As many values as names: no name has two (no lookup per header then).
    let repeats = req.headers.len() != req.headers.keys_len();
    for name in req.headers.keys() {
        let name = name.as_str();
        if repeats
            && must_be_single(name)
            && req.headers.get_all(name).iter().nth(1).is_some()
            && duplicate.is_none_or(|d| name < d)
        {
            duplicate = Some(name);
        }
        if must_be_signed(name, sign_content_type)
            && !signed_headers
                .split(';')
                .any(|h| h.eq_ignore_ascii_case(name))
            && unsigned.is_none_or(|u| name < u)
        {
            unsigned = Some(name);
        }
    }
    if let Some(name) = duplicate {
        return Err(SigV4Error::DuplicateHeader {
            name: name.to_owned(),
        });
    }
    if let Some(name) = unsigned {
        return Err(SigV4Error::UnsignedHeader {
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn header_string(v: &HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

/// What stands for the body in the canonical request.
#[derive(Clone, Copy, Debug)]
pub enum Payload<'a> {
    /// The body itself, hashed here.
    Body(&'a [u8]),
    /// The body's hash (or a literal), from whoever holds the body.
    Hash(&'a str),
}

/// Writes the canonical request of `req` for the listed headers. Returns
/// `false` when it cannot match any signature: a listed header is absent, or a
/// signed `x-amz-content-sha256` disagrees with the payload.
fn write_canonical_request(
    out: &mut Vec<u8>,
    req: &Parts,
    signed_headers: &str,
    payload: Payload<'_>,
    s3_paths: bool,
) -> bool {
    let mut complete = true;
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b'\n');
    if s3_paths {
        match req.uri.path() {
            "" => out.push(b'/'),
            path => out.extend_from_slice(path.as_bytes()),
        }
    } else {
        write_canonical_path(out, req.uri.path());
    }
    out.push(b'\n');
    write_canonical_query(out, req.uri.query().unwrap_or(""));
    out.push(b'\n');

    let mut declared_payload_hash: Option<&HeaderValue> = None;
    for name in signed_headers.split(';') {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values = req.headers.get_all(name).iter().peekable();
        if values.peek().is_none() {
            let is_host = name.eq_ignore_ascii_case("host") || name == ":authority";
            // HTTP/2 carries the host in the `:authority` pseudo-header, which
            // `http` keeps in the URI.
            match req.uri.authority() {
                Some(authority) if is_host => out.extend_from_slice(authority.as_str().as_bytes()),
                _ => complete = false,
            }
        }
        for (i, value) in values.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_header_value(out, value.as_bytes());
        }
        out.push(b'\n');
        if name.eq_ignore_ascii_case(X_AMZ_CONTENT_SHA256) {
            declared_payload_hash = req.headers.get(X_AMZ_CONTENT_SHA256);
        }
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');

    // The body is hashed once, whether or not the client declared its hash.
    let body_hash;
    let payload_hash: &[u8] = match payload {
        Payload::Body(body) => {
            body_hash = sha256_hex(body);
            &body_hash[..]
        }
        Payload::Hash(hash) => hash.as_bytes(),
    };
    match declared_payload_hash {
        // Signed, the declared hash is what the client signed; it must also be
        // the body's, or an unsigned body (`UNSIGNED-PAYLOAD`) would pass.
        Some(declared) => {
            let declared = declared.as_bytes().trim_ascii();
            out.extend_from_slice(declared);
            complete &= bool::from(declared.ct_eq(payload_hash));
        }
        None => out.extend_from_slice(payload_hash),
    }
    complete
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use http::Request;

    use super::*;
    use crate::canonical::EMPTY_SHA256;
    use crate::key::{derive_signing_key, sha256_hex, signature_hex, write_string_to_sign};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const AT: u64 = 1_440_938_160; // Sun, 30 Aug 2015 12:36:00 GMT

    struct One;

    impl CredentialLookup for One {
        type Principal = ();
        fn lookup(&self, access_key_id: &str) -> Option<(Arc<SecretKey>, ())> {
            (access_key_id == "AKIDEXAMPLE").then(|| (Arc::new(SecretKey::new(SECRET)), ()))
        }
    }

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(AT)
    }

    /// An S3 request as botocore signs it (`S3SigV4Auth`, computed with botocore): the
    /// path as sent is the canonical URI, and the payload is known only by its hash.
    #[test]
    fn s3_paths_and_a_prehashed_payload() {
        struct S3Key;
        impl CredentialLookup for S3Key {
            type Principal = ();
            fn lookup(&self, id: &str) -> Option<(Arc<SecretKey>, ())> {
                (id == "AKIAIOSFODNN7EXAMPLE").then(|| {
                    (
                        Arc::new(SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")),
                        (),
                    )
                })
            }
        }
        let hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let parts = Request::builder()
            .method("PUT")
            .uri("/my-bucket/dir/a%20b%2Bc~d.txt")
            .header("host", "127.0.0.1:9000")
            .header("x-amz-server-side-encryption", "aws:kms")
            .header("x-amz-date", "20261207T112015Z")
            .header("x-amz-content-sha256", hello)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261207/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-server-side-encryption, \
                 Signature=134959a5b83b3d626ba5c00a946db7f37aa541a25e11100160f20ea8f0ba47ad",
            )
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let now = UNIX_EPOCH + Duration::from_secs(1_796_642_415); // 2026-12-07T11:20:15Z
        let s3 = Verifier::new(S3Key, "s3", Duration::from_secs(300)).with_s3_paths();
        assert!(s3.verify_prehashed(&parts, hello, now).is_ok());
        // The body itself, when at hand, verifies the same.
        assert!(s3.verify(&parts, b"hello", now).is_ok());
        // Another payload hash than the signed x-amz-content-sha256 does not.
        assert_eq!(
            s3.verify_prehashed(&parts, EMPTY_SHA256, now),
            Err(SigV4Error::SignatureMismatch)
        );
        // The other services' rule (the path encoded once more) does not match S3's.
        let other = Verifier::new(S3Key, "s3", Duration::from_secs(300));
        assert_eq!(
            other.verify_prehashed(&parts, hello, now),
            Err(SigV4Error::SignatureMismatch)
        );
    }

    /// Without `X-Amz-Date`, the `Date` header dates the request; the string to
    /// sign carries its ISO 8601 basic form.
    #[test]
    fn date_header_instead_of_x_amz_date() {
        let date = "Sun, 30 Aug 2015 12:36:00 GMT";
        let creq = format!(
            "POST\n/\n\ndate:{date}\nhost:kms.us-east-1.amazonaws.com\n\ndate;host\n{EMPTY_SHA256}"
        );
        let mut sts = Vec::new();
        write_string_to_sign(
            &mut sts,
            "20150830T123600Z",
            "20150830",
            "us-east-1",
            "kms",
            &sha256_hex(creq.as_bytes()),
        );
        let key = derive_signing_key(&SecretKey::new(SECRET), "20150830", "us-east-1", "kms");
        let signature = signature_hex(&key, &sts);
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, \
             SignedHeaders=date;host, Signature={}",
            std::str::from_utf8(&signature).unwrap()
        );
        let (parts, ()) = Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "kms.us-east-1.amazonaws.com")
            .header("date", date)
            .header("authorization", &authorization)
            .body(())
            .unwrap()
            .into_parts();
        let v = Verifier::new(One, "kms", Duration::from_secs(300));
        assert!(v.verify(&parts, b"", at()).is_ok());
        assert_eq!(
            v.check_unsigned(&parts, at()).unwrap().amz_date,
            "20150830T123600Z"
        );

        let mut bad = parts.clone();
        bad.headers
            .insert("date", "30 Aug 2015 12:36:00".parse().unwrap());
        assert_eq!(
            v.verify(&bad, b"", at()).unwrap_err().message(),
            "Date must be in ISO-8601 'basic format'. See http://en.wikipedia.org/wiki/ISO_8601"
        );
    }

    /// A request signed at [`AT`] with `SECRET` for `access_key_id`, over
    /// `signed` (the headers it lists must be in `headers`).
    fn signed_request(
        access_key_id: &str,
        region: &str,
        headers: &[(&str, &str)],
        signed: &str,
    ) -> Parts {
        let mut creq = String::from("POST\n/\n\n");
        for name in signed.split(';') {
            let values: Vec<&str> = headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
                .collect();
            creq.push_str(&format!("{name}:{}\n", values.join(",")));
        }
        creq.push_str(&format!("\n{signed}\n{EMPTY_SHA256}"));
        let mut sts = Vec::new();
        write_string_to_sign(
            &mut sts,
            "20150830T123600Z",
            "20150830",
            region,
            "kms",
            &sha256_hex(creq.as_bytes()),
        );
        let key = derive_signing_key(&SecretKey::new(SECRET), "20150830", region, "kms");
        let signature = signature_hex(&key, &sts);
        let mut b = Request::builder().method("POST").uri("/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={access_key_id}/20150830/{region}/kms/aws4_request, \
                 SignedHeaders={signed}, Signature={}",
                std::str::from_utf8(&signature).unwrap()
            ),
        )
        .body(())
        .unwrap()
        .into_parts()
        .0
    }

    const BASE: [(&str, &str); 2] = [
        ("host", "kms.us-east-1.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
    ];

    #[test]
    fn only_verified_requests_fill_the_key_cache() {
        let v = Verifier::new(One, "kms", Duration::from_secs(300));
        let good = signed_request("AKIDEXAMPLE", "us-east-1", &BASE, "host;x-amz-date");
        // Unknown access keys: answered at once, nothing cached.
        for i in 0..100 {
            let unknown = signed_request(
                &format!("AKIDUNKNOWN{i}"),
                "us-east-1",
                &BASE,
                "host;x-amz-date",
            );
            assert_eq!(
                v.verify(&unknown, b"", at()).unwrap_err(),
                SigV4Error::UnrecognizedClient
            );
        }
        assert_eq!(v.cache.read().len(), 0);
        // A known key with a bad signature, in scopes of its choosing: nothing cached.
        for i in 0..100 {
            let mut forged =
                signed_request("AKIDEXAMPLE", &format!("r{i}"), &BASE, "host;x-amz-date");
            forged
                .headers
                .insert("x-amz-date", "20150830T123601Z".parse().unwrap());
            assert_eq!(
                v.verify(&forged, b"", at()).unwrap_err(),
                SigV4Error::SignatureMismatch
            );
        }
        assert_eq!(v.cache.read().len(), 0);
        // A verified request caches its key, which the next one reuses.
        assert!(v.verify(&good, b"", at()).is_ok());
        assert_eq!(v.cache.read().len(), 1);
        let cached = Arc::clone(&v.cache.read()["AKIDEXAMPLE/20150830/us-east-1/kms"].key);
        assert!(v.verify(&good, b"", at()).is_ok());
        assert!(Arc::ptr_eq(
            &cached,
            &v.cache.read()["AKIDEXAMPLE/20150830/us-east-1/kms"].key
        ));
    }

    #[test]
    fn the_key_cache_is_bounded_and_keeps_its_entries_when_full() {
        let v = Verifier::new(One, "kms", Duration::from_secs(300));
        let secret = Arc::new(SecretKey::new(SECRET));
        let scopes: Vec<String> = (0..CACHE_LIMIT + 5)
            .map(|i| format!("AKID{i}/20150830/us-east-1/kms"))
            .collect();
        for scope in &scopes {
            let c = Checked {
                access_key_id: &scope[..scope.find('/').unwrap()],
                key_scope: scope,
                date: "20150830",
                region: "us-east-1",
                signed_headers: "host",
                signature: "",
                amz_date: format_amz_date(AT as i64),
                session_token: None,
            };
            let (key, cached) = v.signing_key(&c, &secret);
            assert!(!cached);
            v.remember(&c, Arc::clone(&secret), key);
            assert!(v.cache.read().len() <= CACHE_LIMIT);
        }
        // Full, it made room one entry at a time.
        assert_eq!(v.cache.read().len(), CACHE_LIMIT);
    }

    #[test]
    fn a_rotated_secret_does_not_reuse_the_cached_key() {
        let v = Verifier::new(One, "kms", Duration::from_secs(300));
        let c = Checked {
            access_key_id: "AKIDEXAMPLE",
            key_scope: "AKIDEXAMPLE/20150830/us-east-1/kms",
            date: "20150830",
            region: "us-east-1",
            signed_headers: "host",
            signature: "",
            amz_date: format_amz_date(AT as i64),
            session_token: None,
        };
        let secret = Arc::new(SecretKey::new(SECRET));
        let (real, _) = v.signing_key(&c, &secret);
        v.remember(&c, Arc::clone(&secret), Arc::clone(&real));
        assert!(Arc::ptr_eq(&real, &v.signing_key(&c, &secret).0));
        // An equal secret in another allocation reuses the key.
        let same = Arc::new(SecretKey::new(SECRET));
        let (again, cached) = v.signing_key(&c, &same);
        assert!(cached && Arc::ptr_eq(&real, &again));
        // Another secret derives anew.
        let rotated = Arc::new(SecretKey::new("rotated"));
        let (other, cached) = v.signing_key(&c, &rotated);
        assert!(!cached);
        assert!(!Arc::ptr_eq(&real, &other));
        assert_eq!(
            signature_hex(&real, b"x"),
            signature_hex(
                &derive_signing_key(&secret, "20150830", "us-east-1", "kms"),
                b"x"
            )
        );
    }

    #[test]
    fn headers_that_say_what_the_request_is_must_be_signed() {
        let v = Verifier::new(One, "kms", Duration::from_secs(300));
        let target = ("x-amz-target", "TrentService.DescribeKey");
        let json = ("content-type", "application/x-amz-json-1.1");
        let token = ("x-amz-security-token", "token");
        let all = [BASE[0], BASE[1], json, target, token];
        let ok = signed_request(
            "AKIDEXAMPLE",
            "us-east-1",
            &all,
            "content-type;host;x-amz-date;x-amz-security-token;x-amz-target",
        );
        assert!(v.verify(&ok, b"", at()).is_ok());
        for (signed, missing) in [
            (
                "content-type;host;x-amz-date;x-amz-security-token",
                "x-amz-target",
            ),
            (
                "content-type;host;x-amz-date;x-amz-target",
                "x-amz-security-token",
            ),
            (
                "host;x-amz-date;x-amz-security-token;x-amz-target",
                "content-type",
            ),
            (
                "content-type;host;x-amz-security-token;x-amz-target",
                "x-amz-date",
            ),
            // Several: the first by name.
            ("host;x-amz-date", "content-type"),
        ] {
            let parts = signed_request("AKIDEXAMPLE", "us-east-1", &all, signed);
            let e = v.verify(&parts, b"", at()).unwrap_err();
            assert_eq!(
                e,
                SigV4Error::UnsignedHeader {
                    name: missing.into()
                },
                "{signed}"
            );
            assert_eq!(e.code(), "InvalidSignatureException");
            // check_unsigned (development mode) refuses it too.
            assert_eq!(v.check_unsigned(&parts, at()).unwrap_err(), e);
        }
        // Any other x-amz- header, and an unsigned one added after signing.
        let mut added = ok.clone();
        added
            .headers
            .insert("x-amz-anything", "DisableKey".parse().unwrap());
        assert_eq!(
            v.verify(&added, b"", at()).unwrap_err().message(),
            "'x-amz-anything' must be a 'SignedHeader' in the AWS Authorization."
        );
        // Headers outside the rule may stay unsigned.
        let mut other = ok.clone();
        other.headers.insert("user-agent", "sdk".parse().unwrap());
        other
            .headers
            .insert("x-amzn-trace-id", "Root=1".parse().unwrap());
        assert!(v.verify(&other, b"", at()).is_ok());
        // SignedHeaders compare without regard to case.
        let upper = signed_request(
            "AKIDEXAMPLE",
            "us-east-1",
            &[BASE[0], BASE[1], target],
            "host;x-amz-date;X-Amz-Target",
        );
        assert!(v.check_unsigned(&upper, at()).is_ok());
    }

    #[test]
    fn the_xks_proxy_api_may_leave_content_type_unsigned() {
        // AWS KMS signs host;x-amz-date only when it calls an XKS proxy.
        let v = Verifier::new(One, "kms", Duration::from_secs(300)).with_unsigned_content_type();
        let json = ("content-type", "application/json");
        let target = ("x-amz-target", "TrentService.DescribeKey");
        let parts = signed_request(
            "AKIDEXAMPLE",
            "us-east-1",
            &[BASE[0], BASE[1], json],
            "host;x-amz-date",
        );
        assert!(v.verify(&parts, b"", at()).is_ok());
        // Every x-amz- header must still be signed, and content-type may not repeat.
        let parts = signed_request(
            "AKIDEXAMPLE",
            "us-east-1",
            &[BASE[0], BASE[1], json, target],
            "host;x-amz-date",
        );
        assert_eq!(
            v.verify(&parts, b"", at()).unwrap_err(),
            SigV4Error::UnsignedHeader {
                name: "x-amz-target".into()
            }
        );
        let mut twice = signed_request(
            "AKIDEXAMPLE",
            "us-east-1",
            &[BASE[0], BASE[1], json],
            "host;x-amz-date",
        );
        twice
            .headers
            .append("content-type", "text/plain".parse().unwrap());
        assert!(matches!(
            v.verify(&twice, b"", at()).unwrap_err(),
            SigV4Error::DuplicateHeader { .. }
        ));
        // The default still requires it.
        let strict = Verifier::new(One, "kms", Duration::from_secs(300));
        let parts = signed_request(
            "AKIDEXAMPLE",
            "us-east-1",
            &[BASE[0], BASE[1], json],
            "host;x-amz-date",
        );
        assert!(strict.verify(&parts, b"", at()).is_err());
    }

    #[test]
    fn single_valued_headers_may_not_repeat() {
        let v = Verifier::new(One, "kms", Duration::from_secs(300));
        let target = ("x-amz-target", "TrentService.DescribeKey");
        let retarget = ("x-amz-target", "TrentService.DisableKey");
        // Even signed, two targets are refused.
        let parts = signed_request(
            "AKIDEXAMPLE",
            "us-east-1",
            &[BASE[0], BASE[1], target, retarget],
            "host;x-amz-date;x-amz-target",
        );
        let e = v.verify(&parts, b"", at()).unwrap_err();
        assert_eq!(
            e,
            SigV4Error::DuplicateHeader {
                name: "x-amz-target".into()
            }
        );
        assert_eq!(e.code(), "InvalidSignatureException");
        let mut two_auth = signed_request("AKIDEXAMPLE", "us-east-1", &BASE, "host;x-amz-date");
        let first = two_auth.headers["authorization"].clone();
        two_auth.headers.append("authorization", first);
        assert_eq!(
            v.verify(&two_auth, b"", at()).unwrap_err(),
            SigV4Error::DuplicateHeader {
                name: "authorization".into()
            }
        );
        // Headers outside the rule may repeat.
        let mut accept = signed_request("AKIDEXAMPLE", "us-east-1", &BASE, "host;x-amz-date");
        accept.headers.append("accept", "a".parse().unwrap());
        accept.headers.append("accept", "b".parse().unwrap());
        assert!(v.verify(&accept, b"", at()).is_ok());
    }
}
