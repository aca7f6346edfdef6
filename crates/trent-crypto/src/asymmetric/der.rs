//! Just enough DER to check which algorithm a SubjectPublicKeyInfo names
//! before a library parses it: the libraries accept other encodings too (a
//! bare SEC1 point, a PKCS#1 `RSAPublicKey`, a raw Ed25519 key), while AWS
//! takes and returns only X.509 SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
//! No key is parsed here.

use super::AsymmetricKeySpec;
use crate::CryptoError;

/// DER contents of the OIDs involved.
mod oid {
    /// 1.2.840.10045.2.1 id-ecPublicKey (RFC 5480).
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    /// 1.2.840.10045.3.1.7 secp256r1.
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    /// 1.3.132.0.34 secp384r1.
    pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    /// 1.3.132.0.35 secp521r1.
    pub const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
    /// 1.3.132.0.10 secp256k1.
    pub const SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];
    /// 1.2.156.10197.1.301 sm2p256v1 (GB/T 33560).
    pub const SM2: &[u8] = &[0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
    /// 1.2.840.113549.1.1.1 rsaEncryption (RFC 8017).
    pub const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// 1.3.101.112 id-Ed25519 (RFC 8410).
    pub const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    /// 2.16.840.1.101.3.4.3.17 id-ml-dsa-44 (FIPS 204, RFC 9881).
    pub const ML_DSA_44: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x11];
    /// 2.16.840.1.101.3.4.3.18 id-ml-dsa-65.
    pub const ML_DSA_65: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12];
    /// 2.16.840.1.101.3.4.3.19 id-ml-dsa-87.
    pub const ML_DSA_87: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x13];
}

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const BIT_STRING: u8 = 0x03;
const NULL: u8 = 0x05;

/// Splits one TLV off `input`: (tag, contents, rest). Definite lengths only,
/// minimal long form, as DER requires.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        if bytes[0] == 0 {
            return None;
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 {
            return None;
        }
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The common names (OID 2.5.4.3: UTF8String, PrintableString or IA5String values) of an
/// X.509 certificate's subject — never its issuer's; `None` if `cert` is not the DER of a
/// certificate.
pub fn certificate_subject_common_names(cert: &[u8]) -> Option<Vec<String>> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let (SEQUENCE, certificate, _) = tlv(cert)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = tlv(certificate)? else {
        return None;
    };
    // version [0] (optional), serialNumber, signature, issuer, validity, subject.
    let mut rest = tbs;
    let mut fields = Vec::new();
    while !rest.is_empty() && fields.len() < 5 {
        let (tag, contents, next) = tlv(rest)?;
        if !(fields.is_empty() && tag == 0xa0) {
            fields.push((tag, contents));
        }
        rest = next;
    }
    let (SEQUENCE, mut sets) = *fields.get(4)? else {
        return None;
    };
    let mut names = Vec::new();
    while !sets.is_empty() {
        let (_, mut attributes, next) = tlv(sets)?;
        while !attributes.is_empty() {
            let (_, attribute, after) = tlv(attributes)?;
            let (tag, oid, value) = tlv(attribute)?;
            let (value_tag, value, _) = tlv(value)?;
            if tag == OID && oid == CN && matches!(value_tag, 0x0c | 0x13 | 0x16) {
                names.push(String::from_utf8(value.to_vec()).ok()?);
            }
            attributes = after;
        }
        sets = next;
    }
    Some(names)
}

/// A TLV's tag and contents.
type Tlv<'a> = (u8, &'a [u8]);

/// The algorithm OID and the parameters TLV (if any) of a SubjectPublicKeyInfo.
fn spki_algorithm(spki: &[u8]) -> Option<(&[u8], Option<Tlv<'_>>)> {
    let (tag, body, rest) = tlv(spki)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (tag, alg_id, rest) = tlv(body)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, _key, rest) = tlv(rest)?;
    if tag != BIT_STRING || !rest.is_empty() {
        return None;
    }
    let (tag, oid, rest) = tlv(alg_id)?;
    if tag != OID {
        return None;
    }
    let params = if rest.is_empty() {
        None
    } else {
        let (tag, contents, rest) = tlv(rest)?;
        if !rest.is_empty() {
            return None;
        }
        Some((tag, contents))
    };
    Some((oid, params))
}

