//! The keys Trent serves as an AWS KMS External Key Store (XKS) proxy: AES-256-GCM keys
//! derived from one master secret, and the encrypt/decrypt shapes of the XKS proxy API
//! (detached 16-byte tag, 12-byte IV, the caller's AAD as given).
//!
//! A key is HKDF-SHA-256 over the master secret (no salt) with an `info` the caller
//! builds; its material never exists outside this module's zeroizing buffers and the
//! aws-lc-rs key schedule. Every encryption draws a fresh random 96-bit IV.

use aws_lc_rs::hkdf;
use zeroize::Zeroizing;

use crate::aead::AesGcm256;
use crate::{random_array, CryptoError, SecretBytes, KEY_LEN, NONCE_LEN, TAG_LEN};

/// The HKDF output length: one AES-256 key.
struct KeyLen;

impl hkdf::KeyType for KeyLen {
    fn len(&self) -> usize {
        KEY_LEN
    }
}

/// The output of [`XksKey::encrypt`]: IV, ciphertext (as long as the plaintext) and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XksCiphertext {
    pub iv: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
    pub tag: [u8; TAG_LEN],
}

/// One AES-256-GCM key of the XKS proxy. `Debug` is redacted.
pub struct XksKey(AesGcm256);

impl std::fmt::Debug for XksKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XksKey([REDACTED])")
    }
}

impl XksKey {
    /// HKDF-SHA-256(`master`, info = the concatenation of `info`), 32 bytes. `master`
    /// must be at least 32 bytes.
    pub fn derive(master: &SecretBytes, info: &[&[u8]]) -> Result<XksKey, CryptoError> {
        if master.len() < KEY_LEN {
            return Err(CryptoError::InvalidKeyLength {
                expected: KEY_LEN,
                actual: master.len(),
            });
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(master.expose());
        let okm = prk
            .expand(info, KeyLen)
            .map_err(|_| CryptoError::InvalidKeyMaterial)?;
        let mut material = Zeroizing::new([0u8; KEY_LEN]);
        okm.fill(&mut material[..])
            .map_err(|_| CryptoError::InvalidKeyMaterial)?;
        Ok(XksKey(AesGcm256::new(&material[..])?))
    }

    /// AES-256-GCM with a fresh random 12-byte IV and `aad` as the associated data.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Result<XksCiphertext, CryptoError> {
        let iv = random_array::<NONCE_LEN>()?;
        let mut out = vec![0u8; plaintext.len() + TAG_LEN];
        self.0
            .seal_into(iv, aad, plaintext, &mut out)
            .map_err(|()| CryptoError::EncryptionFailure)?;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&out[plaintext.len()..]);
        out.truncate(plaintext.len());
        Ok(XksCiphertext {
            iv,
            ciphertext: out,
            tag,
        })
    }

    /// The inverse of [`XksKey::encrypt`]: any mismatch (IV not 12 bytes, tag not 16
    /// bytes, wrong key, AAD, ciphertext or tag) is [`CryptoError::InvalidCiphertext`].
    pub fn decrypt(
        &self,
        iv: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let iv: [u8; NONCE_LEN] = iv.try_into().map_err(|_| CryptoError::InvalidCiphertext)?;
        if tag.len() != TAG_LEN {
            return Err(CryptoError::InvalidCiphertext);
        }
        let mut joined = Vec::with_capacity(ciphertext.len() + TAG_LEN);
        joined.extend_from_slice(ciphertext);
        joined.extend_from_slice(tag);
        self.0
            .open(iv, aad, &joined)
            .map_err(|()| CryptoError::InvalidCiphertext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> SecretBytes {
        SecretBytes::new((0u8..32).collect())
    }

    #[test]
    fn round_trip_and_every_tamper_is_refused() {
        let key = XksKey::derive(&master(), &[b"info"]).unwrap();
        let c = key.encrypt(b"aad", b"hello world").unwrap();
        assert_eq!(c.ciphertext.len(), 11);
        let p = key.decrypt(&c.iv, b"aad", &c.ciphertext, &c.tag).unwrap();
        assert_eq!(p.expose(), b"hello world");
        assert!(key.decrypt(&c.iv, b"aaD", &c.ciphertext, &c.tag).is_err());
        let mut ct = c.ciphertext.clone();
        ct[0] ^= 1;
        assert!(key.decrypt(&c.iv, b"aad", &ct, &c.tag).is_err());
        let mut tag = c.tag;
        tag[15] ^= 1;
        assert!(key.decrypt(&c.iv, b"aad", &c.ciphertext, &tag).is_err());
        let mut iv = c.iv;
        iv[0] ^= 1;
        assert!(key.decrypt(&iv, b"aad", &c.ciphertext, &c.tag).is_err());
        assert!(key
            .decrypt(&[0; 16], b"aad", &c.ciphertext, &c.tag)
            .is_err());
        assert!(key
            .decrypt(&c.iv, b"aad", &c.ciphertext, &c.tag[..8])
            .is_err());
        // Another info, another key.
        let other = XksKey::derive(&master(), &[b"inf", b"o2"]).unwrap();
        assert!(other.decrypt(&c.iv, b"aad", &c.ciphertext, &c.tag).is_err());
        // The same info in other pieces is the same key (the caller length-prefixes).
        let same = XksKey::derive(&master(), &[b"in", b"fo"]).unwrap();
        assert!(same.decrypt(&c.iv, b"aad", &c.ciphertext, &c.tag).is_ok());
        // Fresh IVs.
        assert_ne!(
            key.encrypt(b"", b"x").unwrap().iv,
            key.encrypt(b"", b"x").unwrap().iv
        );
        assert_eq!(format!("{key:?}"), "XksKey([REDACTED])");
    }

    #[test]
    fn a_short_master_is_refused() {
        assert!(XksKey::derive(&SecretBytes::new(vec![1; 16]), &[b"x"]).is_err());
    }
}
