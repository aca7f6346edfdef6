//! RSA keys over aws-lc-rs: RSASSA-PSS and RSASSA-PKCS1-v1_5 signatures,
//! RSAES-OAEP encryption.
//!
//! Every RSA private-key operation runs in aws-lc-rs, whose RSA is blinded and
//! constant-time. The pure-Rust `rsa` crate is deliberately not used: it has
//! the Marvin timing side channel (RUSTSEC-2023-0071).
//!
//! AWS semantics followed (the
//! [key spec reference](https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html#key-spec-rsa)):
//! RSASSA-PSS uses MGF1 with the message digest and a salt as long as the
//! digest; RSAES-OAEP uses MGF1 with the same hash as the label hash and an
//! empty label.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeyPair, KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    PrivateDecryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{self, RsaEncoding, RsaParameters};

use super::{AsymmetricEncryptionAlgorithm, AsymmetricKeySpec, MessageType, SigningAlgorithm};
use crate::{CryptoError, SecretBytes};

/// A parsed RSA private key, ready for signing and for OAEP decryption (the
/// key usage decides which one the key service allows).
pub(super) struct RsaPrivate {
    sign: KeyPair,
    decrypt: OaepPrivateDecryptingKey,
}

fn key_size(spec: AsymmetricKeySpec) -> Result<KeySize, CryptoError> {
    match spec {
        AsymmetricKeySpec::Rsa2048 => Ok(KeySize::Rsa2048),
        AsymmetricKeySpec::Rsa3072 => Ok(KeySize::Rsa3072),
        AsymmetricKeySpec::Rsa4096 => Ok(KeySize::Rsa4096),
        _ => Err(CryptoError::IncompatibleAlgorithm),
    }
}

fn modulus_len(spec: AsymmetricKeySpec) -> Result<usize, CryptoError> {
    spec.rsa_modulus_len()
        .ok_or(CryptoError::IncompatibleAlgorithm)
}

/// (signing encoding, verification parameters, digest) for an RSA algorithm.
fn signature_params(
    alg: SigningAlgorithm,
) -> Result<
    (
        &'static dyn RsaEncoding,
        &'static RsaParameters,
        &'static digest::Algorithm,
    ),
    CryptoError,
> {
    use SigningAlgorithm as A;
    Ok(match alg {
        A::RsassaPssSha256 => (
            &signature::RSA_PSS_SHA256,
            &signature::RSA_PSS_2048_8192_SHA256,
            &digest::SHA256,
        ),
        A::RsassaPssSha384 => (
            &signature::RSA_PSS_SHA384,
            &signature::RSA_PSS_2048_8192_SHA384,
            &digest::SHA384,
        ),
        A::RsassaPssSha512 => (
            &signature::RSA_PSS_SHA512,
            &signature::RSA_PSS_2048_8192_SHA512,
            &digest::SHA512,
        ),
        A::RsassaPkcs1V15Sha256 => (
            &signature::RSA_PKCS1_SHA256,
            &signature::RSA_PKCS1_2048_8192_SHA256,
            &digest::SHA256,
        ),
        A::RsassaPkcs1V15Sha384 => (
            &signature::RSA_PKCS1_SHA384,
            &signature::RSA_PKCS1_2048_8192_SHA384,
            &digest::SHA384,
        ),
        A::RsassaPkcs1V15Sha512 => (
            &signature::RSA_PKCS1_SHA512,
            &signature::RSA_PKCS1_2048_8192_SHA512,
            &digest::SHA512,
        ),
        _ => return Err(CryptoError::IncompatibleAlgorithm),
    })
}

fn oaep(alg: AsymmetricEncryptionAlgorithm) -> Result<&'static OaepAlgorithm, CryptoError> {
    match alg {
        AsymmetricEncryptionAlgorithm::RsaesOaepSha1 => Ok(&OAEP_SHA1_MGF1SHA1),
        AsymmetricEncryptionAlgorithm::RsaesOaepSha256 => Ok(&OAEP_SHA256_MGF1SHA256),
        AsymmetricEncryptionAlgorithm::Sm2Pke => Err(CryptoError::IncompatibleAlgorithm),
    }
}

impl RsaPrivate {
    /// A fresh key pair and its PKCS#8 v1 encoding.
    pub(super) fn generate(spec: AsymmetricKeySpec) -> Result<(Self, SecretBytes), CryptoError> {
        let kp =
            KeyPair::generate(key_size(spec)?).map_err(|_| CryptoError::KeyGenerationFailure)?;
        let pkcs8 = kp.as_der().map_err(|_| CryptoError::KeyGenerationFailure)?;
        let pkcs8 = SecretBytes::from_slice(pkcs8.as_ref());
        let decrypt = PrivateDecryptingKey::from_pkcs8(pkcs8.expose())
            .and_then(|k| OaepPrivateDecryptingKey::new(k).map_err(Into::into))
            .map_err(|_| CryptoError::KeyGenerationFailure)?;
        Ok((Self { sign: kp, decrypt }, pkcs8))
    }

