//! The canonical request of
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>
//! ("Step 1: Create a canonical request"), as AWS computes it for services other
//! than S3:
//!
//! ```text
//! METHOD \n CanonicalURI \n CanonicalQueryString \n CanonicalHeaders \n SignedHeaders \n HashedPayload
//! ```
//!
//! The signer and the verifier share every function here, so that what one
//! signs the other checks byte for byte.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but the RFC 3986 unreserved characters (`A-Z a-z 0-9 - _ . ~`) is
/// percent-encoded, with upper-case hex digits.
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// As [`QUERY_ENCODE`], keeping the `/` separators of a path.
const PATH_ENCODE: &AsciiSet = &QUERY_ENCODE.remove(b'/');

/// Hex SHA-256 of the empty string: the payload hash of a bodiless request.
#[cfg(test)]
pub(crate) const EMPTY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Writes the canonical URI for `path`, the path exactly as it appears on the
/// wire (already percent-encoded).
///
/// Non-S3 services normalize the path (empty and `.` segments dropped, `..`
/// removes the previous segment, RFC 3986 §5.2.4) and then URI-encode it once
/// more, so a `%20` sent on the wire is signed as `%2520`. This is what the AWS
/// SDKs do (botocore `_normalize_url_path`, aws-c-auth, smithy-rs) and what the
/// services verify.
pub(crate) fn write_canonical_path(out: &mut Vec<u8>, path: &str) {
    // The KMS wire protocol always posts to `/`: keep that path free of work.
    if path == "/" || path.is_empty() {
        out.push(b'/');
        return;
    }
    let mut kept: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    let start = out.len();
    if path.starts_with('/') {
        out.push(b'/');
    }
    for (i, segment) in kept.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        extend_encoded(out, segment, PATH_ENCODE);
    }
    if path.ends_with('/') && !kept.is_empty() {
        out.push(b'/');
    }
    if out.len() == start {
        out.push(b'/');
    }
}

/// Writes the canonical query string for `query` (the raw query, without `?`).
///
/// Each name and value is percent-decoded then encoded again with the SigV4
/// rules, so that clients differing only in which characters they escape agree;
/// pairs are sorted by name, then by value; a name without `=` gets an empty
/// value.
pub(crate) fn write_canonical_query(out: &mut Vec<u8>, query: &str) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (reencode(k), reencode(v))
        })
        .collect();
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
    }
}

fn reencode(s: &str) -> String {
    let decoded = percent_decode_str(s).collect::<Vec<u8>>();
    let mut out = String::with_capacity(decoded.len());
    for chunk in percent_encoding::percent_encode(&decoded, QUERY_ENCODE) {
        out.push_str(chunk);
    }
    out
}

fn extend_encoded(out: &mut Vec<u8>, s: &str, set: &'static AsciiSet) {
    for chunk in utf8_percent_encode(s, set) {
        out.extend_from_slice(chunk.as_bytes());
    }
}

/// Appends one header value trimmed, with every run of whitespace collapsed to
/// a single space (the `Trimall` of the SigV4 specification; AWS applies it
/// inside quoted strings too).
pub(crate) fn write_header_value(out: &mut Vec<u8>, value: &[u8]) {
    let mut pending_space = false;
    let mut wrote = false;
    for &c in value {
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            pending_space = wrote;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(c);
            wrote = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> String {
        let mut out = Vec::new();
        write_canonical_path(&mut out, p);
        String::from_utf8(out).unwrap()
    }

    fn query(q: &str) -> String {
        let mut out = Vec::new();
        write_canonical_query(&mut out, q);
        String::from_utf8(out).unwrap()
    }

    fn value(v: &str) -> String {
        let mut out = Vec::new();
        write_header_value(&mut out, v.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn paths_are_normalized_then_encoded() {
        assert_eq!(path("/"), "/");
        assert_eq!(path(""), "/");
        assert_eq!(path("//"), "/");
        assert_eq!(path("/./"), "/");
        assert_eq!(path("/./example"), "/example");
        assert_eq!(path("//example//"), "/example/");
        assert_eq!(path("/example/.."), "/");
        assert_eq!(path("/example1/example2/../.."), "/");
        assert_eq!(path("/a/b/../c/"), "/a/c/");
        assert_eq!(path("/a/b/../../../c"), "/c");
        assert_eq!(path("/a/./b/."), "/a/b");
        assert_eq!(path("/example space/"), "/example%20space/");
        assert_eq!(path("/example%20space/"), "/example%2520space/");
        assert_eq!(path("/ሴ"), "/%E1%88%B4");
        assert_eq!(
            path("/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
            "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        );
        assert_eq!(path("/a+b=c:d"), "/a%2Bb%3Dc%3Ad");
    }

    #[test]
    fn queries_are_reencoded_and_sorted() {
        assert_eq!(query(""), "");
        assert_eq!(
            query("Param2=value2&Param1=value1"),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(
            query("Param1=value2&Param1=Value1"),
            "Param1=Value1&Param1=value2"
        );
        assert_eq!(query("Param1"), "Param1=");
        assert_eq!(query("a=1&&b=2&"), "a=1&b=2");
        assert_eq!(query("%E1%88%B4=bar"), "%E1%88%B4=bar");
        assert_eq!(query("ሴ=bar"), "%E1%88%B4=bar");
        assert_eq!(query("a=b%2fc&x=y z"), "a=b%2Fc&x=y%20z");
        assert_eq!(query("a=b+c"), "a=b%2Bc");
        assert_eq!(query("k=a=b"), "k=a%3Db");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        assert_eq!(value("value1"), "value1");
        assert_eq!(value(" value1 "), "value1");
        assert_eq!(value("\"a   b   c\""), "\"a b c\"");
        assert_eq!(value("\t a \t b\t"), "a b");
        assert_eq!(value("   "), "");
        assert_eq!(value(""), "");
    }
}
