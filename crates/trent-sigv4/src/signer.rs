//! Client side: signing requests (the load generator, raw-request tests).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use aws_lc_rs::hmac;
use parking_lot::RwLock;

use crate::amzdate::{format_amz_date, unix_seconds};
use crate::canonical::{write_canonical_path, write_canonical_query, write_header_value};
use crate::key::{
    derive_signing_key, sha256_hex, signature_hex, write_scope, write_string_to_sign, ALGORITHM,
};
use crate::Credentials;

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// Signs requests with one set of credentials for one region and service.
///
/// The derived signing key is cached for the current date, so that signing
/// costs two SHA-256 hashes (body, canonical request) and one HMAC. Safe to
/// share between threads.
pub struct Signer {
    credentials: Credentials,
    region: String,
    service: String,
    /// `(YYYYMMDD, kSigning)` of the last date signed for.
    key: RwLock<Option<([u8; 8], Arc<hmac::Key>)>>,
}

/// Everything a signature is computed from, kept for tests.
pub(crate) struct Signature {
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) canonical_request: Vec<u8>,
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) string_to_sign: Vec<u8>,
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Signer {
    pub fn new(credentials: Credentials, region: &str, service: &str) -> Self {
        Self {
            credentials,
            region: region.to_owned(),
            service: service.to_owned(),
            key: RwLock::new(None),
        }
    }

    /// Returns the headers to add to the request: `x-amz-date`,
    /// `authorization`, and `x-amz-security-token` when the credentials have a
    /// session token.
    ///
    /// `headers` are the headers that will be sent (names in any case, repeated
    /// names allowed); all of them are signed, and they must include `host` (the
    /// verifier rejects a signature without it). Any `authorization`,
    /// `x-amz-date` or `x-amz-security-token` among them is ignored: the
    /// returned ones replace them. `path` is the path exactly as sent on the
    /// wire (already percent-encoded, `/` for KMS); `query` the raw query
    /// string without `?` (`""` if none). When `headers` include
    /// `x-amz-content-sha256`, its value is signed as the payload hash.
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        now: SystemTime,
    ) -> Vec<(&'static str, String)> {
        self.signature(method, path, query, headers, body, now)
            .headers
    }

    pub(crate) fn signature(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        now: SystemTime,
    ) -> Signature {
        let amz_date = format_amz_date(unix_seconds(now));
        let token = self.credentials.session_token.as_deref();

        let mut all: Vec<(String, &str)> = Vec::with_capacity(headers.len() + 2);
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            if !matches!(
                name.as_str(),
                "authorization" | X_AMZ_DATE | X_AMZ_SECURITY_TOKEN
            ) {
                all.push((name, value));
            }
        }
        all.push((X_AMZ_DATE.to_owned(), amz_date.as_str()));
        if let Some(token) = token {
            all.push((X_AMZ_SECURITY_TOKEN.to_owned(), token));
        }
        // Stable: repeated headers keep their order, as their values must.
        all.sort_by(|a, b| a.0.cmp(&b.0));

        let mut creq = Vec::with_capacity(512);
        creq.extend_from_slice(method.as_bytes());
        creq.push(b'\n');
        write_canonical_path(&mut creq, path);
        creq.push(b'\n');
        write_canonical_query(&mut creq, query);
        creq.push(b'\n');
        let mut signed_headers = String::with_capacity(64);
        for (i, (name, value)) in all.iter().enumerate() {
            let continues = i > 0 && all[i - 1].0 == *name;
            if continues {
                creq.push(b',');
            } else {
                if i > 0 {
                    creq.push(b'\n');
                    signed_headers.push(';');
                }
                signed_headers.push_str(name);
                creq.extend_from_slice(name.as_bytes());
                creq.push(b':');
            }
            write_header_value(&mut creq, value.as_bytes());
        }
        creq.extend_from_slice(b"\n\n");
        creq.extend_from_slice(signed_headers.as_bytes());
        creq.push(b'\n');
        match all.iter().find(|(n, _)| n == X_AMZ_CONTENT_SHA256) {
            Some((_, declared)) => creq.extend_from_slice(declared.trim().as_bytes()),
            None => creq.extend_from_slice(&sha256_hex(body)),
        }

        let date = amz_date.date();
        let mut sts = Vec::with_capacity(160);
        write_string_to_sign(
            &mut sts,
            amz_date.as_str(),
            date,
            &self.region,
            &self.service,
            &sha256_hex(&creq),
        );
        let signature = signature_hex(&self.signing_key(date), &sts);

        let mut authorization = String::with_capacity(256);
        authorization.push_str(ALGORITHM);
        authorization.push_str(" Credential=");
        authorization.push_str(&self.credentials.access_key_id);
        authorization.push('/');
        let mut scope = Vec::with_capacity(48);
        write_scope(&mut scope, date, &self.region, &self.service);
        authorization.push_str(&String::from_utf8_lossy(&scope));
        authorization.push_str(", SignedHeaders=");
        authorization.push_str(&signed_headers);
        authorization.push_str(", Signature=");
        authorization.push_str(&String::from_utf8_lossy(&signature));

        let mut out = Vec::with_capacity(3);
        out.push((X_AMZ_DATE, amz_date.as_str().to_owned()));
        out.push(("authorization", authorization));
        if let Some(token) = token {
            out.push((X_AMZ_SECURITY_TOKEN, token.to_owned()));
        }
        Signature {
            canonical_request: creq,
            string_to_sign: sts,
            headers: out,
        }
    }

    fn signing_key(&self, date: &str) -> Arc<hmac::Key> {
        let mut day = [0u8; 8];
        let n = date.len().min(8);
        day[..n].copy_from_slice(&date.as_bytes()[..n]);
        if let Some((cached_day, key)) = self.key.read().as_ref() {
            if *cached_day == day {
                return Arc::clone(key);
            }
        }
        let key = Arc::new(derive_signing_key(
            &self.credentials.secret_access_key,
            date,
            &self.region,
            &self.service,
        ));
        *self.key.write() = Some((day, Arc::clone(&key)));
        key
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}