    /// Parses PKCS#8; the modulus must have the spec's size.
    pub(super) fn from_pkcs8(spec: AsymmetricKeySpec, der: &[u8]) -> Result<Self, CryptoError> {
        let expected = modulus_len(spec)?;
        let sign = KeyPair::from_pkcs8(der).map_err(|_| CryptoError::InvalidKeyMaterial)?;
        if sign.public_modulus_len() != expected {
            return Err(CryptoError::InvalidKeyMaterial);
        }
        let decrypt = PrivateDecryptingKey::from_pkcs8(der)
            .map_err(|_| CryptoError::InvalidKeyMaterial)
            .and_then(|k| {
                OaepPrivateDecryptingKey::new(k).map_err(|_| CryptoError::InvalidKeyMaterial)
            })?;
        Ok(Self { sign, decrypt })
    }

    /// The SubjectPublicKeyInfo DER.
    pub(super) fn public_der(&self) -> Result<Vec<u8>, CryptoError> {
        use aws_lc_rs::signature::KeyPair as _;
        self.sign
            .public_key()
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| CryptoError::InvalidKeyMaterial)
    }

    pub(super) fn sign(
        &self,
        alg: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let (encoding, _, digest_alg) = signature_params(alg)?;
        let mut sig = vec![0u8; self.sign.public_modulus_len()];
        match message_type {
            MessageType::Raw => self
                .sign
                .sign(encoding, &SystemRandom::new(), message, &mut sig)
                .map_err(|_| CryptoError::SigningFailure)?,
            MessageType::Digest => {
                // The caller's digest is signed as is: `sign_digest` only pads it.
                let digest =
                    digest::Digest::import_less_safe(message, digest_alg).map_err(|_| {
                        CryptoError::InvalidDigestLength {
                            expected: digest_alg.output_len(),
                            actual: message.len(),
                        }
                    })?;
                self.sign
                    .sign_digest(encoding, &digest, &mut sig)
                    .map_err(|_| CryptoError::SigningFailure)?
            }
            MessageType::ExternalMu => return Err(CryptoError::IncompatibleAlgorithm),
        }
        Ok(sig)
    }

    pub(super) fn decrypt(
        &self,
        alg: AsymmetricEncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let alg = oaep(alg).map_err(|_| CryptoError::InvalidCiphertext)?;
        let mut out = SecretBytes::zeroed(self.decrypt.min_output_size());
        let len = self
            .decrypt
            .decrypt(alg, ciphertext, out.expose_mut(), None)
            .map_err(|_| CryptoError::InvalidCiphertext)?
            .len();
        Ok(SecretBytes::from_slice(&out.expose()[..len]))
    }
}

/// Parses an RSA SubjectPublicKeyInfo of `spec` and returns its canonical DER.
pub(super) fn canonical_public_der(
    spec: AsymmetricKeySpec,
    spki: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = PublicEncryptingKey::from_der(spki).map_err(|_| CryptoError::InvalidPublicKey)?;
    if key.key_size_bytes() != modulus_len(spec)? {
        return Err(CryptoError::InvalidPublicKey);
    }
    key.as_der()
        .map(|d| d.as_ref().to_vec())
        .map_err(|_| CryptoError::InvalidPublicKey)
}

pub(super) fn verify(
    spki: &[u8],
    alg: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    sig: &[u8],
) -> Result<bool, CryptoError> {
    let (_, params, digest_alg) = signature_params(alg)?;
    let key =
        signature::ParsedPublicKey::new(params, spki).map_err(|_| CryptoError::InvalidPublicKey)?;
    Ok(match message_type {
        MessageType::Raw => key.verify_sig(message, sig).is_ok(),
        MessageType::Digest => {
            let digest = digest::Digest::import_less_safe(message, digest_alg).map_err(|_| {
                CryptoError::InvalidDigestLength {
                    expected: digest_alg.output_len(),
                    actual: message.len(),
                }
            })?;
            key.verify_digest_sig(&digest, sig).is_ok()
        }
        MessageType::ExternalMu => return Err(CryptoError::IncompatibleAlgorithm),
    })
}

pub(super) fn encrypt(
    spki: &[u8],
    alg: AsymmetricEncryptionAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let alg = oaep(alg)?;
    let key = PublicEncryptingKey::from_der(spki)
        .and_then(|k| OaepPublicEncryptingKey::new(k).map_err(Into::into))
        .map_err(|_| CryptoError::InvalidPublicKey)?;
    if plaintext.len() > key.max_plaintext_size(alg) {
        return Err(CryptoError::PlaintextTooLarge);
    }
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(alg, plaintext, &mut out, None)
        .map_err(|_| CryptoError::EncryptionFailure)?
        .len();
    out.truncate(len);
    Ok(out)
}
