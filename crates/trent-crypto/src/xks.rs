//! The keys Trent serves as an AWS KMS External Key Store (XKS) proxy: AES-256-GCM keys
//! derived from one master key (a *derivation key*), and the encrypt/decrypt shapes of
//! the XKS proxy API (detached 16-byte tag, 12-byte IV, the caller's AAD as given).
//!
//! **Derivation** (version 2, one function wherever the master key lives, so that a key
//! is the same key before and after `trent root-key migrate`): the key for `info` is
//! AES-256-CBC with a zero IV of `D = SHA-256(info)` under the master key, i.e.
//! `AES(M, D[0..16]) ‖ AES(M, AES(M, D[0..16]) ⊕ D[16..32])` — PKCS#11's
//! `CKM_AES_CBC_ENCRYPT_DATA`, which a token computes without the master key or the
//! derived key ever leaving it.
//!
//! **Where the keys live.** [`XksMasterKey::in_process`] holds the master key in this
//! process (the `file` and `passphrase` root keys) and derives keys whose key schedule
//! lives in aws-lc memory. With the `pkcs11` root key the master key is a non-extractable
//! session object in the token (unwrapped there from its stored, wrapped form) and so is
//! every derived key: each encryption and decryption runs inside the token
//! (`CKM_AES_GCM`). Session objects live as long as the root key's keeper session, and an
//! [`XksKey`] or [`XksMasterKey`] destroys its object when dropped.
//!
//! Every encryption draws a fresh random 96-bit IV.

use std::sync::Arc;

use aws_lc_rs::cipher::{EncryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::digest;
use cryptoki::error::Error as CkError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::ekdf::AesCbcDeriveParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use zeroize::Zeroizing;

use crate::aead::AesGcm256;
use crate::pkcs11_sessions::TokenSessions;
use crate::{random_array, CryptoError, SecretBytes, KEY_LEN, NONCE_LEN, TAG_LEN};

const BLOCK: usize = 16;
const TAG_BITS: u64 = (TAG_LEN * 8) as u64;

/// The output of [`XksKey::encrypt`]: IV, ciphertext (as long as the plaintext) and tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XksCiphertext {
    pub iv: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
    pub tag: [u8; TAG_LEN],
}

/// A session object of a token, destroyed when dropped.
struct TokenObject {
    sessions: Arc<TokenSessions>,
    handle: ObjectHandle,
}

impl TokenObject {
    fn attributes(&self) -> Option<crate::TokenKeyAttributes> {
        self.sessions
            .with_keeper(|session| {
                crate::pkcs11_token::read_attributes(session, self.handle).map_err(|e| {
                    crate::pkcs11_sessions::refusal(crate::Pkcs11Refusal::Device, e.to_string())
                })
            })
            .ok()
    }
}

impl Drop for TokenObject {
    fn drop(&mut self) {
        let handle = self.handle;
        // A failure leaves a session object, gone with the keeper session at the latest.
        let _ = self.sessions.with_keeper(|session| {
            let _ = session.destroy_object(handle);
            Ok(())
        });
    }
}

enum MasterInner {
    Process(Box<EncryptingKey>),
    Token(TokenObject),
}

/// The master key the XKS keys are derived from (see the module documentation).
/// `Debug` is redacted.
pub struct XksMasterKey(MasterInner);

impl std::fmt::Debug for XksMasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            MasterInner::Process(_) => f.write_str("XksMasterKey(in process, [REDACTED])"),
            MasterInner::Token(_) => f.write_str("XksMasterKey(in the token)"),
        }
    }
}

impl XksMasterKey {
    /// A master key held in this process; [`CryptoError::InvalidKeyLength`] unless
    /// `material` is 32 bytes.
    pub fn in_process(material: &SecretBytes) -> Result<XksMasterKey, CryptoError> {
        if material.len() != KEY_LEN {
            return Err(CryptoError::InvalidKeyLength {
                expected: KEY_LEN,
                actual: material.len(),
            });
        }
        let key = UnboundCipherKey::new(&AES_256, material.expose())
            .and_then(EncryptingKey::ecb)
            .map_err(|_| CryptoError::InvalidKeyMaterial)?;
        Ok(XksMasterKey(MasterInner::Process(Box::new(key))))
    }

