//! Symmetric KMS keys (`SYMMETRIC_DEFAULT`, AES-256-GCM) and Trent's ciphertext
//! blob.
//!
//! Blob format, version 1:
//! `0x01 ‖ key id (16 bytes) ‖ material id (32 bytes) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`,
//! AAD = the 49-byte header ‖ canonical encryption context. The header lets
//! `Decrypt` find the key and the key version without a `KeyId` parameter, as
//! [AWS KMS does for symmetric keys](https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html);
//! authenticating it means a blob cannot be re-attributed to another key or
//! version.
//!
//! The key id bytes are the 16 bytes of the key's UUID, or, for a
//! [multi-Region key](https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html)
//! (`mrk-` + 32 hex digits), the 16 bytes those hex digits spell. A multi-Region
//! key has that one id in every region it is replicated to, and the same material
//! (with the same material ids) in each, so a blob made in one region names, by
//! the same bytes, the key of whichever region it is decrypted in: the key
//! service looks the bytes up in the caller's region. Blobs of single-Region keys
//! are unchanged.

use std::fmt;

use crate::aead::{AesGcm256, KEY_LEN, NONCE_LEN, TAG_LEN};
use crate::{random_bytes, CryptoError, SecretBytes};

/// Version byte of the blob format.
pub const BLOB_VERSION: u8 = 1;
/// Length of the blob header: version, key id, material id.
pub const BLOB_HEADER_LEN: usize = 1 + 16 + 32;
/// Bytes a blob adds to its plaintext: header, nonce and tag.
pub const BLOB_OVERHEAD: usize = BLOB_HEADER_LEN + NONCE_LEN + TAG_LEN;

/// The authenticated, cleartext header of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlobHeader {
    /// The KMS key's id (the UUID of `key/<uuid>`), as raw bytes.
    pub key_id: [u8; 16],
    /// The key material version (rotation) that encrypted the blob.
    /// 32 bytes: AWS's `KeyMaterialId` is 64 hex digits.
    pub material_id: [u8; 32],
}

impl BlobHeader {
    /// The header's wire form: version byte ‖ key id ‖ material id.
    pub fn to_bytes(&self) -> [u8; BLOB_HEADER_LEN] {
        let mut out = [0u8; BLOB_HEADER_LEN];
        out[0] = BLOB_VERSION;
        out[1..17].copy_from_slice(&self.key_id);
        out[17..49].copy_from_slice(&self.material_id);
        out
    }
}

/// A structurally valid blob, not yet authenticated: the header may be trusted
/// for routing (which key, which version) only; [`SymmetricKey::decrypt`] is
/// what proves it genuine.
#[derive(Clone, Copy, Debug)]
pub struct ParsedBlob<'a> {
    /// The blob's header.
    pub header: BlobHeader,
    nonce: [u8; NONCE_LEN],
    ciphertext_and_tag: &'a [u8],
}

impl ParsedBlob<'_> {
    /// Length of the plaintext the blob would decrypt to.
    pub fn plaintext_len(&self) -> usize {
        self.ciphertext_and_tag.len() - TAG_LEN
    }
}

/// Parses a blob; [`CryptoError::InvalidCiphertext`] if too short
/// (< 49 + 12 + 16 bytes) or of an unknown version.
pub fn parse_blob(blob: &[u8]) -> Result<ParsedBlob<'_>, CryptoError> {
    if blob.len() < BLOB_OVERHEAD || blob[0] != BLOB_VERSION {
        return Err(CryptoError::InvalidCiphertext);
    }
    let (header, rest) = blob.split_at(BLOB_HEADER_LEN);
    let (nonce, ciphertext_and_tag) = rest.split_at(NONCE_LEN);
    let bad = |_| CryptoError::InvalidCiphertext;
    Ok(ParsedBlob {
        header: BlobHeader {
            key_id: header[1..17].try_into().map_err(bad)?,
            material_id: header[17..49].try_into().map_err(bad)?,
        },
        nonce: nonce.try_into().map_err(bad)?,
        ciphertext_and_tag,
    })
}

/// An AES-256-GCM KMS key version (material is 32 bytes), with its key
/// schedule prepared once for the hot path. `Debug` is redacted.
pub struct SymmetricKey(AesGcm256);

impl SymmetricKey {
    /// [`CryptoError::InvalidKeyLength`] unless `material` is 32 bytes.
    pub fn from_material(material: &SecretBytes) -> Result<Self, CryptoError> {
        AesGcm256::new(material.expose()).map(Self)
    }

