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

/// Derived signing keys kept at most; the cache is emptied when full. A key
/// lives one day per (access key, region, service), so this bounds memory
/// without bookkeeping, and re-deriving costs four HMACs.
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
    cache: RwLock<HashMap<Box<str>, CachedKey>>,
    /// Signs for unknown access keys, so that they cost what known ones do.
    decoy: SecretKey,
}

struct CachedKey {
    /// The secret the key was derived from; `None` for the decoy.
    secret: Option<Arc<SecretKey>>,
    key: Arc<hmac::Key>,
}

impl CachedKey {
    fn derived_from(&self, secret: Option<&Arc<SecretKey>>) -> bool {
        match (&self.secret, secret) {
            (None, None) => true,
            // A rotated secret for the same access key must not reuse the key.
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || **a == **b,
            _ => false,
        }
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
            cache: RwLock::new(HashMap::new()),
            decoy: SecretKey::new("trent-sigv4 decoy secret for unknown access keys"),
        }
    }

    /// The credential lookup this verifier was built with.
    pub fn lookup(&self) -> &L {
        &self.lookup
    }

    /// Full verification: everything [`Verifier::check_unsigned`] does, then
    /// the access key and the signature over method, path, query, the signed
    /// headers and `body`.
    ///
    /// An unknown access key costs the same hashing as a known one (a decoy
    /// secret is used), so response times do not tell which keys exist.
    pub fn verify(
        &self,
        req: &Parts,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified<L::Principal>, SigV4Error> {
        let header = authorization_header(req)?;
        let c = self.check(req, &header, now)?;

        let found = self.lookup.lookup(c.access_key_id);
        let (secret, principal) = match found {
            Some((s, p)) => (Some(s), Some(p)),
            None => (None, None),
        };

        let mut buf = Vec::with_capacity(512);
        let complete = write_canonical_request(&mut buf, req, c.signed_headers, body);
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
        let key = self.signing_key(&c, secret.as_ref());
        let expected = signature_hex(&key, &buf);
        let signature_ok: bool = expected[..].ct_eq(c.signature.as_bytes()).into();

        match principal {
            None => Err(SigV4Error::UnrecognizedClient),
            Some(principal) if signature_ok && complete => Ok(Verified {
                principal,
                access_key_id: c.access_key_id.to_owned(),
                region: c.region.to_owned(),
                session_token: c.session_token.map(header_string),
            }),
            Some(_) => Err(SigV4Error::SignatureMismatch),
        }
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
                header: header.to_owned(),
            });
        };

        let date_text = String::from_utf8_lossy(date_value.as_bytes());
        let parsed = if is_amz {
            parse_amz_date(&date_text)
        } else {
            parse_http_date(&date_text)
        };
        let request_secs = parsed.ok_or_else(|| SigV4Error::InvalidDate {
            value: date_text.clone().into_owned(),
        })?;
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

        if params.algorithm != ALGORITHM {
            return Err(SigV4Error::UnsupportedAlgorithm {
                algorithm: params.algorithm.to_owned(),
            });
        }

        let parts = split_credential(credential)?;
        let bad_region = !is_valid_region(parts.region);
        let bad_service = parts.service != self.service;
        let bad_terminator = parts.terminator != TERMINATOR;
        let bad_date = parts.date != amz_date.date();
        if bad_region || bad_service || bad_terminator || bad_date {
            return Err(SigV4Error::InvalidScope(Box::new(ScopeFaults {
                region: bad_region.then(|| parts.region.to_owned()),
                service: bad_service.then(|| self.service.clone()),
                terminator: bad_terminator.then(|| parts.terminator.to_owned()),
                date: bad_date.then(|| {
                    (
                        parts.date.to_owned(),
                        amz_date.date().to_owned(),
                        amz_date.as_str().to_owned(),
                    )
                }),
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

    /// The derived key for the request's scope, from the cache when it was
    /// derived from the same secret (or, for unknown keys, from the decoy).
    fn signing_key(&self, c: &Checked<'_>, secret: Option<&Arc<SecretKey>>) -> Arc<hmac::Key> {
        if let Some(entry) = self.cache.read().get(c.key_scope) {
            if entry.derived_from(secret) {
                return Arc::clone(&entry.key);
            }
        }
        let source = secret.map_or(&self.decoy, |s| &**s);
        let key = Arc::new(derive_signing_key(source, c.date, c.region, &self.service));
        let mut cache = self.cache.write();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(
            c.key_scope.into(),
            CachedKey {
                secret: secret.cloned(),
                key: Arc::clone(&key),
            },
        );
        key
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

fn header_string(v: &HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

/// Writes the canonical request of `req` for the listed headers. Returns
/// `false` when it cannot match any signature: a listed header is absent, or a
/// signed `x-amz-content-sha256` disagrees with the body.
fn write_canonical_request(
    out: &mut Vec<u8>,
    req: &Parts,
    signed_headers: &str,
    body: &[u8],
) -> bool {
    let mut complete = true;
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b'\n');
    write_canonical_path(out, req.uri.path());
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
    let body_hash = sha256_hex(body);
    match declared_payload_hash {
        // Signed, the declared hash is what the client signed; it must also be
        // the body's, or an unsigned body (`UNSIGNED-PAYLOAD`) would pass.
        Some(declared) => {
            let declared = declared.as_bytes().trim_ascii();
            out.extend_from_slice(declared);
            complete &= bool::from(declared.ct_eq(&body_hash[..]));
        }
        None => out.extend_from_slice(&body_hash),
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
            "Date must be in ISO-8601 'basic format'. Got '30 Aug 2015 12:36:00'. See \
             http://en.wikipedia.org/wiki/ISO_8601"
        );
    }

    #[test]
    fn the_key_cache_is_bounded() {
        let v = Verifier::new(One, "kms", Duration::from_secs(300));
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
            let _ = v.signing_key(&c, None);
            assert!(v.cache.read().len() <= CACHE_LIMIT);
        }
        assert_eq!(v.cache.read().len(), 5);
    }

    #[test]
    fn unknown_keys_derive_from_the_decoy_and_cache_like_known_ones() {
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
        let decoy = v.signing_key(&c, None);
        assert!(Arc::ptr_eq(&decoy, &v.signing_key(&c, None)));
        let secret = Arc::new(SecretKey::new(SECRET));
        let real = v.signing_key(&c, Some(&secret));
        assert!(!Arc::ptr_eq(&decoy, &real));
        assert!(Arc::ptr_eq(&real, &v.signing_key(&c, Some(&secret))));
        // An equal secret in another allocation reuses the key.
        let same = Arc::new(SecretKey::new(SECRET));
        assert!(Arc::ptr_eq(&real, &v.signing_key(&c, Some(&same))));
        assert_eq!(
            signature_hex(&real, b"x"),
            signature_hex(
                &derive_signing_key(&secret, "20150830", "us-east-1", "kms"),
                b"x"
            )
        );
    }
}
