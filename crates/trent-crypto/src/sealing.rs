//! The root of trust: the [`RootKeyProvider`] trait and [`SealingKey`], the
//! in-process implementation of the sealed-secret format that software providers
//! (`file`, `passphrase`) share. The `pkcs11` provider seals inside its token, in a
//! format of the same layout with version byte 2 (`pkcs11_root_key.rs`).
//!
//! Sealed format, version 1:
//! `0x01 ‖ nonce (12 bytes, random) ‖ AES-256-GCM ciphertext ‖ tag (16 bytes)`,
//! with the caller's associated data (for key material: key ARN ‖ material id)
//! as the GCM AAD, so a sealed secret cannot be moved to another record.

use std::fmt;

use crate::aead::{AesGcm256, NONCE_LEN, TAG_LEN};
use crate::{CryptoError, SecretBytes, XksMasterKey};

/// Version byte of the sealed format.
pub const SEALED_VERSION: u8 = 1;
/// Bytes a sealed secret adds to its plaintext: version, nonce and tag.
pub const SEALED_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// The root of trust. Seals and unseals every secret the store keeps.
pub trait RootKeyProvider: Send + Sync + fmt::Debug {
    /// `"file"`, `"passphrase"` or `"pkcs11"`.
    fn kind(&self) -> &'static str;
    /// AES-256-GCM under the root key; output = version byte ‖ 12-byte random
    /// nonce ‖ ciphertext ‖ 16-byte tag. The version byte names the provider's format:
    /// 1 for the in-process [`SealingKey`] (`file`, `passphrase`), 2 for `pkcs11`
    /// (sealed inside the token), so that no provider misreads another's secrets.
    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// Inverse of `seal`; any mismatch (wrong key, wrong aad, tampering, bad
    /// version) → [`CryptoError::UnsealFailure`].
    fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError>;

    /// Seals a *derivation key* (an AES-256 key that only derives others: the XKS
    /// proxy's master key) for the store: `material`, or when `None` a fresh random key
    /// made where the root key is. Software providers seal it as any secret; `pkcs11`
    /// wraps it with the root key inside the token (see `pkcs11_root_key.rs`).
    fn seal_derivation_key(
        &self,
        aad: &[u8],
        material: Option<&SecretBytes>,
    ) -> Result<Vec<u8>, CryptoError> {
        match material {
            Some(material) => self.seal(aad, material.expose()),
            None => self.seal(aad, crate::random_bytes(crate::KEY_LEN)?.expose()),
        }
    }

    /// Opens a sealed derivation key where it is used: in this process for software
    /// providers, as a non-extractable object inside the token for `pkcs11` (the key
    /// never enters the process). Any mismatch → [`CryptoError::UnsealFailure`].
    fn open_derivation_key(&self, aad: &[u8], sealed: &[u8]) -> Result<XksMasterKey, CryptoError> {
        XksMasterKey::in_process(&self.unseal(aad, sealed)?)
    }

    /// A sealed derivation key's value: only for `trent root-key migrate`, which moves it
    /// to another root of trust. Any mismatch → [`CryptoError::UnsealFailure`].
    fn export_derivation_key(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        let material = self.unseal(aad, sealed)?;
        if material.len() != crate::KEY_LEN {
            return Err(CryptoError::UnsealFailure);
        }
        Ok(material)
    }
}

/// A 256-bit root key held in process memory, implementing the sealed format.
/// Its `Debug` output is redacted; the key schedule lives in aws-lc memory,
/// which aws-lc cleanses when it frees it (`OPENSSL_free`).
pub struct SealingKey(AesGcm256);

impl SealingKey {
    /// Prepares a sealing key; [`CryptoError::InvalidKeyLength`] unless
    /// `material` is 32 bytes.
    pub fn from_material(material: &SecretBytes) -> Result<Self, CryptoError> {
        AesGcm256::new(material.expose()).map(Self)
    }

    /// Seals `plaintext` (see the module documentation for the format).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = AesGcm256::random_nonce().map_err(|_| CryptoError::SealFailure)?;
        let total = plaintext
            .len()
            .checked_add(SEALED_OVERHEAD)
            .ok_or(CryptoError::SealFailure)?;
        let mut out = vec![0u8; total];
        let (head, body) = out.split_at_mut(1 + NONCE_LEN);
        head[0] = SEALED_VERSION;
        head[1..].copy_from_slice(&nonce);
        self.0
            .seal_into(nonce, aad, plaintext, body)
            .map_err(|()| CryptoError::SealFailure)?;
        Ok(out)
    }

    /// Unseals what [`SealingKey::seal`] produced with the same key and `aad`.
    pub fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        if sealed.len() < SEALED_OVERHEAD {
            return Err(CryptoError::UnsealFailure);
        }
        let (version, rest) = sealed.split_at(1);
        if version[0] != SEALED_VERSION {
            return Err(CryptoError::UnsealFailure);
        }
        let (nonce, ciphertext_and_tag) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::UnsealFailure)?;
        self.0
            .open(nonce, aad, ciphertext_and_tag)
            .map_err(|()| CryptoError::UnsealFailure)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("key", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random_bytes;

    fn key() -> SealingKey {
        SealingKey::from_material(&random_bytes(32).unwrap()).unwrap()
    }

    #[test]
    fn round_trip() {
        let k = key();
        for len in [0, 1, 32, 1000] {
            let pt = random_bytes(len).unwrap();
            let sealed = k.seal(b"arn:aws:kms:...|m1", pt.expose()).unwrap();
            assert_eq!(sealed.len(), len + SEALED_OVERHEAD);
            assert_eq!(sealed[0], SEALED_VERSION);
            assert_eq!(k.unseal(b"arn:aws:kms:...|m1", &sealed).unwrap(), pt);
        }
    }

    #[test]
    fn nonces_are_fresh() {
        let k = key();
        assert_ne!(
            k.seal(b"a", b"same").unwrap(),
            k.seal(b"a", b"same").unwrap()
        );
    }

    #[test]
    fn failures() {
        let k = key();
        let sealed = k.seal(b"aad", b"secret material").unwrap();
        let unseal_fails =
            |aad: &[u8], s: &[u8]| matches!(k.unseal(aad, s), Err(CryptoError::UnsealFailure));
        assert!(unseal_fails(b"aae", &sealed));
        assert!(unseal_fails(b"", &sealed));
        for i in 0..sealed.len() * 8 {
            let mut s = sealed.clone();
            s[i / 8] ^= 1 << (i % 8);
            assert!(unseal_fails(b"aad", &s), "bit {i}");
        }
        for len in 0..sealed.len() {
            assert!(unseal_fails(b"aad", &sealed[..len]), "truncated to {len}");
        }
        let mut extended = sealed.clone();
        extended.push(0);
        assert!(unseal_fails(b"aad", &extended));
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert!(unseal_fails(b"aad", &v2));
        assert!(matches!(
            key().unseal(b"aad", &sealed),
            Err(CryptoError::UnsealFailure)
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let material = SecretBytes::new(vec![0xAB; 32]);
        let k = SealingKey::from_material(&material).unwrap();
        let dbg = format!("{k:?}");
        assert!(dbg.contains("[REDACTED]"));
        assert!(!dbg.to_lowercase().contains("ab, ab") && !dbg.contains("171"));
    }

    #[test]
    fn rejects_wrong_length() {
        assert!(matches!(
            SealingKey::from_material(&SecretBytes::new(vec![0; 16])),
            Err(CryptoError::InvalidKeyLength {
                expected: 32,
                actual: 16
            })
        ));
    }
}
