//! Ed25519 keys (ECC_NIST_EDWARDS25519): PureEdDSA over aws-lc-rs, HashEdDSA
//! (Ed25519ph) over `ed25519-dalek`.
//!
//! aws-lc-rs has Ed25519 but does not expose Ed25519ph (RFC 8032 §5.1 with
//! `phflag = 1`), so ED25519_PH_SHA_512 uses `ed25519-dalek` (the
//! dalek-cryptography implementation, audited, constant-time), fed the same
//! 32-byte seed.
//!
//! AWS semantics, from the service model's `MessageType` documentation:
//! ED25519_SHA_512 takes MessageType RAW only; ED25519_PH_SHA_512 takes DIGEST
//! only (a 64-byte SHA-512 digest), and "KMS still performs the SHA-512
//! prehash described in Step 1 of Section 7.8.1 in FIPS 186-5. This means the
//! input is hashed twice". So the DIGEST `d` is the HashEdDSA message:
//! the signature is Ed25519ph(d), PH(d) = SHA-512(d), with an empty context.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _};
use ed25519_dalek::{Digest as _, Sha512};

use super::{MessageType, SigningAlgorithm};
use crate::{CryptoError, SecretBytes};

/// A parsed Ed25519 private key.
pub(super) struct Ed25519Private {
    pure: Ed25519KeyPair,
    prehash: ed25519_dalek::SigningKey,
}

impl Ed25519Private {
    /// A fresh key pair and its PKCS#8 v1 encoding (RFC 8410).
    pub(super) fn generate() -> Result<(Self, SecretBytes), CryptoError> {
        let kp = Ed25519KeyPair::generate().map_err(|_| CryptoError::KeyGenerationFailure)?;
        let pkcs8 = kp
            .to_pkcs8v1()
            .map_err(|_| CryptoError::KeyGenerationFailure)?;
        let pkcs8 = SecretBytes::from_slice(pkcs8.as_ref());
        let key =
            Self::from_pkcs8(pkcs8.expose()).map_err(|_| CryptoError::KeyGenerationFailure)?;
        Ok((key, pkcs8))
    }

    /// Parses PKCS#8 (v1, or v2 with the public key, which is checked).
    pub(super) fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let pure = Ed25519KeyPair::from_pkcs8(der).map_err(|_| CryptoError::InvalidKeyMaterial)?;
        let seed = pure.seed().map_err(|_| CryptoError::InvalidKeyMaterial)?;
        let seed = seed_bytes(&seed)?;
        let prehash = ed25519_dalek::SigningKey::from_bytes(&seed);
        if prehash.verifying_key().as_bytes() != pure.public_key().as_ref() {
            return Err(CryptoError::InvalidKeyMaterial);
        }
        Ok(Self { pure, prehash })
    }

    /// The SubjectPublicKeyInfo DER.
    pub(super) fn public_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.pure
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
        match (alg, message_type) {
            (SigningAlgorithm::Ed25519Sha512, MessageType::Raw) => self
                .pure
                .try_sign(message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| CryptoError::SigningFailure),
            (SigningAlgorithm::Ed25519PhSha512, MessageType::Digest) => {
                check_digest_len(message)?;
                self.sign_ph(message)
            }
            _ => Err(CryptoError::IncompatibleAlgorithm),
        }
    }

    /// Ed25519ph of `message` with an empty context (RFC 8032 §5.1.6 with
    /// PH = SHA-512).
    fn sign_ph(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut ph = Sha512::new();
        ph.update(message);
        self.prehash
            .sign_prehashed(ph, None)
            .map(|s| s.to_bytes().to_vec())
            .map_err(|_| CryptoError::SigningFailure)
    }
}

fn seed_bytes(
    seed: &signature::Ed25519Seed<'_>,
) -> Result<zeroize::Zeroizing<[u8; 32]>, CryptoError> {
    use aws_lc_rs::encoding::AsBigEndian;
    let bin = seed
        .as_be_bytes()
        .map_err(|_| CryptoError::InvalidKeyMaterial)?;
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    if bin.as_ref().len() != 32 {
        return Err(CryptoError::InvalidKeyMaterial);
    }
    out.copy_from_slice(bin.as_ref());
    Ok(out)
}

fn check_digest_len(message: &[u8]) -> Result<(), CryptoError> {
    if message.len() != 64 {
        return Err(CryptoError::InvalidDigestLength {
            expected: 64,
            actual: message.len(),
        });
    }
    Ok(())
}

/// The raw 32-byte public key inside an Ed25519 SubjectPublicKeyInfo: RFC
/// 8410 §4 fixes the encoding as a 12-byte header followed by the key.
fn raw_public(spki: &[u8]) -> Result<[u8; 32], CryptoError> {
    const HEADER: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    match spki.split_at_checked(HEADER.len()) {
        Some((header, key)) if header == HEADER => {
            key.try_into().map_err(|_| CryptoError::InvalidPublicKey)
        }
        _ => Err(CryptoError::InvalidPublicKey),
    }
}

/// Validates an Ed25519 SubjectPublicKeyInfo and returns its canonical DER.
pub(super) fn canonical_public_der(spki: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = signature::ParsedPublicKey::new(&signature::ED25519, spki)
        .map_err(|_| CryptoError::InvalidPublicKey)?;
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
    match (alg, message_type) {
        (SigningAlgorithm::Ed25519Sha512, MessageType::Raw) => {
            let key = signature::ParsedPublicKey::new(&signature::ED25519, spki)
                .map_err(|_| CryptoError::InvalidPublicKey)?;
            Ok(key.verify_sig(message, sig).is_ok())
        }
        (SigningAlgorithm::Ed25519PhSha512, MessageType::Digest) => {
            check_digest_len(message)?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&raw_public(spki)?)
                .map_err(|_| CryptoError::InvalidPublicKey)?;
            let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
                return Ok(false);
            };
            let mut ph = Sha512::new();
            ph.update(message);
            // Strict: rejects small-order keys and non-canonical R, as RFC 8032 §5.1.7 asks.
            Ok(key.verify_prehashed_strict(ph, None, &sig).is_ok())
        }
        _ => Err(CryptoError::IncompatibleAlgorithm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.3, test 1 ("abc"): checks the Ed25519ph wiring (PH =
    /// SHA-512, empty context, phflag 1) against the published vector.
    #[test]
    fn rfc8032_ed25519ph_vector() {
        let seed: [u8; 32] =
            hex::decode("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
                .unwrap()
                .try_into()
                .unwrap();
        let expected_pub =
            hex::decode("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
                .unwrap();
        let expected_sig = hex::decode(
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41\
             31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
        )
        .unwrap();
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
        assert_eq!(
            sk.verifying_key().as_bytes().as_slice(),
            expected_pub.as_slice()
        );
        let mut pkcs8 = hex::decode("302e020100300506032b657004220420").unwrap();
        pkcs8.extend_from_slice(&seed);
        let key = Ed25519Private::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(key.sign_ph(b"abc").unwrap(), expected_sig);
    }
}