    /// Fresh random material (32 bytes); returns the key and its material (to
    /// be sealed and stored).
    pub fn generate() -> Result<(Self, SecretBytes), CryptoError> {
        let material = random_bytes(KEY_LEN)?;
        Ok((Self::from_material(&material)?, material))
    }

    /// Encrypts `plaintext` into a blob (see the module documentation), with a
    /// fresh random nonce. `context` is the output of
    /// [`canonical_encryption_context`](crate::canonical_encryption_context).
    pub fn encrypt(
        &self,
        header: &BlobHeader,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let nonce = AesGcm256::random_nonce()?;
        let header_bytes = header.to_bytes();
        let aad = aad(&header_bytes, context);
        let total = plaintext
            .len()
            .checked_add(BLOB_OVERHEAD)
            .ok_or(CryptoError::EncryptionFailure)?;
        let mut out = vec![0u8; total];
        let (head, body) = out.split_at_mut(BLOB_HEADER_LEN + NONCE_LEN);
        head[..BLOB_HEADER_LEN].copy_from_slice(&header_bytes);
        head[BLOB_HEADER_LEN..].copy_from_slice(&nonce);
        self.0
            .seal_into(nonce, &aad, plaintext, body)
            .map_err(|()| CryptoError::EncryptionFailure)?;
        Ok(out)
    }

    /// Authenticates and decrypts a parsed blob under `context`;
    /// [`CryptoError::InvalidCiphertext`] on any tampering, wrong context or
    /// wrong key.
    pub fn decrypt(
        &self,
        blob: &ParsedBlob<'_>,
        context: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let aad = aad(&blob.header.to_bytes(), context);
        self.0
            .open(blob.nonce, &aad, blob.ciphertext_and_tag)
            .map_err(|()| CryptoError::InvalidCiphertext)
    }
}

