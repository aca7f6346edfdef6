//! ML-DSA keys (FIPS 204): ML_DSA_44/65/87 with ML_DSA_SHAKE_256.
//!
//! Key generation, PKCS#8 / SubjectPublicKeyInfo, and signing and verifying
//! messages (MessageType RAW) run in aws-lc-rs. aws-lc-rs does not expose the
//! external-μ entry points (FIPS 204 Algorithm 7 line 6 computed by the caller,
//! `ML-DSA.Sign_internal` on μ), so MessageType EXTERNAL_MU uses the RustCrypto
//! `ml-dsa` crate (pure Rust, constant-time), built from the same 32-byte seed
//! as the aws-lc-rs key.
//!
//! AWS semantics ([Sign](https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html)):
//! pure ML-DSA with an empty context string, hedged (randomized) signing;
//! RAW takes the message, EXTERNAL_MU the 64-byte μ =
//! SHAKE256(SHAKE256(pk, 64) ‖ 0x00 ‖ 0x00 ‖ M, 64); DIGEST is not allowed.

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, KeyPair as _, PqdsaKeyPair, PqdsaSigningAlgorithm};
use ml_dsa::{MlDsa44, MlDsa65, MlDsa87, MlDsaParams};

use super::{AsymmetricKeySpec, MessageType, SigningAlgorithm};
use crate::{CryptoError, SecretBytes};

/// Length of μ (FIPS 204 §6.2).
const MU_LEN: usize = 64;

/// μ as the `ml-dsa` crate takes it.
type Mu = ml_dsa::common::array::Array<u8, ml_dsa::common::typenum::U64>;

/// A parsed ML-DSA private key.
pub(super) struct MlDsaPrivate {
    key: PqdsaKeyPair,
    /// The RustCrypto expansion of the same seed, for EXTERNAL_MU; built on
    /// first use (expanding costs about as much as a signature).
    mu_key: OnceLock<MuKey>,
}

enum MuKey {
    L44(Box<ml_dsa::ExpandedSigningKey<MlDsa44>>),
    L65(Box<ml_dsa::ExpandedSigningKey<MlDsa65>>),
    L87(Box<ml_dsa::ExpandedSigningKey<MlDsa87>>),
}

fn signing_alg(spec: AsymmetricKeySpec) -> Result<&'static PqdsaSigningAlgorithm, CryptoError> {
    match spec {
        AsymmetricKeySpec::MlDsa44 => Ok(&signature::ML_DSA_44_SIGNING),
        AsymmetricKeySpec::MlDsa65 => Ok(&signature::ML_DSA_65_SIGNING),
        AsymmetricKeySpec::MlDsa87 => Ok(&signature::ML_DSA_87_SIGNING),
        _ => Err(CryptoError::IncompatibleAlgorithm),
    }
}

fn verification_alg(
    spec: AsymmetricKeySpec,
) -> Result<&'static signature::PqdsaVerificationAlgorithm, CryptoError> {
    match spec {
        AsymmetricKeySpec::MlDsa44 => Ok(&signature::ML_DSA_44),
        AsymmetricKeySpec::MlDsa65 => Ok(&signature::ML_DSA_65),
        AsymmetricKeySpec::MlDsa87 => Ok(&signature::ML_DSA_87),
        _ => Err(CryptoError::IncompatibleAlgorithm),
    }
}

fn mu(message: &[u8]) -> Result<Mu, CryptoError> {
    Mu::try_from(message).map_err(|_| CryptoError::InvalidDigestLength {
        expected: MU_LEN,
        actual: message.len(),
    })
}

impl MlDsaPrivate {
    /// A fresh key pair and its PKCS#8 v1 encoding (seed form).
    pub(super) fn generate(spec: AsymmetricKeySpec) -> Result<(Self, SecretBytes), CryptoError> {
        let key = PqdsaKeyPair::generate(signing_alg(spec)?)
            .map_err(|_| CryptoError::KeyGenerationFailure)?;
        let pkcs8 = key
            .to_pkcs8v1()
            .map_err(|_| CryptoError::KeyGenerationFailure)?;
        let pkcs8 = SecretBytes::from_slice(pkcs8.as_ref());
        Ok((
            Self {
                key,
                mu_key: OnceLock::new(),
            },
            pkcs8,
        ))
    }

    /// Parses PKCS#8 (seed, expanded or both forms); the parameter set must be the spec's.
    pub(super) fn from_pkcs8(spec: AsymmetricKeySpec, der: &[u8]) -> Result<Self, CryptoError> {
        let key = PqdsaKeyPair::from_pkcs8(signing_alg(spec)?, der)
            .map_err(|_| CryptoError::InvalidKeyMaterial)?;
        Ok(Self {
            key,
            mu_key: OnceLock::new(),
        })
    }

