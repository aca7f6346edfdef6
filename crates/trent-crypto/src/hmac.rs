//! HMAC KMS keys (HMAC_224/256/384/512, RFC 2104) over aws-lc-rs.

use std::fmt;

use aws_lc_rs::hmac;

use crate::{CryptoError, SecretBytes};

/// The key spec of an HMAC KMS key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HmacKeySpec {
    /// HMAC with SHA-224.
    Hmac224,
    /// HMAC with SHA-256.
    Hmac256,
    /// HMAC with SHA-384.
    Hmac384,
    /// HMAC with SHA-512.
    Hmac512,
}

impl HmacKeySpec {
    /// Every HMAC key spec.
    pub const ALL: [Self; 4] = [Self::Hmac224, Self::Hmac256, Self::Hmac384, Self::Hmac512];

    /// Parses AWS's `KeySpec` name (`"HMAC_256"`, ...).
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.wire_name() == s)
    }

    /// AWS's name for the spec.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Hmac224 => "HMAC_224",
            Self::Hmac256 => "HMAC_256",
            Self::Hmac384 => "HMAC_384",
            Self::Hmac512 => "HMAC_512",
        }
    }

    /// Length in bytes of the key material AWS generates: the digest size
    /// (the key spec reference: "HMAC_256 ... 256-bit key").
    pub fn key_len(self) -> usize {
        match self {
            Self::Hmac224 => 28,
            Self::Hmac256 => 32,
            Self::Hmac384 => 48,
            Self::Hmac512 => 64,
        }
    }

    /// The one MAC algorithm keys of this spec support.
    pub fn algorithm(self) -> MacAlgorithm {
        match self {
            Self::Hmac224 => MacAlgorithm::HmacSha224,
            Self::Hmac256 => MacAlgorithm::HmacSha256,
            Self::Hmac384 => MacAlgorithm::HmacSha384,
            Self::Hmac512 => MacAlgorithm::HmacSha512,
        }
    }

    /// Bounds (inclusive, bytes) on imported key material, as AWS documents
    /// for importing HMAC key material.
    pub fn import_len_range(self) -> std::ops::RangeInclusive<usize> {
        match self {
            Self::Hmac224 => 28..=64,
            Self::Hmac256 => 32..=64,
            Self::Hmac384 => 48..=128,
            Self::Hmac512 => 64..=128,
        }
    }
}

/// A MAC algorithm (`MacAlgorithmSpec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MacAlgorithm {
    /// HMAC-SHA-224.
    HmacSha224,
    /// HMAC-SHA-256.
    HmacSha256,
    /// HMAC-SHA-384.
    HmacSha384,
    /// HMAC-SHA-512.
    HmacSha512,
}

impl MacAlgorithm {
    /// Every MAC algorithm.
    pub const ALL: [Self; 4] = [
        Self::HmacSha224,
        Self::HmacSha256,
        Self::HmacSha384,
        Self::HmacSha512,
    ];

    /// Parses AWS's `MacAlgorithmSpec` name.
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.wire_name() == s)
    }

    /// AWS's name for the algorithm.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::HmacSha224 => "HMAC_SHA_224",
            Self::HmacSha256 => "HMAC_SHA_256",
            Self::HmacSha384 => "HMAC_SHA_384",
            Self::HmacSha512 => "HMAC_SHA_512",
        }
    }
}

/// An HMAC key. `Debug` prints the spec only; the material is zeroized on drop.
pub struct HmacKey {
    spec: HmacKeySpec,
    material: SecretBytes,
}

impl HmacKey {
    /// Generates fresh random key material of [`HmacKeySpec::key_len`] bytes.
    pub fn generate(spec: HmacKeySpec) -> Result<Self, CryptoError> {
        let material = crate::random_bytes(spec.key_len())?;
        Ok(Self { spec, material })
    }

    /// Imported material: AWS accepts 28–64 (224), 32–64 (256), 48–128 (384)
    /// and 64–128 (512) bytes; anything else is
    /// [`CryptoError::InvalidKeyMaterial`].
    pub fn from_material(spec: HmacKeySpec, material: &[u8]) -> Result<Self, CryptoError> {
        if !spec.import_len_range().contains(&material.len()) {
            return Err(CryptoError::InvalidKeyMaterial);
        }
        Ok(Self {
            spec,
            material: SecretBytes::from_slice(material),
        })
    }

    /// The key material.
    pub fn material(&self) -> &SecretBytes {
        &self.material
    }