fn aad(header: &[u8; BLOB_HEADER_LEN], context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(BLOB_HEADER_LEN + context.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(context);
    aad
}

impl fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymmetricKey")
            .field("algorithm", &"AES_256_GCM")
            .field("material", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical_encryption_context;

    const HEADER: BlobHeader = BlobHeader {
        key_id: [0x11; 16],
        material_id: [0x22; 32],
    };

    fn ctx(pairs: &[(&str, &str)]) -> Vec<u8> {
        canonical_encryption_context(pairs.iter().copied())
    }

    #[test]
    fn overhead_constant() {
        assert_eq!(BLOB_OVERHEAD, BLOB_HEADER_LEN + NONCE_LEN + TAG_LEN);
    }

    #[test]
    fn round_trip_without_context() {
        let (key, material) = SymmetricKey::generate().unwrap();
        assert_eq!(material.len(), 32);
        for len in [0, 1, 16, 4096] {
            let pt = random_bytes(len).unwrap();
            let blob = key.encrypt(&HEADER, &[], pt.expose()).unwrap();
            assert_eq!(blob.len(), len + BLOB_OVERHEAD);
            assert_eq!(blob[0], 1);
            let parsed = parse_blob(&blob).unwrap();
            assert_eq!(parsed.header, HEADER);
            assert_eq!(parsed.plaintext_len(), len);
            assert_eq!(key.decrypt(&parsed, &[]).unwrap(), pt);
            // A key rebuilt from the stored material decrypts too.
            let again = SymmetricKey::from_material(&material).unwrap();
            assert_eq!(again.decrypt(&parsed, &[]).unwrap(), pt);
        }
    }

    #[test]
    fn round_trip_with_context() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let c = ctx(&[("purpose", "test"), ("tenant", "42")]);
        let blob = key.encrypt(&HEADER, &c, b"hello").unwrap();
        let parsed = parse_blob(&blob).unwrap();
        assert_eq!(key.decrypt(&parsed, &c).unwrap().expose(), b"hello");
        // Any order of the same pairs.
        let c2 = ctx(&[("tenant", "42"), ("purpose", "test")]);
        assert_eq!(key.decrypt(&parsed, &c2).unwrap().expose(), b"hello");
    }

    #[test]
    fn header_layout() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let blob = key.encrypt(&HEADER, &[], b"x").unwrap();
        assert_eq!(&blob[..49], &HEADER.to_bytes());
        assert_eq!(&blob[1..17], &[0x11; 16]);
        assert_eq!(&blob[17..49], &[0x22; 32]);
        // Fresh nonces: two encryptions differ.
        assert_ne!(blob, key.encrypt(&HEADER, &[], b"x").unwrap());
    }

    #[test]
    fn wrong_context_fails() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let c = ctx(&[("a", "bc")]);
        let blob = key.encrypt(&HEADER, &c, b"secret").unwrap();
        let parsed = parse_blob(&blob).unwrap();
        for wrong in [
            ctx(&[("ab", "c")]),
            ctx(&[("a", "bd")]),
            ctx(&[("a", "bc"), ("x", "y")]),
            ctx(&[]),
        ] {
            assert!(matches!(
                key.decrypt(&parsed, &wrong),
                Err(CryptoError::InvalidCiphertext)
            ));
        }
        // And a no-context blob does not decrypt with a context.
        let blob = key.encrypt(&HEADER, &[], b"secret").unwrap();
        let parsed = parse_blob(&blob).unwrap();
        assert!(key.decrypt(&parsed, &ctx(&[("a", "bc")])).is_err());
    }

    #[test]
    fn every_bit_flip_fails() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let c = ctx(&[("k", "v")]);
        let blob = key.encrypt(&HEADER, &c, b"some plaintext").unwrap();
        for i in 0..blob.len() * 8 {
            let mut b = blob.clone();
            b[i / 8] ^= 1 << (i % 8);
            let result = parse_blob(&b).and_then(|p| key.decrypt(&p, &c));
            assert!(
                matches!(result, Err(CryptoError::InvalidCiphertext)),
                "bit {i}"
            );
        }
    }

    #[test]
    fn wrong_key_fails() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let (other, _) = SymmetricKey::generate().unwrap();
        let blob = key.encrypt(&HEADER, &[], b"secret").unwrap();
        let parsed = parse_blob(&blob).unwrap();
        assert!(matches!(
            other.decrypt(&parsed, &[]),
            Err(CryptoError::InvalidCiphertext)
        ));
    }

    #[test]
    fn parse_rejects_short_and_unknown_version() {
        let (key, _) = SymmetricKey::generate().unwrap();
        let blob = key.encrypt(&HEADER, &[], b"").unwrap();
        assert_eq!(blob.len(), BLOB_OVERHEAD);
        assert!(parse_blob(&blob).is_ok());
        for len in 0..BLOB_OVERHEAD {
            assert!(matches!(
                parse_blob(&blob[..len]),
                Err(CryptoError::InvalidCiphertext)
            ));
        }
        for version in [0u8, 2, 0xff] {
            let mut b = blob.clone();
            b[0] = version;
            assert!(matches!(
                parse_blob(&b),
                Err(CryptoError::InvalidCiphertext)
            ));
        }
        // Truncating a longer blob keeps it parseable but makes it fail to decrypt.
        let blob = key.encrypt(&HEADER, &[], b"0123456789").unwrap();
        for len in BLOB_OVERHEAD..blob.len() {
            let parsed = parse_blob(&blob[..len]).unwrap();
            assert!(key.decrypt(&parsed, &[]).is_err());
        }
    }

    #[test]
    fn material_length_is_checked() {
        for len in [0, 16, 31, 49] {
            assert!(matches!(
                SymmetricKey::from_material(&SecretBytes::new(vec![0; len])),
                Err(CryptoError::InvalidKeyLength { expected: 32, actual }) if actual == len
            ));
        }
    }

    #[test]
    fn debug_does_not_leak_material() {
        let material = SecretBytes::new((0u8..32).collect());
        let key = SymmetricKey::from_material(&material).unwrap();
        let dbg = format!("{key:?} {key:#?}");
        assert!(dbg.contains("[REDACTED]"));
        assert!(!dbg.contains("31"));
        assert!(!dbg.contains("0, 1, 2"));
        let blob = key.encrypt(&HEADER, &[], b"plaintext!").unwrap();
        let parsed = parse_blob(&blob).unwrap();
        let pt = key.decrypt(&parsed, &[]).unwrap();
        assert_eq!(format!("{pt:?}"), "[REDACTED]");
    }

    /// The GCM known-answer vector (McGrew & Viega test case 16) through the
    /// blob path: the blob body is exactly AES-256-GCM(key, nonce, header ‖ context).
    #[test]
    fn blob_body_is_standard_gcm() {
        let material = SecretBytes::new(
            hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
                .unwrap(),
        );
        let key = SymmetricKey::from_material(&material).unwrap();
        let pt = b"interoperable";
        let c = ctx(&[("a", "b")]);
        let blob = key.encrypt(&HEADER, &c, pt).unwrap();
        let nonce: [u8; 12] = blob[49..61].try_into().unwrap();
        let reference = AesGcm256::new(material.expose()).unwrap();
        let mut expected = vec![0; pt.len() + TAG_LEN];
        let aad = [&HEADER.to_bytes()[..], &c].concat();
        reference.seal_into(nonce, &aad, pt, &mut expected).unwrap();
        assert_eq!(&blob[61..], &expected[..]);
    }
}
