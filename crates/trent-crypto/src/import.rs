//! Import of key material (BYOK): the RSA wrapping key pair that GetParametersForImport
//! hands out, and the unwrapping of an ImportKeyMaterial request's EncryptedKeyMaterial,
//! as AWS documents both
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-encrypt-key-material.html>).
//!
//! - `RSAES_OAEP_SHA_1` / `RSAES_OAEP_SHA_256`: the material is RSA-OAEP encrypted under
//!   the wrapping public key, MGF1 with the same hash, empty label.
//! - `RSA_AES_KEY_WRAP_SHA_1` / `RSA_AES_KEY_WRAP_SHA_256`: the first modulus-length bytes
//!   are an ephemeral AES-256 key, RSA-OAEP encrypted as above; the rest is the material
//!   wrapped under that AES key with AES Key Wrap with Padding (RFC 5649).
//!
//! RSA stays in aws-lc-rs (constant-time, blinded), as everywhere in this crate. Every
//! failure to unwrap is the one coarse [`CryptoError::InvalidCiphertext`].

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::{
    KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1,
    OAEP_SHA256_MGF1SHA256,
};

use crate::{CryptoError, SecretBytes};

/// The RSA wrapping key specs AWS offers (`WrappingKeySpec`; SM2 is China Regions only and
/// not offered by Trent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WrappingKeySpec {
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl WrappingKeySpec {
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "RSA_2048" => Some(Self::Rsa2048),
            "RSA_3072" => Some(Self::Rsa3072),
            "RSA_4096" => Some(Self::Rsa4096),
            _ => None,
        }
    }

    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Rsa2048 => "RSA_2048",
            Self::Rsa3072 => "RSA_3072",
            Self::Rsa4096 => "RSA_4096",
        }
    }

    /// The modulus length in bytes.
    pub fn modulus_len(self) -> usize {
        match self {
            Self::Rsa2048 => 256,
            Self::Rsa3072 => 384,
            Self::Rsa4096 => 512,
        }
    }

    fn key_size(self) -> KeySize {
        match self {
            Self::Rsa2048 => KeySize::Rsa2048,
            Self::Rsa3072 => KeySize::Rsa3072,
            Self::Rsa4096 => KeySize::Rsa4096,
        }
    }
}

/// The wrapping algorithms AWS accepts (`AlgorithmSpec`, without `RSAES_PKCS1_V1_5`, which
/// AWS stopped supporting on October 10, 2023, and without SM2PKE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WrappingAlgorithm {
    RsaesOaepSha1,
    RsaesOaepSha256,
    RsaAesKeyWrapSha1,
    RsaAesKeyWrapSha256,
}

impl WrappingAlgorithm {
    pub fn from_wire(s: &str) -> Option<Self> {
        match s {
            "RSAES_OAEP_SHA_1" => Some(Self::RsaesOaepSha1),
            "RSAES_OAEP_SHA_256" => Some(Self::RsaesOaepSha256),
            "RSA_AES_KEY_WRAP_SHA_1" => Some(Self::RsaAesKeyWrapSha1),
            "RSA_AES_KEY_WRAP_SHA_256" => Some(Self::RsaAesKeyWrapSha256),
            _ => None,
        }
    }

    pub fn wire_name(self) -> &'static str {
        match self {
            Self::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            Self::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            Self::RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            Self::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        }
    }

    /// Whether the material is wrapped under an ephemeral AES key (two-step wrapping).
    pub fn is_rsa_aes(self) -> bool {
        matches!(self, Self::RsaAesKeyWrapSha1 | Self::RsaAesKeyWrapSha256)
    }

    fn oaep(self) -> &'static OaepAlgorithm {
        match self {
            Self::RsaesOaepSha1 | Self::RsaAesKeyWrapSha1 => &OAEP_SHA1_MGF1SHA1,
            Self::RsaesOaepSha256 | Self::RsaAesKeyWrapSha256 => &OAEP_SHA256_MGF1SHA256,
        }
    }
}

/// The private half of a wrapping key pair. `Debug` prints the spec only; the PKCS#8 DER
/// is zeroized on drop.
pub struct WrappingKey {
    spec: WrappingKeySpec,
    key: OaepPrivateDecryptingKey,
    pkcs8: SecretBytes,
    public_der: Vec<u8>,
}

