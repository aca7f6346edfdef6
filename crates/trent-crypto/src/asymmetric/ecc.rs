//! ECDSA keys on the NIST prime curves and secp256k1, and ECDH on the NIST
//! curves, over aws-lc-rs.
//!
//! aws-lc-rs implements secp256k1 ECDSA (`ECDSA_P256K1_SHA256_ASN1_SIGNING`),
//! so ECC_SECG_P256K1 stays in aws-lc-rs too, like every algorithm it has.
//!
//! AWS semantics followed: signatures are DER `ECDSA-Sig-Value` (SEQUENCE of
//! r and s); with MessageType DIGEST the caller's digest is used as is
//! ([Sign](https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html));
//! the shared secret of
//! [DeriveSharedSecret](https://docs.aws.amazon.com/kms/latest/APIReference/API_DeriveSharedSecret.html)
//! is the raw x-coordinate of the ECDH point (SP 800-56A r3 §5.7.1.2 Z).

use aws_lc_rs::agreement;
use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, EcdsaSigningAlgorithm, EcdsaVerificationAlgorithm};

use super::{AsymmetricKeySpec, MessageType, SigningAlgorithm};
use crate::{CryptoError, SecretBytes};

/// A parsed EC private key: ECDSA for SIGN_VERIFY and, on the NIST curves, an
/// ECDH key for KEY_AGREEMENT (AWS lets a NIST curve key have either usage).
pub(super) struct EcPrivate {
    sign: EcdsaKeyPair,
    agree: Option<agreement::PrivateKey>,
}

struct Curve {
    signing: &'static EcdsaSigningAlgorithm,
    verification: &'static EcdsaVerificationAlgorithm,
    signing_alg: SigningAlgorithm,
    digest: &'static digest::Algorithm,
    agreement: Option<&'static agreement::Algorithm>,
}

fn curve(spec: AsymmetricKeySpec) -> Result<Curve, CryptoError> {
    Ok(match spec {
        AsymmetricKeySpec::EccNistP256 => Curve {
            signing: &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            verification: &signature::ECDSA_P256_SHA256_ASN1,
            signing_alg: SigningAlgorithm::EcdsaSha256,
            digest: &digest::SHA256,
            agreement: Some(&agreement::ECDH_P256),
        },
        AsymmetricKeySpec::EccNistP384 => Curve {
            signing: &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            verification: &signature::ECDSA_P384_SHA384_ASN1,
            signing_alg: SigningAlgorithm::EcdsaSha384,
            digest: &digest::SHA384,
            agreement: Some(&agreement::ECDH_P384),
        },
        AsymmetricKeySpec::EccNistP521 => Curve {
            signing: &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            verification: &signature::ECDSA_P521_SHA512_ASN1,
            signing_alg: SigningAlgorithm::EcdsaSha512,
            digest: &digest::SHA512,
            agreement: Some(&agreement::ECDH_P521),
        },
        AsymmetricKeySpec::EccSecgP256k1 => Curve {
            signing: &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            verification: &signature::ECDSA_P256K1_SHA256_ASN1,
            signing_alg: SigningAlgorithm::EcdsaSha256,
            digest: &digest::SHA256,
            agreement: None,
        },
        _ => return Err(CryptoError::IncompatibleAlgorithm),
    })
}

impl EcPrivate {
    /// A fresh key pair and its PKCS#8 v1 encoding.
    pub(super) fn generate(spec: AsymmetricKeySpec) -> Result<(Self, SecretBytes), CryptoError> {
        let c = curve(spec)?;
        let kp =
            EcdsaKeyPair::generate(c.signing).map_err(|_| CryptoError::KeyGenerationFailure)?;
        let pkcs8 = kp
            .to_pkcs8v1()
            .map_err(|_| CryptoError::KeyGenerationFailure)?;
        let pkcs8 = SecretBytes::from_slice(pkcs8.as_ref());
        let key = Self::from_pkcs8(spec, pkcs8.expose())
            .map_err(|_| CryptoError::KeyGenerationFailure)?;
        Ok((key, pkcs8))
    }

