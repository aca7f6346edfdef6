//! The signing key, the string to sign and the signature
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>,
//! steps 3 to 5). All primitives come from aws-lc-rs.

use aws_lc_rs::{digest, hmac};
use zeroize::Zeroizing;

use crate::SecretKey;

/// The only algorithm SigV4 with HMAC defines.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The fixed last element of every credential scope.
pub(crate) const TERMINATOR: &str = "aws4_request";

/// Length of a hex-encoded SHA-256 digest or HMAC-SHA256 tag.
pub(crate) const HEX_LEN: usize = 64;

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
///
/// The result is as sensitive as the secret for that day, region and service;
/// the intermediate buffers that hold key bytes we own are zeroized.
pub(crate) fn derive_signing_key(
    secret: &SecretKey,
    date: &str,
    region: &str,
    service: &str,
) -> hmac::Key {
    let exposed = secret.expose().as_bytes();
    let mut k_secret = Zeroizing::new(Vec::with_capacity(4 + exposed.len()));
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(exposed);
    let mut k = hmac::Key::new(hmac::HMAC_SHA256, &k_secret);
    for part in [date, region, service, TERMINATOR] {
        let tag = Zeroizing::new(TagBytes::from(hmac::sign(&k, part.as_bytes())));
        k = hmac::Key::new(hmac::HMAC_SHA256, tag.as_slice());
    }
    k
}

/// A copy of an HMAC tag that can be zeroized (aws-lc-rs's `Tag` is `Copy`).
#[derive(Default)]
struct TagBytes([u8; 32], usize);

impl TagBytes {
    fn as_slice(&self) -> &[u8] {
        &self.0[..self.1]
    }
}

impl From<hmac::Tag> for TagBytes {
    fn from(tag: hmac::Tag) -> Self {
        let mut out = Self::default();
        let t = tag.as_ref();
        let n = t.len().min(out.0.len());
        out.0[..n].copy_from_slice(&t[..n]);
        out.1 = n;
        out
    }
}

impl zeroize::Zeroize for TagBytes {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

/// Lower-case hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> [u8; HEX_LEN] {
    hex64(digest::digest(&digest::SHA256, data).as_ref())
}

/// Writes the string to sign:
/// `AWS4-HMAC-SHA256 \n amz_date \n date/region/service/aws4_request \n hex(SHA256(canonical_request))`.
pub(crate) fn write_string_to_sign(
    out: &mut Vec<u8>,
    amz_date: &str,
    date: &str,
    region: &str,
    service: &str,
    canonical_request_hash: &[u8; HEX_LEN],
) {
    out.extend_from_slice(ALGORITHM.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(amz_date.as_bytes());
    out.push(b'\n');
    write_scope(out, date, region, service);
    out.push(b'\n');
    out.extend_from_slice(canonical_request_hash);
}

/// `date/region/service/aws4_request`.
pub(crate) fn write_scope(out: &mut Vec<u8>, date: &str, region: &str, service: &str) {
    for part in [date, region, service] {
        out.extend_from_slice(part.as_bytes());
        out.push(b'/');
    }
    out.extend_from_slice(TERMINATOR.as_bytes());
}

/// Lower-case hex HMAC-SHA256 of the string to sign under the signing key.
pub(crate) fn signature_hex(key: &hmac::Key, string_to_sign: &[u8]) -> [u8; HEX_LEN] {
    hex64(hmac::sign(key, string_to_sign).as_ref())
}

fn hex64(bytes: &[u8]) -> [u8; HEX_LEN] {
    let mut out = [b'0'; HEX_LEN];
    // SHA-256 outputs are exactly 32 bytes, so this cannot fail.
    let _ = hex::encode_to_slice(bytes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_and_signature_of_get_vanilla() {
        let creq = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                    host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let mut sts = Vec::new();
        write_string_to_sign(
            &mut sts,
            "20150830T123600Z",
            "20150830",
            "us-east-1",
            "service",
            &sha256_hex(creq.as_bytes()),
        );
        assert_eq!(
            std::str::from_utf8(&sts).unwrap(),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
             bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
        let key = derive_signing_key(
            &SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            "20150830",
            "us-east-1",
            "service",
        );
        assert_eq!(
            std::str::from_utf8(&signature_hex(&key, &sts)).unwrap(),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// The example of <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>
    /// (formerly "Examples of how to derive a signing key"): the IAM ListUsers
    /// request of 2015-08-30 in us-east-1.
    #[test]
    fn signing_key_of_the_aws_documentation() {
        let key = derive_signing_key(
            &SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            "20150830",
            "us-east-1",
            "iam",
        );
        let sts = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n\
                   f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";
        assert_eq!(
            std::str::from_utf8(&signature_hex(&key, sts.as_bytes())).unwrap(),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }
}