    /// The SubjectPublicKeyInfo DER.
    pub(super) fn public_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.key
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
        if alg != SigningAlgorithm::MlDsaShake256 {
            return Err(CryptoError::IncompatibleAlgorithm);
        }
        match message_type {
            MessageType::Raw => {
                let mut sig = vec![0u8; self.key.algorithm().signature_len()];
                let len = self
                    .key
                    .sign(message, &mut sig)
                    .map_err(|_| CryptoError::SigningFailure)?;
                sig.truncate(len);
                Ok(sig)
            }
            MessageType::ExternalMu => {
                let mu = mu(message)?;
                let key = self.mu_key(spec)?;
                let mut rng = crate::rng::SysRng;
                let sig = match key {
                    MuKey::L44(k) => k
                        .sign_mu_randomized(&mu, &mut rng)
                        .map(|s| s.encode().to_vec()),
                    MuKey::L65(k) => k
                        .sign_mu_randomized(&mu, &mut rng)
                        .map(|s| s.encode().to_vec()),
                    MuKey::L87(k) => k
                        .sign_mu_randomized(&mu, &mut rng)
                        .map(|s| s.encode().to_vec()),
                };
                sig.map_err(|_| CryptoError::SigningFailure)
            }
            MessageType::Digest => Err(CryptoError::IncompatibleAlgorithm),
        }
    }

    fn mu_key(&self, spec: AsymmetricKeySpec) -> Result<&MuKey, CryptoError> {
        if let Some(k) = self.mu_key.get() {
            return Ok(k);
        }
        // The seed, from aws-lc-rs's seed-form PKCS#8 (RFC 9881 §6:
        // `seed [0] IMPLICIT OCTET STRING (SIZE (32))` inside the privateKey
        // OCTET STRING). A key imported in expanded-only form has no seed,
        // and then EXTERNAL_MU cannot be served: SigningFailure.
        let pkcs8 = self
            .key
            .to_pkcs8v1()
            .map_err(|_| CryptoError::SigningFailure)?;
        let pkcs8 = SecretBytes::from_slice(pkcs8.as_ref());
        let seed = seed_from_pkcs8(pkcs8.expose()).ok_or(CryptoError::SigningFailure)?;
        let key = match spec {
            AsymmetricKeySpec::MlDsa44 => MuKey::L44(Box::new(expand(&seed))),
            AsymmetricKeySpec::MlDsa65 => MuKey::L65(Box::new(expand(&seed))),
            AsymmetricKeySpec::MlDsa87 => MuKey::L87(Box::new(expand(&seed))),
            _ => return Err(CryptoError::IncompatibleAlgorithm),
        };
        Ok(self.mu_key.get_or_init(|| key))
    }
}

fn expand<P: MlDsaParams>(seed: &ml_dsa::Seed) -> ml_dsa::ExpandedSigningKey<P> {
    ml_dsa::ExpandedSigningKey::<P>::from_seed(seed)
}

/// The 32-byte seed of a seed-form ML-DSA PKCS#8 (the last 34 bytes are
/// `80 20 <seed>`, and nothing follows the privateKey OCTET STRING in v1).
fn seed_from_pkcs8(der: &[u8]) -> Option<zeroize::Zeroizing<ml_dsa::Seed>> {
    let tail = der.get(der.len().checked_sub(34)?..)?;
    let (tag, seed) = tail.split_at(2);
    if tag != [0x80, 0x20] {
        return None;
    }
    let seed = ml_dsa::Seed::try_from(seed).ok()?;
    Some(zeroize::Zeroizing::new(seed))
}

/// Validates an ML-DSA SubjectPublicKeyInfo and returns its canonical DER.
pub(super) fn canonical_public_der(
    spec: AsymmetricKeySpec,
    spki: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key = signature::ParsedPublicKey::new(verification_alg(spec)?, spki)
        .map_err(|_| CryptoError::InvalidPublicKey)?;
    key.as_der()
        .map(|d| d.as_ref().to_vec())
        .map_err(|_| CryptoError::InvalidPublicKey)
}

pub(super) fn verify(
    spec: AsymmetricKeySpec,
    spki: &[u8],
    alg: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    sig: &[u8],
) -> Result<bool, CryptoError> {
    if alg != SigningAlgorithm::MlDsaShake256 {
        return Err(CryptoError::IncompatibleAlgorithm);
    }
    match message_type {
        MessageType::Raw => {
            let key = signature::ParsedPublicKey::new(verification_alg(spec)?, spki)
                .map_err(|_| CryptoError::InvalidPublicKey)?;
            Ok(key.verify_sig(message, sig).is_ok())
        }
        MessageType::ExternalMu => {
            let mu = mu(message)?;
            let raw = super::der::spki_public_key_bytes(spki)?;
            Ok(match spec {
                AsymmetricKeySpec::MlDsa44 => verify_mu::<MlDsa44>(raw, &mu, sig)?,
                AsymmetricKeySpec::MlDsa65 => verify_mu::<MlDsa65>(raw, &mu, sig)?,
                AsymmetricKeySpec::MlDsa87 => verify_mu::<MlDsa87>(raw, &mu, sig)?,
                _ => return Err(CryptoError::IncompatibleAlgorithm),
            })
        }
        MessageType::Digest => Err(CryptoError::IncompatibleAlgorithm),
    }
}

fn verify_mu<P: MlDsaParams>(raw_pk: &[u8], mu: &Mu, sig: &[u8]) -> Result<bool, CryptoError> {
    let enc = ml_dsa::EncodedVerifyingKey::<P>::try_from(raw_pk)
        .map_err(|_| CryptoError::InvalidPublicKey)?;
    let vk = ml_dsa::VerifyingKey::<P>::decode(&enc);
    let Ok(enc_sig) = ml_dsa::EncodedSignature::<P>::try_from(sig) else {
        return Ok(false);
    };
    let Some(sig) = ml_dsa::Signature::<P>::decode(&enc_sig) else {
        return Ok(false);
    };
    Ok(vk.verify_mu(mu, &sig))
}