    /// The key spec.
    pub fn spec(&self) -> HmacKeySpec {
        self.spec
    }

    /// The MAC of `message`. [`CryptoError::IncompatibleAlgorithm`] unless
    /// `alg` is the spec's algorithm.
    pub fn mac(&self, alg: MacAlgorithm, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self.key(alg)?;
        Ok(hmac::sign(&key, message).as_ref().to_vec())
    }

    /// Verifies `mac` in constant time.
    pub fn verify(
        &self,
        alg: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, CryptoError> {
        let key = self.key(alg)?;
        // aws-lc-rs compares the tags in constant time.
        Ok(hmac::verify(&key, message, mac).is_ok())
    }

    fn key(&self, alg: MacAlgorithm) -> Result<hmac::Key, CryptoError> {
        if alg != self.spec.algorithm() {
            return Err(CryptoError::IncompatibleAlgorithm);
        }
        let algorithm = match alg {
            MacAlgorithm::HmacSha224 => hmac::HMAC_SHA224,
            MacAlgorithm::HmacSha256 => hmac::HMAC_SHA256,
            MacAlgorithm::HmacSha384 => hmac::HMAC_SHA384,
            MacAlgorithm::HmacSha512 => hmac::HMAC_SHA512,
        };
        Ok(hmac::Key::new(algorithm, self.material.expose()))
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for spec in HmacKeySpec::ALL {
            assert_eq!(HmacKeySpec::from_wire(spec.wire_name()), Some(spec));
            assert_eq!(
                MacAlgorithm::from_wire(spec.algorithm().wire_name()),
                Some(spec.algorithm())
            );
        }
        assert_eq!(HmacKeySpec::from_wire("RSA_2048"), None);
        assert_eq!(MacAlgorithm::from_wire("HMAC_SHA_1"), None);
    }

    #[test]
    fn mac_and_verify() {
        for spec in HmacKeySpec::ALL {
            let key = HmacKey::generate(spec).unwrap();
            assert_eq!(key.material().len(), spec.key_len());
            assert_eq!(key.spec(), spec);
            let alg = spec.algorithm();
            let mac = key.mac(alg, b"message").unwrap();
            assert_eq!(mac.len(), spec.key_len(), "HMAC output is the digest size");
            assert!(key.verify(alg, b"message", &mac).unwrap());
            assert!(!key.verify(alg, b"messagf", &mac).unwrap());
            let mut bad = mac.clone();
            bad[0] ^= 1;
            assert!(!key.verify(alg, b"message", &bad).unwrap());
            assert!(!key.verify(alg, b"message", &mac[..mac.len() - 1]).unwrap());
            assert!(!key.verify(alg, b"message", b"").unwrap());
            let other = HmacKey::generate(spec).unwrap();
            assert_ne!(other.mac(alg, b"message").unwrap(), mac);
            for wrong in MacAlgorithm::ALL.into_iter().filter(|a| *a != alg) {
                assert!(matches!(
                    key.mac(wrong, b"m"),
                    Err(CryptoError::IncompatibleAlgorithm)
                ));
                assert!(matches!(
                    key.verify(wrong, b"m", &mac),
                    Err(CryptoError::IncompatibleAlgorithm)
                ));
            }
        }
    }

    #[test]
    fn imported_material_bounds() {
        for spec in HmacKeySpec::ALL {
            let range = spec.import_len_range();
            let (lo, hi) = (*range.start(), *range.end());
            for ok in [lo, hi] {
                let key = HmacKey::from_material(spec, &vec![7; ok]).unwrap();
                assert_eq!(key.material().expose(), vec![7; ok].as_slice());
            }
            for bad in [0, lo - 1, hi + 1] {
                assert!(matches!(
                    HmacKey::from_material(spec, &vec![7; bad]),
                    Err(CryptoError::InvalidKeyMaterial)
                ));
            }
        }
    }

    /// RFC 4231 test case 6 uses a 131-byte key (beyond the import bounds),
    /// so this vector goes through the same aws-lc-rs call directly; the
    /// imported-key path is checked against Python's `hmac` in tests/interop.rs.
    #[test]
    fn rfc4231_case_2_through_the_same_primitive() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let tag = hmac::sign(&key, b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(tag.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn debug_is_redacted() {
        let key = HmacKey::from_material(HmacKeySpec::Hmac256, &[0xab; 32]).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("Hmac256"));
        assert!(!shown.contains("ab, ") && !shown.contains("171"));
    }
}
