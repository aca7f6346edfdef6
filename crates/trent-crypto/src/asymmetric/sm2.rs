//! SM2 keys (GB/T 32918, China Regions in AWS): SM2DSA with SM3, SM2PKE and
//! ECDH, over the RustCrypto `sm2` crate.
//!
//! aws-lc-rs (and AWS-LC) has no SM2 curve, so SM2 uses RustCrypto's `sm2`
//! (pure Rust, constant-time field and scalar arithmetic; same family as
//! `p256`/`k256`).
//!
//! AWS semantics, from [Offline verification with SM2 key
//! pairs](https://docs.aws.amazon.com/kms/latest/developerguide/offline-operations.html#key-spec-sm-offline-verification):
//! SM2DSA uses the default distinguishing ID `1234567812345678`; with
//! MessageType RAW, KMS computes e = SM3(Z_A ‖ M); with DIGEST the caller
//! supplies e (32 bytes) and it is signed as is. Signatures are DER
//! `SEQUENCE { r, s }`. SM2PKE ciphertexts are C1C3C2 in the GM/T 0009 DER
//! form `SEQUENCE { x, y, hash OCTET STRING, ciphertext OCTET STRING }` (what
//! OpenSSL produces). ECDH returns the x-coordinate of d·Q, as for the NIST
//! curves.

use sm2::dsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use sm2::dsa::signature::{RandomizedSigner, Verifier};
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::elliptic_curve::{Generate, NonZeroScalar};
use sm2::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sm2::{ProjectivePoint, PublicKey, SecretKey};

use super::{AsymmetricEncryptionAlgorithm, MessageType, SigningAlgorithm};
use crate::rng::SysRng;
use crate::{CryptoError, SecretBytes};

/// The distinguishing ID AWS KMS uses for SM2DSA (GB/T 32918.2's default).
const DEFAULT_DIST_ID: &str = "1234567812345678";

/// Length of the SM3 digest e (MessageType DIGEST).
const DIGEST_LEN: usize = 32;

/// A parsed SM2 private key. The secret scalar lives only in `SecretKey`,
/// which zeroizes on drop; the signing and decrypting keys are built per
/// operation so no second copy outlives it.
pub(super) struct Sm2Private {
    secret: SecretKey,
}

impl Sm2Private {
    /// A fresh key pair and its PKCS#8 v1 encoding.
    pub(super) fn generate() -> Result<(Self, SecretBytes), CryptoError> {
        let scalar = NonZeroScalar::<sm2::Sm2>::try_generate_from_rng(&mut SysRng)
            .map_err(|_| CryptoError::KeyGenerationFailure)?;
        let secret = SecretKey::from(scalar);
        let pkcs8 = secret
            .to_pkcs8_der()
            .map_err(|_| CryptoError::KeyGenerationFailure)?;
        let pkcs8 = SecretBytes::from_slice(pkcs8.as_bytes());
        Ok((Self { secret }, pkcs8))
    }

    /// Parses PKCS#8 (id-ecPublicKey on the SM2 curve, RFC 5915 inside).
    pub(super) fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let secret = SecretKey::from_pkcs8_der(der).map_err(|_| CryptoError::InvalidKeyMaterial)?;
        Ok(Self { secret })
    }

    /// The SubjectPublicKeyInfo DER.
    pub(super) fn public_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.secret
            .public_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| CryptoError::InvalidKeyMaterial)
    }

    pub(super) fn sign(
        &self,
        alg: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if alg != SigningAlgorithm::Sm2Dsa {
            return Err(CryptoError::IncompatibleAlgorithm);
        }
        let key = sm2::dsa::SigningKey::new(DEFAULT_DIST_ID, &self.secret)
            .map_err(|_| CryptoError::SigningFailure)?;
        let sig: sm2::dsa::Signature = match message_type {
            MessageType::Raw => key.try_sign_with_rng(&mut SysRng, message),
            MessageType::Digest => {
                check_digest_len(message)?;
                key.sign_prehash_with_rng(&mut SysRng, message)
            }
            MessageType::ExternalMu => return Err(CryptoError::IncompatibleAlgorithm),
        }
        .map_err(|_| CryptoError::SigningFailure)?;
        Ok(sig.to_der().to_vec())
    }

    pub(super) fn decrypt(
        &self,
        alg: AsymmetricEncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        if alg != AsymmetricEncryptionAlgorithm::Sm2Pke {
            return Err(CryptoError::InvalidCiphertext);
        }
        let key = sm2::pke::DecryptingKey::new(self.secret.clone());
        key.decrypt_der(ciphertext)
            .map(SecretBytes::new)
            .map_err(|_| CryptoError::InvalidCiphertext)
    }

    /// ECDH on the SM2 curve: the x-coordinate of d·Q.
    pub(super) fn derive(&self, peer_spki: &[u8]) -> Result<SecretBytes, CryptoError> {
        let peer = parse_public(peer_spki)?;
        let shared = (ProjectivePoint::from(*peer.as_affine()) * *self.secret.to_nonzero_scalar())
            .to_affine();
        Ok(SecretBytes::from_slice(shared.x().as_slice()))
    }
}

fn check_digest_len(message: &[u8]) -> Result<(), CryptoError> {
    if message.len() != DIGEST_LEN {
        return Err(CryptoError::InvalidDigestLength {
            expected: DIGEST_LEN,
            actual: message.len(),
        });
    }
    Ok(())
}

fn parse_public(spki: &[u8]) -> Result<PublicKey, CryptoError> {
    super::der::expect_spki(super::AsymmetricKeySpec::Sm2, spki)?;
    PublicKey::from_public_key_der(spki).map_err(|_| CryptoError::InvalidPublicKey)
}

/// Validates an SM2 SubjectPublicKeyInfo and returns its canonical DER.
pub(super) fn canonical_public_der(spki: &[u8]) -> Result<Vec<u8>, CryptoError> {
    parse_public(spki)?
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|_| CryptoError::InvalidPublicKey)
}

pub(super) fn verify(
    spki: &[u8],
    alg: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    sig: &[u8],
) -> Result<bool, CryptoError> {
    if alg != SigningAlgorithm::Sm2Dsa {
        return Err(CryptoError::IncompatibleAlgorithm);
    }
    let key = sm2::dsa::VerifyingKey::new(DEFAULT_DIST_ID, parse_public(spki)?)
        .map_err(|_| CryptoError::InvalidPublicKey)?;
    if message_type == MessageType::Digest {
        check_digest_len(message)?;
    }
    let Ok(sig) = sm2::dsa::Signature::from_der(sig) else {
        return Ok(false);
    };
    match message_type {
        MessageType::Raw => Ok(key.verify(message, &sig).is_ok()),
        MessageType::Digest => Ok(key.verify_prehash(message, &sig).is_ok()),
        MessageType::ExternalMu => Err(CryptoError::IncompatibleAlgorithm),
    }
}

pub(super) fn encrypt(
    spki: &[u8],
    alg: AsymmetricEncryptionAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if alg != AsymmetricEncryptionAlgorithm::Sm2Pke {
        return Err(CryptoError::IncompatibleAlgorithm);
    }
    let key = sm2::pke::EncryptingKey::new(parse_public(spki)?);
    key.encrypt_der(&mut SysRng, plaintext)
        .map_err(|_| CryptoError::EncryptionFailure)
}