/// The subjectPublicKey bits of a SubjectPublicKeyInfo (the BIT STRING's
/// contents after its unused-bits octet, which must be 0).
pub(super) fn spki_public_key_bytes(spki: &[u8]) -> Result<&[u8], CryptoError> {
    let parse = || {
        let (tag, body, rest) = tlv(spki)?;
        if tag != SEQUENCE || !rest.is_empty() {
            return None;
        }
        let (tag, _alg_id, rest) = tlv(body)?;
        if tag != SEQUENCE {
            return None;
        }
        let (tag, bits, rest) = tlv(rest)?;
        if tag != BIT_STRING || !rest.is_empty() {
            return None;
        }
        match bits.split_first()? {
            (0, key) => Some(key),
            _ => None,
        }
    };
    parse().ok_or(CryptoError::InvalidPublicKey)
}

fn curve_oid(spec: AsymmetricKeySpec) -> Option<&'static [u8]> {
    match spec {
        AsymmetricKeySpec::EccNistP256 => Some(oid::P256),
        AsymmetricKeySpec::EccNistP384 => Some(oid::P384),
        AsymmetricKeySpec::EccNistP521 => Some(oid::P521),
        AsymmetricKeySpec::EccSecgP256k1 => Some(oid::SECP256K1),
        AsymmetricKeySpec::Sm2 => Some(oid::SM2),
        _ => None,
    }
}

/// Checks that `spki` is a SubjectPublicKeyInfo of the algorithm `spec` names
/// (for EC keys: id-ecPublicKey on the spec's named curve). Whether the key
/// itself is valid is for the library that then parses it.
pub(super) fn expect_spki(spec: AsymmetricKeySpec, spki: &[u8]) -> Result<(), CryptoError> {
    let (alg, params) = spki_algorithm(spki).ok_or(CryptoError::InvalidPublicKey)?;
    let ok = match spec {
        AsymmetricKeySpec::Rsa2048 | AsymmetricKeySpec::Rsa3072 | AsymmetricKeySpec::Rsa4096 => {
            alg == oid::RSA && matches!(params, Some((NULL, [])))
        }
        AsymmetricKeySpec::EccNistEdwards25519 => alg == oid::ED25519 && params.is_none(),
        AsymmetricKeySpec::MlDsa44 => alg == oid::ML_DSA_44 && params.is_none(),
        AsymmetricKeySpec::MlDsa65 => alg == oid::ML_DSA_65 && params.is_none(),
        AsymmetricKeySpec::MlDsa87 => alg == oid::ML_DSA_87 && params.is_none(),
        AsymmetricKeySpec::EccNistP256
        | AsymmetricKeySpec::EccNistP384
        | AsymmetricKeySpec::EccNistP521
        | AsymmetricKeySpec::EccSecgP256k1
        | AsymmetricKeySpec::Sm2 => {
            alg == oid::EC_PUBLIC_KEY
                && matches!((params, curve_oid(spec)), (Some((OID, p)), Some(c)) if p == c)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(CryptoError::InvalidPublicKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_rejects_non_der_lengths() {
        assert!(tlv(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0]).is_none()); // long form for < 128
        assert!(tlv(&[0x30, 0x82, 0x00, 0x90]).is_none()); // leading zero length byte
        assert!(tlv(&[0x30, 0x80]).is_none()); // indefinite
        assert!(tlv(&[0x30, 0x05, 0, 0]).is_none()); // truncated
        assert_eq!(
            tlv(&[0x04, 0x01, 0xaa, 0xbb]),
            Some((0x04, &[0xaa][..], &[0xbb][..]))
        );
    }

    #[test]
    fn garbage_is_not_an_spki() {
        for spec in AsymmetricKeySpec::ALL {
            assert!(expect_spki(spec, b"").is_err());
            assert!(expect_spki(spec, &[0x30, 0x00]).is_err());
            assert!(expect_spki(spec, &[0x04; 65]).is_err());
        }
    }
}