    /// A master key that is the session object `handle` of the token behind `sessions`.
    pub(crate) fn in_token(sessions: Arc<TokenSessions>, handle: ObjectHandle) -> XksMasterKey {
        XksMasterKey(MasterInner::Token(TokenObject { sessions, handle }))
    }

    /// Whether the key lives in a token.
    pub fn is_in_token(&self) -> bool {
        matches!(self.0, MasterInner::Token(_))
    }

    /// The token object's protection, as the token reports it (`None` in process, or if
    /// the token cannot say).
    pub fn token_attributes(&self) -> Option<crate::TokenKeyAttributes> {
        match &self.0 {
            MasterInner::Process(_) => None,
            MasterInner::Token(object) => object.attributes(),
        }
    }

    /// The key for `info` (the concatenation of its pieces; the caller length-prefixes
    /// them), where the master key lives.
    pub fn derive(&self, info: &[&[u8]]) -> Result<XksKey, CryptoError> {
        let mut hash = digest::Context::new(&digest::SHA256);
        for piece in info {
            hash.update(piece);
        }
        let digest = hash.finish();
        let data: &[u8] = digest.as_ref();
        match &self.0 {
            MasterInner::Process(master) => {
                let mut material = Zeroizing::new([0u8; KEY_LEN]);
                material.copy_from_slice(data);
                // CBC with a zero IV, one block at a time over ECB.
                let (first, second) = material.split_at_mut(BLOCK);
                master
                    .encrypt(first)
                    .map_err(|_| CryptoError::InvalidKeyMaterial)?;
                for (b, p) in second.iter_mut().zip(first.iter()) {
                    *b ^= *p;
                }
                master
                    .encrypt(second)
                    .map_err(|_| CryptoError::InvalidKeyMaterial)?;
                Ok(XksKey(KeyInner::Process(AesGcm256::new(&material[..])?)))
            }
            MasterInner::Token(master) => {
                let template = [
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen((KEY_LEN as u64).into()),
                    Attribute::Token(false),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Derive(false),
                    Attribute::Wrap(false),
                    Attribute::Unwrap(false),
                ];
                let params = AesCbcDeriveParams::new([0u8; BLOCK], data);
                let handle = master
                    .sessions
                    .with_keeper(|session| {
                        session
                            .derive_key(
                                &Mechanism::AesCbcEncryptData(params),
                                master.handle,
                                &template,
                            )
                            .map_err(|e| {
                                crate::pkcs11_sessions::refusal(
                                    crate::Pkcs11Refusal::Device,
                                    format!("deriving an XKS key in the token failed: {e}"),
                                )
                            })
                    })
                    .map_err(|e| {
                        tracing::error!(error = %e, "XKS key derivation in the token failed");
                        CryptoError::InvalidKeyMaterial
                    })?;
                Ok(XksKey(KeyInner::Token(TokenObject {
                    sessions: Arc::clone(&master.sessions),
                    handle,
                })))
            }
        }
    }
}

enum KeyInner {
    Process(AesGcm256),
    Token(TokenObject),
}

/// One AES-256-GCM key of the XKS proxy, in this process or in a token. `Debug` is
/// redacted.
pub struct XksKey(KeyInner);

impl std::fmt::Debug for XksKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XksKey([REDACTED])")
    }
}

impl XksKey {
    /// The token object's protection, as the token reports it (`None` in process, or if
    /// the token cannot say).
    pub fn token_attributes(&self) -> Option<crate::TokenKeyAttributes> {
        match &self.0 {
            KeyInner::Process(_) => None,
            KeyInner::Token(object) => object.attributes(),
        }
    }