impl std::fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappingKey")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl WrappingKey {
    /// A fresh wrapping key pair. Blocking, and slow for RSA-4096 (callers use
    /// `spawn_blocking`).
    pub fn generate(spec: WrappingKeySpec) -> Result<Self, CryptoError> {
        let key = PrivateDecryptingKey::generate(spec.key_size())
            .map_err(|_| CryptoError::KeyGenerationFailure)?;
        let pkcs8 = SecretBytes::new(
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key)
                .map_err(|_| CryptoError::KeyGenerationFailure)?
                .as_ref()
                .to_vec(),
        );
        Self::assemble(spec, key, pkcs8).map_err(|_| CryptoError::KeyGenerationFailure)
    }

    /// The key pair from its PKCS#8 DER ([`WrappingKey::pkcs8`]), checked to be of `spec`.
    pub fn from_pkcs8(spec: WrappingKeySpec, der: &[u8]) -> Result<Self, CryptoError> {
        let key =
            PrivateDecryptingKey::from_pkcs8(der).map_err(|_| CryptoError::InvalidKeyMaterial)?;
        if key.key_size_bytes() != spec.modulus_len() {
            return Err(CryptoError::InvalidKeyMaterial);
        }
        Self::assemble(spec, key, SecretBytes::from_slice(der))
    }

    fn assemble(
        spec: WrappingKeySpec,
        key: PrivateDecryptingKey,
        pkcs8: SecretBytes,
    ) -> Result<Self, CryptoError> {
        let public_der = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(&key.public_key())
            .map_err(|_| CryptoError::InvalidKeyMaterial)?
            .as_ref()
            .to_vec();
        let key =
            OaepPrivateDecryptingKey::new(key).map_err(|_| CryptoError::InvalidKeyMaterial)?;
        Ok(Self {
            spec,
            key,
            pkcs8,
            public_der,
        })
    }

    pub fn spec(&self) -> WrappingKeySpec {
        self.spec
    }

    /// The private key as PKCS#8 DER (to seal into an import token).
    pub fn pkcs8(&self) -> &SecretBytes {
        &self.pkcs8
    }

    /// The public key as DER SubjectPublicKeyInfo (GetParametersForImport's PublicKey).
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// The key material an ImportKeyMaterial request carries, unwrapped.
    /// [`CryptoError::InvalidCiphertext`] for anything that does not unwrap.
    pub fn unwrap(
        &self,
        algorithm: WrappingAlgorithm,
        encrypted: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let n = self.spec.modulus_len();
        if algorithm.is_rsa_aes() {
            if encrypted.len() <= n {
                return Err(CryptoError::InvalidCiphertext);
            }
            let (wrapped_aes, wrapped_material) = encrypted.split_at(n);
            let aes = self.rsa_decrypt(algorithm, wrapped_aes)?;
            if aes.len() != 32 {
                return Err(CryptoError::InvalidCiphertext);
            }
            let kek =
                AesKek::new(&AES_256, aes.expose()).map_err(|_| CryptoError::InvalidCiphertext)?;
            let mut out = SecretBytes::zeroed(wrapped_material.len());
            let len = kek
                .unwrap_with_padding(wrapped_material, out.expose_mut())
                .map_err(|_| CryptoError::InvalidCiphertext)?
                .len();
            Ok(SecretBytes::from_slice(&out.expose()[..len]))
        } else {
            if encrypted.len() != n {
                return Err(CryptoError::InvalidCiphertext);
            }
            self.rsa_decrypt(algorithm, encrypted)
        }
    }

    fn rsa_decrypt(
        &self,
        algorithm: WrappingAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let mut out = SecretBytes::zeroed(self.key.min_output_size());
        let len = self
            .key
            .decrypt(algorithm.oaep(), ciphertext, out.expose_mut(), None)
            .map_err(|_| CryptoError::InvalidCiphertext)?
            .len();
        Ok(SecretBytes::from_slice(&out.expose()[..len]))
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};

    use super::*;

    fn oaep_encrypt(key: &WrappingKey, alg: WrappingAlgorithm, plain: &[u8]) -> Vec<u8> {
        let public = PublicEncryptingKey::from_der(key.public_key_der()).unwrap();
        let public = OaepPublicEncryptingKey::new(public).unwrap();
        let mut out = vec![0u8; public.ciphertext_size()];
        public
            .encrypt(alg.oaep(), plain, &mut out, None)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn unwraps_every_algorithm_and_refuses_tampering() {
        let key = WrappingKey::generate(WrappingKeySpec::Rsa2048).unwrap();
        let again =
            WrappingKey::from_pkcs8(WrappingKeySpec::Rsa2048, key.pkcs8().expose()).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der());
        assert!(WrappingKey::from_pkcs8(WrappingKeySpec::Rsa3072, key.pkcs8().expose()).is_err());
        let material = [7u8; 32];
        for alg in [
            WrappingAlgorithm::RsaesOaepSha1,
            WrappingAlgorithm::RsaesOaepSha256,
        ] {
            let wrapped = oaep_encrypt(&key, alg, &material);
            assert_eq!(key.unwrap(alg, &wrapped).unwrap().expose(), material);
            let mut bad = wrapped.clone();
            bad[10] ^= 1;
            assert!(key.unwrap(alg, &bad).is_err());
        }
        let long = vec![9u8; 1217];
        for alg in [
            WrappingAlgorithm::RsaAesKeyWrapSha1,
            WrappingAlgorithm::RsaAesKeyWrapSha256,
        ] {
            let aes = [3u8; 32];
            let mut wrapped = oaep_encrypt(&key, alg, &aes);
            let kek = AesKek::new(&AES_256, &aes).unwrap();
            let mut out = vec![0u8; long.len() + 16];
            let w = kek.wrap_with_padding(&long, &mut out).unwrap();
            wrapped.extend_from_slice(w);
            assert_eq!(key.unwrap(alg, &wrapped).unwrap().expose(), &long[..]);
            let last = wrapped.len() - 1;
            wrapped[last] ^= 1;
            assert!(key.unwrap(alg, &wrapped).is_err());
        }
        assert!(format!("{key:?}").contains("Rsa2048"));
    }
}