    /// Parses PKCS#8; the key must be on the spec's curve.
    pub(super) fn from_pkcs8(spec: AsymmetricKeySpec, der: &[u8]) -> Result<Self, CryptoError> {
        let c = curve(spec)?;
        let sign = EcdsaKeyPair::from_pkcs8(c.signing, der)
            .map_err(|_| CryptoError::InvalidKeyMaterial)?;
        let agree = match c.agreement {
            Some(alg) => Some(
                agreement::PrivateKey::from_private_key_der(alg, der)
                    .map_err(|_| CryptoError::InvalidKeyMaterial)?,
            ),
            None => None,
        };
        Ok(Self { sign, agree })
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
        spec: AsymmetricKeySpec,
        alg: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let c = curve(spec)?;
        if alg != c.signing_alg {
            return Err(CryptoError::IncompatibleAlgorithm);
        }
        let sig = match message_type {
            MessageType::Raw => self.sign.sign(&SystemRandom::new(), message),
            MessageType::Digest => {
                let digest = import_digest(message, c.digest)?;
                self.sign.sign_digest(&digest)
            }
            MessageType::ExternalMu => return Err(CryptoError::IncompatibleAlgorithm),
        }
        .map_err(|_| CryptoError::SigningFailure)?;
        Ok(sig.as_ref().to_vec())
    }

    /// ECDH with a peer SubjectPublicKeyInfo on the same curve.
    pub(super) fn derive(
        &self,
        spec: AsymmetricKeySpec,
        peer_spki: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let c = curve(spec)?;
        let (Some(alg), Some(key)) = (c.agreement, self.agree.as_ref()) else {
            return Err(CryptoError::IncompatibleAlgorithm);
        };
        // Only a SubjectPublicKeyInfo is accepted (AWS: "a DER-encoded X.509
        // public key"); aws-lc-rs would also take a bare SEC1 point.
        let canonical = canonical_public_der(spec, peer_spki)?;
        let peer = agreement::UnparsedPublicKey::new(alg, canonical);
        agreement::agree(key, peer, CryptoError::InvalidPublicKey, |z| {
            Ok(SecretBytes::from_slice(z))
        })
    }
}

fn import_digest(
    message: &[u8],
    alg: &'static digest::Algorithm,
) -> Result<digest::Digest, CryptoError> {
    digest::Digest::import_less_safe(message, alg).map_err(|_| CryptoError::InvalidDigestLength {
        expected: alg.output_len(),
        actual: message.len(),
    })
}

/// Parses an EC SubjectPublicKeyInfo on the spec's curve (validating the
/// point) and returns its canonical DER (uncompressed point).
pub(super) fn canonical_public_der(
    spec: AsymmetricKeySpec,
    spki: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let c = curve(spec)?;
    super::der::expect_spki(spec, spki)?;
    let key = signature::ParsedPublicKey::new(c.verification, spki)
        .map_err(|_| CryptoError::InvalidPublicKey)?;
    key.as_der()
        .map(|d| d.as_ref().to_vec())
        .map_err(|_| CryptoError::InvalidPublicKey)
}

/// Parses an ECDSA public key once, so that Verify does not re-parse (and re-validate
/// the point of) the SubjectPublicKeyInfo on every call.
pub(super) fn verifying_key(
    spec: AsymmetricKeySpec,
    spki: &[u8],
) -> Result<signature::ParsedPublicKey, CryptoError> {
    signature::ParsedPublicKey::new(curve(spec)?.verification, spki)
        .map_err(|_| CryptoError::InvalidPublicKey)
}

pub(super) fn verify(
    spec: AsymmetricKeySpec,
    key: &signature::ParsedPublicKey,
    alg: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    sig: &[u8],
) -> Result<bool, CryptoError> {
    let c = curve(spec)?;
    if alg != c.signing_alg {
        return Err(CryptoError::IncompatibleAlgorithm);
    }
    Ok(match message_type {
        MessageType::Raw => key.verify_sig(message, sig).is_ok(),
        MessageType::Digest => {
            let digest = import_digest(message, c.digest)?;
            key.verify_digest_sig(&digest, sig).is_ok()
        }
        MessageType::ExternalMu => return Err(CryptoError::IncompatibleAlgorithm),
    })
}