    /// AES-256-GCM with a fresh random 12-byte IV and `aad` as the associated data.
    pub fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Result<XksCiphertext, CryptoError> {
        let (iv, mut out) = match &self.0 {
            KeyInner::Process(key) => {
                let iv = random_array::<NONCE_LEN>()?;
                let mut out = vec![0u8; plaintext.len() + TAG_LEN];
                key.seal_into(iv, aad, plaintext, &mut out)
                    .map_err(|()| CryptoError::EncryptionFailure)?;
                (iv, out)
            }
            KeyInner::Token(key) => key
                .sessions
                .with_session(
                    |session| {
                        // A fresh IV for every attempt (a retry on a new session too).
                        let mut iv: [u8; NONCE_LEN] =
                            random_array().map_err(|_| CkError::InvalidValue)?;
                        let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
                        let out =
                            session.encrypt(&Mechanism::AesGcm(params), key.handle, plaintext)?;
                        Ok((iv, out))
                    },
                    // A session object cannot be found again: its handle is the key.
                    |_| false,
                )
                .map_err(|e| {
                    tracing::error!(error = %e, "XKS encryption in the token failed");
                    CryptoError::EncryptionFailure
                })?,
        };
        if out.len() != plaintext.len() + TAG_LEN {
            return Err(CryptoError::EncryptionFailure);
        }
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
        match &self.0 {
            KeyInner::Process(key) => key
                .open(iv, aad, &joined)
                .map_err(|()| CryptoError::InvalidCiphertext),
            KeyInner::Token(key) => {
                let opened = key.sessions.with_session(
                    |session| {
                        let mut iv = iv;
                        let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
                        session.decrypt(&Mechanism::AesGcm(params), key.handle, &joined)
                    },
                    |_| false,
                );
                match opened {
                    Ok(plaintext) if plaintext.len() == ciphertext.len() => {
                        Ok(SecretBytes::new(plaintext))
                    }
                    Ok(_) => Err(CryptoError::InvalidCiphertext),
                    Err(e) if crate::pkcs11_sessions::is_data_error(&e) => {
                        Err(CryptoError::InvalidCiphertext)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "XKS decryption in the token failed");
                        Err(CryptoError::DeviceFailure)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> XksMasterKey {
        XksMasterKey::in_process(&SecretBytes::new((0u8..32).collect())).unwrap()
    }

    #[test]
    fn round_trip_and_every_tamper_is_refused() {
        let key = master().derive(&[b"info"]).unwrap();
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
        let other = master().derive(&[b"inf", b"o2"]).unwrap();
        assert!(other.decrypt(&c.iv, b"aad", &c.ciphertext, &c.tag).is_err());
        // The same info in other pieces is the same key (the caller length-prefixes).
        let same = master().derive(&[b"in", b"fo"]).unwrap();
        assert!(same.decrypt(&c.iv, b"aad", &c.ciphertext, &c.tag).is_ok());
        // Fresh IVs.
        assert_ne!(
            key.encrypt(b"", b"x").unwrap().iv,
            key.encrypt(b"", b"x").unwrap().iv
        );
        assert_eq!(format!("{key:?}"), "XksKey([REDACTED])");
        assert_eq!(
            format!("{:?}", master()),
            "XksMasterKey(in process, [REDACTED])"
        );
    }

    /// The derivation is AES-256-CBC (zero IV) of SHA-256(info) under the master key, as
    /// PKCS#11's CKM_AES_CBC_ENCRYPT_DATA computes it in a token: a vector computed
    /// with Python's `cryptography` (master = bytes 0..32, info = "info", then AES-GCM
    /// with IV 01×12, AAD "aad", plaintext "hello world").
    #[test]
    fn the_derivation_matches_an_independent_implementation() {
        let key = master().derive(&[b"info"]).unwrap();
        let ciphertext = hex::decode("78fb83319c1ffae5144e76").unwrap();
        let tag = hex::decode("ead39eae57e3f2d9a9286766e9bb03b9").unwrap();
        let plaintext = key.decrypt(&[1; 12], b"aad", &ciphertext, &tag).unwrap();
        assert_eq!(plaintext.expose(), b"hello world");
    }

    #[test]
    fn a_master_key_of_the_wrong_length_is_refused() {
        assert!(XksMasterKey::in_process(&SecretBytes::new(vec![1; 16])).is_err());
        assert!(XksMasterKey::in_process(&SecretBytes::new(vec![1; 33])).is_err());
    }
}
